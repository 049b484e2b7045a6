// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <string.h>

#include "testing.h"

#ifdef GMEMU_TESTING
#undef malloc
#undef calloc
#undef realloc
#undef aligned_alloc
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *armed_site;
static int countdown, hits;

/* Every allocation passes here, the library's threads' too (an agent, the
 * fault handler): a fork() must not catch one holding the lock. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&lock);
}

/* before the library's own fork handlers: its child handler allocates */
__attribute__((constructor(101))) static void testing_init(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

void testing_fail_at(const char *site, int nth)
{
	pthread_mutex_lock(&lock);
	armed_site = site;
	countdown = nth;
	hits = 0;
	pthread_mutex_unlock(&lock);
}

int testing_hits(void)
{
	return hits;
}

bool fault_hit(const char *site)
{
	bool fire = false;

	pthread_mutex_lock(&lock);
	if (armed_site && strcmp(site, armed_site) == 0) {
		hits++;
		if (--countdown == 0) {
			fire = true;
			armed_site = NULL;
		}
	}
	pthread_mutex_unlock(&lock);
	return fire;
}
void *testing_malloc(size_t n)
{
	return fault_hit("alloc") ? NULL : malloc(n);
}

void *testing_calloc(size_t n, size_t size)
{
	return fault_hit("alloc") ? NULL : calloc(n, size);
}

void *testing_realloc(void *p, size_t n)
{
	return fault_hit("alloc") ? NULL : realloc(p, n);
}

void *testing_aligned_alloc(size_t align, size_t n)
{
	return fault_hit("alloc") ? NULL : aligned_alloc(align, n);
}
#else
/* the released library: nothing (an empty unit is not allowed) */
typedef int testing_unused;
#endif
