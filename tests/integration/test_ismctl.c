/* SPDX-License-Identifier: MIT */
/*
 * ismctl as scripts use it: exit codes, one JSON document per command
 * (parsed with json-c), JSON Lines from watch, --help and --version.
 */
#include "t_daemon.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct run {
	int status;
	char out[65536];
	char err[4096];
};

/* Run ismctl with @args (NULL-terminated), capturing output. */
static void ismctl(struct run *r, const char *const *args)
{
	const char *argv[32];
	int out[2], err[2], n = 0;
	pid_t pid;

	argv[n++] = t_prog("ISMCTL", "ismctl/ismctl");
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	memset(r, 0, sizeof(*r));
	{
		size_t no = 0, ne = 0;
		ssize_t k;

		while ((k = read(out[0], r->out + no,
				 sizeof(r->out) - 1 - no)) > 0)
			no += (size_t)k;
		while ((k = read(err[0], r->err + ne,
				 sizeof(r->err) - 1 - ne)) > 0)
			ne += (size_t)k;
	}
	close(out[0]);
	close(err[0]);
	r->status = t_wait(pid);
}

#define CTL(r, ...)                                                            \
	do {                                                                   \
		const char *const a_[] = { "--socket", t_group.sock,           \
					   __VA_ARGS__, NULL };                \
		ismctl(r, a_);                                                 \
	} while (0)

static json_object *parse(const char *s)
{
	json_object *o = json_tokener_parse(s);

	if (!o)
		fprintf(stderr, "not JSON: %s\n", s);
	assert_non_null(o);
	return o;
}

static void test_help_version_usage(void **state)
{
	struct run r;
	const char *const help[] = { "--help", NULL };
	const char *const ver[] = { "--version", NULL };
	const char *const none[] = { NULL };

	(void)state;
	ismctl(&r, help);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "Usage: ismctl"));
	ismctl(&r, ver);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ISM_VERSION_STRING));
	ismctl(&r, none);
	assert_int_equal(r.status, 2);
	CTL(&r, "frobnicate");
	assert_int_equal(r.status, 2);
	CTL(&r, "alloc", "lots");
	assert_int_equal(r.status, 2);
	CTL(&r, "read", "not-a-token");
	assert_int_equal(r.status, 2);
	CTL(&r, "alloc", "--help");
	assert_int_equal(r.status, 0);
}

static void test_unreachable(void **state)
{
	const char *const a[] = { "--socket", "/nonexistent/ism.sock", "status",
				  NULL };
	struct run r;

	(void)state;
	ismctl(&r, a);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, "ismctl: cannot reach ismd"));
	/* One line of error. */
	assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
}

static void test_json_status_lists(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "listed", 0);
	struct ism_alloc_opts o = { .size = sizeof(o), .name = "json-region" };
	struct ism_region *reg;
	json_object *j, *v;
	struct run r;

	(void)state;
	assert_int_equal(ism_region_alloc(c, 4096, &o, &reg), 0);
	CTL(&r, "--json", "status");
	assert_int_equal(r.status, 0);
	j = parse(r.out);
	assert_true(json_object_object_get_ex(j, "host_id", &v));
	assert_int_equal(strlen(json_object_get_string(v)), 32);
	assert_true(json_object_object_get_ex(j, "regions", &v));
	assert_int_equal(json_object_get_int(v), 1);
	json_object_put(j);

	CTL(&r, "--json", "peers");
	assert_int_equal(r.status, 0);
	j = parse(r.out);
	assert_true(json_object_object_get_ex(j, "peers", &v));
	assert_true(json_object_array_length(v) >= 2);
	json_object_put(j);

	CTL(&r, "--json", "regions");
	assert_int_equal(r.status, 0);
	j = parse(r.out);
	assert_true(json_object_object_get_ex(j, "regions", &v));
	assert_int_equal(json_object_array_length(v), 1);
	{
		json_object *e = json_object_array_get_idx(v, 0), *f;

		assert_true(json_object_object_get_ex(e, "name", &f));
		assert_string_equal(json_object_get_string(f), "json-region");
		assert_true(json_object_object_get_ex(e, "size", &f));
		assert_int_equal(json_object_get_int64(f), 4096);
	}
	json_object_put(j);
	ism_region_close(reg);
	ism_conn_close(c);
}

static void test_streams_listing(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "stream-lister", 0);
	struct ism_stream_opts o = { .size = sizeof(o) };
	struct ism_stream_listener *l;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct ism_stream *s;
	json_object *j, *v;
	char port[16], want[32];
	int plain, seen_listen = 0, seen_client = 0;
	struct run r;

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	/* A client of a plain TCP server: on TCP, and ismd knows why. */
	plain = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(plain, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(plain, 1), 0);
	assert_int_equal(getsockname(plain, (struct sockaddr *)&sa, &sl), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	assert_int_equal(ism_stream_connect(c, "127.0.0.1", port, &o, &s), 0);

	CTL(&r, "--json", "streams");
	assert_int_equal(r.status, 0);
	j = parse(r.out);
	assert_true(json_object_object_get_ex(j, "streams", &v));
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i), *f, *g;

		assert_true(json_object_object_get_ex(e, "role", &f));
		assert_true(json_object_object_get_ex(e, "local", &g));
		if (!strcmp(json_object_get_string(f), "listen")) {
			snprintf(want, sizeof(want), "127.0.0.1:%d",
				 ism_stream_listener_port(l));
			seen_listen += !strcmp(json_object_get_string(g), want);
		} else if (!strcmp(json_object_get_string(f), "client")) {
			assert_true(json_object_object_get_ex(e, "path", &f));
			assert_string_equal(json_object_get_string(f), "tcp");
			assert_true(json_object_object_get_ex(e, "reason", &f));
			assert_string_equal(json_object_get_string(f),
					    "peer not ism");
			seen_client++;
		}
	}
	assert_int_equal(seen_listen, 1);
	assert_int_equal(seen_client, 1);
	json_object_put(j);
	CTL(&r, "streams");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "peer not ism"));
	CTL(&r, "streams", "extra");
	assert_int_equal(r.status, 2);
	ism_stream_close(s);
	close(plain);
	ism_stream_listener_close(l);
	ism_conn_close(c);
}

static void test_region_commands(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "owner", 0);
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = ISM_ACCESS_RW };
	struct ism_region *reg, *ro;
	char tok[ISM_TOKEN_STRLEN + 1], id[24], *m;
	struct ism_token t;
	json_object *j, *v;
	struct run r;

	(void)state;
	assert_int_equal(ism_region_alloc(c, 8192, &o, &reg), 0);
	assert_int_equal(ism_region_map(reg, (void **)&m), 0);
	ism_region_token(reg, &t);
	ism_token_format(&t, tok);
	snprintf(id, sizeof(id), "%llx",
		 (unsigned long long)ism_region_id(reg));

	CTL(&r, "write", tok, "100", "written by ismctl");
	assert_int_equal(r.status, 0);
	assert_string_equal(m + 100, "written by ismctl");
	CTL(&r, "read", tok, "100", "7");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "written");
	CTL(&r, "--json", "read", tok, "100", "3");
	j = parse(r.out);
	assert_true(json_object_object_get_ex(j, "data_hex", &v));
	assert_string_equal(json_object_get_string(v), "777269");
	json_object_put(j);
	CTL(&r, "--json", "notify", tok, "41");
	assert_int_equal(r.status, 0);
	j = parse(r.out);
	assert_true(json_object_object_get_ex(j, "notified", &v));
	assert_int_equal(json_object_get_int(v), 1);
	json_object_put(j);
	CTL(&r, "--json", "attach", "--nofd", tok);
	assert_int_equal(r.status, 0);
	j = parse(r.out);
	assert_true(json_object_object_get_ex(j, "region", &v));
	assert_string_equal(json_object_get_string(v), id);
	json_object_put(j);
	/* Out of range: operation failed, one line. */
	CTL(&r, "read", tok, "8192", "1");
	assert_int_equal(r.status, 1);
	/* A read-only grant refuses ismctl's write. */
	o.max_access = ISM_ACCESS_RO;
	assert_int_equal(ism_region_alloc(c, 4096, &o, &ro), 0);
	ism_region_token(ro, &t);
	ism_token_format(&t, tok);
	CTL(&r, "write", tok, "0", "x");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Permission denied"));
	/* Unknown tokens. */
	CTL(&r, "read", "00000000000000000000000000000000");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "no region has this token"));
	/* Revoke by id (ismctl runs as an administrator here). */
	CTL(&r, "--json", "destroy", id);
	assert_int_equal(r.status, 0);
	CTL(&r, "destroy", id);
	assert_int_equal(r.status, 1);
	ism_region_close(ro);
	ism_region_close(reg);
	ism_conn_close(c);
}

static void test_alloc_holds_and_watch(void **state)
{
	const char *argv[] = { t_prog("ISMCTL", "ismctl/ismctl"),
			       "--socket",
			       t_group.sock,
			       "--json",
			       "alloc",
			       "64K",
			       "--name",
			       "held",
			       "--data",
			       "hello",
			       NULL };
	const char *wargv[] = { t_prog("ISMCTL", "ismctl/ismctl"),
				"--socket",
				t_group.sock,
				"--json",
				"watch",
				NULL };
	char buf[4096] = "", wbuf[8192] = "";
	int out[2], wout[2];
	size_t n = 0, wn = 0;
	pid_t pid, wpid;
	json_object *j, *v;
	struct ism_conn *c;
	struct ism_region *reg;
	struct ism_token t;

	(void)state;
	assert_int_equal(pipe(wout), 0);
	wpid = fork();
	if (wpid == 0) {
		dup2(wout[1], 1);
		execv(wargv[0], (char **)wargv);
		_exit(127);
	}
	close(wout[1]);
	t_msleep(200);
	assert_int_equal(pipe(out), 0);
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(out[1]);
	/* The JSON document comes before ismctl starts holding. */
	while (!strchr(buf, '\n') && n < sizeof(buf) - 1) {
		ssize_t k = read(out[0], buf + n, sizeof(buf) - 1 - n);

		assert_true(k > 0);
		n += (size_t)k;
	}
	j = parse(buf);
	assert_true(json_object_object_get_ex(j, "token", &v));
	assert_int_equal(ism_token_parse(json_object_get_string(v), &t), 0);
	json_object_put(j);
	c = t_connect(&t_group, "reader", 0);
	assert_int_equal(
		ism_region_attach(c, &t, ISM_ACCESS_RO, ISM_ATTACH_NOFD, &reg),
		0);
	{
		char data[6] = { 0 };

		assert_int_equal(ism_region_read(reg, 0, data, 5), 5);
		assert_string_equal(data, "hello");
	}
	t_kill(pid, SIGTERM);
	assert_int_equal(t_wait(pid), 0);
	/* The held region died with ismctl. */
	struct ism_event ev;
	int k;

	do {
		k = ism_conn_wait_event(c, &ev, 5000);
	} while (k == 1 && ev.type != ISM_EV_REGION_GONE);
	assert_int_equal(k, 1);
	ism_region_close(reg);
	ism_conn_close(c);
	t_msleep(100);
	t_kill(wpid, SIGTERM);
	assert_int_equal(t_wait(wpid), 0);
	{
		ssize_t k2;

		while ((k2 = read(wout[0], wbuf + wn, sizeof(wbuf) - 1 - wn)) >
		       0)
			wn += (size_t)k2;
	}
	/* JSON Lines: every line parses; the story is all there. */
	{
		char *save = NULL, *line;
		bool saw_new = false, saw_gone = false, saw_attach = false;

		for (line = strtok_r(wbuf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			const char *e;

			j = parse(line);
			assert_true(json_object_object_get_ex(j, "event", &v));
			e = json_object_get_string(v);
			saw_new |= !strcmp(e, "region-new");
			saw_gone |= !strcmp(e, "region-gone");
			saw_attach |= !strcmp(e, "attach");
			json_object_put(j);
		}
		assert_true(saw_new && saw_gone && saw_attach);
	}
	close(out[0]);
	close(wout[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_version_usage),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_json_status_lists),
		cmocka_unit_test(test_region_commands),
		cmocka_unit_test(test_streams_listing),
		cmocka_unit_test(test_alloc_holds_and_watch),
	};

	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
