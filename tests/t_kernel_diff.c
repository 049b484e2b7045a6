// SPDX-License-Identifier: MIT
/*
 * Differential test against the kernel's own guest_memfd: every contract §5 file
 * operation case runs on a default-type VM of /dev/kvm and of gmemu, and both
 * must return the same value and errno (and, for mappings, fault alike).
 * Skips where /dev/kvm is missing.
 */
#include <linux/falloc.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "harness.h"

#define NPAGES 4
#define SIZE (NPAGES * PAGE)

struct pair {
	int kernel, emu;
};

struct result {
	long ret;
	int err;
};

static struct pair vms;

static void open_both(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), emu;

	if (kvm < 0)
		SKIP("no /dev/kvm");
	vms.kernel = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vms.kernel < 0)
		SKIP("KVM_CREATE_VM failed on /dev/kvm");
	if (ioctl(vms.kernel, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD) <= 0)
		SKIP("kernel without guest_memfd");
	emu = open_kvm("contentmodes");
	vms.emu = create_vm(emu, KVM_X86_DEFAULT_VM);
}

static struct result create(int vm, bool emu, void *arg)
{
	struct result r;

	errno = 0;
	r.ret = emu ? gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, arg)
		    : ioctl(vm, KVM_CREATE_GUEST_MEMFD, arg);
	r.err = r.ret < 0 ? errno : 0;
	if (r.ret >= 0)
		r.ret = 0; /* fd numbers differ */
	return r;
}

static void same(const char *what, struct result k, struct result e)
{
	if (k.ret != e.ret || k.err != e.err)
		FAIL("%s: kernel %ld/%s, gmemu %ld/%s", what, k.ret,
		     strerrorname_np(k.err) ?: "0", e.ret,
		     strerrorname_np(e.err) ?: "0");
}

#define BOTH(what, kcall, ecall)                                          \
	do {                                                              \
		struct result k_, e_;                                     \
		errno = 0;                                                \
		k_.ret = (long)(kcall);                                   \
		k_.err = k_.ret < 0 ? errno : 0;                          \
		errno = 0;                                                \
		e_.ret = (long)(ecall);                                   \
		e_.err = e_.ret < 0 ? errno : 0;                          \
		same(what, k_, e_);                                       \
	} while (0)

TEST(create_arguments_match_kernel)
{
	static const struct {
		uint64_t size, flags, reserved0;
	} cases[] = {
		{ 0, 0, 0 }, { PAGE - 1, 0, 0 }, { PAGE + 1, 0, 0 },
		{ 1ULL << 63, 0, 0 }, { ~0ULL & ~(PAGE - 1), 0, 0 },
		{ PAGE, 4, 0 }, { PAGE, 1ULL << 63, 0 }, { PAGE, 2, 0 },
		{ PAGE, 1, 0 }, { PAGE, 3, 0 }, { PAGE, 0, 0 }, { PAGE, 0, 1 },
		{ 0, 4, 0 },
	};
	size_t i;

	open_both();
	same("NULL", create(vms.kernel, false, NULL), create(vms.emu, true, NULL));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kvm_create_guest_memfd a = { .size = cases[i].size,
						    .flags = cases[i].flags };
		char what[96];

		a.reserved[0] = cases[i].reserved0;
		snprintf(what, sizeof(what), "create size %#llx flags %#llx",
			 (unsigned long long)a.size, (unsigned long long)a.flags);
		same(what, create(vms.kernel, false, &a), create(vms.emu, true, &a));
	}
}

static struct pair gmems(uint64_t flags)
{
	struct kvm_create_guest_memfd a = { .size = SIZE, .flags = flags };
	struct pair p;

	p.kernel = ioctl(vms.kernel, KVM_CREATE_GUEST_MEMFD, &a);
	p.emu = gmemu_ioctl(vms.emu, KVM_CREATE_GUEST_MEMFD, &a);
	CHECK(p.kernel >= 0 && p.emu >= 0);
	return p;
}

static const uint64_t all_flags[] = { 0, GUEST_MEMFD_FLAG_MMAP,
				      GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED };

TEST(file_operations_match_kernel)
{
	char buf[64];
	size_t f;

	open_both();
	for (f = 0; f < ARRAY_SIZE(all_flags); f++) {
		struct pair g = gmems(all_flags[f]);
		struct stat ks, es;

		BOTH("read", read(g.kernel, buf, 16), gmemu_read(g.emu, buf, 16));
		BOTH("read 0", read(g.kernel, buf, 0), gmemu_read(g.emu, buf, 0));
		BOTH("write", write(g.kernel, buf, 16), gmemu_write(g.emu, buf, 16));
		BOTH("pread", pread(g.kernel, buf, 16, 0), gmemu_pread(g.emu, buf, 16, 0));
		BOTH("pwrite", pwrite(g.kernel, buf, 16, 0), gmemu_pwrite(g.emu, buf, 16, 0));
		BOTH("ftruncate grow", ftruncate(g.kernel, 2 * SIZE), gmemu_ftruncate(g.emu, 2 * SIZE));
		BOTH("ftruncate same", ftruncate(g.kernel, SIZE), gmemu_ftruncate(g.emu, SIZE));
		BOTH("ftruncate 0", ftruncate(g.kernel, 0), gmemu_ftruncate(g.emu, 0));
		BOTH("ioctl unknown", ioctl(g.kernel, KVM_GET_API_VERSION, 0),
		     gmemu_ioctl(g.emu, KVM_GET_API_VERSION, 0));
		BOTH("ioctl FIONREAD", ioctl(g.kernel, FIONREAD, buf),
		     gmemu_ioctl(g.emu, FIONREAD, buf));
		BOTH("fstat", fstat(g.kernel, &ks), gmemu_fstat(g.emu, &es));
		CHECK_EQ(ks.st_size, es.st_size);
		CHECK_EQ(ks.st_blksize, es.st_blksize);
		CHECK_EQ(ks.st_mode & S_IFMT, es.st_mode & S_IFMT);
	}
}

TEST(fallocate_matches_kernel)
{
	static const int modes[] = {
		0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
		FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE,
		FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE, FALLOC_FL_COLLAPSE_RANGE,
		FALLOC_FL_KEEP_SIZE | FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE,
		FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_KEEP_SIZE | FALLOC_FL_UNSHARE_RANGE,
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		0x80, 0x100, 0x81, -1,
	};
	static const long long ranges[][2] = {
		{ 0, PAGE }, { 0, SIZE }, { 0, SIZE + PAGE }, { SIZE, PAGE },
		{ 2 * SIZE, PAGE }, { 1, PAGE }, { 0, 100 }, { 0, 0 },
		{ -PAGE, PAGE }, { PAGE, -PAGE }, { 3 * PAGE, 2 * PAGE },
		{ 0x7fffffffffff0000LL, 0x20000 },
	};
	size_t f, m, r;

	open_both();
	for (f = 0; f < ARRAY_SIZE(all_flags); f++) {
		struct pair g = gmems(all_flags[f]);

		for (m = 0; m < ARRAY_SIZE(modes); m++) {
			for (r = 0; r < ARRAY_SIZE(ranges); r++) {
				char what[96];

				snprintf(what, sizeof(what),
					 "fallocate mode %#x off %lld len %lld",
					 modes[m], ranges[r][0], ranges[r][1]);
				BOTH(what,
				     fallocate(g.kernel, modes[m], ranges[r][0], ranges[r][1]),
				     gmemu_fallocate(g.emu, modes[m], ranges[r][0], ranges[r][1]));
			}
		}
	}
}

/* 1: SIGBUS, 0: readable */
static int probe(uint8_t *p)
{
	return access_sigbus((volatile uint8_t *)p, false, 0, NULL);
}

TEST(mmap_matches_kernel)
{
	static const struct {
		size_t len;
		off_t off;
		int prot, flags;
	} cases[] = {
		{ PAGE, 0, PROT_READ, MAP_SHARED },
		{ SIZE, 0, PROT_READ | PROT_WRITE, MAP_SHARED },
		{ 2 * SIZE, 0, PROT_READ, MAP_SHARED },
		{ PAGE, SIZE, PROT_READ, MAP_SHARED },
		{ PAGE, 2 * SIZE, PROT_READ, MAP_SHARED },
		{ PAGE, 100, PROT_READ, MAP_SHARED },
		{ 0, 0, PROT_READ, MAP_SHARED },
		{ PAGE, 0, PROT_READ, MAP_PRIVATE },
		{ PAGE, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE },
		{ 100, 0, PROT_READ, MAP_SHARED },
		{ PAGE, 0, PROT_NONE, MAP_SHARED },
		{ PAGE, 0, PROT_READ, MAP_SHARED_VALIDATE },
	};
	size_t f, i;

	open_both();
	for (f = 0; f < ARRAY_SIZE(all_flags); f++) {
		struct pair g = gmems(all_flags[f]);

		for (i = 0; i < ARRAY_SIZE(cases); i++) {
			char what[96];
			uint8_t *k, *e;
			int kerr, eerr;
			size_t p, pages;

			errno = 0;
			k = mmap(NULL, cases[i].len, cases[i].prot, cases[i].flags,
				 g.kernel, cases[i].off);
			kerr = k == MAP_FAILED ? errno : 0;
			errno = 0;
			e = gmemu_mmap(NULL, cases[i].len, cases[i].prot,
				       cases[i].flags, g.emu, cases[i].off);
			eerr = e == MAP_FAILED ? errno : 0;
			snprintf(what, sizeof(what),
				 "flags %#llx mmap len %#zx off %#llx prot %d flags %#x",
				 (unsigned long long)all_flags[f], cases[i].len,
				 (long long)cases[i].off, cases[i].prot, cases[i].flags);
			same(what, (struct result){ kerr ? -1 : 0, kerr },
			     (struct result){ eerr ? -1 : 0, eerr });
			if (kerr || !(cases[i].prot & PROT_READ))
				continue;
			pages = (cases[i].len + PAGE - 1) / PAGE;
			for (p = 0; p < pages; p++)
				if (probe(k + p * PAGE) != probe(e + p * PAGE))
					FAIL("%s: page %zu faults differently", what, p);
			munmap(k, cases[i].len);
			gmemu_munmap(e, cases[i].len);
		}
	}
}

TEST(punch_zeroes_like_kernel)
{
	struct pair g;
	uint8_t *k, *e;

	open_both();
	g = gmems(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
	k = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g.kernel, 0);
	e = gmemu_mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g.emu, 0);
	CHECK(k != MAP_FAILED && e != MAP_FAILED);
	memset(k, 0x5a, SIZE);
	memset(e, 0x5a, SIZE);
	CHECK_OK(fallocate(g.kernel, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, PAGE, PAGE));
	CHECK_OK(gmemu_fallocate(g.emu, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, PAGE, PAGE));
	CHECK(memcmp(k, e, SIZE) == 0);
	CHECK_EQ(e[PAGE], 0);
	CHECK_EQ(e[0], 0x5a);
}
