// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

void env_refuse(const char *name, const char *value, const char *accepted)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char last[128];
	char key[128];

	/* a program that reads the variable in a loop gets one line */
	snprintf(key, sizeof(key), "%s=%s", name, value);
	pthread_mutex_lock(&lock);
	if (strcmp(key, last) != 0) {
		snprintf(last, sizeof(last), "%s", key);
		fprintf(stderr, "gmemu: %s=\"%s\" refused; accepted: %s\n", name,
			value, accepted);
	}
	pthread_mutex_unlock(&lock);
}

int env_uint(const char *name, unsigned long min, unsigned long max,
	     unsigned long *out)
{
	const char *v = getenv(name);
	char accepted[96], *end;
	unsigned long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v >= '0' && *v <= '9' && !*end && !errno && n >= min && n <= max) {
		*out = n;
		return 1;
	}
	snprintf(accepted, sizeof(accepted), "a whole number from %lu to %lu",
		 min, max);
	env_refuse(name, v, accepted);
	return -EINVAL;
}

int env_choice(const char *name, const char *const *choices, int *out)
{
	const char *v = getenv(name);
	char accepted[160] = "";
	int i;

	if (!v || !*v)
		return 0;
	for (i = 0; choices[i]; i++) {
		if (strcmp(v, choices[i]) == 0) {
			*out = i;
			return 1;
		}
		snprintf(accepted + strlen(accepted),
			 sizeof(accepted) - strlen(accepted), "%s%s",
			 i ? ", " : "", choices[i]);
	}
	env_refuse(name, v, accepted);
	return -EINVAL;
}
