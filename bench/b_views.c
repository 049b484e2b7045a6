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
 *     (target >= 1.0x), both on a model that leaves contents untouched;
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
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static const char *mech; /* "uffd" or "mapfixed" */
static bool is_child;     /* the second mechanism's run: no baselines */
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
	static double rt[N], fl[N], tp[N], ts[N], nop[N];
	int vm = vm_new(GMEMU_VM_PKVM), g = gmem_new(vm, 64 * PAGE, true), mfd, i;
	volatile uint8_t *v = gmemu_mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
					 MAP_SHARED, g, 0);
	volatile uint8_t *w = plain_map(&mfd, 64 * PAGE);
	struct stats srt, sfl, snop;

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
		/* the emulated ioctl alone: two conversions that change
		 * nothing (descriptor check, checked copy, lock, lookup) */
		t0 = bench_now_ns();
		convert_ok(g, 31 * PAGE, PAGE, false, PRESERVE);
		convert_ok(g, 31 * PAGE, PAGE, false, PRESERVE);
		nop[i] = bench_now_ns() - t0;
	}
	srt = stats_of(rt, N);
	sfl = stats_of(fl, N);
	snop = stats_of(nop, N);
	bench_report(fig("1 page to-private+to-shared+touch"), srt,
		     "  floor: MADV_DONTNEED + refault", sfl, 1.5, "<= 1.5x");
	bench_report(fig("  to-private alone"), stats_of(tp, N),
		     "  floor: MADV_DONTNEED + refault", sfl, 0, "");
	bench_report(fig("  to-shared alone"), stats_of(ts, N),
		     "  floor: MADV_DONTNEED + refault", sfl, 0, "");
	bench_report(fig("  two no-op conversions (ioctl entry)"), snop,
		     "  floor: MADV_DONTNEED + refault", sfl, 0, "");
	/* what the view mechanism adds beyond the emulated ioctl's entry */
	printf("%-44s %10.1fus %36.2fx (round trip - two no-op conversions)\n",
	       fig("  view work of the round trip"),
	       (srt.median - snop.median) / 1e3,
	       (srt.median - snop.median) / sfl.median);
	if (bench_json)
		fprintf(bench_json, "{\"figure\":\"%s\",\"median_ns\":%.0f,"
			"\"baseline\":\"MADV_DONTNEED + refault\","
			"\"baseline_median_ns\":%.0f,\"ratio\":%.3f}\n",
			fig("1 page round trip minus two no-op conversions"),
			srt.median - snop.median, sfl.median,
			(srt.median - snop.median) / sfl.median);
	gmemu_munmap((void *)v, 64 * PAGE);
	gmemu_close(g);
	gmemu_close(vm);
	munmap((void *)w, 64 * PAGE);
	close(mfd);
}

/* ---- 2. and 3. one GiB ---- */

static void one_gib(void)
{
	enum { N = 5 };
	double tp[N], ts[N], z[N], fl[N], ms[N];
	int vm = vm_new(GMEMU_VM_PKVM), g = gmem_new(vm, GIB, true), mfd, i;
	uint8_t *v = gmemu_mmap(NULL, GIB, PROT_READ | PROT_WRITE, MAP_SHARED,
				g, 0), *w;

	if (v == MAP_FAILED)
		die("gmemu_mmap");
	w = plain_map(&mfd, GIB);
	for (i = 0; i < N; i++) {
		double t0;

		/* to private, every page resident and mapped */
		touch(v, GIB);
		t0 = bench_now_ns();
		convert_ok(g, 0, GIB, true, PRESERVE);
		tp[i] = bench_now_ns() - t0;
		t0 = bench_now_ns();
		convert_ok(g, 0, GIB, false, PRESERVE);
		ts[i] = bench_now_ns() - t0;
		/* ZERO of the resident pages */
		convert_ok(g, 0, GIB, true, PRESERVE);
		t0 = bench_now_ns();
		convert_ok(g, 0, GIB, false, ZERO);
		z[i] = bench_now_ns() - t0;
		/* floors, interleaved */
		touch(w, GIB);
		t0 = bench_now_ns();
		madvise(w, GIB, MADV_DONTNEED);
		fl[i] = bench_now_ns() - t0;
		touch(w, GIB);
		t0 = bench_now_ns();
		memset(w, 0, GIB);
		ms[i] = bench_now_ns() - t0;
	}
	printf("%-44s %10.1fus (first round: the trusted view is not yet "
	       "populated)\n", fig("  ZERO 1 GiB, first round"), z[0] / 1e3);
	bench_report(fig("1 GiB to-private, populated"), stats_of(tp, N),
		     "  floor: MADV_DONTNEED of the range", stats_of(fl, N),
		     1.3, "<= 1.3x");
	bench_report(fig("  1 GiB to-shared (PRESERVE)"), stats_of(ts, N),
		     "  floor: MADV_DONTNEED of the range", stats_of(fl, N), 0, "");
	bench_report(fig("1 GiB ZERO to-shared, resident pages"), stats_of(z, N),
		     "  floor: memset of resident mapped pages", stats_of(ms, N),
		     1.2, "<= 1.2x");
	gmemu_munmap(v, GIB);
	gmemu_close(g);
	gmemu_close(vm);
	munmap(w, GIB);
	close(mfd);
}

/* ---- the legacy two-backing model (the 6.18 profile) ---- */

struct legacy {
	int vm, gmem;
	uint8_t *shared; /* the shared backing at userspace_addr */
	uint64_t pages;
};

static struct legacy legacy_new(uint64_t pages)
{
	struct legacy l = { .pages = pages };
	struct kvm_create_guest_memfd c = { .size = pages * PAGE };
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = BASE, .memory_size = pages * PAGE,
	};
	int kvm = gmemu_kvm_open_abi("legacy");

	l.vm = gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	l.gmem = gmemu_ioctl(l.vm, KVM_CREATE_GUEST_MEMFD, &c);
	if (l.vm < 0 || l.gmem < 0)
		die("legacy VM");
	l.shared = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	r.userspace_addr = (uintptr_t)l.shared;
	r.guest_memfd = (uint32_t)l.gmem;
	if (gmemu_ioctl(l.vm, KVM_SET_USER_MEMORY_REGION2, &r))
		die("KVM_SET_USER_MEMORY_REGION2");
	return l;
}

/* A shipping VMM's conversion: the per-VM attributes, and on to-private
 * the shared copy discarded. */
static void legacy_set(struct legacy *l, uint64_t page, uint64_t n, bool priv)
{
	struct kvm_memory_attributes a = {
		.address = BASE + page * PAGE, .size = n * PAGE,
		.attributes = priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};

	if (gmemu_ioctl(l->vm, KVM_SET_MEMORY_ATTRIBUTES, &a))
		die("KVM_SET_MEMORY_ATTRIBUTES");
	if (priv)
		madvise(l->shared + page * PAGE, n * PAGE, MADV_REMOVE);
}

static void legacy_free(struct legacy *l)
{
	munmap(l->shared, l->pages * PAGE);
	gmemu_close(l->gmem);
	gmemu_close(l->vm);
}

/* ---- 4. bounce buffers ---- */

#define BOUNCE_PAGES 4096

struct inplace {
	int vm, gmem;
	uint8_t *view;
};

static struct inplace inplace_new(void)
{
	struct inplace s;
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = BASE, .memory_size = BOUNCE_PAGES * PAGE,
	};

	/* pKVM: contents untouched by a conversion, as in the legacy model
	 * (the software-protected model would scramble every page) */
	s.vm = vm_new(GMEMU_VM_PKVM);
	s.gmem = gmem_new(s.vm, BOUNCE_PAGES * PAGE, false);
	s.view = gmemu_mmap(NULL, BOUNCE_PAGES * PAGE, PROT_READ | PROT_WRITE,
			    MAP_SHARED, s.gmem, 0);
	if (s.view == MAP_FAILED)
		die("gmemu_mmap");
	r.userspace_addr = (uintptr_t)s.view;
	r.guest_memfd = (uint32_t)s.gmem;
	if (gmemu_ioctl(s.vm, KVM_SET_USER_MEMORY_REGION2, &r))
		die("KVM_SET_USER_MEMORY_REGION2");
	return s;
}

/* rounds of: 64 random pages to shared, the host writes them, the guest
 * reads them, back to private */
static void bounce_rounds(struct inplace *s, struct legacy *l, int rounds,
			  uint32_t *seed)
{
	struct gmemu_exit ex;
	uint64_t pages[64];
	uint8_t buf[PAGE];
	int r, i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < 64; i++) {
			*seed = *seed * 1103515245u + 12345u;
			pages[i] = (*seed >> 8) % BOUNCE_PAGES;
			if (l)
				legacy_set(l, pages[i], 1, false);
			else
				convert_ok(s->gmem, pages[i] * PAGE, PAGE, false, 0);
		}
		for (i = 0; i < 64; i++) {
			uint8_t *host = (l ? l->shared : s->view) + pages[i] * PAGE;

			memset(host, (uint8_t)r, PAGE); /* host I/O */
			if (gmemu_guest_access(l ? l->vm : s->vm,
					       BASE + pages[i] * PAGE, buf, PAGE,
					       0, &ex))
				die("guest read of the bounce buffer");
		}
		for (i = 0; i < 64; i++) {
			if (l)
				legacy_set(l, pages[i], 1, true);
			else
				convert_ok(s->gmem, pages[i] * PAGE, PAGE, true, 0);
		}
	}
}

static void bounce(void)
{
	enum { CHUNKS = 8, ROUNDS = 50 };
	struct inplace s = inplace_new();
	struct legacy l = legacy_new(BOUNCE_PAGES);
	struct kvm_memory_attributes all = {
		.address = BASE, .size = BOUNCE_PAGES * PAGE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	double in_ns = 0, leg_ns = 0, ci[CHUNKS], cl[CHUNKS];
	uint32_t seed_i = 1, seed_l = 1;
	int c;

	if (gmemu_ioctl(l.vm, KVM_SET_MEMORY_ATTRIBUTES, &all))
		die("KVM_SET_MEMORY_ATTRIBUTES");
	bounce_rounds(&s, NULL, 10, &seed_i); /* warm both */
	bounce_rounds(NULL, &l, 10, &seed_l);
	for (c = 0; c < CHUNKS; c++) {
		double t0 = bench_now_ns();

		bounce_rounds(&s, NULL, ROUNDS, &seed_i);
		ci[c] = bench_now_ns() - t0;
		t0 = bench_now_ns();
		bounce_rounds(NULL, &l, ROUNDS, &seed_l);
		cl[c] = bench_now_ns() - t0;
		in_ns += ci[c];
		leg_ns += cl[c];
	}
	{
		/* rounds per second; the ratio is in place over legacy */
		double in = CHUNKS * ROUNDS / (in_ns / 1e9);
		double leg = CHUNKS * ROUNDS / (leg_ns / 1e9);
		bool met = in / leg >= 1.0;

		printf("%-44s %10.0f rounds/s\n", fig("bounce-buffer rounds, in place"), in);
		printf("%-44s %10.0f rounds/s   in place %.2fx of legacy %s\n",
		       "  baseline: legacy two-backing model", leg, in / leg,
		       met ? ">= 1.0x (met)" : ">= 1.0x (MISSED)");
		if (bench_json)
			fprintf(bench_json,
				"{\"figure\":\"%s\",\"per_s\":%.1f,"
				"\"baseline\":\"legacy two-backing\","
				"\"baseline_per_s\":%.1f,\"ratio\":%.3f,"
				"\"target_ratio\":1.0,\"met\":%s}\n",
				fig("bounce-buffer rounds in place"), in, leg,
				in / leg, met ? "true" : "false");
	}
	legacy_free(&l);
	gmemu_munmap(s.view, BOUNCE_PAGES * PAGE);
	gmemu_close(s.gmem);
	gmemu_close(s.vm);
}

/* ---- 5. and 6. extents, and the curves ---- */

static FILE *dat(const char *name)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "bench/results/views-%s.dat", name);
	f = fopen(path, "w");
	if (!f)
		die(path);
	return f;
}

/* Median of n one-page round trips (to private, to shared, touch) of page
 * p of gmem g, seen at v. */
static double round_trip(int g, volatile uint8_t *v, uint64_t p, int n)
{
	double *t = calloc((size_t)n, sizeof(*t));
	struct stats s;
	int i;

	for (i = 0; i < n; i++) {
		double t0 = bench_now_ns();

		convert_ok(g, p * PAGE, PAGE, true, PRESERVE);
		convert_ok(g, p * PAGE, PAGE, false, PRESERVE);
		v[p * PAGE] = (uint8_t)i;
		t[i] = bench_now_ns() - t0;
	}
	s = stats_of(t, n);
	free(t);
	return s.median;
}

static double legacy_round_trip(struct legacy *l, uint64_t p, int n)
{
	double *t = calloc((size_t)n, sizeof(*t));
	struct stats s;
	int i;

	for (i = 0; i < n; i++) {
		double t0 = bench_now_ns();

		legacy_set(l, p, 1, true);
		legacy_set(l, p, 1, false);
		l->shared[p * PAGE] = (uint8_t)i;
		t[i] = bench_now_ns() - t0;
	}
	s = stats_of(t, n);
	free(t);
	return s.median;
}

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return v;
}

static int map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* sizeof(struct vm_area_struct) on this kernel's slab, for the estimate */
#define VMA_BYTES 200

static void extents(void)
{
	static const uint64_t counts[] = { 1, 1000, 10000, 100000, 1000000 };
	const uint64_t pages = 1ULL << 21; /* 8 GiB, sparse */
	struct gmemu_gmem_info before = { .sz = sizeof(before) }, after = before;
	FILE *out = dat(!strcmp(mech, "uffd") ? "extents-uffd" : "extents-mapfixed");
	FILE *fl = NULL;
	double one = 0, last = 0, base_fl, base_leg = 0;
	uint64_t made = 0, k, mid = pages / 2 + 1;
	struct mallinfo2 m0, m1;
	long pte0, pte1;
	int vm = vm_new(GMEMU_VM_PKVM), g, maps0, i;
	volatile uint8_t *v, *w;
	int mfd;

	/* the floor and the legacy model, once (the parent's run) */
	w = plain_map(&mfd, 64 * PAGE);
	touch(w, 64 * PAGE);
	{
		double t[2000];

		for (i = 0; i < 2000; i++) {
			double t0 = bench_now_ns();

			madvise((void *)(w + 32 * PAGE), PAGE, MADV_DONTNEED);
			w[32 * PAGE] = 1;
			t[i] = bench_now_ns() - t0;
		}
		base_fl = stats_of(t, 2000).median;
	}
	if (!is_child)
		fl = dat("extents-floor");

	g = gmem_new(vm, pages * PAGE, false); /* all private */
	gmemu_gmem_info(g, &before);
	m0 = mallinfo2();
	pte0 = status_kib("VmPTE:");
	maps0 = map_count();
	v = gmemu_mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       g, 0);
	if (v == MAP_FAILED)
		die("gmemu_mmap");
	convert_ok(g, mid * PAGE, PAGE, false, PRESERVE);
	for (i = 0; i < (int)ARRAY_SIZE(counts); i++) {
		/* shared pages at even offsets from page 0 up: two more
		 * extents each */
		for (; 2 * made + 1 < counts[i]; made++) {
			if (convert(g, 2 * made * PAGE, PAGE, false, 0)) {
				printf("%-44s %llu extents: %s\n",
				       fig("  conversions fail past"),
				       (unsigned long long)(2 * made + 1),
				       strerror(errno));
				goto done;
			}
		}
		last = round_trip(g, v, mid, 2000);
		if (i == 0)
			one = last;
		fprintf(out, "%llu %.3f\n", (unsigned long long)counts[i], last / 1e3);
		if (fl) {
			struct legacy l = legacy_new(pages);

			for (k = 0; 2 * k + 1 < counts[i]; k++)
				legacy_set(&l, 2 * k + 1, 1, true);
			base_leg = legacy_round_trip(&l, mid, 2000);
			legacy_free(&l);
			fprintf(fl, "%llu %.3f %.3f\n", (unsigned long long)counts[i],
				base_fl / 1e3, base_leg / 1e3);
		}
	}
done:
	gmemu_gmem_info(g, &after);
	m1 = mallinfo2();
	pte1 = status_kib("VmPTE:");
	{
		struct stats a = { .median = last, .n = 2000 };
		struct stats b = { .median = one, .n = 2000 };
		uint64_t ext = after.nr_extents - before.nr_extents;
		double meta = (double)(after.meta_bytes - before.meta_bytes);
		double heap = (double)m1.uordblks - (double)m0.uordblks;
		double vmas = (double)(map_count() - maps0) * VMA_BYTES;
		double pte = (double)(pte1 - pte0) * 1024;

		if (2 * made + 1 >= counts[ARRAY_SIZE(counts) - 1])
			bench_report(fig("1-page round trip, 1 000 000 extents"),
				     a, "  baseline: 1 extent", b, 2.0, "<= 2.0x");
		else
			printf("%-44s %llu extents at most in one view\n",
			       fig("1-page round trip at 1 000 000 extents:"),
			       (unsigned long long)(2 * made + 1));
		printf("%-44s %10.1f B  (metadata %.1f + process %.1f + "
		       "mappings %.1f + page tables %.1f) %s\n",
		       fig("memory per extent"), (meta + heap + vmas + pte) / (double)ext,
		       meta / (double)ext, heap / (double)ext, vmas / (double)ext,
		       pte / (double)ext,
		       (meta + heap + vmas + pte) / (double)ext <= 64 ? "<= 64 B (met)"
								     : "<= 64 B (MISSED)");
		if (bench_json)
			fprintf(bench_json,
				"{\"figure\":\"%s\",\"value\":%.1f,\"extents\":%llu,"
				"\"metadata\":%.1f,\"process\":%.1f,\"mappings\":%.1f,"
				"\"page_tables\":%.1f,\"target\":64,\"met\":%s}\n",
				fig("memory bytes per extent"),
				(meta + heap + vmas + pte) / (double)ext,
				(unsigned long long)ext, meta / (double)ext,
				heap / (double)ext, vmas / (double)ext,
				pte / (double)ext,
				(meta + heap + vmas + pte) / (double)ext <= 64 ? "true"
									 : "false");
	}
	fclose(out);
	if (fl)
		fclose(fl);
	gmemu_munmap((void *)v, pages * PAGE);
	gmemu_close(g);
	gmemu_close(vm);
	munmap((void *)w, 64 * PAGE);
	close(mfd);
}

/* Latency against the range converted: to private (the range resident and
 * mapped) and to shared, for this mechanism; the floor and the legacy
 * model beside it (the parent's run). */
static void ranges(void)
{
	static const uint64_t sizes[] = { 1, 16, 256, 4096, 65536, 262144 };
	FILE *out = dat(!strcmp(mech, "uffd") ? "range-uffd" : "range-mapfixed");
	FILE *fl = !is_child ? dat("range-floor") : NULL;
	uint64_t max = sizes[ARRAY_SIZE(sizes) - 1];
	int vm = vm_new(GMEMU_VM_PKVM), g = gmem_new(vm, max * PAGE, true), mfd;
	uint8_t *v = gmemu_mmap(NULL, max * PAGE, PROT_READ | PROT_WRITE,
				MAP_SHARED, g, 0), *w = plain_map(&mfd, max * PAGE);
	struct legacy l = legacy_new(max);
	int i, r;

	if (v == MAP_FAILED)
		die("gmemu_mmap");
	for (i = 0; i < (int)ARRAY_SIZE(sizes); i++) {
		uint64_t n = sizes[i];
		int reps = (int)MAX(5, 2000 / n);
		double *tp = calloc((size_t)reps, 8), *ts = calloc((size_t)reps, 8);
		double *f = calloc((size_t)reps, 8), *lp = calloc((size_t)reps, 8);
		double *ls = calloc((size_t)reps, 8);

		for (r = 0; r < reps; r++) {
			double t0;

			touch(v, n * PAGE);
			t0 = bench_now_ns();
			convert_ok(g, 0, n * PAGE, true, PRESERVE);
			tp[r] = bench_now_ns() - t0;
			t0 = bench_now_ns();
			convert_ok(g, 0, n * PAGE, false, PRESERVE);
			ts[r] = bench_now_ns() - t0;
			if (!fl)
				continue;
			touch(w, n * PAGE);
			t0 = bench_now_ns();
			madvise(w, n * PAGE, MADV_DONTNEED);
			f[r] = bench_now_ns() - t0;
			touch(l.shared, n * PAGE);
			t0 = bench_now_ns();
			legacy_set(&l, 0, n, true);
			lp[r] = bench_now_ns() - t0;
			t0 = bench_now_ns();
			legacy_set(&l, 0, n, false);
			ls[r] = bench_now_ns() - t0;
		}
		fprintf(out, "%llu %.3f %.3f\n", (unsigned long long)n,
			stats_of(tp, reps).median / 1e3,
			stats_of(ts, reps).median / 1e3);
		if (fl)
			fprintf(fl, "%llu %.3f %.3f %.3f\n", (unsigned long long)n,
				stats_of(f, reps).median / 1e3,
				stats_of(lp, reps).median / 1e3,
				stats_of(ls, reps).median / 1e3);
		free(tp);
		free(ts);
		free(f);
		free(lp);
		free(ls);
	}
	fclose(out);
	if (fl)
		fclose(fl);
	legacy_free(&l);
	gmemu_munmap(v, max * PAGE);
	gmemu_close(g);
	gmemu_close(vm);
	munmap(w, max * PAGE);
	close(mfd);
}

/* One-page to-private with 0, 1, 2 and 4 other processes mapping the page
 * (in a burst: their agents are awake). */
static void processes(void)
{
	static const int others[] = { 0, 1, 2, 4 };
	FILE *out = dat(!strcmp(mech, "uffd") ? "procs-uffd" : "procs-mapfixed");
	FILE *fl = !is_child ? dat("procs-floor") : NULL;
	int i, j, n = 3000;

	for (i = 0; i < (int)ARRAY_SIZE(others); i++) {
		int vm = vm_new(GMEMU_VM_PKVM), g = gmem_new(vm, 64 * PAGE, true);
		struct legacy l = legacy_new(64);
		pid_t pids[8];
		int p[2];
		double *t = calloc((size_t)n, 8), *lt = calloc((size_t)n, 8);
		volatile uint8_t *v;
		char ch;

		if (pipe(p))
			die("pipe");
		for (j = 0; j < others[i]; j++) {
			pids[j] = fork();
			if (pids[j] == 0) {
				volatile uint8_t *x = gmemu_mmap(NULL, 64 * PAGE,
						PROT_READ | PROT_WRITE, MAP_SHARED, g, 0);

				x[32 * PAGE] = 1;
				l.shared[32 * PAGE] = 1;
				if (write(p[1], "x", 1) != 1)
					_exit(1);
				pause();
				_exit(0);
			}
			if (read(p[0], &ch, 1) != 1)
				die("child");
		}
		v = gmemu_mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			       g, 0);
		v[32 * PAGE] = 1;
		for (j = 0; j < n; j++) {
			double t0 = bench_now_ns();

			convert_ok(g, 32 * PAGE, PAGE, true, PRESERVE);
			t[j] = bench_now_ns() - t0;
			convert_ok(g, 32 * PAGE, PAGE, false, PRESERVE);
			if (!fl)
				continue;
			l.shared[32 * PAGE] = 1;
			t0 = bench_now_ns();
			legacy_set(&l, 32, 1, true);
			lt[j] = bench_now_ns() - t0;
			legacy_set(&l, 32, 1, false);
		}
		fprintf(out, "%d %.3f\n", others[i], stats_of(t, n).median / 1e3);
		if (fl) {
			/* the floor: one page's zap in this process (the kernel
			 * zaps each mapping process's tables the same way) */
			int mfd;
			volatile uint8_t *w = plain_map(&mfd, 64 * PAGE);

			for (j = 0; j < n; j++) {
				double t0;

				w[32 * PAGE] = 1;
				t0 = bench_now_ns();
				madvise((void *)(w + 32 * PAGE), PAGE, MADV_DONTNEED);
				t[j] = bench_now_ns() - t0;
			}
			fprintf(fl, "%d %.3f %.3f\n", others[i],
				stats_of(lt, n).median / 1e3,
				stats_of(t, n).median / 1e3);
			munmap((void *)w, 64 * PAGE);
			close(mfd);
		}
		for (j = 0; j < others[i]; j++) {
			kill(pids[j], SIGKILL);
			waitpid(pids[j], NULL, 0);
		}
		close(p[0]);
		close(p[1]);
		free(t);
		free(lt);
		legacy_free(&l);
		gmemu_munmap((void *)v, 64 * PAGE);
		gmemu_close(g);
		gmemu_close(vm);
	}
	fclose(out);
	if (fl)
		fclose(fl);
}

/* b_views [--child] [PART]: PART runs one part alone (one_page, one_gib,
 * bounce, extents, ranges, processes), in this process's mechanism. */
int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} parts[] = {
		{ "one_page", one_page }, { "one_gib", one_gib },
		{ "bounce", bounce },     { "extents", extents },
		{ "ranges", ranges },     { "processes", processes },
	};
	const char *detail, *only = NULL;
	bool child = argc > 1 && !strcmp(argv[1], "--child");
	size_t i;

	mech = gmemu_views_mechanism(&detail);
	if (!mech)
		die("gmemu_views_mechanism");
	is_child = child;
	if (argc > 1 + child)
		only = argv[1 + child];
	if (!child)
		bench_open();
	else
		bench_json = fopen("bench/results/latest.jsonl", "a");
	printf("# views: %s (%s)\n", mech, detail);
	for (i = 0; i < ARRAY_SIZE(parts); i++)
		if (!only || !strcmp(only, parts[i].name))
			parts[i].fn();
	fflush(stdout);
	if (!child && !only && !strcmp(mech, "uffd")) {
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
