// SPDX-License-Identifier: MIT
/*
 * The gmem object's host views in this process: registering the process
 * in the gmem's registry (a slot, an agent), creating and cutting views,
 * the process-wide list of gmems with views (munmap, fork, exit).
 *
 * Also this process's guest mappings: the gmem pages a vCPU backend reads
 * through the trusted view, registered like a private view so that other
 * processes' converters ask this process's agent about them.
 *
 * Locks: a gmem's lock first, then the process's view lock
 * (view_proc_lock), then the gmem's guest lock (held while its guest listeners run: a guest mapping
 * is not unregistered under one); a view set changes only under the first
 * two, a guest list under all three.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../base/sys.h"
#include "gmem_priv.h"

/* Under the process's view lock (view.h), which also guards every view. */
static struct gmem *with_views;
/* gmems in the list: a process without views answers without the lock
 * (every munmap of a program under the interposer asks) */
static _Atomic int nr_with_views;

struct gmem_guest_map {
	struct gmem *g;         /* with a reference */
	uint64_t first, end;    /* pages */
	uint32_t rec;           /* its record under our slot; 0 when detached
				 * (a forked child, the process exiting) */
	gmem_guest_listener listen;
	void *ctx;
	struct gmem_guest_map *next;
};

void gmem_views_lock(void)
{
	view_proc_lock();
}

void gmem_views_unlock(void)
{
	view_proc_unlock();
}

/* The repaired internal descriptor, for the views too. */
void gmem_views_set_memfd(struct gmem *g, int fd)
{
	view_proc_lock();
	g->views.memfd = fd;
	/* views that could not be mapped meanwhile are now */
	if (g->views.slot >= 0)
		peers_resync_one(g->hdr, g->views.slot);
	view_proc_unlock();
}

/* The view set's callback, view lock held: the repair of gmem_check_fd
 * from the descriptor of the call under way, without the view lock it
 * takes (the views are ours: we hold the gmem lock). */
int gmem_views_memfd_repair(struct view_set *vs)
{
	struct gmem *g = (struct gmem *)((uint8_t *)vs - offsetof(struct gmem, views));
	int r;

	if (vs->caller_fd < 0)
		return -EBADF;
	view_proc_unlock();
	r = gmem_check_fd(g, vs->caller_fd);
	view_proc_lock();
	return r ? r : vs->memfd;
}

/* The userfaultfd under this process's views was lost: the agent
 * resynchronises them under the gmem lock. */
void gmem_views_resync_soon(struct view_set *vs)
{
	struct gmem *g = (struct gmem *)((uint8_t *)vs - offsetof(struct gmem, views));

	if (vs->slot >= 0)
		peers_resync_one(g->hdr, vs->slot);
}

int gmem_views_mechanism(const char **name, const char **why)
{
	const struct uffd_caps *c;
	int r = view_mechanism(&c);

	if (name)
		*name = c->mech == MECH_UFFD ? "uffd" : "mapfixed";
	if (why)
		*why = c->why;
	return r;
}

void gmem_guests_notify(struct gmem *g, uint64_t first, uint64_t end)
{
	struct gmem_guest_map *m;

	pthread_mutex_lock(&g->guest_lock);
	for (m = g->guests; m; m = m->next) {
		uint64_t lo = MAX(first, m->first), hi = MIN(end, m->end);

		if (lo < hi)
			m->listen(m->ctx, lo << PAGE_SHIFT, (hi - lo) << PAGE_SHIFT);
	}
	pthread_mutex_unlock(&g->guest_lock);
}

/* ---- what the agent does for this process ---- */

static int agent_apply(void *ctx, enum peer_op op, uint64_t first,
		       uint64_t end)
{
	struct gmem *g = ctx;
	int r;

	/* our guests first: they need nothing but the bytes they had */
	gmem_guests_notify(g, first, end);
	/* revoking needs only the SIGBUS memfd; granting needs the gmem's,
	 * checked (our program may have closed our number) */
	if (op != PEER_REVOKE && gmem_fd(g) < 0)
		return -EBADF;
	/* the converter (another process) holds the gmem lock, so our own
	 * threads cannot change the views; the list lock says so to this
	 * process too (and to a race detector) */
	view_proc_lock();
	r = op == PEER_REVOKE ? views_revoke(&g->views, first, end)
			      : views_sync(&g->views, first, end);
	view_proc_unlock();
	return r;
}

static int agent_resync(void *ctx)
{
	struct gmem *g = ctx;
	struct gmem_proc *me;

	if (gmem_trylock(g))
		return -EBUSY;
	me = &g->hdr->procs[g->views.slot];
	atomic_store(&me->need_resync, 0);
	if (gmem_fd(g) >= 0) {
		view_proc_lock();
		views_sync(&g->views, 0, g->npages);
		view_proc_unlock();
	}
	gmem_guests_notify(g, 0, g->npages); /* we missed requests */
	atomic_store(&me->ack_gen, atomic_load(&g->hdr->req.gen));
	gmem_unlock(g);
	return 0;
}

static int agent_watch(void *ctx, uint32_t seq)
{
	struct gmem *g = ctx;
	int r;

	if (atomic_load(&g->hdr->seq) != seq)
		return 0; /* it let the lock go */
	/* a live holder: EBUSY at once; a dead one: recovered here */
	r = gmem_trylock(g);
	if (r)
		return r;
	gmem_unlock(g);
	return 0;
}

static const struct peer_ops agent_ops = {
	.apply = agent_apply,
	.resync = agent_resync,
	.watch = agent_watch,
};

/* ---- registration of this process ---- */

/* Under the gmem lock: our slot and agent, on the first view. */
static int proc_register(struct gmem *g)
{
	int slot, r;

	if (g->views.slot >= 0)
		return 0;
	slot = procs_slot_alloc(g->hdr, &g->space, -1);
	if (slot < 0)
		return slot;
	g->agent.slot = slot;
	g->agent.ops = &agent_ops;
	g->agent.ctx = g;
	r = agent_start(&g->agent);
	if (r)
		return r;
	procs_slot_claim(g->hdr, slot, sys_getpid(), atomic_load(&g->agent.tid),
			 view_proc_mech());
	g->views.slot = slot;
	return 0;
}

/* Under the gmem lock: drop our registration when no view (and no guest
 * mapping) is left.  Returns true when the gmem left the list (the caller
 * puts its ref). */
static bool proc_unregister_if_idle(struct gmem *g)
{
	bool left = false;

	if (g->views.head || g->guests || g->views.slot < 0)
		return false;
	agent_stop(&g->agent);
	procs_slot_clear(g->hdr, &g->space, g->views.slot);
	g->views.slot = -1;
	view_proc_lock();
	if (g->with_views) {
		struct gmem **pp;

		for (pp = &with_views; *pp; pp = &(*pp)->next_with_views) {
			if (*pp == g) {
				*pp = g->next_with_views;
				break;
			}
		}
		g->with_views = false;
		atomic_fetch_sub(&nr_with_views, 1);
		left = true;
	}
	view_proc_unlock();
	return left;
}

/* ---- views ---- */

long gmem_mmap(struct gmem *g, void *addr, size_t len, int prot, int flags,
	       off_t offset, uint64_t maps)
{
	struct view *v = NULL;
	bool left;
	int r;

	/* GMEMU_VIEWS refused, or forcing a mechanism that cannot run */
	r = view_mechanism(NULL);
	if (r)
		return r;
	/* MAP_FIXED over views: those views end here, as the kernel's
	 * mapping would replace theirs */
	if (flags & MAP_FIXED) {
		r = gmem_views_cut(addr, len);
		if (r)
			return r;
	}
	r = gmem_lock(g);
	if (r)
		return r;
	r = gmem_fd(g) < 0 ? -EBADF : 0;
	if (r)
		goto out;
	r = proc_register(g);
	if (r)
		goto out_idle;
	view_proc_lock();
	r = view_map(&g->views, addr, len, prot, flags,
		     (uint64_t)offset >> PAGE_SHIFT, maps, &v);
	if (r) {
		view_proc_unlock();
		goto out_idle;
	}
	r = FAULT_INJECT("view_link") ? -ENOMEM : view_link(&g->views, v);
	if (!r && !g->with_views) {
		g->with_views = true;
		g->next_with_views = with_views;
		with_views = g;
		atomic_fetch_add(&nr_with_views, 1);
		gmem_get(g); /* the list's */
	}
	if (r)
		view_unmap(v);
	view_proc_unlock();
	if (r)
		goto out_idle;
	gmem_unlock(g);
	return (long)v->addr;

out_idle:
	left = proc_unregister_if_idle(g);
	gmem_unlock(g);
	if (left)
		gmem_put(g);
	return r;
out:
	gmem_unlock(g);
	return r;
}

bool gmem_views_meet(const void *addr, size_t len)
{
	const uint8_t *lo = addr, *hi = lo + len;
	struct gmem *g;
	bool meet = false;

	if (!atomic_load_explicit(&nr_with_views, memory_order_relaxed))
		return false;
	view_proc_lock();
	for (g = with_views; g && !meet; g = g->next_with_views)
		meet = views_meet(&g->views, lo, hi);
	view_proc_unlock();
	return meet;
}

/* The first gmem whose views meet [lo, hi), with a reference. */
static struct gmem *find_meeting(const uint8_t *lo, const uint8_t *hi)
{
	struct gmem *g;

	if (!atomic_load_explicit(&nr_with_views, memory_order_relaxed))
		return NULL;
	view_proc_lock();
	for (g = with_views; g; g = g->next_with_views)
		if (views_meet(&g->views, lo, hi))
			break;
	if (g)
		gmem_get(g);
	view_proc_unlock();
	return g;
}

/* The views met by [addr, addr + len) end (their pieces unmapped); the
 * rest of the range is the caller's. */
int gmem_views_cut(void *addr, size_t len)
{
	uint8_t *lo = addr, *hi = lo + len;
	struct gmem *g;
	int r = 0;

	/* each gmem whose views meet the range, until none does: no bound
	 * on how many */
	while ((g = find_meeting(lo, hi))) {
		int freed;
		bool left;

		/* munmap cannot fail in the kernel: wait for the lock */
		r = gmem_lock_wait(g);
		if (r) {
			gmem_put(g);
			return r;
		}
		view_proc_lock();
		r = views_cut(&g->views, lo, hi, &freed);
		view_proc_unlock();
		left = proc_unregister_if_idle(g);
		gmem_unlock(g);
		if (left)
			gmem_put(g);
		gmem_put(g);
		if (r)
			return r;
	}
	return 0;
}

int gmem_munmap(void *addr, size_t len)
{
	int r = gmem_views_cut(addr, len);

	return r ? r : sys_munmap(addr, len);
}

/*
 * MADV_REMOVE over views: as on guest_memfd, the file's bytes behind the
 * range are punched out (attributes untouched), whatever the pages' state.
 */
int gmem_views_remove(void *addr, size_t len)
{
	struct piece {
		struct gmem *g;
		uint64_t off, len;
	} *pieces = NULL, *n;
	uint8_t *lo = addr, *hi = lo + len;
	size_t nr = 0, cap = 0, i;
	struct gmem *g;
	int r = 0;

	/* what to punch, taken under the list lock; punched outside it */
	view_proc_lock();
	for (g = with_views; g && !r; g = g->next_with_views) {
		struct view *v;

		for (v = g->views.head; v && !r; v = v->next) {
			uint8_t *a = MAX(lo, v->addr), *b = MIN(hi, v->addr + v->len);
			uint64_t off, end;

			if (a >= b)
				continue;
			off = (v->first_page << PAGE_SHIFT) + (uint64_t)(a - v->addr);
			end = MIN(off + (uint64_t)(b - a), g->size);
			if (off >= end)
				continue;
			if (nr == cap) {
				cap = cap ? 2 * cap : 8;
				n = realloc(pieces, cap * sizeof(*n));
				if (!n) {
					r = -ENOMEM;
					break;
				}
				pieces = n;
			}
			gmem_get(g);
			pieces[nr++] = (struct piece){ g, off, end - off };
		}
	}
	view_proc_unlock();
	for (i = 0; i < nr; i++) {
		if (!r)
			r = gmem_fallocate(pieces[i].g,
					   FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
					   (off_t)pieces[i].off, (off_t)pieces[i].len);
		gmem_put(pieces[i].g);
	}
	free(pieces);
	return r;
}

/* ---- guest mappings ---- */

int gmem_guest_map(struct gmem *g, uint64_t offset, uint64_t len,
		   gmem_guest_listener listen, void *ctx,
		   struct gmem_guest_map **out)
{
	struct gmem_guest_map *m = calloc(1, sizeof(*m));
	bool left;
	int r;

	if (!m)
		return -ENOMEM;
	m->first = offset >> PAGE_SHIFT;
	m->end = (offset + len + PAGE_SIZE - 1) >> PAGE_SHIFT;
	m->listen = listen;
	m->ctx = ctx;
	r = gmem_lock(g);
	if (r) {
		free(m);
		return r;
	}
	/* a slot and an agent, and a record other converters find: the
	 * range counts as a private view, told of changes both ways */
	r = proc_register(g);
	if (!r) {
		m->rec = procs_rec_add(g->hdr, &g->space, g->views.slot, m->first,
				       m->end - m->first);
		r = m->rec ? 0 : -ENOMEM;
	}
	if (r) {
		left = proc_unregister_if_idle(g);
		gmem_unlock(g);
		if (left)
			gmem_put(g);
		free(m);
		return r;
	}
	g->hdr->procs[g->views.slot].nr_private_views++;
	gmem_get(g);
	m->g = g;
	view_proc_lock();
	pthread_mutex_lock(&g->guest_lock);
	m->next = g->guests;
	g->guests = m;
	pthread_mutex_unlock(&g->guest_lock);
	if (!g->with_views) {
		/* on the list for fork and exit, as with views */
		g->with_views = true;
		g->next_with_views = with_views;
		with_views = g;
		atomic_fetch_add(&nr_with_views, 1);
		gmem_get(g); /* the list's */
	}
	view_proc_unlock();
	gmem_unlock(g);
	*out = m;
	return 0;
}

/* Under the gmem lock and the list lock: m's record goes. */
static void guest_detach(struct gmem *g, struct gmem_guest_map *m)
{
	if (!m->rec)
		return;
	procs_rec_del(g->hdr, &g->space, g->views.slot, m->rec);
	g->hdr->procs[g->views.slot].nr_private_views--;
	m->rec = 0;
}

void gmem_guest_unmap(struct gmem_guest_map *m)
{
	struct gmem *g = m->g;
	struct gmem_guest_map **pp;
	bool locked, left = false;

	/* cannot fail: wait for the lock (unless it is lost for good) */
	locked = gmem_lock_wait(g) == 0;
	view_proc_lock();
	pthread_mutex_lock(&g->guest_lock);
	for (pp = &g->guests; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&g->guest_lock);
	if (locked)
		guest_detach(g, m);
	view_proc_unlock();
	if (locked) {
		left = proc_unregister_if_idle(g);
		gmem_unlock(g);
	}
	if (left)
		gmem_put(g);
	gmem_put(g);
	free(m);
}

/*
 * The program zapped PTEs of its views itself (MADV_DONTNEED through the
 * interposer or gmemu_madvise): shared pages of registered runs are mapped
 * again at once, so a system call into them works as before.  (A user
 * access would have been repaired by the handler anyway.)
 */
void gmem_views_refill(void *addr, size_t len)
{
	uint8_t *lo = addr, *hi = lo + len;
	struct gmem *gs[16];
	struct gmem *g;
	int n = 0, i;

	view_proc_lock();
	for (g = with_views; g && n < (int)ARRAY_SIZE(gs); g = g->next_with_views) {
		if (views_meet(&g->views, lo, hi)) {
			gmem_get(g);
			gs[n++] = g;
		}
	}
	view_proc_unlock();
	for (i = 0; i < n; i++) {
		g = gs[i];
		if (gmem_lock(g) == 0) {
			if (gmem_fd(g) >= 0) {
				view_proc_lock();
				views_refill(&g->views, lo, hi);
				view_proc_unlock();
			}
			gmem_unlock(g);
		}
		gmem_put(g);
	}
}

/* ---- fork and exit ---- */

/*
 * Views are MADV_DONTFORK, so a child starts without them.  The child
 * handler registers the child in each gmem's registry and maps its views
 * again, from the attributes as they are then; a child that cannot be
 * registered simply has none.  No gmem lock is held across fork(), so a
 * fork never waits for (or deadlocks with) a conversion or a guest access.
 */
static void guest_locks(bool lock)
{
	struct gmem *g;

	for (g = with_views; g; g = g->next_with_views) {
		if (lock)
			pthread_mutex_lock(&g->guest_lock);
		else
			pthread_mutex_unlock(&g->guest_lock);
	}
}

static void atfork_prepare(void)
{
	views_fork_prepare();
	/* no listener runs across the fork (the child could not take the
	 * lock it held) */
	guest_locks(true);
}

static void atfork_parent(void)
{
	guest_locks(false);
	views_fork_parent();
}

static bool child_views_restore(struct gmem *g)
{
	struct view *v;
	int r;

	if (gmem_lock(g))
		return false;
	/* the address ranges first, before anything here allocates (the
	 * agent's thread) and could land in them */
	r = gmem_fd(g) < 0 ? -EBADF : 0;
	if (!r) {
		view_proc_lock();
		views_remap_all(&g->views);
		view_proc_unlock();
	}
	if (!r && !g->views.head)
		r = -ENOENT;
	if (!r)
		r = proc_register(g);
	for (v = g->views.head; v && !r; v = v->next) {
		v->rec = procs_rec_add(g->hdr, &g->space, g->views.slot,
				       v->first_page, v->len >> PAGE_SHIFT);
		if (!v->rec)
			r = -ENOMEM;
		else if (v->maps)
			g->hdr->procs[g->views.slot].nr_private_views++;
	}
	if (r) {
		/* unregistered, the child keeps no mapping */
		for (v = g->views.head; v; v = v->next)
			sys_munmap(v->addr, v->len);
		if (g->views.slot >= 0) {
			agent_stop(&g->agent);
			procs_slot_clear(g->hdr, &g->space, g->views.slot);
			g->views.slot = -1;
		}
	}
	gmem_unlock(g);
	return !r;
}

static void atfork_child(void)
{
	struct gmem **pp, *g;

	/* we are the only thread: the list is ours to walk */
	guest_locks(false);
	views_fork_child();
	for (g = with_views; g; g = g->next_with_views) {
		struct gmem_guest_map *m;

		/* the parent's slot and agent are not ours, nor its guests
		 * (whose vCPU threads did not come along): their records
		 * stay the parent's, their owners unmap them as detached */
		g->views.slot = -1;
		g->agent.running = false;
		for (m = g->guests; m; m = m->next)
			m->rec = 0;
		g->guests = NULL;
	}
	for (pp = &with_views; (g = *pp);) {
		if (child_views_restore(g)) {
			pp = &g->next_with_views;
			continue;
		}
		*pp = g->next_with_views;
		g->with_views = false;
		atomic_fetch_sub(&nr_with_views, 1);
		views_forget(&g->views);
		gmem_put(g);
	}
}

/*
 * At exit our views go (as the kernel's go with the process) and our agents
 * stop, before the rest of the process's exit work (a leak checker walking
 * threads, say): no converter then waits for a process that is leaving.
 */
static void gmem_exit(void)
{
	for (;;) {
		struct gmem *g;
		int freed;
		bool left;

		view_proc_lock();
		for (g = with_views; g && g->exiting; g = g->next_with_views)
			;
		if (g) {
			g->exiting = true;
			gmem_get(g);
		}
		view_proc_unlock();
		if (!g)
			break;
		if (gmem_lock(g) == 0) {
			struct gmem_guest_map *m;

			view_proc_lock();
			views_cut(&g->views, NULL, (uint8_t *)UINTPTR_MAX, &freed);
			/* guests detach: their owners unmap them later, or
			 * never */
			pthread_mutex_lock(&g->guest_lock);
			for (m = g->guests; m; m = m->next)
				guest_detach(g, m);
			g->guests = NULL;
			pthread_mutex_unlock(&g->guest_lock);
			view_proc_unlock();
			left = proc_unregister_if_idle(g);
			gmem_unlock(g);
			if (left)
				gmem_put(g);
		} else {
			/* cannot take the lock: stop answering at least; a
			 * converter sees the agent gone */
			agent_stop(&g->agent);
		}
		gmem_put(g);
	}
	views_shutdown();
}

__attribute__((constructor)) static void gmem_process_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	atexit(gmem_exit);
}
