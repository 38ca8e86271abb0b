/* SPDX-License-Identifier: MIT */
/*
 * log - one line per event on stderr.  What peers cause is rate-limited
 * per uid (a token bucket each; connection churn from many processes of
 * one user shares it), so nobody can flood the log; suppressed lines are
 * counted and reported once the bucket refills.
 */
#include "ismd.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#define RL_BURST   20u
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

/* The token bucket of @a's uid (or the global one): may a line go out?
 * Reports lines suppressed since the last one that did. */
static bool rate_ok(struct acct *a)
{
	static struct acct global; /* lines nobody's uid pays for */
	uint64_t now = ism_now_ns();

	if (!a)
		a = &global;
	if (a->rl_stamp == 0) {
		a->rl_stamp = now;
		a->rl_tokens = RL_BURST;
	}
	if (now - a->rl_stamp >= 1000000000ull) {
		uint64_t add = (now - a->rl_stamp) / 1000000000ull * RL_PER_SEC;

		a->rl_tokens = (uint32_t)ISM_MIN((uint64_t)RL_BURST,
						 a->rl_tokens + add);
		a->rl_stamp = now;
	}
	if (a->rl_tokens == 0) {
		a->rl_suppressed++;
		return false;
	}
	a->rl_tokens--;
	if (a->rl_suppressed) {
		if (a == &global)
			ismd_log(L_WARN, "%u lines suppressed",
				 a->rl_suppressed);
		else
			ismd_log(L_WARN, "uid %u: %u lines suppressed",
				 (unsigned)a->uid, a->rl_suppressed);
		a->rl_suppressed = 0;
	}
	return true;
}

void ismd_plog(struct peer *p, int level, const char *fmt, ...)
{
	char prefix[96];
	va_list ap;

	if (level > log_level || !rate_ok(p->acct))
		return;
	snprintf(prefix, sizeof(prefix),
		 "peer %llx (pid %d): ", (unsigned long long)p->id,
		 (int)p->pid);
	va_start(ap, fmt);
	vlog(level, prefix, fmt, ap);
	va_end(ap);
}

void ismd_alog(struct acct *a, int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level || !rate_ok(a))
		return;
	va_start(ap, fmt);
	vlog(level, "", fmt, ap);
	va_end(ap);
}
