// SPDX-License-Identifier: MIT
/*
 * Real guests (where /dev/kvm works): the round trip of a wrong-intent
 * access -> KVM_EXIT_MEMORY_FAULT -> one-page conversion -> the completed
 * access, against a plain MMIO exit round trip measured in the same run.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define CODE_GPA 0x1000
#define GMEM_GPA 0x20000ULL
#define SHARED_BIT 24
#define N 2000

static int vm_, gmem_, vcpu_;
static struct kvm_run *run_;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static bool setup(void)
{
	struct kvm_userspace_memory_region2 low = {
		.slot = 0, .memory_size = 0x10000,
	}, mem = {
		.slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = GMEM_GPA, .memory_size = 16 * PAGE,
	};
	struct kvm_create_guest_memfd c = {
		.size = 16 * PAGE,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	int kvm = gmemu_kvm_open(), size;
	uint8_t *low_mem;
	FILE *f;

	low_mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	f = fopen("build/guests/memop.bin", "rb");
	if (!f || fread(low_mem + CODE_GPA, 1, 4096, f) == 0)
		return false;
	fclose(f);
	vm_ = gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SNP_VM);
	gmemu_vm_set_shared_gpa_bit(vm_, SHARED_BIT);
	gmem_ = gmemu_ioctl(vm_, KVM_CREATE_GUEST_MEMFD, &c);
	low.userspace_addr = (uintptr_t)low_mem;
	mem.guest_memfd = (uint32_t)gmem_;
	mem.userspace_addr = (uintptr_t)gmemu_mmap(NULL, 16 * PAGE,
						   PROT_READ | PROT_WRITE,
						   MAP_SHARED, gmem_, 0);
	if (gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &low) ||
	    gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &mem))
		die("memslots");
	/* SNP runs no vCPU before launch ends, as on hardware */
	if (gmemu_vm_finalize(vm_))
		die("gmemu_vm_finalize");
	size = gmemu_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return false;
	vcpu_ = gmemu_ioctl(vm_, KVM_CREATE_VCPU, 0);
	if (vcpu_ < 0)
		return false;
	run_ = gmemu_mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
			  vcpu_, 0);
	return run_ != MAP_FAILED;
}

/* Point the guest at a read of the byte at gpa. */
static void start_read(uint64_t gpa)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = CODE_GPA, .rflags = 2, .rsp = 0xfff0 };

	if (gmemu_ioctl(vcpu_, KVM_GET_SREGS, &s))
		die("KVM_GET_SREGS");
	s.cs.base = s.ss.base = 0;
	s.cs.selector = s.ss.selector = 0;
	s.ds.selector = (uint16_t)(gpa >> 4);
	s.ds.base = gpa;
	if (gmemu_ioctl(vcpu_, KVM_SET_SREGS, &s) || gmemu_ioctl(vcpu_, KVM_SET_REGS, &r))
		die("KVM_SET_REGS");
}

static void convert(bool priv)
{
	struct kvm_memory_attributes2 a = {
		.offset = 4 * PAGE, .size = PAGE,
		.attributes = priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};

	if (gmemu_ioctl(gmem_, KVM_SET_MEMORY_ATTRIBUTES2, &a))
		die("KVM_SET_MEMORY_ATTRIBUTES2");
}

int main(void)
{
	static double conv[N], mmio[N];
	int i;

	bench_open();
	if (access("/dev/kvm", R_OK | W_OK) || !setup()) {
		printf("real guests: skipped (no usable /dev/kvm or guest not built)\n");
		return 0;
	}
	for (i = 0; i < N; i++) {
		double t0;

		/* plain MMIO: a GPA with no memslot; the VMM supplies the byte */
		start_read(0x80000);
		t0 = bench_now_ns();
		if (gmemu_ioctl(vcpu_, KVM_RUN, 0) || run_->exit_reason != KVM_EXIT_MMIO)
			die("expected an MMIO exit");
		run_->mmio.data[0] = 1;
		if (gmemu_ioctl(vcpu_, KVM_RUN, 0) || run_->exit_reason != KVM_EXIT_IO)
			die("expected the guest's report");
		mmio[i] = bench_now_ns() - t0;

		/* a private page read at the private GPA... of a shared page */
		start_read(GMEM_GPA + 4 * PAGE);
		t0 = bench_now_ns();
		if (gmemu_ioctl(vcpu_, KVM_RUN, 0) != -1 ||
		    run_->exit_reason != KVM_EXIT_MEMORY_FAULT)
			die("expected a memory-fault exit");
		convert(true);
		if (gmemu_ioctl(vcpu_, KVM_RUN, 0) || run_->exit_reason != KVM_EXIT_IO)
			die("expected the completed access");
		conv[i] = bench_now_ns() - t0;
		convert(false); /* untimed: ready for the next round */
	}
	bench_report("real guest: fault -> convert -> access", stats_of(conv, N),
		     "  baseline: plain MMIO exit round trip", stats_of(mmio, N),
		     3.0, "<= 3.0x");
	return 0;
}
