// SPDX-License-Identifier: MIT
/*
 * The descriptor and path mirrors: dup and friends keep gmemu's descriptor
 * table true; lseek and the stat calls answer with a gmem's own size;
 * /dev/kvm and the kvm module's parameters exist whether or not the host
 * has them; madvise and mremap follow guest_memfd's rules on views.  What
 * is not gmemu's goes to the kernel as it came.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/sys.h"
#include "../base/uaccess.h"
#include "object.h"
#include "trace.h"
#include "uapi.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define KVM_DEV "/dev/kvm"
#define SEV_DEV "/dev/sev"
#define KVM_PARAMS "/sys/module/kvm/parameters/"

static long ret(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* A path from the caller's memory, checked: -EFAULT, -ENAMETOOLONG. */
static int path_copy(char *buf, const char *user)
{
	size_t n = 0;

	if (!user)
		return -EFAULT;
	while (n < PATH_MAX) {
		/* never across a page the string may not reach */
		size_t chunk = MIN((size_t)64, PAGE_SIZE - (((uintptr_t)user + n) &
							    (PAGE_SIZE - 1)));

		chunk = MIN(chunk, (size_t)PATH_MAX - n);
		if (copy_from_user(buf + n, user + n, chunk))
			return -EFAULT;
		if (memchr(buf + n, 0, chunk))
			return 0;
		n += chunk;
	}
	return -ENAMETOOLONG;
}

enum path_kind { PATH_OTHER, PATH_KVM, PATH_SEV, PATH_PARAM, PATH_ABSENT };

/* /dev/kvm, /dev/sev and the module parameters of the host gmemu presents:
 * kvm's from the host table, no vendor module.  Nothing of the real host's
 * shows through. */
static enum path_kind path_kind(const char *path, const char **value)
{
	static const char *const vendor[] = { "/sys/module/kvm_intel/parameters/",
					      "/sys/module/kvm_amd/parameters/" };
	struct abi abi = { PROFILE_CONTENTMODES };
	size_t i;

	if (!strcmp(path, KVM_DEV))
		return PATH_KVM;
	/* the host gmemu presents runs SEV-SNP guests: its /dev/sev is there */
	if (!strcmp(path, SEV_DEV))
		return PATH_SEV;
	for (i = 0; i < ARRAY_SIZE(vendor); i++)
		if (!strncmp(path, vendor[i], strlen(vendor[i])))
			return PATH_ABSENT;
	if (strncmp(path, KVM_PARAMS, strlen(KVM_PARAMS)))
		return PATH_OTHER;
	/* the values of the profile (and parameters) /dev/kvm would get now */
	if (uapi_abi_from_env(NULL, &abi))
		abi.id = PROFILE_CONTENTMODES;
	return host_kvm_param(abi, path + strlen(KVM_PARAMS), value) ? PATH_ABSENT
								      : PATH_PARAM;
}

int gmemu_path_emulated(const char *path)
{
	char buf[PATH_MAX];
	const char *v;
	int r = path_copy(buf, path);

	if (r)
		return (int)ret(r);
	return path_kind(buf, &v) != PATH_OTHER;
}

/* /proc/self/fd/N (or /proc/<our pid>/fd/N): N, else -1. */
static int proc_fd_number(const char *path)
{
	const char *p;
	char *end;
	long pid, fd;

	if (strncmp(path, "/proc/", 6))
		return -1;
	p = path + 6;
	if (!strncmp(p, "self/", 5)) {
		p += 5;
	} else {
		pid = strtol(p, &end, 10);
		if (end == p || *end != '/' || pid != sys_getpid())
			return -1;
		p = end + 1;
	}
	if (strncmp(p, "fd/", 3))
		return -1;
	fd = strtol(p + 3, &end, 10);
	return *end || fd < 0 || fd > INT_MAX ? -1 : (int)fd;
}

static int param_open(const char *value, int flags)
{
	int fd;
	long r;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES; /* 0444, as the kernel's */
	fd = sys_memfd_create("gmemu-kvm-param", flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0)
		return fd;
	r = sys_write(fd, value, strlen(value));
	if (r >= 0)
		r = sys_lseek(fd, 0, SEEK_SET);
	if (r < 0) {
		sys_close(fd);
		return (int)r;
	}
	return fd;
}

int gmemu_openat(int dirfd, const char *path, int flags, ...)
{
	char buf[PATH_MAX];
	const char *value;
	mode_t mode = 0;
	va_list ap;
	int r, fd;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	r = path_copy(buf, path);
	if (r)
		return (int)ret(r);
	switch (path_kind(buf, &value)) {
	case PATH_KVM:
		r = uapi_kvm_open(NULL, flags);
		trace_ret("open", r, "%s, %#x", buf, flags);
		return (int)ret(r);
	case PATH_SEV:
		r = uapi_sev_open(flags);
		trace_ret("open", r, "%s, %#x", buf, flags);
		return (int)ret(r);
	case PATH_PARAM:
		return (int)ret(param_open(value, flags));
	case PATH_ABSENT:
		return (int)ret(-ENOENT);
	case PATH_OTHER:
		break;
	}
	if (proc_fd_number(buf) >= 0 && obj_table_mine() &&
	    obj_peek(proc_fd_number(buf))) {
		/* /proc/self/fd/N of gmemu's N (a memfd: the open never
		 * waits) names what N names: one step with N's bookkeeping,
		 * which a close of N may be changing.  Any other N has none,
		 * and its open may wait (a FIFO) without the lock. */
		obj_fd_ops_lock();
		fd = sys_openat(dirfd, buf, flags, (int)mode);
		if (fd >= 0)
			obj_fd_dup(proc_fd_number(buf), fd);
		obj_fd_ops_unlock();
		return (int)ret(fd);
	}
	fd = sys_openat(dirfd, buf, flags, (int)mode);
	if (fd >= 0 && proc_fd_number(buf) < 0 && !strncmp(buf, "/proc/", 6) &&
	    obj_table_mine()) {
		/* another process's gmem, reopened: gmemu's from the start */
		struct object *obj;

		r = obj_lookup(fd, &obj);
		if (r < 0) {
			sys_close(fd);
			return (int)ret(r);
		}
		if (r > 0)
			obj_put(obj);
	}
	return (int)ret(fd);
}

int gmemu_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return gmemu_openat(AT_FDCWD, path, flags, mode);
}

int gmemu_access(const char *path, int mode)
{
	char buf[PATH_MAX];
	const char *value;
	int r = path_copy(buf, path);

	if (r)
		return (int)ret(r);
	switch (path_kind(buf, &value)) {
	case PATH_KVM:
	case PATH_SEV:
		return 0;
	case PATH_PARAM:
		return (int)ret(mode & (W_OK | X_OK) ? -EACCES : 0);
	case PATH_ABSENT:
		return (int)ret(-ENOENT);
	case PATH_OTHER:
		break;
	}
	return (int)ret(SYS4(SYS_faccessat, AT_FDCWD, buf, mode, 0));
}

/* A misc device node gmemu answers for: the host's node where there is
 * one, else the kernel's (major 10). */
static int stat_misc_node(const char *node, mode_t perm, unsigned int minor,
			  struct stat *k)
{
	if (SYS4(SYS_newfstatat, AT_FDCWD, node, k, 0) == 0)
		return 0;
	memset(k, 0, sizeof(*k));
	k->st_mode = S_IFCHR | perm;
	k->st_rdev = makedev(10, minor);
	k->st_nlink = 1;
	k->st_blksize = PAGE_SIZE;
	return 0;
}

/* stat of what gmemu answers for: 0 done, 1 not gmemu's. */
static int stat_emulated(const char *buf, struct stat *k)
{
	const char *value;
	int fd;

	switch (path_kind(buf, &value)) {
	case PATH_KVM:
		return stat_misc_node(KVM_DEV, 0666, 232, k);
	case PATH_SEV:
		/* as the ccp driver's node is */
		return stat_misc_node(SEV_DEV, 0600, 124, k);
	case PATH_PARAM:
		memset(k, 0, sizeof(*k));
		k->st_mode = S_IFREG | 0444;
		k->st_size = PAGE_SIZE; /* sysfs attributes say a page */
		k->st_nlink = 1;
		k->st_blksize = PAGE_SIZE;
		return 0;
	case PATH_ABSENT:
		return -ENOENT;
	case PATH_OTHER:
		break;
	}
	fd = proc_fd_number(buf);
	if (fd >= 0 && gmemu_fd_kind(fd) == GMEMU_FD_GMEM)
		return gmemu_fstat(fd, k) ? -errno : 0;
	return 1;
}

/* vfs_statx()'s flags (AT_STATX_* are statx's own) */
#define STAT_FLAGS (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | \
		    AT_STATX_SYNC_TYPE)

int gmemu_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	char buf[PATH_MAX];
	struct stat k;
	int r = path_copy(buf, path);

	if (r)
		return (int)ret(r);
	/* the kernel's argument checks come first, for gmemu's paths too */
	if (flags & ~STAT_FLAGS)
		return (int)ret(-EINVAL);
	if ((flags & AT_EMPTY_PATH) && !buf[0])
		return gmemu_fstat(dirfd, st);
	r = buf[0] == '/' && !(flags & AT_SYMLINK_NOFOLLOW) ? stat_emulated(buf, &k)
							     : 1;
	if (r == 1)
		r = (int)SYS4(SYS_newfstatat, dirfd, buf, &k, flags);
	if (!r)
		r = copy_to_user(st, &k, sizeof(k));
	return (int)ret(r);
}

int gmemu_statx(int dirfd, const char *path, int flags, unsigned int mask,
		struct statx *stx)
{
	char buf[PATH_MAX];
	enum path_kind kind;
	const char *value;
	struct statx kx;
	struct stat k;
	int fd = -1, r = path_copy(buf, path);

	if (r)
		return (int)ret(r);
	/* do_statx()'s checks come first, for gmemu's paths too */
	if ((flags & ~STAT_FLAGS) ||
	    (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
	    (mask & STATX__RESERVED))
		return (int)ret(-EINVAL);
	if ((flags & AT_EMPTY_PATH) && !buf[0])
		fd = dirfd;
	else if (buf[0] == '/' && !(flags & AT_SYMLINK_NOFOLLOW))
		fd = proc_fd_number(buf);
	kind = buf[0] == '/' ? path_kind(buf, &value) : PATH_OTHER;
	/* the parameters are gmemu's alone; /dev/kvm is the host's if it has one */
	r = kind == PATH_PARAM || kind == PATH_ABSENT ?
		    -ENOENT : (int)SYS5(SYS_statx, dirfd, buf, flags, mask, &kx);
	if (r == -ENOENT && kind != PATH_OTHER && (r = stat_emulated(buf, &k)) == 0) {
		/* a path gmemu answers for that the host does not have */
		memset(&kx, 0, sizeof(kx));
		kx.stx_mask = STATX_BASIC_STATS;
		kx.stx_mode = (uint16_t)k.st_mode;
		kx.stx_nlink = (uint32_t)k.st_nlink;
		kx.stx_size = (uint64_t)k.st_size;
		kx.stx_blksize = (uint32_t)k.st_blksize;
		kx.stx_rdev_major = major(k.st_rdev);
		kx.stx_rdev_minor = minor(k.st_rdev);
		r = 0;
	} else if (!r && fd >= 0 && gmemu_fd_kind(fd) == GMEMU_FD_GMEM &&
		   gmemu_fstat(fd, &k) == 0) {
		kx.stx_size = (uint64_t)k.st_size;
		kx.stx_blksize = (uint32_t)k.st_blksize;
		kx.stx_blocks = (uint64_t)k.st_blocks;
	}
	if (!r)
		r = copy_to_user(stx, &kx, sizeof(kx));
	return (int)ret(r);
}

off_t gmemu_lseek(int fd, off_t offset, int whence)
{
	struct object *obj;
	long r = obj_lookup(fd, &obj);
	off_t size, pos;

	if (r == 0)
		return (off_t)ret(sys_lseek(fd, offset, whence));
	if (r < 0)
		return (off_t)ret(r);
	if (obj->type != OBJ_GMEM || !abi_profile(gmem_abi(obj->gmem))->gmem_llseek) {
		obj_put(obj);
		return (off_t)ret(-ESPIPE);
	}
	/* a file of the gmem's size: the metadata after it is not there */
	size = (off_t)gmem_size(obj->gmem);
	obj_put(obj);
	switch (whence) {
	case SEEK_END:
		if (offset > 0 && size > INT64_MAX - offset)
			return (off_t)ret(-EOVERFLOW);
		return (off_t)ret(sys_lseek(fd, size + offset, SEEK_SET));
	case SEEK_DATA:
	case SEEK_HOLE:
		if (offset < 0 || offset >= size)
			return (off_t)ret(-ENXIO);
		pos = sys_lseek(fd, offset, whence);
		if (pos == -ENXIO || (pos >= size && whence == SEEK_DATA))
			return (off_t)ret(whence == SEEK_DATA ? -ENXIO : size);
		if (pos > size)
			pos = sys_lseek(fd, size, SEEK_SET);
		return (off_t)ret(pos);
	default:
		return (off_t)ret(sys_lseek(fd, offset, whence));
	}
}

/* ---- duplicates and closing ---- */

/*
 * The kernel's dup and the table's, as one step among descriptor
 * operations (a close of oldfd on another thread must see both or
 * neither); a vfork() child's are its own descriptors' only.
 */
static long dup_tracked(int oldfd, bool to_newfd, int newfd, int cmd, long arg,
			int flags)
{
	bool mine = obj_table_mine();
	long r;

	if (mine)
		obj_fd_ops_lock();
	r = to_newfd ? sys_dup3(oldfd, newfd, flags) : sys_fcntl(oldfd, cmd, arg);
	if (r >= 0 && mine) {
		if (to_newfd)
			obj_fd_closed(newfd); /* what it named is closed */
		obj_fd_dup(oldfd, (int)r);
	}
	if (mine)
		obj_fd_ops_unlock();
	return r;
}

int gmemu_dup(int fd)
{
	if (fd_is_hidden(fd))
		return (int)ret(-EBADF);
	return (int)ret(dup_tracked(fd, false, -1, F_DUPFD, 0, 0));
}

int gmemu_dup3(int oldfd, int newfd, int flags)
{
	if (fd_is_hidden(oldfd))
		return (int)ret(-EBADF);
	if (fd_is_hidden(newfd))
		return (int)ret(-EBUSY); /* one of gmemu's own descriptors */
	return (int)ret(dup_tracked(oldfd, true, newfd, 0, 0, flags));
}

int gmemu_dup2(int oldfd, int newfd)
{
	if (oldfd == newfd) {
		/* dup2's own rule: newfd if oldfd is open */
		if (fd_is_hidden(oldfd))
			return (int)ret(-EBADF);
		return (int)ret(sys_fcntl(oldfd, F_GETFD, 0) < 0 ? -EBADF : newfd);
	}
	return gmemu_dup3(oldfd, newfd, 0);
}

int gmemu_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg, r;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (fd_is_hidden(fd))
		return (int)ret(-EBADF);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return (int)ret(dup_tracked(fd, false, -1, cmd, arg, 0));
	r = sys_fcntl(fd, cmd, arg);
	return (int)ret(r);
}

int gmemu_close_range(unsigned int first, unsigned int last, int flags)
{
	long a = first, h;
	bool mine;
	int r = 0;

	if (first > last)
		return (int)ret(-EINVAL);
	if (flags & CLOSE_RANGE_CLOEXEC) /* ours are close-on-exec already */
		return (int)ret(SYS3(SYS_close_range, first, last, flags));
	mine = obj_table_mine();
	if (mine)
		obj_fd_ops_lock();
	/* the program's numbers only: around gmemu's own */
	while (a <= (long)last && !r) {
		h = fd_next_hidden((int)MIN(a, (long)INT_MAX));
		if (h < 0 || h > (long)last) {
			r = (int)SYS3(SYS_close_range, a, last, flags);
			break;
		}
		if (h > a)
			r = (int)SYS3(SYS_close_range, a, h - 1, flags);
		a = h + 1;
	}
	if (!r && mine)
		obj_fd_closed_range(first, last);
	if (mine)
		obj_fd_ops_unlock();
	return (int)ret(r);
}

/* ---- views ---- */

int gmemu_madvise(void *addr, size_t len, int advice)
{
	if (!len || !gmem_views_meet(addr, len))
		return (int)ret(sys_madvise(addr, len, advice));
	switch (advice) {
	case MADV_COLLAPSE:
		return (int)ret(-EINVAL); /* no huge pages in a guest_memfd */
	case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE:
		return 0;
	case MADV_DOFORK:
		/* a child gets the views back through the fork handler */
		return 0;
	case MADV_REMOVE:
		/* the bytes behind the range go, attributes stay */
		return (int)ret(gmem_views_remove(addr, len));
	case MADV_DONTNEED: {
		int r = sys_madvise(addr, len, advice);

		/* shared pages are mapped again: system calls into them work
		 * as on any mapping the program zapped */
		if (!r)
			gmem_views_refill(addr, len);
		return (int)ret(r);
	}
	default:
		return (int)ret(sys_madvise(addr, len, advice));
	}
}

void *gmemu_mremap(void *old_addr, size_t old_size, size_t new_size,
		   int flags, ...)
{
	void *new_addr = NULL;
	va_list ap;
	long r;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	/* a view is gmemu's arrangement of mappings: it neither moves nor
	 * grows (nor does anything land on one) */
	if (gmem_views_meet(old_addr, old_size ? old_size : 1) ||
	    ((flags & MREMAP_FIXED) && gmem_views_meet(new_addr, new_size))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	{
		/* the old range, and a fixed new one, may be a memslot's
		 * memory a vCPU uses: both inside one bracket */
		uintptr_t lo = (uintptr_t)old_addr, hi = lo + old_size;
		bool began;

		if (flags & MREMAP_FIXED) {
			lo = MIN(lo, (uintptr_t)new_addr);
			hi = MAX(hi, (uintptr_t)new_addr + new_size);
		}
		began = vm_host_unmap_begin((void *)lo, hi > lo ? hi - lo : 0);
		r = SYS5(SYS_mremap, old_addr, old_size, new_size, flags, new_addr);
		vm_host_unmap_end(began);
	}
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	return (void *)r;
}

/* ---- what a descriptor is ---- */

int gmemu_fd_kind(int fd)
{
	static const int kinds[] = {
		[OBJ_SYSTEM] = GMEMU_FD_SYSTEM, [OBJ_VM] = GMEMU_FD_VM,
		[OBJ_GMEM] = GMEMU_FD_GMEM, [OBJ_VCPU] = GMEMU_FD_VCPU,
		[OBJ_SEV] = GMEMU_FD_SEV,
	};
	struct object *obj;
	int r, kind;

	if (fd_is_hidden(fd))
		return GMEMU_FD_INTERNAL;
	r = obj_lookup(fd, &obj);
	if (r <= 0)
		return r < 0 ? (int)ret(r) : GMEMU_FD_NONE;
	kind = kinds[obj->type];
	obj_put(obj);
	return kind;
}

int gmemu_fd_known(int fd)
{
	return obj_peek(fd) || fd_is_hidden(fd);
}
