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
#include <stddef.h>
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

	if (v->run)
		munmap(v->run, v->run_size);
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
	/* our own view of kvm_run, to present exits the real one cannot */
	r = ioctl(kvmhost_fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r <= 0) {
		r = -ENODEV;
		goto err_close;
	}
	v->run_size = (size_t)r;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->real_fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		r = -errno;
		goto err_close;
	}
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
	if (v->run)
		munmap(v->run, v->run_size);
	close(v->real_fd);
err_free:
	free(v);
	return r;
}

#define EXIT_UNION_OFFSET offsetof(struct kvm_run, mmio)

/* The guest rang the doorbell: show the VMM a KVM_EXIT_HYPERCALL. */
static int hypercall_present(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;

	if (ioctl(v->real_fd, KVM_GET_REGS, &regs))
		return -errno;
	memcpy(v->saved_exit, (uint8_t *)run + EXIT_UNION_OFFSET,
	       sizeof(v->saved_exit));
	run->exit_reason = KVM_EXIT_HYPERCALL;
	memset(&run->hypercall, 0, sizeof(run->hypercall));
	run->hypercall.nr = regs.rax & 0xffffffffULL;
	run->hypercall.args[0] = regs.rbx;
	run->hypercall.args[1] = regs.rcx;
	run->hypercall.args[2] = regs.rdx;
	v->hypercall_pending = true;
	return 0;
}

/* The VMM answered: its ret goes to the guest's eax, and the real vCPU
 * sees the port write it stopped for, finished. */
static int hypercall_complete(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;
	uint64_t ret = run->hypercall.ret;

	v->hypercall_pending = false;
	if (ioctl(v->real_fd, KVM_GET_REGS, &regs))
		return -errno;
	regs.rax = ret;
	if (ioctl(v->real_fd, KVM_SET_REGS, &regs))
		return -errno;
	run->exit_reason = KVM_EXIT_IO;
	memcpy((uint8_t *)run + EXIT_UNION_OFFSET, v->saved_exit,
	       sizeof(v->saved_exit));
	return 0;
}

static long vcpu_run(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	int r;

	if (v->hypercall_pending) {
		r = hypercall_complete(v);
		if (r)
			return r;
	}
	if (ioctl(v->real_fd, KVM_RUN, 0))
		return -errno;
	if (run->exit_reason == KVM_EXIT_IO &&
	    run->io.port == GMEMU_HYPERCALL_PORT &&
	    run->io.direction == KVM_EXIT_IO_OUT)
		return hypercall_present(v);
	return 0;
}

/* KVM_RUN runs the guest; everything else goes to the real vCPU as is. */
long vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg)
{
	long r;

	if (req == KVM_RUN)
		return vcpu_run(v);
	r = ioctl(v->real_fd, req, arg);
	return r < 0 ? -errno : r;
}

void *vcpu_mmap(struct vcpu *v, void *addr, size_t len, int prot, int flags,
		off_t offset)
{
	return mmap(addr, len, prot, flags, v->real_fd, offset);
}
