// SPDX-License-Identifier: MIT
/* contract §9: populate (in place and copied), the launch measurement, finalize. */
#include <openssl/sha.h>
#include <pthread.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define BASE 0x100000ULL

static int vm_, gmem_;
static uint8_t *view_;

static void setup(unsigned long type)
{
	int kvm = open_kvm(NULL);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = 16 * PAGE,
	};

	vm_ = create_vm(kvm, type);
	gmem_ = create_gmem(vm_, 16 * PAGE, SHARED);
	r.guest_memfd = (uint32_t)gmem_;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	view_ = map_gmem(gmem_, 16 * PAGE, 0);
}

/* The measurement, computed here independently from the pages' bytes. */
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

TEST(measurement_starts_at_zero)
{
	uint8_t m[32], zero[32] = { 0 };

	setup(KVM_X86_SNP_VM);
	CHECK_OK(gmemu_vm_measurement(vm_, m));
	CHECK(memcmp(m, zero, 32) == 0);
	CHECK_ERR(gmemu_vm_measurement(vm_, NULL), EFAULT);
	CHECK_ERR(gmemu_vm_measurement(gmem_, m), EINVAL);
}

TEST(populate_in_place_after_preserve)
{
	uint8_t want[32] = { 0 }, got[32], page[PAGE];
	int p;

	setup(KVM_X86_SNP_VM);
	for (p = 0; p < 4; p++)
		memset(view_ + p * PAGE, 0x30 + p, PAGE);
	CHECK_CONVERT(gmem_, 0, 4 * PAGE, true, PRESERVE);
	CHECK_OK(gmemu_vm_populate(vm_, BASE, NULL, 4 * PAGE));
	for (p = 0; p < 4; p++) {
		memset(page, 0x30 + p, PAGE);
		extend(want, BASE + p * PAGE, page);
	}
	CHECK_OK(gmemu_vm_measurement(vm_, got));
	CHECK(memcmp(want, got, 32) == 0);
	/* the guest reads the image, once launched */
	CHECK_OK(gmemu_vm_finalize(vm_));
	struct gmemu_exit ex;
	uint8_t b;
	CHECK_OK(gmemu_guest_access(vm_, BASE + 3 * PAGE + 9, &b, 1,
				    GMEMU_ACCESS_PRIVATE, &ex));
	CHECK_EQ(b, 0x33);
}

TEST(populate_copies_from_src)
{
	uint8_t want[32] = { 0 }, got[32];
	uint8_t *src = malloc(2 * PAGE);
	struct gmemu_exit ex;
	uint8_t b;

	setup(KVM_X86_TDX_VM);
	memset(src, 0xc1, PAGE);
	memset(src + PAGE, 0xc2, PAGE);
	CHECK_CONVERT(gmem_, 4 * PAGE, 2 * PAGE, true, 0);
	CHECK_OK(gmemu_vm_populate(vm_, BASE + 4 * PAGE, src, 2 * PAGE));
	extend(want, BASE + 4 * PAGE, src);
	extend(want, BASE + 5 * PAGE, src + PAGE);
	CHECK_OK(gmemu_vm_measurement(vm_, got));
	CHECK(memcmp(want, got, 32) == 0);
	CHECK_OK(gmemu_vm_finalize(vm_));
	CHECK_OK(gmemu_guest_access(vm_, BASE + 5 * PAGE, &b, 1,
				    GMEMU_ACCESS_PRIVATE, &ex));
	CHECK_EQ(b, 0xc2);
	free(src);
}

TEST(populate_rejects_and_leaves_measurement)
{
	uint8_t before[32], after[32];
	uint8_t *bad = mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t src[PAGE] = { 1 };

	setup(KVM_X86_SNP_VM);
	CHECK_CONVERT(gmem_, 0, 2 * PAGE, true, 0);
	CHECK_OK(gmemu_vm_populate(vm_, BASE, NULL, PAGE));
	CHECK_OK(gmemu_vm_measurement(vm_, before));
	/* shared page in the range */
	CHECK_ERR(gmemu_vm_populate(vm_, BASE + PAGE, NULL, 2 * PAGE), EINVAL);
	/* outside any memslot */
	CHECK_ERR(gmemu_vm_populate(vm_, BASE - PAGE, NULL, 2 * PAGE), EINVAL);
	CHECK_ERR(gmemu_vm_populate(vm_, 0, NULL, PAGE), EINVAL);
	/* alignment, size */
	CHECK_ERR(gmemu_vm_populate(vm_, BASE + 1, NULL, PAGE), EINVAL);
	CHECK_ERR(gmemu_vm_populate(vm_, BASE, NULL, 100), EINVAL);
	CHECK_ERR(gmemu_vm_populate(vm_, BASE, NULL, 0), EINVAL);
	/* unreadable source: EFAULT, bytes and measurement untouched */
	CHECK_ERR(gmemu_vm_populate(vm_, BASE + PAGE, bad, PAGE), EFAULT);
	CHECK_ERR(gmemu_vm_populate(gmem_, BASE, NULL, PAGE), EINVAL);
	CHECK_OK(gmemu_vm_measurement(vm_, after));
	CHECK(memcmp(before, after, 32) == 0);
	/* after finalize: EINVAL */
	CHECK_OK(gmemu_vm_finalize(vm_));
	CHECK_ERR(gmemu_vm_populate(vm_, BASE + PAGE, src, PAGE), EINVAL);
	CHECK_OK(gmemu_vm_measurement(vm_, after));
	CHECK(memcmp(before, after, 32) == 0);
}

TEST(populate_needs_guest_memfd_memslot)
{
	uint8_t *plain = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 1, .guest_phys_addr = 0x800000, .memory_size = 4 * PAGE,
		.userspace_addr = (uintptr_t)plain,
	};

	setup(KVM_X86_SW_PROTECTED_VM);
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	CHECK_ERR(gmemu_vm_populate(vm_, 0x800000, NULL, PAGE), EINVAL);
}

TEST(finalize_changes_what_encrypted_models_accept)
{
	uint64_t eo;

	setup(KVM_X86_SNP_VM);
	CHECK_CONVERT(gmem_, 0, PAGE, true, PRESERVE);
	CHECK_EQ(gmemu_ioctl(vm_, KVM_CHECK_EXTENSION,
			     KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS),
		 KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	CHECK_OK(gmemu_vm_finalize(vm_));
	CHECK_EQ(set_attrs_eo(gmem_, PAGE, PAGE, true, PRESERVE, &eo), -EOPNOTSUPP);
	CHECK_EQ(eo, PAGE);
	CHECK_ERR(gmemu_vm_finalize(vm_), EINVAL);
}

TEST(default_vm_finalizes_too)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_DEFAULT_VM);

	CHECK_OK(gmemu_vm_finalize(vm));
	CHECK_ERR(gmemu_vm_finalize(vm), EINVAL);
}

/* ---- a gmem created at any moment ends in its VM's phase ---- */

static _Atomic int creating_;
static int race_vm_;
static int made_[4096];
static _Atomic int nr_made_;

static void *create_gmems(void *arg)
{
	(void)arg;
	while (creating_ && nr_made_ < (int)ARRAY_SIZE(made_)) {
		struct kvm_create_guest_memfd c = { .size = PAGE, .flags = SHARED };
		int fd = gmemu_ioctl(race_vm_, KVM_CREATE_GUEST_MEMFD, &c);

		if (fd >= 0)
			made_[nr_made_++] = fd;
	}
	return NULL;
}

TEST(gmem_created_while_finalize_runs_ends_post_launch)
{
	pthread_t t;
	int i;

	/* contract §9.3: the phase is the VM's, whenever a gmem joins */
	race_vm_ = create_vm(open_kvm(NULL), KVM_X86_SNP_VM);
	creating_ = 1;
	CHECK(pthread_create(&t, NULL, create_gmems, NULL) == 0);
	while (nr_made_ < 20)
		usleep(100);
	CHECK_OK(gmemu_vm_finalize(race_vm_));
	usleep(2000);
	creating_ = 0;
	pthread_join(t, NULL);
	for (i = 0; i < nr_made_; i++) {
		struct gmemu_gmem_info info = { .sz = sizeof(info) };
		uint64_t eo;

		CHECK_OK(gmemu_gmem_info(made_[i], &info));
		if (!info.finalized)
			FAIL("gmem %d of %d is still pre-launch", i, nr_made_);
		CHECK_EQ(set_attrs_eo(made_[i], 0, PAGE, true, PRESERVE, &eo),
			 -EOPNOTSUPP);
	}
	printf("# %d gmems, before and after finalize\n", nr_made_);
}

TEST(gmem_the_vm_process_let_go_ends_post_launch)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SNP_VM);
	int gmem = create_gmem(vm, 2 * PAGE, SHARED), go[2], status;
	pid_t child;

	/* the gmem lives on in another process only: the VM's process
	 * closed its descriptor (no memslot holds it) before finalize */
	CHECK(pipe(go) == 0);
	child = fork();
	if (child == 0) {
		uint64_t eo;
		char c;

		if (read(go[0], &c, 1) != 1)
			_exit(2);
		/* post-launch now: PRESERVE to private is refused */
		_exit(set_attrs_eo(gmem, 0, PAGE, true, PRESERVE, &eo) == -EOPNOTSUPP &&
		      eo == 0 ? 0 : 1);
	}
	CHECK_OK(gmemu_close(gmem));
	CHECK_OK(gmemu_vm_finalize(vm));
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}
