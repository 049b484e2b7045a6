// SPDX-License-Identifier: MIT
/* contract §9: the software vCPU: accesses, memory-fault and MMIO exits, and
 * accesses racing with conversions. */
#include <pthread.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define BASE 0x100000ULL
#define W GMEMU_ACCESS_WRITE
#define PRIV GMEMU_ACCESS_PRIVATE

static int vm_, gmem_;
static uint8_t *view_;

static void setup(unsigned long type, int pages)
{
	int kvm = open_kvm(NULL);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = (uint64_t)pages * PAGE,
	};

	vm_ = create_vm(kvm, type);
	gmem_ = create_gmem(vm_, (uint64_t)pages * PAGE, SHARED);
	r.guest_memfd = (uint32_t)gmem_;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	view_ = map_gmem(gmem_, (uint64_t)pages * PAGE, 0);
}

TEST(shared_access_in_place)
{
	struct gmemu_exit ex;
	uint8_t buf[16];

	setup(GMEMU_VM_PKVM, 4);
	memcpy(view_ + PAGE + 10, "from the host", 14);
	CHECK_OK(gmemu_guest_access(vm_, BASE + PAGE + 10, buf, 14, 0, &ex));
	CHECK(memcmp(buf, "from the host", 14) == 0);
	CHECK_OK(gmemu_guest_access(vm_, BASE + 2 * PAGE - 3, "guest!", 6, W, &ex));
	CHECK(memcmp(view_ + 2 * PAGE - 3, "guest!", 6) == 0); /* across pages */
	CHECK_OK(gmemu_guest_access(vm_, BASE, buf, 0, PRIV, &ex));
}

TEST(intent_mismatch_exits_and_does_nothing)
{
	struct gmemu_exit ex;
	uint8_t data[2 * PAGE];

	setup(GMEMU_VM_PKVM, 4);
	memset(view_, 0x11, 4 * PAGE);
	/* private access to a shared page */
	memset(&ex, 0xff, sizeof(ex));
	CHECK_ERR(gmemu_guest_access(vm_, BASE + PAGE + 5, data, 1, PRIV, &ex), EFAULT);
	CHECK_EQ(ex.exit_reason, KVM_EXIT_MEMORY_FAULT);
	CHECK_EQ(ex.memory_fault.flags, KVM_MEMORY_EXIT_FLAG_PRIVATE);
	CHECK_EQ(ex.memory_fault.gpa, BASE + PAGE);
	CHECK_EQ(ex.memory_fault.size, PAGE);
	/* shared write spanning a shared and a private page: nothing written */
	CHECK_CONVERT(gmem_, 2 * PAGE, PAGE, true, PRESERVE);
	memset(data, 0x22, sizeof(data));
	CHECK_ERR(gmemu_guest_access(vm_, BASE + PAGE, data, 2 * PAGE, W, &ex), EFAULT);
	CHECK_EQ(ex.exit_reason, KVM_EXIT_MEMORY_FAULT);
	CHECK_EQ(ex.memory_fault.flags, 0);
	CHECK_EQ(ex.memory_fault.gpa, BASE + 2 * PAGE);
	CHECK_EQ(view_[PAGE], 0x11);
	CHECK_EQ(view_[2 * PAGE - 1], 0x11);
	/* the private page, read privately, has the preserved bytes */
	CHECK_OK(gmemu_guest_access(vm_, BASE + 2 * PAGE, data, PAGE, PRIV, &ex));
	CHECK_EQ(data[0], 0x11);
	/* after converting, the same access completes */
	CHECK_CONVERT(gmem_, 2 * PAGE, PAGE, false, PRESERVE);
	memset(data, 0x22, sizeof(data));
	CHECK_OK(gmemu_guest_access(vm_, BASE + PAGE, data, 2 * PAGE, W, &ex));
	CHECK_EQ(view_[2 * PAGE + 7], 0x22);
}

TEST(mmio_exit_without_memslot)
{
	struct gmemu_exit ex;
	uint64_t v = 0x1122334455667788ULL;
	uint8_t b[16];

	setup(KVM_X86_SW_PROTECTED_VM, 4);
	CHECK_EQ(gmemu_guest_access(vm_, 0xfee00010, &v, 8, W, &ex), 1);
	CHECK_EQ(ex.exit_reason, KVM_EXIT_MMIO);
	CHECK_EQ(ex.mmio.phys_addr, 0xfee00010);
	CHECK_EQ(ex.mmio.len, 8);
	CHECK_EQ(ex.mmio.is_write, 1);
	CHECK(memcmp(ex.mmio.data, &v, 8) == 0);
	CHECK_EQ(gmemu_guest_access(vm_, 0x1000, b, 4, PRIV, &ex), 1);
	CHECK_EQ(ex.exit_reason, KVM_EXIT_MMIO);
	CHECK_EQ(ex.mmio.len, 4);
	CHECK_EQ(ex.mmio.is_write, 0);
	/* too long for one MMIO exit; or half memory, half MMIO */
	CHECK_ERR(gmemu_guest_access(vm_, 0x1000, b, 16, 0, &ex), EINVAL);
	CHECK_ERR(gmemu_guest_access(vm_, BASE + 4 * PAGE - 4, b, 8, 0, &ex), EINVAL);
	CHECK_ERR(gmemu_guest_access(vm_, BASE - 4, b, 8, 0, &ex), EINVAL);
}

TEST(argument_errors)
{
	struct gmemu_exit ex;
	uint8_t b;

	setup(KVM_X86_SW_PROTECTED_VM, 4);
	CHECK_ERR(gmemu_guest_access(vm_, BASE, &b, 1, 4, &ex), EINVAL);
	CHECK_ERR(gmemu_guest_access(vm_, BASE, &b, 1, 0, NULL), EFAULT);
	CHECK_ERR(gmemu_guest_access(vm_, BASE, NULL, 1, 0, &ex), EFAULT);
	CHECK_ERR(gmemu_guest_access(gmem_, BASE, &b, 1, 0, &ex), EINVAL);
	CHECK_ERR(gmemu_guest_access(-1, BASE, &b, 1, 0, &ex), EBADF);
	CHECK_ERR(gmemu_guest_access(vm_, ~0ULL - 1, &b, 8, 0, &ex), EINVAL);
}

TEST(plain_memslot_is_always_shared)
{
	uint8_t *plain = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 1, .guest_phys_addr = 0x400000, .memory_size = 2 * PAGE,
		.userspace_addr = (uintptr_t)plain,
	};
	struct gmemu_exit ex;
	uint8_t b = 0;

	setup(KVM_X86_SW_PROTECTED_VM, 4);
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	plain[PAGE] = 0x3e;
	CHECK_OK(gmemu_guest_access(vm_, 0x400000 + PAGE, &b, 1, 0, &ex));
	CHECK_EQ(b, 0x3e);
	CHECK_ERR(gmemu_guest_access(vm_, 0x400000, &b, 1, PRIV, &ex), EFAULT);
	CHECK_EQ(ex.memory_fault.flags, KVM_MEMORY_EXIT_FLAG_PRIVATE);
	/* a userspace_addr the VMM unmapped: EFAULT, no memory-fault exit */
	munmap(plain, 2 * PAGE);
	CHECK_ERR(gmemu_guest_access(vm_, 0x400000, &b, 1, 0, &ex), EFAULT);
	CHECK_EQ(ex.exit_reason, 0);
}

/* ---- accesses racing with conversions ---- */

static _Atomic int stop_;
static int torn_, completed_, faulted_;

static void *private_reader(void *arg)
{
	uint8_t page[PAGE];
	struct gmemu_exit ex;

	(void)arg;
	while (!stop_) {
		int r = gmemu_guest_access(vm_, BASE, page, PAGE, PRIV, &ex);
		size_t i;

		if (r == 0) {
			/* TDX model, flags = 0: a page made private reads all
			 * zeros; a mixture would be a half-done conversion */
			for (i = 0; i < PAGE; i++)
				if (page[i]) {
					__atomic_add_fetch(&torn_, 1, __ATOMIC_RELAXED);
					break;
				}
			__atomic_add_fetch(&completed_, 1, __ATOMIC_RELAXED);
		} else {
			if (errno != EFAULT || ex.exit_reason != KVM_EXIT_MEMORY_FAULT)
				__atomic_add_fetch(&torn_, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&faulted_, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

TEST(accesses_see_old_or_new_state)
{
	pthread_t t[4];
	int i, round;

	setup(KVM_X86_TDX_VM, 4);
	CHECK_OK(gmemu_vm_finalize(vm_)); /* TDX-like guests run after launch */
	for (i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, private_reader, NULL) == 0);
	for (round = 0; round < 300; round++) {
		memset(view_, 0xaa, PAGE); /* host fills while shared */
		CHECK_CONVERT(gmem_, 0, PAGE, true, 0);
		usleep(50);
		CHECK_CONVERT(gmem_, 0, PAGE, false, 0);
		usleep(50); /* the readers meet the shared state too */
	}
	stop_ = 1;
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("# %d completed, %d faulted\n", completed_, faulted_);
	CHECK_EQ(torn_, 0);
	CHECK(completed_ > 0 && faulted_ > 0);
}
