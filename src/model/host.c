// SPDX-License-Identifier: MIT
/*
 * The x86 KVM host gmemu presents: the capabilities that do not depend on
 * the ABI profile or the platform model, and the kvm module's parameters as
 * /sys/module/kvm/parameters shows them.  One table each, mirrored in
 * docs/contract.md (section 4).
 */
#include <errno.h>
#include <linux/kvm_para.h>
#include <string.h>

#include "model.h"

struct cap_value {
	long cap;
	long value;
};

static const struct cap_value host_caps[] = {
	{ KVM_CAP_SET_TSS_ADDR, 1 },      /* accepted, nothing to do */
	{ KVM_CAP_EXT_CPUID, 1 },
	{ KVM_CAP_NR_VCPUS, 64 },
	{ KVM_CAP_NR_MEMSLOTS, 32764 },   /* as x86 KVM: slot ids below it */
	{ KVM_CAP_MP_STATE, 1 },
	{ KVM_CAP_SYNC_MMU, 1 },
	{ KVM_CAP_XSAVE, 1 },
	{ KVM_CAP_XCRS, 1 },
	{ KVM_CAP_GET_TSC_KHZ, 1 },
	{ KVM_CAP_MAX_VCPUS, 1024 },
	{ KVM_CAP_MAX_VCPU_ID, 1024 },
	{ KVM_CAP_IMMEDIATE_EXIT, 1 },
	{ KVM_CAP_EXIT_HYPERCALL, 1L << KVM_HC_MAP_GPA_RANGE },
	{ KVM_CAP_PRE_FAULT_MEMORY, 1 },  /* x86: tdp_enabled */
	/* no quirk can be disabled: KVM's own tests then run their quirk
	 * loops once */
	{ KVM_CAP_DISABLE_QUIRKS2, 0 },
};

long host_check_extension(long cap)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(host_caps); i++)
		if (host_caps[i].cap == cap)
			return host_caps[i].value;
	return -ENOENT;
}

struct param {
	const char *name;
	const char *value;
};

/* What programs (KVM's selftests among them) read; values as a stock x86
 * host without a vendor module shows them. */
static const struct param kvm_params[] = {
	{ "force_emulation_prefix", "0\n" },
	{ "enable_vmware_backdoor", "N\n" },
	{ "tdp_mmu", "Y\n" },
	{ "eager_page_split", "N\n" },
	{ "nx_huge_pages", "N\n" },
	{ "enable_pmu", "N\n" },
	{ "ignore_msrs", "N\n" },
	{ "halt_poll_ns", "0\n" },
};

/* and, where the profile's kernel has it, the in-place series' switch */
#define PARAM_IN_PLACE "gmem_in_place_conversion"

static const char *const param_names[] = {
	"force_emulation_prefix", "enable_vmware_backdoor", "tdp_mmu",
	"eager_page_split", "nx_huge_pages", "enable_pmu", "ignore_msrs",
	"halt_poll_ns", PARAM_IN_PLACE, NULL,
};

const char *const *host_kvm_param_names(void)
{
	return param_names;
}

int host_kvm_param(struct abi abi, const char *name, const char **value)
{
	size_t i;

	if (strcmp(name, PARAM_IN_PLACE) == 0) {
		*value = abi_profile(abi)->param_in_place;
		return *value ? 0 : -ENOENT;
	}
	for (i = 0; i < ARRAY_SIZE(kvm_params); i++) {
		if (strcmp(kvm_params[i].name, name) == 0) {
			*value = kvm_params[i].value;
			return 0;
		}
	}
	return -ENOENT;
}
