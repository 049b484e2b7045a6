// SPDX-License-Identifier: MIT
/*
 * The software vCPU: one guest memory access with KVM's exits.  The VM's
 * memslots are read-locked and every gmem behind the access is locked for
 * the whole access, so it sees each page entirely before or entirely after
 * a conversion, and a mismatch is found before any byte moves.  The
 * caller's buffer and exit are copied through the checked user copies:
 * a bad pointer is EFAULT, never a signal inside the library.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../base/uaccess.h"
#include "vm_priv.h"

#define MMIO_MAX 8
#define STACK_BUF 4096

static void exit_memory_fault(struct gmemu_exit *exit, uint64_t gpa,
			      bool private)
{
	memset(exit, 0, sizeof(*exit));
	exit->exit_reason = KVM_EXIT_MEMORY_FAULT;
	exit->memory_fault.flags = private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
	exit->memory_fault.gpa = PAGE_DOWN(gpa);
	exit->memory_fault.size = PAGE_SIZE;
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

/* In the per-VM attribute profiles a page can also be "private, but no
 * guest_memfd backs it": KVM exits for either intent. */
static bool intent_matches(struct vm *vm, struct memslot *s, uint64_t gpa,
			   bool private)
{
	bool page_private = vm_page_private(vm, s, gpa);

	if (page_private != private)
		return false;
	return !page_private || s->g;
}

/* The access itself, between kbuf (ours) and guest memory. */
static int access_memory(struct vm *vm, uint64_t gpa, uint8_t *kbuf,
			 size_t len, bool write, bool private)
{
	size_t done, chunk;
	int r;

	for (done = 0; done < len; done += chunk) {
		uint64_t at = gpa + done;
		struct memslot *s = memslot_find(vm, at);
		uint8_t *host = vm_host_ptr(vm, s, at, private);

		chunk = MIN(len - done, s->gpa + s->size - at);
		if (vm_host_is_gmem(vm, s, private)) {
			if (write)
				memcpy(host, kbuf + done, chunk);
			else
				memcpy(kbuf + done, host, chunk);
		} else {
			/* userspace_addr is the VMM's memory: it may be bad */
			r = write ? copy_to_user(host, kbuf + done, chunk)
				  : copy_from_user(kbuf + done, host, chunk);
			if (r)
				return r;
		}
	}
	return 0;
}

int vm_guest_access(struct vm *vm, uint64_t gpa, void *buf, size_t len,
		    unsigned int flags, struct gmemu_exit *exit)
{
	bool write = flags & GMEMU_ACCESS_WRITE;
	bool private = flags & GMEMU_ACCESS_PRIVATE;
	uint8_t stack[STACK_BUF], *kbuf = stack;
	struct gmem *gs[VM_MAX_GMEMS];
	struct gmemu_exit ex;
	uint64_t p, end = gpa + len;
	int n = 0, r;

	if (flags & ~(GMEMU_ACCESS_WRITE | GMEMU_ACCESS_PRIVATE))
		return -EINVAL;
	if (!exit || (len && !buf))
		return -EFAULT;
	if (!len)
		return 0;
	if (end < gpa)
		return -EINVAL;
	/* models that enforce launch run no guest before finalize */
	if (vm->model->launch_enforced &&
	    gmem_group_phase(vm->group) != PHASE_POST_LAUNCH)
		return -EINVAL;
	if (len > STACK_BUF) {
		kbuf = malloc(len);
		if (!kbuf)
			return -ENOMEM;
	}
	if (write) {
		r = copy_from_user(kbuf, buf, len);
		if (r)
			goto out_free;
	}

	pthread_rwlock_rdlock(&vm->slots_lock);
	if (!memslot_find(vm, gpa)) {
		/* MMIO: the whole access must be outside memory */
		if (any_slot(vm, gpa, end) || len > MMIO_MAX) {
			r = -EINVAL;
			goto out;
		}
		memset(&ex, 0, sizeof(ex));
		ex.exit_reason = KVM_EXIT_MMIO;
		ex.mmio.phys_addr = gpa;
		ex.mmio.len = (uint32_t)len;
		ex.mmio.is_write = write;
		if (write)
			memcpy(ex.mmio.data, kbuf, len);
		r = copy_to_user(exit, &ex, sizeof(ex));
		r = r ? r : 1;
		goto out;
	}
	r = vm_range_gmems(vm, gpa, len, false, gs, &n);
	if (!r)
		r = gmem_lock_many(gs, n);
	if (r) {
		n = 0;
		goto out;
	}
	for (p = PAGE_DOWN(gpa); p < end; p += PAGE_SIZE) {
		if (!intent_matches(vm, memslot_find(vm, p), p, private)) {
			exit_memory_fault(&ex, MAX(p, gpa), private);
			r = copy_to_user(exit, &ex, sizeof(ex));
			r = r ? r : -EFAULT;
			goto out_unlock;
		}
	}
	r = access_memory(vm, gpa, kbuf, len, write, private);
	if (r) {
		/* the VMM's own memory was bad: KVM's EFAULT, no exit */
		memset(&ex, 0, sizeof(ex));
		copy_to_user(exit, &ex, sizeof(ex));
	}
out_unlock:
	gmem_unlock_many(gs, n);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	if (!r && !write)
		r = copy_to_user(buf, kbuf, len);
out_free:
	if (kbuf != stack)
		free(kbuf);
	return r;
}
