// SPDX-License-Identifier: MIT
/*
 * Per-page precision of conversions (the kernel selftests' indexing and
 * precision cases), conversion before allocation, hole punch keeping
 * attributes, and extent bookkeeping.
 */
#include <linux/falloc.h>

#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define PUNCH (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)

static int new_gmem(unsigned long type, uint64_t size, uint64_t flags)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, type);

	return create_gmem(vm, size, flags);
}

/* Convert page t of 4, for every t, from both initial states. */
TEST(indexing_every_page_of_four)
{
	int t, p, init;

	for (init = 0; init < 2; init++) {
		for (t = 0; t < 4; t++) {
			bool start_private = init == 1;
			int g = new_gmem(GMEMU_VM_PKVM, 4 * PAGE,
					 start_private ? GUEST_MEMFD_FLAG_MMAP : SHARED);
			uint8_t *v = map_gmem(g, 4 * PAGE, 0);

			for (p = 0; p < 4; p++) {
				if (start_private)
					guest_fill(g, p * PAGE, 0x10 + p, PAGE);
				else
					memset(v + p * PAGE, 0x10 + p, PAGE);
			}
			CHECK_CONVERT(g, t * PAGE, PAGE, !start_private, PRESERVE);
			for (p = 0; p < 4; p++) {
				bool priv = (p == t) != start_private;

				CHECK_EQ(is_private(g, p * PAGE), priv);
				if (priv) {
					CHECK_SIGBUS_READ(v + p * PAGE);
					CHECK(guest_all(g, p * PAGE, 0x10 + p, PAGE));
				} else {
					CHECK_EQ(v[p * PAGE], 0x10 + p);
					CHECK_EQ(v[p * PAGE + PAGE - 1], 0x10 + p);
				}
			}
			/* and back */
			CHECK_CONVERT(g, t * PAGE, PAGE, start_private, PRESERVE);
			for (p = 0; p < 4; p++)
				CHECK_EQ(is_private(g, p * PAGE), start_private);
		}
	}
}

TEST(conversion_before_allocation)
{
	int g = new_gmem(KVM_X86_SW_PROTECTED_VM, 4 * PAGE, SHARED);
	uint8_t *v;

	/* never touched, converted, then first used */
	CHECK_CONVERT(g, PAGE, PAGE, true, 0);
	CHECK(!page_allocated(g, PAGE));
	v = map_gmem(g, 4 * PAGE, 0);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK(guest_all(g, PAGE, 0, PAGE));
	guest_fill(g, PAGE, 0x21, PAGE);
	CHECK_CONVERT(g, PAGE, PAGE, false, PRESERVE);
	CHECK_EQ(v[PAGE], 0x21);

	/* the other way: private from creation, shared before first use */
	g = new_gmem(KVM_X86_SW_PROTECTED_VM, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP);
	CHECK_CONVERT(g, 2 * PAGE, PAGE, false, 0);
	v = map_gmem(g, 4 * PAGE, 0);
	CHECK_EQ(v[2 * PAGE], 0);
	v[2 * PAGE] = 9;
	CHECK_SIGBUS_READ(v + PAGE);
}

TEST(punch_keeps_attributes)
{
	int g = new_gmem(KVM_X86_SW_PROTECTED_VM, 4 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);
	int p;

	memset(v, 0x31, 4 * PAGE);
	CHECK_CONVERT(g, 0, 2 * PAGE, true, PRESERVE);
	CHECK_OK(gmemu_fallocate(g, PUNCH, 0, 4 * PAGE));
	for (p = 0; p < 4; p++)
		CHECK_EQ(is_private(g, p * PAGE), p < 2);
	/* a private page reads 0 to the guest after the host punched it */
	CHECK(guest_all(g, 0, 0, 2 * PAGE));
	CHECK_SIGBUS_READ(v);
	CHECK_EQ(v[2 * PAGE], 0);
	/* and a conversion after the punch still works both ways */
	CHECK_CONVERT(g, 0, 2 * PAGE, false, PRESERVE);
	CHECK_EQ(v[0], 0);
}

TEST(extents_merge_and_split)
{
	int g = new_gmem(KVM_X86_SW_PROTECTED_VM, 64 * PAGE, SHARED);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	int p;

	for (p = 1; p < 64; p += 2)
		CHECK_CONVERT(g, p * PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_extents, 64);
	for (p = 0; p < 64; p++)
		CHECK_EQ(is_private(g, p * PAGE), p & 1);
	/* filling the gaps merges everything into one extent */
	for (p = 0; p < 64; p += 2)
		CHECK_CONVERT(g, p * PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_extents, 1);
	CHECK_CONVERT(g, 8 * PAGE, 48 * PAGE, false, 0);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_extents, 3);
	CHECK(is_private(g, 7 * PAGE));
	CHECK(!is_private(g, 8 * PAGE));
	CHECK(!is_private(g, 55 * PAGE));
	CHECK(is_private(g, 56 * PAGE));
	CHECK_CONVERT(g, 0, 64 * PAGE, false, 0);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_extents, 1);
}

/* Random conversions against a per-page model of the attributes. */
TEST(random_conversions_match_a_page_model)
{
	enum { N = 512 };
	int g = new_gmem(GMEMU_VM_PKVM, N * PAGE, SHARED);
	uint8_t *v = map_gmem(g, N * PAGE, 0);
	bool model[N] = { false };
	uint32_t seed = 12345;
	int i, p;

	for (i = 0; i < 2000; i++) {
		uint32_t a, len;
		bool priv;

		seed = seed * 1103515245 + 12345;
		a = (seed >> 8) % N;
		seed = seed * 1103515245 + 12345;
		len = 1 + (seed >> 8) % MIN(32, N - a);
		priv = seed & 1;
		CHECK_CONVERT(g, a * PAGE, len * PAGE, priv, PRESERVE);
		for (p = (int)a; p < (int)(a + len); p++)
			model[p] = priv;
		if (i % 100 == 0)
			for (p = 0; p < N; p++) {
				CHECK_EQ(is_private(g, p * PAGE), model[p]);
				if (model[p])
					CHECK_SIGBUS_READ(v + p * PAGE);
				else
					CHECK_NO_SIGBUS_READ(v + p * PAGE);
			}
	}
}

/* The lookup index a process builds for read-heavy phases answers exactly
 * as the tree, and is dropped by every commit. */
TEST(lookup_index_matches_the_tree)
{
	enum { N = 4096 };
	int g = new_gmem(GMEMU_VM_PKVM, N * PAGE, SHARED);
	struct gmem *gm = wb_gmem(g);
	uint32_t seed = 99;
	int round, i;

	for (round = 0; round < 20; round++) {
		for (i = 0; i < 50; i++) {
			uint32_t a, len;

			seed = seed * 1103515245 + 12345;
			a = (seed >> 8) % N;
			seed = seed * 1103515245 + 12345;
			len = 1 + (seed >> 8) % MIN(16, N - a);
			CHECK_CONVERT(g, (uint64_t)a * PAGE, (uint64_t)len * PAGE,
				      seed & 1, 0);
		}
		CHECK_OK(gmem_lock(gm));
		for (i = 0; i < 3 * N; i++) {
			uint64_t p = (uint64_t)(i % N), e1, e2, v1, v2;

			v1 = rm_get_indexed(&gm->space, &gm->hdr->attrs,
					    &gm->attr_index, p, &e1);
			v2 = rm_get(&gm->space, &gm->hdr->attrs, p, &e2);
			if (v1 != v2 || e1 != e2)
				FAIL("page %llu: index %llu/%llu, tree %llu/%llu",
				     (unsigned long long)p, (unsigned long long)v1,
				     (unsigned long long)e1, (unsigned long long)v2,
				     (unsigned long long)e2);
		}
		CHECK(gm->attr_index.key != NULL); /* it was built */
		gmem_unlock(gm);
	}
}
