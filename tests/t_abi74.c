// SPDX-License-Identifier: MIT
/*
 * contract §2 and §6: the 7.4 profile, the in-place series as queued in
 * linux-next for Linux 7.4, with kvm.gmem_in_place_conversion off (the x86
 * default) and on.  Rules read from analogdevicesinc/linux @546bb0c1
 * (virt/kvm/guest_memfd.c kvm_gmem_set_attributes/__kvm_gmem_set_attributes/
 * kvm_gmem_ioctl, virt/kvm/kvm_main.c); the switch's default and the x86
 * INIT_SHARED rule from the series' v8 (patches 24 and 25 of 46).
 */
#include "harness.h"

#define SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define CAP_74 GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4
#define CAP_V8 GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_V8

static const unsigned long types[] = { KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM,
				       GMEMU_VM_PKVM, KVM_X86_SNP_VM, KVM_X86_TDX_VM };

/* As a program under `gmemu run --abi 7.4 [--kvm-param ...]` has it: the
 * parameter's file shows the value in force. */
static int open_74(const char *param)
{
	setenv("GMEMU_ABI", "7.4", 1);
	if (param)
		setenv("GMEMU_KVM_PARAMS", param, 1);
	else
		unsetenv("GMEMU_KVM_PARAMS");
	return open_kvm("7.4");
}

static long cap(int fd, long c)
{
	return gmemu_ioctl(fd, KVM_CHECK_EXTENSION, c);
}

static char *param_value(void)
{
	static char buf[8];
	int fd = gmemu_open("/sys/module/kvm/parameters/gmem_in_place_conversion",
			    O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

TEST(cap_numbers_in_the_header)
{
	CHECK_EQ(CAP_V8, 250);
	CHECK_EQ(CAP_74, 252);
	CHECK_EQ(KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES, CAP_V8);
}

TEST(in_place_off_by_default)
{
	int kvm = open_74(NULL), vm, gmem;
	struct kvm_memory_attributes2 a = { .size = PAGE, .attributes = 8 };

	/* kvm_main.c: default !IS_ENABLED(CONFIG_KVM_VM_MEMORY_ATTRIBUTES),
	 * which x86 selects: off */
	CHECK(param_value() && !strcmp(param_value(), "N\n"));
	/* the capability reads 0; per-VM attributes as in 6.18 */
	CHECK_EQ(cap(kvm, CAP_74), 0);
	CHECK_EQ(cap(kvm, CAP_V8), 0);
	CHECK_EQ(cap(kvm, KVM_CAP_MEMORY_ATTRIBUTES), 8);
	vm = create_vm(kvm, KVM_X86_SNP_VM);
	CHECK_EQ(cap(vm, CAP_74), 0);
	CHECK_EQ(cap(vm, KVM_CAP_MEMORY_ATTRIBUTES), 8);
	/* INIT_SHARED only where nothing can be private */
	CHECK_EQ(cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS), GUEST_MEMFD_FLAG_MMAP);
	{
		struct kvm_create_guest_memfd c = { .size = PAGE, .flags = SHARED };

		CHECK_ERR(gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c), EINVAL);
	}
	/* the gmem ioctl: ENOTTY */
	gmem = create_gmem(vm, PAGE, GUEST_MEMFD_FLAG_MMAP);
	CHECK_ERR(gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a), ENOTTY);
	{
		struct kvm_memory_attributes va = { .address = 0x100000, .size = PAGE,
						    .attributes = 8 };

		CHECK_OK(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &va));
	}
}

TEST(in_place_on)
{
	int kvm = open_74("gmem_in_place_conversion=Y"), vm, i;
	struct kvm_memory_attributes va = { .address = 0x100000, .size = PAGE };

	CHECK(param_value() && !strcmp(param_value(), "Y\n"));
	/* PRIVATE where memory can be private, the system handle included */
	CHECK_EQ(cap(kvm, CAP_74), 8);
	CHECK_EQ(cap(kvm, CAP_V8), 0);
	CHECK_EQ(cap(kvm, KVM_CAP_MEMORY_ATTRIBUTES), 0);
	CHECK_EQ(cap(kvm, KVM_CAP_GUEST_MEMFD_FLAGS), 3);
	for (i = 0; i < 5; i++) {
		vm = create_vm(kvm, types[i]);
		CHECK_EQ(cap(vm, CAP_74), i ? 8 : 0);
		CHECK_EQ(cap(vm, KVM_CAP_MEMORY_ATTRIBUTES), 0);
		/* kvm_arch_supports_gmem_init_shared(): in-place || no
		 * private memory */
		CHECK_EQ(cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS), 3);
		/* no content modes, no mode capabilities */
		CHECK_EQ(cap(vm, KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), 0);
		CHECK_EQ(cap(vm, KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS), 0);
		CHECK_EQ(cap(vm, KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS), 0);
		CHECK_EQ(cap(vm, KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_PRIVATE_FLAGS), 0);
		/* the per-VM ioctl is there, with no attribute it supports */
		va.attributes = 8;
		CHECK_ERR(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &va), EINVAL);
		va.attributes = 0;
		CHECK_OK(gmemu_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &va));
		create_gmem(vm, PAGE, SHARED);
	}
}

TEST(parameter_strict_and_per_handle)
{
	int kvm;

	setenv("GMEMU_KVM_PARAMS", "gmem_in_place_conversion=maybe", 1);
	CHECK_ERR(gmemu_kvm_open_abi("7.4"), EINVAL);
	CHECK_ERR(gmemu_check_env(), EINVAL);
	setenv("GMEMU_KVM_PARAMS", "no_such_param=Y", 1);
	CHECK_ERR(gmemu_kvm_open_abi("7.4"), EINVAL);
	/* the kernel's bool spellings */
	setenv("GMEMU_KVM_PARAMS", "gmem_in_place_conversion=1", 1);
	kvm = gmemu_kvm_open_abi("7.4");
	CHECK_EQ(cap(kvm, CAP_74), 8);
	/* a handle keeps what it was opened with */
	setenv("GMEMU_KVM_PARAMS", "gmem_in_place_conversion=n", 1);
	CHECK_EQ(cap(kvm, CAP_74), 8);
	CHECK_EQ(cap(open_kvm("7.4"), CAP_74), 0);
	/* a kernel without the parameter: no file; the variable is moot */
	setenv("GMEMU_ABI", "contentmodes", 1);
	CHECK(param_value() == NULL);
	CHECK_EQ(errno, ENOENT);
	setenv("GMEMU_KVM_PARAMS", "gmem_in_place_conversion=Y", 1);
	CHECK_EQ(cap(open_kvm("contentmodes"), CAP_V8), 8);
	CHECK_EQ(cap(open_kvm("contentmodes"), CAP_74), 0);
	CHECK_EQ(cap(open_kvm("v8"), CAP_V8), 8);
	CHECK_EQ(cap(open_kvm("v8"), CAP_74), 0);
}

/* A gmem of 4 pages of an SNP VM of the 7.4 profile, in-place on. */
static int gmem74(int *vm_out)
{
	int vm = create_vm(open_74("gmem_in_place_conversion=Y"), KVM_X86_SNP_VM);

	if (vm_out)
		*vm_out = vm;
	return create_gmem(vm, 4 * PAGE, SHARED);
}

TEST(set_attributes2_checks_in_the_series_order)
{
	int gmem = gmem74(NULL);
	struct kvm_memory_attributes2 a = { .size = PAGE, .attributes = 8,
					    .error_offset = 0x5e5e };

	/* flags != 0 first (before reserved), all EINVAL, error_offset
	 * not written */
	a.flags = 2;
	a.reserved[0] = 1;
	a.size = 0;
	CHECK_ERR(gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL);
	a.flags = 0;
	CHECK_ERR(gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL);
	a.reserved[0] = 0;
	a.size = PAGE;
	a.attributes = 1;
	CHECK_ERR(gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL);
	a.attributes = 8;
	a.offset = 1;
	CHECK_ERR(gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL);
	a.offset = 4 * PAGE;
	CHECK_ERR(gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL);
	a.offset = 2 * PAGE;
	a.size = 3 * PAGE;
	CHECK_ERR(gmemu_ioctl(gmem, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL);
	CHECK_EQ(a.error_offset, 0x5e5e);
	CHECK(!is_private(gmem, 2 * PAGE));
	/* a default VM has no private memory */
	{
		int vm = create_vm(open_74("gmem_in_place_conversion=Y"), 0);
		int g = create_gmem(vm, PAGE, SHARED);

		a.offset = 0;
		a.size = PAGE;
		CHECK_ERR(gmemu_ioctl(g, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL);
	}
}

TEST(no_op_without_reference_check_and_busy_pages)
{
	int gmem = gmem74(NULL);
	uint8_t *view = map_gmem(gmem, 4 * PAGE, 0);
	uint64_t eo;

	memcpy(view + PAGE, "in place", 9);
	CHECK_OK(gmemu_pin(gmem, 2 * PAGE, PAGE));
	/* already shared: 0, no reference check */
	CHECK_EQ(set_attrs_eo(gmem, 0, 4 * PAGE, false, 0, &eo), 0);
	CHECK_EQ(eo, 0xdeadbeef);
	/* to private with a pinned page: EAGAIN at the first busy page */
	CHECK_EQ(set_attrs_eo(gmem, PAGE, 3 * PAGE, true, 0, &eo), -EAGAIN);
	CHECK_EQ(eo, 2 * PAGE);
	CHECK(!is_private(gmem, PAGE));
	CHECK_OK(gmemu_unpin(gmem, 2 * PAGE, PAGE));
	/* to private and back: contents untouched by the kernel */
	CHECK_CONVERT(gmem, PAGE, PAGE, true, 0);
	CHECK_SIGBUS_READ(view + PAGE);
	CHECK_OK(gmemu_pin(gmem, 0, PAGE));
	/* to shared checks no references */
	CHECK_CONVERT(gmem, 0, 2 * PAGE, false, 0);
	CHECK(memcmp(view + PAGE, "in place", 9) == 0);
}

TEST(populate_in_place_without_content_modes)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = 0x100000, .memory_size = 4 * PAGE,
	};
	int vm, gmem = gmem74(&vm);
	uint8_t *view = map_gmem(gmem, 4 * PAGE, 0);
	struct gmemu_exit ex;
	uint8_t b;

	r.guest_memfd = (uint32_t)gmem;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	view[7] = 0x7e;
	/* flags 0 keeps the bytes: the image goes private in place */
	CHECK_CONVERT(gmem, 0, PAGE, true, 0);
	CHECK_OK(gmemu_vm_populate(vm, 0x100000, NULL, PAGE));
	CHECK_OK(gmemu_vm_finalize(vm));
	CHECK_OK(gmemu_guest_access(vm, 0x100007, &b, 1, GMEMU_ACCESS_PRIVATE, &ex));
	CHECK_EQ(b, 0x7e);
}

TEST(info_names_the_profile)
{
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	int gmem = gmem74(NULL);

	CHECK_OK(gmemu_gmem_info(gmem, &info));
	CHECK(!strcmp(info.profile, "7.4"));
}

TEST(overlapping_guest_memfd_binding_is_eexist)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = 0x100000, .memory_size = 2 * PAGE,
	};
	int vm, gmem = gmem74(&vm);

	r.guest_memfd = (uint32_t)gmem;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
	/* kvm_gmem_commit_memory_region(): the range is bound already */
	r.slot = 1;
	r.guest_phys_addr = 0x200000;
	r.guest_memfd_offset = PAGE;
	CHECK_ERR(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r), EEXIST);
	r.guest_memfd_offset = 2 * PAGE;
	CHECK_OK(gmemu_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r));
}
