// SPDX-License-Identifier: MIT
/*
 * The guest_memfd object.  One memfd holds the guest's bytes at offsets
 * [0, size) and, after them, the shared metadata (header, attribute extents,
 * pins, process registry) so that any process holding the fd can find
 * everything from the fd alone.  fstat and views expose exactly [0, size).
 */

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"

#ifndef FALLOC_FL_WRITE_ZEROES
#define FALLOC_FL_WRITE_ZEROES 0x80
#endif

#define HDR_AREA (64UL << 10) /* header and process table, records after */

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Start time of a process (clock ticks since boot), 0 when it is gone or a
 * zombie: a zombie no longer holds mappings. */
uint64_t proc_starttime(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	char state;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p || sscanf(p + 1, " %c", &state) != 1)
		return 0;
	if (state == 'Z' || state == 'X' || state == 'x')
		return 0;
	/* field 3 is state; starttime is field 22 */
	for (field = 3, p += 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &start) != 1)
		return 0;
	return start ? start : 1;
}

bool proc_alive(const struct gmem_proc *p)
{
	uint32_t state = atomic_load(&p->state);

	if (state == PROC_PENDING_FORK)
		return true; /* its child is about to claim it */
	if (state != PROC_LIVE)
		return false;
	return proc_starttime(p->pid) == p->starttime;
}

/*
 * A holder of the lock died.  Every update of the shared maps commits with
 * one store, so they are whole (old or new); records it had taken are
 * collected, invitations it sent are withdrawn (or waited for, if an agent
 * is already at work), and every process resynchronises its views with the
 * attributes.  The dead holder's operation is thereby rolled back if it had
 * not committed its attribute change, and completed if it had; content
 * effects it had already applied (flags 0, ZERO) are not undone.
 */
static void gmem_recover(struct gmem *g)
{
	struct gmem_hdr *h = g->hdr;
	struct rangemap *maps[] = { &h->attrs, &h->pins };
	uint32_t lists[GMEM_MAX_PROCS];
	int i, n = 0;

	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &h->procs[i];
		uint64_t inv = atomic_load(&pr->invite);
		uint64_t until = now_ns() + (uint64_t)h->revoke_timeout_ms * 1000000ULL;

		if (inv && !(inv & (1ULL << 63)))
			atomic_compare_exchange_strong(&pr->invite, &inv, 0);
		/* an agent finishing the dead one's request: let it */
		while (atomic_load(&pr->invite) && proc_alive(pr) && now_ns() < until)
			usleep(100);
		atomic_store(&pr->invite, 0);
		if (atomic_load(&pr->state) != PROC_FREE)
			lists[n++] = pr->views;
	}
	rm_recover(&g->space, maps, 2, lists, n);
	h->ctr.recoveries++;
	peers_resync_all(g);
	if (g->views)
		views_sync(g, 0, g->npages); /* ours too */
}

static int lock_result(struct gmem *g, int r)
{
	if (r == EOWNERDEAD) {
		gmem_recover(g);
		pthread_mutex_consistent(&g->hdr->lock);
		r = 0;
	}
	if (!r)
		atomic_fetch_add(&g->hdr->seq, 1);
	return -r;
}

int gmem_lock(struct gmem *g)
{
	return lock_result(g, pthread_mutex_lock(&g->hdr->lock));
}

int gmem_trylock(struct gmem *g)
{
	return lock_result(g, pthread_mutex_trylock(&g->hdr->lock));
}

void gmem_unlock(struct gmem *g)
{
	atomic_fetch_add(&g->hdr->seq, 1);
	pthread_mutex_unlock(&g->hdr->lock);
}

static void gmem_release(struct object *obj)
{
	struct gmem *g = (struct gmem *)obj;

	if (g->vm)
		vm_forget_gmem(g->vm, g);
	rm_index_free(&g->attr_index);
	munmap(g->base, g->size + GMEM_META_RESERVE);
	close(g->fd);
	free(g);
}

static int gmem_map(struct gmem *g, int fd, uint64_t size)
{
	void *base;

	g->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (g->fd < 0)
		return -errno;
	base = mmap(NULL, size + GMEM_META_RESERVE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, g->fd, 0);
	if (base == MAP_FAILED) {
		int err = -errno;

		close(g->fd);
		return err;
	}
	g->base = base;
	g->hdr = (struct gmem_hdr *)(g->base + size);
	g->recs = (struct gmem_rec *)((uint8_t *)g->hdr + HDR_AREA);
	g->size = size;
	g->npages = size >> PAGE_SHIFT;
	g->space.recs = g->recs;
	g->space.pool = &g->hdr->pool;
	g->space.npages = g->npages;
	g->slot = -1;
	return 0;
}

static int hdr_init(struct gmem *g, struct vm *vm, uint64_t size,
		    uint64_t flags)
{
	struct gmem_hdr *h = g->hdr;
	pthread_mutexattr_t ma;
	bool shared = flags & GUEST_MEMFD_FLAG_INIT_SHARED;
	const char *env;
	int r;

	h->version = GMEM_VERSION;
	h->hdr_bytes = sizeof(*h);
	h->size = size;
	h->flags = flags;
	h->vm_type = vm->model->vm_type;
	h->vm_id = vm->id;
	h->vm_key = vm->key;
	h->profile = vm->profile;
	atomic_store(&h->phase, (uint32_t)atomic_load(&vm->phase));
	h->revoke_timeout_ms = REVOKE_TIMEOUT_MS_DEFAULT;
	env = getenv("GMEMU_REVOKE_TIMEOUT_MS");
	if (env && *env) {
		char *end;
		unsigned long ms = strtoul(env, &end, 10);

		if (!*end && ms > 0 && ms <= 3600000)
			h->revoke_timeout_ms = (uint32_t)ms;
	}

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	r = -pthread_mutex_init(&h->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (r)
		return r;

	pool_init(&h->pool, (uint32_t)MIN((GMEM_META_RESERVE - HDR_AREA) /
						  sizeof(struct gmem_rec),
					  UINT32_MAX));
	r = rm_init(&g->space, &h->attrs, shared ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE);
	if (!r)
		r = rm_init(&g->space, &h->pins, 0);
	if (r)
		return r;
	/* Written last: an attacher trusts nothing without it. */
	atomic_thread_fence(memory_order_release);
	h->magic = GMEM_MAGIC;
	return 0;
}

int gmem_create(struct vm *vm, uint64_t size, uint64_t flags)
{
	struct gmem *g;
	int fd, r;

	_Static_assert(sizeof(struct gmem_hdr) <= HDR_AREA, "header area");
	_Static_assert(sizeof(struct gmem_rec) == 32, "record size");

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	/* guest_memfd descriptors are not close-on-exec; neither is this. */
	fd = memfd_create(GMEM_MEMFD_NAME, MFD_ALLOW_SEALING);
	if (fd < 0) {
		r = -errno;
		goto err_free;
	}
	if (ftruncate(fd, (off_t)(size + GMEM_META_RESERVE)) != 0) {
		r = -errno;
		goto err_close;
	}
	/* The size never changes (ftruncate of a gmem is EINVAL). */
	fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK);
	r = gmem_map(g, fd, size);
	if (r)
		goto err_close;
	obj_init(&g->obj, OBJ_GMEM, fd, gmem_release);
	r = hdr_init(g, vm, size, flags);
	if (r)
		goto err_unmap;
	r = obj_insert(&g->obj);
	if (r)
		goto err_unmap;
	g->vm = vm;
	pthread_mutex_lock(&vm->lock);
	if (vm->nr_gmems == vm->cap_gmems) {
		size_t cap = vm->cap_gmems ? vm->cap_gmems * 2 : 4;
		struct gmem **n = realloc(vm->gmems, cap * sizeof(*n));

		if (n) {
			vm->gmems = n;
			vm->cap_gmems = cap;
		}
	}
	if (vm->nr_gmems < vm->cap_gmems)
		vm->gmems[vm->nr_gmems++] = g;
	else
		g->vm = NULL; /* finalize will not reach it: phase copied */
	pthread_mutex_unlock(&vm->lock);
	return fd;

err_unmap:
	munmap(g->base, size + GMEM_META_RESERVE);
	close(g->fd);
err_close:
	close(fd);
err_free:
	free(g);
	return r;
}

int gmem_attach(int fd, const struct stat *st, struct gmem **out)
{
	struct gmem_hdr *probe;
	struct gmem *g;
	uint64_t size;
	int r;

	if ((uint64_t)st->st_size <= GMEM_META_RESERVE)
		return -EINVAL;
	size = (uint64_t)st->st_size - GMEM_META_RESERVE;
	if (!PAGE_ALIGNED(size))
		return -EINVAL;
	probe = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_SHARED, fd, (off_t)size);
	if (probe == MAP_FAILED)
		return -errno;
	r = (probe->magic == GMEM_MAGIC && probe->version == GMEM_VERSION &&
	     probe->size == size) ? 0 : -EINVAL;
	munmap(probe, PAGE_SIZE);
	if (r)
		return r;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	r = gmem_map(g, fd, size);
	if (r) {
		free(g);
		return r;
	}
	obj_init(&g->obj, OBJ_GMEM, fd, gmem_release);
	*out = g;
	return 0;
}

int gmem_fstat(struct gmem *g, int fd, struct stat *st)
{
	if (fstat(fd, st) != 0)
		return -errno;
	st->st_size = (off_t)g->size;
	st->st_blksize = PAGE_SIZE;
	return 0;
}

/*
 * fallocate, in the order the VFS and guest_memfd check (differentially
 * tested against the kernel's own guest_memfd).
 */
int gmem_fallocate(struct gmem *g, int mode, off_t offset, off_t len)
{
	const int mode_mask = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE |
			      FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE |
			      FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES;
	uint64_t first, end;
	int r = 0;

	/* vfs_fallocate() */
	if (offset < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(mode_mask | FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	switch (mode & mode_mask) {
	case 0:
	case FALLOC_FL_UNSHARE_RANGE:
	case FALLOC_FL_ZERO_RANGE:
		break;
	case FALLOC_FL_PUNCH_HOLE:
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			return -EOPNOTSUPP;
		break;
	case FALLOC_FL_COLLAPSE_RANGE:
	case FALLOC_FL_INSERT_RANGE:
	case FALLOC_FL_WRITE_ZEROES:
		if (mode & FALLOC_FL_KEEP_SIZE)
			return -EOPNOTSUPP;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if ((uint64_t)offset + (uint64_t)len > (uint64_t)INT64_MAX)
		return -EFBIG;

	/* kvm_gmem_fallocate() */
	if (!(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (!PAGE_ALIGNED((uint64_t)offset) || !PAGE_ALIGNED((uint64_t)len))
		return -EINVAL;

	first = (uint64_t)offset;
	end = first + (uint64_t)len;
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		/* Past the end is a no-op; the metadata is never touched. */
		end = MIN(end, g->size);
		if (first >= end)
			return 0;
		r = gmem_lock(g);
		if (r)
			return r;
		if (fallocate(g->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			      (off_t)first, (off_t)(end - first)) != 0)
			r = -errno;
		gmem_unlock(g);
		return r;
	}
	if (end > g->size)
		return -EINVAL;
	if (fallocate(g->fd, FALLOC_FL_KEEP_SIZE, (off_t)first,
		      (off_t)(end - first)) != 0)
		return -errno;
	return 0;
}

static int range_check(struct gmem *g, uint64_t offset, uint64_t len)
{
	if (!len || !PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len) ||
	    offset + len < offset || offset + len > g->size)
		return -EINVAL;
	return 0;
}

/* Is every page of [first, end) shared? */
static bool range_shared(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t p, next;

	for (p = first; p < end; p = next)
		if (rm_get(&g->space, &g->hdr->attrs, p, &next))
			return false;
	return true;
}

/*
 * Add delta (+1/-1) to the long-term pin count of every page of the range.
 * Pinning needs shared pages (EFAULT, as GUP on a page that cannot be
 * faulted in); unpinning a page that is not pinned is EINVAL.
 */
int gmem_pin(struct gmem *g, uint64_t offset, uint64_t len, int delta)
{
	struct rangemap *pins = &g->hdr->pins;
	uint64_t first = offset >> PAGE_SHIFT, end, p, next;
	uint32_t pieces = 0;
	int r = range_check(g, offset, len);

	if (r)
		return r;
	end = first + (len >> PAGE_SHIFT);
	r = gmem_lock(g);
	if (r)
		return r;
	if (delta > 0 && !range_shared(g, first, end)) {
		r = -EFAULT;
		goto out;
	}
	for (p = first; p < end; p = next, pieces++) {
		uint64_t v = rm_get(&g->space, pins, p, &next);

		if (delta < 0 && (uint32_t)v == 0) {
			r = -EINVAL;
			goto out;
		}
		if (delta > 0 && (uint32_t)v == UINT32_MAX) {
			r = -EOVERFLOW;
			goto out;
		}
	}
	if (pool_available(&g->space) < pieces * RM_ASSIGN_NODES) {
		r = -ENOMEM;
		goto out;
	}
	for (p = first; p < end; p = next) {
		uint64_t v = rm_get(&g->space, pins, p, &next);

		next = MIN(next, end);
		rm_assign(&g->space, pins, p, next, (uint64_t)((int64_t)v + delta));
	}
out:
	gmem_unlock(g);
	return r;
}

int gmem_pin_transient(struct gmem *g, uint64_t offset)
{
	uint64_t page = offset >> PAGE_SHIFT, v;
	int r = range_check(g, offset, PAGE_SIZE);

	if (r)
		return r;
	r = gmem_lock(g);
	if (r)
		return r;
	if (!range_shared(g, page, page + 1)) {
		r = -EFAULT;
		goto out;
	}
	v = rm_get(&g->space, &g->hdr->pins, page, NULL);
	r = rm_assign(&g->space, &g->hdr->pins, page, page + 1, v + (1ULL << 32));
out:
	gmem_unlock(g);
	return r;
}

/* ---- observability ---- */

static uint32_t pinned_pages(struct gmem *g)
{
	uint64_t p, next, n = 0;

	for (p = 0; p < g->npages; p = next)
		if ((uint32_t)rm_get(&g->space, &g->hdr->pins, p, &next))
			n += next - p;
	return (uint32_t)MIN(n, UINT32_MAX);
}

int gmem_info(struct gmem *g, struct gmemu_gmem_info *info)
{
	struct gmemu_gmem_info out = { 0 };
	struct gmem_hdr *h = g->hdr;
	size_t sz = info->sz;
	int i, r;

	if (sz < offsetof(struct gmemu_gmem_info, profile))
		return -EINVAL;
	r = gmem_lock(g);
	if (r)
		return r;
	out.sz = MIN(sz, sizeof(out));
	out.size = h->size;
	out.flags = h->flags;
	out.vm_type = h->vm_type;
	snprintf(out.profile, sizeof(out.profile), "%s",
		 profile_name((enum abi_profile)h->profile));
	out.finalized = atomic_load(&h->phase) == PHASE_POST_LAUNCH;
	out.nr_extents = h->attrs.nr_extents;
	out.nr_pinned_pages = pinned_pages(g);
	for (i = 0; i < GMEM_MAX_PROCS; i++)
		if (atomic_load(&h->procs[i].state) != PROC_FREE)
			out.nr_processes++;
	out.conversions_to_private = h->ctr.to_private;
	out.conversions_to_shared = h->ctr.to_shared;
	out.bytes_zeroed = h->ctr.bytes_zeroed;
	out.bytes_scrambled = h->ctr.bytes_scrambled;
	out.eagain = h->ctr.eagain;
	out.enomem = h->ctr.enomem;
	/* what the metadata occupies: the header and the record pool's
	 * high-water mark (the rest of the reserve is never touched) */
	out.meta_bytes = sizeof(*h) + (uint64_t)(h->pool.bump) *
					      sizeof(struct gmem_rec);
	out.revocation_requests = h->ctr.peer_requests;
	out.revocation_wait_ns = h->ctr.peer_wait_ns;
	out.recoveries = h->ctr.recoveries;
	out.revoke_timeout_ms = h->revoke_timeout_ms;
	gmem_unlock(g);
	memcpy(info, &out, out.sz);
	return 0;
}

/* Is any byte of [first, end) pages allocated? */
static bool range_used(struct gmem *g, uint64_t first, uint64_t end)
{
	off_t d = lseek(g->fd, (off_t)(first << PAGE_SHIFT), SEEK_DATA);

	return d >= 0 && (uint64_t)d < (end << PAGE_SHIFT);
}

static void picture(struct gmem *g, char *buf, size_t width)
{
	uint64_t per, i, cells;

	cells = MIN((uint64_t)width, g->npages);
	per = (g->npages + cells - 1) / cells;
	cells = (g->npages + per - 1) / per;
	for (i = 0; i < cells; i++) {
		uint64_t first = i * per, end = MIN(first + per, g->npages);
		uint64_t p, next;
		bool priv = false, shared = false;
		char c;

		for (p = first; p < end; p = MAX(next, p + 1)) {
			if (rm_get(&g->space, &g->hdr->attrs, p, &next))
				priv = true;
			else
				shared = true;
		}
		c = priv && shared ? 'M' : priv ? 'P' : 'S';
		buf[i] = range_used(g, first, end) ? c : (char)(c + 'a' - 'A');
	}
	buf[cells] = '\0';
}

int gmem_picture(struct gmem *g, char *buf, size_t width)
{
	int r = gmem_lock(g);

	if (r)
		return r;
	picture(g, buf, width);
	gmem_unlock(g);
	return 0;
}

static const char *type_name(uint64_t type)
{
	const struct platform_model *m = model_find(type);

	return m ? m->name : "?";
}

static void dump_state(struct gmem *g, FILE *out)
{
	struct gmem_hdr *h = g->hdr;
	uint64_t p, next, v;
	char pic[65];
	int i, n = 0;

	fprintf(out, "gmem size=%#llx flags=%#llx vm_type=%s profile=%s phase=%s\n",
		(unsigned long long)h->size, (unsigned long long)h->flags,
		type_name(h->vm_type),
		profile_name((enum abi_profile)h->profile),
		atomic_load(&h->phase) == PHASE_POST_LAUNCH ? "post-launch"
							    : "pre-launch");
	picture(g, pic, 64);
	fprintf(out, "map: [%s]\n", pic);
	fprintf(out, "extents (%u):\n", h->attrs.nr_extents);
	for (p = 0; p < g->npages && n++ < 4096; p = MAX(next, p + 1)) {
		v = rm_get(&g->space, &h->attrs, p, &next);
		fprintf(out, "  [%#llx, %#llx) %s\n",
			(unsigned long long)(p << PAGE_SHIFT),
			(unsigned long long)(MIN(next, g->npages) << PAGE_SHIFT),
			v ? "private" : "shared");
	}
	fprintf(out, "pins:\n");
	for (p = 0, n = 0; p < g->npages && n++ < 4096; p = MAX(next, p + 1)) {
		v = rm_get(&g->space, &h->pins, p, &next);
		if (v)
			fprintf(out, "  [%#llx, %#llx) long-term=%u transient=%u\n",
				(unsigned long long)(p << PAGE_SHIFT),
				(unsigned long long)(MIN(next, g->npages) << PAGE_SHIFT),
				(uint32_t)v, (uint32_t)(v >> 32));
	}
	fprintf(out, "processes:\n");
	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &h->procs[i];
		uint32_t st = atomic_load(&pr->state);

		if (st == PROC_FREE)
			continue;
		fprintf(out, "  pid=%d %s views=%u acked=%llu%s\n", pr->pid,
			st == PROC_PENDING_FORK ? "forking"
			: proc_alive(pr)        ? "alive"
						: "dead",
			pr->nr_views,
			(unsigned long long)atomic_load(&pr->ack_gen),
			atomic_load(&pr->need_resync) ? " resync-pending" : "");
	}
	fprintf(out,
		"counters: to_private=%llu to_shared=%llu zeroed=%llu "
		"scrambled=%llu eagain=%llu enomem=%llu\n"
		"          revocation_requests=%llu revocation_wait_us=%llu "
		"request_generation=%llu recoveries=%llu generation=%llu\n",
		(unsigned long long)h->ctr.to_private,
		(unsigned long long)h->ctr.to_shared,
		(unsigned long long)h->ctr.bytes_zeroed,
		(unsigned long long)h->ctr.bytes_scrambled,
		(unsigned long long)h->ctr.eagain,
		(unsigned long long)h->ctr.enomem,
		(unsigned long long)h->ctr.peer_requests,
		(unsigned long long)(h->ctr.peer_wait_ns / 1000),
		(unsigned long long)atomic_load(&h->req.gen),
		(unsigned long long)h->ctr.recoveries,
		(unsigned long long)h->generation);
}

/*
 * Print the state without taking the lock, so inspecting never delays a
 * conversion: a snapshot is taken between two reads of the lock's sequence
 * count and retried until no one held the lock meanwhile.  Committed maps
 * are never written in place, so even a snapshot taken while the lock is
 * held (printed with a note after a while) is a map that existed.
 */
int gmem_dump(struct gmem *g, FILE *out)
{
	char *buf = NULL;
	size_t len = 0;
	int attempt;

	for (attempt = 0; attempt < 200; attempt++) {
		uint32_t s1 = atomic_load(&g->hdr->seq), s2;
		FILE *f;

		if ((s1 & 1) && attempt < 199) {
			usleep(1000);
			continue;
		}
		free(buf);
		buf = NULL;
		f = open_memstream(&buf, &len);
		if (!f)
			return -ENOMEM;
		dump_state(g, f);
		fclose(f);
		s2 = atomic_load(&g->hdr->seq);
		if (s1 == s2 && !(s1 & 1))
			break;
	}
	if (buf) {
		fputs(buf, out);
		if (attempt == 200)
			fprintf(out, "(taken while another process held the lock: "
				     "may mix two states)\n");
	}
	free(buf);
	return 0;
}
