// SPDX-License-Identifier: MIT
/* contract §2-§4: profiles, constants, VM types and capabilities. */
#include <stddef.h>

#include "harness.h"

#define Z KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define P KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

TEST(constants_match_spec)
{
	CHECK_EQ(sizeof(struct kvm_memory_attributes2), 128);
	CHECK_EQ(offsetof(struct kvm_memory_attributes2, offset), 0);
	CHECK_EQ(offsetof(struct kvm_memory_attributes2, address), 0);
	CHECK_EQ(offsetof(struct kvm_memory_attributes2, size), 8);
	CHECK_EQ(offsetof(struct kvm_memory_attributes2, attributes), 16);
	CHECK_EQ(offsetof(struct kvm_memory_attributes2, flags), 24);
	CHECK_EQ(offsetof(struct kvm_memory_attributes2, error_offset), 32);
	CHECK_EQ(offsetof(struct kvm_memory_attributes2, reserved), 40);
	CHECK_EQ(sizeof(struct kvm_create_guest_memfd), 64);
	/* _IOWR(0xAE, nr, size) spelled out */
	CHECK_EQ(KVM_SET_MEMORY_ATTRIBUTES2, 0xC080AED2UL);
	CHECK_EQ(KVM_CREATE_GUEST_MEMFD, 0xC040AED4UL);
	CHECK_EQ(KVM_SET_MEMORY_ATTRIBUTES, 0x4020AED2UL);
	CHECK_EQ(KVM_MEMORY_ATTRIBUTE_PRIVATE, 8);
	CHECK_EQ(KVM_SET_MEMORY_ATTRIBUTES2_ZERO, 1);
	CHECK_EQ(KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, 2);
	CHECK_EQ(GUEST_MEMFD_FLAG_MMAP, 1);
	CHECK_EQ(GUEST_MEMFD_FLAG_INIT_SHARED, 2);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES, 233);
	CHECK_EQ(KVM_CAP_GUEST_MEMFD, 234);
	CHECK_EQ(KVM_CAP_VM_TYPES, 235);
	CHECK_EQ(KVM_CAP_GUEST_MEMFD_FLAGS, 244);
	CHECK_EQ(KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES, 250);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS, 1000);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS, 1001);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS, 1002);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_SHARED_FLAGS, 1003);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_PRIVATE_FLAGS, 1004);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_SHARED_FLAGS, 1005);
	CHECK_EQ(KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_PRIVATE_FLAGS, 1006);
	CHECK_EQ(GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_V8, 250);
	CHECK_EQ(GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4, 252);
	CHECK_EQ(KVM_CAP_PRE_FAULT_MEMORY, 236);
	CHECK_EQ(KVM_X86_DEFAULT_VM, 0);
	CHECK_EQ(KVM_X86_SW_PROTECTED_VM, 1);
	CHECK_EQ(KVM_X86_SNP_VM, 4);
	CHECK_EQ(KVM_X86_TDX_VM, 5);
	CHECK_EQ(GMEMU_VM_PKVM, 1UL << 31);
}

TEST(profiles_by_name_and_environment)
{
	int fd;

	CHECK_ERR(gmemu_kvm_open_abi("bogus"), EINVAL);
	CHECK_ERR(gmemu_kvm_open_abi("CONTENTMODES"), EINVAL);
	fd = open_kvm("contentmodes");
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION,
			     KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), Z | P);
	gmemu_close(fd);
	fd = open_kvm("v8");
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION,
			     KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), 0);
	gmemu_close(fd);

	setenv("GMEMU_ABI", "v8", 1);
	fd = gmemu_kvm_open();
	CHECK(fd >= 0);
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION,
			     KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), 0);
	gmemu_close(fd);
	/* an explicit profile overrides the environment */
	fd = open_kvm("contentmodes");
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION,
			     KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), Z | P);
	gmemu_close(fd);
	setenv("GMEMU_ABI", "nonsense", 1);
	CHECK_ERR(gmemu_kvm_open(), EINVAL);
	unsetenv("GMEMU_ABI");
	fd = gmemu_kvm_open();
	CHECK(fd >= 0);
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION,
			     KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), Z | P);
	gmemu_close(fd);
}


TEST(system_ioctls)
{
	int kvm = open_kvm(NULL);

	CHECK_EQ(gmemu_ioctl(kvm, KVM_GET_API_VERSION, 0), 12);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_GET_API_VERSION, 1), EINVAL);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, 2UL), EINVAL);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, 3UL), EINVAL);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, 6UL), EINVAL);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, 1UL << 30), EINVAL);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, ~0UL), EINVAL);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_RUN, 0), ENOTTY);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_GUEST_MEMFD, NULL), ENOTTY);
}

struct caps {
	long flags, pre, post, gmem_attrs, vm_attrs, gmem_flags;
};

/* The x86 host gmemu presents (contract §4), on every handle and VM. */
static void check_host_caps(int fd)
{
	static const struct {
		long cap, value;
	} host[] = {
		{ 0 /* KVM_CAP_IRQCHIP: no interrupt delivery */, 0 },
		{ 4 /* KVM_CAP_SET_TSS_ADDR */, 1 },
		{ 7 /* KVM_CAP_EXT_CPUID */, 1 },
		{ 9 /* KVM_CAP_NR_VCPUS */, 64 },
		{ 10 /* KVM_CAP_NR_MEMSLOTS */, 32764 },
		{ 14 /* KVM_CAP_MP_STATE */, 1 },
		{ 16 /* KVM_CAP_SYNC_MMU */, 1 },
		{ 55 /* KVM_CAP_XSAVE */, 1 },
		{ 56 /* KVM_CAP_XCRS */, 1 },
		{ 61 /* KVM_CAP_GET_TSC_KHZ */, 1 },
		{ 66 /* KVM_CAP_MAX_VCPUS */, 1024 },
		{ 128 /* KVM_CAP_MAX_VCPU_ID */, 1024 },
		{ 136 /* KVM_CAP_IMMEDIATE_EXIT */, 1 },
		{ 201 /* KVM_CAP_EXIT_HYPERCALL: KVM_HC_MAP_GPA_RANGE */, 1 << 12 },
		{ 213 /* KVM_CAP_DISABLE_QUIRKS2: none */, 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(host); i++)
		if (gmemu_ioctl(fd, KVM_CHECK_EXTENSION, host[i].cap) != host[i].value)
			FAIL("cap %ld = %d, expected %ld", host[i].cap,
			     gmemu_ioctl(fd, KVM_CHECK_EXTENSION, host[i].cap),
			     host[i].value);
}

/* The capabilities every profile answers the same way, and the ones of
 * struct caps; KVM_CAP_GUEST_MEMFD is 1 unless the caller checks it. */
static void check_caps_common(int fd, const struct caps *c, const char *what,
			      bool gmem_cap)
{
	long got[6] = {
		gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS),
		gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS),
		gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS),
		gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES),
		gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES),
		gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS),
	};
	long want[6] = { c->flags, c->pre, c->post, c->gmem_attrs, c->vm_attrs,
			 c->gmem_flags };
	static const char *names[6] = { "FLAGS", "PRE_LAUNCH", "POST_LAUNCH",
					"GUEST_MEMFD_MEMORY_ATTRIBUTES",
					"MEMORY_ATTRIBUTES", "GUEST_MEMFD_FLAGS" };
	int i;

	for (i = 0; i < 6; i++)
		if (got[i] != want[i])
			FAIL("%s: %s = %ld, expected %ld", what, names[i],
			     got[i], want[i]);
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2), 1);
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_FAULT_INFO), 1);
	if (gmem_cap)
		CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD), 1);
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, 9999), 0);
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, -1L), 0);
	check_host_caps(fd);
}

static void check_caps(int fd, const struct caps *c, const char *what)
{
	check_caps_common(fd, c, what, true);
	/* every profile that has caps checked here has TDX (6.16 on) */
	CHECK_EQ(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES), 0x33);
}

static void check_caps_except_gmem(int fd, const struct caps *c, const char *what)
{
	check_caps_common(fd, c, what, false);
}

static const unsigned long types[] = { KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM,
				       GMEMU_VM_PKVM, KVM_X86_SNP_VM, KVM_X86_TDX_VM };

TEST(capabilities_contentmodes)
{
	/* SPEC 4, written out per type (not derived from the library). */
	const struct caps want[] = {
		{ 0, 0, 0, 0, 0, 3 },             /* default */
		{ Z | P, Z | P, Z | P, 8, 0, 3 }, /* sw_protected */
		{ Z | P, Z | P, Z | P, 8, 0, 3 }, /* pkvm */
		{ Z | P, Z | P, Z, 8, 0, 3 },     /* snp: PRESERVE pre-launch only */
		{ Z | P, Z | P, Z, 8, 0, 3 },     /* tdx */
	};
	const struct caps system = { Z | P, Z | P, Z | P, 8, 0, 3 };
	int kvm = open_kvm("contentmodes");
	size_t i;

	check_caps(kvm, &system, "system");
	for (i = 0; i < 5; i++) {
		int vm = create_vm(kvm, types[i]);

		check_caps(vm, &want[i], "vm");
		/* phase does not change the capabilities */
		CHECK_OK(gmemu_vm_finalize(vm));
		check_caps(vm, &want[i], "vm after finalize");
		gmemu_close(vm);
	}
}

TEST(capabilities_v8)
{
	const struct caps priv = { 0, 0, 0, 8, 0, 3 };
	const struct caps none = { 0, 0, 0, 0, 0, 3 };
	int kvm = open_kvm("v8");
	size_t i;

	check_caps(kvm, &priv, "system");
	for (i = 0; i < 5; i++) {
		int vm = create_vm(kvm, types[i]);

		check_caps(vm, i == 0 ? &none : &priv, "vm");
		gmemu_close(vm);
	}
}

TEST(capabilities_legacy)
{
	/* 6.18: per-VM attributes; INIT_SHARED only without private memory */
	const struct caps system = { 0, 0, 0, 0, 8, 3 };
	const struct caps def = { 0, 0, 0, 0, 0, 3 };
	const struct caps coco = { 0, 0, 0, 0, 8, 1 };
	int kvm = open_kvm("legacy");
	size_t i;

	check_caps(kvm, &system, "system");
	for (i = 0; i < 5; i++) {
		int vm = create_vm(kvm, types[i]);

		check_caps(vm, i == 0 ? &def : &coco, "vm");
		gmemu_close(vm);
	}
}

TEST(capabilities_6_12)
{
	/* 6.8-6.17: per-VM attributes, no guest_memfd flags (the capability
	 * is unknown there: 0), KVM_CAP_GUEST_MEMFD only where memory can be
	 * private */
	const struct caps system = { 0, 0, 0, 0, 8, 0 };
	const struct caps def = { 0, 0, 0, 0, 0, 0 };
	const struct caps coco = { 0, 0, 0, 0, 8, 0 };
	int kvm = open_kvm("6.12");
	size_t i;

	check_caps_except_gmem(kvm, &system, "system");
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD), 1);
	/* no TDX before 6.16: the type is not there (types[4]) */
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES), 0x13);
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_TDX_VM), EINVAL);
	for (i = 0; i < 4; i++) {
		int vm = create_vm(kvm, types[i]);

		check_caps_except_gmem(vm, i == 0 ? &def : &coco, "vm");
		CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD),
			 i != 0);
		CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES), 0x13);
		gmemu_close(vm);
	}
}

TEST(capabilities_7_4)
{
	/* the series as queued for 7.4: off, the kernel is 6.18 to
	 * userspace; on, the cap answers at 252 (and only there) */
	const struct caps off_sys = { 0, 0, 0, 0, 8, 3 }, off_def = { 0, 0, 0, 0, 0, 3 },
			  off_coco = { 0, 0, 0, 0, 8, 1 }, on = { 0, 0, 0, 0, 0, 3 };
	int kvm, i;

	setenv("GMEMU_KVM_PARAMS", "gmem_in_place_conversion=N", 1);
	kvm = open_kvm("7.4");
	check_caps(kvm, &off_sys, "7.4 off, system");
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION,
			     GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4), 0);
	for (i = 0; i < 5; i++) {
		int vm = create_vm(kvm, types[i]);

		check_caps(vm, i == 0 ? &off_def : &off_coco, "7.4 off, vm");
		gmemu_close(vm);
	}
	setenv("GMEMU_KVM_PARAMS", "gmem_in_place_conversion=Y", 1);
	kvm = open_kvm("7.4");
	check_caps(kvm, &on, "7.4 on, system");
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION,
			     GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4), 8);
	for (i = 0; i < 5; i++) {
		int vm = create_vm(kvm, types[i]);

		check_caps(vm, &on, "7.4 on, vm");
		CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION,
				     GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4),
			 i ? 8 : 0);
		gmemu_close(vm);
	}
	unsetenv("GMEMU_KVM_PARAMS");
}

TEST(finalize_once)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SNP_VM);

	CHECK_OK(gmemu_vm_finalize(vm));
	CHECK_ERR(gmemu_vm_finalize(vm), EINVAL);
	CHECK_ERR(gmemu_vm_finalize(kvm), EINVAL);
	CHECK_ERR(gmemu_vm_finalize(-1), EBADF);
}

/* ---- per direction (contract §4.2, §4.5) ---- */

static const long dir_caps[2][2] = {
	/* [phase][to_private] */
	{ KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_SHARED_FLAGS,
	  KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_PRIVATE_FLAGS },
	{ KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_SHARED_FLAGS,
	  KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_PRIVATE_FLAGS },
};

TEST(direction_capabilities_contentmodes)
{
	/* contract §4.4, written out: [type][phase][to_private] */
	static const long want[5][2][2] = {
		{ { 0, 0 }, { 0, 0 } },                 /* default */
		{ { Z | P, P }, { Z | P, P } },         /* sw_protected */
		{ { Z | P, P }, { Z | P, P } },         /* pkvm */
		{ { Z, P }, { Z, 0 } },                 /* snp */
		{ { Z, P }, { Z, 0 } },                 /* tdx */
	};
	int kvm = open_kvm("contentmodes"), t, ph, d;

	for (ph = 0; ph < 2; ph++)
		for (d = 0; d < 2; d++)
			CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, dir_caps[ph][d]),
				 d ? P : Z | P); /* the system handle: the union */
	for (t = 0; t < 5; t++) {
		int vm = create_vm(kvm, types[t]);

		for (ph = 0; ph < 2; ph++)
			for (d = 0; d < 2; d++)
				if (gmemu_ioctl(vm, KVM_CHECK_EXTENSION, dir_caps[ph][d]) !=
				    want[t][ph][d])
					FAIL("type %d phase %d %s: %d, want %ld", t, ph,
					     d ? "private" : "shared",
					     gmemu_ioctl(vm, KVM_CHECK_EXTENSION,
							 dir_caps[ph][d]),
					     want[t][ph][d]);
		gmemu_close(vm);
	}
}

struct profile_case {
	const char *name, *params;
};

static const struct profile_case every_profile[] = {
	{ "contentmodes", NULL }, { "v8", NULL },
	{ "7.4", "gmem_in_place_conversion=N" },
	{ "7.4", "gmem_in_place_conversion=Y" },
	{ "6.18", NULL }, { "6.12", NULL },
};

static int open_case(const struct profile_case *pc)
{
	if (pc->params)
		setenv("GMEMU_KVM_PARAMS", pc->params, 1);
	else
		unsetenv("GMEMU_KVM_PARAMS");
	return open_kvm(pc->name);
}

/* One conversion of page 0 to the other state with flags, on a fresh VM
 * of type in phase: 0 or -errno. */
static int try_mode(int kvm, unsigned long type, int post, int to_private,
		    uint64_t flags, long *capv)
{
	struct kvm_create_guest_memfd c = { .size = 2 * PAGE };
	int vm = create_vm(kvm, type), gmem, r;

	c.flags = gmemu_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
	gmem = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c);
	CHECK(gmem >= 0);
	if (post)
		CHECK_OK(gmemu_vm_finalize(vm));
	*capv = gmemu_ioctl(vm, KVM_CHECK_EXTENSION, dir_caps[post][to_private]);
	/* page 0 in the state the conversion leaves (flags 0 is always
	 * accepted), where the gmem converts at all */
	if (!to_private)
		set_attrs(gmem, 0, PAGE, true, 0);
	else if (!(c.flags & GUEST_MEMFD_FLAG_INIT_SHARED))
		set_attrs(gmem, 0, PAGE, false, 0);
	r = set_attrs(gmem, 0, PAGE, to_private, flags);
	gmemu_close(gmem);
	gmemu_close(vm);
	return r;
}

TEST(capabilities_a_vmm_can_trust)
{
	/* For every model, profile, phase and direction: flags taken from
	 * the direction's capability never fail EOPNOTSUPP (they succeed),
	 * and a mode outside it never succeeds -- EOPNOTSUPP where the
	 * profile has content modes and the VM private memory, else the
	 * profile's EINVAL (any flag, or no private memory) or ENOTTY (no
	 * in-place conversion at all). */
	static const uint64_t modes[] = { Z, P };
	size_t p, t, m;
	int ph, d, n = 0;

	for (p = 0; p < ARRAY_SIZE(every_profile); p++) {
		int kvm = open_case(&every_profile[p]);
		bool cm = !strcmp(every_profile[p].name, "contentmodes");

		/* 6.12 has no TDX (types[4]): it came with 6.16 */
		size_t nr_types = strcmp(every_profile[p].name, "6.12") ? 5 : 4;

		for (t = 0; t < nr_types; t++)
			for (ph = 0; ph < 2; ph++)
				for (d = 0; d < 2; d++)
					for (m = 0; m < 2; m++) {
						long capv;
						int r = try_mode(kvm, types[t], ph, d,
								 modes[m], &capv);
						int e0 = try_mode(kvm, types[t], ph, d, 0,
								  &capv);

						n++;
						if (capv & (long)modes[m]) {
							if (r)
								FAIL("%s type %zu phase %d %s: "
								     "cap has %#llx, got %d",
								     every_profile[p].name, t, ph,
								     d ? "private" : "shared",
								     (unsigned long long)modes[m], r);
							continue;
						}
						if (!r)
							FAIL("%s type %zu phase %d %s: %#llx "
							     "outside the cap succeeded",
							     every_profile[p].name, t, ph,
							     d ? "private" : "shared",
							     (unsigned long long)modes[m]);
						if (cm && t > 0 ? r != -EOPNOTSUPP
								: r != -EINVAL && r != -ENOTTY)
							FAIL("%s type %zu phase %d %s: %#llx: %d",
							     every_profile[p].name, t, ph,
							     d ? "private" : "shared",
							     (unsigned long long)modes[m], r);
						/* and flags 0 is a conversion as any */
						if (e0 && e0 != -ENOTTY && (t > 0 || e0 != -EINVAL))
							FAIL("flags 0: %d", e0);
					}
		gmemu_close(kvm);
	}
	printf("# %d combinations\n", n);
	unsetenv("GMEMU_KVM_PARAMS");
}
