// SPDX-License-Identifier: MIT
/*
 * gmemu: the command-line tool.  `gmemu help` lists the commands; each has
 * `gmemu help CMD`.  Exit status: 0 done, 1 the work failed, 2 the command
 * line (or a GMEMU_* variable) was refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gmemu.h"

#define PAGE 4096UL
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

struct vm_type_name {
	const char *name;
	unsigned long type;
};

static const struct vm_type_name vm_types[] = {
	{ "default", KVM_X86_DEFAULT_VM },
	{ "sw_protected", KVM_X86_SW_PROTECTED_VM },
	{ "pkvm", GMEMU_VM_PKVM },
	{ "snp", KVM_X86_SNP_VM },
	{ "tdx", KVM_X86_TDX_VM },
};

/* every profile, the 7.4 one with kvm.gmem_in_place_conversion off (its
 * default) and on */
static const struct {
	const char *label, *name, *params;
} profiles[] = {
	{ "contentmodes", "contentmodes", NULL },
	{ "v8", "v8", NULL },
	{ "7.4", "7.4", "gmem_in_place_conversion=N" },
	{ "7.4+in-place", "7.4", "gmem_in_place_conversion=Y" },
	{ "6.18", "6.18", NULL },
	{ "6.12", "6.12", NULL },
};

static int open_profile(size_t p)
{
	const char *old = getenv("GMEMU_KVM_PARAMS");
	char *saved = old ? strdup(old) : NULL;
	int fd;

	if (profiles[p].params)
		setenv("GMEMU_KVM_PARAMS", profiles[p].params, 1);
	fd = gmemu_kvm_open_abi(profiles[p].name);
	if (saved)
		setenv("GMEMU_KVM_PARAMS", saved, 1);
	else
		unsetenv("GMEMU_KVM_PARAMS");
	free(saved);
	return fd;
}

static const char *modes_str(long m)
{
	static char buf[4][32];
	static int i;
	char *b = buf[i++ % 4];

	if (m < 0)
		return "error";
	snprintf(b, 32, "%s%s%s", m & ZERO ? "ZERO" : "",
		 (m & ZERO) && (m & PRESERVE) ? "|" : "",
		 m & PRESERVE ? "PRESERVE" : "");
	return *b ? b : "-";
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "gmemu: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Bytes as text: printable ASCII as is, anything else as \xNN. */
static const char *safe(const void *p, size_t n)
{
	static char out[4][256];
	static int k;
	char *o = out[k++ % 4];
	const unsigned char *b = p;
	size_t i, j = 0;

	for (i = 0; i < n && b[i] && j + 5 < sizeof(out[0]); i++) {
		if (b[i] >= 32 && b[i] < 127 && b[i] != '\\')
			o[j++] = (char)b[i];
		else
			j += (size_t)snprintf(o + j, 5, "\\x%02x", b[i]);
	}
	o[j] = 0;
	return o;
}

/* ---- caps ---- */

/* Which vCPU backend KVM_CREATE_VCPU uses here, and why not the other. */
static void caps_vcpus(void)
{
	static const char *const names[] = { "kvm", "emulated" };
	const char *b = gmemu_vcpu_backend();
	size_t i;

	printf("\nvCPU backend: %s (GMEMU_VCPU=%s)\n", b ? b : "none",
	       getenv("GMEMU_VCPU") ? getenv("GMEMU_VCPU") : "unset: kvm where "
							     "it runs, else emulated");
	for (i = 0; i < 2; i++) {
		const char *why = gmemu_vcpu_backend_unavailable(names[i]);

		printf("  %-9s %s\n", names[i], why ? why : "runs here");
	}
	printf("  per-VM attribute profiles (6.18, 6.12): %s\n",
	       gmemu_vcpu_backend_unavailable("emulated") ? "no vCPUs"
							 : "emulated");
}

static int cmd_caps(int argc, char **argv)
{
	static const struct {
		const char *name;
		long cap;
	} caps[] = {
		{ "ATTRS2_FLAGS", KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS },
		{ "PRE_LAUNCH", KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS },
		{ "POST_LAUNCH", KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS },
		{ "GMEM_ATTRS@250", GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_V8 },
		{ "GMEM_ATTRS@252", GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4 },
		{ "VM_ATTRS", KVM_CAP_MEMORY_ATTRIBUTES },
		{ "GMEM_FLAGS", KVM_CAP_GUEST_MEMFD_FLAGS },
	}, dirs[] = {
		{ "pre:shared", KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_SHARED_FLAGS },
		{ "pre:private", KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_PRIVATE_FLAGS },
		{ "post:shared", KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_SHARED_FLAGS },
		{ "post:private", KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_PRIVATE_FLAGS },
	};
	const size_t ntypes = sizeof(vm_types) / sizeof(vm_types[0]);
	size_t p, t, c;
	int table;

	(void)argc;
	(void)argv;
	for (table = 0; table < 2; table++) {
		if (table)
			printf("\nModes each direction accepts, per launch phase "
			       "(capabilities %ld-%ld: flags for KVM_SET_MEMORY_ATTRIBUTES2;\n"
			       "flags = 0 is always accepted):\n",
			       dirs[0].cap, dirs[3].cap);
		printf("%-13s %-13s", "profile", "vm type");
		for (c = 0; c < (table ? 4 : sizeof(caps) / sizeof(caps[0])); c++)
			printf(" %-14s", table ? dirs[c].name : caps[c].name);
		printf("\n");
		for (p = 0; p < sizeof(profiles) / sizeof(profiles[0]); p++) {
			int kvm = open_profile(p);

			if (kvm < 0)
				die("gmemu_kvm_open_abi");
			for (t = 0; t <= ntypes; t++) {
				bool system = t == ntypes;
				unsigned long type = system ? 0 : vm_types[t].type;
				int fd;

				/* a type the profile's kernel lacks (TDX in
				 * 6.12) has no row; pkvm is gmemu's, not x86's */
				if (!system && type < 64 &&
				    !(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION,
						  KVM_CAP_VM_TYPES) & (1L << type)))
					continue;
				fd = system ? kvm : gmemu_ioctl(kvm, KVM_CREATE_VM, type);
				if (fd < 0)
					die("KVM_CREATE_VM");
				printf("%-13s %-13s", profiles[p].label,
				       system ? "(system)" : vm_types[t].name);
				for (c = 0; table && c < 4; c++)
					printf(" %-14s", modes_str(gmemu_ioctl(
						fd, KVM_CHECK_EXTENSION, dirs[c].cap)));
				for (c = 0; !table && c < sizeof(caps) / sizeof(caps[0]); c++) {
					long v = gmemu_ioctl(fd, KVM_CHECK_EXTENSION,
							     caps[c].cap);

					if (c < 3)
						printf(" %-14s", modes_str(v));
					else if (c < 6)
						printf(" %-14s", v ? "PRIVATE" : "-");
					else
						printf(" %-14s", v == 3 ? "MMAP|INIT_SHARED"
								 : v == 1 ? "MMAP" : "-");
				}
				printf("\n");
				if (!system)
					gmemu_close(fd);
			}
			gmemu_close(kvm);
		}
	}
	caps_vcpus();
	/* how this process's host views would work (GMEMU_VIEWS, the
	 * kernel, the seccomp filter) */
	{
		const char *why = NULL, *m = gmemu_views_mechanism(&why);

		printf("\nhost views: %s (%s)\n", m ? m : "none",
		       m ? why : strerror(errno));
		if (!m)
			return 2;
	}
	return 0;
}

/* ---- demo ---- */

#define DEMO_PAGES 16
#define IMAGE_PAGES 4
#define BOUNCE 10 /* first bounce-buffer page */
#define GPA_BASE 0x100000ULL

static sigjmp_buf demo_jmp;
static void *demo_fault_addr;

static void demo_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	demo_fault_addr = si->si_addr;
	siglongjmp(demo_jmp, 1);
}

static void step(int gmem, const char *what, double t0)
{
	char pic[DEMO_PAGES + 1];
	double dt = now_us() - t0;

	if (gmemu_gmem_picture(gmem, pic, DEMO_PAGES))
		die("gmemu_gmem_picture");
	printf("  %-64s %8.1f us  [%s]\n", what, dt, pic);
}

static int convert(int gmem, uint64_t off, uint64_t len, bool private,
		   uint64_t flags)
{
	struct kvm_memory_attributes2 a = {
		.offset = off,
		.size = len,
		.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.flags = flags,
	};

	if (gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a)) {
		printf("  conversion failed: %s (error_offset %#llx)\n",
		       strerror(errno), (unsigned long long)a.error_offset);
		return -1;
	}
	return 0;
}

static const char *flags_name(uint64_t f)
{
	return f == 0 ? "flags=0" : f == ZERO ? "ZERO" : "PRESERVE";
}

static void show_bytes(const char *who, const uint8_t *p)
{
	int i;

	printf("  %-22s", who);
	for (i = 0; i < 16; i++)
		printf(" %02x", p[i]);
	printf("\n");
}

/* The software guest's access; a memory-fault exit is shown and served by
 * converting the page to the access's intent with the given mode. */
static int guest_access(int vm, int gmem, uint64_t gpa, void *buf, size_t len,
			unsigned int flags, uint64_t mode)
{
	struct gmemu_exit ex;
	int r;

	while ((r = gmemu_guest_access(vm, gpa, buf, len, flags, &ex)) != 0) {
		bool priv = flags & GMEMU_ACCESS_PRIVATE;
		char line[128];
		double t0;

		if (r < 0 && errno == EFAULT && ex.exit_reason == KVM_EXIT_MEMORY_FAULT) {
			printf("  guest %s %s gpa %#llx: KVM_EXIT_MEMORY_FAULT "
			       "(flags %s, gpa %#llx, size %#llx)\n",
			       priv ? "private" : "shared",
			       flags & GMEMU_ACCESS_WRITE ? "write to" : "read of",
			       (unsigned long long)gpa,
			       ex.memory_fault.flags ? "PRIVATE" : "0",
			       (unsigned long long)ex.memory_fault.gpa,
			       (unsigned long long)ex.memory_fault.size);
			t0 = now_us();
			if (convert(gmem, ex.memory_fault.gpa - GPA_BASE,
				    ex.memory_fault.size, priv, mode))
				return -1;
			snprintf(line, sizeof(line), "VMM converts it to %s, %s; guest retries",
				 priv ? "private" : "shared", flags_name(mode));
			step(gmem, line, t0);
			continue;
		}
		printf("  guest access failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The launch, as the platform's VMM drives it: the SEV-SNP commands on the
 * snp model, the TDX ones on the tdx model (a vCPU needed, so a backend),
 * gmemu's model-neutral gmemu_vm_populate/finalize elsewhere.
 */
enum launch_kind { LAUNCH_NEUTRAL, LAUNCH_SNP, LAUNCH_TDX };

struct launch {
	enum launch_kind kind;
	int vm, sev, vcpu;
};

static void snp_op(struct launch *l, uint32_t id, void *data, const char *what)
{
	struct kvm_sev_cmd c = { .id = id, .data = (uintptr_t)data,
				 .sev_fd = (uint32_t)l->sev };

	if (gmemu_ioctl(l->vm, KVM_MEMORY_ENCRYPT_OP, &c))
		die(what);
}

static void tdx_op(int fd, uint32_t id, uint32_t flags, void *data,
		   const char *what)
{
	struct kvm_tdx_cmd c = { .id = id, .flags = flags, .data = (uintptr_t)data };

	if (gmemu_ioctl(fd, KVM_MEMORY_ENCRYPT_OP, &c))
		die(what);
}

static void launch_begin(struct launch *l, int vm, unsigned long type)
{
	l->vm = vm;
	l->sev = l->vcpu = -1;
	l->kind = LAUNCH_NEUTRAL;
	if (type == KVM_X86_SNP_VM) {
		struct kvm_sev_init init = { .ghcb_version = 2 };
		struct kvm_sev_snp_launch_start start = { .policy = 0x30000 };

		l->sev = gmemu_open("/dev/sev", O_RDWR | O_CLOEXEC);
		if (l->sev < 0)
			die("/dev/sev");
		l->kind = LAUNCH_SNP;
		snp_op(l, KVM_SEV_INIT2, &init, "KVM_SEV_INIT2");
		snp_op(l, KVM_SEV_SNP_LAUNCH_START, &start, "KVM_SEV_SNP_LAUNCH_START");
		printf("  KVM_SEV_INIT2, KVM_SEV_SNP_LAUNCH_START (sev_fd: /dev/sev)\n");
	} else if (type == KVM_X86_TDX_VM) {
		struct kvm_tdx_init_vm *init =
			calloc(1, sizeof(*init) + sizeof(struct kvm_cpuid_entry2));

		if (!init)
			die("calloc");
		init->xfam = 3;
		init->cpuid.nent = 1;
		init->cpuid.entries[0].function = 0x80000008;
		init->cpuid.entries[0].eax = 0x3030;
		tdx_op(vm, KVM_TDX_INIT_VM, 0, init, "KVM_TDX_INIT_VM");
		free(init);
		/* the image goes in through a vCPU: KVM_TDX_INIT_VCPU first */
		l->vcpu = gmemu_ioctl(vm, KVM_CREATE_VCPU, 0);
		if (l->vcpu < 0) {
			printf("  KVM_TDX_INIT_VM; no vCPU backend here for "
			       "KVM_TDX_INIT_VCPU: gmemu's own launch calls instead\n");
			return;
		}
		tdx_op(l->vcpu, KVM_TDX_INIT_VCPU, 0, NULL, "KVM_TDX_INIT_VCPU");
		l->kind = LAUNCH_TDX;
		printf("  KVM_TDX_INIT_VM, KVM_TDX_INIT_VCPU\n");
	}
}

/* Add the image at GPA_BASE: in place (src NULL) or copied. */
static const char *launch_add(struct launch *l, const void *src, uint64_t len)
{
	if (l->kind == LAUNCH_SNP) {
		struct kvm_sev_snp_launch_update u = {
			.gfn_start = GPA_BASE >> 12, .uaddr = (uintptr_t)src,
			.len = len, .type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
		};

		while (u.len)
			snp_op(l, KVM_SEV_SNP_LAUNCH_UPDATE, &u,
			       "KVM_SEV_SNP_LAUNCH_UPDATE");
		return src ? "KVM_SEV_SNP_LAUNCH_UPDATE from a copy (uaddr)"
			   : "KVM_SEV_SNP_LAUNCH_UPDATE in place (uaddr 0)";
	}
	if (l->kind == LAUNCH_TDX) {
		struct kvm_tdx_init_mem_region r = {
			.source_addr = (uintptr_t)src, .gpa = GPA_BASE,
			.nr_pages = len / PAGE,
		};

		while (r.nr_pages)
			tdx_op(l->vcpu, KVM_TDX_INIT_MEM_REGION,
			       KVM_TDX_MEASURE_MEMORY_REGION, &r,
			       "KVM_TDX_INIT_MEM_REGION");
		return src ? "KVM_TDX_INIT_MEM_REGION from a copy, measured"
			   : "KVM_TDX_INIT_MEM_REGION in place (source 0), measured";
	}
	if (gmemu_vm_populate(l->vm, GPA_BASE, src, len))
		die("gmemu_vm_populate");
	return src ? "populate the image from a copy"
		   : "populate the image in place (src NULL)";
}

static const char *launch_finish(struct launch *l)
{
	if (l->kind == LAUNCH_SNP) {
		struct kvm_sev_snp_launch_finish f = { 0 };

		snp_op(l, KVM_SEV_SNP_LAUNCH_FINISH, &f, "KVM_SEV_SNP_LAUNCH_FINISH");
		return "KVM_SEV_SNP_LAUNCH_FINISH: launched";
	}
	if (l->kind == LAUNCH_TDX) {
		tdx_op(l->vm, KVM_TDX_FINALIZE_VM, 0, NULL, "KVM_TDX_FINALIZE_VM");
		return "KVM_TDX_FINALIZE_VM: launched";
	}
	if (gmemu_vm_finalize(l->vm))
		die("gmemu_vm_finalize");
	return "finalize launch";
}

static void launch_end(struct launch *l)
{
	if (l->vcpu >= 0)
		gmemu_close(l->vcpu);
	if (l->sev >= 0)
		gmemu_close(l->sev);
}

static void demo_model(int kvm, const struct vm_type_name *t)
{
	struct kvm_create_guest_memfd args = {
		.size = DEMO_PAGES * PAGE,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	struct kvm_userspace_memory_region2 slot = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = GPA_BASE, .memory_size = DEMO_PAGES * PAGE,
	};
	const char image[] = "GMEMU BOOT IMAGE";
	uint64_t to_private_pre, to_shared_post, back;
	uint8_t m[32], *view;
	char line[160], buf[32];
	struct launch l;
	const char *how;
	long pre, post;
	double t0;
	int vm, gmem;

	vm = gmemu_ioctl(kvm, KVM_CREATE_VM, t->type);
	if (vm < 0)
		die("KVM_CREATE_VM");
	pre = gmemu_ioctl(vm, KVM_CHECK_EXTENSION,
			  KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS);
	post = gmemu_ioctl(vm, KVM_CHECK_EXTENSION,
			   KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS);
	printf("\n== %s: capabilities say pre-launch %s, post-launch %s\n",
	       t->name, modes_str(pre), modes_str(post));
	/* Modes come from capabilities, never from the VM type. */
	to_private_pre = pre & PRESERVE ? PRESERVE : 0;
	launch_begin(&l, vm, t->type);
	to_shared_post = post & ZERO ? ZERO : 0;
	back = post & PRESERVE ? PRESERVE : 0;

	t0 = now_us();
	gmem = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
	if (gmem < 0)
		die("KVM_CREATE_GUEST_MEMFD");
	view = gmemu_mmap(NULL, DEMO_PAGES * PAGE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, gmem, 0);
	if (view == MAP_FAILED)
		die("gmemu_mmap");
	slot.guest_memfd = (uint32_t)gmem;
	slot.userspace_addr = (uintptr_t)view;
	if (gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &slot))
		die("KVM_SET_USER_MEMORY_REGION2");
	step(gmem, "gmem (16 pages, MMAP|INIT_SHARED), host view, memslot at 1 MiB", t0);

	t0 = now_us();
	for (int p = 0; p < IMAGE_PAGES; p++)
		memcpy(view + p * PAGE, image, sizeof(image) - 1);
	step(gmem, "host writes the boot image (pages 0-3) through the view", t0);

	t0 = now_us();
	snprintf(line, sizeof(line), "image -> private in place, %s",
		 flags_name(to_private_pre));
	if (convert(gmem, 0, IMAGE_PAGES * PAGE, true, to_private_pre))
		goto out;
	step(gmem, line, t0);

	t0 = now_us();
	if (convert(gmem, IMAGE_PAGES * PAGE, (DEMO_PAGES - IMAGE_PAGES) * PAGE,
		    true, 0))
		goto out;
	step(gmem, "rest of guest memory -> private, flags=0", t0);

	if (sigsetjmp(demo_jmp, 1) == 0) {
		struct sigaction sa = { .sa_sigaction = demo_sigbus,
					.sa_flags = SA_SIGINFO };

		sigaction(SIGBUS, &sa, NULL);
		(void)*(volatile uint8_t *)view;
		printf("  host read of page 0 succeeded (unexpected)\n");
	} else {
		printf("  host read of page 0: SIGBUS at %p (view + %#lx)\n",
		       demo_fault_addr,
		       (unsigned long)((uint8_t *)demo_fault_addr - view));
	}
	signal(SIGBUS, SIG_DFL);

	t0 = now_us();
	if (to_private_pre) {
		how = launch_add(&l, NULL, IMAGE_PAGES * PAGE);
		step(gmem, how, t0);
	} else {
		/* no PRESERVE: the image must be copied in */
		uint8_t *copy = aligned_alloc(PAGE, IMAGE_PAGES * PAGE);

		if (!copy)
			die("aligned_alloc");
		memset(copy, 0, IMAGE_PAGES * PAGE);
		for (int p = 0; p < IMAGE_PAGES; p++)
			memcpy(copy + p * PAGE, image, sizeof(image) - 1);
		how = launch_add(&l, copy, IMAGE_PAGES * PAGE);
		free(copy);
		step(gmem, how, t0);
	}
	if (gmemu_vm_measurement(vm, m))
		die("gmemu_vm_measurement");
	printf("  launch measurement: ");
	for (int i = 0; i < 32; i++)
		printf("%02x", m[i]);
	printf("\n");

	t0 = now_us();
	how = launch_finish(&l);
	step(gmem, how, t0);

	memset(buf, 0, sizeof(buf));
	if (guest_access(vm, gmem, GPA_BASE + 3 * PAGE, buf, 16,
			 GMEMU_ACCESS_PRIVATE, 0))
		goto out;
	printf("  guest reads page 3 privately: \"%s\"\n", safe(buf, 16));

	if (guest_access(vm, gmem, GPA_BASE + BOUNCE * PAGE, "guest request...",
			 16, GMEMU_ACCESS_WRITE, to_shared_post))
		goto out;
	memcpy(buf, view + BOUNCE * PAGE, 16);
	printf("  host reads the bounce buffer: \"%s\"\n", safe(buf, 16));

	t0 = now_us();
	memcpy(view + BOUNCE * PAGE, "host I/O reply..", 16);
	step(gmem, "host writes its reply through the view", t0);
	if (guest_access(vm, gmem, GPA_BASE + BOUNCE * PAGE, buf, 16, 0, 0))
		goto out;
	printf("  guest reads the reply: \"%s\"\n", safe(buf, 16));

	/* the guest takes the buffer back by touching it privately */
	if (guest_access(vm, gmem, GPA_BASE + BOUNCE * PAGE, buf, 16,
			 GMEMU_ACCESS_PRIVATE, back))
		goto out;
	printf("  guest reads it privately after the conversion: \"%s\"%s\n",
	       safe(buf, 16), back ? "" : " (flags=0: no guarantee)");

	t0 = now_us();
	if (convert(gmem, 0, PAGE, false, 0))
		goto out;
	step(gmem, "page 0 -> shared, flags=0 (no guarantee)", t0);
	show_bytes("host now reads page 0:", view);

	if (post & ZERO) {
		t0 = now_us();
		if (convert(gmem, 0, DEMO_PAGES * PAGE, false, ZERO))
			goto out;
		step(gmem, "everything -> shared, ZERO (teardown)", t0);
		show_bytes("host now reads page 0:", view);
	}
out:
	launch_end(&l);
	gmemu_munmap(view, DEMO_PAGES * PAGE);
	gmemu_close(gmem);
	gmemu_close(vm);
}

/* ---- the same, with a real guest ---- */

#define REAL_CODE 0x1000
#define REAL_GMEM 0x20000ULL
#define REAL_SHARED_BIT 24

struct real_guest {
	int vm, gmem, vcpu;
	struct kvm_run *run;
	uint8_t *view, *low;
};

static bool load_guest_code(uint8_t *low)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	FILE *f;
	bool ok;

	if (n <= 0)
		return false;
	path[n] = 0;
	*strrchr(path, '/') = 0;
	strcat(path, "/guests/memop.bin");
	f = fopen(path, "rb");
	if (!f)
		return false;
	ok = fread(low + REAL_CODE, 1, 4096, f) > 0;
	fclose(f);
	return ok;
}

/* One read by the real guest of the byte at gpa: 0 and *out, or -errno
 * with the exit left in run. */
static int real_read(struct real_guest *g, uint64_t gpa, uint8_t *out)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = REAL_CODE, .rflags = 2, .rsp = 0xfff0 };

	gmemu_ioctl(g->vcpu, KVM_GET_SREGS, &s);
	s.cs.base = s.ss.base = 0;
	s.cs.selector = s.ss.selector = 0;
	s.ds.selector = (uint16_t)(gpa >> 4);
	s.ds.base = gpa;
	gmemu_ioctl(g->vcpu, KVM_SET_SREGS, &s);
	gmemu_ioctl(g->vcpu, KVM_SET_REGS, &r);
	if (gmemu_ioctl(g->vcpu, KVM_RUN, 0))
		return -errno;
	*out = *((uint8_t *)g->run + g->run->io.data_offset);
	return 0;
}

static bool real_guest_setup(int kvm, const struct vm_type_name *t,
			     struct real_guest *g)
{
	struct kvm_create_guest_memfd c = {
		.size = DEMO_PAGES * PAGE,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	struct kvm_userspace_memory_region2 low = { .slot = 0, .memory_size = 0x10000 },
		mem = { .slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
			.guest_phys_addr = REAL_GMEM, .memory_size = DEMO_PAGES * PAGE };
	int size = gmemu_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (size <= 0)
		return false;
	g->low = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g->low == MAP_FAILED || !load_guest_code(g->low))
		return false;
	g->vm = gmemu_ioctl(kvm, KVM_CREATE_VM, t->type);
	gmemu_vm_set_shared_gpa_bit(g->vm, REAL_SHARED_BIT);
	g->gmem = gmemu_ioctl(g->vm, KVM_CREATE_GUEST_MEMFD, &c);
	g->view = gmemu_mmap(NULL, DEMO_PAGES * PAGE, PROT_READ | PROT_WRITE,
			     MAP_SHARED, g->gmem, 0);
	low.userspace_addr = (uintptr_t)g->low;
	mem.userspace_addr = (uintptr_t)g->view;
	mem.guest_memfd = (uint32_t)g->gmem;
	if (g->gmem < 0 || g->view == MAP_FAILED ||
	    gmemu_ioctl(g->vm, KVM_SET_USER_MEMORY_REGION2, &low) ||
	    gmemu_ioctl(g->vm, KVM_SET_USER_MEMORY_REGION2, &mem))
		return false;
	g->vcpu = gmemu_ioctl(g->vm, KVM_CREATE_VCPU, 0);
	if (g->vcpu < 0)
		return false;
	g->run = gmemu_mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
			    MAP_SHARED, g->vcpu, 0);
	/* guests run after launch (on some models nothing else runs) */
	return g->run != MAP_FAILED && gmemu_vm_finalize(g->vm) == 0;
}

static void demo_real_guest(int kvm, const struct vm_type_name *t)
{
	struct real_guest g;
	bool alias = t->type == KVM_X86_SNP_VM || t->type == KVM_X86_TDX_VM;
	uint64_t page = REAL_GMEM + 2 * PAGE, mode;
	uint8_t b = 0;
	double t0;

	if (!real_guest_setup(kvm, t, &g)) {
		printf("  real guest: could not start one here\n");
		return;
	}
	mode = gmemu_ioctl(g.vm, KVM_CHECK_EXTENSION,
			   KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS) & PRESERVE;
	printf("  -- the same with a real guest (KVM_RUN, %s vCPU):\n",
	       gmemu_vcpu_backend());
	g.view[2 * PAGE] = 'G';
	t0 = now_us();
	real_read(&g, alias ? page | (1ULL << REAL_SHARED_BIT) : page, &b);
	printf("  real guest reads shared page 2%s: '%s' (%.1f us)\n",
	       alias ? " at its shared alias" : "", safe(&b, 1), now_us() - t0);
	t0 = now_us();
	if (alias) {
		int r = real_read(&g, page, &b);
		uint64_t *mf = (uint64_t *)&g.run->mmio;

		printf("  real guest reads it at its private GPA: KVM_RUN -1/%s, "
		       "exit %s (flags %s, gpa %#llx, size %#llx)\n",
		       r == -EFAULT ? "EFAULT" : strerror(-r),
		       g.run->exit_reason == KVM_EXIT_MEMORY_FAULT ? "KVM_EXIT_MEMORY_FAULT" : "?",
		       mf[0] ? "PRIVATE" : "0", (unsigned long long)mf[1],
		       (unsigned long long)mf[2]);
		if (convert(g.gmem, 2 * PAGE, PAGE, true, mode))
			goto out;
		if (gmemu_ioctl(g.vcpu, KVM_RUN, 0))
			goto out;
		b = *((uint8_t *)g.run + g.run->io.data_offset);
		printf("  VMM converts page 2 to private (%s) and runs again: "
		       "the access completes, reading 0x%02x (%.1f us in all)\n",
		       flags_name(mode), b, now_us() - t0);
	} else {
		if (convert(g.gmem, 2 * PAGE, PAGE, true, mode))
			goto out;
		real_read(&g, page, &b);
		printf("  page 2 -> private (%s); the real guest reads 0x%02x at "
		       "its GPA (this model's guest sees every page) (%.1f us)\n",
		       flags_name(mode), b, now_us() - t0);
	}
	step(g.gmem, "the real guest's gmem", now_us());
out:
	gmemu_close(g.vcpu);
	gmemu_munmap(g.view, DEMO_PAGES * PAGE);
	gmemu_close(g.gmem);
	gmemu_close(g.vm);
}

static bool real_guests_here(int kvm)
{
	int vm = gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM), vcpu;

	if (vm < 0)
		return false;
	vcpu = gmemu_ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu >= 0)
		gmemu_close(vcpu);
	gmemu_close(vm);
	return vcpu >= 0;
}

static const struct vm_type_name *model_named(const char *name)
{
	size_t t;

	for (t = 1; t < sizeof(vm_types) / sizeof(vm_types[0]); t++)
		if (strcmp(vm_types[t].name, name) == 0)
			return &vm_types[t];
	return NULL;
}

static int cmd_demo(int argc, char **argv)
{
	const struct vm_type_name *chosen[8];
	const char *abi = getenv("GMEMU_ABI");
	size_t n = 0, t;
	bool real;
	int kvm, i;

	for (i = 0; i < argc; i++) {
		if (!model_named(argv[i])) {
			fprintf(stderr, "gmemu demo: no model '%s' (models: "
					"sw_protected, pkvm, snp, tdx)\n", argv[i]);
			return 2;
		}
		if (n < 8)
			chosen[n++] = model_named(argv[i]);
	}
	if (!n)
		for (t = 1; t < sizeof(vm_types) / sizeof(vm_types[0]); t++)
			chosen[n++] = &vm_types[t];
	/* the per-VM attribute profiles have no in-place conversion to show */
	if (abi && (!strcmp(abi, "legacy") || !strcmp(abi, "6.18"))) {
		printf("(GMEMU_ABI=%s has no in-place conversion; showing contentmodes)\n",
		       abi);
		unsetenv("GMEMU_ABI");
		abi = NULL;
	}
	kvm = gmemu_kvm_open();
	if (kvm < 0)
		die("gmemu_kvm_open");
	printf("gmemu demo: a confidential VM's memory, one guest_memfd converted in\n"
	       "place, on every platform model (software vCPU; profile %s).\n",
	       abi ? abi : "contentmodes");
	printf("Each step: what happened, its time, and the gmem's attribute map,\n"
	       "one character per page: P private, S shared, lower case = never used.\n");
	real = real_guests_here(kvm);
	if (real)
		printf("Real guests: vCPUs run here (%s backend%s): each model also "
		       "runs\na real-mode guest over the same kind of gmem.\n",
		       gmemu_vcpu_backend(),
		       strcmp(gmemu_vcpu_backend(), "kvm") ? ", an x86 CPU in software"
							   : ", /dev/kvm");
	else
		printf("Real guests: no vCPU backend here (kvm: %s; emulated: %s): "
		       "software vCPU only.\n",
		       gmemu_vcpu_backend_unavailable("kvm") ?: "?",
		       gmemu_vcpu_backend_unavailable("emulated") ?: "?");
	for (t = 0; t < n; t++) {
		demo_model(kvm, chosen[t]);
		if (real)
			demo_real_guest(kvm, chosen[t]);
	}
	gmemu_close(kvm);
	return 0;
}

/* ---- inspect ---- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int open_gmem_arg(int argc, char **argv)
{
	char path[64];
	const char *p;
	int fd;

	if (argc == 2) {
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", argv[0], argv[1]);
		p = path;
	} else {
		p = argv[0];
	}
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "gmemu: %s: %s\n", p, strerror(errno));
	return fd;
}

static int watch(int fd, double interval, long frames)
{
	struct gmemu_gmem_info a = { .sz = sizeof(a) }, b;
	bool tty = isatty(STDOUT_FILENO);
	char pic[65];
	double t0, t1;
	long f;

	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	if (gmemu_gmem_info(fd, &a))
		return -1;
	t0 = now_us();
	for (f = 0; !interrupted && (frames < 0 || f < frames); f++) {
		usleep((useconds_t)(interval * 1e6));
		b.sz = sizeof(b);
		if (gmemu_gmem_info(fd, &b) || gmemu_gmem_picture(fd, pic, 64))
			return -1;
		t1 = now_us();
		if (tty)
			printf("\033[H\033[2J");
		printf("size %#llx  %s  %s  processes with views: %u  pinned pages: %u\n",
		       (unsigned long long)b.size, b.profile,
		       b.finalized ? "post-launch" : "pre-launch", b.nr_processes,
		       b.nr_pinned_pages);
		printf("map: [%s]  extents: %u\n", pic, b.nr_extents);
		printf("per second: conversions %.1f (to private %.1f, to shared %.1f)"
		       "  failures %.1f  revocation requests %.1f\n",
		       (double)(b.conversions_to_private + b.conversions_to_shared -
				a.conversions_to_private - a.conversions_to_shared) /
			       ((t1 - t0) / 1e6),
		       (double)(b.conversions_to_private - a.conversions_to_private) /
			       ((t1 - t0) / 1e6),
		       (double)(b.conversions_to_shared - a.conversions_to_shared) /
			       ((t1 - t0) / 1e6),
		       (double)(b.eagain + b.enomem - a.eagain - a.enomem) /
			       ((t1 - t0) / 1e6),
		       (double)(b.revocation_requests - a.revocation_requests) /
			       ((t1 - t0) / 1e6));
		printf("totals: to private %llu, to shared %llu, EAGAIN %llu, "
		       "ENOMEM %llu  (P private, S shared, M both; lower case: "
		       "never used)\n",
		       (unsigned long long)b.conversions_to_private,
		       (unsigned long long)b.conversions_to_shared,
		       (unsigned long long)b.eagain, (unsigned long long)b.enomem);
		fflush(stdout);
		a = b;
		t0 = t1;
	}
	return 0;
}

static int cmd_inspect(int argc, char **argv)
{
	double interval = 1.0;
	long frames = -1;
	bool w = false;
	int fd, r;

	while (argc && argv[0][0] == '-') {
		if (!strcmp(argv[0], "--watch")) {
			w = true;
		} else if (!strcmp(argv[0], "--interval") && argc > 1) {
			interval = atof(argv[1]);
			argc--, argv++;
		} else if (!strcmp(argv[0], "--frames") && argc > 1) {
			frames = atol(argv[1]);
			argc--, argv++;
		} else {
			fprintf(stderr, "gmemu inspect: unknown option '%s'\n", argv[0]);
			return 2;
		}
		argc--, argv++;
	}
	if (argc < 1 || argc > 2 || interval <= 0) {
		fprintf(stderr, "usage: gmemu inspect [--watch [--interval S]] PID FD | PATH\n");
		return 2;
	}
	fd = open_gmem_arg(argc, argv);
	if (fd < 0)
		return 1;
	r = w ? watch(fd, interval, frames) : gmemu_gmem_dump(fd, stdout);
	if (r) {
		fprintf(stderr, "gmemu: %s: not a gmemu guest_memfd this gmemu "
				"can read (%s)\n",
			argc == 2 ? argv[1] : argv[0], strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

/* ---- run ---- */

/* libgmemu-preload.so: beside this program (the build tree), in ../lib
 * (an installed prefix), or where make install put it. */
static int find_preload(char *out, size_t n)
{
	char exe[2048], *slash;
	const char *cands[] = { "%s/libgmemu-preload.so", "%s/../lib/libgmemu-preload.so" };
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t i;

	if (len > 0) {
		exe[len] = 0;
		slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
			snprintf(out, n, cands[i], exe);
			if (access(out, R_OK) == 0)
				return 0;
		}
	}
#ifdef GMEMU_LIBDIR
	snprintf(out, n, "%s/libgmemu-preload.so", GMEMU_LIBDIR);
	if (access(out, R_OK) == 0)
		return 0;
#endif
	return -1;
}

/* The program CMD names, as execvp would find it. */
static int resolve_cmd(const char *cmd, char *out, size_t n)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;

	if (strchr(cmd, '/')) {
		snprintf(out, n, "%s", cmd);
		return access(out, X_OK);
	}
	copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (!copy)
		return -1;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, n, "%s/%s", *dir ? dir : ".", cmd);
		if (access(out, X_OK) == 0) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	return -1;
}

/* Why LD_PRELOAD cannot reach the program, or NULL when it can: a static
 * binary has no dynamic loader to preload anything; a set-user-ID or
 * set-group-ID one has its environment cleaned by the loader. */
static const char *unreachable(const char *file)
{
	unsigned char ehdr[64], phdr[56];
	uint64_t phoff;
	uint16_t phnum, i;
	struct stat st;
	bool interp = false;
	FILE *f;

	if (stat(file, &st))
		return NULL; /* execvp will say */
	if (st.st_mode & (S_ISUID | S_ISGID))
		return "it is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD";
	f = fopen(file, "rb");
	if (!f)
		return NULL;
	if (fread(ehdr, 1, sizeof(ehdr), f) != sizeof(ehdr) ||
	    memcmp(ehdr, "\x7f" "ELF", 4) || ehdr[4] != 2 /* 64-bit */) {
		fclose(f); /* a script: its interpreter is dynamic, or said so */
		return NULL;
	}
	memcpy(&phoff, ehdr + 32, 8);
	memcpy(&phnum, ehdr + 56, 2);
	for (i = 0; i < phnum && !interp; i++) {
		uint32_t type;

		if (fseek(f, (long)(phoff + (uint64_t)i * 56), SEEK_SET) ||
		    fread(phdr, 1, sizeof(phdr), f) != sizeof(phdr))
			break;
		memcpy(&type, phdr, 4);
		interp = type == 3; /* PT_INTERP */
	}
	fclose(f);
	return interp ? NULL
		      : "it is statically linked: there is no loader to preload gmemu";
}

static int cmd_run(int argc, char **argv)
{
	char preload[4096], file[4096], *old;
	const char *why;
	int i;

	for (i = 0; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--abi") && i + 1 < argc) {
			setenv("GMEMU_ABI", argv[++i], 1);
		} else if (!strcmp(argv[i], "--trace")) {
			setenv("GMEMU_TRACE", "1", 1);
		} else if (!strcmp(argv[i], "--vcpu") && i + 1 < argc) {
			setenv("GMEMU_VCPU", argv[++i], 1);
		} else if (!strcmp(argv[i], "--no-follow")) {
			setenv("GMEMU_PRELOAD_FOLLOW", "0", 1);
		} else if (!strcmp(argv[i], "--kvm-param") && i + 1 < argc) {
			/* NAME=VALUE, added to GMEMU_KVM_PARAMS */
			const char *had = getenv("GMEMU_KVM_PARAMS");
			char *all = malloc((had ? strlen(had) : 0) +
					   strlen(argv[i + 1]) + 2);

			if (!all)
				die("malloc");
			sprintf(all, "%s%s%s", had && *had ? had : "",
				had && *had ? "," : "", argv[++i]);
			setenv("GMEMU_KVM_PARAMS", all, 1);
			free(all);
		} else {
			fprintf(stderr, "gmemu run: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "usage: gmemu run [--abi PROFILE] [--kvm-param NAME=VAL] "
				"[--trace] [--vcpu kvm|emulated] [--no-follow] -- CMD [ARGS...]\n");
		return 2;
	}
	argv += i + 1;
	if (gmemu_check_env())
		return 2;
	if (resolve_cmd(argv[0], file, sizeof(file))) {
		fprintf(stderr, "gmemu run: %s: command not found\n", argv[0]);
		return 127;
	}
	why = unreachable(file);
	if (why) {
		fprintf(stderr, "gmemu run: refusing %s: %s, so it would run against "
				"the real kernel\n", file, why);
		return 2;
	}
	if (find_preload(preload, sizeof(preload))) {
		fprintf(stderr, "gmemu run: libgmemu-preload.so not found beside "
				"gmemu or in its lib directory\n");
		return 1;
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		char *both = malloc(strlen(preload) + strlen(old) + 2);

		if (!both)
			die("malloc");
		sprintf(both, "%s:%s", preload, old);
		setenv("LD_PRELOAD", both, 1);
		free(both);
	} else {
		setenv("LD_PRELOAD", preload, 1);
	}
	/* CMD replaces us: its exit status or its death by a signal is what
	 * our parent sees, as with a shell's exec */
	execv(file, argv);
	fprintf(stderr, "gmemu run: %s: %s\n", file, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

/* ---- help ---- */

struct command {
	const char *name;
	const char *args;
	const char *summary;
	const char *help;
	int (*fn)(int argc, char **argv);
	int max_args; /* -1: any */
};

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "demo", "[MODEL...]",
	  "a confidential VM's memory lifecycle, per platform model",
	  "Walks a confidential guest's memory through its life on each model\n"
	  "(or the ones named: sw_protected, pkvm, snp, tdx): boot image written\n"
	  "shared, converted to private in place, launch measured, software-vCPU\n"
	  "accesses with memory-fault exits served by conversions, and a real\n"
	  "guest where a vCPU backend runs.  GMEMU_ABI picks the profile.\n",
	  cmd_demo, -1 },
	{ "caps", "",
	  "capabilities of every VM type under every ABI profile",
	  "Prints KVM_CHECK_EXTENSION's answers for the content-mode, attribute\n"
	  "and guest_memfd-flag capabilities, per profile and VM type, then the\n"
	  "modes each direction accepts in each launch phase, the vCPU backend,\n"
	  "and the mechanism behind host views in this process (uffd or\n"
	  "mapfixed; see GMEMU_VIEWS) and why.\n",
	  cmd_caps, 0 },
	{ "inspect", "[--watch [--interval S]] PID FD | PATH",
	  "a gmem's state, from any process that can open it",
	  "Prints a gmem's size, model, profile, launch phase, attribute map and\n"
	  "extents, pins, the processes that map it and its counters, without\n"
	  "taking its lock.  PATH is for example /proc/PID/fd/N.  With --watch,\n"
	  "redraws the map and the rates (conversions, failures, revocation\n"
	  "requests per second) every S seconds (default 1) until interrupted.\n",
	  cmd_inspect, -1 },
	{ "run", "[--abi P] [--kvm-param N=V] [--trace] [--vcpu B] [--no-follow] -- CMD [ARGS...]",
	  "run an unmodified program against gmemu",
	  "Runs CMD with the interposer (libgmemu-preload.so) loaded: /dev/kvm\n"
	  "opens to gmemu whether or not the host has it, and every KVM call the\n"
	  "program makes reaches gmemu; everything else goes to the kernel as it\n"
	  "came.  --abi picks the profile (GMEMU_ABI), --kvm-param sets a kvm\n"
	  "module parameter (GMEMU_KVM_PARAMS; gmem_in_place_conversion=Y|N in\n"
	  "the 7.4 profile), --trace logs gmemu's calls (GMEMU_TRACE=1), --vcpu\n"
	  "the vCPU backend (GMEMU_VCPU).  Every process CMD starts is\n"
	  "interposed too (a script or test runner may start the VMM);\n"
	  "--no-follow interposes CMD alone.  CMD replaces gmemu: its exit\n"
	  "status and death by a signal pass through.  A\n"
	  "statically linked or set-user-ID CMD, which LD_PRELOAD cannot reach,\n"
	  "is refused (exit 2).\n",
	  cmd_run, -1 },
	{ "help", "[COMMAND]", "this list, or one command's help", NULL,
	  cmd_help, 1 },
};

static const struct command *command_named(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: gmemu COMMAND [ARGS]   (gmemu %s)\n\n", gmemu_version());
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %-40s %s\n", commands[i].name, commands[i].args,
			commands[i].summary);
	fprintf(f, "\n  --version  the library's version\n"
		   "\nEnvironment: GMEMU_ABI (contentmodes, v8, 7.4, 6.18, 6.12),\n"
		   "GMEMU_KVM_PARAMS (gmem_in_place_conversion=Y|N), GMEMU_TRACE=1,\n"
		   "GMEMU_REVOKE_TIMEOUT_MS (1-3600000), GMEMU_VCPU (kvm, emulated).\n");
}

static int cmd_help(int argc, char **argv)
{
	const struct command *c;

	if (!argc) {
		usage(stdout);
		return 0;
	}
	c = command_named(argv[0]);
	if (!c) {
		fprintf(stderr, "gmemu help: no command '%s'\n", argv[0]);
		return 2;
	}
	printf("usage: gmemu %s %s\n\n%s", c->name, c->args,
	       c->help ? c->help : "");
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_help(argc - 2, argv + 2);
	if (!strcmp(argv[1], "--version")) {
		if (argc > 2) {
			fprintf(stderr, "gmemu: unexpected argument '%s'\n", argv[2]);
			return 2;
		}
		printf("gmemu %s\n", gmemu_version());
		return 0;
	}
	c = command_named(argv[1]);
	if (!c) {
		fprintf(stderr, "gmemu: no command '%s' (gmemu help lists them)\n",
			argv[1]);
		return 2;
	}
	if (c->max_args >= 0 && argc - 2 > c->max_args) {
		fprintf(stderr, "gmemu %s: unexpected argument '%s'\n", c->name,
			argv[2 + c->max_args]);
		return 2;
	}
	if (c->fn != cmd_help && c->fn != cmd_run && gmemu_check_env())
		return 2;
	return c->fn(argc - 2, argv + 2);
}
