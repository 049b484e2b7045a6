// SPDX-License-Identifier: MIT
/*
 * Observability: info, one page's attribute, the attribute picture, and the
 * dump that `gmemu inspect` prints -- taken without the lock where it can
 * be, so that inspecting never delays a conversion.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/sys.h"
#include "gmem_priv.h"

static uint32_t pinned_pages(struct gmem *g)
{
	uint64_t p, next, n = 0;

	for (p = 0; p < g->npages; p = next)
		if ((uint32_t)rm_get(&g->space, &g->hdr->pins, p, &next))
			n += next - p;
	return (uint32_t)MIN(n, UINT32_MAX);
}

int gmem_info(struct gmem *g, struct gmemu_gmem_info *out)
{
	struct gmem_hdr *h = g->hdr;
	int r = gmem_lock(g);

	if (r)
		return r;
	out->size = h->size;
	out->flags = h->flags;
	out->vm_type = h->vm_type;
	snprintf(out->profile, sizeof(out->profile), "%s", abi_name(gmem_abi(g)));
	out->finalized = atomic_load(&h->phase) == PHASE_POST_LAUNCH;
	out->nr_extents = h->attrs.nr_extents;
	out->nr_pinned_pages = pinned_pages(g);
	/* a process that has exited no longer counts */
	procs_reap(h, &g->space, g->views.slot);
	out->nr_processes = (uint32_t)procs_count(h);
	out->conversions_to_private = h->ctr.to_private;
	out->conversions_to_shared = h->ctr.to_shared;
	out->bytes_zeroed = h->ctr.bytes_zeroed;
	out->bytes_scrambled = h->ctr.bytes_scrambled;
	out->eagain = h->ctr.eagain;
	out->enomem = h->ctr.enomem;
	/* what the metadata occupies: the header and the record pool's
	 * high-water mark (the rest of the reserve is never touched) */
	out->meta_bytes = sizeof(*h) + (uint64_t)h->pool.bump *
					      sizeof(struct gmem_rec);
	out->revocation_requests = h->ctr.peer_requests;
	out->revocation_wait_ns = h->ctr.peer_wait_ns;
	out->recoveries = h->ctr.recoveries;
	out->revoke_timeout_ms = h->revoke_timeout_ms;
	gmem_unlock(g);
	return 0;
}

int gmem_attribute(struct gmem *g, uint64_t offset)
{
	int r;

	if (offset >= g->size)
		return -EINVAL;
	r = gmem_lock(g);
	if (r)
		return r;
	r = gmem_page_private(g, offset) ? (int)PRIVATE : 0;
	gmem_unlock(g);
	return r;
}

/* Is any byte of [first, end) pages allocated? */
static bool range_used(struct gmem *g, uint64_t first, uint64_t end)
{
	off_t d = sys_lseek(g->fd, (off_t)(first << PAGE_SHIFT), SEEK_DATA);

	return d >= 0 && (uint64_t)d < (end << PAGE_SHIFT);
}

static void picture(struct gmem *g, char *buf, size_t width)
{
	uint64_t per, i, cells;

	cells = MIN((uint64_t)width, g->npages);
	per = (g->npages + cells - 1) / cells;
	cells = (g->npages + per - 1) / per;
	for (i = 0; i < cells; i++) {
		uint64_t first = i * per, end = MIN(first + per, g->npages);
		uint64_t p, next;
		bool priv = false, shared = false;
		char c;

		for (p = first; p < end; p = MAX(next, p + 1)) {
			if (rm_get(&g->space, &g->hdr->attrs, p, &next))
				priv = true;
			else
				shared = true;
		}
		c = priv && shared ? 'M' : priv ? 'P' : 'S';
		buf[i] = range_used(g, first, end) ? c : (char)(c + 'a' - 'A');
	}
	buf[cells] = '\0';
}

int gmem_picture(struct gmem *g, char *buf, size_t width)
{
	int r = gmem_lock(g);

	if (r)
		return r;
	if (gmem_fd(g) < 0)
		r = -EBADF;
	else
		picture(g, buf, width);
	gmem_unlock(g);
	return r;
}

static const char *views_mech_name(uint32_t m)
{
	switch (m) {
	case PROC_VIEWS_MAPFIXED:
		return "mapfixed";
	case PROC_VIEWS_UFFD_POISON:
		return "uffd";
	case PROC_VIEWS_UFFD_ISOLATE:
		return "uffd-isolate";
	default:
		return "?";
	}
}

static const char *liveness_name(const struct gmem_proc *pr)
{
	switch (proc_liveness(pr)) {
	case PROC_ALIVE:
		return "alive";
	case PROC_GONE:
		return "gone";
	default:
		return "unknown";
	}
}

static void dump_state(struct gmem *g, FILE *out)
{
	struct gmem_hdr *h = g->hdr;
	const struct platform_model *m = gmem_model(g);
	uint64_t p, next, v;
	char pic[65];
	int i, n = 0;

	fprintf(out, "gmem size=%#llx flags=%#llx vm_type=%s profile=%s phase=%s "
		     "layout=%u\n",
		(unsigned long long)h->size, (unsigned long long)h->flags,
		m ? m->name : "?", abi_name(gmem_abi(g)),
		atomic_load(&h->phase) == PHASE_POST_LAUNCH ? "post-launch"
							    : "pre-launch",
		h->version);
	picture(g, pic, 64);
	fprintf(out, "map: [%s]\n", pic);
	fprintf(out, "     one character per %llu page(s): P private, S shared, "
		     "M both; lower case: never used (reads zero)\n",
		(unsigned long long)((g->npages + 63) / 64));
	fprintf(out, "extents (%u):\n", h->attrs.nr_extents);
	for (p = 0; p < g->npages && n++ < 4096; p = MAX(next, p + 1)) {
		v = rm_get(&g->space, &h->attrs, p, &next);
		fprintf(out, "  [%#llx, %#llx) %s\n",
			(unsigned long long)(p << PAGE_SHIFT),
			(unsigned long long)(MIN(next, g->npages) << PAGE_SHIFT),
			v ? "private" : "shared");
	}
	fprintf(out, "pins (long-term: GUP-like references; transient: cleared "
		     "by the next to-private conversion):\n");
	for (p = 0, n = 0; p < g->npages && n++ < 4096; p = MAX(next, p + 1)) {
		v = rm_get(&g->space, &h->pins, p, &next);
		if (v)
			fprintf(out, "  [%#llx, %#llx) long-term=%u transient=%u\n",
				(unsigned long long)(p << PAGE_SHIFT),
				(unsigned long long)(MIN(next, g->npages) << PAGE_SHIFT),
				(uint32_t)v, (uint32_t)(v >> 32));
	}
	fprintf(out, "processes with views (answered: the last revocation "
		     "request each has handled):\n");
	for (i = 0; i < GMEM_MAX_PROCS; i++) {
		struct gmem_proc *pr = &h->procs[i];

		if (atomic_load(&pr->state) == PROC_FREE)
			continue;
		fprintf(out, "  pid=%d %s views=%u answered=%llu mechanism=%s%s\n",
			pr->pid, liveness_name(pr), pr->nr_views,
			(unsigned long long)atomic_load(&pr->ack_gen),
			views_mech_name(pr->views_mech),
			atomic_load(&pr->need_resync) ? " resync-pending" : "");
	}
	fprintf(out,
		"counters: conversions to_private=%llu to_shared=%llu "
		"committed=%llu\n"
		"          bytes zeroed=%llu scrambled=%llu  failures eagain=%llu "
		"enomem=%llu\n"
		"          revocation requests=%llu (last #%llu) waited=%llu us  "
		"recoveries=%llu populated_pages=%llu\n",
		(unsigned long long)h->ctr.to_private,
		(unsigned long long)h->ctr.to_shared,
		(unsigned long long)h->generation,
		(unsigned long long)h->ctr.bytes_zeroed,
		(unsigned long long)h->ctr.bytes_scrambled,
		(unsigned long long)h->ctr.eagain,
		(unsigned long long)h->ctr.enomem,
		(unsigned long long)h->ctr.peer_requests,
		(unsigned long long)atomic_load(&h->req.gen),
		(unsigned long long)(h->ctr.peer_wait_ns / 1000),
		(unsigned long long)h->ctr.recoveries,
		(unsigned long long)h->ctr.populated_pages);
}

/*
 * A snapshot is taken between two reads of the lock's sequence count and
 * retried until no one held the lock meanwhile.  Committed maps are never
 * written in place, so even a snapshot taken while the lock is held
 * (printed with a note after a while) is a map that existed.
 */
int gmem_dump(struct gmem *g, FILE *out)
{
	char *buf = NULL;
	size_t len = 0;
	int attempt;

	for (attempt = 0; attempt < 200; attempt++) {
		uint32_t s1 = atomic_load(&g->hdr->seq), s2;
		FILE *f;

		if ((s1 & 1) && attempt < 199) {
			usleep(1000);
			continue;
		}
		free(buf);
		buf = NULL;
		f = open_memstream(&buf, &len);
		if (!f)
			return -ENOMEM;
		dump_state(g, f);
		fclose(f);
		s2 = atomic_load(&g->hdr->seq);
		if (s1 == s2 && !(s1 & 1))
			break;
	}
	if (buf) {
		fputs(buf, out);
		if (attempt == 200)
			fprintf(out, "(taken while another process held the lock: "
				     "may mix two states)\n");
	}
	free(buf);
	return 0;
}
