// SPDX-License-Identifier: MIT
/*
 * Real guests, on each vCPU backend that runs here (kvm where /dev/kvm
 * works, emulated where libunicorn.so.2 is): the round trip of a
 * wrong-intent access -> KVM_EXIT_MEMORY_FAULT -> one-page conversion ->
 * the completed access, against a plain MMIO exit round trip measured in
 * the same run; the bare exit rate (an OUT per KVM_RUN); and the guest's
 * memory bandwidth: a 64-bit guest's rep movsb over 64 MiB of its private
 * gmem memory, against the host's memcpy of 64 MiB.
 */
#include <fcntl.h>
#include <string.h>
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
	if (vm_ < 0)
		die("KVM_CREATE_VM");
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
	size = gmemu_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return false;
	vcpu_ = gmemu_ioctl(vm_, KVM_CREATE_VCPU, 0);
	if (vcpu_ < 0 || gmemu_vm_finalize(vm_))
		return false; /* SNP-like guests run after launch */
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

static void measure(const char *backend)
{
	static double conv[N], mmio[N], exits[N], reads[N];
	char fig[4][64];
	struct kvm_regs r = { .rip = CODE_GPA + 0x50, .rflags = 2, .rsp = 0xfff0 };
	int i;

	for (i = 0; i < N; i++) {
		double t0;

		/* plain MMIO: a shared GPA with no memslot; the VMM supplies
		 * the byte */
		start_read(0x80000 | 1ULL << SHARED_BIT);
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
	/* the bare exit: an OUT per KVM_RUN, nothing set in between */
	start_read(0);
	if (gmemu_ioctl(vcpu_, KVM_SET_REGS, &r))
		die("KVM_SET_REGS");
	for (i = 0; i < N; i++) {
		double t0 = bench_now_ns();

		if (gmemu_ioctl(vcpu_, KVM_RUN, 0) || run_->exit_reason != KVM_EXIT_IO ||
		    run_->io.port != 0x15)
			die("expected the loop's OUT");
		exits[i] = bench_now_ns() - t0;
	}
	/* the bare MMIO read: one exit per KVM_RUN, answered */
	start_read(0x80000 | 1ULL << SHARED_BIT);
	r.rip = CODE_GPA + 0x58;
	if (gmemu_ioctl(vcpu_, KVM_SET_REGS, &r))
		die("KVM_SET_REGS");
	for (i = 0; i < N; i++) {
		double t0 = bench_now_ns();

		if (gmemu_ioctl(vcpu_, KVM_RUN, 0) || run_->exit_reason != KVM_EXIT_MMIO)
			die("expected the loop's MMIO read");
		run_->mmio.data[0] = (uint8_t)i;
		reads[i] = bench_now_ns() - t0;
	}
	snprintf(fig[0], sizeof(fig[0]), "real guest (%s): fault -> convert -> access",
		 backend);
	snprintf(fig[1], sizeof(fig[1]), "  baseline: plain MMIO exit round trip");
	bench_report(fig[0], stats_of(conv, N), fig[1], stats_of(mmio, N), 3.0,
		     "<= 3.0x");
	snprintf(fig[2], sizeof(fig[2]), "real guest (%s): OUT exit round trip",
		 backend);
	bench_report(fig[2], stats_of(exits, N), fig[1], stats_of(mmio, N), 0, "");
	snprintf(fig[3], sizeof(fig[3]), "real guest (%s): MMIO read round trip",
		 backend);
	bench_report(fig[3], stats_of(reads, N), fig[1], stats_of(mmio, N), 0, "");
	printf("  %s: %.0f I/O exits/s, %.0f MMIO reads/s (medians)\n", backend,
	       1e9 / stats_of(exits, N).median, 1e9 / stats_of(reads, N).median);
}

#define BW_GPA 0x1000000ULL /* 16 MiB: source, then destination */
#define BW_ROUNDS 3

/* rep movsb; out %al, $0x16; hlt -- run in 64-bit mode */
static const uint8_t bw_code[] = { 0xf3, 0xa4, 0xe6, 0x16, 0xf4 };

#define PT_GPA 0x4000 /* PML4, PDPT, PD: the first GiB in 2 MiB pages */

/* Long mode with paging, as a guest kernel runs (a CPU without paging may
 * be emulated by the host's KVM, which would measure that instead). */
static void long_mode(uint8_t *low, struct kvm_sregs *s)
{
	uint64_t *pml4 = (uint64_t *)(low + PT_GPA), *pdpt = pml4 + 512,
		 *pd = pdpt + 512;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11,
		.present = 1, .dpl = 0, .l = 1, .s = 1, .g = 1,
	}, data = code;
	int i;

	pml4[0] = (PT_GPA + 0x1000) | 3;
	pdpt[0] = (PT_GPA + 0x2000) | 3;
	for (i = 0; i < 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83; /* present, writable, 2 MiB */
	data.selector = 0x10;
	data.type = 3;
	data.l = 0;
	data.db = 1;
	s->cs = code;
	s->ds = s->es = s->ss = s->fs = s->gs = data;
	s->cr3 = PT_GPA;
	s->cr4 |= 1 << 5;                 /* PAE */
	s->efer |= 0x500;                 /* LME, LMA */
	s->cr0 |= 0x80000001;             /* PG, PE */
}

static void bandwidth(const char *backend, bool in_gmem, unsigned int mib)
{
	const unsigned long bw_size = (unsigned long)mib << 20;
	struct kvm_userspace_memory_region2 low = { .slot = 0, .memory_size = 0x10000 },
		mem = { .slot = 1, .flags = in_gmem ? KVM_MEM_GUEST_MEMFD : 0,
			.guest_phys_addr = BW_GPA, .memory_size = 2 * bw_size };
	struct kvm_create_guest_memfd c = { .size = 2 * bw_size };
	static double guest[BW_ROUNDS], host[BW_ROUNDS];
	int kvm = gmemu_kvm_open(), vm, g, vcpu, i, size;
	uint8_t *low_mem, *a, *b, *plain = NULL;
	struct kvm_run *run;
	struct kvm_sregs s;
	char fig[2][64];

	low_mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	a = mmap(NULL, 2 * bw_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (low_mem == MAP_FAILED || a == MAP_FAILED)
		die("mmap");
	b = a + bw_size;
	memcpy(low_mem + CODE_GPA, bw_code, sizeof(bw_code));
	vm = gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	g = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c); /* private: the guest's */
	low.userspace_addr = (uintptr_t)low_mem;
	mem.guest_memfd = (uint32_t)g;
	if (!in_gmem) {
		/* the same copy over ordinary memory: the backend's own cost */
		plain = mmap(NULL, 2 * bw_size, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (plain == MAP_FAILED)
			die("mmap");
		mem.userspace_addr = (uintptr_t)plain;
	}
	/* the backing allocated up front, as the host's copy is populated */
	if (vm < 0 || g < 0 || gmemu_fallocate(g, FALLOC_FL_KEEP_SIZE, 0, 2 * bw_size) ||
	    gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &low) ||
	    gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &mem))
		die("bandwidth VM");
	size = gmemu_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	vcpu = gmemu_ioctl(vm, KVM_CREATE_VCPU, 0);
	if (size <= 0 || vcpu < 0)
		die("bandwidth vCPU");
	run = gmemu_mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu, 0);
	if (run == MAP_FAILED || gmemu_ioctl(vcpu, KVM_GET_SREGS, &s))
		die("bandwidth vCPU state");
	long_mode(low_mem, &s);
	if (gmemu_ioctl(vcpu, KVM_SET_SREGS, &s))
		die("KVM_SET_SREGS");
	/* interleaved: guest copy, host copy, ...; the first guest round
	 * includes the backend's first touch of each page */
	for (i = 0; i < BW_ROUNDS; i++) {
		struct kvm_regs r = { .rip = CODE_GPA, .rflags = 2, .rsi = BW_GPA,
				      .rdi = BW_GPA + bw_size, .rcx = bw_size };
		double t0;

		if (gmemu_ioctl(vcpu, KVM_SET_REGS, &r))
			die("KVM_SET_REGS");
		t0 = bench_now_ns();
		if (gmemu_ioctl(vcpu, KVM_RUN, 0) || run->exit_reason != KVM_EXIT_IO ||
		    run->io.port != 0x16)
			die("expected the copy's end");
		guest[i] = bench_now_ns() - t0;
		t0 = bench_now_ns();
		memcpy(b, a, bw_size);
		__asm__ volatile("" ::"r"(b) : "memory");
		host[i] = bench_now_ns() - t0;
	}
	snprintf(fig[0], sizeof(fig[0]), "guest (%s): rep movsb %u MiB, %s", backend,
		 mib, in_gmem ? "private gmem" : "plain memslot");
	snprintf(fig[1], sizeof(fig[1]), "  baseline: host memcpy %u MiB", mib);
	bench_report(fig[0], stats_of(guest, BW_ROUNDS), fig[1],
		     stats_of(host, BW_ROUNDS), 0, "");
	printf("  %s: guest copies %.1f MiB/s, host %.0f MiB/s (medians)\n", backend,
	       mib * 1e9 / stats_of(guest, BW_ROUNDS).median,
	       mib * 1e9 / stats_of(host, BW_ROUNDS).median);
	gmemu_munmap(run, (size_t)size);
	gmemu_close(vcpu);
	gmemu_close(g);
	gmemu_close(vm);
	gmemu_close(kvm);
	munmap(a, 2 * bw_size);
	munmap(low_mem, 0x10000);
	if (plain)
		munmap(plain, 2 * bw_size);
}

int main(void)
{
	static const char *const backends[] = { "kvm", "emulated" };
	size_t b;

	bench_open();
	for (b = 0; b < 2; b++) {
		const char *why = gmemu_vcpu_backend_unavailable(backends[b]);

		if (why) {
			printf("real guests (%s): skipped (%s)\n", backends[b], why);
			continue;
		}
		setenv("GMEMU_VCPU", backends[b], 1);
		if (!setup()) {
			printf("real guests (%s): skipped (guest not built)\n",
			       backends[b]);
			continue;
		}
		measure(backends[b]);
		gmemu_close(vcpu_);
		gmemu_close(vm_);
		/* the copy over ordinary memory, smaller: the backend's own
		 * speed, to tell it from gmemu's */
		bandwidth(backends[b], true, 64);
		bandwidth(backends[b], false, 8);
	}
	return 0;
}
