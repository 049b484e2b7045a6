// SPDX-License-Identifier: MIT
/*
 * Bad user pointers: every struct gmemu decodes or writes, and every buffer
 * it reads or fills, goes through checked copies.  A pointer that is NULL,
 * tiny, unmapped, PROT_NONE, read-only (for what gmemu writes), into a
 * private page of a gmem view, or to a struct that runs into an
 * inaccessible page (for what gmemu reads) is EFAULT with nothing changed
 * -- never a signal inside the library.
 */
#include <linux/kvm_para.h>

#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define PRESERVE KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define ZERO KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define BASE 0x100000ULL
#define W GMEMU_ACCESS_WRITE
#define PRIV GMEMU_ACCESS_PRIVATE
#define RO_BYTE 0xa5

struct bad_ptr {
	const char *what;
	void *p;
};

static uint8_t *ro_page;

static uint8_t *map_anon(size_t len, int prot)
{
	uint8_t *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/*
 * The bad pointers for an argument of len bytes: what gmemu reads (input)
 * or what it writes (output: a read-only page too).  Returns how many.
 */
static int bad_ptrs(struct bad_ptr *out, size_t len, bool output)
{
	static uint8_t *unmapped, *none, *priv, *edge;
	int n = 0;

	if (!unmapped) {
		int kvm = open_kvm("contentmodes");
		int vm = create_vm(kvm, GMEMU_VM_PKVM);
		int g = create_gmem(vm, 2 * PAGE, SHARED);
		size_t hole = 64ULL << 30;

		/* the middle of a large hole: later mappings land at its
		 * top, far from it */
		unmapped = mmap(NULL, hole, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		CHECK(unmapped != MAP_FAILED);
		CHECK_OK(munmap(unmapped, hole));
		unmapped += hole / 2;
		none = map_anon(PAGE, PROT_NONE);
		/* a struct that starts in a page and ends in the next,
		 * inaccessible one */
		edge = map_anon(2 * PAGE, PROT_READ | PROT_WRITE);
		CHECK_OK(mprotect(edge + PAGE, PAGE, PROT_NONE));
		priv = map_gmem(g, 2 * PAGE, 0);
		CHECK_CONVERT(g, 0, PAGE, true, PRESERVE);
		ro_page = map_anon(PAGE, PROT_READ | PROT_WRITE);
		memset(ro_page, RO_BYTE, PAGE);
		CHECK_OK(mprotect(ro_page, PAGE, PROT_READ));
	}
	{
		unsigned char vec;

		errno = 0;
		CHECK(mincore(unmapped, PAGE, &vec) == -1 && errno == ENOMEM);
	}
	out[n++] = (struct bad_ptr){ "NULL", NULL };
	out[n++] = (struct bad_ptr){ "(void *)1", (void *)1 };
	out[n++] = (struct bad_ptr){ "unmapped", unmapped };
	out[n++] = (struct bad_ptr){ "PROT_NONE", none };
	out[n++] = (struct bad_ptr){ "private view page", priv + 64 };
	if (!output && len > 1)
		out[n++] = (struct bad_ptr){ "runs into PROT_NONE",
					     edge + PAGE - len / 2 };
	if (output)
		out[n++] = (struct bad_ptr){ "read-only", ro_page };
	return n;
}

static void check_ro_intact(void)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		if (ro_page[i] != RO_BYTE)
			FAIL("gmemu wrote into a read-only page at %zu", i);
}

/* The lowest descriptor number free now. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	close(fd);
	return fd;
}

#define CHECK_EFAULT(call, bp)                                            \
	do {                                                              \
		errno = 0;                                                \
		long r__ = (long)(call);                                  \
		if (r__ != -1 || errno != EFAULT)                         \
			FAIL("%s with %s = %ld errno %d, expected EFAULT", \
			     #call, (bp)->what, r__, errno);              \
	} while (0)

static int new_gmem(int *vm_out, uint64_t size)
{
	int vm = create_vm(open_kvm("contentmodes"), GMEMU_VM_PKVM);

	if (vm_out)
		*vm_out = vm;
	return create_gmem(vm, size, SHARED);
}

static void check_all_shared(int g, int pages)
{
	int p;

	for (p = 0; p < pages; p++)
		if (is_private(g, (uint64_t)p * PAGE))
			FAIL("page %d changed to private", p);
}

/* Rule: KVM_SET_MEMORY_ATTRIBUTES2's argument is read through a checked
 * copy: a bad one is EFAULT and no page changes. */
TEST(set_attributes2_bad_struct)
{
	struct bad_ptr bad[8];
	int g = new_gmem(NULL, 4 * PAGE), n, i;

	n = bad_ptrs(bad, sizeof(struct kvm_memory_attributes2), false);
	for (i = 0; i < n; i++)
		CHECK_EFAULT(gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, bad[i].p),
			     &bad[i]);
	check_all_shared(g, 4);
}

/* A conversion whose struct lies in a read-only page. */
static int convert_ro(int g, uint64_t off, bool private, uint64_t flags)
{
	struct kvm_memory_attributes2 *a;
	uint8_t *page = map_anon(PAGE, PROT_READ | PROT_WRITE), copy[PAGE];
	int r;

	a = (struct kvm_memory_attributes2 *)page;
	a->offset = off;
	a->size = PAGE;
	a->attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	a->flags = flags;
	a->error_offset = 0xdeadbeef;
	memcpy(copy, page, PAGE);
	CHECK_OK(mprotect(page, PAGE, PROT_READ));
	r = gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, a) ? -errno : 0;
	CHECK(memcmp(copy, page, PAGE) == 0);
	munmap(page, PAGE);
	return r;
}

/* Rule: error_offset is written back only on EAGAIN, EOPNOTSUPP and
 * ENOMEM; when that write-back fails the call is EFAULT and the failed
 * conversion's outcome stands (attributes unchanged).  A read-only struct
 * is fine when nothing is written back. */
TEST(set_attributes2_read_only_struct)
{
	int g = new_gmem(NULL, 4 * PAGE);

	CHECK_OK(gmemu_pin(g, PAGE, PAGE)); /* EAGAIN */
	CHECK_EQ(convert_ro(g, PAGE, true, 0), -EFAULT);
	CHECK(!is_private(g, PAGE));
	CHECK_OK(gmemu_unpin(g, PAGE, PAGE));
	/* EOPNOTSUPP: ZERO to private */
	CHECK_EQ(convert_ro(g, 0, true, ZERO), -EFAULT);
	CHECK(!is_private(g, 0));
	/* ENOMEM */
	CHECK_OK(gmemu_inject_enomem(g, 1));
	CHECK_EQ(convert_ro(g, 2 * PAGE, true, 0), -EFAULT);
	check_all_shared(g, 4);
	/* success writes nothing back */
	CHECK_EQ(convert_ro(g, 3 * PAGE, true, PRESERVE), 0);
	CHECK(is_private(g, 3 * PAGE));
	CHECK_EQ(convert_ro(g, 3 * PAGE, false, 0), 0);
	check_all_shared(g, 4);
}

/* Rule: KVM_CREATE_GUEST_MEMFD with a bad argument is EFAULT and creates
 * no descriptor; a read-only one works (nothing is written back). */
TEST(create_guest_memfd_bad_struct)
{
	int vm = create_vm(open_kvm("contentmodes"), GMEMU_VM_PKVM), n, i, fd;
	struct kvm_create_guest_memfd *c;
	struct bad_ptr bad[8];

	n = bad_ptrs(bad, sizeof(*c), false);
	fd = lowest_free_fd();
	for (i = 0; i < n; i++) {
		CHECK_EFAULT(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, bad[i].p),
			     &bad[i]);
		CHECK_EQ(lowest_free_fd(), fd);
	}
	c = (struct kvm_create_guest_memfd *)map_anon(PAGE, PROT_READ | PROT_WRITE);
	c->size = PAGE;
	c->flags = SHARED;
	CHECK_OK(mprotect(c, PAGE, PROT_READ));
	CHECK_EQ(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, c), fd);
}

/* Is gpa outside every memslot of vm (a guest access there is MMIO)? */
static bool no_memslot_at(int vm, uint64_t gpa)
{
	struct gmemu_exit ex;
	uint8_t b;

	return gmemu_guest_access(vm, gpa, &b, 1, 0, &ex) == 1 &&
	       ex.exit_reason == KVM_EXIT_MMIO;
}

/* Rule: KVM_SET_USER_MEMORY_REGION(2) with a bad argument is EFAULT and
 * adds no memslot. */
TEST(set_user_memory_region_bad_struct)
{
	int vm, g = new_gmem(&vm, 4 * PAGE), n, i;
	struct kvm_userspace_memory_region2 r2 = {
		.slot = 3, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = 4 * PAGE, .guest_memfd = (uint32_t)g,
	};
	uint8_t *plain = map_anon(4 * PAGE, PROT_READ | PROT_WRITE);
	struct kvm_userspace_memory_region r1 = {
		.slot = 4, .guest_phys_addr = 2 * BASE, .memory_size = 4 * PAGE,
		.userspace_addr = (uintptr_t)plain,
	};
	struct bad_ptr bad[8];

	n = bad_ptrs(bad, sizeof(r2), false);
	for (i = 0; i < n; i++)
		CHECK_EFAULT(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2,
					 bad[i].p), &bad[i]);
	n = bad_ptrs(bad, sizeof(r1), false);
	for (i = 0; i < n; i++)
		CHECK_EFAULT(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION,
					 bad[i].p), &bad[i]);
	CHECK(no_memslot_at(vm, BASE));
	CHECK(no_memslot_at(vm, 2 * BASE));
	/* the slot ids and the gmem range are still free */
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r2));
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r1));
	CHECK(!no_memslot_at(vm, BASE));
	CHECK(!no_memslot_at(vm, 2 * BASE));
}

/* Rule: the 6.18 profile's per-VM KVM_SET_MEMORY_ATTRIBUTES with a bad
 * argument is EFAULT and no attribute changes. */
TEST(set_memory_attributes_6_18_bad_struct)
{
	int vm = create_vm(open_kvm("6.18"), KVM_X86_SW_PROTECTED_VM), n, i;
	uint8_t *plain = map_anon(PAGE, PROT_READ | PROT_WRITE);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = BASE, .memory_size = PAGE,
		.userspace_addr = (uintptr_t)plain,
	};
	struct kvm_memory_attributes a = {
		.address = BASE, .size = PAGE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	struct gmemu_exit ex;
	struct bad_ptr bad[8];
	uint8_t b;

	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r));
	plain[0] = 0x61;
	n = bad_ptrs(bad, sizeof(a), false);
	for (i = 0; i < n; i++)
		CHECK_EFAULT(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, bad[i].p),
			     &bad[i]);
	/* still shared: a shared access reads the plain memory */
	CHECK_OK(gmemu_guest_access(vm, BASE, &b, 1, 0, &ex));
	CHECK_EQ(b, 0x61);
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &a));
	CHECK_ERR(gmemu_guest_access(vm, BASE, &b, 1, 0, &ex), EFAULT);
	CHECK_EQ(ex.exit_reason, KVM_EXIT_MEMORY_FAULT);
}

/* Rule: KVM_ENABLE_CAP with a bad argument is EFAULT. */
TEST(enable_cap_bad_struct)
{
	int vm = create_vm(open_kvm("contentmodes"), KVM_X86_SNP_VM), n, i;
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_EXIT_HYPERCALL,
		.args = { 1ULL << KVM_HC_MAP_GPA_RANGE },
	};
	struct bad_ptr bad[8];

	n = bad_ptrs(bad, sizeof(cap), false);
	for (i = 0; i < n; i++)
		CHECK_EFAULT(gmemu_ioctl(vm, KVM_ENABLE_CAP, bad[i].p), &bad[i]);
	CHECK_OK(gmemu_ioctl(vm, KVM_ENABLE_CAP, &cap));
}

/* Rule: gmemu_gmem_info writes its snapshot through a checked copy. */
TEST(gmem_info_bad_output)
{
	struct bad_ptr bad[8];
	int g = new_gmem(NULL, 2 * PAGE), n, i;
	struct gmemu_gmem_info *ro;

	n = bad_ptrs(bad, sizeof(*ro), true);
	/* the read-only one carries a valid sz: only the write fails */
	ro = (struct gmemu_gmem_info *)(ro_page + PAGE - sizeof(*ro));
	CHECK_OK(mprotect(ro_page, PAGE, PROT_READ | PROT_WRITE));
	ro->sz = sizeof(*ro);
	CHECK_OK(mprotect(ro_page, PAGE, PROT_READ));
	for (i = 0; i < n; i++) {
		void *p = bad[i].p == ro_page ? (void *)ro : bad[i].p;

		/* NULL and (void *)1 are not passed here: gmemu_gmem_info
		 * takes &info->sz before its checked copy, which UBSan
		 * builds stop at (a member access through a null or
		 * misaligned pointer) */
		if ((uintptr_t)p <= 1)
			continue;
		CHECK_EFAULT(gmemu_gmem_info(g, p), &bad[i]);
	}
	CHECK_EQ(ro->sz, sizeof(*ro));
	for (i = 0; i < (int)(PAGE - sizeof(*ro)); i++)
		CHECK_EQ(ro_page[i], RO_BYTE);
}

/* Rule: gmemu_gmem_picture writes the picture through a checked copy. */
TEST(gmem_picture_bad_output)
{
	struct bad_ptr bad[8];
	int g = new_gmem(NULL, 4 * PAGE), n, i;
	char pic[17];

	n = bad_ptrs(bad, 17, true);
	for (i = 0; i < n; i++)
		CHECK_EFAULT(gmemu_gmem_picture(g, bad[i].p, 16), &bad[i]);
	check_ro_intact();
	CHECK_OK(gmemu_gmem_picture(g, pic, 16));
}

/* Rule: gmemu_vm_measurement copies out through a checked copy; a bad
 * buffer leaves the measurement as it was. */
TEST(vm_measurement_bad_output)
{
	int vm = create_vm(open_kvm("contentmodes"), KVM_X86_SNP_VM), g, n, i;
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = 2 * PAGE,
	};
	uint8_t src[PAGE], before[32], after[32];
	struct bad_ptr bad[8];

	g = create_gmem(vm, 2 * PAGE, GUEST_MEMFD_FLAG_MMAP); /* private */
	r.guest_memfd = (uint32_t)g;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	memset(src, 0x3d, sizeof(src));
	CHECK_OK(gmemu_vm_populate(vm, BASE, src, PAGE));
	CHECK_OK(gmemu_vm_measurement(vm, before));
	n = bad_ptrs(bad, 32, true);
	for (i = 0; i < n; i++)
		CHECK_EFAULT(gmemu_vm_measurement(vm, bad[i].p), &bad[i]);
	check_ro_intact();
	CHECK_OK(gmemu_vm_measurement(vm, after));
	CHECK(memcmp(before, after, 32) == 0);
}

/* Rule: gmemu_fstat copies the result out through a checked copy, on a
 * gmem and on an fd that is not gmemu's alike. */
TEST(fstat_bad_output)
{
	struct bad_ptr bad[8];
	int g = new_gmem(NULL, 2 * PAGE), n, i, p[2];
	struct stat st;

	CHECK_OK(pipe(p));
	n = bad_ptrs(bad, sizeof(st), true);
	for (i = 0; i < n; i++) {
		CHECK_EFAULT(gmemu_fstat(g, bad[i].p), &bad[i]);
		CHECK_EFAULT(gmemu_fstat(p[0], bad[i].p), &bad[i]);
	}
	check_ro_intact();
	CHECK_OK(gmemu_fstat(g, &st));
	CHECK_EQ(st.st_size, 2 * PAGE);
}

/* The VM of the guest-access cases: pages 0-1 shared (0x11), page 2
 * private, page 3 shared; a view of them. */
static int access_vm(int *gmem, uint8_t **view)
{
	int vm, g = new_gmem(&vm, 4 * PAGE);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = BASE,
		.memory_size = 4 * PAGE, .guest_memfd = (uint32_t)g,
	};

	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	*view = map_gmem(g, 4 * PAGE, 0);
	memset(*view, 0x11, 4 * PAGE);
	CHECK_CONVERT(g, 2 * PAGE, PAGE, true, PRESERVE);
	*gmem = g;
	return vm;
}

/* Rule: gmemu_guest_access reads a write's data and fills a read's buffer
 * through checked copies: a bad buffer is EFAULT and guest memory is
 * unchanged. */
TEST(guest_access_bad_buffer)
{
	struct bad_ptr bad[8];
	struct gmemu_exit ex;
	uint8_t *v;
	int g, vm = access_vm(&g, &v), n, i;

	n = bad_ptrs(bad, 16, false);
	for (i = 0; i < n; i++) {
		if (!bad[i].p)
			continue; /* NULL: EFAULT too, checked below */
		CHECK_EFAULT(gmemu_guest_access(vm, BASE + 8, bad[i].p, 16, W, &ex),
			     &bad[i]);
		CHECK_EFAULT(gmemu_guest_access(vm, BASE + PAGE - 8, bad[i].p,
						PAGE, W, &ex), &bad[i]);
	}
	CHECK_ERR(gmemu_guest_access(vm, BASE, NULL, 16, W, &ex), EFAULT);
	for (i = 0; i < (int)(2 * PAGE); i++)
		if (v[i] != 0x11)
			FAIL("guest memory changed at %d", i);
	n = bad_ptrs(bad, 16, true);
	for (i = 0; i < n; i++) {
		CHECK_EFAULT(gmemu_guest_access(vm, BASE + 8, bad[i].p, 16, 0, &ex),
			     &bad[i]);
		CHECK_EFAULT(gmemu_guest_access(vm, BASE, bad[i].p, 2 * PAGE, 0,
						&ex), &bad[i]);
	}
	check_ro_intact();
}

/* Rule: the exit is written through a checked copy: an access that must
 * report an exit (memory fault, MMIO) into a bad one is EFAULT, and does
 * nothing. */
TEST(guest_access_bad_exit)
{
	struct bad_ptr bad[8];
	uint8_t data[16], *v;
	uint64_t mmio = 0x1122334455667788ULL;
	int g, vm = access_vm(&g, &v), n, i;

	memset(data, 0x22, sizeof(data));
	n = bad_ptrs(bad, sizeof(struct gmemu_exit), true);
	for (i = 0; i < n; i++) {
		/* a shared write that meets the private page */
		CHECK_EFAULT(gmemu_guest_access(vm, 2 * PAGE + BASE - 8, data, 16,
						W, bad[i].p), &bad[i]);
		/* a private read of a shared page */
		CHECK_EFAULT(gmemu_guest_access(vm, BASE, data, 16, PRIV,
						bad[i].p), &bad[i]);
		/* MMIO */
		CHECK_EFAULT(gmemu_guest_access(vm, 0xfee00000, &mmio, 8, W,
						bad[i].p), &bad[i]);
	}
	check_ro_intact();
	CHECK_EQ(v[2 * PAGE - 1], 0x11);
	CHECK_EQ(data[0], 0x22);
	CHECK(is_private(g, 2 * PAGE));
}
