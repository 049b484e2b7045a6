// SPDX-License-Identifier: MIT
/* KVM_X86_DEFAULT_VM: no private memory; attributes stay as created. */
#include "model.h"

const struct platform_model model_default = {
	.name = "default",
	.vm_type = KVM_X86_DEFAULT_VM,
	.private_mem = false,
};
