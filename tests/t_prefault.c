// SPDX-License-Identifier: MIT
/*
 * contract §9.9: KVM_PRE_FAULT_MEMORY on a vCPU, as
 * virt/kvm/kvm_main.c (kvm_vcpu_pre_fault_memory) and arch/x86/kvm/mmu/mmu.c
 * (kvm_arch_vcpu_pre_fault_memory) of Debian's linux-source-6.12 6.12.117
 * take it, and as tools/testing/selftests/kvm/pre_fault_memory_test.c
 * uses it.  A vCPU needs a vCPU backend: skipped without one.
 */
#include <linux/falloc.h>
#include <stddef.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define BASE 0x200000ULL
#define NPAGES 16

static int vm_, gmem_, vcpu_;

static void setup_type(const char *profile, unsigned long type, uint64_t flags)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = NPAGES * PAGE,
	};

	vm_ = create_vm(open_kvm(profile), type);
	gmem_ = create_gmem(vm_, NPAGES * PAGE, flags);
	r.guest_memfd = (uint32_t)gmem_;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	vcpu_ = gmemu_ioctl(vm_, KVM_CREATE_VCPU, 0);
	if (vcpu_ < 0 && (errno == ENODEV || errno == EACCES))
		SKIP("no vCPU backend here (no usable /dev/kvm)");
	if (vcpu_ < 0 && errno == EOPNOTSUPP)
		SKIP("the vCPU backend here cannot run a per-VM attribute profile");
	CHECK(vcpu_ >= 0);
}

static void setup(void)
{
	setup_type(NULL, KVM_X86_SW_PROTECTED_VM, SHARED);
}

/* KVM_PRE_FAULT_MEMORY: 0 or -errno; *left what the struct says after */
static int pre_fault(uint64_t gpa, uint64_t size, uint64_t flags,
		     struct kvm_pre_fault_memory *left)
{
	struct kvm_pre_fault_memory r = { .gpa = gpa, .size = size, .flags = flags };
	int ret = gmemu_ioctl(vcpu_, KVM_PRE_FAULT_MEMORY, &r) ? -errno : 0;

	if (left)
		*left = r;
	return ret;
}

static long blocks(void)
{
	struct stat st;

	CHECK_OK(gmemu_fstat(gmem_, &st));
	return (long)st.st_blocks;
}

TEST(constants)
{
	int kvm = open_kvm(NULL);

	CHECK_EQ(sizeof(struct kvm_pre_fault_memory), 64);
	CHECK_EQ(offsetof(struct kvm_pre_fault_memory, flags), 16);
	CHECK_EQ(KVM_PRE_FAULT_MEMORY, 0xc040aed5UL);
	CHECK_EQ(KVM_CAP_PRE_FAULT_MEMORY, 236);
	/* x86 reports tdp_enabled */
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY), 1);
}

TEST(argument_checks_leave_the_struct)
{
	struct kvm_pre_fault_memory left;
	long b0;

	setup();
	b0 = blocks();
	CHECK_EQ(pre_fault(BASE, PAGE, 1, &left), -EINVAL);
	CHECK_EQ(left.size, PAGE); /* copied back, unchanged */
	CHECK_EQ(pre_fault(BASE + 1, PAGE, 0, NULL), -EINVAL);
	CHECK_EQ(pre_fault(BASE, 100, 0, NULL), -EINVAL);
	CHECK_EQ(pre_fault(BASE, 0, 0, NULL), -EINVAL);        /* gpa + size <= gpa */
	CHECK_EQ(pre_fault(~0ULL & ~(PAGE - 1), 2 * PAGE, 0, NULL), -EINVAL);
	CHECK_ERR(gmemu_ioctl(vcpu_, KVM_PRE_FAULT_MEMORY, NULL), EFAULT);
	CHECK_EQ(blocks(), b0); /* nothing allocated */
}

TEST(maps_and_reports_progress)
{
	struct kvm_pre_fault_memory left;
	long b0;

	setup();
	b0 = blocks();
	CHECK_OK(pre_fault(BASE, 4 * PAGE, 0, &left));
	CHECK_EQ(left.size, 0);
	CHECK_EQ(left.gpa, BASE + 4 * PAGE);
	/* the backing is allocated: 4 pages */
	CHECK_EQ(blocks() - b0, 4 * PAGE / 512);
	/* the selftest's cases: the last page of the memslot and one past
	 * it -- 0 with one page left, then ENOENT with it still left */
	CHECK_OK(pre_fault(BASE + (NPAGES - 1) * PAGE, 2 * PAGE, 0, &left));
	CHECK_EQ(left.size, PAGE);
	CHECK_EQ(left.gpa, BASE + NPAGES * PAGE);
	CHECK_EQ(pre_fault(left.gpa, left.size, 0, &left), -ENOENT);
	CHECK_EQ(left.size, PAGE);
}

TEST(bytes_and_attributes_unchanged)
{
	uint8_t *view;

	setup();
	view = map_gmem(gmem_, NPAGES * PAGE, 0);
	memcpy(view + PAGE, "kept", 5);
	CHECK_CONVERT(gmem_, 0, 2 * PAGE, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	/* a private and a shared page, both from the gmem */
	CHECK_OK(pre_fault(BASE + PAGE, 2 * PAGE, 0, NULL));
	CHECK(is_private(gmem_, PAGE));
	CHECK(!is_private(gmem_, 2 * PAGE));
	CHECK_CONVERT(gmem_, 0, 2 * PAGE, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK(memcmp(view + PAGE, "kept", 5) == 0);
}

TEST(not_before_launch_on_snp_and_tdx)
{
	static const unsigned long types[] = { KVM_X86_SNP_VM, KVM_X86_TDX_VM };
	struct kvm_pre_fault_memory left;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		setup_type(NULL, types[i], SHARED);
		/* pre_fault_allowed is false until the launch is finished */
		CHECK_EQ(pre_fault(BASE, PAGE, 0, &left), -EOPNOTSUPP);
		CHECK_EQ(left.size, PAGE);
		CHECK_OK(gmemu_vm_finalize(vm_));
		CHECK_OK(pre_fault(BASE, PAGE, 0, &left));
		CHECK_EQ(left.size, 0);
	}
}

TEST(tdx_shared_alias_refused)
{
	setup_type(NULL, KVM_X86_TDX_VM, SHARED);
	CHECK_OK(gmemu_vm_finalize(vm_));
	/* kvm_is_gfn_alias(): the shared bit (47 by default) */
	CHECK_EQ(pre_fault(BASE | (1ULL << 47), PAGE, 0, NULL), -EINVAL);
}

TEST(plain_memslot_faults_in_userspace_addr)
{
	uint8_t *plain = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 1, .guest_phys_addr = 0x800000, .memory_size = 2 * PAGE,
		.userspace_addr = (uintptr_t)plain,
	};
	struct kvm_pre_fault_memory left;

	setup();
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	CHECK_OK(pre_fault(0x800000, 2 * PAGE, 0, NULL));
	/* memory the VMM took away: the fault fails, EFAULT */
	munmap(plain, 2 * PAGE);
	CHECK_EQ(pre_fault(0x800000, PAGE, 0, &left), -EFAULT);
	CHECK_EQ(left.size, PAGE);
}
