// SPDX-License-Identifier: MIT
/*
 * process_vm_readv/writev on ourselves: the kernel walks our page tables and
 * fails a page it cannot fault in (EFAULT) instead of raising a signal.
 */
#include <errno.h>
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

int copy_to_user(void *user_dst, const void *src, size_t len)
{
	struct iovec local = { (void *)src, len }, remote = { user_dst, len };

	if (!len)
		return 0;
	if (!user_dst)
		return -EFAULT;
	return sys_process_vm_writev(sys_getpid(), &local, 1, &remote, 1) ==
			       (long)len ? 0 : -EFAULT;
}
