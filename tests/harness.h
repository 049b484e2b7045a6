/* SPDX-License-Identifier: MIT */
/*
 * A small TAP harness: TEST(name) { ... } registers a case; each case runs in
 * a forked child bounded by a timeout, so a crash or a hang fails one case.
 * CHECK* print where they failed and end the case.  SKIP() exits 77.
 */
#ifndef GMEMU_TEST_HARNESS_H
#define GMEMU_TEST_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmemu.h"
#ifdef GMEMU_PLAIN_LIBC
#include "plain.h"
#endif

#define PAGE 4096UL
#define MAX_TESTS 256
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

struct test_case {
	const char *name;
	void (*fn)(void);
};

static struct test_case tests[MAX_TESTS];
static int nr_tests;
static int test_timeout_s = 60;

static inline void test_register(const char *name, void (*fn)(void))
{
	if (nr_tests < MAX_TESTS)
		tests[nr_tests++] = (struct test_case){ name, fn };
}

#define TEST(name)                                                        \
	static void name(void);                                           \
	__attribute__((constructor)) static void register_##name(void)    \
	{                                                                 \
		test_register(#name, name);                               \
	}                                                                 \
	static void name(void)

#define FAIL(...)                                                         \
	do {                                                              \
		printf("# %s:%d: ", __FILE__, __LINE__);                  \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
		fflush(stdout);                                           \
		exit(1);                                                  \
	} while (0)

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond))                                              \
			FAIL("CHECK(%s) failed (errno %d %s)", #cond,     \
			     errno, strerror(errno));                     \
	} while (0)

#define CHECK_EQ(a, b)                                                    \
	do {                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);       \
		if (a_ != b_)                                             \
			FAIL("%s == %lld, expected %s == %lld", #a, a_, #b, \
			     b_);                                         \
	} while (0)

/* A call that must fail with errno e (returns -1). */
#define CHECK_ERR(call, e)                                                \
	do {                                                              \
		errno = 0;                                                \
		long r_ = (long)(call);                                   \
		int e_ = errno;                                           \
		if (r_ != -1 || e_ != (e))                                \
			FAIL("%s = %ld errno %d (%s), expected -1 %s", #call, \
			     r_, e_, strerrorname_np(e_) ?: "0", #e);     \
	} while (0)

#define CHECK_OK(call)                                                    \
	do {                                                              \
		errno = 0;                                                \
		long r_ = (long)(call);                                   \
		if (r_ < 0)                                               \
			FAIL("%s = %ld errno %d (%s)", #call, r_, errno,  \
			     strerror(errno));                            \
	} while (0)

#define SKIP(why)                                                         \
	do {                                                              \
		printf("# skip: %s\n", why);                              \
		fflush(stdout);                                           \
		exit(77);                                                 \
	} while (0)

/* ---- SIGBUS expectations ---- */

static __thread sigjmp_buf sigbus_jmp;
static __thread volatile int sigbus_armed;
static __thread siginfo_t sigbus_info;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!sigbus_armed) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	sigbus_info = *si;
	siglongjmp(sigbus_jmp, 1);
}

static inline void sigbus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
}

/* Returns true when reading (write = false) or writing p raised SIGBUS with
 * BUS_ADRERR and si_addr == p.  *value gets the byte read otherwise. */
static inline bool access_sigbus(volatile uint8_t *p, bool write, uint8_t val,
				 uint8_t *value)
{
	sigbus_install();
	sigbus_armed = 1;
	if (sigsetjmp(sigbus_jmp, 1)) {
		sigbus_armed = 0;
		if (sigbus_info.si_code != BUS_ADRERR)
			FAIL("SIGBUS si_code %d, expected BUS_ADRERR",
			     sigbus_info.si_code);
		if (sigbus_info.si_addr != (void *)p)
			FAIL("SIGBUS si_addr %p, expected %p",
			     sigbus_info.si_addr, (void *)p);
		return true;
	}
	if (write)
		*p = val;
	else if (value)
		*value = *p;
	else
		(void)*p;
	sigbus_armed = 0;
	return false;
}

#define CHECK_SIGBUS_READ(p) CHECK(access_sigbus((volatile uint8_t *)(p), false, 0, NULL))
#define CHECK_SIGBUS_WRITE(p) CHECK(access_sigbus((volatile uint8_t *)(p), true, 0x5a, NULL))
#define CHECK_NO_SIGBUS_READ(p) CHECK(!access_sigbus((volatile uint8_t *)(p), false, 0, NULL))

/* ---- common fixtures ---- */

static inline int open_kvm(const char *profile)
{
	int fd = gmemu_kvm_open_abi(profile);

	if (fd < 0)
		FAIL("gmemu_kvm_open_abi(%s): %s", profile ? profile : "NULL",
		     strerror(errno));
	return fd;
}

static inline int create_vm(int kvm, unsigned long type)
{
	int fd = gmemu_ioctl(kvm, KVM_CREATE_VM, type);

	if (fd < 0)
		FAIL("KVM_CREATE_VM(%#lx): %s", type, strerror(errno));
	return fd;
}

static inline int create_gmem(int vm, uint64_t size, uint64_t flags)
{
	struct kvm_create_guest_memfd args = { .size = size, .flags = flags };
	int fd = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);

	if (fd < 0)
		FAIL("KVM_CREATE_GUEST_MEMFD(%#" PRIx64 ", %#" PRIx64 "): %s",
		     size, flags, strerror(errno));
	return fd;
}

/* KVM_SET_MEMORY_ATTRIBUTES2; returns 0 or -errno, error_offset in *eo. */
static inline int set_attrs_eo(int gmem, uint64_t off, uint64_t size,
			       bool private, uint64_t flags, uint64_t *eo)
{
	struct kvm_memory_attributes2 a = {
		.offset = off,
		.size = size,
		.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.flags = flags,
		.error_offset = 0xdeadbeef,
	};
	int r = gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a);

	if (eo)
		*eo = a.error_offset;
	return r ? -errno : 0;
}

static inline int set_attrs(int gmem, uint64_t off, uint64_t size,
			    bool private, uint64_t flags)
{
	return set_attrs_eo(gmem, off, size, private, flags, NULL);
}

#define CHECK_CONVERT(gmem, off, size, private, flags)                    \
	do {                                                              \
		int r_ = set_attrs(gmem, off, size, private, flags);      \
		if (r_)                                                   \
			FAIL("convert [%#lx,+%#lx) to %s flags %#lx: %s", \
			     (unsigned long)(off), (unsigned long)(size), \
			     (private) ? "private" : "shared",            \
			     (unsigned long)(flags), strerror(-r_));      \
	} while (0)

static inline uint8_t *map_gmem(int gmem, size_t len, off_t off)
{
	void *p = gmemu_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			     gmem, off);

	if (p == MAP_FAILED)
		FAIL("gmemu_mmap: %s", strerror(errno));
	return p;
}

static inline bool is_private(int gmem, uint64_t off)
{
	int a = gmemu_gmem_attribute(gmem, off);

	if (a < 0)
		FAIL("gmemu_gmem_attribute(%#" PRIx64 "): %s", off,
		     strerror(errno));
	return a == (int)KVM_MEMORY_ATTRIBUTE_PRIVATE;
}

/* ---- real guests, once per vCPU backend ---- */

/* Run this case's guests on backend b ("kvm", "emulated"), or skip with
 * the reason it cannot run here. */
static inline void on_backend(const char *b)
{
	const char *why = gmemu_vcpu_backend_unavailable(b);
	char msg[320];

	if (why) {
		snprintf(msg, sizeof(msg), "%s backend: %s", b, why);
		SKIP(msg);
	}
	setenv("GMEMU_VCPU", b, 1);
	printf("# vCPU backend: %s\n", b);
}

/* GUEST_TEST(name) { ... }: the case twice, NAME_on_kvm and
 * NAME_on_emulated, each skipped (with the reason) where its backend
 * cannot run. */
#define GUEST_TEST(name)                                                  \
	static void name(void);                                           \
	static void name##_on_kvm(void)                                   \
	{                                                                 \
		on_backend("kvm");                                        \
		name();                                                   \
	}                                                                 \
	static void name##_on_emulated(void)                              \
	{                                                                 \
		on_backend("emulated");                                   \
		name();                                                   \
	}                                                                 \
	__attribute__((constructor)) static void register_##name(void)    \
	{                                                                 \
		test_register(#name "_on_kvm", name##_on_kvm);            \
		test_register(#name "_on_emulated", name##_on_emulated);  \
	}                                                                 \
	static void name(void)

/* ---- main ---- */

static int run_case(int i)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* its own process group: whatever it forks dies with it */
		setpgid(0, 0);
		alarm((unsigned int)test_timeout_s);
		tests[i].fn();
		fflush(stdout);
		exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL); /* children a failed case left behind */
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	printf("# %s: killed by signal %d%s\n", tests[i].name,
	       WTERMSIG(status),
	       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
	return 1;
}

int main(int argc, char **argv)
{
	int i, failed = 0, skipped = 0, ran = 0;
	const char *t = getenv("GMEMU_TEST_TIMEOUT");

	if (t)
		test_timeout_s = atoi(t);
	/* Re-executed as a helper: run one case in this process, no TAP. */
	t = getenv("GMEMU_TEST_CHILD");
	if (t) {
		for (i = 0; i < nr_tests; i++) {
			if (strcmp(tests[i].name, t) == 0) {
				tests[i].fn();
				return 0;
			}
		}
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%d\n", argc > 1 ? argc - 1 : nr_tests);
	for (i = 0; i < nr_tests; i++) {
		int a, r;

		if (argc > 1) {
			for (a = 1; a < argc; a++)
				if (strcmp(argv[a], tests[i].name) == 0)
					break;
			if (a == argc)
				continue;
		}
		ran++;
		r = run_case(i);
		if (r == 0) {
			printf("ok %d - %s\n", ran, tests[i].name);
		} else if (r == 77) {
			printf("ok %d - %s # SKIP\n", ran, tests[i].name);
			skipped++;
		} else {
			printf("not ok %d - %s\n", ran, tests[i].name);
			failed++;
		}
	}
	if (failed)
		return 1;
	return ran && skipped == ran ? 77 : 0;
}

#endif
