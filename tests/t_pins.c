// SPDX-License-Identifier: MIT
/* contract §8: pins (elevated references) and their effect on conversion. */
#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)

static int new_gmem(void)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

	return create_gmem(vm, 8 * PAGE, SHARED);
}

TEST(pin_arguments)
{
	int g = new_gmem(), fd = open("/dev/null", O_RDONLY);

	CHECK_ERR(gmemu_pin(g, 1, PAGE), EINVAL);
	CHECK_ERR(gmemu_pin(g, 0, 0), EINVAL);
	CHECK_ERR(gmemu_pin(g, 0, PAGE + 1), EINVAL);
	CHECK_ERR(gmemu_pin(g, 0, 9 * PAGE), EINVAL);
	CHECK_ERR(gmemu_pin(g, 8 * PAGE, PAGE), EINVAL);
	CHECK_ERR(gmemu_pin(g, ~0UL & ~(PAGE - 1), 2 * PAGE), EINVAL);
	CHECK_ERR(gmemu_unpin(g, 0, PAGE), EINVAL); /* not pinned */
	CHECK_ERR(gmemu_pin_transient(g, 8 * PAGE), EINVAL);
	CHECK_ERR(gmemu_pin_transient(g, 3), EINVAL);
	CHECK_ERR(gmemu_pin(fd, 0, PAGE), EINVAL);
	CHECK_ERR(gmemu_pin(-1, 0, PAGE), EBADF);
	CHECK_ERR(gmemu_pin(1000, 0, PAGE), EBADF);
}

TEST(pinning_a_private_page_efault)
{
	int g = new_gmem();

	CHECK_CONVERT(g, 2 * PAGE, PAGE, true, 0);
	CHECK_ERR(gmemu_pin(g, 2 * PAGE, PAGE), EFAULT);
	CHECK_ERR(gmemu_pin(g, 0, 4 * PAGE), EFAULT); /* partly private */
	CHECK_ERR(gmemu_pin_transient(g, 2 * PAGE), EFAULT);
	/* nothing was pinned by the failed call */
	CHECK_CONVERT(g, 0, 2 * PAGE, true, 0);
}

TEST(pinned_page_blocks_to_private_with_offset)
{
	int g = new_gmem();
	uint64_t eo;

	CHECK_OK(gmemu_pin(g, 5 * PAGE, 2 * PAGE));
	CHECK_EQ(set_attrs_eo(g, 0, 8 * PAGE, true, 0, &eo), -EAGAIN);
	CHECK_EQ(eo, 5 * PAGE);
	CHECK_EQ(set_attrs_eo(g, 6 * PAGE, 2 * PAGE, true, 0, &eo), -EAGAIN);
	CHECK_EQ(eo, 6 * PAGE); /* never below offset */
	CHECK(!is_private(g, 0));
	/* a range without pinned pages converts */
	CHECK_CONVERT(g, 0, 5 * PAGE, true, 0);
	CHECK_CONVERT(g, 7 * PAGE, PAGE, true, 0);
	/* to-shared never checks pins */
	CHECK_CONVERT(g, 0, 5 * PAGE, false, 0);
}

TEST(pins_are_counted)
{
	int g = new_gmem();
	uint64_t eo;

	CHECK_OK(gmemu_pin(g, PAGE, PAGE));
	CHECK_OK(gmemu_pin(g, 0, 4 * PAGE));
	CHECK_OK(gmemu_unpin(g, 0, 4 * PAGE));
	CHECK_EQ(set_attrs_eo(g, 0, 4 * PAGE, true, 0, &eo), -EAGAIN);
	CHECK_EQ(eo, PAGE);
	CHECK_OK(gmemu_unpin(g, PAGE, PAGE));
	CHECK_ERR(gmemu_unpin(g, PAGE, PAGE), EINVAL);
	CHECK_CONVERT(g, 0, 4 * PAGE, true, 0);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_pinned_pages, 0);
	CHECK_EQ(info.eagain, 1);
}

TEST(transient_reference_is_drained)
{
	int g = new_gmem();

	CHECK_OK(gmemu_pin_transient(g, 3 * PAGE));
	CHECK_OK(gmemu_pin_transient(g, 3 * PAGE));
	CHECK_CONVERT(g, 0, 8 * PAGE, true, 0);
	/* the drain cleared it: back to shared and private again */
	CHECK_CONVERT(g, 0, 8 * PAGE, false, 0);
	CHECK_CONVERT(g, 3 * PAGE, PAGE, true, 0);
}

TEST(transient_and_long_term_together)
{
	int g = new_gmem();
	uint64_t eo;

	CHECK_OK(gmemu_pin_transient(g, 2 * PAGE));
	CHECK_OK(gmemu_pin(g, 2 * PAGE, PAGE));
	CHECK_EQ(set_attrs_eo(g, 0, 4 * PAGE, true, 0, &eo), -EAGAIN);
	CHECK_EQ(eo, 2 * PAGE);
	CHECK_OK(gmemu_unpin(g, 2 * PAGE, PAGE));
	CHECK_CONVERT(g, 0, 4 * PAGE, true, 0);
}
