/* SPDX-License-Identifier: MIT */
/*
 * The process registry in a gmem's shared header: one slot per process with
 * views, and the records of what each maps, so that a converter knows whom
 * to ask.  Liveness is decided only on positive evidence: a slot is dropped
 * when its process is gone, has exec()ed or is a zombie (its agent thread
 * no longer exists), never because a check could not be made.
 */
#ifndef GMEMU_GMEM_PROCS_H
#define GMEMU_GMEM_PROCS_H

#include "rangemap.h"

enum proc_liveness { PROC_ALIVE, PROC_GONE, PROC_UNKNOWN };

HIDDEN enum proc_liveness proc_liveness(const struct gmem_proc *p);

/* A free slot (dropping slots of processes that are gone), or -EMFILE. */
HIDDEN int procs_slot_alloc(struct gmem_hdr *h, struct rm_space *s, int self);
HIDDEN void procs_slot_claim(struct gmem_hdr *h, int slot, int pid,
			     int agent_tid, uint32_t views_mech);
/* Free a slot and its records.  Detach first, free after: a holder that
 * dies in between leaves only unreachable records, which recovery
 * collects. */
HIDDEN void procs_slot_clear(struct gmem_hdr *h, struct rm_space *s, int slot);
/* Drop the slots of processes that are gone (not self). */
HIDDEN void procs_reap(struct gmem_hdr *h, struct rm_space *s, int self);
HIDDEN int procs_count(const struct gmem_hdr *h);

/* View records of a slot: add (0 when the pool is dry), resize, delete. */
HIDDEN uint32_t procs_rec_add(struct gmem_hdr *h, struct rm_space *s, int slot,
			      uint64_t first_page, uint64_t npages);
HIDDEN void procs_rec_set(struct rm_space *s, uint32_t rec,
			  uint64_t first_page, uint64_t npages);
HIDDEN void procs_rec_del(struct gmem_hdr *h, struct rm_space *s, int slot,
			  uint32_t rec);
/* First page of [first, end) that slot's process maps, or end. */
HIDDEN uint64_t procs_first_mapped(const struct gmem_hdr *h,
				   struct rm_space *s, int slot,
				   uint64_t first, uint64_t end);

#endif
