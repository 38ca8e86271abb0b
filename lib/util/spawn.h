/* SPDX-License-Identifier: MIT */
/*
 * spawn - a private ismd for the demo and ism-bench: a temp dir holding
 * its socket, state and log, started and stopped by the caller.
 */
#ifndef ISM_SPAWN_H
#define ISM_SPAWN_H

#include <sys/types.h>

struct ism_private {
	pid_t pid;
	char dir[64];
	char sock[96]; /* fits sun_path */
	char log[96];
};

/* Where ismd is: $ISMD, else ../ismd/ismd next to this program (the build
 * tree), else "ismd" on $PATH. */
const char *ism_find_ismd(void);

/*
 * Start @ismd with @extra arguments (NULL-terminated, may be NULL) on a
 * socket in a new temp dir, its stderr to p->log, and wait until it
 * answers.  It gets SIGTERM if the caller dies.  Returns 0, or -1 after
 * printing why.
 */
int ism_private_start(struct ism_private *p, const char *ismd,
		      const char *const *extra);

/* SIGTERM it and wait.  Returns its exit status (128+signal if killed),
 * or -1.  Removes the temp dir if @remove. */
int ism_private_stop(struct ism_private *p, int remove);

#endif
