// SPDX-License-Identifier: MIT
/* contract §6: KVM_SET_MEMORY_ATTRIBUTES2 argument checks, their order, and when
 * error_offset is written. */
#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define PRIV KVM_MEMORY_ATTRIBUTE_PRIVATE
#define SENTINEL 0x5eed5eedULL

static int new_gmem_on(const char *profile, unsigned long type, uint64_t size)
{
	int kvm = open_kvm(profile), vm = create_vm(kvm, type);

	return create_gmem(vm, size, SHARED);
}

/* Issue the ioctl on a prepared struct; check errno and error_offset. */
static void expect(int g, struct kvm_memory_attributes2 *a, int err,
		   uint64_t eo)
{
	int r;

	a->error_offset = SENTINEL;
	errno = 0;
	r = gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, a);
	if (err == 0) {
		if (r != 0)
			FAIL("expected success, got %s", strerror(errno));
	} else if (r != -1 || errno != err) {
		FAIL("expected %s, got %d/%s", strerrorname_np(err), r,
		     strerrorname_np(errno) ?: "0");
	}
	if (a->error_offset != eo)
		FAIL("error_offset %#llx, expected %#llx",
		     (unsigned long long)a->error_offset,
		     (unsigned long long)eo);
}

#define ATTRS(off, sz, attr, fl) \
	(struct kvm_memory_attributes2){ .offset = (off), .size = (sz), \
					 .attributes = (attr), .flags = (fl) }

TEST(null_argument_efault)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);

	CHECK_ERR(gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, NULL), EFAULT);
}

TEST(flag_checks)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;

	a = ATTRS(0, PAGE, 0, ZERO | PRESERVE);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, 0, 1ULL << 2);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, 0, 1ULL << 63);
	expect(g, &a, EINVAL, SENTINEL);
	/* flag errors come before range errors and mode errors */
	a = ATTRS(1, 0, PRIV, ZERO | PRESERVE);
	expect(g, &a, EINVAL, SENTINEL);
	CHECK(!is_private(g, 0));
}

TEST(v8_profile_rejects_every_flag)
{
	int g = new_gmem_on("v8", KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;

	a = ATTRS(0, PAGE, PRIV, PRESERVE);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, 0, ZERO);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, PRIV, 0);
	expect(g, &a, 0, SENTINEL);
	CHECK(is_private(g, 0));
}

TEST(reserved_must_be_zero)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;
	int i;

	for (i = 0; i < 11; i++) {
		a = ATTRS(0, PAGE, PRIV, 0);
		a.reserved[i] = 1;
		expect(g, &a, EINVAL, SENTINEL);
	}
	CHECK(!is_private(g, 0));
}

TEST(error_offset_input_is_ignored)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a = ATTRS(0, PAGE, PRIV, 0);

	a.error_offset = ~0ULL;
	CHECK_OK(gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, &a));
	CHECK_EQ(a.error_offset, ~0ULL); /* success leaves it as it was */
	CHECK(is_private(g, 0));
}

TEST(vm_without_private_memory_and_attribute_bits)
{
	int d = new_gmem_on(NULL, KVM_X86_DEFAULT_VM, 4 * PAGE);
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;

	a = ATTRS(0, PAGE, PRIV, 0);
	expect(d, &a, EINVAL, SENTINEL);
	/* default VM beats an unsupported mode (check 4 before 6) */
	a = ATTRS(0, PAGE, PRIV, ZERO);
	expect(d, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, 1, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, PRIV | 1, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, 1ULL << 63, 0);
	expect(g, &a, EINVAL, SENTINEL);
}

TEST(range_checks)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;

	a = ATTRS(0, 0, PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(1, PAGE, PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE + 1, PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, 5 * PAGE, PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(4 * PAGE, PAGE, PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(~0ULL & ~(PAGE - 1), 2 * PAGE, PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(PAGE, ~0ULL & ~(PAGE - 1), PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	/* range errors come before mode errors (5 before 6) */
	a = ATTRS(0, 0, PRIV, ZERO);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, 4 * PAGE, PRIV, 0);
	expect(g, &a, 0, SENTINEL);
}

TEST(mode_errors_report_offset)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	int snp = new_gmem_on(NULL, KVM_X86_SNP_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;

	/* ZERO is never accepted to private */
	a = ATTRS(2 * PAGE, PAGE, PRIV, ZERO);
	expect(g, &a, EOPNOTSUPP, 2 * PAGE);
	/* SNP does not offer PRESERVE to shared */
	a = ATTRS(PAGE, 2 * PAGE, 0, PRESERVE);
	expect(snp, &a, EOPNOTSUPP, PAGE);
	CHECK(!is_private(g, 2 * PAGE));
}

TEST(mode_check_before_pins)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;

	CHECK_OK(gmemu_pin(g, PAGE, PAGE));
	a = ATTRS(0, 4 * PAGE, PRIV, ZERO);
	expect(g, &a, EOPNOTSUPP, 0);
	a = ATTRS(0, 4 * PAGE, PRIV, PRESERVE);
	expect(g, &a, EAGAIN, PAGE);
}

TEST(pins_before_enomem_and_injection_not_consumed_early)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 4 * PAGE);
	struct kvm_memory_attributes2 a;

	CHECK_OK(gmemu_pin(g, 3 * PAGE, PAGE));
	CHECK_OK(gmemu_inject_enomem(g, 1));
	a = ATTRS(PAGE, 3 * PAGE, PRIV, 0);
	expect(g, &a, EAGAIN, 3 * PAGE);
	/* an EINVAL, an EOPNOTSUPP and a no-op leave the injection armed */
	a = ATTRS(0, 0, PRIV, 0);
	expect(g, &a, EINVAL, SENTINEL);
	a = ATTRS(0, PAGE, PRIV, ZERO);
	expect(g, &a, EOPNOTSUPP, 0);
	a = ATTRS(0, PAGE, 0, 0); /* already shared: nothing to do */
	expect(g, &a, 0, SENTINEL);
	a = ATTRS(PAGE, PAGE, PRIV, 0);
	expect(g, &a, ENOMEM, PAGE);
	CHECK(!is_private(g, PAGE));
	expect(g, &a, 0, SENTINEL);
	CHECK(is_private(g, PAGE));
}

TEST(no_op_returns_at_once_unless_zero)
{
	int g = new_gmem_on(NULL, GMEMU_VM_PKVM, 4 * PAGE);
	struct gmemu_gmem_info before = { .sz = sizeof(before) }, after = before;
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);
	struct kvm_memory_attributes2 a;

	memset(v, 0x33, 4 * PAGE);
	CHECK_OK(gmemu_gmem_info(g, &before));
	a = ATTRS(0, 4 * PAGE, 0, 0);
	expect(g, &a, 0, SENTINEL);
	a = ATTRS(0, 4 * PAGE, 0, PRESERVE);
	expect(g, &a, 0, SENTINEL);
	CHECK_OK(gmemu_gmem_info(g, &after));
	CHECK_EQ(after.conversions_to_shared, before.conversions_to_shared);
	CHECK_EQ(v[0], 0x33);
	/* ZERO is never a no-op: already shared pages are zeroed */
	a = ATTRS(0, 2 * PAGE, 0, ZERO);
	expect(g, &a, 0, SENTINEL);
	CHECK_EQ(v[0], 0);
	CHECK_EQ(v[2 * PAGE - 1], 0);
	CHECK_EQ(v[2 * PAGE], 0x33);
}

TEST(nothing_changes_on_failure)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, 8 * PAGE);
	uint8_t *v = map_gmem(g, 8 * PAGE, 0);
	struct kvm_memory_attributes2 a;
	int p;

	memset(v, 0x44, 8 * PAGE);
	CHECK_CONVERT(g, 4 * PAGE, 2 * PAGE, true, PRESERVE);
	CHECK_OK(gmemu_pin(g, 3 * PAGE, PAGE));
	a = ATTRS(0, 8 * PAGE, PRIV, 0);
	expect(g, &a, EAGAIN, 3 * PAGE);
	CHECK_OK(gmemu_unpin(g, 3 * PAGE, PAGE));
	CHECK_OK(gmemu_inject_enomem(g, 1));
	expect(g, &a, ENOMEM, 0);
	a = ATTRS(0, 8 * PAGE, 0, ZERO);
	CHECK_OK(gmemu_inject_enomem(g, 1));
	expect(g, &a, ENOMEM, 0);
	for (p = 0; p < 8; p++) {
		bool priv = p == 4 || p == 5;

		CHECK_EQ(is_private(g, p * PAGE), priv);
		if (priv)
			CHECK_SIGBUS_READ(v + p * PAGE);
		else
			CHECK_EQ(v[p * PAGE], 0x44);
	}
}

TEST(unknown_gmem_ioctl_enotty)
{
	int g = new_gmem_on(NULL, KVM_X86_SW_PROTECTED_VM, PAGE);
	struct kvm_memory_attributes a1 = { .size = PAGE };

	CHECK_ERR(gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES, &a1), ENOTTY);
	CHECK_ERR(gmemu_ioctl(g, KVM_CHECK_EXTENSION, 0), ENOTTY);
	CHECK_ERR(gmemu_ioctl(g, KVM_CREATE_GUEST_MEMFD, NULL), ENOTTY);
	CHECK_ERR(gmemu_ioctl(g, _IOWR(KVMIO, 0xd2, struct kvm_create_guest_memfd), NULL), ENOTTY);
}
