/* SPDX-License-Identifier: MIT */
/* The differential driver: one input, one sequence of calls, each made on
 * gmemu and on the reference model; any disagreement is reported. */
#ifndef GMEMU_DIFFOPS_H
#define GMEMU_DIFFOPS_H

#include <stddef.h>
#include <stdint.h>

/* 0 when gmemu and the model agreed on every call; else 1 after printing
 * the calls (verbose: every call) and the first disagreement. */
int diff_run(const uint8_t *data, size_t size, int verbose);

#endif
