/* SPDX-License-Identifier: MIT */
/*
 * GMEMU_* environment variables, read strictly: a value that is not one the
 * variable accepts is refused with a one-line message naming the variable
 * and what it accepts, and the reading call fails EINVAL.
 */
#ifndef GMEMU_BASE_ENV_H
#define GMEMU_BASE_ENV_H

#include "common.h"

/* 0: unset or empty (*out untouched); 1: *out set; -EINVAL: refused. */
HIDDEN int env_uint(const char *name, unsigned long min, unsigned long max,
		    unsigned long *out);
/* One of the NULL-terminated choices: its index in *out. */
HIDDEN int env_choice(const char *name, const char *const *choices, int *out);
/* NAME holds "key=value[,key=value...]", keys among the NULL-terminated
 * keys, values kernel booleans (Y, N, y, n, 1, 0): values[i] is 1, 0, or -1
 * for a key not given.  0: unset or empty; 1: read; -EINVAL: refused. */
HIDDEN int env_bool_params(const char *name, const char *const *keys,
			   int *values);
/* Print "gmemu: NAME=VALUE: refused (accepted: WHAT)" once per value. */
HIDDEN void env_refuse(const char *name, const char *value,
		       const char *accepted);

#endif
