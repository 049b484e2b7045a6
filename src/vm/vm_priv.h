/* SPDX-License-Identifier: MIT */
/* The vm layer's own structures, shared by the files of src/vm. */
#ifndef GMEMU_VM_PRIV_H
#define GMEMU_VM_PRIV_H

#include <pthread.h>
#include <sys/types.h>

#include "../gmem/rangemap.h"
#include "../vcpu/backend.h"
#include "launch.h"
#include "vm.h"

struct memslot {
	uint32_t id;        /* as_id << 16 | slot */
	uint32_t flags;
	uint64_t gpa, size;
	uint64_t uaddr;
	uint64_t gmem_offset;
	struct gmem *g;     /* with a reference; NULL for plain memslots */
	/* backends that map regions, models with a shared alias: the private
	 * range's and the shared alias's host views */
	uint8_t *private_view, *shared_view;
	/* backends that resolve: the gmem pages registered as a guest
	 * mapping (memslot.c) */
	struct slot_guest *guest;
};

struct vm {
	_Atomic int refs;
	struct abi abi;
	const struct platform_model *model;
	uint64_t id;
	uint8_t key[64];   /* per-VM secret of the SNP-like cipher */
	pid_t pid;         /* the creating process */
	struct gmem_group *group;

	/* Memslots, the measurement and the per-VM attributes: written under
	 * the write lock, read by guest accesses under the read lock.  Taken
	 * before any gmem lock. */
	pthread_rwlock_t slots_lock;
	struct memslot *slots;
	size_t nr_slots, cap_slots;
	uint8_t measurement[32];
	struct rm_space attr_space; /* per-VM attributes (6.x profiles) */
	struct gmem_pool attr_pool;
	struct rangemap attrs;

	const struct vcpu_backend *backend; /* once the first vCPU exists */
	struct bvm *bvm;
	unsigned int shared_bit;   /* GPA bit of the shared alias */
	uint64_t hypercall_exits;  /* KVM_CAP_EXIT_HYPERCALL */
	bool irqchip;              /* KVM_CREATE_IRQCHIP, accepted */
	struct vm_vendor vendor;   /* launch.h */
	/* the process's VMs whose vCPUs resolve (vcpu.c), under its lock */
	struct vm *resolving_next;
	bool resolving_listed, unmap_locked;
};

struct vcpu {
	_Atomic int refs;
	struct vm *vm;      /* with a reference */
	struct bvcpu *b;
	pid_t pid;
	/* KVM's vcpu->mutex: one ioctl at a time, KVM_RUN included (the
	 * fields below are its) */
	pthread_mutex_t lock;
	/* the KVM backend's exits that gmemu presents differently */
	bool hypercall_pending; /* a doorbell shown as KVM_EXIT_HYPERCALL */
	uint8_t saved_exit[256];/* kvm_run's exit union it replaced */
	bool fault_pending;     /* a wrong-intent access shown as a memory
				 * fault, completed by the next KVM_RUN */
	bool fault_private;
	uint64_t fault_gpa;     /* without the shared bit */
	uint64_t mmio_addr;
	uint32_t mmio_len;
	uint8_t mmio_write;
	uint8_t mmio_data[8];
	struct vcpu_vendor vendor; /* launch.h */
};

#define PRIVATE_ATTR KVM_MEMORY_ATTRIBUTE_PRIVATE
#define VM_MAX_GMEMS 16 /* distinct gmems behind one access or populate */

/* memslot.c; slots_lock held as the comment of each says */
HIDDEN struct memslot *memslot_find(struct vm *vm, uint64_t gpa);
HIDDEN void memslots_release(struct vm *vm);
/* Backend regions for every memslot (the first vCPU); write lock. */
HIDDEN int memslots_mirror(struct vm *vm);
/* The gmems behind [gpa, gpa + len) (each once); -EINVAL when a page has
 * no memslot (or, with need_gmem, no guest_memfd memslot). */
HIDDEN int vm_range_gmems(struct vm *vm, uint64_t gpa, uint64_t len,
			  bool need_gmem, struct gmem **gs, int *n);

/* attributes.c: the page state wherever it lives (read lock and the
 * gmem's lock held) */
HIDDEN int vm_attributes_init(struct vm *vm);
HIDDEN void vm_attributes_release(struct vm *vm);
HIDDEN bool vm_page_private(struct vm *vm, const struct memslot *s,
			    uint64_t gpa);
/* Where the guest's bytes of the page at gpa live for this intent. */
HIDDEN uint8_t *vm_host_ptr(struct vm *vm, const struct memslot *s,
			    uint64_t gpa, bool private);
/* Is that memory gmemu's own (the trusted view), not the program's? */
HIDDEN bool vm_host_is_gmem(struct vm *vm, const struct memslot *s,
			    bool private);

/* vcpu.c: what backends that resolve through callbacks ask */
extern HIDDEN const struct guest_mem_ops vm_guest_mem_ops;
/* The backend (if any) forgets [gpa, gpa + len) on every vCPU. */
HIDDEN void vm_invalidate(struct vm *vm, uint64_t gpa, uint64_t len);
/* vm_put: out of the list of VMs whose vCPUs resolve (before the backend
 * goes). */
HIDDEN void vm_resolving_forget(struct vm *vm);

#endif
