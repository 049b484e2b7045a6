// SPDX-License-Identifier: MIT
/*
 * The vCPU front end: KVM_CREATE_VCPU picks a backend (real KVM where
 * /dev/kvm works, GMEMU_VCPU to force one), KVM_RUN runs it and presents
 * exits as KVM does: a guest's hypercall through gmemu's doorbell port as
 * KVM_EXIT_HYPERCALL, and (backends that map regions) an MMIO exit at a
 * gmem page of a shared-alias model as the wrong-intent access it is:
 * KVM_EXIT_MEMORY_FAULT, completed exactly once by the KVM_RUN after the
 * VMM converts.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../base/env.h"
#include "../base/sys.h"
#include "../base/uaccess.h"
#include "vm_priv.h"

static const struct vcpu_backend *const backends[] = {
	&vcpu_backend_kvm,
	&vcpu_backend_emu,
};

static const char *const backend_choices[] = { "kvm", "emulated", NULL };

/*
 * The backend for a VM's vCPUs, or NULL with *err and *why: GMEMU_VCPU
 * names one (unavailable: ENODEV, and why); else real KVM where /dev/kvm
 * works, the emulated CPU elsewhere -- and always for the per-VM attribute
 * profiles, whose two backings only a backend that resolves each page can
 * serve.
 */
static const struct vcpu_backend *backend_pick(bool two_backing, int *err,
					       const char **why)
{
	const struct vcpu_backend *b;
	const char *kvm_why = NULL;
	int choice = -1, r;
	size_t i;

	r = env_choice("GMEMU_VCPU", backend_choices, &choice);
	if (r < 0) {
		*err = r;
		*why = "GMEMU_VCPU is neither kvm nor emulated";
		return NULL;
	}
	*err = -ENODEV;
	if (choice >= 0) {
		b = backends[choice];
		if (two_backing && !b->two_backing) {
			*why = "GMEMU_VCPU=kvm: the kvm backend cannot run the "
			       "per-VM attribute profiles (6.18, 6.12)";
			return NULL;
		}
		return b->probe(why) == 0 ? b : NULL;
	}
	for (i = 0; i < ARRAY_SIZE(backends); i++) {
		b = backends[i];
		if (two_backing && !b->two_backing)
			continue;
		if (b->probe(i == 0 ? &kvm_why : why) == 0)
			return b;
	}
	if (kvm_why && !two_backing) {
		/* both reasons, the emulated one last */
		static __thread char both[256];

		snprintf(both, sizeof(both), "%s; and %s", kvm_why, *why);
		*why = both;
	}
	return NULL;
}

static const struct vcpu_backend *backend_choose(struct vm *vm, int *err,
						 const char **why)
{
	return backend_pick(abi_profile(vm->abi)->vm_attributes, err, why);
}

const char *vcpu_backend_name(const char **why)
{
	const struct vcpu_backend *b;
	int err;

	b = backend_pick(false, &err, why);
	return b ? b->name : NULL;
}

const char *vcpu_backend_why(const char *name)
{
	const char *why = NULL;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(backends); i++)
		if (name && !strcmp(name, backends[i]->name))
			return backends[i]->probe(&why) ? why : NULL;
	return "no such vCPU backend (kvm, emulated)";
}

long vcpu_mmap_size(void)
{
	size_t i, size = 0;

	for (i = 0; i < ARRAY_SIZE(backends); i++)
		if (backends[i]->probe(NULL) == 0)
			size = MAX(size, backends[i]->run_size());
	return size ? (long)size : -ENODEV;
}

long system_ioctl_passthrough(unsigned long req, void *arg)
{
	const struct vcpu_backend *b;
	const char *why;
	int err;

	/* what the CPU model of the backend new VMs run on answers; gmemu
	 * knows no other request */
	switch (req) {
	case KVM_GET_SUPPORTED_CPUID:
	case KVM_GET_EMULATED_CPUID:
	case KVM_GET_MSR_INDEX_LIST:
	case KVM_GET_MSR_FEATURE_INDEX_LIST:
		break;
	default:
		return -ENOTTY;
	}
	b = backend_pick(false, &err, &why);
	return b ? b->system_ioctl(req, arg) : -ENOTTY;
}

void vm_invalidate(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (vm->bvm)
		vm->backend->invalidate(vm->bvm, gpa, len);
}

/* ---- the program's memory going away under vCPUs that resolve ---- */

/*
 * This process's VMs with a backend that resolves: an unmap of the
 * program's memory goes through them first.  Lock order: the list, then a
 * VM's memslot lock.  A forked child starts with none.
 */
static pthread_mutex_t resolving_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm *resolving;
static _Atomic int nr_resolving;
static pthread_once_t resolving_once = PTHREAD_ONCE_INIT;

static void resolving_prepare(void)
{
	pthread_mutex_lock(&resolving_lock);
}

static void resolving_parent(void)
{
	pthread_mutex_unlock(&resolving_lock);
}

static void resolving_child(void)
{
	resolving = NULL;
	atomic_store(&nr_resolving, 0);
	pthread_mutex_unlock(&resolving_lock);
}

static void resolving_init(void)
{
	pthread_atfork(resolving_prepare, resolving_parent, resolving_child);
}

static void resolving_add(struct vm *vm)
{
	pthread_once(&resolving_once, resolving_init);
	pthread_mutex_lock(&resolving_lock);
	if (!vm->resolving_listed) {
		vm->resolving_next = resolving;
		resolving = vm;
		vm->resolving_listed = true;
		atomic_fetch_add(&nr_resolving, 1);
	}
	pthread_mutex_unlock(&resolving_lock);
}

void vm_resolving_forget(struct vm *vm)
{
	struct vm **pp;

	if (!vm->resolving_listed || vm->pid != sys_getpid())
		return;
	pthread_mutex_lock(&resolving_lock);
	for (pp = &resolving; *pp; pp = &(*pp)->resolving_next) {
		if (*pp == vm) {
			*pp = vm->resolving_next;
			atomic_fetch_sub(&nr_resolving, 1);
			break;
		}
	}
	vm->resolving_listed = false;
	pthread_mutex_unlock(&resolving_lock);
}

/* The GPAs of vm whose userspace_addr meets [lo, hi): invalidated (write
 * lock held).  Does any? */
static bool host_range_invalidate(struct vm *vm, uintptr_t lo, uintptr_t hi,
				  bool dry)
{
	bool met = false;
	size_t i;

	for (i = 0; i < vm->nr_slots; i++) {
		const struct memslot *s = &vm->slots[i];
		uint64_t a = MAX(s->uaddr, (uint64_t)lo);
		uint64_t b = MIN(s->uaddr + s->size, (uint64_t)hi);

		if (!s->uaddr || a >= b)
			continue;
		met = true;
		if (dry)
			break;
		vm_invalidate(vm, s->gpa + PAGE_DOWN(a - s->uaddr),
			      PAGE_DOWN(b - s->uaddr + PAGE_SIZE - 1) -
				      PAGE_DOWN(a - s->uaddr));
	}
	return met;
}

bool vm_host_unmap_begin(const void *addr, size_t len)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + len < lo ? UINTPTR_MAX : lo + len;
	struct vm *vm;
	bool met;

	if (!atomic_load(&nr_resolving) || !len)
		return false;
	pthread_mutex_lock(&resolving_lock);
	for (vm = resolving; vm; vm = vm->resolving_next) {
		pthread_rwlock_rdlock(&vm->slots_lock);
		met = host_range_invalidate(vm, lo, hi, true);
		pthread_rwlock_unlock(&vm->slots_lock);
		if (!met)
			continue;
		/* held until the unmap is done: no vCPU resolves meanwhile */
		pthread_rwlock_wrlock(&vm->slots_lock);
		vm->unmap_locked = true;
		host_range_invalidate(vm, lo, hi, false);
	}
	/* the list lock stays held until vm_host_unmap_end */
	return true;
}

void vm_host_unmap_end(bool began)
{
	struct vm *vm;

	if (!began)
		return;
	for (vm = resolving; vm; vm = vm->resolving_next) {
		if (vm->unmap_locked) {
			vm->unmap_locked = false;
			pthread_rwlock_unlock(&vm->slots_lock);
		}
	}
	pthread_mutex_unlock(&resolving_lock);
}

/* ---- what a backend that resolves through callbacks asks ---- */

static bool host_page_usable(const uint8_t *host, bool write)
{
	uint8_t b;

	if (copy_from_user(&b, host, 1))
		return false;
	return !write || copy_to_user((uint8_t *)host, &b, 1) == 0;
}

/*
 * What is at gpa for the backend's vCPU thread.  It never waits: a thread
 * that holds the memslot lock for writing (a memslot change) or a gmem's
 * lock (a conversion, a punch, here or in another process) may be waiting
 * in invalidate() for this very vCPU, so a lock that is not free now is
 * -EAGAIN, and the backend serves that invalidate and asks again.  Holding
 * the gmem lock while it reads the page's state is what makes a conversion
 * exact: once the conversion's invalidate has returned, no vCPU can map the
 * page again before the conversion is complete.
 */
static int vm_resolve(void *ctx, uint64_t gpa, bool private, bool write,
		      struct guest_mem *out)
{
	struct vm *vm = ctx;
	struct gmem *g = NULL;
	struct memslot *s;
	bool page_private;

	memset(out, 0, sizeof(*out));
	if (pthread_rwlock_tryrdlock(&vm->slots_lock))
		return -EAGAIN;
	s = memslot_find(vm, gpa);
	if (s && s->g) {
		if (gmem_trylock(s->g)) {
			pthread_rwlock_unlock(&vm->slots_lock);
			return -EAGAIN;
		}
		g = s->g;
	}
	page_private = vm_page_private(vm, s, gpa);
	if (!vm->model->shared_alias ||
	    (s && !s->g && !abi_profile(vm->abi)->vm_attributes))
		/* the page's own state is the access's intent (and a plain
		 * memslot of an in-place profile is shared memory at its GPA
		 * for either intent, as the kvm backend maps it) */
		private = page_private;
	if (!s) {
		/* KVM checks the attribute before the memslot: a GPA with
		 * none is MMIO only for a shared access to a shared GPA (per-VM
		 * attributes need no memslot) */
		out->kind = private || page_private ? GUEST_MEM_FAULT
						    : GUEST_MEM_MMIO;
		out->fault_flags = private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
		goto out;
	}
	if (page_private != private || (private && !s->g)) {
		out->kind = GUEST_MEM_FAULT;
		out->fault_flags = private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
		goto out;
	}
	out->kind = GUEST_MEM_RAM;
	out->host = vm_host_ptr(vm, s, gpa, private);
	out->writable = !(s->flags & KVM_MEM_READONLY);
	if (!vm_host_is_gmem(vm, s, private) &&
	    !host_page_usable(out->host, write && out->writable)) {
		/* the VMM's userspace_addr is not there */
		out->kind = GUEST_MEM_FAULT;
		out->fault_flags = 0;
	}
out:
	if (g)
		gmem_unlock_many(&g, 1);
	pthread_rwlock_unlock(&vm->slots_lock);
	return 0;
}

static bool vm_no_memory(void *ctx)
{
	struct vm *vm = ctx;
	bool none;

	pthread_rwlock_rdlock(&vm->slots_lock);
	none = vm->nr_slots == 0;
	pthread_rwlock_unlock(&vm->slots_lock);
	return none;
}

const struct guest_mem_ops vm_guest_mem_ops = {
	.resolve = vm_resolve,
	.no_memory = vm_no_memory,
};

/* ---- creation ---- */

void vcpu_put(struct vcpu *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	v->vm->backend->vcpu_destroy(v->b);
	vm_put(v->vm);
	if (v->pid == sys_getpid())
		pthread_mutex_destroy(&v->lock);
	free(v);
}

int vcpu_usable(const struct vcpu *v)
{
	return v->pid == sys_getpid() ? 0 : -EIO;
}

/* The backend VM, on the first vCPU.  Write lock held. */
static int backend_vm(struct vm *vm, const char **why)
{
	const struct vcpu_backend *b;
	int r = 0;

	if (vm->bvm)
		return 0;
	b = backend_choose(vm, &r, why);
	if (!b)
		return r;
	r = b->vm_create(&vm_guest_mem_ops, vm,
			 vm->model->shared_alias ? vm->shared_bit : 0, &vm->bvm);
	if (r)
		return r;
	vm->backend = b;
	if (vm->hypercall_exits) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_EXIT_HYPERCALL,
			.args = { vm->hypercall_exits },
		};

		b->enable_cap(vm->bvm, &cap);
	}
	r = memslots_mirror(vm);
	if (r) {
		b->vm_destroy(vm->bvm);
		vm->bvm = NULL;
		vm->backend = NULL;
	}
	return r;
}

int vcpu_create(struct vm *vm, unsigned long id, struct vcpu **out,
		const char **why)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	int r;

	*why = NULL;
	if (!v || FAULT_INJECT("vcpu_create")) {
		free(v);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&vm->slots_lock);
	r = backend_vm(vm, why);
	if (!r)
		r = vm->backend->vcpu_create(vm->bvm, id, &v->b);
	pthread_rwlock_unlock(&vm->slots_lock);
	if (r) {
		free(v);
		return r;
	}
	if (vm->backend->resolves)
		resolving_add(vm);
	atomic_store(&v->refs, 1);
	pthread_mutex_init(&v->lock, NULL);
	vm_get(vm);
	v->vm = vm;
	v->pid = sys_getpid();
	*out = v;
	return 0;
}

/* ---- KVM_RUN ---- */

#define EXIT_UNION_OFFSET offsetof(struct kvm_run, mmio)

/* kvm_run.memory_fault, which older headers do not name */
struct memory_fault {
	__u64 flags, gpa, size;
};

static struct kvm_run *run_area(struct vcpu *v)
{
	return v->vm->backend->run_area(v->b);
}

/* The guest rang the doorbell: show the VMM a KVM_EXIT_HYPERCALL. */
static int hypercall_present(struct vcpu *v)
{
	struct kvm_run *run = run_area(v);
	struct kvm_regs regs;
	long r = v->vm->backend->ioctl(v->b, KVM_GET_REGS, &regs);

	if (r)
		return (int)r;
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

/* The VMM answered: its ret goes to the guest's eax, and the backend sees
 * the port write it stopped for, finished. */
static int hypercall_complete(struct vcpu *v)
{
	struct kvm_run *run = run_area(v);
	uint64_t ret = run->hypercall.ret;
	struct kvm_regs regs;
	long r;

	v->hypercall_pending = false;
	r = v->vm->backend->ioctl(v->b, KVM_GET_REGS, &regs);
	if (r)
		return (int)r;
	regs.rax = ret;
	r = v->vm->backend->ioctl(v->b, KVM_SET_REGS, &regs);
	if (r)
		return (int)r;
	run->exit_reason = KVM_EXIT_IO;
	memcpy((uint8_t *)run + EXIT_UNION_OFFSET, v->saved_exit,
	       sizeof(v->saved_exit));
	return 0;
}

static void fault_present(struct vcpu *v)
{
	struct kvm_run *run = run_area(v);
	struct memory_fault *mf =
		(struct memory_fault *)((uint8_t *)run + EXIT_UNION_OFFSET);

	run->exit_reason = KVM_EXIT_MEMORY_FAULT;
	mf->flags = v->fault_private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
	mf->gpa = PAGE_DOWN(v->fault_gpa);
	mf->size = PAGE_SIZE;
}

/*
 * Has the faulting page the state the access wants?  Then do the access
 * against the gmem's bytes and put the MMIO exit back for the backend to
 * finish (a read returns them, a write has landed): exactly once.  1 when
 * the page still has the other state.
 */
static int fault_try_complete(struct vcpu *v)
{
	struct kvm_run *run = run_area(v);
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
	r = gmem_lock_many(&g, 1);
	if (r)
		goto out;
	if (vm_page_private(vm, s, v->fault_gpa) == v->fault_private) {
		bytes = gmem_data(g) + s->gmem_offset + (v->fault_gpa - s->gpa);
		if (v->mmio_write)
			memcpy(bytes, v->mmio_data, v->mmio_len);
		else
			memcpy(v->mmio_data, bytes, v->mmio_len);
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.phys_addr = v->mmio_addr;
		run->mmio.len = v->mmio_len;
		run->mmio.is_write = v->mmio_write;
		memcpy(run->mmio.data, v->mmio_data, sizeof(v->mmio_data));
		v->fault_pending = false;
		r = 0;
	} else {
		r = 1;
	}
	gmem_unlock_many(&g, 1);
out:
	pthread_rwlock_unlock(&vm->slots_lock);
	return r;
}

/* An MMIO exit at a gmem page of a shared-alias model is a wrong-intent
 * access (its view there is SIGBUS).  Returns true when it was one. */
static bool fault_intercept(struct vcpu *v)
{
	struct kvm_run *run = run_area(v);
	struct vm *vm = v->vm;
	uint64_t bit = 1ULL << vm->shared_bit, addr = run->mmio.phys_addr;
	struct memslot *s;

	if (!vm->model->shared_alias || run->mmio.len > sizeof(v->mmio_data))
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

static int vcpu_run(struct vcpu *v)
{
	const struct vcpu_backend *b = v->vm->backend;
	struct kvm_run *run = run_area(v);
	int r, spins;

	/* the launch state decides whether the vCPU may enter (launch.c) */
	r = vcpu_launch_pre_run(v);
	if (r)
		return r < 0 ? r : 0;
	if (v->hypercall_pending) {
		r = hypercall_complete(v);
		if (r)
			return r;
	}
	/* bounded: a view that keeps lagging cannot spin us forever */
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
		r = b->run(v->b);
		if (r)
			return r;
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.port == GMEMU_HYPERCALL_PORT &&
		    run->io.direction == KVM_EXIT_IO_OUT)
			return hypercall_present(v);
		if (run->exit_reason != KVM_EXIT_MMIO)
			return 0;
		if (!fault_intercept(v)) {
			/* MMIO at its GPA, the shared bit stripped: as KVM
			 * reports a TD's, and as an SNP guest's shared GPA is */
			if (v->vm->model->shared_alias)
				run->mmio.phys_addr &= ~(1ULL << v->vm->shared_bit);
			return 0;
		}
	}
	return -EAGAIN;
}

static long vcpu_ioctl_locked(struct vcpu *v, unsigned long req, void *arg)
{
	long r;

	if (req == KVM_RUN)
		return vcpu_run(v);
	r = vcpu_launch_ioctl(v, req, arg);
	if (r != LAUNCH_NOT_MINE)
		return r;
	/* new registers: the VMM has moved on from a pending exit */
	if (req == KVM_SET_REGS || req == KVM_SET_SREGS)
		v->fault_pending = v->hypercall_pending = false;
	return v->vm->backend->ioctl(v->b, req, arg);
}

long vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg)
{
	long r;

	/* as KVM: an ioctl from another thread waits for a running
	 * KVM_RUN (which a signal or immediate_exit ends) */
	pthread_mutex_lock(&v->lock);
	r = vcpu_ioctl_locked(v, req, arg);
	pthread_mutex_unlock(&v->lock);
	return r;
}

long vcpu_mmap(struct vcpu *v, void *addr, size_t len, int prot, int flags,
	       off_t offset)
{
	return v->vm->backend->run_mmap(v->b, addr, len, prot, flags, offset);
}
