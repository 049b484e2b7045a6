/* SPDX-License-Identifier: MIT */
/*
 * Platform models and ABI profiles: data at the bottom of the house that
 * every layer may read and that calls no one.
 *
 * A model says what the platform's trusted entity does to memory (which
 * content modes each direction accepts in each launch phase, what flags = 0
 * does to the bytes, how its guests reach shared pages, its launch rules).
 * A profile says which kernel ABI a system handle presents.  Capabilities
 * are computed from both: userspace discovers what is supported from
 * KVM_CHECK_EXTENSION, never from the VM type.
 */
#ifndef GMEMU_MODEL_H
#define GMEMU_MODEL_H

#include "../base/common.h"

enum launch_phase { PHASE_PRE_LAUNCH, PHASE_POST_LAUNCH, NR_PHASES };
enum convert_dir { DIR_TO_SHARED, DIR_TO_PRIVATE, NR_DIRS };

/* What happens to the bytes of a page that changes state with flags = 0. */
enum content_effect {
	EFFECT_NONE,    /* bytes unchanged */
	EFFECT_RANDOM,  /* fresh random bytes */
	EFFECT_CIPHER,  /* a per-VM keyed cipher: to-shared the host sees
			 * ciphertext, to-private the guest sees the
			 * decryption of what the host wrote */
	EFFECT_ZERO,    /* zeros (a side effect, not a guarantee) */
};

struct platform_model {
	const char *name;
	uint64_t vm_type;
	bool private_mem;
	/* content-mode flags accepted, per direction and launch phase */
	uint64_t modes[NR_DIRS][NR_PHASES];
	enum content_effect effect[NR_DIRS];
	/* Real guests reach a shared page at GPA | shared bit and a private
	 * one at its GPA, as TDX's shared bit (and SNP's C-bit, inverted)
	 * make them; other models' guests reach every page at its GPA. */
	bool shared_alias;
	/* Launch as the hardware enforces it: vCPUs run only after
	 * finalize, a page is populated at most once, and a page private at
	 * finalize that was never populated shows the guest this effect
	 * (SNP-like: garbage; TDX-like: zeros), never the host's plaintext. */
	bool launch_enforced;
	enum content_effect unpopulated_effect;
	/* The vendor launch commands of KVM_MEMORY_ENCRYPT_OP it takes. */
	enum launch_iface {
		LAUNCH_IFACE_NONE,
		LAUNCH_IFACE_SNP,  /* KVM_SEV_INIT2, KVM_SEV_SNP_LAUNCH_* */
		LAUNCH_IFACE_TDX,  /* KVM_TDX_* */
	} launch_iface;
	/* The shared bit is part of the GPA KVM sees (TDX; SNP's C-bit lives
	 * in the guest's page tables): KVM_PRE_FAULT_MEMORY refuses it. */
	bool shared_bit_in_gpa;
};

HIDDEN const struct platform_model *model_find(uint64_t vm_type);
HIDDEN const struct platform_model *const *model_all(size_t *count);

extern HIDDEN const struct platform_model model_default;
extern HIDDEN const struct platform_model model_sw_protected;
extern HIDDEN const struct platform_model model_pkvm;
extern HIDDEN const struct platform_model model_snp;
extern HIDDEN const struct platform_model model_tdx;

/* ---- ABI profiles ---- */

enum abi_profile_id {
	PROFILE_CONTENTMODES,
	PROFILE_V8,
	PROFILE_6_18,
	PROFILE_6_12,
	/* the series as queued for 7.4: kvm.gmem_in_place_conversion=N (the
	 * x86 default) and =Y; one name, the parameter picks the entry */
	PROFILE_7_4,
	PROFILE_7_4_IN_PLACE,
	NR_PROFILES,
};

struct abi_profile {
	const char *name;
	const char *alias;       /* another accepted name, or NULL */
	bool gmem_attributes;    /* KVM_SET_MEMORY_ATTRIBUTES2 on gmem fds */
	bool content_modes;      /* ZERO/PRESERVE and their capabilities */
	bool vm_attributes;      /* per-VM KVM_SET_MEMORY_ATTRIBUTES */
	bool gmem_flags;         /* GUEST_MEMFD_FLAG_* and their capability
				  * (6.12 knows none: no mmap of a gmem) */
	bool gmem_llseek;        /* lseek on a gmem (6.12: ESPIPE) */
	/* guest_memfd memslots and KVM_CAP_GUEST_MEMFD only on VMs with
	 * private memory (6.12) */
	bool gmem_private_vms_only;
	long cap_gmem_attributes; /* number of KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES */
	/* KVM_SET_MEMORY_ATTRIBUTES exists on VMs (with vm_attributes false,
	 * as 7.4 with in-place conversion on: no attribute is supported) */
	bool vm_attributes_ioctl;
	/* kvm.gmem_in_place_conversion as this kernel shows it ("Y\n",
	 * "N\n"), NULL where it has no such parameter; and the profile the
	 * other value of it selects */
	const char *param_in_place;
	enum abi_profile_id param_in_place_other;
	/* vendor launch commands: SEV-SNP (6.11+), TDX (6.16+) */
	bool snp_launch;
	bool tdx_launch;
	/* the series' launch changes: a NULL source (SNP uaddr, TDX
	 * source_addr) populates in place where in-place conversion is on;
	 * SNP_LAUNCH_UPDATE refuses len 0 and an unaligned uaddr */
	bool launch_series;
	/* 6.12's SNP policy checks: SMT required, SINGLE_SOCKET refused */
	bool snp_policy_smt;
	/* a guest_memfd range another memslot binds: EEXIST (7.4), not
	 * EINVAL */
	bool gmem_rebind_eexist;
};

/* The ABI a system handle (and everything created from it) presents. */
struct abi {
	enum abi_profile_id id;
};

HIDDEN const struct abi_profile *abi_profile(struct abi abi);
HIDDEN const char *abi_name(struct abi abi);
/* "contentmodes", "v8", "7.4", "6.18" or "legacy", "6.12"; -EINVAL for
 * anything else. */
HIDDEN int abi_parse(const char *name, struct abi *out);
/* The profile with kvm.gmem_in_place_conversion set to in_place, where
 * that kernel has the parameter (else abi itself). */
HIDDEN struct abi abi_with_in_place_param(struct abi abi, bool in_place);
/* Does a launch command's NULL source mean "in place" under this ABI? */
HIDDEN bool abi_launch_in_place(struct abi abi);
/* The NULL-terminated list of accepted names (for messages). */
HIDDEN const char *const *abi_names(void);

HIDDEN uint64_t abi_accepted_modes(struct abi abi,
				   const struct platform_model *m,
				   enum convert_dir dir, enum launch_phase phase);
HIDDEN enum content_effect abi_effect(struct abi abi,
				      const struct platform_model *m,
				      enum convert_dir dir);
/* guest_memfd creation flags this ABI accepts on a VM of model m. */
HIDDEN uint64_t abi_gmem_flags(struct abi abi, const struct platform_model *m);
/* KVM_CHECK_EXTENSION: m == NULL answers for the system handle. */
/* The model of a VM type in a profile, or NULL where its kernel lacks it. */
HIDDEN const struct platform_model *abi_model(struct abi abi, unsigned long type);
HIDDEN long abi_check_extension(struct abi abi, const struct platform_model *m,
				long cap);

/* ---- the x86 KVM host gmemu presents (host.c) ---- */

/* Capabilities that do not depend on the ABI or the model (vCPUs,
 * memslots): the value, or -ENOENT for a capability this table does not
 * answer. */
HIDDEN long host_check_extension(long cap);
/* /sys/module/kvm/parameters/NAME as the host would show it (with its
 * newline): 0 and *value, or -ENOENT. */
HIDDEN int host_kvm_param(struct abi abi, const char *name, const char **value);
/* The names, NULL-terminated (for docs and tests). */
HIDDEN const char *const *host_kvm_param_names(void);

#endif /* GMEMU_MODEL_H */
