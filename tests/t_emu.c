// SPDX-License-Identifier: MIT
/*
 * What the emulated vCPU adds: a 64-bit guest set up as KVM's selftests set
 * one up (page tables, GDT, CR0/CR4/EFER by KVM_SET_SREGS), KVM's exits and
 * their completion (IN with a pointer in RDI, MMIO, HLT, a triple fault,
 * KVM_HC_MAP_GPA_RANGE by vmcall and vmmcall, immediate_exit), memory
 * faults of the encrypted models completed once after the conversion,
 * conversions -- here and in another process -- while the guest runs, two
 * vCPUs, a VM without memory, the reset state, the per-VM attribute profile,
 * and the vCPU and system ioctls through checked copies.  Every case forces
 * GMEMU_VCPU=emulated, so it runs (not skips) wherever libunicorn.so.2 is,
 * with or without /dev/kvm.
 */
#include <linux/falloc.h>
#include <linux/kvm_para.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

/* Guest-physical layout: a plain memslot of LOW_SIZE at 0 (code, tables,
 * stack) and a guest_memfd memslot of GMEM_PAGES at GMEM_GPA. */
#define LOW_SIZE (4UL << 20)
#define GDT 0x1000
#define CODE 0x2000
#define IDT 0x3000
#define STACK 0x9000
#define LOG 0x7000 /* what the guests write for the test */
#define PML4 0x100000
#define PDPT 0x101000
#define PD 0x102000
#define PT0 0x103000
#define GMEM_GPA 0x400000ULL
#define GMEM_PAGES 16
#define SHARED_BIT 30
#define ALIAS (1ULL << SHARED_BIT)
/* Virtual layout: 0-2 MiB identity (4 KiB pages), 2-4 MiB identity (one
 * 2 MiB page), the gmem at VA 0x400000 (its private GPAs) and 0x600000 (its
 * shared alias), MMIO at VA 0x800000. */
#define VA_PRIVATE 0x400000ULL
#define VA_SHARED 0x600000ULL
#define VA_MMIO 0x800000ULL
#define MMIO_GPA 0xd0000000ULL

/* Routines of tests/guests/long64.S */
enum {
	R_UCALL = 0x000, R_MMIO = 0x040, R_HYPERCALLS = 0x080, R_HALT = 0xc0,
	R_TRIPLE = 0xd0, R_READ_LOOP = 0xe0, R_FAULT_ONCE = 0x100,
	R_COUNT_LOOP = 0x140, R_READ_BYTE = 0x180, R_CALL_FAR = 0x1c0,
	R_CALLEE = 0x200, R_SPIN = 0x240, R_REP_OUT = 0x280,
};

struct guest {
	int kvm, vm, gmem, vcpu;
	struct kvm_run *run;
	uint8_t *low, *view;
	size_t run_size;
};

static void force_emulated(void)
{
	const char *why = gmemu_vcpu_backend_unavailable("emulated");

	if (why)
		SKIP(why);
	setenv("GMEMU_VCPU", "emulated", 1);
}

static void put64(uint8_t *mem, uint64_t at, uint64_t v)
{
	memcpy(mem + at, &v, 8);
}

static uint64_t get64(const uint8_t *mem, uint64_t at)
{
	uint64_t v;

	memcpy(&v, mem + at, 8);
	return v;
}

static void load_code(uint8_t *low)
{
	const char *so = getenv("GMEMU_LIBSO");
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s", so ? so : "build/libgmemu.so");
	*strrchr(path, '/') = 0;
	strncat(path, "/guests/long64.bin", sizeof(path) - strlen(path) - 1);
	f = fopen(path, "rb");
	if (!f)
		SKIP("guest program not built");
	CHECK(fread(low + CODE, 1, 4096, f) > 0);
	fclose(f);
}

/* Page tables, GDT and IDT as the selftests' library builds them. */
static void build_tables(uint8_t *low, uint64_t shared)
{
	int i;

	put64(low, PML4, PDPT | 3);
	put64(low, PDPT, PD | 3);
	put64(low, PD + 0, PT0 | 3);
	put64(low, PD + 8, 0x200000 | 0x83);                /* 2 MiB page */
	put64(low, PD + 16, GMEM_GPA | 0x83);               /* private GPAs */
	put64(low, PD + 24, (GMEM_GPA | shared) | 0x83);    /* shared alias */
	put64(low, PD + 32, MMIO_GPA | 0x83);               /* MMIO */
	for (i = 0; i < 512; i++)
		put64(low, PT0 + 8 * (uint64_t)i, (uint64_t)i << 12 | 3);
	put64(low, GDT + 0, 0);
	put64(low, GDT + 8, 0x00af9b000000ffffULL);  /* code: 64-bit */
	put64(low, GDT + 16, 0x00cf93000000ffffULL); /* data */
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

/* Long mode, as vcpu_init_sregs() of the selftests makes it. */
static void long_mode(int vcpu)
{
	struct kvm_sregs s;

	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_SREGS, &s));
	s.cr0 = 0x80050033;     /* PE MP ET NE WP AM PG */
	s.cr4 = 0x620;          /* PAE OSFXSR OSXMMEXCPT */
	s.efer = 0xd01;         /* SCE LME LMA NX */
	s.cr3 = PML4;
	seg(&s.cs, 8, 11, true);
	seg(&s.ds, 0x10, 3, false);
	s.es = s.ss = s.fs = s.gs = s.ds;
	s.gdt.base = GDT;
	s.gdt.limit = 23;
	s.idt.base = IDT;
	s.idt.limit = 0xfff;
	CHECK_OK(gmemu_ioctl(vcpu, KVM_SET_SREGS, &s));
}

/* Start routine off with the registers given (rip and rsp set here). */
static void start(struct guest *g, int vcpu, int off, struct kvm_regs *r)
{
	struct kvm_regs regs = { 0 };

	(void)g;
	if (r)
		regs = *r;
	regs.rip = CODE + (uint64_t)off;
	regs.rsp = STACK;
	regs.rflags = 2;
	CHECK_OK(gmemu_ioctl(vcpu, KVM_SET_REGS, &regs));
}

static int vcpu_new(struct guest *g, int id, struct kvm_run **run)
{
	int vcpu = gmemu_ioctl(g->vm, KVM_CREATE_VCPU, id);

	CHECK(vcpu >= 0);
	*run = gmemu_mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			  vcpu, 0);
	CHECK(*run != MAP_FAILED);
	long_mode(vcpu);
	return vcpu;
}

/* A VM of type with the low memslot, and a gmem memslot unless no_gmem. */
static struct guest setup_profile(const char *profile, unsigned long type,
				  uint64_t gmem_flags)
{
	struct guest g = { 0 };
	struct kvm_userspace_memory_region2 low = {
		.slot = 0, .memory_size = LOW_SIZE,
	}, mem = {
		.slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = GMEM_GPA, .memory_size = GMEM_PAGES * PAGE,
	};
	bool alias = type == KVM_X86_SNP_VM || type == KVM_X86_TDX_VM;

	force_emulated();
	g.kvm = open_kvm(profile);
	g.run_size = (size_t)gmemu_ioctl(g.kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	CHECK(g.run_size >= 3 * PAGE);
	g.low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(g.low != MAP_FAILED);
	load_code(g.low);
	build_tables(g.low, alias ? ALIAS : 0);
	g.vm = create_vm(g.kvm, type);
	if (alias)
		CHECK_OK(gmemu_vm_set_shared_gpa_bit(g.vm, SHARED_BIT));
	low.userspace_addr = (uintptr_t)g.low;
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &low));
	g.gmem = create_gmem(g.vm, GMEM_PAGES * PAGE, gmem_flags);
	if (gmem_flags & GUEST_MEMFD_FLAG_MMAP)
		g.view = map_gmem(g.gmem, GMEM_PAGES * PAGE, 0);
	mem.guest_memfd = (uint32_t)g.gmem;
	mem.userspace_addr = (uintptr_t)g.low + 0x200000; /* the 6.18 backing */
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &mem));
	g.vcpu = vcpu_new(&g, 0, &g.run);
	CHECK(!strcmp(gmemu_vcpu_backend(), "emulated"));
	return g;
}

static struct guest setup(unsigned long type)
{
	return setup_profile(NULL, type, SHARED);
}

static int run_vcpu(int vcpu)
{
	return gmemu_ioctl(vcpu, KVM_RUN, 0) ? -errno : 0;
}

static uint64_t rip(int vcpu)
{
	struct kvm_regs r;

	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_REGS, &r));
	return r.rip;
}

static uint32_t io_data(struct kvm_run *run)
{
	uint32_t v = 0;

	memcpy(&v, (uint8_t *)run + run->io.data_offset, run->io.size);
	return v;
}

/* Run to the next exit: an OUT of size bytes to port; returns the value. */
static uint32_t expect_out(int vcpu, struct kvm_run *run, int port)
{
	int r = run_vcpu(vcpu);

	if (r)
		FAIL("KVM_RUN: %s (exit %u)", strerror(-r), run->exit_reason);
	if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT ||
	    run->io.port != port)
		FAIL("exit %u dir %u port %#x, expected OUT to %#x",
		     run->exit_reason, run->io.direction, run->io.port, port);
	CHECK_EQ(run->io.count, 1);
	return io_data(run);
}

struct fault {
	__u64 flags, gpa, size;
};

static void check_memory_fault(struct kvm_run *run, bool private, uint64_t gpa)
{
	struct fault *f = (struct fault *)(void *)&run->mmio;

	CHECK_EQ(run->exit_reason, KVM_EXIT_MEMORY_FAULT);
	CHECK_EQ(f->flags, private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0);
	CHECK_EQ(f->gpa, gpa);
	CHECK_EQ(f->size, PAGE);
}

/* ---- the exits ---- */

TEST(long_mode_ucall_with_a_pointer_in_rdi)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_regs r = { .rdi = LOG };

	start(&g, g.vcpu, R_UCALL, &r);
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_IO);
	CHECK_EQ(g.run->io.direction, KVM_EXIT_IO_IN);
	CHECK_EQ(g.run->io.port, 0x1000);
	CHECK_EQ(g.run->io.size, 1);
	CHECK_EQ(g.run->io.count, 1);
	CHECK_EQ(g.run->io.data_offset, PAGE); /* the PIO page, as KVM x86 */
	/* the VMM finds its struct through RDI, RIP at the IN (fast PIO) */
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	CHECK_EQ(r.rdi, LOG);
	CHECK_EQ(r.rip, CODE + R_UCALL + 0xb);
	CHECK_EQ(get64(g.low, LOG), 0x55aa);
	/* the answer completes the IN on the next KVM_RUN, exactly once */
	*((uint8_t *)g.run + g.run->io.data_offset) = 0x5c;
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x11), 0x5c);
	CHECK_EQ(g.low[LOG + 8], 0x5c);
	CHECK_EQ(rip(g.vcpu), CODE + R_UCALL + 0xf);
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_HLT);
}

TEST(mmio_write_then_read_completion)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_regs r = { .rbx = VA_MMIO };
	uint64_t data = 0x1122334455667788ULL;

	start(&g, g.vcpu, R_MMIO, &r);
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_MMIO);
	CHECK(g.run->mmio.is_write);
	CHECK_EQ(g.run->mmio.phys_addr, MMIO_GPA + 0x10);
	CHECK_EQ(g.run->mmio.len, 8);
	CHECK(!memcmp(g.run->mmio.data, &data, 8));
	CHECK_EQ(rip(g.vcpu), CODE + R_MMIO + 0xe); /* a write exits past it */
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_MMIO);
	CHECK(!g.run->mmio.is_write);
	CHECK_EQ(g.run->mmio.phys_addr, MMIO_GPA + 0x20);
	CHECK_EQ(g.run->mmio.len, 4);
	CHECK_EQ(rip(g.vcpu), CODE + R_MMIO + 0xe); /* a read exits at it */
	memcpy(g.run->mmio.data, "\x78\x56\x34\x12", 4);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x12), 0x12345678);
}

TEST(hlt_exits_past_the_instruction)
{
	struct guest g = setup(GMEMU_VM_PKVM);

	start(&g, g.vcpu, R_HALT, NULL);
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_HLT);
	CHECK_EQ(rip(g.vcpu), CODE + R_HALT + 1);
	expect_out(g.vcpu, g.run, 0x14);
}

TEST(triple_fault_is_shutdown)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_sregs s;

	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_SREGS, &s));
	s.idt.limit = 0; /* #UD cannot be delivered, nor the #DF */
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_SREGS, &s));
	start(&g, g.vcpu, R_TRIPLE, NULL);
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_SHUTDOWN);
}

/*
 * Instruction encodings that must raise #UD and that Unicorn 2.0.1 cannot
 * translate (it aborts the process): lcall/ljmp with a register operand
 * (FF /3, FF /5, mod 3).  The guest gets its #UD at that
 * instruction, after the ones before it ran exactly once; the VMM lives.
 */
static void bad_encoding_is_ud(const uint8_t *insn, size_t len)
{
	static const uint8_t handler[] = {
		0x48, 0x8b, 0x04, 0x24, /* mov (%rsp), %rax: the faulting RIP */
		0xe7, 0x1c,             /* out %eax, $0x1c */
		0xf4,                   /* hlt */
	};
	static const uint8_t incs[] = { 0x48, 0xff, 0xc3, 0x48, 0xff, 0xc3 };
	struct guest g = setup(GMEMU_VM_PKVM);
	uint8_t gate[16] = { 0x00, 0x51, 0x08, 0x00, 0x00, 0x8e };
	struct kvm_regs r = { .rbx = 40 };
	int round;

	memcpy(g.low + 0x5000, incs, sizeof(incs));  /* inc %rbx, twice */
	memcpy(g.low + 0x5000 + sizeof(incs), insn, len);
	g.low[0x5000 + sizeof(incs) + len] = 0xf4;
	memcpy(g.low + 0x5100, handler, sizeof(handler));
	memcpy(g.low + IDT + 16 * 6, gate, sizeof(gate)); /* #UD -> 0x5100 */
	for (round = 0; round < 3; round++) {
		start(&g, g.vcpu, 0x5000 - CODE, &r);
		CHECK_EQ(expect_out(g.vcpu, g.run, 0x1c), 0x5000 + sizeof(incs));
		CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
		CHECK_EQ(r.rbx, 42);
		CHECK_OK(run_vcpu(g.vcpu));
		CHECK_EQ(g.run->exit_reason, KVM_EXIT_HLT);
		r.rbx = 40;
	}
}

TEST(lcall_with_a_register_operand_is_ud)
{
	static const uint8_t insn[] = { 0xff, 0xd8 };

	bad_encoding_is_ud(insn, sizeof(insn));
}

TEST(ljmp_with_a_register_operand_is_ud)
{
	static const uint8_t insn[] = { 0x66, 0xff, 0xe9 };

	bad_encoding_is_ud(insn, sizeof(insn));
}

/* The block that cannot be translated starts with an instruction that
 * faults: the fault is delivered (its handler runs as any code does, its
 * hlt a HLT exit), and the #UD comes when the guest gets back there. */
TEST(fault_before_an_untranslatable_instruction)
{
	static const uint8_t code[] = {
		0x48, 0xf7, 0xf1, /* div %rcx: #DE, RCX 0 */
		0xff, 0xd8,       /* lcall *%eax: #UD */
	};
	static const uint8_t de_handler[] = {
		0x48, 0x8b, 0x04, 0x24, /* mov (%rsp), %rax: the RIP */
		0xe7, 0x1d,             /* out %eax, $0x1d */
		0xf4,                   /* hlt */
		0xe7, 0x1e,             /* out %eax, $0x1e */
		0xf4,                   /* hlt */
	};
	struct guest g = setup(GMEMU_VM_PKVM);
	uint8_t gate[16] = { 0x00, 0x52, 0x08, 0x00, 0x00, 0x8e };
	struct kvm_regs r = { .rcx = 0 };

	memcpy(g.low + 0x5000, code, sizeof(code));
	memcpy(g.low + 0x5200, de_handler, sizeof(de_handler));
	memcpy(g.low + IDT, gate, sizeof(gate)); /* #DE -> 0x5200 */
	start(&g, g.vcpu, 0x5000 - CODE, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x1d), 0x5000);
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_HLT);
	CHECK_EQ(rip(g.vcpu), 0x5207);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x1e), 0x5000);
}

TEST(map_gpa_range_by_vmcall_and_vmmcall)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_EXIT_HYPERCALL,
		.args = { 1ULL << KVM_HC_MAP_GPA_RANGE },
	};
	struct kvm_regs r = { .rsi = GMEM_GPA + 2 * PAGE };
	int i;

	CHECK_OK(gmemu_ioctl(g.vm, KVM_ENABLE_CAP, &cap));
	start(&g, g.vcpu, R_HYPERCALLS, &r);
	for (i = 0; i < 2; i++) {
		uint64_t at = CODE + R_HYPERCALLS + (i ? 0x1c : 0x12);

		CHECK_OK(run_vcpu(g.vcpu));
		CHECK_EQ(g.run->exit_reason, KVM_EXIT_HYPERCALL);
		CHECK_EQ(g.run->hypercall.nr, KVM_HC_MAP_GPA_RANGE);
		CHECK_EQ(g.run->hypercall.args[0], GMEM_GPA + 2 * PAGE);
		CHECK_EQ(g.run->hypercall.args[1], 1);
		CHECK_EQ(g.run->hypercall.args[2], 0x10);
		CHECK_EQ(rip(g.vcpu), at); /* at the vmcall / vmmcall */
		/* the VMM converts and answers; the guest gets ret in RAX
		 * and goes on past the instruction */
		CHECK_CONVERT(g.gmem, 2 * PAGE, PAGE, !i, PRESERVE);
		g.run->hypercall.ret = 0x70 + (uint64_t)i;
		CHECK_EQ(expect_out(g.vcpu, g.run, 0x13), 0x70 + i);
		CHECK_EQ(rip(g.vcpu), at + 3);
	}
	CHECK(!is_private(g.gmem, 2 * PAGE));
}

TEST(hypercall_without_the_capability_is_enosys)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_regs r = { .rsi = GMEM_GPA };

	start(&g, g.vcpu, R_HYPERCALLS, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x13), (uint32_t)-1000); /* -KVM_ENOSYS */
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x13), (uint32_t)-1000);
}

TEST(immediate_exit_returns_eintr_and_keeps_the_exit)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_regs r = { .rdi = LOG };

	start(&g, g.vcpu, R_UCALL, &r);
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->io.direction, KVM_EXIT_IO_IN);
	/* the pending IN completes first, as KVM completes user I/O */
	*((uint8_t *)g.run + g.run->io.data_offset) = 0x3d;
	g.run->immediate_exit = 1;
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EINTR);
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_IO);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	CHECK_EQ(r.rax & 0xff, 0x3d);
	CHECK_EQ(r.rip, CODE + R_UCALL + 0xc); /* past the IN, no further */
	CHECK_EQ(g.low[LOG + 8], 0);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EINTR);
	g.run->immediate_exit = 0;
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x11), 0x3d);
}

struct stopper {
	struct kvm_run *run;
	pthread_t vcpu_thread;
};

static void on_usr1(int sig)
{
	(void)sig;
}

static void *stop_later(void *arg)
{
	struct stopper *s = arg;

	usleep(20000);
	/* what KVM's selftests do to stop a vCPU: immediate_exit, then a
	 * signal to its thread */
	__atomic_store_n(&s->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(s->vcpu_thread, SIGUSR1);
	return NULL;
}

TEST(immediate_exit_and_a_signal_stop_a_running_guest)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct stopper s = { g.run, pthread_self() };
	struct kvm_regs r;
	pthread_t t;

	signal(SIGUSR1, on_usr1);
	start(&g, g.vcpu, R_SPIN, NULL);
	CHECK(pthread_create(&t, NULL, stop_later, &s) == 0);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EINTR);
	pthread_join(t, NULL);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	CHECK(r.rax > 0); /* it ran */
	CHECK(r.rip >= CODE + R_SPIN && r.rip < CODE + R_SPIN + 8);
}

/* KVM holds the vCPU's mutex through KVM_RUN: a register ioctl from
 * another thread waits until the run returns, and changes nothing under
 * the running guest. */
struct setter {
	int vcpu;
	_Atomic bool done;
};

static void *set_rip_to_halt(void *arg)
{
	struct setter *s = arg;
	struct kvm_regs r;

	CHECK_OK(gmemu_ioctl(s->vcpu, KVM_GET_REGS, &r));
	r.rip = CODE + R_HALT;
	CHECK_OK(gmemu_ioctl(s->vcpu, KVM_SET_REGS, &r));
	atomic_store(&s->done, true);
	return NULL;
}

struct run_watch {
	struct guest *g;
	struct setter set;
	pthread_t vcpu_thread, setter_thread;
	bool done_early;
};

static void *set_during_run(void *arg)
{
	struct run_watch *w = arg;

	usleep(20000);
	CHECK(pthread_create(&w->setter_thread, NULL, set_rip_to_halt, &w->set) == 0);
	usleep(50000);
	w->done_early = atomic_load(&w->set.done);
	__atomic_store_n(&w->g->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(w->vcpu_thread, SIGUSR1);
	return NULL;
}

TEST(vcpu_ioctls_wait_for_a_running_kvm_run)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct run_watch w = { &g, { g.vcpu, false }, pthread_self() };
	pthread_t t;

	signal(SIGUSR1, on_usr1);
	start(&g, g.vcpu, R_SPIN, NULL);
	CHECK(pthread_create(&t, NULL, set_during_run, &w) == 0);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EINTR);
	pthread_join(t, NULL);
	pthread_join(w.setter_thread, NULL);
	CHECK(!w.done_early);
	CHECK(atomic_load(&w.set.done));
	/* and it took effect after the run */
	g.run->immediate_exit = 0;
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_HLT);
	CHECK_EQ(rip(g.vcpu), CODE + R_HALT + 1);
}

TEST(rep_outsb_exits_once_per_byte)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_regs r = { .rsi = LOG, .rcx = 3 };

	memcpy(g.low + LOG, "abc", 3);
	start(&g, g.vcpu, R_REP_OUT, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x1b), 'a');
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x1b), 'b');
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x1b), 'c');
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_HLT);
}

TEST(internal_error_without_memslots)
{
	int kvm, vm, vcpu;
	struct kvm_run *run;

	force_emulated();
	kvm = open_kvm(NULL);
	vm = create_vm(kvm, GMEMU_VM_PKVM);
	vcpu = gmemu_ioctl(vm, KVM_CREATE_VCPU, 0);
	CHECK(vcpu >= 0);
	run = gmemu_mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	CHECK(run != MAP_FAILED);
	CHECK_OK(gmemu_ioctl(vcpu, KVM_RUN, 0));
	CHECK_EQ(run->exit_reason, KVM_EXIT_INTERNAL_ERROR);
	CHECK_EQ(run->internal.suberror, KVM_INTERNAL_ERROR_EMULATION);
}

TEST(reset_state_of_a_vcpu_nobody_configured)
{
	struct kvm_userspace_memory_region2 top = {
		.slot = 0, .guest_phys_addr = 0xfffff000, .memory_size = PAGE,
	};
	struct kvm_mp_state mp;
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_run *run;
	uint8_t *rom;
	int kvm, vm, vcpu;

	force_emulated();
	kvm = open_kvm(NULL);
	vm = create_vm(kvm, GMEMU_VM_PKVM);
	rom = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	CHECK(rom != MAP_FAILED);
	rom[0xff0] = 0xf4; /* hlt at the reset vector */
	top.userspace_addr = (uintptr_t)rom;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &top));
	vcpu = gmemu_ioctl(vm, KVM_CREATE_VCPU, 0);
	CHECK(vcpu >= 0);
	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_REGS, &r));
	CHECK_EQ(r.rip, 0xfff0);
	CHECK_EQ(r.rflags, 2);
	CHECK_EQ(r.rdx, 0x600);
	CHECK_EQ(r.rax | r.rbx | r.rcx | r.rsp | r.rsi | r.rdi, 0);
	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_SREGS, &s));
	CHECK_EQ(s.cs.selector, 0xf000);
	CHECK_EQ(s.cs.base, 0xffff0000);
	CHECK_EQ(s.cs.limit, 0xffff);
	CHECK_EQ(s.ds.base, 0);
	CHECK_EQ(s.cr0, 0x60000010);
	CHECK_EQ(s.cr3 | s.cr4 | s.efer, 0);
	CHECK_EQ(s.apic_base, 0xfee00900);
	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_MP_STATE, &mp));
	CHECK_EQ(mp.mp_state, KVM_MP_STATE_RUNNABLE);
	/* and it runs from the reset vector, 0xfffffff0 */
	run = gmemu_mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	CHECK(run != MAP_FAILED);
	CHECK_OK(gmemu_ioctl(vcpu, KVM_RUN, 0));
	CHECK_EQ(run->exit_reason, KVM_EXIT_HLT);
	CHECK_EQ(rip(vcpu), 0xfff1);
}

TEST(fetch_fault_keeps_the_call_done)
{
	struct guest g = setup(KVM_X86_TDX_VM);
	uint64_t callee = VA_PRIVATE + 4 * PAGE;
	struct kvm_regs r = { .rax = callee, .rbx = 41 };
	struct gmemu_exit ex;

	CHECK_OK(gmemu_vm_finalize(g.vm));
	/* the callee's page is shared: fetching it at its private GPA is a
	 * wrong-intent access, taken once the call itself is done */
	start(&g, g.vcpu, R_CALL_FAR, &r);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT);
	check_memory_fault(g.run, true, GMEM_GPA + 4 * PAGE);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	CHECK_EQ(r.rip, callee);
	CHECK_EQ(r.rsp, STACK - 8);
	CHECK_EQ(get64(g.low, STACK - 8), CODE + R_CALL_FAR + 2);
	/* private (zeroed, TDX-like), the code written by the VMM's
	 * software vCPU, and run again: the call returns once */
	CHECK_CONVERT(g.gmem, 4 * PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_guest_access(g.vm, GMEM_GPA + 4 * PAGE, g.low + CODE + R_CALLEE,
				    16, GMEMU_ACCESS_WRITE | GMEMU_ACCESS_PRIVATE, &ex));
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x1a), 42);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	CHECK_EQ(r.rsp, STACK);
}

/* ---- the encrypted models: intents and conversions ---- */

static void wrong_intent_completes_once(unsigned long type)
{
	struct guest g = setup(type);
	struct kvm_regs r = { .rsi = VA_PRIVATE + 3 * PAGE };
	uint64_t v, gpa = GMEM_GPA + 3 * PAGE;
	struct gmemu_exit ex;

	put64(g.view, 3 * PAGE, 41);
	CHECK_OK(gmemu_vm_finalize(g.vm));
	/* shared page, private GPA: a memory fault, nothing done */
	start(&g, g.vcpu, R_FAULT_ONCE, &r);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT);
	check_memory_fault(g.run, true, gpa);
	CHECK_EQ(rip(g.vcpu), CODE + R_FAULT_ONCE);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT); /* not converted */
	check_memory_fault(g.run, true, gpa);
	CHECK_EQ(get64(g.view, 3 * PAGE), 41);
	/* converted (flags 0 after launch: the model's effect), the
	 * increment happens once, from scratch */
	CHECK_CONVERT(g.gmem, 3 * PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_guest_access(g.vm, gpa, &v, 8, GMEMU_ACCESS_PRIVATE, &ex));
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x17), (uint32_t)(v + 1));
	CHECK_OK(gmemu_guest_access(g.vm, gpa, &r.rax, 8, GMEMU_ACCESS_PRIVATE, &ex));
	CHECK_EQ(r.rax, v + 1);
	if (type == KVM_X86_TDX_VM)
		CHECK_EQ(v, 0);
	/* and back: a shared access at the private GPA exits again; at the
	 * alias it reads the page */
	CHECK_CONVERT(g.gmem, 3 * PAGE, PAGE, false, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	g.view[3 * PAGE + 5] = 0x6e;
	r.rsi = VA_SHARED + 3 * PAGE + 5;
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x19), 0x6e);
	r.rsi = VA_PRIVATE + 3 * PAGE + 5;
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT);
	check_memory_fault(g.run, true, gpa);
}

TEST(tdx_wrong_intent_fault_completes_exactly_once)
{
	wrong_intent_completes_once(KVM_X86_TDX_VM);
}

TEST(snp_wrong_intent_fault_completes_exactly_once)
{
	wrong_intent_completes_once(KVM_X86_SNP_VM);
}

/* The guest reads a shared page through the alias in a loop, logging what
 * it read; a converter makes the page private (TDX-like: zeroed).  From
 * the moment the conversion returns the guest must not read the page
 * again: its count moves at most once more (the iteration whose read came
 * before), and neither the zeros nor bytes written afterwards reach its
 * log. */
struct loop {
	struct guest *g;
	int rounds_ok;
};

static void *guest_loop(void *arg)
{
	struct loop *l = arg;
	struct guest *g = l->g;

	if (run_vcpu(g->vcpu) == -EFAULT &&
	    g->run->exit_reason == KVM_EXIT_MEMORY_FAULT)
		l->rounds_ok = 1;
	return NULL;
}

static void convert_under_a_reading_guest(bool other_process)
{
	struct guest g = setup(KVM_X86_TDX_VM);
	struct kvm_regs r = { .rsi = VA_SHARED + 5 * PAGE, .rdi = LOG };
	uint64_t poison = 0xbadbadbadULL, c1, c2;
	struct loop l = { &g, 0 };
	struct gmemu_exit ex;
	pthread_t t;
	int i, status;

	CHECK_OK(gmemu_vm_finalize(g.vm));
	for (i = 0; i < 5; i++) {
		int go[2] = { -1, -1 };
		pid_t pid = -1;

		put64(g.view, 5 * PAGE, 0x1111);
		put64(g.low, LOG, 0);
		put64(g.low, LOG + 8, 0);
		l.rounds_ok = 0;
		if (other_process) {
			/* the converter is another process, forked while the
			 * vCPU is idle (a fork while another thread is inside
			 * the allocator can hang the child under GCC 12's
			 * ASan, which does not hold its allocator across
			 * fork); it converts when told */
			CHECK_OK(pipe(go));
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0) {
				char b;

				close(go[1]);
				if (read(go[0], &b, 1) != 1)
					_exit(4);
				/* our agent hears of it before the
				 * conversion returns */
				if (set_attrs(g.gmem, 5 * PAGE, PAGE, true, 0))
					_exit(2);
				c1 = get64(g.low, LOG + 8);
				usleep(20000);
				c2 = get64(g.low, LOG + 8);
				_exit(c2 <= c1 + 1 ? 0 : 3);
			}
			close(go[0]);
		}
		start(&g, g.vcpu, R_READ_LOOP, &r);
		CHECK(pthread_create(&t, NULL, guest_loop, &l) == 0);
		while (__atomic_load_n((uint64_t *)(void *)(g.low + LOG + 8),
				       __ATOMIC_RELAXED) < 1000)
			usleep(100);
		if (other_process) {
			CHECK(write(go[1], "g", 1) == 1);
			close(go[1]);
			CHECK(waitpid(pid, &status, 0) == pid);
			CHECK(WIFEXITED(status));
			CHECK_EQ(WEXITSTATUS(status), 0);
		} else {
			CHECK_CONVERT(g.gmem, 5 * PAGE, PAGE, true, 0);
			c1 = get64(g.low, LOG + 8);
			/* a stale mapping would read these private bytes */
			CHECK_OK(gmemu_guest_access(g.vm, GMEM_GPA + 5 * PAGE, &poison,
						    8, GMEMU_ACCESS_WRITE |
						    GMEMU_ACCESS_PRIVATE, &ex));
			usleep(20000);
			c2 = get64(g.low, LOG + 8);
			CHECK(c2 <= c1 + 1);
		}
		pthread_join(t, NULL);
		CHECK(l.rounds_ok);
		check_memory_fault(g.run, false, GMEM_GPA + 5 * PAGE);
		CHECK(get64(g.low, LOG) == 0x1111);
		CHECK_EQ(rip(g.vcpu), CODE + R_READ_LOOP);
		CHECK_CONVERT(g.gmem, 5 * PAGE, PAGE, false,
			      KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	}
}

TEST(conversion_from_another_thread_stops_a_reading_guest)
{
	convert_under_a_reading_guest(false);
}

TEST(conversion_from_another_process_stops_a_reading_guest)
{
	convert_under_a_reading_guest(true);
}

TEST(hole_punch_reaches_a_running_guest)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_regs r = { .rsi = VA_PRIVATE + 6 * PAGE + 3 };

	g.view[6 * PAGE + 3] = 0x44;
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x19), 0x44);
	CHECK_OK(gmemu_fallocate(g.gmem, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
				 6 * PAGE, PAGE));
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x19), 0);
}

/* Memslot changes invalidate with the memslot lock held for writing while
 * the guest runs and resolves pages (which never waits for that lock). */
struct slot_churn {
	struct guest *g;
	int rounds;
	pthread_t vcpu_thread;
};

static void *churn_slots(void *arg)
{
	struct slot_churn *c = arg;
	struct kvm_userspace_memory_region2 r = {
		.slot = 5, .guest_phys_addr = 0x1000000, .memory_size = PAGE,
		.userspace_addr = (uintptr_t)c->g->low + 0x300000,
	};
	int i;

	for (i = 0; i < c->rounds; i++) {
		r.memory_size = PAGE;
		if (gmemu_ioctl(c->g->vm, KVM_SET_USER_MEMORY_REGION2, &r))
			break;
		r.memory_size = 0;
		if (gmemu_ioctl(c->g->vm, KVM_SET_USER_MEMORY_REGION2, &r))
			break;
	}
	c->rounds = i;
	/* then, once the guest has gone round its loop, stop it */
	for (i = 0; i < 5000 && !get64(c->g->low, LOG + 8); i++)
		usleep(1000);
	__atomic_store_n(&c->g->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(c->vcpu_thread, SIGUSR1);
	return NULL;
}

TEST(memslot_changes_while_the_guest_runs)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_regs r = { .rsi = VA_PRIVATE + 2 * PAGE, .rdi = LOG };
	struct slot_churn c = { &g, 300, pthread_self() };
	pthread_t t;

	signal(SIGUSR1, on_usr1);
	put64(g.view, 2 * PAGE, 0x2222);
	start(&g, g.vcpu, R_READ_LOOP, &r);
	/* the guest runs until the churn is done and it is stopped */
	CHECK(pthread_create(&t, NULL, churn_slots, &c) == 0);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EINTR);
	pthread_join(t, NULL);
	CHECK_EQ(c.rounds, 300);
	CHECK(get64(g.low, LOG + 8) > 0);
	CHECK_EQ(get64(g.low, LOG), 0x2222);
}

/*
 * A memslot's userspace_addr unmapped while the guest reads it: KVM's
 * EFAULT (the page cannot be faulted in), never a signal in the VMM.  The
 * guest reads a plain memslot at MMIO_GPA in a loop; another thread
 * unmaps its memory (munmap, or a MAP_FIXED mapping over it).
 */
struct unmapper {
	struct guest *g;
	uint8_t *mem;
	bool fixed;
};

static void *unmap_later(void *arg)
{
	struct unmapper *u = arg;
	struct guest *g = u->g;

	while (__atomic_load_n((uint64_t *)(void *)(g->low + LOG + 8),
			       __ATOMIC_RELAXED) < 1000)
		usleep(100);
	if (u->fixed)
		CHECK(gmemu_mmap(u->mem, 2 << 20, PROT_NONE, MAP_PRIVATE |
				 MAP_ANONYMOUS | MAP_FIXED, -1, 0) == u->mem);
	else
		CHECK_OK(gmemu_munmap(u->mem, 2 << 20));
	return NULL;
}

static void userspace_addr_unmapped_under_a_running_guest(bool fixed)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_userspace_memory_region2 slot = {
		.slot = 2, .guest_phys_addr = MMIO_GPA, .memory_size = 2 << 20,
	};
	struct kvm_regs r = { .rsi = VA_MMIO + 0x40, .rdi = LOG };
	struct unmapper u = { &g, NULL, fixed };
	pthread_t t;

	u.mem = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(u.mem != MAP_FAILED);
	put64(u.mem, 0x40, 0x4242);
	slot.userspace_addr = (uintptr_t)u.mem;
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &slot));
	start(&g, g.vcpu, R_READ_LOOP, &r);
	CHECK(pthread_create(&t, NULL, unmap_later, &u) == 0);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT);
	pthread_join(t, NULL);
	check_memory_fault(g.run, false, MMIO_GPA);
	CHECK_EQ(get64(g.low, LOG), 0x4242);
	CHECK_EQ(rip(g.vcpu), CODE + R_READ_LOOP);
	/* and so on each run, until the VMM maps memory there again */
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT);
	CHECK(gmemu_mmap(u.mem, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE |
			 MAP_ANONYMOUS | MAP_FIXED, -1, 0) == u.mem);
	put64(u.mem, 0x40, 0x4343);
	put64(g.low, LOG + 8, 0);
	u.fixed = true;
	CHECK(pthread_create(&t, NULL, unmap_later, &u) == 0);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT);
	pthread_join(t, NULL);
	CHECK_EQ(get64(g.low, LOG), 0x4343);
}

TEST(userspace_addr_munmapped_under_a_running_guest)
{
	userspace_addr_unmapped_under_a_running_guest(false);
}

TEST(userspace_addr_mapped_over_under_a_running_guest)
{
	userspace_addr_unmapped_under_a_running_guest(true);
}

/* ---- vCPUs, VMs, profiles ---- */

struct counter {
	struct guest *g;
	int vcpu, n, bad;
	struct kvm_run *run;
};

static void *count_out(void *arg)
{
	struct counter *c = arg;
	int i;

	for (i = 1; i <= c->n; i++) {
		if (run_vcpu(c->vcpu) || c->run->exit_reason != KVM_EXIT_IO ||
		    c->run->io.port != 0x18 || io_data(c->run) != (uint32_t)i)
			c->bad++;
	}
	return NULL;
}

TEST(two_vcpus_on_two_threads)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct counter c[2] = {
		{ .g = &g, .vcpu = g.vcpu, .run = g.run, .n = 5000 },
		{ .g = &g, .n = 5000 },
	};
	pthread_t t[2];
	int i;

	c[1].vcpu = vcpu_new(&g, 1, &c[1].run);
	CHECK_ERR(gmemu_ioctl(g.vm, KVM_CREATE_VCPU, 1), EEXIST);
	for (i = 0; i < 2; i++) {
		start(&g, c[i].vcpu, R_COUNT_LOOP, NULL);
		CHECK(pthread_create(&t[i], NULL, count_out, &c[i]) == 0);
	}
	/* conversions meanwhile: every vCPU hears of them */
	for (i = 0; i < 50; i++)
		CHECK_CONVERT(g.gmem, (uint64_t)(i % GMEM_PAGES) * PAGE, PAGE,
			      i % 2 == 0, PRESERVE);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(c[0].bad + c[1].bad, 0);
}

TEST(per_vm_attribute_profile_two_backings)
{
	struct guest g = setup_profile("6.18", KVM_X86_SW_PROTECTED_VM, 0);
	struct kvm_memory_attributes a = {
		.address = GMEM_GPA + PAGE, .size = PAGE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	struct kvm_regs r = { .rsi = VA_PRIVATE + 7 };
	uint8_t page[PAGE], b = 0;
	uint8_t *shared = g.low + 0x200000; /* the memslot's userspace_addr */
	struct gmemu_exit ex;

	/* the vCPU runs emulated even where the kvm backend runs */
	shared[7] = 0x5a;
	shared[PAGE + 7] = 0x5b;
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_MEMORY_ATTRIBUTES, &a));
	memset(page, 0xa5, sizeof(page));
	CHECK_OK(gmemu_vm_populate(g.vm, GMEM_GPA + PAGE, page, PAGE));
	/* shared GPA: userspace_addr; private GPA: the gmem */
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x19), 0x5a);
	r.rsi = VA_PRIVATE + PAGE + 7;
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x19), 0xa5);
	/* the guest writes its private page: the shared backing is untouched */
	r.rsi = VA_PRIVATE + PAGE;
	r.rax = 0;
	start(&g, g.vcpu, R_FAULT_ONCE, &r);
	expect_out(g.vcpu, g.run, 0x17);
	CHECK_OK(gmemu_guest_access(g.vm, GMEM_GPA + PAGE, &b, 1,
				    GMEMU_ACCESS_PRIVATE, &ex));
	CHECK_EQ(b, 0xa6);
	CHECK_EQ(shared[PAGE], 0);
	/* shared again: the guest reads userspace_addr there at once */
	a.attributes = 0;
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_MEMORY_ATTRIBUTES, &a));
	r.rsi = VA_PRIVATE + PAGE + 7;
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x19), 0x5b);
}

/* Per-VM attributes on a model with a shared bit: an attribute needs no
 * memslot, and KVM checks it before the memslot, so a shared access to a
 * GPA with none is MMIO only while the GPA is shared. */
TEST(per_vm_attribute_shared_access_without_memslot)
{
	struct guest g = setup_profile("6.18", KVM_X86_SNP_VM, 0);
	uint64_t gpa = MMIO_GPA & ~ALIAS; /* VA_MMIO is its shared alias */
	struct kvm_memory_attributes a = {
		.address = gpa, .size = PAGE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	struct kvm_regs r = { .rsi = VA_MMIO + 0x20 };
	struct kvm_sregs s;
	int i;

	/* the plain memslot's private GPAs have no guest_memfd here: the
	 * guest reaches its tables and code through the shared alias */
	put64(g.low, PML4, PDPT | ALIAS | 3);
	put64(g.low, PDPT, PD | ALIAS | 3);
	put64(g.low, PD + 0, PT0 | ALIAS | 3);
	for (i = 0; i < 512; i++)
		put64(g.low, PT0 + 8 * (uint64_t)i, ((uint64_t)i << 12) | ALIAS | 3);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_SREGS, &s));
	s.cr3 = PML4 | ALIAS;
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_SREGS, &s));
	CHECK_OK(gmemu_vm_finalize(g.vm));
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_MEMORY_ATTRIBUTES, &a));
	start(&g, g.vcpu, R_READ_BYTE, &r);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_RUN, 0), EFAULT);
	check_memory_fault(g.run, false, gpa);
	/* shared: the same access is MMIO, completed by the VMM */
	a.attributes = 0;
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_MEMORY_ATTRIBUTES, &a));
	CHECK_OK(run_vcpu(g.vcpu));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_MMIO);
	CHECK_EQ(g.run->mmio.phys_addr, gpa + 0x20); /* without the shared bit */
	CHECK_EQ(g.run->mmio.len, 1);
	CHECK(!g.run->mmio.is_write);
	g.run->mmio.data[0] = 0x3c;
	CHECK_EQ(expect_out(g.vcpu, g.run, 0x19), 0x3c);
}

/* ---- the ioctls, through checked copies ---- */

TEST(vcpu_ioctls_round_trip)
{
	struct guest g = setup(GMEMU_VM_PKVM);
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + 4 * sizeof(struct kvm_msr_entry));
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) +
					     64 * sizeof(struct kvm_cpuid_entry2));
	struct kvm_xsave *xs = calloc(1, sizeof(*xs));
	struct kvm_regs r;
	struct kvm_fpu f;
	struct kvm_xcrs x;
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_HALTED };
	int sys = open_kvm(NULL);

	CHECK(msrs && cpuid);
	msrs->nmsrs = 4;
	cpuid->nent = 1;

	/* bad pointers are EFAULT, unknown requests ENOTTY */
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_GET_REGS, (void *)8), EFAULT);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_SET_SREGS, (void *)8), EFAULT);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_GET_MSRS, NULL), EFAULT);
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_GET_LAPIC, &r), ENOTTY);
	CHECK_ERR(gmemu_ioctl(sys, KVM_GET_SUPPORTED_CPUID, NULL), EFAULT);

	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	r.r15 = 0x1515;
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_REGS, &r));
	memset(&r, 0, sizeof(r));
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	CHECK_EQ(r.r15, 0x1515);

	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_FPU, &f));
	CHECK_EQ(f.fcw, 0x37f);
	CHECK_EQ(f.mxcsr, 0x1f80);
	f.xmm[2][0] = 0xab;
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_FPU, &f));
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_XSAVE, xs));
	CHECK_EQ(xs->region[(160 + 32) / 4] & 0xff, 0xab);

	/* MSRs: the count done, stopping at the first unknown one */
	msrs->entries[0].index = 0xc0000082; /* LSTAR */
	msrs->entries[0].data = 0xffffffff81000000ULL;
	msrs->entries[1].index = 0x10;       /* TSC */
	msrs->entries[1].data = 12345;
	msrs->entries[2].index = 0x4b564d00; /* unknown */
	CHECK_EQ(gmemu_ioctl(g.vcpu, KVM_SET_MSRS, msrs), 2);
	msrs->entries[0].data = msrs->entries[1].data = 0;
	CHECK_EQ(gmemu_ioctl(g.vcpu, KVM_GET_MSRS, msrs), 2);
	CHECK_EQ(msrs->entries[0].data, 0xffffffff81000000ULL);
	CHECK_EQ(msrs->entries[1].data, 12345);

	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_XCRS, &x));
	CHECK_EQ(x.nr_xcrs, 1);
	CHECK_EQ(x.xcrs[0].value, 1);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_MP_STATE, &mp));
	mp.mp_state = 0;
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_MP_STATE, &mp));
	CHECK_EQ(mp.mp_state, KVM_MP_STATE_HALTED);

	/* CPUID: too small is E2BIG (nent untouched), then the list, set on
	 * the vCPU and read back */
	CHECK_ERR(gmemu_ioctl(sys, KVM_GET_SUPPORTED_CPUID, cpuid), E2BIG);
	CHECK_EQ(cpuid->nent, 1);
	cpuid->nent = 64;
	CHECK_OK(gmemu_ioctl(sys, KVM_GET_SUPPORTED_CPUID, cpuid));
	CHECK(cpuid->nent >= 7 && cpuid->entries[0].function == 0);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_CPUID2, cpuid));
	cpuid->nent = 1;
	CHECK_ERR(gmemu_ioctl(g.vcpu, KVM_GET_CPUID2, cpuid), E2BIG);
	cpuid->nent = 64;
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_CPUID2, cpuid));
	CHECK(cpuid->nent >= 7);
	free(xs);
	free(msrs);
	free(cpuid);
}

TEST(msr_index_lists)
{
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + 64 * sizeof(uint32_t));
	int sys;
	uint32_t k;
	bool efer = false;

	force_emulated();
	sys = open_kvm(NULL);
	/* the count goes back with E2BIG, as KVM does */
	CHECK_ERR(gmemu_ioctl(sys, KVM_GET_MSR_INDEX_LIST, l), E2BIG);
	CHECK(l->nmsrs > 0 && l->nmsrs <= 64);
	CHECK_OK(gmemu_ioctl(sys, KVM_GET_MSR_INDEX_LIST, l));
	for (k = 0; k < l->nmsrs; k++)
		efer |= l->indices[k] == 0xc0000080;
	CHECK(efer);
	l->nmsrs = 0;
	CHECK_OK(gmemu_ioctl(sys, KVM_GET_MSR_FEATURE_INDEX_LIST, l));
	CHECK_ERR(gmemu_ioctl(sys, KVM_GET_MSR_INDEX_LIST, NULL), EFAULT);
	free(l);
}

TEST(vm_requests_the_selftests_library_issues)
{
	uint64_t addr = 0xfffbc000;
	int kvm, vm;

	force_emulated();
	kvm = open_kvm(NULL);
	vm = create_vm(kvm, GMEMU_VM_PKVM);
	CHECK_OK(gmemu_ioctl(vm, KVM_CREATE_IRQCHIP, 0));
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EEXIST);
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000));
	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_TSS_ADDR, 0xfffffff0), EINVAL);
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &addr));
	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, NULL), EFAULT);
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_NR_MMU_PAGES, 1024));
	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_NR_MMU_PAGES, 10), EINVAL);
	CHECK(gmemu_ioctl(vm, KVM_GET_TSC_KHZ, 0) > 0);
	CHECK_ERR(gmemu_ioctl(vm, KVM_GET_DIRTY_LOG, NULL), ENOTTY);
	CHECK(gmemu_ioctl(vm, KVM_CREATE_VCPU, 0) >= 0);
	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &addr), EINVAL);
}
