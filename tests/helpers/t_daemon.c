/* SPDX-License-Identifier: MIT */
#include "t_daemon.h"
#include "proto/proto.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int daemon_failures;

void t_msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *t_prog(const char *env, const char *fallback)
{
	const char *v = getenv(env);

	return v && *v ? v : fallback;
}

const char *t_tmpdir(void)
{
	return ism_tmpdir();
}

int t_daemon_start(struct ism_private *d, const char *const *extra)
{
	const char *args[64] = { "--log-level", "debug" };
	int n = 2, r;

	for (; extra && *extra && n < 63; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	r = ism_private_start(d, t_prog("ISMD", "ismd/ismd"), args);
	if (r == -ECHILD)
		t_daemon_dump_log(d);
	return r;
}

int t_daemon_restart(struct ism_private *d)
{
	int r = ism_private_restart(d);

	if (r == -ECHILD)
		t_daemon_dump_log(d);
	return r;
}

int t_daemon_stop_within(struct ism_private *d, int ms)
{
	return ism_private_stop_within(d, ms);
}

int t_daemon_stop(struct ism_private *d)
{
	return ism_private_stop_within(d, 60000);
}

void t_daemon_kill9(struct ism_private *d)
{
	ism_private_kill(d);
}

bool t_daemon_alive(struct ism_private *d)
{
	int st;

	if (d->pid <= 0)
		return false;
	if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
		fprintf(stderr, "ismd exited: status %d\n",
			WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		d->pid = 0;
		daemon_failures++; /* nobody stopped it */
		t_daemon_dump_log(d);
		return false;
	}
	return true;
}

void t_daemon_dump_log(struct ism_private *d)
{
	char buf[4096];
	ssize_t n;
	int fd = open(d->log, O_RDONLY);

	if (fd < 0)
		return;
	fprintf(stderr, "---- ismd log (%s) ----\n", d->log);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	fprintf(stderr, "---- end of ismd log ----\n");
	close(fd);
}

static bool log_has_sanitizer_report(struct ism_private *d)
{
	char line[1024];
	bool bad = false;
	FILE *f = fopen(d->log, "r");

	if (!f)
		return false;
	while (!bad && fgets(line, sizeof(line), f))
		bad = strstr(line, "Sanitizer") ||
		      strstr(line, "runtime error");
	fclose(f);
	return bad;
}

int t_exit(int cmocka_failures)
{
	if (daemon_failures)
		fprintf(stderr, "%d ismd instance(s) ended badly\n",
			daemon_failures);
	return cmocka_failures || daemon_failures ? 1 : 0;
}

struct ism_private t_group;
const char *const *t_group_args;

int t_group_setup(void **state)
{
	(void)state;
	return t_daemon_start(&t_group, t_group_args);
}

int t_group_teardown(void **state)
{
	(void)state;
	return t_daemon_cleanup(&t_group);
}

int t_daemon_cleanup(struct ism_private *d)
{
	int r = 0;

	if (d->pid > 0) {
		int st = t_daemon_stop(d);

		if (st != 0) {
			fprintf(stderr, "ismd exited with status %d\n", st);
			r = -1;
		}
	}
	if (log_has_sanitizer_report(d)) {
		fprintf(stderr, "ismd reported a sanitizer error\n");
		r = -1;
	}
	if (r < 0) {
		daemon_failures++;
		t_daemon_dump_log(d);
	}
	if (getenv("ISM_TEST_KEEP"))
		fprintf(stderr, "keeping %s\n", d->dir);
	else
		ism_private_remove(d);
	return r;
}

int t_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return pid == getpid() ? n - 1 : n; /* not the DIR's own fd */
}

struct ism_conn *t_connect(struct ism_private *d, const char *name,
			   unsigned flags)
{
	struct ism_conn_opts o = {
		.size = sizeof(o),
		.name = name,
		.flags = flags,
		.timeout_ms = 5000,
		.reconnect_ms = 10000,
	};
	struct ism_conn *c = NULL;
	int r = ism_conn_open(d->sock, &o, &c);

	if (r < 0) {
		fprintf(stderr, "connect %s: %s\n", d->sock, strerror(-r));
		t_daemon_dump_log(d);
	}
	assert_int_equal(r, 0);
	return c;
}

int t_raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	ism_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

ssize_t t_raw_recv(int fd, void *buf, size_t cap, int timeout_ms, int *fds,
		   unsigned *nfds)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int tmp[ISM_WIRE_MAX_FDS];
	unsigned n = 0;
	ssize_t r;

	if (poll(&p, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	r = ism_wire_recv(fd, buf, cap, fds ? fds : tmp, &n, MSG_DONTWAIT);
	if (!fds)
		ism_close_fds(tmp, n);
	if (nfds)
		*nfds = n;
	return r;
}

int t_raw_stream_call(int conn, struct ism_wbuf *b, int sock,
		      struct ism_stream_rep *rep)
{
	static uint8_t rx[ISM_WIRE_MAX_MSG];
	struct ism_wire_hdr h;
	struct ism_rbuf rb;
	int n = ism_proto_end(b);

	if (n < 0)
		return n;
	n = ism_wire_send(conn, b->p, (size_t)n, &sock, sock >= 0 ? 1 : 0, 0);
	if (n < 0)
		return n;
	for (;;) {
		ssize_t k = t_raw_recv(conn, rx, sizeof(rx), 10000, NULL, NULL);

		if (k <= 0)
			return k == 0 ? -ECONNRESET : (int)k;
		ism_rbuf_init(&rb, rx, (size_t)k);
		if (ism_wire_hdr_get(&rb, (size_t)k, &h) < 0)
			return -EBADMSG;
		if (h.flags & ISM_WIRE_F_EVENT)
			continue;
		if (h.status)
			return (int)h.status;
		return ism_proto_get_stream_rep(&rb, rep);
	}
}

struct ism_stream_rep t_raw_stream_resolve(int conn, uint64_t id)
{
	static uint8_t tx[64];
	struct ism_stream_rep rep;
	struct ism_wbuf b;

	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_STREAM_RESOLVE, 0, 1, 0);
	ism_proto_put_region_req(&b, id);
	assert_int_equal(t_raw_stream_call(conn, &b, -1, &rep), 0);
	return rep;
}

const char *t_stream_path_name(uint32_t path)
{
	return path == ISM_STREAM_PENDING ? "pending"
	       : path == ISM_STREAM_SHM	  ? "shared memory"
	       : path == ISM_STREAM_TCP	  ? "TCP"
					  : "?";
}

int t_raw_reply(int fd, uint16_t *type, uint32_t *seq, int timeout_ms)
{
	static uint8_t buf[ISM_WIRE_MAX_MSG];

	for (;;) {
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		ssize_t n = t_raw_recv(fd, buf, sizeof(buf), timeout_ms, NULL,
				       NULL);

		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
		ism_rbuf_init(&rb, buf, (size_t)n);
		if (ism_wire_hdr_get(&rb, (size_t)n, &h) < 0)
			return -EBADMSG;
		if (h.flags & ISM_WIRE_F_EVENT)
			continue;
		if (type)
			*type = h.type;
		if (seq)
			*seq = h.seq;
		return (int)h.status;
	}
}

int t_raw_hello(int fd, uint64_t *peer_id)
{
	uint8_t buf[512];
	struct ism_hello_req req = { .min_version = 1, .max_version = 1 };
	struct ism_hello_rep rep;
	struct ism_wire_hdr h;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	ssize_t n;
	int r;

	ism_strlcpy(req.name, "raw", sizeof(req.name));
	ism_proto_begin(&b, buf, sizeof(buf), ISM_MSG_HELLO, 0, 1, 0);
	ism_proto_put_hello_req(&b, &req);
	r = ism_proto_end(&b);
	if (r < 0)
		return r;
	r = ism_wire_send(fd, buf, (size_t)r, NULL, 0, 0);
	if (r < 0)
		return r;
	n = t_raw_recv(fd, buf, sizeof(buf), 5000, NULL, NULL);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	ism_rbuf_init(&rb, buf, (size_t)n);
	if (ism_wire_hdr_get(&rb, (size_t)n, &h) < 0 || h.status)
		return h.status ? -(int)h.status : -EBADMSG;
	if (ism_proto_get_hello_rep(&rb, &rep) < 0)
		return -EBADMSG;
	if (peer_id)
		*peer_id = rep.peer_id;
	return 0;
}

int t_wait_event(struct ism_conn *c, uint32_t type, struct ism_event *ev,
		 int ms)
{
	for (;;) {
		int r = ism_conn_wait_event(c, ev, ms);

		if (r <= 0 || ev->type == type)
			return r;
	}
}

/* Threads of this process (/proc/self/task), or 0 if unknown. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

pid_t t_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	/* libism closes some fds on short-lived threads (util/bgclose.h):
	 * let those finish first.  A fork while another thread holds a lock
	 * of the sanitizer's allocator (GCC 12's libasan has no fork handler
	 * for its quarantine) leaves the child spinning on it for good.
	 * Threads the caller keeps on purpose only cost the wait's bound. */
	for (int ms = 0; thread_count() > 1 && ms < 2000; ms += 2)
		t_msleep(2);
	pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int t_wait(pid_t pid)
{
	pid_t r;
	int st;

	if (pid <= 0)
		return -1;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int t_kill(pid_t pid, int sig)
{
	if (pid <= 0) {
		fprintf(stderr, "t_kill: refused pid %d\n", (int)pid);
		errno = ESRCH;
		return -1;
	}
	return kill(pid, sig);
}
