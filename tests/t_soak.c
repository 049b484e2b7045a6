// SPDX-License-Identifier: MIT
/*
 * Kill at random points: worker processes convert, map, write, pin and
 * unmap a shared gmem while a supervisor SIGKILLs one of them at a random
 * moment, again and again (inside a conversion, holding the lock, between
 * a revocation and its answer).  After every kill the invariants hold: the
 * gmem answers within the revoke bound (no wedge), a conversion by the
 * supervisor completes, every private page raises SIGBUS in the
 * supervisor's view and every shared page reads, and dead processes leave
 * the registry.  GMEMU_SOAK_ITERATIONS sets the number of kills (default
 * 120; `make soak` runs thousands).
 */
#include <stdatomic.h>
#include <sys/prctl.h>
#include <time.h>

#include "harness.h"

#define NPAGES 32
#define WORKERS 3
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

static int gmem_;

/* the supervisor pauses the workers between their operations */
struct control {
	_Atomic int pause;
	_Atomic int paused[WORKERS];
};
static struct control *ctl_;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A view; EAGAIN (the lock not had within the bound, §11.4: a killed
 * holder is being recovered, or a live one waits for its peers) is
 * retried, a few bounds at most. */
static uint8_t *worker_map(void)
{
	void *p;
	int i;

	for (i = 0;; i++) {
		p = gmemu_mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_SHARED, gmem_, 0);
		if (p != MAP_FAILED)
			return p;
		if (errno != EAGAIN || i == 20)
			FAIL("gmemu_mmap: %s", strerror(errno));
	}
}

static void worker(int me, uint32_t seed)
{
	uint8_t *v = worker_map();

	sigbus_install();
	for (;;) {
		uint32_t r, p, n;

		if (atomic_load(&ctl_->pause)) {
			atomic_store(&ctl_->paused[me], 1);
			while (atomic_load(&ctl_->pause))
				usleep(100);
			atomic_store(&ctl_->paused[me], 0);
		}
		seed = seed * 1103515245u + 12345u;
		r = seed >> 8;
		p = r % NPAGES;
		n = 1 + (r >> 8) % 4;
		if (p + n > NPAGES)
			n = NPAGES - p;
		switch ((r >> 12) % 6) {
		case 0:
		case 1:
			set_attrs(gmem_, p * PAGE, n * PAGE, r & 0x10000,
				  (r & 0x20000) ? PRESERVE : 0);
			break;
		case 2:
			access_sigbus(v + p * PAGE, true, (uint8_t)r, NULL);
			break;
		case 3:
			access_sigbus(v + p * PAGE, false, 0, NULL);
			break;
		case 4:
			/* never page 0: the supervisor converts it, and a pin
			 * a killed worker left behind would refuse it */
			p = 1 + p % (NPAGES - 1);
			if (gmemu_pin(gmem_, p * PAGE, PAGE) == 0)
				gmemu_unpin(gmem_, p * PAGE, PAGE);
			break;
		default:
			/* views come and go */
			CHECK_OK(gmemu_munmap(v, NPAGES * PAGE));
			v = worker_map();
			break;
		}
	}
}

static pid_t spawn(int me, uint32_t seed)
{
	pid_t pid;

	atomic_store(&ctl_->paused[me], 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* a supervisor that fails or times out takes its workers */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		worker(me, seed);
		_exit(0);
	}
	return pid;
}

/* Every page as the attributes say, seen from the supervisor's view. */
static void check_views(uint8_t *v)
{
	int p;

	for (p = 0; p < NPAGES; p++) {
		bool priv = is_private(gmem_, p * PAGE);

		if (access_sigbus(v + p * PAGE, false, 0, NULL) != priv)
			FAIL("page %d is %s but %s", p, priv ? "private" : "shared",
			     priv ? "reads" : "raises SIGBUS");
	}
}

TEST(kill_at_random_points)
{
	const char *e = getenv("GMEMU_SOAK_ITERATIONS");
	int iterations = e ? atoi(e) : 120, it, i;
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	uint32_t seed = (uint32_t)time(NULL);
	pid_t pids[WORKERS];
	uint64_t t0, worst = 0;
	uint8_t *v;

	test_timeout_s = 60 + iterations / 2;
	alarm((unsigned int)test_timeout_s);
	printf("# seed %u\n", seed);
	ctl_ = mmap(NULL, sizeof(*ctl_), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(ctl_ != MAP_FAILED);
	gmem_ = create_gmem(vm, NPAGES * PAGE, GUEST_MEMFD_FLAG_MMAP |
						  GUEST_MEMFD_FLAG_INIT_SHARED);
	CHECK_OK(gmemu_gmem_set_revoke_timeout(gmem_, 200));
	v = map_gmem(gmem_, NPAGES * PAGE, 0);
	sigbus_install();
	for (i = 0; i < WORKERS; i++)
		pids[i] = spawn(i, seed + (uint32_t)i);
	for (it = 0; it < iterations; it++) {
		int k = (int)(seed % WORKERS), st;

		seed = seed * 1103515245u + 12345u;
		usleep(500 + seed % 8000);
		kill(pids[k], SIGKILL);
		CHECK(waitpid(pids[k], &st, 0) == pids[k]);
		/* no wedge: the gmem answers within the bound, a conversion
		 * completes (retrying a live worker's transient EAGAIN) */
		t0 = now_us();
		/* a live worker may hold the lock for a while (its own
		 * conversion waits for peers, bounded): a few bounds at most */
		for (i = 0; gmemu_gmem_info(gmem_, &info); i++)
			if (errno != EAGAIN || i == 20)
				FAIL("iteration %d: info %s", it, strerror(errno));
		for (i = 0;; i++) {
			int r = set_attrs(gmem_, 0, PAGE, it & 1, 0);

			if (r == 0)
				break;
			if (r != -EAGAIN || i == 20)
				FAIL("iteration %d: conversion %s", it, strerror(-r));
		}
		if (now_us() - t0 > worst)
			worst = now_us() - t0;
		/* the views of the process that checks follow the attributes
		 * (the workers' own conversions race with the check: pause
		 * them between operations for it) */
		atomic_store(&ctl_->pause, 1);
		for (i = 0; i < WORKERS; i++) {
			while (i != k && !atomic_load(&ctl_->paused[i])) {
				/* a worker that failed never pauses */
				if (waitpid(pids[i], &st, WNOHANG) == pids[i])
					FAIL("iteration %d: worker %d ended "
					     "(status %#x)", it, i, st);
				usleep(100);
			}
		}
		check_views(v);
		atomic_store(&ctl_->pause, 0);
		pids[k] = spawn(k, seed);
	}
	for (i = 0; i < WORKERS; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	/* pins are not a process's: the ones a killed worker left between
	 * its pin and unpin stay until someone unpins them */
	for (i = 0; i < NPAGES; i++)
		while (gmemu_unpin(gmem_, (uint64_t)i * PAGE, PAGE) == 0)
			;
	/* dead processes leave the registry once a conversion looks */
	CHECK_CONVERT(gmem_, 0, NPAGES * PAGE, true, 0);
	CHECK_OK(gmemu_gmem_info(gmem_, &info));
	CHECK_EQ(info.nr_processes, 1);
	printf("# %d kills, %llu recoveries, worst answer after a kill %llu us\n",
	       iterations, (unsigned long long)info.recoveries,
	       (unsigned long long)worst);
}
