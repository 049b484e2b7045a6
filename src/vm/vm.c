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
	vm->nr_gmems = 0;
	pthread_mutex_unlock(&vm->lock);
	memslots_release(vm); /* drops the memslots' gmem references */
	legacy_release(vm);
	if (vm->real_fd >= 0)
		close(vm->real_fd);
	pthread_rwlock_destroy(&vm->slots_lock);
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
	pthread_rwlock_init(&vm->slots_lock, NULL);
	vm->real_fd = -1;
	vm->shared_bit = 47;
	r = vm->profile == PROFILE_LEGACY ? legacy_init(vm) : 0;
	if (!r)
		r = obj_insert(&vm->obj);
	if (r) {
		close(fd);
		vm_release(&vm->obj);
		return r;
	}
	return fd;
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
	struct kvm_userspace_memory_region2 r2;

	(void)fd;
	switch (req) {
	case KVM_CHECK_EXTENSION:
		return model_check_extension(vm->model, vm->profile,
					     (long)(uintptr_t)arg);
	case KVM_CREATE_GUEST_MEMFD:
		return vm_create_gmem(vm, arg);
	case KVM_SET_USER_MEMORY_REGION2:
		if (!arg)
			return -EFAULT;
		memcpy(&r2, arg, sizeof(r2));
		return memslot_set(vm, &r2, true);
	case KVM_SET_USER_MEMORY_REGION:
		if (!arg)
			return -EFAULT;
		memset(&r2, 0, sizeof(r2));
		memcpy(&r2, arg, sizeof(struct kvm_userspace_memory_region));
		return memslot_set(vm, &r2, false);
	case KVM_CREATE_VCPU:
		return vcpu_create(vm, (unsigned long)(uintptr_t)arg);
	case KVM_SET_MEMORY_ATTRIBUTES:
		/* per-VM attributes exist only before in-place conversion */
		if (vm->profile != PROFILE_LEGACY)
			return -ENOTTY;
		return legacy_set_attributes(vm, arg);
	default:
		return -ENOTTY;
	}
}
