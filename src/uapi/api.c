// SPDX-License-Identifier: MIT
/*
 * The entry points: each mirrors a system call (or is one of gmemu's own),
 * finds the object behind the descriptor, copies its arguments in through
 * checked copies (a bad pointer is EFAULT with nothing changed), checks them
 * in the kernel's order and calls the layer below.  A descriptor that is
 * not gmemu's goes to the kernel unchanged; one that is, never does.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../base/env.h"
#include "../base/fd.h"
#include "../base/sys.h"
#include "../base/uaccess.h"
#include "object.h"
#include "trace.h"
#include "uapi.h"

#define KVM_API_VERSION_VALUE 12

__attribute__((constructor)) static void gmemu_init(void)
{
	trace_init();
	obj_init();
	pthread_atfork(obj_atfork_prepare, obj_atfork_parent, obj_atfork_child);
}

#define STR_(x) #x
#define STR(x) STR_(x)

const char *gmemu_version(void)
{
	return STR(GMEMU_VERSION_MAJOR) "." STR(GMEMU_VERSION_MINOR) "."
		STR(GMEMU_VERSION_PATCH);
}

const char *gmemu_views_mechanism(const char **detail)
{
	const char *name, *why;
	int r = gmem_views_mechanism(&name, &why);

	if (detail)
		*detail = why;
	if (r) {
		errno = -r;
		return NULL;
	}
	return name;
}

int gmemu_check_env(void)
{
	static const char *const vcpus[] = { "kvm", "emulated", NULL };
	static const char *const bools[] = { "0", "1", NULL };
	static const char *const views[] = { "auto", "uffd", "uffd-isolate",
					     "mapfixed", NULL };
	const char *abi = getenv("GMEMU_ABI");
	unsigned long ms;
	struct abi a;
	int bad = 0, choice;

	if (abi && abi_parse(abi, &a)) {
		env_refuse("GMEMU_ABI", abi, UAPI_ABI_NAMES);
		bad = 1;
	}
	bad |= uapi_abi_from_env("contentmodes", &a) < 0; /* GMEMU_KVM_PARAMS */
	bad |= trace_init() < 0;
	bad |= env_uint("GMEMU_REVOKE_TIMEOUT_MS", 1, 3600000, &ms) < 0;
	bad |= env_choice("GMEMU_VCPU", vcpus, &choice) < 0;
	bad |= env_choice("GMEMU_PRELOAD_FOLLOW", bools, &choice) < 0;
	bad |= env_choice("GMEMU_VIEWS", views, &choice) < 0;
	if (bad) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Turn an internal result (value or -errno) into the system-call return. */
static long sys_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* mmap's return: the address, or MAP_FAILED with errno. */
static void *sys_ret_ptr(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	return (void *)r;
}

/* The object behind fd, or the errno for fd naming none of the kind. */
static int get_typed(int fd, enum obj_type type, struct object **out)
{
	int r = obj_lookup(fd, out);

	if (r < 0)
		return r;
	if (r == 0)
		return sys_fcntl(fd, F_GETFD, 0) < 0 ? -EBADF : -EINVAL;
	if ((*out)->type != type) {
		obj_put(*out);
		return -EINVAL;
	}
	return 0;
}

/* ---- the system handle ---- */

static const char *const kvm_param_keys[] = { "gmem_in_place_conversion",
					       NULL };

int uapi_abi_from_env(const char *profile, struct abi *out)
{
	struct abi abi = { PROFILE_CONTENTMODES };
	const char *env = getenv("GMEMU_ABI");
	int params[ARRAY_SIZE(kvm_param_keys)], r = 0;

	if (profile) {
		r = abi_parse(profile, &abi);
	} else if (env) {
		r = abi_parse(env, &abi);
		if (r)
			env_refuse("GMEMU_ABI", env, UAPI_ABI_NAMES);
	}
	if (r)
		return r;
	r = env_bool_params("GMEMU_KVM_PARAMS", kvm_param_keys, params);
	if (r < 0)
		return r;
	/* unset: the kernel's default, off where x86 selects
	 * CONFIG_KVM_VM_MEMORY_ATTRIBUTES (SW_PROTECTED, SEV, TDX) */
	*out = abi_with_in_place_param(abi, params[0] == 1);
	return 0;
}

int uapi_kvm_open(const char *profile, int flags)
{
	struct system *sys;
	struct abi abi;
	int fd, r;

	r = trace_init();
	if (r)
		return r;
	r = uapi_abi_from_env(profile, &abi);
	if (r)
		return r;
	sys = calloc(1, sizeof(*sys));
	if (!sys)
		return -ENOMEM;
	sys->abi = abi;
	fd = sys_memfd_create("gmemu-kvm", flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0) {
		free(sys);
		return fd;
	}
	r = obj_register(fd, OBJ_SYSTEM, sys);
	if (r) {
		sys_close(fd);
		free(sys);
		return r;
	}
	return fd;
}

int uapi_sev_open(int flags)
{
	int fd, r;

	fd = sys_memfd_create("gmemu-sev", flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0)
		return fd;
	r = obj_register(fd, OBJ_SEV, NULL);
	if (r) {
		sys_close(fd);
		return r;
	}
	return fd;
}

int gmemu_kvm_open_abi(const char *profile)
{
	const char *name = profile ? profile : getenv("GMEMU_ABI");
	int r = uapi_kvm_open(profile, 0);

	trace_ret("kvm_open", r, "abi=%s", name ? name : "contentmodes");
	return (int)sys_ret(r);
}

int gmemu_kvm_open(void)
{
	return gmemu_kvm_open_abi(NULL);
}

static long system_ioctl(struct system *sys, unsigned long req, void *arg)
{
	struct vm *vm;
	long r;
	int fd;

	switch (req) {
	case KVM_GET_API_VERSION:
		return arg ? -EINVAL : KVM_API_VERSION_VALUE;
	case KVM_CHECK_EXTENSION:
		return system_check_extension(sys->abi, (long)(uintptr_t)arg);
	case KVM_CREATE_VM:
		r = vm_create(sys->abi, (unsigned long)(uintptr_t)arg, &vm);
		if (r)
			return r;
		/* KVM_CREATE_VM descriptors are close-on-exec */
		fd = sys_memfd_create("gmemu-vm", MFD_CLOEXEC);
		if (fd < 0) {
			vm_put(vm);
			return fd;
		}
		r = obj_register(fd, OBJ_VM, vm);
		if (r) {
			sys_close(fd);
			vm_put(vm);
			return r;
		}
		return fd;
	case KVM_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : vcpu_mmap_size();
	default:
		return system_ioctl_passthrough(req, arg);
	}
}

/* ---- VM ioctls ---- */

static long vm_create_gmem_ioctl(struct vm *vm, void *arg, void *trace_copy)
{
	struct kvm_create_guest_memfd args;
	struct gmem *g;
	int fd, r;

	r = copy_from_user(&args, arg, sizeof(args));
	if (r)
		return r;
	memcpy(trace_copy, &args, sizeof(args));
	r = vm_create_gmem(vm, &args, &fd, &g);
	if (r)
		return r;
	r = obj_register(fd, OBJ_GMEM, g);
	if (r) {
		sys_close(fd);
		gmem_put(g);
		return r;
	}
	return fd;
}

static long vm_set_region_ioctl(struct vm *vm, void *arg, bool v2,
				void *trace_copy)
{
	struct kvm_userspace_memory_region2 r2 = { 0 };
	struct object *obj = NULL;
	struct gmem *g = NULL;
	int r, gerr = 0;

	r = copy_from_user(&r2, arg, v2 ? sizeof(r2)
				      : sizeof(struct kvm_userspace_memory_region));
	if (r)
		return r;
	memcpy(trace_copy, &r2, sizeof(r2));
	if (v2 && (r2.flags & KVM_MEM_GUEST_MEMFD)) {
		/* kvm_gmem_bind(): a closed descriptor is EBADF, one that
		 * is not a guest_memfd EINVAL */
		gerr = obj_lookup((int)r2.guest_memfd, &obj);
		if (gerr == 0)
			gerr = sys_fcntl((int)r2.guest_memfd, F_GETFD, 0) < 0 ?
				       -EBADF : -EINVAL;
		else if (gerr > 0 && obj->type != OBJ_GMEM)
			gerr = -EINVAL;
		else if (gerr > 0)
			gerr = 0;
		if (!gerr) {
			g = obj->gmem;
			gmem_get(g);
		}
		obj_put(obj);
	}
	return vm_set_memory_region(vm, &r2, v2, g, gerr);
}

/* Does fd name the /dev/sev handle?  (the SEV commands' sev_fd) */
static bool sev_fd_ok(int fd)
{
	struct object *obj;
	bool ok;

	if (obj_lookup(fd, &obj) <= 0)
		return false;
	ok = obj->type == OBJ_SEV;
	obj_put(obj);
	return ok;
}

static long vm_ioctl(struct vm *vm, unsigned long req, void *arg,
		     void *trace_copy)
{
	const char *why;
	struct vcpu *v;
	long r;
	int fd;

	r = vm_usable(vm);
	if (r)
		return r;
	switch (req) {
	case KVM_CHECK_EXTENSION:
		return vm_check_extension(vm, (long)(uintptr_t)arg);
	case KVM_CREATE_GUEST_MEMFD:
		return vm_create_gmem_ioctl(vm, arg, trace_copy);
	case KVM_SET_USER_MEMORY_REGION2:
		return vm_set_region_ioctl(vm, arg, true, trace_copy);
	case KVM_SET_USER_MEMORY_REGION:
		return vm_set_region_ioctl(vm, arg, false, trace_copy);
	case KVM_CREATE_VCPU:
		r = vcpu_create(vm, (unsigned long)(uintptr_t)arg, &v, &why);
		if (r) {
			if (why && trace_enabled)
				trace_printf("KVM_CREATE_VCPU: no vCPU backend: %s", why);
			return r;
		}
		/* KVM_CREATE_VCPU descriptors are close-on-exec */
		fd = sys_memfd_create("gmemu-vcpu", MFD_CLOEXEC);
		if (fd < 0) {
			vcpu_put(v);
			return fd;
		}
		r = obj_register(fd, OBJ_VCPU, v);
		if (r) {
			sys_close(fd);
			vcpu_put(v);
			return r;
		}
		return fd;
	case KVM_SET_MEMORY_ATTRIBUTES:
		if (!abi_profile(vm_abi(vm))->vm_attributes_ioctl)
			return -ENOTTY;
		return vm_set_memory_attributes(vm, arg);
	case KVM_ENABLE_CAP:
		return vm_enable_cap(vm, arg);
	case KVM_MEMORY_ENCRYPT_OP:
		return vm_memory_encrypt_op(vm, arg, sev_fd_ok);
	default:
		return vm_ioctl_arch(vm, req, arg);
	}
}

/* ---- guest_memfd ioctls: contract section 6, checks 1-5 ---- */

static long gmem_set_attributes(struct gmem *g, int fd, void *arg,
				void *trace_copy)
{
	const uint64_t modes = KVM_SET_MEMORY_ATTRIBUTES2_ZERO |
			       KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE;
	const struct abi_profile *p = abi_profile(gmem_abi(g));
	const struct platform_model *model = gmem_model(g);
	struct kvm_memory_attributes2 a;
	size_t i;
	long r;

	r = copy_from_user(&a, arg, sizeof(a));
	if (r)
		return r;
	memcpy(trace_copy, &a, sizeof(a));
	if (!p->content_modes ? a.flags != 0
			      : ((a.flags & ~modes) || (a.flags & modes) == modes))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(a.reserved); i++)
		if (a.reserved[i])
			return -EINVAL;
	if (!model || !model->private_mem)
		return -EINVAL;
	if (a.attributes & ~KVM_MEMORY_ATTRIBUTE_PRIVATE)
		return -EINVAL;
	if (!a.size || a.offset + a.size < a.offset ||
	    !PAGE_ALIGNED(a.offset) || !PAGE_ALIGNED(a.size) ||
	    a.offset + a.size > gmem_size(g))
		return -EINVAL;

	r = gmem_convert(g, &a, fd);
	if ((r == -EOPNOTSUPP || r == -EAGAIN || r == -ENOMEM) &&
	    copy_to_user((uint8_t *)arg +
				 offsetof(struct kvm_memory_attributes2,
					  error_offset),
			 &a.error_offset, sizeof(a.error_offset)))
		r = -EFAULT;
	memcpy(trace_copy, &a, sizeof(a));
	return r;
}

static long gmem_ioctl(struct gmem *g, int fd, unsigned long req, void *arg,
		       void *trace_copy)
{
	if (!abi_profile(gmem_abi(g))->gmem_attributes)
		return -ENOTTY;
	switch (req) {
	case KVM_SET_MEMORY_ATTRIBUTES2:
		/* (the conversion checks our descriptor where it needs it) */
		return gmem_set_attributes(g, fd, arg, trace_copy);
	default:
		return -ENOTTY;
	}
}

int gmemu_ioctl(int fd, unsigned long request, ...)
{
	/* the traced struct is our copy, never the caller's pointer */
	union {
		struct kvm_memory_attributes2 a2;
		struct kvm_userspace_memory_region2 r2;
		struct kvm_create_guest_memfd c;
	} copy;
	struct object *obj;
	va_list ap;
	void *arg;
	long r;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	r = obj_lookup(fd, &obj);
	if (r == 0)
		return (int)sys_ret(sys_ioctl(fd, request, arg));
	if (r < 0)
		goto out;
	memset(&copy, 0, sizeof(copy));
	switch (obj->type) {
	case OBJ_SYSTEM:
		r = system_ioctl(obj->sys, request, arg);
		break;
	case OBJ_VM:
		r = vm_ioctl(obj->vm, request, arg, &copy);
		break;
	case OBJ_GMEM:
		r = gmem_ioctl(obj->gmem, fd, request, arg, &copy);
		break;
	case OBJ_VCPU:
		r = vcpu_usable(obj->vcpu);
		if (!r)
			r = vcpu_ioctl(obj->vcpu, request, arg);
		break;
	default:
		r = -ENOTTY;
	}
	obj_put(obj);
	if (trace_enabled)
		trace_ioctl(fd, request,
			    request == KVM_SET_MEMORY_ATTRIBUTES2 ||
					    request == KVM_SET_USER_MEMORY_REGION2 ||
					    request == KVM_SET_USER_MEMORY_REGION ||
					    request == KVM_CREATE_GUEST_MEMFD
				    ? (void *)&copy
				    : arg,
			    r);
	return (int)sys_ret(r);
out:
	trace_ret("ioctl", r, "%d, %#lx", fd, request);
	return (int)sys_ret(r);
}

/* ---- file operations ---- */

static void *mmap_inner(void *addr, size_t len, int prot, int flags, int fd,
			off_t offset)
{
	struct object *obj = NULL;
	long r;

	/* a mapping over a view ends the view, as the kernel's would */
	if ((flags & MAP_FIXED) && (r = gmem_views_cut(addr, len)))
		return sys_ret_ptr(r);
	if (flags & MAP_ANONYMOUS)
		return sys_ret_ptr(sys_mmap(addr, len, prot, flags, fd,
						    offset));
	r = obj_lookup(fd, &obj);
	if (r == 0)
		return sys_ret_ptr(sys_mmap(addr, len, prot, flags, fd,
						    offset));
	if (r < 0)
		goto out;
	if (obj->type == OBJ_VCPU) {
		r = vcpu_usable(obj->vcpu);
		if (!r)
			r = vcpu_mmap(obj->vcpu, addr, len, prot, flags, offset);
		goto out;
	}
	if (obj->type != OBJ_GMEM) {
		r = -ENODEV;
		goto out;
	}
	/* mmap(2)'s own checks come before the file's */
	if (!len || !PAGE_ALIGNED(offset) || offset < 0 ||
	    (uint64_t)offset + len < (uint64_t)offset) {
		r = -EINVAL;
		goto out;
	}
	if (!(gmem_flags(obj->gmem) & GUEST_MEMFD_FLAG_MMAP)) {
		r = -ENODEV;
		goto out;
	}
	if ((flags & MAP_TYPE) != MAP_SHARED &&
	    (flags & MAP_TYPE) != MAP_SHARED_VALIDATE) {
		r = -EINVAL;
		goto out;
	}
	r = gmem_check_fd(obj->gmem, fd);
	if (!r)
		r = gmem_mmap(obj->gmem, addr, len, prot, flags, offset, 0);
out:
	if (trace_enabled)
		trace_ret("mmap", r < 0 && r > -4096 ? r : 0,
			  "%p, %#zx, %#x, %#x, %d, %#llx -> %#lx", addr, len,
			  prot, flags, fd, (unsigned long long)offset,
			  (unsigned long)r);
	obj_put(obj);
	return sys_ret_ptr(r);
}

void *gmemu_mmap(void *addr, size_t len, int prot, int flags, int fd,
		 off_t offset)
{
	bool began;
	void *p;

	if (!(flags & MAP_FIXED))
		return mmap_inner(addr, len, prot, flags, fd, offset);
	/* what it maps over may be a memslot's memory a vCPU uses */
	began = vm_host_unmap_begin(addr, len);
	p = mmap_inner(addr, len, prot, flags, fd, offset);
	vm_host_unmap_end(began);
	return p;
}

int gmemu_munmap(void *addr, size_t len)
{
	bool began;
	int r;

	if (!PAGE_ALIGNED((uintptr_t)addr) || !len)
		return (int)sys_ret(-EINVAL);
	began = vm_host_unmap_begin(addr, len);
	r = gmem_munmap(addr, len);
	vm_host_unmap_end(began);
	return (int)sys_ret(r);
}

int gmemu_fallocate(int fd, int mode, off_t offset, off_t len)
{
	struct object *obj;
	long r = obj_lookup(fd, &obj);

	if (r == 0)
		return (int)sys_ret(sys_fallocate(fd, mode, offset, len));
	if (r > 0) {
		if (obj->type == OBJ_GMEM) {
			r = gmem_check_fd(obj->gmem, fd);
			if (!r)
				r = gmem_fallocate(obj->gmem, mode, offset, len);
		} else {
			r = (offset < 0 || len <= 0) ? -EINVAL : -ENODEV;
		}
		obj_put(obj);
	}
	trace_ret("fallocate", r, "%d, %#x, %#llx, %#llx", fd, mode,
		  (unsigned long long)offset, (unsigned long long)len);
	return (int)sys_ret(r);
}

int gmemu_fstat(int fd, struct stat *st)
{
	struct object *obj;
	struct stat k;
	long r = obj_lookup(fd, &obj);

	if (r == 0) {
		r = sys_fstat(fd, &k);
	} else if (r > 0) {
		r = obj->type == OBJ_GMEM ? gmem_fstat(obj->gmem, fd, &k)
					  : sys_fstat(fd, &k);
		obj_put(obj);
	}
	if (r >= 0)
		r = copy_to_user(st, &k, sizeof(k));
	return (int)sys_ret(r);
}

/* read/write/pread/pwrite/ftruncate: guest_memfd (and KVM's other files)
 * have none of them.  1: not gmemu's, the caller does the real call. */
static long no_file_op(int fd, const char *call, long err)
{
	struct object *obj;
	long r = obj_lookup(fd, &obj);

	if (r == 0)
		return 1;
	if (r > 0) {
		obj_put(obj);
		r = err;
	}
	trace_ret(call, r, "%d", fd);
	return r;
}

ssize_t gmemu_read(int fd, void *buf, size_t count)
{
	long r = no_file_op(fd, "read", -EINVAL);

	return sys_ret(r == 1 ? sys_read(fd, buf, count) : r);
}

ssize_t gmemu_write(int fd, const void *buf, size_t count)
{
	long r = no_file_op(fd, "write", -EINVAL);

	return sys_ret(r == 1 ? sys_write(fd, buf, count) : r);
}

ssize_t gmemu_pread(int fd, void *buf, size_t count, off_t offset)
{
	long r = no_file_op(fd, "pread", -ESPIPE);

	return sys_ret(r == 1 ? sys_pread(fd, buf, count, offset) : r);
}

ssize_t gmemu_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	long r = no_file_op(fd, "pwrite", -ESPIPE);

	return sys_ret(r == 1 ? sys_pwrite(fd, buf, count, offset) : r);
}

int gmemu_ftruncate(int fd, off_t length)
{
	long r = no_file_op(fd, "ftruncate", -EINVAL);

	return (int)sys_ret(r == 1 ? sys_ftruncate(fd, length) : r);
}

int gmemu_close(int fd)
{
	int r;

	/* gmemu's own descriptors are not the program's to close */
	if (fd_is_hidden(fd))
		return (int)sys_ret(-EBADF);
	if (!obj_table_mine()) {
		/* a vfork() child: its descriptor, its parent's table */
		r = sys_close(fd);
		trace_ret("close", r, "%d", fd);
		return (int)sys_ret(r);
	}
	/* out of the table first: once closed, the number may be another
	 * thread's new descriptor */
	obj_fd_ops_lock();
	if (obj_peek(fd))
		obj_fd_closed(fd);
	r = sys_close(fd);
	obj_fd_ops_unlock();
	trace_ret("close", r, "%d", fd);
	return (int)sys_ret(r);
}

/* ---- gmemu's own calls ---- */

#define GMEM_CALL(fd, obj, r, call)                             \
	do {                                                    \
		r = get_typed(fd, OBJ_GMEM, &obj);              \
		if (!r) {                                       \
			r = gmem_check_fd(obj->gmem, fd);       \
			if (!r)                                 \
				r = call;                       \
			obj_put(obj);                           \
		}                                               \
	} while (0)

#define VM_CALL(fd, obj, r, call)                               \
	do {                                                    \
		r = get_typed(fd, OBJ_VM, &obj);                \
		if (!r) {                                       \
			r = vm_usable(obj->vm);                 \
			if (!r)                                 \
				r = call;                       \
			obj_put(obj);                           \
		}                                               \
	} while (0)

int gmemu_pin(int gmem_fd, uint64_t offset, uint64_t len)
{
	struct object *obj;
	int r;

	GMEM_CALL(gmem_fd, obj, r, gmem_pin(obj->gmem, offset, len, +1));
	trace_ret("pin", r, "%d, %#llx, %#llx", gmem_fd,
		  (unsigned long long)offset, (unsigned long long)len);
	return (int)sys_ret(r);
}

int gmemu_unpin(int gmem_fd, uint64_t offset, uint64_t len)
{
	struct object *obj;
	int r;

	GMEM_CALL(gmem_fd, obj, r, gmem_pin(obj->gmem, offset, len, -1));
	trace_ret("unpin", r, "%d, %#llx, %#llx", gmem_fd,
		  (unsigned long long)offset, (unsigned long long)len);
	return (int)sys_ret(r);
}

int gmemu_pin_transient(int gmem_fd, uint64_t offset)
{
	struct object *obj;
	int r;

	GMEM_CALL(gmem_fd, obj, r, gmem_pin_transient(obj->gmem, offset));
	trace_ret("pin_transient", r, "%d, %#llx", gmem_fd,
		  (unsigned long long)offset);
	return (int)sys_ret(r);
}

int gmemu_inject_enomem(int gmem_fd, unsigned int n)
{
	struct object *obj;
	int r;

	GMEM_CALL(gmem_fd, obj, r, gmem_inject_enomem(obj->gmem, n));
	trace_ret("inject_enomem", r, "%d, %u", gmem_fd, n);
	return (int)sys_ret(r);
}

int gmemu_gmem_set_revoke_timeout(int gmem_fd, unsigned int ms)
{
	struct object *obj;
	int r;

	GMEM_CALL(gmem_fd, obj, r, gmem_set_revoke_timeout(obj->gmem, ms));
	trace_ret("set_revoke_timeout", r, "%d, %u", gmem_fd, ms);
	return (int)sys_ret(r);
}

int gmemu_vm_set_shared_gpa_bit(int vm_fd, unsigned int bit)
{
	struct object *obj;
	int r;

	VM_CALL(vm_fd, obj, r, vm_set_shared_bit(obj->vm, bit));
	trace_ret("vm_set_shared_gpa_bit", r, "%d, %u", vm_fd, bit);
	return (int)sys_ret(r);
}

int gmemu_vm_finalize(int vm_fd)
{
	struct object *obj;
	int r;

	VM_CALL(vm_fd, obj, r, vm_finalize(obj->vm));
	trace_ret("vm_finalize", r, "%d", vm_fd);
	return (int)sys_ret(r);
}

int gmemu_vm_populate(int vm_fd, uint64_t gpa, const void *src, uint64_t len)
{
	struct object *obj;
	int r;

	VM_CALL(vm_fd, obj, r, vm_populate(obj->vm, gpa, src, len));
	trace_ret("vm_populate", r, "%d, %#llx, %p, %#llx", vm_fd,
		  (unsigned long long)gpa, src, (unsigned long long)len);
	return (int)sys_ret(r);
}

int gmemu_vm_measurement(int vm_fd, uint8_t out[32])
{
	struct object *obj;
	int r;

	VM_CALL(vm_fd, obj, r, vm_measurement(obj->vm, out));
	return (int)sys_ret(r);
}

int gmemu_guest_access(int vm_fd, uint64_t gpa, void *buf, size_t len,
		       unsigned int flags, struct gmemu_exit *exit)
{
	struct object *obj;
	int r;

	VM_CALL(vm_fd, obj, r,
		vm_guest_access(obj->vm, gpa, buf, len, flags, exit));
	if (trace_enabled)
		trace_ret("guest_access", r, "%d, %#llx, %#zx, %s%s", vm_fd,
			  (unsigned long long)gpa, len,
			  flags & GMEMU_ACCESS_WRITE ? "write" : "read",
			  flags & GMEMU_ACCESS_PRIVATE ? "|private" : "");
	return (int)sys_ret(r);
}

int gmemu_gmem_info(int gmem_fd, struct gmemu_gmem_info *info)
{
	struct gmemu_gmem_info out = { 0 };
	struct object *obj;
	size_t sz;
	int r;

	r = copy_from_user(&sz, info, sizeof(sz)); /* sz leads the struct */
	if (r)
		return (int)sys_ret(r);
	if (sz < offsetof(struct gmemu_gmem_info, profile))
		return (int)sys_ret(-EINVAL);
	GMEM_CALL(gmem_fd, obj, r, gmem_info(obj->gmem, &out));
	if (!r) {
		out.sz = MIN(sz, sizeof(out));
		r = copy_to_user(info, &out, out.sz);
	}
	return (int)sys_ret(r);
}

int gmemu_gmem_attribute(int gmem_fd, uint64_t offset)
{
	struct object *obj;
	int r;

	GMEM_CALL(gmem_fd, obj, r, gmem_attribute(obj->gmem, offset));
	return (int)sys_ret(r);
}

int gmemu_gmem_picture(int gmem_fd, char *buf, size_t width)
{
	struct object *obj;
	char *pic;
	int r;

	if (!buf || !width)
		return (int)sys_ret(!buf ? -EFAULT : -EINVAL);
	width = MIN(width, (size_t)1 << 20);
	pic = malloc(width + 1);
	if (!pic)
		return (int)sys_ret(-ENOMEM);
	GMEM_CALL(gmem_fd, obj, r, gmem_picture(obj->gmem, pic, width));
	if (!r)
		r = copy_to_user(buf, pic, strlen(pic) + 1);
	free(pic);
	return (int)sys_ret(r);
}

int gmemu_gmem_dump(int gmem_fd, FILE *out)
{
	struct object *obj;
	uint32_t version;
	int r;

	GMEM_CALL(gmem_fd, obj, r, gmem_dump(obj->gmem, out ? out : stdout));
	if (r == -EPROTO && gmem_fd_version(gmem_fd, &version) == 0)
		fprintf(out ? out : stdout,
			"gmem of layout version %u; this gmemu reads version %u\n",
			version, gmem_layout_version());
	return (int)sys_ret(r);
}

const char *gmemu_vcpu_backend(void)
{
	const char *why = NULL;

	return vcpu_backend_name(&why);
}

const char *gmemu_vcpu_backend_unavailable(const char *backend)
{
	return vcpu_backend_why(backend);
}
