// SPDX-License-Identifier: MIT
/*
 * pKVM-like: private memory is protected by stage-2 page tables, not
 * encrypted, so the bytes survive any conversion as they are.
 */
#include "model.h"

#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

const struct platform_model model_pkvm = {
	.name = "pkvm",
	.vm_type = GMEMU_VM_PKVM,
	.private_mem = true,
	.modes = {
		[DIR_TO_SHARED] = { ZERO | PRESERVE, ZERO | PRESERVE },
		[DIR_TO_PRIVATE] = { PRESERVE, PRESERVE },
	},
	.effect = { [DIR_TO_SHARED] = EFFECT_NONE,
		    [DIR_TO_PRIVATE] = EFFECT_NONE },
};
