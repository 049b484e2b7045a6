// SPDX-License-Identifier: MIT
/* contract §7: host views: in-place sharing, SIGBUS on private pages and past the
 * end, MAP_FIXED, partial munmap, views surviving conversions. */
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"
#include "whitebox.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE

static int new_gmem(uint64_t size, uint64_t flags)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);

	return create_gmem(vm, size, flags);
}

TEST(mmap_argument_errors)
{
	int plain = new_gmem(4 * PAGE, 0);
	int g = new_gmem(4 * PAGE, SHARED);

	/* without MMAP: ENODEV, also for MAP_PRIVATE */
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, plain, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, plain, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(gmemu_mmap(NULL, 0, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 100) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, -PAGE) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
}

TEST(views_share_bytes_in_place)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *a = map_gmem(g, 4 * PAGE, 0), *b = map_gmem(g, 2 * PAGE, 2 * PAGE);

	a[2 * PAGE + 5] = 0x42;
	CHECK_EQ(b[5], 0x42);
	b[PAGE] = 0x43;
	CHECK_EQ(a[3 * PAGE], 0x43);
	/* the guest sees the same bytes, and the host sees the guest's */
	CHECK(guest_all(g, 3 * PAGE, 0x43, 1));
	guest_fill(g, 0, 0x99, 16);
	CHECK_EQ(a[15], 0x99);
}

TEST(private_pages_raise_sigbus)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	memset(v, 0x11, 4 * PAGE);
	CHECK_CONVERT(g, PAGE, 2 * PAGE, true, PRESERVE);
	CHECK_NO_SIGBUS_READ(v);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v + PAGE + 123);
	CHECK_SIGBUS_WRITE(v + 2 * PAGE + 7);
	CHECK_SIGBUS_READ(v + 3 * PAGE - 1);
	CHECK_NO_SIGBUS_READ(v + 3 * PAGE);
	/* a faulting write changed nothing */
	CHECK(guest_all(g, PAGE, 0x11, 2 * PAGE));
	/* system calls that touch a private page fail EFAULT */
	int p[2];
	CHECK_OK(pipe(p));
	CHECK_ERR(write(p[1], v + PAGE, 16), EFAULT);
	CHECK_EQ(write(p[1], v, 16), 16);
}

TEST(view_past_end_raises_sigbus)
{
	int g = new_gmem(2 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0), *w = map_gmem(g, 2 * PAGE, 2 * PAGE);

	CHECK_NO_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v + 2 * PAGE);
	CHECK_SIGBUS_WRITE(v + 3 * PAGE + 1);
	CHECK_SIGBUS_READ(w);
	CHECK_SIGBUS_READ(w + PAGE);
	/* conversions never make the tail accessible */
	CHECK_CONVERT(g, 0, 2 * PAGE, true, 0);
	CHECK_CONVERT(g, 0, 2 * PAGE, false, 0);
	CHECK_SIGBUS_READ(v + 2 * PAGE);
	CHECK_SIGBUS_READ(w);
}

TEST(map_fixed_is_honoured)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *area = mmap(NULL, 8 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *v;

	CHECK(area != MAP_FAILED);
	v = gmemu_mmap(area + 2 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, g, 0);
	CHECK(v == area + 2 * PAGE);
	v[0] = 1;
	CHECK(guest_all(g, 0, 1, 1));
	CHECK_CONVERT(g, 0, PAGE, true, 0);
	CHECK_SIGBUS_READ(v);
	/* MAP_FIXED_NOREPLACE over an existing mapping fails EEXIST */
	CHECK(gmemu_mmap(area, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
			 g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EEXIST);
}

TEST(partial_munmap)
{
	int g = new_gmem(8 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 8 * PAGE, 0);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };

	memset(v, 0x22, 8 * PAGE);
	CHECK_OK(gmemu_munmap(v + 2 * PAGE, 2 * PAGE)); /* split */
	CHECK_OK(gmemu_munmap(v, PAGE));                /* trim head */
	CHECK_OK(gmemu_munmap(v + 7 * PAGE, PAGE));     /* trim tail */
	CHECK_EQ(v[PAGE], 0x22);
	CHECK_EQ(v[4 * PAGE], 0x22);
	CHECK_EQ(v[6 * PAGE], 0x22);
	/* released ranges are not remapped by conversions */
	CHECK_CONVERT(g, 0, 8 * PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_SIGBUS_READ(v + 5 * PAGE);
	CHECK_CONVERT(g, 0, 8 * PAGE, false, PRESERVE);
	CHECK_EQ(v[PAGE], 0x22);
	CHECK_EQ(v[5 * PAGE], 0x22);
	uint8_t *probe = mmap(v + 2 * PAGE, PAGE, PROT_READ,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(probe == v + 2 * PAGE); /* the hole stayed a hole */
	munmap(probe, PAGE);
	CHECK_OK(gmemu_munmap(v, 8 * PAGE));
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_processes, 0);
	CHECK_ERR(gmemu_munmap(v + 1, PAGE), EINVAL);
}

TEST(views_survive_conversions)
{
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *a = map_gmem(g, 4 * PAGE, 0), *b = map_gmem(g, 4 * PAGE, 0);
	int round;

	for (round = 0; round < 5; round++) {
		a[PAGE] = (uint8_t)round;
		CHECK_CONVERT(g, 0, 4 * PAGE, true, PRESERVE);
		CHECK_SIGBUS_READ(a + PAGE);
		CHECK_SIGBUS_READ(b + 3 * PAGE);
		CHECK_CONVERT(g, 0, 4 * PAGE, false, PRESERVE);
		CHECK_EQ(b[PAGE], round);
		CHECK_NO_SIGBUS_READ(a + 3 * PAGE);
	}
}

TEST(private_view_becomes_accessible_after_to_shared)
{
	int g = new_gmem(4 * PAGE, GUEST_MEMFD_FLAG_MMAP); /* all private */
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	CHECK_SIGBUS_READ(v);
	guest_fill(g, PAGE, 0x77, PAGE);
	CHECK_CONVERT(g, PAGE, PAGE, false, PRESERVE);
	CHECK_SIGBUS_READ(v);
	CHECK_EQ(v[PAGE], 0x77);
	v[PAGE + 1] = 0x78;
	CHECK(guest_all(g, PAGE + 1, 0x78, 1));
	CHECK_SIGBUS_READ(v + 2 * PAGE);
}

TEST(prot_read_only_view)
{
	int g = new_gmem(2 * PAGE, SHARED);
	uint8_t *v = gmemu_mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, g, 0);

	CHECK(v != MAP_FAILED);
	guest_fill(g, 0, 5, 1);
	CHECK_EQ(v[0], 5);
	CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
	CHECK_CONVERT(g, 0, PAGE, false, PRESERVE);
	CHECK_EQ(v[0], 5);
	/* the remap kept PROT_READ: writing is refused by the kernel */
	int p[2];
	CHECK_OK(pipe(p));
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_ERR(read(p[0], v, 1), EFAULT);
}

/* ---- the view mechanism (contract §7.8) ---- */

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define BIG_RUN (512 * PAGE) /* a shared run this long is a plain mapping */

static bool mech_is(const char *name)
{
	const char *m = gmemu_views_mechanism(NULL);

	CHECK(m != NULL);
	return strcmp(m, name) == 0;
}

/* The process's mappings of gmem memfds (views and the trusted view). */
static int mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "gmemu-gmem") != NULL;
	fclose(f);
	return n;
}

/* contract §7.8: the mechanism is named, and GMEMU_VIEWS chooses it */
TEST(mechanism_is_reported_and_chosen)
{
	const char *detail = NULL, *m = gmemu_views_mechanism(&detail);

	CHECK(m != NULL && detail != NULL && *detail);
	CHECK(!strcmp(m, "uffd") || !strcmp(m, "mapfixed"));
	printf("# views: %s (%s)\n", m, detail);
	/* once per process: a child made later still reports the same */
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		setenv("GMEMU_VIEWS", "mapfixed", 1);
		exit(strcmp(gmemu_views_mechanism(NULL), m) != 0);
	}
	int st;

	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st));
}

TEST(mapfixed_forced_by_environment)
{
	setenv("GMEMU_VIEWS", "mapfixed", 1);
	CHECK(mech_is("mapfixed"));
	int g = new_gmem(4 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 4 * PAGE, 0);

	v[0] = 1;
	CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v);
}

TEST(views_variable_refused)
{
	setenv("GMEMU_VIEWS", "sideways", 1);
	errno = 0;
	CHECK(gmemu_views_mechanism(NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_ERR(gmemu_check_env(), EINVAL);
	int g = new_gmem(4 * PAGE, SHARED);

	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
}

/* contract §7.2: SIGBUS BUS_ADRERR at the exact address (access_sigbus
 * checks both) in a short run, a long (plain) run and past the end */
TEST(sigbus_exact_in_short_and_long_runs)
{
	uint64_t size = 4 * BIG_RUN;
	int g = new_gmem(size, SHARED);
	uint8_t *v = map_gmem(g, size + 2 * PAGE, 0);

	memset(v, 0x21, size);
	CHECK_CONVERT(g, 3 * PAGE, PAGE, true, PRESERVE);       /* short */
	CHECK_CONVERT(g, BIG_RUN, BIG_RUN, true, PRESERVE);    /* long */
	CHECK_SIGBUS_READ(v + 3 * PAGE + 77);
	CHECK_SIGBUS_WRITE(v + 3 * PAGE + 4095);
	CHECK_SIGBUS_READ(v + BIG_RUN + 12345);
	CHECK_SIGBUS_WRITE(v + 2 * BIG_RUN - 1);
	CHECK_SIGBUS_READ(v + size + 5);
	CHECK_NO_SIGBUS_READ(v + 2 * PAGE);
	CHECK_NO_SIGBUS_READ(v + 2 * BIG_RUN);
	CHECK(guest_all(g, 3 * PAGE, 0x21, PAGE));
	CHECK(guest_all(g, 2 * BIG_RUN - 1, 0x21, 1));
	/* and back: the bytes are there, in place */
	CHECK_CONVERT(g, 0, size, false, PRESERVE);
	CHECK_EQ(v[3 * PAGE + 77], 0x21);
	CHECK_EQ(v[BIG_RUN + 12345], 0x21);
}

/* contract §7.2: the program's own zaps never turn a shared page SIGBUS */
TEST(program_zaps_keep_shared_pages)
{
	uint64_t size = 2 * BIG_RUN;
	int g = new_gmem(size, SHARED);
	uint8_t *v = map_gmem(g, size, 0);
	int advice[] = { MADV_DONTNEED, MADV_PAGEOUT, MADV_COLD }, i;

	memset(v, 0x44, size);
	/* a short shared run between private pages, and a long one */
	CHECK_CONVERT(g, 4 * PAGE, PAGE, true, PRESERVE);
	CHECK_CONVERT(g, 8 * PAGE, PAGE, true, PRESERVE);
	for (i = 0; i < (int)ARRAY_SIZE(advice); i++) {
		CHECK_OK(madvise(v, size, advice[i]));
		CHECK_EQ(v[5 * PAGE], 0x44);
		CHECK_EQ(v[7 * PAGE + 9], 0x44);
		CHECK_EQ(v[BIG_RUN + 3 * PAGE], 0x44);
		CHECK_SIGBUS_READ(v + 4 * PAGE);
		CHECK_SIGBUS_READ(v + 8 * PAGE);
	}
}

/* contract §7.2: after the program's MADV_DONTNEED through gmemu, a system
 * call into a shared page of a short run works at once */
TEST(syscall_after_dontneed_through_gmemu)
{
	int g = new_gmem(16 * PAGE, SHARED), p[2];
	uint8_t *v = map_gmem(g, 16 * PAGE, 0);

	memset(v, 0x55, 16 * PAGE);
	CHECK_CONVERT(g, 2 * PAGE, PAGE, true, PRESERVE);
	CHECK_OK(gmemu_madvise(v, 16 * PAGE, MADV_DONTNEED));
	CHECK_OK(pipe(p));
	CHECK_EQ(write(p[1], "abc", 3), 3);
	CHECK_EQ(read(p[0], v + 5 * PAGE, 3), 3);
	CHECK_EQ(v[5 * PAGE + 1], 'b');
	CHECK_EQ(write(p[1], v + 6 * PAGE, 3), 3);
	CHECK_ERR(write(p[1], v + 2 * PAGE, 3), EFAULT);
}

/* contract §7.2: a page that turns shared is reachable by system calls,
 * never touched before or not */
TEST(syscall_into_new_shared_page)
{
	int g = new_gmem(64 * PAGE, GUEST_MEMFD_FLAG_MMAP), p[2]; /* private */
	uint8_t *v = map_gmem(g, 64 * PAGE, 0);

	CHECK_CONVERT(g, 10 * PAGE, PAGE, false, PRESERVE);
	CHECK_OK(pipe(p));
	CHECK_EQ(write(p[1], "xyzw", 4), 4);
	CHECK_EQ(read(p[0], v + 10 * PAGE + 100, 3), 3);
	CHECK_EQ(v[10 * PAGE + 102], 'z');
	CHECK_ERR(read(p[0], v + 11 * PAGE, 1), EFAULT);
}

/* contract §7.8: a shared run of 512 pages or more stays lazy: mapping and
 * reading through it allocates nothing until a page is written or read */
TEST(long_shared_run_stays_lazy)
{
	uint64_t size = 2 * BIG_RUN;
	int g = new_gmem(size, SHARED), p[2];
	uint8_t *v = map_gmem(g, size, 0);

	CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
	CHECK_CONVERT(g, 0, PAGE, false, PRESERVE);
	CHECK(!page_allocated(g, BIG_RUN));
	CHECK_OK(pipe(p));
	CHECK_EQ(write(p[1], "q", 1), 1);
	CHECK_EQ(read(p[0], v + BIG_RUN, 1), 1);
	CHECK(page_allocated(g, BIG_RUN));
	CHECK(!page_allocated(g, BIG_RUN + PAGE));
}

/* contract §7.8: gmemu installs no signal handler: the program's own
 * SIGBUS handler is what sigaction shows and what runs */
TEST(program_sigbus_handler_is_the_one)
{
	struct sigaction before, after, segv;
	int g = new_gmem(8 * PAGE, SHARED);
	uint8_t *v;

	sigbus_install();
	CHECK_OK(sigaction(SIGBUS, NULL, &before));
	CHECK_OK(sigaction(SIGSEGV, NULL, &segv));
	v = map_gmem(g, 8 * PAGE, 0);
	CHECK_CONVERT(g, PAGE, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_OK(sigaction(SIGBUS, NULL, &after));
	CHECK(after.sa_sigaction == before.sa_sigaction);
	CHECK_OK(sigaction(SIGSEGV, NULL, &after));
	CHECK(after.sa_handler == segv.sa_handler);
}

/* contract §7.8: no mapping per extent: 20 000 alternating extents cost
 * the process a bounded number of mappings */
TEST(extents_cost_no_mapping)
{
	uint64_t pages = 40000, p;
	int g, before;
	uint8_t *v;

	if (!mech_is("uffd"))
		SKIP("views cost a mapping per extent here (mapfixed)");
	g = new_gmem(pages * PAGE, SHARED);
	v = map_gmem(g, pages * PAGE, 0);
	before = mappings();
	for (p = 1; p < pages; p += 2)
		CHECK_CONVERT(g, p * PAGE, PAGE, true, 0);
	printf("# 20 000 extents: %d mappings more\n", mappings() - before);
	CHECK(mappings() - before < 2100); /* the plain-run budget, at most */
	CHECK_SIGBUS_READ(v + 39999 * PAGE);
	CHECK_NO_SIGBUS_READ(v + 39998 * PAGE);
	v[20000 * PAGE] = 7;
	CHECK(guest_all(g, 20000 * PAGE, 7, 1));
}

/*
 * contract §7.8: 1 000 000 alternating extents in one view of one process,
 * with vm.max_map_count at its default: conversions stay correct among
 * them.  GMEMU_VIEWS_TEST_EXTENTS lowers the count (sanitizer runs).
 */
TEST(million_extents_in_one_view)
{
	const char *e = getenv("GMEMU_VIEWS_TEST_EXTENTS");
	uint64_t extents = e ? strtoull(e, NULL, 10) : 1000000, pages, p, i;
	int g;
	uint8_t *v;

	if (!mech_is("uffd"))
		SKIP("views cost a mapping per extent here (mapfixed)");
	test_timeout_s = 300;
	alarm(300);
	pages = extents;
	g = new_gmem(pages * PAGE, GUEST_MEMFD_FLAG_MMAP); /* all private */
	for (p = 0; p < pages; p += 2)
		CHECK_CONVERT(g, p * PAGE, PAGE, false, 0);
	v = map_gmem(g, pages * PAGE, 0);
	CHECK(mappings() < 2100);
	srand(5);
	for (i = 0; i < 2000; i++) {
		p = (uint64_t)rand() % pages;
		/* (a private page touched may cost two mappings: the sealed
		 * memfd over it, where UFFDIO_POISON is not used) */
		if ((p & 1) && i % 100 == 0) {
			CHECK_SIGBUS_READ(v + p * PAGE);
		} else if (!(p & 1)) {
			v[p * PAGE] = (uint8_t)p;
			CHECK(guest_all(g, p * PAGE, (uint8_t)p, 1));
		}
	}
	/* a round trip in the middle, and its neighbours untouched */
	p = pages / 2;
	CHECK_CONVERT(g, p * PAGE, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + p * PAGE);
	CHECK_CONVERT(g, (p + 1) * PAGE, PAGE, false, PRESERVE);
	CHECK_NO_SIGBUS_READ(v + (p + 1) * PAGE);
	CHECK_SIGBUS_READ(v + (p + 3) * PAGE);
	CHECK_NO_SIGBUS_READ(v + (p - 2) * PAGE);
	CHECK(mappings() < 2100);
}

/* contract §7.8: private faults answered with the sealed memfd over the
 * extent (kernels where UFFDIO_POISON would report a memory error) */
TEST(isolated_private_extent)
{
	int g, before;
	uint8_t *v;

	setenv("GMEMU_VIEWS", "uffd-isolate", 1);
	if (!mech_is("uffd"))
		SKIP("no userfaultfd here");
	g = new_gmem(64 * PAGE, SHARED);
	v = map_gmem(g, 64 * PAGE, 0);
	memset(v, 0x66, 64 * PAGE);
	CHECK_CONVERT(g, 8 * PAGE, 4 * PAGE, true, PRESERVE);
	before = mappings();
	CHECK_SIGBUS_WRITE(v + 9 * PAGE + 3);
	CHECK_SIGBUS_READ(v + 11 * PAGE);
	CHECK_SIGBUS_READ(v + 8 * PAGE);
	CHECK(guest_all(g, 8 * PAGE, 0x66, 4 * PAGE));
	/* part of it back: the rest stays SIGBUS, the bytes in place */
	CHECK_CONVERT(g, 9 * PAGE, PAGE, false, PRESERVE);
	CHECK_EQ(v[9 * PAGE + 3], 0x66);
	CHECK_SIGBUS_READ(v + 8 * PAGE);
	CHECK_SIGBUS_READ(v + 10 * PAGE);
	CHECK_CONVERT(g, 0, 64 * PAGE, false, PRESERVE);
	CHECK_EQ(v[11 * PAGE], 0x66);
	CHECK(mappings() <= before);
}

/* contract §7.8: while a page of an isolated extent turns shared, another
 * thread's access to it raises SIGBUS (still private) or reads the bytes
 * (shared): never SIGSEGV, in no window of the change */
static uint8_t *racer_page;
static _Atomic bool racer_stop;
static _Atomic long racer_reads, racer_sigbus;

static void *racer(void *arg)
{
	(void)arg;
	while (!atomic_load(&racer_stop)) {
		if (access_sigbus(racer_page, false, 0, NULL))
			atomic_fetch_add(&racer_sigbus, 1);
		else
			atomic_fetch_add(&racer_reads, 1);
	}
	return NULL;
}

TEST(isolated_extent_turning_shared_never_sigsegv)
{
	pthread_t t;
	uint64_t until;
	int g, rounds;
	uint8_t *v;

	setenv("GMEMU_VIEWS", "uffd-isolate", 1);
	if (!mech_is("uffd"))
		SKIP("no userfaultfd here");
	g = new_gmem(16 * PAGE, SHARED);
	v = map_gmem(g, 16 * PAGE, 0);
	memset(v, 0x71, 16 * PAGE);
	racer_page = v + 5 * PAGE;
	CHECK(pthread_create(&t, NULL, racer, NULL) == 0);
	until = now_ns() + 2000000000ULL;
	for (rounds = 0; now_ns() < until; rounds++) {
		CHECK_CONVERT(g, 4 * PAGE, 4 * PAGE, true, PRESERVE);
		/* the racer's fault isolates the extent; let it happen */
		for (int i = 0; i < 50 && !atomic_load(&racer_sigbus); i++)
			usleep(20);
		CHECK_CONVERT(g, 4 * PAGE, 4 * PAGE, false, PRESERVE);
	}
	atomic_store(&racer_stop, true);
	pthread_join(t, NULL);
	printf("# %d rounds, %ld reads, %ld SIGBUS\n", rounds,
	       atomic_load(&racer_reads), atomic_load(&racer_sigbus));
	CHECK(atomic_load(&racer_sigbus) > 0);
	CHECK(atomic_load(&racer_reads) > 0);
	CHECK_EQ(v[5 * PAGE], 0x71);
}

/* a seccomp filter that answers userfaultfd with ret */
static void seccomp_userfaultfd(uint32_t ret)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, ret),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { ARRAY_SIZE(f), f };

	CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	CHECK_OK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
}

static void views_work(void)
{
	int g = new_gmem(8 * PAGE, SHARED);
	uint8_t *v = map_gmem(g, 8 * PAGE, 0);

	v[PAGE] = 3;
	CHECK_CONVERT(g, PAGE, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + PAGE);
	CHECK_CONVERT(g, PAGE, PAGE, false, PRESERVE);
	CHECK_EQ(v[PAGE], 3);
}

/* contract §7.8: where a seccomp filter refuses userfaultfd (EPERM) or
 * kills its caller, views fall back to one mapping per extent */
TEST(seccomp_refusing_userfaultfd_falls_back)
{
	unsetenv("GMEMU_VIEWS");
	seccomp_userfaultfd(SECCOMP_RET_ERRNO | EPERM);
	CHECK(mech_is("mapfixed"));
	views_work();
}

TEST(seccomp_killing_userfaultfd_falls_back)
{
	unsetenv("GMEMU_VIEWS");
	seccomp_userfaultfd(SECCOMP_RET_KILL_PROCESS);
	CHECK(mech_is("mapfixed"));
	views_work();
}

TEST(uffd_forced_but_refused_fails)
{
	int g = new_gmem(4 * PAGE, SHARED);

	seccomp_userfaultfd(SECCOMP_RET_ERRNO | EPERM);
	setenv("GMEMU_VIEWS", "uffd", 1);
	errno = 0;
	CHECK(gmemu_views_mechanism(NULL) == NULL);
	CHECK_EQ(errno, EPERM);
	CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
	CHECK_EQ(errno, EPERM);
}

/* contract §7.8, §10: a failure of the userfaultfd leaves nothing changed */
TEST(uffd_failures_change_nothing)
{
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	const char *sites[] = { "uffd_open", "uffd_thread" };
	int g, i;
	uint8_t *v;

	if (!mech_is("uffd"))
		SKIP("no userfaultfd here");
	g = new_gmem(2 * BIG_RUN, SHARED);
	for (i = 0; i < (int)ARRAY_SIZE(sites); i++) {
		testing_fail_at(sites[i], 1);
		CHECK(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, g, 0) == MAP_FAILED);
		CHECK_OK(gmemu_gmem_info(g, &info));
		CHECK_EQ(info.nr_processes, 0);
	}
	testing_fail_at(NULL, 0);
	v = map_gmem(g, 2 * BIG_RUN, 0);
	memset(v, 0x13, 2 * BIG_RUN);
	/* a to-private that must register part of a plain run */
	testing_fail_at("uffd_register", 1);
	CHECK_EQ(set_attrs(g, 100 * PAGE, PAGE, true, PRESERVE), -ENOMEM);
	CHECK(!is_private(g, 100 * PAGE));
	CHECK_EQ(v[100 * PAGE], 0x13);
	v[100 * PAGE] = 0x14;
	CHECK(guest_all(g, 100 * PAGE, 0x14, 1));
	/* a to-shared that cannot unregister still maps every page */
	CHECK_CONVERT(g, 0, 2 * BIG_RUN, true, PRESERVE);
	testing_fail_at("uffd_unregister", 1);
	CHECK_CONVERT(g, 0, 2 * BIG_RUN, false, PRESERVE);
	testing_fail_at(NULL, 0);
	CHECK_EQ(v[100 * PAGE], 0x14);
	CHECK_EQ(v[2 * BIG_RUN - 1], 0x13);
}

/* contract §6 ZERO: resident pages are cleared in place (they stay
 * allocated, every view keeps them), holes stay holes */
TEST(zero_clears_in_place)
{
	int kvm = open_kvm("contentmodes"), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 2 * BIG_RUN, SHARED);
	uint8_t *a = map_gmem(g, 2 * BIG_RUN, 0), *b = map_gmem(g, 2 * BIG_RUN, 0);

	memset(a, 0x77, 4 * PAGE);
	CHECK_CONVERT(g, 0, 2 * BIG_RUN, true, PRESERVE);
	CHECK_CONVERT(g, 0, 2 * BIG_RUN, false, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	CHECK(page_allocated(g, 2 * PAGE));
	CHECK(!page_allocated(g, 6 * PAGE));
	CHECK_EQ(a[2 * PAGE], 0);
	CHECK_EQ(b[3 * PAGE + 5], 0);
	CHECK(guest_all(g, 0, 0, 8 * PAGE));
}

/* contract §7.8, §1.9: the program closing gmemu's userfaultfd (every high
 * descriptor) never makes a private page readable; the views go on as
 * mapfixed views */
TEST(uffd_descriptor_closed_behind_our_back)
{
	int g, first;
	uint8_t *v;

	if (!mech_is("uffd"))
		SKIP("no userfaultfd here");
	g = new_gmem(2 * BIG_RUN, SHARED);
	v = map_gmem(g, 2 * BIG_RUN, 0);
	memset(v, 0x5a, 2 * BIG_RUN);
	CHECK_CONVERT(g, 3 * PAGE, PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + 3 * PAGE);
	first = g + 1;
	CHECK_OK(syscall(SYS_close_range, first, ~0U, 0));
	/* the registrations live on in the handler's own table */
	CHECK_SIGBUS_READ(v + 3 * PAGE);
	CHECK_SIGBUS_WRITE(v + 3 * PAGE + 1);
	CHECK_EQ(v[4 * PAGE], 0x5a);
	CHECK(guest_all(g, 3 * PAGE, 0x5a, PAGE));
	/* conversions go on, the views turned mapfixed on the way */
	CHECK_CONVERT(g, 3 * PAGE, PAGE, false, PRESERVE);
	CHECK_EQ(v[3 * PAGE + 7], 0x5a);
	CHECK_CONVERT(g, 100 * PAGE, 2 * PAGE, true, PRESERVE);
	CHECK_SIGBUS_READ(v + 101 * PAGE);
	CHECK_EQ(v[99 * PAGE], 0x5a);
	CHECK_EQ(v[102 * PAGE], 0x5a);
}
