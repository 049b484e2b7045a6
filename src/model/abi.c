// SPDX-License-Identifier: MIT
/*
 * ABI profiles and the capabilities they report.  Every answer of
 * KVM_CHECK_EXTENSION comes from here, so the table in docs/contract.md and
 * the code have one place to agree on.
 */
#include <errno.h>
#include <string.h>

#include "model.h"

static const struct platform_model *const models[] = {
	&model_default, &model_sw_protected, &model_pkvm, &model_snp,
	&model_tdx,
};

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

static const struct abi_profile profiles[NR_PROFILES] = {
	[PROFILE_CONTENTMODES] = {
		.name = "contentmodes",
		.gmem_attributes = true,
		.content_modes = true,
		.gmem_flags = true,
		.gmem_llseek = true,
		.cap_gmem_attributes = GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_V8,
		.snp_launch = true,
		.tdx_launch = true,
		.launch_series = true,
	},
	[PROFILE_V8] = {
		.name = "v8",
		.gmem_attributes = true,
		.gmem_flags = true,
		.gmem_llseek = true,
		.cap_gmem_attributes = GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_V8,
		.snp_launch = true,
		.tdx_launch = true,
		.launch_series = true,
	},
	[PROFILE_6_18] = {
		.name = "6.18",
		.alias = "legacy",
		.vm_attributes = true,
		.vm_attributes_ioctl = true,
		.gmem_flags = true,
		.gmem_llseek = true,
		.snp_launch = true,
		.tdx_launch = true,
	},
	/* mainline 6.8-6.17 (read from Debian's linux-source-6.12) */
	[PROFILE_6_12] = {
		.name = "6.12",
		.vm_attributes = true,
		.vm_attributes_ioctl = true,
		.gmem_private_vms_only = true,
		.snp_launch = true,
		.snp_policy_smt = true,
	},
	/* Listed before its in-place twin: the name finds this one.  With
	 * the parameter off (the default where x86 selects
	 * CONFIG_KVM_VM_MEMORY_ATTRIBUTES) the kernel is 6.18 to userspace,
	 * with the series' launch code. */
	[PROFILE_7_4] = {
		.name = "7.4",
		.vm_attributes = true,
		.vm_attributes_ioctl = true,
		.gmem_flags = true,
		.gmem_llseek = true,
		.cap_gmem_attributes = GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4,
		.param_in_place = "N\n",
		.param_in_place_other = PROFILE_7_4_IN_PLACE,
		.gmem_rebind_eexist = true,
		.snp_launch = true,
		.tdx_launch = true,
		.launch_series = true,
	},
	[PROFILE_7_4_IN_PLACE] = {
		.name = "7.4",
		.gmem_attributes = true,
		.vm_attributes_ioctl = true,
		.gmem_flags = true,
		.gmem_llseek = true,
		.cap_gmem_attributes = GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4,
		.param_in_place = "Y\n",
		.param_in_place_other = PROFILE_7_4,
		.gmem_rebind_eexist = true,
		.snp_launch = true,
		.tdx_launch = true,
		.launch_series = true,
	},
};

static const char *const names[] = { "contentmodes", "v8", "7.4", "6.18",
				     "legacy", "6.12", NULL };

const struct abi_profile *abi_profile(struct abi abi)
{
	return &profiles[abi.id < NR_PROFILES ? abi.id : 0];
}

const char *abi_name(struct abi abi)
{
	return abi_profile(abi)->name;
}

const char *const *abi_names(void)
{
	return names;
}

int abi_parse(const char *name, struct abi *out)
{
	int p;

	if (!name)
		return -EINVAL;
	for (p = 0; p < NR_PROFILES; p++) {
		if (strcmp(name, profiles[p].name) == 0 ||
		    (profiles[p].alias && strcmp(name, profiles[p].alias) == 0)) {
			out->id = (enum abi_profile_id)p;
			return 0;
		}
	}
	return -EINVAL;
}

struct abi abi_with_in_place_param(struct abi abi, bool in_place)
{
	const struct abi_profile *p = abi_profile(abi);

	if (p->param_in_place && (p->param_in_place[0] == 'Y') != in_place)
		abi.id = p->param_in_place_other;
	return abi;
}

bool abi_launch_in_place(struct abi abi)
{
	const struct abi_profile *p = abi_profile(abi);

	/* the series: "(!uaddr && !gmem_in_place_conversion) -> EINVAL" */
	return p->launch_series && p->gmem_attributes;
}

uint64_t abi_accepted_modes(struct abi abi, const struct platform_model *m,
			    enum convert_dir dir, enum launch_phase phase)
{
	if (!abi_profile(abi)->content_modes || !m->private_mem)
		return 0;
	return m->modes[dir][phase];
}

enum content_effect abi_effect(struct abi abi, const struct platform_model *m,
			       enum convert_dir dir)
{
	/* Without content modes KVM does not touch contents on conversion. */
	if (!abi_profile(abi)->content_modes)
		return EFFECT_NONE;
	return m->effect[dir];
}

uint64_t abi_gmem_flags(struct abi abi, const struct platform_model *m)
{
	const uint64_t all = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

	if (!abi_profile(abi)->gmem_flags)
		return 0;
	/* 6.18: INIT_SHARED only where nothing can be private, and on the
	 * system handle (what some VM type accepts). */
	if (abi_profile(abi)->vm_attributes && m && m->private_mem)
		return GUEST_MEMFD_FLAG_MMAP;
	return all;
}

/* Modes of m (or of every model, m == NULL) in the phases of phase_mask. */
static uint64_t modes_union(struct abi abi, const struct platform_model *m,
			    unsigned int phase_mask)
{
	uint64_t modes = 0;
	size_t i, n = m ? 1 : ARRAY_SIZE(models);
	int dir, phase;

	for (i = 0; i < n; i++) {
		const struct platform_model *x = m ? m : models[i];

		for (dir = 0; dir < NR_DIRS; dir++)
			for (phase = 0; phase < NR_PHASES; phase++)
				if (phase_mask & (1u << phase))
					modes |= abi_accepted_modes(
						abi, x, (enum convert_dir)dir,
						(enum launch_phase)phase);
	}
	return modes;
}

/* Modes of one direction in one phase, of m (or of every model). */
static uint64_t dir_modes(struct abi abi, const struct platform_model *m,
			  enum convert_dir dir, enum launch_phase phase)
{
	uint64_t modes = 0;
	size_t i, n = m ? 1 : ARRAY_SIZE(models);

	for (i = 0; i < n; i++)
		modes |= abi_accepted_modes(abi, m ? m : models[i], dir, phase);
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

long abi_check_extension(struct abi abi, const struct platform_model *m,
			 long cap)
{
	const struct abi_profile *p = abi_profile(abi);

	long host;

	if (cap == p->cap_gmem_attributes && p->gmem_attributes)
		return any_private_mem(m) ? (long)KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	switch (cap) {
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_USER_MEMORY2:
	case KVM_CAP_MEMORY_FAULT_INFO:
		return 1;
	case KVM_CAP_GUEST_MEMFD:
		/* 6.12: on a VM only where memory can be private */
		return !p->gmem_private_vms_only || !m || m->private_mem;
	case KVM_CAP_VM_TYPES:
		return (1L << KVM_X86_DEFAULT_VM) |
		       (1L << KVM_X86_SW_PROTECTED_VM) | (1L << KVM_X86_SNP_VM) |
		       (p->tdx_launch ? 1L << KVM_X86_TDX_VM : 0);
	case KVM_CAP_GUEST_MEMFD_FLAGS:
		/* a capability 6.12 does not know reads 0 */
		return (long)abi_gmem_flags(abi, m);
	case KVM_CAP_MEMORY_ATTRIBUTES:
		return p->vm_attributes && any_private_mem(m) ?
			       (long)KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	case KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS:
		return (long)modes_union(abi, m, 3u);
	case KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS:
		return (long)modes_union(abi, m, 1u << PHASE_PRE_LAUNCH);
	case KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS:
		return (long)modes_union(abi, m, 1u << PHASE_POST_LAUNCH);
	case KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_SHARED_FLAGS:
		return (long)dir_modes(abi, m, DIR_TO_SHARED, PHASE_PRE_LAUNCH);
	case KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_PRIVATE_FLAGS:
		return (long)dir_modes(abi, m, DIR_TO_PRIVATE, PHASE_PRE_LAUNCH);
	case KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_SHARED_FLAGS:
		return (long)dir_modes(abi, m, DIR_TO_SHARED, PHASE_POST_LAUNCH);
	case KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_PRIVATE_FLAGS:
		return (long)dir_modes(abi, m, DIR_TO_PRIVATE, PHASE_POST_LAUNCH);
	default:
		host = host_check_extension(cap);
		return host == -ENOENT ? 0 : host;
	}
}

/* The VM types the profile's kernel knows: TDX came with 6.16. */
const struct platform_model *abi_model(struct abi abi, unsigned long type)
{
	if (type == KVM_X86_TDX_VM && !abi_profile(abi)->tdx_launch)
		return NULL;
	return model_find(type);
}
