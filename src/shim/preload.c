// SPDX-License-Identifier: MIT
/*
 * libgmemu-preload.so: the LD_PRELOAD interposer.  libc's entry points ->
 * gmemu's public API, nothing else.  A descriptor gmemu's table does not
 * name costs one lookup and goes to the next definition (libc) as it came;
 * /dev/kvm, the kvm module's parameters, gmemu's descriptors and views go
 * to gmemu.  Ready before main: nothing here needs the constructor, which
 * only attaches the gmem descriptors an exec() left open.
 *
 * gmemu itself never calls these entry points for its own work (it makes
 * raw system calls), so nothing here re-enters it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gmemu.h"

#define EXPORT __attribute__((visibility("default")))

/* The next definition of a libc entry point, found on first use. */
#define REAL(ret, name, ...)                                              \
	static ret (*real_##name)(__VA_ARGS__);                           \
	if (!real_##name)                                                 \
		real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

/* libc declares its path arguments nonnull; a program may still pass NULL
 * (the kernel answers EFAULT): hide the promise from the optimiser. */
static inline const char *launder(const char *p)
{
	__asm__("" : "+r"(p));
	return p;
}

static int mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? va_arg(ap, int) : 0;
}

/* ---- paths ---- */

/* 1: a path gmemu answers for; -1: one that cannot be read (gmemu's
 * mirror fails it EFAULT, as the kernel would); 0: neither, and readable
 * (or NULL). */
static int path_ours(const char *path)
{
	path = launder(path);
	return path ? gmemu_path_emulated(path) : 0;
}

static int open_common(int dirfd, const char *path, int flags, int mode,
		       int (*real)(int, const char *, int, ...))
{
	path = launder(path);
	if (path_ours(path))
		return gmemu_openat(dirfd, path, flags, mode);
	/* /proc/PID/fd/N of a gmem becomes gmemu's at once */
	if (path && !strncmp(path, "/proc/", 6))
		return gmemu_openat(dirfd, path, flags, mode);
	return real(dirfd, path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	REAL(int, openat, int, const char *, int, ...);
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode, real_openat);
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	REAL(int, openat, int, const char *, int, ...);
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode, real_openat);
}

EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open(path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return openat(dirfd, path, flags, mode);
}

/* the fortified forms (-D_FORTIFY_SOURCE) */
EXPORT int __open_2(const char *path, int flags);
EXPORT int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

EXPORT int __open64_2(const char *path, int flags);
EXPORT int __open64_2(const char *path, int flags)
{
	return open(path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags);
EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags);
EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	REAL(FILE *, fopen, const char *, const char *);
	if (gmemu_path_emulated(launder(path)) == 1) {
		int fd = gmemu_open(path, strchr(mode, '+') || mode[0] != 'r' ?
					       O_RDWR : O_RDONLY);
		FILE *f = fd >= 0 ? fdopen(fd, mode) : NULL;

		if (fd >= 0 && !f)
			gmemu_close(fd);
		return f;
	}
	return real_fopen(path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return fopen(path, mode);
}

EXPORT int access(const char *path, int mode)
{
	REAL(int, access, const char *, int);
	if (gmemu_path_emulated(launder(path)) == 1)
		return gmemu_access(path, mode);
	return real_access(path, mode);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	REAL(int, faccessat, int, const char *, int, int);
	if (gmemu_path_emulated(launder(path)) == 1)
		return gmemu_access(path, mode);
	return real_faccessat(dirfd, path, mode, flags);
}

/* ---- stat ---- */

static bool stat_is_ours(const char *path)
{
	path = launder(path);
	return path && (path_ours(path) || !strncmp(path, "/proc/", 6));
}

/* fd itself (AT_EMPTY_PATH with ""), when it is gmemu's; path readable */
static bool stat_fd_is_ours(int dirfd, const char *path, int flags)
{
	path = launder(path);
	return (flags & AT_EMPTY_PATH) && path && !*path && gmemu_fd_known(dirfd);
}

EXPORT int stat(const char *path, struct stat *st)
{
	REAL(int, stat, const char *, struct stat *);
	if (stat_is_ours(path))
		return gmemu_fstatat(AT_FDCWD, path, st, 0);
	return real_stat(path, st);
}

EXPORT int stat64(const char *path, struct stat64 *st)
{
	return stat(path, (struct stat *)st);
}

EXPORT int fstat(int fd, struct stat *st)
{
	REAL(int, fstat, int, struct stat *);
	if (!gmemu_fd_known(fd))
		return real_fstat(fd, st);
	return gmemu_fstat(fd, st);
}

EXPORT int fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	REAL(int, fstatat, int, const char *, struct stat *, int);
	if (stat_is_ours(path) || stat_fd_is_ours(dirfd, path, flags))
		return gmemu_fstatat(dirfd, path, st, flags);
	return real_fstatat(dirfd, path, st, flags);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask,
		 struct statx *stx)
{
	REAL(int, statx, int, const char *, int, unsigned int, struct statx *);
	if (stat_is_ours(path) || stat_fd_is_ours(dirfd, path, flags))
		return gmemu_statx(dirfd, path, flags, mask, stx);
	return real_statx(dirfd, path, flags, mask, stx);
}

/* binaries built against glibc before 2.33 call these */
EXPORT int __fxstat(int ver, int fd, struct stat *st);
EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	REAL(int, __fxstat, int, int, struct stat *);
	if (!gmemu_fd_known(fd))
		return real___fxstat(ver, fd, st);
	return gmemu_fstat(fd, st);
}

EXPORT int __fxstat64(int ver, int fd, struct stat64 *st);
EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return __fxstat(ver, fd, (struct stat *)st);
}

EXPORT int __xstat(int ver, const char *path, struct stat *st);
EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	REAL(int, __xstat, int, const char *, struct stat *);
	if (stat_is_ours(path))
		return gmemu_fstatat(AT_FDCWD, path, st, 0);
	return real___xstat(ver, path, st);
}

EXPORT int __xstat64(int ver, const char *path, struct stat64 *st);
EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	return __xstat(ver, path, (struct stat *)st);
}

EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st,
		      int flags);
EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st,
		      int flags)
{
	REAL(int, __fxstatat, int, int, const char *, struct stat *, int);
	if (stat_is_ours(path) || stat_fd_is_ours(dirfd, path, flags))
		return gmemu_fstatat(dirfd, path, st, flags);
	return real___fxstatat(ver, dirfd, path, st, flags);
}

EXPORT int __fxstatat64(int ver, int dirfd, const char *path,
			struct stat64 *st, int flags);
EXPORT int __fxstatat64(int ver, int dirfd, const char *path,
			struct stat64 *st, int flags)
{
	return __fxstatat(ver, dirfd, path, (struct stat *)st, flags);
}

/* ---- descriptors ---- */

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	REAL(int, ioctl, int, unsigned long, ...);
	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!gmemu_fd_known(fd))
		return real_ioctl(fd, request, arg);
	return gmemu_ioctl(fd, request, arg);
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	REAL(ssize_t, read, int, void *, size_t);
	if (!gmemu_fd_known(fd))
		return real_read(fd, buf, n);
	return gmemu_read(fd, buf, n);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	REAL(ssize_t, __read_chk, int, void *, size_t, size_t);
	if (!gmemu_fd_known(fd))
		return real___read_chk(fd, buf, n, buflen);
	return gmemu_read(fd, buf, n);
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, int, const void *, size_t);
	if (!gmemu_fd_known(fd))
		return real_write(fd, buf, n);
	return gmemu_write(fd, buf, n);
}

EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pread, int, void *, size_t, off_t);
	if (!gmemu_fd_known(fd))
		return real_pread(fd, buf, n, off);
	return gmemu_pread(fd, buf, n, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off,
			   size_t buflen);
EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off,
			   size_t buflen)
{
	REAL(ssize_t, __pread_chk, int, void *, size_t, off_t, size_t);
	if (!gmemu_fd_known(fd))
		return real___pread_chk(fd, buf, n, off, buflen);
	return gmemu_pread(fd, buf, n, off);
}

EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off,
			     size_t buflen);
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off,
			     size_t buflen)
{
	return __pread_chk(fd, buf, n, off, buflen);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
	if (!gmemu_fd_known(fd))
		return real_pwrite(fd, buf, n, off);
	return gmemu_pwrite(fd, buf, n, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

EXPORT int ftruncate(int fd, off_t len)
{
	REAL(int, ftruncate, int, off_t);
	if (!gmemu_fd_known(fd))
		return real_ftruncate(fd, len);
	return gmemu_ftruncate(fd, len);
}

EXPORT int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(int, fallocate, int, int, off_t, off_t);
	if (!gmemu_fd_known(fd))
		return real_fallocate(fd, mode, off, len);
	return gmemu_fallocate(fd, mode, off, len);
}

EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

EXPORT off_t lseek(int fd, off_t off, int whence)
{
	REAL(off_t, lseek, int, off_t, int);
	if (!gmemu_fd_known(fd))
		return real_lseek(fd, off, whence);
	return gmemu_lseek(fd, off, whence);
}

EXPORT off_t lseek64(int fd, off_t off, int whence)
{
	return lseek(fd, off, whence);
}

EXPORT int close(int fd)
{
	REAL(int, close, int);
	if (!gmemu_fd_known(fd))
		return real_close(fd);
	return gmemu_close(fd);
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	return gmemu_close_range(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
	gmemu_close_range((unsigned int)(lowfd < 0 ? 0 : lowfd), ~0U, 0);
}

EXPORT int dup(int fd)
{
	REAL(int, dup, int);
	if (!gmemu_fd_known(fd))
		return real_dup(fd);
	return gmemu_dup(fd);
}

EXPORT int dup2(int oldfd, int newfd)
{
	REAL(int, dup2, int, int);
	if (!gmemu_fd_known(oldfd) && !gmemu_fd_known(newfd))
		return real_dup2(oldfd, newfd);
	return gmemu_dup2(oldfd, newfd);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	REAL(int, dup3, int, int, int);
	if (!gmemu_fd_known(oldfd) && !gmemu_fd_known(newfd))
		return real_dup3(oldfd, newfd, flags);
	return gmemu_dup3(oldfd, newfd, flags);
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	REAL(int, fcntl, int, int, ...);
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (!gmemu_fd_known(fd))
		return real_fcntl(fd, cmd, arg);
	return gmemu_fcntl(fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

/* Descriptors received from another process: gmemu's from the start. */
static void received(struct msghdr *msg)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			gmemu_fd_kind(fd);
		}
	}
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t r;

	REAL(ssize_t, recvmsg, int, struct msghdr *, int);
	r = real_recvmsg(fd, msg, flags);
	if (r >= 0 && msg->msg_controllen)
		received(msg);
	return r;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags,
		    struct timespec *timeout)
{
	int r, i;

	REAL(int, recvmmsg, int, struct mmsghdr *, unsigned int, int,
	     struct timespec *);
	r = real_recvmmsg(fd, v, n, flags, timeout);
	for (i = 0; i < r; i++)
		if (v[i].msg_hdr.msg_controllen)
			received(&v[i].msg_hdr);
	return r;
}

EXPORT int pidfd_getfd(int pidfd, int targetfd, unsigned int flags);
EXPORT int pidfd_getfd(int pidfd, int targetfd, unsigned int flags)
{
	long r = syscall(SYS_pidfd_getfd, pidfd, targetfd, flags);

	if (r >= 0)
		gmemu_fd_kind((int)r);
	return (int)r;
}

/* ---- memory ---- */

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	REAL(void *, mmap, void *, size_t, int, int, int, off_t);
	/* MAP_FIXED may land on a view: gmemu's business */
	if (!(flags & MAP_FIXED) &&
	    ((flags & MAP_ANONYMOUS) || !gmemu_fd_known(fd)))
		return real_mmap(addr, len, prot, flags, fd, off);
	return gmemu_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len)
{
	return gmemu_munmap(addr, len);
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	return gmemu_madvise(addr, len, advice);
}

EXPORT void *mremap(void *old_addr, size_t old_size, size_t new_size,
		    int flags, ...)
{
	void *new_addr = NULL;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	return gmemu_mremap(old_addr, old_size, new_size, flags, new_addr);
}

/* ---- syscall(): the numbers of the calls above ---- */

EXPORT long syscall(long nr, ...)
{
	long a[6];
	va_list ap;
	int i;

	REAL(long, syscall, long, ...);
	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (nr) {
	case SYS_ioctl:
		return ioctl((int)a[0], (unsigned long)a[1], (void *)a[2]);
	case SYS_read:
		return read((int)a[0], (void *)a[1], (size_t)a[2]);
	case SYS_write:
		return write((int)a[0], (const void *)a[1], (size_t)a[2]);
	case SYS_pread64:
		return pread((int)a[0], (void *)a[1], (size_t)a[2], (off_t)a[3]);
	case SYS_pwrite64:
		return pwrite((int)a[0], (const void *)a[1], (size_t)a[2], (off_t)a[3]);
	case SYS_open:
		return open((const char *)a[0], (int)a[1], (int)a[2]);
	case SYS_openat:
		return openat((int)a[0], (const char *)a[1], (int)a[2], (int)a[3]);
	case SYS_close:
		return close((int)a[0]);
	case SYS_close_range:
		return close_range((unsigned int)a[0], (unsigned int)a[1], (int)a[2]);
	case SYS_dup:
		return dup((int)a[0]);
	case SYS_dup2:
		return dup2((int)a[0], (int)a[1]);
	case SYS_dup3:
		return dup3((int)a[0], (int)a[1], (int)a[2]);
	case SYS_fcntl:
		return fcntl((int)a[0], (int)a[1], a[2]);
	case SYS_fstat:
		return fstat((int)a[0], (struct stat *)a[1]);
	case SYS_newfstatat:
		return fstatat((int)a[0], (const char *)a[1], (struct stat *)a[2], (int)a[3]);
	case SYS_statx:
		return statx((int)a[0], (const char *)a[1], (int)a[2],
			     (unsigned int)a[3], (struct statx *)a[4]);
	case SYS_lseek:
		return lseek((int)a[0], (off_t)a[1], (int)a[2]);
	case SYS_fallocate:
		return fallocate((int)a[0], (int)a[1], (off_t)a[2], (off_t)a[3]);
	case SYS_ftruncate:
		return ftruncate((int)a[0], (off_t)a[1]);
	case SYS_mmap:
		return (long)mmap((void *)a[0], (size_t)a[1], (int)a[2], (int)a[3],
				  (int)a[4], (off_t)a[5]);
	case SYS_munmap:
		return munmap((void *)a[0], (size_t)a[1]);
	case SYS_madvise:
		return madvise((void *)a[0], (size_t)a[1], (int)a[2]);
	case SYS_mremap:
		return (long)mremap((void *)a[0], (size_t)a[1], (size_t)a[2],
				    (int)a[3], (void *)a[4]);
	case SYS_access:
		return access((const char *)a[0], (int)a[1]);
	case SYS_faccessat:
		return faccessat((int)a[0], (const char *)a[1], (int)a[2], 0);
	case SYS_recvmsg:
		return recvmsg((int)a[0], (struct msghdr *)a[1], (int)a[2]);
	case SYS_pidfd_getfd: {
		long r = real_syscall(nr, a[0], a[1], a[2]);

		if (r >= 0)
			gmemu_fd_kind((int)r);
		return r;
	}
	default:
		return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}

/*
 * `gmemu run --no-follow`: only the program itself is interposed.  Take
 * this library out of LD_PRELOAD before main, so that the processes it
 * starts (a VMM's helpers: swtpm, virtiofsd, scripts) run without it.
 */
static void unfollow(void)
{
	const char *follow = getenv("GMEMU_PRELOAD_FOLLOW");
	const char *list = getenv("LD_PRELOAD");
	char *kept, *tok, *save = NULL, *copy;
	Dl_info self;
	size_t n = 0;

	if (!follow || strcmp(follow, "0") || !list ||
	    !dladdr((void *)unfollow, &self) || !self.dli_fname)
		return;
	copy = strdup(list);
	kept = calloc(1, strlen(list) + 1);
	if (!copy || !kept)
		goto out;
	/* the loader splits LD_PRELOAD at spaces and colons */
	for (tok = strtok_r(copy, ": ", &save); tok; tok = strtok_r(NULL, ": ", &save)) {
		if (!strcmp(tok, self.dli_fname))
			continue;
		n += (size_t)sprintf(kept + n, "%s%s", n ? ":" : "", tok);
	}
	if (n)
		setenv("LD_PRELOAD", kept, 1);
	else
		unsetenv("LD_PRELOAD");
	unsetenv("GMEMU_PRELOAD_FOLLOW");
out:
	free(copy);
	free(kept);
}

/* After exec: the gmem descriptors the old image left open are gmemu's. */
__attribute__((constructor)) static void preload_init(void)
{
	DIR *d;
	struct dirent *de;

	unfollow();
	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (!*end && fd != dirfd(d))
			gmemu_fd_kind((int)fd);
	}
	closedir(d);
}
