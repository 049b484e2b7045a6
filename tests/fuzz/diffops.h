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
/* Since the start: op_run calls that reached a vCPU, KVM_RUN calls made,
 * and op_run calls that did nothing because the emulated backend cannot
 * run here. */
void diff_run_stats(unsigned long *ops, unsigned long *calls,
		    unsigned long *noops);

#endif
