/* SPDX-License-Identifier: MIT */
/*
 * ism-bench sweep results and the report that shows them: printed as
 * text or one JSON object, and with --report DIR written as DIR/sweep.json
 * (the same object) and DIR/index.html, a self-contained page (inline
 * SVG charts, no scripts, nothing fetched) with rate, bandwidth and
 * latency against message size for ism and every baseline, the
 * machine's limits as dashed reference lines, and the numbers in tables.
 */
#ifndef ISM_BENCH_REPORT_H
#define ISM_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#define SWEEP_MAX_SIZES	 16
#define SWEEP_MAX_SERIES 6

struct sweep_result {
	unsigned nsizes, nseries, rounds;
	bool quick;
	size_t sizes[SWEEP_MAX_SIZES];
	const char *series[SWEEP_MAX_SERIES]; /* [0] is ism */
	/* Per series and size; negative: failed. */
	double rate[SWEEP_MAX_SERIES][SWEEP_MAX_SIZES];	  /* messages/s */
	double gbps[SWEEP_MAX_SERIES][SWEEP_MAX_SIZES];	  /* GB/s */
	double lat_us[SWEEP_MAX_SERIES][SWEEP_MAX_SIZES]; /* one way */
	/* The machine's limits. */
	double limit_rate[SWEEP_MAX_SIZES], limit_gbps[SWEEP_MAX_SIZES];
	double limit_lat_us;
	char machine[512];
};

/* --report DIR (NULL: none), set by main.c. */
extern const char *bench_report_dir;

int bench_sweep(const struct bench_opts *o);
/* Text, or the JSON object, on stdout. */
void sweep_print(const struct sweep_result *r, bool json);
/* DIR/sweep.json and DIR/index.html (DIR created if missing).  0 or -1
 * with a message on stderr. */
int sweep_write_report(const struct sweep_result *r, const char *dir);

#endif
