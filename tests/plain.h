/* SPDX-License-Identifier: MIT */
/*
 * The plain-libc build of a test (-DGMEMU_PLAIN_LIBC): every gmemu_ mirror
 * of a system call becomes the libc call itself, as a program written for
 * the kernel UAPI makes it; the program then runs under `gmemu run`, the
 * interposer routing those calls to gmemu.  gmemu's own calls (pins, the
 * software vCPU, launch) stay gmemu_ calls: the program links libgmemu.so,
 * the library the interposer itself uses.
 */
#ifndef GMEMU_TEST_PLAIN_H
#define GMEMU_TEST_PLAIN_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* open("/dev/kvm") with the profile chosen the way a program chooses it
 * under the interposer: GMEMU_ABI, read when /dev/kvm is opened */
static inline int plain_kvm_open_abi(const char *profile)
{
	char *old = getenv("GMEMU_ABI") ? strdup(getenv("GMEMU_ABI")) : NULL;
	int fd, e;

	if (profile)
		setenv("GMEMU_ABI", profile, 1);
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	e = errno;
	if (profile && old)
		setenv("GMEMU_ABI", old, 1);
	else if (profile)
		unsetenv("GMEMU_ABI");
	free(old);
	errno = e;
	return fd;
}

#define gmemu_kvm_open() plain_kvm_open_abi(NULL)
#define gmemu_kvm_open_abi plain_kvm_open_abi
#define gmemu_ioctl ioctl
#define gmemu_mmap mmap
#define gmemu_munmap munmap
#define gmemu_fallocate fallocate
#define gmemu_fstat fstat
#define gmemu_read read
#define gmemu_write write
#define gmemu_pread pread
#define gmemu_pwrite pwrite
#define gmemu_ftruncate ftruncate
#define gmemu_close close

#endif
