// SPDX-License-Identifier: MIT
/* contract §1: fds that are not gmemu's go to the real system call unchanged;
 * unknown requests on gmemu fds fail ENOTTY; only gmemu_ symbols exported. */
#include <linux/falloc.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "harness.h"

TEST(plain_file_goes_to_the_kernel)
{
	char path[] = "/tmp/gmemu-passthrough-XXXXXX", buf[8] = { 0 };
	int fd = mkstemp(path);
	struct stat st;
	uint8_t *p;

	CHECK(fd >= 0);
	unlink(path);
	CHECK_EQ(gmemu_write(fd, "abcdefgh", 8), 8);
	CHECK_EQ(gmemu_pwrite(fd, "XY", 2, 2), 2);
	CHECK_EQ(gmemu_pread(fd, buf, 4, 0), 4);
	CHECK(memcmp(buf, "abXY", 4) == 0);
	CHECK_OK(gmemu_ftruncate(fd, 3 * PAGE));
	CHECK_OK(gmemu_fstat(fd, &st));
	CHECK_EQ(st.st_size, 3 * PAGE);
	CHECK_OK(gmemu_fallocate(fd, 0, 0, 4 * PAGE));
	CHECK_OK(gmemu_fstat(fd, &st));
	CHECK_EQ(st.st_size, 4 * PAGE);
	p = gmemu_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK_EQ(p[3], 'Y');
	p[0] = 'z'; /* MAP_PRIVATE works on plain files */
	CHECK_OK(gmemu_munmap(p, PAGE));
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(gmemu_read(fd, buf, 2), 2);
	CHECK(memcmp(buf, "ab", 2) == 0);
	CHECK_ERR(gmemu_ioctl(fd, KVM_CREATE_VM, 0), ENOTTY);
	CHECK_OK(gmemu_close(fd));
	CHECK_ERR(gmemu_close(fd), EBADF);
	CHECK_ERR(gmemu_read(fd, buf, 1), EBADF);
	CHECK_ERR(gmemu_fstat(fd, &st), EBADF);
}

TEST(pipes_sockets_and_anonymous_memory)
{
	int p[2], n = -1;
	char c;
	uint8_t *a;

	CHECK_OK(pipe(p));
	CHECK_EQ(gmemu_write(p[1], "q", 1), 1);
	CHECK_OK(gmemu_ioctl(p[0], FIONREAD, &n));
	CHECK_EQ(n, 1);
	CHECK_EQ(gmemu_read(p[0], &c, 1), 1);
	CHECK_EQ(c, 'q');
	CHECK_ERR(gmemu_pread(p[0], &c, 1, 0), ESPIPE);
	a = gmemu_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(a != MAP_FAILED);
	a[PAGE] = 1;
	CHECK_OK(gmemu_munmap(a, 2 * PAGE));
	CHECK_ERR(gmemu_munmap(a + 1, PAGE), EINVAL);
}

TEST(unrelated_memfd_is_not_a_gmem)
{
	int fd = memfd_create("not-gmemu", 0);
	uint8_t *p;

	CHECK(fd >= 0);
	CHECK_OK(gmemu_ftruncate(fd, PAGE));
	p = gmemu_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	p[0] = 1;
	CHECK_ERR(gmemu_ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, NULL), ENOTTY);
	CHECK_ERR(gmemu_pin(fd, 0, PAGE), EINVAL);
	/* a memfd that borrows the name but has no valid header */
	int fake = memfd_create("gmemu-gmem", 0);
	CHECK_OK(ftruncate(fake, 300 << 20));
	CHECK_ERR(gmemu_pin(fake, 0, PAGE), EINVAL);
	CHECK_ERR(gmemu_ioctl(fake, KVM_SET_MEMORY_ATTRIBUTES2, NULL), ENOTTY);
}

TEST(unknown_requests_enotty)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, PAGE, 0);

	CHECK_ERR(gmemu_ioctl(kvm, KVM_CREATE_VCPU, 0), ENOTTY);
	CHECK_ERR(gmemu_ioctl(vm, KVM_RUN, 0), ENOTTY);
	CHECK_ERR(gmemu_ioctl(vm, KVM_GET_API_VERSION, 0), ENOTTY);
	CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_VM, 0), ENOTTY);
	CHECK_ERR(gmemu_ioctl(g, KVM_RUN, 0), ENOTTY);
	CHECK_ERR(gmemu_ioctl(g, FIONREAD, NULL), ENOTTY);
}

TEST(only_gmemu_symbols_exported)
{
	const char *so = getenv("GMEMU_LIBSO");
	char cmd[512], line[256];
	int exported = 0;
	FILE *f;

	if (!so)
		so = "build/libgmemu.so";
	if (access(so, R_OK))
		SKIP("shared library not built");
	snprintf(cmd, sizeof(cmd),
		 "nm -D --defined-only %s 2>/dev/null | awk '$2 != \"A\" {print $3}'", so);
	f = popen(cmd, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!*line)
			continue;
		if (strncmp(line, "gmemu_", 6) != 0)
			FAIL("exported symbol %s", line);
		exported++;
	}
	pclose(f);
	if (exported == 0)
		SKIP("nm unavailable");
	CHECK(exported >= 20);
}
