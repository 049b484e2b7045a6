// SPDX-License-Identifier: MIT
/* contract §9: KVM_SET_USER_MEMORY_REGION(2) and its checks. */
#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)

static int vm_, gmem_;

static void setup(void)
{
	int kvm = open_kvm(NULL);

	vm_ = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	gmem_ = create_gmem(vm_, 16 * PAGE, SHARED);
}

static int set_region(int vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		      uint64_t size, uint64_t uaddr, int gmem, uint64_t off)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = uaddr,
		.guest_memfd = (uint32_t)gmem, .guest_memfd_offset = off,
	};

	return gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r) ? -errno : 0;
}

#define G KVM_MEM_GUEST_MEMFD

TEST(gmem_memslot_created_and_deleted)
{
	setup();
	CHECK_EQ(set_region(vm_, 0, G, 0x100000, 8 * PAGE, 0, gmem_, 0), 0);
	CHECK_EQ(set_region(vm_, 1, G, 0x200000, 8 * PAGE, 0, gmem_, 8 * PAGE), 0);
	/* size 0 deletes; then the range of the gmem is free again */
	CHECK_EQ(set_region(vm_, 0, 0, 0, 0, 0, 0, 0), 0);
	CHECK_EQ(set_region(vm_, 2, G, 0x300000, 8 * PAGE, 0, gmem_, 0), 0);
	/* deleting a slot that does not exist */
	CHECK_EQ(set_region(vm_, 7, 0, 0, 0, 0, 0, 0), -EINVAL);
	CHECK_ERR(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, NULL), EFAULT);
}

TEST(gmem_fd_must_be_a_gmem_of_this_vm)
{
	int kvm, other_vm, other_gmem, memfd;

	setup();
	kvm = open_kvm(NULL);
	other_vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	other_gmem = create_gmem(other_vm, 16 * PAGE, SHARED);
	memfd = memfd_create("plain", 0);
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, other_gmem, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, vm_, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, kvm, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, memfd, 0), -EINVAL);
	/* a closed descriptor is EBADF (kvm_gmem_bind's fget) */
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, 999, 0), -EBADF);
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, gmem_, 0), 0);
}

TEST(gmem_offset_and_range)
{
	setup();
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, gmem_, 100), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G, 0, 2 * PAGE, 0, gmem_, 15 * PAGE), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G, 0, 17 * PAGE, 0, gmem_, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, gmem_, ~0ULL & ~(PAGE - 1)), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G, 0, PAGE, 0, gmem_, 15 * PAGE), 0);
}

TEST(gpa_overlap_eexist_gmem_overlap_einval)
{
	uint8_t *plain = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	setup();
	CHECK_EQ(set_region(vm_, 0, G, 0x10000, 4 * PAGE, 0, gmem_, 0), 0);
	CHECK_EQ(set_region(vm_, 1, G, 0x12000, 4 * PAGE, 0, gmem_, 8 * PAGE), -EEXIST);
	CHECK_EQ(set_region(vm_, 1, 0, 0x13000, 4 * PAGE, (uintptr_t)plain, 0, 0), -EEXIST);
	/* the same gmem range bound twice (as Linux 6.18) */
	CHECK_EQ(set_region(vm_, 1, G, 0x40000, 4 * PAGE, 0, gmem_, 2 * PAGE), -EINVAL);
	CHECK_EQ(set_region(vm_, 1, G, 0x40000, 4 * PAGE, 0, gmem_, 4 * PAGE), 0);
	/* another address space may reuse the GPA */
	CHECK_EQ(set_region(vm_, (1 << 16) | 0, 0, 0x10000, 4 * PAGE, (uintptr_t)plain, 0, 0), 0);
}

TEST(flag_checks)
{
	uint8_t *plain = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region v1 = {
		.slot = 5, .flags = G, .guest_phys_addr = 0x80000,
		.memory_size = PAGE, .userspace_addr = (uintptr_t)plain,
	};

	setup();
	CHECK_EQ(set_region(vm_, 0, G | KVM_MEM_LOG_DIRTY_PAGES, 0, PAGE, 0, gmem_, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, G | KVM_MEM_READONLY, 0, PAGE, 0, gmem_, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, 1u << 8, 0, PAGE, (uintptr_t)plain, 0, 0), -EINVAL);
	/* GUEST_MEMFD through the v1 ioctl */
	CHECK_ERR(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &v1), EINVAL);
	v1.flags = 0;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &v1));
	/* plain memslots are accepted as in KVM, with their flags */
	CHECK_EQ(set_region(vm_, 1, KVM_MEM_LOG_DIRTY_PAGES, 0x100000, 4 * PAGE,
			    (uintptr_t)plain, 0, 0), 0);
	CHECK_EQ(set_region(vm_, 2, KVM_MEM_READONLY, 0x200000, 4 * PAGE,
			    (uintptr_t)plain, 0, 0), 0);
}

TEST(alignment_and_slot_ids)
{
	setup();
	CHECK_EQ(set_region(vm_, 0, 0, 0x100, PAGE, 0x10000, 0, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, 0, 0, 100, 0x10000, 0, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, 0, 0, PAGE, 0x10001, 0, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 32767, 0, 0, PAGE, 0x10000, 0, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 2 << 16, 0, 0, PAGE, 0x10000, 0, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 0, 0, ~0ULL & ~(PAGE - 1), 2 * PAGE, 0x10000, 0, 0), -EINVAL);
}

TEST(existing_slots_change_only_dirty_logging)
{
	uint8_t *plain = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	setup();
	CHECK_EQ(set_region(vm_, 0, 0, 0, 4 * PAGE, (uintptr_t)plain, 0, 0), 0);
	CHECK_EQ(set_region(vm_, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, 4 * PAGE, (uintptr_t)plain, 0, 0), 0);
	CHECK_EQ(set_region(vm_, 0, 0, 0, 2 * PAGE, (uintptr_t)plain, 0, 0), -EINVAL);
	CHECK_EQ(set_region(vm_, 1, G, 0x10000, PAGE, 0, gmem_, 0), 0);
	CHECK_EQ(set_region(vm_, 1, G, 0x20000, PAGE, 0, gmem_, 0), -EINVAL);
}

TEST(memslot_keeps_gmem_alive)
{
	struct gmemu_exit ex;
	uint8_t b = 0;

	setup();
	CHECK_EQ(set_region(vm_, 0, G, 0, 16 * PAGE, 0, gmem_, 0), 0);
	CHECK_OK(gmemu_guest_access(vm_, 5, (uint8_t[]){ 0x4d }, 1,
				    GMEMU_ACCESS_WRITE, &ex));
	CHECK_OK(gmemu_close(gmem_));
	CHECK_OK(gmemu_guest_access(vm_, 5, &b, 1, 0, &ex));
	CHECK_EQ(b, 0x4d);
}

/* Mappings of gmem memfds in this process (a gmem gmemu still holds). */
static int gmem_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "gmemu-gmem") != NULL;
	fclose(f);
	return n;
}

TEST(refused_memslot_keeps_no_reference)
{
	int before = gmem_mappings();
	int kvm = open_kvm("6.12"), vm = create_vm(kvm, KVM_X86_DEFAULT_VM);
	int priv = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int gmem = create_gmem(priv, 4 * PAGE, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD | KVM_MEM_READONLY,
		.memory_size = PAGE, .guest_memfd = (uint32_t)gmem,
	};

	/* contract §9.2 steps 2-5 refuse before anything is kept; §1.8: the
	 * gmem is forgotten once nothing names it */
	CHECK_ERR(gmemu_ioctl(priv, KVM_SET_USER_MEMORY_REGION2, &r), EINVAL);
	r.flags = KVM_MEM_GUEST_MEMFD;
	r.guest_phys_addr = 1;
	CHECK_ERR(gmemu_ioctl(priv, KVM_SET_USER_MEMORY_REGION2, &r), EINVAL);
	r.guest_phys_addr = 0;
	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r), EINVAL);
	CHECK(gmem_mappings() > before);
	CHECK_OK(gmemu_close(gmem));
	CHECK_OK(gmemu_close(priv));
	CHECK_OK(gmemu_close(vm));
	CHECK_EQ(gmem_mappings(), before);
}
