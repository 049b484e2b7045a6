// SPDX-License-Identifier: MIT
/*
 * Scaling and memory: one-page conversion latency on a 1 GiB gmem against
 * a 1 TiB sparse one, and with 1, 1 000 and 100 000 existing extents; the
 * "is this page private" lookup with 100 000 extents; metadata bytes per
 * extent and per gmem, from the record pool's own counts.
 */
#include <stdbool.h>
#include <sys/mman.h>

#include "bench.h"
#include "gmem/gmem_priv.h"
#include "uapi/object.h"

#define N 20000

static void convert(int g, uint64_t off, bool priv)
{
	struct kvm_memory_attributes2 a = {
		.offset = off, .size = PAGE,
		.attributes = priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};

	if (gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, &a)) {
		perror("KVM_SET_MEMORY_ATTRIBUTES2");
		exit(1);
	}
}

/* One page to private and back, with a 64-page view over it, at off. */
static struct stats one_page(int g, uint64_t off)
{
	static double t[N];
	uint8_t *v = gmemu_mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
				MAP_SHARED, g, (off_t)(off - 32 * PAGE));
	int i;

	for (i = 0; i < 64; i++)
		v[i * PAGE] = 1;
	for (i = 0; i < N; i++) {
		double t0 = bench_now_ns();

		convert(g, off, true);
		convert(g, off, false);
		t[i] = bench_now_ns() - t0;
	}
	gmemu_munmap(v, 64 * PAGE);
	return stats_of(t, N);
}

/* Alternate pages private in [0, 2 * (extents / 2) pages): ~extents extents. */
static void make_extents(int g, unsigned int extents)
{
	unsigned int p;

	for (p = 1; p + 1 < extents; p += 2)
		convert(g, (uint64_t)p * PAGE, true);
}

int main(void)
{
	struct gmemu_gmem_info info = { .sz = sizeof(info) }, fresh = info;
	struct stats s1g, s1t, e1, e1k, e100k, lookup;
	double batch[21];
	uint64_t *pages, sink = 0;
	int g1, g2, g3, i, b;

	bench_open();

	g1 = bench_new_gmem(1ULL << 30);
	g2 = bench_new_gmem(1ULL << 40);
	s1g = one_page(g1, 512 * PAGE);
	s1t = one_page(g2, (1ULL << 40) - 512 * PAGE);
	bench_report("1-page convert, 1 TiB sparse gmem", s1t,
		     "  baseline: 1 GiB gmem", s1g, 1.2, "<= 1.2x");

	g3 = bench_new_gmem(1ULL << 32);
	gmemu_gmem_info(g3, &fresh);
	e1 = one_page(g3, (1ULL << 31));
	make_extents(g3, 1000);
	e1k = one_page(g3, (1ULL << 31));
	make_extents(g3, 100000);
	gmemu_gmem_info(g3, &info);
	e100k = one_page(g3, (1ULL << 31));
	bench_report("1-page convert, 1 000 extents", e1k,
		     "  baseline: 1 extent", e1, 0, "");
	bench_report("1-page convert, 100 000 extents", e100k,
		     "  baseline: 1 extent", e1, 2.0, "<= 2.0x");

	/* lookup: the software vCPU's and the engine's question */
	{
		struct gmem *g;
		struct object *o;
		enum { LOOKUPS = 1 << 20 };

		if (obj_lookup(g3, &o) != 1)
			return 1;
		g = o->gmem;
		pages = malloc(LOOKUPS * sizeof(*pages));
		srand(7);
		for (i = 0; i < LOOKUPS; i++)
			pages[i] = (uint64_t)rand() % 100000;
		/* the tree alone, for the record */
		{
			double t0 = bench_now_ns();

			for (i = 0; i < LOOKUPS; i++)
				sink += rm_get(&g->space, &g->hdr->attrs, pages[i], NULL);
			printf("%-44s %10.1fns\n", "  tree walk alone (per lookup)",
			       (bench_now_ns() - t0) / LOOKUPS);
		}
		for (b = 0; b < 21; b++) {
			double t0 = bench_now_ns();

			for (i = 0; i < LOOKUPS; i++)
				sink += rm_get_indexed(&g->space, &g->hdr->attrs,
						       &g->attr_index, pages[i], NULL);
			batch[b] = (bench_now_ns() - t0) / LOOKUPS;
		}
		obj_put(o);
		free(pages);
		lookup = stats_of(batch, 21);
		printf("%-44s %10.1fns %10.1fns %10.1fns %10s %s (%s)\n",
		       "lookup, 100 000 extents (per lookup)", lookup.median,
		       lookup.p99, lookup.min, "",
		       lookup.median <= 100 ? "<= 100 ns (met)" : "<= 100 ns (MISSED)",
		       sink ? "checked" : "?");
		if (bench_json)
			fprintf(bench_json,
				"{\"figure\":\"lookup 100000 extents\",\"median_ns\":%.1f,"
				"\"p99_ns\":%.1f,\"min_ns\":%.1f,\"target_ns\":100,\"met\":%s}\n",
				lookup.median, lookup.p99, lookup.min,
				lookup.median <= 100 ? "true" : "false");
	}

	/* memory, from the pool's own counts */
	{
		double per_extent = (double)(info.meta_bytes - fresh.meta_bytes) /
				    (double)(info.nr_extents - fresh.nr_extents);

		printf("%-44s %10.1f B %s\n", "metadata per extent", per_extent,
		       per_extent <= 64 ? "<= 64 B (met)" : "<= 64 B (MISSED)");
		printf("%-44s %10llu B %s\n", "metadata of a fresh gmem",
		       (unsigned long long)fresh.meta_bytes,
		       fresh.meta_bytes <= 65536 ? "<= 64 KiB (met)"
						 : "<= 64 KiB (MISSED)");
		printf("%-44s %10u\n", "extents at the 100 000 figure",
		       info.nr_extents);
		if (bench_json)
			fprintf(bench_json,
				"{\"figure\":\"metadata bytes per extent\",\"value\":%.1f,"
				"\"target\":64,\"met\":%s}\n"
				"{\"figure\":\"metadata bytes per fresh gmem\",\"value\":%llu,"
				"\"target\":65536,\"met\":%s}\n",
				per_extent, per_extent <= 64 ? "true" : "false",
				(unsigned long long)fresh.meta_bytes,
				fresh.meta_bytes <= 65536 ? "true" : "false");
	}
	return 0;
}
