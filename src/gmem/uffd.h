/* SPDX-License-Identifier: MIT */
/*
 * The process's userfaultfd: the mechanism under host views that need no
 * VMA per extent (view.c).  One per process, opened with
 * UFFD_USER_MODE_ONLY whatever the privileges, so that only the program's
 * own (user-mode) accesses ever wait for gmemu; the kernel's accesses to a
 * page with no PTE fail as they would on a SIGBUS mapping (EFAULT).  One
 * handler thread answers the faults through a callback.
 *
 * Chosen once per process (uffd_caps): GMEMU_VIEWS=auto|uffd|uffd-isolate|
 * mapfixed; auto takes userfaultfd when a probe in a child process (a
 * seccomp filter may kill the caller of userfaultfd) shows it works on
 * memfds, and UFFDIO_POISON for private pages when that raises
 * SIGBUS/BUS_ADRERR at the exact address (kernels with
 * CONFIG_MEMORY_FAILURE report BUS_MCEERR_AR instead).
 */
#ifndef GMEMU_GMEM_UFFD_H
#define GMEMU_GMEM_UFFD_H

#include <sys/types.h>

#include "../base/common.h"

enum views_mech { MECH_MAPFIXED, MECH_UFFD };

struct uffd_caps {
	enum views_mech mech;
	bool poison;         /* private faults answered with UFFDIO_POISON */
	bool poison_avail;   /* UFFDIO_POISON exists (the fallback when a
			      * sealed mapping cannot be made) */
	bool forced;         /* GMEMU_VIEWS named it */
	int err;             /* -EINVAL: GMEMU_VIEWS refused; forced uffd that
			      * cannot run: why (-errno); else 0 */
	char why[112];
};

/* Probe once (thread safe); the result holds for the process's life. */
HIDDEN const struct uffd_caps *uffd_caps(void);

/*
 * What the handler asks of the view mechanism for a fault at addr: 0 when
 * answered (the thread was woken or the page mapped), -EAGAIN to be asked
 * again shortly (the page's fate is being decided by a conversion).
 */
typedef int (*uffd_fault_fn)(uintptr_t addr, bool write);
/* The descriptor was closed behind gmemu's back and the handler could
 * not keep a table of its own: every registration is gone with it.
 * Called from the handler thread. */
typedef void (*uffd_lost_fn)(void);
/* About a millisecond after the last fault was answered. */
typedef void (*uffd_idle_fn)(void);

/* Open the descriptor and start the handler, once: -errno. */
HIDDEN int uffd_start(uffd_fault_fn fault, uffd_lost_fn lost,
		      uffd_idle_fn idle);
/* Stop the handler (process exit). */
HIDDEN void uffd_stop(void);
/* fork: the handler's lock across fork(); in the child the inherited
 * descriptor is the parent's: it is forgotten (the next uffd_start opens
 * the child's own). */
HIDDEN void uffd_fork_prepare(void);
HIDDEN void uffd_fork_parent(void);
HIDDEN void uffd_fork_child(void);
/* Is the descriptor still ours?  (Cheap: one fstat.) */
HIDDEN bool uffd_alive(void);
/* The program took our number: the views no longer use the descriptor;
 * the handler ends, and the registrations with it. */
HIDDEN void uffd_abandon(void);

/* The ioctls, on the process's descriptor: 0 or -errno. */
HIDDEN int uffd_register(void *addr, size_t len);
HIDDEN int uffd_unregister(void *addr, size_t len);
/* Map the page-cache pages of [addr, +len); *mapped: bytes mapped before
 * a failure (-EEXIST: a page already mapped, -EFAULT: a hole). */
HIDDEN int uffd_continue(void *addr, size_t len, size_t *mapped);
HIDDEN int uffd_poison(void *addr, size_t len);
HIDDEN int uffd_zeropage(void *addr, size_t len);
HIDDEN void uffd_wake(void *addr, size_t len);

/* Handler statistics, for tests and inspect. */
struct uffd_stats {
	uint64_t faults, deferred, lost;
};
HIDDEN void uffd_stats(struct uffd_stats *st);

#endif
