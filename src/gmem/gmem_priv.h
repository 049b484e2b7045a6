/* SPDX-License-Identifier: MIT */
/*
 * The gmem object's own fields, shared by the files of the object (gmem.c,
 * convert.c, pins.c, launch.c).  Mechanisms (rangemap, procs, view, peers,
 * content) do not include it: they get what they work on as arguments.
 */
#ifndef GMEMU_GMEM_PRIV_H
#define GMEMU_GMEM_PRIV_H

#include <pthread.h>

#include "content.h"
#include "gmem.h"
#include "peers.h"
#include "view.h"

struct gmem_group {
	pthread_mutex_t lock;
	_Atomic int refs;
	enum launch_phase phase;
	bool holding;          /* a reference on each member (pre-launch) */
	struct gmem **members; /* a gmem leaves when it is released */
	size_t nr, cap;
};

struct gmem {
	_Atomic int refs;
	dev_t dev;
	ino_t ino;
	int fd;             /* hidden descriptor of the memfd */
	uint8_t *base;      /* trusted view [0, size), then metadata */
	struct gmem_hdr *hdr;
	uint64_t size, npages;
	struct rm_space space;
	struct rm_index attr_index; /* under the gmem lock */
	struct rm_reserve convert_res[2]; /* a conversion's, under the lock */
	struct gmem_group *group;   /* the creating VM's, in its process */
	bool group_held;            /* the group holds a reference (group lock) */
	/* this process's views: changed under the gmem lock and the
	 * process's view-list lock, read under either */
	struct view_set views;
	/* this process's guest mappings: changed under the gmem lock, the
	 * view-list lock and guest_lock, read under the gmem lock or
	 * guest_lock (which this process's agent takes, while another
	 * process's converter holds the gmem lock) */
	struct gmem_guest_map *guests;
	pthread_mutex_t guest_lock;
	struct peer_agent agent;
	struct gmem *next_with_views;
	bool with_views;
	bool exiting;
};

#define PRIVATE KVM_MEMORY_ATTRIBUTE_PRIVATE

/* The lock, bounded by the revoke timeout (-EAGAIN), and unbounded for the
 * callers that cannot fail (munmap, close, recovery paths). */
HIDDEN int gmem_lock(struct gmem *g);
HIDDEN int gmem_lock_wait(struct gmem *g);
HIDDEN int gmem_lock_ms(struct gmem *g, unsigned int ms);
HIDDEN void gmem_unlock(struct gmem *g);
HIDDEN void gmem_assert_locked(struct gmem *g);

/* g's checked internal descriptor, or -EBADF when the program closed it
 * and no caller descriptor repaired it. */
HIDDEN int gmem_fd(struct gmem *g);
HIDDEN void gmem_content_target(struct gmem *g, struct content_target *t);
HIDDEN void gmem_views_set_memfd(struct gmem *g, int fd);
/* This process's view lists (all gmems): under a gmem's lock, taken while
 * the views change with the attributes, so that no other thread of the
 * process (its agent answering a stale request) sees them between. */
HIDDEN void gmem_views_lock(void);
HIDDEN void gmem_views_unlock(void);
/* view_set's callback: the agent resynchronises this process's views. */
HIDDEN void gmem_views_resync_soon(struct view_set *vs);
HIDDEN int gmem_views_memfd_repair(struct view_set *vs);

/* This process's guest mappings drop pages [first, end) (under the gmem
 * lock, or the agent's while another process's converter holds it). */
HIDDEN void gmem_guests_notify(struct gmem *g, uint64_t first, uint64_t end);
/* Slots of other processes with private views or guest mappings (a real
 * or emulated guest's): what must hear of every change of their pages. */
HIDDEN uint64_t gmem_private_view_slots(struct gmem *g);

/* Launch rules applied at finalize (gmem/launch.c), under the lock. */
HIDDEN int gmem_launch_seal(struct gmem *g);

#endif
