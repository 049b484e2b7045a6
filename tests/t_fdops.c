// SPDX-License-Identifier: MIT
/*
 * The descriptor and memory mirrors a program reaches through the
 * interposer, called directly (contract §5.7, §5.8, §13.2): sizes are the
 * gmem's, duplicates are the same object, gmemu's own descriptors stay out
 * of reach, views answer madvise and mremap as 6.18's guest_memfd does.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include "harness.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; glibc 2.36's headers lack it */
#endif

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)

static int new_gmem(uint64_t size)
{
	return create_gmem(create_vm(open_kvm(NULL), KVM_X86_SW_PROTECTED_VM),
			   size, SHARED);
}

/* the lowest of gmemu's own descriptors (one per gmem per process) */
static int an_internal_fd(void)
{
	int fd;

	for (fd = 0; fd < 1 << 20; fd++)
		if (gmemu_fd_kind(fd) == GMEMU_FD_INTERNAL)
			return fd;
	FAIL("no internal descriptor found");
	return -1;
}

TEST(stat_family_reports_the_gmem_size)
{
	int g = new_gmem(5 * PAGE);
	char path[64];
	struct statx sx;
	struct stat st;

	CHECK_OK(gmemu_fstatat(g, "", &st, AT_EMPTY_PATH));
	CHECK_EQ(st.st_size, 5 * PAGE);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", g);
	CHECK_OK(gmemu_fstatat(AT_FDCWD, path, &st, 0));
	CHECK_EQ(st.st_size, 5 * PAGE);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), g);
	CHECK_OK(gmemu_statx(AT_FDCWD, path, 0, STATX_SIZE, &sx));
	CHECK_EQ(sx.stx_size, 5 * PAGE);
	CHECK_OK(gmemu_statx(g, "", AT_EMPTY_PATH, STATX_SIZE, &sx));
	CHECK_EQ(sx.stx_size, 5 * PAGE);
	/* a bad output pointer: EFAULT, not a crash (contract §1.4) */
	CHECK_ERR(gmemu_fstatat(g, "", (struct stat *)8, AT_EMPTY_PATH), EFAULT);
	CHECK_ERR(gmemu_statx(g, "", AT_EMPTY_PATH, STATX_SIZE, NULL), EFAULT);
}

TEST(lseek_ends_at_the_gmem_size)
{
	int g = new_gmem(4 * PAGE);
	uint8_t b = 1;

	CHECK_EQ(gmemu_lseek(g, 0, SEEK_END), 4 * PAGE);
	CHECK_EQ(gmemu_lseek(g, -PAGE, SEEK_END), 3 * PAGE);
	CHECK_EQ(gmemu_lseek(g, 100, SEEK_SET), 100);
	CHECK_EQ(gmemu_lseek(g, 1, SEEK_CUR), 101);
	CHECK_ERR(gmemu_lseek(g, INT64_MAX, SEEK_END), EOVERFLOW);
	/* nothing written: one hole up to the size, no data */
	CHECK_EQ(gmemu_lseek(g, 0, SEEK_HOLE), 0);
	CHECK_ERR(gmemu_lseek(g, 0, SEEK_DATA), ENXIO);
	CHECK_ERR(gmemu_lseek(g, 4 * PAGE, SEEK_HOLE), ENXIO);
	CHECK_ERR(gmemu_lseek(g, -1, SEEK_HOLE), ENXIO);
	/* page 2 written: data there, then the hole to the size */
	map_gmem(g, 4 * PAGE, 0)[2 * PAGE] = b;
	CHECK_EQ(gmemu_lseek(g, 0, SEEK_DATA), 2 * PAGE);
	CHECK_EQ(gmemu_lseek(g, 2 * PAGE, SEEK_HOLE), 3 * PAGE);
	CHECK_EQ(gmemu_lseek(g, 3 * PAGE, SEEK_HOLE), 3 * PAGE);
	CHECK_ERR(gmemu_lseek(g, 3 * PAGE, SEEK_DATA), ENXIO);
}

TEST(lseek_on_vm_and_system_fds_espipe)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

	CHECK_ERR(gmemu_lseek(vm, 0, SEEK_SET), ESPIPE);
	CHECK_ERR(gmemu_lseek(kvm, 0, SEEK_END), ESPIPE);
	CHECK_ERR(gmemu_lseek(-1, 0, SEEK_SET), EBADF);
}

TEST(duplicates_are_the_same_object)
{
	int g = new_gmem(2 * PAGE), d = gmemu_dup(g);
	int c = gmemu_fcntl(g, F_DUPFD_CLOEXEC, 60);
	uint8_t *v;

	CHECK(d >= 0 && c >= 60);
	CHECK_EQ(gmemu_fd_kind(d), GMEMU_FD_GMEM);
	CHECK_EQ(gmemu_fd_kind(c), GMEMU_FD_GMEM);
	CHECK_EQ(gmemu_dup2(g, 70), 70);
	CHECK_EQ(gmemu_dup3(g, 71, O_CLOEXEC), 71);
	CHECK_EQ(gmemu_fcntl(71, F_GETFD), FD_CLOEXEC);
	v = map_gmem(d, 2 * PAGE, 0);
	v[0] = 0x61;
	CHECK_OK(gmemu_close(g));
	CHECK_CONVERT(70, 0, PAGE, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_SIGBUS_READ(v);
	CHECK(is_private(c, 0));
	CHECK_CONVERT(71, 0, PAGE, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_EQ(v[0], 0x61);
	/* dup2 over a gmem descriptor: what it named is forgotten */
	CHECK_EQ(gmemu_dup2(gmemu_kvm_open(), 70), 70);
	CHECK_EQ(gmemu_fd_kind(70), GMEMU_FD_SYSTEM);
	CHECK_EQ(gmemu_dup2(71, 71), 71);
	CHECK_ERR(gmemu_dup2(1000000, 1000000), EBADF);
}

TEST(internal_descriptors_out_of_reach)
{
	int g = new_gmem(PAGE), in;

	(void)g;
	in = an_internal_fd();
	CHECK_ERR(gmemu_dup(in), EBADF);
	CHECK_ERR(gmemu_fcntl(in, F_DUPFD, 0), EBADF);
	CHECK_ERR(gmemu_fcntl(in, F_SETFD, 0), EBADF);
	CHECK_ERR(gmemu_dup2(in, 80), EBADF);
	CHECK_ERR(gmemu_dup3(in, 80, 0), EBADF);
	CHECK_ERR(gmemu_dup2(0, in), EBUSY);
	CHECK_ERR(gmemu_close(in), EBADF);
	CHECK_EQ(gmemu_fd_kind(in), GMEMU_FD_INTERNAL);
}

TEST(close_range_spares_internal_descriptors)
{
	int g = new_gmem(2 * PAGE), keep = gmemu_dup2(g, 3), in;
	uint8_t *v = map_gmem(g, 2 * PAGE, 0);

	CHECK_EQ(keep, 3);
	in = an_internal_fd();
	CHECK_ERR(gmemu_close_range(5, 4, 0), EINVAL);
	CHECK_OK(gmemu_close_range(4, ~0U, CLOSE_RANGE_CLOEXEC));
	CHECK_EQ(gmemu_fcntl(g, F_GETFD), FD_CLOEXEC);
	CHECK_OK(gmemu_close_range(4, ~0U, 0));
	CHECK_ERR(gmemu_fcntl(g, F_GETFD), EBADF);
	CHECK_EQ(gmemu_fd_kind(in), GMEMU_FD_INTERNAL);
	CHECK_EQ(gmemu_fd_kind(g), GMEMU_FD_NONE);
	/* the gmem still converts through what is left, and views follow */
	v[0] = 1;
	CHECK_CONVERT(3, 0, PAGE, true, 0);
	CHECK_SIGBUS_READ(v);
	CHECK_CONVERT(3, 0, PAGE, false, 0);
	CHECK_NO_SIGBUS_READ(v);
}

TEST(madvise_on_views)
{
	int g = new_gmem(4 * PAGE);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	v[0] = 0x11;
	v[PAGE] = 0x22;
	CHECK_CONVERT(g, 3 * PAGE, PAGE, true, 0);
	CHECK_ERR(gmemu_madvise(v, 4 * PAGE, MADV_COLLAPSE), EINVAL);
	CHECK_OK(gmemu_madvise(v, 4 * PAGE, MADV_HUGEPAGE));
	CHECK_OK(gmemu_madvise(v, 4 * PAGE, MADV_NOHUGEPAGE));
	/* DONTNEED drops the mapping, not the bytes (a shared file) */
	CHECK_OK(gmemu_madvise(v, 4 * PAGE, MADV_DONTNEED));
	CHECK_EQ(v[0], 0x11);
	CHECK_SIGBUS_READ(v + 3 * PAGE);
	/* REMOVE punches the bytes; attributes stay */
	CHECK_OK(gmemu_madvise(v + PAGE, PAGE, MADV_REMOVE));
	CHECK_EQ(v[PAGE], 0);
	CHECK_EQ(v[0], 0x11);
	CHECK(is_private(g, 3 * PAGE));
	CHECK(!is_private(g, PAGE));
	/* not a view: the kernel's answer */
	CHECK_ERR(gmemu_madvise((void *)PAGE, PAGE, MADV_DONTNEED), ENOMEM);
}

TEST(mremap_of_a_view_einval)
{
	int g = new_gmem(4 * PAGE);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);
	uint8_t *anon = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *moved;

	CHECK(anon != MAP_FAILED);
	v[0] = 0x5e;
	CHECK(gmemu_mremap(v, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(gmemu_mremap(v + PAGE, PAGE, PAGE, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	/* nothing lands on a view either */
	CHECK(gmemu_mremap(anon, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
			   v + PAGE) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(v[0], 0x5e);
	/* other mappings move as the kernel moves them */
	anon[0] = 0x7a;
	moved = gmemu_mremap(anon, 2 * PAGE, 16 * PAGE, MREMAP_MAYMOVE);
	CHECK(moved != MAP_FAILED);
	CHECK_EQ(moved[0], 0x7a);
	CHECK_OK(munmap(moved, 16 * PAGE));
}

TEST(dev_kvm_path_is_gmemus)
{
	struct stat st;
	int kvm, vm;

	CHECK_EQ(gmemu_path_emulated("/dev/kvm"), 1);
	CHECK_EQ(gmemu_path_emulated("/sys/module/kvm/parameters/tdp_mmu"), 1);
	CHECK_EQ(gmemu_path_emulated("/sys/module/kvm/parameters/nonexistent"), 1);
	CHECK_EQ(gmemu_path_emulated("/sys/module/kvm_intel/parameters/ept"), 1);
	CHECK_EQ(gmemu_path_emulated("/dev/null"), 0);
	CHECK_ERR(gmemu_path_emulated(NULL), EFAULT);
	/* whether or not the host has the node */
	kvm = gmemu_open("/dev/kvm", O_RDWR | O_CLOEXEC);
	CHECK(kvm >= 0);
	CHECK_EQ(gmemu_fd_kind(kvm), GMEMU_FD_SYSTEM);
	CHECK_EQ(gmemu_fcntl(kvm, F_GETFD), FD_CLOEXEC);
	vm = gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	CHECK_EQ(gmemu_fd_kind(vm), GMEMU_FD_VM);
	CHECK_OK(gmemu_access("/dev/kvm", R_OK | W_OK));
	CHECK_OK(gmemu_fstatat(AT_FDCWD, "/dev/kvm", &st, 0));
	CHECK(S_ISCHR(st.st_mode));
	CHECK_ERR(gmemu_open("/sys/module/kvm/parameters/nonexistent", O_RDONLY), ENOENT);
	CHECK_ERR(gmemu_access("/sys/module/kvm/parameters/nonexistent", F_OK), ENOENT);
	CHECK_ERR(gmemu_open("/sys/module/kvm/parameters/tdp_mmu", O_RDWR), EACCES);
	/* nothing of the real host's module shows through: no vendor module */
	CHECK_ERR(gmemu_open("/sys/module/kvm_intel/parameters/ept", O_RDONLY), ENOENT);
	CHECK_ERR(gmemu_open("/sys/module/kvm_amd/parameters/npt", O_RDONLY), ENOENT);
	CHECK_ERR(gmemu_fstatat(AT_FDCWD, "/sys/module/kvm/parameters/mmio_caching", &st, 0),
		  ENOENT);
	{
		struct statx sx;

		CHECK_ERR(gmemu_statx(AT_FDCWD, "/sys/module/kvm/parameters/mmio_caching",
				      0, STATX_SIZE, &sx), ENOENT);
		CHECK_OK(gmemu_statx(AT_FDCWD, "/sys/module/kvm/parameters/tdp_mmu",
				     0, STATX_BASIC_STATS, &sx));
		CHECK_EQ(sx.stx_mode, S_IFREG | 0444);
	}
	/* other paths are the kernel's */
	CHECK_EQ(gmemu_fd_kind(gmemu_open("/dev/null", O_RDONLY)), GMEMU_FD_NONE);
	CHECK_ERR(gmemu_open("/nonexistent/x", O_RDONLY), ENOENT);
}

TEST(kvm_parameters_read_as_the_host_table)
{
	static const char *const names[] = {
		"force_emulation_prefix", "enable_vmware_backdoor", "tdp_mmu",
		"eager_page_split", "nx_huge_pages", "enable_pmu",
		"ignore_msrs", "halt_poll_ns",
	};
	static const char *const values[] = {
		"0\n", "N\n", "Y\n", "N\n", "N\n", "N\n", "N\n", "0\n",
	};
	char path[128], buf[16];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/module/kvm/parameters/%s", names[i]);
		fd = gmemu_open(path, O_RDONLY);
		CHECK(fd >= 0);
		n = gmemu_read(fd, buf, sizeof(buf) - 1);
		CHECK(n > 0);
		buf[n] = 0;
		if (strcmp(buf, values[i]))
			FAIL("%s reads %s", names[i], buf);
		CHECK_OK(gmemu_close(fd));
	}
}
