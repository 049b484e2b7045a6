// SPDX-License-Identifier: MIT
/*
 * Memslots: KVM_SET_USER_MEMORY_REGION(2), with the checks of Linux 6.18's
 * kvm_set_memory_region() and kvm_gmem_bind().  A guest_memfd memslot holds
 * a reference on its gmem.  Once a vCPU backend that maps regions exists,
 * every memslot is mirrored into it over gmemu's own memory, in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vm_priv.h"

#define MEM_SLOTS_NUM 32764 /* x86's KVM_USER_MEM_SLOTS = KVM_CAP_NR_MEMSLOTS */
#define ADDRESS_SPACE_NUM 2
#define ALIAS_SLOT 0x4000 /* backend slot id of a memslot's shared alias */

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

/* ---- the backend's view of a memslot ---- */

static int alias_views(struct memslot *s)
{
	long p;

	if (!s->private_view) {
		p = gmem_mmap(s->g, NULL, s->size, PROT_READ | PROT_WRITE,
			      MAP_SHARED, (off_t)s->gmem_offset, PRIVATE_ATTR);
		if (p < 0 && p > -4096)
			return (int)p;
		s->private_view = (uint8_t *)p;
	}
	if (!s->shared_view) {
		p = gmem_mmap(s->g, NULL, s->size, PROT_READ | PROT_WRITE,
			      MAP_SHARED, (off_t)s->gmem_offset, 0);
		if (p < 0 && p > -4096)
			return (int)p;
		s->shared_view = (uint8_t *)p;
	}
	return 0;
}

static void alias_views_drop(struct memslot *s)
{
	if (s->private_view)
		gmem_munmap(s->private_view, s->size);
	if (s->shared_view)
		gmem_munmap(s->shared_view, s->size);
	s->private_view = s->shared_view = NULL;
}

/* ---- backends that resolve guest memory through the VM ---- */

/* A guest_memfd memslot's pages, as such a backend uses them. */
struct slot_guest {
	struct vm *vm;
	uint64_t gpa, gmem_offset;
	struct gmem_guest_map *map;
};

/* A conversion or punch of the memslot's gmem pages (gmem lock held, not
 * the memslot lock): the backend drops them before it completes. */
static void slot_guest_changed(void *ctx, uint64_t offset, uint64_t len)
{
	struct slot_guest *sg = ctx;
	struct vm *vm = sg->vm;

	vm->backend->invalidate(vm->bvm, sg->gpa + (offset - sg->gmem_offset),
				len);
}

static int slot_guest_add(struct vm *vm, struct memslot *s)
{
	struct slot_guest *sg;
	int r;

	if (!s->g || s->guest)
		return 0;
	sg = calloc(1, sizeof(*sg));
	if (!sg)
		return -ENOMEM;
	sg->vm = vm;
	sg->gpa = s->gpa;
	sg->gmem_offset = s->gmem_offset;
	r = gmem_guest_map(s->g, s->gmem_offset, s->size, slot_guest_changed,
			   sg, &sg->map);
	if (r) {
		free(sg);
		return r;
	}
	s->guest = sg;
	return 0;
}

static void slot_guest_drop(struct memslot *s)
{
	if (!s->guest)
		return;
	gmem_guest_unmap(s->guest->map);
	free(s->guest);
	s->guest = NULL;
}

/* Map (or, del, unmap) a memslot in the backend.  Write lock held. */
static int mirror(struct vm *vm, struct memslot *s, bool del)
{
	const struct vcpu_backend *b = vm->backend;
	uint32_t flags = s->flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY);
	uint64_t size = del ? 0 : s->size, bit = 1ULL << vm->shared_bit;
	int r;

	if (!vm->bvm)
		return 0;
	b->invalidate(vm->bvm, s->gpa, s->size);
	if (b->resolves) {
		/* no regions: what changes later in the gmem (conversions,
		 * punches, here or in other processes) comes through the
		 * guest mapping; GPAs carry no shared bit here */
		if (!del)
			return slot_guest_add(vm, s);
		slot_guest_drop(s);
		return 0;
	}
	if (vm->model->shared_alias && s->g)
		b->invalidate(vm->bvm, s->gpa | bit, s->size);
	if (!s->g)
		return b->set_region(vm->bvm, s->id, flags, s->gpa, size,
				     (void *)(uintptr_t)s->uaddr);
	if (!vm->model->shared_alias)
		/* in place: the gmem's own bytes, whatever their attribute */
		return b->set_region(vm->bvm, s->id, flags, s->gpa, size,
				     gmem_data(s->g) + s->gmem_offset);
	if (del) {
		b->set_region(vm->bvm, s->id, 0, s->gpa, 0, NULL);
		b->set_region(vm->bvm, s->id | ALIAS_SLOT, 0, s->gpa | bit, 0,
			      NULL);
		alias_views_drop(s);
		return 0;
	}
	if ((s->id & 0xffff) >= ALIAS_SLOT)
		return -EINVAL;
	r = alias_views(s);
	if (!r)
		r = b->set_region(vm->bvm, s->id, flags, s->gpa, size,
				  s->private_view);
	if (!r)
		r = b->set_region(vm->bvm, s->id | ALIAS_SLOT, flags,
				  s->gpa | bit, size, s->shared_view);
	if (r)
		alias_views_drop(s);
	return r;
}

int memslots_mirror(struct vm *vm)
{
	size_t i;
	int r;

	for (i = 0; i < vm->nr_slots; i++) {
		r = mirror(vm, &vm->slots[i], false);
		if (r) {
			/* the backend VM goes: nothing may call into it */
			while (i--)
				slot_guest_drop(&vm->slots[i]);
			return r;
		}
	}
	return 0;
}

static void slot_delete(struct vm *vm, struct memslot *s)
{
	struct gmem *g = s->g;

	mirror(vm, s, true);
	*s = vm->slots[--vm->nr_slots];
	gmem_put(g);
}

void memslots_release(struct vm *vm)
{
	while (vm->nr_slots)
		slot_delete(vm, &vm->slots[0]);
	free(vm->slots);
	vm->slots = NULL;
}

/* kvm_gmem_bind(): a gmem of this VM, the range inside it, and no other
 * memslot binding any of it. */
static int gmem_bind_check(struct vm *vm,
			   const struct kvm_userspace_memory_region2 *r,
			   struct gmem *g)
{
	size_t i;

	if (gmem_vm_id(g) != vm->id)
		return -EINVAL;
	if (r->guest_memfd_offset + r->memory_size < r->guest_memfd_offset ||
	    r->guest_memfd_offset + r->memory_size > gmem_size(g))
		return -EINVAL;
	for (i = 0; i < vm->nr_slots; i++) {
		struct memslot *s = &vm->slots[i];

		/* 7.4's kvm_gmem_commit_memory_region(): EEXIST */
		if (s->g == g && ranges_overlap(s->gmem_offset, s->size,
						r->guest_memfd_offset,
						r->memory_size))
			return abi_profile(vm->abi)->gmem_rebind_eexist ? -EEXIST
									: -EINVAL;
	}
	return 0;
}

/* The checks that need no lock, in the kernel's order. */
static int region_check(const struct vm *vm,
			const struct kvm_userspace_memory_region2 *r, bool v2)
{
	uint32_t valid = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;
	uint32_t as_id = r->slot >> 16, id = r->slot & 0xffff;

	if (v2)
		valid |= KVM_MEM_GUEST_MEMFD;
	if (r->flags & ~valid)
		return -EINVAL;
	if (as_id >= ADDRESS_SPACE_NUM || id >= MEM_SLOTS_NUM)
		return -EINVAL;
	/* 6.12: guest_memfd memslots only where memory can be private */
	if ((r->flags & KVM_MEM_GUEST_MEMFD) &&
	    abi_profile(vm->abi)->gmem_private_vms_only && !vm->model->private_mem)
		return -EINVAL;
	if ((r->flags & KVM_MEM_GUEST_MEMFD) &&
	    (r->flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)))
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
	return 0;
}

/* Another memslot of the address space (other than self) meets the range. */
static bool gpa_taken(struct vm *vm, const struct memslot *self,
		      uint32_t as_id, uint64_t gpa, uint64_t size)
{
	size_t i;

	for (i = 0; i < vm->nr_slots; i++) {
		const struct memslot *s = &vm->slots[i];

		if (s != self && s->id >> 16 == as_id &&
		    ranges_overlap(s->gpa, s->size, gpa, size))
			return true;
	}
	return false;
}

static int slot_set_flags(struct vm *vm, struct memslot *s, uint32_t flags)
{
	uint32_t was = s->flags;
	int r;

	s->flags = flags;
	r = mirror(vm, s, false);
	if (r)
		s->flags = was;
	return r;
}

/* KVM_MR_MOVE: the same memory at another GPA; on failure it stays where
 * it was. */
static int slot_move(struct vm *vm, struct memslot *s,
		     const struct kvm_userspace_memory_region2 *r)
{
	uint64_t was_gpa = s->gpa;
	uint32_t was_flags = s->flags;
	int err;

	if (gpa_taken(vm, s, s->id >> 16, r->guest_phys_addr, s->size))
		return -EEXIST;
	mirror(vm, s, true);
	s->gpa = r->guest_phys_addr;
	s->flags = r->flags;
	err = mirror(vm, s, false);
	if (err) {
		mirror(vm, s, true);
		s->gpa = was_gpa;
		s->flags = was_flags;
		mirror(vm, s, false);
	}
	return err;
}

/* Takes the caller's reference on g (NULL when none): kept by a new
 * memslot, dropped on every other path. */
int vm_set_memory_region(struct vm *vm,
			 const struct kvm_userspace_memory_region2 *r, bool v2,
			 struct gmem *g, int gmem_err)
{
	uint32_t as_id = r->slot >> 16;
	struct memslot *old, *s;
	int err;

	err = region_check(vm, r, v2);
	if (err) {
		gmem_put(g);
		return err;
	}
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
		/* kvm_set_memory_region(), "modify an existing slot": a
		 * guest_memfd memslot is immutable; a plain one keeps its
		 * address, size and READONLY, and may move or change
		 * LOG_DIRTY_PAGES */
		if ((r->flags & KVM_MEM_GUEST_MEMFD) ||
		    r->userspace_addr != old->uaddr || r->memory_size != old->size ||
		    ((r->flags ^ old->flags) & (KVM_MEM_READONLY | KVM_MEM_GUEST_MEMFD))) {
			err = -EINVAL;
			goto out;
		}
		if (r->guest_phys_addr != old->gpa)
			err = slot_move(vm, old, r);
		else if (r->flags != old->flags)
			err = slot_set_flags(vm, old, r->flags);
		goto out;
	}
	if (gpa_taken(vm, NULL, as_id, r->guest_phys_addr, r->memory_size)) {
		err = -EEXIST;
		goto out;
	}
	if (r->flags & KVM_MEM_GUEST_MEMFD) {
		err = g ? gmem_bind_check(vm, r, g) : gmem_err;
		if (err)
			goto out;
	}
	if (vm->nr_slots == vm->cap_slots) {
		size_t cap = vm->cap_slots ? vm->cap_slots * 2 : 8;
		struct memslot *n = FAULT_INJECT("memslot_add") ? NULL :
				    realloc(vm->slots, cap * sizeof(*n));

		if (!n) {
			err = -ENOMEM;
			goto out;
		}
		vm->slots = n;
		vm->cap_slots = cap;
	}
	s = &vm->slots[vm->nr_slots++];
	memset(s, 0, sizeof(*s));
	s->id = r->slot;
	s->flags = r->flags;
	s->gpa = r->guest_phys_addr;
	s->size = r->memory_size;
	s->uaddr = r->userspace_addr;
	if (r->flags & KVM_MEM_GUEST_MEMFD) {
		s->gmem_offset = r->guest_memfd_offset;
		s->g = g;
	}
	err = mirror(vm, s, false);
	if (err) {
		s->g = NULL;
		vm->nr_slots--;
		goto out;
	}
	g = NULL; /* the memslot's now */
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	gmem_put(g); /* not kept: the caller's reference ends here */
	return err;
}

int vm_range_gmems(struct vm *vm, uint64_t gpa, uint64_t len, bool need_gmem,
		   struct gmem **gs, int *n)
{
	uint64_t p = gpa, end = gpa + len;
	int i;

	*n = 0;
	while (p < end) {
		struct memslot *s = memslot_find(vm, p);

		if (!s || (need_gmem && !s->g))
			return -EINVAL;
		if (s->g) {
			for (i = 0; i < *n && gs[i] != s->g; i++)
				;
			if (i == *n) {
				if (*n == VM_MAX_GMEMS)
					return -E2BIG;
				gs[(*n)++] = s->g;
			}
		}
		p = s->gpa + s->size;
	}
	return 0;
}
