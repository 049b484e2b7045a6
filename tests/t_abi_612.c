// SPDX-License-Identifier: MIT
/*
 * The 6.12 profile (contract §2.3): mainline 6.8-6.17 as Debian's
 * linux-source-6.12 has it -- guest_memfd without creation flags, mmap or
 * lseek, only on VMs whose memory can be private; per-VM attributes.
 * Each case is one row of the §2.3 table where 6.12 differs from 6.18.
 */
#include "harness.h"

#define BASE 0x100000ULL

TEST(every_creation_flag_einval)
{
	int kvm = open_kvm("6.12");
	unsigned long types[] = { KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM,
				  KVM_X86_SNP_VM };
	size_t i;
	int b;

	/* virt/kvm/guest_memfd.c (6.12) kvm_gmem_create: valid_flags = 0 */
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		int vm = create_vm(kvm, types[i]);

		for (b = 0; b < 64; b++) {
			struct kvm_create_guest_memfd c = { .size = PAGE,
							    .flags = 1ULL << b };

			CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c), EINVAL);
		}
		CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS), 0);
		gmemu_close(create_gmem(vm, PAGE, 0));
	}
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS), 0);
}

TEST(no_mmap_no_lseek_no_in_place)
{
	int vm = create_vm(open_kvm("6.12"), KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 4 * PAGE, 0);
	struct kvm_memory_attributes2 a = { .size = PAGE };

	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	CHECK_ERR(gmemu_lseek(g, 0, SEEK_END), ESPIPE);
	CHECK_ERR(gmemu_lseek(g, 0, SEEK_SET), ESPIPE);
	CHECK_ERR(gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, &a), ENOTTY);
	/* what 6.12 has: fallocate and the size */
	CHECK_OK(gmemu_fallocate(g, FALLOC_FL_KEEP_SIZE, 0, PAGE));
	CHECK_OK(gmemu_fallocate(g, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, PAGE));
	{
		struct stat st;

		CHECK_OK(gmemu_fstat(g, &st));
		CHECK_EQ(st.st_size, 4 * PAGE);
	}
}

TEST(gmem_only_where_memory_can_be_private)
{
	int kvm = open_kvm("6.12"), def = create_vm(kvm, KVM_X86_DEFAULT_VM);
	int vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 4 * PAGE, 0), dg = create_gmem(def, 4 * PAGE, 0);
	void *mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 1, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = 4 * PAGE, .userspace_addr = (uintptr_t)mem,
		.guest_memfd = (uint32_t)dg,
	};

	CHECK(mem != MAP_FAILED);
	CHECK_EQ(gmemu_ioctl(def, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD), 0);
	CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD), 1);
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD), 1);
	/* kvm_main.c (6.12) check_memory_region_flags: KVM_MEM_GUEST_MEMFD is
	 * a valid flag only where kvm_arch_has_private_mem() */
	CHECK_ERR(gmemu_ioctl(def, KVM_SET_USER_MEMORY_REGION2, &r), EINVAL);
	r.guest_memfd = (uint32_t)g;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	/* a plain memslot on the default VM is fine */
	r.flags = 0;
	CHECK_OK(gmemu_ioctl(def, KVM_SET_USER_MEMORY_REGION2, &r));
}

TEST(per_vm_attributes_as_6_18)
{
	int vm = create_vm(open_kvm("6.12"), KVM_X86_SW_PROTECTED_VM);
	struct kvm_memory_attributes a = { .address = BASE, .size = 2 * PAGE,
					   .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE };

	CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES),
		 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &a));
	a.flags = 1;
	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &a), EINVAL);
	CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION,
			     KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES), 0);
	{
		struct gmemu_gmem_info info = { .sz = sizeof(info) };
		int g = create_gmem(vm, PAGE, 0);

		CHECK_OK(gmemu_gmem_info(g, &info));
		CHECK(!strcmp(info.profile, "6.12"));
	}
}

TEST(no_tdx_vm_type)
{
	/* arch/x86/include/uapi/asm/kvm.h (6.12) ends at KVM_X86_SNP_VM 4:
	 * TDX (5) came with 6.16 */
	int kvm = open_kvm("6.12");

	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_TDX_VM), EINVAL);
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES),
		 1 << KVM_X86_DEFAULT_VM | 1 << KVM_X86_SW_PROTECTED_VM |
			 1 << KVM_X86_SNP_VM);
	/* the other profiles have it */
	CHECK_OK(gmemu_close(create_vm(open_kvm("6.18"), KVM_X86_TDX_VM)));
}
