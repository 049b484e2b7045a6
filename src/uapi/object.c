// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../base/sys.h"
#include "object.h"

#define HASH_BUCKETS 256
#define CHUNK_BITS 10
#define CHUNK (1u << CHUNK_BITS)
#define CHUNKS 1024 /* descriptors below 1 << 20 */

/* What a system, VM or vCPU memfd holds: how another process (or a forked
 * child) tells it is gmemu's. */
struct obj_tag {
	char magic[8];
	uint32_t type;
	uint32_t abi;
};
#define OBJ_TAG_MAGIC "gmemuobj"

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
/* Descriptor operations that change what a number names (close, dup and
 * friends): one at a time, so that a close deciding an object has no
 * other descriptor left and a dup making one cannot interleave.  Taken
 * before the registry. */
static pthread_mutex_t fd_ops = PTHREAD_MUTEX_INITIALIZER;
/* The process the table belongs to (0: not known yet, this one). */
static _Atomic pid_t owner;
static struct object *buckets[HASH_BUCKETS];
static struct object *_Atomic *_Atomic table[CHUNKS];

static unsigned int hash(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ino;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (unsigned int)(h >> 32) % HASH_BUCKETS;
}

static struct object *hash_find(dev_t dev, ino_t ino)
{
	struct object *o;

	for (o = buckets[hash(dev, ino)]; o; o = o->hash_next)
		if (o->dev == dev && o->ino == ino)
			return o;
	return NULL;
}

static void hash_del(struct object *obj)
{
	struct object **pp = &buckets[hash(obj->dev, obj->ino)];

	for (; *pp; pp = &(*pp)->hash_next) {
		if (*pp == obj) {
			*pp = obj->hash_next;
			return;
		}
	}
}

/* The table slot of fd; allocating its chunk if alloc.  Registry lock
 * held when alloc. */
static struct object *_Atomic *slot(int fd, bool alloc)
{
	struct object *_Atomic *chunk;

	if (fd < 0 || (unsigned int)fd >= CHUNKS * CHUNK)
		return NULL;
	chunk = atomic_load_explicit(&table[fd >> CHUNK_BITS],
				     memory_order_acquire);
	if (!chunk && alloc) {
		chunk = calloc(CHUNK, sizeof(*chunk));
		if (!chunk)
			return NULL;
		atomic_store_explicit(&table[fd >> CHUNK_BITS], chunk,
				      memory_order_release);
	}
	return chunk ? &chunk[fd & (CHUNK - 1)] : NULL;
}

static void obj_release(struct object *obj)
{
	switch (obj->type) {
	case OBJ_SYSTEM:
		free(obj->sys);
		break;
	case OBJ_VM:
		vm_put(obj->vm);
		break;
	case OBJ_GMEM:
		gmem_put(obj->gmem);
		break;
	case OBJ_VCPU:
		vcpu_put(obj->vcpu);
		break;
	case OBJ_SEV:
		break;
	}
	free(obj);
}

void obj_put(struct object *obj)
{
	bool last;

	if (!obj)
		return;
	pthread_mutex_lock(&registry);
	last = atomic_fetch_sub(&obj->refs, 1) == 1;
	if (last)
		hash_del(obj);
	pthread_mutex_unlock(&registry);
	if (last)
		obj_release(obj);
}

/* Registry lock held: fd now names obj (the table's reference taken);
 * whatever it named before is dropped (returned for the caller to put). */
static struct object *table_set(int fd, struct object *obj)
{
	struct object *_Atomic *s = slot(fd, obj != NULL);
	struct object *old;

	if (!s)
		return NULL; /* no memory: fd stays unknown */
	old = atomic_exchange(s, obj);
	if (obj)
		atomic_fetch_add(&obj->refs, 1);
	return old;
}

static void tag_write(int fd, enum obj_type type, struct abi abi)
{
	struct obj_tag t = { .type = type, .abi = abi.id };

	memcpy(t.magic, OBJ_TAG_MAGIC, sizeof(t.magic));
	sys_pwrite(fd, &t, sizeof(t), 0);
}

int obj_register(int fd, enum obj_type type, void *ptr)
{
	struct object *obj = calloc(1, sizeof(*obj)), *old;
	struct stat st;
	int r;

	if (!obj || FAULT_INJECT("obj_register")) {
		free(obj);
		return -ENOMEM;
	}
	r = sys_fstat(fd, &st);
	if (r) {
		free(obj);
		return r;
	}
	obj->type = type;
	obj->dev = st.st_dev;
	obj->ino = st.st_ino;
	obj->ptr = ptr;
	if (type != OBJ_GMEM)
		tag_write(fd, type, type == OBJ_SYSTEM ? obj->sys->abi
						       : (struct abi){ 0 });
	pthread_mutex_lock(&registry);
	if (!slot(fd, true)) {
		pthread_mutex_unlock(&registry);
		free(obj);
		return -ENOMEM;
	}
	obj->hash_next = buckets[hash(obj->dev, obj->ino)];
	buckets[hash(obj->dev, obj->ino)] = obj;
	old = table_set(fd, obj);
	pthread_mutex_unlock(&registry);
	obj_put(old);
	return 0;
}

int obj_peek(int fd)
{
	struct object *_Atomic *s = slot(fd, false);

	return s && atomic_load_explicit(s, memory_order_relaxed) ? 1 : 0;
}

/* A descriptor that is not in the table: is it gmemu's? */
static int lookup_slow(int fd, struct object **out)
{
	struct object *obj, *old;
	struct obj_tag tag;
	struct stat st;
	struct gmem *g;
	int r;

	if (sys_fstat(fd, &st))
		return 0; /* the kernel says what is wrong with fd */
	if (!S_ISREG(st.st_mode))
		return 0;
	pthread_mutex_lock(&registry);
	obj = hash_find(st.st_dev, st.st_ino);
	if (obj) {
		old = table_set(fd, obj);
		atomic_fetch_add(&obj->refs, 1);
		pthread_mutex_unlock(&registry);
		obj_put(old);
		*out = obj;
		return 1;
	}
	pthread_mutex_unlock(&registry);

	r = gmem_fd_probe(fd, &st);
	if (r < 0)
		return r;
	if (r == 0) {
		/* a system, VM or vCPU descriptor of another process? */
		if (st.st_size != sizeof(tag) ||
		    sys_pread(fd, &tag, sizeof(tag), 0) != sizeof(tag) ||
		    memcmp(tag.magic, OBJ_TAG_MAGIC, sizeof(tag.magic)))
			return 0;
		if (tag.type != OBJ_SYSTEM && tag.type != OBJ_SEV)
			return -EIO; /* KVM's VM and vCPU fds: -EIO there */
		obj = calloc(1, sizeof(*obj));
		if (!obj)
			return -ENOMEM;
		obj->type = (enum obj_type)tag.type;
		if (tag.type == OBJ_SYSTEM) {
			obj->sys = calloc(1, sizeof(*obj->sys));
			if (!obj->sys) {
				free(obj);
				return -ENOMEM;
			}
			obj->sys->abi.id = tag.abi < NR_PROFILES ? tag.abi : 0;
		}
	} else {
		r = gmem_attach(fd, &st, &g);
		if (r)
			return r;
		obj = calloc(1, sizeof(*obj));
		if (!obj) {
			gmem_put(g);
			return -ENOMEM;
		}
		obj->gmem = g;
		obj->type = OBJ_GMEM;
	}
	obj->dev = st.st_dev;
	obj->ino = st.st_ino;
	pthread_mutex_lock(&registry);
	if (hash_find(st.st_dev, st.st_ino) || !slot(fd, true)) {
		/* attached by another thread meanwhile (or no memory):
		 * start over with what is there */
		pthread_mutex_unlock(&registry);
		obj_release(obj);
		return lookup_slow(fd, out);
	}
	obj->hash_next = buckets[hash(obj->dev, obj->ino)];
	buckets[hash(obj->dev, obj->ino)] = obj;
	old = table_set(fd, obj);
	atomic_fetch_add(&obj->refs, 1); /* the caller's */
	pthread_mutex_unlock(&registry);
	obj_put(old);
	*out = obj;
	return 1;
}

int obj_lookup(int fd, struct object **out)
{
	struct object *_Atomic *s = slot(fd, false);
	struct object *obj = NULL;
	struct stat st;

	if (s && atomic_load_explicit(s, memory_order_acquire)) {
		pthread_mutex_lock(&registry);
		obj = atomic_load(s);
		if (obj)
			atomic_fetch_add(&obj->refs, 1);
		pthread_mutex_unlock(&registry);
	}
	if (obj) {
		/* the program may have closed fd without us: the number
		 * must still name the object's file */
		if (sys_fstat(fd, &st) == 0 && st.st_dev == obj->dev &&
		    st.st_ino == obj->ino) {
			*out = obj;
			return 1;
		}
		obj_fd_closed(fd);
		obj_put(obj);
	}
	return lookup_slow(fd, out);
}

void obj_fd_dup(int old, int fd)
{
	struct object *_Atomic *s;
	struct object *obj = NULL, *prev;

	pthread_mutex_lock(&registry);
	s = slot(old, false);
	if (s)
		obj = atomic_load(s);
	prev = table_set(fd, obj);
	pthread_mutex_unlock(&registry);
	obj_put(prev);
}

/* Does any descriptor of this process other than skip name (dev, ino)?
 * Its number, or -1. */
static int other_fd(dev_t dev, ino_t ino, int skip)
{
	char buf[4096];
	int dir = sys_openat(AT_FDCWD, "/proc/self/fd",
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int found = -1;
	long n;

	if (dir < 0)
		return -1;
	while (found < 0 &&
	       (n = SYS3(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		long off = 0;

		while (off < n && found < 0) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			char *end;
			long fd = strtol(de->d_name, &end, 10);
			struct stat st;

			off += de->d_reclen;
			if (*end || fd == skip || fd == dir)
				continue;
			if (sys_fstat((int)fd, &st) == 0 && st.st_dev == dev &&
			    st.st_ino == ino)
				found = (int)fd;
		}
	}
	sys_close(dir);
	return found;
}

void obj_fd_closed(int fd)
{
	struct object *_Atomic *s;
	struct object *obj = NULL, *prev;
	int other;

	pthread_mutex_lock(&registry);
	s = slot(fd, false);
	if (s)
		obj = atomic_exchange(s, NULL);
	pthread_mutex_unlock(&registry);
	if (!obj)
		return;
	/* A VM, vCPU or system handle lives while a descriptor names it:
	 * one the program made with plain dup() is not in the table. */
	if (obj->type != OBJ_GMEM && atomic_load(&obj->refs) == 1) {
		other = other_fd(obj->dev, obj->ino, fd);
		if (other >= 0) {
			pthread_mutex_lock(&registry);
			prev = table_set(other, obj);
			pthread_mutex_unlock(&registry);
			obj_put(prev);
		}
	}
	obj_put(obj);
}

void obj_fd_closed_range(unsigned int first, unsigned int last)
{
	unsigned int fd, c;

	for (c = first >> CHUNK_BITS; c < CHUNKS && c <= last >> CHUNK_BITS; c++) {
		if (!atomic_load(&table[c]))
			continue;
		for (fd = MAX(first, c << CHUNK_BITS);
		     fd <= last && fd < (c + 1) << CHUNK_BITS; fd++)
			if (obj_peek((int)fd))
				obj_fd_closed((int)fd);
	}
}

void obj_init(void)
{
	atomic_store(&owner, sys_getpid());
}

bool obj_table_mine(void)
{
	pid_t o = atomic_load(&owner);

	return !o || o == sys_getpid();
}

void obj_fd_ops_lock(void)
{
	pthread_mutex_lock(&fd_ops);
}

void obj_fd_ops_unlock(void)
{
	pthread_mutex_unlock(&fd_ops);
}

void obj_atfork_prepare(void)
{
	pthread_mutex_lock(&fd_ops);
	pthread_mutex_lock(&registry);
}

void obj_atfork_parent(void)
{
	pthread_mutex_unlock(&registry);
	pthread_mutex_unlock(&fd_ops);
}

void obj_atfork_child(void)
{
	atomic_store(&owner, sys_getpid());
	pthread_mutex_unlock(&registry);
	pthread_mutex_unlock(&fd_ops);
}
