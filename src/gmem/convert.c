// SPDX-License-Identifier: MIT
/*
 * The conversion engine: KVM_SET_MEMORY_ATTRIBUTES2 on a gmem, from the
 * content-mode check (SPEC 6 step 6) on.  The uapi layer has done steps 1-5.
 * Everything is validated before anything changes; a step that can fail
 * after that (the view swaps) undoes itself.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../internal.h"

#define PRIVATE KVM_MEMORY_ATTRIBUTE_PRIVATE

/* First page of [first, end) whose attribute is attr, or end. */
static uint64_t first_with_attr(struct gmem *g, uint64_t first, uint64_t end,
				uint64_t attr)
{
	uint64_t p, next;

	for (p = first; p < end; p = next)
		if (rm_get(&g->space, &g->hdr->attrs, p, &next) == attr)
			return p;
	return end;
}

/* First page of the range with a long-term pin, or end. */
static uint64_t first_pinned(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t p, next;

	for (p = first; p < end; p = next)
		if ((uint32_t)rm_get(&g->space, &g->hdr->pins, p, &next))
			return MAX(p, first);
	return end;
}

static uint32_t extents_in(struct gmem *g, const struct rangemap *m,
			   uint64_t first, uint64_t end)
{
	uint64_t p, next;
	uint32_t n = 0;

	for (p = first; p < end; p = next, n++)
		rm_get(&g->space, m, p, &next);
	return n;
}

/* The lru_add drain: transient references in the range go away. */
static void drain_transient(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t p, next;

	for (p = first; p < end; p = next) {
		uint64_t v = rm_get(&g->space, &g->hdr->pins, p, &next);

		next = MIN(next, end);
		if (v >> 32)
			rm_assign(&g->space, &g->hdr->pins, p, next, (uint32_t)v);
	}
}

/* Apply the platform's flags = 0 effect to the pages changing state. */
static void apply_effect(struct gmem *g, enum content_effect effect,
			 uint64_t first, uint64_t end, uint64_t from_attr)
{
	uint64_t p, next;

	if (effect == EFFECT_NONE)
		return;
	for (p = first; p < end; p = next) {
		uint64_t a = rm_get(&g->space, &g->hdr->attrs, p, &next);

		next = MIN(next, end);
		if (a == from_attr)
			content_apply(g, effect, p, next);
	}
}

static int fail(struct gmem *g, struct kvm_memory_attributes2 *a, int err,
		uint64_t error_offset)
{
	a->error_offset = error_offset;
	if (err == -EAGAIN)
		g->hdr->ctr.eagain++;
	else if (err == -ENOMEM)
		g->hdr->ctr.enomem++;
	gmem_unlock(g);
	return err;
}

/* Slots of processes with private views (a real guest's private ranges). */
static uint64_t private_view_slots(struct gmem *g)
{
	uint64_t mask = 0;
	int i;

	for (i = 0; i < GMEM_MAX_PROCS; i++)
		if (i != g->slot && atomic_load(&g->hdr->procs[i].state) != PROC_FREE &&
		    g->hdr->procs[i].nr_private_views)
			mask |= 1ULL << i;
	return mask;
}

/* A to-private conversion failed after other processes may have revoked:
 * give them back views that match the unchanged attributes. */
static int fail_restore(struct gmem *g, struct kvm_memory_attributes2 *a,
			int err, uint64_t error_offset, uint64_t first,
			uint64_t end, uint64_t revoked)
{
	if (revoked)
		peers_request(g, PEER_SYNC, first, end, revoked, NULL, NULL);
	return fail(g, a, err, error_offset);
}

/* Tests make a converter die at a chosen point (see t_crash). */
int gmem_crash_point;

static void crash_point(int point)
{
	if (gmem_crash_point == point)
		raise(SIGKILL);
}

int gmem_convert(struct gmem *g, struct kvm_memory_attributes2 *a)
{
	const struct platform_model *model = model_find(g->hdr->vm_type);
	enum abi_profile profile = (enum abi_profile)g->hdr->profile;
	uint64_t first = a->offset >> PAGE_SHIFT;
	uint64_t end = first + (a->size >> PAGE_SHIFT);
	bool to_private = a->attributes & PRIVATE;
	enum convert_dir dir = to_private ? DIR_TO_PRIVATE : DIR_TO_SHARED;
	uint64_t want = to_private ? PRIVATE : 0, from = to_private ? 0 : PRIVATE;
	enum content_effect effect;
	enum launch_phase phase;
	uint64_t at, revoked = 0;
	uint32_t nodes;
	int r;

	r = gmem_lock(g);
	if (r)
		return r;
	phase = (enum launch_phase)atomic_load(&g->hdr->phase);

	/* 6. content modes */
	if ((a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO) && to_private)
		return fail(g, a, -EOPNOTSUPP, a->offset);
	if (a->flags & ~model_accepted_modes(model, profile, dir, phase))
		return fail(g, a, -EOPNOTSUPP, a->offset);

	if (first_with_attr(g, first, end, from) == end &&
	    !(a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)) {
		gmem_unlock(g);
		return 0;
	}

	/* 7. revoke every other process's mappings, then check references */
	if (to_private) {
		r = peers_request(g, PEER_REVOKE, first, end, 0, &revoked, &at);
		if (r)
			return fail_restore(g, a, r, at << PAGE_SHIFT, first, end,
					    revoked);
		crash_point(1);
		at = first_pinned(g, first, end);
		if (at < end)
			return fail_restore(g, a, -EAGAIN, at << PAGE_SHIFT,
					    first, end, revoked);
	}

	/* 8. bookkeeping */
	if (g->hdr->inject_enomem) {
		g->hdr->inject_enomem--;
		return fail_restore(g, a, -ENOMEM, a->offset, first, end,
				    revoked);
	}
	nodes = RM_ASSIGN_NODES;
	if (to_private)
		nodes += RM_ASSIGN_NODES *
			 extents_in(g, &g->hdr->pins, first, end);
	if (pool_available(&g->space) < nodes)
		return fail_restore(g, a, -ENOMEM, a->offset, first, end,
				    revoked);

	effect = a->flags ? EFFECT_NONE : model_effect(model, profile, dir);
	if (to_private) {
		r = views_revoke(g, first, end);
		if (r)
			return fail_restore(g, a, r, a->offset, first, end,
					    revoked);
		apply_effect(g, effect, first, end, from);
		drain_transient(g, first, end);
		g->hdr->ctr.to_private++;
	} else {
		r = views_private_revoke(g, first, end);
		if (r)
			return fail(g, a, r, a->offset);
		r = views_prepare_grant(g, first, end);
		if (r) {
			views_sync(g, first, end);
			return fail(g, a, r, a->offset);
		}
		if (a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
			content_zero(g, first, end);
		else
			apply_effect(g, effect, first, end, from);
		views_grant(g, first, end);
		g->hdr->ctr.to_shared++;
	}
	crash_point(2);
	rm_assign(&g->space, &g->hdr->attrs, first, end, want);
	g->hdr->generation++;
	crash_point(3);
	/* Other processes' views reach the pages again before we return; one
	 * that does not answer resynchronises when it runs.  After to-private,
	 * private views (a real guest's) take the pages in. */
	if (!to_private) {
		peers_request(g, PEER_SYNC, first, end, 0, NULL, NULL);
	} else {
		views_sync_private(g, first, end);
		if (private_view_slots(g))
			peers_request(g, PEER_SYNC, first, end,
				      private_view_slots(g), NULL, NULL);
	}
	gmem_unlock(g);
	return 0;
}
