// SPDX-License-Identifier: MIT
/*
 * Revocation across processes.
 *
 * The kernel zaps every process's page tables on to-private; user space
 * cannot do that for another process without destroying the bytes, so each
 * process that has views of a gmem runs an agent thread that changes its
 * views on request.  A converter (holding the gmem lock) invites the agents
 * of the processes whose views meet the range, wakes them through a futex in
 * the shared header, and waits for their acknowledgements:
 *
 *   converter                         agent of process P
 *   req = {gen, op, range}
 *   P.invite = gen, wake(P.wake)  ->  claim: P.invite gen -> gen|CLAIMED
 *                                     change P's views (the attributes are
 *                                     stable: the converter holds the lock)
 *   wait(ack_word)               <-   P.ack_gen = gen, wake(ack_word)
 *
 * A process that has exited (zombie or reaped) or exec()ed is dropped as
 * soon as the converter looks; one that does not answer within the bound
 * has its invitation withdrawn (if it had not claimed it yet) and the
 * request fails for it.  An agent whose invitation was withdrawn, or whose
 * process missed requests, resynchronises all its views with the attributes
 * under the lock as soon as it runs again.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"

#define CLAIMED (1ULL << 63)
#define FIRST_SLICE_NS 50000ULL      /* first liveness check */
#define MAX_SLICE_NS 1000000ULL      /* later ones */
/* Conversions come in bursts (a guest sharing and unsharing bounce
 * buffers): an agent that just answered polls a little before sleeping,
 * and a converter polls a little before sleeping on the answers.  A futex
 * round trip costs tens of microseconds on this machine; a poll, a few. */
#define AGENT_POLL_NS 200000ULL
#define CONVERTER_POLL_NS 30000ULL

static int futex_wait(_Atomic uint32_t *word, uint32_t val, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL),
			       (long)(ns % 1000000000ULL) };

	return (int)syscall(SYS_futex, word, FUTEX_WAIT, val,
			    ns == UINT64_MAX ? NULL : &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* First page of [first, end) that process slot pr maps, or end. */
static uint64_t first_mapped(struct gmem *g, const struct gmem_proc *pr,
			     uint64_t first, uint64_t end)
{
	uint64_t best = end;
	uint32_t r;

	for (r = pr->views; r; r = g->recs[r].left) {
		uint64_t lo = MAX(first, g->recs[r].key);
		uint64_t hi = MIN(end, g->recs[r].key + g->recs[r].value);

		if (lo < hi)
			best = MIN(best, lo);
	}
	return best;
}

/* Does process pid still map this gmem's memfd?  (An exec() drops every
 * mapping but keeps the pid and start time.) */
static bool proc_maps_gmem(struct gmem *g, pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false; /* gone */
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned int maj, min;
		unsigned long long ino;

		if (sscanf(line, "%*x-%*x %*s %*x %x:%x %llu", &maj, &min,
			   &ino) == 3 &&
		    ino == (unsigned long long)g->obj.ino &&
		    makedev(maj, min) == g->obj.dev)
			found = true;
	}
	fclose(f);
	return found;
}

/* Is the process behind slot i still there to answer?  Drops it if not. */
static bool peer_present(struct gmem *g, int i)
{
	struct gmem_proc *pr = &g->hdr->procs[i];
	uint32_t state = atomic_load(&pr->state);

	if (state == PROC_FREE)
		return false;
	if (state == PROC_LIVE && proc_alive(pr) && proc_maps_gmem(g, pr->pid))
		return true;
	if (state == PROC_PENDING_FORK && proc_alive(pr))
		return true;
	slot_clear(g, pr);
	return false;
}

int peers_request(struct gmem *g, enum peer_op op, uint64_t first,
		  uint64_t end, uint64_t only, uint64_t *done,
		  uint64_t *failed_at)
{
	struct gmem_hdr *h = g->hdr;
	uint64_t timeout = (uint64_t)h->revoke_timeout_ms * 1000000ULL;
	uint64_t gen, start, slice = FIRST_SLICE_NS, fail_page = end;
	int targets[GMEM_MAX_PROCS], n = 0, i, err = 0;
	bool pending;

	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &h->procs[i];

		if (i == g->slot || atomic_load(&pr->state) == PROC_FREE)
			continue;
		if (only && !(only & (1ULL << i)))
			continue;
		if (first_mapped(g, pr, first, end) < end)
			targets[n++] = i;
	}
	if (done)
		*done = 0;
	if (!n)
		return 0;

	start = now_ns();
	gen = atomic_load(&h->req.gen) + 1;
	h->req.first = first;
	h->req.end = end;
	h->req.op = op;
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
		if (futex_wait(&h->ack_word, seen, left) == -1 &&
		    errno == ETIMEDOUT) {
			/* slow path: are the silent ones still there? */
			for (i = 0; i < n; i++)
				if (targets[i] >= 0 &&
				    atomic_load(&h->procs[targets[i]].ack_gen) < gen &&
				    !peer_present(g, targets[i]))
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
		if (atomic_load(&pr->ack_gen) < gen &&
		    !atomic_compare_exchange_strong(&pr->invite, &inv, 0)) {
			/* it claimed the request and is working on it: it is
			 * running, so its answer is near */
			while (atomic_load(&pr->ack_gen) < gen) {
				uint32_t seen = atomic_load(&h->ack_word);

				if (atomic_load(&pr->ack_gen) >= gen)
					break;
				if (futex_wait(&h->ack_word, seen, MAX_SLICE_NS) == -1 &&
				    errno == ETIMEDOUT && !proc_alive(pr))
					break;
			}
		}
		if (atomic_load(&pr->ack_gen) < gen) {
			/* withdrawn: it resynchronises when it runs again */
			atomic_store(&pr->need_resync, 1);
			err = -EAGAIN;
			fail_page = MIN(fail_page, first_mapped(g, pr, first, end));
		} else if (atomic_load(&pr->ack_err)) {
			if (!err)
				err = atomic_load(&pr->ack_err);
			fail_page = MIN(fail_page, first_mapped(g, pr, first, end));
		} else if (done) {
			*done |= 1ULL << targets[i];
		}
	}
	h->ctr.peer_wait_ns += now_ns() - start;
	if (err && failed_at)
		*failed_at = fail_page < end ? fail_page : first;
	return err;
}

void peers_resync_all(struct gmem *g)
{
	int i;

	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &g->hdr->procs[i];

		if (i == g->slot || atomic_load(&pr->state) == PROC_FREE)
			continue;
		atomic_store(&pr->need_resync, 1);
		atomic_fetch_add(&pr->wake, 1);
		futex_wake(&pr->wake);
	}
}

/* ---- the agent: one thread per process per gmem it has views of ---- */

static void agent_ack(struct gmem *g, struct gmem_proc *me, uint64_t gen,
		      int err)
{
	atomic_store(&me->ack_err, err);
	atomic_store(&me->ack_gen, gen);
	atomic_fetch_add(&g->hdr->ack_word, 1);
	futex_wake(&g->hdr->ack_word);
}

/* Everything, under the lock, if it is free; false if it was not. */
static bool agent_resync(struct gmem *g, struct gmem_proc *me)
{
	if (gmem_trylock(g))
		return false;
	atomic_store(&me->need_resync, 0);
	views_sync(g, 0, g->npages);
	atomic_store(&me->ack_gen, atomic_load(&g->hdr->req.gen));
	gmem_unlock(g);
	return true;
}

static void *agent_main(void *arg)
{
	struct gmem *g = arg;
	struct gmem_hdr *h = g->hdr;
	struct gmem_proc *me = &h->procs[g->slot];
	uint64_t hot_until = 0;

	atomic_store(&g->agent_ready, true);
	while (!atomic_load(&g->agent_stop)) {
		uint32_t seen = atomic_load(&me->wake);
		uint64_t inv = atomic_load(&me->invite);

		if (inv && !(inv & CLAIMED) &&
		    atomic_compare_exchange_strong(&me->invite, &inv,
						   inv | CLAIMED)) {
			/* invited: the converter holds the lock and waits */
			int err;

			if (h->req.op == PEER_REVOKE)
				err = views_revoke(g, h->req.first, h->req.end);
			else
				err = views_sync(g, h->req.first, h->req.end);
			atomic_store(&me->invite, 0);
			agent_ack(g, me, inv, err);
			hot_until = now_ns() + AGENT_POLL_NS;
			continue;
		}
		if (atomic_load(&me->need_resync)) {
			if (agent_resync(g, me))
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

int agent_start(struct gmem *g)
{
	sigset_t all, old;
	int r;

	if (g->agent_running)
		return 0;
	atomic_store(&g->agent_stop, false);
	atomic_store(&g->agent_ready, false);
	/* The agent takes no signals: they belong to the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&g->agent, NULL, agent_main, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return r;
	g->agent_running = true;
	/* Return only once the thread is up: a fork() right after must not
	 * catch it inside the C library's (or a sanitizer's) thread start,
	 * holding a lock the child would inherit locked. */
	while (!atomic_load(&g->agent_ready))
		sched_yield();
	return 0;
}

/* Called with the gmem lock held: the agent never waits for the lock, and
 * is not invited while we hold it, so it exits promptly. */
void agent_stop(struct gmem *g)
{
	if (!g->agent_running)
		return;
	atomic_store(&g->agent_stop, true);
	atomic_fetch_add(&g->hdr->procs[g->slot].wake, 1);
	futex_wake(&g->hdr->procs[g->slot].wake);
	pthread_join(g->agent, NULL);
	g->agent_running = false;
}
