// SPDX-License-Identifier: MIT
/*
 * contract §1 and the interim multi-process rule: a gmem fd stays usable after
 * fork, SCM_RIGHTS and pidfd_getfd; a to-private conversion over a range
 * another live process maps fails EAGAIN at the first such page; an exited
 * process (zombie or reaped) no longer counts.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/falloc.h>
#include <time.h>

#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

static int new_gmem(uint64_t size)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);

	return create_gmem(vm, size, SHARED);
}

static void send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, byte = 'f';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	CHECK_EQ(sendmsg(sock, &msg, 0), 1);
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd;

	CHECK_EQ(recvmsg(sock, &msg, 0), 1);
	c = CMSG_FIRSTHDR(&msg);
	CHECK(c && c->cmsg_type == SCM_RIGHTS);
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static void wait_ok(pid_t pid)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("child failed (status %#x)", st);
}

static void pipe_wait(int fd)
{
	char c;

	CHECK_EQ(read(fd, &c, 1), 1);
}

static void pipe_post(int fd)
{
	CHECK_EQ(write(fd, "x", 1), 1);
}

TEST(forked_child_maps_and_converts)
{
	int g = new_gmem(4 * PAGE);
	pid_t pid = fork();

	if (pid == 0) {
		uint8_t *v = map_gmem(g, 4 * PAGE, 0);

		v[0] = 0x42;
		CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
		CHECK_SIGBUS_READ(v);
		CHECK_SIGBUS_WRITE(v);
		exit(0);
	}
	wait_ok(pid);
	CHECK(is_private(g, 0));
	CHECK(guest_all(g, 0, 0x42, 1));
}

TEST(scm_rights_receiver_maps_pins_punches_converts)
{
	int sv[2], g;
	uint8_t *v;
	pid_t pid;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork(); /* before the gmem exists: the child knows nothing */
	if (pid == 0) {
		struct stat st;
		uint8_t *w;
		uint64_t eo;
		int fd = recv_fd(sv[1]);

		CHECK_OK(gmemu_fstat(fd, &st));
		CHECK_EQ(st.st_size, 4 * PAGE);
		w = map_gmem(fd, 4 * PAGE, 0);
		CHECK_EQ(w[0], 0x61);
		CHECK_EQ(w[3 * PAGE], 0x64);
		CHECK_OK(gmemu_pin(fd, PAGE, PAGE));
		CHECK_EQ(set_attrs_eo(fd, 0, 2 * PAGE, true, PRESERVE, &eo), -EAGAIN);
		CHECK_EQ(eo, PAGE);
		CHECK_OK(gmemu_unpin(fd, PAGE, PAGE));
		CHECK_CONVERT(fd, 0, 2 * PAGE, true, PRESERVE);
		CHECK_SIGBUS_READ(w + PAGE);
		CHECK_OK(gmemu_fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
					 3 * PAGE, PAGE));
		CHECK_EQ(w[3 * PAGE], 0);
		w[2 * PAGE] = 0x77;
		exit(0);
	}
	g = new_gmem(4 * PAGE);
	v = map_gmem(g, 4 * PAGE, 0);
	for (int p = 0; p < 4; p++)
		memset(v + p * PAGE, 0x61 + p, PAGE);
	send_fd(sv[0], g);
	wait_ok(pid);
	/* the receiver's conversion revoked the creator's own view */
	CHECK_SIGBUS_READ(v);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_EQ(v[2 * PAGE], 0x77);
	CHECK_OK(gmemu_munmap(v, 4 * PAGE));
	CHECK(is_private(g, 0));
	CHECK(is_private(g, PAGE));
	CHECK(!is_private(g, 2 * PAGE));
	CHECK(guest_all(g, PAGE, 0x62, PAGE));
	v = map_gmem(g, 4 * PAGE, 0);
	CHECK_EQ(v[2 * PAGE], 0x77);
	CHECK_EQ(v[3 * PAGE], 0);
	CHECK_SIGBUS_READ(v);
}

TEST(pidfd_getfd_receiver)
{
	int to_parent[2], to_child[2], pidfd, fd;
	pid_t pid;
	int remote;
	uint8_t *v;

	CHECK_OK(pipe(to_parent));
	CHECK_OK(pipe(to_child));
	pid = fork();
	if (pid == 0) {
		int g = new_gmem(2 * PAGE);
		uint8_t *w = map_gmem(g, 2 * PAGE, 0);

		w[5] = 0x55;
		CHECK_OK(gmemu_munmap(w, 2 * PAGE));
		CHECK_EQ(write(to_parent[1], &g, sizeof(g)), sizeof(g));
		pipe_wait(to_child[0]);
		CHECK(is_private(g, 0)); /* converted by the other process */
		CHECK(guest_all(g, 5, 0x55, 1));
		exit(0);
	}
	CHECK_EQ(read(to_parent[0], &remote, sizeof(remote)), sizeof(remote));
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		kill(pid, SIGKILL);
		SKIP("pidfd_open unavailable");
	}
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, remote, 0);
	if (fd < 0) {
		kill(pid, SIGKILL);
		SKIP("pidfd_getfd not permitted");
	}
	v = map_gmem(fd, 2 * PAGE, 0);
	CHECK_EQ(v[5], 0x55);
	CHECK_OK(gmemu_munmap(v, 2 * PAGE));
	CHECK_CONVERT(fd, 0, PAGE, true, PRESERVE);
	pipe_post(to_child[1]);
	wait_ok(pid);
}

/* The kernel's forked-access case: the child maps and touches the page,
 * the parent converts it to private, the child's read and write both raise
 * SIGBUS, and the parent checks the child's exit status. */
TEST(other_process_views_are_revoked)
{
	int g = new_gmem(4 * PAGE), ready[2], go[2];
	pid_t pid;

	CHECK_OK(pipe(ready));
	CHECK_OK(pipe(go));
	pid = fork();
	if (pid == 0) {
		uint8_t *w = map_gmem(g, 2 * PAGE, 2 * PAGE);

		w[0] = 1;
		pipe_post(ready[1]);
		pipe_wait(go[0]);
		CHECK_SIGBUS_READ(w);
		CHECK_SIGBUS_WRITE(w + 5);
		CHECK_NO_SIGBUS_READ(w + PAGE); /* page 3 stayed shared */
		pipe_post(ready[1]);
		pipe_wait(go[0]);
		/* back to shared: the same view reaches it, no new mmap */
		CHECK_EQ(w[0], 1);
		exit(0);
	}
	pipe_wait(ready[0]);
	CHECK_CONVERT(g, 0, 3 * PAGE, true, PRESERVE);
	pipe_post(go[1]);
	pipe_wait(ready[0]);
	CHECK_CONVERT(g, 0, 3 * PAGE, false, PRESERVE);
	pipe_post(go[1]);
	wait_ok(pid);
}

static double elapsed_ms(struct timespec a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

TEST(stopped_mapper_eagain_within_bound_then_sigcont)
{
	int g = new_gmem(8 * PAGE), ready[2];
	uint8_t *mine = map_gmem(g, 8 * PAGE, 0);
	struct timespec t0;
	pid_t pid;
	uint64_t eo;
	double ms;

	CHECK_OK(gmemu_gmem_set_revoke_timeout(g, 200));
	CHECK_ERR(gmemu_gmem_set_revoke_timeout(g, 0), EINVAL);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.revoke_timeout_ms, 200);
	CHECK_OK(pipe(ready));
	mine[3 * PAGE] = 0x3a;
	pid = fork();
	if (pid == 0) {
		/* the child's own view covers pages 3-5 */
		CHECK_OK(gmemu_munmap(mine, 8 * PAGE));
		uint8_t *w = map_gmem(g, 3 * PAGE, 3 * PAGE);
		pipe_post(ready[1]);
		for (;;)
			(void)*(volatile uint8_t *)w, usleep(1000);
	}
	pipe_wait(ready[0]);
	CHECK_OK(kill(pid, SIGSTOP));
	siginfo_t si;
	CHECK_OK(waitid(P_PID, pid, &si, WSTOPPED));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(set_attrs_eo(g, 2 * PAGE, 4 * PAGE, true, 0, &eo), -EAGAIN);
	ms = elapsed_ms(t0);
	printf("# EAGAIN after %.1f ms (bound 200)\n", ms);
	CHECK(ms >= 190 && ms < 400);
	CHECK_EQ(eo, 3 * PAGE); /* first page of the range it still maps */
	/* nothing changed, and our own view agrees */
	CHECK(!is_private(g, 2 * PAGE));
	CHECK(!is_private(g, 3 * PAGE));
	CHECK_EQ(mine[3 * PAGE], 0x3a);
	/* a range it does not map converts at once */
	CHECK_CONVERT(g, 0, 2 * PAGE, true, 0);
	CHECK_OK(kill(pid, SIGCONT));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_CONVERT(g, 2 * PAGE, 4 * PAGE, true, 0);
	printf("# after SIGCONT: %.1f ms\n", elapsed_ms(t0));
	CHECK_SIGBUS_READ(mine + 3 * PAGE);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST(revoke_timeout_from_environment)
{
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	int g;

	setenv("GMEMU_REVOKE_TIMEOUT_MS", "250", 1);
	g = new_gmem(PAGE);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.revoke_timeout_ms, 250);
	/* a bad value is refused, never silently replaced by the default */
	{
		int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
		struct kvm_create_guest_memfd c = { .size = PAGE,
						    .flags = SHARED };
		const char *bad[] = { "bogus", "0", "-5", "3600001", "12ms" };
		size_t i;

		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			setenv("GMEMU_REVOKE_TIMEOUT_MS", bad[i], 1);
			CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c),
				  EINVAL);
		}
	}
	unsetenv("GMEMU_REVOKE_TIMEOUT_MS");
	g = new_gmem(PAGE);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.revoke_timeout_ms, 1000);
}

TEST(killed_mapper_does_not_block)
{
	int g = new_gmem(4 * PAGE), ready[2];
	struct timespec t0;
	pid_t pid;

	CHECK_OK(pipe(ready));
	pid = fork();
	if (pid == 0) {
		map_gmem(g, 4 * PAGE, 0)[0] = 1;
		pipe_post(ready[1]);
		pause();
		_exit(0);
	}
	pipe_wait(ready[0]);
	CHECK_OK(kill(pid, SIGKILL));
	siginfo_t si;
	CHECK_OK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT)); /* a zombie */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_CONVERT(g, 0, 4 * PAGE, true, 0);
	printf("# zombie mapper dropped in %.2f ms\n", elapsed_ms(t0));
	CHECK(elapsed_ms(t0) < 100);
	waitpid(pid, NULL, 0);
}

TEST(reaped_mapper_does_not_count)
{
	int g = new_gmem(2 * PAGE);
	pid_t pid = fork();

	if (pid == 0) {
		map_gmem(g, 2 * PAGE, 0)[0] = 3;
		exit(0);
	}
	wait_ok(pid);
	CHECK_CONVERT(g, 0, 2 * PAGE, true, PRESERVE);
	CHECK(guest_all(g, 0, 3, 1));
}

TEST(inherited_views_are_revoked)
{
	int g = new_gmem(4 * PAGE), ready[2], go[2];
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);
	pid_t pid;

	CHECK_OK(pipe(ready));
	CHECK_OK(pipe(go));
	v[PAGE] = 0x19;
	pid = fork();
	if (pid == 0) {
		/* the inherited view reads the bytes in place */
		CHECK_EQ(v[PAGE], 0x19);
		pipe_post(ready[1]);
		pipe_wait(go[0]);
		CHECK_SIGBUS_READ(v + PAGE);
		CHECK_SIGBUS_WRITE(v + 2 * PAGE);
		CHECK_NO_SIGBUS_READ(v);
		/* the child's conversion reaches the parent's view too */
		CHECK_CONVERT(g, 0, PAGE, true, 0);
		pipe_post(ready[1]);
		pipe_wait(go[0]);
		exit(0);
	}
	pipe_wait(ready[0]);
	CHECK_CONVERT(g, PAGE, 2 * PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + PAGE);
	pipe_post(go[1]);
	pipe_wait(ready[0]);
	CHECK_SIGBUS_READ(v);
	pipe_post(go[1]);
	wait_ok(pid);
	CHECK_CONVERT(g, 0, 4 * PAGE, false, PRESERVE);
	CHECK_EQ(v[PAGE], 0x19);
}

TEST(exec_drops_inherited_views)
{
	int g = new_gmem(2 * PAGE), ready[2];
	uint8_t *v = map_gmem(g, 2 * PAGE, 0);
	struct timespec t0;
	pid_t pid;

	(void)v;
	CHECK_OK(pipe(ready));
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		/* the write end is inherited by sleep: EOF tells the exec */
		fcntl(ready[1], F_SETFD, FD_CLOEXEC);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	char c;
	CHECK_EQ(read(ready[0], &c, 1), 0); /* closed by exec */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_CONVERT(g, 0, 2 * PAGE, true, 0);
	CHECK(elapsed_ms(t0) < 100); /* not the 1 s bound */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST(child_sees_parent_conversions)
{
	int g = new_gmem(2 * PAGE), ready[2], go[2];
	pid_t pid;

	CHECK_OK(pipe(ready));
	CHECK_OK(pipe(go));
	pid = fork();
	if (pid == 0) {
		pipe_wait(go[0]);
		CHECK(is_private(g, PAGE));
		CHECK(!is_private(g, 0));
		uint8_t *w = map_gmem(g, 2 * PAGE, 0);
		CHECK_SIGBUS_READ(w + PAGE);
		CHECK_EQ(w[0], 0);
		exit(0);
	}
	CHECK_CONVERT(g, PAGE, PAGE, true, 0);
	pipe_post(go[1]);
	wait_ok(pid);
}
