// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../base/env.h"
#include "../base/fd.h"
#include "../base/sys.h"
#include "uffd.h"

/* Linux 6.6 names older headers lack */
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef __WCLONE
#define __WCLONE 0x80000000
#endif

#define REG_MODE (UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_MISSING)
#define FEATURES (UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_MISSING_SHMEM)
#define HANDLER_STACK (1UL << 20)
#define DEFER_MAX 256
#define DEFER_RETRY_NS 50000L
#define IDLE_NS 1000000L

#if defined(__clang__) || __GNUC__ >= 8
#define NO_SANITIZE __attribute__((no_sanitize("address", "thread", "undefined")))
#else
#define NO_SANITIZE
#endif

static pthread_once_t caps_once = PTHREAD_ONCE_INIT;
static struct uffd_caps caps;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ufd = -1, stopfd = -1;
static dev_t ufd_dev, stop_dev;
static ino_t ufd_ino, stop_ino;
static pthread_t handler;
static void *handler_stack;
static bool running;
static uffd_fault_fn on_fault;
static uffd_lost_fn on_lost;
static uffd_idle_fn on_idle;
static _Atomic uint64_t st_faults, st_deferred, st_lost;
/* the views stopped using the descriptor: the handler ends at its next
 * wake-up (the stop ring, or the next fault) */
static _Atomic bool abandoned;
/* the handler is past its thread start (see uffd_start) */
static _Atomic bool started;

/* ---- the probe, in a child ---- */

/*
 * The child is a copy of the caller made by a raw clone(): only raw
 * system calls, no C library, nothing instrumented.  Exit codes: 0 uffd
 * works and UFFDIO_POISON raises BUS_ADRERR at the exact address; 1 uffd
 * works, no POISON; 2 POISON raises something else; 10 and up: no uffd.
 */
static volatile uintptr_t probe_addr;

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

NO_SANITIZE static void probe_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sys_exit_group(si->si_code == BUS_ADRERR &&
				       (uintptr_t)si->si_addr == probe_addr
			       ? 0
			       : 2);
}

NO_SANITIZE static __attribute__((noreturn)) void probe_child(bool try_poison)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = REG_MODE };
	struct uffdio_poison po = { .mode = 0 };
	struct ksigaction sa = { .handler = (void *)probe_sigbus,
				 .flags = SA_SIGINFO | 0x04000000 /* SA_RESTORER */,
				 .restorer = (void *)probe_sigbus };
	uint64_t unblock = 1ULL << (SIGBUS - 1);
	uint64_t need = 1ULL << _UFFDIO_CONTINUE;
	bool poison;
	long p;
	int u, m;

	sys_alarm(5); /* whatever happens, the child ends */
	SYS4(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, 0, 8);
	u = sys_userfaultfd(O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (u < 0)
		sys_exit_group(10);
	/* features 0: the kernel says what it offers */
	if (sys_ioctl(u, UFFDIO_API, &api) || (api.features & FEATURES) != FEATURES)
		sys_exit_group(11);
	poison = try_poison && (api.features & UFFD_FEATURE_POISON);
	sys_close(u);
	u = sys_userfaultfd(O_CLOEXEC | UFFD_USER_MODE_ONLY);
	api = (struct uffdio_api){ .api = UFFD_API,
				   .features = FEATURES |
					       (poison ? UFFD_FEATURE_POISON : 0) };
	if (u < 0 || sys_ioctl(u, UFFDIO_API, &api))
		sys_exit_group(12);
	m = sys_memfd_create("gmemu-probe", MFD_CLOEXEC);
	if (m < 0 || sys_ftruncate(m, PAGE_SIZE))
		sys_exit_group(13);
	p = sys_mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (p < 0 && p > -4096)
		sys_exit_group(14);
	reg.range.start = (uint64_t)p;
	reg.range.len = PAGE_SIZE;
	if (sys_ioctl(u, UFFDIO_REGISTER, &reg) || (reg.ioctls & need) != need)
		sys_exit_group(15);
	if (!poison || !(reg.ioctls & (1ULL << _UFFDIO_POISON)))
		sys_exit_group(1);
	po.range = reg.range;
	if (sys_ioctl(u, UFFDIO_POISON, &po))
		sys_exit_group(1);
	if (SYS4(SYS_rt_sigaction, SIGBUS, &sa, 0, 8))
		sys_exit_group(16);
	probe_addr = (uintptr_t)p + 5;
	(void)*(volatile uint8_t *)probe_addr;
	sys_exit_group(3);
}

/* -errno when userfaultfd cannot serve views here; else 0, *avail when
 * UFFDIO_POISON exists and *poison when it raises BUS_ADRERR. */
NO_SANITIZE static int probe(bool *avail, bool *poison)
{
	int pid, status = 0, r;

	*poison = *avail = false;
	pid = sys_clone_quiet();
	if (pid == 0)
		probe_child(true);
	if (pid < 0)
		return pid;
	do
		r = sys_wait4(pid, &status, __WCLONE);
	while (r == -EINTR);
	if (r < 0)
		return r;
	if (!WIFEXITED(status))
		return -EPERM; /* killed: a seccomp filter, say */
	switch (WEXITSTATUS(status)) {
	case 0:
		*poison = *avail = true;
		return 0;
	case 2:
		*avail = true;
		return 0;
	case 1:
		return 0;
	case 10:
		return -EPERM;
	default:
		return -EOPNOTSUPP;
	}
}

static void caps_probe(void)
{
	static const char *const names[] = { "auto", "uffd", "uffd-isolate",
					     "mapfixed", NULL };
	int choice = 0, r;
	bool poison, avail;

	r = env_choice("GMEMU_VIEWS", names, &choice);
	if (r < 0) {
		caps.err = -EINVAL;
		snprintf(caps.why, sizeof(caps.why), "GMEMU_VIEWS refused");
		return;
	}
	caps.forced = r > 0 && choice != 0;
	if (choice == 3) {
		caps.mech = MECH_MAPFIXED;
		snprintf(caps.why, sizeof(caps.why), "GMEMU_VIEWS=mapfixed");
		return;
	}
	r = probe(&avail, &poison);
	if (r) {
		caps.mech = MECH_MAPFIXED;
		if (caps.forced)
			caps.err = r;
		snprintf(caps.why, sizeof(caps.why),
			 "userfaultfd unavailable (%s): one mapping per extent",
			 strerror(-r));
		return;
	}
	caps.mech = MECH_UFFD;
	caps.poison = poison && choice != 2;
	caps.poison_avail = avail;
	snprintf(caps.why, sizeof(caps.why),
		 "userfaultfd, user mode only; private pages raise SIGBUS by %s",
		 caps.poison ? "UFFDIO_POISON"
			     : "a sealed mapping over the touched extent");
}

const struct uffd_caps *uffd_caps(void)
{
	pthread_once(&caps_once, caps_probe);
	return &caps;
}

/* ---- the descriptor ---- */

static int uffd_open(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = FEATURES | (caps.poison_avail ? UFFD_FEATURE_POISON : 0),
	};
	struct stat st;
	int fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		return fd;
	if (FAULT_INJECT("uffd_open") || sys_ioctl(fd, UFFDIO_API, &api)) {
		sys_close(fd);
		return -EOPNOTSUPP;
	}
	/* a program that closes the number drops every registration with
	 * it: keep it where programs do not reach */
	fd = fd_hide(fd);
	if (fd < 0)
		return fd;
	if (sys_fstat(fd, &st)) {
		fd_hidden_forget(fd);
		sys_close(fd);
		return -EBADF;
	}
	ufd_dev = st.st_dev;
	ufd_ino = st.st_ino;
	return fd;
}

bool uffd_alive(void)
{
	int fd = __atomic_load_n(&ufd, __ATOMIC_ACQUIRE);

	return fd >= 0 && fd_check(fd, ufd_dev, ufd_ino) == 0;
}

static int fd_now(void)
{
	return __atomic_load_n(&ufd, __ATOMIC_ACQUIRE);
}

int uffd_register(void *addr, size_t len)
{
	struct uffdio_register r = {
		.range = { (uintptr_t)addr, len },
		.mode = REG_MODE,
	};

	if (FAULT_INJECT("uffd_register"))
		return -ENOMEM;
	return (int)sys_ioctl(fd_now(), UFFDIO_REGISTER, &r);
}

int uffd_unregister(void *addr, size_t len)
{
	struct uffdio_range r = { (uintptr_t)addr, len };

	if (FAULT_INJECT("uffd_unregister"))
		return -ENOMEM;
	return (int)sys_ioctl(fd_now(), UFFDIO_UNREGISTER, &r);
}

int uffd_continue(void *addr, size_t len, size_t *mapped)
{
	struct uffdio_continue c = { .range = { (uintptr_t)addr, len } };
	int r = (int)sys_ioctl(fd_now(), UFFDIO_CONTINUE, &c);

	if (mapped)
		*mapped = r == 0 ? len : c.mapped > 0 ? (size_t)c.mapped : 0;
	return r;
}

int uffd_poison(void *addr, size_t len)
{
	struct uffdio_poison p = { .range = { (uintptr_t)addr, len } };

	return (int)sys_ioctl(fd_now(), UFFDIO_POISON, &p);
}

int uffd_zeropage(void *addr, size_t len)
{
	struct uffdio_zeropage z = { .range = { (uintptr_t)addr, len } };

	return (int)sys_ioctl(fd_now(), UFFDIO_ZEROPAGE, &z);
}

void uffd_wake(void *addr, size_t len)
{
	struct uffdio_range r = { (uintptr_t)addr, len };

	sys_ioctl(fd_now(), UFFDIO_WAKE, &r);
}

void uffd_stats(struct uffd_stats *st)
{
	st->faults = atomic_load(&st_faults);
	st->deferred = atomic_load(&st_deferred);
	st->lost = atomic_load(&st_lost);
}

/* ---- the handler ---- */

struct deferred {
	uintptr_t addr;
	bool write;
};

/*
 * The handler keeps the descriptors in a table of its own: a program that
 * closes gmemu's numbers (close_range, a stray close) then cannot drop the
 * registrations under the views -- which would make private pages plain
 * memfd pages -- before gmemu has noticed and remapped them.
 */
static void handler_own_table(int fd)
{
	int lo = MIN(fd, stopfd), hi = MAX(fd, stopfd);

	/* only where the program's files can all be let go again at once:
	 * kept open here, they would outlive the program's close */
	if (sys_close_range(~0U, ~0U, 0) || sys_unshare(CLONE_FILES))
		return;
	/* the program's files are not ours to keep open */
	if (lo > 0)
		sys_close_range(0, (unsigned int)lo - 1, 0);
	if (hi > lo + 1)
		sys_close_range((unsigned int)lo + 1, (unsigned int)hi - 1, 0);
	sys_close_range((unsigned int)hi + 1, ~0U, 0);
}

static void *handler_main(void *arg)
{
	static struct deferred defer[DEFER_MAX];
	struct uffd_msg msgs[32];
	int fd = (int)(intptr_t)arg, nd = 0;
	bool idle_due = false;

	atomic_store(&started, true);
	handler_own_table(fd);
	for (;;) {
		struct pollfd pf[2] = { { fd, POLLIN, 0 }, { stopfd, POLLIN, 0 } };
		/* (a second at most: an end asked for by a flag alone, when
		 * the program took the stop descriptor's number, is seen) */
		struct timespec ts = { nd || idle_due ? 0 : 1,
				       nd ? DEFER_RETRY_NS : idle_due ? IDLE_NS : 0 };
		long n;
		int i, k;

		if (sys_ppoll(pf, 2, &ts) == 0 && !nd && !atomic_load(&abandoned)) {
			if (idle_due)
				on_idle();
			idle_due = false;
			continue;
		}
		if (pf[1].revents || atomic_load(&abandoned))
			break;
		if (pf[0].revents & (POLLNVAL | POLLERR)) {
			/* no table of our own, and the program closed it */
			atomic_fetch_add(&st_lost, 1);
			on_lost();
			break;
		}
		/* the ones waiting for a conversion to end, first */
		for (i = k = 0; i < nd; i++)
			if (on_fault(defer[i].addr, defer[i].write) == -EAGAIN)
				defer[k++] = defer[i];
		nd = k;
		n = sys_read(fd, msgs, sizeof(msgs));
		if (n <= 0)
			continue;
		idle_due = true;
		for (i = 0; i < (int)(n / (long)sizeof(msgs[0])); i++) {
			struct uffd_msg *m = &msgs[i];
			bool w;

			if (m->event != UFFD_EVENT_PAGEFAULT)
				continue;
			atomic_fetch_add(&st_faults, 1);
			w = m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
			if (on_fault((uintptr_t)m->arg.pagefault.address, w) != -EAGAIN)
				continue;
			atomic_fetch_add(&st_deferred, 1);
			while (nd == DEFER_MAX) {
				/* full: wait for the oldest */
				struct timespec d = { 0, DEFER_RETRY_NS };

				SYS2(SYS_nanosleep, &d, NULL);
				if (on_fault(defer[0].addr, defer[0].write) != -EAGAIN)
					defer[0] = defer[--nd];
			}
			defer[nd++] = (struct deferred){
				(uintptr_t)m->arg.pagefault.address, w };
		}
	}
	return NULL;
}

int uffd_start(uffd_fault_fn fault, uffd_lost_fn lost, uffd_idle_fn idle)
{
	pthread_attr_t attr;
	sigset_t all, old;
	long stack;
	int r = 0, fd;

	pthread_mutex_lock(&lock);
	if (running)
		goto out;
	on_fault = fault;
	on_lost = lost;
	on_idle = idle;
	if (ufd < 0) {
		fd = uffd_open();
		if (fd < 0) {
			r = fd;
			goto out;
		}
		__atomic_store_n(&ufd, fd, __ATOMIC_RELEASE);
	}
	if (stopfd < 0) {
		struct stat st;

		fd = sys_eventfd2(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fd = fd < 0 ? fd : fd_hide(fd);
		if (fd < 0) {
			r = fd;
			goto out;
		}
		if (sys_fstat(fd, &st)) {
			fd_hidden_forget(fd);
			sys_close(fd);
			r = -EBADF;
			goto out;
		}
		stop_dev = st.st_dev;
		stop_ino = st.st_ino;
		stopfd = fd;
	}
	stack = sys_mmap(NULL, HANDLER_STACK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
			 -1, 0);
	if (stack < 0 && stack > -4096) {
		r = (int)stack;
		goto out;
	}
	handler_stack = (void *)stack;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, handler_stack, HANDLER_STACK);
	/* the handler takes no signals: they belong to the program */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&started, false);
	r = FAULT_INJECT("uffd_thread") ? -EAGAIN
					 : -pthread_create(&handler, &attr, handler_main,
							   (void *)(intptr_t)ufd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r) {
		sys_munmap(handler_stack, HANDLER_STACK);
		handler_stack = NULL;
		goto out;
	}
	running = true;
	/* Return only once the thread is up: a fork() right after must not
	 * catch it inside the C library's (or a sanitizer's) thread start,
	 * holding a lock the child would inherit locked. */
	while (!atomic_load(&started))
		sched_yield();
out:
	pthread_mutex_unlock(&lock);
	return r;
}

/* Wake the handler to end: false when the program took our number. */
static bool handler_ring(void)
{
	uint64_t one = 1;

	if (stopfd < 0 || fd_check(stopfd, stop_dev, stop_ino))
		return false;
	return sys_write(stopfd, &one, sizeof(one)) == sizeof(one);
}

void uffd_stop(void)
{
	uint64_t one = 1;

	pthread_mutex_lock(&lock);
	if (running) {
		/* the flag is seen within a second if the ring is not */
		atomic_store(&abandoned, true);
		handler_ring();
		pthread_join(handler, NULL);
		sys_munmap(handler_stack, HANDLER_STACK);
		handler_stack = NULL;
		running = false;
		if (!fd_check(stopfd, stop_dev, stop_ino))
			sys_read(stopfd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&lock);
}

void uffd_abandon(void)
{
	/* the handler ends (with its table, the registrations go, and the
	 * threads still waiting on them retry); it is joined at exit */
	atomic_fetch_add(&st_lost, 1);
	atomic_store(&abandoned, true);
	handler_ring();
}

void uffd_fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

void uffd_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

void uffd_fork_child(void)
{
	/* we are the only thread; the parent's handler is not ours, nor are
	 * its descriptors (registrations are per address space; the stop
	 * eventfd is one file for both) */
	pthread_mutex_unlock(&lock);
	running = false;
	atomic_store(&abandoned, false);
	atomic_store(&started, false);
	handler_stack = NULL;
	if (stopfd >= 0) {
		fd_hidden_forget(stopfd);
		sys_close(stopfd);
		stopfd = -1;
	}
	if (ufd >= 0) {
		if (fd_check(ufd, ufd_dev, ufd_ino) == 0) {
			fd_hidden_forget(ufd);
			sys_close(ufd);
		}
		__atomic_store_n(&ufd, -1, __ATOMIC_RELEASE);
	}
}
