// SPDX-License-Identifier: MIT
/*
 * The reference model.  Each function restates one call of the contract in
 * the order the contract gives its checks.  Nothing here shares code with
 * the library.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <openssl/sha.h>
#include <string.h>

#include "refmodel.h"

#define PG 4096ULL
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

enum effect { E_NONE, E_UNKNOWN, E_ZERO };

struct model_row {
	unsigned long type;
	bool private_mem, launch_enforced;
	/* accepted modes [to_private][post_launch] (contentmodes profile) */
	uint64_t modes[2][2];
	enum effect effect; /* flags = 0, contentmodes profile */
	enum effect unpopulated; /* finalize, private pages never populated */
};

static const struct model_row rows[] = {
	{ KVM_X86_DEFAULT_VM, false, false, { { 0, 0 }, { 0, 0 } }, E_NONE, E_NONE },
	{ KVM_X86_SW_PROTECTED_VM, true, false,
	  { { ZERO | PRESERVE, ZERO | PRESERVE }, { PRESERVE, PRESERVE } },
	  E_UNKNOWN, E_NONE },
	{ GMEMU_VM_PKVM, true, false,
	  { { ZERO | PRESERVE, ZERO | PRESERVE }, { PRESERVE, PRESERVE } },
	  E_NONE, E_NONE },
	{ KVM_X86_SNP_VM, true, true, { { ZERO, ZERO }, { PRESERVE, 0 } },
	  E_UNKNOWN, E_UNKNOWN },
	{ KVM_X86_TDX_VM, true, true, { { ZERO, ZERO }, { PRESERVE, 0 } },
	  E_ZERO, E_ZERO },
};

static const struct model_row *row_of(unsigned long type)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].type == type)
			return &rows[i];
	return NULL;
}

static const struct model_row *vm_row(struct refmodel *m, int vm)
{
	return row_of(m->vm[vm].type);
}

void rm_init(struct refmodel *m, enum rm_profile p)
{
	memset(m, 0, sizeof(*m));
	m->profile = p;
}

long rm_create_vm(struct refmodel *m, unsigned long type, int idx)
{
	/* no TDX type before 6.16 */
	if (!row_of(type) || (m->profile == RM_6_12 && type == KVM_X86_TDX_VM))
		return -EINVAL;
	memset(&m->vm[idx], 0, sizeof(m->vm[idx]));
	m->vm[idx].live = true;
	m->vm[idx].type = type;
	m->vm[idx].shared_bit = 47;
	return 0;
}

long rm_create_gmem(struct refmodel *m, int vm, uint64_t size, uint64_t flags,
		    int idx)
{
	const struct model_row *row = vm_row(m, vm);
	uint64_t valid = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	struct rm_gmem *g = &m->gmem[idx];
	uint32_t i;

	/* 6.18: INIT_SHARED only where nothing can be private; 6.12 knows
	 * no flag at all */
	if ((m->profile == RM_6_18 || m->profile == RM_7_4_OFF) && row->private_mem)
		valid = GUEST_MEMFD_FLAG_MMAP;
	if (m->profile == RM_6_12)
		valid = 0;
	if (flags & ~valid)
		return -EINVAL;
	if ((int64_t)size <= 0 || size % PG)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->live = true;
	g->vm = vm;
	g->flags = flags;
	g->npages = (uint32_t)(size / PG);
	for (i = 0; i < g->npages; i++)
		g->page[i].private = !(flags & GUEST_MEMFD_FLAG_INIT_SHARED);
	return 0;
}

static enum effect flags0_effect(struct refmodel *m, const struct model_row *row)
{
	return m->profile == RM_CONTENTMODES ? row->effect : E_NONE;
}

static void apply(struct rm_page *p, enum effect e)
{
	if (e == E_UNKNOWN)
		p->value = RM_UNKNOWN;
	else if (e == E_ZERO)
		p->value = 0;
}

static long fail_eo(struct rm_result *res, long err, uint64_t eo)
{
	res->r = err;
	res->error_offset = eo;
	res->eo_written = true;
	return err;
}

void rm_convert(struct refmodel *m, int gi, const struct kvm_memory_attributes2 *a,
		struct rm_result *res)
{
	struct rm_gmem *g = &m->gmem[gi];
	const struct model_row *row = vm_row(m, g->vm);
	bool to_private = a->attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE;
	uint64_t first, end, p, accepted;
	bool changes = false;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (RM_PER_VM(m->profile)) {
		res->r = -ENOTTY;
		return;
	}
	if (m->profile == RM_V8 || m->profile == RM_7_4_ON ? a->flags != 0
				: ((a->flags & ~(ZERO | PRESERVE)) ||
				   (a->flags & (ZERO | PRESERVE)) == (ZERO | PRESERVE))) {
		res->r = -EINVAL;
		return;
	}
	for (i = 0; i < 11; i++) {
		if (a->reserved[i]) {
			res->r = -EINVAL;
			return;
		}
	}
	if (!row->private_mem || (a->attributes & ~KVM_MEMORY_ATTRIBUTE_PRIVATE) ||
	    !a->size || a->offset + a->size < a->offset || a->offset % PG ||
	    a->size % PG || a->offset + a->size > g->npages * PG) {
		res->r = -EINVAL;
		return;
	}
	first = a->offset / PG;
	end = first + a->size / PG;
	if ((a->flags & ZERO) && to_private) {
		fail_eo(res, -EOPNOTSUPP, a->offset);
		return;
	}
	accepted = m->profile == RM_CONTENTMODES ?
			   row->modes[to_private][m->vm[g->vm].post_launch] : 0;
	if (a->flags & ~accepted) {
		fail_eo(res, -EOPNOTSUPP, a->offset);
		return;
	}
	for (p = first; p < end; p++)
		changes |= g->page[p].private != to_private;
	if (!changes && !(a->flags & ZERO))
		return;
	if (to_private) {
		for (p = first; p < end; p++) {
			if (g->page[p].pins) {
				fail_eo(res, -EAGAIN, p * PG);
				return;
			}
		}
	}
	if (g->inject_enomem) {
		g->inject_enomem--;
		fail_eo(res, -ENOMEM, a->offset);
		return;
	}
	for (p = first; p < end; p++) {
		struct rm_page *pg = &g->page[p];

		if (a->flags & ZERO)
			pg->value = 0;
		else if (!a->flags && pg->private != to_private)
			apply(pg, flags0_effect(m, row));
		if (to_private)
			pg->transient = 0;
		pg->private = to_private;
	}
}

static bool range_ok(struct rm_gmem *g, uint64_t off, uint64_t len)
{
	return len && !(off % PG) && !(len % PG) && off + len >= off &&
	       off + len <= g->npages * PG;
}

long rm_pin(struct refmodel *m, int gi, uint64_t off, uint64_t len, int delta)
{
	struct rm_gmem *g = &m->gmem[gi];
	uint64_t p;

	if (!range_ok(g, off, len))
		return -EINVAL;
	for (p = off / PG; p < (off + len) / PG; p++) {
		if (delta > 0 && g->page[p].private)
			return -EFAULT;
		if (delta < 0 && !g->page[p].pins)
			return -EINVAL;
	}
	for (p = off / PG; p < (off + len) / PG; p++)
		g->page[p].pins += (uint32_t)delta;
	(void)m;
	return 0;
}

long rm_pin_transient(struct refmodel *m, int gi, uint64_t off)
{
	struct rm_gmem *g = &m->gmem[gi];

	if (!range_ok(g, off, PG))
		return -EINVAL;
	if (g->page[off / PG].private)
		return -EFAULT;
	g->page[off / PG].transient++;
	(void)m;
	return 0;
}

long rm_fallocate(struct refmodel *m, int gi, int mode, int64_t off, int64_t len)
{
	const int mask = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE |
			 FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE |
			 FALLOC_FL_UNSHARE_RANGE | 0x80;
	struct rm_gmem *g = &m->gmem[gi];
	uint64_t p, end;

	(void)m;
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(mask | FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	switch (mode & mask) {
	case 0:
	case FALLOC_FL_UNSHARE_RANGE:
	case FALLOC_FL_ZERO_RANGE:
		break;
	case FALLOC_FL_PUNCH_HOLE:
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			return -EOPNOTSUPP;
		break;
	case FALLOC_FL_COLLAPSE_RANGE:
	case FALLOC_FL_INSERT_RANGE:
	case 0x80:
		if (mode & FALLOC_FL_KEEP_SIZE)
			return -EOPNOTSUPP;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if ((uint64_t)off + (uint64_t)len > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (!(mode & FALLOC_FL_KEEP_SIZE) ||
	    (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)))
		return -EOPNOTSUPP;
	if (off % (int64_t)PG || len % (int64_t)PG)
		return -EINVAL;
	end = (uint64_t)(off + len) / PG;
	if (!(mode & FALLOC_FL_PUNCH_HOLE))
		return end > g->npages ? -EINVAL : 0;
	for (p = (uint64_t)off / PG; p < end && p < g->npages; p++)
		g->page[p].value = 0; /* attributes untouched */
	return 0;
}

long rm_mmap_check(struct refmodel *m, int gi, int64_t off, uint64_t len,
		   int flags)
{
	struct rm_gmem *g = &m->gmem[gi];

	(void)m;
	if (!len || off < 0 || off % (int64_t)PG || (uint64_t)off + len < (uint64_t)off)
		return -EINVAL;
	if (!(g->flags & GUEST_MEMFD_FLAG_MMAP))
		return -ENODEV;
	if ((flags & 0xf) != 0x1 /* MAP_SHARED */)
		return -EINVAL;
	return 0;
}

bool rm_host_read(struct refmodel *m, int gi, uint64_t page, uint16_t *value)
{
	struct rm_gmem *g = &m->gmem[gi];

	(void)m;
	if (page >= g->npages || g->page[page].private)
		return true;
	*value = g->page[page].value;
	return false;
}

bool rm_host_write(struct refmodel *m, int gi, uint64_t page, uint8_t value)
{
	struct rm_gmem *g = &m->gmem[gi];

	(void)m;
	if (page >= g->npages || g->page[page].private)
		return true;
	g->page[page].value = value;
	return false;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

long rm_set_slot(struct refmodel *m, int vi, uint32_t id, uint64_t gpa,
		 uint64_t size, int gi, uint64_t offset, bool del)
{
	struct rm_vm *vm = &m->vm[vi];
	int i, free = -1;

	/* 6.12: no guest_memfd memslot without private memory (a flags
	 * check: before anything else) */
	if (gi >= 0 && m->profile == RM_6_12 && !vm_row(m, vi)->private_mem)
		return -EINVAL;
	for (i = 0; i < RM_MAX_SLOTS; i++) {
		struct rm_slot *s = &vm->slot[i];
		int j;

		if (s->live && s->id == id) {
			if (del) {
				s->live = false;
				return 0;
			}
			/* a live guest_memfd slot never changes; a plain one
			 * (the driver gives an id one userspace_addr) keeps
			 * its size, and may move */
			if (s->gmem >= 0 || gi >= 0 || size != s->npages * PG)
				return -EINVAL;
			for (j = 0; j < RM_MAX_SLOTS; j++)
				if (j != i && vm->slot[j].live &&
				    overlap(vm->slot[j].gpa, vm->slot[j].npages * PG,
					    gpa, size))
					return -EEXIST;
			s->gpa = gpa; /* the same bytes at the new GPAs */
			return 0;
		}
		if (!s->live && free < 0)
			free = i;
	}
	if (del)
		return -EINVAL;
	if (size % PG || gpa % PG || offset % PG)
		return -EINVAL;
	for (i = 0; i < RM_MAX_SLOTS; i++)
		if (vm->slot[i].live &&
		    overlap(vm->slot[i].gpa, vm->slot[i].npages * PG, gpa, size))
			return -EEXIST;
	if (gi >= 0) {
		struct rm_gmem *g = &m->gmem[gi];

		if (!g->live || g->vm != vi)
			return -EINVAL;
		if (offset + size > g->npages * PG)
			return -EINVAL;
		for (i = 0; i < RM_MAX_SLOTS; i++)
			if (vm->slot[i].live && vm->slot[i].gmem == gi &&
			    overlap(vm->slot[i].offset * PG,
				    vm->slot[i].npages * PG, offset, size))
				return m->profile == RM_7_4_OFF ||
						       m->profile == RM_7_4_ON
					       ? -EEXIST : -EINVAL;
	}
	if (free < 0)
		return -ENOSPC; /* the driver never gets here */
	vm->slot[free] = (struct rm_slot){ .live = true, .id = id, .gpa = gpa,
					   .npages = size / PG, .gmem = gi,
					   .offset = (uint32_t)(offset / PG) };
	return 0;
}

static struct rm_slot *slot_at(struct rm_vm *vm, uint64_t gpa)
{
	int i;

	for (i = 0; i < RM_MAX_SLOTS; i++)
		if (vm->slot[i].live && gpa >= vm->slot[i].gpa &&
		    gpa < vm->slot[i].gpa + vm->slot[i].npages * PG)
			return &vm->slot[i];
	return NULL;
}

static struct rm_page *slot_page(struct refmodel *m, struct rm_slot *s,
				 uint64_t gpa)
{
	return &m->gmem[s->gmem].page[s->offset + (gpa - s->gpa) / PG];
}

/* Is the guest page at gpa private?  Per gmem in the in-place profiles,
 * per VM in the 6.x ones. */
static bool gpa_private(struct refmodel *m, int vi, struct rm_slot *s,
			uint64_t gpa)
{
	if (RM_PER_VM(m->profile))
		return gpa >= RM_GPA_BASE &&
		       (gpa - RM_GPA_BASE) / PG < RM_GPA_PAGES &&
		       m->vm[vi].vm_private[(gpa - RM_GPA_BASE) / PG];
	return s && s->gmem >= 0 && slot_page(m, s, gpa)->private;
}

long rm_set_vm_attributes(struct refmodel *m, int vi, uint64_t addr,
			  uint64_t size, uint64_t attrs, uint64_t flags)
{
	/* 7.4 with in-place conversion on: the ioctl, no attribute */
	uint64_t supported = RM_PER_VM(m->profile) && vm_row(m, vi)->private_mem ?
				     KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, p;

	if (!RM_PER_VM(m->profile) && m->profile != RM_7_4_ON)
		return -ENOTTY;
	if (flags || (attrs & ~supported))
		return -EINVAL;
	if (!size || addr + size <= addr)
		return -EINVAL;
	if (addr % PG || size % PG)
		return -EINVAL;
	if (!RM_PER_VM(m->profile))
		return 0;
	for (p = addr; p < addr + size; p += PG)
		if (p >= RM_GPA_BASE && (p - RM_GPA_BASE) / PG < RM_GPA_PAGES)
			m->vm[vi].vm_private[(p - RM_GPA_BASE) / PG] = attrs != 0;
	return 0;
}

void rm_guest_access(struct refmodel *m, int vi, uint64_t gpa, uint64_t len,
		     unsigned int flags, uint8_t value, uint16_t *read_value,
		     struct rm_result *res)
{
	struct rm_vm *vm = &m->vm[vi];
	const struct model_row *row = vm_row(m, vi);
	bool write = flags & GMEMU_ACCESS_WRITE;
	bool private = flags & GMEMU_ACCESS_PRIVATE;
	uint64_t p, end = gpa + len;
	int i;

	memset(res, 0, sizeof(*res));
	*read_value = RM_UNKNOWN;
	if (flags & ~(GMEMU_ACCESS_WRITE | GMEMU_ACCESS_PRIVATE)) {
		res->r = -EINVAL;
		return;
	}
	if (row->launch_enforced && !vm->post_launch) {
		res->r = -EINVAL;
		return;
	}
	if (!slot_at(vm, gpa)) {
		for (i = 0; i < RM_MAX_SLOTS; i++)
			if (vm->slot[i].live &&
			    overlap(vm->slot[i].gpa, vm->slot[i].npages * PG, gpa, len)) {
				res->r = -EINVAL;
				return;
			}
		if (len > 8) {
			res->r = -EINVAL;
			return;
		}
		res->r = 1;
		res->exit.exit_reason = KVM_EXIT_MMIO;
		res->exit.mmio.phys_addr = gpa;
		res->exit.mmio.len = (uint32_t)len;
		res->exit.mmio.is_write = write;
		return;
	}
	for (p = gpa; p < end; p += PG) {
		if (!slot_at(vm, p)) {
			res->r = -EINVAL;
			return;
		}
	}
	for (p = gpa & ~(PG - 1); p < end; p += PG) {
		struct rm_slot *s = slot_at(vm, p);
		bool page_private = gpa_private(m, vi, s, p);

		if (page_private != private) {
			res->r = -EFAULT;
			res->exit.exit_reason = KVM_EXIT_MEMORY_FAULT;
			res->exit.memory_fault.flags =
				private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
			res->exit.memory_fault.gpa = (p > gpa ? p : gpa) & ~(PG - 1);
			res->exit.memory_fault.size = PG;
			return;
		}
	}
	for (p = gpa; p < end; p += PG) {
		struct rm_slot *s = slot_at(vm, p);
		uint16_t *bytes = s->gmem < 0 ? &vm->uaddr[s->id][(p - s->gpa) / PG]
					      : &slot_page(m, s, p)->value;

		if (write && len >= PG)
			*bytes = value;
		else if (write && *bytes != value)
			*bytes = RM_UNKNOWN; /* a few bytes of the page */
		else if (p == gpa)
			*read_value = *bytes;
	}
}

static void measure(struct rm_vm *vm, uint64_t gpa, uint16_t value)
{
	uint8_t page[PG], buf[32 + 8 + 32];
	int i;

	memset(page, value, sizeof(page));
	memcpy(buf, vm->measurement, 32);
	for (i = 0; i < 8; i++)
		buf[32 + i] = (uint8_t)(gpa >> (8 * i));
	SHA256(page, sizeof(page), buf + 40);
	SHA256(buf, sizeof(buf), vm->measurement);
}

long rm_populate(struct refmodel *m, int vi, uint64_t gpa, uint64_t len,
		 const uint8_t *src_value)
{
	struct rm_vm *vm = &m->vm[vi];
	const struct model_row *row = vm_row(m, vi);
	uint64_t p;

	if (!len || gpa % PG || len % PG || gpa + len < gpa)
		return -EINVAL;
	if (vm->post_launch)
		return -EINVAL;
	for (p = gpa; p < gpa + len; p += PG) {
		struct rm_slot *s = slot_at(vm, p);

		if (!s || s->gmem < 0)
			return -EINVAL;
	}
	for (p = gpa; p < gpa + len; p += PG) {
		struct rm_page *pg = slot_page(m, slot_at(vm, p), p);

		if (!gpa_private(m, vi, slot_at(vm, p), p))
			return -EINVAL;
		if (row->launch_enforced && pg->populated)
			return -EEXIST;
	}
	for (p = gpa; p < gpa + len; p += PG) {
		struct rm_page *pg = slot_page(m, slot_at(vm, p), p);

		pg->populated = true;
		if (src_value)
			pg->value = *src_value;
		if (pg->value == RM_UNKNOWN)
			vm->measurement_unknown = true;
		else
			measure(vm, p, pg->value);
	}
	return 0;
}

static void finalize(struct refmodel *m, int vi)
{
	struct rm_vm *vm = &m->vm[vi];
	const struct model_row *row = vm_row(m, vi);
	int i;
	uint32_t p;

	if (row->launch_enforced) {
		for (i = 0; i < RM_MAX_GMEMS; i++) {
			struct rm_gmem *g = &m->gmem[i];

			if (!g->live || g->vm != vi)
				continue;
			for (p = 0; p < g->npages; p++)
				if (g->page[p].private && !g->page[p].populated)
					apply(&g->page[p], row->unpopulated);
		}
	}
	vm->post_launch = true;
}

long rm_finalize(struct refmodel *m, int vi)
{
	if (m->vm[vi].post_launch)
		return -EINVAL;
	finalize(m, vi);
	return 0;
}

/* ---- the vendor launch commands (sev.c, tdx.c of the kernel) ---- */

#define SEV_RET_INVALID_GUEST_STATE 2

void rm_sev_init2(struct refmodel *m, int vi, uint32_t flags,
		  struct rm_result *res)
{
	struct rm_vm *vm = &m->vm[vi];

	memset(res, 0, sizeof(*res));
	if (vm->type != KVM_X86_SNP_VM) {
		res->r = -ENOTTY;
		return;
	}
	if (vm->sev_init) {
		res->r = -EPERM; /* an SNP guest takes no id < 100 */
		return;
	}
	res->eo_written = true; /* the struct comes back: error unchanged */
	res->error_offset = ~0ULL;
	if (vm->vcpu || flags) {
		res->r = -EINVAL;
		return;
	}
	vm->sev_init = true;
}

void rm_snp_launch_start(struct refmodel *m, int vi, uint64_t policy,
			 uint16_t flags, bool good_fd, struct rm_result *res)
{
	struct rm_vm *vm = &m->vm[vi];
	const uint64_t valid = 0xffffULL | (1ULL << 16) | (1ULL << 17) |
			       (1ULL << 19) | (1ULL << 20);

	memset(res, 0, sizeof(*res));
	if (vm->type != KVM_X86_SNP_VM) {
		res->r = -ENOTTY;
		return;
	}
	res->eo_written = true;
	res->error_offset = ~0ULL;
	if (!vm->sev_init)
		res->r = -ENOTTY;
	else if (vm->snp_started || flags || (policy & ~valid) ||
		 !(policy & (1ULL << 17)))
		res->r = -EINVAL;
	else if (m->profile == RM_6_12 &&
		 (!(policy & (1ULL << 16)) || (policy & (1ULL << 20))))
		res->r = -EINVAL;
	else if (!good_fd)
		res->r = -ENOTTY;
	else
		vm->snp_started = true;
}

static bool page_type_ok(uint8_t t)
{
	return t == KVM_SEV_SNP_PAGE_TYPE_NORMAL || t == KVM_SEV_SNP_PAGE_TYPE_ZERO ||
	       t == KVM_SEV_SNP_PAGE_TYPE_UNMEASURED ||
	       t == KVM_SEV_SNP_PAGE_TYPE_SECRETS || t == KVM_SEV_SNP_PAGE_TYPE_CPUID;
}

/* a NULL source means in place: the series, with in-place conversion */
static bool launch_in_place(struct refmodel *m)
{
	return m->profile == RM_CONTENTMODES || m->profile == RM_V8 ||
	       m->profile == RM_7_4_ON;
}

void rm_snp_launch_update(struct refmodel *m, int vi,
			  struct kvm_sev_snp_launch_update *u,
			  const uint8_t *src_value, bool good_fd,
			  struct rm_result *res)
{
	struct rm_vm *vm = &m->vm[vi];
	bool series = RM_SERIES(m->profile), zero;
	uint64_t npages, done = 0, p, gpa = u->gfn_start * PG;
	struct rm_slot *s;
	int r = 0, fw = 0;

	memset(res, 0, sizeof(*res));
	if (vm->type != KVM_X86_SNP_VM) {
		res->r = -ENOTTY;
		return;
	}
	res->eo_written = true;
	res->error_offset = ~0ULL; /* unchanged */
	if (!vm->sev_init || !vm->snp_started || (series && !u->len) ||
	    u->len % PG || u->flags || !page_type_ok(u->type)) {
		res->r = -EINVAL;
		return;
	}
	zero = u->type == KVM_SEV_SNP_PAGE_TYPE_ZERO;
	if (!zero && series &&
	    ((!u->uaddr && !launch_in_place(m)) || u->uaddr % PG)) {
		res->r = -EINVAL;
		return;
	}
	s = slot_at(vm, gpa);
	if (!s || s->gmem < 0) {
		res->r = -EINVAL;
		return;
	}
	npages = u->len / PG;
	if (npages > s->gpa / PG + s->npages - u->gfn_start)
		npages = s->gpa / PG + s->npages - u->gfn_start;
	if (!npages)
		goto progress;
	if ((!zero && !u->uaddr && !launch_in_place(m)) || !good_fd) {
		r = -EIO;
		goto progress;
	}
	for (p = gpa; p < gpa + npages * PG; p += PG, done++) {
		struct rm_page *pg = slot_page(m, s, p);

		if (!gpa_private(m, vi, s, p) || pg->populated) {
			r = -EIO;
			break;
		}
		if (vm->post_launch) {
			r = -EIO;
			fw = SEV_RET_INVALID_GUEST_STATE;
			break;
		}
		pg->populated = true;
		if (zero)
			pg->value = 0;
		else if (u->uaddr)
			pg->value = *src_value;
		if (u->type == KVM_SEV_SNP_PAGE_TYPE_UNMEASURED ||
		    u->type == KVM_SEV_SNP_PAGE_TYPE_SECRETS)
			continue;
		if (pg->value == RM_UNKNOWN)
			vm->measurement_unknown = true;
		else
			measure(vm, p, pg->value);
	}
progress:
	if (r && !done) {
		res->r = -EIO;
		res->error_offset = (uint64_t)fw;
		return;
	}
	u->gfn_start += done;
	u->len -= done * PG;
	if (!zero && (!series || u->uaddr))
		u->uaddr += done * PG;
}

void rm_snp_launch_finish(struct refmodel *m, int vi, uint16_t flags,
			  bool good_fd, struct rm_result *res)
{
	struct rm_vm *vm = &m->vm[vi];

	memset(res, 0, sizeof(*res));
	if (vm->type != KVM_X86_SNP_VM) {
		res->r = -ENOTTY;
		return;
	}
	res->eo_written = true;
	res->error_offset = ~0ULL;
	if (!vm->sev_init) {
		res->r = -ENOTTY;
	} else if (!vm->snp_started || flags) {
		res->r = -EINVAL;
	} else if (vm->vcpu && vm->sev_sealed) {
		res->r = -EINVAL; /* the vCPUs' state is sealed already */
	} else if (vm->vcpu && !good_fd) {
		res->r = -EBADF;
	} else if (vm->post_launch) {
		res->r = -EIO;
		res->error_offset = SEV_RET_INVALID_GUEST_STATE;
	} else {
		finalize(m, vi);
		vm->sev_sealed = true;
	}
}

long rm_tdx_init_vm(struct refmodel *m, int vi, uint32_t flags,
		    uint64_t attributes, uint64_t xfam, unsigned int gpaw)
{
	struct rm_vm *vm = &m->vm[vi];

	if (vm->type != KVM_X86_TDX_VM || m->profile == RM_6_12)
		return -ENOTTY;
	if (vm->td_init || flags)
		return -EINVAL;
	if (vm->vcpu)
		return -EBUSY;
	if ((attributes & ~(1ULL | 1ULL << 28)) || (xfam & ~7ULL) ||
	    (gpaw != 48 && gpaw != 52))
		return -EINVAL;
	vm->td_init = true;
	vm->td_debug = attributes & 1;
	vm->shared_bit = gpaw - 1; /* the top bit of the TD's GPA width */
	return 0;
}

long rm_tdx_finalize_vm(struct refmodel *m, int vi)
{
	struct rm_vm *vm = &m->vm[vi];

	if (vm->type != KVM_X86_TDX_VM || m->profile == RM_6_12)
		return -ENOTTY;
	if (!vm->td_init || vm->post_launch)
		return -EINVAL;
	finalize(m, vi);
	return 0;
}

void rm_inject_enomem(struct refmodel *m, int gi, unsigned int n)
{
	m->gmem[gi].inject_enomem = n;
}

/* ---- real vCPUs (§9.5) ---- */

static bool shared_alias(struct rm_vm *vm)
{
	return vm->type == KVM_X86_SNP_VM || vm->type == KVM_X86_TDX_VM;
}

long rm_set_shared_bit(struct refmodel *m, int vi, unsigned int bit)
{
	struct rm_vm *vm = &m->vm[vi];

	if (bit < 12 || bit > 51)
		return -EINVAL;
	if (vm->vcpu)
		return -EBUSY;
	vm->shared_bit = bit;
	return 0;
}

long rm_enable_cap_hypercall(struct refmodel *m, int vi, uint64_t flags,
			     uint64_t args0)
{
	if (flags || (args0 & ~(1ULL << 12 /* KVM_HC_MAP_GPA_RANGE */)))
		return -EINVAL;
	m->vm[vi].hc_exits = args0 != 0;
	return 0;
}

void rm_create_vcpu(struct refmodel *m, int vi)
{
	m->vm[vi].vcpu = true;
}

long rm_tdx_init_vcpu(struct refmodel *m, int vi, uint32_t flags)
{
	struct rm_vm *vm = &m->vm[vi];

	if (vm->type != KVM_X86_TDX_VM || m->profile == RM_6_12)
		return -ENOTTY;
	if (!vm->td_init || vm->post_launch || flags || vm->td_vcpu_init)
		return -EINVAL;
	vm->td_vcpu_init = true;
	return 0;
}

uint64_t rm_shared_mask(struct refmodel *m, int vi)
{
	return shared_alias(&m->vm[vi]) ? 1ULL << m->vm[vi].shared_bit : 0;
}

long rm_run_entry(struct refmodel *m, int vi)
{
	struct rm_vm *vm = &m->vm[vi];

	if (vm->type == KVM_X86_SNP_VM && vm->sev_init)
		/* no VMSA the hardware takes before LAUNCH_FINISH */
		return vm->sev_sealed ? 0 : RM_FAIL_ENTRY;
	if (vm->type == KVM_X86_TDX_VM && vm->td_init && !vm->td_vcpu_init)
		return -EINVAL;
	return vm_row(m, vi)->launch_enforced && !vm->post_launch ? -EINVAL : 0;
}

bool rm_regs_protected(struct refmodel *m, int vi)
{
	struct rm_vm *vm = &m->vm[vi];

	return vm->sev_sealed || (vm->td_init && !vm->td_debug);
}

static void run_fault(struct rm_run *out, uint64_t gpa, bool private)
{
	out->kind = RM_RUN_FAULT;
	out->gpa = gpa & ~(PG - 1);
	out->flags = private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
}

/*
 * The intent: on snp and tdx the shared bit of the GPA the guest uses,
 * elsewhere the page's own attribute (a guest cannot say otherwise).  A
 * page whose attribute differs from the intent (per-VM attributes: with
 * or without a memslot), or a private access with no guest_memfd behind
 * it, is a memory fault; a shared access with no memslot is MMIO.  Private
 * pages are in the gmem; shared ones in the gmem (in place) or at the
 * memslot's userspace_addr (per-VM attributes).
 */
void rm_run_access(struct refmodel *m, int vi, uint64_t gpa, uint64_t len,
		   bool write, uint8_t value, struct rm_run *out)
{
	struct rm_vm *vm = &m->vm[vi];
	uint64_t bit = rm_shared_mask(m, vi), g = gpa & ~bit;
	struct rm_slot *s = slot_at(vm, g);
	bool page_private = gpa_private(m, vi, s, g);
	/* a plain memslot of an in-place profile is shared memory for
	 * either intent */
	bool private = bit && !(s && s->gmem < 0 && !RM_PER_VM(m->profile)) ?
			       !(gpa & bit) : page_private;
	uint16_t *bytes;

	memset(out, 0, sizeof(*out));
	out->value = RM_UNKNOWN;
	if (page_private != private || (private && (!s || s->gmem < 0))) {
		run_fault(out, g, private);
		return;
	}
	if (!s) {
		/* the GPA without the shared bit, as KVM reports a TD's MMIO
		 * and as an SNP guest's shared GPA is */
		out->kind = RM_RUN_MMIO;
		out->gpa = g;
		return;
	}
	bytes = s->gmem < 0 || (!private && RM_PER_VM(m->profile)) ?
			&vm->uaddr[s->id][(g - s->gpa) / PG] :
			&slot_page(m, s, g)->value;
	out->kind = RM_RUN_DONE;
	if (!write)
		out->value = *bytes;
	else if (len >= PG)
		*bytes = value;
	else if (*bytes != value)
		*bytes = RM_UNKNOWN; /* a few bytes of the page */
}

int rm_hypercall(struct refmodel *m, int vi, uint64_t nr, uint64_t a0,
		 uint64_t a1, uint64_t a2, uint64_t *ret)
{
	(void)a2;
	*ret = (uint64_t)-1000; /* -KVM_ENOSYS */
	if (nr == 1) /* KVM_HC_VAPIC_POLL_IRQ */
		*ret = 0;
	if (nr != 12 || !m->vm[vi].hc_exits)
		return 0;
	if ((a0 & (PG - 1)) || !a1 || (a0 >> 12) + a1 <= (a0 >> 12)) {
		*ret = (uint64_t)-22; /* -KVM_EINVAL */
		return 0;
	}
	return 1;
}
