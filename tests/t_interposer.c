// SPDX-License-Identifier: MIT
/*
 * Under the interposer (contract §13): a program that uses only libc calls
 * -- open("/dev/kvm"), ioctl, mmap, dup, fstat, lseek, close_range, fork,
 * exec, SCM_RIGHTS -- gets gmemu's behaviour from each of them.  Built
 * plain (-DGMEMU_PLAIN_LIBC) and run by tests/t_interposer.sh under
 * `gmemu run`; the ordinary build has nothing to test and skips.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "harness.h"

#ifndef GMEMU_PLAIN_LIBC

TEST(needs_the_interposer)
{
	SKIP("built for `gmemu run` only (tests/t_interposer.sh runs the plain build)");
}

#else

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)

static int new_gmem(uint64_t size)
{
	int kvm = open("/dev/kvm", O_RDWR), vm;

	CHECK(kvm >= 0);
	vm = ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	CHECK(vm >= 0);
	return create_gmem(vm, size, SHARED);
}

TEST(dev_kvm_is_gmemus)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	struct stat st;

	CHECK(kvm >= 0);
	CHECK_EQ(gmemu_fd_kind(kvm), GMEMU_FD_SYSTEM);
	CHECK_EQ(ioctl(kvm, KVM_GET_API_VERSION, 0), 12);
	CHECK_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD), 1);
	CHECK_OK(stat("/dev/kvm", &st));
	CHECK(S_ISCHR(st.st_mode));
	CHECK_OK(access("/dev/kvm", R_OK | W_OK));
	CHECK_OK(close(kvm));
}

TEST(dup_names_the_same_gmem)
{
	int g = new_gmem(4 * PAGE), d = dup(g), d2 = fcntl(g, F_DUPFD_CLOEXEC, 50);
	uint8_t *v;

	CHECK(d >= 0 && d2 >= 50);
	CHECK_EQ(gmemu_fd_kind(d), GMEMU_FD_GMEM);
	/* test libraries map a gmem through a dup() of its fd */
	v = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, d, 0);
	CHECK(v != MAP_FAILED);
	v[0] = 0x44;
	CHECK_CONVERT(d2, 0, PAGE, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_SIGBUS_READ(v);
	CHECK_OK(close(g));
	CHECK_CONVERT(d, 0, PAGE, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	CHECK_EQ(v[0], 0x44);
	CHECK_EQ(dup2(d, 40), 40);
	CHECK_EQ(gmemu_fd_kind(40), GMEMU_FD_GMEM);
	CHECK_OK(munmap(v, 4 * PAGE));
}

TEST(sizes_are_the_gmems)
{
	int g = new_gmem(3 * PAGE);
	char path[64];
	struct stat st;

	CHECK_OK(fstat(g, &st));
	CHECK_EQ(st.st_size, 3 * PAGE);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", g);
	CHECK_OK(stat(path, &st));
	CHECK_EQ(st.st_size, 3 * PAGE);
	CHECK_OK(fstatat(g, "", &st, AT_EMPTY_PATH));
	CHECK_EQ(st.st_size, 3 * PAGE);
	CHECK_EQ(lseek(g, 0, SEEK_END), 3 * PAGE);
	CHECK_OK(syscall(SYS_fstat, g, &st));
	CHECK_EQ(st.st_size, 3 * PAGE);
}

TEST(close_range_spares_gmemus_own)
{
	int g = new_gmem(2 * PAGE);
	uint8_t *v = map_gmem(g, 2 * PAGE, 0);
	int keep = dup2(g, 3);

	CHECK_EQ(keep, 3);
	/* everything above the program's own descriptors (a daemon's habit) */
	CHECK_OK(close_range(4, ~0U, 0));
	CHECK_EQ(fcntl(g, F_GETFD), -1);
	v[0] = 1;
	CHECK_CONVERT(3, 0, PAGE, true, 0);
	CHECK_SIGBUS_READ(v);
	CHECK_CONVERT(3, 0, PAGE, false, 0);
	CHECK_NO_SIGBUS_READ(v);
}

/* The program's own SIGBUS handler sees BUS_ADRERR at the address, and
 * sigaction shows the handler it installed. */
static volatile sig_atomic_t seen;
static void *seen_addr;
static int seen_code;
static sigjmp_buf jmp;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	seen = 1;
	seen_addr = si->si_addr;
	seen_code = si->si_code;
	siglongjmp(jmp, 1);
}

TEST(signals_stay_the_programs)
{
	int g = new_gmem(2 * PAGE);
	uint8_t *v = map_gmem(g, 2 * PAGE, 0);
	struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO }, old;

	CHECK_OK(sigaction(SIGBUS, &sa, NULL));
	CHECK_CONVERT(g, PAGE, PAGE, true, 0);
	if (!sigsetjmp(jmp, 1))
		(void)*(volatile uint8_t *)(v + PAGE + 5);
	CHECK(seen);
	CHECK_EQ(seen_code, BUS_ADRERR);
	CHECK(seen_addr == v + PAGE + 5);
	CHECK_OK(sigaction(SIGBUS, NULL, &old));
	CHECK(old.sa_sigaction == handler);
}

TEST(vm_fds_fail_eio_in_a_child)
{
	int kvm = open("/dev/kvm", O_RDWR), vm = ioctl(kvm, KVM_CREATE_VM, 1);
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct kvm_create_guest_memfd c = { .size = PAGE };

		if (ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c) == -1 && errno == EIO)
			_exit(0);
		_exit(1);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(scm_rights_receiver_maps_it)
{
	int sv[2], g = new_gmem(2 * PAGE);
	uint8_t *v = map_gmem(g, 2 * PAGE, 0);
	pid_t pid;
	int st;

	v[7] = 0x37;
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	if (pid == 0) {
		char cbuf[CMSG_SPACE(sizeof(int))], byte;
		struct iovec iov = { &byte, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		int fd;
		uint8_t *w;

		if (recvmsg(sv[1], &msg, 0) != 1)
			_exit(2);
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(fd));
		w = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
		_exit(w != MAP_FAILED && w[7] == 0x37 ? 0 : 3);
	}
	{
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, byte = 'g';
		struct iovec iov = { &byte, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &g, sizeof(int));
		CHECK_EQ(sendmsg(sv[0], &msg, 0), 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* an exec()ed program gets the gmem descriptors it inherits as gmemu's */
TEST(exec_child_of_exec)
{
	const char *fd = getenv("GMEMU_TEST_FD");
	uint8_t *w;

	if (!fd)
		SKIP("run by exec_keeps_gmem_fds");
	w = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, atoi(fd), 0);
	CHECK(w != MAP_FAILED);
	CHECK_EQ(w[3], 0x33);
	CHECK_EQ(gmemu_fd_kind(atoi(fd)), GMEMU_FD_GMEM);
}

TEST(exec_keeps_gmem_fds)
{
	int g = new_gmem(PAGE);
	uint8_t *v = map_gmem(g, PAGE, 0);
	char num[16];
	pid_t pid;
	int st;

	v[3] = 0x33;
	snprintf(num, sizeof(num), "%d", g);
	pid = fork();
	if (pid == 0) {
		setenv("GMEMU_TEST_FD", num, 1);
		setenv("GMEMU_TEST_CHILD", "exec_child_of_exec", 1);
		execl("/proc/self/exe", "t_interposer", (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(kvm_parameters_are_there)
{
	char buf[16] = { 0 };
	int fd = open("/sys/module/kvm/parameters/force_emulation_prefix", O_RDONLY);
	FILE *f;

	CHECK(fd >= 0);
	CHECK_EQ(read(fd, buf, sizeof(buf) - 1), 2);
	CHECK(!strcmp(buf, "0\n"));
	CHECK_OK(close(fd));
	f = fopen("/sys/module/kvm/parameters/tdp_mmu", "r");
	CHECK(f && fgets(buf, sizeof(buf), f) && !strcmp(buf, "Y\n"));
	fclose(f);
	CHECK_ERR(open("/sys/module/kvm/parameters/force_emulation_prefix", O_WRONLY),
		  EACCES);
}

#endif
