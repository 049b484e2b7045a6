// SPDX-License-Identifier: MIT
/*
 * The entry points: each mirrors a system call, finds the object behind the
 * fd, checks arguments in the kernel's order and calls the object.  An fd
 * that is not gmemu's goes to the real system call unchanged.
 */

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../internal.h"

#define KVM_API_VERSION_VALUE 12

__attribute__((constructor)) static void gmemu_init(void)
{
	trace_init();
	pthread_atfork(views_atfork_prepare, views_atfork_parent,
		       views_atfork_child);
	atexit(agents_stop_all);
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

static void trace_ret(const char *call, long r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void trace_ret(const char *call, long r, const char *fmt, ...)
{
	char args[320];
	va_list ap;

	if (!trace_enabled)
		return;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	if (r < 0)
		trace_printf("%s(%s) = -1 %s (%s)", call, args,
			     strerrorname_np((int)-r) ?: "?",
			     strerror((int)-r));
	else
		trace_printf("%s(%s) = %ld", call, args, r);
}

/* ---- system handle ---- */

static void system_release(struct object *obj)
{
	free(obj);
}

int gmemu_kvm_open_abi(const char *profile)
{
	enum abi_profile p = PROFILE_CONTENTMODES;
	struct system *sys;
	const char *name = profile;
	int fd, r;

	if (!name)
		name = getenv("GMEMU_ABI");
	if (name && *name) {
		r = profile_parse(name, &p);
		if (r) {
			trace_ret("kvm_open", r, "abi=%s", name);
			return (int)sys_ret(r);
		}
	}
	sys = calloc(1, sizeof(*sys));
	if (!sys)
		return (int)sys_ret(-ENOMEM);
	fd = memfd_create("gmemu-kvm", 0);
	if (fd < 0) {
		r = -errno;
		free(sys);
		return (int)sys_ret(r);
	}
	obj_init(&sys->obj, OBJ_SYSTEM, fd, system_release);
	sys->profile = p;
	r = obj_insert(&sys->obj);
	if (r) {
		close(fd);
		free(sys);
		return (int)sys_ret(r);
	}
	trace_ret("kvm_open", fd, "abi=%s", profile_name(p));
	return fd;
}

int gmemu_kvm_open(void)
{
	return gmemu_kvm_open_abi(NULL);
}

static long system_ioctl(struct system *sys, unsigned long req, void *arg)
{
	switch (req) {
	case KVM_GET_API_VERSION:
		return arg ? -EINVAL : KVM_API_VERSION_VALUE;
	case KVM_CHECK_EXTENSION:
		return model_check_extension(NULL, sys->profile,
					     (long)(uintptr_t)arg);
	case KVM_CREATE_VM:
		return vm_create(sys, (unsigned long)(uintptr_t)arg);
	case KVM_GET_VCPU_MMAP_SIZE: {
		/* the size of the real vCPUs' kvm_run area */
		int kvm = kvmhost_fd();
		long r;

		if (kvm < 0)
			return kvm;
		r = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, arg);
		return r < 0 ? -errno : r;
	}
	default:
		return -ENOTTY;
	}
}

/* ---- guest_memfd ioctls: SPEC 6 checks 1-5, then the engine ---- */

static long gmem_set_attributes(struct gmem *g, void *arg)
{
	const uint64_t modes = KVM_SET_MEMORY_ATTRIBUTES2_ZERO |
			       KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE;
	enum abi_profile profile = (enum abi_profile)g->hdr->profile;
	const struct platform_model *model = model_find(g->hdr->vm_type);
	struct kvm_memory_attributes2 a;
	size_t i;
	long r;

	if (!arg)
		return -EFAULT;
	memcpy(&a, arg, sizeof(a));
	if (profile == PROFILE_V8 ? a.flags != 0
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
	    a.offset + a.size > g->size)
		return -EINVAL;

	r = gmem_convert(g, &a);
	if (r == -EOPNOTSUPP || r == -EAGAIN || r == -ENOMEM)
		memcpy((uint8_t *)arg +
			       offsetof(struct kvm_memory_attributes2,
					error_offset),
		       &a.error_offset, sizeof(a.error_offset));
	return r;
}

static long gmem_ioctl(struct gmem *g, unsigned long req, void *arg)
{
	if (g->hdr->profile == PROFILE_LEGACY)
		return -ENOTTY;
	switch (req) {
	case KVM_SET_MEMORY_ATTRIBUTES2:
		return gmem_set_attributes(g, arg);
	default:
		return -ENOTTY;
	}
}

static void trace_ioctl(int fd, unsigned long req, void *arg, long r)
{
	const char *name = ioctl_name(req);
	char reqbuf[32];

	if (!trace_enabled)
		return;
	if (!name) {
		snprintf(reqbuf, sizeof(reqbuf), "%#lx", req);
		name = reqbuf;
	}
	if (req == KVM_SET_MEMORY_ATTRIBUTES2 && arg) {
		const struct kvm_memory_attributes2 *a = arg;

		trace_ret("ioctl", r,
			  "%d, %s, {offset=%#llx, size=%#llx, attributes=%#llx, "
			  "flags=%#llx, error_offset=%#llx}",
			  fd, name, (unsigned long long)a->offset,
			  (unsigned long long)a->size,
			  (unsigned long long)a->attributes,
			  (unsigned long long)a->flags,
			  (unsigned long long)a->error_offset);
	} else if (req == KVM_SET_USER_MEMORY_REGION2 && arg) {
		const struct kvm_userspace_memory_region2 *m = arg;

		trace_ret("ioctl", r,
			  "%d, %s, {slot=%u, flags=%#x, gpa=%#llx, size=%#llx, "
			  "uaddr=%#llx, gmem=%u, gmem_offset=%#llx}",
			  fd, name, m->slot, m->flags,
			  (unsigned long long)m->guest_phys_addr,
			  (unsigned long long)m->memory_size,
			  (unsigned long long)m->userspace_addr, m->guest_memfd,
			  (unsigned long long)m->guest_memfd_offset);
	} else if (req == KVM_SET_MEMORY_ATTRIBUTES && arg) {
		const struct kvm_memory_attributes *a = arg;

		trace_ret("ioctl", r,
			  "%d, %s, {address=%#llx, size=%#llx, attributes=%#llx, flags=%#llx}",
			  fd, name, (unsigned long long)a->address,
			  (unsigned long long)a->size,
			  (unsigned long long)a->attributes,
			  (unsigned long long)a->flags);
	} else if (req == KVM_CREATE_GUEST_MEMFD && arg) {
		const struct kvm_create_guest_memfd *c = arg;

		trace_ret("ioctl", r, "%d, %s, {size=%#llx, flags=%#llx}", fd,
			  name, (unsigned long long)c->size,
			  (unsigned long long)c->flags);
	} else {
		trace_ret("ioctl", r, "%d, %s, %#lx", fd, name,
			  (unsigned long)(uintptr_t)arg);
	}
}

int gmemu_ioctl(int fd, unsigned long request, ...)
{
	struct object *obj;
	va_list ap;
	void *arg;
	long r;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	obj = obj_get_fd(fd);
	if (!obj)
		return ioctl(fd, request, arg);
	switch (obj->type) {
	case OBJ_SYSTEM:
		r = system_ioctl((struct system *)obj, request, arg);
		break;
	case OBJ_VM:
		r = vm_ioctl((struct vm *)obj, fd, request, arg);
		break;
	case OBJ_GMEM:
		r = gmem_ioctl((struct gmem *)obj, request, arg);
		break;
	case OBJ_VCPU:
		r = vcpu_ioctl((struct vcpu *)obj, request, arg);
		break;
	default:
		r = -ENOTTY;
	}
	obj_put(obj);
	trace_ioctl(fd, request, arg, r);
	return (int)sys_ret(r);
}

/* ---- file operations ---- */

void *gmemu_mmap(void *addr, size_t len, int prot, int flags, int fd,
		 off_t offset)
{
	struct object *obj = (flags & MAP_ANONYMOUS) ? NULL : obj_get_fd(fd);
	struct gmem *g;
	void *p = MAP_FAILED;
	int err = 0;

	if (!obj)
		return mmap(addr, len, prot, flags, fd, offset);
	if (obj->type == OBJ_VCPU) {
		/* the real vCPU's kvm_run area */
		p = vcpu_mmap((struct vcpu *)obj, addr, len, prot, flags, offset);
		err = p == MAP_FAILED ? -errno : 0;
		goto out;
	}
	if (obj->type != OBJ_GMEM) {
		err = -ENODEV;
		goto out;
	}
	g = (struct gmem *)obj;
	/* mmap(2)'s own checks come before the file's. */
	if (!len || !PAGE_ALIGNED((uint64_t)offset) || offset < 0 ||
	    (uint64_t)offset + len < (uint64_t)offset) {
		err = -EINVAL;
		goto out;
	}
	if (!(g->hdr->flags & GUEST_MEMFD_FLAG_MMAP)) {
		err = -ENODEV;
		goto out;
	}
	if ((flags & MAP_TYPE) != MAP_SHARED &&
	    (flags & MAP_TYPE) != MAP_SHARED_VALIDATE) {
		err = -EINVAL;
		goto out;
	}
	p = view_create(g, addr, len, prot, flags, offset, &err);
out:
	if (trace_enabled && err)
		trace_ret("mmap", err, "%p, %#zx, %#x, %#x, %d, %#llx", addr,
			  len, prot, flags, fd, (unsigned long long)offset);
	else if (trace_enabled)
		trace_printf("mmap(%p, %#zx, %#x, %#x, %d, %#llx) = %p", addr,
			     len, prot, flags, fd, (unsigned long long)offset, p);
	obj_put(obj);
	if (err) {
		errno = -err;
		return MAP_FAILED;
	}
	return p;
}

int gmemu_munmap(void *addr, size_t len)
{
	int r;

	if (!PAGE_ALIGNED((uintptr_t)addr) || !len)
		return (int)sys_ret(-EINVAL);
	r = view_unmap(addr, len);
	return (int)sys_ret(r);
}

int gmemu_fallocate(int fd, int mode, off_t offset, off_t len)
{
	struct object *obj = obj_get_fd(fd);
	long r;

	if (!obj)
		return fallocate(fd, mode, offset, len);
	if (obj->type == OBJ_GMEM)
		r = gmem_fallocate((struct gmem *)obj, mode, offset, len);
	else
		r = (offset < 0 || len <= 0) ? -EINVAL : -ENODEV;
	trace_ret("fallocate", r, "%d, %#x, %#llx, %#llx", fd, mode,
		  (unsigned long long)offset, (unsigned long long)len);
	obj_put(obj);
	return (int)sys_ret(r);
}

int gmemu_fstat(int fd, struct stat *st)
{
	struct object *obj = obj_get_fd(fd);
	long r;

	if (!obj)
		return fstat(fd, st);
	if (obj->type == OBJ_GMEM)
		r = gmem_fstat((struct gmem *)obj, fd, st);
	else
		r = fstat(fd, st) ? -errno : 0;
	trace_ret("fstat", r, "%d", fd);
	obj_put(obj);
	return (int)sys_ret(r);
}

/* read/write/pread/pwrite/ftruncate: guest_memfd has none of them. */
static long no_file_op(int fd, const char *call, long err)
{
	struct object *obj = obj_get_fd(fd);

	if (!obj)
		return 1; /* not ours: caller does the real call */
	trace_ret(call, err, "%d", fd);
	obj_put(obj);
	return err;
}

ssize_t gmemu_read(int fd, void *buf, size_t count)
{
	long r = no_file_op(fd, "read", -EINVAL);

	return r == 1 ? read(fd, buf, count) : sys_ret(r);
}

ssize_t gmemu_write(int fd, const void *buf, size_t count)
{
	long r = no_file_op(fd, "write", -EINVAL);

	return r == 1 ? write(fd, buf, count) : sys_ret(r);
}

ssize_t gmemu_pread(int fd, void *buf, size_t count, off_t offset)
{
	long r = no_file_op(fd, "pread", -ESPIPE);

	return r == 1 ? pread(fd, buf, count, offset) : sys_ret(r);
}

ssize_t gmemu_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	long r = no_file_op(fd, "pwrite", -ESPIPE);

	return r == 1 ? pwrite(fd, buf, count, offset) : sys_ret(r);
}

int gmemu_ftruncate(int fd, off_t length)
{
	long r = no_file_op(fd, "ftruncate", -EINVAL);

	return r == 1 ? ftruncate(fd, length) : (int)sys_ret(r);
}

int gmemu_close(int fd)
{
	struct object *obj = obj_get_fd(fd);
	int r;

	if (!obj)
		return close(fd);
	r = close(fd) ? -errno : 0;
	if (!r)
		obj_fd_closed(obj, fd);
	trace_ret("close", r, "%d", fd);
	obj_put(obj);
	return (int)sys_ret(r);
}

/* ---- gmemu's own calls ---- */

static struct gmem *gmem_get(int fd, int *err)
{
	struct object *obj = obj_get_fd(fd);

	if (!obj) {
		*err = fcntl(fd, F_GETFD) < 0 ? -EBADF : -EINVAL;
		return NULL;
	}
	if (obj->type != OBJ_GMEM) {
		obj_put(obj);
		*err = -EINVAL;
		return NULL;
	}
	return (struct gmem *)obj;
}

static struct vm *vm_get(int fd, int *err)
{
	struct object *obj = obj_get_fd(fd);

	if (!obj) {
		*err = fcntl(fd, F_GETFD) < 0 ? -EBADF : -EINVAL;
		return NULL;
	}
	if (obj->type != OBJ_VM) {
		obj_put(obj);
		*err = -EINVAL;
		return NULL;
	}
	return (struct vm *)obj;
}

int gmemu_pin(int gmem_fd, uint64_t offset, uint64_t len)
{
	int r = 0;
	struct gmem *g = gmem_get(gmem_fd, &r);

	if (g) {
		r = gmem_pin(g, offset, len, +1);
		obj_put(&g->obj);
	}
	trace_ret("pin", r, "%d, %#llx, %#llx", gmem_fd,
		  (unsigned long long)offset, (unsigned long long)len);
	return (int)sys_ret(r);
}

int gmemu_unpin(int gmem_fd, uint64_t offset, uint64_t len)
{
	int r = 0;
	struct gmem *g = gmem_get(gmem_fd, &r);

	if (g) {
		r = gmem_pin(g, offset, len, -1);
		obj_put(&g->obj);
	}
	trace_ret("unpin", r, "%d, %#llx, %#llx", gmem_fd,
		  (unsigned long long)offset, (unsigned long long)len);
	return (int)sys_ret(r);
}

int gmemu_pin_transient(int gmem_fd, uint64_t offset)
{
	int r = 0;
	struct gmem *g = gmem_get(gmem_fd, &r);

	if (g) {
		r = gmem_pin_transient(g, offset);
		obj_put(&g->obj);
	}
	trace_ret("pin_transient", r, "%d, %#llx", gmem_fd,
		  (unsigned long long)offset);
	return (int)sys_ret(r);
}

int gmemu_inject_enomem(int gmem_fd, unsigned int n)
{
	int r = 0;
	struct gmem *g = gmem_get(gmem_fd, &r);

	if (g) {
		r = gmem_lock(g);
		if (!r) {
			g->hdr->inject_enomem = n;
			gmem_unlock(g);
		}
		obj_put(&g->obj);
	}
	trace_ret("inject_enomem", r, "%d, %u", gmem_fd, n);
	return (int)sys_ret(r);
}

int gmemu_gmem_set_revoke_timeout(int gmem_fd, unsigned int ms)
{
	int r = 0;
	struct gmem *g = gmem_get(gmem_fd, &r);

	if (g) {
		if (ms < 1 || ms > 3600000) {
			r = -EINVAL;
		} else {
			r = gmem_lock(g);
			if (!r) {
				g->hdr->revoke_timeout_ms = ms;
				gmem_unlock(g);
			}
		}
		obj_put(&g->obj);
	}
	trace_ret("set_revoke_timeout", r, "%d, %u", gmem_fd, ms);
	return (int)sys_ret(r);
}

int gmemu_vm_set_shared_gpa_bit(int vm_fd, unsigned int bit)
{
	int r = 0;
	struct vm *vm = vm_get(vm_fd, &r);

	if (vm) {
		r = vm_set_shared_bit(vm, bit);
		obj_put(&vm->obj);
	}
	trace_ret("vm_set_shared_gpa_bit", r, "%d, %u", vm_fd, bit);
	return (int)sys_ret(r);
}

int gmemu_vm_finalize(int vm_fd)
{
	int r = 0;
	struct vm *vm = vm_get(vm_fd, &r);

	if (vm) {
		r = vm_finalize(vm);
		obj_put(&vm->obj);
	}
	trace_ret("vm_finalize", r, "%d", vm_fd);
	return (int)sys_ret(r);
}

int gmemu_vm_populate(int vm_fd, uint64_t gpa, const void *src, uint64_t len)
{
	int r = 0;
	struct vm *vm = vm_get(vm_fd, &r);

	if (vm) {
		r = vm_populate(vm, gpa, src, len);
		obj_put(&vm->obj);
	}
	trace_ret("vm_populate", r, "%d, %#llx, %p, %#llx", vm_fd,
		  (unsigned long long)gpa, src, (unsigned long long)len);
	return (int)sys_ret(r);
}

int gmemu_vm_measurement(int vm_fd, uint8_t out[32])
{
	int r = 0;
	struct vm *vm;

	if (!out)
		return (int)sys_ret(-EFAULT);
	vm = vm_get(vm_fd, &r);
	if (vm) {
		pthread_rwlock_rdlock(&vm->slots_lock);
		memcpy(out, vm->measurement, sizeof(vm->measurement));
		pthread_rwlock_unlock(&vm->slots_lock);
		obj_put(&vm->obj);
	}
	return (int)sys_ret(r);
}

int gmemu_guest_access(int vm_fd, uint64_t gpa, void *buf, size_t len,
		       unsigned int flags, struct gmemu_exit *exit)
{
	int r = 0;
	struct vm *vm = vm_get(vm_fd, &r);

	if (vm) {
		r = vcpu_access(vm, gpa, buf, len, flags, exit);
		obj_put(&vm->obj);
	}
	if (trace_enabled)
		trace_ret("guest_access", r, "%d, %#llx, %#zx, %s%s", vm_fd,
			  (unsigned long long)gpa, len,
			  flags & GMEMU_ACCESS_WRITE ? "write" : "read",
			  flags & GMEMU_ACCESS_PRIVATE ? "|private" : "");
	return (int)sys_ret(r);
}

int gmemu_gmem_info(int gmem_fd, struct gmemu_gmem_info *info)
{
	int r = 0;
	struct gmem *g;

	if (!info)
		return (int)sys_ret(-EFAULT);
	g = gmem_get(gmem_fd, &r);
	if (g) {
		r = gmem_info(g, info);
		obj_put(&g->obj);
	}
	return (int)sys_ret(r);
}

int gmemu_gmem_attribute(int gmem_fd, uint64_t offset)
{
	int r = 0;
	struct gmem *g = gmem_get(gmem_fd, &r);

	if (!g)
		return (int)sys_ret(r);
	if (offset >= g->size) {
		r = -EINVAL;
	} else {
		r = gmem_lock(g);
		if (!r) {
			r = (int)rm_get_indexed(&g->space, &g->hdr->attrs,
						&g->attr_index,
						offset >> PAGE_SHIFT, NULL);
			gmem_unlock(g);
		}
	}
	obj_put(&g->obj);
	return (int)sys_ret(r);
}

int gmemu_gmem_picture(int gmem_fd, char *buf, size_t width)
{
	int r = 0;
	struct gmem *g;

	if (!buf || !width)
		return (int)sys_ret(-EINVAL);
	g = gmem_get(gmem_fd, &r);
	if (g) {
		r = gmem_picture(g, buf, width);
		obj_put(&g->obj);
	}
	return (int)sys_ret(r);
}

int gmemu_gmem_dump(int gmem_fd, FILE *out)
{
	int r = 0;
	struct gmem *g = gmem_get(gmem_fd, &r);

	if (g) {
		r = gmem_dump(g, out ? out : stdout);
		obj_put(&g->obj);
	}
	return (int)sys_ret(r);
}
