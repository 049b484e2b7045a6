// SPDX-License-Identifier: MIT
#include <errno.h>

#include "../base/sys.h"
#include "procs.h"

/*
 * A slot names a process and its agent thread.  tgkill(pid, tid, 0) tells
 * without reading /proc: ESRCH when the process is gone, a zombie (its
 * threads are gone) or has exec()ed (exec ends every other thread, and the
 * agent is never the leader); EPERM means it is there.  Anything else proves
 * nothing, and the caller treats the process as present.
 */
enum proc_liveness proc_liveness(const struct gmem_proc *p)
{
	int r;

	if (atomic_load(&p->state) != PROC_LIVE)
		return PROC_GONE;
	if (p->pid <= 0 || p->agent_tid <= 0)
		return PROC_UNKNOWN;
	r = sys_tgkill(p->pid, p->agent_tid, 0);
	if (r == 0 || r == -EPERM)
		return PROC_ALIVE;
	if (r == -ESRCH)
		return PROC_GONE;
	return PROC_UNKNOWN;
}

void procs_slot_clear(struct gmem_hdr *h, struct rm_space *s, int slot)
{
	struct gmem_proc *pr = &h->procs[slot];
	uint32_t r = pr->views, next;

	pr->views = 0;
	pr->nr_views = 0;
	pr->nr_private_views = 0;
	pr->pid = 0;
	pr->agent_tid = 0;
	atomic_store(&pr->invite, 0);
	atomic_store(&pr->need_resync, 0);
	atomic_store(&pr->state, PROC_FREE);
	for (; r; r = next) {
		next = s->recs[r].left;
		pool_free(s, r);
	}
}

void procs_reap(struct gmem_hdr *h, struct rm_space *s, int self)
{
	int i;

	for (i = 0; i < GMEM_MAX_PROCS; i++)
		if (i != self && atomic_load(&h->procs[i].state) != PROC_FREE &&
		    proc_liveness(&h->procs[i]) == PROC_GONE)
			procs_slot_clear(h, s, i);
}

int procs_slot_alloc(struct gmem_hdr *h, struct rm_space *s, int self)
{
	int i;

	procs_reap(h, s, self);
	for (i = 0; i < GMEM_MAX_PROCS; i++)
		if (atomic_load(&h->procs[i].state) == PROC_FREE)
			return i;
	return -EMFILE;
}

void procs_slot_claim(struct gmem_hdr *h, int slot, int pid, int agent_tid,
		      uint32_t views_mech)
{
	struct gmem_proc *pr = &h->procs[slot];

	pr->pid = pid;
	pr->views_mech = views_mech;
	pr->agent_tid = agent_tid;
	pr->views = 0;
	pr->nr_views = 0;
	pr->nr_private_views = 0;
	atomic_store(&pr->need_resync, 0);
	atomic_store(&pr->invite, 0);
	atomic_store(&pr->ack_gen, atomic_load(&h->req.gen));
	atomic_store(&pr->state, PROC_LIVE);
}

int procs_count(const struct gmem_hdr *h)
{
	int i, n = 0;

	for (i = 0; i < GMEM_MAX_PROCS; i++)
		if (atomic_load(&h->procs[i].state) != PROC_FREE)
			n++;
	return n;
}

uint32_t procs_rec_add(struct gmem_hdr *h, struct rm_space *s, int slot,
		       uint64_t first_page, uint64_t npages)
{
	struct gmem_proc *pr = &h->procs[slot];
	uint32_t r = pool_alloc(s);

	if (!r)
		return 0;
	s->recs[r].key = first_page;
	s->recs[r].value = npages;
	s->recs[r].left = pr->views;
	pr->views = r;
	pr->nr_views++;
	return r;
}

void procs_rec_set(struct rm_space *s, uint32_t rec, uint64_t first_page,
		   uint64_t npages)
{
	s->recs[rec].key = first_page;
	s->recs[rec].value = npages;
}

void procs_rec_del(struct gmem_hdr *h, struct rm_space *s, int slot,
		   uint32_t rec)
{
	struct gmem_proc *pr = &h->procs[slot];
	uint32_t *pp;

	for (pp = &pr->views; *pp; pp = &s->recs[*pp].left) {
		if (*pp == rec) {
			*pp = s->recs[rec].left;
			pool_free(s, rec);
			pr->nr_views--;
			return;
		}
	}
}

uint64_t procs_first_mapped(const struct gmem_hdr *h, struct rm_space *s,
			    int slot, uint64_t first, uint64_t end)
{
	const struct gmem_proc *pr = &h->procs[slot];
	uint64_t best = end;
	uint32_t r, n = 0;

	/* bounded: records of a dead holder may be in flux */
	for (r = pr->views; r && r < s->pool->bump && n++ < (1u << 20);
	     r = s->recs[r].left) {
		uint64_t lo = MAX(first, s->recs[r].key);
		uint64_t hi = MIN(end, s->recs[r].key + s->recs[r].value);

		if (lo < hi)
			best = MIN(best, lo);
	}
	return best;
}
