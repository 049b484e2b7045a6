// SPDX-License-Identifier: MIT
/*
 * SNP-like: memory is encrypted with a per-VM key.  A page made shared shows
 * the host its ciphertext; a page made private reads as the decryption of
 * the host's bytes (garbage) to the guest.  PRESERVE to private only before
 * launch completes (the firmware encrypts in place at LAUNCH_UPDATE); ZERO
 * to shared.  The guest's private accesses use the C-bit, modelled as
 * reaching shared pages at a shared-bit alias.
 */
#include "model.h"

#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

const struct platform_model model_snp = {
	.name = "snp",
	.vm_type = KVM_X86_SNP_VM,
	.private_mem = true,
	.modes = {
		[DIR_TO_SHARED] = { ZERO, ZERO },
		[DIR_TO_PRIVATE] = { [PHASE_PRE_LAUNCH] = PRESERVE },
	},
	.effect = { [DIR_TO_SHARED] = EFFECT_CIPHER,
		    [DIR_TO_PRIVATE] = EFFECT_CIPHER },
	.shared_alias = true,
	.launch_enforced = true,
	.unpopulated_effect = EFFECT_CIPHER,
	.launch_iface = LAUNCH_IFACE_SNP,
};
