/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces.  Data flows one way:
 *   entry point (uapi/) -> object method (gmem/, vm/) -> platform model hook
 *   (vm/model_*.c) -> memory mechanism (gmem/view.c, gmem/content.c).
 * Internal functions return 0 or -errno.
 */
#ifndef GMEMU_INTERNAL_H
#define GMEMU_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gmemu.h"

#define HIDDEN __attribute__((visibility("hidden")))

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_ALIGNED(x) (((x) & (PAGE_SIZE - 1)) == 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* ------------------------------------------------------------------ */
/* ABI profiles and launch phases                                      */

enum abi_profile {
	PROFILE_CONTENTMODES,
	PROFILE_V8,
	PROFILE_LEGACY,
	NR_PROFILES,
};

enum launch_phase { PHASE_PRE_LAUNCH, PHASE_POST_LAUNCH, NR_PHASES };
enum convert_dir { DIR_TO_SHARED, DIR_TO_PRIVATE, NR_DIRS };

HIDDEN const char *profile_name(enum abi_profile p);
HIDDEN int profile_parse(const char *name, enum abi_profile *out);

/* ------------------------------------------------------------------ */
/* Platform models (vm/model_*.c): what the trusted entity does.       */

/* What happens to the bytes of a page that changes state with flags = 0. */
enum content_effect {
	EFFECT_NONE,     /* bytes unchanged */
	EFFECT_RANDOM,   /* fresh random bytes */
	EFFECT_SCRAMBLE, /* keyed scramble: ciphertext-like garbage */
	EFFECT_ZERO,     /* zeros (a side effect, not a guarantee) */
};

struct platform_model {
	const char *name;
	uint64_t vm_type;
	bool private_mem;
	/* content-mode flags accepted, per direction and launch phase */
	uint64_t modes[NR_DIRS][NR_PHASES];
	enum content_effect effect[NR_DIRS];
};

HIDDEN const struct platform_model *model_find(uint64_t vm_type);
HIDDEN const struct platform_model *const *model_all(size_t *count);
HIDDEN uint64_t model_accepted_modes(const struct platform_model *m,
				     enum abi_profile profile,
				     enum convert_dir dir,
				     enum launch_phase phase);
HIDDEN enum content_effect model_effect(const struct platform_model *m,
					enum abi_profile profile,
					enum convert_dir dir);
/* KVM_CHECK_EXTENSION: m == NULL answers for the system handle. */
HIDDEN long model_check_extension(const struct platform_model *m,
				  enum abi_profile profile, long cap);

extern HIDDEN const struct platform_model model_default;
extern HIDDEN const struct platform_model model_sw_protected;
extern HIDDEN const struct platform_model model_pkvm;
extern HIDDEN const struct platform_model model_snp;
extern HIDDEN const struct platform_model model_tdx;

/* ------------------------------------------------------------------ */
/* Range maps (gmem/rangemap.c)                                        */

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
};

/* Where a range map's records live: a gmem's shared metadata, or process
 * memory (the legacy profile's per-VM attributes). */
struct rm_space {
	struct gmem_rec *recs;
	struct gmem_pool *pool;
	uint64_t npages; /* keys are pages in [0, npages) */
};

/* A process's flat copy of a map for lookups between updates. */
#define RM_INDEX_FANOUT 8 /* keys per node: one cache line */
struct rm_index {
	uint32_t root;         /* the committed tree it copies */
	uint32_t nodes;
	uint32_t seen_root;    /* the tree slow_lookups counts for */
	uint32_t slow_lookups; /* since the tree last changed */
	uint64_t *key;         /* implicit B-tree nodes: RM_INDEX_FANOUT keys,
				* then the value of the extent before each */
	uint64_t last_val;
};


/* ------------------------------------------------------------------ */
/* Process-local objects behind fds                                     */

enum obj_type { OBJ_SYSTEM = 1, OBJ_VM, OBJ_GMEM, OBJ_VCPU };

struct object {
	enum obj_type type;
	dev_t dev;
	ino_t ino;
	int refs;          /* under registry lock */
	bool has_fd;       /* some fd of this process still names it */
	struct object *hash_next;
	void (*release)(struct object *obj);
};

struct system {
	struct object obj;
	enum abi_profile profile;
};

struct gmem;

struct memslot {
	uint32_t id;        /* as_id << 16 | slot */
	uint32_t flags;
	uint64_t gpa, size;
	uint64_t uaddr;
	uint64_t gmem_offset;
	struct gmem *g;     /* with a reference; NULL for plain memslots */
	/* real guests of encrypted models: the private range's and the
	 * shared alias's backing (kvm/host.c) */
	uint8_t *private_view, *shared_view;
};

struct vm {
	struct object obj;
	enum abi_profile profile;
	const struct platform_model *model;
	uint64_t id;
	uint64_t key;      /* per-VM secret for the keyed scramble */
	_Atomic int phase; /* enum launch_phase */
	pthread_mutex_t lock; /* gmems list */
	struct gmem **gmems; /* gmems created by this VM (weak) */
	size_t nr_gmems, cap_gmems;

	/* Memslots, the launch measurement and (legacy profile) the per-GPA
	 * attributes: written under the write lock, read by guest accesses
	 * under the read lock.  Taken before any gmem lock. */
	pthread_rwlock_t slots_lock;
	struct memslot *slots;
	size_t nr_slots, cap_slots;
	uint8_t measurement[32];
	struct rm_space legacy_space;
	struct gmem_pool legacy_pool;
	struct rangemap legacy_attrs;
	int real_fd; /* the real KVM VM underneath, once a vCPU exists */
	unsigned int shared_bit; /* GPA bit of the shared alias (SNP, TDX) */
};

/* A real vCPU of the real VM underneath (kvm/host.c). */
struct vcpu {
	struct object obj;
	struct vm *vm; /* with a reference */
	int real_fd;
	struct kvm_run *run;  /* our own mapping of the real kvm_run */
	size_t run_size;
	bool hypercall_pending; /* a doorbell shown as KVM_EXIT_HYPERCALL */
	uint8_t saved_exit[256]; /* kvm_run's exit union it replaced */
	/* a wrong-intent access shown as KVM_EXIT_MEMORY_FAULT, completed
	 * by the next KVM_RUN once the page has the access's state */
	bool fault_pending;
	bool fault_private;
	uint64_t fault_gpa; /* without the shared bit */
	uint64_t mmio_addr;
	uint32_t mmio_len;
	uint8_t mmio_write;
	uint8_t mmio_data[8];
};

/* Registry (uapi/object.c) */
HIDDEN void obj_init(struct object *obj, enum obj_type type, int fd,
		     void (*release)(struct object *));
HIDDEN int obj_insert(struct object *obj);
/* Find the object behind fd (attaching a gmem received from elsewhere).
 * Returns a reference, or NULL when fd is not one of gmemu's. */
HIDDEN struct object *obj_get_fd(int fd);
HIDDEN void obj_get(struct object *obj);
HIDDEN void obj_put(struct object *obj);
HIDDEN void obj_fd_closed(struct object *obj, int closed_fd);
HIDDEN void registry_lock(void);
HIDDEN void registry_unlock(void);
HIDDEN dev_t memfd_dev(void);

/* ------------------------------------------------------------------ */
/* Shared metadata of a gmem: lives in the gmem's memfd, after the data */

#define GMEM_MAGIC 0x676d656d75686472ULL /* "gmemuhdr" */
#define GMEM_VERSION 1
#define GMEM_MEMFD_NAME "gmemu-gmem"
#define GMEM_META_RESERVE (256ULL << 20) /* virtual, touched on demand */
#define GMEM_MAX_PROCS 64
#define GMEM_MAX_SIZE (1ULL << 46)





enum proc_state { PROC_FREE, PROC_LIVE, PROC_PENDING_FORK };

struct gmem_proc {
	_Atomic uint32_t state;
	int32_t pid;
	uint64_t starttime; /* /proc/pid/stat field 22: tells pid reuse */
	uint32_t views;     /* first view record */
	uint32_t nr_views;
	uint64_t pending_since_ns;
	uint32_t nr_private_views;    /* a real guest's private ranges */
	uint32_t pad0;
	/* revocation protocol (gmem/peers.c) */
	_Atomic uint32_t wake;        /* futex: the agent's doorbell */
	_Atomic uint32_t need_resync; /* missed a request: resync all views */
	_Atomic uint64_t invite;      /* generation it is asked to handle */
	_Atomic uint64_t ack_gen;     /* last generation it handled */
	_Atomic int32_t ack_err;      /* and its result */
	uint32_t pad;
};

struct gmem_counters {
	uint64_t to_private, to_shared;
	uint64_t bytes_zeroed, bytes_scrambled;
	uint64_t eagain, enomem;
	uint64_t peer_requests, peer_wait_ns;
	uint64_t recoveries;
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
	uint64_t vm_key;
	uint32_t profile;
	_Atomic uint32_t phase;
	pthread_mutex_t lock; /* robust, process-shared */
	uint64_t generation;
	uint32_t inject_enomem;
	uint32_t revoke_timeout_ms;
	_Atomic uint32_t seq;      /* odd while the lock is held */
	_Atomic uint32_t ack_word; /* futex: agents ring it when they answer */
	struct gmem_request req;
	struct gmem_pool pool;
	struct rangemap attrs; /* value: KVM_MEMORY_ATTRIBUTE_PRIVATE or 0 */
	struct rangemap pins;  /* value: long-term | transient << 32 */
	struct gmem_counters ctr;
	struct gmem_proc procs[GMEM_MAX_PROCS];
};

struct view;

struct gmem {
	struct object obj;
	int fd;             /* internal descriptor of the memfd (cloexec) */
	uint8_t *base;      /* trusted view [0, size), then metadata */
	struct gmem_hdr *hdr;
	struct gmem_rec *recs;
	struct rm_space space; /* recs and the header's pool */
	struct rm_index attr_index; /* under the gmem lock */
	uint64_t size, npages;
	struct vm *vm;      /* creating VM, while it lives in this process */
	struct view *views; /* this process's views (registry lock) */
	int slot;           /* our entry in hdr->procs, -1 without views */
	pthread_t agent;    /* our agent for this gmem, while we have views */
	bool agent_running;
	_Atomic bool agent_stop;
	_Atomic bool agent_ready;
};

/* gmem/gmem.c */
HIDDEN int gmem_create(struct vm *vm, uint64_t size, uint64_t flags);
HIDDEN int gmem_attach(int fd, const struct stat *st, struct gmem **out);
HIDDEN int gmem_lock(struct gmem *g);
HIDDEN int gmem_trylock(struct gmem *g);
HIDDEN void gmem_unlock(struct gmem *g);
HIDDEN int gmem_fallocate(struct gmem *g, int mode, off_t offset, off_t len);
HIDDEN int gmem_fstat(struct gmem *g, int fd, struct stat *st);
HIDDEN int gmem_pin(struct gmem *g, uint64_t offset, uint64_t len, int delta);
HIDDEN int gmem_pin_transient(struct gmem *g, uint64_t offset);
HIDDEN int gmem_info(struct gmem *g, struct gmemu_gmem_info *info);
HIDDEN int gmem_dump(struct gmem *g, FILE *out);
HIDDEN int gmem_picture(struct gmem *g, char *buf, size_t width);
HIDDEN bool proc_alive(const struct gmem_proc *p);
HIDDEN uint64_t proc_starttime(pid_t pid);
HIDDEN uint64_t now_ns(void);

/* gmem/rangemap.c: record pools and range maps over them */
HIDDEN void pool_init(struct gmem_pool *pool, uint32_t capacity);
HIDDEN uint32_t pool_alloc(struct rm_space *s);
HIDDEN void pool_free(struct rm_space *s, uint32_t idx);
HIDDEN uint32_t pool_available(const struct rm_space *s);

HIDDEN int rm_init(struct rm_space *s, struct rangemap *m, uint64_t value);
HIDDEN uint64_t rm_get(struct rm_space *s, const struct rangemap *m,
		       uint64_t page, uint64_t *end);
/* rm_get, through (and building, when lookups dominate) the index. */
HIDDEN uint64_t rm_get_indexed(struct rm_space *s, const struct rangemap *m,
			       struct rm_index *ix, uint64_t page,
			       uint64_t *end);
HIDDEN void rm_index_free(struct rm_index *ix);
/* Atomic: on failure (-ENOMEM) the map is as it was. */
HIDDEN int rm_assign(struct rm_space *s, struct rangemap *m, uint64_t first,
		     uint64_t end, uint64_t value);
/* After a holder of the lock died: recount the maps and rebuild the free
 * list from what the maps and the record lists still reach. */
HIDDEN int rm_recover(struct rm_space *s, struct rangemap **maps, int nr_maps,
		      const uint32_t *lists, int nr_lists);
/* Records an assignment may need (path copies), checked before anything
 * changes elsewhere; rm_assign itself fails cleanly if the pool runs dry. */
#define RM_ASSIGN_NODES 256

/* gmem/view.c: host views and the mapping mechanism */
struct view {
	struct gmem *g;
	uint8_t *addr;
	uint64_t len;
	uint64_t first_page; /* gmem page mapped at addr */
	int prot;
	int map_flags;       /* extra mmap flags to repeat on remaps */
	uint32_t rec;        /* shared view record */
	uint32_t fork_rec;   /* the record cloned for a child being forked */
	uint64_t maps;       /* the attribute whose pages it maps: 0 for host
			      * views, PRIVATE for a real guest's private range */
	struct view *next;   /* g->views list */
};

HIDDEN void *view_create(struct gmem *g, void *addr, size_t len, int prot,
			 int flags, off_t offset, int *err);
HIDDEN void *view_create_kind(struct gmem *g, void *addr, size_t len, int prot,
			      int flags, off_t offset, uint64_t maps, int *err);
HIDDEN int views_private_revoke(struct gmem *g, uint64_t first, uint64_t end);
HIDDEN int views_sync_private(struct gmem *g, uint64_t first, uint64_t end);
HIDDEN int view_unmap(void *addr, size_t len);
/* To-private: currently shared pages of [first, end) become SIGBUS in every
 * view of this process.  All or nothing. */
HIDDEN int views_revoke(struct gmem *g, uint64_t first, uint64_t end);
/* To-shared in two steps around the content effect: isolate the private
 * pieces (all or nothing, the step that can hit vm.max_map_count), then map
 * the memfd over them; cancel undoes the first step. */
HIDDEN int views_prepare_grant(struct gmem *g, uint64_t first, uint64_t end);
HIDDEN void views_cancel_grant(struct gmem *g, uint64_t first, uint64_t end,
			       size_t pieces);
HIDDEN int views_grant(struct gmem *g, uint64_t first, uint64_t end);
/* Make this process's views of [first, end) match the attributes. */
HIDDEN int views_sync(struct gmem *g, uint64_t first, uint64_t end);
HIDDEN void slot_clear(struct gmem *g, struct gmem_proc *pr);
HIDDEN int view_proc_slot_get(struct gmem *g);
HIDDEN void view_proc_slot_put(struct gmem *g);
HIDDEN void procs_reap(struct gmem *g);
HIDDEN void views_index_add(struct gmem *g);
HIDDEN void views_index_del(struct gmem *g);
HIDDEN int sigbus_fd(void);
HIDDEN void agents_stop_all(void);
HIDDEN void views_atfork_prepare(void);
HIDDEN void views_atfork_parent(void);
HIDDEN void views_atfork_child(void);

/* gmem/peers.c: revocation across processes */
#define REVOKE_TIMEOUT_MS_DEFAULT 1000
/* Under the gmem lock: have every other process whose views meet the range
 * (only those in the slot mask only, if non-zero) apply op, and wait
 * (bounded).  *done: the slots that did.  -EAGAIN (or an agent's error) with
 * *failed_at = first page of the range a failing process maps. */
HIDDEN int peers_request(struct gmem *g, enum peer_op op, uint64_t first,
			 uint64_t end, uint64_t only, uint64_t *done,
			 uint64_t *failed_at);
HIDDEN void peers_resync_all(struct gmem *g);
HIDDEN int agent_start(struct gmem *g);
HIDDEN void agent_stop(struct gmem *g);

/* gmem/convert.c */
HIDDEN int gmem_convert(struct gmem *g, struct kvm_memory_attributes2 *attr);
/* Test hook: a converter kills itself (holding the lock) at point 1 (peers
 * revoked), 2 (bytes changed, attributes not yet) or 3 (committed). */
HIDDEN extern int gmem_crash_point;

/* gmem/content.c: byte transformations on the trusted view */
HIDDEN void content_apply(struct gmem *g, enum content_effect effect,
			  uint64_t first, uint64_t end);
HIDDEN void content_zero(struct gmem *g, uint64_t first, uint64_t end);

/* vm/vm.c */
HIDDEN int vm_create(struct system *sys, unsigned long type);
HIDDEN long vm_ioctl(struct vm *vm, int fd, unsigned long req, void *arg);
HIDDEN void vm_forget_gmem(struct vm *vm, struct gmem *g);

/* vm/memslot.c */
HIDDEN int memslot_set(struct vm *vm, const struct kvm_userspace_memory_region2 *r,
		       bool v2);
HIDDEN struct memslot *memslot_find(struct vm *vm, uint64_t gpa);
HIDDEN void memslots_release(struct vm *vm);

/* vm/legacy.c: per-VM attributes of mainline 6.8-6.18 */
HIDDEN int legacy_init(struct vm *vm);
HIDDEN void legacy_release(struct vm *vm);
HIDDEN int legacy_set_attributes(struct vm *vm, const void *arg);
/* Is the page at gpa private?  Read or write slots_lock held. */
HIDDEN bool vm_page_private(struct vm *vm, const struct memslot *s, uint64_t gpa);

/* vm/uaccess.c */
HIDDEN int uaccess_read(void *dst, const void *user_src, size_t len);
HIDDEN int uaccess_write(void *user_dst, const void *src, size_t len);

/* vm/launch.c */
#define VM_MAX_GMEMS 16 /* distinct gmems behind one access or populate */
HIDDEN int vm_range_gmems(struct vm *vm, uint64_t gpa, uint64_t len,
			  bool need_gmem, struct gmem **gs, int *n);
HIDDEN int vm_lock_gmems(struct gmem **gs, int n);
HIDDEN int vm_lock_range(struct vm *vm, uint64_t gpa, uint64_t len,
			 bool need_gmem, struct gmem **gs, int *n);
HIDDEN void vm_unlock_gmems(struct gmem **gs, int n);
HIDDEN uint8_t *vm_host_ptr(struct vm *vm, const struct memslot *s,
			    uint64_t gpa, bool private);
HIDDEN int vm_populate(struct vm *vm, uint64_t gpa, const void *src,
		       uint64_t len);
HIDDEN int vm_finalize(struct vm *vm);

/* vm/vcpu.c */
HIDDEN int vcpu_access(struct vm *vm, uint64_t gpa, void *buf, size_t len,
		       unsigned int flags, struct gmemu_exit *exit);

/* kvm/host.c: real guests on /dev/kvm */
HIDDEN int kvmhost_fd(void);
HIDDEN int kvmhost_slot_changed(struct vm *vm, struct memslot *s, bool del);
HIDDEN bool vm_has_alias(const struct vm *vm);
HIDDEN int vm_set_shared_bit(struct vm *vm, unsigned int bit);
HIDDEN int vcpu_create(struct vm *vm, unsigned long id);
HIDDEN long vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg);
HIDDEN void *vcpu_mmap(struct vcpu *v, void *addr, size_t len, int prot,
		       int flags, off_t offset);

/* uapi/trace.c */
HIDDEN extern int trace_enabled;
HIDDEN void trace_init(void);
HIDDEN void trace_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
HIDDEN const char *ioctl_name(unsigned long req);

#endif /* GMEMU_INTERNAL_H */
