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
/* The spread over rounds (lowest, highest) of the figure or ratio just
 * added: printed beside it, and in JSON as "spread": {name: [lo, hi]}. */
void result_spread(double lo, double hi);
void result_end(bool json);

/* proc.c: a child process on CPU 1 (the caller moves to CPU 0) that
 * runs @fn with a SOCK_SEQPACKET control socket and exits with its
 * return value; bench_reap() is 0 if it exited 0. */
struct bench_child {
	pid_t pid;
	int ctl;
};
int bench_spawn(struct bench_child *c, int (*fn)(int ctl, void *arg),
		void *arg);
int bench_reap(struct bench_child *c);
/* One control message of exactly @n bytes.  0 or -1. */
int bench_put(int fd, const void *p, size_t n);
int bench_get(int fd, void *p, size_t n);
/* Page-aligned, filled, or NULL. */
uint8_t *bench_buffer(size_t n);
/* All @n bytes on a stream socket.  0 or -1. */
int bench_read_full(int fd, uint8_t *b, size_t n);
int bench_write_full(int fd, const uint8_t *b, size_t n);
/* TCP on loopback (Nagle left on): a listener (its port in *@port), a
 * connection to it, or a connected pair.  fds or -1. */
int bench_tcp_listen(uint16_t *port);
int bench_tcp_connect(uint16_t port);
int bench_tcp_pair(int sv[2]);

/*
 * This machine's limit for the copy-in/copy-out job: @bytes through a
 * bare 4 MiB ring in shared memory, @size blocks copied in on CPU 0 and
 * out on CPU 1, an index per block, no checks.  GB/s, or -1.
 */
double bench_bare_ring_gbps(size_t size, uint64_t bytes);
/* The same at a ring of @ring bytes (the size of the ring it is compared
 * with).  GB/s, or -1. */
double bench_bare_bulk_gbps(size_t size, size_t ring, uint64_t bytes);
/* The same with one copy: the consumer reads each block in place
 * (bench_read_lines()) instead of copying it out, as a zero-copy
 * receiver does.  GB/s, or -1. */
double bench_bare_bulk_zc_gbps(size_t size, size_t ring, uint64_t bytes);
/* One 8-byte word of every 64-byte line of @n bytes at @p, summed: a
 * read of all the data in place, nothing copied (keep the sum). */
uint64_t bench_read_lines(const void *p, size_t n);
/*
 * The bare limit for small messages: @count messages of @size bytes
 * through a ring of fixed @size-byte slots (@ring bytes), no headers and
 * no checks, each side publishing its position every @batch messages
 * (1: every message, as a call per message must).  M msg/s, or -1.
 */
double bench_bare_msg_mps(size_t size, unsigned batch, size_t ring,
			  uint64_t count);

/*
 * Report rounds: v[f][r] is figure f in round r (negative: failed).
 * Figures are medians over rounds; each ratio is the median of its
 * per-round ratios; both carry their spread (the lowest and highest
 * round).  Calls result_begin(); the caller adds notes and calls
 * result_end().  -1 if a figure failed.
 */
#define BENCH_MAX_ROUNDS 9
struct bench_fig {
	const char *name, *unit;
};
/* Name the figures of a grid, f = k * @ntrans + t: "@what[k]_@tname[t]"
 * in @unit[k], the names kept in @names (BENCH_FIG_NAME bytes each). */
#define BENCH_FIG_NAME 48
void bench_fig_grid(struct bench_fig *fig, char (*names)[BENCH_FIG_NAME],
		    const char *const *what, const char *const *unit, int nwhat,
		    const char *const *tname, int ntrans);
struct bench_ratio {
	const char *name;
	int num, den;
	const char *what;
};
int bench_report(const char *suite, double (*v)[BENCH_MAX_ROUNDS],
		 const struct bench_fig *fig, int nfig,
		 const struct bench_ratio *rat, int nrat, unsigned rounds);
/* Rounds to run: --iterations, else @dflt; at most BENCH_MAX_ROUNDS. */
unsigned bench_rounds(const struct bench_opts *o, unsigned dflt);
/* The median of @n (1 .. BENCH_MAX_ROUNDS) values. */
double bench_median(const double *v, unsigned n);
/* Say so on stderr when both sides of a two-process suite must share one
 * CPU. */
void bench_cpus_note(void);
/* A private ismd for a suite, logging warnings only.  0 or -1. */
struct ism_private;
int bench_ismd_start(struct ism_private *d, const struct bench_opts *o);

int bench_control(const struct bench_opts *o);
int bench_stream(const struct bench_opts *o);
int bench_connect(const struct bench_opts *o);
int bench_channel(const struct bench_opts *o);
int bench_rings(const struct bench_opts *o);
int bench_window(const struct bench_opts *o);
int bench_vfio_user(const struct bench_opts *o);

#endif
