/* SPDX-License-Identifier: MIT */
/*
 * ismd - command line.  See ismd(8).
 */
#include "ismd.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ismd [OPTION]...\n"
		"Serve shared-memory regions to peers over a UNIX socket.\n"
		"\n"
		"  -s, --socket PATH          listen on PATH (default: "
		"$XDG_RUNTIME_DIR/ism.sock,\n"
		"                             or /run/ism/ism.sock as root; "
		"a systemd socket wins)\n"
		"      --socket-mode MODE     socket permissions, octal "
		"(default 0660)\n"
		"      --socket-group GROUP   socket group (name or gid)\n"
		"      --state-dir DIR        host id, key and epoch (default "
		"/var/lib/ism as root,\n"
		"                             else $XDG_STATE_HOME/ism)\n"
		"  -m, --max-memory SIZE      total bytes of all regions "
		"(default: half of RAM)\n"
		"      --max-peers N          concurrent connections "
		"(default 4096)\n"
		"      --quota-regions N      regions per peer (default "
		"65536)\n"
		"      --quota-bytes SIZE     bytes per peer (default: "
		"--max-memory)\n"
		"      --quota-attachments N  attachments per peer (default "
		"65536)\n"
		"      --quota-events N       queued events per peer (default "
		"4096)\n"
		"      --max-queue SIZE       send queue per peer before it is "
		"dropped (default 256K)\n"
		"      --max-fds N            fds ismd holds for peers "
		"(default: "
		"RLIMIT_NOFILE\n"
		"                             less a reserve)\n"
		"      --max-heap SIZE        ismd's memory for records and "
		"queues (default:\n"
		"                             1/16 of RAM, 64M to 1G)\n"
		"      --uid-share PERCENT    the share of each global cap one "
		"uid may use\n"
		"                             (default 50; administrators: no "
		"share cap)\n"
		"      --recovery-window MS   how long peers of a previous "
		"ismd "
		"may re-register\n"
		"                             (default 10000; 0 disables)\n"
		"      --hello-timeout MS     drop connections that do not "
		"greet in time (default 5000)\n"
		"      --allow-uid UID        only these uids may connect "
		"(repeatable, or a,b,c)\n"
		"      --allow-gid GID        ... or members of these groups\n"
		"      --admin-uid UID        administrators besides root and "
		"ismd's own uid\n"
		"      --admin-gid GID        ... or members of these groups\n"
		"  -l, --log-level LEVEL      error, warn, info (default) or "
		"debug\n"
		"      --dumpable             allow core dumps and same-uid "
		"/proc access (debugging)\n"
		"      --ivshmem "
		"PATH,size=SIZE[,vectors=N][,name=NAME][,peers=N]\n"
		"                [,uid=UID][,layout=v2,output=SIZE]\n"
		"                [,channels=on[,control=on[,guest_uid=UID]]]\n"
		"                             serve an ivshmem domain to "
		"QEMU's "
		"ivshmem-doorbell\n"
		"                             on PATH (repeatable; SIZE a "
		"power "
		"of two)\n"
		"  -h, --help                 show this help\n"
		"  -V, --version              show the version\n");
}

enum {
	OPT_MODE = 256,
	OPT_GROUP,
	OPT_STATE,
	OPT_MAXPEERS,
	OPT_QREGIONS,
	OPT_QBYTES,
	OPT_QREFS,
	OPT_QEVENTS,
	OPT_MAXQUEUE,
	OPT_RECOVERY,
	OPT_HELLO,
	OPT_ALLOW_UID,
	OPT_ALLOW_GID,
	OPT_ADMIN_UID,
	OPT_ADMIN_GID,
	OPT_DUMPABLE,
	OPT_IVSHMEM,
	OPT_MAXFDS,
	OPT_MAXHEAP,
	OPT_UIDSHARE,
};

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "socket-mode", required_argument, NULL, OPT_MODE },
	{ "socket-group", required_argument, NULL, OPT_GROUP },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "max-memory", required_argument, NULL, 'm' },
	{ "max-peers", required_argument, NULL, OPT_MAXPEERS },
	{ "quota-regions", required_argument, NULL, OPT_QREGIONS },
	{ "quota-bytes", required_argument, NULL, OPT_QBYTES },
	{ "quota-attachments", required_argument, NULL, OPT_QREFS },
	{ "quota-events", required_argument, NULL, OPT_QEVENTS },
	{ "max-queue", required_argument, NULL, OPT_MAXQUEUE },
	{ "max-fds", required_argument, NULL, OPT_MAXFDS },
	{ "max-heap", required_argument, NULL, OPT_MAXHEAP },
	{ "uid-share", required_argument, NULL, OPT_UIDSHARE },
	{ "recovery-window", required_argument, NULL, OPT_RECOVERY },
	{ "hello-timeout", required_argument, NULL, OPT_HELLO },
	{ "allow-uid", required_argument, NULL, OPT_ALLOW_UID },
	{ "allow-gid", required_argument, NULL, OPT_ALLOW_GID },
	{ "admin-uid", required_argument, NULL, OPT_ADMIN_UID },
	{ "admin-gid", required_argument, NULL, OPT_ADMIN_GID },
	{ "log-level", required_argument, NULL, 'l' },
	{ "dumpable", no_argument, NULL, OPT_DUMPABLE },
	{ "ivshmem", required_argument, NULL, OPT_IVSHMEM },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *opt, const char *arg)
{
	fprintf(stderr, "ismd: invalid value for %s: '%s'\n", opt, arg);
	return -1;
}

static int parse_u32(const char *opt, const char *arg, uint32_t min,
		     uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (ism_parse_u64(arg, max, &v) < 0 || v < min)
		return bad(opt, arg);
	*out = (uint32_t)v;
	return 0;
}

static int parse_id(const char *arg, bool group, uint32_t *out)
{
	uint64_t v;

	if (ism_parse_u64(arg, UINT32_MAX - 1, &v) == 0) {
		*out = (uint32_t)v;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(arg);

		if (!g)
			return -1;
		*out = (uint32_t)g->gr_gid;
	} else {
		struct passwd *pw = getpwnam(arg);

		if (!pw)
			return -1;
		*out = (uint32_t)pw->pw_uid;
	}
	return 0;
}

/* A comma-separated list of uids or gids (names or numbers). */
static int parse_ids(const char *opt, const char *arg, bool group,
		     uint32_t *arr, uint32_t *n)
{
	char buf[1024], *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf))
		return bad(opt, arg);
	memcpy(buf, arg, strlen(arg) + 1);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n >= ISMD_POLICY_MAX) {
			fprintf(stderr, "ismd: too many ids for %s (max %d)\n",
				opt, ISMD_POLICY_MAX);
			return -1;
		}
		if (parse_id(tok, group, &arr[*n]) < 0)
			return bad(opt, tok);
		(*n)++;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct ismd_config *c)
{
	uint64_t v;
	uint32_t u;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:m:l:hV", longopts, NULL)) !=
	       -1) {
		int r = 0;

		switch (opt) {
		case 's': c->socket_path = optarg; break;
		case OPT_MODE: {
			char *end;
			long m = strtol(optarg, &end, 8);

			if (*end || m < 0 || m > 0777)
				r = bad("--socket-mode", optarg);
			else
				c->socket_mode = (int)m;
			break;
		}
		case OPT_GROUP:
			if (parse_id(optarg, true, &u) < 0) {
				r = bad("--socket-group", optarg);
			} else {
				c->socket_gid = (gid_t)u;
				c->socket_gid_set = true;
			}
			break;
		case OPT_STATE: c->state_dir = optarg; break;
		case 'm':
			if (ism_parse_size(optarg, &v) < 0 || v == 0)
				r = bad("--max-memory", optarg);
			else
				c->max_memory = v;
			break;
		case OPT_MAXPEERS:
			r = parse_u32("--max-peers", optarg, 1, 1u << 20,
				      &c->max_peers);
			break;
		case OPT_QREGIONS:
			r = parse_u32("--quota-regions", optarg, 0, UINT32_MAX,
				      &c->q_regions);
			break;
		case OPT_QBYTES:
			if (ism_parse_size(optarg, &v) < 0)
				r = bad("--quota-bytes", optarg);
			else
				c->q_bytes = v;
			break;
		case OPT_QREFS:
			r = parse_u32("--quota-attachments", optarg, 0,
				      UINT32_MAX, &c->q_refs);
			break;
		case OPT_QEVENTS:
			r = parse_u32("--quota-events", optarg, 1, 1u << 24,
				      &c->q_events);
			break;
		case OPT_MAXQUEUE:
			if (ism_parse_size(optarg, &v) < 0 ||
			    v < 2 * ISM_WIRE_MAX_MSG || v > (1ull << 30))
				r = bad("--max-queue (at least 256K)", optarg);
			else
				c->max_queue_bytes = (size_t)v;
			break;
		case OPT_MAXFDS:
			if (ism_parse_u64(optarg, 1ull << 30, &v) < 0 || v < 16)
				r = bad("--max-fds (16 or more)", optarg);
			else
				c->max_fds = v;
			break;
		case OPT_MAXHEAP:
			if (ism_parse_size(optarg, &v) < 0 || v < (1u << 20))
				r = bad("--max-heap (at least 1M)", optarg);
			else
				c->max_heap = v;
			break;
		case OPT_UIDSHARE:
			r = parse_u32("--uid-share", optarg, 1, 100,
				      &c->uid_share);
			break;
		case OPT_RECOVERY:
			r = parse_u32("--recovery-window", optarg, 0,
				      24u * 3600 * 1000, &c->recovery_ms);
			break;
		case OPT_HELLO:
			r = parse_u32("--hello-timeout", optarg, 100,
				      3600 * 1000, &c->hello_timeout_ms);
			break;
		case OPT_ALLOW_UID:
			r = parse_ids("--allow-uid", optarg, false,
				      c->allow_uids, &c->n_allow_uids);
			break;
		case OPT_ALLOW_GID:
			r = parse_ids("--allow-gid", optarg, true,
				      c->allow_gids, &c->n_allow_gids);
			break;
		case OPT_ADMIN_UID:
			r = parse_ids("--admin-uid", optarg, false,
				      c->admin_uids, &c->n_admin_uids);
			break;
		case OPT_ADMIN_GID:
			r = parse_ids("--admin-gid", optarg, true,
				      c->admin_gids, &c->n_admin_gids);
			break;
		case 'l':
			if (!strcmp(optarg, "error"))
				c->log_level = L_ERR;
			else if (!strcmp(optarg, "warn"))
				c->log_level = L_WARN;
			else if (!strcmp(optarg, "info"))
				c->log_level = L_INFO;
			else if (!strcmp(optarg, "debug"))
				c->log_level = L_DEBUG;
			else
				r = bad("--log-level", optarg);
			break;
		case OPT_DUMPABLE: c->dumpable = true; break;
		case OPT_IVSHMEM: {
			char err[160];

			if (c->n_ivshmem >= IVSH_MAX_DOMAINS) {
				fprintf(stderr,
					"ismd: --ivshmem: at most %d "
					"domains\n",
					IVSH_MAX_DOMAINS);
				r = -1;
			} else if (ivsh_parse(optarg, &c->ivshmem[c->n_ivshmem],
					      err, sizeof(err)) < 0) {
				fprintf(stderr, "ismd: --ivshmem %s: %s\n",
					optarg, err);
				r = -1;
			} else {
				c->n_ivshmem++;
			}
			break;
		}
		case 'h': usage(stdout); exit(0);
		case 'V':
			printf("ismd %s (protocol %d)\n", ISM_VERSION_STRING,
			       ISM_PROTO_VERSION);
			exit(0);
		default: usage(stderr); return -1;
		}
		if (r < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "ismd: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (c->q_bytes == 0 || c->q_bytes > c->max_memory)
		c->q_bytes = c->max_memory;
	return 0;
}

int main(int argc, char **argv)
{
	struct ismd_config cfg;
	struct daemon d;
	int r;

	ismd_config_defaults(&cfg);
	if (parse_args(argc, argv, &cfg) < 0)
		return 2;
	ismd_log_init(cfg.log_level);
	r = daemon_init(&d, &cfg);
	if (r == 0)
		r = daemon_run(&d);
	else
		ismd_log(L_ERR, "cannot start: %s", strerror(-r));
	daemon_fini(&d);
	return r == 0 ? 0 : 1;
}
