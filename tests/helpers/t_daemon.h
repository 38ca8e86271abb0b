/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: a real ismd on a private socket in a temp dir (a struct
 * ism_private, started as the demo and ism-bench start theirs), raw
 * protocol sockets for adversarial tests, and fd counting.
 */
#ifndef T_DAEMON_H
#define T_DAEMON_H

#include <ism.h>
#include "util/spawn.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* cmocka needs these before its header. */
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

/*
 * Start ismd in a new temp dir with @extra arguments (NULL-terminated
 * array, may be NULL).  Waits until it answers.  Returns 0 or -errno.
 */
int t_daemon_start(struct ism_private *d, const char *const *extra);
/* Start again on the same socket and state (after stop or kill). */
int t_daemon_restart(struct ism_private *d);
/* SIGTERM and reap; returns the exit status or -1.  One that has not
 * exited after 60 s is killed (-ETIMEDOUT): a test never hangs on it. */
int t_daemon_stop(struct ism_private *d);
/* The same with a bound of @ms. */
int t_daemon_stop_within(struct ism_private *d, int ms);
/* SIGKILL and reap. */
void t_daemon_kill9(struct ism_private *d);
/* Stop if running (SIGTERM) and remove the temp dir.  Returns 0, or -1
 * if ismd exited with an error or its log holds a sanitizer report. */
int t_daemon_cleanup(struct ism_private *d);
/*
 * The test program's exit status: cmocka's failures, or any ismd that
 * ended badly (cmocka ignores a failing group teardown).  Use as
 * return t_exit(cmocka_run_group_tests(...));
 */
int t_exit(int cmocka_failures);

/*
 * The common case, one ismd for a whole cmocka group:
 *   t_group_args = args;   (optional: its extra flags, NULL-terminated)
 *   return t_exit(cmocka_run_group_tests(tests, t_group_setup,
 *                                        t_group_teardown));
 * and the tests use t_group.
 */
extern struct ism_private t_group;
extern const char *const *t_group_args;
int t_group_setup(void **state);
int t_group_teardown(void **state);

/* Is it still running (not exited or crashed)? */
bool t_daemon_alive(struct ism_private *d);
/* Print its log to stderr (on failure). */
void t_daemon_dump_log(struct ism_private *d);

/* Open fds of a process (/proc/PID/fd), or -1. */
int t_count_fds(pid_t pid);

/* libism connection to @d; fails the test on error. */
struct ism_conn *t_connect(struct ism_private *d, const char *name,
			   unsigned flags);

/* A raw SOCK_SEQPACKET connection (no hello).  Returns fd or -errno. */
int t_raw_connect(const char *path);
/* Send a valid HELLO on a raw socket and read the reply; returns 0 or
 * -errno.  *@peer_id gets the id. */
int t_raw_hello(int fd, uint64_t *peer_id);
/*
 * Receive one message with a timeout; returns length, 0 on EOF, -errno.
 * fds received are closed unless @fds is non-NULL.
 */
ssize_t t_raw_recv(int fd, void *buf, size_t cap, int timeout_ms, int *fds,
		   unsigned *nfds);
/* Receive until a reply (skipping events); returns its status (0 or
 * positive errno) or -errno. */
int t_raw_reply(int fd, uint16_t *type, uint32_t *seq, int timeout_ms);
/* Send the STREAM_* request in @b (ended here; with fd @sock, or none if
 * negative) and decode its reply into *@rep, skipping events: 0, the
 * reply's status (a positive errno) or -errno.  10 s at most. */
struct ism_wbuf;
struct ism_stream_rep;
int t_raw_stream_call(int conn, struct ism_wbuf *b, int sock,
		      struct ism_stream_rep *rep);
/* STREAM_RESOLVE of record @id (asserts it is answered). */
struct ism_stream_rep t_raw_stream_resolve(int conn, uint64_t id);
/* "pending", "shared memory", "TCP" or "?". */
const char *t_stream_path_name(uint32_t path);

/* Path of a built program: $name from the environment (set by meson)
 * or a default relative to the build dir. */
const char *t_prog(const char *env, const char *fallback);

/*
 * Where tests put temporary things: $TMPDIR when it is set and short
 * enough for a socket path under it, else /tmp.  `make check` points
 * TMPDIR at a private directory and fails if anything is left in it.
 */
const char *t_tmpdir(void);

/* Fork a child that runs @fn(@arg) and _exits with its return value. */
pid_t t_fork(int (*fn)(void *), void *arg);
/* Wait for a child; returns its exit status, 128+signal, or -1 (also
 * for a pid <= 0, which would wait for any child). */
int t_wait(pid_t pid);
/* kill(2) of one child: a pid <= 0 (a test's "none" after a failed step)
 * is refused with -1 and a line on stderr, since kill(-1) as root ends
 * every process on the machine, the test runner's included. */
int t_kill(pid_t pid, int sig);

/*
 * Wait up to @ms per event for an event of @type, skipping others.
 * Returns 1 with *@ev filled, 0 on timeout, or -errno.
 */
int t_wait_event(struct ism_conn *c, uint32_t type, struct ism_event *ev,
		 int ms);

/* Sleep @ms milliseconds. */
void t_msleep(int ms);

/* Wait up to @ms for @cond to hold, polling. */
#define T_WAIT_FOR(cond, ms)                                                   \
	({                                                                     \
		int __w = 0;                                                   \
		while (!(cond) && __w < (ms)) {                                \
			t_msleep(5);                                           \
			__w += 5;                                              \
		}                                                              \
		(cond);                                                        \
	})

#endif
