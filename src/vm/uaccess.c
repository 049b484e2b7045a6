// SPDX-License-Identifier: MIT
/*
 * Copies to and from memory the caller named (populate sources, plain
 * memslots' userspace_addr) without trusting it: a bad address is EFAULT,
 * as copy_from_user() makes it in the kernel, never a SIGSEGV here.
 */
#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../internal.h"

int uaccess_read(void *dst, const void *user_src, size_t len)
{
	struct iovec local = { dst, len }, remote = { (void *)user_src, len };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) ==
			       (ssize_t)len ? 0 : -EFAULT;
}

int uaccess_write(void *user_dst, const void *src, size_t len)
{
	struct iovec local = { (void *)src, len }, remote = { user_dst, len };

	return process_vm_writev(getpid(), &local, 1, &remote, 1, 0) ==
			       (ssize_t)len ? 0 : -EFAULT;
}
