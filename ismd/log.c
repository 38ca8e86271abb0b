/* SPDX-License-Identifier: MIT */
/*
 * log - one line per event on stderr, rate-limited per peer so a hostile
 * peer cannot flood the log (a token bucket; suppressed lines are counted
 * and reported once the bucket refills).
 */
#include "ismd.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#define RL_BURST 20u
#define RL_PER_SEC 5u

static int log_level = L_INFO;
static const char *const level_name[] = { "error", "warn", "info", "debug" };

void ismd_log_init(int level)
{
	log_level = level;
}

static void vlog(int level, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(int level, const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "ismd: %s: %s", level_name[level],
		     prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line so lines from a crash-looping ismd stay whole. */
	fprintf(stderr, "%s\n", line);
}

void ismd_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vlog(level, "", fmt, ap);
	va_end(ap);
}

void ismd_plog(struct peer *p, int level, const char *fmt, ...)
{
	char prefix[96];
	uint64_t now;
	va_list ap;

	if (level > log_level)
		return;
	now = ism_now_ns();
	if (p->rl_stamp == 0) {
		p->rl_stamp = now;
		p->rl_tokens = RL_BURST;
	}
	if (now - p->rl_stamp >= 1000000000ull) {
		uint64_t add = (now - p->rl_stamp) / 1000000000ull * RL_PER_SEC;

		p->rl_tokens = (uint32_t)ISM_MIN((uint64_t)RL_BURST,
						 p->rl_tokens + add);
		p->rl_stamp = now;
	}
	if (p->rl_tokens == 0) {
		p->rl_suppressed++;
		return;
	}
	p->rl_tokens--;
	if (p->rl_suppressed) {
		snprintf(prefix, sizeof(prefix), "peer %llx (pid %d): ",
			 (unsigned long long)p->id, (int)p->pid);
		ismd_log(L_WARN, "%s%u lines suppressed", prefix,
			 p->rl_suppressed);
		p->rl_suppressed = 0;
	}
	snprintf(prefix, sizeof(prefix), "peer %llx (pid %d): ",
		 (unsigned long long)p->id, (int)p->pid);
	va_start(ap, fmt);
	vlog(level, prefix, fmt, ap);
	va_end(ap);
}
