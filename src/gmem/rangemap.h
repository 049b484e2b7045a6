/* SPDX-License-Identifier: MIT */
/*
 * Range maps over record pools: pages [0, npages) partitioned into extents
 * with a 64-bit value; records addressed by 32-bit index so that every
 * process follows them whatever address it mapped them at.  The lowest of
 * the gmem's mechanisms: it knows nothing of gmems.
 */
#ifndef GMEMU_GMEM_RANGEMAP_H
#define GMEMU_GMEM_RANGEMAP_H

#include "../base/common.h"
#include "layout.h"

/* Where a range map's records live: a gmem's shared metadata, or process
 * memory (the per-VM attributes of the 6.x profiles). */
struct rm_space {
	struct gmem_rec *recs;
	struct gmem_pool *pool;
	uint64_t npages; /* keys are pages in [0, npages) */
};

/* A process's flat copy of a map for lookups between updates. */
#define RM_INDEX_FANOUT 8 /* keys per node: one cache line */
struct rm_index {
	uint64_t generation;   /* of the committed map it copies */
	uint64_t seen_gen;     /* the map slow_lookups counts for */
	uint32_t nodes;
	uint32_t slow_lookups; /* since the map last changed */
	uint64_t *key;         /* implicit B-tree nodes: RM_INDEX_FANOUT keys,
				* then the value of the extent before each */
	uint64_t last_val;
	bool valid;
};

HIDDEN void pool_init(struct gmem_pool *pool, uint32_t capacity);
HIDDEN uint32_t pool_alloc(struct rm_space *s);
HIDDEN void pool_free(struct rm_space *s, uint32_t idx);
HIDDEN uint32_t pool_available(const struct rm_space *s);

HIDDEN int rm_init(struct rm_space *s, struct rangemap *m, uint64_t value);
HIDDEN uint64_t rm_get(struct rm_space *s, const struct rangemap *m,
		       uint64_t page, uint64_t *end);
/* rm_get, with the first page of the extent too. */
HIDDEN uint64_t rm_extent(struct rm_space *s, const struct rangemap *m,
			  uint64_t page, uint64_t *start, uint64_t *end);
/* The same without the map's lock: -EAGAIN when a commit may have moved
 * the map under the walk (ask again). */
HIDDEN int rm_extent_racy(struct rm_space *s, const struct rangemap *m,
			  uint64_t page, uint64_t *value, uint64_t *start,
			  uint64_t *end);
/* rm_get, through (and building, when lookups dominate) the index.  The
 * index is trusted only for the map generation it was built from. */
HIDDEN uint64_t rm_get_indexed(struct rm_space *s, const struct rangemap *m,
			       struct rm_index *ix, uint64_t page,
			       uint64_t *end);
HIDDEN void rm_index_free(struct rm_index *ix);
/* Atomic: on failure (-ENOMEM) the map is as it was. */
HIDDEN int rm_assign(struct rm_space *s, struct rangemap *m, uint64_t first,
		     uint64_t end, uint64_t value);
/* The process memory an assignment of [first, end) needs, taken before
 * anything else changes, so that the assignment itself cannot fail for
 * want of it (shared records: check pool_available). */
struct rm_reserve {
	uint32_t *created, *garbage;
	size_t cap_created, cap_garbage;
};
HIDDEN int rm_reserve(struct rm_reserve *res, struct rm_space *s,
		      const struct rangemap *m, uint64_t first, uint64_t end);
HIDDEN void rm_reserve_free(struct rm_reserve *res);
HIDDEN int rm_assign_reserved(struct rm_space *s, struct rangemap *m,
			      uint64_t first, uint64_t end, uint64_t value,
			      struct rm_reserve *res);
/* First page of [first, end) whose value satisfies (v & mask) == want, or
 * end. */
HIDDEN uint64_t rm_find(struct rm_space *s, const struct rangemap *m,
			uint64_t first, uint64_t end, uint64_t mask,
			uint64_t want);
/* Extents met by [first, end). */
HIDDEN uint32_t rm_count(struct rm_space *s, const struct rangemap *m,
			 uint64_t first, uint64_t end);
/* After a holder of the lock died: recount the maps and rebuild the free
 * list from what the maps and the record lists still reach. */
HIDDEN int rm_recover(struct rm_space *s, struct rangemap **maps, int nr_maps,
		      const uint32_t *lists, int nr_lists);
/* Records an assignment may need (path copies), checked before anything
 * changes elsewhere; rm_assign itself fails cleanly if the pool runs dry. */
#define RM_ASSIGN_NODES 256

#endif
