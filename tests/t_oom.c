// SPDX-License-Identifier: MIT
/*
 * No silent out-of-memory: every allocation the library makes can fail, and
 * a call whose allocation fails returns ENOMEM with nothing changed (or
 * succeeds without it).  Each case fails the 1st, 2nd, ... allocation of
 * one call in turn, until the call needs no more, and checks the state
 * after every attempt.
 */
#include <sys/ioctl.h>

#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define MAX_ALLOCS 64

/* Run op with its nth allocation failing, for n = 1, 2, ...: check(r)
 * must accept each outcome.  Returns how many allocations op needed. */
#define EACH_ALLOCATION(n, r, op, check)                                  \
	for (n = 1; n <= MAX_ALLOCS; n++) {                               \
		testing_fail_at("alloc", n);                              \
		errno = 0;                                                \
		r = (long)(op);                                           \
		int hits_ = testing_hits();                               \
		testing_fail_at(NULL, 0);                                 \
		if (r < 0 && errno != ENOMEM)                             \
			FAIL("allocation %d failed: %s, expected ENOMEM", \
			     n, strerror(errno));                         \
		check;                                                    \
		if (hits_ < n)                                            \
			break; /* op needed fewer: it ran clean */        \
	}                                                                 \
	printf("# %s: %d allocation(s) failed in turn\n", #op, n - 1)

static int count_fds(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

TEST(kvm_open_and_vm_create)
{
	int n, fds = count_fds(), kvm;
	long r;

	EACH_ALLOCATION(n, r, gmemu_kvm_open(), {
		if (r >= 0)
			gmemu_close((int)r);
		CHECK_EQ(count_fds(), fds);
	});
	kvm = open_kvm(NULL);
	fds = count_fds();
	EACH_ALLOCATION(n, r, gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SNP_VM), {
		if (r >= 0)
			gmemu_close((int)r);
		CHECK_EQ(count_fds(), fds);
	});
}

TEST(gmem_creation)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	struct kvm_create_guest_memfd c = { .size = 16 * PAGE, .flags = SHARED };
	int n, fds = count_fds();
	long r;

	EACH_ALLOCATION(n, r, gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c), {
		if (r >= 0) {
			CHECK(!is_private((int)r, 0));
			gmemu_close((int)r);
		}
		CHECK_EQ(count_fds(), fds);
	});
	CHECK(n > 1);
}

TEST(conversions)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 64 * PAGE, SHARED), n, p;
	uint8_t *v = map_gmem(g, 64 * PAGE, 0);
	long r;

	/* many extents, so that a conversion copies tree paths */
	for (p = 0; p < 64; p += 2)
		CHECK_CONVERT(g, p * PAGE, PAGE, true, 0);
	v[PAGE] = 0x31;
	EACH_ALLOCATION(n, r, set_attrs(g, 0, 8 * PAGE, true,
					 KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE), {
		if (r == 0) {
			for (p = 0; p < 8; p++)
				CHECK(is_private(g, p * PAGE));
			CHECK_SIGBUS_READ(v + PAGE);
			/* back to the alternating pattern */
			for (p = 1; p < 8; p += 2)
				CHECK_CONVERT(g, p * PAGE, PAGE, false,
					      KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
		} else {
			CHECK_EQ(r, -ENOMEM);
		}
		/* whatever happened, the pattern and the bytes are there */
		for (p = 0; p < 8; p++)
			CHECK_EQ(is_private(g, p * PAGE), p % 2 == 0);
		CHECK_EQ(v[PAGE], 0x31);
	});
	EACH_ALLOCATION(n, r, set_attrs(g, 0, 8 * PAGE, false,
					 KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE), {
		if (r == 0) {
			CHECK(!is_private(g, 0));
			CHECK_CONVERT(g, 0, PAGE, true, 0);
		} else {
			CHECK_EQ(r, -ENOMEM);
			CHECK(is_private(g, 0));
			CHECK_SIGBUS_READ(v);
		}
	});
}

TEST(views_and_splits)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 16 * PAGE, SHARED), n;
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	uint8_t *v;
	long r;

	EACH_ALLOCATION(n, r, (long)gmemu_mmap(NULL, 16 * PAGE,
					       PROT_READ | PROT_WRITE,
					       MAP_SHARED, g, 0), {
		if ((void *)r != MAP_FAILED) {
			((uint8_t *)r)[0] = 1;
			CHECK_OK(gmemu_munmap((void *)r, 16 * PAGE));
		}
		CHECK_OK(gmemu_gmem_info(g, &info));
		CHECK_EQ(info.nr_processes, 0);
	});
	/* unmapping the middle of a view splits it */
	v = map_gmem(g, 16 * PAGE, 0);
	v[8 * PAGE] = 0x44;
	EACH_ALLOCATION(n, r, gmemu_munmap(v + 4 * PAGE, PAGE), {
		if (r == 0) {
			/* both halves still views: a conversion reaches them */
			CHECK_CONVERT(g, 8 * PAGE, PAGE, true, 0);
			CHECK_SIGBUS_READ(v + 8 * PAGE);
			CHECK_CONVERT(g, 8 * PAGE, PAGE, false,
				      KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
		} else {
			CHECK_EQ(v[4 * PAGE], 0); /* still mapped */
		}
		CHECK_EQ(v[8 * PAGE], 0x44);
	});
}

TEST(memslots_and_pins)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 16 * PAGE, SHARED), n, slot = 0;
	long r;

	EACH_ALLOCATION(n, r, ({
		struct kvm_userspace_memory_region2 m = {
			.slot = (uint32_t)slot, .flags = KVM_MEM_GUEST_MEMFD,
			.guest_phys_addr = 0x100000ULL + (uint64_t)slot * PAGE,
			.memory_size = PAGE, .guest_memfd = (uint32_t)g,
			.guest_memfd_offset = (uint64_t)slot * PAGE,
		};
		gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &m);
	}), {
		if (r == 0)
			slot++;
	});
	CHECK(slot > 0);
	EACH_ALLOCATION(n, r, gmemu_pin(g, 0, 4 * PAGE), {
		if (r == 0)
			CHECK_OK(gmemu_unpin(g, 0, 4 * PAGE));
		/* pins balanced either way: to-private works */
		CHECK_CONVERT(g, 0, 4 * PAGE, true, 0);
		CHECK_CONVERT(g, 0, 4 * PAGE, false, 0);
	});
}

TEST(guest_access_and_populate)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 16 * PAGE, SHARED), n;
	struct kvm_userspace_memory_region2 m = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = 0x100000, .memory_size = 16 * PAGE,
		.guest_memfd = (uint32_t)g,
	};
	static uint8_t buf[3 * PAGE], img[PAGE];
	uint8_t m0[32], m1[32];
	struct gmemu_exit ex;
	long r;

	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &m));
	memset(buf, 0x5c, sizeof(buf));
	EACH_ALLOCATION(n, r, gmemu_guest_access(vm, 0x100000, buf, sizeof(buf),
						 GMEMU_ACCESS_WRITE, &ex), {
		CHECK(guest_all(g, 0, r == 0 ? 0x5c : 0, sizeof(buf)));
	});
	CHECK_CONVERT(g, 4 * PAGE, PAGE, true, 0);
	memset(img, 0x7b, sizeof(img));
	CHECK_OK(gmemu_vm_measurement(vm, m0));
	EACH_ALLOCATION(n, r, gmemu_vm_populate(vm, 0x100000 + 4 * PAGE, img,
						PAGE), {
		CHECK_OK(gmemu_vm_measurement(vm, m1));
		if (r)
			CHECK(memcmp(m0, m1, 32) == 0);
		if (r == 0) {
			CHECK(memcmp(m0, m1, 32) != 0);
			memcpy(m0, m1, 32);
		}
	});
}
