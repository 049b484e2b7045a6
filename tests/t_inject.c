// SPDX-License-Identifier: MIT
/*
 * contract §6.1 step 11 and §10.5: ENOMEM, injected or from vm.max_map_count while
 * swapping views, leaves attributes, bytes and views unchanged with
 * error_offset = offset.
 */
#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO

static int new_gmem(uint64_t size)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

	return create_gmem(vm, size, SHARED);
}

TEST(injected_enomem_fails_next_n)
{
	int g = new_gmem(4 * PAGE);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	uint64_t eo;

	memset(v, 0x12, 4 * PAGE);
	CHECK_OK(gmemu_inject_enomem(g, 2));
	CHECK_EQ(set_attrs_eo(g, PAGE, PAGE, true, 0, &eo), -ENOMEM);
	CHECK_EQ(eo, PAGE);
	CHECK_EQ(set_attrs_eo(g, 2 * PAGE, 2 * PAGE, false, ZERO, &eo), -ENOMEM);
	CHECK_EQ(eo, 2 * PAGE);
	/* nothing changed: attributes, bytes (ZERO did not zero), views */
	CHECK(!is_private(g, PAGE));
	CHECK_EQ(v[PAGE], 0x12);
	CHECK_EQ(v[3 * PAGE], 0x12);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.enomem, 2);
	CHECK_EQ(info.conversions_to_private, 0);
	/* the third succeeds */
	CHECK_CONVERT(g, PAGE, PAGE, true, 0);
	CHECK_SIGBUS_READ(v + PAGE);
	/* n = 0 disarms */
	CHECK_OK(gmemu_inject_enomem(g, 5));
	CHECK_OK(gmemu_inject_enomem(g, 0));
	CHECK_CONVERT(g, PAGE, PAGE, false, PRESERVE);
	CHECK_ERR(gmemu_inject_enomem(-1, 1), EBADF);
}

TEST(injection_is_per_gmem)
{
	int a = new_gmem(PAGE), b = new_gmem(PAGE);

	CHECK_OK(gmemu_inject_enomem(a, 1));
	CHECK_CONVERT(b, 0, PAGE, true, 0);
	CHECK_EQ(set_attrs(a, 0, PAGE, true, 0), -ENOMEM);
	CHECK_CONVERT(a, 0, PAGE, true, 0);
}

static int map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	CHECK(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	int n = 65530;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 65530;
		fclose(f);
	}
	return n;
}

/*
 * With one mapping per extent (GMEMU_VIEWS=mapfixed), splitting a view
 * into alternating extents costs two VMAs per isolated page; past
 * vm.max_map_count the conversion fails ENOMEM with nothing changed, in
 * both directions.
 */
TEST(map_count_limit_gives_enomem)
{
	int limit = max_map_count();
	const char *mech = gmemu_views_mechanism(NULL);
	uint64_t pages = (uint64_t)limit + 2048, p, failed_at = 0;
	int g = new_gmem(pages * PAGE);
	uint8_t *v = map_gmem(g, pages * PAGE, 0);
	uint64_t eo;
	int r = 0;

	if (limit > 1 << 20)
		SKIP("vm.max_map_count too large to reach in a test");
	CHECK(mech != NULL);
	if (strcmp(mech, "mapfixed"))
		SKIP("views do not cost a mapping per extent here (uffd): "
		     "see map_count_limit_does_not_bind");
	/* a three-page private extent, then alternating pages from page 5 */
	guest_fill(g, PAGE, 0x5d, PAGE);
	CHECK_CONVERT(g, 0, 3 * PAGE, true, PRESERVE);
	for (p = 5; p < pages; p += 2) {
		r = set_attrs_eo(g, p * PAGE, PAGE, true, 0, &eo);
		if (r) {
			failed_at = p;
			break;
		}
	}
	CHECK_EQ(r, -ENOMEM);
	CHECK_EQ(eo, failed_at * PAGE);
	CHECK(map_count() > limit - 64);
	/* unchanged: still shared, still mapped, neighbours intact */
	CHECK(!is_private(g, failed_at * PAGE));
	v[failed_at * PAGE] = 0x7e;
	CHECK(guest_all(g, failed_at * PAGE, 0x7e, 1));
	CHECK(is_private(g, (failed_at - 2) * PAGE));
	CHECK_SIGBUS_READ(v + (failed_at - 2) * PAGE);
	CHECK_NO_SIGBUS_READ(v + (failed_at - 1) * PAGE);

	/* to-shared of the middle of a private extent needs a split too:
	 * ENOMEM before the bytes are touched (ZERO did not zero) */
	r = set_attrs_eo(g, PAGE, PAGE, false, ZERO, &eo);
	CHECK_EQ(r, -ENOMEM);
	CHECK_EQ(eo, PAGE);
	CHECK(is_private(g, PAGE));
	CHECK(guest_all(g, PAGE, 0x5d, PAGE));
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v);

	/* converting whole extents needs no new VMA, even at the limit
	 * (a whole VMA is replaced): one whole-range conversion merges
	 * everything back */
	CHECK_CONVERT(g, 0, pages * PAGE, false, PRESERVE);
	CHECK_EQ(v[failed_at * PAGE], 0x7e);
	CHECK_EQ(v[PAGE], 0x5d);
	CHECK(map_count() < limit / 2);
}

/*
 * With userfaultfd views, extents cost no mapping: twice as many
 * alternating extents as vm.max_map_count allows mappings convert without
 * ENOMEM, and the process's mapping count stays far below the limit.
 */
TEST(map_count_limit_does_not_bind)
{
	int limit = max_map_count();
	const char *mech = gmemu_views_mechanism(NULL);
	uint64_t pages, p;
	uint8_t *v;
	int g;

	if (limit > 1 << 20)
		SKIP("vm.max_map_count too large to reach in a test");
	CHECK(mech != NULL);
	if (strcmp(mech, "uffd"))
		SKIP("views cost a mapping per extent here (mapfixed): see "
		     "map_count_limit_gives_enomem");
	pages = 2 * (uint64_t)limit + 64;
	g = new_gmem(pages * PAGE);
	v = map_gmem(g, pages * PAGE, 0);
	guest_fill(g, 0, 0x3c, PAGE);
	for (p = 1; p < pages; p += 2)
		CHECK_OK(set_attrs_eo(g, p * PAGE, PAGE, true, 0, NULL));
	CHECK(map_count() < limit / 2);
	CHECK_EQ(v[0], 0x3c);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v + (pages - 1) * PAGE);
	CHECK_NO_SIGBUS_READ(v + (pages - 2) * PAGE);
	/* and back: one page in the middle, then everything */
	CHECK_CONVERT(g, (pages / 2 + 1) * PAGE, PAGE, false, PRESERVE);
	CHECK_NO_SIGBUS_READ(v + (pages / 2 + 1) * PAGE);
	CHECK_CONVERT(g, 0, pages * PAGE, false, PRESERVE);
	CHECK_EQ(v[0], 0x3c);
	CHECK_NO_SIGBUS_READ(v + PAGE);
}
