// SPDX-License-Identifier: MIT
/*
 * Range maps in shared memory: pages [0, npages) partitioned into extents,
 * each with a 64-bit value.  A map is a treap keyed by an extent's first
 * page (an extent ends where the next key starts), with records addressed by
 * 32-bit index into the gmem's record pool so that every process can follow
 * them whatever address it mapped the metadata at.
 *
 * Lookup is O(log n); assigning a value to a range is O(log n + extents
 * replaced) and needs at most RM_ASSIGN_NODES new records.
 */
#include <errno.h>
#include <string.h>

#include "../internal.h"

#define NIL 0u

/* ---- record pool ---- */

void pool_init(struct gmem_pool *pool, uint32_t capacity)
{
	pool->capacity = capacity;
	pool->bump = 1; /* record 0 is NIL */
	pool->free_head = NIL;
	pool->nr_free = 0;
}

uint32_t pool_available(const struct gmem *g)
{
	const struct gmem_pool *p = &g->hdr->pool;

	return p->nr_free + (p->capacity - p->bump);
}

uint32_t pool_alloc(struct gmem *g)
{
	struct gmem_pool *p = &g->hdr->pool;
	uint32_t idx;

	if (p->free_head != NIL) {
		idx = p->free_head;
		p->free_head = g->recs[idx].left;
		p->nr_free--;
	} else if (p->bump < p->capacity) {
		idx = p->bump++;
	} else {
		return NIL;
	}
	memset(&g->recs[idx], 0, sizeof(g->recs[idx]));
	return idx;
}

void pool_free(struct gmem *g, uint32_t idx)
{
	struct gmem_pool *p = &g->hdr->pool;

	g->recs[idx].left = p->free_head;
	p->free_head = idx;
	p->nr_free++;
}

/* ---- treap ---- */

static uint32_t prio_of(uint64_t key)
{
	uint64_t z = key + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)(z ^ (z >> 31));
}

#define R(i) (g->recs[i])

/* Split t into keys < key (*l) and keys >= key (*r). */
static void split(struct gmem *g, uint32_t t, uint64_t key, uint32_t *l,
		  uint32_t *r)
{
	if (t == NIL) {
		*l = *r = NIL;
	} else if (R(t).key < key) {
		split(g, R(t).right, key, &R(t).right, r);
		*l = t;
	} else {
		split(g, R(t).left, key, l, &R(t).left);
		*r = t;
	}
}

/* Merge l and r, every key of l below every key of r. */
static uint32_t merge(struct gmem *g, uint32_t l, uint32_t r)
{
	if (l == NIL)
		return r;
	if (r == NIL)
		return l;
	if (R(l).prio > R(r).prio) {
		R(l).right = merge(g, R(l).right, r);
		return l;
	}
	R(r).left = merge(g, l, R(r).left);
	return r;
}

static uint32_t free_tree(struct gmem *g, uint32_t t)
{
	uint32_t n;

	if (t == NIL)
		return 0;
	n = 1 + free_tree(g, R(t).left) + free_tree(g, R(t).right);
	pool_free(g, t);
	return n;
}

static uint32_t leftmost(struct gmem *g, uint32_t t)
{
	while (t != NIL && R(t).left != NIL)
		t = R(t).left;
	return t;
}

static uint32_t rightmost(struct gmem *g, uint32_t t)
{
	while (t != NIL && R(t).right != NIL)
		t = R(t).right;
	return t;
}

static uint32_t new_node(struct gmem *g, uint64_t key, uint64_t value)
{
	uint32_t n = pool_alloc(g);

	if (n != NIL) {
		R(n).key = key;
		R(n).value = value;
		R(n).prio = prio_of(key);
	}
	return n;
}

int rm_init(struct gmem *g, struct rangemap *m, uint64_t value)
{
	m->root = new_node(g, 0, value);
	m->nr_extents = 1;
	return m->root == NIL ? -ENOMEM : 0;
}

uint64_t rm_get(struct gmem *g, const struct rangemap *m, uint64_t page,
		uint64_t *end)
{
	uint32_t t = m->root, floor = NIL;
	uint64_t next = g->npages;

	while (t != NIL) {
		if (R(t).key <= page) {
			floor = t;
			t = R(t).right;
		} else {
			next = R(t).key;
			t = R(t).left;
		}
	}
	if (end)
		*end = next;
	return floor == NIL ? 0 : R(floor).value;
}

int rm_assign(struct gmem *g, struct rangemap *m, uint64_t first, uint64_t end,
	      uint64_t value)
{
	uint32_t left, mid, right, tail_head, pred, n;
	uint64_t value_at_end = 0;

	if (first >= end)
		return 0;
	if (pool_available(g) < RM_ASSIGN_NODES)
		return -ENOMEM;
	if (end < g->npages)
		value_at_end = rm_get(g, m, end, NULL);

	split(g, m->root, first, &left, &right);
	split(g, right, end, &mid, &right);
	m->nr_extents -= free_tree(g, mid);

	/* The extent that continues past end keeps its value. */
	if (end < g->npages) {
		tail_head = leftmost(g, right);
		if (tail_head == NIL || R(tail_head).key != end) {
			n = new_node(g, end, value_at_end);
			right = merge(g, n, right);
			m->nr_extents++;
		}
		tail_head = leftmost(g, right);
		if (R(tail_head).value == value) {
			uint32_t rest;

			split(g, right, end + 1, &tail_head, &rest);
			pool_free(g, tail_head);
			m->nr_extents--;
			right = rest;
		}
	}
	/* Join the extent before first when it has the same value. */
	pred = rightmost(g, left);
	if (pred == NIL || R(pred).value != value) {
		n = new_node(g, first, value);
		left = merge(g, left, n);
		m->nr_extents++;
	}
	m->root = merge(g, left, right);
	return 0;
}
