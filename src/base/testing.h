/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for test builds (GMEMU_TESTING): the internal archive that
 * white-box tests link.  The released library has none of it.
 */
#ifndef GMEMU_BASE_TESTING_H
#define GMEMU_BASE_TESTING_H

#include "common.h"

#ifdef GMEMU_TESTING
/* The nth time (1 = next) FAULT_INJECT(site) is reached, it is true;
 * site NULL disarms. */
HIDDEN void testing_fail_at(const char *site, int nth);
/* How many times site has been reached since it was armed. */
HIDDEN int testing_hits(void);
#endif

#endif
