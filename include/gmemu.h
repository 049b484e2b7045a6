/* SPDX-License-Identifier: MIT */
/*
 * gmemu: guest_memfd with in-place shared/private conversion, in user space.
 *
 * Every entry point named after a system call behaves like it: -1 and errno
 * on failure (MAP_FAILED for gmemu_mmap).  An fd that is not one of gmemu's
 * goes to the real system call unchanged; one that is never does.  A bad
 * pointer argument is EFAULT with nothing changed.  docs/contract.md is the
 * behavioural contract; docs/reference.md documents every call.
 */
#ifndef GMEMU_H
#define GMEMU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <linux/kvm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GMEMU_API __attribute__((visibility("default")))

/* The version, defined here only (the build reads it from this header). */
#define GMEMU_VERSION_MAJOR 0
#define GMEMU_VERSION_MINOR 2
#define GMEMU_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library actually loaded. */
GMEMU_API const char *gmemu_version(void);

/*
 * The mechanism behind this process's host views, chosen once per process:
 * "uffd" (one userfaultfd-registered mapping per view, no mapping per
 * extent) or "mapfixed" (one mapping per extent).  GMEMU_VIEWS=auto (the
 * default), uffd, uffd-isolate or mapfixed chooses; auto takes userfaultfd
 * where the kernel and the seccomp filter allow it.  *detail (if not NULL)
 * says why, in words.  NULL with errno EINVAL when GMEMU_VIEWS is refused,
 * or the errno that keeps the mechanism GMEMU_VIEWS forces from running.
 */
GMEMU_API const char *gmemu_views_mechanism(const char **detail);

/*
 * Check every GMEMU_* variable the library reads (GMEMU_ABI,
 * GMEMU_KVM_PARAMS, GMEMU_TRACE, GMEMU_REVOKE_TIMEOUT_MS, GMEMU_VCPU,
 * GMEMU_VIEWS, GMEMU_PRELOAD_FOLLOW): 0, or -1/EINVAL after one line on
 * stderr per refused value, naming the variable and what it accepts.  The
 * call that reads a refused variable fails EINVAL the same way.
 */
GMEMU_API int gmemu_check_env(void);

/*
 * UAPI the build machine's <linux/kvm.h> may lack.  Values are the kernel's
 * (or, for the content-mode capabilities, the provisional ones of SPEC 3).
 */
#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2 231
#endif
#ifndef KVM_CAP_MEMORY_FAULT_INFO
#define KVM_CAP_MEMORY_FAULT_INFO 232
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES
#define KVM_CAP_MEMORY_ATTRIBUTES 233
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD 234
#endif
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
#endif
#ifndef KVM_CAP_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY 236
#endif
/*
 * KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES moved while the in-place series
 * was reviewed: 250 in its v8 (and the content-mode design), 252 as queued
 * for Linux 7.4.  Each profile answers at its own number only (0 at the
 * other).  The kernel name keeps v8's number here; a program built against
 * a 7.4 <linux/kvm.h> gets 252, which the 7.4 profile answers.
 */
#define GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_V8 250
#define GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_7_4 252
#ifndef KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES
#define KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES GMEMU_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES_V8
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS
#define KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS 1000
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS
#define KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_FLAGS 1001
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS
#define KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_FLAGS 1002
#endif
/*
 * gmemu's own provisional numbers (content-mode design, contentmodes
 * profile): the modes KVM_SET_MEMORY_ATTRIBUTES2 accepts for one direction
 * in one launch phase.  A VMM converting to shared before finalize may use
 * exactly the bits of ..._PRE_LAUNCH_SHARED_FLAGS, and so on; flags = 0 is
 * always accepted.  0 in every other profile.
 */
#define KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_SHARED_FLAGS 1003
#define KVM_CAP_MEMORY_ATTRIBUTES2_PRE_LAUNCH_PRIVATE_FLAGS 1004
#define KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_SHARED_FLAGS 1005
#define KVM_CAP_MEMORY_ATTRIBUTES2_POST_LAUNCH_PRIVATE_FLAGS 1006

#ifndef KVM_X86_DEFAULT_VM
#define KVM_X86_DEFAULT_VM 0
#endif
#ifndef KVM_X86_SW_PROTECTED_VM
#define KVM_X86_SW_PROTECTED_VM 1
#endif
#ifndef KVM_X86_SNP_VM
#define KVM_X86_SNP_VM 4
#endif
#ifndef KVM_X86_TDX_VM
#define KVM_X86_TDX_VM 5
#endif
/* A pKVM-like model (stage-2 protection, no encryption) on this API. */
#define GMEMU_VM_PKVM (1UL << 31)

#ifndef KVM_MEMORY_ATTRIBUTE_PRIVATE
#define KVM_MEMORY_ATTRIBUTE_PRIVATE (1ULL << 3)
#endif

#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#endif
#ifndef GUEST_MEMFD_FLAG_INIT_SHARED
#define GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
#endif

#ifndef KVM_SET_MEMORY_ATTRIBUTES2_ZERO
#define KVM_SET_MEMORY_ATTRIBUTES2_ZERO (1ULL << 0)
#endif
#ifndef KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
#define KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE (1ULL << 1)
#endif

#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif

#ifndef KVM_SET_MEMORY_ATTRIBUTES
struct kvm_memory_attributes {
	__u64 address;
	__u64 size;
	__u64 attributes;
	__u64 flags;
};
#define KVM_SET_MEMORY_ATTRIBUTES _IOW(KVMIO, 0xd2, struct kvm_memory_attributes)
#endif

#ifndef KVM_SET_MEMORY_ATTRIBUTES2
struct kvm_memory_attributes2 {
	union {
		__u64 address;
		__u64 offset;
	};
	__u64 size;
	__u64 attributes;
	__u64 flags;
	__u64 error_offset; /* out: written on EOPNOTSUPP, EAGAIN, ENOMEM */
	__u64 reserved[11];
};
#define KVM_SET_MEMORY_ATTRIBUTES2 _IOWR(KVMIO, 0xd2, struct kvm_memory_attributes2)
#endif

#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD (1UL << 2)
#endif

#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 \
	_IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif

#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif
#ifndef KVM_MEMORY_EXIT_FLAG_PRIVATE
#define KVM_MEMORY_EXIT_FLAG_PRIVATE (1ULL << 3)
#endif

#ifndef KVM_PRE_FAULT_MEMORY
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;   /* in/out: what is left */
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

/*
 * The vendor launch commands of KVM_MEMORY_ENCRYPT_OP (SEV-SNP since Linux
 * 6.11, TDX since 6.16), with the kernel's layouts, for build machines
 * whose <linux/kvm.h> predates them.
 */
#ifndef KVM_X86_SEV_VM
#define KVM_X86_SEV_VM 2
#define KVM_X86_SEV_ES_VM 3
#define KVM_SEV_INIT2 22
struct kvm_sev_init {
	__u64 vmsa_features;
	__u32 flags;
	__u16 ghcb_version;
	__u16 pad1;
	__u32 pad2[8];
};
#endif

#ifndef KVM_SEV_SNP_PAGE_TYPE_NORMAL
#define KVM_SEV_SNP_LAUNCH_START 100
#define KVM_SEV_SNP_LAUNCH_UPDATE 101
#define KVM_SEV_SNP_LAUNCH_FINISH 102
struct kvm_sev_snp_launch_start {
	__u64 policy;
	__u8 gosvw[16];
	__u16 flags;
	__u8 pad0[6];
	__u64 pad1[4];
};
#define KVM_SEV_SNP_PAGE_TYPE_NORMAL 0x1
#define KVM_SEV_SNP_PAGE_TYPE_ZERO 0x3
#define KVM_SEV_SNP_PAGE_TYPE_UNMEASURED 0x4
#define KVM_SEV_SNP_PAGE_TYPE_SECRETS 0x5
#define KVM_SEV_SNP_PAGE_TYPE_CPUID 0x6
struct kvm_sev_snp_launch_update {
	__u64 gfn_start;
	__u64 uaddr;  /* 0: in place (profiles with in-place conversion) */
	__u64 len;
	__u8 type;
	__u8 pad0;
	__u16 flags;
	__u32 pad1;
	__u64 pad2[4];
};
#define KVM_SEV_SNP_ID_BLOCK_SIZE 96
#define KVM_SEV_SNP_ID_AUTH_SIZE 4096
#define KVM_SEV_SNP_FINISH_DATA_SIZE 32
struct kvm_sev_snp_launch_finish {
	__u64 id_block_uaddr;
	__u64 id_auth_uaddr;
	__u8 id_block_en;
	__u8 auth_key_en;
	__u8 vcek_disabled;
	__u8 host_data[KVM_SEV_SNP_FINISH_DATA_SIZE];
	__u8 pad0[3];
	__u16 flags;
	__u64 pad1[4];
};
#endif

#ifndef KVM_TDX_MEASURE_MEMORY_REGION
#define KVM_TDX_CAPABILITIES 0
#define KVM_TDX_INIT_VM 1
#define KVM_TDX_INIT_VCPU 2
#define KVM_TDX_INIT_MEM_REGION 3
#define KVM_TDX_FINALIZE_VM 4
#define KVM_TDX_GET_CPUID 5
struct kvm_tdx_cmd {
	__u32 id;
	__u32 flags;
	__u64 data;
	__u64 hw_error;
};
struct kvm_tdx_capabilities {
	__u64 supported_attrs;
	__u64 supported_xfam;
	__u64 kernel_tdvmcallinfo_1_r11;
	__u64 user_tdvmcallinfo_1_r11;
	__u64 kernel_tdvmcallinfo_1_r12;
	__u64 user_tdvmcallinfo_1_r12;
	__u64 reserved[250];
	struct kvm_cpuid2 cpuid;
};
struct kvm_tdx_init_vm {
	__u64 attributes;
	__u64 xfam;
	__u64 mrconfigid[6];
	__u64 mrowner[6];
	__u64 mrownerconfig[6];
	__u64 reserved[12];
	struct kvm_cpuid2 cpuid;
};
#define KVM_TDX_MEASURE_MEMORY_REGION (1UL << 0)
struct kvm_tdx_init_mem_region {
	__u64 source_addr; /* 0: in place (profiles with in-place conversion) */
	__u64 gpa;
	__u64 nr_pages;
};
#endif

/* ---- entry points that mirror system calls ---- */

/* The analogue of open("/dev/kvm"): profile from $GMEMU_ABI (default
 * "contentmodes"). */
GMEMU_API int gmemu_kvm_open(void);
/* Same with an explicit ABI profile: "contentmodes", "v8", "7.4", "6.18"
 * (or "legacy"), "6.12"; NULL = env.  The kvm module's parameters come from
 * $GMEMU_KVM_PARAMS either way (gmem_in_place_conversion=Y|N, default N:
 * the 7.4 profile's in-place conversion). */
GMEMU_API int gmemu_kvm_open_abi(const char *profile);

GMEMU_API int gmemu_ioctl(int fd, unsigned long request, ...);
GMEMU_API void *gmemu_mmap(void *addr, size_t len, int prot, int flags, int fd,
			   off_t offset);
GMEMU_API int gmemu_munmap(void *addr, size_t len);
GMEMU_API int gmemu_fallocate(int fd, int mode, off_t offset, off_t len);
GMEMU_API int gmemu_fstat(int fd, struct stat *st);
GMEMU_API ssize_t gmemu_read(int fd, void *buf, size_t count);
GMEMU_API ssize_t gmemu_write(int fd, const void *buf, size_t count);
GMEMU_API ssize_t gmemu_pread(int fd, void *buf, size_t count, off_t offset);
GMEMU_API ssize_t gmemu_pwrite(int fd, const void *buf, size_t count,
			       off_t offset);
GMEMU_API int gmemu_ftruncate(int fd, off_t length);
GMEMU_API int gmemu_close(int fd);

/*
 * More mirrors, for programs (and the LD_PRELOAD interposer) that route
 * every descriptor and path through gmemu.  A duplicated gmemu descriptor
 * names the same object; lseek and the stat calls report a gmem's own size;
 * /dev/kvm, /dev/sev (the sev_fd the SEV launch commands check) and the kvm
 * module's parameters under /sys/module/kvm/parameters exist whether or
 * not the host has them (gmemu_path_emulated tells which
 * paths gmemu answers); madvise and mremap follow guest_memfd's rules on
 * views; gmemu's own descriptors cannot be closed or replaced through them
 * (EBADF, EBUSY).
 */
GMEMU_API int gmemu_open(const char *path, int flags, ...);
GMEMU_API int gmemu_openat(int dirfd, const char *path, int flags, ...);
GMEMU_API int gmemu_access(const char *path, int mode);
GMEMU_API int gmemu_fstatat(int dirfd, const char *path, struct stat *st,
			    int flags);
struct statx;
GMEMU_API int gmemu_statx(int dirfd, const char *path, int flags,
			  unsigned int mask, struct statx *stx);
GMEMU_API off_t gmemu_lseek(int fd, off_t offset, int whence);
GMEMU_API int gmemu_dup(int fd);
GMEMU_API int gmemu_dup2(int oldfd, int newfd);
GMEMU_API int gmemu_dup3(int oldfd, int newfd, int flags);
GMEMU_API int gmemu_fcntl(int fd, int cmd, ...);
GMEMU_API int gmemu_close_range(unsigned int first, unsigned int last,
				int flags);
GMEMU_API int gmemu_madvise(void *addr, size_t len, int advice);
GMEMU_API void *gmemu_mremap(void *old_addr, size_t old_size, size_t new_size,
			     int flags, ...);

/* What a descriptor is to gmemu (gmemu_fd_kind). */
enum gmemu_fd_kind {
	GMEMU_FD_NONE = 0,   /* not gmemu's: the kernel's business */
	GMEMU_FD_SYSTEM,     /* the /dev/kvm handle */
	GMEMU_FD_VM,
	GMEMU_FD_GMEM,
	GMEMU_FD_VCPU,
	GMEMU_FD_INTERNAL,   /* one of gmemu's own, not the program's */
	GMEMU_FD_SEV,        /* the /dev/sev handle (sev_fd of the SEV commands) */
};
/* The kind, attaching a gmem received from elsewhere on first sight; -1
 * and errno when fd is gmemu's but unusable here (EIO: a VM or vCPU of
 * another process; EPROTO, EMFILE, ENOMEM: a gmem that cannot be
 * attached). */
GMEMU_API int gmemu_fd_kind(int fd);
/* Whether gmemu's descriptor table already names fd: one lookup, no
 * system call -- an interposer's test before passing a call through. */
GMEMU_API int gmemu_fd_known(int fd);
/* Whether gmemu answers for this path (/dev/kvm, the kvm parameters). */
GMEMU_API int gmemu_path_emulated(const char *path);

/* ---- gmemu's own calls: 0 or -1/errno ---- */

/* Long-term page references (the analogue of GUP pins): page granular,
 * counted, shared pages only.  A pinned page makes to-private fail EAGAIN. */
GMEMU_API int gmemu_pin(int gmem_fd, uint64_t offset, uint64_t len);
GMEMU_API int gmemu_unpin(int gmem_fd, uint64_t offset, uint64_t len);
/* A transient reference (the kernel's lru_add batch): the next to-private
 * conversion's drain clears it. */
GMEMU_API int gmemu_pin_transient(int gmem_fd, uint64_t offset);

/*
 * How long a conversion waits for another process to give up its mappings
 * before failing EAGAIN (default 1000 ms, or $GMEMU_REVOKE_TIMEOUT_MS when
 * the gmem is created); 1 ms to 1 hour.  Per gmem, seen by every process.
 */
GMEMU_API int gmemu_gmem_set_revoke_timeout(int gmem_fd, unsigned int ms);

/* Fail the next n conversions of this gmem with ENOMEM. */
GMEMU_API int gmemu_inject_enomem(int gmem_fd, unsigned int n);

/* ---- launch ---- */

/*
 * Add [gpa, gpa + len) to the VM's initial image: before finalize only, every
 * page covered by guest_memfd memslots and private.  src NULL: in place (the
 * bytes already there); otherwise copied from src.  Each page extends the
 * launch measurement m = SHA-256(m || le64(gpa) || SHA-256(page)).
 */
GMEMU_API int gmemu_vm_populate(int vm_fd, uint64_t gpa, const void *src,
				uint64_t len);
/* The launch measurement so far (32 zero bytes before any populate). */
GMEMU_API int gmemu_vm_measurement(int vm_fd, uint8_t out[32]);
/* End the launch phase of a VM (once); conversions follow post-launch rules. */
GMEMU_API int gmemu_vm_finalize(int vm_fd);

/*
 * Real guests: a guest's hypercall reaches the VMM as KVM_EXIT_HYPERCALL
 * with the kernel's layout (nr = eax; args[0..2] = ebx, ecx, edx; for
 * KVM_HC_MAP_GPA_RANGE: gpa, pages, attributes) and run->hypercall.ret
 * returns in the guest's eax.  Where the CPU's hypercall instruction does
 * not exit (KVM on PVM, for one), a guest rings this I/O port instead: an
 * "out" to it, with the registers set as for vmcall.
 */
#define GMEMU_HYPERCALL_PORT 0xdd

/*
 * Real guests of the encrypted models (SNP, TDX) reach a page at its GPA
 * when it is private and at GPA | (1 << bit) when it is shared, as TDX's
 * shared bit does; an access with the wrong intent makes KVM_RUN fail
 * EFAULT with KVM_EXIT_MEMORY_FAULT.  Default bit 47; 12 to 51; before the
 * VM's first vCPU (EBUSY after).
 */
GMEMU_API int gmemu_vm_set_shared_gpa_bit(int vm_fd, unsigned int bit);

/*
 * The vCPU backend KVM_CREATE_VCPU uses here for the in-place profiles:
 * "kvm" (a real VM underneath, where /dev/kvm works) or "emulated" (an
 * x86-64 CPU in software, on libunicorn.so.2); GMEMU_VCPU=kvm|emulated
 * forces one.  NULL when neither can run (KVM_CREATE_VCPU fails ENODEV;
 * GMEMU_TRACE=1 says why).  The per-VM attribute profiles (6.18, 6.12)
 * always use "emulated".
 */
GMEMU_API const char *gmemu_vcpu_backend(void);
/* Why backend ("kvm" or "emulated") cannot run vCPUs here -- "no
 * /dev/kvm", "libunicorn.so.2 not found (apt-get install libunicorn2)" --
 * or NULL when it can. */
GMEMU_API const char *gmemu_vcpu_backend_unavailable(const char *backend);

/* ---- the software vCPU ---- */

#define GMEMU_ACCESS_WRITE (1u << 0)   /* a write (else a read) */
#define GMEMU_ACCESS_PRIVATE (1u << 1) /* the access's intent is private */

/* What stopped an access, named as in struct kvm_run. */
struct gmemu_exit {
	__u32 exit_reason; /* KVM_EXIT_MEMORY_FAULT or KVM_EXIT_MMIO */
	__u32 pad;
	union {
		struct {
			__u64 flags; /* KVM_MEMORY_EXIT_FLAG_PRIVATE */
			__u64 gpa;
			__u64 size;
		} memory_fault;
		struct {
			__u64 phys_addr;
			__u8 data[8];
			__u32 len;
			__u8 is_write;
		} mmio;
	};
};

/*
 * A guest access of len bytes at gpa.  0: done.  -1/EFAULT with exit =
 * KVM_EXIT_MEMORY_FAULT: a page's attribute differs from the access's intent
 * and nothing was done.  1 with exit = KVM_EXIT_MMIO: no memslot there; the
 * access (at most 8 bytes) is the caller's to emulate.  Safe from several
 * threads while the host converts: an access sees a page entirely before or
 * entirely after a conversion.
 */
GMEMU_API int gmemu_guest_access(int vm_fd, uint64_t gpa, void *buf,
				 size_t len, unsigned int flags,
				 struct gmemu_exit *exit);

/*
 * A snapshot of a gmem's state, readable from any process holding the fd.
 * Extensible libbpf-style: set .sz = sizeof(struct gmemu_gmem_info).
 */
struct gmemu_gmem_info {
	size_t sz;
	uint64_t size;
	uint64_t flags;
	uint64_t vm_type;
	char profile[16];
	uint32_t finalized;
	uint32_t nr_extents;     /* attribute extents (merged) */
	uint32_t nr_pinned_pages;
	uint32_t nr_processes;   /* processes registered with views */
	uint64_t conversions_to_private;
	uint64_t conversions_to_shared;
	uint64_t bytes_zeroed;
	uint64_t bytes_scrambled;
	uint64_t eagain;
	uint64_t enomem;
	uint64_t meta_bytes;     /* shared metadata in use */
	uint64_t revocation_requests; /* requests sent to other processes */
	uint64_t revocation_wait_ns;  /* time spent waiting for them */
	uint64_t recoveries;     /* lock holders found dead and recovered */
	uint32_t revoke_timeout_ms;
	uint32_t pad;
};
GMEMU_API int gmemu_gmem_info(int gmem_fd, struct gmemu_gmem_info *info);

/* Attribute of one page (KVM_MEMORY_ATTRIBUTE_PRIVATE or 0), or -1/errno. */
GMEMU_API int gmemu_gmem_attribute(int gmem_fd, uint64_t offset);

/*
 * The attribute map as a picture of width characters (plus a NUL), each
 * standing for an equal run of pages: 'P' private, 'S' shared, 'M' both;
 * lower case when none of its pages was ever used (all holes).
 */
GMEMU_API int gmemu_gmem_picture(int gmem_fd, char *buf, size_t width);

/*
 * Print a gmem's state (extents, pins, processes, counters) to a stream.
 * Works in any process that holds the fd.
 */
GMEMU_API int gmemu_gmem_dump(int gmem_fd, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* GMEMU_H */
