// SPDX-License-Identifier: MIT
/*
 * Launch: populate the initial image into private memory, extend the launch
 * measurement, finalize.  The measurement is
 *   m = SHA-256(m || le64(gpa) || SHA-256(page)), m0 = 32 zero bytes,
 * computed with OpenSSL's libcrypto: gmemu's own digest, not a platform's.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "../base/uaccess.h"
#include "vm_priv.h"

/* Every page of [gpa, gpa + len) private, and (models that enforce the
 * launch) never populated before. */
static int populate_check(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t p;

	for (p = gpa; p < gpa + len; p += PAGE_SIZE) {
		struct memslot *s = memslot_find(vm, p);

		if (!vm_page_private(vm, s, p))
			return -EINVAL;
		if (vm->model->launch_enforced &&
		    gmem_page_populated(s->g, s->gmem_offset + (p - s->gpa)))
			return -EEXIST;
	}
	return 0;
}

/* Record the pages as populated, memslot by memslot. */
static int populate_mark(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t p = gpa, end = gpa + len;

	while (p < end) {
		struct memslot *s = memslot_find(vm, p);
		uint64_t stop = MIN(end, s->gpa + s->size);
		int r = gmem_mark_populated(s->g, s->gmem_offset + (p - s->gpa),
					    stop - p);

		if (r)
			return r;
		p = stop;
	}
	return 0;
}

static void measure(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint8_t m[SHA256_DIGEST_LENGTH];
	uint8_t buf[SHA256_DIGEST_LENGTH + 8 + SHA256_DIGEST_LENGTH];
	uint64_t p;
	int i;

	memcpy(m, vm->measurement, sizeof(m));
	for (p = gpa; p < gpa + len; p += PAGE_SIZE) {
		struct memslot *s = memslot_find(vm, p);

		memcpy(buf, m, sizeof(m));
		for (i = 0; i < 8; i++)
			buf[SHA256_DIGEST_LENGTH + i] = (uint8_t)(p >> (8 * i));
		SHA256(vm_host_ptr(vm, s, p, true), PAGE_SIZE,
		       buf + SHA256_DIGEST_LENGTH + 8);
		SHA256(buf, sizeof(buf), m);
	}
	memcpy(vm->measurement, m, sizeof(m));
}

int vm_populate(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	struct gmem *gs[VM_MAX_GMEMS];
	uint8_t *scratch = NULL;
	uint64_t p;
	int n = 0, r;

	if (!len || !PAGE_ALIGNED(gpa) || !PAGE_ALIGNED(len) || gpa + len < gpa)
		return -EINVAL;
	if (src) {
		/* the source is read whole before anything changes */
		scratch = malloc(PAGE_SIZE);
		if (!scratch)
			return -ENOMEM;
		for (p = 0, r = 0; p < len && !r; p += PAGE_SIZE)
			r = copy_from_user(scratch, (const uint8_t *)src + p,
					   PAGE_SIZE);
		free(scratch);
		if (r)
			return r;
	}
	pthread_rwlock_wrlock(&vm->slots_lock);
	r = -EINVAL;
	if (gmem_group_phase(vm->group) != PHASE_PRE_LAUNCH)
		goto out;
	r = vm_range_gmems(vm, gpa, len, true, gs, &n);
	if (!r)
		r = gmem_lock_many(gs, n);
	if (r) {
		n = 0;
		goto out;
	}
	r = populate_check(vm, gpa, len);
	if (!r)
		r = populate_mark(vm, gpa, len);
	if (r)
		goto out_unlock;
	for (p = 0; src && p < len && !r; p += PAGE_SIZE) {
		struct memslot *s = memslot_find(vm, gpa + p);

		r = copy_from_user(vm_host_ptr(vm, s, gpa + p, true),
				   (const uint8_t *)src + p, PAGE_SIZE);
	}
	if (!r)
		measure(vm, gpa, len);
	if (!r)
		vm_invalidate(vm, gpa, len); /* new bytes, maybe code */
out_unlock:
	gmem_unlock_many(gs, n);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

int vm_finalize(struct vm *vm)
{
	int r;

	pthread_rwlock_wrlock(&vm->slots_lock);
	r = gmem_group_finalize(vm->group);
	if (!r) /* the launch rules may have changed private bytes */
		vm_invalidate(vm, 0, ~0ULL);
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

int vm_measurement(struct vm *vm, uint8_t out[32])
{
	uint8_t m[32];

	pthread_rwlock_rdlock(&vm->slots_lock);
	memcpy(m, vm->measurement, sizeof(m));
	pthread_rwlock_unlock(&vm->slots_lock);
	return copy_to_user(out, m, sizeof(m));
}
