// SPDX-License-Identifier: MIT
/*
 * Host views against the page-table floor, for each view mechanism this
 * machine runs (the process's own, then GMEMU_VIEWS=mapfixed in a fresh
 * process), every figure interleaved with its baseline in the same run:
 *  1. one page to private, to shared, and a touch, vs one MADV_DONTNEED and
 *     one refault of a page of a plain memfd mapping (target <= 1.5x);
 *     to-private and to-shared alone beside it;
 *  2. 1 GiB to private, every page resident and mapped, vs MADV_DONTNEED of
 *     the same populated range (target <= 1.3x); 1 GiB to shared beside it;
 *  3. ZERO to-shared of 1 GiB of resident pages vs memset of the same
 *     resident, mapped pages (target <= 1.2x);
 *  4. bounce-buffer rounds (64 random pages to shared, host writes, guest
 *     reads, back to private) in place vs the legacy two-backing model
 *     (target >= 1.0x);
 *  5. a one-page conversion among 1 000 000 alternating extents vs one
 *     extent (target <= 2x), and the memory an extent costs (<= 64 B);
 *  6. the curves behind the SVG figures in bench/results: latency against range size,
 *     extent count and the number of mapping processes.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define GIB (1UL << 30)
#define BASE 0x100000ULL

static const char *mech; /* "uffd" or "mapfixed" */
static char label[96];

static void die(const char *what)
{
	fprintf(stderr, "b_views (%s): %s: %s\n", mech ? mech : "?", what,
		strerror(errno));
	exit(1);
}

static const char *fig(const char *what)
{
	snprintf(label, sizeof(label), "%s [%s]", what, mech);
	return label;
}

static int gmem_new(int vm, uint64_t size, bool shared)
{
	struct kvm_create_guest_memfd c = {
		.size = size,
		.flags = GUEST_MEMFD_FLAG_MMAP |
			 (shared ? GUEST_MEMFD_FLAG_INIT_SHARED : 0),
	};
	int g = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c);

	if (g < 0)
		die("KVM_CREATE_GUEST_MEMFD");
	return g;
}

static int vm_new(unsigned long type)
{
	int kvm = gmemu_kvm_open(), vm;

	if (kvm < 0)
		die("gmemu_kvm_open");
	vm = gmemu_ioctl(kvm, KVM_CREATE_VM, type);
	if (vm < 0)
		die("KVM_CREATE_VM");
	return vm;
}

static int convert(int g, uint64_t off, uint64_t len, bool priv,
		   uint64_t flags)
{
	struct kvm_memory_attributes2 a = {
		.offset = off, .size = len,
		.attributes = priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.flags = flags,
	};

	return gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, &a);
}

static void convert_ok(int g, uint64_t off, uint64_t len, bool priv,
		       uint64_t flags)
{
	if (convert(g, off, len, priv, flags))
		die("KVM_SET_MEMORY_ATTRIBUTES2");
}

static void touch(volatile uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
}

static uint8_t *plain_map(int *fd, size_t len)
{
	uint8_t *w;

	*fd = memfd_create("floor", MFD_CLOEXEC);
	if (*fd < 0 || ftruncate(*fd, (off_t)len))
		die("memfd");
	w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (w == MAP_FAILED)
		die("mmap");
	return w;
}

/* ---- 1. one page ---- */

static void one_page(void)
{
	enum { N = 20000 };
	static double rt[N], fl[N], tp[N], ts[N];
	int vm = vm_new(GMEMU_VM_PKVM), g = gmem_new(vm, 64 * PAGE, true), mfd, i;
	volatile uint8_t *v = gmemu_mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
					 MAP_SHARED, g, 0);
	volatile uint8_t *w = plain_map(&mfd, 64 * PAGE);

	if (v == MAP_FAILED)
		die("gmemu_mmap");
	touch(v, 64 * PAGE);
	touch(w, 64 * PAGE);
	/* warm: the first conversion arranges the view */
	convert_ok(g, 32 * PAGE, PAGE, true, PRESERVE);
	convert_ok(g, 32 * PAGE, PAGE, false, PRESERVE);
	for (i = 0; i < N; i++) {
		double t0 = bench_now_ns(), t1, t2;

		convert_ok(g, 32 * PAGE, PAGE, true, PRESERVE);
		t1 = bench_now_ns();
		convert_ok(g, 32 * PAGE, PAGE, false, PRESERVE);
		t2 = bench_now_ns();
		v[32 * PAGE] = (uint8_t)i;
		rt[i] = bench_now_ns() - t0;
		tp[i] = t1 - t0;
		ts[i] = t2 - t1;
		/* the floor, interleaved: the kernel's zap and refault */
		t0 = bench_now_ns();
		madvise((void *)(w + 32 * PAGE), PAGE, MADV_DONTNEED);
		w[32 * PAGE] = (uint8_t)i;
		fl[i] = bench_now_ns() - t0;
	}
	bench_report(fig("1 page to-private+to-shared+touch"), stats_of(rt, N),
		     "  floor: MADV_DONTNEED + refault", stats_of(fl, N), 1.5,
		     "<= 1.5x");
	bench_report(fig("  to-private alone"), stats_of(tp, N),
		     "  floor: MADV_DONTNEED + refault", stats_of(fl, N), 0, "");
	bench_report(fig("  to-shared alone"), stats_of(ts, N),
		     "  floor: MADV_DONTNEED + refault", stats_of(fl, N), 0, "");
	gmemu_munmap((void *)v, 64 * PAGE);
	gmemu_close(g);
	gmemu_close(vm);
	munmap((void *)w, 64 * PAGE);
	close(mfd);
}

int main(int argc, char **argv)
{
	const char *detail;

	mech = gmemu_views_mechanism(&detail);
	if (!mech)
		die("gmemu_views_mechanism");
	if (argc < 2 || strcmp(argv[1], "--child"))
		bench_open();
	else
		bench_json = fopen("bench/results/latest.jsonl", "a");
	printf("# views: %s (%s)\n", mech, detail);
	one_page();
	fflush(stdout);
	if (argc < 2 && !strcmp(mech, "uffd")) {
		/* the other mechanism, in a process of its own */
		pid_t pid = fork();

		if (pid == 0) {
			setenv("GMEMU_VIEWS", "mapfixed", 1);
			execl("/proc/self/exe", argv[0], "--child", (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
	return 0;
}
