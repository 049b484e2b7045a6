/* SPDX-License-Identifier: MIT */
/*
 * What a conversion does to bytes, applied through the trusted view.  Only
 * allocated pages are touched: a page that was never used stays a hole and
 * reads zero whatever its conversions.
 */
#ifndef GMEMU_GMEM_CONTENT_H
#define GMEMU_GMEM_CONTENT_H

#include "../model/model.h"
#include "layout.h"

struct content_target {
	uint8_t *base;             /* the trusted view of the gmem */
	int memfd;                 /* checked by the owner */
	const uint8_t *key;        /* 64 bytes: the cipher's per-VM key */
	struct gmem_counters *ctr;
};

/* The platform's flags = 0 effect on pages [first, end) (all changing
 * state).  -errno with nothing changed when the effect cannot start. */
HIDDEN int content_apply(const struct content_target *t,
			 enum content_effect effect, enum convert_dir dir,
			 uint64_t first, uint64_t end);
/* ZERO: every byte of the range reads 0 afterwards, for everyone. */
HIDDEN int content_zero(const struct content_target *t, uint64_t first,
			uint64_t end);

#endif
