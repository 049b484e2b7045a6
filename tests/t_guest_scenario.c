// SPDX-License-Identifier: MIT
/*
 * A guest-driven scenario modelled on the kernel's private-memory conversion
 * test.  Each software vCPU (a thread) owns a 2 MiB + 4 KiB chunk; for the
 * ranges (0,4K) (0,2M) (4K,4K) (4K,2M) (2M,4K) the guest fills the chunk,
 * takes the range private through memory-fault exits handled by this VMM
 * loop, writes it, hands odd pages back and forth with the host, returns
 * the range to shared, and finally reads a punched private range as zeros.
 * Run with 1 and 4 vCPUs, 1 and 4 memslots, under contentmodes (PRESERVE)
 * and v8 (flags 0, contents untouched).
 */
#include <linux/falloc.h>
#include <pthread.h>

#include "harness.h"

#define CHUNK (2 * 1024 * 1024 + PAGE)
#define BASE 0x40000000ULL
#define MAX_VCPUS 4
#define PRIV GMEMU_ACCESS_PRIVATE
#define W GMEMU_ACCESS_WRITE

struct scenario {
	int vm, gmem;
	uint8_t *view;
	uint64_t flags; /* content mode for every conversion */
	int nr_vcpus;
};

static struct scenario sc_;

/* The VMM's conversion: the gmem backs the GPA space linearly from BASE. */
static void vmm_convert(uint64_t gpa, uint64_t len, bool private)
{
	CHECK_CONVERT(sc_.gmem, gpa - BASE, len, private, sc_.flags);
}

/* A guest access, run as a vCPU loop: a memory-fault exit is served by
 * converting the page to the access's intent, then the access retries. */
static void guest(uint64_t gpa, void *buf, size_t len, unsigned int flags)
{
	struct gmemu_exit ex;
	int tries;

	for (tries = 0; tries < 1024; tries++) {
		int r = gmemu_guest_access(sc_.vm, gpa, buf, len, flags, &ex);

		if (r == 0)
			return;
		if (r != -1 || errno != EFAULT || ex.exit_reason != KVM_EXIT_MEMORY_FAULT)
			FAIL("guest access %#llx: %d %s", (unsigned long long)gpa,
			     r, strerror(errno));
		CHECK_EQ(!!(ex.memory_fault.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE),
			 !!(flags & PRIV));
		vmm_convert(ex.memory_fault.gpa, ex.memory_fault.size, flags & PRIV);
	}
	FAIL("access never completed");
}

static void guest_fill(uint64_t gpa, uint8_t v, size_t len, unsigned int flags)
{
	uint8_t *buf = malloc(len);

	memset(buf, v, len);
	guest(gpa, buf, len, flags | W);
	free(buf);
}

static void guest_expect(uint64_t gpa, uint8_t v, size_t len, unsigned int flags)
{
	uint8_t *buf = malloc(len);
	size_t i;

	guest(gpa, buf, len, flags);
	for (i = 0; i < len; i++)
		if (buf[i] != v)
			FAIL("guest read %#x at %#llx, expected %#x", buf[i],
			     (unsigned long long)(gpa + i), v);
	free(buf);
}

static void host_expect(uint64_t gpa, uint8_t v, size_t len)
{
	const uint8_t *p = sc_.view + (gpa - BASE);
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			FAIL("host read %#x at %#llx, expected %#x", p[i],
			     (unsigned long long)(gpa + i), v);
}

static const struct { uint64_t off, size; } ranges[] = {
	{ 0, PAGE }, { 0, 2 * 1024 * 1024 }, { PAGE, PAGE },
	{ PAGE, 2 * 1024 * 1024 }, { 2 * 1024 * 1024, PAGE },
};

static void *vcpu(void *arg)
{
	uint64_t chunk = BASE + (uintptr_t)arg * CHUNK, p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		uint64_t start = chunk + ranges[i].off, size = ranges[i].size;

		guest_fill(chunk, 0x11, CHUNK, 0);
		host_expect(chunk, 0x11, CHUNK);

		/* the range goes private through memory-fault exits */
		guest_fill(start, 0x22, size, PRIV);
		for (p = start; p < start + size; p += PAGE)
			CHECK_SIGBUS_READ(sc_.view + (p - BASE));
		host_expect(chunk, 0x11, start - chunk);
		host_expect(start + size, 0x11, chunk + CHUNK - (start + size));

		/* odd pages back to shared, hand-offs both ways */
		for (p = start + PAGE; p < start + size; p += 2 * PAGE) {
			vmm_convert(p, PAGE, false); /* explicit request */
			memset(sc_.view + (p - BASE), 0x33, PAGE);
			guest_expect(p, 0x33, PAGE, 0);
			guest_fill(p, 0x44, PAGE, 0);
			host_expect(p, 0x44, PAGE);
		}

		/* the whole range back to shared, through exits */
		guest_expect(start, 0x22, PAGE, PRIV);
		for (p = start; p < start + size; p += PAGE) {
			bool odd = ((p - start) / PAGE) & 1;

			guest_expect(p, odd ? 0x44 : 0x22, PAGE, 0);
		}
		host_expect(start, 0x22, PAGE);

		/* a private range reads zero after the host punches it */
		vmm_convert(start, size, true);
		CHECK_OK(gmemu_fallocate(sc_.gmem, FALLOC_FL_KEEP_SIZE |
						   FALLOC_FL_PUNCH_HOLE,
					 start - BASE, size));
		guest_expect(start, 0, size, PRIV);
		vmm_convert(start, size, false);
	}
	return NULL;
}

static void run(const char *profile, uint64_t flags, int vcpus, int slots)
{
	int kvm = open_kvm(profile), i;
	uint64_t total = (uint64_t)MAX_VCPUS * CHUNK, per = total / slots;
	pthread_t t[MAX_VCPUS];

	sc_.vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	sc_.gmem = create_gmem(sc_.vm, total, GUEST_MEMFD_FLAG_MMAP |
						      GUEST_MEMFD_FLAG_INIT_SHARED);
	sc_.view = map_gmem(sc_.gmem, total, 0);
	sc_.flags = flags;
	for (i = 0; i < slots; i++) {
		struct kvm_userspace_memory_region2 r = {
			.slot = (uint32_t)i, .flags = KVM_MEM_GUEST_MEMFD,
			.guest_phys_addr = BASE + i * per, .memory_size = per,
			/* as the kernel test: userspace_addr is the view */
			.userspace_addr = (uintptr_t)sc_.view + i * per,
			.guest_memfd = (uint32_t)sc_.gmem,
			.guest_memfd_offset = i * per,
		};

		CHECK_OK(gmemu_ioctl(sc_.vm, KVM_SET_USER_MEMORY_REGION2, &r));
	}
	for (i = 0; i < vcpus; i++)
		CHECK(pthread_create(&t[i], NULL, vcpu, (void *)(uintptr_t)i) == 0);
	for (i = 0; i < vcpus; i++)
		pthread_join(t[i], NULL);
}

TEST(contentmodes_1_vcpu_1_memslot) { run("contentmodes", KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, 1, 1); }
TEST(contentmodes_4_vcpus_1_memslot) { run("contentmodes", KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, 4, 1); }
TEST(contentmodes_1_vcpu_4_memslots) { run("contentmodes", KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, 1, 4); }
TEST(contentmodes_4_vcpus_4_memslots) { run("contentmodes", KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, 4, 4); }
TEST(v8_1_vcpu_1_memslot) { run("v8", 0, 1, 1); }
TEST(v8_4_vcpus_1_memslot) { run("v8", 0, 4, 1); }
TEST(v8_1_vcpu_4_memslots) { run("v8", 0, 1, 4); }
TEST(v8_4_vcpus_4_memslots) { run("v8", 0, 4, 4); }
