// SPDX-License-Identifier: MIT
/* contract §5: guest_memfd creation, initial attributes, fstat, lifetime. */
#include <linux/falloc.h>
#include <sys/stat.h>

#include "harness.h"

static const unsigned long types[] = { KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM,
				       GMEMU_VM_PKVM, KVM_X86_SNP_VM, KVM_X86_TDX_VM };

TEST(create_rejects_bad_arguments)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	struct kvm_create_guest_memfd a = { 0 };

	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, NULL), EFAULT);
	a.size = 0;
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a), EINVAL);
	a.size = PAGE - 1;
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a), EINVAL);
	a.size = PAGE + 1;
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a), EINVAL);
	a.size = 1ULL << 63;
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a), EINVAL);
	a.size = PAGE;
	a.flags = 1ULL << 2;
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a), EINVAL);
	a.flags = 1ULL << 63;
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a), EINVAL);
	/* INIT_SHARED without MMAP is accepted, as in 6.18: shared pages
	 * the host cannot map */
	a.flags = GUEST_MEMFD_FLAG_INIT_SHARED;
	int g = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a);
	CHECK(g >= 0);
	CHECK(!is_private(g, 0));
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	/* reserved fields are not checked by KVM_CREATE_GUEST_MEMFD */
	a.flags = 0;
	a.reserved[0] = 1;
	CHECK_OK(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &a));
}

TEST(initial_attributes_per_init_shared_on_every_type)
{
	int kvm = open_kvm(NULL);
	size_t i;
	int p;

	for (i = 0; i < 5; i++) {
		int vm = create_vm(kvm, types[i]);
		int shared = create_gmem(vm, 4 * PAGE,
					 GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
		int mmap_only = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP);
		int plain = create_gmem(vm, 4 * PAGE, 0);
		uint8_t *v;

		for (p = 0; p < 4; p++) {
			CHECK(!is_private(shared, p * PAGE));
			CHECK(is_private(mmap_only, p * PAGE));
			CHECK(is_private(plain, p * PAGE));
		}
		/* MMAP-only: every page raises SIGBUS (6.18 does the same
		 * on a default VM, which has no way to convert it) */
		v = map_gmem(mmap_only, 4 * PAGE, 0);
		for (p = 0; p < 4; p++)
			CHECK_SIGBUS_READ(v + p * PAGE);
		v = map_gmem(shared, 4 * PAGE, 0);
		for (p = 0; p < 4; p++)
			CHECK_NO_SIGBUS_READ(v + p * PAGE);
	}
}

TEST(default_vm_cannot_convert)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_DEFAULT_VM);
	int g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP |
					  GUEST_MEMFD_FLAG_INIT_SHARED);

	CHECK_EQ(set_attrs(g, 0, PAGE, true, 0), -EINVAL);
	CHECK_EQ(set_attrs(g, 0, PAGE, false, 0), -EINVAL);
	CHECK(!is_private(g, 0));
}

TEST(fstat_reports_gmem)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int a = create_gmem(vm, 16 * PAGE, 0);
	int b = create_gmem(vm, 3 * PAGE, GUEST_MEMFD_FLAG_MMAP);
	struct stat sa, sb;

	CHECK_OK(gmemu_fstat(a, &sa));
	CHECK_OK(gmemu_fstat(b, &sb));
	CHECK_EQ(sa.st_size, 16 * PAGE);
	CHECK_EQ(sb.st_size, 3 * PAGE);
	CHECK_EQ(sa.st_blksize, PAGE);
	CHECK_EQ(sb.st_blksize, PAGE);
	CHECK(sa.st_ino != sb.st_ino);
	CHECK(S_ISREG(sa.st_mode));
}

TEST(huge_sparse_gmem)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 1ULL << 40, GUEST_MEMFD_FLAG_MMAP |
					     GUEST_MEMFD_FLAG_INIT_SHARED);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	struct stat st;

	CHECK_OK(gmemu_fstat(g, &st));
	CHECK_EQ(st.st_size, 1ULL << 40);
	CHECK_CONVERT(g, (1ULL << 40) - PAGE, PAGE, true, 0);
	CHECK(is_private(g, (1ULL << 40) - PAGE));
	CHECK(!is_private(g, (1ULL << 40) - 2 * PAGE));
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_extents, 2);
	CHECK(info.meta_bytes <= 128 * 1024);
	/* larger than gmemu can reserve address space for */
	struct kvm_create_guest_memfd c = { .size = 1ULL << 50 };
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c), ENOMEM);
}

TEST(gmem_outlives_its_vm_fd)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP |
					  GUEST_MEMFD_FLAG_INIT_SHARED);
	uint8_t *v;

	CHECK_OK(gmemu_close(vm));
	CHECK_OK(gmemu_close(kvm));
	v = map_gmem(g, 4 * PAGE, 0);
	v[0] = 7;
	CHECK_CONVERT(g, 0, PAGE, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_SIGBUS_READ(v);
	CHECK_CONVERT(g, 0, PAGE, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_EQ(v[0], 7);
}

TEST(dup_and_close)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP |
					  GUEST_MEMFD_FLAG_INIT_SHARED);
	int d = dup(g);

	CHECK_CONVERT(d, 0, PAGE, true, 0);
	CHECK(is_private(g, 0));
	CHECK_OK(gmemu_close(g));
	CHECK(is_private(d, 0));
	CHECK_OK(gmemu_close(d));
	CHECK_ERR(gmemu_close(d), EBADF);
	CHECK_ERR(gmemu_ioctl(d, KVM_SET_MEMORY_ATTRIBUTES2, NULL), EBADF);
}

TEST(gmem_fd_is_not_cloexec_vm_fd_is)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, PAGE, 0);

	CHECK_EQ(fcntl(g, F_GETFD) & FD_CLOEXEC, 0);
	CHECK_EQ(fcntl(vm, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}
