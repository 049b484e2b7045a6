// SPDX-License-Identifier: MIT
/*
 * A process killed while it holds a gmem's lock does not wedge anyone: the
 * next locker recovers.  A conversion killed before it committed its
 * attribute change is rolled back; one killed after is completed; every
 * process's views end up matching the attributes either way.
 */
#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

static int new_gmem(uint64_t size)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);

	return create_gmem(vm, size, SHARED);
}

/* A child converts [0, 4 pages) to private and dies at point; the parent
 * (which maps the gmem, so the child revoked its view first) goes on. */
static void crash_during_to_private(int point, bool committed)
{
	int g = new_gmem(8 * PAGE);
	uint8_t *v = map_gmem(g, 8 * PAGE, 0);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	pid_t pid;
	int st, p;

	memset(v, 0x5e, 8 * PAGE);
	pid = fork();
	if (pid == 0) {
		gmem_crash_point = point;
		set_attrs(g, 0, 4 * PAGE, true, PRESERVE);
		_exit(3); /* not reached */
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* the next lock holder recovers: no hang */
	for (p = 0; p < 8; p++)
		CHECK_EQ(is_private(g, p * PAGE), committed && p < 4);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.recoveries, 1);
	CHECK_EQ(info.nr_extents, committed ? 2 : 1);
	for (p = 0; p < 8; p++) {
		if (committed && p < 4) {
			CHECK_SIGBUS_READ(v + p * PAGE);
		} else {
			CHECK_EQ(v[p * PAGE], 0x5e); /* view usable again */
		}
	}
	CHECK(guest_all(g, 0, 0x5e, 4 * PAGE)); /* PRESERVE: bytes intact */
	/* and everything keeps working */
	CHECK_CONVERT(g, 0, 8 * PAGE, true, PRESERVE);
	CHECK_CONVERT(g, 0, 8 * PAGE, false, PRESERVE);
	CHECK_EQ(v[3 * PAGE], 0x5e);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_extents, 1);
}

TEST(killed_after_revoking_peers_rolls_back)
{
	crash_during_to_private(1, false);
}

/* contract §11.5: a process whose view was revoked for a conversion whose
 * converter died recovers the lock itself (its agent watched the holder),
 * so its view is usable again without any call of its own */
TEST(revoked_peer_recovers_a_dead_converter_by_itself)
{
	int g = new_gmem(8 * PAGE);
	uint8_t *v = map_gmem(g, 8 * PAGE, 0);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	uint64_t until;
	pid_t pid;
	int st;

	memset(v, 0x5e, 8 * PAGE);
	pid = fork();
	if (pid == 0) {
		gmem_crash_point = 1; /* our view revoked, nothing committed */
		set_attrs(g, 0, 4 * PAGE, true, PRESERVE);
		_exit(3);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* no gmemu call here: only our agent can give the page back */
	until = now_ns() + 5000000000ULL;
	while (access_sigbus(v, false, 0, NULL) && now_ns() < until)
		usleep(1000);
	CHECK_EQ(v[0], 0x5e);
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.recoveries, 1);
	CHECK(!is_private(g, 0));
}

TEST(killed_before_commit_rolls_back)
{
	crash_during_to_private(2, false);
}

TEST(killed_after_commit_completes)
{
	crash_during_to_private(3, true);
}

TEST(killed_during_to_shared_completes_for_peers)
{
	int g = new_gmem(4 * PAGE);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);
	pid_t pid;
	int st;

	v[0] = 0x41;
	CHECK_CONVERT(g, 0, 4 * PAGE, true, PRESERVE);
	pid = fork();
	if (pid == 0) {
		gmem_crash_point = 3; /* committed, peers not yet told */
		set_attrs(g, 0, 4 * PAGE, false, PRESERVE);
		_exit(3);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st));
	CHECK(!is_private(g, 0)); /* recovers; the change was committed */
	CHECK_EQ(v[0], 0x41);    /* and our view was resynchronised */
}

/* contract §11.5: after a holder killed with the lock is recovered, the
 * lock is an ordinary lock again -- populate, which checks it holds the
 * lock, works, and a lock-free dump sees it free */
TEST(lock_after_recovery_is_whole)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SNP_VM), g;
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = 0x100000, .memory_size = 8 * PAGE,
	};
	char *dump = NULL;
	size_t dlen = 0;
	FILE *f;
	pid_t pid;
	int st;

	g = create_gmem(vm, 8 * PAGE, GUEST_MEMFD_FLAG_MMAP |
				       GUEST_MEMFD_FLAG_INIT_SHARED);
	r.guest_memfd = (uint32_t)g;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	pid = fork();
	if (pid == 0) {
		gmem_crash_point = 2; /* dies holding the lock */
		set_attrs(g, 0, 4 * PAGE, true, PRESERVE);
		_exit(3);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CHECK(!is_private(g, 0));
	CHECK_CONVERT(g, 0, 4 * PAGE, true, PRESERVE); /* recovers */
	CHECK_OK(gmemu_vm_populate(vm, 0x100000, NULL, PAGE));
	f = open_memstream(&dump, &dlen);
	CHECK(f);
	CHECK_OK(gmemu_gmem_dump(g, f));
	fclose(f);
	CHECK(!strstr(dump, "held the lock"));
	free(dump);
}

TEST(record_pool_is_whole_after_recovery)
{
	int g = new_gmem(64 * PAGE), round;
	struct gmemu_gmem_info a = { .sz = sizeof(a) }, b = a;

	for (round = 0; round < 3; round++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			gmem_crash_point = 2;
			set_attrs(g, (uint64_t)(round * 8 + 1) * PAGE, 3 * PAGE,
				  true, 0);
			_exit(3);
		}
		CHECK(waitpid(pid, &st, 0) == pid);
	}
	CHECK_OK(gmemu_gmem_info(g, &a));
	/* the same conversions again, without crashes: no record leaked */
	for (round = 0; round < 3; round++)
		CHECK_CONVERT(g, (uint64_t)(round * 8 + 1) * PAGE, 3 * PAGE, true, 0);
	for (round = 0; round < 3; round++)
		CHECK_CONVERT(g, (uint64_t)(round * 8 + 1) * PAGE, 3 * PAGE, false, 0);
	CHECK_OK(gmemu_gmem_info(g, &b));
	CHECK_EQ(b.nr_extents, 1);
	CHECK(b.meta_bytes <= a.meta_bytes + 4096);
}
