/* SPDX-License-Identifier: MIT */
/*
 * The library's own descriptors live in the program's fd table, where a
 * program that closes a number twice, or calls close_range(), can hit them
 * and reuse the number for a file of its own.  So they are kept high (above
 * the numbers a program gets, which are always the lowest free ones) and
 * checked -- same device and inode -- before every use; the interposer also
 * hides them from close, dup2 and close_range.
 */
#ifndef GMEMU_BASE_FD_H
#define GMEMU_BASE_FD_H

#include <sys/types.h>

#include "common.h"

/* Move fd to the high range, close-on-exec; returns the new number or
 * -errno (fd is closed either way). */
HIDDEN int fd_hide(int fd);
/* 0 when fd still names (dev, ino); -EBADF otherwise. */
HIDDEN int fd_check(int fd, dev_t dev, ino_t ino);
/* Is fd one of the library's hidden descriptors?  (For the interposer.) */
HIDDEN bool fd_is_hidden(int fd);
HIDDEN void fd_hidden_forget(int fd);
/* The first hidden descriptor >= from, or -1. */
HIDDEN int fd_next_hidden(int from);

#endif
