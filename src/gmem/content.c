// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#include "../base/sys.h"
#include "content.h"

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

/*
 * The SNP-like model's memory encryption: AES-256-XTS with the VM's key,
 * tweaked by the page's offset, as the hardware's cipher is tweaked by the
 * physical address.  To shared, the host sees the private plaintext
 * encrypted; to private, the guest sees the host's bytes decrypted.  Known
 * plaintext does not give the key away.
 */
static int cipher_pages(EVP_CIPHER_CTX *ctx, const uint8_t *key, uint8_t *p,
			uint64_t first_page, uint64_t npages, bool encrypt)
{
	uint64_t i;
	int outl;

	for (i = 0; i < npages; i++) {
		uint8_t tweak[16] = { 0 }, *page = p + (i << PAGE_SHIFT);
		uint64_t pg = first_page + i;
		int b;

		for (b = 0; b < 8; b++)
			tweak[b] = (uint8_t)(pg >> (8 * b));
		if (!EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), NULL, key, tweak,
				       encrypt) ||
		    !EVP_CipherUpdate(ctx, page, &outl, page, (int)PAGE_SIZE))
			return -EIO;
	}
	return 0;
}

static int punch(const struct content_target *t, uint64_t off, uint64_t len)
{
	return sys_fallocate(t->memfd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			     (off_t)off, (off_t)len);
}

int content_apply(const struct content_target *t, enum content_effect effect,
		  enum convert_dir dir, uint64_t first, uint64_t end)
{
	uint64_t pos = first << PAGE_SHIFT, stop = end << PAGE_SHIFT, seed = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	int r = 0;

	if (effect == EFFECT_NONE)
		return 0;
	if (effect == EFFECT_RANDOM &&
	    getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = now_ns();
	if (effect == EFFECT_CIPHER) {
		ctx = EVP_CIPHER_CTX_new();
		if (!ctx)
			return -ENOMEM;
	}
	while (pos < stop) {
		off_t data = sys_lseek(t->memfd, (off_t)pos, SEEK_DATA), hole;
		uint64_t lo, hi;

		if (data == -ENXIO)
			break;
		if (data < 0) {
			r = (int)data;
			break;
		}
		if ((uint64_t)data >= stop)
			break;
		hole = sys_lseek(t->memfd, data, SEEK_HOLE);
		lo = (uint64_t)data;
		hi = hole < 0 ? stop : MIN((uint64_t)hole, stop);
		switch (effect) {
		case EFFECT_RANDOM:
			fill_random(t->base + lo, hi - lo, seed ^ lo);
			t->ctr->bytes_scrambled += hi - lo;
			break;
		case EFFECT_CIPHER:
			r = cipher_pages(ctx, t->key, t->base + lo,
					 lo >> PAGE_SHIFT, (hi - lo) >> PAGE_SHIFT,
					 dir == DIR_TO_SHARED);
			t->ctr->bytes_scrambled += hi - lo;
			break;
		case EFFECT_ZERO:
			r = punch(t, lo, hi - lo);
			t->ctr->bytes_zeroed += hi - lo;
			break;
		case EFFECT_NONE:
			break;
		}
		if (r)
			break;
		pos = hi;
	}
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/*
 * Does the trusted view map bytes [lo, hi) already?  ZERO is a memset
 * there, at the memory's speed when it does; when it does not, one
 * MADV_POPULATE_WRITE maps them without a fault per page.  Populating what
 * is mapped still walks every entry (about a fifth of the memset), so a
 * sample of the range is looked up first in /proc/self/pagemap (a wrong
 * guess costs speed, never correctness: memset faults in what is missing).
 */
static bool trusted_mapped(const uint8_t *base, uint64_t lo, uint64_t hi)
{
	uint64_t pages = (hi - lo) >> PAGE_SHIFT, i, step, e;
	bool mapped = true;
	int fd;

	if (pages < 512)
		return false; /* populating a short run costs little */
	fd = sys_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return false;
	step = pages / 32;
	for (i = 0; i < pages && mapped; i += step) {
		uint64_t page = ((uintptr_t)base + lo) / PAGE_SIZE + i;

		mapped = sys_pread(fd, &e, sizeof(e), (off_t)(page * sizeof(e))) ==
				 sizeof(e) &&
			 (e >> 63);
	}
	sys_close(fd);
	return mapped;
}

/*
 * ZERO clears the allocated pages in place, through the trusted view: at
 * memset speed when that view maps them (gmemu allocates pages through it,
 * and it stays populated afterwards), and every host view in every process
 * keeps its PTEs.  Holes already read zero and stay holes.
 */
int content_zero(const struct content_target *t, uint64_t first, uint64_t end)
{
	uint64_t pos = first << PAGE_SHIFT, stop = end << PAGE_SHIFT;

	while (pos < stop) {
		off_t data = sys_lseek(t->memfd, (off_t)pos, SEEK_DATA), hole;
		uint64_t lo, hi;

		if (data == -ENXIO)
			break;
		if (data < 0)
			return (int)data;
		if ((uint64_t)data >= stop)
			break;
		hole = sys_lseek(t->memfd, data, SEEK_HOLE);
		lo = (uint64_t)data;
		hi = hole < 0 ? stop : MIN((uint64_t)hole, stop);
		/* one call maps what is not mapped yet, instead of a fault per
		 * page (an older kernel without it: the faults) */
		if (!trusted_mapped(t->base, lo, hi))
			sys_madvise(t->base + lo, hi - lo, MADV_POPULATE_WRITE);
		memset(t->base + lo, 0, hi - lo);
		pos = hi;
	}
	t->ctr->bytes_zeroed += stop - (first << PAGE_SHIFT);
	return 0;
}
