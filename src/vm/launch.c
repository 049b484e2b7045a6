// SPDX-License-Identifier: MIT
/*
 * Launch: populate the initial image into private memory, extend the launch
 * measurement, finalize -- the engine of gmemu_vm_populate/finalize and of
 * the vendor commands (sev.c, tdx.c) -- and what the launch state means to
 * a vCPU.  The measurement is
 *   m = SHA-256(m || le64(gpa) || SHA-256(page)), m0 = 32 zero bytes,
 * computed with OpenSSL's libcrypto: gmemu's own digest, not a platform's.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "../base/uaccess.h"
#include "vm_priv.h"

/* Every page of [gpa, gpa + len) private, and (models that enforce the
 * launch) never populated before. */
static int populate_check(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t p;

	for (p = gpa; p < gpa + len; p += PAGE_SIZE) {
		struct memslot *s = memslot_find(vm, p);

		if (!vm_page_private(vm, s, p))
			return -EINVAL;
		if (vm->model->launch_enforced &&
		    gmem_page_populated(s->g, s->gmem_offset + (p - s->gpa)))
			return -EEXIST;
	}
	return 0;
}

/*
 * What recording [gpa, gpa + len) as populated needs, memslot by memslot,
 * taken from every gmem behind it before anything changes (-ENOMEM); then
 * populate_mark cannot fail.
 */
static int populate_reserve(struct vm *vm, uint64_t gpa, uint64_t len,
			    struct gmem **gs, int n, struct rm_reserve *res)
{
	uint64_t p, end = gpa + len;
	unsigned int marks;
	int i, r = 0;

	for (i = 0; i < n && !r; i++) {
		for (p = gpa, marks = 0; p < end;) {
			struct memslot *s = memslot_find(vm, p);

			marks += s->g == gs[i];
			p = s->gpa + s->size;
		}
		r = gmem_populate_reserve(gs[i], marks, res);
	}
	return r;
}

/* Record the pages as populated, memslot by memslot. */
static void populate_mark(struct vm *vm, uint64_t gpa, uint64_t len,
			  struct rm_reserve *res)
{
	uint64_t p = gpa, end = gpa + len;

	while (p < end) {
		struct memslot *s = memslot_find(vm, p);
		uint64_t stop = MIN(end, s->gpa + s->size);

		gmem_mark_populated_reserved(s->g, s->gmem_offset + (p - s->gpa),
					     stop - p, res);
		p = stop;
	}
}

/* m = SHA-256(m || le64(gpa) || SHA-256(page)) */
static void measure_page(struct vm *vm, uint64_t gpa, const uint8_t *page)
{
	uint8_t buf[SHA256_DIGEST_LENGTH + 8 + SHA256_DIGEST_LENGTH];
	int i;

	memcpy(buf, vm->measurement, SHA256_DIGEST_LENGTH);
	for (i = 0; i < 8; i++)
		buf[SHA256_DIGEST_LENGTH + i] = (uint8_t)(gpa >> (8 * i));
	SHA256(page, PAGE_SIZE, buf + SHA256_DIGEST_LENGTH + 8);
	SHA256(buf, sizeof(buf), vm->measurement);
}

static void measure(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t p;

	for (p = gpa; p < gpa + len; p += PAGE_SIZE)
		measure_page(vm, p,
			     vm_host_ptr(vm, memslot_find(vm, p), p, true));
}

int vm_populate(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	struct gmem *gs[VM_MAX_GMEMS];
	struct rm_reserve res = { 0 };
	uint8_t *scratch = NULL;
	bool copied = false;
	uint64_t p;
	int n = 0, r;

	if (!len || !PAGE_ALIGNED(gpa) || !PAGE_ALIGNED(len) || gpa + len < gpa)
		return -EINVAL;
	if (src) {
		/* the source is read whole before anything changes */
		scratch = malloc(PAGE_SIZE);
		if (!scratch)
			return -ENOMEM;
		for (p = 0, r = 0; p < len && !r; p += PAGE_SIZE)
			r = copy_from_user(scratch, (const uint8_t *)src + p,
					   PAGE_SIZE);
		free(scratch);
		if (r)
			return r;
	}
	pthread_rwlock_wrlock(&vm->slots_lock);
	r = -EINVAL;
	if (gmem_group_phase(vm->group) != PHASE_PRE_LAUNCH)
		goto out;
	r = vm_range_gmems(vm, gpa, len, true, gs, &n);
	if (!r)
		r = gmem_lock_many(gs, n);
	if (r) {
		n = 0;
		goto out;
	}
	/* everything that can refuse, before anything changes */
	r = populate_check(vm, gpa, len);
	if (!r)
		r = populate_reserve(vm, gpa, len, gs, n, &res);
	/* the bytes: only a source unmapped since it was read fails here,
	 * with the pages copied before it changed and nothing else */
	for (p = 0; src && p < len && !r; p += PAGE_SIZE) {
		struct memslot *s = memslot_find(vm, gpa + p);

		r = copy_from_user(vm_host_ptr(vm, s, gpa + p, true),
				   (const uint8_t *)src + p, PAGE_SIZE);
		copied = true;
	}
	if (!r) {
		populate_mark(vm, gpa, len, &res);
		measure(vm, gpa, len);
	}
	if (!r || copied)
		vm_invalidate(vm, gpa, len); /* new bytes, maybe code */
	gmem_unlock_many(gs, n);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	rm_reserve_free(&res);
	return r;
}

int vm_finalize(struct vm *vm)
{
	int r;

	pthread_rwlock_wrlock(&vm->slots_lock);
	r = launch_finalize(vm);
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

int vm_measurement(struct vm *vm, uint8_t out[32])
{
	uint8_t m[32];

	pthread_rwlock_rdlock(&vm->slots_lock);
	memcpy(m, vm->measurement, sizeof(m));
	pthread_rwlock_unlock(&vm->slots_lock);
	return copy_to_user(out, m, sizeof(m));
}

/* ---- the engine the vendor commands share ---- */

int launch_finalize(struct vm *vm)
{
	int r = gmem_group_finalize(vm->group);

	if (!r) /* the launch rules may have changed private bytes */
		vm_invalidate(vm, 0, ~0ULL);
	return r;
}

bool launch_finalized(struct vm *vm)
{
	return gmem_group_phase(vm->group) == PHASE_POST_LAUNCH;
}

bool launch_has_vcpus(struct vm *vm)
{
	return vm->bvm != NULL; /* made with the first vCPU, never undone */
}

uint64_t launch_slot_pages(struct vm *vm, uint64_t gpa)
{
	struct memslot *s = memslot_find(vm, gpa);

	if (!s || !s->g)
		return 0;
	return (s->gpa + s->size - PAGE_DOWN(gpa)) >> PAGE_SHIFT;
}

/* One page into the image; the gmem's lock held. */
static int add_page(struct vm *vm, struct memslot *s, uint64_t gpa,
		    const uint8_t *bytes, unsigned int how)
{
	uint64_t off = s->gmem_offset + (gpa - s->gpa);
	uint8_t *page;
	int r;

	if (!vm_page_private(vm, s, gpa))
		return -EINVAL;
	if (gmem_page_populated(s->g, off))
		return -EEXIST; /* the platform adds a page once */
	if (how & LAUNCH_ADD_REFUSE)
		return -EACCES;
	r = gmem_mark_populated(s->g, off, PAGE_SIZE);
	if (r)
		return r;
	page = vm_host_ptr(vm, s, gpa, true);
	if (how & LAUNCH_ADD_ZERO)
		memset(page, 0, PAGE_SIZE);
	else if (bytes)
		memcpy(page, bytes, PAGE_SIZE);
	if (how & LAUNCH_ADD_MEASURE)
		measure_page(vm, gpa, page);
	return 0;
}

int launch_add(struct vm *vm, uint64_t gpa, const void *src, uint64_t npages,
	       unsigned int how, uint64_t *done)
{
	uint8_t *scratch = NULL;
	uint64_t i;
	int r = 0;

	*done = 0;
	if (src && !(how & LAUNCH_ADD_ZERO)) {
		scratch = malloc(PAGE_SIZE);
		if (!scratch)
			return -ENOMEM;
	}
	for (i = 0; i < npages && !r; i++) {
		uint64_t p = gpa + i * PAGE_SIZE;
		struct memslot *s = memslot_find(vm, p);
		struct gmem *g;

		if (!s || !s->g) {
			r = -EINVAL;
			break;
		}
		/* the source is read whole before the page changes */
		if (scratch) {
			r = copy_from_user(scratch, (const uint8_t *)src +
						    i * PAGE_SIZE, PAGE_SIZE);
			if (r)
				break;
		}
		g = s->g;
		r = gmem_lock_many(&g, 1);
		if (r)
			break;
		r = add_page(vm, s, p, scratch, how);
		gmem_unlock_many(&g, 1);
		if (!r)
			(*done)++;
	}
	free(scratch);
	return r;
}

/* ---- the vendor commands and the vCPU ---- */

long vm_memory_encrypt_op(struct vm *vm, void *user_arg, bool (*fd_ok)(int fd))
{
	switch (vm->model->launch_iface) {
	case LAUNCH_IFACE_SNP:
		return sev_vm_ioctl(vm, user_arg, fd_ok);
	case LAUNCH_IFACE_TDX:
		return tdx_vm_ioctl(vm, user_arg);
	default:
		/* no vendor launch on this model (as on a VM that is not a
		 * TD, or a host without SEV) */
		return -ENOTTY;
	}
}

static bool vcpu_protected(struct vcpu *v)
{
	switch (v->vm->model->launch_iface) {
	case LAUNCH_IFACE_SNP:
		return sev_vcpu_protected(v);
	case LAUNCH_IFACE_TDX:
		return tdx_vcpu_protected(v);
	default:
		return false;
	}
}

long vcpu_launch_ioctl(struct vcpu *v, unsigned long req, void *arg)
{
	switch (req) {
	case KVM_MEMORY_ENCRYPT_OP:
		if (v->vm->model->launch_iface == LAUNCH_IFACE_TDX)
			return tdx_vcpu_ioctl(v, arg);
		return -ENOTTY; /* x86: no vCPU command of this vendor */
	case KVM_PRE_FAULT_MEMORY:
		return vcpu_pre_fault_memory(v, arg);
	case KVM_GET_REGS:
	case KVM_SET_REGS:
	case KVM_GET_SREGS:
	case KVM_SET_SREGS:
	case KVM_GET_SREGS2:
	case KVM_SET_SREGS2:
	case KVM_GET_FPU:
	case KVM_SET_FPU:
	case KVM_GET_XSAVE:
	case KVM_SET_XSAVE:
	case KVM_GET_XSAVE2:
	case KVM_GET_XCRS:
	case KVM_SET_XCRS:
	case KVM_SET_GUEST_DEBUG:
		/* the hardware holds the state (has_protected_state &&
		 * guest_state_protected): EINVAL, as KVM */
		return vcpu_protected(v) ? -EINVAL : LAUNCH_NOT_MINE;
	default:
		return LAUNCH_NOT_MINE;
	}
}

int vcpu_launch_pre_run(struct vcpu *v)
{
	switch (v->vm->model->launch_iface) {
	case LAUNCH_IFACE_SNP:
		return sev_vcpu_pre_run(v);
	case LAUNCH_IFACE_TDX:
		return tdx_vcpu_pre_run(v);
	default:
		/* models that enforce launch run no vCPU before finalize */
		if (v->vm->model->launch_enforced && !launch_finalized(v->vm))
			return -EINVAL;
		return 0;
	}
}
