// SPDX-License-Identifier: MIT
/*
 * Range maps in shared memory: pages [0, npages) partitioned into extents,
 * each with a 64-bit value.  A map is a treap keyed by an extent's first
 * page (an extent ends where the next key starts), with records addressed by
 * 32-bit index into the gmem's record pool so that every process can follow
 * them whatever address it mapped the metadata at.
 *
 * Lookup is O(log n); assigning a value to a range is O(log n + extents
 * replaced).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rangemap.h"

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

/*
 * Updates copy the paths they change (nodes of the committed tree are never
 * written), so a map is always either its old tree or its new one: the
 * commit is the single store of the new root.  A process that dies in the
 * middle leaves at worst unreachable records, which recovery collects.
 */
struct rm_op {
	struct rm_space *s;
	uint32_t txn;     /* stamp of the records this update created */
	bool failed;      /* the pool ran dry: abandon, nothing changed */
	uint32_t *created, *garbage;
	size_t nr_created, nr_garbage, cap_created, cap_garbage;
	uint32_t discard[2];  /* subtrees cut out whole */
	size_t nr_discard;
};

static uint32_t prio_of(uint64_t key)
{
	uint64_t z = key + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)(z ^ (z >> 31));
}

#define R(i) (s->recs[i])

static bool push(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		uint32_t *nv = FAULT_INJECT("rm_push") ? NULL :
			       realloc(*v, c * sizeof(*nv));

		if (!nv)
			return false;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return true;
}

static uint32_t op_alloc(struct rm_op *op)
{
	uint32_t n;

	if (op->failed)
		return NIL;
	n = pool_alloc(op->s);
	if (n == NIL || !push(&op->created, &op->nr_created, &op->cap_created, n)) {
		if (n != NIL)
			pool_free(op->s, n);
		op->failed = true;
		return NIL;
	}
	op->s->recs[n].pad = op->txn;
	return n;
}

/* A writable copy of t: t itself if this update created it. */
static uint32_t writable(struct rm_op *op, uint32_t t)
{
	struct rm_space *s = op->s;
	uint32_t n;

	if (R(t).pad == op->txn)
		return t;
	n = op_alloc(op);
	if (n == NIL)
		return NIL;
	R(n) = R(t);
	R(n).pad = op->txn;
	if (!push(&op->garbage, &op->nr_garbage, &op->cap_garbage, t))
		op->failed = true;
	return n;
}

/* Split t into keys < key (*l) and keys >= key (*r). */
static void split(struct rm_op *op, uint32_t t, uint64_t key, uint32_t *l,
		  uint32_t *r)
{
	struct rm_space *s = op->s;
	uint32_t n, sub;

	if (t == NIL || op->failed) {
		*l = *r = NIL;
		return;
	}
	n = writable(op, t);
	if (n == NIL) {
		*l = *r = NIL;
		return;
	}
	if (R(n).key < key) {
		split(op, R(n).right, key, &sub, r);
		R(n).right = sub;
		*l = n;
	} else {
		split(op, R(n).left, key, l, &sub);
		R(n).left = sub;
		*r = n;
	}
}

/* Merge l and r, every key of l below every key of r. */
static uint32_t merge(struct rm_op *op, uint32_t l, uint32_t r)
{
	struct rm_space *s = op->s;
	uint32_t n;

	if (l == NIL)
		return r;
	if (r == NIL)
		return l;
	if (op->failed)
		return NIL;
	if (R(l).prio > R(r).prio) {
		n = writable(op, l);
		if (n != NIL)
			R(n).right = merge(op, R(n).right, r);
		return n;
	}
	n = writable(op, r);
	if (n != NIL)
		R(n).left = merge(op, l, R(n).left);
	return n;
}

static uint32_t subtree_size(struct rm_space *s, uint32_t t)
{
	uint32_t n = 0;

	while (t != NIL) {
		n += 1 + subtree_size(s, R(t).left);
		t = R(t).right;
	}
	return n;
}

/* Every record of t becomes garbage once the update commits (t is cut
 * out whole, so it is freed by walking it then: no list, whatever its
 * size); returns how many. */
static uint32_t discard(struct rm_op *op, uint32_t t)
{
	if (t == NIL || op->failed)
		return 0;
	if (op->nr_discard == ARRAY_SIZE(op->discard)) {
		op->failed = true;
		return 0;
	}
	op->discard[op->nr_discard++] = t;
	return subtree_size(op->s, t);
}

static void free_subtree(struct rm_space *s, uint32_t t)
{
	while (t != NIL) {
		uint32_t right = R(t).right;

		free_subtree(s, R(t).left);
		pool_free(s, t);
		t = right;
	}
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

static uint32_t new_node(struct rm_op *op, uint64_t key, uint64_t value)
{
	struct rm_space *s = op->s;
	uint32_t n = op_alloc(op);

	if (n != NIL) {
		R(n).key = key;
		R(n).value = value;
		R(n).prio = prio_of(key);
	}
	return n;
}

int rm_init(struct rm_space *s, struct rangemap *m, uint64_t value)
{
	uint32_t n = pool_alloc(s);

	if (n == NIL)
		return -ENOMEM;
	R(n).key = 0;
	R(n).value = value;
	R(n).prio = prio_of(0);
	m->root = n;
	m->nr_extents = 1;
	m->generation = 1;
	return 0;
}

uint64_t rm_extent(struct rm_space *s, const struct rangemap *m, uint64_t page,
		   uint64_t *start, uint64_t *end)
{
	uint32_t t = __atomic_load_n(&m->root, __ATOMIC_ACQUIRE), floor = NIL;
	uint64_t next = s->npages;
	int steps = 0;

	/* bounded: a lock-free reader (inspect) may meet records in flux */
	while (t != NIL && t < s->pool->capacity && steps++ < 4096) {
		if (R(t).key <= page) {
			floor = t;
			t = R(t).right;
		} else {
			next = R(t).key;
			t = R(t).left;
		}
	}
	*start = floor == NIL ? 0 : R(floor).key;
	*end = next;
	return floor == NIL ? 0 : R(floor).value;
}

uint64_t rm_get(struct rm_space *s, const struct rangemap *m, uint64_t page,
		uint64_t *end)
{
	uint64_t start, next;
	uint64_t v = rm_extent(s, m, page, &start, &next);

	if (end)
		*end = next;
	return v;
}

/*
 * Without the lock: records of a replaced tree are freed after the commit
 * that bumps the generation, and reused only after that; a walk that saw
 * the same generation before and after read a tree that was whole.
 */
int rm_extent_racy(struct rm_space *s, const struct rangemap *m,
		   uint64_t page, uint64_t *value, uint64_t *start,
		   uint64_t *end)
{
	uint64_t gen = __atomic_load_n(&m->generation, __ATOMIC_ACQUIRE);

	*value = rm_extent(s, m, page, start, end);
	/* the walk's loads before the second one (x86 keeps loads in order;
	 * the compiler must too) */
	__asm__ volatile("" ::: "memory");
	if (__atomic_load_n(&m->generation, __ATOMIC_ACQUIRE) != gen ||
	    *start > page || *end <= page)
		return -EAGAIN;
	return 0;
}

int rm_reserve(struct rm_reserve *res, struct rm_space *s,
	       const struct rangemap *m, uint64_t first, uint64_t end)
{
	/* path copies are bounded by the tree's depth (expected ~2 ln n);
	 * the replaced extents are freed by walking them, not listed */
	size_t created = 1024, garbage = 1024;

	(void)s;
	(void)m;
	(void)first;
	(void)end;
	if (FAULT_INJECT("rm_reserve"))
		return -ENOMEM;
	if (res->cap_created < created) {
		uint32_t *n = realloc(res->created, created * sizeof(*n));

		if (!n)
			return -ENOMEM;
		res->created = n;
		res->cap_created = created;
	}
	if (res->cap_garbage < garbage) {
		uint32_t *n = realloc(res->garbage, garbage * sizeof(*n));

		if (!n)
			return -ENOMEM;
		res->garbage = n;
		res->cap_garbage = garbage;
	}
	return 0;
}

void rm_reserve_free(struct rm_reserve *res)
{
	free(res->created);
	free(res->garbage);
	memset(res, 0, sizeof(*res));
}

int rm_assign(struct rm_space *s, struct rangemap *m, uint64_t first,
	      uint64_t end, uint64_t value)
{
	return rm_assign_reserved(s, m, first, end, value, NULL);
}

int rm_assign_reserved(struct rm_space *s, struct rangemap *m, uint64_t first,
		       uint64_t end, uint64_t value, struct rm_reserve *res)
{
	struct rm_op op = { .s = s };
	uint32_t left, mid, right, head, pred, rest, n;
	uint64_t value_at_end = 0;
	int32_t delta = 0;
	size_t i;

	if (first >= end)
		return 0;
	if (res) {
		op.created = res->created;
		op.garbage = res->garbage;
		op.cap_created = res->cap_created;
		op.cap_garbage = res->cap_garbage;
	}
	op.txn = ++s->pool->txn ? s->pool->txn : ++s->pool->txn;
	if (end < s->npages)
		value_at_end = rm_get(s, m, end, NULL);

	split(&op, m->root, first, &left, &right);
	split(&op, right, end, &mid, &right);
	delta -= (int32_t)discard(&op, mid);

	/* The extent that continues past end keeps its value. */
	if (end < s->npages && !op.failed) {
		head = leftmost(s, right);
		if (head == NIL || R(head).key != end) {
			n = new_node(&op, end, value_at_end);
			right = merge(&op, n, right);
			delta++;
		}
		head = leftmost(s, right);
		if (!op.failed && R(head).value == value) {
			split(&op, right, end + 1, &head, &rest);
			delta -= (int32_t)discard(&op, head);
			right = rest;
		}
	}
	/* Join the extent before first when it has the same value. */
	pred = rightmost(s, left);
	if (pred == NIL || R(pred).value != value) {
		n = new_node(&op, first, value);
		left = merge(&op, left, n);
		delta++;
	}
	n = merge(&op, left, right);

	if (op.failed) {
		/* The committed tree was never written: drop what was made. */
		for (i = 0; i < op.nr_created; i++)
			pool_free(s, op.created[i]);
		goto out;
	}
	/* Unstamp what stays, so no later update mistakes it for its own. */
	for (i = 0; i < op.nr_created; i++)
		R(op.created[i]).pad = 0;
	/* Commit: one store; then the old records are garbage. */
	__atomic_store_n(&m->root, n, __ATOMIC_RELEASE);
	m->nr_extents = (uint32_t)((int32_t)m->nr_extents + delta);
	__atomic_add_fetch(&m->generation, 1, __ATOMIC_RELEASE);
	for (i = 0; i < op.nr_garbage; i++)
		pool_free(s, op.garbage[i]);
	for (i = 0; i < op.nr_discard; i++)
		free_subtree(s, op.discard[i]);
out:
	if (res) {
		/* grown arrays stay the reservation's */
		res->created = op.created;
		res->garbage = op.garbage;
		res->cap_created = op.cap_created;
		res->cap_garbage = op.cap_garbage;
	} else {
		free(op.created);
		free(op.garbage);
	}
	return op.failed ? -ENOMEM : 0;
}

uint64_t rm_find(struct rm_space *s, const struct rangemap *m, uint64_t first,
		 uint64_t end, uint64_t mask, uint64_t want)
{
	uint64_t p, next;

	for (p = first; p < end; p = next)
		if ((rm_get(s, m, p, &next) & mask) == want)
			return p;
	return end;
}

uint32_t rm_count(struct rm_space *s, const struct rangemap *m, uint64_t first,
		  uint64_t end)
{
	uint64_t p, next;
	uint32_t n = 0;

	for (p = first; p < end; p = next, n++)
		rm_get(s, m, p, &next);
	return n;
}

/* ---- recovery ---- */

static void mark(struct rm_space *s, uint32_t t, uint8_t *live, uint32_t *count)
{
	/* iterative on the right spine keeps the stack to the tree's depth */
	while (t != NIL && t < s->pool->bump && !(live[t / 8] & (1u << (t % 8)))) {
		live[t / 8] |= (uint8_t)(1u << (t % 8));
		(*count)++;
		mark(s, R(t).left, live, count);
		t = R(t).right;
	}
}

int rm_recover(struct rm_space *s, struct rangemap **maps, int nr_maps,
	       const uint32_t *lists, int nr_lists)
{
	struct gmem_pool *p = s->pool;
	uint8_t *live = calloc(p->bump / 8 + 1, 1);
	uint32_t i, count;
	int k;

	if (!live)
		return -ENOMEM;
	for (k = 0; k < nr_maps; k++) {
		count = 0;
		mark(s, maps[k]->root, live, &count);
		maps[k]->nr_extents = count;
		maps[k]->generation++;
	}
	for (k = 0; k < nr_lists; k++)
		for (i = lists[k]; i != NIL && i < p->bump &&
				   !(live[i / 8] & (1u << (i % 8)));
		     i = R(i).left)
			live[i / 8] |= (uint8_t)(1u << (i % 8));
	p->free_head = NIL;
	p->nr_free = 0;
	for (i = p->bump - 1; i >= 1; i--) {
		if (!(live[i / 8] & (1u << (i % 8)))) {
			R(i).left = p->free_head;
			p->free_head = i;
			p->nr_free++;
		}
	}
	free(live);
	return 0;
}

/* ---- a lookup index for read-heavy phases ---- */

/*
 * A tree lookup follows ~2 ln(n) dependent pointers: about 500 ns with
 * 100 000 extents here.  When a map is looked up many times between updates
 * (a guest touching memory), a process builds a flat copy: an implicit
 * B-tree of 8-key nodes (one cache line each), so a lookup costs about
 * log9(n) cache lines instead of ~2 ln(n).  Every commit bumps the map's
 * 64-bit generation, which invalidates the copy.  (Not the root's record
 * index: records are reused, so the same root comes back after a few
 * updates and would make a stale copy look current.)
 */
#define INDEX_MIN_EXTENTS 64
#define INDEX_AFTER_LOOKUPS 32
#define BKEYS RM_INDEX_FANOUT

/* Fill node k's subtrees in order from the sorted arrays. */
static void btree_fill(struct rm_index *ix, const uint64_t *keys,
		       const uint64_t *vals, uint32_t n, uint32_t *i, uint64_t k)
{
	uint32_t j;

	if (k >= ix->nodes)
		return;
	for (j = 0; j < BKEYS; j++) {
		btree_fill(ix, keys, vals, n, i, k * (BKEYS + 1) + j + 1);
		if (*i < n) {
			ix->key[k * 2 * BKEYS + j] = keys[*i];
			ix->key[k * 2 * BKEYS + BKEYS + j] = *i ? vals[*i - 1] : 0;
			(*i)++;
		}
	}
	btree_fill(ix, keys, vals, n, i, k * (BKEYS + 1) + BKEYS + 1);
}

struct index_fill {
	uint64_t *keys, *vals;
	uint32_t i;
};

static void collect(struct rm_space *s, uint32_t t, struct index_fill *f)
{
	while (t != NIL) {
		collect(s, R(t).left, f);
		f->keys[f->i] = R(t).key;
		f->vals[f->i] = R(t).value;
		f->i++;
		t = R(t).right;
	}
}

static bool index_build(struct rm_space *s, const struct rangemap *m,
			struct rm_index *ix)
{
	struct index_fill f = { 0 };
	uint32_t n = m->nr_extents, i = 0, nodes = (n + BKEYS - 1) / BKEYS;

	rm_index_free(ix);
	f.keys = malloc(n * sizeof(uint64_t));
	f.vals = malloc(n * sizeof(uint64_t));
	/* each node: its keys, then the values before them, adjacent */
	ix->key = aligned_alloc(128, (size_t)nodes * 2 * BKEYS * sizeof(uint64_t));
	if (!f.keys || !f.vals || !ix->key)
		goto fail;
	collect(s, m->root, &f);
	if (f.i != n)
		goto fail; /* counts disagree: stay on the tree */
	ix->nodes = nodes;
	/* unused slots sort last */
	for (i = 0; i < nodes * 2 * BKEYS; i++)
		ix->key[i] = UINT64_MAX;
	i = 0;
	btree_fill(ix, f.keys, f.vals, n, &i, 0);
	ix->last_val = f.vals[n - 1];
	ix->valid = true;
	free(f.keys);
	free(f.vals);
	return true;
fail:
	free(f.keys);
	free(f.vals);
	rm_index_free(ix);
	return false;
}

void rm_index_free(struct rm_index *ix)
{
	free(ix->key);
	ix->key = NULL;
	ix->nodes = 0;
	ix->valid = false;
}

uint64_t rm_get_indexed(struct rm_space *s, const struct rangemap *m,
			struct rm_index *ix, uint64_t page, uint64_t *end)
{
	uint64_t gen = __atomic_load_n(&m->generation, __ATOMIC_ACQUIRE);
	uint64_t k = 0, found = UINT64_MAX;

	if (!ix->valid || ix->generation != gen) {
		if (ix->seen_gen != gen) {
			rm_index_free(ix);
			ix->seen_gen = gen;
			ix->slow_lookups = 0;
		}
		if (m->nr_extents < INDEX_MIN_EXTENTS ||
		    ++ix->slow_lookups < INDEX_AFTER_LOOKUPS ||
		    !index_build(s, m, ix))
			return rm_get(s, m, page, end);
		ix->generation = gen;
	}
	/* the first key > page; the extent before it holds page */
	while (k < ix->nodes) {
		const uint64_t *node = &ix->key[k * 2 * BKEYS];
		uint32_t j = 0, q;

		/* keys are sorted: count, without a branch to mispredict */
		for (q = 0; q < BKEYS; q++)
			j += node[q] <= page;
		if (j < BKEYS)
			found = k * 2 * BKEYS + j;
		k = k * (BKEYS + 1) + j + 1;
	}
	if (found == UINT64_MAX || ix->key[found] == UINT64_MAX) {
		if (end)
			*end = s->npages;
		return ix->last_val;
	}
	if (end)
		*end = ix->key[found];
	return ix->key[found + BKEYS];
}
