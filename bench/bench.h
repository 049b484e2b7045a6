/* SPDX-License-Identifier: MIT */
/* Benchmark helpers: timing, order statistics, a table line and one JSON
 * object per figure in bench/results/latest.jsonl. */
#ifndef GMEMU_BENCH_H
#define GMEMU_BENCH_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gmemu.h"

#define PAGE 4096UL

static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct stats {
	double min, median, p99;
	int n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline struct stats stats_of(double *v, int n)
{
	struct stats s;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.n = n;
	s.min = v[0];
	s.median = v[n / 2];
	s.p99 = v[(int)((n - 1) * 0.99)];
	return s;
}

/* A gmem of a pKVM-model VM (contents never scrambled), MMAP|INIT_SHARED. */
static inline int bench_new_gmem(uint64_t size)
{
	struct kvm_create_guest_memfd c = {
		.size = size,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	int kvm = gmemu_kvm_open(), vm, g;

	vm = gmemu_ioctl(kvm, KVM_CREATE_VM, GMEMU_VM_PKVM);
	g = gmemu_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &c);
	if (g < 0) {
		perror("KVM_CREATE_GUEST_MEMFD");
		exit(1);
	}
	return g;
}

static FILE *bench_json;

static inline void bench_open(void)
{
	bench_json = fopen("bench/results/latest.jsonl", "a");
	printf("%-44s %12s %12s %12s %10s %s\n", "figure", "median", "p99", "min",
	       "ratio", "target");
}

/* One figure against its baseline measured in the same run. */
static inline void bench_report(const char *figure, struct stats s,
				const char *baseline, struct stats b,
				double target_ratio, const char *target_text)
{
	double ratio = s.median / b.median;
	bool met = target_ratio <= 0 || ratio <= target_ratio;

	printf("%-44s %10.1fus %10.1fus %10.1fus %9.2fx %s%s\n", figure,
	       s.median / 1e3, s.p99 / 1e3, s.min / 1e3, ratio, target_text,
	       target_ratio > 0 ? (met ? " (met)" : " (MISSED)") : "");
	printf("%-44s %10.1fus %10.1fus %10.1fus\n", baseline, b.median / 1e3,
	       b.p99 / 1e3, b.min / 1e3);
	if (bench_json) {
		fprintf(bench_json,
			"{\"figure\":\"%s\",\"median_ns\":%.0f,\"p99_ns\":%.0f,"
			"\"min_ns\":%.0f,\"n\":%d,\"baseline\":\"%s\","
			"\"baseline_median_ns\":%.0f,\"ratio\":%.3f,"
			"\"target_ratio\":%.2f,\"met\":%s}\n",
			figure, s.median, s.p99, s.min, s.n, baseline, b.median,
			ratio, target_ratio, met ? "true" : "false");
		fflush(bench_json);
	}
}

#endif
