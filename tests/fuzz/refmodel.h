/* SPDX-License-Identifier: MIT */
/*
 * An executable reference model of gmemu's contract (docs/contract.md): a
 * small, obviously-correct restatement of what each call must do --
 * results, errnos in their order, error_offset, attributes, pins, launch
 * state, the exits a real guest's KVM_RUN gives, and the bytes each side
 * reads -- with none of the library's
 * mechanisms.  The differential driver runs every call against gmemu and
 * against this model and requires the same answer.
 *
 * Sizes are small (pages per gmem <= RM_MAX_PAGES); a page's bytes are
 * modelled as one value repeated (the driver writes whole pages), or
 * unknown after a platform effect that promises nothing.
 */
#ifndef GMEMU_REFMODEL_H
#define GMEMU_REFMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gmemu.h"

#define RM_MAX_VMS 3
#define RM_MAX_GMEMS 6
#define RM_MAX_PAGES 16
#define RM_MAX_SLOTS 6
#define RM_UNKNOWN 0x100 /* page bytes: anything */
#define RM_GPA_BASE 0x100000ULL
#define RM_GPA_PAGES 2048

enum rm_profile { RM_CONTENTMODES, RM_V8, RM_6_18, RM_6_12,
		  RM_7_4_OFF, RM_7_4_ON /* kvm.gmem_in_place_conversion */ };

/* the per-VM attribute profiles (mainline before in-place conversion, and
 * 7.4 with the parameter off) */
#define RM_PER_VM(p) ((p) == RM_6_18 || (p) == RM_6_12 || (p) == RM_7_4_OFF)
/* the in-place series' launch code (vs 6.12/6.18) */
#define RM_SERIES(p) ((p) == RM_CONTENTMODES || (p) == RM_V8 || \
		      (p) == RM_7_4_OFF || (p) == RM_7_4_ON)

struct rm_page {
	bool private;
	uint16_t value;    /* 0-255, or RM_UNKNOWN */
	uint32_t pins, transient;
	bool populated;
};

struct rm_gmem {
	bool live;
	int vm;
	uint64_t flags;
	uint32_t npages;
	uint32_t inject_enomem;
	struct rm_page page[RM_MAX_PAGES];
};

struct rm_slot {
	bool live;
	uint32_t id;
	uint64_t gpa, npages;
	int gmem;         /* -1: plain memory, at userspace_addr */
	uint32_t offset;  /* first gmem page */
};

struct rm_vm {
	bool live;
	unsigned long type;
	bool post_launch;
	struct rm_slot slot[RM_MAX_SLOTS];
	uint8_t measurement[32];
	bool measurement_unknown; /* it covers bytes the model does not know */
	/* per-VM attributes (the 6.x profiles), pages from RM_GPA_BASE */
	bool vm_private[RM_GPA_PAGES];
	/* the vendor launch commands */
	bool sev_init, snp_started, sev_sealed, td_init, td_debug;
	/* real vCPUs (the driver makes at most one, on the emulated
	 * backend): made, KVM_TDX_INIT_VCPU done on it */
	bool vcpu, td_vcpu_init;
	unsigned int shared_bit;  /* snp, tdx: the shared GPA alias */
	bool hc_exits;            /* KVM_CAP_EXIT_HYPERCALL(MAP_GPA_RANGE) */
	/* the bytes at the userspace_addr of each memslot id (the driver
	 * gives each id memory of its own, zeros at first): where the per-VM
	 * attribute profiles keep a guest_memfd memslot's shared pages */
	uint16_t uaddr[RM_MAX_SLOTS][RM_MAX_PAGES + 1];
};

struct refmodel {
	enum rm_profile profile;
	struct rm_vm vm[RM_MAX_VMS];
	struct rm_gmem gmem[RM_MAX_GMEMS];
};

/* Results: r is the call's return (>= 0) or -errno. */
struct rm_result {
	long r;
	uint64_t error_offset; /* when written */
	bool eo_written;
	struct gmemu_exit exit; /* guest access: exit_reason 0 when none */
};

void rm_init(struct refmodel *m, enum rm_profile p);
/* VM of a type; the index to use (-EINVAL: no such type). */
long rm_create_vm(struct refmodel *m, unsigned long type, int idx);
long rm_create_gmem(struct refmodel *m, int vm, uint64_t size, uint64_t flags,
		    int idx);
void rm_convert(struct refmodel *m, int g, const struct kvm_memory_attributes2 *a,
		struct rm_result *res);
long rm_pin(struct refmodel *m, int g, uint64_t off, uint64_t len, int delta);
long rm_pin_transient(struct refmodel *m, int g, uint64_t off);
long rm_fallocate(struct refmodel *m, int g, int mode, int64_t off, int64_t len);
long rm_mmap_check(struct refmodel *m, int g, int64_t off, uint64_t len,
		   int flags);
/* A host access through a view of page (offset from the gmem's start):
 * true when it raises SIGBUS; else *value (a read) or the write lands. */
bool rm_host_read(struct refmodel *m, int g, uint64_t page, uint16_t *value);
bool rm_host_write(struct refmodel *m, int g, uint64_t page, uint8_t value);
long rm_set_slot(struct refmodel *m, int vm, uint32_t id, uint64_t gpa,
		 uint64_t size, int g, uint64_t offset, bool del);
/* A whole-page guest access of npages at gpa (write: value). */
void rm_guest_access(struct refmodel *m, int vm, uint64_t gpa, uint64_t len,
		     unsigned int flags, uint8_t value, uint16_t *read_value,
		     struct rm_result *res);
long rm_populate(struct refmodel *m, int vm, uint64_t gpa, uint64_t len,
		 const uint8_t *src_value);
long rm_finalize(struct refmodel *m, int vm);
void rm_inject_enomem(struct refmodel *m, int g, unsigned int n);
/* KVM_MEMORY_ENCRYPT_OP, SEV-SNP commands on VM vm (good_fd: sev_fd names
 * /dev/sev): r, and the firmware status written back (eo_written,
 * error_offset).  UPDATE writes its progress into *u. */
void rm_sev_init2(struct refmodel *m, int vm, uint32_t flags,
		  struct rm_result *res);
void rm_snp_launch_start(struct refmodel *m, int vm, uint64_t policy,
			 uint16_t flags, bool good_fd, struct rm_result *res);
void rm_snp_launch_update(struct refmodel *m, int vm,
			  struct kvm_sev_snp_launch_update *u,
			  const uint8_t *src_value, bool good_fd,
			  struct rm_result *res);
void rm_snp_launch_finish(struct refmodel *m, int vm, uint16_t flags,
			  bool good_fd, struct rm_result *res);
/* the TDX VM commands */
long rm_tdx_init_vm(struct refmodel *m, int vm, uint32_t flags,
		    uint64_t attributes, uint64_t xfam, unsigned int gpaw);
long rm_tdx_finalize_vm(struct refmodel *m, int vm);
/* KVM_SET_MEMORY_ATTRIBUTES on a VM (addresses inside the modelled
 * window). */
long rm_set_vm_attributes(struct refmodel *m, int vm, uint64_t addr,
			  uint64_t size, uint64_t attrs, uint64_t flags);

/* ---- real vCPUs (contract §9.5), on the emulated backend ---- */

long rm_set_shared_bit(struct refmodel *m, int vm, unsigned int bit);
long rm_enable_cap_hypercall(struct refmodel *m, int vm, uint64_t flags,
			     uint64_t args0);
void rm_create_vcpu(struct refmodel *m, int vm);
long rm_tdx_init_vcpu(struct refmodel *m, int vm, uint32_t flags);
/* The bit a guest of vm sets in a GPA for a shared access (0: its pages'
 * own state is the intent). */
uint64_t rm_shared_mask(struct refmodel *m, int vm);
/* Does KVM_RUN enter?  0, -errno, or RM_FAIL_ENTRY (KVM_RUN returns 0 with
 * KVM_EXIT_FAIL_ENTRY). */
#define RM_FAIL_ENTRY 1
long rm_run_entry(struct refmodel *m, int vm);
/* Is the vCPU's register state the hardware's (KVM_SET_REGS EINVAL)? */
bool rm_regs_protected(struct refmodel *m, int vm);

/* One guest access of len bytes (1 or 8, or a page) inside one page, at
 * gpa as the guest addresses it (with the shared bit where it has one). */
enum rm_run_kind { RM_RUN_DONE, RM_RUN_MMIO, RM_RUN_FAULT };
struct rm_run {
	enum rm_run_kind kind;
	uint64_t gpa;      /* MMIO: phys_addr; fault: the page, no shared bit */
	uint64_t flags;    /* fault: KVM_MEMORY_EXIT_FLAG_PRIVATE or 0 */
	uint16_t value;    /* done, a read: the byte (or RM_UNKNOWN) */
};
void rm_run_access(struct refmodel *m, int vm, uint64_t gpa, uint64_t len,
		   bool write, uint8_t value, struct rm_run *out);
/* vmcall/vmmcall from 64-bit CPL 0: 1 when KVM_RUN exits with
 * KVM_EXIT_HYPERCALL, else 0 with *ret the value RAX gets at once. */
int rm_hypercall(struct refmodel *m, int vm, uint64_t nr, uint64_t a0,
		 uint64_t a1, uint64_t a2, uint64_t *ret);

#endif
