/* SPDX-License-Identifier: MIT */
/* What the entry points of src/uapi share among themselves. */
#ifndef GMEMU_UAPI_H
#define GMEMU_UAPI_H

#include "../model/model.h"

/* open("/dev/kvm"): a system handle of profile (NULL: GMEMU_ABI);
 * flags: O_CLOEXEC honoured.  The descriptor or -errno. */
HIDDEN int uapi_kvm_open(const char *profile, int flags);
/* The ABI a system handle opened now gets: profile (NULL: GMEMU_ABI,
 * unset: contentmodes) with the kvm module's parameters of
 * GMEMU_KVM_PARAMS.  -EINVAL (one line on stderr) for a refused value. */
HIDDEN int uapi_abi_from_env(const char *profile, struct abi *out);
/* open("/dev/sev"): the handle the SEV launch commands' sev_fd names. */
HIDDEN int uapi_sev_open(int flags);
/* The accepted values of GMEMU_ABI, for messages. */
#define UAPI_ABI_NAMES "contentmodes, v8, 7.4, 6.18 (or legacy), 6.12"


#endif
