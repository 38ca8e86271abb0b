/* SPDX-License-Identifier: MIT */
/*
 * ism-bench --report: the sweep's numbers as text, as JSON, and as one
 * self-contained HTML page with inline SVG charts (see report.h).  The
 * page loads nothing: no scripts, no fonts, no images, no links out but
 * the raw JSON beside it.  Axes are logarithmic (sizes in powers of two,
 * values in decades), missing points (a failed measurement) are left
 * out, and each chart's reference line is the machine's limit.
 */
#include "bench.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *bench_report_dir;

static const char *const colors[SWEEP_MAX_SERIES] = {
	"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
};

static void size_label(size_t s, char *buf, size_t n)
{
	if (s >= (1u << 20) && s % (1u << 20) == 0)
		snprintf(buf, n, "%zu MiB", s >> 20);
	else if (s >= 1024 && s % 1024 == 0)
		snprintf(buf, n, "%zu KiB", s >> 10);
	else
		snprintf(buf, n, "%zu B", s);
}

/* 1k, 10M, 0.01 ... for axis ticks at powers of ten. */
static void decade_label(int e, char *buf, size_t n)
{
	static const char *const si[] = { "", "k", "M", "G", "T" };

	if (e >= 0 && e < 15)
		snprintf(buf, n, "%.0f%s", pow(10, e % 3), si[e / 3]);
	else if (e < 0 && e > -7)
		snprintf(buf, n, "%.*f", -e, pow(10, e));
	else
		snprintf(buf, n, "1e%d", e);
}

/* A JSON number, or null for a failed one. */
static void jnum(FILE *f, double v)
{
	if (v > 0 && isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void jarray(FILE *f, const double *v, unsigned n)
{
	fputc('[', f);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		jnum(f, v[i]);
	}
	fputc(']', f);
}

static void write_json(FILE *f, const struct sweep_result *r)
{
	fprintf(f,
		"{\"suite\": \"sweep\", \"rounds\": %u, \"quick\": %s, "
		"\"machine\": \"%s\", \"sizes\": [",
		r->rounds, r->quick ? "true" : "false", r->machine);
	for (unsigned i = 0; i < r->nsizes; i++)
		fprintf(f, "%s%zu", i ? ", " : "", r->sizes[i]);
	fputs("], \"series\": {", f);
	for (unsigned t = 0; t < r->nseries; t++) {
		fprintf(f, "%s\"%s\": {\"rate_msgs_per_s\": ", t ? ", " : "",
			r->series[t]);
		jarray(f, r->rate[t], r->nsizes);
		fputs(", \"bandwidth_GBps\": ", f);
		jarray(f, r->gbps[t], r->nsizes);
		fputs(", \"latency_one_way_us\": ", f);
		jarray(f, r->lat_us[t], r->nsizes);
		fputc('}', f);
	}
	fputs("}, \"limits\": {\"bare_ring_rate_msgs_per_s\": ", f);
	jarray(f, r->limit_rate, r->nsizes);
	fputs(", \"bare_ring_bandwidth_GBps\": ", f);
	jarray(f, r->limit_gbps, r->nsizes);
	fputs(", \"cache_line_one_way_us\": ", f);
	jnum(f, r->limit_lat_us);
	fputs("}}\n", f);
}

void sweep_print(const struct sweep_result *r, bool json)
{
	char sz[16];

	if (json) {
		write_json(stdout, r);
		return;
	}
	printf("\nsweep: %s, %u round(s)%s\n", r->machine, r->rounds,
	       r->quick ? ", quick" : "");
	printf("  %-9s %-15s %14s %10s %12s\n", "size", "transport", "msgs/s",
	       "GB/s", "latency us");
	for (unsigned s = 0; s < r->nsizes; s++) {
		size_label(r->sizes[s], sz, sizeof(sz));
		for (unsigned t = 0; t < r->nseries; t++)
			printf("  %-9s %-15s %14.0f %10.3f %12.2f\n",
			       t ? "" : sz, r->series[t], r->rate[t][s],
			       r->gbps[t][s], r->lat_us[t][s]);
		printf("  %-9s %-15s %14.0f %10.3f\n", "", "limit: bare ring",
		       r->limit_rate[s], r->limit_gbps[s]);
	}
	printf("  limit: cache-line one-way latency %.3f us\n",
	       r->limit_lat_us);
}

/* ---- SVG ---- */

#define W  760
#define H  400
#define ML 84
#define MR 24
#define MT 56
#define MB 56

struct chart {
	const char *id, *title, *unit;
	double (*v)[SWEEP_MAX_SIZES]; /* per series */
	const double *limit;	      /* per size, or NULL */
	double limit_const;	      /* > 0: a horizontal line */
	const char *limit_name;
};

static double xpos(const struct sweep_result *r, unsigned i)
{
	double lo = log2((double)r->sizes[0]);
	double hi = log2((double)r->sizes[r->nsizes - 1]);
	double x = log2((double)r->sizes[i]);

	return ML + (hi > lo ? (x - lo) / (hi - lo) : 0.5) * (W - ML - MR);
}

static double ypos(double v, int elo, int ehi)
{
	return MT + (H - MT - MB) * (1 - (log10(v) - elo) / (ehi - elo));
}

static void consider(double v, double *lo, double *hi)
{
	if (v > 0 && isfinite(v)) {
		if (v < *lo)
			*lo = v;
		if (v > *hi)
			*hi = v;
	}
}

static void write_chart(FILE *f, const struct sweep_result *r,
			const struct chart *c)
{
	double lo = INFINITY, hi = 0;
	int elo, ehi;
	char lab[32];
	unsigned nleg = 0;

	for (unsigned t = 0; t < r->nseries; t++)
		for (unsigned s = 0; s < r->nsizes; s++)
			consider(c->v[t][s], &lo, &hi);
	for (unsigned s = 0; c->limit && s < r->nsizes; s++)
		consider(c->limit[s], &lo, &hi);
	consider(c->limit_const, &lo, &hi);
	if (!(hi > 0)) {
		lo = 1;
		hi = 10;
	}
	elo = (int)floor(log10(lo));
	ehi = (int)ceil(log10(hi));
	if (ehi <= elo)
		ehi = elo + 1;

	fprintf(f,
		"<figure><svg class=\"chart\" id=\"%s\" "
		"xmlns=\"http://www.w3.org/2000/svg\" "
		"viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
		"aria-label=\"%s\">\n",
		c->id, W, H, W, H, c->title);
	fprintf(f,
		"<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
		"fill=\"#fff\"/>\n",
		W, H);
	fprintf(f, "<text x=\"%d\" y=\"22\" class=\"t\">%s</text>\n", ML,
		c->title);
	/* Grid: decades across, sizes up. */
	for (int e = elo; e <= ehi; e++) {
		double y = ypos(pow(10, e), elo, ehi);

		decade_label(e, lab, sizeof(lab));
		fprintf(f,
			"<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
			"class=\"g\"/>"
			"<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>\n",
			ML, W - MR, y, y, ML - 6, y + 4, lab);
	}
	for (unsigned s = 0; s < r->nsizes; s++) {
		double x = xpos(r, s);

		size_label(r->sizes[s], lab, sizeof(lab));
		fprintf(f,
			"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
			"class=\"g\"/>"
			"<text x=\"%.1f\" y=\"%d\" class=\"xl\">%s</text>\n",
			x, x, MT, H - MB, x, H - MB + 18, lab);
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" class=\"xl\">message size</text>"
		"<text x=\"16\" y=\"%d\" class=\"u\" transform=\"rotate(-90 16 "
		"%d)\">%s</text>\n",
		(W + ML - MR) / 2, H - 10, (H + MT - MB) / 2, (H + MT - MB) / 2,
		c->unit);
	/* The machine's limit, dashed. */
	if (c->limit) {
		fputs("<polyline class=\"lim\" points=\"", f);
		for (unsigned s = 0; s < r->nsizes; s++)
			if (c->limit[s] > 0)
				fprintf(f, "%.1f,%.1f ", xpos(r, s),
					ypos(c->limit[s], elo, ehi));
		fputs("\"/>\n", f);
	}
	if (c->limit_const > 0) {
		double y = ypos(c->limit_const, elo, ehi);

		fprintf(f,
			"<line class=\"lim\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" "
			"y2=\"%.1f\"/>\n",
			ML, W - MR, y, y);
	}
	for (unsigned t = 0; t < r->nseries; t++) {
		fprintf(f,
			"<polyline fill=\"none\" stroke=\"%s\" "
			"stroke-width=\"%s\" points=\"",
			colors[t], t ? "2" : "3");
		for (unsigned s = 0; s < r->nsizes; s++)
			if (c->v[t][s] > 0)
				fprintf(f, "%.1f,%.1f ", xpos(r, s),
					ypos(c->v[t][s], elo, ehi));
		fputs("\"/>\n", f);
		for (unsigned s = 0; s < r->nsizes; s++) {
			if (!(c->v[t][s] > 0))
				continue;
			size_label(r->sizes[s], lab, sizeof(lab));
			fprintf(f,
				"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
				"fill=\"%s\">"
				"<title>%s, %s: %.4g %s</title></circle>\n",
				xpos(r, s), ypos(c->v[t][s], elo, ehi),
				colors[t], r->series[t], lab, c->v[t][s],
				c->unit);
		}
	}
	/* Legend, above the plot. */
	for (unsigned t = 0; t <= r->nseries; t++) {
		double x = ML + nleg++ * 150.0;
		bool lim = t == r->nseries;

		fprintf(f,
			"<line x1=\"%.0f\" x2=\"%.0f\" y1=\"40\" y2=\"40\" %s/>"
			"<text x=\"%.0f\" y=\"44\" class=\"lg\">%s</text>\n",
			x, x + 22, lim ? "class=\"lim\"" : "stroke-width=\"3\"",
			x + 28, lim ? c->limit_name : r->series[t]);
		if (!lim)
			fprintf(f,
				"<line x1=\"%.0f\" x2=\"%.0f\" y1=\"40\" "
				"y2=\"40\" "
				"stroke=\"%s\" stroke-width=\"3\"/>\n",
				x, x + 22, colors[t]);
	}
	fputs("</svg></figure>\n", f);
}

static void write_table(FILE *f, const struct sweep_result *r)
{
	char lab[32];

	fputs("<table><tr><th>size</th><th>transport</th><th>msgs/s</th>"
	      "<th>GB/s</th><th>latency (one way, &micro;s)</th></tr>\n",
	      f);
	for (unsigned s = 0; s < r->nsizes; s++) {
		size_label(r->sizes[s], lab, sizeof(lab));
		for (unsigned t = 0; t < r->nseries; t++)
			fprintf(f,
				"<tr><td>%s</td><td>%s</td><td>%.0f</td>"
				"<td>%.3f</td><td>%.2f</td></tr>\n",
				t ? "" : lab, r->series[t], r->rate[t][s],
				r->gbps[t][s], r->lat_us[t][s]);
		fprintf(f,
			"<tr class=\"limrow\"><td></td><td>limit: bare "
			"ring</td>"
			"<td>%.0f</td><td>%.3f</td><td></td></tr>\n",
			r->limit_rate[s], r->limit_gbps[s]);
	}
	fprintf(f,
		"<tr class=\"limrow\"><td></td><td>limit: cache line</td><td>"
		"</td><td></td><td>%.3f</td></tr></table>\n",
		r->limit_lat_us);
}

static void write_html(FILE *f, const struct sweep_result *r)
{
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	struct chart charts[3] = {
		{ "chart-rate", "Message rate (one direction)", "messages/s",
		  (double(*)[SWEEP_MAX_SIZES])r->rate, r->limit_rate, 0,
		  "limit: bare ring" },
		{ "chart-bandwidth", "Bandwidth (one direction)", "GB/s",
		  (double(*)[SWEEP_MAX_SIZES])r->gbps, r->limit_gbps, 0,
		  "limit: bare ring" },
		{ "chart-latency", "Latency (ping-pong, one way)", "µs",
		  (double(*)[SWEEP_MAX_SIZES])r->lat_us, NULL, r->limit_lat_us,
		  "limit: cache line" },
	};

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
	      "charset=\"utf-8\">\n"
	      "<title>ism-bench sweep</title>\n<style>\n"
	      "body{font:15px/1.4 "
	      "sans-serif;margin:24px;color:#222;background:#fff}\n"
	      "figure{margin:12px 0}\n"
	      ".chart text{font:12px sans-serif;fill:#222}\n"
	      ".chart .t{font-size:16px;font-weight:bold}\n"
	      ".chart .yl{text-anchor:end}.chart .xl{text-anchor:middle}\n"
	      ".chart .u{text-anchor:middle}\n"
	      ".chart .g{stroke:#ddd;stroke-width:1}\n"
	      ".chart .lim{stroke:#444;stroke-width:2;stroke-dasharray:6 "
	      "4;fill:none}\n"
	      "table{border-collapse:collapse}td,th{padding:2px "
	      "10px;text-align:right}\n"
	      "tr.limrow{color:#666}th{border-bottom:1px solid #999}\n"
	      "</style></head><body>\n<h1>ism-bench sweep</h1>\n",
	      f);
	fprintf(f,
		"<p>%s; %u round(s), medians%s; %s.  Two processes on two "
		"CPUs; each baseline runs in the same run as ism.  Dashed: "
		"this machine's limit (a bare ring of fixed slots, no headers "
		"or checks; a cache line bounced between the CPUs).  Raw "
		"numbers: <a href=\"sweep.json\">sweep.json</a>.</p>\n",
		r->machine, r->rounds,
		r->quick ? " (quick sweep: few messages, noisy)" : "", when);
	for (int i = 0; i < 3; i++)
		write_chart(f, r, &charts[i]);
	write_table(f, r);
	fputs("</body></html>\n", f);
}

static int write_file(const char *dir, const char *name,
		      const struct sweep_result *r,
		      void (*fn)(FILE *, const struct sweep_result *))
{
	char path[4096];
	FILE *f;
	int bad;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		fprintf(stderr, "ism-bench: --report: path too long\n");
		return -1;
	}
	f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "ism-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fn(f, r);
	bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "ism-bench: %s: write failed\n", path);
		return -1;
	}
	return 0;
}

int sweep_write_report(const struct sweep_result *r, const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "ism-bench: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (write_file(dir, "sweep.json", r, write_json) < 0 ||
	    write_file(dir, "index.html", r, write_html) < 0)
		return -1;
	fprintf(stderr, "ism-bench: report in %s/index.html\n", dir);
	return 0;
}
