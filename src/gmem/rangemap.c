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

uint32_t pool_available(const struct rm_space *s)
{
	const struct gmem_pool *p = s->pool;

	return p->nr_free + (p->capacity - p->bump);
}

uint32_t pool_alloc(struct rm_space *s)
{
	struct gmem_pool *p = s->pool;
	uint32_t idx;

	if (p->free_head != NIL) {
		idx = p->free_head;
		p->free_head = s->recs[idx].left;
		p->nr_free--;
	} else if (p->bump < p->capacity) {
		idx = p->bump++;
	} else {
		return NIL;
	}
	memset(&s->recs[idx], 0, sizeof(s->recs[idx]));
	return idx;
}

void pool_free(struct rm_space *s, uint32_t idx)
{
	struct gmem_pool *p = s->pool;

	s->recs[idx].left = p->free_head;
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

#define R(i) (s->recs[i])

/* Split t into keys < key (*l) and keys >= key (*r). */
static void split(struct rm_space *s, uint32_t t, uint64_t key, uint32_t *l,
		  uint32_t *r)
{
	if (t == NIL) {
		*l = *r = NIL;
	} else if (R(t).key < key) {
		split(s, R(t).right, key, &R(t).right, r);
		*l = t;
	} else {
		split(s, R(t).left, key, l, &R(t).left);
		*r = t;
	}
}

/* Merge l and r, every key of l below every key of r. */
static uint32_t merge(struct rm_space *s, uint32_t l, uint32_t r)
{
	if (l == NIL)
		return r;
	if (r == NIL)
		return l;
	if (R(l).prio > R(r).prio) {
		R(l).right = merge(s, R(l).right, r);
		return l;
	}
	R(r).left = merge(s, l, R(r).left);
	return r;
}

static uint32_t free_tree(struct rm_space *s, uint32_t t)
{
	uint32_t n;

	if (t == NIL)
		return 0;
	n = 1 + free_tree(s, R(t).left) + free_tree(s, R(t).right);
	pool_free(s, t);
	return n;
}

static uint32_t leftmost(struct rm_space *s, uint32_t t)
{
	while (t != NIL && R(t).left != NIL)
		t = R(t).left;
	return t;
}

static uint32_t rightmost(struct rm_space *s, uint32_t t)
{
	while (t != NIL && R(t).right != NIL)
		t = R(t).right;
	return t;
}

static uint32_t new_node(struct rm_space *s, uint64_t key, uint64_t value)
{
	uint32_t n = pool_alloc(s);

	if (n != NIL) {
		R(n).key = key;
		R(n).value = value;
		R(n).prio = prio_of(key);
	}
	return n;
}

int rm_init(struct rm_space *s, struct rangemap *m, uint64_t value)
{
	m->root = new_node(s, 0, value);
	m->nr_extents = 1;
	return m->root == NIL ? -ENOMEM : 0;
}

uint64_t rm_get(struct rm_space *s, const struct rangemap *m, uint64_t page,
		uint64_t *end)
{
	uint32_t t = m->root, floor = NIL;
	uint64_t next = s->npages;

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

int rm_assign(struct rm_space *s, struct rangemap *m, uint64_t first, uint64_t end,
	      uint64_t value)
{
	uint32_t left, mid, right, tail_head, pred, n;
	uint64_t value_at_end = 0;

	if (first >= end)
		return 0;
	if (pool_available(s) < RM_ASSIGN_NODES)
		return -ENOMEM;
	if (end < s->npages)
		value_at_end = rm_get(s, m, end, NULL);

	split(s, m->root, first, &left, &right);
	split(s, right, end, &mid, &right);
	m->nr_extents -= free_tree(s, mid);

	/* The extent that continues past end keeps its value. */
	if (end < s->npages) {
		tail_head = leftmost(s, right);
		if (tail_head == NIL || R(tail_head).key != end) {
			n = new_node(s, end, value_at_end);
			right = merge(s, n, right);
			m->nr_extents++;
		}
		tail_head = leftmost(s, right);
		if (R(tail_head).value == value) {
			uint32_t rest;

			split(s, right, end + 1, &tail_head, &rest);
			pool_free(s, tail_head);
			m->nr_extents--;
			right = rest;
		}
	}
	/* Join the extent before first when it has the same value. */
	pred = rightmost(s, left);
	if (pred == NIL || R(pred).value != value) {
		n = new_node(s, first, value);
		left = merge(s, left, n);
		m->nr_extents++;
	}
	m->root = merge(s, left, right);
	return 0;
}
