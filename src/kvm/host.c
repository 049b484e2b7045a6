// SPDX-License-Identifier: MIT
/*
 * Real guests: a gmemu VM can create real vCPUs.  gmemu creates a real
 * default-type VM underneath (the only type a stock kernel without
 * confidential hardware runs), mirrors every memslot into it over gmemu's
 * own memory — a guest_memfd memslot is backed, in place, by the gmem's
 * trusted view — and hands out vCPU fds whose KVM_RUN runs the real guest.
 *
 * Models whose guests see every page whatever its attribute (the
 * software-protected and pKVM models) map the gmem's trusted view.  The
 * encrypted models (SNP, TDX) map two ranges per guest_memfd memslot: at its
 * GPA a private view (private pages; shared ones SIGBUS) and at GPA | shared
 * bit a host-kind view (the reverse), so a wrong-intent access reaches KVM
 * as an access to a SIGBUS page: an MMIO exit here (no hardware
 * virtualization), which KVM_RUN turns into KVM_EXIT_MEMORY_FAULT and
 * completes once the VMM has converted the page.  The legacy profile's two
 * backings are not mirrored: KVM_CREATE_VCPU there is EOPNOTSUPP.
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

#define ALIAS_SLOT 0x4000 /* real slot id of a memslot's shared alias */

bool vm_has_alias(const struct vm *vm)
{
	return vm->model->vm_type == KVM_X86_SNP_VM ||
	       vm->model->vm_type == KVM_X86_TDX_VM;
}

static int set_real(struct vm *vm, uint32_t id, uint32_t flags, uint64_t gpa,
		    uint64_t size, void *uaddr)
{
	struct kvm_userspace_memory_region r = {
		.slot = id, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)uaddr,
	};

	return ioctl(vm->real_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
}

/* The two views behind an encrypted model's memslot. */
static int alias_views(struct memslot *s)
{
	int err = 0;

	if (!s->private_view)
		s->private_view = view_create_kind(s->g, NULL, s->size,
						   PROT_READ | PROT_WRITE,
						   MAP_SHARED, (off_t)s->gmem_offset,
						   KVM_MEMORY_ATTRIBUTE_PRIVATE, &err);
	if (s->private_view == MAP_FAILED) {
		s->private_view = NULL;
		return err;
	}
	if (!s->shared_view)
		s->shared_view = view_create_kind(s->g, NULL, s->size,
						  PROT_READ | PROT_WRITE,
						  MAP_SHARED, (off_t)s->gmem_offset,
						  0, &err);
	if (s->shared_view == MAP_FAILED) {
		s->shared_view = NULL;
		return err;
	}
	return 0;
}

static void alias_views_drop(struct memslot *s)
{
	if (s->private_view)
		view_unmap(s->private_view, s->size);
	if (s->shared_view)
		view_unmap(s->shared_view, s->size);
	s->private_view = s->shared_view = NULL;
}

static int real_region(struct vm *vm, struct memslot *s, bool del)
{
	uint32_t flags = s->flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY);
	uint64_t size = del ? 0 : s->size;
	int r;

	if (!s->g)
		return set_real(vm, s->id, flags, s->gpa, size,
				(void *)(uintptr_t)s->uaddr);
	if (!vm_has_alias(vm))
		/* in place: the gmem's own bytes, whatever their attribute */
		return set_real(vm, s->id, flags, s->gpa, size,
				s->g->base + s->gmem_offset);
	if (del) {
		set_real(vm, s->id, 0, s->gpa, 0, NULL);
		set_real(vm, s->id | ALIAS_SLOT, 0,
			 s->gpa | (1ULL << vm->shared_bit), 0, NULL);
		alias_views_drop(s);
		return 0;
	}
	if ((s->id & 0xffff) >= ALIAS_SLOT)
		return -EINVAL;
	r = alias_views(s);
	if (!r)
		r = set_real(vm, s->id, flags, s->gpa, size, s->private_view);
	if (!r)
		r = set_real(vm, s->id | ALIAS_SLOT, flags,
			     s->gpa | (1ULL << vm->shared_bit), size,
			     s->shared_view);
	return r;
}

/* Memslot changes reach the real VM.  Called with slots_lock written. */
int kvmhost_slot_changed(struct vm *vm, struct memslot *s, bool del)
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

	if (vm->profile == PROFILE_LEGACY)
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

/* kvm_run.memory_fault, which older headers do not name */
struct memory_fault {
	__u64 flags, gpa, size;
};

static void fault_present(struct vcpu *v)
{
	struct memory_fault *mf =
		(struct memory_fault *)((uint8_t *)v->run + EXIT_UNION_OFFSET);

	v->run->exit_reason = KVM_EXIT_MEMORY_FAULT;
	mf->flags = v->fault_private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
	mf->gpa = v->fault_gpa & ~(uint64_t)(PAGE_SIZE - 1);
	mf->size = PAGE_SIZE;
}

/*
 * Has the faulting page the state the access wants?  Then do the access
 * against the gmem's bytes and put the MMIO exit back for KVM to finish
 * (a read returns them, a write has landed): exactly once.  1 when the
 * page still has the other state.
 */
static int fault_try_complete(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct memslot *s;
	struct gmem *g;
	uint8_t *bytes;
	int r = 1;

	pthread_rwlock_rdlock(&vm->slots_lock);
	s = memslot_find(vm, v->fault_gpa);
	if (!s || !s->g) {
		r = -EFAULT; /* the memslot went away */
		goto out;
	}
	g = s->g;
	if (gmem_lock(g)) {
		r = -EIO;
		goto out;
	}
	if (vm_page_private(vm, s, v->fault_gpa) == v->fault_private) {
		bytes = g->base + s->gmem_offset + (v->fault_gpa - s->gpa);
		if (v->mmio_write)
			memcpy(bytes, v->mmio_data, v->mmio_len);
		else
			memcpy(v->mmio_data, bytes, v->mmio_len);
		v->run->exit_reason = KVM_EXIT_MMIO;
		v->run->mmio.phys_addr = v->mmio_addr;
		v->run->mmio.len = v->mmio_len;
		v->run->mmio.is_write = v->mmio_write;
		memcpy(v->run->mmio.data, v->mmio_data, sizeof(v->mmio_data));
		v->fault_pending = false;
		r = 0;
	}
	gmem_unlock(g);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

/* An MMIO exit at a gmem page of an encrypted model is a wrong-intent
 * access (its view there is SIGBUS).  Returns true when it was one. */
static bool fault_intercept(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	uint64_t bit = 1ULL << vm->shared_bit, addr = run->mmio.phys_addr;
	struct memslot *s;

	if (!vm_has_alias(vm) || run->mmio.len > sizeof(v->mmio_data))
		return false;
	pthread_rwlock_rdlock(&vm->slots_lock);
	s = memslot_find(vm, addr & ~bit);
	pthread_rwlock_unlock(&vm->slots_lock);
	if (!s || !s->g)
		return false;
	v->fault_pending = true;
	v->fault_private = !(addr & bit);
	v->fault_gpa = addr & ~bit;
	v->mmio_addr = addr;
	v->mmio_len = run->mmio.len;
	v->mmio_write = run->mmio.is_write;
	memcpy(v->mmio_data, run->mmio.data, sizeof(v->mmio_data));
	return true;
}

static long vcpu_run(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	int r, spins;

	if (v->hypercall_pending) {
		r = hypercall_complete(v);
		if (r)
			return r;
	}
	/* Bounded: a view that keeps lagging cannot spin us forever. */
	for (spins = 0; spins < 1024; spins++) {
		if (v->fault_pending) {
			/* a pending access, or one a lagging view stopped:
			 * completed if the page has its state, else the exit */
			r = fault_try_complete(v);
			if (r > 0) {
				fault_present(v);
				return -EFAULT;
			}
			if (r < 0)
				return r;
		}
		if (ioctl(v->real_fd, KVM_RUN, 0))
			return -errno;
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.port == GMEMU_HYPERCALL_PORT &&
		    run->io.direction == KVM_EXIT_IO_OUT)
			return hypercall_present(v);
		if (run->exit_reason != KVM_EXIT_MMIO || !fault_intercept(v))
			return 0;
	}
	return -EAGAIN;
}

int vm_set_shared_bit(struct vm *vm, unsigned int bit)
{
	int r = 0;

	if (bit < PAGE_SHIFT || bit > 51)
		return -EINVAL;
	pthread_rwlock_wrlock(&vm->slots_lock);
	if (vm->real_fd >= 0)
		r = -EBUSY;
	else
		vm->shared_bit = bit;
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

/* KVM_RUN runs the guest; everything else goes to the real vCPU as is. */
long vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg)
{
	long r;

	if (req == KVM_RUN)
		return vcpu_run(v);
	/* new registers: the VMM has moved on from a pending exit */
	if (req == KVM_SET_REGS || req == KVM_SET_SREGS)
		v->fault_pending = v->hypercall_pending = false;
	r = ioctl(v->real_fd, req, arg);
	return r < 0 ? -errno : r;
}

void *vcpu_mmap(struct vcpu *v, void *addr, size_t len, int prot, int flags,
		off_t offset)
{
	return mmap(addr, len, prot, flags, v->real_fd, offset);
}
