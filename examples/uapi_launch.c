// SPDX-License-Identifier: MIT
/*
 * Launch a confidential guest in place, the way QEMU does it, written for
 * the kernel UAPI only -- open, ioctl, mmap; no gmemu in it:
 *
 *   gmemu run --abi 7.4 --kvm-param gmem_in_place_conversion=Y -- ./uapi_launch snp
 *   gmemu run --abi 7.4 --kvm-param gmem_in_place_conversion=Y -- ./uapi_launch tdx
 *
 * The image (a secret byte and 8 bytes of 32-bit code at the reset
 * vector) is written into guest_memfd through an mmap while shared,
 * converted to private in place (KVM_SET_MEMORY_ATTRIBUTES2), added to the
 * launch image in place (SNP_LAUNCH_UPDATE with uaddr 0; TDX
 * INIT_MEM_REGION with source_addr 0), the launch is finished, and the
 * vCPU runs from 0xfffffff0: it reads the secret from private memory and
 * reports it on port 0x10.  Exit 0 when the guest reported it; 3 when
 * the kernel has no in-place conversion; 77 when no vCPU can run here.
 * (The constants a stock <linux/kvm.h> may lack are the kernel's.)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
	__u32 slot, flags;
	__u64 guest_phys_addr, memory_size, userspace_addr, guest_memfd_offset;
	__u32 guest_memfd, pad1;
	__u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#define KVM_MEM_GUEST_MEMFD (1UL << 2)
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
#ifndef KVM_MEMORY_ATTRIBUTE_PRIVATE
#define KVM_MEMORY_ATTRIBUTE_PRIVATE (1ULL << 3)
#endif
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif
/* the in-place series as queued for Linux 7.4 */
#define CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES 252
#define SNP_VM 4
#define TDX_VM 5

/* arch/x86/include/uapi/asm/kvm.h (SEV-SNP, 6.11+) */
#ifndef KVM_SEV_SNP_PAGE_TYPE_NORMAL
#define KVM_SEV_INIT2 22
#define KVM_SEV_SNP_LAUNCH_START 100
#define KVM_SEV_SNP_LAUNCH_UPDATE 101
#define KVM_SEV_SNP_LAUNCH_FINISH 102
#define KVM_SEV_SNP_PAGE_TYPE_NORMAL 0x1
struct kvm_sev_init {
	__u64 vmsa_features;
	__u32 flags;
	__u16 ghcb_version, pad1;
	__u32 pad2[8];
};
struct kvm_sev_snp_launch_start {
	__u64 policy;
	__u8 gosvw[16];
	__u16 flags;
	__u8 pad0[6];
	__u64 pad1[4];
};
struct kvm_sev_snp_launch_update {
	__u64 gfn_start, uaddr, len;
	__u8 type, pad0;
	__u16 flags;
	__u32 pad1;
	__u64 pad2[4];
};
struct kvm_sev_snp_launch_finish {
	__u64 id_block_uaddr, id_auth_uaddr;
	__u8 id_block_en, auth_key_en, vcek_disabled, host_data[32], pad0[3];
	__u16 flags;
	__u64 pad1[4];
};
#endif

/* TDX (6.16+): Documentation/virt/kvm/x86/intel-tdx.rst */
#ifndef KVM_TDX_MEASURE_MEMORY_REGION
#define KVM_TDX_CAPABILITIES 0
#define KVM_TDX_INIT_VM 1
#define KVM_TDX_INIT_VCPU 2
#define KVM_TDX_INIT_MEM_REGION 3
#define KVM_TDX_FINALIZE_VM 4
#define KVM_TDX_MEASURE_MEMORY_REGION (1UL << 0)
struct kvm_tdx_cmd {
	__u32 id, flags;
	__u64 data, hw_error;
};
struct kvm_tdx_capabilities {
	__u64 supported_attrs, supported_xfam;
	__u64 kernel_tdvmcallinfo_1_r11, user_tdvmcallinfo_1_r11;
	__u64 kernel_tdvmcallinfo_1_r12, user_tdvmcallinfo_1_r12;
	__u64 reserved[250];
	struct kvm_cpuid2 cpuid;
};
struct kvm_tdx_init_vm {
	__u64 attributes, xfam;
	__u64 mrconfigid[6], mrowner[6], mrownerconfig[6];
	__u64 reserved[12];
	struct kvm_cpuid2 cpuid;
};
struct kvm_tdx_init_mem_region {
	__u64 source_addr, gpa, nr_pages;
};
#endif

#define PAGE 4096UL
#define IMAGE_GPA 0xffff0000ULL /* 64 KiB below 4 GiB: the reset vector's */
#define IMAGE_SIZE 0x10000UL
#define SECRET 'G'

static void fail(const char *what)
{
	fprintf(stderr, "uapi_launch: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int vm_fd, vcpu_fd = -1, sev_fd = -1;
static struct kvm_run *run;

/* ---- SEV-SNP, as QEMU's target/i386/sev.c drives it ---- */

static void sev_cmd(uint32_t id, void *data, const char *what)
{
	struct kvm_sev_cmd cmd = { .id = id, .data = (uintptr_t)data,
				   .sev_fd = (uint32_t)sev_fd };

	if (ioctl(vm_fd, KVM_MEMORY_ENCRYPT_OP, &cmd)) {
		fprintf(stderr, "uapi_launch: %s: %s (firmware error %u)\n", what,
			strerror(errno), cmd.error);
		exit(1);
	}
}

static void snp_init(void)
{
	struct kvm_sev_init init = { .ghcb_version = 2 };

	sev_fd = open("/dev/sev", O_RDWR | O_CLOEXEC);
	if (sev_fd < 0)
		fail("/dev/sev");
	sev_cmd(KVM_SEV_INIT2, &init, "KVM_SEV_INIT2");
}

static void snp_launch_start(void)
{
	/* policy: SMT allowed, the must-be-one bit */
	struct kvm_sev_snp_launch_start start = { .policy = 0x30000 };

	sev_cmd(KVM_SEV_SNP_LAUNCH_START, &start, "KVM_SEV_SNP_LAUNCH_START");
}

static void snp_launch_update(void)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = IMAGE_GPA >> 12, .uaddr = 0 /* in place */,
		.len = IMAGE_SIZE, .type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
	};

	/* the kernel may do part of it and say what is left */
	while (u.len)
		sev_cmd(KVM_SEV_SNP_LAUNCH_UPDATE, &u, "KVM_SEV_SNP_LAUNCH_UPDATE");
}

static void snp_launch_finish(void)
{
	struct kvm_sev_snp_launch_finish f = { 0 };

	sev_cmd(KVM_SEV_SNP_LAUNCH_FINISH, &f, "KVM_SEV_SNP_LAUNCH_FINISH");
}

/* ---- TDX, as QEMU's target/i386/kvm/tdx.c drives it ---- */

static void tdx_cmd(int fd, uint32_t id, uint32_t flags, void *data,
		    const char *what)
{
	struct kvm_tdx_cmd cmd = { .id = id, .flags = flags, .data = (uintptr_t)data };

	if (ioctl(fd, KVM_MEMORY_ENCRYPT_OP, &cmd)) {
		fprintf(stderr, "uapi_launch: %s: %s (hw_error %#llx)\n", what,
			strerror(errno), (unsigned long long)cmd.hw_error);
		exit(1);
	}
}

static void tdx_init(void)
{
	size_t n = 64;
	struct kvm_tdx_capabilities *caps =
		calloc(1, sizeof(*caps) + n * sizeof(struct kvm_cpuid_entry2));
	struct kvm_tdx_init_vm *init =
		calloc(1, sizeof(*init) + sizeof(struct kvm_cpuid_entry2));

	if (!caps || !init)
		fail("calloc");
	caps->cpuid.nent = (__u32)n;
	tdx_cmd(vm_fd, KVM_TDX_CAPABILITIES, 0, caps, "KVM_TDX_CAPABILITIES");
	/* QEMU's default TD attributes: SEPT_VE_DISABLE, where supported */
	init->attributes = caps->supported_attrs & (1ULL << 28);
	init->xfam = caps->supported_xfam & 3; /* x87, SSE */
	init->cpuid.nent = 1;
	init->cpuid.entries[0].function = 0x80000008;
	init->cpuid.entries[0].eax = 0x3030; /* 48-bit guest physical addresses */
	tdx_cmd(vm_fd, KVM_TDX_INIT_VM, 0, init, "KVM_TDX_INIT_VM");
	free(caps);
	free(init);
}

static void tdx_init_mem_region(void)
{
	struct kvm_tdx_init_mem_region r = {
		.source_addr = 0 /* in place */, .gpa = IMAGE_GPA,
		.nr_pages = IMAGE_SIZE / PAGE,
	};

	while (r.nr_pages)
		tdx_cmd(vcpu_fd, KVM_TDX_INIT_MEM_REGION,
			KVM_TDX_MEASURE_MEMORY_REGION, &r, "KVM_TDX_INIT_MEM_REGION");
}

/* ---- the common part ---- */

/* 32-bit protected mode, flat, at the reset vector: the TDX module's
 * initial state; an SNP VMM sets it before LAUNCH_FINISH seals it. */
static void vcpu_set_reset_state(void)
{
	struct kvm_segment code = {
		.limit = 0xffffffff, .selector = 0x8, .type = 0xb, .present = 1,
		.db = 1, .s = 1, .g = 1,
	}, data = code;
	struct kvm_regs regs = { .rip = 0xfffffff0, .rflags = 2 };
	struct kvm_sregs sregs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs))
		fail("KVM_GET_SREGS");
	data.selector = 0x10;
	data.type = 0x3;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 = 0x31;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) || ioctl(vcpu_fd, KVM_SET_REGS, &regs))
		fail("KVM_SET_SREGS/KVM_SET_REGS");
}

static sigjmp_buf jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jmp, 1);
}

int main(int argc, char **argv)
{
	/* mov al, [0xffff0000]; out 0x10, al; hlt */
	static const uint8_t code[] = { 0xa0, 0x00, 0x00, 0xff, 0xff, 0xe6, 0x10, 0xf4 };
	struct kvm_create_guest_memfd gc = {
		.size = IMAGE_SIZE,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	struct kvm_userspace_memory_region2 slot = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = IMAGE_GPA, .memory_size = IMAGE_SIZE,
	};
	struct kvm_memory_attributes2 attr = {
		.offset = 0, .size = IMAGE_SIZE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	int kvm, gmem, tdx, size, type;
	volatile uint8_t *mem;
	char got;

	if (argc != 2 || (strcmp(argv[1], "snp") && strcmp(argv[1], "tdx"))) {
		fprintf(stderr, "usage: uapi_launch snp|tdx\n");
		return 2;
	}
	tdx = !strcmp(argv[1], "tdx");
	type = tdx ? TDX_VM : SNP_VM;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("/dev/kvm");
	if (!(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES) & (1 << type))) {
		fprintf(stderr, "uapi_launch: no %s VMs here\n", argv[1]);
		return 1;
	}
	vm_fd = ioctl(kvm, KVM_CREATE_VM, type);
	if (vm_fd < 0)
		fail("KVM_CREATE_VM");
	/* in-place conversion: guest_memfd takes KVM_SET_MEMORY_ATTRIBUTES2 */
	if (!(ioctl(vm_fd, KVM_CHECK_EXTENSION, CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES) &
	      KVM_MEMORY_ATTRIBUTE_PRIVATE)) {
		fprintf(stderr, "uapi_launch: no in-place conversion "
				"(kvm.gmem_in_place_conversion=N?)\n");
		return 3;
	}
	if (tdx)
		tdx_init();
	else
		snp_init();

	gmem = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &gc);
	if (gmem < 0)
		fail("KVM_CREATE_GUEST_MEMFD");
	mem = mmap(NULL, IMAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, gmem, 0);
	if (mem == MAP_FAILED)
		fail("mmap(guest_memfd)");
	slot.guest_memfd = (__u32)gmem;
	slot.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &slot))
		fail("KVM_SET_USER_MEMORY_REGION2");

	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu_fd < 0) {
		printf("no vCPU can run here (KVM_CREATE_VCPU: %s)\n", strerror(errno));
		return 77;
	}
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = size > 0 ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      vcpu_fd, 0) : MAP_FAILED;
	if (run == MAP_FAILED)
		fail("mmap(vCPU)");
	if (tdx) {
		/* the TDX module sets the reset vector; the VMM cannot */
		tdx_cmd(vcpu_fd, KVM_TDX_INIT_VCPU, 0, NULL, "KVM_TDX_INIT_VCPU");
	} else {
		vcpu_set_reset_state();
		snp_launch_start();
	}

	/* the image, written while shared, made private in place */
	mem[0] = SECRET;
	memcpy((uint8_t *)mem + IMAGE_SIZE - 16, code, sizeof(code));
	if (ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &attr))
		fail("KVM_SET_MEMORY_ATTRIBUTES2");
	printf("image written while shared, converted to private in place\n");
	if (tdx) {
		tdx_init_mem_region();
		tdx_cmd(vm_fd, KVM_TDX_FINALIZE_VM, 0, NULL, "KVM_TDX_FINALIZE_VM");
	} else {
		snp_launch_update();
		snp_launch_finish();
	}
	printf("%s launch finished, in place\n", tdx ? "TDX" : "SEV-SNP");

	signal(SIGBUS, on_sigbus);
	if (sigsetjmp(jmp, 1) == 0) {
		(void)mem[0];
		printf("host read of the private image: no SIGBUS\n");
		return 1;
	}
	printf("host read of the private image: SIGBUS\n");

	if (ioctl(vcpu_fd, KVM_RUN, 0))
		fail("KVM_RUN");
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x10) {
		fprintf(stderr, "uapi_launch: exit %u, expected KVM_EXIT_IO\n",
			run->exit_reason);
		return 1;
	}
	got = *((char *)run + run->io.data_offset);
	printf("guest read '%c' from its private image\n", got);
	if (ioctl(vcpu_fd, KVM_RUN, 0) || run->exit_reason != KVM_EXIT_HLT) {
		fprintf(stderr, "uapi_launch: the guest did not halt\n");
		return 1;
	}
	return got == SECRET ? 0 : 1;
}
