// SPDX-License-Identifier: MIT
/*
 * The SEV-SNP launch commands of KVM_MEMORY_ENCRYPT_OP, as the kernel's
 * arch/x86/kvm/svm/sev.c takes them (sev_mem_enc_ioctl, sev_guest_init2,
 * snp_launch_start, snp_launch_update, snp_launch_finish): the same
 * layouts, checks in the same order, the same errnos, and the firmware's
 * part played by gmemu's launch engine.  What the firmware would measure
 * goes into gmemu's own digest (launch.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../base/uaccess.h"
#include "vm_priv.h"

/* SNP guest policy (SNP_POLICY_MASK_* of sev.c) */
#define POLICY_SMT (1ULL << 16)
#define POLICY_RSVD_MBO (1ULL << 17)
#define POLICY_SINGLE_SOCKET (1ULL << 20)
#define POLICY_VALID (0xffffULL | POLICY_SMT | POLICY_RSVD_MBO | \
		      (1ULL << 19) | POLICY_SINGLE_SOCKET)
#define GHCB_VERSION_MAX 2
/* the VMSA features this host offers (SVM_SEV_FEAT_DEBUG_SWAP) */
#define VMSA_FEATURES (1ULL << 5)
/* firmware status written to kvm_sev_cmd.error (psp-sev.h) */
#define SEV_RET_INVALID_GUEST_STATE 0x0002

static int snp_init2(struct vm *vm, struct kvm_sev_cmd *cmd)
{
	struct kvm_sev_init data;

	/* !sev->need_init: INIT2 is done once (a second one is EPERM
	 * before it gets here) */
	if (vm->vendor.sev_init)
		return -EINVAL;
	if (copy_from_user(&data, (void *)(uintptr_t)cmd->data, sizeof(data)))
		return -EFAULT;
	/* __sev_guest_init; pad1/pad2 are not checked */
	if (launch_has_vcpus(vm))
		return -EINVAL;
	if (data.flags)
		return -EINVAL;
	if (data.vmsa_features & ~VMSA_FEATURES)
		return -EINVAL;
	if (data.ghcb_version > GHCB_VERSION_MAX)
		return -EINVAL;
	vm->vendor.sev_init = true;
	return 0;
}

static int snp_launch_start(struct vm *vm, struct kvm_sev_cmd *cmd,
			    sev_fd_check_t fd_ok)
{
	struct kvm_sev_snp_launch_start p;

	if (!vm->vendor.sev_init)
		return -ENOTTY;
	if (copy_from_user(&p, (void *)(uintptr_t)cmd->data, sizeof(p)))
		return -EFAULT;
	if (vm->vendor.snp_started)
		return -EINVAL; /* one guest context */
	if (p.flags)
		return -EINVAL;
	if (p.policy & ~POLICY_VALID)
		return -EINVAL;
	if (!(p.policy & POLICY_RSVD_MBO))
		return -EINVAL;
	if (abi_profile(vm->abi)->snp_policy_smt &&
	    (!(p.policy & POLICY_SMT) || (p.policy & POLICY_SINGLE_SOCKET)))
		return -EINVAL;
	/* the guest context is made through sev_fd: a descriptor that is
	 * not /dev/sev fails it, which the kernel reports as ENOTTY */
	if (!fd_ok((int)cmd->sev_fd))
		return -ENOTTY;
	vm->vendor.snp_started = true;
	vm->vendor.sev_fd = (int)cmd->sev_fd;
	return 0;
}

static bool page_type_valid(uint8_t type)
{
	switch (type) {
	case KVM_SEV_SNP_PAGE_TYPE_NORMAL:
	case KVM_SEV_SNP_PAGE_TYPE_ZERO:
	case KVM_SEV_SNP_PAGE_TYPE_UNMEASURED:
	case KVM_SEV_SNP_PAGE_TYPE_SECRETS:
	case KVM_SEV_SNP_PAGE_TYPE_CPUID:
		return true;
	default:
		return false;
	}
}

/*
 * What gmemu's digest covers of each page type: the bytes the guest gets
 * for NORMAL, ZERO and CPUID pages; nothing for UNMEASURED and SECRETS
 * (whose contents the firmware keeps out of the measurement).
 */
static unsigned int page_type_how(uint8_t type)
{
	switch (type) {
	case KVM_SEV_SNP_PAGE_TYPE_ZERO:
		return LAUNCH_ADD_ZERO | LAUNCH_ADD_MEASURE;
	case KVM_SEV_SNP_PAGE_TYPE_UNMEASURED:
	case KVM_SEV_SNP_PAGE_TYPE_SECRETS:
		return 0;
	default:
		return LAUNCH_ADD_MEASURE;
	}
}

static int snp_launch_update(struct vm *vm, struct kvm_sev_cmd *cmd,
			     sev_fd_check_t fd_ok)
{
	const struct abi_profile *prof = abi_profile(vm->abi);
	struct kvm_sev_snp_launch_update p;
	uint64_t npages, done = 0;
	const void *src;
	int r = 0;

	if (!vm->vendor.sev_init || !vm->vendor.snp_started)
		return -EINVAL;
	if (copy_from_user(&p, (void *)(uintptr_t)cmd->data, sizeof(p)))
		return -EFAULT;
	if ((prof->launch_series && !p.len) || !PAGE_ALIGNED(p.len) ||
	    p.flags || !page_type_valid(p.type))
		return -EINVAL;
	if (p.type == KVM_SEV_SNP_PAGE_TYPE_ZERO) {
		src = NULL;
	} else {
		/* the series: no uaddr means in place, where in-place
		 * conversion is on; the source must be page aligned */
		if (prof->launch_series &&
		    ((!p.uaddr && !abi_launch_in_place(vm->abi)) ||
		     !PAGE_ALIGNED(p.uaddr)))
			return -EINVAL;
		src = (const void *)(uintptr_t)p.uaddr;
	}
	npages = p.len >> PAGE_SHIFT;
	/* kvm_slot_can_be_private() of the memslot at gfn_start, then
	 * kvm_gmem_populate() within that memslot; a gfn whose GPA does
	 * not fit in 64 bits is in no memslot (never one its GPA wraps to) */
	if (p.gfn_start > (UINT64_MAX >> PAGE_SHIFT) ||
	    !launch_slot_pages(vm, p.gfn_start << PAGE_SHIFT))
		return -EINVAL;
	npages = MIN(npages, launch_slot_pages(vm, p.gfn_start << PAGE_SHIFT));
	if (!npages) {
		done = 0;
	} else if (!src && p.type != KVM_SEV_SNP_PAGE_TYPE_ZERO &&
		   !abi_launch_in_place(vm->abi)) {
		/* before the series a NULL source fails the first page */
		r = -EFAULT;
	} else if (!fd_ok((int)cmd->sev_fd)) {
		r = -EBADF; /* the firmware command goes through sev_fd */
	} else {
		/* after LAUNCH_FINISH KVM lets a page it has not seen through
		 * and the firmware refuses it */
		r = launch_add(vm, p.gfn_start << PAGE_SHIFT, src, npages,
			       page_type_how(p.type) |
				       (launch_finalized(vm) ? LAUNCH_ADD_REFUSE : 0),
			       &done);
	}
	if (r && !done) {
		/* whatever failed the first page; the firmware's status */
		cmd->error = r == -EACCES ? SEV_RET_INVALID_GUEST_STATE : 0;
		return -EIO;
	}
	p.gfn_start += done;
	p.len -= done << PAGE_SHIFT;
	if (p.type != KVM_SEV_SNP_PAGE_TYPE_ZERO && (!prof->launch_series || src))
		p.uaddr += done << PAGE_SHIFT;
	if (copy_to_user((void *)(uintptr_t)cmd->data, &p, sizeof(p)))
		return -EFAULT;
	return 0;
}

static int snp_launch_finish(struct vm *vm, struct kvm_sev_cmd *cmd,
			     sev_fd_check_t fd_ok)
{
	struct kvm_sev_snp_launch_finish p;
	uint8_t *scratch;
	int r;

	if (!vm->vendor.sev_init)
		return -ENOTTY;
	if (!vm->vendor.snp_started)
		return -EINVAL;
	if (copy_from_user(&p, (void *)(uintptr_t)cmd->data, sizeof(p)))
		return -EFAULT;
	if (p.flags)
		return -EINVAL;
	if (launch_has_vcpus(vm)) {
		/* each vCPU's VMSA: protected already (a second FINISH) */
		if (vm->vendor.sev_sealed)
			return -EINVAL;
		if (!fd_ok((int)cmd->sev_fd))
			return -EBADF;
	}
	if (p.id_block_en) {
		/* read, not verified: gmemu has no firmware keys */
		scratch = malloc(KVM_SEV_SNP_ID_AUTH_SIZE);
		if (!scratch)
			return -ENOMEM;
		r = copy_from_user(scratch, (void *)(uintptr_t)p.id_block_uaddr,
				   KVM_SEV_SNP_ID_BLOCK_SIZE);
		if (!r)
			r = copy_from_user(scratch,
					   (void *)(uintptr_t)p.id_auth_uaddr,
					   KVM_SEV_SNP_ID_AUTH_SIZE);
		free(scratch);
		if (r)
			return r;
	}
	/* the firmware's LAUNCH_FINISH, through LAUNCH_START's sev_fd */
	if (!fd_ok(vm->vendor.sev_fd))
		return -EBADF;
	if (launch_finalized(vm)) {
		cmd->error = SEV_RET_INVALID_GUEST_STATE;
		return -EIO;
	}
	r = launch_finalize(vm);
	if (r)
		return r;
	vm->vendor.sev_sealed = true;
	return 0;
}

long sev_vm_ioctl(struct vm *vm, void *user_arg, sev_fd_check_t fd_ok)
{
	struct kvm_sev_cmd cmd;
	long r;

	if (!abi_profile(vm->abi)->snp_launch)
		return -ENOTTY;
	if (!user_arg)
		return 0; /* as sev_mem_enc_ioctl() */
	if (copy_from_user(&cmd, user_arg, sizeof(cmd)))
		return -EFAULT;
	pthread_rwlock_wrlock(&vm->slots_lock);
	/* an SNP guest takes no SEV/SEV-ES command any more */
	if (vm->vendor.sev_init && cmd.id < KVM_SEV_SNP_LAUNCH_START) {
		r = -EPERM;
		goto out;
	}
	switch (cmd.id) {
	case KVM_SEV_INIT:
	case KVM_SEV_ES_INIT:
		r = -EINVAL; /* the legacy init is for KVM_X86_DEFAULT_VM */
		break;
	case KVM_SEV_INIT2:
		r = snp_init2(vm, &cmd);
		break;
	case KVM_SEV_LAUNCH_START:
	case KVM_SEV_LAUNCH_UPDATE_DATA:
	case KVM_SEV_LAUNCH_UPDATE_VMSA:
	case KVM_SEV_LAUNCH_SECRET:
	case KVM_SEV_LAUNCH_MEASURE:
	case KVM_SEV_LAUNCH_FINISH:
	case KVM_SEV_SEND_START:
	case KVM_SEV_SEND_UPDATE_DATA:
	case KVM_SEV_SEND_UPDATE_VMSA:
	case KVM_SEV_SEND_FINISH:
	case KVM_SEV_RECEIVE_START:
	case KVM_SEV_RECEIVE_UPDATE_DATA:
	case KVM_SEV_RECEIVE_UPDATE_VMSA:
	case KVM_SEV_RECEIVE_FINISH:
	case KVM_SEV_GUEST_STATUS:
	case KVM_SEV_DBG_DECRYPT:
	case KVM_SEV_DBG_ENCRYPT:
	case KVM_SEV_CERT_EXPORT:
	case KVM_SEV_GET_ATTESTATION_REPORT:
	case KVM_SEV_SEND_CANCEL:
		r = -ENOTTY; /* !sev_guest(): INIT2 not done */
		break;
	case KVM_SEV_SNP_LAUNCH_START:
		r = snp_launch_start(vm, &cmd, fd_ok);
		break;
	case KVM_SEV_SNP_LAUNCH_UPDATE:
		r = snp_launch_update(vm, &cmd, fd_ok);
		break;
	case KVM_SEV_SNP_LAUNCH_FINISH:
		r = snp_launch_finish(vm, &cmd, fd_ok);
		break;
	default:
		r = -EINVAL;
		goto out;
	}
	/* every command handled writes the struct back (its error) */
	if (copy_to_user(user_arg, &cmd, sizeof(cmd)))
		r = -EFAULT;
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

bool sev_vcpu_protected(struct vcpu *v)
{
	bool sealed;

	pthread_rwlock_rdlock(&v->vm->slots_lock);
	sealed = v->vm->vendor.sev_sealed;
	pthread_rwlock_unlock(&v->vm->slots_lock);
	return sealed;
}

int sev_vcpu_pre_run(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool init, sealed;
	struct kvm_run *run;

	pthread_rwlock_rdlock(&vm->slots_lock);
	init = vm->vendor.sev_init;
	sealed = vm->vendor.sev_sealed;
	pthread_rwlock_unlock(&vm->slots_lock);
	if (!init) {
		/* KVM: need_init (no INIT2) is EINVAL; gmemu's model-neutral
		 * launch runs vCPUs once gmemu_vm_finalize is done */
		return launch_finalized(vm) ? 0 : -EINVAL;
	}
	if (sealed)
		return 0;
	/* An SNP guest before LAUNCH_FINISH has no VMSA the hardware
	 * takes: VMRUN fails and KVM reports SVM_EXIT_ERR. */
	run = vm->backend->run_area(v->b);
	run->exit_reason = KVM_EXIT_FAIL_ENTRY;
	run->fail_entry.hardware_entry_failure_reason = ~0ULL;
	run->fail_entry.cpu = 0;
	return 1;
}
