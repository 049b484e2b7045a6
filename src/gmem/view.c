// SPDX-License-Identifier: MIT
/*
 * Host views: the memory mechanism.
 *
 * A view is a range of this process's address space made of MAP_FIXED
 * mappings: shared extents map the gmem's memfd at their own offsets, private
 * extents and anything at or past the end map a zero-length sealed memfd, so
 * the kernel itself raises SIGBUS/BUS_ADRERR at the faulting address and
 * system calls that touch those pages fail EFAULT.  Mappings of one file at
 * consecutive offsets merge, so a view costs one VMA per extent.
 *
 * Every view is also recorded in the gmem's shared metadata under this
 * process's slot, so other processes know who maps what.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "../internal.h"

/* Offset shift that keeps an isolated SIGBUS piece from merging with its
 * neighbours (see views_prepare_grant). */
#define ISOLATE_SHIFT (1ULL << 50)

static int sigbus_memfd = -1;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;

static void sigbus_fd_create(void)
{
	int fd = memfd_create("gmemu-sigbus", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return;
	/* Unsealed, anyone who grows it would make private pages readable. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) {
		close(fd);
		return;
	}
	sigbus_memfd = fd;
}

int sigbus_fd(void)
{
	pthread_once(&sigbus_once, sigbus_fd_create);
	return sigbus_memfd;
}

/* what a piece of a view becomes: the memfd, SIGBUS, or SIGBUS in a VMA of
 * its own (see views_prepare_grant) */
enum piece_kind { PIECE_MEMFD, PIECE_SIGBUS, PIECE_ISOLATED };

/* Map gmem pages [first, end) of view v (already clipped to it) as kind. */
static int map_piece(struct view *v, uint64_t first, uint64_t end,
		     enum piece_kind kind)
{
	uint8_t *addr = v->addr + ((first - v->first_page) << PAGE_SHIFT);
	size_t len = (end - first) << PAGE_SHIFT;
	uint64_t off = first << PAGE_SHIFT;
	int fd = v->g->fd;

	if (kind != PIECE_MEMFD) {
		fd = sigbus_fd();
		if (kind == PIECE_ISOLATED)
			off += ISOLATE_SHIFT;
	}
	if (mmap(addr, len, v->prot, MAP_SHARED | MAP_FIXED | v->map_flags, fd,
		 (off_t)off) != MAP_FAILED)
		return 0;
	/*
	 * At vm.max_map_count the kernel refuses even a replacement that
	 * would not add a VMA.  Unmapping first works when the piece is a
	 * whole VMA (it frees one); when it is not, munmap needs a split and
	 * fails too, leaving everything as it was.
	 */
	if (errno != ENOMEM || munmap(addr, len) != 0)
		return -ENOMEM;
	if (mmap(addr, len, v->prot, MAP_SHARED | MAP_FIXED | v->map_flags, fd,
		 (off_t)off) == MAP_FAILED)
		return -errno;
	return 0;
}

static uint64_t view_end_page(const struct view *v)
{
	return v->first_page + (v->len >> PAGE_SHIFT);
}

/*
 * Call fn on every piece of [first, end) inside a view of this process whose
 * attribute is attr.  Stops at the first failure and returns it;
 * *done counts the pieces that succeeded so a rollback can walk them again.
 */
typedef int (*piece_fn)(struct view *v, uint64_t first, uint64_t end,
			enum piece_kind kind);

/* Host views map shared pages; private views (a real guest's private GPA
 * range) map private ones.  Each walk is over one kind. */
static int for_each_piece_of(struct gmem *g, bool private_views,
			     uint64_t first, uint64_t end, uint64_t attr,
			     enum piece_kind kind, piece_fn fn, size_t limit,
			     size_t *done)
{
	struct view *v;
	size_t n = 0;
	int r = 0;

	end = MIN(end, g->npages);
	for (v = g->views; v; v = v->next) {
		uint64_t lo = MAX(first, v->first_page);
		uint64_t hi = MIN(end, view_end_page(v));
		uint64_t p, next;

		if ((v->maps != 0) != private_views)
			continue;
		for (p = lo; p < hi; p = next) {
			uint64_t a = rm_get(&g->space, &g->hdr->attrs, p, &next);

			next = MIN(next, hi);
			if (a != attr)
				continue;
			if (n == limit)
				goto out;
			r = fn(v, p, next, kind);
			if (r)
				goto out;
			n++;
		}
	}
out:
	if (done)
		*done = n;
	return r;
}

static int for_each_piece(struct gmem *g, uint64_t first, uint64_t end,
			  uint64_t attr, enum piece_kind kind, piece_fn fn,
			  size_t limit, size_t *done)
{
	return for_each_piece_of(g, false, first, end, attr, kind, fn, limit,
				 done);
}

/* To-private: every currently shared page of [first, end) in every view of
 * this process becomes SIGBUS.  All or nothing. */
int views_revoke(struct gmem *g, uint64_t first, uint64_t end)
{
	size_t done;
	int r;

	r = for_each_piece(g, first, end, 0, PIECE_SIGBUS, map_piece, SIZE_MAX,
			   &done);
	if (r)
		for_each_piece(g, first, end, 0, PIECE_MEMFD, map_piece, done,
			       NULL);
	return r;
}

/*
 * To-shared, step one: split the currently private pieces out into VMAs of
 * their own (still SIGBUS, at an offset that cannot merge).  This is where
 * vm.max_map_count can be hit; afterwards mapping the memfd over exactly
 * those VMAs never needs a new one.  All or nothing.
 */
int views_prepare_grant(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t priv = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	size_t done;
	int r;

	r = for_each_piece(g, first, end, priv, PIECE_ISOLATED, map_piece,
			   SIZE_MAX, &done);
	if (r)
		views_cancel_grant(g, first, end, done);
	return r;
}

void views_cancel_grant(struct gmem *g, uint64_t first, uint64_t end,
			size_t pieces)
{
	for_each_piece(g, first, end, KVM_MEMORY_ATTRIBUTE_PRIVATE,
		       PIECE_SIGBUS, map_piece, pieces, NULL);
}

/* To-shared, step two (attributes not yet updated): map the memfd. */
int views_grant(struct gmem *g, uint64_t first, uint64_t end)
{
	return for_each_piece(g, first, end, KVM_MEMORY_ATTRIBUTE_PRIVATE,
			      PIECE_MEMFD, map_piece, SIZE_MAX, NULL);
}

/* Private views: pages leaving the private state stop being reachable
 * there (to-shared, before the bytes change).  All or nothing. */
int views_private_revoke(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t priv = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	size_t done;
	int r;

	r = for_each_piece_of(g, true, first, end, priv, PIECE_SIGBUS,
			      map_piece, SIZE_MAX, &done);
	if (r)
		for_each_piece_of(g, true, first, end, priv, PIECE_MEMFD,
				  map_piece, done, NULL);
	return r;
}

/* Make every view of [first, end) match the attributes: what another
 * process's conversion asks of this one, and what a private view needs
 * after a to-private conversion.  A piece left behind by a failure stays
 * SIGBUS, the safe side. */
int views_sync(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t priv = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	int r = for_each_piece(g, first, end, priv, PIECE_SIGBUS, map_piece,
			       SIZE_MAX, NULL);

	if (!r)
		r = for_each_piece(g, first, end, 0, PIECE_MEMFD, map_piece,
				   SIZE_MAX, NULL);
	if (!r)
		r = views_sync_private(g, first, end);
	return r;
}

/* Private views only: they map the private pages of [first, end). */
int views_sync_private(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t priv = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	int r = for_each_piece_of(g, true, first, end, 0, PIECE_SIGBUS,
				  map_piece, SIZE_MAX, NULL);

	if (!r)
		r = for_each_piece_of(g, true, first, end, priv, PIECE_MEMFD,
				      map_piece, SIZE_MAX, NULL);
	return r;
}

/* ---- the process slot and view records in shared metadata ---- */

/* Detach first, free after: a holder that dies in between leaves only
 * unreachable records, which recovery collects. */
void slot_clear(struct gmem *g, struct gmem_proc *pr)
{
	uint32_t r = pr->views, next;

	pr->views = 0;
	pr->nr_views = 0;
	pr->pid = 0;
	atomic_store(&pr->invite, 0);
	atomic_store(&pr->need_resync, 0);
	atomic_store(&pr->state, PROC_FREE);
	for (; r; r = next) {
		next = g->recs[r].left;
		pool_free(&g->space, r);
	}
}

/* Forget slots of processes that are gone.  Under the gmem lock. */
void procs_reap(struct gmem *g)
{
	int i;

	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &g->hdr->procs[i];

		if (i == g->slot || atomic_load(&pr->state) == PROC_FREE)
			continue;
		if (!proc_alive(pr))
			slot_clear(g, pr);
	}
}

static int slot_alloc(struct gmem *g)
{
	int i;

	procs_reap(g);
	for (i = 0; i < GMEM_MAX_PROCS; i++)
		if (atomic_load(&g->hdr->procs[i].state) == PROC_FREE)
			return i;
	return -EMFILE;
}

/* Our slot, registering this process on its first view.  Gmem lock held. */
int view_proc_slot_get(struct gmem *g)
{
	struct gmem_proc *pr;
	int i;

	if (g->slot >= 0)
		return g->slot;
	i = slot_alloc(g);
	if (i < 0)
		return i;
	pr = &g->hdr->procs[i];
	pr->pid = getpid();
	pr->starttime = proc_starttime(pr->pid);
	pr->views = 0;
	pr->nr_views = 0;
	atomic_store(&pr->state, PROC_LIVE);
	g->slot = i;
	return i;
}

void view_proc_slot_put(struct gmem *g)
{
	if (g->slot >= 0 && g->hdr->procs[g->slot].nr_views == 0) {
		slot_clear(g, &g->hdr->procs[g->slot]);
		g->slot = -1;
	}
}

static uint32_t rec_add(struct gmem *g, uint64_t first_page, uint64_t npages)
{
	struct gmem_proc *pr = &g->hdr->procs[g->slot];
	uint32_t r = pool_alloc(&g->space);

	if (!r)
		return 0;
	g->recs[r].key = first_page;
	g->recs[r].value = npages;
	g->recs[r].left = pr->views;
	pr->views = r;
	pr->nr_views++;
	return r;
}

static void rec_del(struct gmem *g, uint32_t rec)
{
	struct gmem_proc *pr = &g->hdr->procs[g->slot];
	uint32_t *pp;

	for (pp = &pr->views; *pp; pp = &g->recs[*pp].left) {
		if (*pp == rec) {
			*pp = g->recs[rec].left;
			pool_free(&g->space, rec);
			pr->nr_views--;
			return;
		}
	}
}

/* ---- creating and releasing views ---- */

void *view_create(struct gmem *g, void *addr, size_t len, int prot, int flags,
		  off_t offset, int *err)
{
	return view_create_kind(g, addr, len, prot, flags, offset, 0, err);
}

void *view_create_kind(struct gmem *g, void *addr, size_t len, int prot,
		       int flags, off_t offset, uint64_t maps, int *err)
{
	const int keep = MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_POPULATE |
			 MAP_NORESERVE | MAP_LOCKED | MAP_NONBLOCK;
	uint64_t first = (uint64_t)offset >> PAGE_SHIFT, p, next;
	struct view *v;
	uint8_t *base;
	int r;

	if (sigbus_fd() < 0) {
		*err = -ENOMEM;
		return MAP_FAILED;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		*err = -ENOMEM;
		return MAP_FAILED;
	}
	r = gmem_lock(g);
	if (r)
		goto err_free;
	r = view_proc_slot_get(g);
	if (r < 0)
		goto err_unlock;

	/* Reserve the whole range as SIGBUS at the gmem's offsets, then
	 * map the shared extents over it. */
	base = mmap(addr, len, prot, MAP_SHARED | (flags & keep), sigbus_fd(),
		    offset);
	if (base == MAP_FAILED) {
		r = -errno;
		goto err_slot;
	}
	v->g = g;
	v->addr = base;
	v->len = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	v->first_page = first;
	v->prot = prot;
	v->map_flags = flags & keep & ~(MAP_FIXED | MAP_FIXED_NOREPLACE);
	v->maps = maps;
	for (p = first; p < MIN(view_end_page(v), g->npages); p = next) {
		uint64_t a = rm_get(&g->space, &g->hdr->attrs, p, &next);

		next = MIN(next, view_end_page(v));
		if (a != maps)
			continue;
		r = map_piece(v, p, MIN(next, g->npages), PIECE_MEMFD);
		if (r)
			goto err_unmap;
	}
	v->rec = rec_add(g, first, v->len >> PAGE_SHIFT);
	if (!v->rec) {
		r = -ENOMEM;
		goto err_unmap;
	}
	/* other processes' conversions reach this view through our agent */
	r = agent_start(g);
	if (r) {
		rec_del(g, v->rec);
		goto err_unmap;
	}
	if (maps)
		g->hdr->procs[g->slot].nr_private_views++;
	registry_lock();
	v->next = g->views;
	g->views = v;
	g->obj.refs++; /* the view's */
	views_index_add(g);
	registry_unlock();
	gmem_unlock(g);
	return base;

err_unmap:
	munmap(base, v->len);
err_slot:
	view_proc_slot_put(g);
err_unlock:
	gmem_unlock(g);
err_free:
	free(v);
	*err = r;
	return MAP_FAILED;
}

/* Cut [lo, hi) (addresses) out of view v: trim, split or free it.  Both the
 * gmem lock and the registry lock are held.  Returns the views freed. */
static int view_cut(struct gmem *g, struct view **pp, uint8_t *lo, uint8_t *hi)
{
	struct view *v = *pp, *tail;
	uint8_t *vend = v->addr + v->len;
	uint64_t head_pages, tail_pages;

	head_pages = lo > v->addr ? (uint64_t)(lo - v->addr) >> PAGE_SHIFT : 0;
	tail_pages = hi < vend ? (uint64_t)(vend - hi) >> PAGE_SHIFT : 0;

	if (head_pages && tail_pages) {
		tail = calloc(1, sizeof(*tail));
		if (!tail)
			return -ENOMEM;
		*tail = *v;
		tail->addr = hi;
		tail->len = tail_pages << PAGE_SHIFT;
		tail->first_page = view_end_page(v) - tail_pages;
		tail->rec = rec_add(g, tail->first_page, tail_pages);
		if (!tail->rec) {
			free(tail);
			return -ENOMEM;
		}
		tail->next = v->next;
		v->next = tail;
		g->obj.refs++;
	}
	if (head_pages) {
		v->len = head_pages << PAGE_SHIFT;
		g->recs[v->rec].value = head_pages;
		return 0;
	}
	if (tail_pages) {
		v->first_page = view_end_page(v) - tail_pages;
		v->addr = vend - (tail_pages << PAGE_SHIFT);
		v->len = tail_pages << PAGE_SHIFT;
		g->recs[v->rec].key = v->first_page;
		g->recs[v->rec].value = tail_pages;
		return 0;
	}
	rec_del(g, v->rec);
	if (v->maps)
		g->hdr->procs[g->slot].nr_private_views--;
	*pp = v->next;
	free(v);
	return 1;
}

static struct gmem *registry_find_view_gmem(uint8_t *lo, uint8_t *hi,
					    struct gmem **seen, size_t nseen);

/*
 * munmap of a range that may cover views.  Each gmem's views are cut under
 * its lock, so a conversion never remaps a range the caller released.
 */
int view_unmap(void *addr, size_t len)
{
	uint8_t *lo = addr, *hi = lo + len;
	struct gmem *seen[64];
	size_t nseen = 0;
	struct gmem *g;
	int r = 0;

	while (nseen < ARRAY_SIZE(seen) &&
	       (g = registry_find_view_gmem(lo, hi, seen, nseen))) {
		struct view **pp;
		int freed = 0;

		seen[nseen++] = g;
		r = gmem_lock(g);
		if (r) {
			obj_put(&g->obj);
			break;
		}
		registry_lock();
		for (pp = &g->views; *pp;) {
			struct view *v = *pp;
			uint8_t *vlo = MAX(lo, v->addr);
			uint8_t *vhi = MIN(hi, v->addr + v->len);
			int n;

			if (vlo >= vhi) {
				pp = &v->next;
				continue;
			}
			n = view_cut(g, pp, vlo, vhi);
			if (n < 0) {
				r = n;
				break;
			}
			if (munmap(vlo, (size_t)(vhi - vlo)) != 0 && !r)
				r = -errno;
			freed += n;
			if (n == 0)
				pp = &(*pp)->next;
		}
		g->obj.refs -= freed; /* never the last: we hold one */
		if (!g->views)
			views_index_del(g);
		registry_unlock();
		if (!g->views)
			agent_stop(g);
		view_proc_slot_put(g);
		gmem_unlock(g);
		obj_put(&g->obj);
		if (r)
			return r;
	}
	if (munmap(addr, len) != 0)
		return -errno;
	return 0;
}

/* ---- the process-wide index of gmems with views ---- */

static struct gmem **with_views;
static size_t nr_with_views, cap_with_views;

/* Registry lock held. */
void views_index_add(struct gmem *g)
{
	size_t i;

	for (i = 0; i < nr_with_views; i++)
		if (with_views[i] == g)
			return;
	if (nr_with_views == cap_with_views) {
		size_t cap = cap_with_views ? cap_with_views * 2 : 8;
		struct gmem **n = realloc(with_views, cap * sizeof(*n));

		if (!n)
			return;
		with_views = n;
		cap_with_views = cap;
	}
	with_views[nr_with_views++] = g;
}

void views_index_del(struct gmem *g)
{
	size_t i;

	for (i = 0; i < nr_with_views; i++) {
		if (with_views[i] == g) {
			with_views[i] = with_views[--nr_with_views];
			return;
		}
	}
}

static struct gmem *registry_find_view_gmem(uint8_t *lo, uint8_t *hi,
					    struct gmem **seen, size_t nseen)
{
	struct gmem *found = NULL;
	size_t i, j;

	registry_lock();
	for (i = 0; i < nr_with_views && !found; i++) {
		struct gmem *g = with_views[i];
		struct view *v;

		for (j = 0; j < nseen; j++)
			if (seen[j] == g)
				break;
		if (j < nseen)
			continue;
		for (v = g->views; v; v = v->next) {
			if (v->addr < hi && lo < v->addr + v->len) {
				found = g;
				g->obj.refs++;
				break;
			}
		}
	}
	registry_unlock();
	return found;
}

/* At exit, agents stop before the process's own exit work (a leak checker
 * walking threads, say) begins.  Our slots stay until the process is gone;
 * converters drop them then. */
void agents_stop_all(void)
{
	struct gmem *gs[64];
	size_t i, n = 0;

	registry_lock();
	for (i = 0; i < nr_with_views && n < ARRAY_SIZE(gs); i++)
		if (with_views[i]->agent_running)
			gs[n++] = with_views[i];
	registry_unlock();
	for (i = 0; i < n; i++)
		agent_stop(gs[i]);
}

/* ---- fork: the child inherits views, so it inherits their records ---- */

struct fork_pending {
	struct gmem *g;
	int slot;
};

static struct fork_pending *pending;
static size_t nr_pending;

/* Clone this process's view records into a new slot for the child. */
static void fork_prepare_gmem(struct gmem *g)
{
	struct gmem_proc *pr;
	struct view *v;
	int slot;

	if (!g->views || g->slot < 0)
		return;
	slot = slot_alloc(g);
	if (slot >= 0 &&
	    pool_available(&g->space) < g->hdr->procs[g->slot].nr_views)
		slot = -ENOMEM;
	pending[nr_pending].g = g;
	pending[nr_pending].slot = slot;
	nr_pending++;
	if (slot < 0)
		return;
	pr = &g->hdr->procs[slot];
	pr->pid = getpid(); /* the parent until the child claims it */
	pr->starttime = 0;
	pr->views = 0;
	pr->nr_views = 0;
	pr->pending_since_ns = now_ns();
	atomic_store(&pr->state, PROC_PENDING_FORK);
	for (v = g->views; v; v = v->next) {
		uint32_t r = pool_alloc(&g->space);

		g->recs[r].key = v->first_page;
		g->recs[r].value = v->len >> PAGE_SHIFT;
		g->recs[r].left = pr->views;
		pr->views = r;
		pr->nr_views++;
		v->fork_rec = r;
	}
}

/*
 * Locks are taken gmem first, registry second, and held across fork() so no
 * view appears or changes between the clone and the child's claim.
 */
void views_atfork_prepare(void)
{
	size_t i, n;

	registry_lock();
	n = nr_with_views;
	pending = n ? calloc(n, sizeof(*pending)) : NULL;
	if (n && !pending)
		n = 0;
	for (i = 0; i < n; i++)
		with_views[i]->obj.refs++;
	registry_unlock();

	nr_pending = 0;
	for (i = 0; i < n; i++) {
		struct gmem *g = with_views[i];

		if (gmem_lock(g)) {
			pending[nr_pending].g = g;
			pending[nr_pending].slot = -EDEADLK;
			nr_pending++;
			continue;
		}
		fork_prepare_gmem(g);
	}
	registry_lock();
	errno = 0; /* tells the parent handler whether fork() failed */
}

void views_atfork_parent(void)
{
	int fork_errno = errno;
	size_t i;

	for (i = 0; i < nr_pending; i++) {
		struct fork_pending *fp = &pending[i];

		if (fp->slot == -EDEADLK)
			continue;
		if (fork_errno && fp->slot >= 0)
			slot_clear(fp->g, &fp->g->hdr->procs[fp->slot]);
	}
	registry_unlock();
	for (i = 0; i < nr_pending; i++) {
		if (pending[i].slot != -EDEADLK)
			gmem_unlock(pending[i].g);
		obj_put(&pending[i].g->obj);
	}
	free(pending);
	pending = NULL;
	nr_pending = 0;
	errno = fork_errno;
}

void views_atfork_child(void)
{
	pid_t self = getpid();
	size_t i;

	for (i = 0; i < nr_pending; i++) {
		struct fork_pending *fp = &pending[i];
		struct gmem *g = fp->g;
		struct view *v;

		if (fp->slot < 0) {
			/* Could not register: the child must not keep access
			 * it cannot be made to give up. */
			while ((v = g->views)) {
				mmap(v->addr, v->len, PROT_NONE,
				     MAP_SHARED | MAP_FIXED, sigbus_fd(),
				     (off_t)(v->first_page << PAGE_SHIFT));
				g->views = v->next;
				g->obj.refs--;
				free(v);
			}
			views_index_del(g);
			g->slot = -1;
			continue;
		}
		for (v = g->views; v; v = v->next)
			v->rec = v->fork_rec;
		g->hdr->procs[fp->slot].pid = self;
		g->hdr->procs[fp->slot].starttime = proc_starttime(self);
		atomic_store(&g->hdr->procs[fp->slot].state, PROC_LIVE);
		g->slot = fp->slot;
		/* threads do not survive fork(): our agent starts anew */
		g->agent_running = false;
		if (agent_start(g))
			atomic_store(&g->hdr->procs[fp->slot].need_resync, 1);
	}
	/* The parent's thread owns the gmem locks and releases them; the
	 * registry lock is process-local and ours to release. */
	for (i = 0; i < nr_pending; i++)
		pending[i].g->obj.refs--;
	registry_unlock();
	free(pending);
	pending = NULL;
	nr_pending = 0;
}
