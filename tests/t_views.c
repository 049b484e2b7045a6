// SPDX-License-Identifier: MIT
/* contract §7: host views: in-place sharing, SIGBUS on private pages and past the
 * end, MAP_FIXED, partial munmap, views surviving conversions. */
#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

static int new_gmem(uint64_t size, uint64_t flags)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

	return create_gmem(vm, size, flags);
}

TEST(mmap_argument_errors)
{
	int plain = new_gmem(4 * PAGE, 0);
	int g = new_gmem(4 * PAGE, SHARED);

	/* without MMAP: ENODEV, also for MAP_PRIVATE */
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, plain, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, plain, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(gmemu_mmap(NULL, 0, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 100) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, -PAGE) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
}

TEST(views_share_bytes_in_place)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *a = map_gmem(g, 4 * PAGE, 0), *b = map_gmem(g, 2 * PAGE, 2 * PAGE);

	a[2 * PAGE + 5] = 0x42;
	CHECK_EQ(b[5], 0x42);
	b[PAGE] = 0x43;
	CHECK_EQ(a[3 * PAGE], 0x43);
	/* the guest sees the same bytes, and the host sees the guest's */
	CHECK(guest_all(g, 3 * PAGE, 0x43, 1));
	guest_fill(g, 0, 0x99, 16);
	CHECK_EQ(a[15], 0x99);
}

TEST(private_pages_raise_sigbus)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	memset(v, 0x11, 4 * PAGE);
	CHECK_CONVERT(g, PAGE, 2 * PAGE, true, PRESERVE);
	CHECK_NO_SIGBUS_READ(v);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v + PAGE + 123);
	CHECK_SIGBUS_WRITE(v + 2 * PAGE + 7);
	CHECK_SIGBUS_READ(v + 3 * PAGE - 1);
	CHECK_NO_SIGBUS_READ(v + 3 * PAGE);
	/* a faulting write changed nothing */
	CHECK(guest_all(g, PAGE, 0x11, 2 * PAGE));
	/* system calls that touch a private page fail EFAULT */
	int p[2];
	CHECK_OK(pipe(p));
	CHECK_ERR(write(p[1], v + PAGE, 16), EFAULT);
	CHECK_EQ(write(p[1], v, 16), 16);
}

TEST(view_past_end_raises_sigbus)
{
	int g = new_gmem(2 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0), *w = map_gmem(g, 2 * PAGE, 2 * PAGE);

	CHECK_NO_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v + 2 * PAGE);
	CHECK_SIGBUS_WRITE(v + 3 * PAGE + 1);
	CHECK_SIGBUS_READ(w);
	CHECK_SIGBUS_READ(w + PAGE);
	/* conversions never make the tail accessible */
	CHECK_CONVERT(g, 0, 2 * PAGE, true, 0);
	CHECK_CONVERT(g, 0, 2 * PAGE, false, 0);
	CHECK_SIGBUS_READ(v + 2 * PAGE);
	CHECK_SIGBUS_READ(w);
}

TEST(map_fixed_is_honoured)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *area = mmap(NULL, 8 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *v;

	CHECK(area != MAP_FAILED);
	v = gmemu_mmap(area + 2 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, g, 0);
	CHECK(v == area + 2 * PAGE);
	v[0] = 1;
	CHECK(guest_all(g, 0, 1, 1));
	CHECK_CONVERT(g, 0, PAGE, true, 0);
	CHECK_SIGBUS_READ(v);
	/* MAP_FIXED_NOREPLACE over an existing mapping fails EEXIST */
	CHECK(gmemu_mmap(area, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
			 g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EEXIST);
}

TEST(partial_munmap)
{
	int g = new_gmem(8 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 8 * PAGE, 0);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };

	memset(v, 0x22, 8 * PAGE);
	CHECK_OK(gmemu_munmap(v + 2 * PAGE, 2 * PAGE)); /* split */
	CHECK_OK(gmemu_munmap(v, PAGE));                /* trim head */
	CHECK_OK(gmemu_munmap(v + 7 * PAGE, PAGE));     /* trim tail */
	CHECK_EQ(v[PAGE], 0x22);
	CHECK_EQ(v[4 * PAGE], 0x22);
	CHECK_EQ(v[6 * PAGE], 0x22);
	/* released ranges are not remapped by conversions */
	CHECK_CONVERT(g, 0, 8 * PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v + 5 * PAGE);
	CHECK_CONVERT(g, 0, 8 * PAGE, false, PRESERVE);
	CHECK_EQ(v[PAGE], 0x22);
	CHECK_EQ(v[5 * PAGE], 0x22);
	uint8_t *probe = mmap(v + 2 * PAGE, PAGE, PROT_READ,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(probe == v + 2 * PAGE); /* the hole stayed a hole */
	munmap(probe, PAGE);
	CHECK_OK(gmemu_munmap(v, 8 * PAGE));
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_processes, 0);
	CHECK_ERR(gmemu_munmap(v + 1, PAGE), EINVAL);
}

TEST(views_survive_conversions)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *a = map_gmem(g, 4 * PAGE, 0), *b = map_gmem(g, 4 * PAGE, 0);
	int round;

	for (round = 0; round < 5; round++) {
		a[PAGE] = (uint8_t)round;
		CHECK_CONVERT(g, 0, 4 * PAGE, true, PRESERVE);
		CHECK_SIGBUS_READ(a + PAGE);
		CHECK_SIGBUS_READ(b + 3 * PAGE);
		CHECK_CONVERT(g, 0, 4 * PAGE, false, PRESERVE);
		CHECK_EQ(b[PAGE], round);
		CHECK_NO_SIGBUS_READ(a + 3 * PAGE);
	}
}

TEST(private_view_becomes_accessible_after_to_shared)
{
	int g = new_gmem(4 * PAGE, GUEST_MEMFD_FLAG_MMAP); /* all private */
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	CHECK_SIGBUS_READ(v);
	guest_fill(g, PAGE, 0x77, PAGE);
	CHECK_CONVERT(g, PAGE, PAGE, false, PRESERVE);
	CHECK_SIGBUS_READ(v);
	CHECK_EQ(v[PAGE], 0x77);
	v[PAGE + 1] = 0x78;
	CHECK(guest_all(g, PAGE + 1, 0x78, 1));
	CHECK_SIGBUS_READ(v + 2 * PAGE);
}

TEST(prot_read_only_view)
{
	int g = new_gmem(2 * PAGE, SHARED);
	uint8_t *v = gmemu_mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, g, 0);

	CHECK(v != MAP_FAILED);
	guest_fill(g, 0, 5, 1);
	CHECK_EQ(v[0], 5);
	CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
	CHECK_CONVERT(g, 0, PAGE, false, PRESERVE);
	CHECK_EQ(v[0], 5);
	/* the remap kept PROT_READ: writing is refused by the kernel */
	int p[2];
	CHECK_OK(pipe(p));
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_ERR(read(p[0], v, 1), EFAULT);
}
