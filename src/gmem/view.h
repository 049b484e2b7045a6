/* SPDX-License-Identifier: MIT */
/*
 * Host views: the memory mechanism.  A view is a range of this process's
 * address space made of MAP_FIXED mappings: shared extents map the gmem's
 * memfd at their own offsets, private extents and anything at or past the
 * end map a zero-length sealed memfd, so the kernel itself raises
 * SIGBUS/BUS_ADRERR at the faulting address and system calls touching those
 * pages fail EFAULT.  Mappings of one file at consecutive offsets merge, so
 * a view costs one VMA per extent.  Views are MADV_DONTFORK: a child gets
 * them back only through the fork handler, which registers it, so no
 * process ever holds a mapping no converter can revoke.
 *
 * Each view is also recorded under this process's slot in the shared
 * header (procs.h), so other processes know whom to ask.
 */
#ifndef GMEMU_GMEM_VIEW_H
#define GMEMU_GMEM_VIEW_H

#include <sys/types.h>

#include "procs.h"

struct view {
	uint8_t *addr;
	uint64_t len;
	uint64_t first_page; /* gmem page mapped at addr */
	int prot;
	int map_flags;       /* extra mmap flags to repeat on remaps */
	uint32_t rec;        /* shared view record */
	uint64_t maps;       /* the attribute whose pages it maps: 0 for host
			      * views, PRIVATE for a real guest's private range */
	struct view *next;
};

/* One gmem's views in this process, and what they map. */
struct view_set {
	struct view *head;
	struct gmem_hdr *hdr;
	struct rm_space *space;
	const struct rangemap *attrs;
	uint64_t npages;
	int memfd;           /* the gmem's memfd: checked by the owner */
	int slot;            /* this process's slot, -1 without views */
};

/* The process's sealed zero-length memfd (checked before each use). */
HIDDEN int view_sigbus_fd(void);

/* Map a new view of [first_page, +len) showing the pages whose attribute is
 * maps; not yet linked or recorded.  -errno with nothing mapped. */
HIDDEN int view_map(struct view_set *vs, void *addr, size_t len, int prot,
		    int flags, uint64_t first_page, uint64_t maps,
		    struct view **out);
/* Link a mapped view and record it under vs->slot; -ENOMEM when the
 * shared pool is dry (nothing changed). */
HIDDEN int view_link(struct view_set *vs, struct view *v);
/* Cut [lo, hi) out of the views: unmap it and trim, split or free the
 * views it meets.  All or nothing (-ENOMEM); *freed: views freed. */
HIDDEN int views_cut(struct view_set *vs, uint8_t *lo, uint8_t *hi,
		     int *freed);
/* Does [lo, hi) meet a view of this set? */
HIDDEN bool views_meet(const struct view_set *vs, const uint8_t *lo,
		       const uint8_t *hi);
/* Re-create every view's mappings at its address (a forked child, whose
 * views were not inherited); a view whose range something else took first
 * is dropped (-errno), never unmapped over the other mapping. */
HIDDEN int views_remap_all(struct view_set *vs);
/* Forget every view without touching mappings or records. */
HIDDEN void views_forget(struct view_set *vs);

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
