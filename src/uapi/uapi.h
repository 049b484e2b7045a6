/* SPDX-License-Identifier: MIT */
/* What the entry points of src/uapi share among themselves. */
#ifndef GMEMU_UAPI_H
#define GMEMU_UAPI_H

#include "../base/common.h"

/* open("/dev/kvm"): a system handle of profile (NULL: GMEMU_ABI);
 * flags: O_CLOEXEC honoured.  The descriptor or -errno. */
HIDDEN int uapi_kvm_open(const char *profile, int flags);

#endif
