/* SPDX-License-Identifier: MIT */
/*
 * What every module uses: visibility, page arithmetic, small helpers.
 * The bottom of the house: includes nothing of the project's but the public
 * header.
 */
#ifndef GMEMU_BASE_COMMON_H
#define GMEMU_BASE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gmemu.h"

#define HIDDEN __attribute__((visibility("hidden")))

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_ALIGNED(x) (((uint64_t)(x) & (PAGE_SIZE - 1)) == 0)
#define PAGE_DOWN(x) ((uint64_t)(x) & ~(uint64_t)(PAGE_SIZE - 1))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define unlikely(x) __builtin_expect(!!(x), 0)

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Test builds (the internal archive that white-box tests and benchmarks
 * link) can make chosen allocation points fail and a converter die at a
 * chosen point; the released library has neither.
 */
#ifdef GMEMU_TESTING
HIDDEN bool fault_hit(const char *site);
#define FAULT_INJECT(site) fault_hit(site)
/* Every allocation of the library is also the site "alloc": a test can
 * fail the nth one and check that the call it was part of fails ENOMEM
 * with nothing changed. */
HIDDEN void *testing_malloc(size_t n);
HIDDEN void *testing_calloc(size_t n, size_t size);
HIDDEN void *testing_realloc(void *p, size_t n);
HIDDEN void *testing_aligned_alloc(size_t align, size_t n);
#define malloc(n) testing_malloc(n)
#define calloc(n, s) testing_calloc(n, s)
#define realloc(p, n) testing_realloc(p, n)
#define aligned_alloc(a, n) testing_aligned_alloc(a, n)
#else
#define FAULT_INJECT(site) false
#endif

#endif /* GMEMU_BASE_COMMON_H */
