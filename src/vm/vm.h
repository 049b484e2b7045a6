/* SPDX-License-Identifier: MIT */
/*
 * VMs, memslots, launch and vCPUs, as the uapi layer sees them.  The uapi
 * layer has resolved every descriptor an argument names (a memslot's
 * guest_memfd) and copied in the structs it decodes; what reaches here is
 * checked in the kernel's order and returns 0 (or a value) or -errno.
 */
#ifndef GMEMU_VM_H
#define GMEMU_VM_H

#include "../gmem/gmem.h"

struct vm;
struct vcpu;

HIDDEN int vm_create(struct abi abi, unsigned long type, struct vm **out);
HIDDEN void vm_get(struct vm *vm);
HIDDEN void vm_put(struct vm *vm);
/* -EIO in a process other than the creator (a forked child), as KVM's
 * VM and vCPU fds are there. */
HIDDEN int vm_usable(const struct vm *vm);

HIDDEN struct abi vm_abi(const struct vm *vm);
HIDDEN long vm_check_extension(struct vm *vm, long cap);
/* KVM_CHECK_EXTENSION on the system handle. */
HIDDEN long system_check_extension(struct abi abi, long cap);
HIDDEN long system_ioctl_passthrough(unsigned long req, void *arg);
HIDDEN long vcpu_mmap_size(void);

/* KVM_CREATE_GUEST_MEMFD (arguments copied in): *fd_out and a reference. */
HIDDEN int vm_create_gmem(struct vm *vm,
			  const struct kvm_create_guest_memfd *args,
			  int *fd_out, struct gmem **out);
/* KVM_SET_USER_MEMORY_REGION(2): g is the guest_memfd named by a
 * KVM_MEM_GUEST_MEMFD region (a reference the memslot keeps on success),
 * or NULL; gmem_err the errno for a guest_memfd that is not one. */
HIDDEN int vm_set_memory_region(struct vm *vm,
				const struct kvm_userspace_memory_region2 *r,
				bool v2, struct gmem *g, int gmem_err);
/* KVM_SET_MEMORY_ATTRIBUTES on the VM (per-VM attribute profiles). */
HIDDEN int vm_set_memory_attributes(struct vm *vm, const void *user_arg);
HIDDEN int vm_enable_cap(struct vm *vm, const void *user_arg);
HIDDEN int vm_set_shared_bit(struct vm *vm, unsigned int bit);

HIDDEN int vm_populate(struct vm *vm, uint64_t gpa, const void *src,
		       uint64_t len);
HIDDEN int vm_finalize(struct vm *vm);
HIDDEN int vm_measurement(struct vm *vm, uint8_t out[32]);
/* KVM_MEMORY_ENCRYPT_OP on a VM: the vendor launch commands of its model
 * (SEV-SNP, TDX; ENOTTY on the others).  fd_ok(fd): does fd name the
 * /dev/sev handle (the SEV commands' sev_fd)? */
HIDDEN long vm_memory_encrypt_op(struct vm *vm, void *user_arg,
				 bool (*fd_ok)(int fd));

/* The software vCPU: one guest access. */
HIDDEN int vm_guest_access(struct vm *vm, uint64_t gpa, void *buf,
			   size_t len, unsigned int flags,
			   struct gmemu_exit *exit);

/* ---- vCPUs ---- */
/* KVM_CREATE_VCPU; when no backend can run it, *why says what is
 * missing. */
/*
 * The program is about to unmap [addr, addr + len) of its memory (munmap,
 * a MAP_FIXED mapping over it, mremap): from begin to end no vCPU that
 * reaches a memslot's userspace_addr through gmemu (the emulated backend)
 * maps any of it, so the next access finds it gone (KVM's EFAULT) instead
 * of touching an unmapped page.  end, with what begin returned, after the
 * unmap, always.
 */
HIDDEN bool vm_host_unmap_begin(const void *addr, size_t len);
HIDDEN void vm_host_unmap_end(bool began);
HIDDEN int vcpu_create(struct vm *vm, unsigned long id, struct vcpu **out,
		       const char **why);
HIDDEN void vcpu_put(struct vcpu *v);
HIDDEN int vcpu_usable(const struct vcpu *v);
HIDDEN long vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg);
HIDDEN long vcpu_mmap(struct vcpu *v, void *addr, size_t len, int prot,
		      int flags, off_t offset);
/* The backend new VMs' vCPUs run on ("kvm", "emulated"; the per-VM
 * attribute profiles always use "emulated"), or NULL and *why when none is
 * available. */
HIDDEN const char *vcpu_backend_name(const char **why);
/* Why the backend of that name cannot run vCPUs here, or NULL. */
HIDDEN const char *vcpu_backend_why(const char *name);

/* VM requests of the x86 KVM API that gmemu accepts without a model of
 * their own (irqchip, TSS and identity-map addresses, MMU pages, TSC
 * frequency): the result, or -ENOTTY for a request it does not know. */
HIDDEN long vm_ioctl_arch(struct vm *vm, unsigned long req, void *arg);

#endif
