// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <string.h>

#include "testing.h"

#ifdef GMEMU_TESTING
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *armed_site;
static int countdown, hits;

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
#else
/* the released library: nothing (an empty unit is not allowed) */
typedef int testing_unused;
#endif
