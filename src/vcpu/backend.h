/* SPDX-License-Identifier: MIT */
/*
 * vCPU backends behind one interface, reached only from the vm layer: real
 * KVM (kvm.c) where /dev/kvm works, an emulated x86-64 CPU (emu.c)
 * elsewhere.  A backend runs guest code over memory the vm layer names and
 * fills the kvm_run area with KVM's exits; what a backend must ask the VM
 * (what is at a guest-physical page) comes through callbacks -- the way up.
 */
#ifndef GMEMU_VCPU_BACKEND_H
#define GMEMU_VCPU_BACKEND_H

#include "../base/common.h"

struct bvm;
struct bvcpu;

/* What is at a guest-physical page, as the VM answers a backend. */
enum guest_mem_kind { GUEST_MEM_RAM, GUEST_MEM_MMIO, GUEST_MEM_FAULT };
struct guest_mem {
	enum guest_mem_kind kind;
	uint8_t *host;          /* RAM: the page's bytes, valid until the VM
				 * invalidates the page with the backend */
	bool writable;          /* RAM: false for a read-only memslot */
	uint64_t fault_flags;   /* FAULT: KVM_MEMORY_EXIT_FLAG_PRIVATE or 0 */
};

struct guest_mem_ops {
	/* gpa: page aligned, without the shared bit; private: the access's
	 * intent (for models with a shared bit; else the page's own state).
	 * Called on the backend's own thread; never waits for a lock whose
	 * holder may be waiting in invalidate() for that thread: -EAGAIN
	 * then, and the backend serves its requests and asks again. */
	int (*resolve)(void *vm_ctx, uint64_t gpa, bool private, bool write,
		       struct guest_mem *out);
	/* is the VM's code memory gone entirely (no memslots)? */
	bool (*no_memory)(void *vm_ctx);
};

struct vcpu_backend {
	const char *name;
	/* runs the per-VM attribute profiles' two backings (private GPAs in
	 * the gmem, shared ones at userspace_addr) */
	bool two_backing;
	/* reaches guest memory only through guest_mem_ops, page by page:
	 * no regions; told of every change through invalidate() */
	bool resolves;
	/* 0, or -errno with *why saying what is missing */
	int (*probe)(const char **why);
	size_t (*run_size)(void);
	int (*vm_create)(const struct guest_mem_ops *ops, void *vm_ctx,
			 unsigned int shared_bit, struct bvm **out);
	void (*vm_destroy)(struct bvm *vm);
	/* Map [gpa, gpa + size) onto host memory (size 0 deletes the slot);
	 * backends that resolve through the callbacks ignore it. */
	int (*set_region)(struct bvm *vm, uint32_t slot, uint32_t flags,
			  uint64_t gpa, uint64_t size, void *host);
	/* Forget what the backend cached of [gpa, gpa + len): done, on every
	 * vCPU, when it returns. */
	void (*invalidate)(struct bvm *vm, uint64_t gpa, uint64_t len);
	int (*enable_cap)(struct bvm *vm, const struct kvm_enable_cap *cap);
	int (*vcpu_create)(struct bvm *vm, unsigned long id,
			   struct bvcpu **out);
	void (*vcpu_destroy)(struct bvcpu *v);
	/* The kvm_run area the program maps (run_size() bytes). */
	struct kvm_run *(*run_area)(struct bvcpu *v);
	long (*run_mmap)(struct bvcpu *v, void *addr, size_t len, int prot,
			 int flags, off_t offset);
	/* KVM_RUN: 0 with the exit in the run area, or -errno (-EFAULT with
	 * KVM_EXIT_MEMORY_FAULT, -EINTR, ...) */
	int (*run)(struct bvcpu *v);
	/* Every other vCPU ioctl; arg is the caller's memory. */
	long (*ioctl)(struct bvcpu *v, unsigned long req, void *arg);
	/* System-level answers (KVM_GET_SUPPORTED_CPUID, MSR lists, ...) */
	long (*system_ioctl)(unsigned long req, void *arg);
};

extern HIDDEN const struct vcpu_backend vcpu_backend_kvm;
extern HIDDEN const struct vcpu_backend vcpu_backend_emu;

#endif
