// SPDX-License-Identifier: MIT
/*
 * The emulated vCPU backend: an x86-64 CPU in software, on Unicorn 2.0
 * (libunicorn.so.2, loaded with dlopen at first use: programs that link
 * gmemu never need -lunicorn), with KVM's exit semantics.
 *
 * Unicorn 2.0.1 ignores paging: its address space is the guest's linear
 * space.  We shadow the guest's page tables by mapping linear runs straight
 * onto the host pages the VM resolves (guest_mem_ops), never copying guest
 * memory.  Each vCPU owns one engine that only its own thread touches; every
 * request (KVM_RUN, register access, invalidation) is handed to that thread.
 * An exit that needs the VMM's answer parks the thread inside the hook until
 * the next KVM_RUN brings it, so the instruction completes exactly once, as
 * on KVM.  docs/decisions.md ("The emulated vCPU") gives every Unicorn quirk
 * this file works around and the experiment behind it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/sys.h"
#include "../base/uaccess.h"
#include "backend.h"

#define EMU_RUN_PAGES 3 /* kvm_run, the PIO data page, coalesced MMIO */

#ifdef GMEMU_HAVE_UNICORN

#include <cpuid.h>
#include <dlfcn.h>
#include <link.h> /* the GOT of libunicorn.so.2 */
#include <setjmp.h>
#include <stdatomic.h>

#include <linux/kvm_para.h>
#include <unicorn/unicorn.h> /* types and constants only */

#ifndef KVM_HC_MAP_GPA_RANGE
#define KVM_HC_MAP_GPA_RANGE 12
#endif
#define KVM_ENOSYS_RET 1000 /* -KVM_ENOSYS goes to RAX, as KVM does */

/* kvm_run.memory_fault, which older headers do not name */
struct emu_memory_fault {
	__u64 flags, gpa, size;
};

static struct emu_memory_fault *run_memory_fault(struct kvm_run *run)
{
	return (struct emu_memory_fault *)(void *)&run->mmio;
}

#define PAGE_LOW	((uint64_t)PAGE_SIZE - 1)
#define PFN_MASK	0x000ffffffffff000ULL
#define MAX_MAPS	256	/* Unicorn slows down with many regions */
#define MAX_PT		512
#define WINDOW_PAGES	512	/* a run never leaves its 2 MiB linear block */
#define UNTIL		0x8000000000000000ULL	/* never a linear PC */

#define CR0_PE	(1ULL << 0)
#define CR0_WP	(1ULL << 16)
#define CR0_PG	(1ULL << 31)
#define CR4_PSE	(1ULL << 4)
#define CR4_PAE	(1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXSAVE (1ULL << 18)
#define CR4_SMAP (1ULL << 21)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)
#define RFLAGS_TF (1ULL << 8)
#define RFLAGS_IF (1ULL << 9)
#define RFLAGS_NT (1ULL << 14)
#define RFLAGS_RF (1ULL << 16)
#define RFLAGS_VM (1ULL << 17)
#define RFLAGS_AC (1ULL << 18)

#define PTE_P	(1ULL << 0)
#define PTE_W	(1ULL << 1)
#define PTE_U	(1ULL << 2)
#define PTE_A	(1ULL << 5)
#define PTE_D	(1ULL << 6)
#define PTE_PS	(1ULL << 7)
#define PTE_XD	(1ULL << 63)

#undef PF_W /* <elf.h>'s program header flag: ours is the #PF error code's */
#define PF_P	(1U << 0)
#define PF_W	(1U << 1)
#define PF_U	(1U << 2)
#define PF_I	(1U << 4)

/* QEMU's segment-cache flag bits (the descriptor's high dword) */
#define SEG_S	(1U << 12)
#define SEG_P	(1U << 15)
#define SEG_L	(1U << 21)
#define SEG_B	(1U << 22)

/* QEMU's hidden flags (hflags) that decide how code is translated */
#define HF_CPL	3U
#define HF_CS32	(1U << 4)
#define HF_SS32	(1U << 5)
#define HF_ADDSEG (1U << 6)
#define HF_PE	(1U << 7)
#define HF_MP	(1U << 9)
#define HF_EM	(1U << 10)
#define HF_TS	(1U << 11)
#define HF_LMA	(1U << 14)
#define HF_CS64	(1U << 15)
#define HF_OSFXSR (1U << 22)
#define HF_SMAP	(1U << 23)
#define HF_OURS	(HF_CPL | HF_CS32 | HF_SS32 | HF_ADDSEG | HF_PE | HF_MP | \
		 HF_EM | HF_TS | HF_LMA | HF_CS64 | HF_OSFXSR | HF_SMAP)

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };
enum { ACC_R, ACC_W, ACC_X };
enum { V_DE = 0, V_UD = 6, V_DF = 8, V_GP = 13, V_PF = 14 };

#define MSR_EFER	0xc0000080
#define MSR_TSC		0x10
#define MSR_APIC_BASE	0x1b

/* ---- libunicorn, loaded at first use ---- */

static struct {
	uc_err (*open)(uc_arch, uc_mode, uc_engine **);
	uc_err (*close)(uc_engine *);
	uc_err (*reg_read)(uc_engine *, int, void *);
	uc_err (*reg_write)(uc_engine *, int, const void *);
	uc_err (*mem_map_ptr)(uc_engine *, uint64_t, size_t, uint32_t, void *);
	uc_err (*mem_unmap)(uc_engine *, uint64_t, size_t);
	uc_err (*mem_protect)(uc_engine *, uint64_t, size_t, uint32_t);
	uc_err (*mem_read)(uc_engine *, uint64_t, void *, size_t);
	uc_err (*emu_start)(uc_engine *, uint64_t, uint64_t, uint64_t, size_t);
	uc_err (*emu_stop)(uc_engine *);
	uc_err (*hook_add)(uc_engine *, uc_hook *, int, void *, void *,
			   uint64_t, uint64_t, ...);
	uc_err (*context_alloc)(uc_engine *, uc_context **);
	uc_err (*context_save)(uc_engine *, uc_context *);
	uc_err (*context_restore)(uc_engine *, uc_context *);
	size_t (*context_size)(uc_engine *);
	uc_err (*free)(void *);
	uc_err (*ctl)(uc_engine *, uc_control_type, ...);
	unsigned int (*version)(unsigned int *, unsigned int *);
} uc;

static const struct {
	const char *name;
	size_t off;
} uc_syms[] = {
#define SYM(f) { "uc_" #f, offsetof(__typeof__(uc), f) }
	SYM(open), SYM(close), SYM(reg_read), SYM(reg_write), SYM(mem_map_ptr),
	SYM(mem_unmap), SYM(mem_protect), SYM(mem_read), SYM(emu_start),
	SYM(emu_stop), SYM(hook_add), SYM(context_alloc), SYM(context_save),
	SYM(context_restore), SYM(context_size), SYM(free), SYM(ctl),
	SYM(version),
#undef SYM
};

/*
 * Where CPUX86State's fields sit inside a uc_context.  Unicorn has no API
 * for segment hidden parts, hflags, EFER.LMA or the exception state, so we
 * edit the saved context; the layout (QEMU 5.0's) is verified at load.
 */
static struct {
	size_t env;		/* env inside a uc_context */
	size_t ctx_size;
} lay;
#define ENV_EIP		128
#define ENV_HFLAGS	176
#define ENV_SEGS	184
#define ENV_LDT		328
#define ENV_TR		352
#define ENV_GDT		376
#define ENV_IDT		400
#define ENV_CR		424
#define ENV_EFER	560
#define ENV_ERRCODE	5352
#define ENV_OLDEXC	5464

static uint32_t native_cpuid[3][4];	/* leaves 1, 7, 0x80000001 */
static const char *unavail;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static bool probe_fail(const char *why, uc_engine *e)
{
	unavail = why;
	if (e)
		uc.close(e);
	return false;
}

static void probe_intr(uc_engine *e, uint32_t no, void *opaque)
{
	*(int *)opaque = (int)no;
	uc.emu_stop(e);
}

static uint8_t *ctx_env(uc_context *c)
{
	return (uint8_t *)c + lay.env;
}

#define ENV32(e, off) (*(uint32_t *)(void *)((e) + (off)))
#define ENV64(e, off) (*(uint64_t *)(void *)((e) + (off)))
#define ENVS32(e, off) (*(int32_t *)(void *)((e) + (off)))

static bool probe_layout(void)
{
	static const uint8_t code[] = {
		0x31, 0xc9, 0xf7, 0xf1,			/* xor ecx,ecx; div ecx */
		0x66, 0xb8, 0x30, 0x12, 0x8e, 0xd8,	/* mov $0x1230,%ax; mov %ax,%ds */
		0x0f, 0xa2, 0xf4,			/* cpuid; hlt */
	};
	static const uint32_t leaves[3] = { 1, 7, 0x80000001 };
	uint64_t rax = 0x5a5aa5a51234fedcULL, fsb = 0x1122334455667788ULL;
	uint64_t cr3 = 0x7f000, v;
	uc_x86_mmr gdt = { .base = 0x0123456789abcdefULL, .limit = 7 };
	uint8_t *page = NULL, *blob, *env;
	uc_context *ctx = NULL;
	long m;
	uc_engine *e;
	uc_hook h;
	size_t i;
	int vec = -1;
	bool ok = false;

	if (uc.open(UC_ARCH_X86, UC_MODE_64, &e))
		return probe_fail("libunicorn.so.2: uc_open(UC_ARCH_X86, UC_MODE_64) failed", NULL);
	lay.ctx_size = uc.context_size(e);
	if (uc.context_alloc(e, &ctx) || lay.ctx_size < 64 + ENV_OLDEXC) {
		probe_fail("libunicorn.so.2: uc_context unusable", e);
		goto out;
	}
	uc.reg_write(e, UC_X86_REG_RAX, &rax);
	uc.reg_write(e, UC_X86_REG_FS_BASE, &fsb);
	uc.reg_write(e, UC_X86_REG_CR3, &cr3);
	uc.reg_write(e, UC_X86_REG_GDTR, &gdt);
	uc.context_save(e, ctx);
	blob = (uint8_t *)ctx;
	for (i = 0; i + 8 <= 64; i += 8)
		if (!memcmp(blob + i, &rax, 8))
			break;
	lay.env = i;
	env = ctx_env(ctx);
	if (i + 8 > 64 || lay.env + ENV_OLDEXC + 4 > lay.ctx_size ||
	    ENV64(env, ENV_SEGS + 24 * SEG_FS + 8) != fsb ||
	    ENV64(env, ENV_GDT + 8) != gdt.base ||
	    ENV64(env, ENV_CR + 24) != cr3 ||
	    (ENV32(env, ENV_HFLAGS) & (HF_CS64 | HF_LMA)) != (HF_CS64 | HF_LMA) ||
	    (ENV64(env, ENV_EFER) & EFER_LMA) == 0 ||
	    ENVS32(env, ENV_OLDEXC) != -1) {
		probe_fail("libunicorn.so.2: its CPU state layout is not QEMU 5.0's", e);
		goto out;
	}
	/* an exception must leave the state we read and reset (the page is
	 * no allocation a fault-injecting test could fail: the verdict is
	 * kept for the life of the process) */
	m = sys_mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m < 0 && m > -4096) {
		probe_fail("cannot map a page to probe libunicorn.so.2", e);
		goto out;
	}
	page = (uint8_t *)m;
	memcpy(page, code, sizeof(code));
	uc.mem_map_ptr(e, 0x1000, PAGE_SIZE, UC_PROT_ALL, page);
	uc.hook_add(e, &h, UC_HOOK_INTR, (void *)probe_intr, &vec, 1, 0);
	uc.emu_start(e, 0x1000, UNTIL, 0, 0);
	uc.context_save(e, ctx);
	if (vec != V_DE || ENVS32(env, ENV_OLDEXC) != V_DE) {
		probe_fail("libunicorn.so.2: no exception state where expected", e);
		goto out;
	}
	ENVS32(env, ENV_OLDEXC) = -1;
	uc.context_restore(e, ctx);
	vec = -1;
	uc.emu_start(e, 0x1004, UNTIL, 0, 0);
	uc.context_save(e, ctx);
	if (vec != V_GP || ENVS32(env, ENV_ERRCODE) != 0x1230 ||
	    ENVS32(env, ENV_OLDEXC) != V_GP) {
		probe_fail("libunicorn.so.2: no error code where expected", e);
		goto out;
	}
	ENVS32(env, ENV_OLDEXC) = -1;
	uc.context_restore(e, ctx);
	for (i = 0; i < 3; i++) {
		v = leaves[i];
		uc.reg_write(e, UC_X86_REG_RAX, &v);
		v = 0;
		uc.reg_write(e, UC_X86_REG_RCX, &v);
		uc.emu_start(e, 0x100a, UNTIL, 0, 0);
		uc.reg_read(e, UC_X86_REG_EAX, &native_cpuid[i][0]);
		uc.reg_read(e, UC_X86_REG_EBX, &native_cpuid[i][1]);
		uc.reg_read(e, UC_X86_REG_ECX, &native_cpuid[i][2]);
		uc.reg_read(e, UC_X86_REG_EDX, &native_cpuid[i][3]);
	}
	ok = true;
	uc.close(e);
out:
	if (ctx)
		uc.free(ctx);
	if (page)
		sys_munmap(page, PAGE_SIZE);
	return ok;
}

/*
 * Unicorn gives up on some guest code: QEMU 5.0's translator cannot
 * generate code for a few encodings that must raise #UD (lcall and ljmp
 * with a register operand, FF /3 and FF /5 with mod 3), and calls abort().
 * A guest must never take its VMM down, so libunicorn's abort (and
 * __assert_fail) are redirected here: on an emulator thread inside
 * uc_emu_start we jump back to that thread's vcpu_step, which replaces
 * the engine and raises #UD in the guest (engine_recover); anywhere else
 * the real one runs.
 */
static __thread sigjmp_buf *emu_jb;
static void (*real_abort)(void);

__attribute__((noreturn)) static void emu_abort(void)
{
	if (emu_jb)
		siglongjmp(*emu_jb, 1);
	real_abort();
	__builtin_unreachable();
}

__attribute__((noreturn)) static void emu_assert_fail(const char *a, const char *f,
						      unsigned int l, const char *fn)
{
	(void)a, (void)f, (void)l, (void)fn;
	emu_abort();
}

/* Point the library's import of sym (its GOT slot) at fn. */
static bool got_patch(void *h, const char *sym, void *fn)
{
	ElfW(Rela) *rel = NULL;
	ElfW(Sym) *syms = NULL;
	const char *strs = NULL;
	struct link_map *lm;
	size_t relsz = 0, i;
	ElfW(Dyn) *d;

	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) || !lm->l_ld)
		return false;
	for (d = lm->l_ld; d->d_tag != DT_NULL; d++) {
		/* the loader has relocated these in place (if not: add) */
		uintptr_t p = d->d_un.d_ptr < lm->l_addr ? d->d_un.d_ptr + lm->l_addr
							 : d->d_un.d_ptr;

		if (d->d_tag == DT_JMPREL)
			rel = (ElfW(Rela) *)p;
		else if (d->d_tag == DT_PLTRELSZ)
			relsz = d->d_un.d_val;
		else if (d->d_tag == DT_SYMTAB)
			syms = (ElfW(Sym) *)p;
		else if (d->d_tag == DT_STRTAB)
			strs = (const char *)p;
	}
	if (!rel || !syms || !strs)
		return false;
	for (i = 0; i < relsz / sizeof(*rel); i++) {
		void **slot = (void **)(lm->l_addr + rel[i].r_offset);
		void *page = (void *)((uintptr_t)slot & ~(uintptr_t)PAGE_LOW);

		if (ELF64_R_TYPE(rel[i].r_info) != R_X86_64_JUMP_SLOT ||
		    strcmp(strs + syms[ELF64_R_SYM(rel[i].r_info)].st_name, sym) ||
		    (uintptr_t)slot % sizeof(void *))
			continue;
		/* full RELRO: the slot's page is read-only after loading */
		if (sys_mprotect(page, PAGE_SIZE, PROT_READ | PROT_WRITE))
			return false;
		__atomic_store_n(slot, fn, __ATOMIC_RELEASE);
		sys_mprotect(page, PAGE_SIZE, PROT_READ);
		return true;
	}
	return false;
}

/* Once per process: everything below is written here and only read after
 * pthread_once, which orders the two. */
static void load_unicorn(void)
{
	unsigned int major, minor;
	void *h = dlopen("libunicorn.so.2", RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!h) {
		unavail = "libunicorn.so.2 not found (apt-get install libunicorn2)";
		return;
	}
	for (i = 0; i < ARRAY_SIZE(uc_syms); i++) {
		void *sym = dlsym(h, uc_syms[i].name);

		if (!sym) {
			unavail = "libunicorn.so.2 lacks a needed uc_* function";
			return;
		}
		memcpy((char *)&uc + uc_syms[i].off, &sym, sizeof(sym));
	}
	uc.version(&major, &minor);
	if (major != 2 || minor != 0) {
		unavail = "libunicorn.so.2 is not Unicorn 2.0 (its CPU state "
			  "layout is QEMU 5.0's only there)";
		return;
	}
	/* where this fails (another build of the library), such guest code
	 * still ends the process, as it did before */
	real_abort = abort;
	got_patch(h, "abort", (void *)emu_abort);
	got_patch(h, "__assert_fail", (void *)emu_assert_fail);
	probe_layout();
	/* the library stays loaded: engines may live until exit */
}

/* Why emulated vCPUs cannot run here, or NULL when they can. */
static const char *emu_unavailable_reason(void)
{
	pthread_once(&load_once, load_unicorn);
	return unavail;
}

/* ---- the vCPU ---- */

struct smap {			/* a linear run mapped as one Unicorn region */
	uint64_t la, gpa;	/* gpa without the shared bit */
	uint32_t npages, prot;
};

struct emu_vcpu {
	uc_engine *uc;
	uc_context *ctx;
	const struct guest_mem_ops *ops;
	void *opaque;
	uint64_t shared_mask;
	_Atomic uint64_t *hc_mask;	/* the VM's KVM_CAP_EXIT_HYPERCALL */

	pthread_t thread;
	pthread_mutex_t lock;		/* the mailbox below */
	pthread_cond_t cond;
	pthread_mutex_t run_lock;	/* one KVM_RUN at a time */
	pthread_mutex_t call_lock;	/* one request at a time */
	_Atomic bool quit;
	/* atomic: a side of a handoff polls them before it sleeps */
	_Atomic bool run_req, run_done, call_req, call_done;
	int run_ret, init_ret;
	struct kvm_run *run;
	size_t io_off;
	void (*call_fn)(struct emu_vcpu *, void *);
	void *call_arg;
	atomic_int attn;		/* the code hook must stop emulation */

	/* emulator thread only */
	bool guest_pg;			/* CR0.PG as the guest set it */
	bool in_emu, want_intr, stop_attn, need_flush, fixup, abort_exit;
	bool fetch_fault;		/* a fetch since the last instruction */
	bool retry;			/* the VM was busy: serve, then again */
	unsigned int retries;
	bool tb_drop;			/* drop translated code at tb_drop_la */
	uint64_t tb_drop_la;
	int abort_ret, intr_vec;
	int exc_vec;			/* pending exception, -1: none */
	uint32_t exc_err;
	bool exc_has_err, exc_soft;
	uint64_t exc_cr2;
	uint64_t insn_la, insn_rip;	/* last instruction the code hook saw */
	uint32_t insn_len;
	bool rip_deferred, rflags_deferred;
	uint64_t deferred_rip, deferred_rflags;
	uint8_t *scratch;		/* MMIO data page */
	bool scratch_on, mmio_wpend, ro_skip;
	uint64_t scratch_la, scratch_gpa, mmio_wgpa, mmio_wval;
	uint32_t mmio_wlen;
	uint64_t key_cr0, key_cr3, key_cr4;	/* what the shadow was built for */
	bool key_user;
	struct smap maps[MAX_MAPS];
	int nmaps;
	uint64_t pt[MAX_PT];		/* GPAs of pages that hold page tables */
	int npt;
	uint64_t apic_base, tsc, cr8, xcr0;
	uint32_t mp_state;
	struct kvm_cpuid_entry2 *cpuid;
	uint32_t ncpuid;
	/* after the engine gave up on a block: one instruction per start
	 * (engine_recover) */
	bool careful;
	unsigned int careful_steps;
	uint64_t careful_pc;		/* linear PC the step started at */
};

static uint64_t rd(struct emu_vcpu *v, int reg)
{
	uint64_t val = 0;

	uc.reg_read(v->uc, reg, &val);
	return val;
}

static void wr(struct emu_vcpu *v, int reg, uint64_t val)
{
	uc.reg_write(v->uc, reg, &val);
}

/*
 * Unicorn's own MMU walks page tables in its address space (our linear
 * one) whenever CR0.PG is set, so its copy of CR0 never has PG: the
 * guest's PG lives here.
 */
static uint64_t guest_cr0(struct emu_vcpu *v)
{
	return rd(v, UC_X86_REG_CR0) | (v->guest_pg ? CR0_PG : 0);
}

static uint8_t *env_load(struct emu_vcpu *v)
{
	uc.context_save(v->uc, v->ctx);
	return ctx_env(v->ctx);
}

static void env_store(struct emu_vcpu *v)
{
	uc.context_restore(v->uc, v->ctx);
}

static uint8_t *seg_at(uint8_t *env, int seg)
{
	return env + ENV_SEGS + 24 * seg;
}

/* Recompute what QEMU derives from CR0/CR4/EFER and the segment caches. */
static void hflags_update(uint8_t *env)
{
	uint64_t cr0 = ENV64(env, ENV_CR), cr4 = ENV64(env, ENV_CR + 32);
	uint64_t efer = ENV64(env, ENV_EFER), rfl = ENV64(env, ENV_EIP + 8);
	uint32_t csf = ENV32(seg_at(env, SEG_CS), 20);
	uint32_t ssf = ENV32(seg_at(env, SEG_SS), 20);
	uint32_t hf = ENV32(env, ENV_HFLAGS) & ~HF_OURS;
	bool pe = cr0 & CR0_PE, vm = rfl & RFLAGS_VM;

	if (pe)
		hf |= HF_PE | (vm ? 3 : (ssf >> 13) & 3);
	if (csf & SEG_B)
		hf |= HF_CS32;
	if (ssf & SEG_B)
		hf |= HF_SS32;
	if (efer & EFER_LMA) {
		hf |= HF_LMA;
		if (csf & SEG_L)
			hf |= HF_CS64 | HF_CS32 | HF_SS32;
	}
	if (!(hf & HF_CS64)) {
		if (!pe || vm || !(hf & HF_CS32) ||
		    ENV64(seg_at(env, SEG_DS), 8) || ENV64(seg_at(env, SEG_ES), 8) ||
		    ENV64(seg_at(env, SEG_SS), 8))
			hf |= HF_ADDSEG;
	}
	hf |= (uint32_t)(cr0 & 0xe) << 8;	/* MP, EM, TS */
	if (cr4 & CR4_OSFXSR)
		hf |= HF_OSFXSR;
	if (cr4 & CR4_SMAP)
		hf |= HF_SMAP;
	ENV32(env, ENV_HFLAGS) = hf;
}

static void seg_set(uint8_t *sc, uint32_t sel, uint64_t base, uint32_t limit,
		    uint32_t flags)
{
	ENV32(sc, 0) = sel;
	ENV64(sc, 8) = base;
	ENV32(sc, 16) = limit;
	ENV32(sc, 20) = flags;
}

static void seg_to_kvm(uint8_t *sc, struct kvm_segment *s)
{
	uint32_t f = ENV32(sc, 20);

	memset(s, 0, sizeof(*s));
	s->selector = (uint16_t)ENV32(sc, 0);
	s->base = ENV64(sc, 8);
	s->limit = ENV32(sc, 16);
	s->type = (f >> 8) & 15;
	s->s = (f >> 12) & 1;
	s->dpl = (f >> 13) & 3;
	s->present = (f >> 15) & 1;
	s->avl = (f >> 20) & 1;
	s->l = (f >> 21) & 1;
	s->db = (f >> 22) & 1;
	s->g = (f >> 23) & 1;
	s->unusable = !s->present;
}

static uint32_t kvm_seg_flags(const struct kvm_segment *s)
{
	return (uint32_t)(s->type & 15) << 8 | (uint32_t)(s->s & 1) << 12 |
	       (uint32_t)(s->dpl & 3) << 13 |
	       (uint32_t)(s->present && !s->unusable) << 15 |
	       (uint32_t)(s->avl & 1) << 20 | (uint32_t)(s->l & 1) << 21 |
	       (uint32_t)(s->db & 1) << 22 | (uint32_t)(s->g & 1) << 23;
}

static void seg_from_kvm(uint8_t *sc, const struct kvm_segment *s)
{
	seg_set(sc, s->selector, s->base, s->limit, kvm_seg_flags(s));
}

/*
 * kvm_run.immediate_exit, which the program may set from any thread.  KVM
 * reads it when KVM_RUN starts and leaves a running vCPU to a signal, which
 * cannot reach an emulated vCPU's waiting caller; so the emulator also
 * polls it between instructions, and "set immediate_exit, then signal the
 * vCPU thread" stops it either way.
 */
static bool immediate_exit(struct emu_vcpu *v)
{
	return __atomic_load_n(&v->run->immediate_exit, __ATOMIC_RELAXED);
}

/* ---- mailbox: the emulator thread's side ---- */

/*
 * How long a side of a handoff polls for the other before it sleeps.
 * Waking a thread that sleeps on an idle CPU costs 50-300 us in a VM (the
 * CPU halted, a host exit); a VMM answers most exits, and a guest reaches
 * most exits, well within this.  KVM's halt polling makes the same trade.
 */
#define HANDOFF_POLL_NS 50000

/* More than one CPU this process may run on (a VMM pinned to one CPU
 * must not spin while the thread it waits for cannot run). */
static bool cpus_to_poll(void)
{
	static int many = -1;
	int m = __atomic_load_n(&many, __ATOMIC_RELAXED);

	if (m < 0) {
		cpu_set_t set;

		m = sched_getaffinity(0, sizeof(set), &set) == 0 ?
			    CPU_COUNT(&set) > 1 :
			    sysconf(_SC_NPROCESSORS_ONLN) > 1;
		__atomic_store_n(&many, m, __ATOMIC_RELAXED);
	}
	return m > 0;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Poll without the lock until *a or *b (either may be NULL) is set, or
 * the bound passes: the caller then takes the lock and checks again. */
static void handoff_poll(_Atomic bool *a, _Atomic bool *b, _Atomic bool *c)
{
	uint64_t until;
	unsigned int i;

	if (!cpus_to_poll())
		return;
	until = now_ns() + HANDOFF_POLL_NS;
	for (i = 0;; i++) {
		if ((a && atomic_load(a)) || (b && atomic_load(b)) ||
		    (c && atomic_load(c)))
			return;
		if (!(i & 63) && now_ns() > until)
			return;
		cpu_relax();
	}
}

static void serve_calls_locked(struct emu_vcpu *v)
{
	while (v->call_req) {
		void (*fn)(struct emu_vcpu *, void *) = v->call_fn;

		sigjmp_buf *jb = emu_jb;

		v->call_req = false;
		pthread_mutex_unlock(&v->lock);
		/* a request is never left half done: no jump out of it */
		emu_jb = NULL;
		fn(v, v->call_arg);
		emu_jb = jb;
		pthread_mutex_lock(&v->lock);
		v->call_done = true;
		pthread_cond_broadcast(&v->cond);
	}
}

/* Wait for the next KVM_RUN (or quit), serving requests meanwhile. */
static void wait_run_locked(struct emu_vcpu *v)
{
	for (;;) {
		serve_calls_locked(v);
		if (v->quit)
			return;
		if (v->run_req)
			break;
		pthread_mutex_unlock(&v->lock);
		handoff_poll(&v->run_req, &v->call_req, &v->quit);
		pthread_mutex_lock(&v->lock);
		if (v->run_req || v->call_req || v->quit)
			continue;
		pthread_cond_wait(&v->cond, &v->lock);
	}
	v->run_req = false;
	v->want_intr = immediate_exit(v);
	if (v->want_intr)
		atomic_store(&v->attn, 1);
}

/* Hand an exit to the KVM_RUN caller; returns when the next run starts. */
static void publish_exit(struct emu_vcpu *v, int ret)
{
	pthread_mutex_lock(&v->lock);
	v->run_ret = ret;
	v->run_done = true;
	pthread_cond_broadcast(&v->cond);
	wait_run_locked(v);
	pthread_mutex_unlock(&v->lock);
	if (v->quit)
		atomic_store(&v->attn, 1);
}

static void exit_internal(struct emu_vcpu *v, uint64_t why)
{
	memset(&v->run->internal, 0, sizeof(v->run->internal));
	v->run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	v->run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	v->run->internal.ndata = 1;
	v->run->internal.data[0] = why;
}

static void exit_memory_fault(struct emu_vcpu *v, uint64_t gpa, uint64_t flags)
{
	struct emu_memory_fault *mf = run_memory_fault(v->run);

	v->run->exit_reason = KVM_EXIT_MEMORY_FAULT;
	mf->flags = flags;
	mf->gpa = gpa;
	mf->size = PAGE_SIZE;
}

/* An exit found inside a hook whose access is aborted: sent after the stop. */
static bool abort_with(struct emu_vcpu *v, int ret)
{
	v->abort_exit = true;
	v->abort_ret = ret;
	return false;
}

static bool raise_exc(struct emu_vcpu *v, int vec, bool has_err, uint32_t err,
		      uint64_t cr2)
{
	v->exc_vec = vec;
	v->exc_has_err = has_err;
	v->exc_err = err;
	v->exc_cr2 = cr2;
	v->exc_soft = false;
	return false;
}

/* ---- the shadow of the guest's page tables ---- */

static bool pt_has(struct emu_vcpu *v, uint64_t gpa)
{
	int i;

	for (i = 0; i < v->npt; i++)
		if (v->pt[i] == gpa)
			return true;
	return false;
}

static void map_drop(struct emu_vcpu *v, int i)
{
	struct smap *m = &v->maps[i];

	uc.mem_unmap(v->uc, m->la, (size_t)m->npages * PAGE_SIZE);
	uc.ctl(v->uc, UC_CTL_WRITE(UC_CTL_TB_REMOVE_CACHE, 2), m->la,
	       m->la + (uint64_t)m->npages * PAGE_SIZE);
	v->maps[i] = v->maps[--v->nmaps];
}

static void key_update(struct emu_vcpu *v)
{
	v->key_cr0 = guest_cr0(v);
	v->key_cr3 = rd(v, UC_X86_REG_CR3);
	v->key_cr4 = rd(v, UC_X86_REG_CR4);
	v->key_user = (v->key_cr0 & CR0_PE) && (rd(v, UC_X86_REG_CS) & 3) == 3;
}

static void shadow_flush(struct emu_vcpu *v)
{
	while (v->nmaps)
		map_drop(v, v->nmaps - 1);
	v->npt = 0;
	v->need_flush = false;
	key_update(v);
}

static void shadow_invalidate(struct emu_vcpu *v, uint64_t gpa, uint64_t len)
{
	uint64_t end = gpa + len < gpa ? ~0ULL : gpa + len;
	int i;

	for (i = 0; i < v->npt; i++) {
		if (v->pt[i] >= (gpa & ~PAGE_LOW) && v->pt[i] < end) {
			shadow_flush(v);	/* the tables themselves change */
			return;
		}
	}
	for (i = v->nmaps - 1; i >= 0; i--) {
		struct smap *m = &v->maps[i];

		if (m->gpa < end && gpa < m->gpa + (uint64_t)m->npages * PAGE_SIZE)
			map_drop(v, i);
	}
}

/*
 * What is at guest-physical gpa (the shared bit gives the intent).  0,
 * -EAGAIN when the VM is busy changing its memory (it never waits for a lock
 * whose holder may be waiting for this vCPU: the access is abandoned, the
 * request served, and the instruction starts again), or another -errno.
 */
static int resolve(struct emu_vcpu *v, uint64_t gpa, bool write,
		   struct guest_mem *m)
{
	bool priv = v->shared_mask && !(gpa & v->shared_mask);

	memset(m, 0, sizeof(*m));
	return v->ops->resolve(v->opaque, gpa & ~v->shared_mask & ~PAGE_LOW,
			       priv, write, m);
}

/* The VM was busy: drop the access, start the instruction again. */
static bool retry(struct emu_vcpu *v)
{
	v->retry = true;
	return false;
}

struct mode {
	uint64_t cr0, cr3, cr4, efer;
	bool user;
};

static void mode_read(struct emu_vcpu *v, struct mode *md)
{
	uc_x86_msr efer = { .rid = MSR_EFER };

	md->cr0 = guest_cr0(v);
	md->cr3 = rd(v, UC_X86_REG_CR3);
	md->cr4 = rd(v, UC_X86_REG_CR4);
	uc.reg_read(v->uc, UC_X86_REG_MSR, &efer);
	md->efer = efer.value;
	md->user = (md->cr0 & CR0_PE) && (rd(v, UC_X86_REG_CS) & 3) == 3;
}

struct xlate {
	uint64_t gpa;		/* of the page, with the shared bit */
	bool w, u, x;		/* what the access may do (effective) */
	uint64_t span;		/* bytes mapped alike around la (page or table) */
	/* for runs: the leaf table, and the permissions above it */
	uint8_t *tbl;
	unsigned int idx, esz, nent;
	bool pw, pu, px, leaf_large;
	uint32_t pfec;
};

enum { XL_OK, XL_PF, XL_EXIT, XL_RETRY };

/* Read one table entry of the page table at gpa. */
static int pte_ptr(struct emu_vcpu *v, uint64_t tgpa, unsigned int idx,
		   unsigned int esz, uint8_t **out)
{
	struct guest_mem m;
	int i, r;

	r = resolve(v, tgpa, false, &m);
	if (r == -EAGAIN)
		return XL_RETRY;
	if (r) {
		exit_internal(v, 1);
		return XL_EXIT;
	}
	if (m.kind == GUEST_MEM_FAULT) {
		exit_memory_fault(v, tgpa & ~v->shared_mask, m.fault_flags);
		v->abort_ret = -EFAULT;
		return XL_EXIT;
	}
	if (m.kind != GUEST_MEM_RAM) {
		exit_internal(v, 2);	/* page tables in MMIO */
		return XL_EXIT;
	}
	if (!pt_has(v, tgpa)) {
		if (v->npt == MAX_PT) {
			v->need_flush = true;
		} else {
			v->pt[v->npt++] = tgpa;
			/* a writable run over a table would hide its writes */
			for (i = 0; i < v->nmaps; i++) {
				struct smap *s = &v->maps[i];

				if ((s->prot & UC_PROT_WRITE) && tgpa >= s->gpa &&
				    tgpa < s->gpa + (uint64_t)s->npages * PAGE_SIZE)
					v->fixup = true;
			}
		}
	}
	*out = m.host + (size_t)idx * esz;
	return XL_OK;
}

static uint64_t pte_get(const uint8_t *p, unsigned int esz)
{
	return esz == 8 ? __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED)
			: __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED);
}

static void pte_setbits(uint8_t *p, unsigned int esz, uint64_t bits)
{
	if ((pte_get(p, esz) & bits) == bits)
		return;
	if (esz == 8)
		__atomic_fetch_or((uint64_t *)(void *)p, bits, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint32_t *)(void *)p, (uint32_t)bits, __ATOMIC_RELAXED);
}

/*
 * Walk the guest's tables for linear address la.  XL_PF: a #PF with
 * x->pfec; XL_EXIT: v->run holds an exit; XL_RETRY: the VM was busy.
 */
static int xlate(struct emu_vcpu *v, uint64_t la, int acc, struct xlate *x)
{
	static const unsigned int sh64[4] = { 39, 30, 21, 12 };
	static const unsigned int sh32[2] = { 22, 12 };
	uint64_t table, e = 0, nx_bit;
	const unsigned int *shift;
	unsigned int esz, levels, lvl = 0, idx;
	uint8_t *p = NULL;
	struct mode md;
	bool w = true, u = true, xok = true, wp;
	int r;

	memset(x, 0, sizeof(*x));
	mode_read(v, &md);
	if (!(md.cr0 & CR0_PG)) {
		x->gpa = la & ~PAGE_LOW;
		if (!(md.efer & EFER_LMA))
			x->gpa &= 0xffffffffULL;
		x->w = x->u = x->x = true;
		x->span = WINDOW_PAGES * PAGE_SIZE;
		return XL_OK;
	}
	nx_bit = (md.efer & EFER_NXE) ? PTE_XD : 0;
	if (md.efer & EFER_LMA) {
		shift = sh64, esz = 8, levels = 4;
		table = md.cr3 & PFN_MASK;
	} else if (md.cr4 & CR4_PAE) {
		/* the PDPTE, then a 2-level walk */
		r = pte_ptr(v, md.cr3 & 0xfffff000ULL, (unsigned int)(((md.cr3 & 0xfe0) >> 3) + ((la >> 30) & 3)), 8, &p);
		if (r)
			return r;
		e = pte_get(p, 8);
		if (!(e & PTE_P))
			goto pf;
		table = e & PFN_MASK;
		shift = sh64 + 2, esz = 8, levels = 2;
	} else {
		shift = sh32, esz = 4, levels = 2;
		table = md.cr3 & 0xfffff000ULL;
		nx_bit = 0;
	}
	for (lvl = 0; lvl < levels; lvl++) {
		unsigned int nent = esz == 8 ? 512 : 1024;

		idx = (unsigned int)(la >> shift[lvl]) & (nent - 1);
		r = pte_ptr(v, table, idx, esz, &p);
		if (r)
			return r;
		e = pte_get(p, esz);
		if (!(e & PTE_P))
			goto pf;
		if (lvl + 1 < levels) {
			x->pw = w, x->pu = u, x->px = xok;
		}
		w = w && (e & PTE_W);
		u = u && (e & PTE_U);
		xok = xok && !(e & nx_bit);
		x->tbl = p - (size_t)idx * esz;
		x->idx = idx;
		x->esz = esz;
		x->nent = nent;
		if (lvl + 1 == levels)
			break;
		if ((e & PTE_PS) && (lvl == levels - 2 || (esz == 8 && lvl == levels - 3 && levels == 4))) {
			uint64_t size = 1ULL << shift[lvl];
			uint64_t base;

			if (esz == 4)	/* 4 MiB page (PSE), bits 39:32 ignored */
				base = e & 0xffc00000ULL;
			else
				base = e & PFN_MASK & ~(size - 1);
			x->gpa = base + (la & (size - 1) & ~PAGE_LOW);
			x->span = size;
			x->leaf_large = true;
			goto leaf;
		}
		table = e & (esz == 8 ? PFN_MASK : 0xfffff000ULL);
	}
	x->gpa = e & (esz == 8 ? PFN_MASK : 0xfffff000ULL);
	x->span = (uint64_t)x->nent * PAGE_SIZE;
leaf:
	wp = md.cr0 & CR0_WP;
	x->w = w || (!md.user && !wp);
	x->u = u;
	x->x = xok;
	if ((acc == ACC_W && !x->w) || (md.user && !u) || (acc == ACC_X && !xok)) {
		x->pfec = PF_P;
		goto pf_flags;
	}
	pte_setbits(p, esz, PTE_A | (acc == ACC_W ? PTE_D : 0));
	return XL_OK;
pf:
	x->pfec = 0;
pf_flags:
	x->pfec |= (acc == ACC_W ? PF_W : 0) | (md.user ? PF_U : 0) |
		   (acc == ACC_X && nx_bit ? PF_I : 0);
	return XL_PF;
}

/* The neighbour entry k of the leaf table: 0 and its gpa when usable. */
static bool xlate_next(const struct xlate *x, int k, bool user, bool wp,
		       uint64_t nx_bit, uint64_t *gpa, uint32_t *prot, uint8_t **ep)
{
	uint64_t e;
	bool w, u, xo;
	int i = (int)x->idx + k;

	*ep = NULL;
	if (!x->tbl) {		/* no paging: identity */
		*gpa = x->gpa + (uint64_t)k * PAGE_SIZE;
		*prot = UC_PROT_ALL;
		return true;
	}
	if (x->leaf_large) {	/* inside one large page */
		*gpa = x->gpa + (uint64_t)k * PAGE_SIZE;
		*prot = UC_PROT_READ | (x->w ? UC_PROT_WRITE : 0) | (x->x ? UC_PROT_EXEC : 0);
		return true;
	}
	if (i < 0 || i >= (int)x->nent)
		return false;
	e = pte_get(x->tbl + (size_t)i * x->esz, x->esz);
	if (!(e & PTE_P))
		return false;
	w = x->pw && (e & PTE_W);
	u = x->pu && (e & PTE_U);
	xo = x->px && !(e & nx_bit);
	if (user && !u)
		return false;
	w = w || (!user && !wp);
	*gpa = e & (x->esz == 8 ? PFN_MASK : 0xfffff000ULL);
	*prot = UC_PROT_READ | (w ? UC_PROT_WRITE : 0) | (xo ? UC_PROT_EXEC : 0);
	*ep = x->tbl + (size_t)i * x->esz;
	return true;
}

/* May the page k pages away from the faulting one join its run? */
static bool run_page_ok(struct emu_vcpu *v, const struct xlate *x, int k,
			const struct mode *md, uint64_t nx_bit, uint64_t gpa0,
			uint8_t *host0, uint32_t prot)
{
	int64_t delta = (int64_t)k * (int64_t)PAGE_SIZE;
	struct guest_mem m;
	uint8_t *ep;
	uint64_t g;
	uint32_t pr;

	if (!xlate_next(x, k, md->user, md->cr0 & CR0_WP, nx_bit, &g, &pr, &ep))
		return false;
	if ((int64_t)gpa0 + delta < 0 || (g & ~v->shared_mask) != gpa0 + (uint64_t)delta ||
	    pt_has(v, g & ~v->shared_mask) || pr != prot)
		return false;
	if (resolve(v, g, false, &m) || m.kind != GUEST_MEM_RAM || !m.writable ||
	    m.host != host0 + delta)
		return false;
	if (ep)		/* the guest may now touch it without a walk */
		pte_setbits(ep, x->esz, PTE_A | ((pr & UC_PROT_WRITE) ? PTE_D : 0));
	return true;
}

/* Map the largest run of alike pages around la that we may. */
static bool map_run(struct emu_vcpu *v, uint64_t la, const struct xlate *x,
		    const struct guest_mem *m0)
{
	uint64_t page = la & ~PAGE_LOW, gpa0 = x->gpa & ~v->shared_mask;
	uint64_t win_lo, win_hi, lo, hi, nx_bit;
	uint32_t prot;
	struct mode md;
	int k, i, before = 0, after = 0;
	bool single;

	if (v->nmaps == MAX_MAPS) {
		v->need_flush = true;
		v->fixup = true;
		return false;
	}
	mode_read(v, &md);
	nx_bit = (md.efer & EFER_NXE) ? PTE_XD : 0;
	prot = UC_PROT_READ | (x->x ? UC_PROT_EXEC : 0);
	if (x->w && m0->writable && !pt_has(v, gpa0))
		prot |= UC_PROT_WRITE;
	if (x->tbl && (prot & UC_PROT_WRITE))
		pte_setbits(x->tbl + (size_t)x->idx * x->esz, x->esz, PTE_D);
	single = pt_has(v, gpa0) || !m0->writable;
	/* stay inside the 2 MiB block, the leaf's span, and free space */
	win_lo = page & ~(WINDOW_PAGES * PAGE_SIZE - 1);
	win_hi = win_lo + WINDOW_PAGES * PAGE_SIZE;
	if (x->span < WINDOW_PAGES * PAGE_SIZE) {
		win_lo = page & ~(x->span - 1);
		win_hi = win_lo + x->span;
	}
	lo = win_lo, hi = win_hi;
	for (i = 0; i < v->nmaps; i++) {
		uint64_t s = v->maps[i].la, e = s + (uint64_t)v->maps[i].npages * PAGE_SIZE;

		if (e <= page && e > lo)
			lo = e;
		if (s > page && s < hi)
			hi = s;
	}
	for (k = 1; !single && page + (uint64_t)k * PAGE_SIZE < hi; k++) {
		if (!run_page_ok(v, x, k, &md, nx_bit, gpa0, m0->host, prot))
			break;
		after = k;
	}
	for (k = 1; !single && page >= lo + (uint64_t)k * PAGE_SIZE; k++) {
		if (!run_page_ok(v, x, -k, &md, nx_bit, gpa0, m0->host, prot))
			break;
		before = k;
	}
	{
		struct smap *s = &v->maps[v->nmaps];
		uint64_t start = page - (uint64_t)before * PAGE_SIZE;
		uint32_t n = (uint32_t)(before + 1 + after);

		if (uc.mem_map_ptr(v->uc, start, (size_t)n * PAGE_SIZE, prot,
				   m0->host - (size_t)before * PAGE_SIZE)) {
			exit_internal(v, 3);
			return abort_with(v, 0);
		}
		s->la = start;
		s->gpa = gpa0 - (uint64_t)before * PAGE_SIZE;
		s->npages = n;
		s->prot = prot;
		v->nmaps++;
	}
	return true;
}

/* ---- MMIO through a scratch page mapped for one instruction ---- */

static void deferred_flush(struct emu_vcpu *v)
{
	if (v->scratch_on) {
		uc.mem_unmap(v->uc, v->scratch_la, PAGE_SIZE);
		v->scratch_on = false;
	}
	if (v->mmio_wpend) {
		struct kvm_run *run = v->run;

		v->mmio_wpend = false;
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.phys_addr = v->mmio_wgpa;
		run->mmio.len = v->mmio_wlen;
		run->mmio.is_write = 1;
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
		memcpy(run->mmio.data, &v->mmio_wval, v->mmio_wlen);
		publish_exit(v, 0);
	}
}

static bool mmio_access(struct emu_vcpu *v, uint64_t la, uint64_t gpa, int size,
			int acc, int64_t value)
{
	uint64_t page = la & ~PAGE_LOW;
	struct kvm_run *run = v->run;

	if (acc == ACC_X || size > 8 || (la & PAGE_LOW) + (uint64_t)size > PAGE_SIZE) {
		exit_internal(v, 4);	/* what KVM cannot emulate either */
		return abort_with(v, 0);
	}
	if (acc == ACC_W) {
		v->mmio_wpend = true;
		v->mmio_wgpa = gpa;
		v->mmio_wlen = (uint32_t)size;
		v->mmio_wval = (uint64_t)value;
	} else {
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.phys_addr = gpa;
		run->mmio.len = (uint32_t)size;
		run->mmio.is_write = 0;
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
		publish_exit(v, 0);
		if (v->quit)
			return false;
		memcpy(v->scratch + (la & PAGE_LOW), v->run->mmio.data, (size_t)size);
	}
	/* a later write of the same instruction comes back as a prot fault */
	if (uc.mem_map_ptr(v->uc, page, PAGE_SIZE,
			   acc == ACC_W ? UC_PROT_READ | UC_PROT_WRITE : UC_PROT_READ,
			   v->scratch)) {
		exit_internal(v, 5);
		return abort_with(v, 0);
	}
	v->scratch_on = true;
	v->scratch_la = page;
	v->scratch_gpa = gpa & ~PAGE_LOW;
	return true;
}

static bool canonical(uint64_t la)
{
	return (uint64_t)((int64_t)(la << 16) >> 16) == la;
}

/* Every access Unicorn cannot do by itself ends up here. */
static bool shadow_fault(struct emu_vcpu *v, uint64_t la, int size, int acc,
			 int64_t value, bool mapped)
{
	struct guest_mem m;
	struct xlate x;
	uint64_t gpa;
	int r;

	if (v->quit)
		return false;
	if (acc == ACC_X) {
		/* a fetch: the last instruction is done, EIP is Unicorn's own */
		if (v->scratch_on || v->mmio_wpend)
			deferred_flush(v);
		v->fetch_fault = true;
	}
	if (v->scratch_on && (la & ~PAGE_LOW) == v->scratch_la) {
		if (acc != ACC_W)
			return false;
		/* read-modify-write of MMIO: the write exits after the insn */
		uc.mem_protect(v->uc, v->scratch_la, PAGE_SIZE, UC_PROT_READ | UC_PROT_WRITE);
		v->mmio_wpend = true;
		v->mmio_wgpa = v->scratch_gpa | (la & PAGE_LOW);
		v->mmio_wlen = (uint32_t)size;
		v->mmio_wval = (uint64_t)value;
		return true;
	}
	if ((guest_cr0(v) & CR0_PG) && !canonical(la))
		return raise_exc(v, V_GP, true, 0, 0);
	r = xlate(v, la, acc, &x);
	if (r == XL_PF)
		return raise_exc(v, V_PF, true, x.pfec, la);
	if (r == XL_EXIT)
		return abort_with(v, v->abort_ret);
	if (r == XL_RETRY)
		return retry(v);
	if (v->fixup || v->need_flush) {
		v->fixup = true;	/* unmap first, then retry the insn */
		return false;
	}
	gpa = x.gpa & ~v->shared_mask;
	r = resolve(v, x.gpa, acc == ACC_W, &m);
	if (r == -EAGAIN)
		return retry(v);
	if (r) {
		exit_internal(v, 1);
		return abort_with(v, 0);
	}
	switch (m.kind) {
	case GUEST_MEM_FAULT:
		exit_memory_fault(v, gpa, m.fault_flags);
		return abort_with(v, -EFAULT);
	case GUEST_MEM_MMIO:
		return mmio_access(v, la, x.gpa | (la & PAGE_LOW), size, acc, value);
	case GUEST_MEM_RAM:
		break;
	}
	if (acc == ACC_W && !m.writable) {
		/* read-only slot: an MMIO write exit, then past the insn */
		v->ro_skip = true;
		v->mmio_wgpa = x.gpa | (la & PAGE_LOW);
		v->mmio_wlen = (uint32_t)(size > 8 ? 8 : size);
		v->mmio_wval = (uint64_t)value;
		return false;
	}
	if (mapped) {
		if (acc == ACC_W && pt_has(v, gpa)) {
			v->need_flush = true;	/* let it write; drop the shadow after */
			atomic_store(&v->attn, 1);
			return true;
		}
		v->fixup = true;	/* a run that is now stale: redo it */
		return false;
	}
	return map_run(v, la, &x, &m);
}

/* ---- hooks ---- */

static void hook_code(uc_engine *e, uint64_t addr, uint32_t size, void *opaque)
{
	struct emu_vcpu *v = opaque;

	v->insn_la = addr;
	v->insn_len = size;
	v->fetch_fault = false;
	if (v->scratch_on || v->mmio_wpend)
		deferred_flush(v);
	if (atomic_load_explicit(&v->attn, memory_order_relaxed) ||
	    v->need_flush || immediate_exit(v)) {
		v->stop_attn = true;
		uc.emu_stop(e);
	}
}

/* The guest set CR0.PG itself: keep it from Unicorn's MMU. */
static bool pg_takeover(struct emu_vcpu *v)
{
	uint8_t *env;

	if (!(rd(v, UC_X86_REG_CR0) & CR0_PG))
		return false;
	env = env_load(v);
	ENV64(env, ENV_CR) &= ~CR0_PG;
	env_store(v);
	v->guest_pg = true;
	v->need_flush = true;
	return true;
}

/* Instructions that change paging or CPL end a block: look once per block. */
static void hook_block(uc_engine *e, uint64_t addr, uint32_t size, void *opaque)
{
	struct emu_vcpu *v = opaque;
	uint64_t cr0;
	bool user;

	(void)e, (void)addr, (void)size;
	pg_takeover(v);
	cr0 = guest_cr0(v);
	user = (cr0 & CR0_PE) && (rd(v, UC_X86_REG_CS) & 3) == 3;
	if (!v->nmaps)
		return;
	if (((cr0 ^ v->key_cr0) & (CR0_PG | CR0_WP | CR0_PE)) ||
	    rd(v, UC_X86_REG_CR3) != v->key_cr3 ||
	    ((rd(v, UC_X86_REG_CR4) ^ v->key_cr4) & (CR4_PAE | CR4_PSE)) ||
	    user != v->key_user)
		v->need_flush = true;
}

static bool hook_unmapped(uc_engine *e, uc_mem_type type, uint64_t addr,
			  int size, int64_t value, void *opaque)
{
	int acc = type == UC_MEM_WRITE_UNMAPPED ? ACC_W :
		  type == UC_MEM_FETCH_UNMAPPED ? ACC_X : ACC_R;

	(void)e;
	return shadow_fault(opaque, addr, size, acc, value, false);
}

static bool hook_prot(uc_engine *e, uc_mem_type type, uint64_t addr, int size,
		      int64_t value, void *opaque)
{
	int acc = type == UC_MEM_WRITE_PROT ? ACC_W :
		  type == UC_MEM_FETCH_PROT ? ACC_X : ACC_R;

	(void)e;
	return shadow_fault(opaque, addr, size, acc, value, true);
}

static uint32_t hook_in(uc_engine *e, uint32_t port, int size, void *opaque)
{
	struct emu_vcpu *v = opaque;
	struct kvm_run *run = v->run;
	uint32_t val = 0;
	size_t off = v->io_off;

	(void)e;
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_IN;
	run->io.size = (uint8_t)size;
	run->io.port = (uint16_t)port;
	run->io.count = 1;
	run->io.data_offset = off;
	publish_exit(v, 0);
	if (!v->quit)	/* what the VMM wrote where it was told */
		memcpy(&val, (uint8_t *)v->run + off, (size_t)size);
	return val;
}

static void hook_out(uc_engine *e, uint32_t port, int size, uint32_t value,
		     void *opaque)
{
	struct emu_vcpu *v = opaque;
	struct kvm_run *run = v->run;

	(void)e;
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = (uint8_t)size;
	run->io.port = (uint16_t)port;
	run->io.count = 1;
	run->io.data_offset = v->io_off;
	memcpy((uint8_t *)run + v->io_off, &value, (size_t)size);
	publish_exit(v, 0);
}

static int hook_cpuid(uc_engine *e, void *opaque)
{
	struct emu_vcpu *v = opaque;
	uint32_t fn = (uint32_t)rd(v, UC_X86_REG_RAX), idx = (uint32_t)rd(v, UC_X86_REG_RCX);
	uint32_t out[4] = { 0 };
	uint32_t i;

	(void)e;
	for (i = 0; i < v->ncpuid; i++) {
		const struct kvm_cpuid_entry2 *c = &v->cpuid[i];

		if (c->function != fn ||
		    ((c->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && c->index != idx))
			continue;
		out[0] = c->eax, out[1] = c->ebx, out[2] = c->ecx, out[3] = c->edx;
		break;
	}
	if (fn == 1 && i < v->ncpuid) {	/* OSXSAVE follows CR4, as KVM does */
		out[2] &= ~(1U << 27);
		if (rd(v, UC_X86_REG_CR4) & CR4_OSXSAVE)
			out[2] |= 1U << 27;
	}
	wr(v, UC_X86_REG_RAX, out[0]);
	wr(v, UC_X86_REG_RBX, out[1]);
	wr(v, UC_X86_REG_RCX, out[2]);
	wr(v, UC_X86_REG_RDX, out[3]);
	return 1;
}

static void hook_intr(uc_engine *e, uint32_t no, void *opaque)
{
	struct emu_vcpu *v = opaque;

	v->intr_vec = (int)no;
	uc.emu_stop(e);
}

/* ---- guest memory by linear address, for exception delivery ---- */

/* 0, 1 on a fault (nested: #DF), -1 with an exit in v->run, or
 * LIN_RETRY when the VM was busy. */
#define LIN_RETRY (-2)
static int lin_rw(struct emu_vcpu *v, uint64_t la, void *buf, size_t len,
		  bool write)
{
	while (len) {
		size_t n = PAGE_SIZE - (la & PAGE_LOW);
		struct guest_mem m;
		struct xlate x;
		int r;

		if (n > len)
			n = len;
		r = xlate(v, la, write ? ACC_W : ACC_R, &x);
		if (r == XL_PF)
			return 1;
		if (r == XL_EXIT)
			return -1;
		if (r == XL_RETRY)
			return LIN_RETRY;
		r = resolve(v, x.gpa, write, &m);
		if (r == -EAGAIN)
			return LIN_RETRY;
		if (r) {
			exit_internal(v, 1);
			return -1;
		}
		if (m.kind == GUEST_MEM_FAULT) {
			exit_memory_fault(v, x.gpa & ~v->shared_mask, m.fault_flags);
			v->abort_ret = -EFAULT;
			return -1;
		}
		if (m.kind != GUEST_MEM_RAM || (write && !m.writable))
			return 1;
		if (write)
			memcpy(m.host + (la & PAGE_LOW), buf, n);
		else
			memcpy(buf, m.host + (la & PAGE_LOW), n);
		la += n;
		buf = (uint8_t *)buf + n;
		len -= n;
	}
	return 0;
}

static int desc_read(struct emu_vcpu *v, uint8_t *env, uint16_t sel, uint64_t *d)
{
	if ((sel & 4) || (sel | 7) > (uint16_t)ENV32(env, ENV_GDT + 16))
		return 1;
	return lin_rw(v, ENV64(env, ENV_GDT + 8) + (sel & ~7U), d, 8, false);
}

/*
 * Deliver v->exc_vec through the guest's IDT (Unicorn never does): real
 * mode, and protected/long mode through interrupt and trap gates.
 * 0: delivered; 1: it faulted (the caller escalates); -1: exit in v->run.
 */
static int deliver_once(struct emu_vcpu *v, int vec)
{
	uint8_t *env = env_load(v), *cs = seg_at(env, SEG_CS), *ss = seg_at(env, SEG_SS);
	uint64_t rip = rd(v, UC_X86_REG_RIP), rsp = rd(v, UC_X86_REG_RSP);
	uint64_t rfl = rd(v, UC_X86_REG_RFLAGS), idt = ENV64(env, ENV_IDT + 8);
	uint32_t idtl = ENV32(env, ENV_IDT + 16), cpl = ENV32(env, ENV_HFLAGS) & 3;
	uint64_t lo, hi = 0, off, desc, frame[6], ssp;
	unsigned int type, dpl, ncpl, n = 0, gsz;
	uint16_t sel;
	int r;

	if (!(ENV64(env, ENV_CR) & CR0_PE)) {
		uint16_t ivt[2], fr[3];

		if ((uint32_t)vec * 4 + 3 > idtl)
			return 1;
		r = lin_rw(v, idt + (uint64_t)vec * 4, ivt, 4, false);
		if (r)
			return r;
		fr[0] = (uint16_t)rip, fr[1] = (uint16_t)ENV32(cs, 0), fr[2] = (uint16_t)rfl;
		rsp = (rsp & ~0xffffULL) | ((rsp - 6) & 0xffff);
		r = lin_rw(v, ENV64(ss, 8) + (rsp & 0xffff), fr, 6, true);
		if (r)
			return r;
		seg_set(cs, ivt[1], (uint64_t)ivt[1] << 4, ENV32(cs, 16), ENV32(cs, 20));
		hflags_update(env);
		env_store(v);
		wr(v, UC_X86_REG_RSP, rsp);
		wr(v, UC_X86_REG_RIP, ivt[0]);
		wr(v, UC_X86_REG_RFLAGS, rfl & ~(RFLAGS_IF | RFLAGS_TF | RFLAGS_AC));
		return 0;
	}
	gsz = (ENV64(env, ENV_EFER) & EFER_LMA) ? 16 : 8;
	if ((uint32_t)vec * gsz + gsz - 1 > idtl)
		return 1;
	r = lin_rw(v, idt + (uint64_t)vec * gsz, &lo, 8, false);
	if (!r && gsz == 16)
		r = lin_rw(v, idt + (uint64_t)vec * gsz + 8, &hi, 8, false);
	if (r)
		return r;
	type = (lo >> 40) & 0xf;
	dpl = (lo >> 45) & 3;
	if (!((lo >> 47) & 1) || (type & 6) != 6 || (gsz == 8 && !(type & 8)))
		return 1;
	if (v->exc_soft && dpl < cpl)
		return 1;
	sel = (uint16_t)(lo >> 16);
	off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ULL) | (hi << 32);
	r = desc_read(v, env, sel, &desc);
	if (r)
		return r;
	if (!((desc >> 47) & 1) || !((desc >> 43) & 1) ||
	    (gsz == 16 && !((desc >> 53) & 1)))
		return 1;
	ncpl = (desc >> 44) & 1 ? cpl : (desc >> 45) & 3;	/* conforming keeps CPL */
	if (ncpl > cpl)
		return 1;
	ssp = rsp;
	if (gsz == 16) {
		unsigned int ist = (lo >> 32) & 7;
		uint64_t tss = ENV64(env, ENV_TR + 8);

		if (ist)
			r = lin_rw(v, tss + 0x24 + 8 * (ist - 1), &ssp, 8, false);
		else if (ncpl < cpl)
			r = lin_rw(v, tss + 4 + 8 * ncpl, &ssp, 8, false);
		if (r)
			return r;
		ssp &= ~0xfULL;
		/* from the lowest address: [err], RIP, CS, RFLAGS, RSP, SS */
		if (v->exc_has_err)
			frame[n++] = v->exc_err;
		frame[n++] = rip;
		frame[n++] = ENV32(cs, 0);
		frame[n++] = rfl;
		frame[n++] = rsp;
		frame[n++] = ENV32(ss, 0);
		ssp -= 8 * n;
		r = lin_rw(v, ssp, frame, 8 * n, true);
		if (r)
			return r;
		if (ncpl < cpl)
			seg_set(ss, ncpl, 0, 0, ncpl << 13 | SEG_P | SEG_S | 0x300);
	} else {
		uint32_t f32[4];

		if (ncpl != cpl) {
			exit_internal(v, 6);	/* 32-bit privilege change: not done */
			return -1;
		}
		if (v->exc_has_err)
			f32[n++] = v->exc_err;
		f32[n++] = (uint32_t)rip;
		f32[n++] = ENV32(cs, 0);
		f32[n++] = (uint32_t)rfl;
		ssp = (uint32_t)(rsp - 4 * n);
		r = lin_rw(v, ENV64(ss, 8) + ssp, f32, 4 * n, true);
		if (r)
			return r;
	}
	seg_set(cs, (sel & ~3U) | ncpl, ((desc >> 16) & 0xffffff) | ((desc >> 32) & 0xff000000ULL),
		(desc & 0xffff) | ((desc >> 32) & 0xf0000), (uint32_t)(desc >> 32) & 0x00f0ff00);
	if ((desc >> 55) & 1)	/* G: limit in pages */
		ENV32(cs, 16) = ENV32(cs, 16) << 12 | 0xfff;
	hflags_update(env);
	env_store(v);
	wr(v, UC_X86_REG_RSP, ssp);
	wr(v, UC_X86_REG_RIP, off);
	rfl &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
	if (type == 0xe || type == 0x6)
		rfl &= ~RFLAGS_IF;
	wr(v, UC_X86_REG_RFLAGS, rfl);
	return 0;
}

/* 0 delivered, -1 an exit was published (SHUTDOWN, fault, error) or the
 * VM was busy (v->retry). */
static int deliver_exception(struct emu_vcpu *v)
{
	int vec = v->exc_vec, r;

	if (vec == V_PF)
		wr(v, UC_X86_REG_CR2, v->exc_cr2);
	for (;;) {
		r = deliver_once(v, vec);
		if (r <= 0)
			break;
		if (vec == V_DF) {
			v->exc_vec = -1;
			v->run->exit_reason = KVM_EXIT_SHUTDOWN;
			publish_exit(v, 0);
			return -1;
		}
		vec = v->exc_vec = V_DF;
		v->exc_has_err = true;
		v->exc_err = 0;
		v->exc_soft = false;
	}
	if (r == LIN_RETRY) {	/* the VM was busy: pending, try again */
		v->retry = true;
		return -1;
	}
	if (r < 0) {	/* exit: the exception stays pending */
		publish_exit(v, v->run->exit_reason == KVM_EXIT_MEMORY_FAULT ? -EFAULT : 0);
		return -1;
	}
	v->exc_vec = -1;
	return 0;
}

/* An exception Unicorn raised: take its error code and reset its state. */
static void take_unicorn_exception(struct emu_vcpu *v, int vec)
{
	uint8_t *env = env_load(v);

	v->exc_vec = vec;
	v->exc_has_err = vec == V_DF || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21;
	v->exc_err = ENV32(env, ENV_ERRCODE);
	/* int n / int3 / into are traps that Unicorn reports past the insn */
	v->exc_soft = vec == 3 || vec == 4 || vec >= 32;
	ENVS32(env, ENV_OLDEXC) = -1;	/* Unicorn never ends delivery itself */
	env_store(v);
}

/* ---- KVM_RUN on the emulator thread ---- */

/* immediate_exit: -EINTR, the exit reason left as it was (KVM sets
 * KVM_EXIT_INTR only for a signal, which never reaches us) */
static void exit_intr(struct emu_vcpu *v)
{
	v->want_intr = false;
	publish_exit(v, -EINTR);
}

static void apply_deferred(struct emu_vcpu *v)
{
	if (v->rip_deferred)
		wr(v, UC_X86_REG_RIP, v->deferred_rip);
	if (v->rflags_deferred)
		wr(v, UC_X86_REG_RFLAGS, v->deferred_rflags);
	v->rip_deferred = v->rflags_deferred = false;
}

static void handle_hypercall(struct emu_vcpu *v)
{
	uint64_t nr = rd(v, UC_X86_REG_RAX), a0 = rd(v, UC_X86_REG_RBX);
	uint64_t a1 = rd(v, UC_X86_REG_RCX), a2 = rd(v, UC_X86_REG_RDX);
	bool lm = ENV32(env_load(v), ENV_HFLAGS) & HF_CS64;
	uint64_t ret = (uint64_t)-KVM_ENOSYS_RET;
	uint64_t mask = atomic_load(v->hc_mask);

	if (!lm) {
		nr &= 0xffffffff, a0 &= 0xffffffff, a1 &= 0xffffffff, a2 &= 0xffffffff;
	}
	if ((ENV32(ctx_env(v->ctx), ENV_HFLAGS) & 3) != 0) {
		ret = (uint64_t)-1;	/* -KVM_EPERM */
	} else if (nr == 1) {
		ret = 0;	/* KVM_HC_VAPIC_POLL_IRQ */
	} else if (nr == KVM_HC_MAP_GPA_RANGE && (mask & (1ULL << nr))) {
		if ((a0 & PAGE_LOW) || !a1 || (a0 >> 12) + a1 <= (a0 >> 12)) {
			ret = (uint64_t)-EINVAL;
		} else {
			struct kvm_run *run = v->run;

			run->exit_reason = KVM_EXIT_HYPERCALL;
			run->hypercall.nr = nr;
			run->hypercall.args[0] = a0;
			run->hypercall.args[1] = a1;
			run->hypercall.args[2] = a2;
			run->hypercall.ret = 0;
			run->hypercall.longmode = lm;
			publish_exit(v, 0);
			if (v->quit)
				return;
			ret = v->run->hypercall.ret;
		}
	}
	if (!lm)
		ret &= 0xffffffff;
	wr(v, UC_X86_REG_RAX, ret);
	wr(v, UC_X86_REG_RIP, rd(v, UC_X86_REG_RIP) + 3);
}

static void handle_attn(struct emu_vcpu *v)
{
	bool intr;

	pthread_mutex_lock(&v->lock);
	atomic_store(&v->attn, 0);
	serve_calls_locked(v);
	intr = v->want_intr || immediate_exit(v);
	pthread_mutex_unlock(&v->lock);
	apply_deferred(v);
	if (v->need_flush)
		shadow_flush(v);
	if (intr && !v->quit)
		exit_intr(v);
}

static uint64_t cs_base(struct emu_vcpu *v)
{
	return ENV64(env_load(v), ENV_SEGS + 24 * SEG_CS + 8);
}

/*
 * Unicorn 2.0.1 syncs EIP to the *linear* PC before each code hook, so
 * within hooks, and after a stop or an abort from one, RIP is the
 * instruction's linear address the code hook saw, less CS.base.
 */
static uint64_t hook_rip(struct emu_vcpu *v)
{
	return v->insn_la - cs_base(v);
}

static uint64_t lin_pc(struct emu_vcpu *v)
{
	return ENV64(env_load(v), ENV_SEGS + 24 * SEG_CS + 8) + rd(v, UC_X86_REG_RIP);
}

/*
 * The VM was busy (resolve() met a lock whose holder may be waiting for this
 * vCPU): serve what is asked of it, give the holder time, go again.  After
 * a few quick turns, wait for a request or 200 us.
 */
static void retry_wait(struct emu_vcpu *v)
{
	struct timespec ts;

	v->retry = false;
	if (++v->retries > 16) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&v->lock);
		if (!v->call_req && !atomic_load(&v->quit))
			pthread_cond_timedwait(&v->cond, &v->lock, &ts);
		pthread_mutex_unlock(&v->lock);
	} else {
		sched_yield();
	}
	handle_attn(v);
}

/* A new engine with our hooks in *out. */
static int engine_open(struct emu_vcpu *v, uc_engine **out)
{
	static const struct {
		int type;
		void *cb;
		int insn;
	} hooks[] = {
		{ UC_HOOK_CODE, (void *)hook_code, 0 },
		{ UC_HOOK_BLOCK, (void *)hook_block, 0 },
		{ UC_HOOK_MEM_UNMAPPED, (void *)hook_unmapped, 0 },
		{ UC_HOOK_MEM_PROT, (void *)hook_prot, 0 },
		{ UC_HOOK_INTR, (void *)hook_intr, 0 },
		{ UC_HOOK_INSN, (void *)hook_in, UC_X86_INS_IN },
		{ UC_HOOK_INSN, (void *)hook_out, UC_X86_INS_OUT },
		{ UC_HOOK_INSN, (void *)hook_cpuid, UC_X86_INS_CPUID },
	};
	uc_engine *e;
	uc_hook h;
	size_t i;

	if (uc.open(UC_ARCH_X86, UC_MODE_64, &e))
		return -ENOMEM;
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		uc_err err = hooks[i].type == UC_HOOK_INSN ?
			uc.hook_add(e, &h, hooks[i].type, hooks[i].cb, v, 1, 0, hooks[i].insn) :
			uc.hook_add(e, &h, hooks[i].type, hooks[i].cb, v, 1, 0);

		if (err) {
			uc.close(e);
			return -EINVAL;
		}
	}
	*out = e;
	return 0;
}

/* ---- when the engine gives up ---- */

#define CAREFUL_STEPS 512	/* more than a translation block holds */

/* One instruction per start: the block ends before any instruction that
 * starts at the next 15 bytes (exits are checked as each one is
 * translated). */
static void careful_exits(struct emu_vcpu *v)
{
	uint64_t ex[16];
	int i;

	v->careful_pc = lin_pc(v);
	ex[0] = UNTIL;
	for (i = 1; i < 16; i++)
		ex[i] = v->careful_pc + (uint64_t)i;
	uc.ctl(v->uc, UC_CTL_WRITE(UC_CTL_UC_USE_EXITS, 1), 1);
	uc.ctl(v->uc, UC_CTL_WRITE(UC_CTL_UC_EXITS, 2), ex, (size_t)16);
}

/* Back to whole blocks: none translated one instruction long stays. */
static void careful_end(struct emu_vcpu *v)
{
	v->careful = false;
	uc.ctl(v->uc, UC_CTL_WRITE(UC_CTL_UC_USE_EXITS, 1), 0);
	uc.ctl(v->uc, UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0));
}

/*
 * After a careful start: true when it did one instruction and stopped at
 * the next (go on, one at a time); an instruction that starts again
 * (a retry, a fix-up, a memory fault exit) stays careful; anything else --
 * an exception (its handler is not the block), a hlt (a HLT exit, which
 * also stops at the next instruction), a jump out of reach, the bound --
 * goes back to whole blocks.
 */
static bool careful_step_done(struct emu_vcpu *v, uc_err err)
{
	uint64_t pc = lin_pc(v);
	uint8_t op = 0;
	bool stepped, again;

	if (v->exc_vec >= 0 || v->intr_vec >= 0)
		goto end;
	if (err == UC_ERR_OK && v->insn_la != ~0ULL &&
	    !uc.mem_read(v->uc, v->insn_la, &op, 1) && op == 0xf4)
		goto end;
	stepped = err == UC_ERR_OK && !v->stop_attn && !v->abort_exit &&
		  !v->fixup && !v->need_flush && !v->ro_skip && !v->retry &&
		  pc > v->careful_pc && pc - v->careful_pc < 16;
	again = !stepped && pc == v->careful_pc;
	if (++v->careful_steps < CAREFUL_STEPS && (stepped || again))
		return stepped;
	careful_end(v);
	return stepped;
end:
	careful_end(v);
	return false;
}

/*
 * Unicorn gave up translating the block at the current PC (emu_abort):
 * the engine is left mid-call and cannot be used again.  Its CPU state is
 * whole (a block is translated between instructions), so a new engine
 * takes it, and the guest's mappings are made again on demand.  The first
 * time, the block runs again one instruction at a time (careful), which
 * finds the instruction that cannot be translated: when a one-instruction
 * block fails, that instruction raises #UD, as the CPU does for those
 * encodings.  No new engine (no memory): the process ends, as it would
 * have.
 */
static void engine_recover(struct emu_vcpu *v)
{
	uc_engine *e;

	if (engine_open(v, &e))
		real_abort();
	uc.context_save(v->uc, v->ctx);
	uc.close(v->uc);
	v->uc = e;
	uc.context_restore(v->uc, v->ctx);
	/* the old engine's regions went with it */
	v->nmaps = 0;
	v->npt = 0;
	v->scratch_on = false;
	v->tb_drop = false;
	key_update(v);
	if (v->careful) {
		v->careful = false;
		raise_exc(v, V_UD, false, 0, 0);
	} else {
		v->careful = true;
		v->careful_steps = 0;
	}
	/* an MMIO write the last block made is still owed */
	if (v->mmio_wpend)
		deferred_flush(v);
}

static void vcpu_step(struct emu_vcpu *v)
{
	uint8_t insn[3] = { 0 };
	sigjmp_buf jb;
	uc_err err;

	if (v->want_intr) {
		exit_intr(v);
		return;
	}
	if (v->retry) {
		retry_wait(v);
		return;
	}
	if (v->exc_vec >= 0 && deliver_exception(v))
		return;
	if (v->tb_drop) {
		/* the VMM pointed RIP somewhere: it may have written code
		 * there (a whole flush clears all of Unicorn's code buffer:
		 * milliseconds each time) */
		uc.ctl(v->uc, UC_CTL_WRITE(UC_CTL_TB_REMOVE_CACHE, 2),
		       v->tb_drop_la, v->tb_drop_la + 2 * PAGE_SIZE);
		v->tb_drop = false;
	}
	v->stop_attn = v->abort_exit = v->fixup = v->ro_skip = v->fetch_fault = false;
	v->intr_vec = -1;
	v->insn_la = ~0ULL;
	if (v->careful)
		careful_exits(v);
	if (sigsetjmp(jb, 0)) {
		/* Unicorn gave up (emu_abort) */
		emu_jb = NULL;
		v->in_emu = false;
		engine_recover(v);
		return;
	}
	v->in_emu = true;
	emu_jb = &jb;
	err = uc.emu_start(v->uc, rd(v, UC_X86_REG_RIP), UNTIL, 0, 0);
	emu_jb = NULL;
	v->in_emu = false;
	/* Where the guest stopped: at the instruction the code hook last saw
	 * (quirk 3) -- unless a fetch came since, which means a new block was
	 * being translated, nothing of it done: Unicorn's RIP is its start. */
	if ((v->stop_attn || v->abort_exit || v->fixup || v->need_flush ||
	     v->ro_skip || v->retry || v->exc_vec >= 0) && !v->fetch_fault &&
	    v->intr_vec < 0 && v->insn_la != ~0ULL)
		wr(v, UC_X86_REG_RIP, hook_rip(v));
	if (!atomic_load(&v->quit))
		deferred_flush(v);
	if (atomic_load(&v->quit))
		return;
	if (v->careful && careful_step_done(v, err))
		return;
	if (v->abort_exit) {
		publish_exit(v, v->abort_ret);
		return;
	}
	if (v->retry)
		return;	/* the next step serves and goes again */
	v->retries = 0;
	if (v->intr_vec >= 0) {
		if (v->intr_vec == V_PF && pg_takeover(v)) {
			uint8_t *env = env_load(v);

			ENVS32(env, ENV_OLDEXC) = -1;
			env_store(v);
			shadow_flush(v);
			return;
		}
		take_unicorn_exception(v, v->intr_vec);
		return;
	}
	if (v->ro_skip) {
		wr(v, UC_X86_REG_RIP, hook_rip(v) + v->insn_len);
		v->mmio_wpend = true;
		deferred_flush(v);
		return;
	}
	if (v->fixup || v->need_flush) {
		shadow_flush(v);	/* simplest correct fixup: start over */
		return;
	}
	if (v->exc_vec >= 0)
		return;
	if (v->stop_attn) {
		handle_attn(v);
		return;
	}
	switch (err) {
	case UC_ERR_OK:
		if (v->insn_la != ~0ULL && !uc.mem_read(v->uc, v->insn_la, insn, 1) &&
		    insn[0] == 0xf4) {
			v->run->exit_reason = KVM_EXIT_HLT;
			publish_exit(v, 0);
			return;
		}
		break;
	case UC_ERR_INSN_INVALID:
		if (!uc.mem_read(v->uc, lin_pc(v), insn, 3) && insn[0] == 0x0f &&
		    insn[1] == 0x01 && (insn[2] == 0xc1 || insn[2] == 0xd9)) {
			handle_hypercall(v);
			return;
		}
		raise_exc(v, V_UD, false, 0, 0);
		return;
	default:
		break;
	}
	exit_internal(v, 0x100 + (uint64_t)err);
	publish_exit(v, 0);
}

/* KVM's reset state: real mode at 0xffff:fff0 (CS base 0xffff0000). */
static void vcpu_reset(struct emu_vcpu *v)
{
	static const int gprs[] = {
		UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RSI,
		UC_X86_REG_RDI, UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_R8,
		UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,
		UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
	};
	uint8_t *env = env_load(v);
	uint32_t data = SEG_P | SEG_S | 0x300;
	uint16_t fcw = 0x37f, ftag = 0xffff;
	uint32_t mxcsr = 0x1f80;
	size_t i;
	int s;

	for (s = SEG_ES; s <= SEG_GS; s++)
		seg_set(seg_at(env, s), 0, 0, 0xffff, data);
	seg_set(seg_at(env, SEG_CS), 0xf000, 0xffff0000ULL, 0xffff, SEG_P | SEG_S | 0xb00);
	seg_set(env + ENV_LDT, 0, 0, 0xffff, SEG_P | 0x200);
	seg_set(env + ENV_TR, 0, 0, 0xffff, SEG_P | 0xb00);
	seg_set(env + ENV_GDT, 0, 0, 0xffff, 0);
	seg_set(env + ENV_IDT, 0, 0, 0xffff, 0);
	memset(env + ENV_CR, 0, 5 * 8);
	ENV64(env, ENV_CR) = 0x60000010;
	ENV64(env, ENV_EFER) = 0;
	hflags_update(env);
	env_store(v);
	for (i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		wr(v, gprs[i], 0);
	wr(v, UC_X86_REG_RDX, 0x600);
	wr(v, UC_X86_REG_RIP, 0xfff0);
	wr(v, UC_X86_REG_RFLAGS, 2);
	uc.reg_write(v->uc, UC_X86_REG_FPCW, &fcw);
	uc.reg_write(v->uc, UC_X86_REG_FPTAG, &ftag);
	uc.reg_write(v->uc, UC_X86_REG_MXCSR, &mxcsr);
	v->apic_base = 0xfee00900;
	v->xcr0 = 1;
	v->mp_state = KVM_MP_STATE_RUNNABLE;
	key_update(v);
}

static int vcpu_engine_init(struct emu_vcpu *v)
{
	int r = engine_open(v, &v->uc);

	if (r)
		return r;
	if (uc.context_alloc(v->uc, &v->ctx))
		return -ENOMEM;
	vcpu_reset(v);
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct emu_vcpu *v = arg;
	int ret = vcpu_engine_init(v);

	pthread_mutex_lock(&v->lock);
	v->init_ret = ret;
	v->call_done = true;
	pthread_cond_broadcast(&v->cond);
	if (!ret)
		wait_run_locked(v);
	pthread_mutex_unlock(&v->lock);
	while (!ret && !v->quit)
		vcpu_step(v);
	while (v->nmaps)
		map_drop(v, v->nmaps - 1);
	if (v->ctx)
		uc.free(v->ctx);
	if (v->uc)
		uc.close(v->uc);
	return NULL;
}

/* ---- mailbox: the callers' side ---- */

static void vcpu_call(struct emu_vcpu *v, void (*fn)(struct emu_vcpu *, void *),
		      void *arg)
{
	if (pthread_equal(pthread_self(), v->thread)) {
		fn(v, arg);	/* from resolve(): we are the emulator */
		return;
	}
	pthread_mutex_lock(&v->call_lock);
	pthread_mutex_lock(&v->lock);
	v->call_fn = fn;
	v->call_arg = arg;
	v->call_done = false;
	v->call_req = true;
	atomic_store(&v->attn, 1);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	handoff_poll(&v->call_done, NULL, NULL);
	pthread_mutex_lock(&v->lock);
	while (!v->call_done)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_unlock(&v->call_lock);
}

static int emu_vcpu_create(const struct guest_mem_ops *ops, void *opaque,
			   unsigned int shared_bit, _Atomic uint64_t *hc_mask,
			   struct emu_vcpu **out)
{
	struct emu_vcpu *v;
	sigset_t all, old;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->scratch = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	if (!v->scratch) {
		free(v);
		return -ENOMEM;
	}
	v->ops = ops;
	v->opaque = opaque;
	v->shared_mask = shared_bit ? 1ULL << shared_bit : 0;
	v->hc_mask = hc_mask;
	v->exc_vec = -1;
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->run_lock, NULL);
	pthread_mutex_init(&v->call_lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	/* The emulator thread takes no signals: they belong to the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&v->thread, NULL, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto err;
	pthread_mutex_lock(&v->lock);
	while (!v->call_done)
		pthread_cond_wait(&v->cond, &v->lock);
	ret = v->init_ret;
	pthread_mutex_unlock(&v->lock);
	if (ret) {
		pthread_join(v->thread, NULL);
		goto err;
	}
	*out = v;
	return 0;
err:
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->call_lock);
	pthread_mutex_destroy(&v->run_lock);
	pthread_mutex_destroy(&v->lock);
	free(v->scratch);
	free(v);
	return ret;
}

static void emu_vcpu_destroy(struct emu_vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	v->quit = true;
	atomic_store(&v->attn, 1);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	pthread_join(v->thread, NULL);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->call_lock);
	pthread_mutex_destroy(&v->run_lock);
	pthread_mutex_destroy(&v->lock);
	free(v->cpuid);
	free(v->scratch);
	free(v);
}

/* KVM_RUN: the PIO data page is the run area's second page, as KVM's. */
static int emu_vcpu_run(struct emu_vcpu *v, struct kvm_run *run)
{
	int ret;

	/* one KVM_RUN at a time; a second caller waits, as on KVM */
	pthread_mutex_lock(&v->run_lock);
	pthread_mutex_lock(&v->lock);
	v->run = run;
	v->io_off = PAGE_SIZE;
	v->run_done = false;
	v->run_req = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	handoff_poll(&v->run_done, NULL, NULL);
	pthread_mutex_lock(&v->lock);
	while (!v->run_done)
		pthread_cond_wait(&v->cond, &v->lock);
	ret = v->run_ret;
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_unlock(&v->run_lock);
	return ret;
}

struct inval_arg {
	uint64_t gpa, len;
};

static void do_invalidate(struct emu_vcpu *v, void *arg)
{
	struct inval_arg *a = arg;

	shadow_invalidate(v, a->gpa, a->len);
}

/* Every mapping of [gpa, gpa + len) (no shared bit) is gone when this
 * returns, whatever the vCPU was doing. */
static void emu_vcpu_invalidate(struct emu_vcpu *v, uint64_t gpa, uint64_t len)
{
	struct inval_arg a = { gpa, len };

	vcpu_call(v, do_invalidate, &a);
}

/* ---- register access, run on the emulator thread ---- */

static const int gpr_ids[16] = {
	UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX,
	UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_RSP, UC_X86_REG_RBP,
	UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
	UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};

struct reg_arg {
	void *p;
	int ret;
};

static void do_get_regs(struct emu_vcpu *v, void *arg)
{
	struct kvm_regs *r = ((struct reg_arg *)arg)->p;
	__u64 *g = &r->rax;	/* rax..r15 are in this order in kvm_regs */
	int i;

	for (i = 0; i < 16; i++)
		g[i] = rd(v, gpr_ids[i]);
	r->rip = v->rip_deferred ? v->deferred_rip :
		 v->in_emu ? hook_rip(v) : rd(v, UC_X86_REG_RIP);
	r->rflags = v->rflags_deferred ? v->deferred_rflags : rd(v, UC_X86_REG_RFLAGS);
}

static void do_set_regs(struct emu_vcpu *v, void *arg)
{
	const struct kvm_regs *r = ((struct reg_arg *)arg)->p;
	const __u64 *g = &r->rax;
	int i;

	for (i = 0; i < 16; i++)
		wr(v, gpr_ids[i], g[i]);
	v->tb_drop = true;
	v->tb_drop_la = (cs_base(v) + r->rip) & ~PAGE_LOW;
	if (v->in_emu) {
		/* mid-instruction: RIP/RFLAGS take effect once it completes */
		if (r->rip != hook_rip(v)) {
			v->rip_deferred = true;
			v->deferred_rip = r->rip;
		}
		v->rflags_deferred = true;
		v->deferred_rflags = r->rflags | 2;
		atomic_store(&v->attn, 1);
	} else {
		wr(v, UC_X86_REG_RIP, r->rip);
		wr(v, UC_X86_REG_RFLAGS, r->rflags | 2);
	}
}

static int emu_vcpu_get_regs(struct emu_vcpu *v, struct kvm_regs *r)
{
	struct reg_arg a = { r, 0 };

	vcpu_call(v, do_get_regs, &a);
	return 0;
}

static int emu_vcpu_set_regs(struct emu_vcpu *v, const struct kvm_regs *r)
{
	struct reg_arg a = { (void *)(uintptr_t)r, 0 };

	vcpu_call(v, do_set_regs, &a);
	return 0;
}

static void do_get_sregs(struct emu_vcpu *v, void *arg)
{
	struct kvm_sregs *s = ((struct reg_arg *)arg)->p;
	uint8_t *env = env_load(v);

	memset(s, 0, sizeof(*s));
	seg_to_kvm(seg_at(env, SEG_CS), &s->cs);
	seg_to_kvm(seg_at(env, SEG_DS), &s->ds);
	seg_to_kvm(seg_at(env, SEG_ES), &s->es);
	seg_to_kvm(seg_at(env, SEG_FS), &s->fs);
	seg_to_kvm(seg_at(env, SEG_GS), &s->gs);
	seg_to_kvm(seg_at(env, SEG_SS), &s->ss);
	seg_to_kvm(env + ENV_TR, &s->tr);
	seg_to_kvm(env + ENV_LDT, &s->ldt);
	s->gdt.base = ENV64(env, ENV_GDT + 8);
	s->gdt.limit = (uint16_t)ENV32(env, ENV_GDT + 16);
	s->idt.base = ENV64(env, ENV_IDT + 8);
	s->idt.limit = (uint16_t)ENV32(env, ENV_IDT + 16);
	s->cr0 = ENV64(env, ENV_CR) | (v->guest_pg ? CR0_PG : 0);
	s->cr2 = ENV64(env, ENV_CR + 16);
	s->cr3 = ENV64(env, ENV_CR + 24);
	s->cr4 = ENV64(env, ENV_CR + 32);
	s->cr8 = v->cr8;
	s->efer = ENV64(env, ENV_EFER);
	s->apic_base = v->apic_base;
}

static void do_set_sregs(struct emu_vcpu *v, void *arg)
{
	const struct kvm_sregs *s = ((struct reg_arg *)arg)->p;
	uint8_t *env = env_load(v);

	seg_from_kvm(seg_at(env, SEG_CS), &s->cs);
	seg_from_kvm(seg_at(env, SEG_DS), &s->ds);
	seg_from_kvm(seg_at(env, SEG_ES), &s->es);
	seg_from_kvm(seg_at(env, SEG_FS), &s->fs);
	seg_from_kvm(seg_at(env, SEG_GS), &s->gs);
	seg_from_kvm(seg_at(env, SEG_SS), &s->ss);
	seg_from_kvm(env + ENV_TR, &s->tr);
	seg_from_kvm(env + ENV_LDT, &s->ldt);
	ENV64(env, ENV_GDT + 8) = s->gdt.base;
	ENV32(env, ENV_GDT + 16) = s->gdt.limit;
	ENV64(env, ENV_IDT + 8) = s->idt.base;
	ENV32(env, ENV_IDT + 16) = s->idt.limit;
	ENV64(env, ENV_CR) = s->cr0 & ~CR0_PG;
	v->guest_pg = s->cr0 & CR0_PG;
	ENV64(env, ENV_CR + 16) = s->cr2;
	ENV64(env, ENV_CR + 24) = s->cr3;
	ENV64(env, ENV_CR + 32) = s->cr4;
	ENV64(env, ENV_EFER) = s->efer;
	hflags_update(env);
	env_store(v);
	v->cr8 = s->cr8;
	v->apic_base = s->apic_base;
	shadow_flush(v);	/* and the translated code of every run */
}

static int emu_vcpu_get_sregs(struct emu_vcpu *v, struct kvm_sregs *s)
{
	struct reg_arg a = { s, 0 };

	vcpu_call(v, do_get_sregs, &a);
	return 0;
}

static int emu_vcpu_set_sregs(struct emu_vcpu *v, const struct kvm_sregs *s)
{
	struct reg_arg a = { (void *)(uintptr_t)s, 0 };

	/* kvm_is_valid_sregs() */
	if ((s->efer & EFER_LME) && (s->cr0 & CR0_PG)) {
		if (!(s->cr4 & CR4_PAE) || !(s->efer & EFER_LMA))
			return -EINVAL;
	} else if (s->efer & EFER_LMA) {
		return -EINVAL;
	}
	vcpu_call(v, do_set_sregs, &a);
	return 0;
}

static void do_get_fpu(struct emu_vcpu *v, void *arg)
{
	struct kvm_fpu *f = ((struct reg_arg *)arg)->p;
	uint16_t fcw = 0, fsw = 0, ftag = 0, fop = 0;
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < 8; i++)
		uc.reg_read(v->uc, UC_X86_REG_ST0 + i, f->fpr[i]);
	uc.reg_read(v->uc, UC_X86_REG_FPCW, &fcw);
	uc.reg_read(v->uc, UC_X86_REG_FPSW, &fsw);
	uc.reg_read(v->uc, UC_X86_REG_FPTAG, &ftag);
	uc.reg_read(v->uc, UC_X86_REG_FOP, &fop);
	f->fcw = fcw;
	f->fsw = fsw;
	for (i = 0; i < 8; i++)	/* abridged: 1 = not empty */
		if (((ftag >> (2 * i)) & 3) != 3)
			f->ftwx |= (uint8_t)(1U << i);
	f->last_opcode = fop;
	uc.reg_read(v->uc, UC_X86_REG_FIP, &f->last_ip);
	uc.reg_read(v->uc, UC_X86_REG_FDP, &f->last_dp);
	for (i = 0; i < 16; i++)
		uc.reg_read(v->uc, UC_X86_REG_XMM0 + i, f->xmm[i]);
	uc.reg_read(v->uc, UC_X86_REG_MXCSR, &f->mxcsr);
}

static void do_set_fpu(struct emu_vcpu *v, void *arg)
{
	const struct kvm_fpu *f = ((struct reg_arg *)arg)->p;
	uint16_t fcw = f->fcw, fsw = f->fsw, ftag = 0, fop = f->last_opcode;
	int i;

	uc.reg_write(v->uc, UC_X86_REG_FPCW, &fcw);
	uc.reg_write(v->uc, UC_X86_REG_FPSW, &fsw);	/* TOP first: ST(i) below */
	for (i = 0; i < 8; i++) {
		if (!(f->ftwx & (1U << i)))
			ftag |= (uint16_t)(3U << (2 * i));
		uc.reg_write(v->uc, UC_X86_REG_ST0 + i, f->fpr[i]);
	}
	uc.reg_write(v->uc, UC_X86_REG_FPTAG, &ftag);
	uc.reg_write(v->uc, UC_X86_REG_FOP, &fop);
	uc.reg_write(v->uc, UC_X86_REG_FIP, &f->last_ip);
	uc.reg_write(v->uc, UC_X86_REG_FDP, &f->last_dp);
	for (i = 0; i < 16; i++)
		uc.reg_write(v->uc, UC_X86_REG_XMM0 + i, f->xmm[i]);
	uc.reg_write(v->uc, UC_X86_REG_MXCSR, &f->mxcsr);
}

static int emu_vcpu_get_fpu(struct emu_vcpu *v, struct kvm_fpu *f)
{
	struct reg_arg a = { f, 0 };

	vcpu_call(v, do_get_fpu, &a);
	return 0;
}

static int emu_vcpu_set_fpu(struct emu_vcpu *v, const struct kvm_fpu *f)
{
	struct reg_arg a = { (void *)(uintptr_t)f, 0 };

	vcpu_call(v, do_set_fpu, &a);
	return 0;
}

/* The MSRs we save and restore; Unicorn keeps the ones marked. */
static const struct {
	uint32_t index;
	bool unicorn;
} msr_list[] = {
	{ MSR_EFER, false }, { 0xc0000081, true }, { 0xc0000082, true },
	{ 0xc0000083, true }, { 0xc0000084, true }, { 0xc0000102, true },
	{ 0xc0000100, true }, { 0xc0000101, true }, { 0x174, true },
	{ 0x175, true }, { 0x176, true }, { MSR_TSC, false }, { 0x277, true },
	{ 0x1a0, true }, { 0xc0000103, true }, { MSR_APIC_BASE, false },
	{ 0x2ff, true },
};

struct msr_arg {
	struct kvm_msrs *m;
	bool set;
	int done;
};

static void do_msrs(struct emu_vcpu *v, void *arg)
{
	struct msr_arg *a = arg;
	uint32_t i;
	size_t k;

	for (i = 0; i < a->m->nmsrs; i++) {
		struct kvm_msr_entry *e = &a->m->entries[i];

		for (k = 0; k < sizeof(msr_list) / sizeof(msr_list[0]); k++)
			if (msr_list[k].index == e->index)
				break;
		if (k == sizeof(msr_list) / sizeof(msr_list[0]))
			break;
		if (msr_list[k].unicorn) {
			uc_x86_msr m = { .rid = e->index, .value = e->data };

			if (!a->set) {
				uc.reg_read(v->uc, UC_X86_REG_MSR, &m);
				e->data = m.value;
			} else {
				uc.reg_write(v->uc, UC_X86_REG_MSR, &m);
			}
		} else if (e->index == MSR_EFER) {
			uint8_t *env = env_load(v);

			if (a->set) {
				ENV64(env, ENV_EFER) = e->data;
				hflags_update(env);
				env_store(v);
				shadow_flush(v);
			} else {
				e->data = ENV64(env, ENV_EFER);
			}
		} else if (e->index == MSR_TSC) {
			if (a->set)
				v->tsc = e->data;
			else
				e->data = v->tsc;
		} else {
			if (a->set)
				v->apic_base = e->data;
			else
				e->data = v->apic_base;
		}
	}
	a->done = (int)i;
}

static int emu_vcpu_get_msrs(struct emu_vcpu *v, struct kvm_msrs *m)
{
	struct msr_arg a = { m, false, 0 };

	vcpu_call(v, do_msrs, &a);
	return a.done;
}

static int emu_vcpu_set_msrs(struct emu_vcpu *v, const struct kvm_msrs *m)
{
	struct msr_arg a = { (struct kvm_msrs *)(uintptr_t)m, true, 0 };

	vcpu_call(v, do_msrs, &a);
	return a.done;
}

static int emu_get_msr_index_list(struct kvm_msr_list *l)
{
	uint32_t n = sizeof(msr_list) / sizeof(msr_list[0]), i;

	if (l->nmsrs < n) {
		l->nmsrs = n;
		return -E2BIG;
	}
	l->nmsrs = n;
	for (i = 0; i < n; i++)
		l->indices[i] = msr_list[i].index;
	return 0;
}

static void do_xcr(struct emu_vcpu *v, void *arg)
{
	struct reg_arg *a = arg;
	struct kvm_xcrs *x = a->p;

	if (a->ret == 1) {	/* set */
		uint32_t i;

		for (i = 0; i < x->nr_xcrs && i < KVM_MAX_XCRS; i++) {
			if (x->xcrs[i].xcr != 0 || !(x->xcrs[i].value & 1) ||
			    (x->xcrs[i].value & ~3ULL)) {
				a->ret = -EINVAL;
				return;
			}
			v->xcr0 = x->xcrs[i].value;
		}
		a->ret = 0;
		return;
	}
	memset(x, 0, sizeof(*x));
	x->nr_xcrs = 1;
	x->xcrs[0].xcr = 0;
	x->xcrs[0].value = v->xcr0;
}

static int emu_vcpu_get_xcrs(struct emu_vcpu *v, struct kvm_xcrs *x)
{
	struct reg_arg a = { x, 0 };

	vcpu_call(v, do_xcr, &a);
	return 0;
}

static int emu_vcpu_set_xcrs(struct emu_vcpu *v, const struct kvm_xcrs *x)
{
	struct reg_arg a = { (void *)(uintptr_t)x, 1 };

	vcpu_call(v, do_xcr, &a);
	return a.ret;
}

/* XSAVE standard format: the legacy region and the header (x87|SSE). */
static int emu_vcpu_get_xsave(struct emu_vcpu *v, struct kvm_xsave *x)
{
	uint8_t *b = (uint8_t *)x->region;
	struct kvm_fpu f;
	uint32_t mask = 0xffff;
	uint64_t bv = 3;
	int i;

	emu_vcpu_get_fpu(v, &f);
	memset(x, 0, sizeof(*x));
	memcpy(b + 0, &f.fcw, 2);
	memcpy(b + 2, &f.fsw, 2);
	b[4] = f.ftwx;
	memcpy(b + 6, &f.last_opcode, 2);
	memcpy(b + 8, &f.last_ip, 8);
	memcpy(b + 16, &f.last_dp, 8);
	memcpy(b + 24, &f.mxcsr, 4);
	memcpy(b + 28, &mask, 4);
	for (i = 0; i < 8; i++)
		memcpy(b + 32 + 16 * i, f.fpr[i], 16);
	for (i = 0; i < 16; i++)
		memcpy(b + 160 + 16 * i, f.xmm[i], 16);
	memcpy(b + 512, &bv, 8);
	return 0;
}

static int emu_vcpu_set_xsave(struct emu_vcpu *v, const struct kvm_xsave *x)
{
	const uint8_t *b = (const uint8_t *)x->region;
	struct kvm_fpu f;
	uint64_t bv;
	int i;

	memcpy(&bv, b + 512, 8);
	if (bv & ~3ULL)
		return -EINVAL;
	memset(&f, 0, sizeof(f));
	f.fcw = 0x37f;
	f.mxcsr = 0x1f80;
	if (bv & 1) {	/* a clear bit means the component's init state */
		memcpy(&f.fcw, b + 0, 2);
		memcpy(&f.fsw, b + 2, 2);
		f.ftwx = b[4];
		memcpy(&f.last_opcode, b + 6, 2);
		memcpy(&f.last_ip, b + 8, 8);
		memcpy(&f.last_dp, b + 16, 8);
		for (i = 0; i < 8; i++)
			memcpy(f.fpr[i], b + 32 + 16 * i, 16);
	}
	if (bv & 2) {
		memcpy(&f.mxcsr, b + 24, 4);
		for (i = 0; i < 16; i++)
			memcpy(f.xmm[i], b + 160 + 16 * i, 16);
	}
	return emu_vcpu_set_fpu(v, &f);
}

static void do_mp(struct emu_vcpu *v, void *arg)
{
	struct reg_arg *a = arg;
	struct kvm_mp_state *mp = a->p;

	if (a->ret == 1)
		v->mp_state = mp->mp_state;
	else
		mp->mp_state = v->mp_state;
	a->ret = 0;
}

static int emu_vcpu_get_mp_state(struct emu_vcpu *v, struct kvm_mp_state *mp)
{
	struct reg_arg a = { mp, 0 };

	vcpu_call(v, do_mp, &a);
	return 0;
}

static int emu_vcpu_set_mp_state(struct emu_vcpu *v, const struct kvm_mp_state *mp)
{
	struct reg_arg a = { (void *)(uintptr_t)mp, 1 };

	if (mp->mp_state != KVM_MP_STATE_RUNNABLE && mp->mp_state != KVM_MP_STATE_HALTED)
		return -EINVAL;
	vcpu_call(v, do_mp, &a);
	return 0;
}

struct cpuid_arg {
	struct kvm_cpuid_entry2 *e;
	uint32_t n;
};

static void do_cpuid(struct emu_vcpu *v, void *arg)
{
	struct cpuid_arg *a = arg;

	free(v->cpuid);
	v->cpuid = a->e;
	v->ncpuid = a->n;
}

static void do_get_cpuid(struct emu_vcpu *v, void *arg)
{
	struct cpuid_arg *a = arg;

	if (a->n >= v->ncpuid && v->ncpuid)
		memcpy(a->e, v->cpuid, sizeof(*a->e) * v->ncpuid);
	a->n = v->ncpuid;
}

/* KVM_GET_CPUID2: -E2BIG with c->nent set when it is too small. */
static int emu_vcpu_get_cpuid2(struct emu_vcpu *v, struct kvm_cpuid2 *c)
{
	struct cpuid_arg a = { c->entries, c->nent };

	vcpu_call(v, do_get_cpuid, &a);
	if (a.n > c->nent) {
		c->nent = a.n;
		return -E2BIG;
	}
	c->nent = a.n;
	return 0;
}

static int emu_vcpu_set_cpuid2(struct emu_vcpu *v, const struct kvm_cpuid2 *c)
{
	struct cpuid_arg a = { NULL, c->nent };

	if (c->nent > 256)
		return -E2BIG;
	if (c->nent) {
		a.e = malloc(sizeof(*a.e) * c->nent);
		if (!a.e)
			return -ENOMEM;
		memcpy(a.e, c->entries, sizeof(*a.e) * c->nent);
	}
	vcpu_call(v, do_cpuid, &a);
	return 0;
}

/*
 * A plausible CPU: the host's vendor and signature, the features Unicorn's
 * translator decodes (it raises #UD for the others), no VMX/SVM/XSAVE.
 */
static int emu_get_supported_cpuid(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 e[16];
	uint32_t a, b, cx, d, n = 0, vend[3], phys = 39;

	if (emu_unavailable_reason())
		return -ENOSYS;
	memset(e, 0, sizeof(e));
	__cpuid(0, a, vend[0], vend[2], vend[1]);
	e[n].function = 0;
	e[n].eax = 0xd, e[n].ebx = vend[0], e[n].ecx = vend[2], e[n].edx = vend[1];
	n++;
	__cpuid(1, a, b, cx, d);
	e[n].function = 1;
	e[n].eax = a;
	e[n].ecx = native_cpuid[0][2] & ~((1U << 5) | (1U << 26) | (1U << 27) |
					  (1U << 28) | (1U << 31));
	e[n].edx = native_cpuid[0][3] | 0x0383fbffU;	/* FPU..MMX, no HTT */
	n++;
	e[n].function = 7;
	e[n].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	e[n].ebx = native_cpuid[1][1];
	n++;
	e[n].function = 0xd;
	e[n].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	n++;
	e[n].function = 0xd;
	e[n].index = 1;
	e[n].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	n++;
	e[n].function = 0x80000000;
	e[n].eax = 0x80000008, e[n].ebx = vend[0], e[n].ecx = vend[2], e[n].edx = vend[1];
	n++;
	e[n].function = 0x80000001;
	e[n].ecx = native_cpuid[2][2] & ~(1U << 2);	/* no SVM */
	e[n].edx = native_cpuid[2][3] | (1U << 11) | (1U << 20) | (1U << 29);
	n++;
	if ((unsigned int)__get_cpuid_max(0x80000000, NULL) >= 0x80000008U) {
		__cpuid(0x80000008, a, b, cx, d);
		phys = a & 0xff;
	}
	e[n].function = 0x80000008;
	e[n].eax = 48U << 8 | phys;
	n++;
	if (c->nent < n) {
		c->nent = n;
		return -E2BIG;
	}
	c->nent = n;
	memcpy(c->entries, e, sizeof(e[0]) * n);
	return 0;
}

/* ---- the backend: KVM's interface over the engine ---- */

struct bvm {
	const struct guest_mem_ops *ops;
	void *ctx;
	int pid;                      /* the vCPU threads' process */
	unsigned int shared_bit;
	_Atomic uint64_t hc_mask;     /* KVM_CAP_EXIT_HYPERCALL */
	pthread_mutex_t lock;         /* the vCPU list */
	struct bvcpu *vcpus;
};

struct bvcpu {
	struct bvm *vm;
	struct emu_vcpu *v;
	unsigned long id;
	int memfd;                    /* the run area: ours, mapped by the
				       * program through the vCPU fd */
	struct kvm_run *run;
	struct bvcpu *next;
};

#define MAX_VCPU_ID 4096  /* KVM_MAX_VCPU_IDS on x86 */
#define MAX_IO_MSRS 256   /* KVM's bound on one KVM_GET/SET_MSRS */
#define MAX_CPUID_ENTRIES 256

static int emu_probe(const char **why)
{
	const char *r = emu_unavailable_reason();

	if (r && why)
		*why = r;
	return r ? -ENODEV : 0;
}

static size_t emu_run_size(void)
{
	return EMU_RUN_PAGES * PAGE_SIZE;
}

static int emu_vm_create(const struct guest_mem_ops *ops, void *vm_ctx,
			 unsigned int shared_bit, struct bvm **out)
{
	struct bvm *vm;

	if (emu_unavailable_reason())
		return -ENODEV;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->ops = ops;
	vm->ctx = vm_ctx;
	vm->pid = sys_getpid();
	vm->shared_bit = shared_bit;
	pthread_mutex_init(&vm->lock, NULL);
	*out = vm;
	return 0;
}

static void emu_vm_destroy(struct bvm *vm)
{
	/* the vm layer destroys every vCPU first */
	if (vm->pid == sys_getpid())
		pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static int emu_set_region(struct bvm *vm, uint32_t slot, uint32_t flags,
			  uint64_t gpa, uint64_t size, void *host)
{
	/* memory is resolved page by page through the VM's callbacks */
	(void)vm, (void)slot, (void)flags, (void)gpa, (void)size, (void)host;
	return 0;
}

static void emu_invalidate(struct bvm *vm, uint64_t gpa, uint64_t len)
{
	struct bvcpu *c;

	/* synchronous on every vCPU: none touches the range afterwards
	 * without resolving it again (a forked child has no vCPU thread) */
	if (vm->pid != sys_getpid())
		return;
	pthread_mutex_lock(&vm->lock);
	for (c = vm->vcpus; c; c = c->next)
		emu_vcpu_invalidate(c->v, gpa, len);
	pthread_mutex_unlock(&vm->lock);
}

static int emu_enable_cap(struct bvm *vm, const struct kvm_enable_cap *cap)
{
	if (cap->cap != KVM_CAP_EXIT_HYPERCALL)
		return -EINVAL;
	atomic_store(&vm->hc_mask, cap->args[0]);
	return 0;
}

static int emu_vcpu_create_b(struct bvm *vm, unsigned long id,
			     struct bvcpu **out)
{
	struct bvcpu *c, *o;
	long run;
	int r;

	if (id >= MAX_VCPU_ID)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->id = id;
	c->memfd = sys_memfd_create("gmemu-kvm-run", MFD_CLOEXEC);
	if (c->memfd < 0) {
		r = c->memfd;
		goto err_free;
	}
	c->memfd = fd_hide(c->memfd);
	if (c->memfd < 0) {
		r = c->memfd;
		goto err_free;
	}
	r = sys_ftruncate(c->memfd, (off_t)emu_run_size());
	if (r)
		goto err_close;
	run = sys_mmap(NULL, emu_run_size(), PROT_READ | PROT_WRITE,
		       MAP_SHARED, c->memfd, 0);
	if (run < 0 && run > -4096) {
		r = (int)run;
		goto err_close;
	}
	c->run = (struct kvm_run *)run;
	pthread_mutex_lock(&vm->lock);
	for (o = vm->vcpus; o && o->id != id; o = o->next)
		;
	r = o ? -EEXIST : 0;
	if (!r)
		r = emu_vcpu_create(vm->ops, vm->ctx, vm->shared_bit,
				    &vm->hc_mask, &c->v);
	if (!r) {
		c->next = vm->vcpus;
		vm->vcpus = c;
	}
	pthread_mutex_unlock(&vm->lock);
	if (r)
		goto err_unmap;
	*out = c;
	return 0;

err_unmap:
	sys_munmap(c->run, emu_run_size());
err_close:
	fd_hidden_forget(c->memfd);
	sys_close(c->memfd);
err_free:
	free(c);
	return r;
}

static void emu_vcpu_destroy_b(struct bvcpu *c)
{
	struct bvm *vm = c->vm;
	struct bvcpu **pp;

	/* in a forked child neither the thread nor the list's users are
	 * there (the lock may have been held at the fork): the engine's
	 * memory, the parent's copy, is left alone */
	if (vm->pid == sys_getpid()) {
		pthread_mutex_lock(&vm->lock);
		for (pp = &vm->vcpus; *pp; pp = &(*pp)->next) {
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		}
		pthread_mutex_unlock(&vm->lock);
		emu_vcpu_destroy(c->v);
	}
	sys_munmap(c->run, emu_run_size());
	fd_hidden_forget(c->memfd);
	sys_close(c->memfd);
	free(c);
}

static struct kvm_run *emu_run_area(struct bvcpu *c)
{
	return c->run;
}

static long emu_run_mmap(struct bvcpu *c, void *addr, size_t len, int prot,
			 int flags, off_t offset)
{
	/* pages past the area are SIGBUS, as KVM's fault handler makes them */
	return sys_mmap(addr, len, prot, flags, c->memfd, offset);
}

static int emu_run(struct bvcpu *c)
{
	struct kvm_run *run = c->run;

	/* no memslot at all: the fetch at the reset vector cannot be
	 * emulated, as KVM reports it (set_memory_region_test) */
	if (c->vm->ops->no_memory(c->vm->ctx)) {
		memset(&run->internal, 0, sizeof(run->internal));
		run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
		return 0;
	}
	return emu_vcpu_run(c->v, run);
}

/* ---- vCPU ioctls: the caller's memory through checked copies ---- */

/* A struct in: copy, call, and for a get copy the result back. */
#define REG_IOCTL(type, call, out)                                      \
	do {                                                            \
		type k_;                                                \
		int r_;                                                 \
		if (!(out)) {                                           \
			r_ = copy_from_user(&k_, arg, sizeof(k_));      \
			if (r_)                                         \
				return r_;                              \
		}                                                       \
		r_ = call(c->v, &k_);                                   \
		if (!r_ && (out))                                       \
			r_ = copy_to_user(arg, &k_, sizeof(k_));        \
		return r_;                                              \
	} while (0)

/* kvm_msrs (header, then nmsrs entries): the count done, as KVM. */
static long msrs_ioctl(struct bvcpu *c, void *arg, bool set)
{
	struct kvm_msrs h, *m;
	size_t size;
	long r;

	r = copy_from_user(&h, arg, sizeof(h));
	if (r)
		return r;
	if (h.nmsrs >= MAX_IO_MSRS)
		return -E2BIG;
	size = sizeof(h) + h.nmsrs * sizeof(struct kvm_msr_entry);
	m = malloc(size);
	if (!m)
		return -ENOMEM;
	r = copy_from_user(m, arg, size);
	if (r)
		goto out;
	m->nmsrs = h.nmsrs;
	r = set ? emu_vcpu_set_msrs(c->v, m) : emu_vcpu_get_msrs(c->v, m);
	if (!set && r > 0 &&
	    copy_to_user((uint8_t *)arg + sizeof(h), m->entries,
			 (size_t)r * sizeof(struct kvm_msr_entry)))
		r = -EFAULT;
out:
	free(m);
	return r;
}

/* kvm_cpuid2 (header, then nent entries) */
static long cpuid_ioctl(struct bvcpu *c, void *arg, bool set)
{
	struct kvm_cpuid2 h, *k;
	size_t n;
	long r;

	r = copy_from_user(&h, arg, sizeof(h));
	if (r)
		return r;
	if (set && h.nent > MAX_CPUID_ENTRIES)
		return -E2BIG;
	n = MIN(h.nent, MAX_CPUID_ENTRIES); /* no vCPU has more */
	k = malloc(sizeof(h) + n * sizeof(struct kvm_cpuid_entry2));
	if (!k)
		return -ENOMEM;
	k->nent = (uint32_t)n;
	if (set) {
		r = copy_from_user(k->entries, (uint8_t *)arg + sizeof(h),
				   n * sizeof(struct kvm_cpuid_entry2));
		if (!r)
			r = emu_vcpu_set_cpuid2(c->v, k);
		goto out;
	}
	/* entries, then the count, and neither when they do not fit */
	r = emu_vcpu_get_cpuid2(c->v, k);
	if (!r && (copy_to_user((uint8_t *)arg + sizeof(h), k->entries,
				k->nent * sizeof(struct kvm_cpuid_entry2)) ||
		   copy_to_user(arg, &k->nent, sizeof(k->nent))))
		r = -EFAULT;
out:
	free(k);
	return r;
}

/* KVM_GET_TSC_KHZ: the host's TSC frequency where CPUID says it. */
static long tsc_khz(void)
{
	uint32_t a = 0, b = 0, cx = 0, d = 0;

	if (__get_cpuid_max(0, NULL) >= 0x15) {
		__cpuid(0x15, a, b, cx, d);
		if (a && b && cx)
			return (long)((uint64_t)cx * b / a / 1000);
	}
	if (__get_cpuid_max(0, NULL) >= 0x16) {
		__cpuid(0x16, a, b, cx, d);
		if (a & 0xffff)
			return (long)(a & 0xffff) * 1000;
	}
	return 2000000; /* 2 GHz, a TSC as good as any */
}

static long emu_vcpu_ioctl(struct bvcpu *c, unsigned long req, void *arg)
{
	switch (req) {
	case KVM_GET_REGS:
		REG_IOCTL(struct kvm_regs, emu_vcpu_get_regs, true);
	case KVM_SET_REGS:
		REG_IOCTL(struct kvm_regs, emu_vcpu_set_regs, false);
	case KVM_GET_SREGS:
		REG_IOCTL(struct kvm_sregs, emu_vcpu_get_sregs, true);
	case KVM_SET_SREGS:
		REG_IOCTL(struct kvm_sregs, emu_vcpu_set_sregs, false);
	case KVM_GET_FPU:
		REG_IOCTL(struct kvm_fpu, emu_vcpu_get_fpu, true);
	case KVM_SET_FPU:
		REG_IOCTL(struct kvm_fpu, emu_vcpu_set_fpu, false);
	case KVM_GET_XCRS:
		REG_IOCTL(struct kvm_xcrs, emu_vcpu_get_xcrs, true);
	case KVM_SET_XCRS:
		REG_IOCTL(struct kvm_xcrs, emu_vcpu_set_xcrs, false);
	case KVM_GET_XSAVE:
#ifdef KVM_GET_XSAVE2
	case KVM_GET_XSAVE2: /* no state past the 4 KiB of struct kvm_xsave */
#endif
		REG_IOCTL(struct kvm_xsave, emu_vcpu_get_xsave, true);
	case KVM_SET_XSAVE:
		REG_IOCTL(struct kvm_xsave, emu_vcpu_set_xsave, false);
	case KVM_GET_MP_STATE:
		REG_IOCTL(struct kvm_mp_state, emu_vcpu_get_mp_state, true);
	case KVM_SET_MP_STATE:
		REG_IOCTL(struct kvm_mp_state, emu_vcpu_set_mp_state, false);
	case KVM_GET_MSRS:
		return msrs_ioctl(c, arg, false);
	case KVM_SET_MSRS:
		return msrs_ioctl(c, arg, true);
	case KVM_GET_CPUID2:
		return cpuid_ioctl(c, arg, false);
	case KVM_SET_CPUID2:
		return cpuid_ioctl(c, arg, true);
	case KVM_GET_TSC_KHZ:
		return tsc_khz();
	default:
		return -ENOTTY;
	}
}

/* KVM_GET_SUPPORTED_CPUID, KVM_GET_EMULATED_CPUID: nent is written back
 * only on success (kvm_arch_dev_ioctl). */
static long cpuid_list_ioctl(void *arg)
{
	struct kvm_cpuid2 h, *k;
	long r;

	r = copy_from_user(&h, arg, sizeof(h));
	if (r)
		return r;
	if (h.nent < 1)
		return -E2BIG;
	if (h.nent > MAX_CPUID_ENTRIES)
		h.nent = MAX_CPUID_ENTRIES;
	k = malloc(sizeof(h) + h.nent * sizeof(struct kvm_cpuid_entry2));
	if (!k)
		return -ENOMEM;
	k->nent = h.nent;
	r = emu_get_supported_cpuid(k);
	if (!r && (copy_to_user(arg, &k->nent, sizeof(k->nent)) ||
		   copy_to_user((uint8_t *)arg + sizeof(h), k->entries,
				k->nent * sizeof(struct kvm_cpuid_entry2))))
		r = -EFAULT;
	free(k);
	return r;
}

/* KVM_GET_MSR_INDEX_LIST and the feature list: nmsrs is written back
 * before the size check, as KVM does. */
static long msr_list_ioctl(void *arg, bool features)
{
	struct kvm_msr_list h, *k;
	uint32_t n;
	long r;

	r = copy_from_user(&h, arg, sizeof(h));
	if (r)
		return r;
	n = h.nmsrs;
	k = calloc(1, sizeof(h) + (ARRAY_SIZE(msr_list) + 1) * sizeof(uint32_t));
	if (!k)
		return -ENOMEM;
	k->nmsrs = features ? 0 : (uint32_t)ARRAY_SIZE(msr_list);
	if (!features)
		emu_get_msr_index_list(k);
	r = copy_to_user(arg, &k->nmsrs, sizeof(k->nmsrs));
	if (!r && n < k->nmsrs)
		r = -E2BIG;
	if (!r)
		r = copy_to_user((uint8_t *)arg + sizeof(h), k->indices,
				 k->nmsrs * sizeof(uint32_t));
	free(k);
	return r;
}

static long emu_system_ioctl(unsigned long req, void *arg)
{
	if (emu_unavailable_reason())
		return -ENOTTY;
	switch (req) {
	case KVM_GET_SUPPORTED_CPUID:
	case KVM_GET_EMULATED_CPUID: /* every leaf it offers is emulated */
		return cpuid_list_ioctl(arg);
	case KVM_GET_MSR_INDEX_LIST:
		return msr_list_ioctl(arg, false);
	case KVM_GET_MSR_FEATURE_INDEX_LIST:
		return msr_list_ioctl(arg, true);
	default:
		return -ENOTTY;
	}
}

#else /* !GMEMU_HAVE_UNICORN */

/* Built without <unicorn/unicorn.h>: the backend says why it cannot run;
 * the vm layer never calls anything else of it. */
struct bvm;
struct bvcpu;

static int emu_probe(const char **why)
{
	if (why)
		*why = "built without the Unicorn header (apt-get install "
		       "libunicorn-dev, then rebuild gmemu)";
	return -ENODEV;
}

static size_t emu_run_size(void)
{
	return EMU_RUN_PAGES * PAGE_SIZE;
}

static int emu_vm_create(const struct guest_mem_ops *ops, void *vm_ctx,
			 unsigned int shared_bit, struct bvm **out)
{
	(void)ops, (void)vm_ctx, (void)shared_bit, (void)out;
	return -ENODEV;
}

static void emu_vm_destroy(struct bvm *vm)
{
	(void)vm;
}

static int emu_set_region(struct bvm *vm, uint32_t slot, uint32_t flags,
			  uint64_t gpa, uint64_t size, void *host)
{
	(void)vm, (void)slot, (void)flags, (void)gpa, (void)size, (void)host;
	return -ENODEV;
}

static void emu_invalidate(struct bvm *vm, uint64_t gpa, uint64_t len)
{
	(void)vm, (void)gpa, (void)len;
}

static int emu_enable_cap(struct bvm *vm, const struct kvm_enable_cap *cap)
{
	(void)vm, (void)cap;
	return -ENODEV;
}

static int emu_vcpu_create_b(struct bvm *vm, unsigned long id,
			     struct bvcpu **out)
{
	(void)vm, (void)id, (void)out;
	return -ENODEV;
}

static void emu_vcpu_destroy_b(struct bvcpu *c)
{
	(void)c;
}

static struct kvm_run *emu_run_area(struct bvcpu *c)
{
	(void)c;
	return NULL;
}

static long emu_run_mmap(struct bvcpu *c, void *addr, size_t len, int prot,
			 int flags, off_t offset)
{
	(void)c, (void)addr, (void)len, (void)prot, (void)flags, (void)offset;
	return -ENODEV;
}

static int emu_run(struct bvcpu *c)
{
	(void)c;
	return -ENODEV;
}

static long emu_vcpu_ioctl(struct bvcpu *c, unsigned long req, void *arg)
{
	(void)c, (void)req, (void)arg;
	return -ENOTTY;
}

static long emu_system_ioctl(unsigned long req, void *arg)
{
	(void)req, (void)arg;
	return -ENOTTY;
}

#endif /* GMEMU_HAVE_UNICORN */

const struct vcpu_backend vcpu_backend_emu = {
	.name = "emulated",
	.two_backing = true,
	.resolves = true,
	.probe = emu_probe,
	.run_size = emu_run_size,
	.vm_create = emu_vm_create,
	.vm_destroy = emu_vm_destroy,
	.set_region = emu_set_region,
	.invalidate = emu_invalidate,
	.enable_cap = emu_enable_cap,
	.vcpu_create = emu_vcpu_create_b,
	.vcpu_destroy = emu_vcpu_destroy_b,
	.run_area = emu_run_area,
	.run_mmap = emu_run_mmap,
	.run = emu_run,
	.ioctl = emu_vcpu_ioctl,
	.system_ioctl = emu_system_ioctl,
};
