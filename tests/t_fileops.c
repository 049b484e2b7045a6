// SPDX-License-Identifier: MIT
/* contract §5: file operations on a gmem: read/write, fallocate, punch, zeroing. */
#include <linux/falloc.h>

#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define KEEP FALLOC_FL_KEEP_SIZE
#define PUNCH (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)

static int new_gmem(uint64_t size, uint64_t flags)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

	return create_gmem(vm, size, flags);
}

TEST(read_write_pread_pwrite_ftruncate)
{
	int g = new_gmem(4 * PAGE, SHARED);
	char buf[16] = { 0 };

	CHECK_ERR(gmemu_read(g, buf, sizeof(buf)), EINVAL);
	CHECK_ERR(gmemu_write(g, buf, sizeof(buf)), EINVAL);
	CHECK_ERR(gmemu_pread(g, buf, sizeof(buf), 0), ESPIPE);
	CHECK_ERR(gmemu_pwrite(g, buf, sizeof(buf), 0), ESPIPE);
	CHECK_ERR(gmemu_ftruncate(g, 8 * PAGE), EINVAL);
	CHECK_ERR(gmemu_ftruncate(g, 4 * PAGE), EINVAL);
	CHECK_ERR(gmemu_ftruncate(g, 0), EINVAL);
}

TEST(fallocate_errors)
{
	int g = new_gmem(4 * PAGE, SHARED);

	CHECK_ERR(gmemu_fallocate(g, 0, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, FALLOC_FL_ZERO_RANGE, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, KEEP | FALLOC_FL_ZERO_RANGE, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, FALLOC_FL_PUNCH_HOLE, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, KEEP | FALLOC_FL_COLLAPSE_RANGE, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, FALLOC_FL_COLLAPSE_RANGE, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, PUNCH | FALLOC_FL_ZERO_RANGE, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, 0x100, 0, PAGE), EOPNOTSUPP);
	CHECK_ERR(gmemu_fallocate(g, KEEP, 0, 5 * PAGE), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, KEEP, 4 * PAGE, PAGE), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, KEEP, 1, PAGE), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, KEEP, 0, 100), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, KEEP, 0, 0), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, KEEP, -PAGE, PAGE), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, PUNCH, 1, PAGE), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, PUNCH, 0, 0), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, PUNCH, 0, 100), EINVAL);
	CHECK_ERR(gmemu_fallocate(g, 0, 0, 0), EINVAL); /* VFS checks first */
	/* punch past the end is fine */
	CHECK_OK(gmemu_fallocate(g, PUNCH, 0, 8 * PAGE));
	CHECK_OK(gmemu_fallocate(g, PUNCH, 8 * PAGE, PAGE));
	CHECK_OK(gmemu_fallocate(g, PUNCH, 3 * PAGE, 2 * PAGE));
	CHECK_OK(gmemu_fallocate(g, KEEP, 0, 4 * PAGE));
}

TEST(zero_until_first_written)
{
	int g = new_gmem(8 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 8 * PAGE, 0);
	size_t i;

	CHECK(!page_allocated(g, 0));
	for (i = 0; i < 4 * PAGE; i++)
		CHECK_EQ(v[i], 0);
	/* never used pages read zero to the guest after a conversion, even
	 * with flags = 0 on the random-bytes model */
	CHECK_CONVERT(g, 4 * PAGE, 4 * PAGE, true, 0);
	CHECK(guest_all(g, 4 * PAGE, 0, 4 * PAGE));
}

TEST(allocate_keeps_bytes)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	memset(v, 0xab, 2 * PAGE);
	CHECK_OK(gmemu_fallocate(g, KEEP, 0, 4 * PAGE));
	CHECK_EQ(v[0], 0xab);
	CHECK_EQ(v[2 * PAGE - 1], 0xab);
	CHECK_EQ(v[2 * PAGE], 0);
	/* allocating private pages keeps their bytes too */
	CHECK_CONVERT(g, 0, 4 * PAGE, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_OK(gmemu_fallocate(g, KEEP, 0, 4 * PAGE));
	CHECK(guest_all(g, 0, 0xab, 2 * PAGE));
}

TEST(punch_frees_bytes_and_keeps_attributes)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	memset(v, 0x11, 4 * PAGE);
	CHECK_CONVERT(g, PAGE, PAGE, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK(guest_all(g, PAGE, 0x11, PAGE));
	CHECK_OK(gmemu_fallocate(g, PUNCH, 0, 2 * PAGE));
	CHECK(!page_allocated(g, 0));
	CHECK(!page_allocated(g, PAGE));
	/* attributes unchanged */
	CHECK(!is_private(g, 0));
	CHECK(is_private(g, PAGE));
	CHECK(!is_private(g, 2 * PAGE));
	/* bytes freed: the shared page reads 0 to the host, the private one
	 * to the guest; others untouched */
	CHECK_EQ(v[0], 0);
	CHECK_EQ(v[PAGE - 1], 0);
	CHECK(guest_all(g, PAGE, 0, PAGE));
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_EQ(v[2 * PAGE], 0x11);
	/* the freed shared page is usable again */
	v[0] = 3;
	CHECK_EQ(v[0], 3);
}

TEST(fileops_on_vm_and_system_fds)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	char buf[8];

	CHECK_ERR(gmemu_read(vm, buf, 8), EINVAL);
	CHECK_ERR(gmemu_write(kvm, buf, 8), EINVAL);
	CHECK_ERR(gmemu_fallocate(vm, KEEP, 0, PAGE), ENODEV);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, vm, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, kvm, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
}
