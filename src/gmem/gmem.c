// SPDX-License-Identifier: MIT
/*
 * The guest_memfd object: creation, attaching a gmem met in another
 * process, references, the robust cross-process lock and its recovery,
 * groups (a VM's gmems and their launch phase), file operations.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../base/env.h"
#include "../base/fd.h"
#include "../base/sys.h"
#include "gmem_priv.h"

#ifndef FALLOC_FL_WRITE_ZEROES
#define FALLOC_FL_WRITE_ZEROES 0x80
#endif

#define REVOKE_TIMEOUT_MS_DEFAULT 1000
#define REVOKE_TIMEOUT_MS_MAX 3600000

/* ---- groups ---- */

int gmem_group_create(struct gmem_group **out)
{
	struct gmem_group *grp = calloc(1, sizeof(*grp));

	if (!grp || FAULT_INJECT("group_create")) {
		free(grp);
		return -ENOMEM;
	}
	pthread_mutex_init(&grp->lock, NULL);
	atomic_store(&grp->refs, 1);
	grp->phase = PHASE_PRE_LAUNCH;
	grp->holding = true;
	*out = grp;
	return 0;
}

static void group_unref(struct gmem_group *grp)
{
	if (!grp || atomic_fetch_sub(&grp->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&grp->lock);
	free(grp->members);
	free(grp);
}

/* Drop the references the group holds on its members, one at a time: a
 * member released here leaves the group, which takes the lock.  Called
 * once holding is off, so no new member is held meanwhile. */
static void group_release_members(struct gmem_group *grp)
{
	for (;;) {
		struct gmem *g = NULL;
		size_t i;

		pthread_mutex_lock(&grp->lock);
		for (i = 0; i < grp->nr && !g; i++) {
			if (grp->members[i]->group_held) {
				g = grp->members[i];
				g->group_held = false;
			}
		}
		pthread_mutex_unlock(&grp->lock);
		if (!g)
			return;
		gmem_put(g);
	}
}

void gmem_group_put(struct gmem_group *grp)
{
	if (!grp)
		return;
	/* the VM is gone: nothing finalizes it now */
	pthread_mutex_lock(&grp->lock);
	grp->holding = false;
	pthread_mutex_unlock(&grp->lock);
	group_release_members(grp);
	group_unref(grp);
}

enum launch_phase gmem_group_phase(struct gmem_group *grp)
{
	enum launch_phase p;

	pthread_mutex_lock(&grp->lock);
	p = grp->phase;
	pthread_mutex_unlock(&grp->lock);
	return p;
}

/* Join grp and take its phase, in one step under its lock. */
static int group_join(struct gmem_group *grp, struct gmem *g)
{
	int r = 0;

	pthread_mutex_lock(&grp->lock);
	if (grp->nr == grp->cap) {
		size_t cap = grp->cap ? grp->cap * 2 : 4;
		struct gmem **n = FAULT_INJECT("group_join") ? NULL :
				  realloc(grp->members, cap * sizeof(*n));

		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		grp->members = n;
		grp->cap = cap;
	}
	grp->members[grp->nr++] = g;
	atomic_store(&g->hdr->phase, grp->phase);
	atomic_fetch_add(&grp->refs, 1);
	g->group = grp;
	/* Until finalize the group holds its members: a gmem whose last
	 * descriptor in this process is gone (sent to another process,
	 * say) still changes phase with the VM. */
	if (grp->holding) {
		gmem_get(g);
		g->group_held = true;
	}
out:
	pthread_mutex_unlock(&grp->lock);
	return r;
}

static void group_leave(struct gmem *g)
{
	struct gmem_group *grp = g->group;
	size_t i;

	if (!grp)
		return;
	pthread_mutex_lock(&grp->lock);
	for (i = 0; i < grp->nr; i++) {
		if (grp->members[i] == g) {
			grp->members[i] = grp->members[--grp->nr];
			break;
		}
	}
	pthread_mutex_unlock(&grp->lock);
	g->group = NULL;
	group_unref(grp);
}

int gmem_group_finalize(struct gmem_group *grp)
{
	size_t i, locked = 0;
	int r = 0;

	pthread_mutex_lock(&grp->lock);
	if (grp->phase != PHASE_PRE_LAUNCH) {
		r = -EINVAL;
		goto out;
	}
	/* the launch rules first, on every member; nothing changes unless
	 * all of them can be locked */
	for (; locked < grp->nr && !r; locked++)
		r = gmem_lock(grp->members[locked]);
	if (r)
		locked--;
	for (i = 0; i < grp->nr && !r; i++)
		r = gmem_launch_seal(grp->members[i]);
	if (!r) {
		grp->phase = PHASE_POST_LAUNCH;
		for (i = 0; i < grp->nr; i++)
			atomic_store(&grp->members[i]->hdr->phase,
				     PHASE_POST_LAUNCH);
	}
	for (i = 0; i < locked; i++)
		gmem_unlock(grp->members[i]);
	if (!r)
		grp->holding = false;
out:
	pthread_mutex_unlock(&grp->lock);
	if (!r)
		group_release_members(grp);
	return r;
}

/* ---- the lock ---- */

static void gmem_recover(struct gmem *g);

static int lock_result(struct gmem *g, int r)
{
	if (r == EOWNERDEAD) {
		gmem_recover(g);
		pthread_mutex_consistent(&g->hdr->lock);
		/* odd while held: a holder that died holding it left the
		 * count odd (one that died unlocking, even); it moves either
		 * way, so watchers of the old holder see it go */
		atomic_fetch_add(&g->hdr->seq,
				 atomic_load(&g->hdr->seq) & 1 ? 2 : 1);
		return 0;
	}
	if (r == ETIMEDOUT || r == EBUSY)
		return -EAGAIN;
	if (r == ENOTRECOVERABLE)
		return -EIO;
	if (!r)
		atomic_fetch_add(&g->hdr->seq, 1);
	return -r;
}

int gmem_lock(struct gmem *g)
{
	return gmem_lock_ms(g, g->hdr->revoke_timeout_ms);
}

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif

/* How long one wait on the lock's futex lasts before the lock word is
 * looked at again (see gmem_lock_ms). */
#define LOCK_SLICE_NS 10000000ULL

int gmem_lock_ms(struct gmem *g, unsigned int ms)
{
	int r = pthread_mutex_trylock(&g->hdr->lock);

	if (r != EBUSY)
		return lock_result(g, r);
#ifdef TSAN_BUILD
	/* ThreadSanitizer does not see a robust mutex taken over from a dead
	 * owner through timedlock: poll with trylock, which it follows */
	for (uint64_t until = now_ns() + ms * 1000000ULL;
	     r == EBUSY && now_ns() < until;
	     r = pthread_mutex_trylock(&g->hdr->lock))
		usleep(50);
	return lock_result(g, r);
#else
	uint64_t until = now_ns() + ms * 1000000ULL;

	/*
	 * In slices: a waiter asleep on the robust futex is woken by its
	 * owner's unlock or death, and a wake-up can be missed (seen under
	 * the kill soak: a waiter asleep on a lock that was free, woken by
	 * nothing until a debugger's attach restarted its wait).  Each slice
	 * looks at the lock word again.  pthread_mutex_timedlock takes
	 * CLOCK_REALTIME; a clock step makes a slice longer or shorter, the
	 * bound is on CLOCK_MONOTONIC.
	 */
	for (;;) {
		uint64_t now = now_ns(), slice;
		struct timespec ts;

		if (now >= until)
			return lock_result(g, ETIMEDOUT);
		slice = MIN(until - now, LOCK_SLICE_NS);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(slice / 1000000000ULL);
		ts.tv_nsec += (long)(slice % 1000000000ULL);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		r = pthread_mutex_timedlock(&g->hdr->lock, &ts);
		if (r != ETIMEDOUT)
			return lock_result(g, r);
	}
#endif
}

int gmem_lock_wait(struct gmem *g)
{
	int r;

	/* as gmem_lock_ms, without a bound: in slices */
	while ((r = gmem_lock_ms(g, 1000)) == -EAGAIN)
		;
	return r;
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

void gmem_assert_locked(struct gmem *g)
{
	/* the sequence count is odd exactly while someone holds the lock */
	if (!(atomic_load(&g->hdr->seq) & 1))
		abort();
}

static int cmp_ino(const void *a, const void *b)
{
	ino_t x = (*(struct gmem *const *)a)->ino;
	ino_t y = (*(struct gmem *const *)b)->ino;

	return x < y ? -1 : x > y;
}

int gmem_lock_many(struct gmem **gs, int n)
{
	int i, r;

	/* one order in every process: the memfd's inode number */
	qsort(gs, (size_t)n, sizeof(*gs), cmp_ino);
	for (i = 0; i < n; i++) {
		r = gmem_lock(gs[i]);
		if (r) {
			while (i--)
				gmem_unlock(gs[i]);
			return r;
		}
	}
	return 0;
}

void gmem_unlock_many(struct gmem **gs, int n)
{
	while (n--)
		gmem_unlock(gs[n]);
}

/*
 * A holder of the lock died.  Every update of the shared maps commits with
 * one store, so they are whole (old or new); records it had taken are
 * collected, invitations it sent are withdrawn (or waited for, bounded, if
 * an agent is already at work), and every process resynchronises its views
 * with the attributes.  The dead holder's operation is thereby rolled back
 * if it had not committed its attribute change, and completed if it had;
 * content effects it had already applied (flags 0, ZERO) are not undone.
 */
static void gmem_recover(struct gmem *g)
{
	struct gmem_hdr *h = g->hdr;
	struct rangemap *maps[] = { &h->attrs, &h->pins, &h->populated };
	uint64_t until = now_ns() + (uint64_t)h->revoke_timeout_ms * 1000000ULL;
	uint32_t lists[GMEM_MAX_PROCS];
	int i, n = 0;

	peers_recover(h);
	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &h->procs[i];

		while (atomic_load(&pr->invite) && now_ns() < until &&
		       proc_liveness(pr) != PROC_GONE)
			usleep(100);
		atomic_store(&pr->invite, 0);
		if (atomic_load(&pr->state) != PROC_FREE)
			lists[n++] = pr->views;
	}
	rm_recover(&g->space, maps, (int)ARRAY_SIZE(maps), lists, n);
	h->ctr.recoveries++;
	if (g->views.head && gmem_fd(g) >= 0) {
		gmem_views_lock();
		views_sync(&g->views, 0, g->npages);
		gmem_views_unlock();
	}
	gmem_guests_notify(g, 0, g->npages);
	/* every other process's views match the attributes again before
	 * anyone goes on; one that does not answer in time resyncs when it
	 * runs */
	if (peers_request(h, &g->space, g->views.slot, PEER_SYNC, 0, g->npages,
			  0, NULL, NULL))
		peers_resync_all(h, g->views.slot);
}

/* ---- creation and attaching ---- */

static dev_t memfd_dev_value;

/* The device of memfds, probed until a probe succeeds: 0 while it cannot
 * be told (no descriptor free), never cached as such. */
static dev_t memfd_dev(void)
{
	dev_t dev = __atomic_load_n(&memfd_dev_value, __ATOMIC_ACQUIRE);
	struct stat st;
	int fd;

	if (dev)
		return dev;
	fd = sys_memfd_create("gmemu-probe", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (sys_fstat(fd, &st) == 0)
		__atomic_store_n(&memfd_dev_value, dev = st.st_dev,
				 __ATOMIC_RELEASE);
	sys_close(fd);
	return dev;
}

int gmem_fd_probe(int fd, const struct stat *st)
{
	dev_t dev = memfd_dev();
	uint64_t magic;
	long n;

	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size <= GMEM_META_RESERVE)
		return 0;
	if (!dev)
		return -EMFILE; /* cannot tell: never a reason to pass it on */
	if (st->st_dev != dev)
		return 0;
	n = sys_pread(fd, &magic, sizeof(magic),
		      st->st_size - (off_t)GMEM_META_RESERVE);
	if (n < 0)
		return (int)n;
	return n == sizeof(magic) && magic == GMEM_MAGIC;
}

int gmem_fd_version(int fd, uint32_t *version)
{
	struct stat st;
	int r;

	if (sys_fstat(fd, &st))
		return -EBADF;
	r = gmem_fd_probe(fd, &st);
	if (r <= 0)
		return r ? r : -EINVAL;
	if (sys_pread(fd, version, sizeof(*version),
		      st.st_size - (off_t)GMEM_META_RESERVE + 8) != sizeof(*version))
		return -EIO;
	return 0;
}

uint32_t gmem_layout_version(void)
{
	return GMEM_LAYOUT_VERSION;
}

static void gmem_unmap(struct gmem *g)
{
	if (g->base)
		sys_munmap(g->base, g->size + GMEM_META_RESERVE);
	if (g->fd >= 0) {
		fd_hidden_forget(g->fd);
		sys_close(g->fd);
	}
}

static int gmem_map(struct gmem *g, int fd, uint64_t size)
{
	struct stat st;
	long base;
	int r;

	r = (int)sys_fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r < 0)
		return r;
	g->fd = fd_hide(r);
	if (g->fd < 0)
		return g->fd;
	if (sys_fstat(g->fd, &st))
		return -EBADF;
	g->dev = st.st_dev;
	g->ino = st.st_ino;
	base = sys_mmap(NULL, size + GMEM_META_RESERVE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_NORESERVE, g->fd, 0);
	if (base < 0 && base > -4096)
		return (int)base;
	g->base = (uint8_t *)base;
	g->hdr = (struct gmem_hdr *)(g->base + size);
	g->size = size;
	g->npages = size >> PAGE_SHIFT;
	g->space.recs = (struct gmem_rec *)((uint8_t *)g->hdr + GMEM_HDR_AREA);
	g->space.pool = &g->hdr->pool;
	g->space.npages = g->npages;
	g->views.hdr = g->hdr;
	g->views.space = &g->space;
	g->views.attrs = &g->hdr->attrs;
	g->views.npages = g->npages;
	g->views.memfd = g->fd;
	g->views.memfd_dev = g->dev;
	g->views.memfd_ino = g->ino;
	g->views.slot = -1;
	g->views.trusted = g->base;
	g->views.seq = &g->hdr->seq;
	g->views.resync_soon = gmem_views_resync_soon;
	g->views.memfd_repair = gmem_views_memfd_repair;
	g->views.caller_fd = -1;
	g->agent.hdr = g->hdr;
	return 0;
}

static struct gmem *gmem_alloc(void)
{
	struct gmem *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	atomic_store(&g->refs, 1);
	g->fd = -1;
	pthread_mutex_init(&g->guest_lock, NULL);
	return g;
}

static int hdr_init(struct gmem *g, const struct gmem_params *p)
{
	struct gmem_hdr *h = g->hdr;
	pthread_mutexattr_t ma;
	unsigned long ms = REVOKE_TIMEOUT_MS_DEFAULT;
	int r;

	r = env_uint("GMEMU_REVOKE_TIMEOUT_MS", 1, REVOKE_TIMEOUT_MS_MAX, &ms);
	if (r < 0)
		return r;
	h->version = GMEM_LAYOUT_VERSION;
	h->hdr_bytes = sizeof(*h);
	h->size = p->size;
	h->flags = p->flags;
	h->vm_type = p->model->vm_type;
	h->vm_id = p->vm_id;
	memcpy(h->vm_key, p->key, sizeof(h->vm_key));
	h->abi = p->abi.id;
	h->revoke_timeout_ms = (uint32_t)ms;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	r = -pthread_mutex_init(&h->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (r)
		return r;
	pool_init(&h->pool, (uint32_t)MIN((GMEM_META_RESERVE - GMEM_HDR_AREA) /
						  sizeof(struct gmem_rec),
					  UINT32_MAX));
	r = rm_init(&g->space, &h->attrs,
		    p->flags & GUEST_MEMFD_FLAG_INIT_SHARED ? 0 : PRIVATE);
	if (!r)
		r = rm_init(&g->space, &h->pins, 0);
	if (!r)
		r = rm_init(&g->space, &h->populated, 0);
	return r;
}

int gmem_create(struct gmem_group *grp, const struct gmem_params *p,
		int *fd_out, struct gmem **out)
{
	struct gmem *g;
	int fd, r;

	if (p->size > GMEM_MAX_SIZE)
		return -ENOMEM;
	g = gmem_alloc();
	if (!g || FAULT_INJECT("gmem_create")) {
		free(g);
		return -ENOMEM;
	}
	/* guest_memfd descriptors are not close-on-exec; neither is this */
	fd = sys_memfd_create(GMEM_MEMFD_NAME, MFD_ALLOW_SEALING);
	if (fd < 0) {
		r = fd;
		goto err_free;
	}
	r = sys_ftruncate(fd, (off_t)(p->size + GMEM_META_RESERVE));
	if (r)
		goto err_close;
	/* the size never changes (ftruncate of a gmem is EINVAL) */
	r = (int)sys_fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK);
	if (r)
		goto err_close;
	r = gmem_map(g, fd, p->size);
	if (r)
		goto err_unmap;
	r = hdr_init(g, p);
	if (r)
		goto err_unmap;
	r = group_join(grp, g);
	if (r)
		goto err_unmap;
	/* written last: an attacher trusts nothing without it */
	atomic_thread_fence(memory_order_release);
	g->hdr->magic = GMEM_MAGIC;
	*fd_out = fd;
	*out = g;
	return 0;

err_unmap:
	gmem_unmap(g);
err_close:
	sys_close(fd);
err_free:
	free(g);
	return r;
}

int gmem_attach(int fd, const struct stat *st, struct gmem **out)
{
	struct gmem *g;
	uint32_t version;
	uint64_t size;
	int r;

	r = gmem_fd_probe(fd, st);
	if (r <= 0)
		return r ? r : -EINVAL;
	r = gmem_fd_version(fd, &version);
	if (r)
		return r;
	if (version != GMEM_LAYOUT_VERSION)
		return -EPROTO;
	size = (uint64_t)st->st_size - GMEM_META_RESERVE;
	if (!PAGE_ALIGNED(size))
		return -EINVAL;
	g = gmem_alloc();
	if (!g || FAULT_INJECT("gmem_attach")) {
		free(g);
		return -ENOMEM;
	}
	r = gmem_map(g, fd, size);
	if (!r && (g->hdr->size != size || g->hdr->magic != GMEM_MAGIC))
		r = -EINVAL;
	if (r) {
		gmem_unmap(g);
		free(g);
		return r;
	}
	*out = g;
	return 0;
}

void gmem_get(struct gmem *g)
{
	atomic_fetch_add(&g->refs, 1);
}

void gmem_put(struct gmem *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	group_leave(g);
	rm_index_free(&g->attr_index);
	rm_reserve_free(&g->convert_res[0]);
	rm_reserve_free(&g->convert_res[1]);
	gmem_unmap(g);
	pthread_mutex_destroy(&g->guest_lock);
	free(g);
}

static pthread_mutex_t fd_repair_lock = PTHREAD_MUTEX_INITIALIZER;

int gmem_fd(struct gmem *g)
{
	int fd = __atomic_load_n(&g->fd, __ATOMIC_ACQUIRE);

	return fd_check(fd, g->dev, g->ino) ? -EBADF : fd;
}

int gmem_check_fd(struct gmem *g, int user_fd)
{
	int r = 0, nfd;

	if (gmem_fd(g) >= 0)
		return 0;
	/* the program closed our number (close_range, a double close): the
	 * old number may be its own file now, never to be touched again */
	pthread_mutex_lock(&fd_repair_lock);
	if (fd_check(g->fd, g->dev, g->ino)) {
		if (fd_check(user_fd, g->dev, g->ino)) {
			r = -EBADF;
		} else {
			nfd = (int)sys_fcntl(user_fd, F_DUPFD_CLOEXEC, 0);
			nfd = nfd < 0 ? nfd : fd_hide(nfd);
			if (nfd < 0) {
				r = nfd;
			} else {
				fd_hidden_forget(g->fd);
				__atomic_store_n(&g->fd, nfd, __ATOMIC_RELEASE);
				gmem_views_set_memfd(g, nfd);
			}
		}
	}
	pthread_mutex_unlock(&fd_repair_lock);
	return r;
}

void gmem_content_target(struct gmem *g, struct content_target *t)
{
	t->base = g->base;
	t->memfd = g->fd;
	t->key = g->hdr->vm_key;
	t->ctr = &g->hdr->ctr;
}

/* ---- accessors ---- */

uint64_t gmem_size(const struct gmem *g)
{
	return g->size;
}

uint64_t gmem_flags(const struct gmem *g)
{
	return g->hdr->flags;
}

uint64_t gmem_vm_id(const struct gmem *g)
{
	return g->hdr->vm_id;
}

ino_t gmem_ino(const struct gmem *g)
{
	return g->ino;
}

const struct platform_model *gmem_model(const struct gmem *g)
{
	return model_find(g->hdr->vm_type);
}

struct abi gmem_abi(const struct gmem *g)
{
	return (struct abi){ .id = (enum abi_profile_id)g->hdr->abi };
}

uint8_t *gmem_data(struct gmem *g)
{
	return g->base;
}

int gmem_memfd(struct gmem *g)
{
	return g->fd;
}

bool gmem_page_private(struct gmem *g, uint64_t offset)
{
	return rm_get_indexed(&g->space, &g->hdr->attrs, &g->attr_index,
			      offset >> PAGE_SHIFT, NULL) != 0;
}

/* ---- file operations ---- */

int gmem_fstat(struct gmem *g, int fd, struct stat *st)
{
	int r = sys_fstat(fd, st);

	if (r)
		return r;
	st->st_size = (off_t)g->size;
	st->st_blksize = PAGE_SIZE;
	st->st_blocks = MIN(st->st_blocks, (blkcnt_t)(g->size >> 9));
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
	int fd, r = 0;

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
	if (!PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len))
		return -EINVAL;

	first = (uint64_t)offset;
	end = first + (uint64_t)len;
	if (!(mode & FALLOC_FL_PUNCH_HOLE) && end > g->size)
		return -EINVAL;
	/* past the end, a punch is a no-op; the metadata is never touched */
	end = MIN(end, g->size);
	if (first >= end)
		return 0;
	r = gmem_lock(g);
	if (r)
		return r;
	fd = gmem_fd(g);
	if (fd >= 0 && (mode & FALLOC_FL_PUNCH_HOLE)) {
		/* guests (here, and other processes' through their agents)
		 * drop the pages before they are punched, as an MMU notifier
		 * runs before the pages go; they cannot take them again
		 * before we unlock */
		uint64_t slots = gmem_private_view_slots(g);

		gmem_guests_notify(g, first >> PAGE_SHIFT, end >> PAGE_SHIFT);
		if (slots)
			peers_request(g->hdr, &g->space, g->views.slot, PEER_SYNC,
				      first >> PAGE_SHIFT, end >> PAGE_SHIFT,
				      slots, NULL, NULL);
	}
	if (fd < 0)
		r = fd;
	else
		r = sys_fallocate(fd, mode, (off_t)first, (off_t)(end - first));
	gmem_unlock(g);
	return r;
}

/* ---- settings ---- */

int gmem_set_revoke_timeout(struct gmem *g, unsigned int ms)
{
	int r;

	if (ms < 1 || ms > REVOKE_TIMEOUT_MS_MAX)
		return -EINVAL;
	r = gmem_lock(g);
	if (!r) {
		g->hdr->revoke_timeout_ms = ms;
		gmem_unlock(g);
	}
	return r;
}

int gmem_inject_enomem(struct gmem *g, unsigned int n)
{
	int r = gmem_lock(g);

	if (!r) {
		g->hdr->inject_enomem = n;
		gmem_unlock(g);
	}
	return r;
}
