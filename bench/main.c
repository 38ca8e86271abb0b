/* SPDX-License-Identifier: MIT */
/*
 * ism-bench SUITE [--json] [--iterations N] [--ismd PATH]
 * Suites: control, channel, stream, connect, rings.  See bench.h for how
 * results are reported.
 */
#include "bench.h"
#include "report.h"
#include "util/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_ncpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

void bench_pin(int cpu)
{
	/* The CPUs we were given at start: pinning must not narrow the set
	 * later choices (and children) pick from. */
	static cpu_set_t all;
	static bool have;
	cpu_set_t one;
	int n = 0;

	if (!have) {
		if (sched_getaffinity(0, sizeof(all), &all) < 0)
			return;
		have = true;
	}
	if (cpu < 0)
		return;
	/* The cpu-th allowed CPU, wrapping. */
	cpu %= CPU_COUNT(&all);
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &all))
			continue;
		if (n++ == cpu) {
			CPU_ZERO(&one);
			CPU_SET(i, &one);
			sched_setaffinity(0, sizeof(one), &one);
			return;
		}
	}
}

void samples_init(struct samples *s, size_t cap)
{
	s->v = malloc(cap * sizeof(*s->v));
	s->n = 0;
	s->cap = s->v ? cap : 0;
}

void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n < s->cap)
		s->v[s->n++] = ns;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double samples_pct(struct samples *s, double pct)
{
	size_t i;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp);
	i = (size_t)(pct / 100.0 * (double)(s->n - 1) + 0.5);
	return (double)s->v[i < s->n ? i : s->n - 1];
}

void samples_free(struct samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* ---- results ---- */

#define MAX_ITEMS 64

static struct item {
	char name[64], unit[96]; /* unit, or for a ratio what it compares */
	double v;
	double lo, hi; /* spread over rounds, if has_spread */
	bool has_spread;
} figures[MAX_ITEMS], ratios[MAX_ITEMS];
static struct item *last_item;
static int nfig, nrat, nnote;
static char suite_name[32], notes[8][256];

void result_begin(const char *suite)
{
	snprintf(suite_name, sizeof(suite_name), "%s", suite);
	nfig = nrat = nnote = 0;
	last_item = NULL;
}

static void add_item(struct item *items, int *n, const char *name, double v,
		     const char *unit)
{
	last_item = NULL;
	if (*n < MAX_ITEMS) {
		snprintf(items[*n].name, sizeof(items[*n].name), "%s", name);
		snprintf(items[*n].unit, sizeof(items[*n].unit), "%s", unit);
		items[*n].has_spread = false;
		last_item = &items[*n];
		items[(*n)++].v = v;
	}
}

void result_spread(double lo, double hi)
{
	if (last_item) {
		last_item->lo = lo;
		last_item->hi = hi;
		last_item->has_spread = true;
	}
}

/* JSON: "spread": {name: [lo, hi], ...} of the items that have one. */
static void print_spread_json(void)
{
	bool first = true;

	printf(", \"spread\": {");
	for (int k = 0; k < 2; k++) {
		struct item *it = k ? ratios : figures;
		int n = k ? nrat : nfig;

		for (int i = 0; i < n; i++) {
			if (!it[i].has_spread)
				continue;
			printf("%s\"%s\": [%.4g, %.4g]", first ? "" : ", ",
			       it[i].name, it[i].lo, it[i].hi);
			first = false;
		}
	}
	printf("}");
}

static void print_spread_text(const struct item *it)
{
	if (it->has_spread)
		printf("  [%.3f .. %.3f]", it->lo, it->hi);
}

void result_figure(const char *name, double v, const char *unit)
{
	add_item(figures, &nfig, name, v, unit);
}

void result_ratio(const char *name, double v, const char *what)
{
	add_item(ratios, &nrat, name, v, what);
}

void result_note(const char *fmt, ...)
{
	va_list ap;

	if (nnote >= 8)
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nnote++], sizeof(notes[0]), fmt, ap);
	va_end(ap);
}

void result_end(bool json)
{
	if (json) {
		printf("{\"suite\": \"%s\", \"figures\": {", suite_name);
		for (int i = 0; i < nfig; i++)
			printf("%s\"%s\": %.4g", i ? ", " : "", figures[i].name,
			       figures[i].v);
		printf("}, \"ratios\": {");
		for (int i = 0; i < nrat; i++)
			printf("%s\"%s\": %.4g", i ? ", " : "", ratios[i].name,
			       ratios[i].v);
		printf("}");
		print_spread_json();
		printf("}\n");
		return;
	}
	printf("\n%s: figures\n", suite_name);
	for (int i = 0; i < nfig; i++) {
		printf("  %-36s %12.3f %s", figures[i].name, figures[i].v,
		       figures[i].unit);
		print_spread_text(&figures[i]);
		printf("\n");
	}
	printf("%s: ratios (same run)\n", suite_name);
	for (int i = 0; i < nrat; i++) {
		printf("  %-36s %12.3f", ratios[i].name, ratios[i].v);
		print_spread_text(&ratios[i]);
		printf("   %s\n", ratios[i].unit);
	}
	for (int i = 0; i < nnote; i++)
		printf("  note: %s\n", notes[i]);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ism-bench SUITE [--json] [--iterations N] "
		"[--ismd PATH] [--report DIR]\n"
		"Suites:\n"
		"  control   alloc/attach/notify/detach latency and ops/s at "
		"10, 100, 1000 peers;\n"
		"            notify-to-wakeup against a plain eventfd\n"
		"  channel   64-byte message rate, bulk GB/s and ping-pong "
		"latency of a channel\n"
		"            between two processes, against AF_UNIX, TCP, "
		"memcpy and a cache line\n"
		"  stream    64-byte round trips, 64 KiB throughput and CPU "
		"per GiB of an ism stream\n"
		"            against TCP loopback and AF_UNIX; its TCP "
		"fallback against raw TCP\n"
		"  connect   connection setup: connect, 64 B each way, close; "
		"latency and\n"
		"            connections/s of ism, TCP, ism to TCP and TCP to "
		"ism\n"
		"  rings     channel bulk GB/s against the ring size, beside "
		"a bare ring of each size\n"
		"  window    map+unmap into a window (libism, ismd) against "
		"mmap+munmap; pool\n"
		"            bounces against memcpy; vhost-user MEM_READ/"
		"WRITE against AF_UNIX\n"
		"  vfio-user REGION_READ round trip against AF_UNIX; DMA by "
		"messages against AF_UNIX,\n"
		"            through a mapped window against memcpy; ism-pci "
		"against a host process\n"
		"  sweep     64 B to 1 MiB: rate, GB/s and latency of a "
		"channel against AF_UNIX\n"
		"            and TCP, with the machine's limits; --report "
		"DIR writes an HTML page\n"
		"--iterations: control: cycles per peer count; channel, "
		"stream, connect, rings: rounds (medians)\n"
		"--json prints one object: {\"suite\", \"figures\", "
		"\"ratios\"}.\n");
}

int main(int argc, char **argv)
{
	bench_pin(-1); /* record the CPU set before anything is pinned */
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "ismd", required_argument, NULL, 'd' },
		{ "report", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts o = { 0 };
	int opt;

	while ((opt = getopt_long(argc, argv, "jn:d:hr:", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': o.json = true; break;
		case 'n':
			o.iterations = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd': o.ismd = optarg; break;
		case 'r': bench_report_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.ismd)
		o.ismd = ism_find_ismd();
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (bench_report_dir && strcmp(argv[optind], "sweep")) {
		fprintf(stderr, "ism-bench: --report: only the sweep suite\n");
		return 2;
	}
	if (!strcmp(argv[optind], "sweep"))
		return bench_sweep(&o);
	if (!strcmp(argv[optind], "control"))
		return bench_control(&o);
	if (!strcmp(argv[optind], "channel"))
		return bench_channel(&o);
	if (!strcmp(argv[optind], "stream"))
		return bench_stream(&o);
	if (!strcmp(argv[optind], "connect"))
		return bench_connect(&o);
	if (!strcmp(argv[optind], "rings"))
		return bench_rings(&o);
	if (!strcmp(argv[optind], "window"))
		return bench_window(&o);
	if (!strcmp(argv[optind], "vfio-user"))
		return bench_vfio_user(&o);
	fprintf(stderr, "ism-bench: unknown suite '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
