// SPDX-License-Identifier: MIT
/*
 *   converter                         agent of process P
 *   req = {gen, op, range}
 *   P.invite = gen, wake(P.wake)  ->  claim: P.invite gen -> gen|CLAIMED
 *                                     change P's views
 *   wait(ack_word)               <-   P.ack_gen = gen, wake(ack_word)
 *
 * A process that has exited (zombie or reaped) or exec()ed is dropped as
 * soon as the converter looks; one that does not answer within the bound has
 * its invitation withdrawn (if it had not claimed it yet) and the request
 * fails for it -- also when it had claimed it and then stopped (SIGSTOP):
 * every wait here is bounded by the revoke timeout.  An agent whose
 * invitation was withdrawn, or whose process missed requests, resynchronises
 * all its views with the attributes under the lock as soon as it can.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../base/sys.h"
#include "peers.h"

#define CLAIMED (1ULL << 63)
#define FIRST_SLICE_NS 50000ULL      /* first liveness check */
#define MAX_SLICE_NS 1000000ULL      /* later ones */
/* Conversions come in bursts (a guest sharing and unsharing bounce
 * buffers): an agent that just answered polls a little before sleeping,
 * and a converter polls a little before sleeping on the answers.  A futex
 * round trip costs tens of microseconds on this machine; a poll, a few. */
#define AGENT_POLL_NS 200000ULL
#define CONVERTER_POLL_NS 30000ULL
/* How often an agent that revoked looks whether its converter is done. */
#define WATCH_SLICE_NS 1000000ULL

static int futex_wait(_Atomic uint32_t *word, uint32_t val, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL),
			       (long)(ns % 1000000000ULL) };

	return (int)sys_futex(word, FUTEX_WAIT, val,
			      ns == UINT64_MAX ? NULL : &ts);
}

static void futex_wake(_Atomic uint32_t *word)
{
	sys_futex(word, FUTEX_WAKE, INT_MAX, NULL);
}

/* Is the process behind slot i still there to answer?  Drops it if it is
 * certainly gone. */
static bool peer_present(struct gmem_hdr *h, struct rm_space *s, int i)
{
	switch (proc_liveness(&h->procs[i])) {
	case PROC_GONE:
		procs_slot_clear(h, s, i);
		return false;
	case PROC_ALIVE:
	case PROC_UNKNOWN:
		break;
	}
	return true;
}

int peers_request(struct gmem_hdr *h, struct rm_space *s, int self,
		  enum peer_op op, uint64_t first, uint64_t end, uint64_t only,
		  uint64_t *done, uint64_t *failed_at)
{
	uint64_t timeout = (uint64_t)h->revoke_timeout_ms * 1000000ULL;
	uint64_t gen, start, slice = FIRST_SLICE_NS, fail_page = end;
	int targets[GMEM_MAX_PROCS], n = 0, i, err = 0;
	bool pending;

	if (done)
		*done = 0;
	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		if (i == self || atomic_load(&h->procs[i].state) == PROC_FREE)
			continue;
		if (only && !(only & (1ULL << i)))
			continue;
		if (procs_first_mapped(h, s, i, first, end) < end &&
		    peer_present(h, s, i))
			targets[n++] = i;
	}
	if (!n)
		return 0;

	start = now_ns();
	gen = atomic_load(&h->req.gen) + 1;
	/* a seqlock: an agent still reading an older request sees the
	 * generation change and knows its copy is not the request's */
	atomic_store(&h->req.gen, gen | CLAIMED);
	__atomic_store_n(&h->req.first, first, __ATOMIC_RELAXED);
	__atomic_store_n(&h->req.end, end, __ATOMIC_RELAXED);
	__atomic_store_n(&h->req.op, op, __ATOMIC_RELAXED);
	atomic_store(&h->req.gen, gen);
	for (i = 0; i < n; i++) {
		struct gmem_proc *pr = &h->procs[targets[i]];

		atomic_store(&pr->invite, gen);
		atomic_fetch_add(&pr->wake, 1);
		futex_wake(&pr->wake);
	}
	h->ctr.peer_requests++;

	for (;;) {
		uint32_t seen = atomic_load(&h->ack_word);
		uint64_t now, left;

		pending = false;
		for (i = 0; i < n; i++)
			if (targets[i] >= 0 &&
			    atomic_load(&h->procs[targets[i]].ack_gen) < gen)
				pending = true;
		if (!pending)
			break;
		now = now_ns();
		if (now - start >= timeout)
			break;
		if (now - start < CONVERTER_POLL_NS) {
			sched_yield();
			continue;
		}
		left = MIN(timeout - (now - start), slice);
		if (futex_wait(&h->ack_word, seen, left) == -ETIMEDOUT) {
			/* slow path: are the silent ones still there? */
			for (i = 0; i < n; i++)
				if (targets[i] >= 0 &&
				    atomic_load(&h->procs[targets[i]].ack_gen) < gen &&
				    !peer_present(h, s, targets[i]))
					targets[i] = -1;
			slice = MIN(slice * 2, MAX_SLICE_NS);
		}
	}

	for (i = 0; i < n; i++) {
		struct gmem_proc *pr;
		uint64_t inv = gen;

		if (targets[i] < 0)
			continue;
		pr = &h->procs[targets[i]];
		if (atomic_load(&pr->ack_gen) < gen) {
			/* withdraw it if not claimed yet; claimed and still
			 * silent after the bound (stopped, say) fails too */
			atomic_compare_exchange_strong(&pr->invite, &inv, 0);
			atomic_store(&pr->need_resync, 1);
			err = -EAGAIN;
			fail_page = MIN(fail_page,
					procs_first_mapped(h, s, targets[i], first, end));
		} else if (atomic_load(&pr->ack_err)) {
			if (!err)
				err = atomic_load(&pr->ack_err);
			fail_page = MIN(fail_page,
					procs_first_mapped(h, s, targets[i], first, end));
		} else if (done) {
			*done |= 1ULL << targets[i];
		}
	}
	h->ctr.peer_wait_ns += now_ns() - start;
	if (err && failed_at)
		*failed_at = fail_page < end ? fail_page : first;
	return err;
}

void peers_resync_all(struct gmem_hdr *h, int self)
{
	int i;

	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &h->procs[i];

		if (i == self || atomic_load(&pr->state) == PROC_FREE)
			continue;
		atomic_store(&pr->need_resync, 1);
		atomic_fetch_add(&pr->wake, 1);
		futex_wake(&pr->wake);
	}
}

void peers_resync_one(struct gmem_hdr *h, int slot)
{
	struct gmem_proc *pr = &h->procs[slot];

	atomic_store(&pr->need_resync, 1);
	atomic_fetch_add(&pr->wake, 1);
	futex_wake(&pr->wake);
}

void peers_recover(struct gmem_hdr *h)
{
	int i;

	/* Invitations of the dead converter: unclaimed ones are withdrawn;
	 * an agent at work finishes against attributes that no longer move,
	 * then everyone resynchronises. */
	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &h->procs[i];
		uint64_t inv = atomic_load(&pr->invite);

		if (inv && !(inv & CLAIMED))
			atomic_compare_exchange_strong(&pr->invite, &inv, 0);
	}
}

/* ---- the agent: one thread per process per gmem it has views of ---- */

static void agent_ack(struct gmem_hdr *h, struct gmem_proc *me, uint64_t gen,
		      int err)
{
	atomic_store(&me->ack_err, err);
	atomic_store(&me->ack_gen, gen);
	atomic_fetch_add(&h->ack_word, 1);
	futex_wake(&h->ack_word);
}

/* The request of generation gen, if it is still the one published. */
static bool request_read(struct gmem_hdr *h, uint64_t gen, uint32_t *op,
			 uint64_t *first, uint64_t *end)
{
	if (atomic_load(&h->req.gen) != gen)
		return false;
	/* acquire loads: the check of the generation after them cannot
	 * move before them */
	*op = __atomic_load_n(&h->req.op, __ATOMIC_ACQUIRE);
	*first = __atomic_load_n(&h->req.first, __ATOMIC_ACQUIRE);
	*end = __atomic_load_n(&h->req.end, __ATOMIC_ACQUIRE);
	return atomic_load(&h->req.gen) == gen;
}

static void *agent_main(void *arg)
{
	struct peer_agent *a = arg;
	struct gmem_hdr *h = a->hdr;
	struct gmem_proc *me = &h->procs[a->slot];
	uint64_t hot_until = 0, watch_until = 0;
	uint32_t watch_seq = 0;

	atomic_store(&a->tid, sys_gettid());
	while (!atomic_load(&a->stop)) {
		uint32_t seen = atomic_load(&me->wake);
		uint64_t inv = atomic_load(&me->invite);

		if (inv && !(inv & CLAIMED) &&
		    atomic_compare_exchange_strong(&me->invite, &inv,
						   inv | CLAIMED)) {
			/* invited: the converter holds the lock and waits */
			uint64_t claimed = inv | CLAIMED, first, end;
			uint32_t op = 0;
			int err;

			/* test builds: a peer stopped after claiming */
			if (FAULT_INJECT("agent_claimed"))
				raise(SIGSTOP); /* stops us before we go on */
			if (request_read(h, inv, &op, &first, &end))
				err = a->ops->apply(a->ctx, (enum peer_op)op,
						    first, end);
			else
				err = -EAGAIN; /* gone: resync below */
			if (err == -EAGAIN)
				atomic_store(&me->need_resync, 1);
			/* before the ack: the converter holds the lock until
			 * it has them all */
			watch_seq = atomic_load(&h->seq);

			/* a converter that gave up has withdrawn it meanwhile:
			 * our views may not match, resync */
			if (!atomic_compare_exchange_strong(&me->invite, &claimed, 0))
				atomic_store(&me->need_resync, 1);
			agent_ack(h, me, inv, err);
			hot_until = now_ns() + AGENT_POLL_NS;
			/* we gave up pages for a conversion not yet committed:
			 * should its converter die before it commits or rolls
			 * back, the views would stay revoked until someone
			 * takes the lock -- so we take it, once it is free */
			if (op == PEER_REVOKE)
				watch_until = now_ns() + (uint64_t)h->revoke_timeout_ms *
							 1000000ULL;
			continue;
		}
		if (watch_until) {
			if (a->ops->watch(a->ctx, watch_seq) == 0 ||
			    now_ns() > watch_until) {
				watch_until = 0;
				continue;
			}
			/* off the converter's path: a look each slice, or
			 * at once when invited again */
			if (!(hot_until && now_ns() < hot_until))
				futex_wait(&me->wake, seen, WATCH_SLICE_NS);
			else
				sched_yield();
			continue;
		}
		if (atomic_load(&me->need_resync)) {
			if (a->ops->resync(a->ctx) == 0)
				continue;
			futex_wait(&me->wake, seen, MAX_SLICE_NS);
			continue;
		}
		if (hot_until && now_ns() < hot_until) {
			sched_yield();
			continue;
		}
		hot_until = 0;
		futex_wait(&me->wake, seen, UINT64_MAX);
	}
	return NULL;
}

#define AGENT_STACK (1UL << 20) /* virtual: sanitizers want ~1 MiB */

int agent_start(struct peer_agent *a)
{
	pthread_attr_t attr;
	sigset_t all, old;
	long stack;
	int r;

	if (a->running)
		return 0;
	atomic_store(&a->stop, false);
	atomic_store(&a->tid, 0);
	/* A stack of our own: small, and never one a forked child inherited
	 * from the parent's agent (whose thread id it would repeat). */
	stack = sys_mmap(NULL, AGENT_STACK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
			 -1, 0);
	if (stack < 0 && stack > -4096)
		return (int)stack;
	a->stack = (void *)stack;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, a->stack, AGENT_STACK);
	/* The agent takes no signals: they belong to the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&a->thread, &attr, agent_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r) {
		sys_munmap(a->stack, AGENT_STACK);
		a->stack = NULL;
		return r;
	}
	a->running = true;
	/* Return only once the thread is up: a fork() right after must not
	 * catch it inside the C library's (or a sanitizer's) thread start,
	 * holding a lock the child would inherit locked. */
	while (!atomic_load(&a->tid))
		sched_yield();
	return 0;
}

void agent_stop(struct peer_agent *a)
{
	struct gmem_proc *me;

	if (!a->running)
		return;
	me = &a->hdr->procs[a->slot];
	atomic_store(&a->stop, true);
	atomic_fetch_add(&me->wake, 1);
	futex_wake(&me->wake);
	pthread_join(a->thread, NULL);
	sys_munmap(a->stack, AGENT_STACK);
	a->stack = NULL;
	a->running = false;
}
