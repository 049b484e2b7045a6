// SPDX-License-Identifier: MIT
/*
 * The differential driver.  An input is a byte string read as a sequence
 * of calls (an op byte, then its argument bytes); every call is made on
 * gmemu through its public API and on the reference model, and the two
 * must agree on the result, the errno, error_offset, the exit a guest
 * access gives, every page's attribute and every byte either side reads.
 * Guest accesses are made by the software vCPU and by a real guest through
 * KVM_RUN on the emulated backend (op_run).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "diffops.h"
#include "refmodel.h"

#define PG 4096ULL
#define EO_SENTINEL 0x5e5e5e5e5e5e5e5eULL
#define SLOT_BASE 0x100000ULL   /* slot i of a VM at SLOT_BASE + i MiB */
#define UADDR_PAGES (RM_MAX_PAGES + 1) /* the most a memslot can have */

struct view {
	uint8_t *addr;
	uint64_t npages; /* mapped: the gmem's pages plus one past the end */
};

/* A guest access a real vCPU makes (op_run). */
struct access {
	uint64_t gpa;      /* as the guest addresses it: with the shared bit */
	uint64_t len;      /* 1, 8, or a page (rep stosb) */
	bool write;
	uint8_t value;     /* written; an MMIO read's data */
};

/* The vCPU of a VM, made by the first op_run on it, with the memory its
 * guest runs from: a plain memslot the other ops never reach. */
struct vcpu_state {
	bool made;
	int fd;
	struct kvm_run *run;
	uint8_t *code;
	bool sregs;        /* long mode set up (since made or TD reset) */
	bool pending;      /* acc stopped by a memory fault: KVM_RUN retries it */
	struct access acc;
};

struct driver {
	const uint8_t *data;
	size_t size, pos;
	int verbose;
	int kvm, sev;
	int vm[RM_MAX_VMS];
	int gmem[RM_MAX_GMEMS];
	struct view view[RM_MAX_GMEMS];
	struct vcpu_state vc[RM_MAX_VMS];
	uint8_t *uaddr[RM_MAX_VMS]; /* UADDR_PAGES per memslot id */
	struct refmodel m;
	char log[64][160];
	int nlog;
	int failed;
};

static const unsigned long types[] = {
	KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, GMEMU_VM_PKVM,
	KVM_X86_SNP_VM, KVM_X86_TDX_VM, 7 /* no such type */,
};

static uint8_t next(struct driver *d)
{
	return d->pos < d->size ? d->data[d->pos++] : 0;
}

static void note(struct driver *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct driver *d, const char *fmt, ...)
{
	va_list ap;
	char *line = d->log[d->nlog++ % 64];

	va_start(ap, fmt);
	vsnprintf(line, 160, fmt, ap);
	va_end(ap);
	if (d->verbose)
		fprintf(stderr, "  %s\n", line);
}

static void disagree(struct driver *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void disagree(struct driver *d, const char *fmt, ...)
{
	va_list ap;
	int i, first = d->nlog > 64 ? d->nlog - 64 : 0;

	if (d->failed++)
		return;
	if (!d->verbose) {
		fprintf(stderr, "the last calls:\n");
		for (i = first; i < d->nlog; i++)
			fprintf(stderr, "  %s\n", d->log[i % 64]);
	}
	fprintf(stderr, "gmemu and the reference model disagree: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* gmemu's result as the model writes them: value or -errno */
static long sysr(long r)
{
	return r < 0 ? -errno : r;
}

static void expect(struct driver *d, const char *what, long got, long want)
{
	if (got != want)
		disagree(d, "%s: gmemu %ld (%s), model %ld (%s)", what, got,
			 got < 0 ? strerror((int)-got) : "-", want,
			 want < 0 ? strerror((int)-want) : "-");
}

/* ---- SIGBUS-checked host accesses ---- */

static sigjmp_buf bus_jmp;
static volatile int bus_armed;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	abort();
}

static bool access_page(volatile uint8_t *p, bool write, uint8_t v, uint8_t *out)
{
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		return true;
	}
	bus_armed = 1;
	if (write)
		memset((uint8_t *)p, v, PG);
	else
		*out = p[(v * 37) % PG];
	bus_armed = 0;
	return false;
}

/* ---- the calls ---- */

static void check_attributes(struct driver *d)
{
	int g;
	uint32_t p;

	for (g = 0; g < RM_MAX_GMEMS; g++) {
		struct rm_gmem *mg = &d->m.gmem[g];

		if (!mg->live)
			continue;
		for (p = 0; p < mg->npages; p++) {
			long a = sysr(gmemu_gmem_attribute(d->gmem[g], p * PG));

			if (a != (mg->page[p].private ? (long)KVM_MEMORY_ATTRIBUTE_PRIVATE : 0))
				disagree(d, "gmem %d page %u attribute: gmemu %ld, model %s",
					 g, p, a, mg->page[p].private ? "private" : "shared");
		}
	}
}

/* A live VM (gmem), chosen by the next byte among the live ones. */
/* Every page of every view, read by the host: SIGBUS where the model says
 * so, the model's bytes elsewhere. */
static void check_contents(struct driver *d)
{
	int g;
	uint64_t p;

	for (g = 0; g < RM_MAX_GMEMS; g++) {
		struct view *v = &d->view[g];

		if (!d->m.gmem[g].live || !v->addr)
			continue;
		for (p = 0; p < v->npages; p++) {
			uint16_t want = 0;
			uint8_t got = 0;
			bool want_bus = rm_host_read(&d->m, g, p, &want);
			bool bus = access_page(v->addr + p * PG, false,
					       (uint8_t)p, &got);

			if (bus != want_bus)
				disagree(d, "gmem %d page %llu: %s, model %s", g,
					 (unsigned long long)p,
					 bus ? "SIGBUS" : "readable",
					 want_bus ? "SIGBUS" : "readable");
			else if (!bus && want != RM_UNKNOWN && got != want)
				disagree(d, "gmem %d page %llu reads %#x, model %#x",
					 g, (unsigned long long)p, got, want);
		}
	}
}

/* A live VM (gmem), chosen by the next byte among the live ones. */
static int pick_vm(struct driver *d)
{
	int v, k = next(d) % RM_MAX_VMS, i;

	for (i = 0; i < RM_MAX_VMS; i++)
		if (d->m.vm[v = (k + i) % RM_MAX_VMS].live)
			return v;
	return -1;
}

static int pick_gmem(struct driver *d)
{
	int g, k = next(d) % RM_MAX_GMEMS, i;

	for (i = 0; i < RM_MAX_GMEMS; i++)
		if (d->m.gmem[g = (k + i) % RM_MAX_GMEMS].live)
			return g;
	return -1;
}

/* A gmem of VM v, or -1. */
static int gmem_of(struct driver *d, int v, uint8_t k)
{
	int g, i;

	for (i = 0; i < RM_MAX_GMEMS; i++)
		if (d->m.gmem[g = (k + i) % RM_MAX_GMEMS].live &&
		    d->m.gmem[g].vm == v)
			return g;
	return -1;
}

/* A guest-physical page: inside one of v's memslots (mostly), or not. */
static uint64_t pick_gpa(struct driver *d, int v, uint8_t k)
{
	struct rm_vm *vm = &d->m.vm[v];
	int i;

	if ((k & 7) != 7) {
		for (i = 0; i < RM_MAX_SLOTS; i++) {
			struct rm_slot *s = &vm->slot[(k + i) % RM_MAX_SLOTS];

			if (s->live)
				return s->gpa + (uint64_t)((k >> 3) % s->npages) * PG;
		}
	}
	return SLOT_BASE + (uint64_t)(k % RM_MAX_SLOTS) * 0x100000 +
	       (uint64_t)((k >> 3) % (RM_MAX_PAGES + 2)) * PG;
}

static void op_create_vm(struct driver *d)
{
	int v = next(d) % RM_MAX_VMS;
	unsigned long type = types[next(d) % (sizeof(types) / sizeof(types[0]))];
	long r, want;

	if (d->m.vm[v].live)
		return;
	r = sysr(gmemu_ioctl(d->kvm, KVM_CREATE_VM, type));
	want = rm_create_vm(&d->m, type, v);
	note(d, "vm[%d] = KVM_CREATE_VM(%#lx) -> %ld", v, type, r);
	expect(d, "KVM_CREATE_VM", r < 0 ? r : 0, want);
	if (r >= 0)
		d->vm[v] = (int)r;
}

static void op_create_gmem(struct driver *d)
{
	static const uint64_t flag_set[] = {
		0, GUEST_MEMFD_FLAG_MMAP,
		GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
		GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
		GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
		GUEST_MEMFD_FLAG_INIT_SHARED, 1ULL << 5,
	};
	int v = pick_vm(d), g = next(d) % RM_MAX_GMEMS;
	uint8_t s = next(d);
	uint64_t size = (uint64_t)(s % RM_MAX_PAGES + 1) * PG;
	struct kvm_create_guest_memfd c = {
		.flags = flag_set[next(d) % 7] |
			 (GUEST_MEMFD_FLAG_MMAP & ((s & 0x80) ? ~0ULL : 0)),
	};
	long r, want;

	if (v < 0 || d->m.gmem[g].live)
		return;
	if ((s & 0x60) == 0x60)
		size = s & 0x10 ? 0 : size + 100; /* bad sizes */
	c.size = size;
	r = sysr(gmemu_ioctl(d->vm[v], KVM_CREATE_GUEST_MEMFD, &c));
	want = rm_create_gmem(&d->m, v, size, c.flags, g);
	note(d, "gmem[%d] = CREATE_GUEST_MEMFD(vm %d, %#llx, flags %#llx) -> %ld",
	     g, v, (unsigned long long)size, (unsigned long long)c.flags, r);
	expect(d, "KVM_CREATE_GUEST_MEMFD", r < 0 ? r : 0, want);
	if (r >= 0)
		d->gmem[g] = (int)r;
}

static void op_convert(struct driver *d)
{
	static const uint64_t flag_set[] = {
		0, 0, 0, 0, KVM_SET_MEMORY_ATTRIBUTES2_ZERO,
		KVM_SET_MEMORY_ATTRIBUTES2_ZERO, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
		KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
		KVM_SET_MEMORY_ATTRIBUTES2_ZERO | KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
		1ULL << 7,
	};
	int g = pick_gmem(d);
	uint8_t a = next(d), b = next(d), c = next(d);
	struct kvm_memory_attributes2 attr = {
		.attributes = (c & 1) ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.error_offset = EO_SENTINEL,
	};
	struct rm_result res;
	uint32_t n;
	long r;

	if (g < 0)
		return;
	n = d->m.gmem[g].npages;
	attr.offset = (uint64_t)(a % n) * PG;
	attr.size = (uint64_t)(b % (n - a % n) + 1) * PG;
	attr.flags = flag_set[(c >> 1) % 11];
	if ((d->m.profile == RM_V8 || d->m.profile == RM_7_4_ON) && (c & 0x20))
		attr.flags = 0;
	if ((c & 0xc0) == 0xc0) { /* the rarer checks */
		switch (b % 5) {
		case 0: attr.reserved[b % 11] = 1; break;
		case 1: attr.offset += 1; break;
		case 2: attr.size = 0; break;
		case 3: attr.attributes |= 1ULL << 2; break;
		default: attr.size = ~0ULL - attr.offset + PG; break;
		}
	}
	rm_convert(&d->m, g, &attr, &res);
	r = sysr(gmemu_ioctl(d->gmem[g], KVM_SET_MEMORY_ATTRIBUTES2, &attr));
	note(d, "SET_MEMORY_ATTRIBUTES2(gmem %d, %#llx+%#llx, %s, flags %#llx) -> %ld eo %#llx",
	     g, (unsigned long long)attr.offset, (unsigned long long)attr.size,
	     attr.attributes ? "private" : "shared",
	     (unsigned long long)attr.flags, r,
	     (unsigned long long)attr.error_offset);
	expect(d, "KVM_SET_MEMORY_ATTRIBUTES2", r, res.r);
	if (res.eo_written ? attr.error_offset != res.error_offset
			   : attr.error_offset != EO_SENTINEL)
		disagree(d, "error_offset %#llx, model %s %#llx",
			 (unsigned long long)attr.error_offset,
			 res.eo_written ? "writes" : "leaves",
			 (unsigned long long)(res.eo_written ? res.error_offset
							     : EO_SENTINEL));
}

static void op_mmap(struct driver *d)
{
	int g = pick_gmem(d), flags;
	uint8_t a = next(d);
	int64_t off = 0;
	struct view *v;
	long want;
	void *p;

	if (g < 0)
		return;
	v = &d->view[g];
	flags = (a & 3) == 3 ? MAP_PRIVATE : MAP_SHARED;
	if ((a & 0xc) == 0xc)
		off = (a & 0x10) ? 100 : -(int64_t)PG;
	if (v->addr && flags == MAP_SHARED && !off)
		return; /* one view per gmem in the driver */
	v = &d->view[g];
	want = rm_mmap_check(&d->m, g, off, (d->m.gmem[g].npages + 1) * PG, flags);
	p = gmemu_mmap(NULL, (d->m.gmem[g].npages + 1) * PG,
		       PROT_READ | PROT_WRITE, flags, d->gmem[g], off);
	note(d, "mmap(gmem %d, flags %#x, off %lld) -> %s", g, flags,
	     (long long)off, p == MAP_FAILED ? strerror(errno) : "view");
	expect(d, "gmemu_mmap", p == MAP_FAILED ? -errno : 0, want);
	if (p != MAP_FAILED && want == 0 && !v->addr) {
		v->addr = p;
		v->npages = d->m.gmem[g].npages + 1;
	} else if (p != MAP_FAILED) {
		gmemu_munmap(p, (d->m.gmem[g].npages + 1) * PG);
	}
}

static void op_munmap(struct driver *d)
{
	int g = pick_gmem(d);

	if (g < 0 || !d->view[g].addr)
		return;
	note(d, "munmap(view of gmem %d)", g);
	expect(d, "gmemu_munmap",
	       sysr(gmemu_munmap(d->view[g].addr, d->view[g].npages * PG)), 0);
	d->view[g].addr = NULL;
}

static void op_host(struct driver *d, bool write)
{
	int g = pick_gmem(d);
	uint8_t page = next(d), value = next(d), got = 0;
	uint16_t want = 0;
	bool bus, want_bus;
	struct view *v;

	if (g < 0 || !d->view[g].addr)
		return;
	v = &d->view[g];
	page %= (uint8_t)v->npages;
	want_bus = write ? rm_host_write(&d->m, g, page, value)
			 : rm_host_read(&d->m, g, page, &want);
	bus = access_page(v->addr + page * PG, write, value, &got);
	note(d, "host %s gmem %d page %u (%#x) -> %s %#x", write ? "write" : "read",
	     g, page, value, bus ? "SIGBUS" : "ok", got);
	if (bus != want_bus)
		disagree(d, "host %s of gmem %d page %u: %s, model %s",
			 write ? "write" : "read", g, page,
			 bus ? "SIGBUS" : "no SIGBUS",
			 want_bus ? "SIGBUS" : "no SIGBUS");
	else if (!write && !bus && want != RM_UNKNOWN && got != want)
		disagree(d, "host read of gmem %d page %u: %#x, model %#x", g,
			 page, got, want);
}

static void op_guest(struct driver *d)
{
	static uint8_t buf[2 * PG];
	int v = pick_vm(d);
	uint8_t a = next(d), b = next(d), value = next(d);
	unsigned int flags = b & 3;
	uint64_t gpa, len = (b & 4) ? 2 * PG : PG;
	struct gmemu_exit ex;
	struct rm_result res;
	uint16_t want;
	long r;

	if (v < 0 || RM_PER_VM(d->m.profile))
		return;
	gpa = pick_gpa(d, v, a);
	if ((b & 0x18) == 0x18)
		len = 4; /* small: MMIO where nothing is */
	if ((b & 0xe0) == 0xe0)
		flags |= 8; /* no such flag */
	memset(buf, value, sizeof(buf));
	memset(&ex, 0, sizeof(ex));
	rm_guest_access(&d->m, v, gpa, len, flags, value, &want, &res);
	r = sysr(gmemu_guest_access(d->vm[v], gpa, buf, len, flags, &ex));
	note(d, "guest_access(vm %d, %#llx, %llu, flags %#x) -> %ld exit %u",
	     v, (unsigned long long)gpa, (unsigned long long)len, flags, r,
	     ex.exit_reason);
	expect(d, "gmemu_guest_access", r, res.r);
	if ((r == 1 || r == -EFAULT) && r == res.r &&
	    memcmp(&ex, &res.exit, r == 1 ? 32 : 32) != 0 &&
	    (ex.exit_reason != res.exit.exit_reason ||
	     (r == 1 ? ex.mmio.phys_addr != res.exit.mmio.phys_addr ||
			       ex.mmio.len != res.exit.mmio.len ||
			       ex.mmio.is_write != res.exit.mmio.is_write
		     : ex.memory_fault.flags != res.exit.memory_fault.flags ||
			       ex.memory_fault.gpa != res.exit.memory_fault.gpa ||
			       ex.memory_fault.size != res.exit.memory_fault.size)))
		disagree(d, "guest access exit: reason %u gpa %#llx, model %u gpa %#llx",
			 ex.exit_reason, (unsigned long long)ex.memory_fault.gpa,
			 res.exit.exit_reason,
			 (unsigned long long)res.exit.memory_fault.gpa);
	if (r == 0 && !(flags & GMEMU_ACCESS_WRITE) && want != RM_UNKNOWN &&
	    buf[0] != want)
		disagree(d, "guest read %#x, model %#x", buf[0], want);
}

static void op_pin(struct driver *d)
{
	int g = pick_gmem(d);
	uint8_t a = next(d), b = next(d);
	uint64_t off, len = (uint64_t)(b % 3 + 1) * PG;
	long r, want;

	if (g < 0)
		return;
	off = (uint64_t)(a % (d->m.gmem[g].npages + 1)) * PG;
	if (b & 0x80)
		len = 0;
	switch (a >> 6) {
	case 0:
	case 1:
		want = rm_pin(&d->m, g, off, len, +1);
		r = sysr(gmemu_pin(d->gmem[g], off, len));
		break;
	case 2:
		want = rm_pin(&d->m, g, off, len, -1);
		r = sysr(gmemu_unpin(d->gmem[g], off, len));
		break;
	default:
		want = rm_pin_transient(&d->m, g, off);
		r = sysr(gmemu_pin_transient(d->gmem[g], off));
		break;
	}
	note(d, "pin op %d (gmem %d, %#llx+%#llx) -> %ld", a >> 6, g,
	     (unsigned long long)off, (unsigned long long)len, r);
	expect(d, "pin", r, want);
}

static void op_fallocate(struct driver *d)
{
	static const int modes[] = {
		FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_PUNCH_HOLE, 0, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_COLLAPSE_RANGE,
	};
	int g = pick_gmem(d), mode;
	uint8_t a = next(d), b = next(d);
	int64_t off = (int64_t)(a % (RM_MAX_PAGES + 2)) * (int64_t)PG;
	int64_t len = (int64_t)(b % 4 + 1) * (int64_t)PG;
	long r, want;

	if (g < 0)
		return;
	mode = modes[(a >> 5) % 6];
	if ((b & 0xc0) == 0xc0)
		off += 512;
	want = rm_fallocate(&d->m, g, mode, off, len);
	r = sysr(gmemu_fallocate(d->gmem[g], mode, off, len));
	note(d, "fallocate(gmem %d, %#x, %#llx, %#llx) -> %ld", g, mode,
	     (unsigned long long)off, (unsigned long long)len, r);
	expect(d, "gmemu_fallocate", r, want);
}

static void op_slot(struct driver *d)
{
	int v = pick_vm(d), g;
	uint8_t k = next(d), a = next(d), b = next(d);
	uint32_t id = a % RM_MAX_SLOTS, n;
	bool del = (b & 0xc0) == 0xc0;
	struct kvm_userspace_memory_region2 r2 = {
		.slot = id,
		.flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = SLOT_BASE + (uint64_t)id * 0x100000 +
				   (uint64_t)((a >> 4) % 2) * PG,
	};
	long r, want;

	if (v < 0)
		return;
	if ((k & 0x60) == 0x60) {
		/* plain memory; one size per id, so that the same call again
		 * changes nothing, or moves the memslot */
		g = -1;
		r2.flags = 0;
		r2.memory_size = (4 + 2 * id + ((k & 0x18) == 0x18)) * PG;
	} else {
		/* mostly a gmem of this VM; sometimes another VM's */
		g = (k & 7) == 7 ? pick_gmem(d) : gmem_of(d, v, k);
		if (g < 0)
			return;
		n = d->m.gmem[g].npages;
		r2.guest_memfd_offset = (uint64_t)((b >> 3) % n) * PG;
		r2.memory_size = (uint64_t)(b % (n - (b >> 3) % n) + 1 +
					    ((k & 0x18) == 0x18)) * PG;
		r2.guest_memfd = (uint32_t)d->gmem[g];
	}
	if (del)
		r2.memory_size = 0;
	/* a plain memslot's memory, and in the per-VM attribute profiles a
	 * guest_memfd memslot's shared pages (in place, nothing uses it) */
	if (!d->uaddr[v]) {
		d->uaddr[v] = mmap(NULL, RM_MAX_SLOTS * UADDR_PAGES * PG,
				   PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (d->uaddr[v] == MAP_FAILED) {
			d->uaddr[v] = NULL;
			return;
		}
	}
	r2.userspace_addr = (uintptr_t)d->uaddr[v] + id * UADDR_PAGES * PG;
	want = rm_set_slot(&d->m, v, id, r2.guest_phys_addr, r2.memory_size, g,
			   r2.guest_memfd_offset, del);
	r = sysr(gmemu_ioctl(d->vm[v], KVM_SET_USER_MEMORY_REGION2, &r2));
	note(d, "SET_USER_MEMORY_REGION2(vm %d, slot %u, gpa %#llx, size %#llx, gmem %d+%#llx) -> %ld",
	     v, id, (unsigned long long)r2.guest_phys_addr,
	     (unsigned long long)r2.memory_size, g,
	     (unsigned long long)r2.guest_memfd_offset, r);
	expect(d, "KVM_SET_USER_MEMORY_REGION2", r, want);
}

/* The measurement, where the model knows every byte it covers. */
static void check_measurement(struct driver *d, int v)
{
	uint8_t m1[32];

	if (!d->m.vm[v].measurement_unknown &&
	    gmemu_vm_measurement(d->vm[v], m1) == 0 &&
	    memcmp(m1, d->m.vm[v].measurement, 32) != 0)
		disagree(d, "launch measurement of vm %d", v);
}

static void op_launch(struct driver *d)
{
	static uint8_t src[2 * PG];
	int v = pick_vm(d);
	uint8_t a = next(d), b = next(d);
	uint64_t gpa, len = (uint64_t)(b % 2 + 1) * PG;
	long r, want;

	if (v < 0)
		return;
	gpa = pick_gpa(d, v, a);
	if (b & 0x80) {
		want = rm_finalize(&d->m, v);
		r = sysr(gmemu_vm_finalize(d->vm[v]));
		note(d, "finalize(vm %d) -> %ld", v, r);
		expect(d, "gmemu_vm_finalize", r, want);
		return;
	}
	memset(src, b, sizeof(src));
	want = rm_populate(&d->m, v, gpa, len, (b & 0x40) ? &b : NULL);
	r = sysr(gmemu_vm_populate(d->vm[v], gpa, (b & 0x40) ? src : NULL, len));
	note(d, "populate(vm %d, %#llx, %llu, %s) -> %ld", v,
	     (unsigned long long)gpa, (unsigned long long)len,
	     (b & 0x40) ? "src" : "in place", r);
	expect(d, "gmemu_vm_populate", r, want);
	check_measurement(d, v);
}

static void op_vm_attributes(struct driver *d)
{
	int v = pick_vm(d);
	uint8_t a = next(d), b = next(d);
	struct kvm_memory_attributes attr = {
		.address = pick_gpa(d, v < 0 ? 0 : v, a),
		.size = (uint64_t)(b % 3 + 1) * PG,
		.attributes = (b & 8) ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};
	long r, want;

	if (v < 0)
		return;
	if ((b & 0xf0) == 0xf0)
		attr.flags = 1;
	else if ((b & 0xf0) == 0xe0)
		attr.attributes |= 1;
	want = rm_set_vm_attributes(&d->m, v, attr.address, attr.size,
				    attr.attributes, attr.flags);
	r = sysr(gmemu_ioctl(d->vm[v], KVM_SET_MEMORY_ATTRIBUTES, &attr));
	note(d, "SET_MEMORY_ATTRIBUTES(vm %d, %#llx+%#llx, %#llx) -> %ld", v,
	     (unsigned long long)attr.address, (unsigned long long)attr.size,
	     (unsigned long long)attr.attributes, r);
	expect(d, "KVM_SET_MEMORY_ATTRIBUTES", r, want);
}

#define ERROR_SENTINEL 0x5e5e

static void expect_error(struct driver *d, uint32_t error,
			 const struct rm_result *res)
{
	uint32_t want = res->eo_written && res->error_offset != ~0ULL ?
				(uint32_t)res->error_offset : ERROR_SENTINEL;

	if (error != want)
		disagree(d, "kvm_sev_cmd.error %#x, model %#x", error, want);
}

/* The SEV-SNP launch commands (contract §9.7). */
static void op_sev(struct driver *d, int v, uint8_t a, uint8_t b, uint8_t c)
{
	static uint8_t src[3 * PG] __attribute__((aligned(4096)));
	struct kvm_sev_cmd cmd = { .error = ERROR_SENTINEL, .sev_fd = (uint32_t)d->sev };
	struct rm_result res;
	long r;

	if ((c & 0xf0) == 0xf0)
		cmd.sev_fd = (uint32_t)d->kvm; /* not /dev/sev */
	switch (a % 6) {
	case 0: {
		struct kvm_sev_init init = { .flags = (b & 0xe0) == 0xe0 };

		cmd.id = KVM_SEV_INIT2;
		cmd.data = (uintptr_t)&init;
		rm_sev_init2(&d->m, v, init.flags, &res);
		r = sysr(gmemu_ioctl(d->vm[v], KVM_MEMORY_ENCRYPT_OP, &cmd));
		note(d, "SEV_INIT2(vm %d, flags %u) -> %ld", v, init.flags, r);
		break;
	}
	case 1: {
		static const uint64_t policies[] = { 0x30000, 0x20000, 0x10000,
						     0x130000, 0x30000 | (1ULL << 40) };
		struct kvm_sev_snp_launch_start st = {
			.policy = policies[b % 5], .flags = (b & 0xe0) == 0xe0,
		};

		cmd.id = KVM_SEV_SNP_LAUNCH_START;
		cmd.data = (uintptr_t)&st;
		rm_snp_launch_start(&d->m, v, st.policy, st.flags,
				    cmd.sev_fd == (uint32_t)d->sev, &res);
		r = sysr(gmemu_ioctl(d->vm[v], KVM_MEMORY_ENCRYPT_OP, &cmd));
		note(d, "SNP_LAUNCH_START(vm %d, policy %#llx, fd %s) -> %ld", v,
		     (unsigned long long)st.policy,
		     cmd.sev_fd == (uint32_t)d->sev ? "sev" : "bad", r);
		break;
	}
	case 5: {
		struct kvm_sev_snp_launch_finish f = { .flags = (b & 0xf0) == 0xf0 };

		cmd.id = KVM_SEV_SNP_LAUNCH_FINISH;
		cmd.data = (uintptr_t)&f;
		rm_snp_launch_finish(&d->m, v, f.flags,
				     cmd.sev_fd == (uint32_t)d->sev, &res);
		r = sysr(gmemu_ioctl(d->vm[v], KVM_MEMORY_ENCRYPT_OP, &cmd));
		note(d, "SNP_LAUNCH_FINISH(vm %d) -> %ld", v, r);
		break;
	}
	default: {
		static const uint8_t page_types[] = {
			KVM_SEV_SNP_PAGE_TYPE_NORMAL, KVM_SEV_SNP_PAGE_TYPE_NORMAL,
			KVM_SEV_SNP_PAGE_TYPE_ZERO, KVM_SEV_SNP_PAGE_TYPE_UNMEASURED,
			KVM_SEV_SNP_PAGE_TYPE_SECRETS, KVM_SEV_SNP_PAGE_TYPE_CPUID, 2,
		};
		struct kvm_sev_snp_launch_update u = {
			.gfn_start = pick_gpa(d, v, b) / PG,
			.len = (uint64_t)(c % 3 + 1) * PG,
			.type = page_types[(c >> 2) % 7],
		}, mu;

		if ((c & 0x60) == 0x60)
			u.len = (c & 0x80) ? 0 : 100;
		if (a & 0x10)
			u.uaddr = (uintptr_t)src + ((a & 0x20) ? 8 : 0);
		memset(src, b, sizeof(src));
		mu = u;
		cmd.id = KVM_SEV_SNP_LAUNCH_UPDATE;
		cmd.data = (uintptr_t)&u;
		rm_snp_launch_update(&d->m, v, &mu, &b,
				     cmd.sev_fd == (uint32_t)d->sev, &res);
		r = sysr(gmemu_ioctl(d->vm[v], KVM_MEMORY_ENCRYPT_OP, &cmd));
		note(d, "SNP_LAUNCH_UPDATE(vm %d, gfn %#llx, len %#llx, type %u, uaddr %s) -> %ld left %#llx",
		     v, (unsigned long long)mu.gfn_start, (unsigned long long)mu.len,
		     u.type, u.uaddr ? "src" : "0", r, (unsigned long long)u.len);
		if (r == 0 && (u.gfn_start != mu.gfn_start || u.len != mu.len ||
			       u.uaddr != mu.uaddr))
			disagree(d, "SNP_LAUNCH_UPDATE progress: gfn %#llx len %#llx, "
				    "model gfn %#llx len %#llx",
				 (unsigned long long)u.gfn_start,
				 (unsigned long long)u.len,
				 (unsigned long long)mu.gfn_start,
				 (unsigned long long)mu.len);
		break;
	}
	}
	expect(d, "KVM_MEMORY_ENCRYPT_OP (SEV)", r, res.r);
	expect_error(d, cmd.error, &res);
	check_measurement(d, v);
}

/* The TDX VM commands (contract §9.8); vCPU commands need a vCPU. */
static void op_tdx(struct driver *d, int v, uint8_t a, uint8_t b)
{
	struct kvm_tdx_cmd cmd = { 0 };
	long r, want;

	switch (a % 3) {
	case 0: {
		struct kvm_tdx_init_vm *init =
			calloc(1, sizeof(*init) + sizeof(struct kvm_cpuid_entry2));
		unsigned int gpaw = (b & 0xc0) == 0xc0 ? 40 : (b & 1) ? 52 : 48;

		if (!init)
			return;
		init->attributes = (b & 2) ? 1 : (b & 0x30) == 0x30 ? 1ULL << 7 : 0;
		init->xfam = (b & 0x0c) == 0x0c ? 1ULL << 20 : 3;
		init->cpuid.nent = 1;
		init->cpuid.entries[0].function = 0x80000008;
		init->cpuid.entries[0].eax = gpaw;
		cmd.id = KVM_TDX_INIT_VM;
		cmd.flags = (a & 0xf0) == 0xf0;
		cmd.data = (uintptr_t)init;
		want = rm_tdx_init_vm(&d->m, v, cmd.flags, init->attributes,
				      init->xfam, gpaw);
		r = sysr(gmemu_ioctl(d->vm[v], KVM_MEMORY_ENCRYPT_OP, &cmd));
		note(d, "TDX_INIT_VM(vm %d, attrs %#llx, gpaw %u) -> %ld", v,
		     (unsigned long long)init->attributes, gpaw, r);
		free(init);
		break;
	}
	default:
		cmd.id = KVM_TDX_FINALIZE_VM;
		want = rm_tdx_finalize_vm(&d->m, v);
		r = sysr(gmemu_ioctl(d->vm[v], KVM_MEMORY_ENCRYPT_OP, &cmd));
		note(d, "TDX_FINALIZE_VM(vm %d) -> %ld", v, r);
		break;
	}
	expect(d, "KVM_MEMORY_ENCRYPT_OP (TDX)", r, want);
}

static void op_vendor(struct driver *d)
{
	int v = pick_vm(d), i;
	uint8_t a = next(d), b = next(d), c = next(d);
	struct rm_vm *vm;

	if (v < 0)
		return;
	/* mostly a VM of a vendor model, and mostly the command its launch
	 * needs next, so that launches get far */
	for (i = 0; i < RM_MAX_VMS && (a & 0xc0) != 0xc0; i++) {
		int w = (v + i) % RM_MAX_VMS;

		if (d->m.vm[w].live && (d->m.vm[w].type == KVM_X86_SNP_VM ||
					d->m.vm[w].type == KVM_X86_TDX_VM)) {
			v = w;
			break;
		}
	}
	vm = &d->m.vm[v];
	if (vm->type == KVM_X86_TDX_VM) {
		op_tdx(d, v, a, b);
		return;
	}
	if ((c & 0x0c) != 0x0c && vm->type == KVM_X86_SNP_VM) {
		c &= 0x0f; /* a good sev_fd, a good length */
		a = !vm->sev_init ? 0 : !vm->snp_started ? 1 : (b & 7) == 7 ? 5 : 2;
		b &= 0x1f; /* valid flags and policy */
	}
	op_sev(d, v, a, b, c);
}


/* ---- real vCPUs: KVM_RUN on the emulated backend (contract §9.5) ---- */

/*
 * The guest's memory, a plain memslot at CODE_GPA (slot CODE_SLOT): page
 * tables, a GDT and the code.  Long mode, 2 MiB pages: VA [0, 1 GiB) is
 * GPA [0, 1 GiB) (on snp and tdx, the private GPAs), VA [1 GiB, 2 GiB) the
 * same GPAs with the shared bit, and VA 2 GiB the memslot itself -- through
 * its shared alias on snp and tdx, which the per-VM attribute profiles
 * need for a plain memslot (its private GPA has no guest_memfd).
 */
#define CODE_GPA 0x40000000ULL
#define CODE_SLOT 100
#define CODE_SIZE (16 * PG)
#define CODE_VA 0x80000000ULL
#define SHARED_VA 0x40000000ULL
enum { PML4 = 0x0000, PDPT = 0x1000, PD0 = 0x2000, PD1 = 0x3000, PD2 = 0x4000,
       GDT = 0x5000, CODE = 0x6000 };

/* Routines at CODE + offset: RDI the address, RAX the value; each reports
 * on its own port, then hlt. */
enum { R_READ1 = 0x00, R_WRITE1 = 0x10, R_READ8 = 0x20, R_WRITE8 = 0x30,
       R_PAGE = 0x40, R_VMCALL = 0x50, R_VMMCALL = 0x60, R_IN = 0x70,
       R_HLT = 0x80 };
static const struct {
	unsigned int off;
	uint8_t bytes[8];
	unsigned int n;
} routines[] = {
	/* mov (%rdi),%al; out %al,$0x10; hlt */
	{ R_READ1, { 0x8a, 0x07, 0xe6, 0x10, 0xf4 }, 5 },
	/* mov %al,(%rdi); out %al,$0x11; hlt */
	{ R_WRITE1, { 0x88, 0x07, 0xe6, 0x11, 0xf4 }, 5 },
	/* mov (%rdi),%rax; out %eax,$0x12; hlt */
	{ R_READ8, { 0x48, 0x8b, 0x07, 0xe7, 0x12, 0xf4 }, 6 },
	/* mov %rax,(%rdi); out %al,$0x13; hlt */
	{ R_WRITE8, { 0x48, 0x89, 0x07, 0xe6, 0x13, 0xf4 }, 6 },
	/* cld; rep stosb (RCX bytes); out %al,$0x14; hlt */
	{ R_PAGE, { 0xfc, 0xf3, 0xaa, 0xe6, 0x14, 0xf4 }, 6 },
	/* vmcall; out %eax,$0x15; hlt */
	{ R_VMCALL, { 0x0f, 0x01, 0xc1, 0xe7, 0x15, 0xf4 }, 6 },
	/* vmmcall; out %eax,$0x15; hlt */
	{ R_VMMCALL, { 0x0f, 0x01, 0xd9, 0xe7, 0x15, 0xf4 }, 6 },
	/* in $0x16,%al; out %al,$0x17; hlt */
	{ R_IN, { 0xe4, 0x16, 0xe6, 0x17, 0xf4 }, 5 },
	/* hlt; out %al,$0x18; hlt */
	{ R_HLT, { 0xf4, 0xe6, 0x18, 0xf4 }, 4 },
};

/* kvm_run.memory_fault, which older headers do not name */
struct run_fault {
	uint64_t flags, gpa, size;
};

static unsigned long run_ops, run_calls, run_noops;

void diff_run_stats(unsigned long *ops, unsigned long *calls,
		    unsigned long *noops)
{
	*ops = run_ops;
	*calls = run_calls;
	*noops = run_noops;
}

/* Why the emulated backend cannot run here, or NULL. */
static const char *emu_unavailable(void)
{
	static const char *why;
	static bool asked;

	if (!asked) {
		why = gmemu_vcpu_backend_unavailable("emulated");
		asked = true;
	}
	return why;
}

static void put64(uint8_t *mem, uint64_t at, uint64_t v)
{
	memcpy(mem + at, &v, 8);
}

static void build_guest(uint8_t *mem, uint64_t bit)
{
	size_t i;

	put64(mem, PML4, (CODE_GPA + PDPT) | bit | 3);
	put64(mem, PDPT + 0, (CODE_GPA + PD0) | bit | 3);
	put64(mem, PDPT + 8, (CODE_GPA + PD1) | bit | 3);
	put64(mem, PDPT + 16, (CODE_GPA + PD2) | bit | 3);
	for (i = 0; i < 512; i++) {
		put64(mem, PD0 + 8 * i, (i << 21) | 0x83);
		put64(mem, PD1 + 8 * i, (i << 21) | bit | 0x83);
	}
	put64(mem, PD2, CODE_GPA | bit | 0x83);
	put64(mem, GDT + 8, 0x00af9b000000ffffULL);  /* code: 64-bit */
	put64(mem, GDT + 16, 0x00cf93000000ffffULL); /* data */
	for (i = 0; i < sizeof(routines) / sizeof(routines[0]); i++)
		memcpy(mem + CODE + routines[i].off, routines[i].bytes,
		       routines[i].n);
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

static bool long_mode(struct driver *d, int v)
{
	struct vcpu_state *vc = &d->vc[v];
	struct kvm_sregs s;

	if (vc->sregs)
		return true;
	expect(d, "KVM_GET_SREGS", sysr(gmemu_ioctl(vc->fd, KVM_GET_SREGS, &s)), 0);
	s.cr0 = 0x80050033;     /* PE MP ET NE WP AM PG */
	s.cr4 = 0x620;          /* PAE OSFXSR OSXMMEXCPT */
	s.efer = 0xd01;         /* SCE LME LMA NX */
	s.cr3 = CODE_GPA | rm_shared_mask(&d->m, v);
	seg(&s.cs, 8, 11, true);
	seg(&s.ds, 0x10, 3, false);
	s.es = s.ss = s.fs = s.gs = s.ds;
	s.gdt.base = CODE_VA + GDT;
	s.gdt.limit = 23;
	s.idt.base = 0;
	s.idt.limit = 0; /* an exception is a triple fault: a disagreement */
	expect(d, "KVM_SET_SREGS", sysr(gmemu_ioctl(vc->fd, KVM_SET_SREGS, &s)), 0);
	vc->sregs = !d->failed;
	return vc->sregs;
}

/* The hidden memslot and the vCPU, forced onto the emulated backend. */
static bool vcpu_make(struct driver *d, int v)
{
	struct vcpu_state *vc = &d->vc[v];
	struct kvm_userspace_memory_region2 r2 = {
		.slot = CODE_SLOT, .guest_phys_addr = CODE_GPA,
		.memory_size = CODE_SIZE,
	};
	const char *old = getenv("GMEMU_VCPU");
	char *saved = old ? strdup(old) : NULL;
	long size, fd;

	vc->code = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vc->code == MAP_FAILED) {
		vc->code = NULL;
		free(saved);
		return false;
	}
	build_guest(vc->code, rm_shared_mask(&d->m, v));
	r2.userspace_addr = (uintptr_t)vc->code;
	expect(d, "KVM_SET_USER_MEMORY_REGION2 (the guest's code)",
	       sysr(gmemu_ioctl(d->vm[v], KVM_SET_USER_MEMORY_REGION2, &r2)), 0);
	setenv("GMEMU_VCPU", "emulated", 1);
	fd = sysr(gmemu_ioctl(d->vm[v], KVM_CREATE_VCPU, 0));
	if (saved)
		setenv("GMEMU_VCPU", saved, 1);
	else
		unsetenv("GMEMU_VCPU");
	free(saved);
	note(d, "vcpu = KVM_CREATE_VCPU(vm %d) on the emulated backend -> %ld", v, fd);
	expect(d, "KVM_CREATE_VCPU", fd < 0 ? fd : 0, 0);
	if (fd < 0)
		return false;
	rm_create_vcpu(&d->m, v);
	vc->made = true;
	vc->fd = (int)fd;
	size = sysr(gmemu_ioctl(d->kvm, KVM_GET_VCPU_MMAP_SIZE, 0));
	vc->run = size > 0 ? gmemu_mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
					MAP_SHARED, vc->fd, 0) : MAP_FAILED;
	if (vc->run == MAP_FAILED) {
		vc->run = NULL;
		disagree(d, "the vCPU's kvm_run cannot be mapped (size %ld)", size);
		return false;
	}
	return true;
}

static long kvm_run(struct driver *d, int v)
{
	run_calls++;
	return sysr(gmemu_ioctl(d->vc[v].fd, KVM_RUN, 0));
}

static uint32_t io_data(struct kvm_run *run)
{
	uint32_t x = 0;

	memcpy(&x, (uint8_t *)run + run->io.data_offset,
	       run->io.size > 4 ? 4 : run->io.size);
	return x;
}

/* KVM_RUN (which returned r) ended at the guest's OUT to port: size bytes
 * of data (want, unless known is false). */
static void check_out(struct driver *d, int v, long r, unsigned int port,
		      unsigned int size, uint32_t want, bool known)
{
	struct kvm_run *run = d->vc[v].run;

	note(d, "  KVM_RUN -> %ld exit %u port %#x data %#x", r,
	     run->exit_reason, run->io.port, io_data(run));
	expect(d, "KVM_RUN (to the guest's report)", r, 0);
	if (d->failed)
		return;
	if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT ||
	    run->io.port != port || run->io.size != size || run->io.count != 1)
		disagree(d, "KVM_RUN: exit %u (dir %u port %#x size %u count %u), "
			    "model the guest's OUT to %#x",
			 run->exit_reason, run->io.direction, run->io.port,
			 run->io.size, run->io.count, port);
	else if (known && io_data(run) != want)
		disagree(d, "the guest reports %#x on port %#x, model %#x",
			 io_data(run), port, want);
}

static void run_to_out(struct driver *d, int v, unsigned int port,
		       unsigned int size, uint32_t want, bool known)
{
	check_out(d, v, kvm_run(d, v), port, size, want, known);
}

static void run_to_hlt(struct driver *d, int v)
{
	struct kvm_run *run = d->vc[v].run;
	long r = kvm_run(d, v);

	expect(d, "KVM_RUN (to hlt)", r, 0);
	if (!d->failed && run->exit_reason != KVM_EXIT_HLT)
		disagree(d, "KVM_RUN: exit %u, model KVM_EXIT_HLT", run->exit_reason);
}

static void start(struct driver *d, int v, unsigned int routine,
		  struct kvm_regs *regs)
{
	regs->rip = CODE_VA + CODE + routine;
	regs->rflags = 2;
	expect(d, "KVM_SET_REGS",
	       sysr(gmemu_ioctl(d->vc[v].fd, KVM_SET_REGS, regs)), 0);
}

/* The VMM's answer to a memory fault: the page converted to the access's
 * intent, through the interface of the profile, checked like op_convert. */
static void convert_for(struct driver *d, int v, uint64_t gpa, bool private)
{
	struct rm_vm *vm = &d->m.vm[v];
	struct rm_result res;
	long r, want;
	int i;

	if (RM_PER_VM(d->m.profile)) {
		struct kvm_memory_attributes a = {
			.address = gpa, .size = PG,
			.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		};

		want = rm_set_vm_attributes(&d->m, v, gpa, PG, a.attributes, 0);
		r = sysr(gmemu_ioctl(d->vm[v], KVM_SET_MEMORY_ATTRIBUTES, &a));
		note(d, "  SET_MEMORY_ATTRIBUTES(vm %d, %#llx, %s) -> %ld", v,
		     (unsigned long long)gpa, private ? "private" : "shared", r);
		expect(d, "KVM_SET_MEMORY_ATTRIBUTES", r, want);
		return;
	}
	for (i = 0; i < RM_MAX_SLOTS; i++) {
		struct rm_slot *s = &vm->slot[i];
		struct kvm_memory_attributes2 a = {
			.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
			.size = PG, .error_offset = EO_SENTINEL,
		};

		if (!s->live || gpa < s->gpa || gpa >= s->gpa + s->npages * PG)
			continue;
		if (s->gmem < 0)
			return; /* plain memory: nothing to convert */
		a.offset = (s->offset + (gpa - s->gpa) / PG) * PG;
		rm_convert(&d->m, s->gmem, &a, &res);
		r = sysr(gmemu_ioctl(d->gmem[s->gmem], KVM_SET_MEMORY_ATTRIBUTES2, &a));
		note(d, "  SET_MEMORY_ATTRIBUTES2(gmem %d, %#llx, %s) -> %ld", s->gmem,
		     (unsigned long long)a.offset, private ? "private" : "shared", r);
		expect(d, "KVM_SET_MEMORY_ATTRIBUTES2", r, res.r);
		if (res.eo_written ? a.error_offset != res.error_offset
				   : a.error_offset != EO_SENTINEL)
			disagree(d, "error_offset %#llx", (unsigned long long)a.error_offset);
		return;
	}
}

/*
 * Run the vCPU's access (started, or stopped by a memory fault earlier) to
 * its end as the model predicts it from its state now: the guest's report
 * with the bytes read, an MMIO exit the VMM completes, or a memory fault --
 * which, if convert, the VMM answers by converting, and the next KVM_RUN
 * completes the access exactly once or gives the same exit.
 */
static void run_access(struct driver *d, int v, bool convert)
{
	struct vcpu_state *vc = &d->vc[v];
	struct access *x = &vc->acc;
	struct kvm_run *run = vc->run;
	struct run_fault *mf = (struct run_fault *)(void *)&run->mmio;
	unsigned int port = x->len == PG ? 0x14 : x->len == 8 ? (x->write ? 0x13 : 0x12)
							   : (x->write ? 0x11 : 0x10);
	unsigned int size = x->len == 8 && !x->write ? 4 : 1;
	uint32_t mask = size == 4 ? ~0u : 0xff;
	uint64_t data = 0x0101010101010101ULL * x->value;
	struct rm_run want;
	int round;
	long r;

	for (round = 0; round < 2 && !d->failed; round++) {
		rm_run_access(&d->m, v, x->gpa, x->len, x->write, x->value, &want);
		r = kvm_run(d, v);
		note(d, "  KVM_RUN(vm %d: %s %llu at %#llx) -> %ld exit %u (model %s%s)",
		     v, x->write ? "write" : "read", (unsigned long long)x->len,
		     (unsigned long long)x->gpa, r, run->exit_reason,
		     want.kind == RM_RUN_FAULT ? "fault" :
		     want.kind == RM_RUN_MMIO ? "mmio" : "done",
		     want.kind == RM_RUN_FAULT && want.flags ? " private" : "");
		vc->pending = false;
		if (want.kind == RM_RUN_FAULT) {
			expect(d, "KVM_RUN (a memory fault)", r, -EFAULT);
			if (!d->failed && (run->exit_reason != KVM_EXIT_MEMORY_FAULT ||
					   mf->flags != want.flags || mf->gpa != want.gpa ||
					   mf->size != PG))
				disagree(d, "KVM_RUN: exit %u flags %#llx gpa %#llx size %#llx, "
					    "model KVM_EXIT_MEMORY_FAULT flags %#llx gpa %#llx",
					 run->exit_reason, (unsigned long long)mf->flags,
					 (unsigned long long)mf->gpa,
					 (unsigned long long)mf->size,
					 (unsigned long long)want.flags,
					 (unsigned long long)want.gpa);
			vc->pending = true;
			if (!convert || round)
				return;
			convert_for(d, v, want.gpa, want.flags != 0);
			continue;
		}
		if (want.kind == RM_RUN_MMIO) {
			expect(d, "KVM_RUN (MMIO)", r, 0);
			if (d->failed)
				return;
			if (run->exit_reason != KVM_EXIT_MMIO ||
			    run->mmio.phys_addr != want.gpa ||
			    run->mmio.len != (x->len == PG ? 1 : x->len) ||
			    run->mmio.is_write != x->write ||
			    (x->write && memcmp(run->mmio.data, &data, run->mmio.len))) {
				disagree(d, "KVM_RUN: exit %u phys_addr %#llx len %u write %u "
					    "data[0] %#x, model KVM_EXIT_MMIO at %#llx",
					 run->exit_reason,
					 (unsigned long long)run->mmio.phys_addr,
					 run->mmio.len, run->mmio.is_write,
					 run->mmio.data[0], (unsigned long long)want.gpa);
				return;
			}
			if (x->len == PG)
				return; /* one exit per byte: the next access
					 * abandons it with KVM_SET_REGS */
			if (!x->write)
				memcpy(run->mmio.data, &data, 8);
			run_to_out(d, v, port, size, (uint32_t)data & mask, true);
		} else {
			uint16_t b = x->write ? x->value : want.value;

			check_out(d, v, r, port, size, (0x01010101u * b) & mask,
				  b != RM_UNKNOWN);
		}
		if (!d->failed)
			run_to_hlt(d, v);
		return;
	}
}

/* The memory at the memslots' userspace_addr, read by the host: the bytes
 * the model holds (guest writes land there, in place). */
static void check_uaddr(struct driver *d, int v)
{
	int id, p;

	if (!d->uaddr[v])
		return;
	for (id = 0; id < RM_MAX_SLOTS; id++) {
		for (p = 0; p < UADDR_PAGES; p++) {
			uint16_t want = d->m.vm[v].uaddr[id][p];
			uint8_t got = d->uaddr[v][(id * UADDR_PAGES + p) * PG +
						  (p * 37) % PG];

			if (want != RM_UNKNOWN && got != want)
				disagree(d, "vm %d memslot %d's userspace_addr page %d "
					    "reads %#x, model %#x", v, id, p, got, want);
		}
	}
}

/* A hypercall: KVM_EXIT_HYPERCALL where the model says so, completed with
 * the VMM's ret; RAX (ret, or KVM's own answer) reported by the guest. */
static void run_hypercall(struct driver *d, int v, bool vmmcall, uint8_t c,
			  uint8_t e, uint8_t f)
{
	struct kvm_run *run = d->vc[v].run;
	struct kvm_regs regs = {
		.rax = (f & 7) == 7 ? 7 : (f & 7) == 6 ? 1 : 12,
		.rbx = pick_gpa(d, v, c) + ((f & 0x38) == 0x38 ? 8 : 0),
		.rcx = f >> 6,
		.rdx = (e & 1) ? 0x10 /* KVM_MAP_GPA_RANGE_ENCRYPTED */ : 0,
	};
	uint64_t ret;
	int want = rm_hypercall(&d->m, v, regs.rax, regs.rbx, regs.rcx,
				regs.rdx, &ret);
	long r;

	start(d, v, vmmcall ? R_VMMCALL : R_VMCALL, &regs);
	if (want) {
		r = kvm_run(d, v);
		note(d, "  KVM_RUN(vm %d: hypercall %llu %#llx %llu %#llx) -> %ld exit %u",
		     v, (unsigned long long)regs.rax, (unsigned long long)regs.rbx,
		     (unsigned long long)regs.rcx, (unsigned long long)regs.rdx, r,
		     run->exit_reason);
		expect(d, "KVM_RUN (a hypercall)", r, 0);
		if (d->failed)
			return;
		if (run->exit_reason != KVM_EXIT_HYPERCALL ||
		    run->hypercall.nr != regs.rax ||
		    run->hypercall.args[0] != regs.rbx ||
		    run->hypercall.args[1] != regs.rcx ||
		    run->hypercall.args[2] != regs.rdx ||
		    run->hypercall.longmode != 1) {
			disagree(d, "KVM_RUN: exit %u nr %llu args %#llx %llu %#llx "
				    "longmode %u, model KVM_EXIT_HYPERCALL",
				 run->exit_reason,
				 (unsigned long long)run->hypercall.nr,
				 (unsigned long long)run->hypercall.args[0],
				 (unsigned long long)run->hypercall.args[1],
				 (unsigned long long)run->hypercall.args[2],
				 run->hypercall.longmode);
			return;
		}
		ret = (uint64_t)(int8_t)e;
		run->hypercall.ret = ret;
	} else {
		note(d, "  hypercall(vm %d: %llu %#llx %llu): model RAX %#llx", v,
		     (unsigned long long)regs.rax, (unsigned long long)regs.rbx,
		     (unsigned long long)regs.rcx, (unsigned long long)ret);
	}
	run_to_out(d, v, 0x15, 4, (uint32_t)ret, true);
	if (!d->failed)
		run_to_hlt(d, v);
}

/* gmemu_vm_set_shared_gpa_bit: before the first vCPU (§9.5). */
static void op_shared_bit(struct driver *d, int v, uint8_t a)
{
	static const unsigned int bits[] = { 47, 39, 51, 32, 11, 52, 47, 32 };
	unsigned int bit = bits[a >> 5];
	long want = rm_set_shared_bit(&d->m, v, bit);
	long r = sysr(gmemu_vm_set_shared_gpa_bit(d->vm[v], bit));

	note(d, "set_shared_gpa_bit(vm %d, %u) -> %ld", v, bit, r);
	expect(d, "gmemu_vm_set_shared_gpa_bit", r, want);
}

static void op_enable_cap(struct driver *d, int v, uint8_t b)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_EXIT_HYPERCALL,
		.flags = (b & 0xf0) == 0xf0,
		.args = { (b & 1) ? 1ULL << 12 : (b & 2) ? 1ULL << 12 | 1ULL << 3 : 0 },
	};
	long want = rm_enable_cap_hypercall(&d->m, v, cap.flags, cap.args[0]);
	long r = sysr(gmemu_ioctl(d->vm[v], KVM_ENABLE_CAP, &cap));

	note(d, "ENABLE_CAP(vm %d, EXIT_HYPERCALL %#llx, flags %u) -> %ld", v,
	     (unsigned long long)cap.args[0], cap.flags, r);
	expect(d, "KVM_ENABLE_CAP", r, want);
}

static void op_tdx_init_vcpu(struct driver *d, int v, uint8_t b)
{
	struct kvm_tdx_cmd cmd = { .id = KVM_TDX_INIT_VCPU,
				   .flags = (b & 0xf0) == 0xf0 };
	long want = rm_tdx_init_vcpu(&d->m, v, cmd.flags);
	long r = sysr(gmemu_ioctl(d->vc[v].fd, KVM_MEMORY_ENCRYPT_OP, &cmd));

	note(d, "TDX_INIT_VCPU(vm %d) -> %ld", v, r);
	expect(d, "KVM_TDX_INIT_VCPU", r, want);
	if (r == 0)
		d->vc[v].sregs = false; /* the TDX module's initial state */
}

/*
 * KVM_RUN of a real guest on the emulated backend.  The vCPU and its code
 * memslot are made on the first op_run of a VM; the model knows the vCPU
 * exists (the vendor commands refuse what KVM refuses once there is one),
 * and nothing else of it.
 */
static int run_op(struct driver *d)
{
	int v = pick_vm(d);
	uint8_t a = next(d), b = next(d), c = next(d), e = next(d), f = next(d);
	struct vcpu_state *vc;
	struct kvm_regs regs = { 0 };
	struct rm_vm *vm;
	uint64_t bit;
	long want, r;

	if (v < 0)
		return v;
	if (emu_unavailable()) {
		run_noops++;
		note(d, "KVM_RUN op: none (the emulated backend: %s)",
		     emu_unavailable());
		return v;
	}
	vm = &d->m.vm[v];
	vc = &d->vc[v];
	switch (a & 0xf) {
	case 0xf:
		op_shared_bit(d, v, a);
		return v;
	case 0xe:
		op_enable_cap(d, v, b);
		return v;
	default:
		break;
	}
	if (!vc->made) {
		/* a vCPU ends the vendor launch's INIT commands: mostly after
		 * launch there */
		if ((vm->type == KVM_X86_SNP_VM || vm->type == KVM_X86_TDX_VM) &&
		    !vm->post_launch && (b & 0xc0) != 0xc0)
			return v;
		if (!vcpu_make(d, v))
			return v;
	}
	run_ops++;
	if ((a & 0xf) == 0xd || (vm->td_init && !vm->post_launch)) {
		/* a TD's vCPU runs only if initialized before finalize */
		op_tdx_init_vcpu(d, v, b);
		return v;
	}
	if (rm_regs_protected(&d->m, v)) {
		r = sysr(gmemu_ioctl(vc->fd, KVM_SET_REGS, &regs));
		note(d, "KVM_SET_REGS(vm %d, protected state) -> %ld", v, r);
		expect(d, "KVM_SET_REGS (protected state)", r, -EINVAL);
		return v;
	}
	if (!long_mode(d, v))
		return v;
	want = rm_run_entry(&d->m, v);
	if (want) {
		r = kvm_run(d, v);
		note(d, "KVM_RUN(vm %d, not launched) -> %ld exit %u", v, r,
		     vc->run->exit_reason);
		expect(d, "KVM_RUN (launch state)", r, want < 0 ? want : 0);
		if (!d->failed && want == RM_FAIL_ENTRY &&
		    (vc->run->exit_reason != KVM_EXIT_FAIL_ENTRY ||
		     vc->run->fail_entry.hardware_entry_failure_reason != ~0ULL))
			disagree(d, "KVM_RUN: exit %u, model KVM_EXIT_FAIL_ENTRY",
				 vc->run->exit_reason);
		return v;
	}
	if ((a & 0xf) == 0xc) {
		uint32_t reason = vc->run->exit_reason;

		vc->run->immediate_exit = 1;
		r = kvm_run(d, v);
		vc->run->immediate_exit = 0;
		note(d, "KVM_RUN(vm %d, immediate_exit) -> %ld", v, r);
		expect(d, "KVM_RUN (immediate_exit)", r, -EINTR);
		if (!d->failed && vc->run->exit_reason != reason)
			disagree(d, "immediate_exit changed exit_reason %u to %u",
				 reason, vc->run->exit_reason);
		return v;
	}
	if (vc->pending && (a & 0x10)) {
		/* the access a memory fault stopped, against the state now */
		run_access(d, v, a & 0x20);
		return v;
	}
	vc->pending = false;
	bit = rm_shared_mask(&d->m, v);
	switch ((b >> 1) & 7) {
	case 5:
		run_hypercall(d, v, b & 1, c, e, f);
		return v;
	case 6:
		start(d, v, R_IN, &regs);
		r = kvm_run(d, v);
		note(d, "  KVM_RUN(vm %d: in) -> %ld exit %u port %#x", v, r,
		     vc->run->exit_reason, vc->run->io.port);
		expect(d, "KVM_RUN (IN)", r, 0);
		if (d->failed)
			return v;
		if (vc->run->exit_reason != KVM_EXIT_IO ||
		    vc->run->io.direction != KVM_EXIT_IO_IN ||
		    vc->run->io.port != 0x16 || vc->run->io.size != 1 ||
		    vc->run->io.count != 1) {
			disagree(d, "KVM_RUN: exit %u dir %u port %#x, model IN from 0x16",
				 vc->run->exit_reason, vc->run->io.direction,
				 vc->run->io.port);
			return v;
		}
		((uint8_t *)vc->run)[vc->run->io.data_offset] = e;
		run_to_out(d, v, 0x17, 1, e, true);
		if (!d->failed)
			run_to_hlt(d, v);
		return v;
	case 7:
		regs.rax = e;
		start(d, v, R_HLT, &regs);
		run_to_hlt(d, v);
		if (!d->failed)
			run_to_out(d, v, 0x18, 1, e, true);
		if (!d->failed)
			run_to_hlt(d, v);
		return v;
	default:
		break;
	}
	/* a memory access: read or write, 1 or 8 bytes or a page */
	vc->acc = (struct access){
		.gpa = pick_gpa(d, v, c),
		.len = (b & 0xc) == 0x8 ? PG : (b & 4) ? 8 : 1,
		.write = (b >> 1) & 1,
		.value = e,
	};
	if (vc->acc.len == PG)
		vc->acc.write = true;
	else
		vc->acc.gpa += ((uint64_t)f * 37 % PG) & ~(vc->acc.len - 1);
	if (bit && (b & 1))
		vc->acc.gpa |= bit;
	regs.rdi = (vc->acc.gpa & ~bit) + (vc->acc.gpa & bit ? SHARED_VA : 0);
	regs.rax = 0x0101010101010101ULL * e;
	regs.rcx = PG;
	start(d, v, vc->acc.len == PG ? R_PAGE : vc->acc.len == 8 ?
		     (vc->acc.write ? R_WRITE8 : R_READ8) :
		     (vc->acc.write ? R_WRITE1 : R_READ1), &regs);
	if (!d->failed)
		run_access(d, v, a & 0x20);
	return v;
}

static void op_run(struct driver *d)
{
	int v = run_op(d);

	if (v >= 0 && !d->failed)
		check_uaddr(d, v);
}

static void op_misc(struct driver *d)
{
	int g = pick_gmem(d);
	uint8_t a = next(d);
	struct stat st;
	char c;

	if (g < 0)
		return;
	switch (a % 5) {
	case 0:
		expect(d, "gmemu_fstat", sysr(gmemu_fstat(d->gmem[g], &st)), 0);
		expect(d, "st_size", st.st_size, (long)(d->m.gmem[g].npages * PG));
		break;
	case 1:
		expect(d, "gmemu_read", sysr(gmemu_read(d->gmem[g], &c, 1)), -EINVAL);
		break;
	case 2:
		expect(d, "gmemu_pread", sysr(gmemu_pread(d->gmem[g], &c, 1, 0)), -ESPIPE);
		break;
	case 3:
		expect(d, "gmemu_ftruncate", sysr(gmemu_ftruncate(d->gmem[g], 0)), -EINVAL);
		break;
	default:
		rm_inject_enomem(&d->m, g, a >> 6);
		expect(d, "gmemu_inject_enomem",
		       sysr(gmemu_inject_enomem(d->gmem[g], a >> 6)), 0);
		note(d, "inject_enomem(gmem %d, %u)", g, a >> 6);
		break;
	}
}

static void cleanup(struct driver *d)
{
	long size = sysr(gmemu_ioctl(d->kvm, KVM_GET_VCPU_MMAP_SIZE, 0));
	int i;

	for (i = 0; i < RM_MAX_VMS; i++) {
		if (d->vc[i].run)
			gmemu_munmap(d->vc[i].run, (size_t)size);
		if (d->vc[i].made)
			gmemu_close(d->vc[i].fd);
	}
	for (i = 0; i < RM_MAX_GMEMS; i++) {
		if (d->view[i].addr)
			gmemu_munmap(d->view[i].addr, d->view[i].npages * PG);
		if (d->m.gmem[i].live)
			gmemu_close(d->gmem[i]);
	}
	for (i = 0; i < RM_MAX_VMS; i++)
		if (d->m.vm[i].live)
			gmemu_close(d->vm[i]);
	gmemu_close(d->kvm);
	gmemu_close(d->sev);
	for (i = 0; i < RM_MAX_VMS; i++) {
		if (d->vc[i].code)
			munmap(d->vc[i].code, CODE_SIZE);
		if (d->uaddr[i])
			munmap(d->uaddr[i], RM_MAX_SLOTS * UADDR_PAGES * PG);
	}
}

int diff_run(const uint8_t *data, size_t size, int verbose)
{
	static const char *const profiles[] = { "contentmodes", "v8", "6.18",
						"6.12", "7.4", "7.4" };
	static const char *const params[] = { NULL, NULL, NULL, NULL,
					      "gmem_in_place_conversion=N",
					      "gmem_in_place_conversion=Y" };
	static bool installed;
	struct driver *d = calloc(1, sizeof(*d));
	int p, failed;

	if (!d)
		return 1;
	if (!installed) {
		struct sigaction sa = { .sa_sigaction = on_bus,
					.sa_flags = SA_SIGINFO | SA_NODEFER };

		sigaction(SIGBUS, &sa, NULL);
		installed = true;
	}
	d->data = data;
	d->size = size;
	d->verbose = verbose;
	p = next(d) % 6;
	rm_init(&d->m, (enum rm_profile)p);
	if (params[p])
		setenv("GMEMU_KVM_PARAMS", params[p], 1);
	d->kvm = gmemu_kvm_open_abi(profiles[p]);
	unsetenv("GMEMU_KVM_PARAMS");
	d->sev = gmemu_open("/dev/sev", O_RDWR | O_CLOEXEC);
	note(d, "profile %s%s%s", profiles[p], params[p] ? " " : "",
	     params[p] ? params[p] : "");
	while (d->pos < d->size && !d->failed) {
		uint8_t op = next(d);

		switch (op % 26) {
		case 0: op_create_vm(d); break;
		case 1: case 2: op_create_gmem(d); break;
		case 3: case 4: case 5: case 6: op_convert(d); break;
		case 7: case 8: op_mmap(d); break;
		case 9:
			if (op >= 198)
				op_munmap(d);
			break;
		case 10: op_host(d, false); break;
		case 11: case 12: case 13: op_host(d, true); break;
		case 14: case 15: op_guest(d); break;
		case 16: op_pin(d); break;
		case 17: op_fallocate(d); break;
		case 18: op_slot(d); break;
		case 19: op_launch(d); break;
		case 20: op_vm_attributes(d); break;
		case 21: case 22: op_vendor(d); break;
		case 24: case 25: op_run(d); break;
		default: op_misc(d); break;
		}
		if (!d->failed)
			check_attributes(d);
		if (!d->failed)
			check_contents(d);
	}
	cleanup(d);
	failed = d->failed;
	free(d);
	return failed ? 1 : 0;
}
