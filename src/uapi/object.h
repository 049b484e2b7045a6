/* SPDX-License-Identifier: MIT */
/*
 * fd -> object.  A table indexed by descriptor number says which of the
 * program's descriptors are gmemu's; a descriptor that is not in it costs
 * one lookup and goes to the kernel.  Objects are also keyed by the
 * (st_dev, st_ino) of the memfd behind their descriptors, so a dup()ed or
 * inherited descriptor finds its object, and a gmem received from another
 * process (SCM_RIGHTS, pidfd_getfd, exec) is attached on first use.
 */
#ifndef GMEMU_UAPI_OBJECT_H
#define GMEMU_UAPI_OBJECT_H

#include <sys/types.h>

#include "../vm/vm.h"

/* OBJ_SEV: the /dev/sev handle, which the SEV launch commands' sev_fd
 * must name; it carries nothing (ptr NULL) and works in any process. */
enum obj_type { OBJ_SYSTEM = 1, OBJ_VM, OBJ_GMEM, OBJ_VCPU, OBJ_SEV };

struct system {
	struct abi abi;
};

struct object {
	_Atomic int refs;  /* one per descriptor in the table, plus users */
	enum obj_type type;
	dev_t dev;
	ino_t ino;
	union {
		void *ptr;
		struct system *sys;
		struct vm *vm;
		struct gmem *gmem;
		struct vcpu *vcpu;
	};
	struct object *hash_next;
};

/* A new object for the descriptor fd (a memfd gmemu made), owning ptr
 * (released with the object).  -errno: nothing is registered and ptr is
 * the caller's still. */
HIDDEN int obj_register(int fd, enum obj_type type, void *ptr);
/*
 * The object behind fd, with a reference: 1 and *out; 0 when fd is not
 * gmemu's; -errno when it is (or may be) gmemu's but cannot be used -- a
 * gmem that cannot be attached (EMFILE, ENOMEM, EPROTO), a VM or vCPU
 * descriptor of another process (EIO) -- never to be passed to the kernel.
 */
HIDDEN int obj_lookup(int fd, struct object **out);
/* Only the table: 1 and *out when fd is in it (no identity check, no
 * attach); 0 otherwise.  The interposer's pass-through test. */
HIDDEN int obj_peek(int fd);
HIDDEN void obj_put(struct object *obj);
/* A descriptor of the program now names what old names (dup, dup2, fcntl
 * F_DUPFD, or a number a closed descriptor had). */
HIDDEN void obj_fd_dup(int old, int fd);
/* The program closed fd (the descriptor is gone). */
HIDDEN void obj_fd_closed(int fd);
/* Forget every descriptor of the table in [first, last] (close_range). */
HIDDEN void obj_fd_closed_range(unsigned int first, unsigned int last);
/*
 * The table is the process's own: a vfork() child (or a clone() sharing
 * the memory) runs on its parent's, and must leave it alone -- its closes
 * and dups are its own descriptors' only.  False there.
 */
HIDDEN void obj_init(void);
HIDDEN bool obj_table_mine(void);
/* Around a descriptor operation and its bookkeeping (obj_fd_dup,
 * obj_fd_closed): the kernel's change and the table's as one step. */
HIDDEN void obj_fd_ops_lock(void);
HIDDEN void obj_fd_ops_unlock(void);
/* atfork/exec bookkeeping */
HIDDEN void obj_atfork_prepare(void);
HIDDEN void obj_atfork_parent(void);
HIDDEN void obj_atfork_child(void);

#endif
