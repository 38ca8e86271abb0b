/* SPDX-License-Identifier: MIT */
/*
 * spawn - a private ismd in a temp dir holding its socket, state and log,
 * started and stopped by the caller: the demo, ism-bench and the tests
 * (tests/helpers/t_daemon) all start theirs here.  Not part of libism.
 */
#ifndef ISM_SPAWN_H
#define ISM_SPAWN_H

#include <sys/types.h>

struct ism_private {
	pid_t pid;
	char dir[64];  /* $TMPDIR (if short) or /tmp, + ism-private-XXXXXX */
	char sock[96]; /* fits sun_path (108) */
	char state[96];
	char log[96]; /* ismd's stderr, appended to across restarts */
	/* How to start it again (ism_private_restart). */
	const char *ismd;
	char args[1024]; /* the extra arguments, each NUL-terminated */
	unsigned n_args;
};

/* Where ismd is: $ISMD, else ../ismd/ismd next to this program (the build
 * tree), else "ismd" on $PATH. */
const char *ism_find_ismd(void);

/* The directory temp dirs go in: $TMPDIR when it is absolute and short
 * enough (40) for a socket path under it, else /tmp. */
const char *ism_tmpdir(void);

/*
 * Start @ismd (NULL: ism_find_ismd()) with @extra arguments
 * (NULL-terminated, may be NULL) on a socket in a new temp dir (mode
 * 0711: other uids may reach the socket), its stderr to p->log, and wait
 * until it answers.  It gets SIGKILL if the caller dies.  Returns 0, or
 * -errno after printing why (-ECHILD: it exited; its log says why).
 */
int ism_private_start(struct ism_private *p, const char *ismd,
		      const char *const *extra);
/* Start it again on the same socket, state and arguments. */
int ism_private_restart(struct ism_private *p);

/* SIGTERM and reap within @ms, else SIGKILL (and -ETIMEDOUT): never left
 * behind.  Returns its exit status (128+signal if killed), or -1 if it
 * was not running. */
int ism_private_stop_within(struct ism_private *p, int ms);
/* SIGKILL and reap. */
void ism_private_kill(struct ism_private *p);
/* Stop (within 60 s) and return the exit status; remove the temp dir if
 * @remove. */
int ism_private_stop(struct ism_private *p, int remove);
/* Remove the temp dir and what is in it. */
void ism_private_remove(struct ism_private *p);

#endif
