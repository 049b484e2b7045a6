// SPDX-License-Identifier: MIT
/*
 * The differential driver.  An input is a byte string read as a sequence
 * of calls (an op byte, then its argument bytes); every call is made on
 * gmemu through its public API and on the reference model, and the two
 * must agree on the result, the errno, error_offset, the exit a guest
 * access gives, every page's attribute and every byte either side reads.
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

struct view {
	uint8_t *addr;
	uint64_t npages; /* mapped: the gmem's pages plus one past the end */
};

struct driver {
	const uint8_t *data;
	size_t size, pos;
	int verbose;
	int kvm, sev;
	int vm[RM_MAX_VMS];
	int gmem[RM_MAX_GMEMS];
	struct view view[RM_MAX_GMEMS];
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
	/* mostly a gmem of this VM; sometimes another VM's */
	g = (k & 7) == 7 ? pick_gmem(d) : gmem_of(d, v, k);
	if (g < 0)
		return;
	n = d->m.gmem[g].npages;
	r2.guest_memfd_offset = (uint64_t)((b >> 3) % n) * PG;
	r2.memory_size = (uint64_t)(b % (n - (b >> 3) % n) + 1 +
				    ((k & 0x18) == 0x18)) * PG;
	if (del)
		r2.memory_size = 0;
	r2.guest_memfd = (uint32_t)d->gmem[g];
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
		rm_snp_launch_finish(&d->m, v, f.flags, &res);
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
	int i;

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

		switch (op % 24) {
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
