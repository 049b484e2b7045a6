// SPDX-License-Identifier: MIT
/*
 * Memslots: KVM_SET_USER_MEMORY_REGION(2), with the checks of Linux 6.18's
 * kvm_set_memory_region() and kvm_gmem_bind().  A guest_memfd memslot holds a
 * reference on its gmem, as the kernel's holds the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

#define MEM_SLOTS_NUM 32767
#define ADDRESS_SPACE_NUM 2

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static struct memslot *slot_by_id(struct vm *vm, uint32_t id)
{
	size_t i;

	for (i = 0; i < vm->nr_slots; i++)
		if (vm->slots[i].id == id)
			return &vm->slots[i];
	return NULL;
}

struct memslot *memslot_find(struct vm *vm, uint64_t gpa)
{
	size_t i;

	for (i = 0; i < vm->nr_slots; i++) {
		struct memslot *s = &vm->slots[i];

		/* guest accesses see address space 0 */
		if (s->id >> 16 == 0 && gpa >= s->gpa && gpa - s->gpa < s->size)
			return s;
	}
	return NULL;
}

static void slot_delete(struct vm *vm, struct memslot *s)
{
	struct gmem *g = s->g;

	kvmhost_slot_changed(vm, s, true);
	*s = vm->slots[--vm->nr_slots];
	if (g)
		obj_put(&g->obj);
}

void memslots_release(struct vm *vm)
{
	while (vm->nr_slots)
		slot_delete(vm, &vm->slots[0]);
	free(vm->slots);
	vm->slots = NULL;
}

/* kvm_gmem_bind(): the fd must be a gmem of this VM, the range inside it,
 * and no other memslot may bind any of it. */
static int gmem_bind(struct vm *vm, const struct kvm_userspace_memory_region2 *r,
		     struct gmem **out)
{
	struct object *obj = obj_get_fd((int)r->guest_memfd);
	struct gmem *g;
	size_t i;

	if (!obj)
		return -EINVAL;
	if (obj->type != OBJ_GMEM)
		goto err;
	g = (struct gmem *)obj;
	if (g->hdr->vm_id != vm->id)
		goto err;
	if (!PAGE_ALIGNED(r->guest_memfd_offset) ||
	    r->guest_memfd_offset + r->memory_size < r->guest_memfd_offset ||
	    r->guest_memfd_offset + r->memory_size > g->size)
		goto err;
	for (i = 0; i < vm->nr_slots; i++) {
		struct memslot *s = &vm->slots[i];

		if (s->g == g && ranges_overlap(s->gmem_offset, s->size,
						r->guest_memfd_offset,
						r->memory_size))
			goto err;
	}
	*out = g;
	return 0;
err:
	obj_put(obj);
	return -EINVAL;
}

int memslot_set(struct vm *vm, const struct kvm_userspace_memory_region2 *r,
		bool v2)
{
	uint32_t valid = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;
	uint32_t as_id = r->slot >> 16, id = r->slot & 0xffff;
	struct memslot *old, *s;
	struct gmem *g = NULL;
	size_t i;
	int err;

	if (v2)
		valid |= KVM_MEM_GUEST_MEMFD;
	if (r->flags & ~valid)
		return -EINVAL;
	if ((r->flags & KVM_MEM_GUEST_MEMFD) &&
	    (r->flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)))
		return -EINVAL;
	if (as_id >= ADDRESS_SPACE_NUM || id >= MEM_SLOTS_NUM)
		return -EINVAL;
	if (!PAGE_ALIGNED(r->memory_size) || !PAGE_ALIGNED(r->guest_phys_addr) ||
	    !PAGE_ALIGNED(r->userspace_addr))
		return -EINVAL;
	if ((r->flags & KVM_MEM_GUEST_MEMFD) &&
	    !PAGE_ALIGNED(r->guest_memfd_offset))
		return -EINVAL;
	if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
	    r->userspace_addr + r->memory_size < r->userspace_addr)
		return -EINVAL;

	pthread_rwlock_wrlock(&vm->slots_lock);
	old = slot_by_id(vm, r->slot);
	if (!r->memory_size) {
		err = -EINVAL;
		if (old) {
			slot_delete(vm, old);
			err = 0;
		}
		goto out;
	}
	if (old) {
		/* Only LOG_DIRTY_PAGES may change on a live memslot, and a
		 * guest_memfd one may not change at all. */
		if (r->userspace_addr != old->uaddr || r->memory_size != old->size ||
		    r->guest_phys_addr != old->gpa ||
		    ((r->flags ^ old->flags) & ~KVM_MEM_LOG_DIRTY_PAGES) ||
		    (old->flags & KVM_MEM_GUEST_MEMFD)) {
			err = -EINVAL;
			goto out;
		}
		old->flags = r->flags;
		err = kvmhost_slot_changed(vm, old, false);
		goto out;
	}
	for (i = 0; i < vm->nr_slots; i++) {
		s = &vm->slots[i];
		if (s->id >> 16 == as_id &&
		    ranges_overlap(s->gpa, s->size, r->guest_phys_addr,
				   r->memory_size)) {
			err = -EEXIST;
			goto out;
		}
	}
	if (r->flags & KVM_MEM_GUEST_MEMFD) {
		err = gmem_bind(vm, r, &g);
		if (err)
			goto out;
	}
	if (vm->nr_slots == vm->cap_slots) {
		size_t cap = vm->cap_slots ? vm->cap_slots * 2 : 8;
		struct memslot *n = realloc(vm->slots, cap * sizeof(*n));

		if (!n) {
			err = -ENOMEM;
			goto out_put;
		}
		vm->slots = n;
		vm->cap_slots = cap;
	}
	s = &vm->slots[vm->nr_slots++];
	s->id = r->slot;
	s->flags = r->flags;
	s->gpa = r->guest_phys_addr;
	s->size = r->memory_size;
	s->uaddr = r->userspace_addr;
	s->gmem_offset = (r->flags & KVM_MEM_GUEST_MEMFD) ? r->guest_memfd_offset : 0;
	s->g = g;
	s->private_view = s->shared_view = NULL;
	err = kvmhost_slot_changed(vm, s, false);
	if (err) {
		vm->nr_slots--;
		goto out_put;
	}
	goto out;
out_put:
	if (g)
		obj_put(&g->obj);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return err;
}
