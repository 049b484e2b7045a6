// SPDX-License-Identifier: MIT
/*
 * TDX-like: memory is encrypted and the module clears pages on conversion,
 * so with flags = 0 both sides see zeros -- a side effect, not a promise.
 * PRESERVE to private only before launch (TDH.MEM.PAGE.ADD); ZERO to shared.
 * A page private at launch that was never added reads zeros to the guest.
 */
#include "model.h"

#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

const struct platform_model model_tdx = {
	.name = "tdx",
	.vm_type = KVM_X86_TDX_VM,
	.private_mem = true,
	.modes = {
		[DIR_TO_SHARED] = { ZERO, ZERO },
		[DIR_TO_PRIVATE] = { [PHASE_PRE_LAUNCH] = PRESERVE },
	},
	.effect = { [DIR_TO_SHARED] = EFFECT_ZERO,
		    [DIR_TO_PRIVATE] = EFFECT_ZERO },
	.shared_alias = true,
	.launch_enforced = true,
	.unpopulated_effect = EFFECT_ZERO,
	.launch_iface = LAUNCH_IFACE_TDX,
	.shared_bit_in_gpa = true,
};
