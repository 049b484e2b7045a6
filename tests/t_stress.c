// SPDX-License-Identifier: MIT
/*
 * 4 processes x 2 threads convert, punch and access one gmem at random for
 * a bounded time.  A log shared by all of them (page locks, each page's
 * attribute and last written byte) is checked at every access:
 *  - no host access succeeds on a page that is private at that moment, and
 *    none fails on a page that is shared;
 *  - under PRESERVE, every read returns the last byte written to the page,
 *    by whichever side could write it (zero after a punch).
 */
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "harness.h"

#define NPAGES 32
#define NPROCS 4
#define SECONDS 2
#define BASE 0x200000ULL
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

struct shared_log {
	atomic_flag lock[NPAGES];
	bool private[NPAGES];
	uint8_t value[NPAGES];
	_Atomic long violations, ops, conversions, sigbus_seen;
	char first_violation[256];
};

static struct shared_log *log_;
static int vm_, gmem_;
static uint8_t *view_;
static double deadline_;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void violation(const char *what, int page)
{
	if (atomic_fetch_add(&log_->violations, 1) == 0)
		snprintf(log_->first_violation, sizeof(log_->first_violation),
			 "pid %d page %d: %s", getpid(), page, what);
}

static void lock_page(int p)
{
	while (atomic_flag_test_and_set(&log_->lock[p]))
		sched_yield();
}

static void unlock_page(int p)
{
	atomic_flag_clear(&log_->lock[p]);
}

static void op_convert(uint32_t r)
{
	int first = (int)(r % NPAGES), len = 1 + (int)((r >> 8) % 4), p;
	bool priv = (r >> 16) & 1;

	if (first + len > NPAGES)
		len = NPAGES - first;
	for (p = first; p < first + len; p++)
		lock_page(p);
	if (set_attrs(gmem_, (uint64_t)first * PAGE, (uint64_t)len * PAGE, priv,
		      PRESERVE))
		violation("conversion failed", first);
	else
		for (p = first; p < first + len; p++)
			log_->private[p] = priv;
	for (p = first + len - 1; p >= first; p--)
		unlock_page(p);
	atomic_fetch_add(&log_->conversions, 1);
}

static void op_host(int p, bool write, uint8_t v)
{
	uint8_t got = 0;
	bool bus;

	lock_page(p);
	bus = access_sigbus(view_ + (uint64_t)p * PAGE, write, v, &got);
	if (bus) {
		atomic_fetch_add(&log_->sigbus_seen, 1);
		if (!log_->private[p])
			violation("SIGBUS on a shared page", p);
	} else if (log_->private[p]) {
		violation("host access succeeded on a private page", p);
	} else if (write) {
		log_->value[p] = v;
	} else if (got != log_->value[p]) {
		violation("host read lost a PRESERVEd byte", p);
	}
	unlock_page(p);
}

static void op_guest(int p, bool write, uint8_t v)
{
	struct gmemu_exit ex;
	uint8_t b = v;
	unsigned int flags;
	int r;

	lock_page(p);
	flags = (log_->private[p] ? GMEMU_ACCESS_PRIVATE : 0) |
		(write ? GMEMU_ACCESS_WRITE : 0);
	r = gmemu_guest_access(vm_, BASE + (uint64_t)p * PAGE, &b, 1, flags, &ex);
	if (r)
		violation("guest access with the right intent failed", p);
	else if (write)
		log_->value[p] = v;
	else if (b != log_->value[p])
		violation("guest read lost a PRESERVEd byte", p);
	/* the wrong intent must exit */
	r = gmemu_guest_access(vm_, BASE + (uint64_t)p * PAGE, &b, 1,
			       flags ^ GMEMU_ACCESS_PRIVATE, &ex);
	if (r != -1 || ex.exit_reason != KVM_EXIT_MEMORY_FAULT)
		violation("wrong-intent access did not exit", p);
	unlock_page(p);
}

static void op_punch(int p)
{
	lock_page(p);
	if (gmemu_fallocate(gmem_, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			    (off_t)p * PAGE, PAGE))
		violation("punch failed", p);
	else
		log_->value[p] = 0;
	unlock_page(p);
}

static pid_t parent_;

static void *worker(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u ^ (uint32_t)getpid();

	while (now_s() < deadline_) {
		uint32_t r;
		int p;

		seed = seed * 1103515245u + 12345u;
		r = seed >> 4;
		p = (int)((r >> 3) % NPAGES);
		switch (r % 8) {
		case 0:
		case 1: op_convert(r >> 3); break;
		case 2: op_host(p, false, 0); break;
		case 3: op_host(p, true, (uint8_t)(r >> 12)); break;
		/* a VM fd works only in its own process, as KVM's */
		case 4:
			if (getpid() == parent_)
				op_guest(p, false, 0);
			else
				op_host(p, false, 0);
			break;
		case 5:
			if (getpid() == parent_)
				op_guest(p, true, (uint8_t)(r >> 12));
			else
				op_host(p, true, (uint8_t)(r >> 12));
			break;
		case 6: op_punch(p); break;
		default: op_host(p, false, 0); break;
		}
		atomic_fetch_add(&log_->ops, 1);
	}
	return NULL;
}

TEST(four_processes_two_threads)
{
	struct kvm_userspace_memory_region2 slot = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = BASE, .memory_size = NPAGES * PAGE,
	};
	int kvm = open_kvm(NULL), i, st;
	pid_t pids[NPROCS];

	log_ = mmap(NULL, sizeof(*log_), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(log_ != MAP_FAILED);
	vm_ = create_vm(kvm, GMEMU_VM_PKVM);
	gmem_ = create_gmem(vm_, NPAGES * PAGE, GUEST_MEMFD_FLAG_MMAP |
						GUEST_MEMFD_FLAG_INIT_SHARED);
	slot.guest_memfd = (uint32_t)gmem_;
	CHECK_OK(gmemu_ioctl(vm_, KVM_SET_USER_MEMORY_REGION2, &slot));
	deadline_ = now_s() + SECONDS;
	parent_ = getpid();
	for (i = 0; i < NPROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			pthread_t t;

			view_ = map_gmem(gmem_, NPAGES * PAGE, 0);
			CHECK(pthread_create(&t, NULL, worker, (void *)1) == 0);
			worker((void *)2);
			pthread_join(t, NULL);
			exit(0);
		}
	}
	/* the VM's own process drives the guest meanwhile */
	{
		pthread_t t;

		view_ = map_gmem(gmem_, NPAGES * PAGE, 0);
		CHECK(pthread_create(&t, NULL, worker, (void *)3) == 0);
		worker((void *)4);
		pthread_join(t, NULL);
	}
	for (i = 0; i < NPROCS; i++) {
		CHECK(waitpid(pids[i], &st, 0) == pids[i]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	printf("# %ld operations, %ld conversions, %ld SIGBUS caught, %ld violations\n",
	       (long)log_->ops, (long)log_->conversions, (long)log_->sigbus_seen,
	       (long)log_->violations);
	if (log_->violations)
		FAIL("%s", log_->first_violation);
	CHECK(log_->conversions > 100);
	CHECK(log_->sigbus_seen > 10);
}
