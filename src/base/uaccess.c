// SPDX-License-Identifier: MIT
/*
 * process_vm_readv/writev on ourselves: the kernel walks our page tables and
 * fails a page it cannot fault in (EFAULT) instead of raising a signal.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "sys.h"
#include "uaccess.h"

int copy_from_user(void *dst, const void *user_src, size_t len)
{
	struct iovec local = { dst, len }, remote = { (void *)user_src, len };

	if (!len)
		return 0;
	if (!user_src)
		return -EFAULT;
	return sys_process_vm_readv(sys_getpid(), &local, 1, &remote, 1) ==
			       (long)len ? 0 : -EFAULT;
}

static long write_user(void *user_dst, const void *src, size_t len)
{
	struct iovec local = { (void *)src, len }, remote = { user_dst, len };

	return sys_process_vm_writev(sys_getpid(), &local, 1, &remote, 1);
}

/*
 * All or nothing: the kernel stops a write at the first page it cannot
 * fault in, so a destination that ends in a read-only (or unmapped, or
 * SIGBUS) page would be written in part.  The old bytes are read first and
 * put back over the part written.
 */
int copy_to_user(void *user_dst, const void *src, size_t len)
{
	uint8_t stack[256], *old = stack;
	long n;
	int r = 0;

	if (!len)
		return 0;
	if (!user_dst)
		return -EFAULT;
	if (len > sizeof(stack)) {
		old = malloc(len);
		if (!old)
			return -ENOMEM;
	}
	if (copy_from_user(old, user_dst, len)) {
		r = -EFAULT;
		goto out;
	}
	n = write_user(user_dst, src, len);
	if (n != (long)len) {
		if (n > 0)
			write_user(user_dst, old, (size_t)n);
		r = -EFAULT;
	}
out:
	if (old != stack)
		free(old);
	return r;
}
