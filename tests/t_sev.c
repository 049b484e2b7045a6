// SPDX-License-Identifier: MIT
/*
 * contract §9.7: the SEV-SNP launch commands of KVM_MEMORY_ENCRYPT_OP on
 * the snp model -- KVM_SEV_INIT2, KVM_SEV_SNP_LAUNCH_START, _UPDATE (in
 * place and copied), _FINISH -- with the checks, errnos and ordering of
 * arch/x86/kvm/svm/sev.c (Debian linux-source-6.12 6.12.117; the series'
 * changes from analogdevicesinc/linux @546bb0c1, "next" in the comments).
 */
#include <openssl/sha.h>
#include <stddef.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define BASE 0x100000ULL
#define NPAGES 16
#define POLICY 0x30000ULL /* RSVD_MBO | SMT */
#define INVALID_GUEST_STATE 2

static int vm_, gmem_, sev_;
static uint8_t *view_;
static const char *params_ = "gmem_in_place_conversion=Y";

/* A VM of profile (with kvm.gmem_in_place_conversion=Y for "7.4"), one
 * gmem of NPAGES pages at BASE, its host view, /dev/sev. */
static void setup_profile(const char *profile, uint64_t gmem_flags)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = NPAGES * PAGE,
	};
	int kvm;

	setenv("GMEMU_KVM_PARAMS", params_, 1);
	kvm = open_kvm(profile);
	vm_ = create_vm(kvm, KVM_X86_SNP_VM);
	gmem_ = create_gmem(vm_, NPAGES * PAGE, gmem_flags);
	r.guest_memfd = (uint32_t)gmem_;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	view_ = gmem_flags & GUEST_MEMFD_FLAG_MMAP ? map_gmem(gmem_, NPAGES * PAGE, 0)
						   : NULL;
	sev_ = gmemu_open("/dev/sev", O_RDWR | O_CLOEXEC);
	CHECK(sev_ >= 0);
}

static void setup(void)
{
	setup_profile("7.4", SHARED);
}

/* KVM_MEMORY_ENCRYPT_OP: 0 or -errno; *error the firmware status. */
static int sev_op(uint32_t id, void *data, int sev_fd, uint32_t *error)
{
	struct kvm_sev_cmd c = { .id = id, .data = (uintptr_t)data,
				 .sev_fd = (uint32_t)sev_fd, .error = 0x5e5e };
	int r = gmemu_ioctl(vm_, KVM_MEMORY_ENCRYPT_OP, &c);

	if (error)
		*error = c.error;
	return r ? -errno : 0;
}

static int init2(void)
{
	struct kvm_sev_init init = { 0 };

	return sev_op(KVM_SEV_INIT2, &init, sev_, NULL);
}

static int launch_start(uint64_t policy)
{
	struct kvm_sev_snp_launch_start s = { .policy = policy };

	return sev_op(KVM_SEV_SNP_LAUNCH_START, &s, sev_, NULL);
}

static void started(void)
{
	CHECK_OK(init2());
	CHECK_OK(launch_start(POLICY));
}

static int update(struct kvm_sev_snp_launch_update *u, uint32_t *error)
{
	return sev_op(KVM_SEV_SNP_LAUNCH_UPDATE, u, sev_, error);
}

static int finish(void)
{
	struct kvm_sev_snp_launch_finish f = { 0 };

	return sev_op(KVM_SEV_SNP_LAUNCH_FINISH, &f, sev_, NULL);
}

static void measurement(uint8_t m[32])
{
	CHECK_OK(gmemu_vm_measurement(vm_, m));
}

/* gmemu's digest, computed here independently */
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
	/* arch/x86/include/uapi/asm/kvm.h (6.12) */
	CHECK_EQ(sizeof(struct kvm_sev_cmd), 24);
	CHECK_EQ(offsetof(struct kvm_sev_cmd, error), 16);
	CHECK_EQ(offsetof(struct kvm_sev_cmd, sev_fd), 20);
	CHECK_EQ(sizeof(struct kvm_sev_init), 48);
	CHECK_EQ(sizeof(struct kvm_sev_snp_launch_start), 64);
	CHECK_EQ(offsetof(struct kvm_sev_snp_launch_start, flags), 24);
	CHECK_EQ(sizeof(struct kvm_sev_snp_launch_update), 64);
	CHECK_EQ(offsetof(struct kvm_sev_snp_launch_update, type), 24);
	CHECK_EQ(offsetof(struct kvm_sev_snp_launch_update, flags), 26);
	CHECK_EQ(sizeof(struct kvm_sev_snp_launch_finish), 88);
	CHECK_EQ(offsetof(struct kvm_sev_snp_launch_finish, flags), 54);
	CHECK_EQ(KVM_SEV_INIT2, 22);
	CHECK_EQ(KVM_SEV_SNP_LAUNCH_START, 100);
	CHECK_EQ(KVM_SEV_SNP_LAUNCH_UPDATE, 101);
	CHECK_EQ(KVM_SEV_SNP_LAUNCH_FINISH, 102);
	CHECK_EQ(KVM_MEMORY_ENCRYPT_OP, 0xc008aebaUL);
}

TEST(dev_sev_is_served)
{
	int fd = gmemu_open("/dev/sev", O_RDWR);

	/* contract §9.7: the handle a sev_fd must name */
	CHECK(fd >= 0);
	CHECK_EQ(gmemu_fd_kind(fd), GMEMU_FD_SEV);
	CHECK_EQ(gmemu_path_emulated("/dev/sev"), 1);
	CHECK_ERR(gmemu_ioctl(fd, KVM_CHECK_EXTENSION, 0), ENOTTY);
	CHECK_ERR(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0), ENODEV);
	gmemu_close(fd);
}

TEST(dispatch_before_init2)
{
	struct kvm_sev_snp_launch_update u = { .gfn_start = BASE >> 12, .len = PAGE,
					       .type = KVM_SEV_SNP_PAGE_TYPE_NORMAL };
	struct kvm_sev_cmd c = { .id = KVM_SEV_INIT2 };

	setup();
	/* sev_mem_enc_ioctl(): a NULL argument is 0; a bad one EFAULT */
	CHECK_OK(gmemu_ioctl(vm_, KVM_MEMORY_ENCRYPT_OP, NULL));
	CHECK_ERR(gmemu_ioctl(vm_, KVM_MEMORY_ENCRYPT_OP, (void *)8), EFAULT);
	/* the legacy init is for default VMs; legacy launch and the SNP
	 * commands need an SNP guest (INIT2) */
	CHECK_EQ(sev_op(KVM_SEV_INIT, NULL, sev_, NULL), -EINVAL);
	CHECK_EQ(sev_op(KVM_SEV_ES_INIT, NULL, sev_, NULL), -EINVAL);
	CHECK_EQ(sev_op(KVM_SEV_LAUNCH_START, NULL, sev_, NULL), -ENOTTY);
	CHECK_EQ(launch_start(POLICY), -ENOTTY);
	CHECK_EQ(update(&u, NULL), -EINVAL);
	CHECK_EQ(finish(), -ENOTTY);
	CHECK_EQ(sev_op(999, NULL, sev_, NULL), -EINVAL);
	/* INIT2 reads its struct */
	CHECK_ERR(gmemu_ioctl(vm_, KVM_MEMORY_ENCRYPT_OP, &c), EFAULT);
	/* on a VM of another model there is no vendor launch */
	{
		int kvm = open_kvm("7.4"), other = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

		CHECK_ERR(gmemu_ioctl(other, KVM_MEMORY_ENCRYPT_OP, &c), ENOTTY);
	}
}

TEST(init2_checks)
{
	struct kvm_sev_init init = { .flags = 1 };

	setup();
	CHECK_EQ(sev_op(KVM_SEV_INIT2, &init, sev_, NULL), -EINVAL);
	init.flags = 0;
	init.vmsa_features = 1ULL << 63;
	CHECK_EQ(sev_op(KVM_SEV_INIT2, &init, sev_, NULL), -EINVAL);
	init.vmsa_features = 0;
	init.ghcb_version = 3;
	CHECK_EQ(sev_op(KVM_SEV_INIT2, &init, sev_, NULL), -EINVAL);
	init.ghcb_version = 2;
	init.pad2[3] = 7; /* padding is not checked */
	/* INIT2 ignores sev_fd */
	CHECK_EQ(sev_op(KVM_SEV_INIT2, &init, -1, NULL), 0);
	/* an SNP guest takes no SEV/SEV-ES command any more: EPERM */
	CHECK_EQ(sev_op(KVM_SEV_INIT2, &init, sev_, NULL), -EPERM);
	CHECK_EQ(sev_op(KVM_SEV_LAUNCH_MEASURE, NULL, sev_, NULL), -EPERM);
	CHECK_EQ(sev_op(KVM_SEV_INIT, NULL, sev_, NULL), -EPERM);
}

TEST(launch_start_checks)
{
	setup();
	CHECK_OK(init2());
	CHECK_EQ(launch_start(POLICY | (1ULL << 40)), -EINVAL); /* invalid bit */
	CHECK_EQ(launch_start(1ULL << 16), -EINVAL);            /* RSVD_MBO clear */
	{
		struct kvm_sev_snp_launch_start s = { .policy = POLICY, .flags = 1 };

		CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_START, &s, sev_, NULL), -EINVAL);
		CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_START, NULL, sev_, NULL), -EFAULT);
	}
	/* the guest context needs /dev/sev: anything else is ENOTTY */
	{
		struct kvm_sev_snp_launch_start s = { .policy = POLICY };
		int kvm = open_kvm(NULL);

		CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_START, &s, -1, NULL), -ENOTTY);
		CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_START, &s, kvm, NULL), -ENOTTY);
		CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_START, &s, 1, NULL), -ENOTTY);
	}
	/* 6.12 refused a policy without SMT; the series does not */
	CHECK_OK(launch_start(1ULL << 17));
	CHECK_EQ(launch_start(POLICY), -EINVAL); /* one guest context */
}

TEST(launch_start_policy_6_12)
{
	setup_profile("6.12", 0);
	CHECK_OK(init2());
	/* 6.12 sev.c: SMT must be set, SINGLE_SOCKET must not */
	CHECK_EQ(launch_start(1ULL << 17), -EINVAL);
	CHECK_EQ(launch_start(POLICY | (1ULL << 20)), -EINVAL);
	CHECK_OK(launch_start(POLICY));
}

TEST(update_in_place_measures_the_bytes_there)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = BASE >> 12, .len = 4 * PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
	};
	uint8_t want[32] = { 0 }, got[32], page[PAGE];
	int p;

	setup();
	started();
	for (p = 0; p < 4; p++)
		memset(view_ + p * PAGE, 0x40 + p, PAGE);
	/* 7.4 with in-place conversion: flags 0 keeps the bytes */
	CHECK_CONVERT(gmem_, 0, 4 * PAGE, true, 0);
	CHECK_OK(update(&u, NULL));
	/* progress: everything done; uaddr 0 stays 0 (in place) */
	CHECK_EQ(u.len, 0);
	CHECK_EQ(u.gfn_start, (BASE >> 12) + 4);
	CHECK_EQ(u.uaddr, 0);
	for (p = 0; p < 4; p++) {
		memset(page, 0x40 + p, PAGE);
		extend(want, BASE + p * PAGE, page);
	}
	measurement(got);
	CHECK(memcmp(want, got, 32) == 0);
	CHECK_OK(finish());
	{
		struct gmemu_exit ex;
		uint8_t b;

		CHECK_OK(gmemu_guest_access(vm_, BASE + 2 * PAGE + 5, &b, 1,
					    GMEMU_ACCESS_PRIVATE, &ex));
		CHECK_EQ(b, 0x42);
	}
}

TEST(update_copies_from_uaddr_and_advances_it)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = (BASE >> 12) + 2, .len = 2 * PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
	};
	uint8_t *src = aligned_alloc(PAGE, 2 * PAGE), want[32] = { 0 }, got[32];
	struct kvm_memory_attributes attr = {
		.address = BASE, .size = NPAGES * PAGE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};

	/* 6.18: per-VM attributes, uaddr required */
	setup_profile("6.18", GUEST_MEMFD_FLAG_MMAP);
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_MEMORY_ATTRIBUTES, &attr));
	started();
	memset(src, 0x61, PAGE);
	memset(src + PAGE, 0x62, PAGE);
	u.uaddr = (uintptr_t)src;
	CHECK_OK(update(&u, NULL));
	CHECK_EQ(u.len, 0);
	CHECK_EQ(u.uaddr, (uintptr_t)src + 2 * PAGE);
	extend(want, BASE + 2 * PAGE, src);
	extend(want, BASE + 3 * PAGE, src + PAGE);
	measurement(got);
	CHECK(memcmp(want, got, 32) == 0);
	/* no uaddr before the series: the first page fails, EIO */
	u = (struct kvm_sev_snp_launch_update){ .gfn_start = (BASE >> 12) + 5,
						.len = PAGE,
						.type = KVM_SEV_SNP_PAGE_TYPE_NORMAL };
	CHECK_EQ(update(&u, NULL), -EIO);
	/* 6.12/6.18 accept len 0: nothing to do */
	u.len = 0;
	CHECK_OK(update(&u, NULL));
	free(src);
}

TEST(update_refusals_change_nothing)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = BASE >> 12, .len = PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
	}, v;
	uint8_t before[32], after[32];
	uint32_t error;

	setup();
	/* before LAUNCH_START: no guest context */
	CHECK_OK(init2());
	CHECK_EQ(update(&u, NULL), -EINVAL);
	CHECK_OK(launch_start(POLICY));
	CHECK_CONVERT(gmem_, 0, 2 * PAGE, true, 0);
	measurement(before);
	v = u, v.len = 0;           /* the series: len 0 */
	CHECK_EQ(update(&v, NULL), -EINVAL);
	v = u, v.len = 100;
	CHECK_EQ(update(&v, NULL), -EINVAL);
	v = u, v.flags = 1;
	CHECK_EQ(update(&v, NULL), -EINVAL);
	v = u, v.type = 2;          /* VMSA is not the VMM's */
	CHECK_EQ(update(&v, NULL), -EINVAL);
	v = u, v.uaddr = 0x1234;    /* the series: page aligned */
	CHECK_EQ(update(&v, NULL), -EINVAL);
	v = u, v.gfn_start = 0x10;  /* no guest_memfd memslot */
	CHECK_EQ(update(&v, NULL), -EINVAL);
	/* a shared page fails the first page: EIO, firmware not reached */
	v = u, v.gfn_start = (BASE >> 12) + 5;
	CHECK_EQ(update(&v, &error), -EIO);
	CHECK_EQ(error, 0);
	CHECK_EQ(v.gfn_start, (BASE >> 12) + 5); /* not written back */
	/* a sev_fd that is not /dev/sev: the firmware command fails */
	v = u;
	CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_UPDATE, &v, -1, NULL), -EIO);
	CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_UPDATE, NULL, sev_, NULL), -EFAULT);
	measurement(after);
	CHECK(memcmp(before, after, 32) == 0);
	CHECK(is_private(gmem_, 0));
}

TEST(update_stops_at_the_first_bad_page_with_progress)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = BASE >> 12, .len = 4 * PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
	};

	setup();
	started();
	CHECK_CONVERT(gmem_, 0, 2 * PAGE, true, 0); /* pages 2, 3 shared */
	/* two pages done: 0, and the struct says what is left */
	CHECK_OK(update(&u, NULL));
	CHECK_EQ(u.gfn_start, (BASE >> 12) + 2);
	CHECK_EQ(u.len, 2 * PAGE);
	/* the caller loops: now the first page fails */
	CHECK_EQ(update(&u, NULL), -EIO);
	/* a page is added once: the hardware refuses it again */
	u.gfn_start = BASE >> 12;
	u.len = PAGE;
	CHECK_EQ(update(&u, NULL), -EIO);
}

TEST(update_stays_within_its_memslot)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = BASE + NPAGES * PAGE, .memory_size = 4 * PAGE,
	};
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = (BASE >> 12) + NPAGES - 2, .len = 4 * PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_ZERO,
	};
	int g2;

	setup();
	g2 = create_gmem(vm_, 4 * PAGE, 0);
	r.guest_memfd = (uint32_t)g2;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	started();
	CHECK_CONVERT(gmem_, 0, NPAGES * PAGE, true, 0);
	/* kvm_gmem_populate() works within one memslot */
	CHECK_OK(update(&u, NULL));
	CHECK_EQ(u.len, 2 * PAGE);
	CHECK_EQ(u.gfn_start, (BASE >> 12) + NPAGES);
	CHECK_OK(update(&u, NULL));
	CHECK_EQ(u.len, 0);
}

TEST(page_types_and_the_digest)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = BASE >> 12, .len = PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_ZERO,
	};
	uint8_t want[32] = { 0 }, got[32], zero[PAGE] = { 0 };

	setup();
	started();
	memset(view_, 0x77, 3 * PAGE);
	CHECK_CONVERT(gmem_, 0, 3 * PAGE, true, 0);
	/* ZERO: the page becomes zeros and is measured so; uaddr ignored */
	u.uaddr = 0xdead000;
	CHECK_OK(update(&u, NULL));
	CHECK_EQ(u.uaddr, 0xdead000);
	extend(want, BASE, zero);
	/* UNMEASURED and SECRETS: added, not in the digest */
	u = (struct kvm_sev_snp_launch_update){ .gfn_start = (BASE >> 12) + 1,
						.len = PAGE,
						.type = KVM_SEV_SNP_PAGE_TYPE_UNMEASURED };
	CHECK_OK(update(&u, NULL));
	u = (struct kvm_sev_snp_launch_update){ .gfn_start = (BASE >> 12) + 2,
						.len = PAGE,
						.type = KVM_SEV_SNP_PAGE_TYPE_SECRETS };
	CHECK_OK(update(&u, NULL));
	measurement(got);
	CHECK(memcmp(want, got, 32) == 0);
	CHECK_OK(finish());
	{
		struct gmemu_exit ex;
		uint8_t b[2];

		CHECK_OK(gmemu_guest_access(vm_, BASE + 10, &b[0], 1,
					    GMEMU_ACCESS_PRIVATE, &ex));
		CHECK_OK(gmemu_guest_access(vm_, BASE + PAGE + 10, &b[1], 1,
					    GMEMU_ACCESS_PRIVATE, &ex));
		CHECK_EQ(b[0], 0);
		CHECK_EQ(b[1], 0x77);
	}
}

TEST(in_place_needs_in_place_conversion)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = BASE >> 12, .len = PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
	};
	struct kvm_memory_attributes attr = {
		.address = BASE, .size = PAGE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};

	/* 7.4 with kvm.gmem_in_place_conversion=N: uaddr 0 is EINVAL */
	params_ = "gmem_in_place_conversion=N";
	setup_profile("7.4", GUEST_MEMFD_FLAG_MMAP);
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_MEMORY_ATTRIBUTES, &attr));
	started();
	CHECK_EQ(update(&u, NULL), -EINVAL);
}

TEST(finish_checks_and_what_it_ends)
{
	struct kvm_sev_snp_launch_finish f = { .flags = 1 };
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = (BASE >> 12) + 1, .len = PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_NORMAL,
	};
	uint32_t error;
	uint64_t eo;

	setup_profile("contentmodes", SHARED);
	CHECK_OK(init2());
	CHECK_EQ(finish(), -EINVAL); /* no guest context */
	CHECK_OK(launch_start(POLICY));
	CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_FINISH, &f, sev_, NULL), -EINVAL);
	f.flags = 0;
	f.id_block_en = 1;
	f.id_block_uaddr = 8;
	CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_FINISH, &f, sev_, NULL), -EFAULT);
	CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_FINISH, NULL, sev_, NULL), -EFAULT);
	/* PRESERVE to private is a pre-launch mode of this model */
	CHECK_CONVERT(gmem_, 0, PAGE, true, PRESERVE);
	CHECK_OK(finish());
	CHECK_EQ(set_attrs_eo(gmem_, PAGE, PAGE, true, PRESERVE, &eo), -EOPNOTSUPP);
	/* the firmware refuses a second FINISH and any further page */
	CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_FINISH, &(struct kvm_sev_snp_launch_finish){ 0 },
			sev_, &error), -EIO);
	CHECK_EQ(error, INVALID_GUEST_STATE);
	CHECK_CONVERT(gmem_, PAGE, PAGE, true, 0);
	CHECK_EQ(update(&u, &error), -EIO);
	CHECK_EQ(error, INVALID_GUEST_STATE);
	CHECK_ERR(gmemu_vm_finalize(vm_), EINVAL);
}

TEST(never_populated_private_page_is_garbage_to_the_guest)
{
	const char secret[] = "host plaintext, never launched";
	struct gmemu_exit ex;
	char got[sizeof(secret)];

	setup_profile("contentmodes", SHARED);
	started();
	memcpy(view_ + 3 * PAGE, secret, sizeof(secret));
	/* PRESERVE'd to private, never SNP_LAUNCH_UPDATEd */
	CHECK_CONVERT(gmem_, 3 * PAGE, PAGE, true, PRESERVE);
	CHECK_ERR(gmemu_guest_access(vm_, BASE + 3 * PAGE, got, sizeof(got),
				     GMEMU_ACCESS_PRIVATE, &ex), EINVAL);
	CHECK_OK(finish());
	CHECK_OK(gmemu_guest_access(vm_, BASE + 3 * PAGE, got, sizeof(got),
				    GMEMU_ACCESS_PRIVATE, &ex));
	/* never encrypted and validated: the guest decrypts garbage */
	CHECK(memcmp(got, secret, sizeof(secret)) != 0);
}

TEST(snp_launch_in_every_profile)
{
	/* every profile here models a kernel with SNP (6.11+) */
	static const char *const profiles[] = { "contentmodes", "v8", "7.4",
						"6.18", "6.12" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(profiles); i++) {
		setup_profile(profiles[i], 0);
		CHECK_OK(init2());
	}
}

/* ---- with a vCPU (a vCPU backend: real KVM, or the emulated CPU) ---- */

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

TEST(vcpu_state_sealed_at_finish)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int vcpu;

	setup();
	CHECK_OK(init2());
	vcpu = vcpu_or_skip();
	CHECK_OK(launch_start(POLICY));
	/* before FINISH the VMM sets the state the VMSA is made from */
	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_REGS, &regs));
	CHECK_OK(gmemu_ioctl(vcpu, KVM_SET_REGS, &regs));
	CHECK_OK(gmemu_ioctl(vcpu, KVM_GET_SREGS, &sregs));
	CHECK_OK(finish());
	/* guest_state_protected: regs.c refuses with EINVAL */
	CHECK_ERR(gmemu_ioctl(vcpu, KVM_GET_REGS, &regs), EINVAL);
	CHECK_ERR(gmemu_ioctl(vcpu, KVM_SET_REGS, &regs), EINVAL);
	CHECK_ERR(gmemu_ioctl(vcpu, KVM_GET_SREGS, &sregs), EINVAL);
	CHECK_ERR(gmemu_ioctl(vcpu, KVM_SET_SREGS, &sregs), EINVAL);
	/* a second FINISH meets a protected vCPU */
	CHECK_EQ(finish(), -EINVAL);
}

TEST(init2_before_vcpus_only)
{
	int vcpu;

	setup();
	vcpu = vcpu_or_skip();
	(void)vcpu;
	CHECK_EQ(init2(), -EINVAL);
}

TEST(vcpu_runs_only_after_finish)
{
	struct kvm_run *run;
	int vcpu, size, kvm;

	setup();
	vcpu = vcpu_or_skip();
	kvm = open_kvm("7.4");
	size = gmemu_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	CHECK(size > 0);
	run = gmemu_mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	CHECK(run != MAP_FAILED);
	/* no INIT2 (need_init): EINVAL (x86.c, svm sev_vcpu_needs_initialization) */
	CHECK_ERR(gmemu_ioctl(vcpu, KVM_RUN, 0), EINVAL);
	/* cannot INIT2 now (vCPUs exist); a fresh VM shows the next rule */
	setup();
	CHECK_OK(init2());
	vcpu = vcpu_or_skip();
	run = gmemu_mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	CHECK_OK(launch_start(POLICY));
	/* before FINISH there is no VMSA the hardware takes: VMRUN fails */
	CHECK_OK(gmemu_ioctl(vcpu, KVM_RUN, 0));
	CHECK_EQ(run->exit_reason, KVM_EXIT_FAIL_ENTRY);
	CHECK_EQ(run->fail_entry.hardware_entry_failure_reason, ~0ULL);
}
