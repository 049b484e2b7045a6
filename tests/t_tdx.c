// SPDX-License-Identifier: MIT
/*
 * contract §9.8: the TDX launch commands of KVM_MEMORY_ENCRYPT_OP on the
 * tdx model -- KVM_TDX_CAPABILITIES, _INIT_VM, _FINALIZE_VM on the VM,
 * _INIT_VCPU, _INIT_MEM_REGION, _GET_CPUID on a vCPU -- with the checks,
 * errnos and ordering of arch/x86/kvm/vmx/tdx.c (analogdevicesinc/linux
 * @546bb0c1; the layouts of Documentation/virt/kvm/x86/intel-tdx.rst).
 * The vCPU commands need a vCPU backend (skipped without one).
 */
#include <openssl/sha.h>
#include <stddef.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define BASE 0x100000ULL
#define NPAGES 16
#define ATTR_DEBUG 1ULL

static int vm_, gmem_, vcpu_ = -1;
static uint8_t *view_;
static const char *params_ = "gmem_in_place_conversion=Y";

static void setup_profile(const char *profile, uint64_t gmem_flags)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = NPAGES * PAGE,
	};
	int kvm;

	setenv("GMEMU_KVM_PARAMS", params_, 1);
	kvm = open_kvm(profile);
	vm_ = create_vm(kvm, KVM_X86_TDX_VM);
	gmem_ = create_gmem(vm_, NPAGES * PAGE, gmem_flags);
	r.guest_memfd = (uint32_t)gmem_;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	view_ = gmem_flags & GUEST_MEMFD_FLAG_MMAP ? map_gmem(gmem_, NPAGES * PAGE, 0)
						   : NULL;
}

static void setup(void)
{
	setup_profile("7.4", SHARED);
}

static int tdx_op(int fd, uint32_t id, uint32_t flags, void *data)
{
	struct kvm_tdx_cmd c = { .id = id, .flags = flags, .data = (uintptr_t)data };

	return gmemu_ioctl(fd, KVM_MEMORY_ENCRYPT_OP, &c) ? -errno : 0;
}

/* KVM_TDX_INIT_VM with CPUID 0x80000008 giving a 48-bit GPA width. */
/* struct kvm_tdx_init_vm with room for n CPUID entries */
static struct kvm_tdx_init_vm *init_args(uint32_t n)
{
	struct kvm_tdx_init_vm *a =
		calloc(1, sizeof(*a) + n * sizeof(struct kvm_cpuid_entry2));

	CHECK(a);
	a->cpuid.nent = n;
	return a;
}

static int init_vm(uint64_t attributes)
{
	struct kvm_tdx_init_vm *a = init_args(1);
	int r;

	a->attributes = attributes;
	a->xfam = 3;
	a->cpuid.entries[0].function = 0x80000008;
	a->cpuid.entries[0].eax = 0x3030;
	r = tdx_op(vm_, KVM_TDX_INIT_VM, 0, a);
	free(a);
	return r;
}

static int vcpu_or_skip(void)
{
	int vcpu = gmemu_ioctl(vm_, KVM_CREATE_VCPU, 0);

	if (vcpu < 0 && (errno == ENODEV || errno == EACCES))
		SKIP("no vCPU backend here (no usable /dev/kvm)");
	if (vcpu < 0 && errno == EOPNOTSUPP)
		SKIP("the vCPU backend here cannot run a per-VM attribute profile");
	CHECK(vcpu >= 0);
	return vcpu;
}

/* A TD with one initialised vCPU. */
static void td_ready(uint64_t attributes)
{
	CHECK_OK(init_vm(attributes));
	vcpu_ = vcpu_or_skip();
	CHECK_OK(tdx_op(vcpu_, KVM_TDX_INIT_VCPU, 0, NULL));
}

static int add_region(uint64_t gpa, uint64_t pages, const void *src,
		      uint32_t flags, struct kvm_tdx_init_mem_region *out)
{
	struct kvm_tdx_init_mem_region r = {
		.source_addr = (uintptr_t)src, .gpa = gpa, .nr_pages = pages,
	};
	int ret = tdx_op(vcpu_, KVM_TDX_INIT_MEM_REGION, flags, &r);

	if (out)
		*out = r;
	return ret;
}

static void extend(uint8_t m[32], uint64_t gpa, const uint8_t *page)
{
	uint8_t buf[72];
	int i;

	memcpy(buf, m, 32);
	for (i = 0; i < 8; i++)
		buf[32 + i] = (uint8_t)(gpa >> (8 * i));
	SHA256(page, PAGE, buf + 40);
	SHA256(buf, sizeof(buf), m);
}

TEST(layouts_match_the_kernel)
{
	/* intel-tdx.rst */
	CHECK_EQ(sizeof(struct kvm_tdx_cmd), 24);
	CHECK_EQ(offsetof(struct kvm_tdx_cmd, hw_error), 16);
	CHECK_EQ(offsetof(struct kvm_tdx_capabilities, cpuid), 2048);
	CHECK_EQ(offsetof(struct kvm_tdx_init_vm, reserved), 160);
	CHECK_EQ(offsetof(struct kvm_tdx_init_vm, cpuid), 256);
	CHECK_EQ(sizeof(struct kvm_tdx_init_mem_region), 24);
	CHECK_EQ(KVM_TDX_CAPABILITIES, 0);
	CHECK_EQ(KVM_TDX_INIT_VM, 1);
	CHECK_EQ(KVM_TDX_INIT_VCPU, 2);
	CHECK_EQ(KVM_TDX_INIT_MEM_REGION, 3);
	CHECK_EQ(KVM_TDX_FINALIZE_VM, 4);
	CHECK_EQ(KVM_TDX_GET_CPUID, 5);
	CHECK_EQ(KVM_TDX_MEASURE_MEMORY_REGION, 1);
}

TEST(capabilities)
{
	struct kvm_tdx_capabilities *caps =
		calloc(1, sizeof(*caps) + 16 * sizeof(struct kvm_cpuid_entry2));
	struct kvm_tdx_cmd c = { .id = KVM_TDX_CAPABILITIES, .hw_error = 1,
				 .data = (uintptr_t)caps };

	setup();
	/* tdx_get_cmd(): hw_error is output only */
	CHECK_ERR(gmemu_ioctl(vm_, KVM_MEMORY_ENCRYPT_OP, &c), EINVAL);
	CHECK_EQ(tdx_op(vm_, KVM_TDX_CAPABILITIES, 1, caps), -EINVAL);
	CHECK_EQ(tdx_op(vm_, KVM_TDX_CAPABILITIES, 0, NULL), -EFAULT);
	caps->cpuid.nent = 1;
	CHECK_EQ(tdx_op(vm_, KVM_TDX_CAPABILITIES, 0, caps), -E2BIG);
	caps->cpuid.nent = 16;
	CHECK_OK(tdx_op(vm_, KVM_TDX_CAPABILITIES, 0, caps));
	CHECK(caps->supported_attrs & ATTR_DEBUG);
	CHECK_EQ(caps->supported_xfam & 3, 3);
	CHECK(caps->cpuid.nent > 0 && caps->cpuid.nent <= 16);
	/* not on another model's VM */
	{
		int kvm = open_kvm("7.4"), other = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

		CHECK_EQ(tdx_op(other, KVM_TDX_CAPABILITIES, 0, caps), -ENOTTY);
	}
	free(caps);
}

TEST(init_vm_checks)
{
	struct kvm_tdx_init_vm *a = init_args(1);
	struct kvm_cpuid_entry2 *e = a->cpuid.entries;

	setup();
	e[0].function = 0x80000008;
	e[0].eax = 0x30;
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 1, a), -EINVAL);      /* flags */
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, NULL), -EFAULT);
	a->cpuid.nent = 257;
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -E2BIG);
	a->cpuid.nent = 1;
	a->reserved[4] = 1;
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -EINVAL);
	a->reserved[4] = 0;
	a->cpuid.padding = 1;
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -EINVAL);
	a->cpuid.padding = 0;
	a->attributes = 1ULL << 5;                               /* unsupported */
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -EINVAL);
	a->attributes = 0;
	a->xfam = 1ULL << 40;
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -EINVAL);
	a->xfam = 3;
	e[0].eax = 40;                                            /* GPAW 40 */
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -EINVAL);
	e[0].function = 1;                                        /* no 0x80000008 */
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -EINVAL);
	e[0].function = 0x80000008;
	e[0].eax = 52;
	CHECK_OK(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a));
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VM, 0, a), -EINVAL);     /* once */
	CHECK_EQ(tdx_op(vm_, 99, 0, a), -EINVAL);                  /* no such id */
	CHECK_EQ(tdx_op(vm_, KVM_TDX_INIT_VCPU, 0, NULL), -EINVAL); /* not a VM command */
	free(a);
}

TEST(init_vm_before_vcpus_only)
{
	setup();
	vcpu_or_skip();
	/* tdx_td_init(): vCPUs already created */
	CHECK_EQ(init_vm(0), -EBUSY);
}

TEST(vcpu_commands_need_a_td_and_an_initialised_vcpu)
{
	setup();
	vcpu_ = vcpu_or_skip();
	/* no KVM_TDX_INIT_VM: no HKID */
	CHECK_EQ(tdx_op(vcpu_, KVM_TDX_INIT_VCPU, 0, NULL), -EINVAL);
	/* a fresh TD */
	setup();
	CHECK_OK(init_vm(0));
	vcpu_ = vcpu_or_skip();
	CHECK_EQ(add_region(BASE, 1, NULL, 0, NULL), -EINVAL); /* no INIT_VCPU */
	CHECK_EQ(tdx_op(vcpu_, KVM_TDX_INIT_VCPU, 1, NULL), -EINVAL);
	CHECK_OK(tdx_op(vcpu_, KVM_TDX_INIT_VCPU, 0, NULL));
	CHECK_EQ(tdx_op(vcpu_, KVM_TDX_INIT_VCPU, 0, NULL), -EINVAL);
	CHECK_EQ(tdx_op(vcpu_, KVM_TDX_FINALIZE_VM, 0, NULL), -EINVAL);
}

TEST(registers_are_protected_and_start_at_the_reset_vector)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	/* a TD: the TDX module holds the vCPU's state */
	setup();
	td_ready(0);
	CHECK_ERR(gmemu_ioctl(vcpu_, KVM_GET_REGS, &regs), EINVAL);
	CHECK_ERR(gmemu_ioctl(vcpu_, KVM_SET_REGS, &regs), EINVAL);
	CHECK_ERR(gmemu_ioctl(vcpu_, KVM_GET_SREGS, &sregs), EINVAL);
	/* a debug TD lets the VMM read them: the reset vector */
	setup();
	td_ready(ATTR_DEBUG);
	CHECK_OK(gmemu_ioctl(vcpu_, KVM_GET_REGS, &regs));
	CHECK_OK(gmemu_ioctl(vcpu_, KVM_GET_SREGS, &sregs));
	CHECK_EQ(regs.rip, 0xfffffff0);
	CHECK(sregs.cr0 & 1);           /* protected mode */
	CHECK_EQ(sregs.cs.base, 0);
	CHECK_EQ(sregs.cs.db, 1);       /* 32-bit */
}

TEST(init_mem_region_in_place_and_measured)
{
	uint8_t want[32] = { 0 }, got[32], page[PAGE];
	struct kvm_tdx_init_mem_region r;
	int p;

	setup();
	td_ready(0);
	for (p = 0; p < 3; p++)
		memset(view_ + p * PAGE, 0x20 + p, PAGE);
	CHECK_CONVERT(gmem_, 0, 4 * PAGE, true, 0);
	/* source 0: the bytes already there; MEASURE extends MRTD */
	CHECK_OK(add_region(BASE, 2, NULL, KVM_TDX_MEASURE_MEMORY_REGION, &r));
	CHECK_EQ(r.nr_pages, 0);
	CHECK_EQ(r.gpa, BASE + 2 * PAGE);
	CHECK_EQ(r.source_addr, 0);
	for (p = 0; p < 2; p++) {
		memset(page, 0x20 + p, PAGE);
		extend(want, BASE + p * PAGE, page);
	}
	/* without MEASURE: added, not measured */
	CHECK_OK(add_region(BASE + 2 * PAGE, 1, NULL, 0, NULL));
	CHECK_OK(gmemu_vm_measurement(vm_, got));
	CHECK(memcmp(want, got, 32) == 0);
	/* a page is added once */
	CHECK_EQ(add_region(BASE, 1, NULL, 0, NULL), -EEXIST);
}

TEST(init_mem_region_checks_and_progress)
{
	uint8_t *src = aligned_alloc(PAGE, 4 * PAGE), m0[32], m1[32];
	struct kvm_tdx_init_mem_region r;

	setup();
	td_ready(0);
	CHECK_CONVERT(gmem_, 0, 2 * PAGE, true, 0); /* pages 2+ shared */
	CHECK_OK(gmemu_vm_measurement(vm_, m0));
	CHECK_EQ(add_region(BASE, 1, src, 2, NULL), -EINVAL);     /* flags */
	CHECK_EQ(add_region(BASE, 1, src + 1, 0, NULL), -EINVAL); /* unaligned */
	CHECK_EQ(add_region(BASE + 1, 1, src, 0, NULL), -EINVAL);
	CHECK_EQ(add_region(BASE, 0, src, 0, NULL), -EINVAL);
	CHECK_EQ(add_region(BASE, 1ULL << 60, src, 0, NULL), -EINVAL);
	CHECK_EQ(add_region(BASE | (1ULL << 47), 1, src, 0, NULL), -EINVAL); /* shared GPA */
	CHECK_EQ(tdx_op(vcpu_, KVM_TDX_INIT_MEM_REGION, 0, NULL), -EFAULT);
	/* refused: nothing added, nothing measured */
	CHECK_OK(gmemu_vm_measurement(vm_, m1));
	CHECK(memcmp(m0, m1, 32) == 0);
	CHECK_OK(add_region(BASE, 1, src, KVM_TDX_MEASURE_MEMORY_REGION, NULL));
	/* a region running into a shared page: one page done, EINVAL, and
	 * the struct says where it stopped */
	memset(src, 0x31, 4 * PAGE);
	CHECK_EQ(add_region(BASE + PAGE, 3, src, 0, &r), -EINVAL);
	CHECK_EQ(r.gpa, BASE + 2 * PAGE);
	CHECK_EQ(r.nr_pages, 2);
	CHECK_EQ(r.source_addr, (uintptr_t)src + PAGE);
	/* no memslot behind the GPA */
	CHECK_EQ(add_region(0x10000000, 1, src, 0, NULL), -EINVAL);
	free(src);
}

TEST(source_required_without_in_place_conversion)
{
	struct kvm_memory_attributes attr = {
		.address = BASE, .size = PAGE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	struct kvm_tdx_init_mem_region r;

	/* 7.4 with kvm.gmem_in_place_conversion=N: EINVAL */
	params_ = "gmem_in_place_conversion=N";
	setup_profile("7.4", GUEST_MEMFD_FLAG_MMAP);
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_MEMORY_ATTRIBUTES, &attr));
	td_ready(0);
	CHECK_EQ(add_region(BASE, 1, NULL, 0, NULL), -EINVAL);
	/* 6.18 (TDX since 6.16): GUP of address 0 fails, EFAULT */
	setup_profile("6.18", GUEST_MEMFD_FLAG_MMAP);
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_MEMORY_ATTRIBUTES, &attr));
	td_ready(0);
	CHECK_EQ(add_region(BASE, 1, NULL, 0, &r), -EFAULT);
	CHECK_EQ(r.nr_pages, 1);
}

TEST(no_tdx_in_6_12)
{
	int kvm = open_kvm("6.12");

	/* TDX came with 6.16: no VM type (asm/kvm.h ends at KVM_X86_SNP_VM),
	 * so no VM the commands could reach */
	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_TDX_VM), EINVAL);
	CHECK_EQ(gmemu_ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES) &
		 (1 << KVM_X86_TDX_VM), 0);
}

TEST(finalize_and_after)
{
	uint64_t eo;

	setup_profile("contentmodes", SHARED);
	CHECK_EQ(tdx_op(vm_, KVM_TDX_FINALIZE_VM, 0, NULL), -EINVAL); /* no TD */
	td_ready(0);
	CHECK_CONVERT(gmem_, 0, PAGE, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_OK(add_region(BASE, 1, NULL, KVM_TDX_MEASURE_MEMORY_REGION, NULL));
	CHECK_OK(tdx_op(vm_, KVM_TDX_FINALIZE_VM, 0, NULL));
	/* RUNNABLE: no second finalize, no vCPU command */
	CHECK_EQ(tdx_op(vm_, KVM_TDX_FINALIZE_VM, 0, NULL), -EINVAL);
	CHECK_EQ(add_region(BASE + PAGE, 1, NULL, 0, NULL), -EINVAL);
	CHECK_EQ(tdx_op(vcpu_, KVM_TDX_INIT_VCPU, 0, NULL), -EINVAL);
	/* and the post-launch modes */
	CHECK_EQ(set_attrs_eo(gmem_, PAGE, PAGE, true,
			      KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, &eo), -EOPNOTSUPP);
}

TEST(vcpu_runs_only_when_initialised_and_finalized)
{
	setup();
	CHECK_OK(init_vm(0));
	vcpu_ = vcpu_or_skip();
	/* tdx_vcpu_needs_initialization(): EINVAL */
	CHECK_ERR(gmemu_ioctl(vcpu_, KVM_RUN, 0), EINVAL);
	CHECK_OK(tdx_op(vcpu_, KVM_TDX_INIT_VCPU, 0, NULL));
	CHECK_ERR(gmemu_ioctl(vcpu_, KVM_RUN, 0), EINVAL);
}

TEST(never_added_private_page_reads_zero_to_the_guest)
{
	const char secret[] = "host plaintext, never added";
	struct gmemu_exit ex;
	char got[sizeof(secret)], zero[sizeof(secret)] = { 0 };

	setup();
	td_ready(0);
	memcpy(view_ + 5 * PAGE, secret, sizeof(secret));
	CHECK_CONVERT(gmem_, 5 * PAGE, PAGE, true, 0);
	CHECK_OK(tdx_op(vm_, KVM_TDX_FINALIZE_VM, 0, NULL));
	/* TDH.MEM.PAGE.AUG gives the guest a zeroed page */
	CHECK_OK(gmemu_guest_access(vm_, BASE + 5 * PAGE, got, sizeof(got),
				    GMEMU_ACCESS_PRIVATE, &ex));
	CHECK(memcmp(got, zero, sizeof(got)) == 0);
}

TEST(get_cpuid)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 4 * sizeof(struct kvm_cpuid_entry2));

	setup();
	td_ready(0);
	CHECK_EQ(tdx_op(vcpu_, KVM_TDX_GET_CPUID, 0, c), -E2BIG);
	CHECK_EQ(c->nent, 1);
	c->nent = 4;
	CHECK_OK(tdx_op(vcpu_, KVM_TDX_GET_CPUID, 0, c));
	CHECK_EQ(c->nent, 1);
	CHECK_EQ(c->entries[0].function, 0x80000008);
	free(c);
}
