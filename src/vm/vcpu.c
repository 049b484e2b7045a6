// SPDX-License-Identifier: MIT
/*
 * The software vCPU: one guest memory access with KVM's exits.  The VM's
 * memslots are read-locked and every gmem behind the access is locked for
 * the whole access, so it sees each page entirely before or entirely after
 * a conversion, and a mismatch is found before any byte moves.
 */
#include <errno.h>
#include <string.h>

#include "../internal.h"

#define MMIO_MAX 8

static void exit_memory_fault(struct gmemu_exit *exit, uint64_t gpa,
			      bool private)
{
	memset(exit, 0, sizeof(*exit));
	exit->exit_reason = KVM_EXIT_MEMORY_FAULT;
	exit->memory_fault.flags = private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
	exit->memory_fault.gpa = gpa & ~(uint64_t)(PAGE_SIZE - 1);
	exit->memory_fault.size = PAGE_SIZE;
}

static int exit_mmio(struct gmemu_exit *exit, uint64_t gpa, void *buf,
		     size_t len, bool write)
{
	if (len > MMIO_MAX)
		return -EINVAL;
	memset(exit, 0, sizeof(*exit));
	exit->exit_reason = KVM_EXIT_MMIO;
	exit->mmio.phys_addr = gpa;
	exit->mmio.len = (uint32_t)len;
	exit->mmio.is_write = write;
	if (write)
		memcpy(exit->mmio.data, buf, len);
	return 1;
}

/* Does any page of [gpa, end) lie in a memslot? */
static bool any_slot(struct vm *vm, uint64_t gpa, uint64_t end)
{
	size_t i;

	for (i = 0; i < vm->nr_slots; i++) {
		struct memslot *s = &vm->slots[i];

		if (s->id >> 16 == 0 && s->gpa < end && gpa < s->gpa + s->size)
			return true;
	}
	return false;
}

/*
 * In the legacy profile a page's state can also be "private, but no
 * guest_memfd backs it": KVM exits for either intent.
 */
static bool intent_matches(struct vm *vm, struct memslot *s, uint64_t gpa,
			   bool private)
{
	bool page_private = vm_page_private(vm, s, gpa);

	if (page_private != private)
		return false;
	return !page_private || s->g;
}

int vcpu_access(struct vm *vm, uint64_t gpa, void *buf, size_t len,
		unsigned int flags, struct gmemu_exit *exit)
{
	bool write = flags & GMEMU_ACCESS_WRITE;
	bool private = flags & GMEMU_ACCESS_PRIVATE;
	struct gmem *gs[VM_MAX_GMEMS];
	uint64_t p, end = gpa + len;
	size_t done;
	int n = 0, r;

	if (flags & ~(GMEMU_ACCESS_WRITE | GMEMU_ACCESS_PRIVATE))
		return -EINVAL;
	if (!exit || (len && !buf))
		return -EFAULT;
	if (!len)
		return 0;
	if (end < gpa)
		return -EINVAL;

	pthread_rwlock_rdlock(&vm->slots_lock);
	if (!memslot_find(vm, gpa)) {
		/* MMIO: the whole access must be outside memory */
		r = any_slot(vm, gpa, end) ? -EINVAL
					   : exit_mmio(exit, gpa, buf, len, write);
		goto out;
	}
	r = vm_lock_range(vm, gpa, len, false, gs, &n);
	if (r)
		goto out;
	for (p = gpa & ~(uint64_t)(PAGE_SIZE - 1); p < end; p += PAGE_SIZE) {
		if (!intent_matches(vm, memslot_find(vm, p), p, private)) {
			exit_memory_fault(exit, MAX(p, gpa), private);
			r = -EFAULT;
			goto out_unlock;
		}
	}
	for (done = 0; done < len;) {
		uint64_t at = gpa + done;
		struct memslot *s = memslot_find(vm, at);
		size_t chunk = MIN(len - done, s->gpa + s->size - at);
		uint8_t *host = vm_host_ptr(vm, s, at, private);
		bool in_gmem = s->g && (private || vm->profile != PROFILE_LEGACY);

		if (in_gmem) {
			if (write)
				memcpy(host, (uint8_t *)buf + done, chunk);
			else
				memcpy((uint8_t *)buf + done, host, chunk);
		} else {
			/* userspace_addr is the VMM's memory: it may be bad */
			r = write ? uaccess_write(host, (uint8_t *)buf + done, chunk)
				  : uaccess_read((uint8_t *)buf + done, host, chunk);
			if (r) {
				memset(exit, 0, sizeof(*exit));
				goto out_unlock;
			}
		}
		done += chunk;
	}
	r = 0;
out_unlock:
	vm_unlock_gmems(gs, n);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}
