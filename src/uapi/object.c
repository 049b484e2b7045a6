// SPDX-License-Identifier: MIT
/*
 * fd -> object.  Objects are keyed by the (st_dev, st_ino) of the file behind
 * the fd, so dup()ed and inherited descriptors find the same object, and a
 * gmem received from another process (SCM_RIGHTS, pidfd_getfd) is attached
 * from its memfd name and shared header on first use.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"

#define HASH_BUCKETS 256

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct object *buckets[HASH_BUCKETS];
static dev_t shmem_dev;
static pthread_once_t shmem_once = PTHREAD_ONCE_INIT;

void registry_lock(void)
{
	pthread_mutex_lock(&registry_mutex);
}

void registry_unlock(void)
{
	pthread_mutex_unlock(&registry_mutex);
}

static void shmem_dev_probe(void)
{
	struct stat st;
	int fd = memfd_create("gmemu-probe", MFD_CLOEXEC);

	if (fd >= 0 && fstat(fd, &st) == 0)
		shmem_dev = st.st_dev;
	if (fd >= 0)
		close(fd);
}

dev_t memfd_dev(void)
{
	pthread_once(&shmem_once, shmem_dev_probe);
	return shmem_dev;
}

static unsigned int hash(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ino;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (unsigned int)(h >> 32) % HASH_BUCKETS;
}

void obj_init(struct object *obj, enum obj_type type, int fd,
	      void (*release)(struct object *))
{
	struct stat st;

	memset(obj, 0, sizeof(*obj));
	obj->type = type;
	obj->refs = 1; /* the fd's */
	obj->has_fd = true;
	obj->release = release;
	if (fstat(fd, &st) == 0) {
		obj->dev = st.st_dev;
		obj->ino = st.st_ino;
	}
}

static struct object *lookup_locked(dev_t dev, ino_t ino)
{
	struct object *o;

	for (o = buckets[hash(dev, ino)]; o; o = o->hash_next)
		if (o->dev == dev && o->ino == ino)
			return o;
	return NULL;
}

int obj_insert(struct object *obj)
{
	unsigned int b = hash(obj->dev, obj->ino);

	registry_lock();
	if (lookup_locked(obj->dev, obj->ino)) {
		registry_unlock();
		return -EEXIST;
	}
	obj->hash_next = buckets[b];
	buckets[b] = obj;
	registry_unlock();
	return 0;
}

static void unhash_locked(struct object *obj)
{
	struct object **pp = &buckets[hash(obj->dev, obj->ino)];

	for (; *pp; pp = &(*pp)->hash_next) {
		if (*pp == obj) {
			*pp = obj->hash_next;
			return;
		}
	}
}

void obj_get(struct object *obj)
{
	registry_lock();
	obj->refs++;
	registry_unlock();
}

void obj_put(struct object *obj)
{
	bool last;

	registry_lock();
	last = --obj->refs == 0;
	if (last)
		unhash_locked(obj);
	registry_unlock();
	if (last && obj->release)
		obj->release(obj);
}

/* Is fd a gmemu gmem memfd?  Its /proc link names the memfd. */
static bool fd_is_gmem_memfd(int fd)
{
	char path[64], target[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strncmp(target, "/memfd:" GMEM_MEMFD_NAME,
		       strlen("/memfd:" GMEM_MEMFD_NAME)) == 0;
}

struct object *obj_get_fd(int fd)
{
	struct object *o;
	struct gmem *g;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
		return NULL;
	registry_lock();
	o = lookup_locked(st.st_dev, st.st_ino);
	if (o) {
		o->refs++;
		if (!o->has_fd) { /* a new descriptor of a known object */
			o->has_fd = true;
			o->refs++;
		}
		registry_unlock();
		return o;
	}
	registry_unlock();

	if (!S_ISREG(st.st_mode) || st.st_dev != memfd_dev() ||
	    !fd_is_gmem_memfd(fd))
		return NULL;
	if (gmem_attach(fd, &st, &g) != 0)
		return NULL;
	/* Another thread may have attached it meanwhile: keep one. */
	registry_lock();
	o = lookup_locked(st.st_dev, st.st_ino);
	if (o) {
		o->refs++;
		registry_unlock();
		g->obj.refs = 0;
		g->obj.release(&g->obj);
		return o;
	}
	g->obj.hash_next = buckets[hash(st.st_dev, st.st_ino)];
	buckets[hash(st.st_dev, st.st_ino)] = &g->obj;
	g->obj.refs++; /* the caller's */
	registry_unlock();
	return &g->obj;
}

/* Does any descriptor of this process, other than skip1 and skip2, name
 * (dev, ino)? */
static bool proc_has_fd(dev_t dev, ino_t ino, int skip1, int skip2)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return true; /* cannot tell: keep the object */
	while (!found && (de = readdir(d))) {
		struct stat st;
		char *end;
		long n = strtol(de->d_name, &end, 10);

		if (*end || n == skip1 || n == skip2 || n == dirfd(d))
			continue;
		if (fstat((int)n, &st) == 0 && st.st_dev == dev &&
		    st.st_ino == ino)
			found = true;
	}
	closedir(d);
	return found;
}

/*
 * The user closed closed_fd (already gone).  Drop the fd's reference when no
 * other user descriptor of this process names the object (a gmem's own
 * internal descriptor does not count).
 */
void obj_fd_closed(struct object *obj, int closed_fd)
{
	int internal = obj->type == OBJ_GMEM ? ((struct gmem *)obj)->fd : -1;
	bool other = proc_has_fd(obj->dev, obj->ino, closed_fd, internal);

	registry_lock();
	if (other || !obj->has_fd) {
		registry_unlock();
		return;
	}
	obj->has_fd = false;
	registry_unlock();
	obj_put(obj); /* the fd's reference */
}
