// SPDX-License-Identifier: MIT
/*
 * contract §4 and §6: every platform model x direction x content mode x launch
 * phase, accepted or EOPNOTSUPP as the table says, and the bytes each side
 * reads afterwards.  The table is written out here, not taken from the
 * library.
 */
#include <sys/stat.h>

#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

enum effect { SAME, RANDOM, SCRAMBLE, ZEROS };

struct model_row {
	const char *name;
	unsigned long type;
	/* accepted modes [to_private][post_launch] */
	uint64_t modes[2][2];
	enum effect effect[2]; /* flags = 0, [to_private] */
};

static const struct model_row rows[] = {
	{ "sw_protected", KVM_X86_SW_PROTECTED_VM,
	  { { ZERO | PRESERVE, ZERO | PRESERVE }, { PRESERVE, PRESERVE } },
	  { RANDOM, RANDOM } },
	{ "pkvm", GMEMU_VM_PKVM,
	  { { ZERO | PRESERVE, ZERO | PRESERVE }, { PRESERVE, PRESERVE } },
	  { SAME, SAME } },
	{ "snp", KVM_X86_SNP_VM, { { ZERO, ZERO }, { PRESERVE, 0 } },
	  { SCRAMBLE, SCRAMBLE } },
	{ "tdx", KVM_X86_TDX_VM, { { ZERO, ZERO }, { PRESERVE, 0 } },
	  { ZEROS, ZEROS } },
};

static const uint64_t modes[] = { 0, ZERO, PRESERVE };

/* Bytes of the page at off as a given side reads them. */
static void read_page(int g, uint8_t *view, uint64_t off, bool guest,
		      uint8_t *out)
{
	if (guest)
		guest_read(g, off, out, PAGE);
	else
		memcpy(out, view + off, PAGE);
}

static bool all_bytes(const uint8_t *p, uint8_t v)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void check_effect(const char *what, const uint8_t *page, uint8_t pattern,
			 enum effect e)
{
	switch (e) {
	case SAME:
		if (!all_bytes(page, pattern))
			FAIL("%s: bytes changed", what);
		break;
	case ZEROS:
		if (!all_bytes(page, 0))
			FAIL("%s: not zeroed", what);
		break;
	case RANDOM:
	case SCRAMBLE: {
		size_t i, same = 0, zero = 0;

		for (i = 0; i < PAGE; i++) {
			same += page[i] == pattern;
			zero += page[i] == 0;
		}
		/* garbage: about 1/256 of bytes match by chance */
		if (same > PAGE / 16 || zero > PAGE / 16)
			FAIL("%s: not garbage (%zu same, %zu zero)", what, same,
			     zero);
		break;
	}
	}
}

/*
 * Pages 0..3, patterns 0xa0+i.  The conversion covers pages 0..2; page 0 is
 * already in the target state, pages 1-2 change, page 3 is outside.
 */
static void run_cell(const char *profile, const struct model_row *row,
		     bool to_private, bool post, uint64_t mode)
{
	int kvm = open_kvm(profile), vm = create_vm(kvm, row->type);
	int g = create_gmem(vm, 4 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0), page[PAGE];
	bool v8 = profile && strcmp(profile, "v8") == 0;
	uint64_t accepted = v8 ? 0 : row->modes[to_private][post];
	char what[128];
	int i, r;

	for (i = 0; i < 4; i++)
		memset(v + i * PAGE, 0xa0 + i, PAGE);
	/* post-launch: the guest's writes below happen after launch (before
	 * it, a private page the launch did not populate is not the guest's
	 * to read on the models that enforce launch) */
	if (post)
		CHECK_OK(gmemu_vm_finalize(vm));
	/* Put the pages that must change in the source state, then give
	 * them their pattern from the side that can write them. */
	if (to_private) {
		CHECK_CONVERT(g, 0, PAGE, true, 0);
		guest_fill(g, 0, 0xa0, PAGE);
	} else {
		CHECK_CONVERT(g, PAGE, 2 * PAGE, true, 0);
		guest_fill(g, PAGE, 0xa1, PAGE);
		guest_fill(g, 2 * PAGE, 0xa2, PAGE);
	}

	snprintf(what, sizeof(what), "%s %s %s mode %#llx %s",
		 profile ? profile : "default", row->name,
		 to_private ? "to-private" : "to-shared",
		 (unsigned long long)mode, post ? "post-launch" : "pre-launch");
	r = set_attrs(g, 0, 3 * PAGE, to_private, mode);
	if (v8 && mode) {
		if (r != -EINVAL)
			FAIL("%s: %d, expected EINVAL", what, r);
		return;
	}
	if (mode & ~accepted) {
		if (r != -EOPNOTSUPP)
			FAIL("%s: %d, expected EOPNOTSUPP", what, r);
		for (i = 0; i < 3; i++)
			CHECK_EQ(is_private(g, i * PAGE), to_private ? i == 0 : i != 0);
		return;
	}
	if (r)
		FAIL("%s: %s", what, strerror(-r));
	for (i = 0; i < 3; i++)
		CHECK_EQ(is_private(g, i * PAGE), to_private);

	/* page 3: outside the range, never touched */
	CHECK_EQ(v[3 * PAGE], 0xa3);
	CHECK(all_bytes(v + 3 * PAGE, 0xa3));
	/* page 0: already in the target state */
	read_page(g, v, 0, to_private, page);
	check_effect(what, page, 0xa0, (mode & ZERO) ? ZEROS : SAME);
	/* pages 1-2 changed state */
	for (i = 1; i < 3; i++) {
		enum effect e = mode & ZERO     ? ZEROS
				: mode & PRESERVE ? SAME
				: v8		  ? SAME
						  : row->effect[to_private];

		read_page(g, v, i * PAGE, to_private, page);
		check_effect(what, page, 0xa0 + i, e);
	}
	if (to_private)
		for (i = 0; i < 3; i++)
			CHECK_SIGBUS_READ(v + i * PAGE);
}

static void run_profile(const char *profile)
{
	size_t m, k;
	int dir, post;

	for (m = 0; m < ARRAY_SIZE(rows); m++)
		for (dir = 0; dir < 2; dir++)
			for (post = 0; post < 2; post++)
				for (k = 0; k < ARRAY_SIZE(modes); k++) {
					pid_t pid = fork();
					int st;

					if (pid == 0) {
						run_cell(profile, &rows[m], dir,
							 post, modes[k]);
						exit(0);
					}
					CHECK(waitpid(pid, &st, 0) == pid);
					if (!WIFEXITED(st) || WEXITSTATUS(st))
						FAIL("cell failed: %s dir %d post %d mode %#llx",
						     rows[m].name, dir, post,
						     (unsigned long long)modes[k]);
				}
}

TEST(table_contentmodes)
{
	run_profile("contentmodes");
}

TEST(table_v8_contents_untouched)
{
	run_profile("v8");
}

TEST(never_allocated_pages_read_zero)
{
	size_t m;

	for (m = 0; m < ARRAY_SIZE(rows); m++) {
		int kvm = open_kvm(NULL), vm = create_vm(kvm, rows[m].type);
		int g = create_gmem(vm, 4 * PAGE, SHARED);
		uint8_t *v;

		/* converted before first use, both ways, flags = 0 */
		CHECK_CONVERT(g, 0, 4 * PAGE, true, 0);
		CHECK(!page_allocated(g, 0));
		CHECK_CONVERT(g, 0, 4 * PAGE, false, 0);
		CHECK_CONVERT(g, 2 * PAGE, 2 * PAGE, true, 0);
		CHECK(!page_allocated(g, 2 * PAGE));
		CHECK(guest_all(g, 2 * PAGE, 0, 2 * PAGE)); /* guest side */
		CHECK_CONVERT(g, 2 * PAGE, 2 * PAGE, false, PRESERVE & rows[m].modes[0][0]);
		v = map_gmem(g, 4 * PAGE, 0);
		CHECK(all_bytes(v, 0)); /* host side */
		CHECK(all_bytes(v + PAGE, 0));
		/* the recorded attribute held when the page was first used */
		CHECK_CONVERT(g, PAGE, PAGE, true, 0);
		guest_fill(g, PAGE, 0x3c, PAGE);
		CHECK_SIGBUS_READ(v + PAGE);
	}
}

TEST(preserve_across_many_conversions)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 2 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 2 * PAGE, 0);
	int round;

	for (round = 0; round < 20; round++) {
		v[100] = (uint8_t)(2 * round); /* host writes while shared */
		CHECK_CONVERT(g, 0, 2 * PAGE, true, PRESERVE);
		CHECK(guest_all(g, 100, (uint8_t)(2 * round), 1));
		guest_fill(g, 100, (uint8_t)(2 * round + 1), 1); /* guest */
		CHECK_CONVERT(g, 0, 2 * PAGE, false, PRESERVE);
		CHECK_EQ(v[100], 2 * round + 1);
	}
}

TEST(encrypted_models_preserve_before_launch_only)
{
	unsigned long types[] = { KVM_X86_SNP_VM, KVM_X86_TDX_VM };
	size_t i;

	for (i = 0; i < 2; i++) {
		int kvm = open_kvm(NULL), vm = create_vm(kvm, types[i]);
		int g = create_gmem(vm, 4 * PAGE, SHARED);
		uint8_t *v = map_gmem(g, 4 * PAGE, 0);
		uint64_t eo;

		memset(v, 0x5c, 2 * PAGE); /* the boot image, written shared */
		CHECK_CONVERT(g, 0, 2 * PAGE, true, PRESERVE);
		CHECK(guest_all(g, 0, 0x5c, 2 * PAGE));
		CHECK_OK(gmemu_vm_finalize(vm));
		CHECK_EQ(set_attrs_eo(g, 2 * PAGE, PAGE, true, PRESERVE, &eo),
			 -EOPNOTSUPP);
		CHECK_EQ(eo, 2 * PAGE);
		CHECK_CONVERT(g, 2 * PAGE, PAGE, true, 0);
		CHECK_CONVERT(g, 0, PAGE, false, ZERO);
		CHECK(all_bytes(v, 0));
	}
}

TEST(in_place_no_second_copy)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 256 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 256 * PAGE, 0);
	struct stat before, after;
	int round;

	memset(v, 0x66, 256 * PAGE);
	CHECK_OK(gmemu_fstat(g, &before));
	for (round = 0; round < 10; round++) {
		CHECK_CONVERT(g, 0, 256 * PAGE, true, PRESERVE);
		CHECK_CONVERT(g, 0, 256 * PAGE, false, PRESERVE);
		CHECK_CONVERT(g, 0, 256 * PAGE, true, 0);
		CHECK_CONVERT(g, 0, 256 * PAGE, false, 0);
	}
	CHECK_OK(gmemu_fstat(g, &after));
	/* 256 pages moved back and forth 40 times: the memory in use grew by
	 * at most a few metadata pages, never by a copy */
	CHECK((after.st_blocks - before.st_blocks) * 512 <= (long)(8 * PAGE));
	CHECK(all_bytes(v + 255 * PAGE, 0x66));
}
