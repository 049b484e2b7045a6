/* SPDX-License-Identifier: MIT */
/*
 * The launch of a confidential VM inside the vm layer: the engine every
 * launch path shares (launch.c: pages added to the initial image, the
 * launch measurement, finalize), the vendor commands on top of it (sev.c:
 * KVM_SEV_INIT2 and the SNP launch commands; tdx.c: the KVM_TDX_*
 * commands), and what the launch state means to vCPUs (KVM_RUN refused
 * before launch, protected register state) and to KVM_PRE_FAULT_MEMORY
 * (prefault.c).  The model-neutral gmemu_vm_populate/gmemu_vm_finalize and
 * the vendor commands are two ways into the same engine.
 */
#ifndef GMEMU_VM_LAUNCH_H
#define GMEMU_VM_LAUNCH_H

#include <linux/kvm.h>

#include "../base/common.h"

struct vm;
struct vcpu;

#define TDX_MAX_CPUID 256 /* KVM_MAX_CPUID_ENTRIES */

/* A VM's vendor launch state; written under the VM's slots lock. */
struct vm_vendor {
	/* SEV-SNP */
	bool sev_init;      /* KVM_SEV_INIT2 done: an SNP guest */
	bool snp_started;   /* SNP_LAUNCH_START done: the guest context */
	bool sev_sealed;    /* SNP_LAUNCH_FINISH done: vCPU state protected */
	int sev_fd;         /* the sev_fd LAUNCH_START used (FINISH's) */
	/* TDX */
	bool td_init;       /* KVM_TDX_INIT_VM done: a TD */
	uint64_t td_attributes;
	uint32_t td_nent;
	struct kvm_cpuid_entry2 td_cpuid[TDX_MAX_CPUID];
};

struct vcpu_vendor {
	bool td_vcpu_init;  /* KVM_TDX_INIT_VCPU done */
};

/* Does fd name /dev/sev?  (uapi answers: it resolves descriptors) */
typedef bool (*sev_fd_check_t)(int fd);

/* Returned by vcpu_launch_ioctl for a request that is not its own. */
#define LAUNCH_NOT_MINE 1

/* ---- the engine (launch.c), slots lock held for writing ---- */

enum launch_add_how {
	LAUNCH_ADD_MEASURE = 1 << 0, /* extend the launch measurement */
	LAUNCH_ADD_ZERO = 1 << 1,    /* the page's bytes become zeros */
	LAUNCH_ADD_REFUSE = 1 << 2,  /* a page that passes KVM's checks is
				      * refused by the platform (-EACCES) */
};
/*
 * Add npages pages from gpa to the initial image, in GPA order, one at a
 * time: each must be in a guest_memfd memslot (-EINVAL), private
 * (-EINVAL) and not added before (-EEXIST).  src: user memory the bytes
 * come from (-EFAULT), NULL for the bytes already there (in place).
 * Returns 0 with *done = npages, or the first failing page's errno with
 * *done the pages added before it.
 */
HIDDEN int launch_add(struct vm *vm, uint64_t gpa, const void *src,
		      uint64_t npages, unsigned int how, uint64_t *done);
/* End the launch phase (once: -EINVAL after). */
HIDDEN int launch_finalize(struct vm *vm);
HIDDEN bool launch_finalized(struct vm *vm);
/* How many guest_memfd memslot pages follow gpa in its memslot (0: gpa
 * has no guest_memfd memslot). */
HIDDEN uint64_t launch_slot_pages(struct vm *vm, uint64_t gpa);
/* Has a vCPU been created on the VM? */
HIDDEN bool launch_has_vcpus(struct vm *vm);

/* ---- the vendor commands ---- */
HIDDEN long sev_vm_ioctl(struct vm *vm, void *user_arg, sev_fd_check_t fd_ok);
HIDDEN long tdx_vm_ioctl(struct vm *vm, void *user_arg);
HIDDEN long tdx_vcpu_ioctl(struct vcpu *v, void *user_arg);
/* KVM_RUN's launch check: 0 runs, -errno refuses, 1 when the entry
 * failed (the exit is in the run area; KVM_RUN returns 0). */
HIDDEN int sev_vcpu_pre_run(struct vcpu *v);
HIDDEN int tdx_vcpu_pre_run(struct vcpu *v);
/* Is the vCPU's register state the hardware's (refused to the VMM)? */
HIDDEN bool sev_vcpu_protected(struct vcpu *v);
HIDDEN bool tdx_vcpu_protected(struct vcpu *v);

/* ---- what vcpu.c asks (launch.c) ---- */
/* The vCPU requests the launch state answers (KVM_MEMORY_ENCRYPT_OP,
 * KVM_PRE_FAULT_MEMORY, the registers of a protected vCPU): the result,
 * or LAUNCH_NOT_MINE for the backend's. */
HIDDEN long vcpu_launch_ioctl(struct vcpu *v, unsigned long req, void *arg);
/* May the vCPU run?  As sev_vcpu_pre_run. */
HIDDEN int vcpu_launch_pre_run(struct vcpu *v);

/* ---- KVM_PRE_FAULT_MEMORY (prefault.c) ---- */
HIDDEN long vcpu_pre_fault_memory(struct vcpu *v, void *user_arg);

#endif
