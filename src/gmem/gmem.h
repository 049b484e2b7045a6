/* SPDX-License-Identifier: MIT */
/*
 * The guest_memfd object, as the layers above (vm, uapi) see it.  One memfd
 * holds the guest's bytes at [0, size) and, after them, the shared metadata
 * (layout.h); any process holding the fd finds everything from the fd.
 * Functions return 0 (or a value) or -errno.
 */
#ifndef GMEMU_GMEM_H
#define GMEMU_GMEM_H

#include <stdio.h>
#include <sys/stat.h>

#include "../model/model.h"

struct gmem;

/*
 * A VM's gmems share a launch phase.  The group holds it and reaches every
 * member, so finalize and a gmem created at the same moment cannot miss
 * each other: a gmem joins its group and takes the group's phase under one
 * lock.  Until finalize the group holds a reference on every member, so a
 * gmem the VM's process no longer names (its descriptor sent elsewhere and
 * closed here) still ends in the VM's phase.
 */
struct gmem_group;

HIDDEN int gmem_group_create(struct gmem_group **out);
/* The VM lets its group go (its members live on as their references
 * say). */
HIDDEN void gmem_group_put(struct gmem_group *grp);
HIDDEN enum launch_phase gmem_group_phase(struct gmem_group *grp);
/* Pre-launch -> post-launch, once (-EINVAL after); applies the model's
 * launch rules to every member first (see gmem_launch_seal). */
HIDDEN int gmem_group_finalize(struct gmem_group *grp);

struct gmem_params {
	uint64_t size;
	uint64_t flags;
	const struct platform_model *model;
	struct abi abi;
	uint64_t vm_id;
	const uint8_t *key; /* 64 bytes */
};

/* A new gmem in grp; *fd_out is its (inheritable) descriptor, *out a
 * reference. */
HIDDEN int gmem_create(struct gmem_group *grp, const struct gmem_params *p,
		       int *fd_out, struct gmem **out);
/* Is fd a gmemu gmem?  1 yes, 0 no, -errno when it cannot be told. */
HIDDEN int gmem_fd_probe(int fd, const struct stat *st);
/* Attach a gmem received from elsewhere: -EPROTO for another layout
 * version, -EINVAL when fd is not a gmem, other -errno when attaching
 * failed (never a reason to treat fd as a foreign file). */
HIDDEN int gmem_attach(int fd, const struct stat *st, struct gmem **out);
/* The layout version of a gmem fd (for inspect): 0 and *version, or
 * -errno. */
HIDDEN int gmem_fd_version(int fd, uint32_t *version);
HIDDEN uint32_t gmem_layout_version(void);
HIDDEN void gmem_get(struct gmem *g);
HIDDEN void gmem_put(struct gmem *g);
/* A caller that holds a descriptor of g repairs g's internal descriptor
 * if the program closed it.  Every entry point calls it first. */
HIDDEN int gmem_check_fd(struct gmem *g, int user_fd);

HIDDEN uint64_t gmem_size(const struct gmem *g);
HIDDEN uint64_t gmem_flags(const struct gmem *g);
HIDDEN uint64_t gmem_vm_id(const struct gmem *g);
HIDDEN ino_t gmem_ino(const struct gmem *g);
HIDDEN const struct platform_model *gmem_model(const struct gmem *g);
HIDDEN struct abi gmem_abi(const struct gmem *g);

/* ---- file operations ---- */
HIDDEN int gmem_fstat(struct gmem *g, int fd, struct stat *st);
HIDDEN int gmem_fallocate(struct gmem *g, int mode, off_t offset, off_t len);

/* ---- KVM_SET_MEMORY_ATTRIBUTES2 (checks 1-5 done by the caller) ---- */
/* user_fd: the caller's descriptor of g, which repairs g's own descriptor
 * (gmem_check_fd) when the conversion needs it. */
HIDDEN int gmem_convert(struct gmem *g, struct kvm_memory_attributes2 *a,
			int user_fd);

/* ---- host views ---- */
/* mmap of the gmem: the address, or -errno.  maps: 0 for host views
 * (shared pages), PRIVATE for a real guest's private range. */
HIDDEN long gmem_mmap(struct gmem *g, void *addr, size_t len, int prot,
		      int flags, off_t offset, uint64_t maps);
/* munmap of a range that may cover views of any gmem; the views are cut
 * (a conversion never remaps a range the caller released). */
HIDDEN int gmem_munmap(void *addr, size_t len);
/* The same without unmapping what is not a view (a MAP_FIXED mapping is
 * about to replace the range). */
HIDDEN int gmem_views_cut(void *addr, size_t len);
/* Does [addr, addr + len) meet a view? */
HIDDEN bool gmem_views_meet(const void *addr, size_t len);
/* MADV_REMOVE over views: punch the gmem bytes behind them. */
HIDDEN int gmem_views_remove(void *addr, size_t len);
/* After the program's own MADV_DONTNEED over views. */
HIDDEN void gmem_views_refill(void *addr, size_t len);
/* The mechanism behind this process's host views ("uffd", "mapfixed")
 * and why: 0, or -errno when GMEMU_VIEWS is refused or cannot be had. */
HIDDEN int gmem_views_mechanism(const char **name, const char **why);

/* ---- pins ---- */
HIDDEN int gmem_pin(struct gmem *g, uint64_t offset, uint64_t len, int delta);
HIDDEN int gmem_pin_transient(struct gmem *g, uint64_t offset);

/* ---- settings, observability ---- */
HIDDEN int gmem_set_revoke_timeout(struct gmem *g, unsigned int ms);
HIDDEN int gmem_inject_enomem(struct gmem *g, unsigned int n);
HIDDEN int gmem_info(struct gmem *g, struct gmemu_gmem_info *info);
HIDDEN int gmem_attribute(struct gmem *g, uint64_t offset);
HIDDEN int gmem_picture(struct gmem *g, char *buf, size_t width);
HIDDEN int gmem_dump(struct gmem *g, FILE *out);

/* ---- the guest's side (vm layer) ---- */
/* Lock a set of gmems (one order for every process: by inode) for an
 * access or a launch step; bounded by the revoke timeout (-EAGAIN). */
HIDDEN int gmem_lock_many(struct gmem **gs, int n);
HIDDEN void gmem_unlock_many(struct gmem **gs, int n);
/* The lock if it is free now: 0, or -EAGAIN (for a vCPU that must not
 * wait; unlock with gmem_unlock_many(&g, 1)). */
HIDDEN int gmem_trylock(struct gmem *g);

/*
 * A guest mapping: a vCPU backend of this process that uses gmem pages
 * [offset, offset + len) through gmem_data() -- the trusted view, which
 * no conversion changes -- registers them, and is told of every change.
 * listen(ctx, offset, len) is called with the gmem lock held, for every
 * conversion and every hole punch that touches the range (the part it
 * touches), made by this process or by another one (whose converter asks
 * this process's agent, as for a real guest's private views); when it
 * returns, the guest must have dropped every use of those pages.  A guest
 * that re-reads a page's state only under the gmem lock (gmem_trylock)
 * therefore never touches a page after the change that made it
 * inaccessible has returned.  listen must not wait for the gmem lock.
 */
struct gmem_guest_map;
typedef void (*gmem_guest_listener)(void *ctx, uint64_t offset,
				    uint64_t len);
HIDDEN int gmem_guest_map(struct gmem *g, uint64_t offset, uint64_t len,
			  gmem_guest_listener listen, void *ctx,
			  struct gmem_guest_map **out);
/* Unregister (waits for the gmem lock: it cannot fail). */
HIDDEN void gmem_guest_unmap(struct gmem_guest_map *m);
/* Under the lock: is the page at offset private? */
HIDDEN bool gmem_page_private(struct gmem *g, uint64_t offset);
/* The guest's bytes (the trusted view): valid while g is referenced. */
HIDDEN uint8_t *gmem_data(struct gmem *g);
/* Launch: under the lock.  Has the page been populated?  Mark pages
 * populated (-ENOMEM with nothing changed). */
HIDDEN bool gmem_page_populated(struct gmem *g, uint64_t offset);
HIDDEN int gmem_mark_populated(struct gmem *g, uint64_t offset, uint64_t len);
/* Several marks that must all be made or none: what nmarks of them need,
 * taken first (-ENOMEM with nothing changed, the reservation to be freed
 * with rm_reserve_free either way); then each
 * gmem_mark_populated_reserved with it cannot fail while the lock is
 * held. */
struct rm_reserve;
HIDDEN int gmem_populate_reserve(struct gmem *g, unsigned int nmarks,
				 struct rm_reserve *res);
HIDDEN int gmem_mark_populated_reserved(struct gmem *g, uint64_t offset,
					uint64_t len, struct rm_reserve *res);

/* Test builds: a white-box test's way to the trusted view and memfd. */
HIDDEN int gmem_memfd(struct gmem *g);

#endif
