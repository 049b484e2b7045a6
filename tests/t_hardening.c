// SPDX-License-Identifier: MIT
/*
 * Adversarial cases: bad input to the launch commands, descriptor races,
 * vfork children.  Each case pins one behaviour the contract promises.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define BASE 0x100000ULL
#define POLICY 0x30000ULL

static int kvm_, vm_, gmem_, sev_;

static void snp_setup(const char *profile)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = 16 * PAGE,
	};

	setenv("GMEMU_KVM_PARAMS", "gmem_in_place_conversion=Y", 1);
	kvm_ = open_kvm(profile);
	vm_ = create_vm(kvm_, KVM_X86_SNP_VM);
	gmem_ = create_gmem(vm_, 16 * PAGE, SHARED);
	r.guest_memfd = (uint32_t)gmem_;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	sev_ = gmemu_open("/dev/sev", O_RDWR | O_CLOEXEC);
	CHECK(sev_ >= 0);
}

static int sev_op(uint32_t id, void *data)
{
	struct kvm_sev_cmd c = { .id = id, .data = (uintptr_t)data,
				 .sev_fd = (uint32_t)sev_ };

	return gmemu_ioctl(vm_, KVM_MEMORY_ENCRYPT_OP, &c) ? -errno : 0;
}

static void snp_started(void)
{
	struct kvm_sev_init init = { 0 };
	struct kvm_sev_snp_launch_start s = { .policy = POLICY };

	CHECK_OK(sev_op(KVM_SEV_INIT2, &init));
	CHECK_OK(sev_op(KVM_SEV_SNP_LAUNCH_START, &s));
}

/* contract §9.7: a gfn_start past the GPA space names no memslot, however
 * its GPA would wrap */
TEST(snp_update_gfn_beyond_the_gpa_space)
{
	struct kvm_sev_snp_launch_update u = {
		.gfn_start = (1ULL << 52) | (BASE >> 12), .len = PAGE,
		.type = KVM_SEV_SNP_PAGE_TYPE_ZERO,
	};
	uint8_t before[32], after[32];

	snp_setup("7.4");
	snp_started();
	CHECK_CONVERT(gmem_, 0, PAGE, true, 0);
	CHECK_OK(gmemu_vm_measurement(vm_, before));
	CHECK_EQ(sev_op(KVM_SEV_SNP_LAUNCH_UPDATE, &u), -EINVAL);
	CHECK_OK(gmemu_vm_measurement(vm_, after));
	CHECK(memcmp(before, after, 32) == 0);
	/* the page at BASE was not added: it still can be */
	u.gfn_start = BASE >> 12;
	CHECK_OK(sev_op(KVM_SEV_SNP_LAUNCH_UPDATE, &u));
	CHECK_EQ(u.len, 0);
}

/* contract §9.3: populate over two memslots whose bookkeeping fails on
 * the second changes nothing on the first */
static void populate_two_slots_setup(int *g2)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = BASE + 16 * PAGE, .memory_size = 4 * PAGE,
	};

	snp_setup("7.4");
	*g2 = create_gmem(vm_, 4 * PAGE, SHARED);
	r.guest_memfd = (uint32_t)*g2;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &r));
	CHECK_CONVERT(gmem_, 0, 16 * PAGE, true, 0);
	CHECK_CONVERT(*g2, 0, 4 * PAGE, true, 0);
}

TEST(populate_enomem_on_second_memslot_changes_nothing)
{
	static const char *const sites[] = { "rm_push", "alloc", "rm_reserve" };
	uint8_t m0[32], m[32];
	int g2, n, rc, failed = 0;
	size_t site;

	populate_two_slots_setup(&g2);
	CHECK_OK(gmemu_vm_measurement(vm_, m0));
	/* fail each allocation of the populate in turn, until none fails */
	for (site = 0; site < ARRAY_SIZE(sites); site++) {
		for (n = 1;; n++) {
			CHECK(n < 64);
			testing_fail_at(sites[site], n);
			rc = gmemu_vm_populate(vm_, BASE + 14 * PAGE, NULL, 4 * PAGE);
			testing_fail_at(NULL, 0);
			if (rc == 0)
				break;
			failed++;
			CHECK_EQ(errno, ENOMEM);
			CHECK_OK(gmemu_vm_measurement(vm_, m));
			CHECK(memcmp(m0, m, 32) == 0);
		}
		/* done: undo by a new VM for the next site */
		if (site + 1 < ARRAY_SIZE(sites))
			populate_two_slots_setup(&g2);
		CHECK_OK(gmemu_vm_measurement(vm_, m0));
	}
	CHECK(failed > 0);
}

/* ---- descriptors ---- */

static int race_fd;
static pthread_barrier_t race_bar;

/* about n microseconds of work */
static void spin_us(long n)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < n);
}

static void *race_dup(void *arg)
{
	pthread_barrier_wait(&race_bar);
	spin_us((long)(intptr_t)arg);
	return (void *)(intptr_t)gmemu_dup(race_fd);
}

/* contract §1.8: a VM lives while a descriptor of the process names it --
 * a dup() made while another thread closes the original keeps it */
TEST(vm_survives_dup_racing_close)
{
	int i, kvm = open_kvm(NULL), lost = 0;

	race_fd = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	for (i = 0; i < 3000; i++) {
		pthread_t t;
		void *ret;
		int d;

		pthread_barrier_init(&race_bar, NULL, 2);
		CHECK(pthread_create(&t, NULL, race_dup, (void *)(intptr_t)(i % 80)) == 0);
		pthread_barrier_wait(&race_bar);
		gmemu_close(race_fd);
		pthread_join(t, &ret);
		pthread_barrier_destroy(&race_bar);
		d = (int)(intptr_t)ret;
		if (d < 0) {
			race_fd = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
			continue;
		}
		if (gmemu_ioctl(d, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) != 1)
			lost++;
		race_fd = d;
	}
	CHECK_EQ(lost, 0);
}

/* contract §1.8: a vfork() child shares the parent's memory; closing
 * descriptors there before exec leaves the parent's objects alone */
TEST(vfork_child_close_leaves_the_parent)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 4 * PAGE, SHARED), status;
	pid_t pid;

	pid = vfork();
	if (pid == 0) {
		gmemu_close(vm);
		gmemu_close(g);
		gmemu_close_range(3, ~0U, 0);
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_EQ(gmemu_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	CHECK_EQ(gmemu_fd_kind(vm), GMEMU_FD_VM);
	CHECK_EQ(gmemu_fd_kind(kvm), GMEMU_FD_SYSTEM);
	CHECK_OK(set_attrs(g, 0, PAGE, true, 0));
	CHECK(is_private(g, 0));
}

/* contract §13.3: a path gmemu answers for takes the kernel's argument
 * checks of statx and fstatat, as the files it stands for would */
TEST(statx_of_emulated_paths_checks_mask_and_flags)
{
	static const char *const paths[] = {
		"/dev/kvm", "/sys/module/kvm/parameters/halt_poll_ns",
	};
	struct statx stx;
	struct stat st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(paths); i++) {
		CHECK_OK(gmemu_statx(AT_FDCWD, paths[i], 0, STATX_BASIC_STATS, &stx));
		CHECK_ERR(gmemu_statx(AT_FDCWD, paths[i], 0, 0x80000000u, &stx), EINVAL);
		CHECK_ERR(gmemu_statx(AT_FDCWD, paths[i], AT_STATX_SYNC_TYPE,
				      STATX_BASIC_STATS, &stx), EINVAL);
		CHECK_ERR(gmemu_statx(AT_FDCWD, paths[i], 0x40000000,
				      STATX_BASIC_STATS, &stx), EINVAL);
		CHECK_ERR(gmemu_fstatat(AT_FDCWD, paths[i], &st, 0x40000000), EINVAL);
		CHECK_ERR(gmemu_statx(AT_FDCWD, paths[i], 0x40000000, 0,
				      (struct statx *)1), EINVAL);
	}
}

/* contract §1.8: reopening /proc/self/fd/N of a FIFO waits for a writer,
 * as the kernel's open does -- without holding up other threads' closes
 * of gmemu's descriptors meanwhile */
static char fifo_path[64];
static _Atomic bool closed_;

static void *open_proc_fifo(void *arg)
{
	int fd = gmemu_open(fifo_path, O_RDONLY);

	(void)arg;
	if (fd >= 0)
		gmemu_close(fd);
	return NULL;
}

static void *close_vm(void *arg)
{
	gmemu_close((int)(intptr_t)arg);
	atomic_store(&closed_, true);
	return NULL;
}

TEST(blocking_proc_fd_open_does_not_hold_up_closes)
{
	char dir[] = "/tmp/gmemu-fifo-XXXXXX", fifo[96];
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int rd, wr, i;
	pthread_t a, c;

	CHECK(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/f", dir);
	CHECK_OK(mkfifo(fifo, 0600));
	rd = gmemu_open(fifo, O_RDONLY | O_NONBLOCK);
	CHECK(rd >= 0);
	snprintf(fifo_path, sizeof(fifo_path), "/proc/self/fd/%d", rd);
	CHECK(pthread_create(&a, NULL, open_proc_fifo, NULL) == 0);
	usleep(50000); /* A waits in open() for a writer */
	CHECK(pthread_create(&c, NULL, close_vm, (void *)(intptr_t)vm) == 0);
	for (i = 0; i < 500 && !atomic_load(&closed_); i++)
		usleep(1000);
	CHECK(atomic_load(&closed_)); /* judged before A is let go */
	wr = gmemu_open(fifo, O_WRONLY);
	CHECK(wr >= 0);
	pthread_join(a, NULL);
	pthread_join(c, NULL);
	gmemu_close(wr);
	gmemu_close(rd);
	unlink(fifo);
	rmdir(dir);
}
