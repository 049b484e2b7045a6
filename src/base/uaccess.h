/* SPDX-License-Identifier: MIT */
/*
 * Copies to and from memory the caller named (ioctl arguments, buffers,
 * populate sources, memslots' userspace_addr), never trusting it: a bad
 * address -- unmapped, read-only, a private page of a gmemu view -- is
 * EFAULT, as copy_from_user() makes it in the kernel, never a signal inside
 * the library (which may hold locks).
 */
#ifndef GMEMU_BASE_UACCESS_H
#define GMEMU_BASE_UACCESS_H

#include "common.h"

HIDDEN int copy_from_user(void *dst, const void *user_src, size_t len);
HIDDEN int copy_to_user(void *user_dst, const void *src, size_t len);

#endif
