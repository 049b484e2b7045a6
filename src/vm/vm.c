// SPDX-License-Identifier: MIT
/*
 * VMs: the platform model, the launch phase and the guest_memfd files they
 * create.  A VM fd is a small memfd so that dup() and fork() keep naming it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "../internal.h"

static void vm_release(struct object *obj)
{
	struct vm *vm = (struct vm *)obj;
	size_t i;

	/* Its gmems live on (closing the VM fd does not invalidate them). */
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_gmems; i++)
		vm->gmems[i]->vm = NULL;
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm->gmems);
	free(vm);
}

void vm_forget_gmem(struct vm *vm, struct gmem *g)
{
	size_t i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_gmems; i++) {
		if (vm->gmems[i] == g) {
			vm->gmems[i] = vm->gmems[--vm->nr_gmems];
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

static uint64_t random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = now_ns() * 0x9e3779b97f4a7c15ULL;
	return v;
}

int vm_create(struct system *sys, unsigned long type)
{
	const struct platform_model *model = model_find(type);
	struct vm *vm;
	int fd, r;

	if (!model)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	/* KVM_CREATE_VM descriptors are close-on-exec. */
	fd = memfd_create("gmemu-vm", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		free(vm);
		return r;
	}
	obj_init(&vm->obj, OBJ_VM, fd, vm_release);
	vm->profile = sys->profile;
	vm->model = model;
	vm->id = random_u64();
	vm->key = random_u64();
	atomic_store(&vm->phase, PHASE_PRE_LAUNCH);
	pthread_mutex_init(&vm->lock, NULL);
	r = obj_insert(&vm->obj);
	if (r) {
		close(fd);
		vm_release(&vm->obj);
		return r;
	}
	return fd;
}

int vm_finalize(struct vm *vm)
{
	int expected = PHASE_PRE_LAUNCH;
	size_t i;

	if (!atomic_compare_exchange_strong(&vm->phase, &expected,
					    PHASE_POST_LAUNCH))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_gmems; i++)
		atomic_store(&vm->gmems[i]->hdr->phase, PHASE_POST_LAUNCH);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

static int vm_create_gmem(struct vm *vm, void *arg)
{
	struct kvm_create_guest_memfd args;
	uint64_t supported;

	if (!arg)
		return -EFAULT;
	memcpy(&args, arg, sizeof(args));
	supported = (uint64_t)model_check_extension(vm->model, vm->profile,
						    KVM_CAP_GUEST_MEMFD_FLAGS);
	if (args.flags & ~supported)
		return -EINVAL;
	if ((int64_t)args.size <= 0 || !PAGE_ALIGNED(args.size))
		return -EINVAL;
	if (args.size > GMEM_MAX_SIZE)
		return -ENOMEM;
	return gmem_create(vm, args.size, args.flags);
}

long vm_ioctl(struct vm *vm, int fd, unsigned long req, void *arg)
{
	(void)fd;
	switch (req) {
	case KVM_CHECK_EXTENSION:
		return model_check_extension(vm->model, vm->profile,
					     (long)(uintptr_t)arg);
	case KVM_CREATE_GUEST_MEMFD:
		return vm_create_gmem(vm, arg);
	default:
		return -ENOTTY;
	}
}
