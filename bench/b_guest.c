// SPDX-License-Identifier: MIT
/*
 * Guest-driven work, with the software vCPU:
 *  6. a wrong-intent access, its memory-fault exit, the conversion and the
 *     retried access, per second; against the same loop with the conversion
 *     replaced by a no-op (the exit path alone);
 *  7. a bounce-buffer workload (per round: 64 random pages made shared,
 *     written by the host, read by the guest, made private again), rounds
 *     per second in place against the legacy two-backing model.
 */
#include <linux/falloc.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "bench.h"

#define BASE 0x100000ULL
#define PAGES 4096
#define ROUNDS 400

struct setup {
	int vm, gmem;
	uint8_t *view, *shared; /* in place: the gmem view; legacy: backing */
	bool legacy;
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static struct setup make(const char *profile)
{
	struct setup s = { .legacy = !strcmp(profile, "legacy") };
	struct kvm_create_guest_memfd c = { .size = PAGES * PAGE };
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = BASE, .memory_size = PAGES * PAGE,
	};
	int kvm = gmemu_kvm_open_abi(profile);

	s.vm = gmemu_ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	c.flags = s.legacy ? 0 : GUEST_MEMFD_FLAG_MMAP;
	s.gmem = gmemu_ioctl(s.vm, KVM_CREATE_GUEST_MEMFD, &c);
	if (s.gmem < 0)
		die("KVM_CREATE_GUEST_MEMFD");
	if (s.legacy) {
		s.shared = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		r.userspace_addr = (uintptr_t)s.shared;
		/* everything private, as in the in-place setup */
		struct kvm_memory_attributes a = {
			.address = BASE, .size = PAGES * PAGE,
			.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
		};
		if (gmemu_ioctl(s.vm, KVM_SET_MEMORY_ATTRIBUTES, &a))
			die("KVM_SET_MEMORY_ATTRIBUTES");
	} else {
		s.view = gmemu_mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
				    MAP_SHARED, s.gmem, 0);
		r.userspace_addr = (uintptr_t)s.view;
	}
	r.guest_memfd = (uint32_t)s.gmem;
	if (gmemu_ioctl(s.vm, KVM_SET_USER_MEMORY_REGION2, &r))
		die("KVM_SET_USER_MEMORY_REGION2");
	return s;
}

/* The VMM's conversion of one page. */
static void set_page(struct setup *s, uint64_t page, bool priv)
{
	if (s->legacy) {
		struct kvm_memory_attributes a = {
			.address = BASE + page * PAGE, .size = PAGE,
			.attributes = priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		};

		if (gmemu_ioctl(s->vm, KVM_SET_MEMORY_ATTRIBUTES, &a))
			die("KVM_SET_MEMORY_ATTRIBUTES");
		/* shipping VMMs discard the shared copy on to-private */
		if (priv)
			madvise(s->shared + page * PAGE, PAGE, MADV_REMOVE);
	} else {
		struct kvm_memory_attributes2 a = {
			.offset = page * PAGE, .size = PAGE,
			.attributes = priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		};

		if (gmemu_ioctl(s->gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a))
			die("KVM_SET_MEMORY_ATTRIBUTES2");
	}
}

/* 6: wrong intent -> exit -> (conversion | nothing) -> access completes. */
static double exit_loop(bool convert, int iterations)
{
	struct setup s = make("contentmodes");
	struct gmemu_exit ex;
	uint64_t data = 0;
	double t0;
	int i;

	set_page(&s, 7, true);
	t0 = bench_now_ns();
	for (i = 0; i < iterations; i++) {
		bool want_private = convert ? (i & 1) == 0 : false;
		unsigned int flags = GMEMU_ACCESS_WRITE |
				     (want_private ? GMEMU_ACCESS_PRIVATE : 0);
		int r;

		/* page 7 is private on even rounds with conversions, always
		 * private without: the first access exits */
		r = gmemu_guest_access(s.vm, BASE + 7 * PAGE, &data, 8,
				       convert ? (flags ^ GMEMU_ACCESS_PRIVATE) : flags,
				       &ex);
		if (r != -1 || ex.exit_reason != KVM_EXIT_MEMORY_FAULT)
			die("expected a memory-fault exit");
		if (convert)
			set_page(&s, 7, !(ex.memory_fault.flags == 0) ? true : false);
		r = gmemu_guest_access(s.vm, BASE + 7 * PAGE, &data, 8,
				       convert ? (flags ^ GMEMU_ACCESS_PRIVATE)
					       : (flags | GMEMU_ACCESS_PRIVATE),
				       &ex);
		if (r)
			die("retried access");
	}
	return (bench_now_ns() - t0) / iterations;
}

/* 7: the bounce-buffer round. */
static double bounce_rounds(const char *profile)
{
	struct setup s = make(profile);
	struct gmemu_exit ex;
	uint64_t pages[64];
	uint32_t seed = 1;
	uint8_t buf[PAGE];
	double t0;
	int r, i;

	t0 = bench_now_ns();
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < 64; i++) {
			seed = seed * 1103515245u + 12345u;
			pages[i] = (seed >> 8) % PAGES;
			set_page(&s, pages[i], false);
		}
		for (i = 0; i < 64; i++) {
			uint8_t *host = (s.legacy ? s.shared : s.view) + pages[i] * PAGE;

			memset(host, (uint8_t)r, PAGE); /* host I/O */
			if (gmemu_guest_access(s.vm, BASE + pages[i] * PAGE, buf,
					       PAGE, 0, &ex))
				die("guest read of the bounce buffer");
		}
		for (i = 0; i < 64; i++)
			set_page(&s, pages[i], true);
	}
	return (double)ROUNDS / ((bench_now_ns() - t0) / 1e9);
}

int main(void)
{
	double with, without, inplace, legacy;

	bench_open();
	without = exit_loop(false, 20000);
	with = exit_loop(true, 20000);
	printf("%-44s %10.0f/s %10.1fus per loop\n",
	       "wrong intent -> exit -> convert -> access", 1e9 / with, with / 1e3);
	printf("%-44s %10.0f/s %10.1fus per loop   ratio %.2fx\n",
	       "  baseline: exit path, conversion a no-op", 1e9 / without,
	       without / 1e3, with / without);
	inplace = bounce_rounds("contentmodes");
	legacy = bounce_rounds("legacy");
	printf("%-44s %10.0f rounds/s\n", "bounce buffers, in place", inplace);
	printf("%-44s %10.0f rounds/s   in place %.2fx of legacy\n",
	       "  baseline: legacy two-backing model", legacy, inplace / legacy);
	if (bench_json)
		fprintf(bench_json,
			"{\"figure\":\"guest exit+convert loop\",\"per_s\":%.0f,"
			"\"baseline\":\"exit path alone\",\"baseline_per_s\":%.0f,"
			"\"ratio\":%.3f}\n"
			"{\"figure\":\"bounce-buffer rounds in place\",\"per_s\":%.1f,"
			"\"baseline\":\"legacy two-backing\",\"baseline_per_s\":%.1f,"
			"\"ratio\":%.3f}\n",
			1e9 / with, 1e9 / without, with / without, inplace, legacy,
			inplace / legacy);
	return 0;
}
