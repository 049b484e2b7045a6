// SPDX-License-Identifier: MIT
/*
 * A gmem's launch state: which pages launch populated (a page is populated
 * at most once on models that enforce launch), and what finalize does to
 * private pages that were never populated on those models -- the guest
 * never reads the host's plaintext there (SNP-like: garbage; TDX-like:
 * zeros).
 */
#include <errno.h>

#include "gmem_priv.h"

bool gmem_page_populated(struct gmem *g, uint64_t offset)
{
	gmem_assert_locked(g);
	return rm_get(&g->space, &g->hdr->populated, offset >> PAGE_SHIFT,
		      NULL) != 0;
}

int gmem_mark_populated(struct gmem *g, uint64_t offset, uint64_t len)
{
	return gmem_mark_populated_reserved(g, offset, len, NULL);
}

int gmem_populate_reserve(struct gmem *g, unsigned int nmarks,
			  struct rm_reserve *res)
{
	gmem_assert_locked(g);
	if (pool_available(&g->space) < (uint64_t)nmarks * RM_ASSIGN_NODES)
		return -ENOMEM;
	return rm_reserve(res, &g->space, &g->hdr->populated, 0, g->npages);
}

int gmem_mark_populated_reserved(struct gmem *g, uint64_t offset, uint64_t len,
				 struct rm_reserve *res)
{
	uint64_t first = offset >> PAGE_SHIFT, end = first + (len >> PAGE_SHIFT);
	int r;

	gmem_assert_locked(g);
	if (!res && pool_available(&g->space) < RM_ASSIGN_NODES)
		return -ENOMEM;
	r = rm_assign_reserved(&g->space, &g->hdr->populated, first, end, 1,
			       res);
	if (!r)
		g->hdr->ctr.populated_pages += end - first;
	return r;
}

int gmem_launch_seal(struct gmem *g)
{
	const struct platform_model *m = gmem_model(g);
	struct content_target t;
	uint64_t p, next, end = g->npages;
	int fd, r = 0;

	gmem_assert_locked(g);
	if (!m || !m->launch_enforced || m->unpopulated_effect == EFFECT_NONE)
		return 0;
	fd = gmem_fd(g);
	if (fd < 0)
		return fd;
	gmem_content_target(g, &t);
	for (p = 0; p < end && !r; p = next) {
		uint64_t a = rm_get(&g->space, &g->hdr->attrs, p, &next);
		uint64_t q, qnext;

		next = MIN(next, end);
		if (a != PRIVATE)
			continue;
		for (q = p; q < next && !r; q = qnext) {
			uint64_t pop = rm_get(&g->space, &g->hdr->populated, q,
					      &qnext);

			qnext = MIN(qnext, next);
			if (!pop)
				r = content_apply(&t, m->unpopulated_effect,
						  DIR_TO_PRIVATE, q, qnext);
		}
	}
	return r;
}
