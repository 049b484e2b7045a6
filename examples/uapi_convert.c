// SPDX-License-Identifier: MIT
/*
 * A program written for the kernel UAPI only -- open("/dev/kvm"), ioctl,
 * mmap -- with no gmemu in it.  Run it under gmemu:
 *
 *   gmemu run -- ./uapi_convert
 *
 * It converts a page of guest_memfd to private in place and back, and shows
 * the host's SIGBUS in between.  (The constants a stock <linux/kvm.h> may
 * lack are the ones the in-place series defines.)
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
	__u64 size, flags, reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif
#ifndef KVM_SET_MEMORY_ATTRIBUTES2
struct kvm_memory_attributes2 {
	__u64 offset, size, attributes, flags, error_offset, reserved[11];
};
#define KVM_SET_MEMORY_ATTRIBUTES2 _IOWR(KVMIO, 0xd2, struct kvm_memory_attributes2)
#endif
#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#define GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
#endif
#define SW_PROTECTED_VM 1
#define CAP_ATTRIBUTES2_FLAGS 1000 /* the content-mode design's */
#define PRESERVE (1ULL << 1)

static sigjmp_buf jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jmp, 1);
}

int main(void)
{
	struct kvm_create_guest_memfd gc = {
		.size = 1 << 20,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	struct kvm_memory_attributes2 attr = { .size = 4096, .attributes = 1 << 3 };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, gmem;
	volatile char *mem;

	if (kvm < 0) {
		perror("/dev/kvm");
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, SW_PROTECTED_VM);
	gmem = vm < 0 ? -1 : ioctl(vm, KVM_CREATE_GUEST_MEMFD, &gc);
	if (gmem < 0) {
		perror("KVM_CREATE_GUEST_MEMFD");
		return 1;
	}
	mem = mmap(NULL, gc.size, PROT_READ | PROT_WRITE, MAP_SHARED, gmem, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	strcpy((char *)mem, "written while shared");
	/* the content mode comes from the capability, never from the type */
	attr.flags = ioctl(vm, KVM_CHECK_EXTENSION, CAP_ATTRIBUTES2_FLAGS) & PRESERVE;
	if (ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &attr)) {
		perror("to private");
		return 1;
	}
	signal(SIGBUS, on_sigbus);
	if (sigsetjmp(jmp, 1) == 0) {
		(void)mem[0];
		printf("private page read: no SIGBUS\n");
		return 1;
	}
	printf("private page: SIGBUS\n");
	attr.attributes = 0;
	if (ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &attr)) {
		perror("to shared");
		return 1;
	}
	printf("back to shared: \"%s\"\n", (char *)mem);
	return strcmp((char *)mem, "written while shared") != 0;
}
