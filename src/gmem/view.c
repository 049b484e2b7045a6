// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../base/fd.h"
#include "../base/sys.h"
#include "view.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

/* Offset shift that keeps an isolated SIGBUS piece from merging with its
 * neighbours (see views_prepare_grant). */
#define ISOLATE_SHIFT (1ULL << 50)
/* Pages of a shared run the handler maps after the one that faulted: a
 * program that zapped one page usually zapped its neighbours. */
#define FAULT_AROUND 16

#define PRIVATE KVM_MEMORY_ATTRIBUTE_PRIVATE

/* The process's view lock, and every uffd view of the process (the
 * handler finds a faulting address there). */
static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct view *uffd_views;
/* Plain runs in all uffd views (each costs up to two VMAs), and how many
 * the process allows itself: vm.max_map_count / 64, at most 1024. */
static uint32_t nr_plain, plain_budget;
/* The userfaultfd was lost: views made from now on use MAP_FIXED. */
static bool uffd_lost;
/* An ioctl failed the way one on a descriptor that is not ours does. */
static bool fd_suspect;

/* The result of an ioctl on the process's userfaultfd, noting the errors
 * that mean the number may not be ours any more. */
static int uffd_result(int r)
{
	if (r == -EBADF || r == -ENOTTY || r == -EINVAL || r == -ENOENT)
		fd_suspect = true;
	return r;
}

void view_proc_lock(void)
{
	pthread_mutex_lock(&proc_lock);
}

void view_proc_unlock(void)
{
	pthread_mutex_unlock(&proc_lock);
}

/* ---- the sealed memfd ---- */

static pthread_mutex_t sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static int sigbus_memfd = -1;
static dev_t sigbus_dev;
static ino_t sigbus_ino;

static int sigbus_create(void)
{
	struct stat st;
	int fd = sys_memfd_create("gmemu-sigbus", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return fd;
	/* Unsealed, anyone who grows it would make private pages readable. */
	if (sys_fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) {
		sys_close(fd);
		return -EIO;
	}
	fd = fd_hide(fd);
	if (fd < 0)
		return fd;
	if (sys_fstat(fd, &st)) {
		sys_close(fd);
		return -EIO;
	}
	sigbus_dev = st.st_dev;
	sigbus_ino = st.st_ino;
	return fd;
}

int view_sigbus_fd(void)
{
	int fd;

	pthread_mutex_lock(&sigbus_lock);
	if (sigbus_memfd < 0 ||
	    fd_check(sigbus_memfd, sigbus_dev, sigbus_ino) != 0) {
		/* lost (the program closed the number): a new one; the old
		 * number may be the program's own file now, never closed */
		if (sigbus_memfd >= 0)
			fd_hidden_forget(sigbus_memfd);
		sigbus_memfd = sigbus_create();
	}
	fd = sigbus_memfd;
	pthread_mutex_unlock(&sigbus_lock);
	return fd;
}

/* ---- page range sets ---- */

/* Room for more ranges, taken before the change they record. */
static int pset_reserve(struct pset *ps, uint32_t more)
{
	struct prange *v;
	uint32_t cap;

	if (ps->n + more <= ps->cap)
		return 0;
	cap = MAX(MAX(ps->cap * 2, ps->n + more), 4u);
	v = realloc(ps->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ps->v = v;
	ps->cap = cap;
	return 0;
}

/* Index of the first range meeting [s, e), or -1. */
static int pset_meet(const struct pset *ps, uint64_t s, uint64_t e)
{
	uint32_t i;

	for (i = 0; i < ps->n && ps->v[i].s < e; i++)
		if (ps->v[i].e > s)
			return (int)i;
	return -1;
}

/* Remove [s, e): a range it splits needs one reserved slot. */
static void pset_del(struct pset *ps, uint64_t s, uint64_t e)
{
	uint32_t i = 0;

	while (i < ps->n) {
		struct prange x = ps->v[i];

		if (x.e <= s || e <= x.s) {
			i++;
			continue;
		}
		if (x.s < s && e < x.e) {
			memmove(&ps->v[i + 2], &ps->v[i + 1],
				(ps->n - i - 1) * sizeof(*ps->v));
			ps->v[i].e = s;
			ps->v[i + 1] = (struct prange){ e, x.e };
			ps->n++;
			return;
		}
		if (x.s < s) {
			ps->v[i++].e = s;
		} else if (e < x.e) {
			ps->v[i++].s = e;
		} else {
			memmove(&ps->v[i], &ps->v[i + 1],
				(ps->n - i - 1) * sizeof(*ps->v));
			ps->n--;
		}
	}
}

/* Add [s, e), merging with what it meets or touches: one reserved slot. */
static void pset_add(struct pset *ps, uint64_t s, uint64_t e)
{
	uint32_t i, j;

	for (i = 0; i < ps->n && ps->v[i].e < s; i++)
		;
	for (j = i; j < ps->n && ps->v[j].s <= e; j++) {
		s = MIN(s, ps->v[j].s);
		e = MAX(e, ps->v[j].e);
	}
	if (j == i) {
		memmove(&ps->v[i + 1], &ps->v[i], (ps->n - i) * sizeof(*ps->v));
		ps->n++;
	} else if (j > i + 1) {
		memmove(&ps->v[i + 1], &ps->v[j], (ps->n - j) * sizeof(*ps->v));
		ps->n -= j - i - 1;
	}
	ps->v[i] = (struct prange){ s, e };
}

static void pset_free(struct pset *ps)
{
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

/* ---- shared by both mechanisms ---- */

static uint64_t view_end_page(const struct view *v)
{
	return v->first_page + (v->len >> PAGE_SHIFT);
}

static uint8_t *page_addr(const struct view *v, uint64_t page)
{
	return v->addr + ((page - v->first_page) << PAGE_SHIFT);
}

static size_t pages_len(uint64_t s, uint64_t e)
{
	return (size_t)(e - s) << PAGE_SHIFT;
}

static int map_at(void *addr, size_t len, int prot, int flags, int fd,
		  uint64_t off)
{
	long r = sys_mmap(addr, len, prot, MAP_SHARED | MAP_FIXED | flags, fd,
			  (off_t)off);

	if (r < 0 && r > -4096)
		return (int)r;
	/* a child must not inherit what no converter could revoke */
	return sys_madvise(addr, len, MADV_DONTFORK);
}

/*
 * map_at, also at vm.max_map_count, where the kernel refuses even a
 * replacement that would not add a VMA: unmapping first works when the
 * range is whole VMAs (it frees them); when it is not, munmap needs a split
 * and fails too, leaving everything as it was.
 */
static int map_over(void *addr, size_t len, int prot, int flags, int fd,
		    uint64_t off)
{
	int r = map_at(addr, len, prot, flags, fd, off);

	if (r != -ENOMEM)
		return r;
	if (sys_munmap(addr, len) != 0)
		return -ENOMEM;
	return map_at(addr, len, prot, flags, fd, off);
}

/* The gmem's memfd, if the number is still it (the program may have
 * closed it; the owner repairs it from the caller's descriptor). */
static int vs_memfd(struct view_set *vs)
{
	if (!fd_check(vs->memfd, vs->memfd_dev, vs->memfd_ino))
		return vs->memfd;
	return vs->memfd_repair ? vs->memfd_repair(vs) : -EBADF;
}

/* ---- mapfixed: one mapping per extent ---- */

/* what a piece of a view becomes: the memfd, SIGBUS, or SIGBUS in a VMA of
 * its own (see views_prepare_grant) */
enum piece_kind { PIECE_MEMFD, PIECE_SIGBUS, PIECE_ISOLATED };

/* Map gmem pages [first, end) of view v (already clipped to it) as kind. */
static int map_piece(struct view_set *vs, struct view *v, uint64_t first,
		     uint64_t end, enum piece_kind kind)
{
	uint64_t off = first << PAGE_SHIFT;
	int fd = kind == PIECE_MEMFD ? vs_memfd(vs) : 0;

	if (fd < 0)
		return fd;
	if (kind != PIECE_MEMFD) {
		fd = view_sigbus_fd();
		if (fd < 0)
			return fd;
		if (kind == PIECE_ISOLATED)
			off += ISOLATE_SHIFT;
	}
	return map_over(page_addr(v, first), pages_len(first, end), v->prot,
			v->map_flags, fd, off);
}

typedef int (*piece_fn)(struct view_set *vs, struct view *v, uint64_t first,
			uint64_t end, enum piece_kind kind);

/*
 * Call fn on every piece of [first, end) inside a mapfixed view of this set
 * whose attribute is attr; host views (maps == 0) or private views only.
 * Stops at the first failure and returns it; *done counts the pieces that
 * succeeded so a rollback can walk them again.
 */
static int for_each_piece(struct view_set *vs, bool private_views,
			  uint64_t first, uint64_t end, uint64_t attr,
			  enum piece_kind kind, piece_fn fn, size_t limit,
			  size_t *done)
{
	struct view *v;
	size_t n = 0;
	int r = 0;

	end = MIN(end, vs->npages);
	for (v = vs->head; v; v = v->next) {
		uint64_t lo = MAX(first, v->first_page);
		uint64_t hi = MIN(end, view_end_page(v));
		uint64_t p, next;

		if ((v->maps != 0) != private_views || v->mech != MECH_MAPFIXED)
			continue;
		for (p = lo; p < hi; p = next) {
			uint64_t a = rm_get(vs->space, vs->attrs, p, &next);

			next = MIN(next, hi);
			if (a != attr)
				continue;
			if (n == limit)
				goto out;
			r = fn(vs, v, p, next, kind);
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

/* Map v's pages of attribute v->maps over its SIGBUS reservation. */
static int mf_fill(struct view_set *vs, struct view *v)
{
	uint64_t p, next, end = MIN(view_end_page(v), vs->npages);
	int r;

	for (p = v->first_page; p < end; p = next) {
		uint64_t a = rm_get(vs->space, vs->attrs, p, &next);

		next = MIN(next, end);
		if (a != v->maps)
			continue;
		r = map_piece(vs, v, p, next, PIECE_MEMFD);
		if (r)
			return r;
	}
	return 0;
}

/* ---- uffd: one registered mapping per view ---- */

static uint64_t data_end(const struct view *v)
{
	return v->first_page + v->ndata;
}

/*
 * Attribute of page p and the bounds of its run, looked at within [lo, hi)
 * (lo <= p < hi).  racy: without the gmem lock (the handler), -EAGAIN when
 * a commit moved the map meanwhile.
 */
static int run_at(struct view_set *vs, uint64_t p, uint64_t lo, uint64_t hi,
		  bool racy, uint64_t *attr, uint64_t *rs, uint64_t *re)
{
	uint64_t a, s, e, a2, s2, e2;

	if (!racy)
		a = rm_extent(vs->space, vs->attrs, p, &s, &e);
	else if (rm_extent_racy(vs->space, vs->attrs, p, &a, &s, &e))
		return -EAGAIN;
	/* extents of one value are merged; a neighbour is the other value,
	 * but a map met half-way through a commit may say otherwise */
	while (e < hi) {
		if (!racy)
			a2 = rm_extent(vs->space, vs->attrs, e, &s2, &e2);
		else if (rm_extent_racy(vs->space, vs->attrs, e, &a2, &s2, &e2))
			return -EAGAIN;
		if (a2 != a || e2 <= e)
			break;
		e = e2;
	}
	while (s > lo) {
		if (!racy)
			a2 = rm_extent(vs->space, vs->attrs, s - 1, &s2, &e2);
		else if (rm_extent_racy(vs->space, vs->attrs, s - 1, &a2, &s2, &e2))
			return -EAGAIN;
		if (a2 != a || s2 >= s)
			break;
		s = s2;
	}
	*attr = a;
	*rs = MAX(s, lo);
	*re = MIN(e, hi);
	return 0;
}

/* The plain-run count follows every change of a view's plain set. */
static void plain_del(struct view *v, uint64_t s, uint64_t e)
{
	uint32_t n = v->plain.n;

	pset_del(&v->plain, s, e);
	nr_plain = nr_plain + v->plain.n - n;
}

static void plain_add(struct view *v, uint64_t s, uint64_t e)
{
	uint32_t n = v->plain.n;

	pset_add(&v->plain, s, e);
	nr_plain = nr_plain + v->plain.n - n;
}

static void plain_budget_init(void)
{
	char buf[32] = { 0 };
	unsigned long max = 65530;
	int fd;

	if (plain_budget)
		return;
	fd = sys_openat(AT_FDCWD, "/proc/sys/vm/max_map_count",
			O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		if (sys_read(fd, buf, sizeof(buf) - 1) > 0 && strtoul(buf, NULL, 10))
			max = strtoul(buf, NULL, 10);
		sys_close(fd);
	}
	plain_budget = (uint32_t)MAX(MIN(max / 64, 1024UL), 4UL);
}

/* The first hole at or after page p, before e, ends where: SEEK_DATA (a
 * descriptor the program took over gives a wrong answer, never harm). */
static uint64_t hole_end(struct view_set *vs, uint64_t p, uint64_t e)
{
	off_t d;

	if (e - p == 1)
		return e;
	d = sys_lseek(vs->memfd, (off_t)(p << PAGE_SHIFT), SEEK_DATA);
	if (d < 0 || (uint64_t)d >= e << PAGE_SHIFT)
		return e;
	return MAX((uint64_t)d >> PAGE_SHIFT, p + 1);
}

/* Allocate gmem pages [s, e) through the trusted view, which thereby
 * keeps them mapped (ZERO clears them there at memset speed).  (Every
 * kernel with userfaultfd minor faults on shmem has MADV_POPULATE_WRITE.) */
static void alloc_pages(struct view_set *vs, uint64_t s, uint64_t e)
{
	sys_madvise(vs->trusted + (s << PAGE_SHIFT), pages_len(s, e),
		    MADV_POPULATE_WRITE);
}

/*
 * Map the shared pages of [s, e) of v, which is registered.  Holes are
 * allocated first when alloc (system calls then find every page mapped);
 * otherwise they are left to the handler.  Mapped pages are skipped.
 */
static void map_shared(struct view_set *vs, struct view *v, uint64_t s,
		       uint64_t e, bool alloc)
{
	uint64_t p = s, allocated = UINT64_MAX;
	int retries = 0;

	while (p < e) {
		size_t done;
		int r = uffd_continue(page_addr(v, p), pages_len(p, e), &done);

		p += done >> PAGE_SHIFT;
		if (!r)
			return;
		if (uffd_result(r) != r || fd_suspect)
			return;
		if ((r == -EAGAIN || r == -EINTR) && ++retries < 64)
			continue;
		if (r == -EFAULT && alloc && allocated != p) {
			/* a hole: allocate the run of holes, map again */
			allocated = p;
			alloc_pages(vs, p, hole_end(vs, p, e));
			continue;
		}
		p++; /* mapped already (EEXIST), or a hole left as it is */
	}
}

/* Register [s, e) of v (ranges of it that are plain); -errno with that
 * range unchanged. */
static int uf_register(struct view *v, uint64_t s, uint64_t e)
{
	int i, r;

	while ((i = pset_meet(&v->plain, s, e)) >= 0) {
		uint64_t x = MAX(s, v->plain.v[i].s), y = MIN(e, v->plain.v[i].e);

		r = pset_reserve(&v->plain, 1);
		if (!r)
			r = uffd_result(uffd_register(page_addr(v, x), pages_len(x, y)));
		if (r)
			return r;
		plain_del(v, x, y);
	}
	return 0;
}

/*
 * Pages under the sealed memfd in [lo, hi) that are shared now, or about
 * to be (their content effects done), become registered memfd pages again.
 * Mapped with their protection at once: another thread may be touching
 * them, and a PROT_NONE step before the registration would give it
 * SIGSEGV; until the registration a touch faults the shared bytes in, as
 * in a plain run.
 */
static int uf_restore(struct view_set *vs, struct view *v, uint64_t lo,
		      uint64_t hi)
{
	int i, r;

	while ((i = pset_meet(&v->iso, lo, hi)) >= 0) {
		uint64_t x = MAX(lo, v->iso.v[i].s), y = MIN(hi, v->iso.v[i].e);
		uint8_t *a = page_addr(v, x);

		r = pset_reserve(&v->iso, 1);
		if (!r)
			r = vs_memfd(vs);
		if (r < 0)
			return r;
		r = map_over(a, pages_len(x, y), v->prot, v->map_flags,
			     vs->memfd, x << PAGE_SHIFT);
		if (r)
			return r;
		r = uffd_result(uffd_register(a, pages_len(x, y)));
		if (r) {
			/* back under the sealed memfd (it was a moment ago);
			 * the caller resyncs the range on failure */
			map_at(a, pages_len(x, y), v->prot, v->map_flags,
			       view_sigbus_fd(), x << PAGE_SHIFT);
			return r;
		}
		pset_del(&v->iso, x, y);
	}
	return 0;
}

/* POISON markers in [lo, hi) go (UNREGISTER keeps them, and CONTINUE
 * cannot replace one over a hole). */
static void drop_markers(struct view *v, uint64_t lo, uint64_t hi)
{
	int i;

	if (v->marks_lost) {
		sys_madvise(page_addr(v, lo), pages_len(lo, hi), MADV_DONTNEED);
		return;
	}
	while ((i = pset_meet(&v->marks, lo, hi)) >= 0) {
		uint64_t x = MAX(lo, v->marks.v[i].s), y = MIN(hi, v->marks.v[i].e);

		sys_madvise(page_addr(v, x), pages_len(x, y), MADV_DONTNEED);
		if (pset_reserve(&v->marks, 1)) {
			v->marks_lost = true; /* cannot split the record */
			return;
		}
		pset_del(&v->marks, x, y);
	}
}

/*
 * Shared pages [lo, hi) of v (after the content effect of a to-shared, or a
 * resynchronisation) become reachable; the run they belong to decides how:
 * a long one is unregistered (a plain mapping: lazy, the kernel's own
 * faults), a short one registered and mapped.  Never fails: a run that
 * cannot be made plain stays registered and mapped.
 */
static void uf_share(struct view_set *vs, struct view *v, uint64_t lo,
		     uint64_t hi)
{
	uint64_t ds = v->first_page, de = data_end(v), rs = lo, re = hi;
	uint64_t a, s, e;
	bool big;

	if (lo > ds && !run_at(vs, lo - 1, lo - MIN(lo - ds, VIEW_BIG), lo,
			       false, &a, &s, &e) && !a)
		rs = s;
	if (hi < de && !run_at(vs, hi, hi, MIN(de, hi + VIEW_BIG), false, &a,
			       &s, &e) && !a)
		re = e;
	big = re - rs >= VIEW_BIG;
	/* a short range in a long run stays registered, as it was: its next
	 * round trip costs no VMA split and merge */
	if (big && hi - lo < VIEW_BIG && pset_meet(&v->plain, lo, hi) < 0) {
		map_shared(vs, v, lo, hi, true);
		return;
	}
	if (big && (pset_meet(&v->plain, rs, re) >= 0 || nr_plain < plain_budget) &&
	    !pset_reserve(&v->plain, 1) &&
	    !uffd_result(uffd_unregister(page_addr(v, rs), pages_len(rs, re)))) {
		plain_add(v, rs, re);
		return;
	}
	/* a short run has no plain piece (plain runs are long); one that is
	 * left (a failure) stays plain, which is right too */
	map_shared(vs, v, lo, hi, !big);
}

/*
 * To-private (the attributes still say shared): the pages lose their PTEs.
 * The part of a plain run the range meets is registered first; what is left
 * of the run stays plain while the process's budget of plain runs lasts,
 * else a short leftover is registered too (and mapped, holes allocated).
 * -errno when a registration needs a VMA the kernel refuses; the pages are
 * then still reachable.
 */
static int uf_revoke(struct view_set *vs, struct view *v, uint64_t a,
		     uint64_t b)
{
	uint64_t lo = MAX(a, v->first_page), hi = MIN(b, data_end(v));
	int i, r;

	if (lo >= hi)
		return 0;
	while ((i = pset_meet(&v->plain, lo, hi)) >= 0) {
		struct prange p = v->plain.v[i];
		uint64_t rs = MAX(p.s, lo), re = MIN(p.e, hi), ls = rs, le = re;

		/* a cut in the middle leaves one more plain run */
		if (p.s < rs && re < p.e && nr_plain >= plain_budget) {
			ls = rs - p.s < VIEW_BIG ? p.s : rs;
			le = p.e - re < VIEW_BIG ? p.e : re;
		}
		r = uf_register(v, ls, le);
		if (r)
			return r;
		if (ls < rs)
			map_shared(vs, v, ls, rs, true);
		if (re < le)
			map_shared(vs, v, re, le, true);
	}
	return sys_madvise(page_addr(v, lo), pages_len(lo, hi), MADV_DONTNEED);
}

/* Make [a, b) of v match the attributes. */
static int uf_sync(struct view_set *vs, struct view *v, uint64_t a, uint64_t b)
{
	uint64_t lo = MAX(a, v->first_page), hi = MIN(b, data_end(v));
	uint64_t p, s, e, attr;
	int r = 0, r2;

	for (p = lo; p < hi; p = e) {
		attr = rm_extent(vs->space, vs->attrs, p, &s, &e);
		e = MIN(e, hi);
		if (attr) {
			r2 = uf_revoke(vs, v, p, e);
		} else {
			r2 = uf_restore(vs, v, p, e);
			drop_markers(v, p, e);
			uf_share(vs, v, p, e);
		}
		r = r ? r : r2;
	}
	return r;
}

/* Build a uffd view over its reservation (the sealed memfd): the memfd
 * mapping, registered, then its shared runs. */
static int uf_build(struct view_set *vs, struct view *v)
{
	uint64_t p, s, e, attr, de;
	size_t len;
	int r;

	v->ndata = v->first_page >= vs->npages
			   ? 0
			   : MIN(v->len >> PAGE_SHIFT, vs->npages - v->first_page);
	if (!v->ndata)
		return 0;
	len = pages_len(0, v->ndata);
	r = vs_memfd(vs);
	if (r < 0)
		return r;
	/* no access until registered: private pages must never be mapped */
	r = map_at(v->addr, len, PROT_NONE, v->map_flags, vs->memfd,
		   v->first_page << PAGE_SHIFT);
	if (!r)
		r = uffd_result(uffd_register(v->addr, len));
	if (!r)
		r = sys_mprotect(v->addr, len, v->prot);
	if (r)
		return r;
	de = data_end(v);
	for (p = v->first_page; p < de; p = e) {
		run_at(vs, p, p, de, false, &attr, &s, &e);
		if (attr)
			continue;
		/* while the budget lasts, a new view's shared runs are plain
		 * whatever their length: nothing allocated, the kernel's own
		 * faults; a conversion that cuts a short one registers it */
		if (nr_plain < plain_budget && !pset_reserve(&v->plain, 1) &&
		    !uffd_result(uffd_unregister(page_addr(v, p), pages_len(p, e))))
			plain_add(v, p, e);
		else
			uf_share(vs, v, p, e);
	}
	return 0;
}

/* ---- the handler's side ---- */

static void view_link_uffd(struct view *v)
{
	v->next_uffd = uffd_views;
	uffd_views = v;
}

static void view_unlink_uffd(struct view *v)
{
	struct view **pp;

	for (pp = &uffd_views; *pp; pp = &(*pp)->next_uffd) {
		if (*pp == v) {
			*pp = v->next_uffd;
			break;
		}
	}
	nr_plain -= v->plain.n;
	pset_free(&v->plain);
	pset_free(&v->iso);
	pset_free(&v->marks);
}

/* Free a view's own memory (not its mappings or record). */
static void view_free(struct view *v)
{
	if (v->mech == MECH_UFFD)
		view_unlink_uffd(v);
	free(v);
}

/* A private page faulted: make the access SIGBUS (the kernel raises it
 * when the thread retries). */
static int fault_private(struct view_set *vs, struct view *v, uint64_t p,
			 uint8_t *pg)
{
	const struct uffd_caps *c = uffd_caps();
	uint64_t a, s, e;
	int r;

	if (!c->poison && !run_at(vs, p, v->first_page, data_end(v), true, &a,
				  &s, &e) && a &&
	    !pset_reserve(&v->iso, 1) &&
	    map_at(page_addr(v, s), pages_len(s, e), v->prot, v->map_flags,
		   view_sigbus_fd(), s << PAGE_SHIFT) == 0) {
		/* the extent under the sealed memfd, as a mapfixed view has
		 * it: the kernel's SIGBUS from now on, for GUP too */
		pset_add(&v->iso, s, e);
		uffd_wake(pg, PAGE_SIZE);
		return 0;
	}
	r = c->poison_avail ? uffd_poison(pg, PAGE_SIZE) : -EOPNOTSUPP;
	if (r && r != -EEXIST)
		return -EAGAIN; /* no way to answer now: the thread waits */
	if (r == -EEXIST)
		uffd_wake(pg, PAGE_SIZE);
	if (pset_reserve(&v->marks, 1))
		v->marks_lost = true;
	else
		pset_add(&v->marks, p, p + 1);
	return 0;
}

/* A shared page with no PTE (zapped by the program, or a hole): map it,
 * and its zapped neighbours. */
static int fault_shared(struct view_set *vs, struct view *v, uint64_t p,
			uint8_t *pg, uint64_t run_end)
{
	int r = uffd_continue(pg, PAGE_SIZE, NULL);

	if (r == -EFAULT) {
		alloc_pages(vs, p, p + 1);
		r = uffd_continue(pg, PAGE_SIZE, NULL);
	}
	if (r)
		uffd_wake(pg, PAGE_SIZE); /* mapped meanwhile, or not ours */
	run_end = MIN(run_end, p + FAULT_AROUND);
	/* never a page a conversion under way took away */
	if (vs->pend && vs->pend_first > p)
		run_end = MIN(run_end, vs->pend_first);
	else if (vs->pend && vs->pend_end > p)
		run_end = p + 1;
	if (run_end > p + 1)
		map_shared(vs, v, p + 1, run_end, false);
	return 0;
}

static struct view *uffd_view_at(uintptr_t addr)
{
	struct view *v;

	for (v = uffd_views; v; v = v->next_uffd)
		if (addr >= (uintptr_t)v->addr &&
		    addr < (uintptr_t)v->addr + (v->ndata << PAGE_SHIFT))
			return v;
	return NULL;
}

/* Does a revocation for a conversion still under way cover page p? */
static bool pending(struct view_set *vs, uint64_t p)
{
	if (!vs->pend)
		return false;
	if (atomic_load(vs->seq) != vs->pend_seq) {
		vs->pend = false; /* that conversion has ended */
		return false;
	}
	return p >= vs->pend_first && p < vs->pend_end;
}

static int view_fault(uintptr_t addr, bool write)
{
	uint8_t *pg = (uint8_t *)PAGE_DOWN(addr);
	uint64_t p, a, s, e;
	struct view_set *vs;
	struct view *v;
	int r;

	(void)write;
	pthread_mutex_lock(&proc_lock);
	v = uffd_view_at(addr);
	if (!v) {
		/* not a view (any more): the retry meets whatever is there */
		pthread_mutex_unlock(&proc_lock);
		uffd_wake(pg, PAGE_SIZE);
		return 0;
	}
	vs = v->vs;
	p = v->first_page + ((uintptr_t)(pg - v->addr) >> PAGE_SHIFT);
	r = -EAGAIN;
	if (!pending(vs, p) &&
	    !run_at(vs, p, v->first_page, data_end(v), true, &a, &s, &e))
		r = a ? fault_private(vs, v, p, pg) : fault_shared(vs, v, p, pg, e);
	pthread_mutex_unlock(&proc_lock);
	return r;
}

/*
 * A while after the last fault: POISON markers on pages that are still
 * private go.  The next access meets the handler again; meanwhile the
 * kernel's own accesses (KVM's GUP) see no marker, which they would report
 * as a hardware memory error.
 */
static void view_idle(void)
{
	struct view *v;
	uint64_t p, a, s, e;
	uint32_t i;

	pthread_mutex_lock(&proc_lock);
	for (v = uffd_views; v; v = v->next_uffd) {
		/* (a marker on a page that turned shared goes with the
		 * resynchronisation that maps it) */
		for (i = 0; i < v->marks.n; i++) {
			for (p = v->marks.v[i].s; p < v->marks.v[i].e; p = e) {
				if (pending(v->vs, p) ||
				    run_at(v->vs, p, p, v->marks.v[i].e, true,
					   &a, &s, &e))
					goto next;
				if (!a)
					continue;
				sys_madvise(page_addr(v, p), pages_len(p, e),
					    MADV_DONTNEED);
				if (pset_reserve(&v->marks, 1))
					goto next;
				pset_del(&v->marks, p, e);
				i = (uint32_t)-1; /* the set moved: again */
				break;
			}
		}
next:;
	}
	pthread_mutex_unlock(&proc_lock);
}

/*
 * A uffd view becomes a mapfixed one in place: its registered memfd mapping
 * is what a mapfixed view maps over shared extents, so only the private
 * extents (and pages a conversion under way took away) need the sealed
 * memfd over them.  The registrations go when the handler ends; until then
 * it answers.  mine: the attributes are stable (we hold the gmem lock).
 * False when a piece could not be mapped: then the whole view is SIGBUS
 * until its owner resynchronises it.
 */
static bool uf_to_mapfixed(struct view *v, int sigbus, bool mine)
{
	struct view_set *vs = v->vs;
	uint64_t p, a, s, e, de = data_end(v);

	for (p = v->first_page; p < de; p = e) {
		if (run_at(vs, p, p, de, !mine, &a, &s, &e))
			return false;
		if (!a && vs->pend && atomic_load(vs->seq) == vs->pend_seq &&
		    vs->pend_first < e && p < vs->pend_end) {
			/* shared, but a conversion under way took pages away */
			a = PRIVATE;
			if (p < vs->pend_first)
				e = vs->pend_first;
			else
				e = MIN(e, vs->pend_end);
		}
		if (a && map_over(page_addr(v, p), pages_len(p, e), v->prot,
				  v->map_flags, sigbus, p << PAGE_SHIFT))
			return false;
	}
	return true;
}

/*
 * The program took our userfaultfd's number (closed or replaced it): the
 * views stop using it and become mapfixed views; then the handler ends,
 * and the registrations go with its table.  mine: the view set whose gmem
 * lock the caller holds (or NULL).  View lock held.
 */
static void views_lost_locked(struct view_set *mine)
{
	struct view *v;
	int fd = view_sigbus_fd();

	uffd_lost = true;
	while ((v = uffd_views)) {
		if (v->ndata && (fd < 0 || !uf_to_mapfixed(v, fd, v->vs == mine))) {
			if (fd >= 0)
				map_over(v->addr, pages_len(0, v->ndata), v->prot,
					 v->map_flags, fd,
					 v->first_page << PAGE_SHIFT);
			if (v->vs->resync_soon)
				v->vs->resync_soon(v->vs);
		}
		if (v->vs->slot >= 0)
			v->vs->hdr->procs[v->vs->slot].views_mech = PROC_VIEWS_MAPFIXED;
		view_unlink_uffd(v);
		v->mech = MECH_MAPFIXED;
		v->ndata = 0;
	}
	uffd_abandon();
}

/* The handler's report: it could not keep the descriptor (no table of its
 * own) and the program closed it. */
static void views_lost(void)
{
	pthread_mutex_lock(&proc_lock);
	views_lost_locked(NULL);
	pthread_mutex_unlock(&proc_lock);
}

/* After uffd work on vs: was the descriptor lost?  Then every view of vs
 * is a mapfixed view, and the caller does its mapfixed part. */
static bool lost_now(struct view_set *vs)
{
	if (!fd_suspect)
		return false;
	fd_suspect = false;
	if (uffd_alive())
		return false;
	views_lost_locked(vs);
	return true;
}

/* ---- the operations, both mechanisms ---- */

static bool has_uffd(const struct view_set *vs)
{
	const struct view *v;

	for (v = vs->head; v; v = v->next)
		if (v->mech == MECH_UFFD)
			return true;
	return false;
}

static void uf_sync_all(struct view_set *vs, uint64_t first, uint64_t end)
{
	struct view *v;

	for (v = vs->head; v; v = v->next)
		if (v->mech == MECH_UFFD)
			uf_sync(vs, v, first, end);
}

int views_revoke(struct view_set *vs, uint64_t first, uint64_t end)
{
	struct view *v;
	size_t done;
	int r = 0;

	for (v = vs->head; v && !r; v = v->next)
		if (v->mech == MECH_UFFD)
			r = uf_revoke(vs, v, first, end);
	if (lost_now(vs))
		r = 0; /* the mapfixed part below does it */
	if (!r && has_uffd(vs)) {
		/* the handler must not map these pages again before the
		 * conversion commits or rolls back (the lock's sequence
		 * moves then) */
		vs->pend = true;
		vs->pend_first = first;
		vs->pend_end = end;
		vs->pend_seq = atomic_load(vs->seq);
	}
	if (!r) {
		r = for_each_piece(vs, false, first, end, 0, PIECE_SIGBUS,
				   map_piece, SIZE_MAX, &done);
		if (r)
			for_each_piece(vs, false, first, end, 0, PIECE_MEMFD,
				       map_piece, done, NULL);
	}
	if (r)
		uf_sync_all(vs, first, end);
	return r;
}

/*
 * To-shared, step one: what can fail for want of a VMA.  A mapfixed view
 * splits its private pieces out into VMAs of their own (still SIGBUS, at an
 * offset that cannot merge), so that mapping the memfd over exactly those
 * VMAs never needs a new one.  A uffd view needs nothing here: the pieces
 * its handler put under the sealed memfd are each one VMA, which
 * views_grant replaces with exactly one.
 */
int views_prepare_grant(struct view_set *vs, uint64_t first, uint64_t end,
			size_t *pieces)
{
	int r;

	*pieces = 0;
	r = for_each_piece(vs, false, first, end, PRIVATE, PIECE_ISOLATED,
			   map_piece, SIZE_MAX, pieces);
	if (r)
		views_cancel_grant(vs, first, end, *pieces);
	return r;
}

void views_cancel_grant(struct view_set *vs, uint64_t first, uint64_t end,
			size_t pieces)
{
	for_each_piece(vs, false, first, end, PRIVATE, PIECE_SIGBUS, map_piece,
		       pieces, NULL);
}

int views_grant(struct view_set *vs, uint64_t first, uint64_t end)
{
	struct view *v;

	for (v = vs->head; v; v = v->next) {
		uint64_t lo = MAX(first, v->first_page), hi;

		if (v->mech != MECH_UFFD)
			continue;
		hi = MIN(end, data_end(v));
		if (lo >= hi)
			continue;
		/* the content effects are done: the memfd back over what
		 * the handler isolated, with its protection at once */
		if (v->iso.n) {
			int r = uf_restore(vs, v, lo, hi);

			if (r && !lost_now(vs))
				return r;
		}
		drop_markers(v, lo, hi);
		uf_share(vs, v, lo, hi);
	}
	lost_now(vs);
	return for_each_piece(vs, false, first, end, PRIVATE, PIECE_MEMFD,
			      map_piece, SIZE_MAX, NULL);
}

int views_private_revoke(struct view_set *vs, uint64_t first, uint64_t end)
{
	size_t done;
	int r;

	r = for_each_piece(vs, true, first, end, PRIVATE, PIECE_SIGBUS,
			   map_piece, SIZE_MAX, &done);
	if (r)
		for_each_piece(vs, true, first, end, PRIVATE, PIECE_MEMFD,
			       map_piece, done, NULL);
	return r;
}

int views_sync_private(struct view_set *vs, uint64_t first, uint64_t end)
{
	int r = for_each_piece(vs, true, first, end, 0, PIECE_SIGBUS,
			       map_piece, SIZE_MAX, NULL);

	if (!r)
		r = for_each_piece(vs, true, first, end, PRIVATE, PIECE_MEMFD,
				   map_piece, SIZE_MAX, NULL);
	return r;
}

int views_sync(struct view_set *vs, uint64_t first, uint64_t end)
{
	struct view *v;
	int r = 0;

	for (v = vs->head; v; v = v->next) {
		int r2;

		if (v->mech != MECH_UFFD)
			continue;
		r2 = uf_sync(vs, v, first, end);
		r = r ? r : r2;
	}
	if (lost_now(vs))
		r = 0;
	if (!r)
		r = for_each_piece(vs, false, first, end, PRIVATE, PIECE_SIGBUS,
				   map_piece, SIZE_MAX, NULL);
	if (!r)
		r = for_each_piece(vs, false, first, end, 0, PIECE_MEMFD,
				   map_piece, SIZE_MAX, NULL);
	if (!r)
		r = views_sync_private(vs, first, end);
	return r;
}

void views_refill(struct view_set *vs, uint8_t *lo, uint8_t *hi)
{
	struct view *v;

	for (v = vs->head; v; v = v->next) {
		uint8_t *a, *b;
		uint64_t s, e, p, attr, rs, re;

		if (v->mech != MECH_UFFD)
			continue;
		a = MAX(lo, v->addr);
		b = MIN(hi, v->addr + (v->ndata << PAGE_SHIFT));
		if (a >= b)
			continue;
		s = v->first_page + ((uintptr_t)(a - v->addr) >> PAGE_SHIFT);
		e = v->first_page +
		    ((uintptr_t)(b - v->addr + PAGE_SIZE - 1) >> PAGE_SHIFT);
		for (p = s; p < e; p = re) {
			run_at(vs, p, p, e, false, &attr, &rs, &re);
			if (!attr && pset_meet(&v->plain, p, re) < 0)
				map_shared(vs, v, p, re, false);
		}
	}
	lost_now(vs);
}

/* ---- creating, linking, cutting ---- */

/* Which mechanism a new view uses. */
static enum views_mech view_mech_for(uint64_t maps, int flags)
{
	const struct uffd_caps *c = uffd_caps();

	if (maps || (flags & MAP_LOCKED) || uffd_lost || c->mech != MECH_UFFD)
		return MECH_MAPFIXED;
	return MECH_UFFD;
}

/* Map v over its SIGBUS reservation, by its mechanism.  View lock held
 * (the handler finds a uffd view at once). */
static int view_build(struct view_set *vs, struct view *v)
{
	bool lost;
	int r;

	if (v->mech == MECH_MAPFIXED)
		return mf_fill(vs, v);
	plain_budget_init();
	r = uffd_lost ? -EBADF : uffd_start(view_fault, views_lost, view_idle);
	if (!r) {
		v->vs = vs;
		view_link_uffd(v);
		r = uf_build(vs, v);
		if (r)
			view_unlink_uffd(v);
	}
	if (r && fd_suspect && !uffd_alive()) {
		fd_suspect = false;
		views_lost_locked(vs);
	}
	lost = uffd_lost;
	if (!r || !lost)
		return r;
	/* the descriptor was lost on the way: this one is made the other
	 * way, over a fresh reservation */
	v->mech = MECH_MAPFIXED;
	r = map_at(v->addr, v->len, v->prot, v->map_flags, view_sigbus_fd(),
		   v->first_page << PAGE_SHIFT);
	return r ? r : mf_fill(vs, v);
}

/* MAP_POPULATE of a uffd view: the plain runs (the rest is mapped). */
static void view_populate(struct view *v)
{
	uint32_t i;

	for (i = 0; i < v->plain.n; i++)
		sys_madvise(page_addr(v, v->plain.v[i].s),
			    pages_len(v->plain.v[i].s, v->plain.v[i].e),
			    (v->prot & PROT_WRITE) ? MADV_POPULATE_WRITE
						   : MADV_POPULATE_READ);
}

int view_map(struct view_set *vs, void *addr, size_t len, int prot, int flags,
	     uint64_t first_page, uint64_t maps, struct view **out)
{
	const int keep = MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_POPULATE |
			 MAP_NORESERVE | MAP_LOCKED | MAP_NONBLOCK;
	enum views_mech mech = view_mech_for(maps, flags);
	int sigbus = view_sigbus_fd(), rflags = flags & keep;
	struct view *v;
	long base;
	int r;

	if (sigbus < 0)
		return sigbus;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	/* a uffd view populates (and locks) nothing before it is registered:
	 * private pages must never be mapped */
	if (mech == MECH_UFFD)
		rflags &= ~(MAP_POPULATE | MAP_LOCKED);
	/* Reserve the whole range as SIGBUS at the gmem's offsets, then map
	 * the extents it shows over it. */
	base = sys_mmap(addr, len, prot, MAP_SHARED | rflags, sigbus,
			(off_t)(first_page << PAGE_SHIFT));
	if (base < 0 && base > -4096) {
		free(v);
		return (int)base;
	}
	v->addr = (uint8_t *)base;
	v->len = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	v->first_page = first_page;
	v->prot = prot;
	v->map_flags = flags & keep & ~(MAP_FIXED | MAP_FIXED_NOREPLACE);
	if (mech == MECH_UFFD)
		v->map_flags &= ~(MAP_POPULATE | MAP_LOCKED);
	v->maps = maps;
	v->mech = mech;
	r = sys_madvise(v->addr, v->len, MADV_DONTFORK);
	if (!r)
		r = view_build(vs, v);
	if (r) {
		sys_munmap(v->addr, v->len);
		free(v);
		return r;
	}
	if (mech == MECH_UFFD && (flags & MAP_POPULATE))
		view_populate(v);
	*out = v;
	return 0;
}

int view_link(struct view_set *vs, struct view *v)
{
	v->rec = procs_rec_add(vs->hdr, vs->space, vs->slot, v->first_page,
			       v->len >> PAGE_SHIFT);
	if (!v->rec)
		return -ENOMEM;
	if (v->maps)
		vs->hdr->procs[vs->slot].nr_private_views++;
	v->next = vs->head;
	vs->head = v;
	return 0;
}

void view_unmap(struct view *v)
{
	sys_munmap(v->addr, v->len);
	view_free(v);
}

bool views_need_memfd(const struct view_set *vs)
{
	const struct view *v;

	for (v = vs->head; v; v = v->next)
		if (v->mech != MECH_UFFD)
			return true;
	return false;
}

bool views_meet(const struct view_set *vs, const uint8_t *lo,
		const uint8_t *hi)
{
	const struct view *v;

	for (v = vs->head; v; v = v->next)
		if (v->addr < hi && lo < v->addr + v->len)
			return true;
	return false;
}

/* The uffd bookkeeping of a view that now covers only gmem pages [s, e)
 * of what it did. */
static void uf_trim(struct view_set *vs, struct view *v)
{
	uint64_t end = view_end_page(v);

	v->ndata = v->first_page >= vs->npages
			   ? 0
			   : MIN(v->len >> PAGE_SHIFT, vs->npages - v->first_page);
	/* (a trim never splits a range: room is not needed) */
	plain_del(v, 0, v->first_page);
	plain_del(v, end, UINT64_MAX);
	pset_del(&v->iso, 0, v->first_page);
	pset_del(&v->iso, end, UINT64_MAX);
	pset_del(&v->marks, 0, v->first_page);
	pset_del(&v->marks, end, UINT64_MAX);
}

/* A copy of a uffd view's sets for the tail of a split: -ENOMEM. */
static int uf_split(struct view *v, struct view *tail)
{
	tail->plain = (struct pset){ 0 };
	tail->iso = (struct pset){ 0 };
	tail->marks = (struct pset){ 0 };
	if (pset_reserve(&tail->plain, v->plain.n) ||
	    pset_reserve(&tail->iso, v->iso.n) ||
	    pset_reserve(&tail->marks, v->marks.n)) {
		pset_free(&tail->plain);
		pset_free(&tail->iso);
		pset_free(&tail->marks);
		return -ENOMEM;
	}
	/* (an empty set has no array: nothing to copy) */
	if (v->marks.n)
		memcpy(tail->marks.v, v->marks.v, v->marks.n * sizeof(*v->marks.v));
	tail->marks.n = v->marks.n;
	if (v->plain.n)
		memcpy(tail->plain.v, v->plain.v, v->plain.n * sizeof(*v->plain.v));
	tail->plain.n = v->plain.n;
	nr_plain += tail->plain.n;
	if (v->iso.n)
		memcpy(tail->iso.v, v->iso.v, v->iso.n * sizeof(*v->iso.v));
	tail->iso.n = v->iso.n;
	view_link_uffd(tail);
	return 0;
}

/* Cut [lo, hi) (already clipped to v) out of view *pp: trim, split or free
 * it.  Returns 1 when it freed v, 0 when v stays, -ENOMEM with nothing
 * changed.  View lock held. */
static int view_cut(struct view_set *vs, struct view **pp, uint8_t *lo,
		    uint8_t *hi)
{
	struct view *v = *pp, *tail;
	uint8_t *vend = v->addr + v->len;
	uint64_t head_pages, tail_pages;

	head_pages = (uint64_t)(lo - v->addr) >> PAGE_SHIFT;
	tail_pages = (uint64_t)(vend - hi) >> PAGE_SHIFT;

	if (head_pages && tail_pages) {
		tail = calloc(1, sizeof(*tail));
		if (!tail || FAULT_INJECT("view_cut")) {
			free(tail);
			return -ENOMEM;
		}
		*tail = *v;
		if (v->mech == MECH_UFFD && uf_split(v, tail)) {
			free(tail);
			return -ENOMEM;
		}
		tail->addr = hi;
		tail->len = tail_pages << PAGE_SHIFT;
		tail->first_page = view_end_page(v) - tail_pages;
		tail->rec = procs_rec_add(vs->hdr, vs->space, vs->slot,
					  tail->first_page, tail_pages);
		if (!tail->rec) {
			view_free(tail);
			return -ENOMEM;
		}
		if (tail->maps)
			vs->hdr->procs[vs->slot].nr_private_views++;
		tail->next = v->next;
		v->next = tail;
		if (tail->mech == MECH_UFFD)
			uf_trim(vs, tail);
	}
	if (head_pages) {
		v->len = head_pages << PAGE_SHIFT;
		procs_rec_set(vs->space, v->rec, v->first_page, head_pages);
		if (v->mech == MECH_UFFD)
			uf_trim(vs, v);
		return 0;
	}
	if (tail_pages) {
		v->first_page = view_end_page(v) - tail_pages;
		v->addr = vend - (tail_pages << PAGE_SHIFT);
		v->len = tail_pages << PAGE_SHIFT;
		procs_rec_set(vs->space, v->rec, v->first_page, tail_pages);
		if (v->mech == MECH_UFFD)
			uf_trim(vs, v);
		return 0;
	}
	procs_rec_del(vs->hdr, vs->space, vs->slot, v->rec);
	if (v->maps)
		vs->hdr->procs[vs->slot].nr_private_views--;
	*pp = v->next;
	view_free(v);
	return 1;
}

int views_cut(struct view_set *vs, uint8_t *lo, uint8_t *hi, int *freed)
{
	struct view **pp, *v;
	int r;

	*freed = 0;
	/* the only step that can fail is a split: check the pool first */
	for (v = vs->head, r = 0; v; v = v->next)
		if (lo > v->addr && hi < v->addr + v->len)
			r++;
	if (r && pool_available(vs->space) < (uint32_t)r)
		return -ENOMEM;
	for (pp = &vs->head; *pp;) {
		uint8_t *vlo, *vhi;

		v = *pp;
		vlo = MAX(lo, v->addr);
		vhi = MIN(hi, v->addr + v->len);
		if (vlo >= vhi) {
			pp = &v->next;
			continue;
		}
		r = view_cut(vs, pp, vlo, vhi);
		if (r < 0)
			return r;
		sys_munmap(vlo, (size_t)(vhi - vlo));
		*freed += r;
		if (r == 0)
			pp = &(*pp)->next;
	}
	return 0;
}

int views_remap_all(struct view_set *vs)
{
	int sigbus = view_sigbus_fd(), r = 0;
	struct view **pp, *v;

	if (sigbus < 0)
		return sigbus;
	for (pp = &vs->head; (v = *pp);) {
		long a = sys_mmap(v->addr, v->len, v->prot,
				  MAP_SHARED | MAP_FIXED_NOREPLACE | v->map_flags,
				  sigbus, (off_t)(v->first_page << PAGE_SHIFT));
		int e = 0;

		/* the parent's way of mapping it was forgotten at fork */
		v->mech = view_mech_for(v->maps, v->map_flags);
		if (a < 0 && a > -4096) {
			/* something took the range first: not ours to touch */
			e = (int)a;
		} else if ((uint8_t *)a != v->addr) {
			sys_munmap((void *)a, v->len); /* an old kernel's hint */
			e = -EEXIST;
		} else {
			e = sys_madvise(v->addr, v->len, MADV_DONTFORK);
			if (!e)
				e = view_build(vs, v);
			if (e)
				sys_munmap(v->addr, v->len);
		}
		if (e) {
			/* this view is gone from this process */
			*pp = v->next;
			v->mech = MECH_MAPFIXED; /* never linked */
			free(v);
			r = r ? r : e;
			continue;
		}
		pp = &v->next;
	}
	return r;
}

void views_forget(struct view_set *vs)
{
	struct view *v;

	while ((v = vs->head)) {
		vs->head = v->next;
		view_free(v);
	}
}

/* ---- the process ---- */

void views_fork_prepare(void)
{
	pthread_mutex_lock(&proc_lock);
	uffd_fork_prepare();
}

void views_fork_parent(void)
{
	uffd_fork_parent();
	pthread_mutex_unlock(&proc_lock);
}

void views_fork_child(void)
{
	struct view *v;

	/* we are the only thread: the parent's handler and descriptor are
	 * not ours, nor how its views were registered; each view set is
	 * rebuilt by its owner (views_remap_all) */
	uffd_fork_child();
	while ((v = uffd_views)) {
		uffd_views = v->next_uffd;
		pset_free(&v->plain);
		pset_free(&v->iso);
		pset_free(&v->marks);
		v->marks_lost = false;
		v->next_uffd = NULL;
	}
	nr_plain = 0;
	pthread_mutex_unlock(&proc_lock);
}

void views_shutdown(void)
{
	uffd_stop();
}

uint32_t view_proc_mech(void)
{
	const struct uffd_caps *c = uffd_caps();

	if (c->mech != MECH_UFFD || uffd_lost)
		return PROC_VIEWS_MAPFIXED;
	return c->poison ? PROC_VIEWS_UFFD_POISON : PROC_VIEWS_UFFD_ISOLATE;
}

int view_mechanism(const struct uffd_caps **caps)
{
	const struct uffd_caps *c = uffd_caps();

	if (caps)
		*caps = c;
	return c->err;
}
