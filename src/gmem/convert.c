// SPDX-License-Identifier: MIT
/*
 * The conversion engine: KVM_SET_MEMORY_ATTRIBUTES2 on a gmem, from the
 * content-mode check (SPEC 6 step 6) on.  The uapi layer has done steps 1-5.
 * Everything is validated before anything changes; a step that can fail
 * after that (the view swaps) undoes itself.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
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

/* Does process pid still map this gmem's memfd?  (It may have exec()ed or
 * dropped its views without gmemu_munmap.) */
static bool proc_maps_gmem(struct gmem *g, pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true; /* cannot tell: assume it does */
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned int maj, min;
		unsigned long long ino;

		if (sscanf(line, "%*x-%*x %*s %*x %x:%x %llu", &maj, &min,
			   &ino) == 3 &&
		    ino == (unsigned long long)g->obj.ino &&
		    makedev(maj, min) == g->obj.dev)
			found = true;
	}
	fclose(f);
	return found;
}

/*
 * Until cross-process revocation exists, a to-private conversion may not
 * leave another live process able to read a page: report the first shared
 * page of the range that another process maps.
 */
static uint64_t others_first_mapped(struct gmem *g, uint64_t first,
				    uint64_t end)
{
	uint64_t best = end;
	int i;

	procs_reap(g);
	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &g->hdr->procs[i];
		uint64_t mine = end;
		uint32_t r;

		if (i == g->slot || atomic_load(&pr->state) == PROC_FREE)
			continue;
		for (r = pr->views; r; r = g->recs[r].left) {
			uint64_t lo = MAX(first, g->recs[r].key);
			uint64_t hi = MIN(end, g->recs[r].key +
						       g->recs[r].value);

			if (lo < hi)
				mine = MIN(mine, first_with_attr(g, lo, hi, 0));
		}
		if (mine < best && atomic_load(&pr->state) == PROC_LIVE &&
		    !proc_maps_gmem(g, pr->pid))
			continue; /* registered, but maps nothing any more */
		best = MIN(best, mine);
	}
	return best;
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
	uint64_t at;
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

	/* 7. revocation and references */
	if (to_private) {
		at = others_first_mapped(g, first, end);
		if (at < end)
			return fail(g, a, -EAGAIN, at << PAGE_SHIFT);
		at = first_pinned(g, first, end);
		if (at < end)
			return fail(g, a, -EAGAIN, at << PAGE_SHIFT);
	}

	/* 8. bookkeeping */
	if (g->hdr->inject_enomem) {
		g->hdr->inject_enomem--;
		return fail(g, a, -ENOMEM, a->offset);
	}
	nodes = RM_ASSIGN_NODES;
	if (to_private)
		nodes += RM_ASSIGN_NODES *
			 extents_in(g, &g->hdr->pins, first, end);
	if (pool_available(&g->space) < nodes)
		return fail(g, a, -ENOMEM, a->offset);

	effect = a->flags ? EFFECT_NONE : model_effect(model, profile, dir);
	if (to_private) {
		r = views_revoke(g, first, end);
		if (r)
			return fail(g, a, r, a->offset);
		apply_effect(g, effect, first, end, from);
		drain_transient(g, first, end);
		g->hdr->ctr.to_private++;
	} else {
		r = views_prepare_grant(g, first, end);
		if (r)
			return fail(g, a, r, a->offset);
		if (a->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
			content_zero(g, first, end);
		else
			apply_effect(g, effect, first, end, from);
		views_grant(g, first, end);
		g->hdr->ctr.to_shared++;
	}
	rm_assign(&g->space, &g->hdr->attrs, first, end, want);
	g->hdr->generation++;
	gmem_unlock(g);
	return 0;
}
