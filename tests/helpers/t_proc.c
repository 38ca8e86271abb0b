/* SPDX-License-Identifier: MIT */
#include "t_proc.h"

#include <stdio.h>

long t_read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

int t_write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f)
		return -1;
	r = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	return fclose(f) == 0 ? r : -1;
}
