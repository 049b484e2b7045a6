// SPDX-License-Identifier: MIT
/*
 * What a conversion does to bytes, applied through the trusted view.  Only
 * allocated pages are touched (SEEK_DATA/SEEK_HOLE on the memfd): a page that
 * was never used stays a hole and reads zero whatever its conversions.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/random.h>
#include <unistd.h>

#include "../internal.h"

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t *w = (uint64_t *)p, state = seed;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		w[i] = splitmix64(&state);
}

/* XOR with a keystream of (VM key, page, conversion generation): looks like
 * ciphertext to the host and is never its own inverse across conversions. */
static void scramble(uint8_t *p, size_t len, uint64_t key, uint64_t page,
		     uint64_t generation)
{
	uint64_t *w = (uint64_t *)p, state = 0;
	size_t i, per_page = PAGE_SIZE / sizeof(*w);

	for (i = 0; i < len / sizeof(*w); i++) {
		if (i % per_page == 0)
			state = key ^ ((page + i / per_page) *
				       0xd6e8feb86659fd93ULL) ^
				(generation << 1);
		w[i] ^= splitmix64(&state);
	}
}

static void punch(struct gmem *g, uint64_t off, uint64_t len)
{
	fallocate(g->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, (off_t)off,
		  (off_t)len);
}

void content_apply(struct gmem *g, enum content_effect effect, uint64_t first,
		   uint64_t end)
{
	uint64_t pos = first << PAGE_SHIFT, stop = end << PAGE_SHIFT, seed = 0;

	if (effect == EFFECT_NONE)
		return;
	if (effect == EFFECT_RANDOM &&
	    getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = now_ns();
	while (pos < stop) {
		off_t data = lseek(g->fd, (off_t)pos, SEEK_DATA), hole;
		uint64_t lo, hi;

		if (data < 0 || (uint64_t)data >= stop)
			break;
		hole = lseek(g->fd, data, SEEK_HOLE);
		lo = (uint64_t)data;
		hi = hole < 0 ? stop : MIN((uint64_t)hole, stop);
		switch (effect) {
		case EFFECT_RANDOM:
			fill_random(g->base + lo, hi - lo, seed ^ lo);
			g->hdr->ctr.bytes_scrambled += hi - lo;
			break;
		case EFFECT_SCRAMBLE:
			scramble(g->base + lo, hi - lo, g->hdr->vm_key,
				 lo >> PAGE_SHIFT, g->hdr->generation);
			g->hdr->ctr.bytes_scrambled += hi - lo;
			break;
		case EFFECT_ZERO:
			punch(g, lo, hi - lo);
			g->hdr->ctr.bytes_zeroed += hi - lo;
			break;
		case EFFECT_NONE:
			break;
		}
		pos = hi;
	}
}

/* ZERO: every byte of the range reads 0 afterwards, for everyone. */
void content_zero(struct gmem *g, uint64_t first, uint64_t end)
{
	uint64_t off = first << PAGE_SHIFT, len = (end - first) << PAGE_SHIFT;

	punch(g, off, len);
	g->hdr->ctr.bytes_zeroed += len;
}
