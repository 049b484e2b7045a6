// SPDX-License-Identifier: MIT
/* contract §2 and §9: the legacy profile (mainline 6.8-6.18): per-VM attributes,
 * private bytes in the gmem, shared bytes at userspace_addr, no in-place. */
#include "harness.h"

#define BASE 0x100000ULL
#define PRIV GMEMU_ACCESS_PRIVATE
#define W GMEMU_ACCESS_WRITE

static int set_vm_attrs(int vm, uint64_t gpa, uint64_t size, uint64_t attrs,
			uint64_t flags)
{
	struct kvm_memory_attributes a = { .address = gpa, .size = size,
					   .attributes = attrs, .flags = flags };

	return gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &a) ? -errno : 0;
}

TEST(vm_attribute_checks)
{
	int kvm = open_kvm("legacy"), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int def = create_vm(kvm, KVM_X86_DEFAULT_VM);
	uint64_t P = KVM_MEMORY_ATTRIBUTE_PRIVATE;

	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, NULL), EFAULT);
	CHECK_EQ(set_vm_attrs(vm, 0, PAGE, P, 1), -EINVAL);
	CHECK_EQ(set_vm_attrs(vm, 0, PAGE, 1, 0), -EINVAL);
	CHECK_EQ(set_vm_attrs(vm, 0, 0, P, 0), -EINVAL);
	CHECK_EQ(set_vm_attrs(vm, 1, PAGE, P, 0), -EINVAL);
	CHECK_EQ(set_vm_attrs(vm, 0, PAGE + 1, P, 0), -EINVAL);
	CHECK_EQ(set_vm_attrs(vm, ~0ULL & ~(PAGE - 1), 2 * PAGE, P, 0), -EINVAL);
	CHECK_EQ(set_vm_attrs(def, 0, PAGE, P, 0), -EINVAL);
	CHECK_EQ(set_vm_attrs(def, 0, PAGE, 0, 0), 0);
	/* no memslot is needed to hold attributes */
	CHECK_EQ(set_vm_attrs(vm, 0x7000000000ULL, PAGE, P, 0), 0);
}

TEST(gmem_ioctl_absent_and_coco_gmem_not_shared)
{
	int kvm = open_kvm("legacy"), vm = create_vm(kvm, KVM_X86_SNP_VM);
	struct kvm_create_guest_memfd c = {
		.size = 4 * PAGE,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	int g;
	uint8_t *v;

	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c), EINVAL);
	g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP);
	CHECK_ERR(gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2,
			      &(struct kvm_memory_attributes2){ .size = PAGE }), ENOTTY);
	v = map_gmem(g, 4 * PAGE, 0);
	CHECK_SIGBUS_READ(v);
	CHECK_SIGBUS_READ(v + 3 * PAGE);
	/* a default VM's gmem may be INIT_SHARED and mapped, as in 6.18 */
	int dvm = create_vm(kvm, KVM_X86_DEFAULT_VM);
	int dg = create_gmem(dvm, PAGE, c.flags);
	CHECK_NO_SIGBUS_READ(map_gmem(dg, PAGE, 0));
}

TEST(in_place_profiles_have_no_vm_attributes)
{
	int kvm = open_kvm("contentmodes"), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

	CHECK_EQ(set_vm_attrs(vm, 0, PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), -ENOTTY);
}

/* A legacy VM with one guest_memfd memslot of 4 pages at BASE: private
 * bytes in the gmem, shared bytes in *shared (its userspace_addr). */
static int two_backing_vm(unsigned long type, uint8_t **shared)
{
	int kvm = open_kvm("legacy"), vm = create_vm(kvm, type);
	int g = create_gmem(vm, 4 * PAGE, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = 4 * PAGE, .guest_memfd = (uint32_t)g,
	};

	*shared = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(*shared != MAP_FAILED);
	r.userspace_addr = (uintptr_t)*shared;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	return vm;
}

TEST(two_backings_nothing_in_place)
{
	uint8_t *shared;
	int vm = two_backing_vm(KVM_X86_SW_PROTECTED_VM, &shared);
	struct gmemu_exit ex;
	uint8_t b;

	/* GPAs start shared: the guest's shared accesses use userspace_addr */
	shared[PAGE] = 0x5a;
	CHECK_OK(gmemu_guest_access(vm, BASE + PAGE, &b, 1, 0, &ex));
	CHECK_EQ(b, 0x5a);
	CHECK_ERR(gmemu_guest_access(vm, BASE + PAGE, &b, 1, PRIV, &ex), EFAULT);
	CHECK_EQ(ex.exit_reason, KVM_EXIT_MEMORY_FAULT);
	CHECK_EQ(ex.memory_fault.flags, KVM_MEMORY_EXIT_FLAG_PRIVATE);
	CHECK_EQ(ex.memory_fault.gpa, BASE + PAGE);
	/* to private: the private copy is the gmem's, not the shared bytes */
	CHECK_EQ(set_vm_attrs(vm, BASE + PAGE, PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), 0);
	CHECK_OK(gmemu_guest_access(vm, BASE + PAGE, &b, 1, PRIV, &ex));
	CHECK_EQ(b, 0);
	CHECK_OK(gmemu_guest_access(vm, BASE + PAGE, (uint8_t[]){ 0x77 }, 1, PRIV | W, &ex));
	CHECK_ERR(gmemu_guest_access(vm, BASE + PAGE, &b, 1, 0, &ex), EFAULT);
	CHECK_EQ(ex.memory_fault.flags, 0);
	CHECK_EQ(shared[PAGE], 0x5a); /* the host's copy is untouched */
	/* back to shared: the shared copy is what it was */
	CHECK_EQ(set_vm_attrs(vm, BASE + PAGE, PAGE, 0, 0), 0);
	CHECK_OK(gmemu_guest_access(vm, BASE + PAGE, &b, 1, 0, &ex));
	CHECK_EQ(b, 0x5a);
	/* and the private copy stayed in the gmem */
	CHECK_EQ(set_vm_attrs(vm, BASE + PAGE, PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), 0);
	CHECK_OK(gmemu_guest_access(vm, BASE + PAGE, &b, 1, PRIV, &ex));
	CHECK_EQ(b, 0x77);
}

TEST(private_gpa_without_gmem_exits_both_ways)
{
	int kvm = open_kvm("legacy"), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	uint8_t *plain = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .guest_phys_addr = BASE, .memory_size = PAGE,
		.userspace_addr = (uintptr_t)plain,
	};
	struct gmemu_exit ex;
	uint8_t b;

	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	CHECK_EQ(set_vm_attrs(vm, BASE, PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), 0);
	CHECK_ERR(gmemu_guest_access(vm, BASE, &b, 1, PRIV, &ex), EFAULT);
	CHECK_ERR(gmemu_guest_access(vm, BASE, &b, 1, 0, &ex), EFAULT);
}

TEST(legacy_populate_into_gmem)
{
	uint8_t *shared;
	int vm = two_backing_vm(KVM_X86_SNP_VM, &shared);
	struct gmemu_exit ex;
	uint8_t b;

	memset(shared, 0x6b, PAGE); /* the image, in the shared backing */
	CHECK_ERR(gmemu_vm_populate(vm, BASE, shared, PAGE), EINVAL); /* shared GPA */
	CHECK_EQ(set_vm_attrs(vm, BASE, PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), 0);
	CHECK_OK(gmemu_vm_populate(vm, BASE, shared, PAGE)); /* the copy */
	CHECK_OK(gmemu_vm_finalize(vm));
	CHECK_OK(gmemu_guest_access(vm, BASE + 100, &b, 1, PRIV, &ex));
	CHECK_EQ(b, 0x6b);
}
