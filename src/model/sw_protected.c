// SPDX-License-Identifier: MIT
/*
 * KVM_X86_SW_PROTECTED_VM, the test vehicle: every mode the ABI can express,
 * and with flags = 0 fresh random bytes in both directions, so that code
 * relying on contents it was not promised fails here first.
 */
#include "model.h"

#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

const struct platform_model model_sw_protected = {
	.name = "sw_protected",
	.vm_type = KVM_X86_SW_PROTECTED_VM,
	.private_mem = true,
	.modes = {
		[DIR_TO_SHARED] = { ZERO | PRESERVE, ZERO | PRESERVE },
		[DIR_TO_PRIVATE] = { PRESERVE, PRESERVE },
	},
	.effect = { [DIR_TO_SHARED] = EFFECT_RANDOM,
		    [DIR_TO_PRIVATE] = EFFECT_RANDOM },
};
