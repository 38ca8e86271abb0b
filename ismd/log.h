/* SPDX-License-Identifier: MIT */
/*
 * log - one line per event on stderr; what peers cause is rate-limited per
 * uid (log.c).
 */
#ifndef ISMD_LOG_H
#define ISMD_LOG_H

#include "util/util.h"

struct peer;
struct acct;

enum ismd_log_level { L_ERR = 0, L_WARN, L_INFO, L_DEBUG };

void ismd_log_init(int level);
void ismd_log(int level, const char *fmt, ...) ISM_PRINTF(2, 3);
/* Rate-limited per uid (all of a uid's connections share one budget). */
void ismd_plog(struct peer *p, int level, const char *fmt, ...)
	ISM_PRINTF(3, 4);
/* Rate-limited per @a's uid (NULL: a global budget), without a peer. */
void ismd_alog(struct acct *a, int level, const char *fmt, ...)
	ISM_PRINTF(3, 4);

#endif
