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

/* one "key=value" of a list, value a kernel bool: Y/N/y/n/1/0 */
static int bool_param(const char *item, size_t len, const char *const *keys,
		      int *values)
{
	const char *eq = memchr(item, '=', len);
	size_t k, klen;

	if (!eq || (size_t)(item + len - eq) != 2)
		return -EINVAL;
	klen = (size_t)(eq - item);
	for (k = 0; keys[k]; k++) {
		if (strlen(keys[k]) != klen || strncmp(item, keys[k], klen))
			continue;
		switch (eq[1]) {
		case 'Y': case 'y': case '1':
			values[k] = 1;
			return 0;
		case 'N': case 'n': case '0':
			values[k] = 0;
			return 0;
		default:
			return -EINVAL;
		}
	}
	return -EINVAL;
}

int env_bool_params(const char *name, const char *const *keys, int *values)
{
	const char *v = getenv(name), *p, *end;
	char accepted[160] = "";
	int k;

	for (k = 0; keys[k]; k++)
		values[k] = -1;
	if (!v || !*v)
		return 0;
	for (p = v; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (bool_param(p, (size_t)(end - p), keys, values))
			goto refuse;
	}
	return 1;
refuse:
	for (k = 0; keys[k]; k++)
		snprintf(accepted + strlen(accepted),
			 sizeof(accepted) - strlen(accepted), "%s%s=Y|N",
			 k ? ", " : "", keys[k]);
	snprintf(accepted + strlen(accepted), sizeof(accepted) - strlen(accepted),
		 " (comma-separated)");
	for (k = 0; keys[k]; k++)
		values[k] = -1;
	env_refuse(name, v, accepted);
	return -EINVAL;
}
