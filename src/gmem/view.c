// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../base/fd.h"
#include "../base/sys.h"
#include "view.h"

/* Offset shift that keeps an isolated SIGBUS piece from merging with its
 * neighbours (see views_prepare_grant). */
#define ISOLATE_SHIFT (1ULL << 50)

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

/* what a piece of a view becomes: the memfd, SIGBUS, or SIGBUS in a VMA of
 * its own (see views_prepare_grant) */
enum piece_kind { PIECE_MEMFD, PIECE_SIGBUS, PIECE_ISOLATED };

static uint64_t view_end_page(const struct view *v)
{
	return v->first_page + (v->len >> PAGE_SHIFT);
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

/* Map gmem pages [first, end) of view v (already clipped to it) as kind. */
static int map_piece(struct view_set *vs, struct view *v, uint64_t first,
		     uint64_t end, enum piece_kind kind)
{
	uint8_t *addr = v->addr + ((first - v->first_page) << PAGE_SHIFT);
	size_t len = (end - first) << PAGE_SHIFT;
	uint64_t off = first << PAGE_SHIFT;
	int fd = vs->memfd, r;

	if (kind != PIECE_MEMFD) {
		fd = view_sigbus_fd();
		if (fd < 0)
			return fd;
		if (kind == PIECE_ISOLATED)
			off += ISOLATE_SHIFT;
	}
	r = map_at(addr, len, v->prot, v->map_flags, fd, off);
	if (r != -ENOMEM)
		return r;
	/*
	 * At vm.max_map_count the kernel refuses even a replacement that
	 * would not add a VMA.  Unmapping first works when the piece is a
	 * whole VMA (it frees one); when it is not, munmap needs a split and
	 * fails too, leaving everything as it was.
	 */
	if (sys_munmap(addr, len) != 0)
		return -ENOMEM;
	return map_at(addr, len, v->prot, v->map_flags, fd, off);
}

typedef int (*piece_fn)(struct view_set *vs, struct view *v, uint64_t first,
			uint64_t end, enum piece_kind kind);

/*
 * Call fn on every piece of [first, end) inside a view of this set whose
 * attribute is attr; host views (maps == 0) or private views only.  Stops at
 * the first failure and returns it; *done counts the pieces that succeeded
 * so a rollback can walk them again.
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

		if ((v->maps != 0) != private_views)
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

#define PRIVATE KVM_MEMORY_ATTRIBUTE_PRIVATE

int views_revoke(struct view_set *vs, uint64_t first, uint64_t end)
{
	size_t done;
	int r;

	r = for_each_piece(vs, false, first, end, 0, PIECE_SIGBUS, map_piece,
			   SIZE_MAX, &done);
	if (r)
		for_each_piece(vs, false, first, end, 0, PIECE_MEMFD, map_piece,
			       done, NULL);
	return r;
}

/*
 * To-shared, step one: split the currently private pieces out into VMAs of
 * their own (still SIGBUS, at an offset that cannot merge).  This is where
 * vm.max_map_count can be hit; afterwards mapping the memfd over exactly
 * those VMAs never needs a new one.
 */
int views_prepare_grant(struct view_set *vs, uint64_t first, uint64_t end,
			size_t *pieces)
{
	int r;

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
	int r = for_each_piece(vs, false, first, end, PRIVATE, PIECE_SIGBUS,
			       map_piece, SIZE_MAX, NULL);

	if (!r)
		r = for_each_piece(vs, false, first, end, 0, PIECE_MEMFD,
				   map_piece, SIZE_MAX, NULL);
	if (!r)
		r = views_sync_private(vs, first, end);
	return r;
}

/* ---- creating, linking, cutting ---- */

/* Map v's pages of attribute v->maps over its SIGBUS reservation. */
static int view_fill(struct view_set *vs, struct view *v)
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

int view_map(struct view_set *vs, void *addr, size_t len, int prot, int flags,
	     uint64_t first_page, uint64_t maps, struct view **out)
{
	const int keep = MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_POPULATE |
			 MAP_NORESERVE | MAP_LOCKED | MAP_NONBLOCK;
	int sigbus = view_sigbus_fd();
	struct view *v;
	long base;
	int r;

	if (sigbus < 0)
		return sigbus;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	/* Reserve the whole range as SIGBUS at the gmem's offsets, then map
	 * the extents it shows over it. */
	base = sys_mmap(addr, len, prot, MAP_SHARED | (flags & keep), sigbus,
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
	v->maps = maps;
	r = sys_madvise(v->addr, v->len, MADV_DONTFORK);
	if (!r)
		r = view_fill(vs, v);
	if (r) {
		sys_munmap(v->addr, v->len);
		free(v);
		return r;
	}
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

bool views_meet(const struct view_set *vs, const uint8_t *lo,
		const uint8_t *hi)
{
	const struct view *v;

	for (v = vs->head; v; v = v->next)
		if (v->addr < hi && lo < v->addr + v->len)
			return true;
	return false;
}

/* Cut [lo, hi) (already clipped to v) out of view *pp: trim, split or free
 * it.  Returns 1 when it freed v, 0 when v stays, -ENOMEM with nothing
 * changed. */
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
		tail->addr = hi;
		tail->len = tail_pages << PAGE_SHIFT;
		tail->first_page = view_end_page(v) - tail_pages;
		tail->rec = procs_rec_add(vs->hdr, vs->space, vs->slot,
					  tail->first_page, tail_pages);
		if (!tail->rec) {
			free(tail);
			return -ENOMEM;
		}
		if (tail->maps)
			vs->hdr->procs[vs->slot].nr_private_views++;
		tail->next = v->next;
		v->next = tail;
	}
	if (head_pages) {
		v->len = head_pages << PAGE_SHIFT;
		procs_rec_set(vs->space, v->rec, v->first_page, head_pages);
		return 0;
	}
	if (tail_pages) {
		v->first_page = view_end_page(v) - tail_pages;
		v->addr = vend - (tail_pages << PAGE_SHIFT);
		v->len = tail_pages << PAGE_SHIFT;
		procs_rec_set(vs->space, v->rec, v->first_page, tail_pages);
		return 0;
	}
	procs_rec_del(vs->hdr, vs->space, vs->slot, v->rec);
	if (v->maps)
		vs->hdr->procs[vs->slot].nr_private_views--;
	*pp = v->next;
	free(v);
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

		if (a < 0 && a > -4096) {
			/* something took the range first: not ours to touch */
			e = (int)a;
		} else if ((uint8_t *)a != v->addr) {
			sys_munmap((void *)a, v->len); /* an old kernel's hint */
			e = -EEXIST;
		} else {
			e = sys_madvise(v->addr, v->len, MADV_DONTFORK);
			if (!e)
				e = view_fill(vs, v);
			if (e)
				sys_munmap(v->addr, v->len);
		}
		if (e) {
			/* this view is gone from this process */
			*pp = v->next;
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
		free(v);
	}
}
