// SPDX-License-Identifier: MIT
/*
 * The TDX launch commands of KVM_MEMORY_ENCRYPT_OP, as the kernel's
 * arch/x86/kvm/vmx/tdx.c takes them: on the VM fd KVM_TDX_CAPABILITIES,
 * KVM_TDX_INIT_VM and KVM_TDX_FINALIZE_VM; on a vCPU fd KVM_TDX_INIT_VCPU,
 * KVM_TDX_INIT_MEM_REGION and KVM_TDX_GET_CPUID.  The TDX module's part
 * (TDH.MEM.PAGE.ADD, TDH.MR.EXTEND, TDH.MR.FINALIZE) is gmemu's launch
 * engine; MRTD is gmemu's own digest (launch.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../base/uaccess.h"
#include "vm_priv.h"

/* TD attributes this "module" supports: DEBUG (registers stay readable)
 * and SEPT_VE_DISABLE */
#define TD_ATTR_DEBUG (1ULL << 0)
#define TD_ATTR_SEPT_VE_DISABLE (1ULL << 28)
#define TD_ATTRS (TD_ATTR_DEBUG | TD_ATTR_SEPT_VE_DISABLE)
/* XFAM: x87, SSE, AVX */
#define TD_XFAM 0x7ULL

/* The CPUID leaves KVM_TDX_CAPABILITIES reports as configurable. */
static const struct {
	uint32_t function, index;
} config_leaves[] = {
	{ 0x1, 0 }, { 0x7, 0 }, { 0xd, 0 }, { 0xd, 1 },
	{ 0x80000001, 0 }, { 0x80000008, 0 },
};

static int tdx_get_cmd(void *user_arg, struct kvm_tdx_cmd *cmd)
{
	if (copy_from_user(cmd, user_arg, sizeof(*cmd)))
		return -EFAULT;
	/* hw_error is output only */
	if (cmd->hw_error)
		return -EINVAL;
	return 0;
}

static int tdx_capabilities(struct kvm_tdx_cmd *cmd)
{
	struct kvm_tdx_capabilities *caps, *user =
		(struct kvm_tdx_capabilities *)(uintptr_t)cmd->data;
	size_t n = ARRAY_SIZE(config_leaves), i, size;
	uint32_t nent;
	int r;

	if (cmd->flags)
		return -EINVAL;
	/* the user's address, never dereferenced: it may be anything */
	if (copy_from_user(&nent, (void *)(uintptr_t)(cmd->data +
			   offsetof(struct kvm_tdx_capabilities, cpuid.nent)),
			   sizeof(nent)))
		return -EFAULT;
	if (nent < n)
		return -E2BIG;
	size = sizeof(*caps) + n * sizeof(struct kvm_cpuid_entry2);
	caps = calloc(1, size);
	if (!caps)
		return -ENOMEM;
	caps->supported_attrs = TD_ATTRS;
	caps->supported_xfam = TD_XFAM;
	caps->cpuid.nent = (uint32_t)n;
	for (i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *e = &caps->cpuid.entries[i];

		e->function = config_leaves[i].function;
		e->index = config_leaves[i].index;
		e->flags = config_leaves[i].index ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
		e->eax = e->ebx = e->ecx = e->edx = 0xffffffff;
	}
	r = copy_to_user(user, caps, size);
	free(caps);
	return r;
}

/* The guest physical address width CPUID 0x80000008 gives the TD. */
static unsigned int td_gpaw(const struct kvm_cpuid_entry2 *e, uint32_t nent)
{
	uint32_t i;

	for (i = 0; i < nent; i++) {
		if (e[i].function == 0x80000008 && !e[i].index) {
			unsigned int guest = (e[i].eax >> 16) & 0xff;

			return guest ? guest : e[i].eax & 0xff;
		}
	}
	return 0;
}

static int tdx_init_vm(struct vm *vm, struct kvm_tdx_cmd *cmd)
{
	struct kvm_tdx_init_vm *user = (struct kvm_tdx_init_vm *)(uintptr_t)cmd->data;
	struct kvm_tdx_init_vm *init;
	size_t i, size;
	unsigned int gpaw;
	uint32_t nent;
	int r;

	if (vm->vendor.td_init)
		return -EINVAL;
	if (cmd->flags)
		return -EINVAL;
	if (copy_from_user(&nent, (void *)(uintptr_t)(cmd->data +
			   offsetof(struct kvm_tdx_init_vm, cpuid.nent)),
			   sizeof(nent)))
		return -EFAULT;
	if (nent > TDX_MAX_CPUID)
		return -E2BIG;
	size = sizeof(*init) + nent * sizeof(struct kvm_cpuid_entry2);
	init = malloc(size);
	if (!init)
		return -ENOMEM;
	r = copy_from_user(init, user, size);
	if (r)
		goto out;
	r = -EINVAL;
	for (i = 0; i < ARRAY_SIZE(init->reserved); i++)
		if (init->reserved[i])
			goto out;
	if (init->cpuid.padding || init->cpuid.nent != nent)
		goto out;
	if (launch_has_vcpus(vm)) {
		r = -EBUSY;
		goto out;
	}
	if ((init->attributes & ~TD_ATTRS) || (init->xfam & ~TD_XFAM))
		goto out;
	/* the TD's GPA width: 48 or 52 bits, from CPUID 0x80000008 */
	gpaw = td_gpaw(init->cpuid.entries, nent);
	if (gpaw != 48 && gpaw != 52)
		goto out;
	vm->vendor.td_init = true;
	vm->vendor.td_attributes = init->attributes;
	vm->vendor.td_nent = nent;
	memcpy(vm->vendor.td_cpuid, init->cpuid.entries,
	       nent * sizeof(struct kvm_cpuid_entry2));
	/* the shared bit is the top bit of the GPA width */
	vm->shared_bit = gpaw - 1;
	r = 0;
out:
	free(init);
	return r;
}

static int tdx_finalize_vm(struct vm *vm)
{
	if (!vm->vendor.td_init || launch_finalized(vm))
		return -EINVAL;
	return launch_finalize(vm);
}

long tdx_vm_ioctl(struct vm *vm, void *user_arg)
{
	struct kvm_tdx_cmd cmd;
	long r;

	if (!abi_profile(vm->abi)->tdx_launch)
		return -ENOTTY;
	r = tdx_get_cmd(user_arg, &cmd);
	if (r)
		return r;
	/* KVM_TDX_CAPABILITIES takes no lock */
	if (cmd.id == KVM_TDX_CAPABILITIES)
		return tdx_capabilities(&cmd);
	pthread_rwlock_wrlock(&vm->slots_lock);
	switch (cmd.id) {
	case KVM_TDX_INIT_VM:
		r = tdx_init_vm(vm, &cmd);
		break;
	case KVM_TDX_FINALIZE_VM:
		r = tdx_finalize_vm(vm);
		break;
	default:
		r = -EINVAL;
		goto out;
	}
	/* the command comes back with its hw_error (0: no SEAMCALL
	 * failed) */
	if (copy_to_user(user_arg, &cmd, sizeof(cmd)))
		r = -EFAULT;
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

/* ---- the vCPU's commands ---- */

/*
 * The state the TDX module gives a vCPU at TDH.VP.INIT: 32-bit protected
 * mode, flat segments, RIP at the reset vector 0xfffffff0, RCX the value
 * KVM_TDX_INIT_VCPU passed.  Set through the backend: the VMM can no
 * longer read or write it.
 */
static int td_vcpu_reset(struct vcpu *v, uint64_t rcx)
{
	const struct vcpu_backend *b = v->vm->backend;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 0xb,
		.present = 1, .db = 1, .s = 1, .g = 1,
	}, data = code;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0xfffffff0, .rflags = 2, .rcx = rcx };
	long r;

	r = b->ioctl(v->b, KVM_GET_SREGS, &sregs);
	if (r)
		return (int)r;
	data.selector = 0x10;
	data.type = 0x3;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 = 0x31; /* PE | ET | NE */
	sregs.cr4 = 0x40; /* MCE */
	sregs.efer = 0;
	r = b->ioctl(v->b, KVM_SET_SREGS, &sregs);
	if (!r)
		r = b->ioctl(v->b, KVM_SET_REGS, &regs);
	return (int)r;
}

static int tdx_init_vcpu(struct vcpu *v, struct kvm_tdx_cmd *cmd)
{
	int r;

	if (cmd->flags)
		return -EINVAL;
	if (v->vendor.td_vcpu_init)
		return -EINVAL;
	r = td_vcpu_reset(v, cmd->data);
	if (r)
		return r < 0 ? -EIO : r;
	v->vendor.td_vcpu_init = true;
	return 0;
}

static int tdx_init_mem_region(struct vcpu *v, struct kvm_tdx_cmd *cmd)
{
	struct kvm_tdx_init_mem_region *user =
		(struct kvm_tdx_init_mem_region *)(uintptr_t)cmd->data;
	struct vm *vm = v->vm;
	bool series = abi_profile(vm->abi)->launch_series;
	struct kvm_tdx_init_mem_region reg;
	uint64_t shared = 1ULL << vm->shared_bit, limit = shared << 1, done;
	int r = 0;

	if (!v->vendor.td_vcpu_init)
		return -EINVAL;
	if (cmd->flags & ~KVM_TDX_MEASURE_MEMORY_REGION)
		return -EINVAL;
	if (copy_from_user(&reg, user, sizeof(reg)))
		return -EFAULT;
	if (!PAGE_ALIGNED(reg.source_addr) ||
	    (series && !reg.source_addr && !abi_launch_in_place(vm->abi)) ||
	    !PAGE_ALIGNED(reg.gpa) || !reg.nr_pages)
		return -EINVAL;
	if (reg.nr_pages > (UINT64_MAX >> PAGE_SHIFT) ||
	    reg.gpa + (reg.nr_pages << PAGE_SHIFT) - 1 < reg.gpa)
		return -EINVAL;
	/* the range must be private GPAs: below the shared bit */
	if ((reg.gpa & shared) || reg.gpa >= limit ||
	    ((reg.gpa + (reg.nr_pages << PAGE_SHIFT) - 1) & shared) ||
	    reg.gpa + (reg.nr_pages << PAGE_SHIFT) - 1 >= limit)
		return -EINVAL;
	while (reg.nr_pages) {
		const void *src = (const void *)(uintptr_t)reg.source_addr;

		if (!src && !series) {
			r = -EFAULT; /* GUP of address 0 */
			break;
		}
		r = launch_add(vm, reg.gpa, src, 1,
			       cmd->flags & KVM_TDX_MEASURE_MEMORY_REGION ?
				       LAUNCH_ADD_MEASURE : 0,
			       &done);
		if (r)
			break;
		if (src)
			reg.source_addr += PAGE_SIZE;
		reg.gpa += PAGE_SIZE;
		reg.nr_pages--;
	}
	/* the progress comes back, on error too */
	if (copy_to_user(user, &reg, sizeof(reg)))
		return -EFAULT;
	return r;
}

static int tdx_get_cpuid(struct vcpu *v, struct kvm_tdx_cmd *cmd)
{
	struct kvm_cpuid2 *user = (struct kvm_cpuid2 *)(uintptr_t)cmd->data;
	struct kvm_cpuid2 hdr;
	struct vm *vm = v->vm;

	if (copy_from_user(&hdr, user, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nent < vm->vendor.td_nent) {
		hdr.nent = vm->vendor.td_nent;
		return copy_to_user(user, &hdr, sizeof(hdr)) ?: -E2BIG;
	}
	hdr.nent = vm->vendor.td_nent;
	if (copy_to_user((void *)(uintptr_t)(cmd->data +
				 offsetof(struct kvm_cpuid2, entries)),
			 vm->vendor.td_cpuid,
			 hdr.nent * sizeof(struct kvm_cpuid_entry2)) ||
	    copy_to_user(user, &hdr, sizeof(hdr)))
		return -EFAULT;
	return 0;
}

long tdx_vcpu_ioctl(struct vcpu *v, void *user_arg)
{
	struct vm *vm = v->vm;
	struct kvm_tdx_cmd cmd;
	long r;

	if (!abi_profile(vm->abi)->tdx_launch)
		return -ENOTTY;
	r = tdx_get_cmd(user_arg, &cmd);
	if (r)
		return r;
	pthread_rwlock_wrlock(&vm->slots_lock);
	/* no HKID (no KVM_TDX_INIT_VM) or already RUNNABLE */
	if (!vm->vendor.td_init || launch_finalized(vm)) {
		r = -EINVAL;
		goto out;
	}
	switch (cmd.id) {
	case KVM_TDX_INIT_VCPU:
		r = tdx_init_vcpu(v, &cmd);
		break;
	case KVM_TDX_INIT_MEM_REGION:
		r = tdx_init_mem_region(v, &cmd);
		break;
	case KVM_TDX_GET_CPUID:
		r = tdx_get_cpuid(v, &cmd);
		break;
	default:
		r = -EINVAL;
	}
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

bool tdx_vcpu_protected(struct vcpu *v)
{
	bool prot;

	/* guest_state_protected = !(attributes & DEBUG), for a TD's vCPUs
	 * from their creation (KVM_TDX_INIT_VM comes first) */
	pthread_rwlock_rdlock(&v->vm->slots_lock);
	prot = v->vm->vendor.td_init &&
	       !(v->vm->vendor.td_attributes & TD_ATTR_DEBUG);
	pthread_rwlock_unlock(&v->vm->slots_lock);
	return prot;
}

int tdx_vcpu_pre_run(struct vcpu *v)
{
	bool td;

	pthread_rwlock_rdlock(&v->vm->slots_lock);
	td = v->vm->vendor.td_init;
	pthread_rwlock_unlock(&v->vm->slots_lock);
	/* KVM: a vCPU that needs initialization (no KVM_TDX_INIT_VCPU, TD
	 * not RUNNABLE) is EINVAL; the model-neutral launch needs only
	 * gmemu_vm_finalize */
	if (!launch_finalized(v->vm) || (td && !v->vendor.td_vcpu_init))
		return -EINVAL;
	return 0;
}
