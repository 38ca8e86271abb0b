/* SPDX-License-Identifier: MIT */
/*
 * ism-bench - shared pieces: a private ismd, samples and percentiles,
 * CPU pinning, and the one JSON object every suite prints:
 *   {"suite": ..., "figures": {...}, "ratios": {...}}
 * Baselines run in the same process and run as ism; only ratios from one
 * run are compared, never absolute times across runs.
 */
#ifndef ISM_BENCH_H
#define ISM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bench_opts {
	bool json;
	unsigned iterations; /* 0: the suite's default */
	const char *ismd;    /* ismd binary */
};

struct samples {
	uint64_t *v;
	size_t n, cap;
};
void samples_init(struct samples *s, size_t cap);
void samples_add(struct samples *s, uint64_t ns);
/* Percentile (0..100) in nanoseconds; sorts in place. */
double samples_pct(struct samples *s, double pct);
void samples_free(struct samples *s);

uint64_t bench_now(void);
/* Pin the calling thread to @cpu modulo the CPUs available. */
void bench_pin(int cpu);
int bench_ncpus(void);

/* Result collection; printed as text or one JSON object. */
void result_begin(const char *suite);
void result_figure(const char *name, double v, const char *unit);
void result_ratio(const char *name, double v, const char *what);
void result_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void result_end(bool json);

int bench_control(const struct bench_opts *o);
int bench_channel(const struct bench_opts *o);

#endif
