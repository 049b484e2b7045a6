// SPDX-License-Identifier: MIT
/*
 * The conversion engine: KVM_SET_MEMORY_ATTRIBUTES2 on a gmem from the
 * content-mode check (contract, section 6, step 6) on; the uapi layer has
 * done steps 1-5.  In three parts -- check, to private, to shared -- with
 * one unlock path.  Everything that can fail for want of memory is taken
 * before the first change; a mechanism step that fails (a view swap) undoes
 * what it did, and the conversion fails with the attributes unchanged.
 */
#include <errno.h>
#include <signal.h>

#include "gmem_priv.h"

struct convert {
	struct gmem *g;
	struct kvm_memory_attributes2 *a;
	uint64_t first, end;      /* pages */
	bool to_private;
	uint64_t from, want;      /* attribute before / after */
	enum content_effect effect;
	uint64_t revoked;         /* slots of other processes that revoked */
	uint64_t error_offset;
	/* the gmem's, kept from one conversion to the next (under the lock):
	 * a conversion allocates nothing once the arrays have grown */
	struct rm_reserve *attrs_res, *pins_res;
};

#ifdef GMEMU_TESTING
/* A converter kills itself (holding the lock) at point 1 (peers revoked),
 * 2 (bytes changed, attributes not yet) or 3 (committed): see t_crash. */
HIDDEN int gmem_crash_point;
#define CRASH_POINT(n)                          \
	do {                                    \
		if (gmem_crash_point == (n))    \
			raise(SIGKILL);         \
	} while (0)
#else
#define CRASH_POINT(n) do { } while (0)
#endif

/* First page of the range with a long-term pin, or end. */
static uint64_t first_pinned(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t p, next;

	for (p = first; p < end; p = next)
		if ((uint32_t)rm_get(&g->space, &g->hdr->pins, p, &next))
			return MAX(p, first);
	return end;
}

/* The lru_add drain: transient references in the range go away. */
static int drain_transient(struct convert *c)
{
	struct gmem *g = c->g;
	uint64_t p, next;
	int r = 0;

	for (p = c->first; p < c->end && !r; p = next) {
		uint64_t v = rm_get(&g->space, &g->hdr->pins, p, &next);

		next = MIN(next, c->end);
		if (v >> 32)
			r = rm_assign_reserved(&g->space, &g->hdr->pins, p, next,
					       (uint32_t)v, c->pins_res);
	}
	return r;
}

/* The platform's flags = 0 effect on the pages changing state. */
static int apply_effect(struct convert *c)
{
	struct gmem *g = c->g;
	struct content_target t;
	uint64_t p, next;
	int r = 0;

	if (c->effect == EFFECT_NONE)
		return 0;
	gmem_content_target(g, &t);
	for (p = c->first; p < c->end && !r; p = next) {
		uint64_t a = rm_get(&g->space, &g->hdr->attrs, p, &next);

		next = MIN(next, c->end);
		if (a == c->from)
			r = content_apply(&t, c->effect,
					  c->to_private ? DIR_TO_PRIVATE
							: DIR_TO_SHARED,
					  p, next);
	}
	return r;
}

uint64_t gmem_private_view_slots(struct gmem *g)
{
	uint64_t mask = 0;
	int i;

	for (i = 0; i < GMEM_MAX_PROCS; i++)
		if (i != g->views.slot &&
		    atomic_load(&g->hdr->procs[i].state) != PROC_FREE &&
		    g->hdr->procs[i].nr_private_views)
			mask |= 1ULL << i;
	return mask;
}

static int fail(struct convert *c, int err, uint64_t error_offset)
{
	c->error_offset = error_offset;
	return err;
}

/* Other processes that revoked for a conversion that failed get views that
 * match the unchanged attributes back. */
static int fail_restore(struct convert *c, int err, uint64_t error_offset)
{
	if (c->revoked)
		peers_request(c->g->hdr, &c->g->space, c->g->views.slot,
			      PEER_SYNC, c->first, c->end, c->revoked, NULL,
			      NULL);
	return fail(c, err, error_offset);
}

/* Steps 6 and the no-op rule.  1: nothing to do. */
static int convert_check(struct convert *c)
{
	struct gmem *g = c->g;
	struct kvm_memory_attributes2 *a = c->a;
	enum launch_phase phase = (enum launch_phase)atomic_load(&g->hdr->phase);
	enum convert_dir dir = c->to_private ? DIR_TO_PRIVATE : DIR_TO_SHARED;

	if ((a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO) && c->to_private)
		return fail(c, -EOPNOTSUPP, a->offset);
	if (a->flags & ~abi_accepted_modes(gmem_abi(g), gmem_model(g), dir, phase))
		return fail(c, -EOPNOTSUPP, a->offset);
	if (rm_find(&g->space, &g->hdr->attrs, c->first, c->end, ~0ULL,
		    c->from) == c->end &&
	    !(a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO))
		return 1;
	c->effect = a->flags ? EFFECT_NONE
			     : abi_effect(gmem_abi(g), gmem_model(g), dir);
	return 0;
}

/* Step 8: what the bookkeeping needs, before anything changes. */
static int convert_reserve(struct convert *c)
{
	struct gmem *g = c->g;
	uint32_t nodes = RM_ASSIGN_NODES;

	if (g->hdr->inject_enomem) {
		g->hdr->inject_enomem--;
		return -ENOMEM;
	}
	if (c->to_private)
		nodes += RM_ASSIGN_NODES *
			 rm_count(&g->space, &g->hdr->pins, c->first, c->end);
	if (pool_available(&g->space) < nodes)
		return -ENOMEM;
	if (rm_reserve(c->attrs_res, &g->space, &g->hdr->attrs, c->first, c->end))
		return -ENOMEM;
	if (c->to_private &&
	    rm_reserve(c->pins_res, &g->space, &g->hdr->pins, c->first, c->end))
		return -ENOMEM;
	return 0;
}

static int convert_commit(struct convert *c)
{
	struct gmem *g = c->g;
	int r;

	CRASH_POINT(2);
	r = rm_assign_reserved(&g->space, &g->hdr->attrs, c->first, c->end,
			       c->want, c->attrs_res);
	if (r)
		return r;
	g->hdr->generation++;
	CRASH_POINT(3);
	return 0;
}

static int convert_to_private(struct convert *c)
{
	struct gmem *g = c->g;
	uint64_t at;
	int r;

	/* 7. revoke every other process's mappings, then check references */
	r = peers_request(g->hdr, &g->space, g->views.slot, PEER_REVOKE,
			  c->first, c->end, 0, &c->revoked, &at);
	if (r)
		return fail_restore(c, r, at << PAGE_SHIFT);
	CRASH_POINT(1);
	at = first_pinned(g, c->first, c->end);
	if (at < c->end)
		return fail_restore(c, -EAGAIN, at << PAGE_SHIFT);

	/* 8. bookkeeping */
	r = convert_reserve(c);
	if (r)
		return fail_restore(c, r, c->a->offset);

	/* our guests drop the pages before a byte changes (other processes'
	 * did for the revoke request); they cannot take them again before we
	 * unlock */
	gmem_guests_notify(g, c->first, c->end);
	/* our own views change with the attributes, as one step for this
	 * process's other threads (and its agent) */
	gmem_views_lock();
	r = views_revoke(&g->views, c->first, c->end);
	if (!r) {
		r = apply_effect(c);
		if (!r)
			r = drain_transient(c);
		if (!r)
			r = convert_commit(c);
		if (r)
			views_sync(&g->views, c->first, c->end);
		else	/* private views (a real guest's) take the pages in */
			views_sync_private(&g->views, c->first, c->end);
	}
	gmem_views_unlock();
	if (r)
		return fail_restore(c, r, c->a->offset);
	g->hdr->ctr.to_private++;
	if (gmem_private_view_slots(g))
		peers_request(g->hdr, &g->space, g->views.slot, PEER_SYNC,
			      c->first, c->end, gmem_private_view_slots(g),
			      NULL, NULL);
	return 0;
}

static int convert_to_shared(struct convert *c)
{
	struct gmem *g = c->g;
	struct content_target t;
	size_t pieces = 0;
	int r;

	/* to-shared checks no references */
	r = convert_reserve(c);
	if (r)
		return fail(c, r, c->a->offset);
	/* guests with private pages here -- ours, other processes' -- drop
	 * them before a byte changes: they cannot take them again before we
	 * unlock (a process that does not answer resyncs when it runs) */
	gmem_guests_notify(g, c->first, c->end);
	if (gmem_private_view_slots(g))
		peers_request(g->hdr, &g->space, g->views.slot, PEER_SYNC,
			      c->first, c->end, gmem_private_view_slots(g),
			      NULL, NULL);
	gmem_views_lock();
	r = views_private_revoke(&g->views, c->first, c->end);
	if (!r) {
		r = views_prepare_grant(&g->views, c->first, c->end, &pieces);
		if (!r && (c->a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)) {
			gmem_content_target(g, &t);
			r = content_zero(&t, c->first, c->end);
		} else if (!r) {
			r = apply_effect(c);
		}
		if (!r)
			r = views_grant(&g->views, c->first, c->end);
		if (!r)
			r = convert_commit(c);
		if (r)
			views_sync(&g->views, c->first, c->end);
	}
	gmem_views_unlock();
	if (r)
		return fail(c, r, c->a->offset);
	g->hdr->ctr.to_shared++;
	/* other processes' views reach the pages again before we return;
	 * one that does not answer resynchronises when it runs */
	peers_request(g->hdr, &g->space, g->views.slot, PEER_SYNC, c->first,
		      c->end, 0, NULL, NULL);
	return 0;
}

int gmem_convert(struct gmem *g, struct kvm_memory_attributes2 *a, int user_fd)
{
	struct convert c = {
		.g = g,
		.a = a,
		.first = a->offset >> PAGE_SHIFT,
		.end = (a->offset + a->size) >> PAGE_SHIFT,
		.to_private = a->attributes & PRIVATE,
	};
	int r;

	c.want = c.to_private ? PRIVATE : 0;
	c.from = c.to_private ? 0 : PRIVATE;
	c.attrs_res = &g->convert_res[0];
	c.pins_res = &g->convert_res[1];
	r = gmem_lock(g);
	if (r) {
		a->error_offset = a->offset;
		return r;
	}
	r = convert_check(&c);
	/* our descriptor, checked (and repaired) only when this conversion
	 * uses it: bytes to change, or views made of one mapping per extent */
	if (r == 0 && (c.effect != EFFECT_NONE ||
		       (a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO) ||
		       views_need_memfd(&g->views)))
		r = gmem_check_fd(g, user_fd);
	/* a view that needs the memfd on the way (its userfaultfd lost)
	 * repairs it from the caller's descriptor */
	g->views.caller_fd = user_fd;
	if (r == 0)
		r = c.to_private ? convert_to_private(&c) : convert_to_shared(&c);
	g->views.caller_fd = -1;
	if (r == -EOPNOTSUPP || r == -EAGAIN || r == -ENOMEM)
		a->error_offset = c.error_offset;
	if (r == -EAGAIN)
		g->hdr->ctr.eagain++;
	else if (r == -ENOMEM)
		g->hdr->ctr.enomem++;
	gmem_unlock(g);
	return r == 1 ? 0 : r;
}
