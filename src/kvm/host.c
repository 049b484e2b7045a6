// SPDX-License-Identifier: MIT
/*
 * Real guests: a gmemu VM can create real vCPUs.  gmemu creates a real
 * default-type VM underneath (the only type a stock kernel without
 * confidential hardware runs), mirrors every memslot into it over gmemu's
 * own memory — a guest_memfd memslot is backed, in place, by the gmem's
 * trusted view — and hands out vCPU fds whose KVM_RUN runs the real guest.
 *
 * Models whose guests see every page whatever its attribute (the
 * software-protected and pKVM models) run as they are.  The encrypted
 * models' shared alias and the legacy profile's two backings are not
 * mirrored yet: KVM_CREATE_VCPU on them is EOPNOTSUPP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../internal.h"

static int kvm_fd = -1;
static pthread_once_t kvm_once = PTHREAD_ONCE_INIT;

static void kvm_open_once(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		close(fd); /* something else is at /dev/kvm */
		fd = -1;
	}
	kvm_fd = fd;
}

/* The host's /dev/kvm, or -ENODEV where there is none. */
int kvmhost_fd(void)
{
	pthread_once(&kvm_once, kvm_open_once);
	return kvm_fd >= 0 ? kvm_fd : -ENODEV;
}

static int real_region(struct vm *vm, const struct memslot *s, bool del)
{
	struct kvm_userspace_memory_region r = {
		.slot = s->id,
		.flags = s->flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY),
		.guest_phys_addr = s->gpa,
		.memory_size = del ? 0 : s->size,
		/* in place: the gmem's own bytes, whatever their attribute */
		.userspace_addr = s->g ? (uintptr_t)(s->g->base + s->gmem_offset)
				       : s->uaddr,
	};

	return ioctl(vm->real_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
}

/* Memslot changes reach the real VM.  Called with slots_lock written. */
int kvmhost_slot_changed(struct vm *vm, const struct memslot *s, bool del)
{
	if (vm->real_fd < 0)
		return 0;
	return real_region(vm, s, del);
}

/* The real VM, created on the first vCPU.  slots_lock written. */
static int real_vm(struct vm *vm)
{
	int kvm = kvmhost_fd(), fd, r;
	size_t i;

	if (vm->real_fd >= 0)
		return 0;
	if (kvm < 0)
		return kvm;
	fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (fd < 0)
		return -errno;
	vm->real_fd = fd;
	for (i = 0; i < vm->nr_slots; i++) {
		r = real_region(vm, &vm->slots[i], false);
		if (r) {
			close(fd);
			vm->real_fd = -1;
			return r;
		}
	}
	return 0;
}

static void vcpu_release(struct object *obj)
{
	struct vcpu *v = (struct vcpu *)obj;

	close(v->real_fd);
	obj_put(&v->vm->obj);
	free(v);
}

int vcpu_create(struct vm *vm, unsigned long id)
{
	struct vcpu *v;
	int fd, r;

	if (vm->profile == PROFILE_LEGACY || vm->model->vm_type == KVM_X86_SNP_VM ||
	    vm->model->vm_type == KVM_X86_TDX_VM)
		return -EOPNOTSUPP;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_rwlock_wrlock(&vm->slots_lock);
	r = real_vm(vm);
	if (!r) {
		v->real_fd = ioctl(vm->real_fd, KVM_CREATE_VCPU, id);
		if (v->real_fd < 0)
			r = -errno;
	}
	pthread_rwlock_unlock(&vm->slots_lock);
	if (r)
		goto err_free;
	/* KVM_CREATE_VCPU descriptors are close-on-exec. */
	fd = memfd_create("gmemu-vcpu", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto err_close;
	}
	obj_init(&v->obj, OBJ_VCPU, fd, vcpu_release);
	obj_get(&vm->obj);
	v->vm = vm;
	r = obj_insert(&v->obj);
	if (r) {
		close(fd);
		obj_put(&vm->obj);
		goto err_close;
	}
	return fd;
err_close:
	close(v->real_fd);
err_free:
	free(v);
	return r;
}

/* Everything but KVM_RUN goes to the real vCPU as it is. */
long vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg)
{
	long r = ioctl(v->real_fd, req, arg);

	return r < 0 ? -errno : r;
}

void *vcpu_mmap(struct vcpu *v, void *addr, size_t len, int prot, int flags,
		off_t offset)
{
	return mmap(addr, len, prot, flags, v->real_fd, offset);
}
