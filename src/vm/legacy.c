// SPDX-License-Identifier: MIT
/*
 * The legacy profile: mainline 6.8-6.18.  Attributes are per VM, per GPA
 * (KVM_SET_MEMORY_ATTRIBUTES on the VM fd); a guest_memfd memslot's private
 * pages live in the gmem and its shared pages at userspace_addr.  Nothing is
 * converted in place: this is the two-copy model shipping VMMs use.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "../internal.h"

#define GPA_PAGES (1ULL << (52 - PAGE_SHIFT))
#define LEGACY_RECORDS (1u << 21) /* 64 MiB of address space, on demand */

int legacy_init(struct vm *vm)
{
	void *recs;

	recs = mmap(NULL, (size_t)LEGACY_RECORDS * sizeof(struct gmem_rec),
		    PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (recs == MAP_FAILED)
		return -ENOMEM;
	vm->legacy_space.recs = recs;
	vm->legacy_space.pool = &vm->legacy_pool;
	vm->legacy_space.npages = GPA_PAGES;
	pool_init(&vm->legacy_pool, LEGACY_RECORDS);
	return rm_init(&vm->legacy_space, &vm->legacy_attrs, 0);
}

void legacy_release(struct vm *vm)
{
	if (vm->legacy_space.recs)
		munmap(vm->legacy_space.recs,
		       (size_t)LEGACY_RECORDS * sizeof(struct gmem_rec));
	vm->legacy_space.recs = NULL;
}

/* kvm_vm_ioctl_set_mem_attributes() */
int legacy_set_attributes(struct vm *vm, const void *arg)
{
	struct kvm_memory_attributes a;
	uint64_t supported = vm->model->private_mem ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	int r;

	if (!arg)
		return -EFAULT;
	memcpy(&a, arg, sizeof(a));
	if (a.flags || (a.attributes & ~supported))
		return -EINVAL;
	if (!a.size || a.address + a.size <= a.address)
		return -EINVAL;
	if (!PAGE_ALIGNED(a.address) || !PAGE_ALIGNED(a.size))
		return -EINVAL;
	if ((a.address + a.size) >> PAGE_SHIFT > GPA_PAGES)
		return -EINVAL;
	pthread_rwlock_wrlock(&vm->slots_lock);
	r = rm_assign(&vm->legacy_space, &vm->legacy_attrs,
		      a.address >> PAGE_SHIFT, (a.address + a.size) >> PAGE_SHIFT,
		      a.attributes);
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

bool vm_page_private(struct vm *vm, const struct memslot *s, uint64_t gpa)
{
	if (vm->profile == PROFILE_LEGACY)
		return rm_get(&vm->legacy_space, &vm->legacy_attrs,
			      gpa >> PAGE_SHIFT, NULL) != 0;
	/* per-gmem attributes; a plain memslot is always shared */
	if (!s || !s->g)
		return false;
	return rm_get_indexed(&s->g->space, &s->g->hdr->attrs,
			      &s->g->attr_index,
			      (s->gmem_offset + (gpa - s->gpa)) >> PAGE_SHIFT,
			      NULL) != 0;
}
