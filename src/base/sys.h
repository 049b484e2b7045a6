/* SPDX-License-Identifier: MIT */
/*
 * Raw system calls.  The library never calls a libc entry point that the
 * interposer (src/shim) may replace -- open, read, mmap, ioctl, close, fstat,
 * fcntl, fallocate, syscall() and the like -- for its own work: under
 * LD_PRELOAD such a call would come back into gmemu.  These wrappers issue
 * the instruction directly and return the kernel's value: >= 0, or -errno.
 */
#ifndef GMEMU_BASE_SYS_H
#define GMEMU_BASE_SYS_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>

#if !defined(__x86_64__)
#error "gmemu's raw system calls are written for x86-64"
#endif

static inline long sys_call6(long n, long a, long b, long c, long d, long e,
			     long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define SYS0(n) sys_call6((n), 0, 0, 0, 0, 0, 0)
#define SYS1(n, a) sys_call6((n), (long)(a), 0, 0, 0, 0, 0)
#define SYS2(n, a, b) sys_call6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(n, a, b, c) sys_call6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) \
	sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SYS5(n, a, b, c, d, e) \
	sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define SYS6(n, a, b, c, d, e, f)                                       \
	sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), \
		  (long)(f))

static inline long sys_read(int fd, void *buf, size_t n)
{
	return SYS3(SYS_read, fd, buf, n);
}

static inline long sys_write(int fd, const void *buf, size_t n)
{
	return SYS3(SYS_write, fd, buf, n);
}

static inline long sys_pread(int fd, void *buf, size_t n, off_t off)
{
	return SYS4(SYS_pread64, fd, buf, n, off);
}

static inline long sys_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return SYS4(SYS_pwrite64, fd, buf, n, off);
}

static inline int sys_openat(int dirfd, const char *path, int flags, int mode)
{
	return (int)SYS4(SYS_openat, dirfd, path, flags, mode);
}

static inline int sys_close(int fd)
{
	return (int)SYS1(SYS_close, fd);
}

static inline int sys_fstat(int fd, struct stat *st)
{
	return (int)SYS2(SYS_fstat, fd, st);
}

static inline off_t sys_lseek(int fd, off_t off, int whence)
{
	return (off_t)SYS3(SYS_lseek, fd, off, whence);
}

/* The address, or -errno (never a valid address: the top 4 KiB). */
static inline long sys_mmap(void *addr, size_t len, int prot, int flags,
			    int fd, off_t off)
{
	return SYS6(SYS_mmap, addr, len, prot, flags, fd, off);
}

static inline int sys_munmap(void *addr, size_t len)
{
	return (int)SYS2(SYS_munmap, addr, len);
}

static inline int sys_madvise(void *addr, size_t len, int advice)
{
	return (int)SYS3(SYS_madvise, addr, len, advice);
}

static inline int sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)SYS3(SYS_mprotect, addr, len, prot);
}

static inline long sys_ioctl(int fd, unsigned long req, void *arg)
{
	return SYS3(SYS_ioctl, fd, req, arg);
}

static inline long sys_fcntl(int fd, int cmd, long arg)
{
	return SYS3(SYS_fcntl, fd, cmd, arg);
}

static inline int sys_fallocate(int fd, int mode, off_t off, off_t len)
{
	return (int)SYS4(SYS_fallocate, fd, mode, off, len);
}

static inline int sys_ftruncate(int fd, off_t len)
{
	return (int)SYS2(SYS_ftruncate, fd, len);
}

static inline int sys_memfd_create(const char *name, unsigned int flags)
{
	return (int)SYS2(SYS_memfd_create, name, flags);
}

static inline int sys_dup3(int old, int new, int flags)
{
	return (int)SYS3(SYS_dup3, old, new, flags);
}

static inline long sys_futex(void *word, int op, uint32_t val,
			     const struct timespec *ts)
{
	return SYS6(SYS_futex, word, op, val, ts, 0, 0);
}

static inline int sys_gettid(void)
{
	return (int)SYS0(SYS_gettid);
}

static inline int sys_getpid(void)
{
	return (int)SYS0(SYS_getpid);
}

static inline int sys_tgkill(int tgid, int tid, int sig)
{
	return (int)SYS3(SYS_tgkill, tgid, tid, sig);
}

static inline long sys_process_vm_readv(int pid, const struct iovec *l,
					unsigned long nl,
					const struct iovec *r,
					unsigned long nr)
{
	return SYS6(SYS_process_vm_readv, pid, l, nl, r, nr, 0);
}

static inline long sys_process_vm_writev(int pid, const struct iovec *l,
					 unsigned long nl,
					 const struct iovec *r,
					 unsigned long nr)
{
	return SYS6(SYS_process_vm_writev, pid, l, nl, r, nr, 0);
}

static inline int sys_userfaultfd(int flags)
{
	return (int)SYS1(SYS_userfaultfd, flags);
}

static inline int sys_eventfd2(unsigned int count, int flags)
{
	return (int)SYS2(SYS_eventfd2, count, flags);
}

static inline int sys_ppoll(void *fds, unsigned long n,
			    const struct timespec *ts)
{
	return (int)SYS5(SYS_ppoll, fds, n, ts, 0, 8);
}

/* A fork-like child that sends no signal when it exits (exit signal 0):
 * the program's SIGCHLD handler and wait(-1) never see it; reap it with
 * sys_wait4(pid, ..., __WCLONE).  0 in the child. */
static inline int sys_clone_quiet(void)
{
	return (int)SYS5(SYS_clone, 0, 0, 0, 0, 0);
}

static inline int sys_wait4(int pid, int *status, int options)
{
	return (int)SYS4(SYS_wait4, pid, status, options, 0);
}

static inline __attribute__((noreturn)) void sys_exit_group(int code)
{
	for (;;)
		SYS1(SYS_exit_group, code);
}

static inline int sys_alarm(unsigned int s)
{
	return (int)SYS1(SYS_alarm, s);
}

static inline int sys_unshare(int flags)
{
	return (int)SYS1(SYS_unshare, flags);
}

static inline int sys_close_range(unsigned int first, unsigned int last,
				  unsigned int flags)
{
	return (int)SYS3(SYS_close_range, first, last, flags);
}

static inline int sys_kill(int pid, int sig)
{
	return (int)SYS2(SYS_kill, pid, sig);
}

#endif /* GMEMU_BASE_SYS_H */
