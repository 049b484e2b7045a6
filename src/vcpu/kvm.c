// SPDX-License-Identifier: MIT
/*
 * The KVM backend: a real default-type VM underneath (the only type a stock
 * kernel without confidential hardware runs), whose memslots the vm layer
 * points at gmemu's own memory, in place, and whose vCPUs run the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../base/fd.h"
#include "../base/sys.h"
#include "backend.h"

struct bvm {
	int fd;
};

struct bvcpu {
	int fd;
	struct kvm_run *run;
	size_t run_size;
};

static int kvm_fd = -ENODEV;
static pthread_once_t kvm_once = PTHREAD_ONCE_INIT;

static void kvm_open_once(void)
{
	/* the real node, even under the interposer (raw openat) */
	int fd = sys_openat(AT_FDCWD, "/dev/kvm", O_RDWR | O_CLOEXEC, 0);

	if (fd >= 0 && sys_ioctl(fd, KVM_GET_API_VERSION, NULL) != KVM_API_VERSION) {
		sys_close(fd); /* something else is at /dev/kvm */
		fd = -ENODEV;
	}
	if (fd >= 0) {
		/* a host whose KVM cannot create a VM is no KVM host */
		long vm = sys_ioctl(fd, KVM_CREATE_VM, NULL);

		if (vm < 0) {
			sys_close(fd);
			fd = (int)vm;
		} else {
			sys_close((int)vm);
			fd = fd_hide(fd);
		}
	}
	kvm_fd = fd;
}

static int kvm_host(void)
{
	pthread_once(&kvm_once, kvm_open_once);
	return kvm_fd;
}

static int kvm_probe(const char **why)
{
	int fd = kvm_host();

	if (fd < 0 && why)
		*why = fd == -ENOENT ? "no /dev/kvm" :
		       fd == -EACCES ? "/dev/kvm not accessible" :
				       "/dev/kvm cannot create a VM";
	return fd < 0 ? fd : 0;
}

static size_t kvm_run_size(void)
{
	long r = kvm_host() < 0 ? -1 :
		 sys_ioctl(kvm_host(), KVM_GET_VCPU_MMAP_SIZE, NULL);

	return r > 0 ? (size_t)r : 0;
}

static int kvm_vm_create(const struct guest_mem_ops *ops, void *vm_ctx,
			 unsigned int shared_bit, struct bvm **out)
{
	struct bvm *vm;
	long fd;

	(void)ops;
	(void)vm_ctx;
	(void)shared_bit;
	if (kvm_host() < 0)
		return kvm_host();
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	fd = sys_ioctl(kvm_host(), KVM_CREATE_VM, NULL);
	if (fd < 0) {
		free(vm);
		return (int)fd;
	}
	vm->fd = fd_hide((int)fd);
	if (vm->fd < 0) {
		free(vm);
		return -EMFILE;
	}
	*out = vm;
	return 0;
}

static void kvm_vm_destroy(struct bvm *vm)
{
	fd_hidden_forget(vm->fd);
	sys_close(vm->fd);
	free(vm);
}

static int kvm_set_region(struct bvm *vm, uint32_t slot, uint32_t flags,
			  uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)host,
	};

	return (int)sys_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static void kvm_invalidate(struct bvm *vm, uint64_t gpa, uint64_t len)
{
	/* KVM's own MMU notifiers follow every change of the mappings */
	(void)vm;
	(void)gpa;
	(void)len;
}

static int kvm_enable_cap(struct bvm *vm, const struct kvm_enable_cap *cap)
{
	return (int)sys_ioctl(vm->fd, KVM_ENABLE_CAP, (void *)cap);
}

static int kvm_vcpu_create(struct bvm *vm, unsigned long id,
			   struct bvcpu **out)
{
	struct bvcpu *v = calloc(1, sizeof(*v));
	long fd, run;
	int r;

	if (!v)
		return -ENOMEM;
	fd = sys_ioctl(vm->fd, KVM_CREATE_VCPU, (void *)id);
	if (fd < 0) {
		r = (int)fd;
		goto err_free;
	}
	v->fd = fd_hide((int)fd);
	if (v->fd < 0) {
		r = -EMFILE;
		goto err_free;
	}
	v->run_size = kvm_run_size();
	run = sys_mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       v->fd, 0);
	if (run < 0 && run > -4096) {
		r = (int)run;
		goto err_close;
	}
	v->run = (struct kvm_run *)run;
	*out = v;
	return 0;
err_close:
	fd_hidden_forget(v->fd);
	sys_close(v->fd);
err_free:
	free(v);
	return r;
}

static void kvm_vcpu_destroy(struct bvcpu *v)
{
	sys_munmap(v->run, v->run_size);
	fd_hidden_forget(v->fd);
	sys_close(v->fd);
	free(v);
}

static struct kvm_run *kvm_run_area(struct bvcpu *v)
{
	return v->run;
}

static long kvm_run_mmap(struct bvcpu *v, void *addr, size_t len, int prot,
			 int flags, off_t offset)
{
	return sys_mmap(addr, len, prot, flags, v->fd, offset);
}

static int kvm_run(struct bvcpu *v)
{
	return (int)sys_ioctl(v->fd, KVM_RUN, NULL);
}

static long kvm_vcpu_ioctl(struct bvcpu *v, unsigned long req, void *arg)
{
	return sys_ioctl(v->fd, req, arg);
}

static long kvm_system_ioctl(unsigned long req, void *arg)
{
	if (kvm_host() < 0)
		return -ENOTTY;
	return sys_ioctl(kvm_host(), req, arg);
}

const struct vcpu_backend vcpu_backend_kvm = {
	.name = "kvm",
	.probe = kvm_probe,
	.run_size = kvm_run_size,
	.vm_create = kvm_vm_create,
	.vm_destroy = kvm_vm_destroy,
	.set_region = kvm_set_region,
	.invalidate = kvm_invalidate,
	.enable_cap = kvm_enable_cap,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.run_area = kvm_run_area,
	.run_mmap = kvm_run_mmap,
	.run = kvm_run,
	.ioctl = kvm_vcpu_ioctl,
	.system_ioctl = kvm_system_ioctl,
};
