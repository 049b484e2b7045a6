// SPDX-License-Identifier: MIT
/*
 * Real guests over gmemu memory, each case once per vCPU backend -- real
 * KVM where /dev/kvm works, the emulated CPU wherever libunicorn.so.2 is
 * (a case is skipped, with the reason, only where its backend cannot run):
 * vCPU plumbing, guest and host sharing bytes in place, conversions while
 * the guest runs, hole punch, memslots added later, two vCPUs on two
 * threads, hypercalls, the encrypted models' intents.
 */
#include <linux/falloc.h>
#include <pthread.h>
#include <sys/ioctl.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define CODE_GPA 0x1000
#define GMEM_GPA 0x20000ULL
#define NPAGES 16

enum { OP_READ, OP_WRITE, OP_FILL };

struct guest {
	int vm, gmem, vcpu;
	struct kvm_run *run;
	uint8_t *view;
};

static uint8_t *low_mem; /* plain memslot: code and stack */

static void load_code(void)
{
	const char *so = getenv("GMEMU_LIBSO");
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s", so ? so : "build/libgmemu.so");
	*strrchr(path, '/') = 0;
	strncat(path, "/guests/memop.bin", sizeof(path) - strlen(path) - 1);
	f = fopen(path, "rb");
	if (!f)
		SKIP("guest program not built");
	CHECK(fread(low_mem + CODE_GPA, 1, 4096, f) > 0);
	fclose(f);
}

static struct kvm_run *vcpu_setup(int vm, int id, int *vcpu_fd)
{
	int kvm_size, vcpu;
	struct kvm_run *run;
	int sys = open_kvm(NULL);

	kvm_size = gmemu_ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	CHECK(kvm_size > 0);
	vcpu = gmemu_ioctl(vm, KVM_CREATE_VCPU, id);
	CHECK(vcpu >= 0);
	run = gmemu_mmap(NULL, (size_t)kvm_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu, 0);
	CHECK(run != MAP_FAILED);
	*vcpu_fd = vcpu;
	return run;
}

#define SHARED_BIT 24
#define ALIAS (1ULL << SHARED_BIT)

static struct guest setup(unsigned long type, uint64_t gmem_flags)
{
	struct guest g;
	int kvm = open_kvm(NULL);
	struct kvm_userspace_memory_region2 low = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = 0x10000,
	}, mem = {
		.slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = GMEM_GPA, .memory_size = NPAGES * PAGE,
	};

	low_mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	load_code();
	g.vm = create_vm(kvm, type);
	CHECK_OK(gmemu_vm_set_shared_gpa_bit(g.vm, SHARED_BIT));
	g.gmem = create_gmem(g.vm, NPAGES * PAGE, gmem_flags);
	g.view = map_gmem(g.gmem, NPAGES * PAGE, 0);
	low.userspace_addr = (uintptr_t)low_mem;
	mem.userspace_addr = (uintptr_t)g.view;
	mem.guest_memfd = (uint32_t)g.gmem;
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &low));
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &mem));
	g.run = vcpu_setup(g.vm, 0, &g.vcpu);
	return g;
}

/* Run the guest's operation on the page at gpa; returns KVM_RUN's result
 * (0 or -errno), leaving the exit in run. */
static int guest_start(int vcpu, uint64_t gpa, int off, int op, uint8_t val)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = CODE_GPA, .rflags = 2, .rsp = 0xfff0,
			      .rax = val, .rbx = (uint64_t)off, .rcx = (uint64_t)op };

	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_SREGS, &s));
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ss.base = 0;
	s.ss.selector = 0;
	s.ds.selector = (uint16_t)(gpa >> 4);
	s.ds.base = gpa;
	CHECK_OK(gmemu_ioctl(vcpu, KVM_SET_SREGS, &s));
	CHECK_OK(gmemu_ioctl(vcpu, KVM_SET_REGS, &r));
	return gmemu_ioctl(vcpu, KVM_RUN, 0) ? -errno : 0;
}

/* One guest operation on byte off of page (gpa = base + page * 4 KiB);
 * returns the byte the guest reported. */
static uint8_t guest_op_at(int vcpu, struct kvm_run *run, uint64_t base,
			   int page, int off, int op, uint8_t val)
{
	int r = guest_start(vcpu, base + (uint64_t)page * PAGE, off, op, val);

	if (r)
		FAIL("KVM_RUN: %s", strerror(-r));
	if (run->exit_reason != KVM_EXIT_IO)
		FAIL("exit %u, expected KVM_EXIT_IO", run->exit_reason);
	CHECK_EQ(run->io.port, 0x11 + op);
	return *((uint8_t *)run + run->io.data_offset);
}

static uint8_t guest_op(struct guest *g, int page, int off, int op, uint8_t val)
{
	return guest_op_at(g->vcpu, g->run, GMEM_GPA, page, off, op, val);
}

GUEST_TEST(vcpu_plumbing)
{
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);
	struct kvm_regs r;

	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r)); /* passes through */
	g.view[5] = 0x3c;
	CHECK_EQ(guest_op(&g, 0, 5, OP_READ, 0), 0x3c);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_REGS, &r));
	CHECK_EQ(r.rax & 0xff, 0x3c);
	/* the vCPU fd is gmemu's: unknown file operations refused as usual */
	CHECK_ERR(gmemu_fallocate(g.vcpu, FALLOC_FL_KEEP_SIZE, 0, PAGE), ENODEV);
}

GUEST_TEST(guest_and_host_share_bytes_in_place)
{
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);

	g.view[3 * PAGE + 7] = 0x71;
	CHECK_EQ(guest_op(&g, 3, 7, OP_READ, 0), 0x71);
	guest_op(&g, 4, 9, OP_WRITE, 0x72);
	CHECK_EQ(g.view[4 * PAGE + 9], 0x72);
}

GUEST_TEST(conversions_under_a_running_guest)
{
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);

	g.view[2 * PAGE] = 0x5a;
	CHECK_CONVERT(g.gmem, 2 * PAGE, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(g.view + 2 * PAGE);
	/* a pKVM-model guest sees the page whatever its attribute */
	CHECK_EQ(guest_op(&g, 2, 0, OP_READ, 0), 0x5a);
	guest_op(&g, 2, 0, OP_WRITE, 0x6b);
	CHECK_SIGBUS_READ(g.view + 2 * PAGE);
	CHECK_CONVERT(g.gmem, 2 * PAGE, PAGE, false, PRESERVE);
	CHECK_EQ(g.view[2 * PAGE], 0x6b);
}

GUEST_TEST(init_private_and_indexing)
{
	struct guest g = setup(GMEMU_VM_PKVM, GUEST_MEMFD_FLAG_MMAP);
	int t, p;

	for (t = 0; t < 4; t++) {
		for (p = 0; p < 4; p++)
			guest_op(&g, p, 0, OP_FILL, (uint8_t)(0x10 + p));
		CHECK_CONVERT(g.gmem, (uint64_t)t * PAGE, PAGE, false, PRESERVE);
		for (p = 0; p < 4; p++) {
			if (p == t)
				CHECK_EQ(g.view[p * PAGE + PAGE - 1], 0x10 + p);
			else
				CHECK_SIGBUS_READ(g.view + p * PAGE);
		}
		CHECK_CONVERT(g.gmem, (uint64_t)t * PAGE, PAGE, true, PRESERVE);
	}
}

GUEST_TEST(punched_private_page_reads_zero_to_the_guest)
{
	struct guest g = setup(KVM_X86_SW_PROTECTED_VM, SHARED);

	guest_op(&g, 6, 0, OP_FILL, 0x44);
	CHECK_CONVERT(g.gmem, 6 * PAGE, PAGE, true, PRESERVE);
	CHECK_EQ(guest_op(&g, 6, 100, OP_READ, 0), 0x44);
	CHECK_OK(gmemu_fallocate(g.gmem, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
				 6 * PAGE, PAGE));
	CHECK(is_private(g.gmem, 6 * PAGE));
	CHECK_EQ(guest_op(&g, 6, 100, OP_READ, 0), 0);
}

GUEST_TEST(memslot_added_after_the_vcpu)
{
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);
	int extra = create_gmem(g.vm, 4 * PAGE, SHARED);
	uint8_t *v = map_gmem(extra, 4 * PAGE, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 2, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = 0x60000, .memory_size = 4 * PAGE,
		.userspace_addr = (uintptr_t)v, .guest_memfd = (uint32_t)extra,
	};

	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &r));
	v[PAGE + 1] = 0x19;
	CHECK_EQ(guest_op_at(g.vcpu, g.run, 0x60000, 1, 1, OP_READ, 0), 0x19);
	/* and deleting it reaches the real VM: the access is MMIO now */
	r.memory_size = 0;
	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &r));
	struct kvm_sregs s;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2, .rsp = 0xfff0,
				 .rbx = 0, .rcx = OP_READ };
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_GET_SREGS, &s));
	s.ds.selector = 0x6000;
	s.ds.base = 0x60000;
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_SREGS, &s));
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_SET_REGS, &regs));
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_RUN, 0));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_MMIO);
	CHECK_EQ(g.run->mmio.phys_addr, 0x60000);
}

struct vcpu_thread {
	struct guest *g;
	int vcpu, page, rounds, bad;
	struct kvm_run *run;
};

static void vmm_map_gpa_range(struct kvm_run *run, void *arg);
static int guest_hypercall(int vcpu, struct kvm_run *run, uint64_t nr,
			   uint64_t a0, uint64_t a1, uint64_t a2,
			   void (*vmm)(struct kvm_run *run, void *ctx), void *ctx);

struct map_ctx {
	int gmem;
	uint64_t base;
};

#define MAP_GPA_RANGE 12 /* KVM_HC_MAP_GPA_RANGE */
#define ENCRYPTED (1 << 4)

/* Each vCPU converts its own pages by hypercall (its thread is its VMM
 * loop), writes them privately, shares them back, and checks the host
 * sees its bytes. */
static void *vcpu_loop(void *arg)
{
	struct vcpu_thread *t = arg;
	struct map_ctx ctx = { t->g->gmem, GMEM_GPA };
	uint64_t gpa = GMEM_GPA + (uint64_t)t->page * PAGE;
	int i;

	for (i = 0; i < t->rounds; i++) {
		if (guest_hypercall(t->vcpu, t->run, MAP_GPA_RANGE, gpa, 2,
				    ENCRYPTED, vmm_map_gpa_range, &ctx))
			t->bad++;
		guest_op_at(t->vcpu, t->run, GMEM_GPA, t->page, i % PAGE, OP_WRITE,
			    (uint8_t)i);
		if (guest_hypercall(t->vcpu, t->run, MAP_GPA_RANGE, gpa, 2, 0,
				    vmm_map_gpa_range, &ctx))
			t->bad++;
		if (t->g->view[(size_t)t->page * PAGE + (size_t)(i % PAGE)] != (uint8_t)i)
			t->bad++;
	}
	return NULL;
}

GUEST_TEST(two_vcpus_on_two_threads_converting_disjoint_ranges)
{
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);
	struct vcpu_thread t[2] = {
		{ .g = &g, .vcpu = g.vcpu, .run = g.run, .page = 2, .rounds = 100 },
		{ .g = &g, .page = 10, .rounds = 100 },
	};
	pthread_t th[2];
	int i;

	t[1].run = vcpu_setup(g.vm, 1, &t[1].vcpu);
	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, vcpu_loop, &t[i]) == 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(t[0].bad + t[1].bad, 0);
	CHECK(!is_private(g.gmem, 2 * PAGE));
	CHECK(!is_private(g.gmem, 10 * PAGE));
}

GUEST_TEST(conversion_before_allocation_both_ways)
{
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);
	struct guest p = setup(GMEMU_VM_PKVM, GUEST_MEMFD_FLAG_MMAP);

	/* never used, made private: the guest reads zero, then writes */
	CHECK_CONVERT(g.gmem, 7 * PAGE, PAGE, true, 0);
	CHECK_EQ(guest_op(&g, 7, 3, OP_READ, 0), 0);
	guest_op(&g, 7, 3, OP_WRITE, 0x27);
	CHECK_SIGBUS_READ(g.view + 7 * PAGE);
	/* private from creation, made shared before use: zero to the host */
	CHECK_CONVERT(p.gmem, 8 * PAGE, PAGE, false, 0);
	CHECK_EQ(p.view[8 * PAGE + 3], 0);
	guest_op(&p, 8, 3, OP_WRITE, 0x28);
	CHECK_EQ(p.view[8 * PAGE + 3], 0x28);
}

TEST(legacy_profile_vcpus_are_emulated)
{
	int legacy = open_kvm("legacy");
	int vm = create_vm(legacy, KVM_X86_SW_PROTECTED_VM);
	const char *why = gmemu_vcpu_backend_unavailable("emulated");

	/* two backings: only the emulated backend serves them, even where
	 * the kvm backend runs and is asked for */
	setenv("GMEMU_VCPU", "kvm", 1);
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_VCPU, 0), ENODEV);
	unsetenv("GMEMU_VCPU");
	if (why) {
		CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_VCPU, 0), ENODEV);
		SKIP(why);
	}
	CHECK_OK(gmemu_ioctl(vm, KVM_CREATE_VCPU, 0));
}

TEST(backend_choice)
{
	const char *kvm_why = gmemu_vcpu_backend_unavailable("kvm");
	const char *emu_why = gmemu_vcpu_backend_unavailable("emulated");
	const char *b = gmemu_vcpu_backend();
	int kvm = open_kvm(NULL), vm;

	printf("# here: %s (kvm: %s; emulated: %s)\n", b ? b : "none",
	       kvm_why ? kvm_why : "runs", emu_why ? emu_why : "runs");
	/* kvm where it works, else emulated */
	CHECK(b == NULL ? kvm_why && emu_why
			: !strcmp(b, kvm_why ? "emulated" : "kvm"));
	CHECK(gmemu_vcpu_backend_unavailable("nosuch") != NULL);
	/* a forced choice that cannot run is ENODEV */
	setenv("GMEMU_VCPU", kvm_why ? "kvm" : "emulated", 1);
	if (kvm_why || emu_why) {
		vm = create_vm(kvm, GMEMU_VM_PKVM);
		CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_VCPU, 0), ENODEV);
	}
	setenv("GMEMU_VCPU", "kvm", 1);
	CHECK(kvm_why ? gmemu_vcpu_backend() == NULL
		      : !strcmp(gmemu_vcpu_backend(), "kvm"));
	setenv("GMEMU_VCPU", "emulated", 1);
	CHECK(emu_why ? gmemu_vcpu_backend() == NULL
		      : !strcmp(gmemu_vcpu_backend(), "emulated"));
}

/* A hypercall from the real guest; returns the eax the guest reported. */
static int guest_hypercall(int vcpu, struct kvm_run *run, uint64_t nr,
			   uint64_t a0, uint64_t a1, uint64_t a2,
			   void (*vmm)(struct kvm_run *run, void *ctx), void *ctx)
{
	struct kvm_regs r = { .rip = CODE_GPA + 0x40, .rflags = 2,
			      .rsp = 0xfff0, .rax = nr, .rbx = a0, .rcx = a1,
			      .rdx = a2 };
	struct kvm_sregs s;

	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_SREGS, &s));
	s.cs.base = 0;
	s.cs.selector = 0;
	CHECK_OK(gmemu_ioctl(vcpu, KVM_SET_SREGS, &s));
	CHECK_OK(gmemu_ioctl(vcpu, KVM_SET_REGS, &r));
	CHECK_OK(gmemu_ioctl(vcpu, KVM_RUN, 0));
	CHECK_EQ(run->exit_reason, KVM_EXIT_HYPERCALL);
	CHECK_EQ(run->hypercall.nr, nr);
	CHECK_EQ(run->hypercall.args[0], a0);
	CHECK_EQ(run->hypercall.args[1], a1);
	CHECK_EQ(run->hypercall.args[2], a2);
	vmm(run, ctx);
	CHECK_OK(gmemu_ioctl(vcpu, KVM_RUN, 0));
	CHECK_EQ(run->exit_reason, KVM_EXIT_IO);
	CHECK_EQ(run->io.port, 0x14);
	return *((uint8_t *)run + run->io.data_offset);
}

static void vmm_ret_55(struct kvm_run *run, void *ctx)
{
	(void)ctx;
	run->hypercall.ret = 0x55;
}

GUEST_TEST(hypercall_reaches_the_vmm)
{
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);

	CHECK_EQ(guest_hypercall(g.vcpu, g.run, 12, 0x20000, 1, 0x10,
				 vmm_ret_55, NULL), 0x55);
	/* and the guest goes on as before */
	g.view[1] = 0x21;
	CHECK_EQ(guest_op(&g, 0, 1, OP_READ, 0), 0x21);
}

/* The VMM's handling of KVM_HC_MAP_GPA_RANGE, as on real hardware. */
static void vmm_map_gpa_range(struct kvm_run *run, void *arg)
{
	struct map_ctx *c = arg;
	uint64_t gpa = run->hypercall.args[0], pages = run->hypercall.args[1];
	bool priv = run->hypercall.args[2] & ENCRYPTED;

	run->hypercall.ret = (uint64_t)-set_attrs(c->gmem, gpa - c->base,
						  pages * PAGE, priv, PRESERVE);
}

/* The kernel test's ranges of a 2 MiB + 4 KiB chunk, converted by the
 * guest's hypercalls, with pattern hand-offs both ways. */
GUEST_TEST(hypercall_driven_conversions_over_a_chunk)
{
	enum { CHUNK = 513 };
	static const struct { int first, pages; } ranges[] = {
		{ 0, 1 }, { 0, 512 }, { 1, 1 }, { 1, 512 }, { 512, 1 },
	};
	struct guest g = setup(GMEMU_VM_PKVM, SHARED);
	int chunk = create_gmem(g.vm, CHUNK * PAGE, SHARED);
	uint8_t *v = map_gmem(chunk, CHUNK * PAGE, 0);
	const uint64_t base = 0x200000;
	struct kvm_userspace_memory_region2 r = {
		.slot = 3, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = base,
		.memory_size = CHUNK * PAGE, .userspace_addr = (uintptr_t)v,
		.guest_memfd = (uint32_t)chunk,
	};
	struct map_ctx ctx = { chunk, base };
	size_t i;
	int p;

	CHECK_OK(gmemu_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION2, &r));
	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		int first = ranges[i].first, end = first + ranges[i].pages;

		memset(v, 0x11, CHUNK * PAGE);
		CHECK_EQ(guest_op_at(g.vcpu, g.run, base, first, 0, OP_READ, 0), 0x11);
		/* to private by hypercall; the guest writes it */
		CHECK_EQ(guest_hypercall(g.vcpu, g.run, MAP_GPA_RANGE,
					 base + (uint64_t)first * PAGE,
					 (uint64_t)ranges[i].pages, ENCRYPTED,
					 vmm_map_gpa_range, &ctx), 0);
		for (p = first; p < end; p++) {
			CHECK_SIGBUS_READ(v + (size_t)p * PAGE);
			guest_op_at(g.vcpu, g.run, base, p, p % PAGE, OP_WRITE, 0x22);
		}
		if (first > 0)
			CHECK_EQ(v[(size_t)(first - 1) * PAGE], 0x11);
		if (end < CHUNK)
			CHECK_EQ(v[(size_t)end * PAGE], 0x11);
		/* back to shared by hypercall: the guest's bytes were preserved */
		CHECK_EQ(guest_hypercall(g.vcpu, g.run, MAP_GPA_RANGE,
					 base + (uint64_t)first * PAGE,
					 (uint64_t)ranges[i].pages, 0,
					 vmm_map_gpa_range, &ctx), 0);
		for (p = first; p < end; p++)
			CHECK_EQ(v[(size_t)p * PAGE + p % PAGE], 0x22);
		/* host hand-off back to the guest */
		v[(size_t)first * PAGE + 9] = 0x33;
		CHECK_EQ(guest_op_at(g.vcpu, g.run, base, first, 9, OP_READ, 0), 0x33);
	}
	/* a refused conversion returns its error to the guest */
	CHECK_OK(gmemu_pin(chunk, 0, PAGE));
	CHECK_EQ(guest_hypercall(g.vcpu, g.run, MAP_GPA_RANGE, base, 1, ENCRYPTED,
				 vmm_map_gpa_range, &ctx), EAGAIN);
}

struct fault {
	__u64 flags, gpa, size;
};

static void check_memory_fault(struct kvm_run *run, bool private, uint64_t gpa)
{
	struct fault *f = (struct fault *)&run->mmio;

	CHECK_EQ(run->exit_reason, KVM_EXIT_MEMORY_FAULT);
	CHECK_EQ(f->flags, private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0);
	CHECK_EQ(f->gpa, gpa);
	CHECK_EQ(f->size, PAGE);
}

static uint8_t io_value(struct kvm_run *run, int port)
{
	CHECK_EQ(run->exit_reason, KVM_EXIT_IO);
	CHECK_EQ(run->io.port, port);
	return *((uint8_t *)run + run->io.data_offset);
}

static void encrypted_model_intents(unsigned long type)
{
	struct guest g = setup(type, SHARED);
	uint64_t page3 = GMEM_GPA + 3 * PAGE;
	bool tdx = type == KVM_X86_TDX_VM;

	/* their vCPUs run only after launch, as on the hardware */
	CHECK_EQ(guest_start(g.vcpu, GMEM_GPA | ALIAS, 0, OP_READ, 0), -EINVAL);
	CHECK_OK(gmemu_vm_finalize(g.vm));

	/* shared pages: through the alias, not at the private GPA */
	g.view[3 * PAGE + 4] = 0x4a;
	CHECK_EQ(guest_op_at(g.vcpu, g.run, GMEM_GPA | ALIAS, 3, 4, OP_READ, 0), 0x4a);
	CHECK_EQ(guest_start(g.vcpu, page3, 4, OP_READ, 0), -EFAULT);
	check_memory_fault(g.run, true, page3);
	/* not converted: the same exit again */
	CHECK_EQ(gmemu_ioctl(g.vcpu, KVM_RUN, 0), -1);
	CHECK_EQ(errno, EFAULT);
	check_memory_fault(g.run, true, page3);
	/* converted (flags 0 after launch): the read completes, with what
	 * the platform leaves there (TDX-like: zeros) */
	CHECK_CONVERT(g.gmem, 3 * PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_RUN, 0));
	if (tdx)
		CHECK_EQ(io_value(g.run, 0x11), 0);
	else
		CHECK_EQ(g.run->io.port, 0x11);
	CHECK_SIGBUS_READ(g.view + 3 * PAGE);

	/* a private page written through the alias: the write lands once
	 * the VMM shares the page, and only then */
	CHECK_EQ(guest_start(g.vcpu, page3 | ALIAS, 8, OP_WRITE, 0x5b), -EFAULT);
	check_memory_fault(g.run, false, page3);
	CHECK_CONVERT(g.gmem, 3 * PAGE, PAGE, false, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_RUN, 0));
	CHECK_EQ(io_value(g.run, 0x12), 0x5b);
	CHECK_EQ(g.view[3 * PAGE + 8], 0x5b); /* landed */
	CHECK_EQ(g.view[3 * PAGE + 4], 0);    /* ZERO cleared the rest */
	/* the private GPA of a shared page still exits; resolved by the
	 * VMM before the guest goes on, as a VMM must */
	CHECK_EQ(guest_start(g.vcpu, page3, 8, OP_READ, 0), -EFAULT);
	check_memory_fault(g.run, true, page3);
	CHECK_CONVERT(g.gmem, 3 * PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_RUN, 0));
	CHECK_EQ(g.run->io.port, 0x11);
	/* a page made private: host SIGBUS, the guest reaches it at its
	 * private GPA */
	CHECK_CONVERT(g.gmem, 5 * PAGE, PAGE, true, 0);
	CHECK_SIGBUS_READ(g.view + 5 * PAGE);
	guest_op_at(g.vcpu, g.run, GMEM_GPA, 5, 1, OP_WRITE, 0x6c);
	CHECK_EQ(guest_op_at(g.vcpu, g.run, GMEM_GPA, 5, 1, OP_READ, 0), 0x6c);
	/* MMIO through the alias: the exit gives the GPA without the shared
	 * bit (contract §9.5) */
	CHECK_OK(guest_start(g.vcpu, 0x80000 | ALIAS, 5, OP_READ, 0));
	CHECK_EQ(g.run->exit_reason, KVM_EXIT_MMIO);
	CHECK_EQ(g.run->mmio.phys_addr, 0x80005);
	g.run->mmio.data[0] = 0x2d;
	CHECK_OK(gmemu_ioctl(g.vcpu, KVM_RUN, 0));
	CHECK_EQ(io_value(g.run, 0x11), 0x2d);
}

GUEST_TEST(snp_model_private_and_shared_alias)
{
	encrypted_model_intents(KVM_X86_SNP_VM);
}

GUEST_TEST(tdx_model_private_and_shared_alias)
{
	encrypted_model_intents(KVM_X86_TDX_VM);
}

GUEST_TEST(shared_bit_settable_before_vcpus_only)
{
	struct guest g = setup(KVM_X86_SNP_VM, SHARED);
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_TDX_VM);

	CHECK_ERR(gmemu_vm_set_shared_gpa_bit(g.vm, 30), EBUSY);
	CHECK_ERR(gmemu_vm_set_shared_gpa_bit(vm, 11), EINVAL);
	CHECK_ERR(gmemu_vm_set_shared_gpa_bit(vm, 52), EINVAL);
	CHECK_OK(gmemu_vm_set_shared_gpa_bit(vm, 51));
	CHECK_ERR(gmemu_vm_set_shared_gpa_bit(g.gmem, 30), EINVAL);
}
