/* SPDX-License-Identifier: MIT */
/*
 * Revocation across processes.  The kernel zaps every process's page tables
 * on to-private; user space cannot do that for another process without
 * destroying the bytes, so each process with views of a gmem runs an agent
 * thread that changes its views on request.  A converter (holding the gmem
 * lock) invites the agents of the processes whose views meet the range,
 * wakes them through a futex in the shared header, and waits, bounded, for
 * their acknowledgements.
 */
#ifndef GMEMU_GMEM_PEERS_H
#define GMEMU_GMEM_PEERS_H

#include <pthread.h>

#include "procs.h"

/* What an agent does for its process: callbacks of the gmem object. */
struct peer_ops {
	/* apply op to this process's views of [first, end); the converter
	 * holds the lock, so the attributes are stable */
	int (*apply)(void *ctx, enum peer_op op, uint64_t first, uint64_t end);
	/* resynchronise every view with the attributes if the lock can be
	 * taken now; -EBUSY when it cannot */
	int (*resync)(void *ctx);
	/* whether the converter that held the lock at sequence count seq is
	 * done with it: 0 once the count moved (it let the lock go) or the
	 * lock was found abandoned and recovered; -EAGAIN while a live holder
	 * keeps it.  Never waits: the holder must not wait for watchers. */
	int (*watch)(void *ctx, uint32_t seq);
};

/* This process's agent for one gmem. */
struct peer_agent {
	struct gmem_hdr *hdr;
	int slot;
	const struct peer_ops *ops;
	void *ctx;
	pthread_t thread;
	void *stack;
	bool running;
	_Atomic bool stop;
	_Atomic int tid;     /* set by the thread before it is ready */
};

/*
 * Under the gmem lock: have every other process whose views meet [first,
 * end) (only the slots in only, if non-zero) apply op, and wait at most the
 * revoke timeout.  *done: the slots that did.  -EAGAIN (or an agent's
 * error) with *failed_at = first page of the range a failing process maps.
 */
HIDDEN int peers_request(struct gmem_hdr *h, struct rm_space *s, int self,
			 enum peer_op op, uint64_t first, uint64_t end,
			 uint64_t only, uint64_t *done, uint64_t *failed_at);
/* Every other process resynchronises all its views when it next runs. */
HIDDEN void peers_resync_all(struct gmem_hdr *h, int self);
/* The process of slot does (its agent, woken now). */
HIDDEN void peers_resync_one(struct gmem_hdr *h, int slot);
/* Withdraw invitations a dead lock holder left (recovery). */
HIDDEN void peers_recover(struct gmem_hdr *h);
HIDDEN int agent_start(struct peer_agent *a);
/* Call with the gmem lock held: the agent is not invited while we hold
 * it, so it exits promptly. */
HIDDEN void agent_stop(struct peer_agent *a);

#endif
