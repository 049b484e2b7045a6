// SPDX-License-Identifier: MIT
/*
 * KVM_PRE_FAULT_MEMORY on a vCPU (Linux 6.10+): map [gpa, gpa + size) ahead
 * of the guest, as kvm_vcpu_pre_fault_memory() and x86's
 * kvm_arch_vcpu_pre_fault_memory() do it: page by page, the struct
 * reporting what is left, 0 once at least one page was mapped.  gmemu has
 * no page tables to fill: mapping a page means allocating its backing --
 * the gmem's page for guest_memfd memory (private pages, and shared ones
 * in the in-place profiles), faulting in userspace_addr otherwise.
 */
#include <errno.h>
#include <linux/falloc.h>

#include "../base/uaccess.h"
#include "vm_priv.h"

/* One page: 0 when mapped, else the fault's errno. */
static int prefault_page(struct vm *vm, uint64_t gpa)
{
	struct memslot *s;
	struct gmem *g = NULL;
	uint64_t off = 0;
	uint8_t byte;
	bool private;
	int r = 0;

	pthread_rwlock_rdlock(&vm->slots_lock);
	/* a GPA with the TDX shared bit is an alias KVM does not pre-fault */
	if (vm->model->shared_bit_in_gpa && (gpa & (1ULL << vm->shared_bit))) {
		r = -EINVAL;
		goto out;
	}
	s = memslot_find(vm, gpa);
	if (!s) {
		r = -ENOENT; /* no memslot: emulated MMIO, nothing to map */
		goto out;
	}
	if (s->g) {
		g = s->g;
		r = gmem_lock_many(&g, 1);
		if (r)
			goto out;
	}
	private = vm_page_private(vm, s, gpa);
	if (g)
		gmem_unlock_many(&g, 1);
	if (private && !s->g) {
		r = -EFAULT; /* private, with no guest_memfd behind it */
	} else if (vm_host_is_gmem(vm, s, private)) {
		g = s->g;
		gmem_get(g);
		off = s->gmem_offset + (gpa - s->gpa);
	} else {
		/* the VMM's memory: fault it in (a read, as KVM's) */
		r = copy_from_user(&byte, vm_host_ptr(vm, s, gpa, false), 1);
		g = NULL;
	}
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	if (!r && g) {
		/* allocating never changes a byte */
		r = gmem_fallocate(g, FALLOC_FL_KEEP_SIZE, (off_t)off,
				   (off_t)PAGE_SIZE);
		gmem_put(g);
	}
	return r;
}

static long pre_fault(struct vm *vm, struct kvm_pre_fault_memory *range)
{
	uint64_t full = range->size;
	long r = 0;

	if (range->flags)
		return -EINVAL;
	if (!PAGE_ALIGNED(range->gpa) || !PAGE_ALIGNED(range->size) ||
	    range->gpa + range->size <= range->gpa)
		return -EINVAL;
	/* pre_fault_allowed: at creation for ordinary VMs, once launch is
	 * done (SNP_LAUNCH_FINISH, TDX_FINALIZE_VM) for SNP and TDX */
	if (vm->model->launch_enforced && !launch_finalized(vm))
		return -EOPNOTSUPP;
	while (range->size) {
		r = prefault_page(vm, range->gpa);
		if (r)
			break;
		range->gpa += PAGE_SIZE;
		range->size -= PAGE_SIZE;
	}
	/* success once a page was mapped */
	return full == range->size ? r : 0;
}

long vcpu_pre_fault_memory(struct vcpu *v, void *user_arg)
{
	struct kvm_pre_fault_memory range;
	long r;

	if (copy_from_user(&range, user_arg, sizeof(range)))
		return -EFAULT;
	r = pre_fault(v->vm, &range);
	/* what is left goes back, whatever happened */
	if (copy_to_user(user_arg, &range, sizeof(range)))
		r = -EFAULT;
	return r;
}
