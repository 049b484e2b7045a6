/* SPDX-License-Identifier: MIT */
/* GMEMU_TRACE=1: one line per emulated call on stderr. */
#ifndef GMEMU_UAPI_TRACE_H
#define GMEMU_UAPI_TRACE_H

#include "../base/common.h"

HIDDEN extern int trace_enabled;
/* 0, or -EINVAL when GMEMU_TRACE has a value it does not accept. */
HIDDEN int trace_init(void);
HIDDEN void trace_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
HIDDEN void trace_ret(const char *call, long r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
HIDDEN const char *ioctl_name(unsigned long req);
HIDDEN void trace_ioctl(int fd, unsigned long req, const void *arg, long r);

#endif
