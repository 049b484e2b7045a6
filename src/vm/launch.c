// SPDX-License-Identifier: MIT
/*
 * Launch: populate the initial image into private memory, extend the launch
 * measurement, finalize.  The measurement is
 *   m = SHA-256(m || le64(gpa) || SHA-256(page)), m0 = 32 zero bytes,
 * computed with OpenSSL's libcrypto.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/*
 * The gmems behind [gpa, gpa + len), each once, in a fixed order so that
 * concurrent callers lock them alike.  -EINVAL when a page has no memslot
 * (or, with need_gmem, no guest_memfd memslot).
 */
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
	qsort(gs, (size_t)*n, sizeof(*gs), cmp_ptr);
	return 0;
}

/* The gmems behind [gpa, gpa + len), locked in that order. */
int vm_lock_range(struct vm *vm, uint64_t gpa, uint64_t len, bool need_gmem,
		  struct gmem **gs, int *n)
{
	int r = vm_range_gmems(vm, gpa, len, need_gmem, gs, n);

	if (!r)
		r = vm_lock_gmems(gs, *n);
	if (r)
		*n = 0;
	return r;
}

int vm_lock_gmems(struct gmem **gs, int n)
{
	int i, r;

	for (i = 0; i < n; i++) {
		r = gmem_lock(gs[i]);
		if (r) {
			while (i--)
				gmem_unlock(gs[i]);
			return r;
		}
	}
	return 0;
}

void vm_unlock_gmems(struct gmem **gs, int n)
{
	while (n--)
		gmem_unlock(gs[n]);
}

/* Where the guest's bytes of the page at gpa live, for the given intent. */
uint8_t *vm_host_ptr(struct vm *vm, const struct memslot *s, uint64_t gpa,
		     bool private)
{
	if (s->g && (private || vm->profile != PROFILE_LEGACY))
		return s->g->base + s->gmem_offset + (gpa - s->gpa);
	return (uint8_t *)(uintptr_t)(s->uaddr + (gpa - s->gpa));
}

int vm_populate(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	uint8_t m[SHA256_DIGEST_LENGTH], buf[SHA256_DIGEST_LENGTH + 8 + SHA256_DIGEST_LENGTH];
	struct gmem *gs[VM_MAX_GMEMS];
	uint64_t p;
	int n = 0, r, i;

	if (!len || !PAGE_ALIGNED(gpa) || !PAGE_ALIGNED(len) || gpa + len < gpa)
		return -EINVAL;
	pthread_rwlock_wrlock(&vm->slots_lock);
	r = -EINVAL;
	if (atomic_load(&vm->phase) != PHASE_PRE_LAUNCH)
		goto out;
	r = vm_lock_range(vm, gpa, len, true, gs, &n);
	if (r)
		goto out;
	/* Everything is checked before anything changes. */
	for (p = gpa; p < gpa + len; p += PAGE_SIZE) {
		if (!vm_page_private(vm, memslot_find(vm, p), p)) {
			r = -EINVAL;
			goto out_unlock;
		}
	}
	if (src) {
		uint8_t *scratch = malloc(PAGE_SIZE);

		if (!scratch) {
			r = -ENOMEM;
			goto out_unlock;
		}
		for (p = 0; p < len && !r; p += PAGE_SIZE)
			r = uaccess_read(scratch, (const uint8_t *)src + p, PAGE_SIZE);
		free(scratch);
		if (r)
			goto out_unlock;
		for (p = 0; p < len; p += PAGE_SIZE) {
			struct memslot *s = memslot_find(vm, gpa + p);

			uaccess_read(vm_host_ptr(vm, s, gpa + p, true),
				(const uint8_t *)src + p, PAGE_SIZE);
		}
	}
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
	r = 0;
out_unlock:
	vm_unlock_gmems(gs, n);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

int vm_finalize(struct vm *vm)
{
	int expected = PHASE_PRE_LAUNCH;
	size_t i;

	pthread_rwlock_wrlock(&vm->slots_lock);
	if (!atomic_compare_exchange_strong(&vm->phase, &expected,
					    PHASE_POST_LAUNCH)) {
		pthread_rwlock_unlock(&vm->slots_lock);
		return -EINVAL;
	}
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_gmems; i++)
		atomic_store(&vm->gmems[i]->hdr->phase, PHASE_POST_LAUNCH);
	pthread_mutex_unlock(&vm->lock);
	pthread_rwlock_unlock(&vm->slots_lock);
	return 0;
}
