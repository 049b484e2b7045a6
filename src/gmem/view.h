/* SPDX-License-Identifier: MIT */
/*
 * Host views: the memory mechanism.  Each process uses one of two, chosen
 * once at run time (uffd.h):
 *
 * uffd: a view is one MAP_SHARED mapping of the gmem's memfd (plus one of
 *   a zero-length sealed memfd for whatever lies past the gmem's end),
 *   registered with the process's userfaultfd.  Private pages have no PTE:
 *   an access faults to the handler thread, which makes it SIGBUS (a
 *   UFFDIO_POISON marker, or the sealed memfd mapped over that extent), and
 *   the kernel raises SIGBUS/BUS_ADRERR at the faulting address.  Shared
 *   pages of small runs are mapped eagerly (UFFDIO_CONTINUE), so a PTE the
 *   program zaps is mapped again on its next access and system calls find
 *   them mapped; shared runs of VIEW_BIG pages or more are unregistered
 *   (a plain mapping, the kernel's own semantics) within a per-process
 *   budget.  To-private is MADV_DONTNEED: no VMA per extent.
 * mapfixed: MAP_FIXED mappings: shared extents map the memfd at their own
 *   offsets, private extents and anything past the end the sealed memfd.
 *   Mappings of one file at consecutive offsets merge, so a view costs one
 *   VMA per extent.  Also every private view (a real guest's private
 *   range) and every MAP_LOCKED view, whatever the process uses.
 *
 * Views are MADV_DONTFORK: a child gets them back only through the fork
 * handler, which registers it, so no process ever holds a mapping no
 * converter can revoke.  Each view is also recorded under this process's
 * slot in the shared header (procs.h), so other processes know whom to ask.
 *
 * Locks: a gmem's lock, then the process's view lock (view_proc_lock); a
 * view changes only under both, and the fault handler takes the view lock.
 */
#ifndef GMEMU_GMEM_VIEW_H
#define GMEMU_GMEM_VIEW_H

#include <sys/types.h>

#include "procs.h"
#include "uffd.h"

/* A shared run this long (pages) or longer is a plain mapping in a uffd view. */
#define VIEW_BIG 512

/* Ranges of gmem pages, sorted and disjoint. */
struct prange {
	uint64_t s, e;
};
struct pset {
	struct prange *v;
	uint32_t n, cap;
};

struct view_set;

struct view {
	uint8_t *addr;
	uint64_t len;
	uint64_t first_page; /* gmem page mapped at addr */
	int prot;
	int map_flags;       /* extra mmap flags to repeat on remaps */
	uint32_t rec;        /* shared view record */
	uint64_t maps;       /* the attribute whose pages it maps: 0 for host
			      * views, PRIVATE for a real guest's private range */
	enum views_mech mech;
	/* uffd views: gmem pages [first_page, +ndata) are the registered
	 * memfd mapping, the rest is past the end */
	uint64_t ndata;
	struct pset plain;   /* unregistered (plain) shared runs */
	struct pset iso;     /* private runs under the sealed memfd */
	struct pset marks;   /* pages with a POISON marker */
	bool marks_lost;     /* a marker went unrecorded: assume any page */
	struct view_set *vs;
	struct view *next_uffd;
	struct view *next;
};

/* One gmem's views in this process, and what they map. */
struct view_set {
	struct view *head;
	struct gmem_hdr *hdr;
	struct rm_space *space;
	const struct rangemap *attrs;
	uint64_t npages;
	int memfd;           /* the gmem's memfd, checked before each use */
	dev_t memfd_dev;
	ino_t memfd_ino;
	int slot;            /* this process's slot, -1 without views */
	uint8_t *trusted;    /* the gmem's trusted view: holes are allocated
			      * through it, so it stays populated */
	_Atomic uint32_t *seq; /* the gmem lock's sequence: odd while held */
	/* a revocation this process made for a conversion still under way
	 * (the lock's sequence then): the handler leaves those pages alone */
	uint64_t pend_first, pend_end;
	uint32_t pend_seq;
	bool pend;
	/* the uffd descriptor was lost: ask the owner to resynchronise */
	void (*resync_soon)(struct view_set *vs);
	/* the memfd's number was taken by the program: the owner repairs it
	 * (from caller_fd, the descriptor of the call under way, or -1):
	 * the new number, or -errno */
	int (*memfd_repair)(struct view_set *vs);
	int caller_fd;
};

/* The process's view lock (see above). */
HIDDEN void view_proc_lock(void);
HIDDEN void view_proc_unlock(void);
/* fork: the view lock and the handler's state across fork(). */
HIDDEN void views_fork_prepare(void);
HIDDEN void views_fork_parent(void);
HIDDEN void views_fork_child(void);
/* Process exit, once no view is left: stop the handler. */
HIDDEN void views_shutdown(void);
/* The mechanism this process's host views use: 0, or -errno when
 * GMEMU_VIEWS is refused or forces one that cannot run. */
HIDDEN int view_mechanism(const struct uffd_caps **caps);
/* The same as recorded in the process's registry slot (enum proc_views). */
HIDDEN uint32_t view_proc_mech(void);

/* The process's sealed zero-length memfd (checked before each use). */
HIDDEN int view_sigbus_fd(void);

/* Map a new view of [first_page, +len) showing the pages whose attribute is
 * maps; not yet linked or recorded.  -errno with nothing mapped.  Like
 * everything below that changes views: under the gmem lock and the view
 * lock. */
HIDDEN int view_map(struct view_set *vs, void *addr, size_t len, int prot,
		    int flags, uint64_t first_page, uint64_t maps,
		    struct view **out);
/* Undo view_map of a view never linked. */
HIDDEN void view_unmap(struct view *v);
/* Link a mapped view and record it under vs->slot; -ENOMEM when the
 * shared pool is dry (nothing changed). */
HIDDEN int view_link(struct view_set *vs, struct view *v);
/* Cut [lo, hi) out of the views: unmap it and trim, split or free the
 * views it meets.  All or nothing (-ENOMEM); *freed: views freed. */
HIDDEN int views_cut(struct view_set *vs, uint8_t *lo, uint8_t *hi,
		     int *freed);
/* Do the views of this set use the memfd's descriptor to change (a
 * mapfixed view)? */
HIDDEN bool views_need_memfd(const struct view_set *vs);
/* Does [lo, hi) meet a view of this set? */
HIDDEN bool views_meet(const struct view_set *vs, const uint8_t *lo,
		       const uint8_t *hi);
/* Re-create every view's mappings at its address (a forked child, whose
 * views were not inherited); a view whose range something else took first
 * is dropped (-errno), never unmapped over the other mapping. */
HIDDEN int views_remap_all(struct view_set *vs);
/* Forget every view without touching mappings or records. */
HIDDEN void views_forget(struct view_set *vs);
/* After the program zapped PTEs of [lo, hi) itself (MADV_DONTNEED): map
 * the shared pages of registered runs again, so system calls find them. */
HIDDEN void views_refill(struct view_set *vs, uint8_t *lo, uint8_t *hi);

/* To-private: shared pages of [first, end) become SIGBUS in every host view
 * of this set.  All or nothing. */
HIDDEN int views_revoke(struct view_set *vs, uint64_t first, uint64_t end);
/* To-shared in two steps around the content effect: isolate the private
 * pieces (all or nothing; the step that can hit vm.max_map_count), then map
 * the memfd over them; cancel undoes the first step. */
HIDDEN int views_prepare_grant(struct view_set *vs, uint64_t first,
			       uint64_t end, size_t *pieces);
HIDDEN void views_cancel_grant(struct view_set *vs, uint64_t first,
			       uint64_t end, size_t pieces);
HIDDEN int views_grant(struct view_set *vs, uint64_t first, uint64_t end);
/* Private views (a real guest's private ranges) stop showing pages that
 * leave the private state.  All or nothing. */
HIDDEN int views_private_revoke(struct view_set *vs, uint64_t first,
				uint64_t end);
/* Make the views of [first, end) match the attributes; a piece left behind
 * by a failure stays SIGBUS, the safe side. */
HIDDEN int views_sync(struct view_set *vs, uint64_t first, uint64_t end);
HIDDEN int views_sync_private(struct view_set *vs, uint64_t first,
			      uint64_t end);

#endif
