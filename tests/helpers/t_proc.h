/* SPDX-License-Identifier: MIT */
/*
 * t_proc - one number in a /proc or /sys file (sysctls, huge page
 * counts), read or written by a test.
 */
#ifndef T_PROC_H
#define T_PROC_H

/* The number at the start of @path, or -1. */
long t_read_long(const char *path);
/* Write @v (and a newline) to @path: 0, or -1. */
int t_write_long(const char *path, long v);

#endif
