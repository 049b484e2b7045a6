// SPDX-License-Identifier: MIT
/*
 * The differential fuzzer, seeded: random call sequences run on gmemu and on
 * the reference model of the contract (tests/fuzz/refmodel.c) must agree on
 * every result, errno, error_offset, exit, attribute and byte.  Bounded by
 * GMEMU_FUZZ_SECONDS (default 6); GMEMU_FUZZ_SEED=N replays one input with
 * every call printed.  `make fuzz` runs it (or libFuzzer) for longer.  The
 * summary counts the KVM_RUN calls made on the emulated backend (none,
 * with the reason, where it cannot run).
 */
#include <time.h>

#include "harness.h"
#include "fuzz/diffops.h"

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* one input of the seed: 64 to 2048 bytes */
static size_t input_of(uint64_t seed, uint8_t *buf, size_t cap)
{
	uint64_t s = seed;
	size_t n = 64 + splitmix(&s) % (cap - 64), i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)splitmix(&s);
	return n;
}

TEST(gmemu_agrees_with_the_reference_model)
{
	static uint8_t buf[2048];
	const char *e = getenv("GMEMU_FUZZ_SECONDS"), *replay = getenv("GMEMU_FUZZ_SEED");
	double seconds = e ? atof(e) : 6, t0 = now_s();
	uint64_t seed, runs = 0, bytes = 0, base = (uint64_t)time(NULL) * 1000003u;
	unsigned long ops, calls, noops;

	if (replay) {
		seed = strtoull(replay, NULL, 0);
		CHECK_EQ(diff_run(buf, input_of(seed, buf, sizeof(buf)), 1), 0);
		return;
	}
	test_timeout_s = (int)seconds + 60;
	alarm((unsigned int)test_timeout_s);
	/* a fixed prefix of seeds every run, then new ones */
	for (seed = 1; now_s() - t0 < seconds; seed++, runs++) {
		uint64_t s = seed <= 200 ? seed : base + seed;
		size_t n = input_of(s, buf, sizeof(buf));

		bytes += n;
		if (diff_run(buf, n, 0))
			FAIL("seed %#llx: replay with GMEMU_FUZZ_SEED=%#llx",
			     (unsigned long long)s, (unsigned long long)s);
	}
	diff_run_stats(&ops, &calls, &noops);
	printf("# %llu inputs (%llu bytes of calls) agreed in %.1f s; "
	       "%lu KVM_RUN ops (%lu KVM_RUN calls) on the emulated backend",
	       (unsigned long long)runs, (unsigned long long)bytes, now_s() - t0,
	       ops, calls);
	if (noops)
		printf(", %lu not made: it cannot run here (%s)", noops,
		       gmemu_vcpu_backend_unavailable("emulated"));
	printf("\n");
	CHECK(runs > 50);
}
