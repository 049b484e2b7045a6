// SPDX-License-Identifier: MIT
/*
 * VMs: the platform model, the ABI, the launch phase (the gmem group) and
 * the guest_memfd files they create.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <linux/kvm_para.h>

#include "../base/sys.h"
#include "../base/uaccess.h"
#include "vm_priv.h"

void vm_get(struct vm *vm)
{
	atomic_fetch_add(&vm->refs, 1);
}

void vm_put(struct vm *vm)
{
	if (!vm || atomic_fetch_sub(&vm->refs, 1) != 1)
		return;
	vm_resolving_forget(vm);
	/* its gmems live on (closing the VM fd does not invalidate them) */
	memslots_release(vm);
	vm_attributes_release(vm);
	if (vm->bvm)
		vm->backend->vm_destroy(vm->bvm);
	gmem_group_put(vm->group);
	pthread_rwlock_destroy(&vm->slots_lock);
	free(vm);
}

int vm_usable(const struct vm *vm)
{
	return vm->pid == sys_getpid() ? 0 : -EIO;
}

static int random_bytes(void *buf, size_t len)
{
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -EIO;
}

int vm_create(struct abi abi, unsigned long type, struct vm **out)
{
	const struct platform_model *model = abi_model(abi, type);
	struct vm *vm;
	int r;

	if (!model)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm || FAULT_INJECT("vm_create")) {
		free(vm);
		return -ENOMEM;
	}
	atomic_store(&vm->refs, 1);
	vm->abi = abi;
	vm->model = model;
	vm->pid = sys_getpid();
	vm->shared_bit = 47;
	pthread_rwlock_init(&vm->slots_lock, NULL);
	r = random_bytes(&vm->id, sizeof(vm->id));
	if (!r)
		r = random_bytes(vm->key, sizeof(vm->key));
	if (!r)
		r = gmem_group_create(&vm->group);
	if (!r)
		r = vm_attributes_init(vm);
	if (r) {
		vm_put(vm);
		return r;
	}
	*out = vm;
	return 0;
}

struct abi vm_abi(const struct vm *vm)
{
	return vm->abi;
}

long vm_check_extension(struct vm *vm, long cap)
{
	return abi_check_extension(vm->abi, vm->model, cap);
}

long system_check_extension(struct abi abi, long cap)
{
	return abi_check_extension(abi, NULL, cap);
}

int vm_create_gmem(struct vm *vm, const struct kvm_create_guest_memfd *args,
		   int *fd_out, struct gmem **out)
{
	struct gmem_params p = {
		.size = args->size,
		.flags = args->flags,
		.model = vm->model,
		.abi = vm->abi,
		.vm_id = vm->id,
		.key = vm->key,
	};

	if (args->flags & ~abi_gmem_flags(vm->abi, vm->model))
		return -EINVAL;
	if ((int64_t)args->size <= 0 || !PAGE_ALIGNED(args->size))
		return -EINVAL;
	return gmem_create(vm->group, &p, fd_out, out);
}

int vm_set_shared_bit(struct vm *vm, unsigned int bit)
{
	int r = 0;

	if (bit < PAGE_SHIFT || bit > 51)
		return -EINVAL;
	pthread_rwlock_wrlock(&vm->slots_lock);
	if (vm->bvm)
		r = -EBUSY;
	else
		vm->shared_bit = bit;
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

int vm_enable_cap(struct vm *vm, const void *user_arg)
{
	struct kvm_enable_cap cap;
	int r;

	r = copy_from_user(&cap, user_arg, sizeof(cap));
	if (r)
		return r;
	if (cap.flags)
		return -EINVAL;
	switch (cap.cap) {
	case KVM_CAP_EXIT_HYPERCALL:
		/* only KVM_HC_MAP_GPA_RANGE can exit to userspace */
		if (cap.args[0] & ~(1ULL << KVM_HC_MAP_GPA_RANGE))
			return -EINVAL;
		pthread_rwlock_wrlock(&vm->slots_lock);
		vm->hypercall_exits = cap.args[0];
		r = vm->bvm ? vm->backend->enable_cap(vm->bvm, &cap) : 0;
		pthread_rwlock_unlock(&vm->slots_lock);
		return r;
	default:
		return -EINVAL;
	}
}

/* ---- x86 VM requests without a model of their own ---- */

#define KVM_MIN_ALLOC_MMU_PAGES 64

/* KVM_GET_TSC_KHZ: the host's TSC frequency where CPUID says it. */
static long host_tsc_khz(void)
{
	uint32_t a = 0, b = 0, c = 0, d = 0;

	if (__get_cpuid_max(0, NULL) >= 0x15) {
		__cpuid(0x15, a, b, c, d);
		if (a && b && c)
			return (long)((uint64_t)c * b / a / 1000);
	}
	if (__get_cpuid_max(0, NULL) >= 0x16) {
		__cpuid(0x16, a, b, c, d);
		if (a & 0xffff)
			return (long)(a & 0xffff) * 1000;
	}
	return 2000000; /* 2 GHz, as good a TSC as any */
}

long vm_ioctl_arch(struct vm *vm, unsigned long req, void *arg)
{
	uint64_t addr;
	long r = 0;

	switch (req) {
	case KVM_CREATE_IRQCHIP:
		/* accepted (no interrupt controller is modelled): once, and
		 * before the first vCPU, as KVM checks */
		pthread_rwlock_wrlock(&vm->slots_lock);
		if (vm->irqchip)
			r = -EEXIST;
		else if (vm->bvm)
			r = -EINVAL;
		else
			vm->irqchip = true;
		pthread_rwlock_unlock(&vm->slots_lock);
		return r;
	case KVM_SET_TSS_ADDR:
		/* three pages below 4 GiB the guest must not use */
		return (uintptr_t)arg > 0xffffffffUL - 3 * PAGE_SIZE ? -EINVAL : 0;
	case KVM_SET_IDENTITY_MAP_ADDR:
		r = copy_from_user(&addr, arg, sizeof(addr));
		if (r)
			return r;
		pthread_rwlock_rdlock(&vm->slots_lock);
		r = vm->bvm ? -EINVAL : 0; /* not once vCPUs exist */
		pthread_rwlock_unlock(&vm->slots_lock);
		return r;
	case KVM_SET_NR_MMU_PAGES:
		return (uintptr_t)arg < KVM_MIN_ALLOC_MMU_PAGES ? -EINVAL : 0;
	case KVM_GET_TSC_KHZ:
		return host_tsc_khz();
	default:
		return -ENOTTY;
	}
}
