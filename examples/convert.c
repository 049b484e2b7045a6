// SPDX-License-Identifier: MIT
/* Build: cc convert.c $(pkg-config --cflags --libs --static gmemu) */
#include <gmemu.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
	int kvm = gmemu_kvm_open();                  /* open("/dev/kvm") */
	int vm = gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	struct kvm_create_guest_memfd gc = {
		.size = 1 << 20,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	int gmem = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &gc);
	char *mem = gmemu_mmap(NULL, gc.size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, gmem, 0);
	long modes = gmemu_ioctl(vm, KVM_CHECK_EXTENSION,
				 KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS);
	struct kvm_memory_attributes2 attr = {
		.offset = 0, .size = 4096,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
		.flags = modes & KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
	};

	strcpy(mem, "payload for the guest");        /* written while shared */
	if (gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &attr)) {
		perror("to private");                /* error_offset says where */
		return 1;
	}
	/* mem[0] now raises SIGBUS; convert back and the bytes are there */
	attr.attributes = 0;
	if (gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &attr))
		return 1;
	printf("%s\n", mem);                         /* "payload for the guest" */
	int ok = strcmp(mem, "payload for the guest") == 0;
	gmemu_munmap(mem, gc.size);
	gmemu_close(gmem);
	return ok ? 0 : 1;
}
