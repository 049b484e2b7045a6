// SPDX-License-Identifier: MIT
/*
 * Reliability: what gmemu guarantees when the process around it misbehaves
 * or runs short.  A gmem fd that cannot be attached is never treated as a
 * foreign fd; a lookup never trusts a copy older than the last commit; a
 * peer is declared dead only on positive evidence; the library's own
 * descriptors are out of the program's reach or re-checked before use;
 * fork() never deadlocks and a child killed, exec()ed or created without
 * fork handlers keeps nothing that can read private bytes or block a
 * conversion; every wait is bounded by the revoke timeout; a bad buffer is
 * EFAULT, never a signal inside the library; munmap and MAP_FIXED release
 * every view they meet; the SNP model's ciphertext is a keyed cipher.
 */
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/falloc.h>
#include <time.h>

#include "harness.h"
#include "whitebox.h"
#include "gmem/view.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define PUNCH (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)
#define BASE 0x100000ULL
#define W GMEMU_ACCESS_WRITE
#define PRIV GMEMU_ACCESS_PRIVATE

static int new_vm(unsigned long type)
{
	return create_vm(open_kvm("contentmodes"), type);
}

static int new_gmem(uint64_t size)
{
	return create_gmem(new_vm(GMEMU_VM_PKVM), size, SHARED);
}

static void add_slot(int vm, uint32_t slot, uint64_t gpa, int gmem,
		     uint64_t size)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = slot, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = gpa, .memory_size = size,
		.guest_memfd = (uint32_t)gmem,
	};

	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
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

static void wait_ok(pid_t pid)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("child failed (status %#x)", st);
}

static void wait_stopped(pid_t pid)
{
	siginfo_t si;

	CHECK_OK(waitid(P_PID, pid, &si, WSTOPPED));
}

static double elapsed_ms(struct timespec a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static struct timespec start_clock(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

/* No new descriptor can be created: the soft limit at the lowest free
 * number, every number below it in use.  Returns the old limit. */
static struct rlimit nofile_exhaust(void)
{
	struct rlimit old, rl;
	int fd;

	CHECK_OK(getrlimit(RLIMIT_NOFILE, &old));
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	close(fd);
	rl = old;
	rl.rlim_cur = (rlim_t)fd;
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	CHECK_ERR(open("/dev/null", O_RDONLY | O_CLOEXEC), EMFILE);
	return old;
}

/* The address space in use now, in bytes (VmSize). */
static uint64_t vm_size(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	CHECK(kb > 0);
	return (uint64_t)kb << 10;
}

static void send_fds(int sock, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 }, byte = 'f';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	CHECK_EQ(sendmsg(sock, &msg, 0), 1);
}

static void recv_fds(int sock, int *fds, int n)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))], byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;

	CHECK_EQ(recvmsg(sock, &msg, 0), 1);
	c = CMSG_FIRSTHDR(&msg);
	CHECK(c && c->cmsg_type == SCM_RIGHTS &&
	      c->cmsg_len == CMSG_LEN((size_t)n * sizeof(int)));
	memcpy(fds, CMSG_DATA(c), (size_t)n * sizeof(int));
}

/* A gmem fd this process has never seen: made by another process and
 * received over SCM_RIGHTS.  Its page 0 is private and holds 0x5a.  The
 * process has attached one received gmem before (the first attach also
 * probes the memfd device, once, with a descriptor of its own), so what
 * fails below is attaching this one. */
static int unknown_gmem_fd(void)
{
	int sv[2], fds[2];
	uint8_t b;
	pid_t pid;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int g = new_gmem(2 * PAGE);
		uint8_t *v = map_gmem(g, 2 * PAGE, 0);

		memset(v, 0x5a, 2 * PAGE);
		CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
		fds[0] = g;
		fds[1] = new_gmem(PAGE);
		send_fds(sv[1], fds, 2);
		exit(0);
	}
	recv_fds(sv[0], fds, 2);
	wait_ok(pid);
	close(sv[0]);
	close(sv[1]);
	CHECK_ERR(gmemu_pread(fds[1], &b, 1, 0), ESPIPE); /* attached */
	CHECK_OK(gmemu_close(fds[1]));
	return fds[0];
}

/* The fd cannot be attached now: every call on it fails with err, none
 * goes to the kernel as if the fd were not gmemu's. */
static void check_unattachable(int fd, int err)
{
	uint8_t buf[16];

	memset(buf, 0xee, sizeof(buf));
	CHECK_ERR(gmemu_pread(fd, buf, sizeof(buf), 0), err);
	CHECK_EQ(buf[0], 0xee); /* never the private 0x5a */
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
	CHECK_EQ(errno, err);
}

/* Rule: a gmem fd that cannot be attached (no descriptor left) fails with
 * the reason; it is never passed to the kernel as a foreign fd, which
 * would read its private bytes through the raw memfd. */
TEST(unattachable_gmem_no_fd_is_not_foreign)
{
	int fd = unknown_gmem_fd();
	struct rlimit old = nofile_exhaust();
	uint8_t b;

	check_unattachable(fd, EMFILE);
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &old));
	/* attachable again: it is a gmem, page 0 private */
	CHECK_ERR(gmemu_pread(fd, &b, 1, 0), ESPIPE);
	CHECK(is_private(fd, 0));
	CHECK_SIGBUS_READ(map_gmem(fd, 2 * PAGE, 0));
}

/* Rule: the same when attaching cannot map the gmem (address space). */
TEST(unattachable_gmem_no_memory_is_not_foreign)
{
	int fd = unknown_gmem_fd();
	struct rlimit old, rl;
	uint8_t b, *v;

	CHECK_OK(getrlimit(RLIMIT_AS, &old));
	rl = old;
	rl.rlim_cur = (rlim_t)(vm_size() + (32ULL << 20));
	CHECK_OK(setrlimit(RLIMIT_AS, &rl));
	check_unattachable(fd, ENOMEM);
	CHECK_OK(setrlimit(RLIMIT_AS, &old));
	CHECK_ERR(gmemu_pread(fd, &b, 1, 0), ESPIPE);
	v = map_gmem(fd, 2 * PAGE, 0);
	CHECK_SIGBUS_READ(v);
	CHECK_EQ(v[PAGE], 0x5a);
}

/* Rule: a lookup never trusts a copy of the attribute map older than the
 * last commit (the lookup index is keyed by the map's generation, which
 * never repeats), for gmemu_gmem_attribute and for guest accesses alike. */
TEST(lookup_index_follows_every_commit)
{
	enum { NPAGES = 256, ROUNDS = 200 };
	int vm = new_vm(GMEMU_VM_PKVM);
	int g = create_gmem(vm, NPAGES * PAGE, SHARED);
	bool oracle[NPAGES];
	uint32_t seed = 12345, min_extents = UINT32_MAX;
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	struct gmemu_exit ex;
	int p, round, k;
	uint8_t b;

	add_slot(vm, 0, BASE, g, NPAGES * PAGE);
	/* alternating single pages: NPAGES extents */
	for (p = 0; p < NPAGES; p++) {
		oracle[p] = p & 1;
		if (oracle[p])
			CHECK_CONVERT(g, (uint64_t)p * PAGE, PAGE, true, 0);
	}
	for (round = 0; round < ROUNDS; round++) {
		int burst[3], n, r;
		uint64_t gpa;

		/* one commit, or a burst of three with no lookup between:
		 * p, then q there and back -- records are reused, and a
		 * burst's last root is often the one before it */
		for (k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			burst[k] = (int)((seed >> 8) % NPAGES);
		}
		burst[2] = burst[1];
		n = round % 2 == 0 || burst[1] == burst[0] ? 1 : 3;
		for (k = 0; k < n; k++) {
			p = burst[k];
			oracle[p] = !oracle[p];
			CHECK_CONVERT(g, (uint64_t)p * PAGE, PAGE, oracle[p], 0);
		}
		/* the guest's view of the page that changed, first */
		p = burst[0];
		gpa = BASE + (uint64_t)p * PAGE;
		memset(&ex, 0, sizeof(ex));
		errno = 0;
		r = gmemu_guest_access(vm, gpa, &b, 1, 0, &ex);
		if (oracle[p] ? r != -1 || errno != EFAULT ||
				ex.exit_reason != KVM_EXIT_MEMORY_FAULT ||
				ex.memory_fault.gpa != gpa
			      : r != 0)
			FAIL("round %d: shared access to %s page %d: %d",
			     round, oracle[p] ? "private" : "shared", p, r);
		r = gmemu_guest_access(vm, gpa, &b, 1, PRIV, &ex);
		CHECK_EQ(r, oracle[p] ? 0 : -1);
		/* enough lookups to build the index, and then some */
		for (k = 0; k < 2; k++) {
			for (p = 0; p < NPAGES; p++) {
				if (is_private(g, (uint64_t)p * PAGE) != oracle[p])
					FAIL("round %d: page %d reads %s", round,
					     p, oracle[p] ? "shared" : "private");
			}
		}
		CHECK_OK(gmemu_gmem_info(g, &info));
		min_extents = MIN(min_extents, info.nr_extents);
	}
	printf("# fewest extents: %u\n", min_extents);
	CHECK(min_extents >= 64); /* the index was in use throughout */
}

/* Convert page `page` to private with no descriptor free: 0 or -errno. */
static int convert_without_fds(int g, int page)
{
	struct rlimit old = nofile_exhaust();
	int r = set_attrs(g, (uint64_t)page * PAGE, PAGE, true, PRESERVE);

	CHECK_OK(setrlimit(RLIMIT_NOFILE, &old));
	printf("# page %d: %s\n", page, r ? strerror(-r) : "converted");
	CHECK(r == 0 || r == -EAGAIN);
	CHECK_EQ(is_private(g, (uint64_t)page * PAGE), r == 0);
	return r;
}

/* Rule: a process is declared gone only on positive evidence; a converter
 * that cannot read /proc (no descriptor left) still revokes a live peer's
 * views, or fails EAGAIN -- never succeeds while the peer can read the
 * page.  A stopped peer is alive: it makes the conversion fail. */
TEST(live_peer_never_dead_for_want_of_fds)
{
	int g = new_gmem(2 * PAGE), ready[2], go[2], page, r;
	char verdict;
	pid_t pid;

	CHECK_OK(gmemu_gmem_set_revoke_timeout(g, 200));
	CHECK_OK(pipe(ready));
	CHECK_OK(pipe(go));
	pid = fork();
	if (pid == 0) {
		uint8_t *w = map_gmem(g, 2 * PAGE, 0);

		w[0] = 0x44;
		w[PAGE] = 0x45;
		pipe_post(ready[1]);
		for (page = 0; page < 2; page++) {
			CHECK_EQ(read(go[0], &verdict, 1), 1);
			if (verdict == 'c')
				CHECK_SIGBUS_READ(w + page * PAGE);
			else
				CHECK_EQ(w[page * PAGE], 0x44 + page);
			pipe_post(ready[1]);
		}
		exit(0);
	}
	pipe_wait(ready[0]);
	/* running: its agent answers */
	r = convert_without_fds(g, 0);
	CHECK_EQ(write(go[1], r == 0 ? "c" : "f", 1), 1);
	pipe_wait(ready[0]);
	/* stopped: the converter must look whether it is still there */
	CHECK_OK(kill(pid, SIGSTOP));
	wait_stopped(pid);
	r = convert_without_fds(g, 1);
	CHECK_EQ(r, -EAGAIN);
	CHECK_OK(kill(pid, SIGCONT));
	CHECK_EQ(write(go[1], r == 0 ? "c" : "f", 1), 1);
	pipe_wait(ready[0]);
	wait_ok(pid);
}

/* Does descriptor n still name the same file as fd? */
static bool same_file(int n, int fd)
{
	struct stat a, b;

	return fstat(n, &a) == 0 && fstat(fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Rule: the process's SIGBUS memfd is checked before each use; a number
 * the program closed and reused for its own file (here another gmem's
 * memfd) is never mapped into a view. */
TEST(sigbus_fd_number_reused_is_never_mapped)
{
	int a = new_gmem(2 * PAGE), b = new_gmem(2 * PAGE), sb;
	uint8_t *va = map_gmem(a, 2 * PAGE, 0), *vb = map_gmem(b, 2 * PAGE, 0);

	memset(va, 0x11, 2 * PAGE);
	memset(vb, 0x42, 2 * PAGE);
	sb = view_sigbus_fd();
	CHECK(sb >= 0);
	CHECK_OK(close(sb));
	CHECK_EQ(dup2(b, sb), sb);
	CHECK_CONVERT(a, 0, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(va);
	CHECK_EQ(va[PAGE], 0x11);
	/* a new view too */
	CHECK_SIGBUS_READ(map_gmem(a, 2 * PAGE, 0));
	/* the program's descriptor is its own still */
	CHECK(same_file(sb, b));
	CHECK_EQ(vb[0], 0x42);
	CHECK_OK(close(sb));
}

/* A memfd of the program's, 4 pages of 0xcd. */
static int unrelated_file(void)
{
	uint8_t buf[4 * PAGE];
	int fd = memfd_create("unrelated", MFD_CLOEXEC);

	CHECK(fd >= 0);
	memset(buf, 0xcd, sizeof(buf));
	CHECK_EQ(write(fd, buf, sizeof(buf)), sizeof(buf));
	return fd;
}

static void check_unrelated_intact(int fd)
{
	uint8_t buf[4 * PAGE];
	size_t i;

	CHECK_EQ(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
	for (i = 0; i < sizeof(buf); i++)
		if (buf[i] != 0xcd)
			FAIL("the unrelated file changed at %zu: %#x", i, buf[i]);
}

/* Put the unrelated file where gmem g's internal descriptor was; that
 * number. */
static int steal_gmem_fd_number(int g, int unrelated)
{
	int n = gmem_memfd(wb_gmem(g));

	CHECK(n >= 0);
	CHECK_OK(close(n));
	CHECK_EQ(dup2(unrelated, n), n);
	return n;
}

/* Rule: the gmem's internal descriptor is checked (same device and inode)
 * before every use: a punch or a ZERO conversion after the program closed
 * that number and reused it acts on the gmem, or fails, never on the
 * program's file -- and never returns 0 without doing its work. */
TEST(gmem_fd_number_reused_is_never_touched)
{
	int a = new_gmem(4 * PAGE), u = unrelated_file(), n, r;
	uint8_t *v = map_gmem(a, 4 * PAGE, 0);

	memset(v, 0x77, 4 * PAGE);
	n = steal_gmem_fd_number(a, u);
	r = gmemu_fallocate(a, PUNCH, 0, 2 * PAGE);
	check_unrelated_intact(u);
	CHECK(same_file(n, u)); /* the program's number, untouched */
	if (r == 0) {
		CHECK_EQ(v[0], 0);
		CHECK_EQ(v[2 * PAGE - 1], 0);
		CHECK(guest_all(a, 0, 0, 2 * PAGE));
	} else {
		CHECK_EQ(v[0], 0x77);
	}
	CHECK_EQ(v[2 * PAGE], 0x77);

	/* a private page with bytes, made shared with ZERO */
	guest_fill(a, 3 * PAGE, 0x33, PAGE);
	CHECK_CONVERT(a, 3 * PAGE, PAGE, true, PRESERVE);
	n = steal_gmem_fd_number(a, u);
	r = set_attrs(a, 3 * PAGE, PAGE, false, ZERO);
	check_unrelated_intact(u);
	CHECK(same_file(n, u));
	if (r == 0) {
		CHECK(!is_private(a, 3 * PAGE));
		CHECK(guest_all(a, 3 * PAGE, 0, PAGE));
		CHECK_EQ(v[3 * PAGE], 0);
		CHECK_EQ(v[4 * PAGE - 1], 0);
	} else {
		CHECK(is_private(a, 3 * PAGE));
		CHECK_SIGBUS_READ(v + 3 * PAGE);
	}
	CHECK_EQ(v[2 * PAGE], 0x77);
}

/* Rule: after close_range() takes every hidden descriptor, gmemu calls on
 * the gmem fd work (or fail cleanly) and never act on the files that now
 * hold those numbers. */
TEST(close_range_leaves_gmem_working)
{
	int kvm = open_kvm("contentmodes"), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 4 * PAGE, SHARED), hidden[2], first, u, i, r;
	uint8_t *v = map_gmem(g, 4 * PAGE, 0), *w;

	memset(v, 0x5e, 4 * PAGE);
	CHECK_CONVERT(g, PAGE, PAGE, true, PRESERVE);
	hidden[0] = gmem_memfd(wb_gmem(g));
	hidden[1] = view_sigbus_fd();
	/* everything above the program's own descriptors */
	first = MAX(MAX(kvm, vm), g) + 1;
	printf("# own descriptors below %d; gmemu's: %d, %d\n", first,
	       hidden[0], hidden[1]);
	CHECK_OK(close_range((unsigned int)first, ~0U, 0));
	/* the program's next file takes the lowest number; it shows up
	 * under gmemu's old numbers too */
	u = unrelated_file();
	for (i = 0; i < 2; i++)
		if (hidden[i] != u)
			CHECK_EQ(dup2(u, hidden[i]), hidden[i]);

	r = set_attrs(g, 0, PAGE, true, PRESERVE);
	CHECK(r == 0 || r == -EAGAIN || r == -EBADF);
	CHECK_EQ(is_private(g, 0), r == 0);
	if (r == 0)
		CHECK_SIGBUS_READ(v);
	else
		CHECK_EQ(v[0], 0x5e);
	r = set_attrs(g, 0, 2 * PAGE, false, PRESERVE);
	CHECK(r == 0 || r == -EAGAIN || r == -EBADF);
	if (r == 0) {
		CHECK_EQ(v[0], 0x5e);
		CHECK_EQ(v[PAGE], 0x5e);
	}
	w = gmemu_mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, g, 0);
	if (w != MAP_FAILED) {
		CHECK_EQ(w[2 * PAGE], 0x5e);
		if (is_private(g, PAGE))
			CHECK_SIGBUS_READ(w + PAGE);
		else
			CHECK_EQ(w[PAGE], 0x5e);
	}
	r = gmemu_fallocate(g, PUNCH, 2 * PAGE, PAGE);
	if (r == 0) {
		CHECK_EQ(v[2 * PAGE], 0);
		CHECK(guest_all(g, 2 * PAGE, 0, PAGE));
	} else {
		CHECK_EQ(v[2 * PAGE], 0x5e);
	}
	CHECK_EQ(v[3 * PAGE], 0x5e);
	check_unrelated_intact(u);
	for (i = 0; i < 2; i++)
		CHECK(same_file(hidden[i], u)); /* still the program's */
}

/* ---- fork ---- */

static _Atomic int stop_;
static int access_vm_, access_failures_;
static long accesses_;

static void *access_loop(void *arg)
{
	uint8_t out[16], in[16];
	struct gmemu_exit ex;

	(void)arg;
	memset(out, 0x6b, sizeof(out));
	while (!stop_) {
		/* 8 bytes in each of two gmems: both locked for the access */
		if (gmemu_guest_access(access_vm_, BASE + PAGE - 8, out,
				       sizeof(out), W, &ex) ||
		    gmemu_guest_access(access_vm_, BASE + PAGE - 8, in,
				       sizeof(in), 0, &ex) ||
		    memcmp(in, out, sizeof(in)))
			__atomic_add_fetch(&access_failures_, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&accesses_, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Rule: no gmem lock is held across fork(): forking while another thread
 * runs guest accesses over two gmems never deadlocks. */
TEST(fork_never_deadlocks_with_guest_access)
{
	int vm = new_vm(GMEMU_VM_PKVM), a, b, i;
	struct timespec t0;
	pthread_t t;
	pid_t pid;

	alarm(20); /* a deadlock fails here, not at the harness's bound */
	access_vm_ = vm;
	a = create_gmem(vm, PAGE, SHARED);
	b = create_gmem(vm, PAGE, SHARED);
	add_slot(vm, 0, BASE, a, PAGE);
	add_slot(vm, 1, BASE + PAGE, b, PAGE);
	/* views, so that each child re-registers with both gmems; B's
	 * first, against the order in which an access locks them */
	map_gmem(b, PAGE, 0);
	map_gmem(a, PAGE, 0);
	CHECK(pthread_create(&t, NULL, access_loop, NULL) == 0);
	while (!__atomic_load_n(&accesses_, __ATOMIC_RELAXED))
		usleep(100);
	t0 = start_clock();
	for (i = 0; i < 200; i++) {
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(0);
		wait_ok(pid);
	}
	stop_ = 1;
	pthread_join(t, NULL);
	printf("# 200 forks in %.0f ms, %ld accesses\n", elapsed_ms(t0),
	       accesses_);
	CHECK_EQ(access_failures_, 0);
	CHECK(elapsed_ms(t0) < 10000);
}

/* Rule: a child killed right after fork() (before, during or after it
 * registers) leaves nothing behind: no slot that makes later conversions
 * wait or fail, no slot that keeps other processes from registering. */
TEST(child_killed_after_fork_leaves_nothing)
{
	int g = new_gmem(4 * PAGE), i, go[2];
	uint8_t *v = map_gmem(g, 4 * PAGE, 0), *views[70];
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	pid_t pid, kids[8];
	struct timespec t0;

	memset(v, 0x61, 4 * PAGE);
	for (i = 0; i < 100; i++) {
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			for (;;)
				pause();
		}
		CHECK_OK(kill(pid, SIGKILL));
		CHECK(waitpid(pid, NULL, 0) == pid);
	}
	t0 = start_clock();
	CHECK_CONVERT(g, 0, 4 * PAGE, true, PRESERVE);
	printf("# conversion after 100 killed children: %.1f ms\n",
	       elapsed_ms(t0));
	CHECK(elapsed_ms(t0) < 1000);
	CHECK_SIGBUS_READ(v);
	CHECK_CONVERT(g, 0, 4 * PAGE, false, PRESERVE);
	for (i = 0; i < 70; i++) {
		views[i] = gmemu_mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
				      MAP_SHARED, g, 0);
		if (views[i] == MAP_FAILED)
			FAIL("view %d: %s", i, strerror(errno));
		CHECK_EQ(views[i][3 * PAGE], 0x61);
	}
	/* other processes still find free slots */
	CHECK_OK(pipe(go));
	for (i = 0; i < 8; i++) {
		kids[i] = fork();
		CHECK(kids[i] >= 0);
		if (kids[i] == 0) {
			uint8_t *w = map_gmem(g, PAGE, 0);
			char c;

			CHECK_EQ(w[0], 0x61);
			close(go[1]);
			CHECK_EQ(read(go[0], &c, 1), 0);
			exit(0);
		}
	}
	close(go[1]);
	for (i = 0; i < 8; i++)
		wait_ok(kids[i]);
	/* a conversion drops whatever is gone: we alone are left */
	CHECK_CONVERT(g, 0, 4 * PAGE, true, PRESERVE);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_processes, 1);
}

/* The exec()ed side of exec_child_keeps_no_old_slot: maps the gmem it
 * inherited, as a new program. */
TEST(exec_child_helper)
{
	const char *env = getenv("GMEMU_RELIABILITY_FDS");
	int g, ready, go;
	uint8_t *v;

	if (!env || sscanf(env, "%d,%d,%d", &g, &ready, &go) != 3)
		return; /* run by exec_child_keeps_no_old_slot only */
	v = map_gmem(g, PAGE, 0);
	CHECK_EQ(v[0], 0x21);
	pipe_post(ready);
	pipe_wait(go);
	CHECK_SIGBUS_READ(v);
}

/* Rule: a child that exec()s keeps no slot from before the exec (its
 * agent is gone); the new program's own views are revoked like anyone's,
 * and the conversion does not wait for the old slot. */
TEST(exec_child_keeps_no_old_slot)
{
	int g = new_gmem(2 * PAGE), ready[2], go[2];
	uint8_t *v = map_gmem(g, 2 * PAGE, 0);
	struct timespec t0;
	char fds[64];
	pid_t pid;

	v[0] = 0x21;
	CHECK_OK(pipe(ready));
	CHECK_OK(pipe(go));
	snprintf(fds, sizeof(fds), "%d,%d,%d", g, ready[1], go[0]);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		setenv("GMEMU_RELIABILITY_FDS", fds, 1);
		setenv("GMEMU_TEST_CHILD", "exec_child_helper", 1);
		execl("/proc/self/exe", "t_reliability", (char *)NULL);
		_exit(127);
	}
	pipe_wait(ready[0]); /* the new program maps page 0 */
	t0 = start_clock();
	CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
	printf("# conversion with an exec()ed child: %.1f ms\n", elapsed_ms(t0));
	CHECK(elapsed_ms(t0) < 500);
	CHECK_SIGBUS_READ(v);
	pipe_post(go[1]);
	wait_ok(pid);
}

static sigjmp_buf fault_jmp;

static void fault_handler(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* Rule: views are not inherited by a child made without fork handlers
 * (_Fork, a raw clone): the child can never read a page that became
 * private after it was created. */
TEST(fork_without_handlers_keeps_no_view)
{
	int g = new_gmem(2 * PAGE), go[2], st;
	volatile uint8_t *v = map_gmem(g, 2 * PAGE, 0);
	pid_t pid;

	v[0] = 0x77;
	CHECK_OK(pipe(go));
	pid = _Fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* async-signal-safe calls only: the parent has threads */
		struct sigaction sa;
		char c;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = fault_handler;
		sa.sa_flags = SA_NODEFER;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		if (sigsetjmp(fault_jmp, 1))
			_exit(0); /* SIGSEGV or SIGBUS */
		_exit(v[0] == 0x77 ? 1 : 2);
	}
	CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
	pipe_post(go[1]);
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("the child %s (status %#x)",
		     WIFEXITED(st) && WEXITSTATUS(st) == 1 ? "read 0x77"
							    : "did not fault",
		     st);
}

/* ---- bounded waits ---- */

/* Read len bytes at addr in the process of thread tid: 0, or -errno
 * (EFAULT: a SIGBUS page there). */
static int peek(pid_t tid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(tid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -errno;
}

/* The state letter of /proc/pid/stat ('Z': its main thread exited). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n] = 0;
	p = strrchr(buf, ')');
	CHECK(p && p[1] == ' ');
	return p[2];
}

/* Rule: a peer that stopped right after claiming a revocation request
 * makes the conversion fail EAGAIN within the revoke timeout (error_offset
 * = the first page it maps), never wait for it; when it runs again its
 * views match the unchanged attributes. */
TEST(peer_stopped_after_claim_bounded)
{
	int g = new_gmem(4 * PAGE), ready[2], i;
	struct { uint64_t addr; int tid; } peer;
	struct timespec t0;
	uint64_t eo;
	uint8_t b[2];
	double ms;
	pid_t pid;

	CHECK_OK(gmemu_gmem_set_revoke_timeout(g, 200));
	guest_fill(g, PAGE, 0x3c, 2 * PAGE);
	CHECK_OK(pipe(ready));
	pid = fork();
	if (pid == 0) {
		uint8_t *w = map_gmem(g, 2 * PAGE, PAGE);

		/* test builds: our agent stops this process once it has
		 * claimed the next request */
		testing_fail_at("agent_claimed", 1);
		peer.addr = (uintptr_t)w;
		peer.tid = atomic_load(&wb_gmem(g)->agent.tid);
		CHECK_EQ(write(ready[1], &peer, sizeof(peer)), sizeof(peer));
		/* the agent alone stays: the stop it sends this process is
		 * delivered to it, so it stops before it answers */
		pthread_exit(NULL);
	}
	CHECK_EQ(read(ready[0], &peer, sizeof(peer)), sizeof(peer));
	for (i = 0; i < 2000 && proc_state(pid) != 'Z'; i++)
		usleep(1000);
	CHECK(i < 2000); /* its main thread is gone */
	CHECK_OK(peek(peer.tid, peer.addr, b, 1));
	CHECK_EQ(b[0], 0x3c);
	t0 = start_clock();
	CHECK_EQ(set_attrs_eo(g, 0, 4 * PAGE, true, 0, &eo), -EAGAIN);
	ms = elapsed_ms(t0);
	printf("# EAGAIN after %.1f ms (bound 200)\n", ms);
	CHECK(ms < 400);
	CHECK_EQ(eo, PAGE);
	CHECK(!is_private(g, 0));
	CHECK(!is_private(g, PAGE));
	wait_stopped(pid); /* it did stop after claiming */
	CHECK_OK(kill(pid, SIGCONT));
	/* it finishes the stale request, then resynchronises: its view
	 * shows both pages again, and keeps showing them */
	for (i = 0; i < 2000 && (peek(peer.tid, peer.addr, b, 1) ||
				 peek(peer.tid, peer.addr + PAGE, b + 1, 1)); i++)
		usleep(1000);
	CHECK(i < 2000);
	usleep(20000);
	CHECK_OK(peek(peer.tid, peer.addr, b, 1));
	CHECK_OK(peek(peer.tid, peer.addr + PAGE, b + 1, 1));
	CHECK_EQ(b[0], 0x3c);
	CHECK_EQ(b[1], 0x3c);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Rule: taking the gmem lock is bounded by the revoke timeout: with its
 * holder stopped, a conversion (error_offset = offset), a pin and an mmap
 * fail EAGAIN in time; once the holder dies, the next caller recovers the
 * lock and everything works again. */
TEST(stopped_lock_holder_bounded_then_recovered)
{
	int g = new_gmem(4 * PAGE), ready[2];
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	struct timespec t0;
	uint64_t eo;
	uint8_t *v;
	pid_t pid;

	CHECK_OK(gmemu_gmem_set_revoke_timeout(g, 200));
	CHECK_OK(pipe(ready));
	pid = fork();
	if (pid == 0) {
		CHECK_OK(gmem_lock(wb_gmem(g)));
		pipe_post(ready[1]);
		raise(SIGSTOP);
		for (;;)
			pause();
	}
	pipe_wait(ready[0]);
	wait_stopped(pid);

	t0 = start_clock();
	CHECK_EQ(set_attrs_eo(g, 2 * PAGE, PAGE, true, 0, &eo), -EAGAIN);
	printf("# conversion: EAGAIN after %.1f ms\n", elapsed_ms(t0));
	CHECK(elapsed_ms(t0) < 400);
	CHECK_EQ(eo, 2 * PAGE);
	t0 = start_clock();
	CHECK_ERR(gmemu_pin(g, 0, PAGE), EAGAIN);
	CHECK(elapsed_ms(t0) < 400);
	t0 = start_clock();
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EAGAIN);
	CHECK(elapsed_ms(t0) < 400);

	CHECK_OK(kill(pid, SIGKILL));
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK_CONVERT(g, 2 * PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_pin(g, 0, PAGE));
	v = map_gmem(g, 4 * PAGE, 0);
	CHECK_SIGBUS_READ(v + 2 * PAGE);
	CHECK_NO_SIGBUS_READ(v);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK(info.recoveries >= 1);
}

/* ---- buffers ---- */

/* Rule: a guest access whose buffer is a private page of a view (SIGBUS
 * memory) fails EFAULT -- never a signal inside the library -- and leaves
 * no lock held. */
TEST(guest_access_private_view_buffer_efault)
{
	int vm = new_vm(GMEMU_VM_PKVM), g, h;
	uint8_t *hv, buf[16];
	struct gmemu_exit ex;
	pid_t pid;

	g = create_gmem(vm, 2 * PAGE, SHARED);
	add_slot(vm, 0, BASE, g, 2 * PAGE);
	h = new_gmem(2 * PAGE);
	hv = map_gmem(h, 2 * PAGE, 0);
	memset(hv, 0x12, 2 * PAGE);
	CHECK_CONVERT(h, 0, PAGE, true, PRESERVE);
	guest_fill(g, 0, 0x9a, PAGE);

	/* read into it (an output), write from it (an input) */
	CHECK_ERR(gmemu_guest_access(vm, BASE, hv, 16, 0, &ex), EFAULT);
	CHECK_ERR(gmemu_guest_access(vm, BASE, hv + 8, PAGE, 0, &ex), EFAULT);
	CHECK_ERR(gmemu_guest_access(vm, BASE, hv, 16, W, &ex), EFAULT);
	CHECK_ERR(gmemu_guest_access(vm, BASE, hv + PAGE - 8, 16, W, &ex), EFAULT);
	CHECK(guest_all(g, 0, 0x9a, PAGE)); /* nothing written */
	CHECK(guest_all(h, 0, 0x12, PAGE));

	/* nothing is held: accesses, conversions and fork() all work */
	CHECK_OK(gmemu_guest_access(vm, BASE, buf, 16, 0, &ex));
	CHECK_EQ(buf[0], 0x9a);
	CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
	CHECK_OK(gmemu_guest_access(vm, BASE, buf, 16, PRIV, &ex));
	CHECK_CONVERT(h, 0, PAGE, false, PRESERVE);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(5);
		CHECK_CONVERT(g, 0, PAGE, false, PRESERVE);
		CHECK_EQ(hv[0], 0x12);
		exit(0);
	}
	wait_ok(pid);
	CHECK_OK(gmemu_guest_access(vm, BASE, buf, 16, 0, &ex));
	CHECK_EQ(buf[15], 0x9a);
}

/* ---- views ---- */

/* Rule: one munmap releases every view it meets, however many gmems they
 * belong to: converting those gmems afterwards maps nothing into the
 * range. */
TEST(munmap_releases_views_of_many_gmems)
{
	enum { N = 70 };
	int vm = new_vm(GMEMU_VM_PKVM), g[N], i;
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	uint8_t *region, *mine;
	size_t j;

	region = mmap(NULL, N * PAGE, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(region != MAP_FAILED);
	for (i = 0; i < N; i++) {
		uint8_t *v;

		g[i] = create_gmem(vm, PAGE, SHARED);
		v = gmemu_mmap(region + i * PAGE, PAGE, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED, g[i], 0);
		CHECK(v == region + i * PAGE);
		v[0] = (uint8_t)i;
	}
	CHECK_OK(gmemu_munmap(region, N * PAGE));
	for (i = 0; i < N; i++) {
		CHECK_OK(gmemu_gmem_info(g[i], &info));
		if (info.nr_processes)
			FAIL("gmem %d still has our view", i);
	}
	mine = mmap(region, N * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(mine == region);
	memset(mine, 0xe7, N * PAGE);
	for (i = 0; i < N; i++) {
		CHECK_CONVERT(g[i], 0, PAGE, true, PRESERVE);
		CHECK_CONVERT(g[i], 0, PAGE, false, PRESERVE);
		CHECK_CONVERT(g[i], 0, PAGE, true, PRESERVE);
	}
	for (i = 0; i < N; i++) {
		CHECK_NO_SIGBUS_READ(mine + i * PAGE);
		for (j = 0; j < PAGE; j++)
			if (mine[i * PAGE + j] != 0xe7)
				FAIL("page %d of our mapping changed", i);
	}
}

/* Rule: gmemu_mmap(MAP_FIXED) over a view of gmem A ends that view, as
 * the kernel's mapping replaces the old one: the range shows B, and A's
 * conversions no longer touch it. */
TEST(map_fixed_over_view_replaces_it)
{
	int vm = new_vm(GMEMU_VM_PKVM);
	int a = create_gmem(vm, 2 * PAGE, SHARED), b = create_gmem(vm, 2 * PAGE, SHARED);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	uint8_t *va = map_gmem(a, 2 * PAGE, 0), *vb;

	memset(va, 0xaa, 2 * PAGE);
	guest_fill(b, 0, 0xbb, 2 * PAGE);
	vb = gmemu_mmap(va, 2 * PAGE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_FIXED, b, 0);
	CHECK(vb == va);
	CHECK_EQ(vb[0], 0xbb);
	CHECK_EQ(vb[2 * PAGE - 1], 0xbb);
	CHECK_OK(gmemu_gmem_info(a, &info));
	CHECK_EQ(info.nr_processes, 0);
	CHECK_CONVERT(a, 0, 2 * PAGE, true, PRESERVE);
	CHECK_NO_SIGBUS_READ(vb);
	CHECK_EQ(vb[0], 0xbb);
	CHECK_CONVERT(a, 0, 2 * PAGE, false, PRESERVE);
	CHECK_EQ(vb[PAGE], 0xbb);
	/* B's conversions do reach it */
	CHECK_CONVERT(b, PAGE, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(vb + PAGE);
	CHECK_EQ(vb[0], 0xbb);
	CHECK(guest_all(a, 0, 0xaa, 2 * PAGE));
}

/* ---- content ---- */

static int popcount16(const uint8_t *x, const uint8_t *y)
{
	int i, n = 0;

	for (i = 0; i < 16; i++)
		n += __builtin_popcount((unsigned int)(x[i] ^ y[i]));
	return n;
}

/* Write plain into the pages of a fresh SNP gmem of vm (while shared),
 * make them private with PRESERVE, and show them to the host with flags 0:
 * returns the view, which holds the ciphertext. */
static uint8_t *snp_ciphertext(int vm, const uint8_t *plain, int npages)
{
	int g = create_gmem(vm, (uint64_t)npages * PAGE, SHARED);
	uint8_t *v = map_gmem(g, (uint64_t)npages * PAGE, 0);

	memcpy(v, plain, (size_t)npages * PAGE);
	CHECK_CONVERT(g, 0, (uint64_t)npages * PAGE, true, PRESERVE);
	CHECK_CONVERT(g, 0, (uint64_t)npages * PAGE, false, 0);
	return v;
}

/* Rule: the SNP model's flags = 0 ciphertext is a keyed block cipher (the
 * VM's key, tweaked by the page's offset), not a keystream XORed in: one
 * plaintext bit changes about half the bits of its block, the ciphertext
 * of zeros is no keystream for other plaintexts, and equal plaintexts at
 * different offsets encrypt differently. */
TEST(snp_ciphertext_is_keyed_cipher)
{
	int vm = new_vm(KVM_X86_SNP_VM), i, bits;
	static uint8_t p[2 * PAGE], q[2 * PAGE], z[2 * PAGE];
	uint8_t *cp, *cq, *cz;

	for (i = 0; i < (int)PAGE; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	memcpy(q, p, PAGE);
	q[0] ^= 1;
	/* same VM key, same page offset, same conversion history */
	cp = snp_ciphertext(vm, p, 2);
	cq = snp_ciphertext(vm, q, 2);
	cz = snp_ciphertext(vm, z, 2);
	CHECK(memcmp(cp, p, PAGE) != 0);
	bits = popcount16(cp, cq);
	printf("# one plaintext bit changed %d bits of block 0\n", bits);
	CHECK(bits >= 20); /* a keystream XORed in would change 1 */
	/* the encryption of zeros is not a keystream for other pages */
	for (i = 0, bits = 0; i < (int)PAGE; i++)
		bits += (uint8_t)(cp[i] ^ cz[i]) == p[i];
	CHECK(bits < (int)PAGE / 8);
	/* zeros at offsets 0 and PAGE: different ciphertexts, not zero */
	CHECK(memcmp(cz, cz + PAGE, PAGE) != 0);
	CHECK(memcmp(cz, z, PAGE) != 0);
	CHECK(memcmp(cz + PAGE, z, PAGE) != 0);
}
