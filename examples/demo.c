/* SPDX-License-Identifier: MIT */
/*
 * ism-demo: start a private ismd, then two peer processes share a region
 * and say what happens at each step:
 *
 *   owner:  alloc a region (attachers get read-only), hand the token over
 *   reader: attach read-only, map it
 *   owner:  write a message into the region, notify
 *   reader: woken by its doorbell, read the message from its mapping
 *   reader: try to write (refused by the kernel, and by ismd)
 *   owner:  destroy; reader is told, its stale mapping reads zeros
 *
 * The token travels over a pipe: any channel the application has will do.
 * Usage: ism-demo [--ismd PATH]   (default: $ISMD, else ../ismd/ismd next
 * to this program, else ismd on $PATH)
 *
 * Everything but starting the private ismd uses only the public API.
 */
#include <ism.h>
#include "util/spawn.h" /* a private ismd for this demo */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char sock[96]; /* fits sun_path */

static void say(const char *who, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const char *who, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "[%-6s] ", who);

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line: two processes share the terminal. */
	printf("%s\n", line);
	fflush(stdout);
}

static void die(const char *who, const char *what, int err)
{
	say(who, "FAILED: %s: %s", what, strerror(-err));
	exit(1);
}

/* Tiny step protocol between the two processes over a pipe pair. */
static void send_msg(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		exit(1);
}

static void recv_msg(int fd, void *p, size_t n)
{
	if (read(fd, p, n) != (ssize_t)n)
		exit(1);
}

static int owner(int to_reader, int from_reader)
{
	struct ism_conn_opts co = { .size = sizeof(co), .name = "demo-owner" };
	struct ism_alloc_opts ao = { .size = sizeof(ao),
				     .max_access = ISM_ACCESS_RO,
				     .name = "demo" };
	const char *text = "hello from the owner, through shared memory";
	struct ism_conn *c;
	struct ism_region *r;
	struct ism_region_info info;
	struct ism_token tok;
	char ts[ISM_TOKEN_STRLEN + 1], ok;
	char *mem;
	int e;

	if ((e = ism_conn_open(sock, &co, &c)) < 0)
		die("owner", "connect", e);
	say("owner", "connected to ismd as peer %llx",
	    (unsigned long long)ism_conn_peer_id(c));
	if ((e = ism_region_alloc(c, 1 << 20, &ao, &r)) < 0)
		die("owner", "alloc", e);
	ism_region_info(r, &info);
	ism_token_format(&info.token, ts);
	say("owner",
	    "allocated region %llx: %llu bytes, attachers get "
	    "read-only",
	    (unsigned long long)info.id, (unsigned long long)info.size);
	say("owner", "token %s: handing it to the reader over a pipe", ts);
	tok = info.token;
	send_msg(to_reader, &tok, sizeof(tok));
	recv_msg(from_reader, &ok, 1); /* reader attached */
	if ((e = ism_region_map(r, (void **)&mem)) < 0)
		die("owner", "map", e);
	memcpy(mem, text, strlen(text) + 1);
	say("owner", "wrote \"%s\" into the region", text);
	if ((e = ism_region_notify(r, strlen(text))) < 0)
		die("owner", "notify", e);
	say("owner", "notified %d peer(s) (value = message length)", e);
	recv_msg(from_reader, &ok, 1); /* reader read and tried to write */
	say("owner", "region still holds: \"%s\"; destroying it", mem);
	if ((e = ism_region_destroy(r)) < 0)
		die("owner", "destroy", e);
	say("owner", "destroyed: %d referrer(s) told, memory freed at once", e);
	recv_msg(from_reader, &ok, 1);
	ism_region_close(r);
	ism_conn_close(c);
	return 0;
}

static int wait_event(struct ism_conn *c, uint32_t type, struct ism_event *ev)
{
	for (;;) {
		int e = ism_conn_wait_event(c, ev, 10000);

		if (e <= 0)
			return e == 0 ? -ETIMEDOUT : e;
		if (ev->type == type)
			return 0;
	}
}

static int reader(int to_owner, int from_owner)
{
	struct ism_conn_opts co = { .size = sizeof(co), .name = "demo-reader" };
	struct ism_conn *c;
	struct ism_region *r, *nofd;
	struct ism_event ev;
	struct ism_token tok;
	struct pollfd p;
	uint64_t rings;
	char *mem, ok = 1;
	int e;

	if ((e = ism_conn_open(sock, &co, &c)) < 0)
		die("reader", "connect", e);
	recv_msg(from_owner, &tok, sizeof(tok));
	if ((e = ism_region_attach(c, &tok, ISM_ACCESS_RO, 0, &r)) < 0)
		die("reader", "attach", e);
	if ((e = ism_region_map(r, (void **)&mem)) < 0)
		die("reader", "map", e);
	say("reader", "attached read-only to region %llx and mapped it",
	    (unsigned long long)ism_region_id(r));
	send_msg(to_owner, &ok, 1);

	/* Sleep on the doorbell eventfd ismd signals, as a VMM would. */
	p.fd = ism_conn_doorbell_fd(c);
	p.events = POLLIN;
	if (poll(&p, 1, 10000) != 1)
		die("reader", "doorbell", -ETIMEDOUT);
	if (read(p.fd, &rings, sizeof(rings)) != sizeof(rings))
		die("reader", "doorbell", -EIO);
	if ((e = wait_event(c, ISM_EV_NOTIFY, &ev)) < 0)
		die("reader", "event", e);
	say("reader", "doorbell rang: notify from peer %llx, value %llu",
	    (unsigned long long)ev.peer, (unsigned long long)ev.value);
	say("reader", "read from its mapping: \"%.*s\"", (int)ev.value, mem);

	if (mprotect(mem, 4096, PROT_READ | PROT_WRITE) < 0)
		say("reader",
		    "tried to make the mapping writable: refused by "
		    "the kernel (%s)",
		    strerror(errno));
	else
		die("reader", "read-only was not enforced", -EPERM);
	if ((e = ism_region_attach(c, &tok, ISM_ACCESS_RW, ISM_ATTACH_NOFD,
				   &nofd)) < 0)
		say("reader", "asked ismd for read-write access: refused (%s)",
		    strerror(-e));
	else
		die("reader", "read-write was granted", -EPERM);
	send_msg(to_owner, &ok, 1);

	if ((e = wait_event(c, ISM_EV_REGION_GONE, &ev)) < 0)
		die("reader", "event", e);
	say("reader", "told region %llx is gone (destroyed by its owner)",
	    (unsigned long long)ev.region);
	e = mem[0] == 0 ? 0 : 1;
	say("reader", "its stale mapping now reads %s",
	    e == 0 ? "zeros: the pages were freed" : "old data (unexpected)");
	send_msg(to_owner, &ok, 1);
	ism_region_close(r);
	ism_conn_close(c);
	return e;
}

int main(int argc, char **argv)
{
	const char *ismd = argc == 3 && !strcmp(argv[1], "--ismd")
				   ? argv[2]
				   : ism_find_ismd();
	struct ism_private d;
	int o2r[2], r2o[2], st_owner, st_reader, st_d, ok;
	pid_t po, pr;

	if (argc != 1 && argc != 3) {
		fprintf(stderr, "usage: ism-demo [--ismd PATH]\n");
		return 2;
	}
	if (ism_private_start(&d, ismd, NULL) < 0)
		return 1;
	snprintf(sock, sizeof(sock), "%s", d.sock);
	say("ismd", "private ismd (pid %d) on %s", (int)d.pid, sock);
	if (pipe(o2r) < 0 || pipe(r2o) < 0)
		return 1;
	po = fork();
	if (po == 0)
		_exit(owner(o2r[1], r2o[0]));
	pr = fork();
	if (pr == 0)
		_exit(reader(r2o[1], o2r[0]));
	waitpid(po, &st_owner, 0);
	waitpid(pr, &st_reader, 0);
	ok = WIFEXITED(st_owner) && WEXITSTATUS(st_owner) == 0 &&
	     WIFEXITED(st_reader) && WEXITSTATUS(st_reader) == 0;
	st_d = ism_private_stop(&d, 0);
	if (st_d != 0) {
		say("ismd", "exited badly (status %d); its log is %s", st_d,
		    d.log);
		ok = 0;
	}
	say("ismd", "stopped; demo %s", ok ? "completed" : "FAILED");
	if (ok)
		ism_private_stop(&d, 1); /* remove the temp dir */
	return ok ? 0 : 1;
}
