// SPDX-License-Identifier: MIT
/*
 * A guest page's state, wherever it lives.  In the in-place profiles it is
 * the gmem's attribute (a plain memslot is always shared); in the per-VM
 * attribute profiles (mainline 6.8-6.18) it is the VM's per-GPA attribute,
 * set by KVM_SET_MEMORY_ATTRIBUTES on the VM, and a guest_memfd memslot's
 * private pages live in the gmem while its shared pages live at
 * userspace_addr: nothing is converted in place -- the two-copy model
 * shipping VMMs use.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "../base/sys.h"
#include "../base/uaccess.h"
#include "vm_priv.h"

#define GPA_PAGES (1ULL << (52 - PAGE_SHIFT))
#define ATTR_RECORDS (1u << 21) /* 64 MiB of address space, on demand */

int vm_attributes_init(struct vm *vm)
{
	long recs;

	if (!abi_profile(vm->abi)->vm_attributes)
		return 0;
	recs = sys_mmap(NULL, (size_t)ATTR_RECORDS * sizeof(struct gmem_rec),
			PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (recs < 0 && recs > -4096)
		return -ENOMEM;
	vm->attr_space.recs = (struct gmem_rec *)recs;
	vm->attr_space.pool = &vm->attr_pool;
	vm->attr_space.npages = GPA_PAGES;
	pool_init(&vm->attr_pool, ATTR_RECORDS);
	return rm_init(&vm->attr_space, &vm->attrs, 0);
}

void vm_attributes_release(struct vm *vm)
{
	if (vm->attr_space.recs)
		sys_munmap(vm->attr_space.recs,
			   (size_t)ATTR_RECORDS * sizeof(struct gmem_rec));
	vm->attr_space.recs = NULL;
}

/* kvm_vm_ioctl_set_mem_attributes() */
int vm_set_memory_attributes(struct vm *vm, const void *user_arg)
{
	/* 7.4 with in-place conversion: the ioctl is there, no attribute
	 * is supported (private/shared is the gmem's) */
	bool per_vm = abi_profile(vm->abi)->vm_attributes;
	uint64_t supported = per_vm && vm->model->private_mem ? PRIVATE_ATTR : 0;
	struct kvm_memory_attributes a;
	int r;

	r = copy_from_user(&a, user_arg, sizeof(a));
	if (r)
		return r;
	if (a.flags || (a.attributes & ~supported))
		return -EINVAL;
	if (!a.size || a.address + a.size <= a.address)
		return -EINVAL;
	if (!PAGE_ALIGNED(a.address) || !PAGE_ALIGNED(a.size))
		return -EINVAL;
	if ((a.address + a.size) >> PAGE_SHIFT > GPA_PAGES)
		return -EINVAL;
	if (!per_vm)
		return 0; /* attributes 0 over attributes 0 */
	pthread_rwlock_wrlock(&vm->slots_lock);
	r = rm_assign(&vm->attr_space, &vm->attrs, a.address >> PAGE_SHIFT,
		      (a.address + a.size) >> PAGE_SHIFT, a.attributes);
	if (!r && vm->bvm)
		vm->backend->invalidate(vm->bvm, a.address, a.size);
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

bool vm_page_private(struct vm *vm, const struct memslot *s, uint64_t gpa)
{
	if (abi_profile(vm->abi)->vm_attributes)
		return rm_get(&vm->attr_space, &vm->attrs, gpa >> PAGE_SHIFT,
			      NULL) != 0;
	if (!s || !s->g)
		return false;
	return gmem_page_private(s->g, s->gmem_offset + (gpa - s->gpa));
}

bool vm_host_is_gmem(struct vm *vm, const struct memslot *s, bool private)
{
	return s->g && (private || !abi_profile(vm->abi)->vm_attributes);
}

uint8_t *vm_host_ptr(struct vm *vm, const struct memslot *s, uint64_t gpa,
		     bool private)
{
	if (vm_host_is_gmem(vm, s, private))
		return gmem_data(s->g) + s->gmem_offset + (gpa - s->gpa);
	return (uint8_t *)(uintptr_t)(s->uaddr + (gpa - s->gpa));
}
