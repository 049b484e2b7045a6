/* SPDX-License-Identifier: MIT */
/*
 * The cross-process layout of a gmem's shared metadata.  It lives in the
 * gmem's memfd after the guest's bytes, so any process holding the fd finds
 * it from the fd alone.  Every process that meets a gmem checks the magic
 * and the layout version: another version is refused with EPROTO (and
 * `gmemu inspect` names both), never read as this one.
 *
 * Change anything here -- a field, a size, an order -- and bump
 * GMEM_LAYOUT_VERSION; the static asserts below pin what other processes
 * rely on.
 */
#ifndef GMEMU_GMEM_LAYOUT_H
#define GMEMU_GMEM_LAYOUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define GMEM_MAGIC 0x676d656d75686472ULL /* "gmemuhdr" */
#define GMEM_LAYOUT_VERSION 3
#define GMEM_MEMFD_NAME "gmemu-gmem"
#define GMEM_META_RESERVE (256ULL << 20) /* virtual, touched on demand */
#define GMEM_HDR_AREA (64UL << 10)       /* header; records after it */
#define GMEM_MAX_PROCS 64
#define GMEM_MAX_SIZE (1ULL << 46)

/* One 32-byte record: a range-map tree node or a view record. */
struct gmem_rec {
	uint64_t key;   /* node: first page; view: first page */
	uint64_t value; /* node: value; view: number of pages */
	uint32_t left;  /* node: left child; view: next view of the process */
	uint32_t right; /* node: right child */
	uint32_t prio;  /* node: heap priority */
	uint32_t pad;   /* node: stamp of the update that created it */
};

struct gmem_pool {
	uint32_t capacity; /* records that fit in the reserve */
	uint32_t bump;     /* next never-used record */
	uint32_t free_head;
	uint32_t nr_free;
	uint32_t txn;      /* stamps the records one update creates */
	uint32_t pad;
};

/* A range map: pages [0, npages) partitioned into extents with a value. */
struct rangemap {
	uint32_t root;
	uint32_t nr_extents;
	uint64_t generation; /* bumped by every commit; never repeats */
};

enum proc_state { PROC_FREE, PROC_LIVE };

/* A process with views of the gmem. */
struct gmem_proc {
	_Atomic uint32_t state;
	int32_t pid;
	int32_t agent_tid;  /* its agent thread: gone when it exits or execs */
	uint32_t nr_views;
	uint32_t views;     /* first view record */
	uint32_t nr_private_views; /* a real guest's private ranges */
	/* revocation protocol (gmem/peers.c) */
	_Atomic uint32_t wake;        /* futex: the agent's doorbell */
	_Atomic uint32_t need_resync; /* missed a request: resync all views */
	_Atomic uint64_t invite;      /* generation it is asked to handle */
	_Atomic uint64_t ack_gen;     /* last generation it handled */
	_Atomic int32_t ack_err;      /* and its result */
	uint32_t views_mech;          /* enum proc_views: how its views work */
	uint64_t reserved;
};

/* A process's host views, for inspection (gmem_proc.views_mech). */
enum proc_views { PROC_VIEWS_UNKNOWN, PROC_VIEWS_MAPFIXED, PROC_VIEWS_UFFD_POISON,
		  PROC_VIEWS_UFFD_ISOLATE };

struct gmem_counters {
	uint64_t to_private, to_shared;
	uint64_t bytes_zeroed, bytes_scrambled;
	uint64_t eagain, enomem;
	uint64_t peer_requests, peer_wait_ns;
	uint64_t recoveries;
	uint64_t populated_pages;
};

enum peer_op { PEER_REVOKE = 1, PEER_SYNC };

struct gmem_request {
	_Atomic uint64_t gen;
	uint64_t first, end; /* pages */
	uint32_t op;         /* enum peer_op */
	uint32_t pad;
};

struct gmem_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_bytes;
	uint64_t size;
	uint64_t flags;
	uint64_t vm_type;
	uint64_t vm_id;
	uint8_t vm_key[64];   /* the SNP-like model's cipher key (AES-256-XTS) */
	uint32_t abi;         /* enum abi_profile_id */
	_Atomic uint32_t phase;
	pthread_mutex_t lock; /* robust, process-shared */
	uint64_t generation;  /* conversions committed */
	uint32_t inject_enomem;
	uint32_t revoke_timeout_ms;
	_Atomic uint32_t seq;      /* odd while the lock is held */
	_Atomic uint32_t ack_word; /* futex: agents ring it when they answer */
	struct gmem_request req;
	struct gmem_pool pool;
	struct rangemap attrs;    /* value: KVM_MEMORY_ATTRIBUTE_PRIVATE or 0 */
	struct rangemap pins;     /* value: long-term | transient << 32 */
	struct rangemap populated; /* value: 1 where launch populated the page */
	struct gmem_counters ctr;
	struct gmem_proc procs[GMEM_MAX_PROCS];
};

_Static_assert(sizeof(struct gmem_rec) == 32, "record size");
_Static_assert(sizeof(struct gmem_proc) == 64, "process slot size");
_Static_assert(sizeof(struct gmem_hdr) <= GMEM_HDR_AREA, "header area");
_Static_assert(__builtin_offsetof(struct gmem_hdr, version) == 8,
	       "magic and version lead, whatever the layout version");

#endif /* GMEMU_GMEM_LAYOUT_H */
