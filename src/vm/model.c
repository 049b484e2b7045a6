// SPDX-License-Identifier: MIT
/*
 * Platform models and what they tell userspace: the capabilities.  Userspace
 * discovers content modes from KVM_CHECK_EXTENSION, never from the VM type.
 */
#include <errno.h>
#include <string.h>

#include "../internal.h"

static const struct platform_model *const models[] = {
	&model_default, &model_sw_protected, &model_pkvm, &model_snp,
	&model_tdx,
};

static const char *const profile_names[NR_PROFILES] = {
	[PROFILE_CONTENTMODES] = "contentmodes",
	[PROFILE_V8] = "v8",
	[PROFILE_LEGACY] = "legacy",
};

const char *profile_name(enum abi_profile p)
{
	return (unsigned int)p < NR_PROFILES ? profile_names[p] : "?";
}

int profile_parse(const char *name, enum abi_profile *out)
{
	int p;

	for (p = 0; p < NR_PROFILES; p++) {
		if (strcmp(name, profile_names[p]) == 0) {
			*out = (enum abi_profile)p;
			return 0;
		}
	}
	return -EINVAL;
}

const struct platform_model *model_find(uint64_t vm_type)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(models); i++)
		if (models[i]->vm_type == vm_type)
			return models[i];
	return NULL;
}

const struct platform_model *const *model_all(size_t *count)
{
	*count = ARRAY_SIZE(models);
	return models;
}

uint64_t model_accepted_modes(const struct platform_model *m,
			      enum abi_profile profile, enum convert_dir dir,
			      enum launch_phase phase)
{
	if (profile != PROFILE_CONTENTMODES || !m->private_mem)
		return 0;
	return m->modes[dir][phase];
}

enum content_effect model_effect(const struct platform_model *m,
				 enum abi_profile profile, enum convert_dir dir)
{
	/* v8: KVM does not touch contents on conversion. */
	if (profile != PROFILE_CONTENTMODES)
		return EFFECT_NONE;
	return m->effect[dir];
}

/* Modes of m (or of every model, m == NULL) in the phases of mask. */
static uint64_t modes_union(const struct platform_model *m,
			    enum abi_profile profile, unsigned int phase_mask)
{
	uint64_t modes = 0;
	size_t i, n = m ? 1 : ARRAY_SIZE(models);
	int dir, phase;

	for (i = 0; i < n; i++) {
		const struct platform_model *x = m ? m : models[i];

		for (dir = 0; dir < NR_DIRS; dir++)
			for (phase = 0; phase < NR_PHASES; phase++)
				if (phase_mask & (1u << phase))
					modes |= model_accepted_modes(
						x, profile,
						(enum convert_dir)dir,
						(enum launch_phase)phase);
	}
	return modes;
}

static bool any_private_mem(const struct platform_model *m)
{
	size_t i;

	if (m)
		return m->private_mem;
	for (i = 0; i < ARRAY_SIZE(models); i++)
		if (models[i]->private_mem)
			return true;
	return false;
}

long model_check_extension(const struct platform_model *m,
			   enum abi_profile profile, long cap)
{
	bool legacy = profile == PROFILE_LEGACY;

	switch (cap) {
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_USER_MEMORY2:
	case KVM_CAP_MEMORY_FAULT_INFO:
	case KVM_CAP_GUEST_MEMFD:
		return 1;
	case KVM_CAP_VM_TYPES:
		return (1L << KVM_X86_DEFAULT_VM) |
		       (1L << KVM_X86_SW_PROTECTED_VM) |
		       (1L << KVM_X86_SNP_VM) | (1L << KVM_X86_TDX_VM);
	case KVM_CAP_GUEST_MEMFD_FLAGS:
		/* 6.18: INIT_SHARED only where nothing can be private. */
		if (legacy && m && m->private_mem)
			return GUEST_MEMFD_FLAG_MMAP;
		return GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	case KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES:
		return !legacy && any_private_mem(m) ?
			       (long)KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	case KVM_CAP_MEMORY_ATTRIBUTES:
		return legacy && any_private_mem(m) ?
			       (long)KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	case KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS:
		return (long)modes_union(m, profile, 3u);
	case KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS:
		return (long)modes_union(m, profile, 1u << PHASE_PRE_LAUNCH);
	case KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS:
		return (long)modes_union(m, profile, 1u << PHASE_POST_LAUNCH);
	default:
		return 0;
	}
}
