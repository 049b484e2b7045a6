// SPDX-License-Identifier: MIT
/*
 * Pins: the user-space analogue of elevated page references (GUP pins, the
 * lru_add batch).  A pinned page makes to-private conversion fail EAGAIN.
 */
#include <errno.h>

#include "gmem_priv.h"

static int range_check(struct gmem *g, uint64_t offset, uint64_t len)
{
	if (!len || !PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len) ||
	    offset + len < offset || offset + len > g->size)
		return -EINVAL;
	return 0;
}

static bool range_shared(struct gmem *g, uint64_t first, uint64_t end)
{
	return rm_find(&g->space, &g->hdr->attrs, first, end, ~0ULL, PRIVATE) ==
	       end;
}

/*
 * Add delta (+1/-1) to the long-term pin count of every page of the range.
 * Pinning needs shared pages (EFAULT, as GUP on a page that cannot be
 * faulted in); unpinning a page that is not pinned is EINVAL.  All or
 * nothing.
 */
int gmem_pin(struct gmem *g, uint64_t offset, uint64_t len, int delta)
{
	struct rangemap *pins = &g->hdr->pins;
	uint64_t first = offset >> PAGE_SHIFT, end, p, next;
	struct rm_reserve res = { 0 };
	uint32_t pieces = 0;
	int r = range_check(g, offset, len);

	if (r)
		return r;
	end = first + (len >> PAGE_SHIFT);
	r = gmem_lock(g);
	if (r)
		return r;
	if (delta > 0 && !range_shared(g, first, end)) {
		r = -EFAULT;
		goto out;
	}
	for (p = first; p < end; p = next, pieces++) {
		uint64_t v = rm_get(&g->space, pins, p, &next);

		if (delta < 0 && (uint32_t)v == 0) {
			r = -EINVAL;
			goto out;
		}
		if (delta > 0 && (uint32_t)v == UINT32_MAX) {
			r = -EOVERFLOW;
			goto out;
		}
	}
	if (pool_available(&g->space) < pieces * RM_ASSIGN_NODES ||
	    rm_reserve(&res, &g->space, pins, first, end)) {
		r = -ENOMEM;
		goto out;
	}
	for (p = first; p < end && !r; p = next) {
		uint64_t v = rm_get(&g->space, pins, p, &next);

		next = MIN(next, end);
		r = rm_assign_reserved(&g->space, pins, p, next,
				       (uint64_t)((int64_t)v + delta), &res);
	}
out:
	gmem_unlock(g);
	rm_reserve_free(&res);
	return r;
}

int gmem_pin_transient(struct gmem *g, uint64_t offset)
{
	uint64_t page = offset >> PAGE_SHIFT, v;
	int r = range_check(g, offset, PAGE_SIZE);

	if (r)
		return r;
	r = gmem_lock(g);
	if (r)
		return r;
	if (!range_shared(g, page, page + 1)) {
		r = -EFAULT;
		goto out;
	}
	v = rm_get(&g->space, &g->hdr->pins, page, NULL);
	if ((v >> 32) == UINT32_MAX)
		r = -EOVERFLOW;
	else
		r = rm_assign(&g->space, &g->hdr->pins, page, page + 1,
			      v + (1ULL << 32));
out:
	gmem_unlock(g);
	return r;
}
