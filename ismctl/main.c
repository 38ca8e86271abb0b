/* SPDX-License-Identifier: MIT */
/*
 * ismctl - command line client for ismd.  See ismctl(1).
 */
#include "ismctl.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ismctl [--socket PATH] [--json] COMMAND [ARGS]\n"
		"Inspect and use ismd, the shared-memory device manager.\n"
		"\n"
		"Commands:\n"
		"  status                      daemon, memory use and quotas\n"
		"  peers                       connected peers (pid, uid, "
		"name, use)\n"
		"  regions                     regions (id, owner, size, "
		"references)\n"
		"  refs REGION                 who references a region\n"
		"  alloc SIZE [OPTIONS]        allocate a region, print its "
		"token,\n"
		"                              and hold it until interrupted\n"
		"  attach TOKEN [OPTIONS]      attach and describe a region\n"
		"  read TOKEN [OFFSET [LEN]]   read through ismd (no fd) to "
		"stdout\n"
		"  write TOKEN OFFSET DATA     write DATA (or - for stdin) "
		"through ismd\n"
		"  notify TOKEN [VALUE]        notify every peer referencing a "
		"region\n"
		"  destroy REGION              destroy (revoke) a region: "
		"owner or admin\n"
		"  watch                       print lifecycle events until "
		"interrupted\n"
		"  streams                     stream connections: path (shm "
		"or tcp)\n"
		"                              and why a TCP one fell back\n"
		"  ivshmem list|peers|ring|join  ivshmem domains (ismd "
		"--ivshmem):\n"
		"                              list, their peers, ring a "
		"doorbell,\n"
		"                              take part\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH   ismd socket (default: $ISM_SOCKET, "
		"then\n"
		"                      $XDG_RUNTIME_DIR/ism.sock, then "
		"/run/ism/ism.sock)\n"
		"  -j, --json          machine-readable output: one JSON "
		"document\n"
		"                      (JSON Lines for watch)\n"
		"  -h, --help          show this help; COMMAND --help for a "
		"command's\n"
		"  -V, --version       show the version\n"
		"\n"
		"Exit status: 0 ok, 1 operation failed, 2 usage, 3 ismd "
		"unreachable,\n"
		"4 protocol error.\n");
}

static const struct {
	const char *name;
	int (*fn)(struct ctl *, int, char **);
} cmds[] = {
	{ "status", cmd_status },   { "peers", cmd_peers },
	{ "regions", cmd_regions }, { "refs", cmd_refs },
	{ "alloc", cmd_alloc },	    { "attach", cmd_attach },
	{ "read", cmd_read },	    { "write", cmd_write },
	{ "notify", cmd_notify },   { "destroy", cmd_destroy },
	{ "watch", cmd_watch },	    { "streams", cmd_streams },
	{ "ivshmem", cmd_ivshmem },
};

int ctl_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("ismctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see ismctl --help)\n", stderr);
	return EXIT_USAGE;
}

int ctl_fail(const char *what, int err)
{
	fprintf(stderr, "ismctl: %s: %s\n", what, strerror(-err));
	switch (-err) {
	case EPROTO:
	case EPROTONOSUPPORT:
	case EBADMSG: return EXIT_PROTOCOL;
	case ECONNRESET:
	case EPIPE:
	case ETIMEDOUT: return EXIT_UNREACHABLE;
	default: return EXIT_FAILED;
	}
}

int ctl_fail_token(const char *what, int err)
{
	if (err == -ENOENT) {
		fprintf(stderr,
			"ismctl: %s: no region has this token (wrong, "
			"or destroyed)\n",
			what);
		return EXIT_FAILED;
	}
	if (err == -EACCES) {
		fprintf(stderr,
			"ismctl: %s: Permission denied (the owner's "
			"grant does not allow it)\n",
			what);
		return EXIT_FAILED;
	}
	return ctl_fail(what, err);
}

int ctl_connect(struct ctl *ctl, unsigned flags)
{
	struct ism_conn_opts o = {
		.size = sizeof(o),
		.flags = flags,
		.name = "ismctl",
	};
	int r = ism_conn_open(ctl->socket, &o, &ctl->c);

	if (r < 0) {
		char path[108] = "";

		if (ctl->socket)
			ism_strlcpy(path, ctl->socket, sizeof(path));
		else
			ism_default_socket(path, sizeof(path));
		fprintf(stderr, "ismctl: cannot reach ismd at %s: %s\n", path,
			strerror(-r));
		return r == -EPROTO || r == -EPROTONOSUPPORT ? EXIT_PROTOCOL
							     : EXIT_UNREACHABLE;
	}
	return EXIT_OK;
}

void ctl_json(json_object *obj)
{
	puts(json_object_to_json_string_ext(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(obj);
}

json_object *ctl_json_id(uint64_t id)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llx", (unsigned long long)id);
	return json_object_new_string(buf);
}

int ctl_parse_id(const char *s, uint64_t *out)
{
	char buf[24];

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return ism_parse_u64(s, UINT64_MAX, out);
	if (strlen(s) > 16)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "0x%s", s);
	return ism_parse_u64(buf, UINT64_MAX, out);
}

const char *ctl_access_name(uint32_t access)
{
	return access == ISM_ACCESS_RW	 ? "rw"
	       : access == ISM_ACCESS_RO ? "ro"
					 : "-";
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { 0 };
	int opt, r;

	/* '+': stop at the command so its own options stay its own. */
	while ((opt = getopt_long(argc, argv, "+s:jhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's': ctl.socket = optarg; break;
		case 'j': ctl.json = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V':
			printf("ismctl %s (libism %s)\n", ISM_VERSION_STRING,
			       ism_version());
			return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage("no command given");
	for (size_t i = 0; i < ISM_ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[optind], cmds[i].name) != 0)
			continue;
		argv += optind;
		argc -= optind;
		optind = 0; /* reset getopt for the command's options */
		r = cmds[i].fn(&ctl, argc, argv);
		ism_conn_close(ctl.c);
		return r;
	}
	return ctl_usage("unknown command '%s'", argv[optind]);
}
