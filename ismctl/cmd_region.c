/* SPDX-License-Identifier: MIT */
/*
 * ismctl alloc | attach | read | write | notify | destroy
 *
 * read, write and notify attach without an fd (through ismd), do their
 * one thing and detach: ismctl never maps a region it does not own.
 */
#include "ismctl.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define READ_MAX (64ull << 20)

static void print_event(const struct ism_event *ev)
{
	switch (ev->type) {
	case ISM_EV_NOTIFY:
		printf("notify from peer %llx: value %llu (x%llu)\n",
		       (unsigned long long)ev->peer,
		       (unsigned long long)ev->value,
		       (unsigned long long)ev->count);
		break;
	case ISM_EV_PEER_ATTACHED:
		printf("peer %llx attached (%s)\n",
		       (unsigned long long)ev->peer,
		       ctl_access_name(ev->access));
		break;
	case ISM_EV_PEER_DETACHED:
		printf("peer %llx detached (%s)\n",
		       (unsigned long long)ev->peer,
		       ev->reason == ISM_DETACH_DISCONNECTED ? "disconnected"
							     : "detached");
		break;
	case ISM_EV_REGION_GONE:
		printf("region %llx gone (reason %u)\n",
		       (unsigned long long)ev->region, ev->reason);
		break;
	default: printf("%s\n", ism_event_name(ev->type)); break;
	}
	fflush(stdout);
}

/*
 * Block SIGINT/SIGTERM before the region's description is printed: a
 * script that reads the description and at once sends SIGTERM must get a
 * clean exit, not death by the default action.
 */
static void hold_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigprocmask(SIG_BLOCK, set, NULL);
}

/*
 * Hold until SIGINT/SIGTERM, processing (and, in text mode, printing)
 * events.  Returns EXIT_OK, or EXIT_UNREACHABLE if ismd is lost for good,
 * or EXIT_FAILED if the region went away.
 */
static int hold(struct ctl *ctl, struct ism_region *r, const sigset_t *set)
{
	int sfd = signalfd(-1, set, SFD_CLOEXEC);

	if (sfd < 0)
		return ctl_fail("signalfd", -errno);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = ism_conn_fd(ctl->c), .events = POLLIN },
		};
		struct ism_event ev;
		int n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			close(sfd);
			return EXIT_OK;
		}
		n = ism_conn_process(ctl->c);
		while (ism_conn_next_event(ctl->c, &ev) == 1) {
			if (!ctl->json)
				print_event(&ev);
			if (ev.type == ISM_EV_DISCONNECTED) {
				close(sfd);
				fprintf(stderr, "ismctl: lost ismd\n");
				return EXIT_UNREACHABLE;
			}
			if (ev.type == ISM_EV_REGION_GONE &&
			    ev.region == ism_region_id(r)) {
				close(sfd);
				return EXIT_FAILED;
			}
		}
		if (n == -EPIPE) {
			close(sfd);
			return EXIT_UNREACHABLE;
		}
	}
	close(sfd);
	return EXIT_FAILED;
}

static int want_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: ismctl %s\n", usage);
			return 1;
		}
	return 0;
}

static const char alloc_usage[] =
	"alloc SIZE [--rw] [--peer ID]... [--uid UID]... [--name NAME]\n"
	"              [--huge [--huge-required]] [--populate] [--data TEXT]"
	" [--no-hold]\n"
	"  Allocate a region and print its id and token.  Attachers get\n"
	"  read-only access unless --rw; --peer/--uid restrict who may "
	"attach.\n"
	"  --data writes TEXT at offset 0.  ismctl then holds the region\n"
	"  (printing events) until interrupted, and destroys it on exit.";

int cmd_alloc(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", no_argument, NULL, 'w' },
		{ "peer", required_argument, NULL, 'p' },
		{ "uid", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "huge", no_argument, NULL, 'H' },
		{ "huge-required", no_argument, NULL, 'R' },
		{ "populate", no_argument, NULL, 'P' },
		{ "data", required_argument, NULL, 'd' },
		{ "no-hold", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t peers[ISM_ACL_MAX], v, size;
	uint32_t uids[ISM_ACL_MAX];
	struct ism_alloc_opts ao = { .size = sizeof(ao),
				     .max_access = ISM_ACCESS_RO };
	const char *data = NULL;
	struct ism_region *r;
	struct ism_region_info info;
	char tok[ISM_TOKEN_STRLEN + 1];
	bool nohold = false;
	sigset_t set;
	int opt, e;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'w': ao.max_access = ISM_ACCESS_RW; break;
		case 'p':
			if (ao.n_peers >= ISM_ACL_MAX ||
			    ctl_parse_id(optarg, &peers[ao.n_peers]) < 0)
				return ctl_usage("alloc: bad --peer '%s'",
						 optarg);
			ao.n_peers++;
			break;
		case 'u':
			if (ao.n_uids >= ISM_ACL_MAX ||
			    ism_parse_u64(optarg, UINT32_MAX, &v) < 0)
				return ctl_usage("alloc: bad --uid '%s'",
						 optarg);
			uids[ao.n_uids++] = (uint32_t)v;
			break;
		case 'n': ao.name = optarg; break;
		case 'H': ao.flags |= ISM_ALLOC_HUGETLB; break;
		case 'R':
			ao.flags |=
				ISM_ALLOC_HUGETLB | ISM_ALLOC_HUGETLB_REQUIRED;
			break;
		case 'P': ao.flags |= ISM_ALLOC_POPULATE; break;
		case 'd': data = optarg; break;
		case 'x': nohold = true; break;
		case 'h':
			printf("Usage: ismctl %s\n", alloc_usage);
			return EXIT_OK;
		default: return ctl_usage("alloc: unknown option");
		}
	}
	if (argc - optind != 1)
		return ctl_usage("usage: ismctl alloc SIZE [OPTIONS]");
	if (ism_parse_size(argv[optind], &size) < 0 || size == 0)
		return ctl_usage("alloc: bad size '%s'", argv[optind]);
	ao.peers = peers;
	ao.uids = uids;
	if ((e = ctl_connect(ctl, ISM_CONN_RECONNECT)) != EXIT_OK)
		return e;
	if ((e = ism_region_alloc(ctl->c, size, &ao, &r)) < 0)
		return ctl_fail("alloc", e);
	if (data) {
		void *p;

		if (strlen(data) > ism_region_size(r))
			return ctl_fail("alloc: --data", -EFBIG);
		if ((e = ism_region_map(r, &p)) < 0)
			return ctl_fail("alloc: map", e);
		memcpy(p, data, strlen(data));
	}
	if (!nohold)
		hold_block_signals(&set);
	ism_region_info(r, &info);
	ism_token_format(&info.token, tok);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "region", ctl_json_id(info.id));
		json_object_object_add(o, "token", json_object_new_string(tok));
		json_object_object_add(
			o, "size", json_object_new_int64((int64_t)info.size));
		json_object_object_add(o, "page_size",
				       json_object_new_int64(info.page_size));
		json_object_object_add(o, "huge",
				       json_object_new_boolean(info.huge));
		json_object_object_add(
			o, "huge_error",
			info.huge_errno ? json_object_new_string(
						  strerror(info.huge_errno))
					: NULL);
		json_object_object_add(o, "max_access",
				       json_object_new_string(ctl_access_name(
					       info.max_access)));
		json_object_object_add(o, "owner", ctl_json_id(info.owner));
		ctl_json(o);
	} else {
		printf("region %llx  size %llu  page %u  attachers get %s\n",
		       (unsigned long long)info.id,
		       (unsigned long long)info.size, info.page_size,
		       ctl_access_name(info.max_access));
		if (info.huge_errno)
			printf("huge pages not used: %s\n",
			       strerror(info.huge_errno));
		printf("token %s\n", tok);
		if (!nohold)
			printf("holding it; interrupt to destroy\n");
		fflush(stdout);
	}
	if (!nohold)
		e = hold(ctl, r, &set);
	else
		e = EXIT_OK;
	ism_region_close(r);
	return e;
}

static int get_token(const char *s, struct ism_token *t)
{
	if (!s || ism_token_parse(s, t) < 0)
		return ctl_usage("bad token '%s' (32 hex digits)", s ? s : "");
	return EXIT_OK;
}

int cmd_attach(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", no_argument, NULL, 'w' },
		{ "nofd", no_argument, NULL, 'n' },
		{ "hold", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t access = ISM_ACCESS_RO, flags = 0;
	struct ism_region_info info;
	struct ism_region *r;
	struct ism_token t;
	bool hold_it = false;
	sigset_t set;
	int opt, e;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'w': access = ISM_ACCESS_RW; break;
		case 'n': flags |= ISM_ATTACH_NOFD; break;
		case 'H': hold_it = true; break;
		case 'h':
			printf("Usage: ismctl attach TOKEN [--rw] [--nofd] "
			       "[--hold]\n  Attach, describe the region, and "
			       "detach (or hold until interrupted).\n");
			return EXIT_OK;
		default: return ctl_usage("attach: unknown option");
		}
	}
	if (argc - optind != 1)
		return ctl_usage("usage: ismctl attach TOKEN [OPTIONS]");
	if ((e = get_token(argv[optind], &t)) != EXIT_OK)
		return e;
	if ((e = ctl_connect(ctl, hold_it ? ISM_CONN_RECONNECT : 0)) != EXIT_OK)
		return e;
	if ((e = ism_region_attach(ctl->c, &t, access, flags, &r)) < 0)
		return ctl_fail_token("attach", e);
	if (hold_it)
		hold_block_signals(&set);
	ism_region_info(r, &info);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "region", ctl_json_id(info.id));
		json_object_object_add(o, "owner", ctl_json_id(info.owner));
		json_object_object_add(
			o, "size", json_object_new_int64((int64_t)info.size));
		json_object_object_add(o, "page_size",
				       json_object_new_int64(info.page_size));
		json_object_object_add(
			o, "access",
			json_object_new_string(ctl_access_name(info.access)));
		json_object_object_add(o, "nofd",
				       json_object_new_boolean(info.nofd));
		json_object_object_add(o, "huge",
				       json_object_new_boolean(info.huge));
		ctl_json(o);
	} else {
		printf("region %llx  owner %llx  size %llu  page %u  access "
		       "%s%s\n",
		       (unsigned long long)info.id,
		       (unsigned long long)info.owner,
		       (unsigned long long)info.size, info.page_size,
		       ctl_access_name(info.access),
		       info.nofd ? " (no fd)" : "");
		fflush(stdout);
	}
	e = hold_it ? hold(ctl, r, &set) : EXIT_OK;
	ism_region_close(r);
	return e;
}

/* Attach without an fd for one read, write or notify. */
static int attach_nofd(struct ctl *ctl, const char *tok, uint32_t access,
		       struct ism_region **r, const char *what)
{
	struct ism_token t;
	int e;

	if ((e = get_token(tok, &t)) != EXIT_OK)
		return e;
	if ((e = ctl_connect(ctl, 0)) != EXIT_OK)
		return e;
	if ((e = ism_region_attach(ctl->c, &t, access, ISM_ATTACH_NOFD, r)) < 0)
		return ctl_fail_token(what, e);
	return EXIT_OK;
}

int cmd_read(struct ctl *ctl, int argc, char **argv)
{
	uint64_t off = 0, len, size;
	struct ism_region *r;
	uint8_t *buf;
	ssize_t n;
	int e;

	if (want_help(argc, argv,
		      "read TOKEN [OFFSET [LEN]]\n  Read through ismd (no fd) "
		      "and write the bytes to stdout (hex in --json)."))
		return EXIT_OK;
	if (argc < 2 || argc > 4)
		return ctl_usage("usage: ismctl read TOKEN [OFFSET [LEN]]");
	if (argc > 2 && ism_parse_size(argv[2], &off) < 0)
		return ctl_usage("read: bad offset '%s'", argv[2]);
	if (argc > 3 && (ism_parse_size(argv[3], &len) < 0 || len == 0))
		return ctl_usage("read: bad length '%s'", argv[3]);
	if ((e = attach_nofd(ctl, argv[1], ISM_ACCESS_RO, &r, "read")) !=
	    EXIT_OK)
		return e;
	size = ism_region_size(r);
	if (off > size)
		return ctl_fail("read", -EINVAL);
	if (argc <= 3)
		len = size - off;
	if (len > READ_MAX)
		return ctl_fail("read: more than 64 MiB", -EFBIG);
	buf = malloc(len ? len : 1);
	if (!buf)
		return ctl_fail("read", -ENOMEM);
	n = len ? ism_region_read(r, off, buf, len) : 0;
	if (n < 0) {
		free(buf);
		return ctl_fail("read", (int)n);
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();
		char *hex = malloc(2 * (size_t)n + 1);

		if (!hex) {
			free(buf);
			return ctl_fail("read", -ENOMEM);
		}
		ism_hex_encode(buf, (size_t)n, hex);
		json_object_object_add(o, "region",
				       ctl_json_id(ism_region_id(r)));
		json_object_object_add(o, "offset",
				       json_object_new_int64((int64_t)off));
		json_object_object_add(o, "length", json_object_new_int64(n));
		json_object_object_add(o, "data_hex",
				       json_object_new_string(hex));
		free(hex);
		ctl_json(o);
	} else if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
		free(buf);
		return ctl_fail("read: stdout", -EIO);
	}
	free(buf);
	ism_region_close(r);
	return EXIT_OK;
}

static uint8_t *slurp_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *b = malloc(cap);

	while (b) {
		size_t k = fread(b + n, 1, cap - n, stdin);

		n += k;
		if (k == 0)
			break;
		if (n == cap) {
			uint8_t *nb =
				cap >= READ_MAX ? NULL : realloc(b, cap * 2);

			if (!nb) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
	}
	*len = n;
	return b;
}

int cmd_write(struct ctl *ctl, int argc, char **argv)
{
	struct ism_region *r;
	uint64_t off;
	uint8_t *buf = NULL;
	size_t len;
	ssize_t n;
	int e;

	if (want_help(argc, argv,
		      "write TOKEN OFFSET DATA\n  Write DATA (or stdin if DATA "
		      "is -) through ismd; needs a read-write grant."))
		return EXIT_OK;
	if (argc != 4)
		return ctl_usage("usage: ismctl write TOKEN OFFSET DATA");
	if (ism_parse_size(argv[2], &off) < 0)
		return ctl_usage("write: bad offset '%s'", argv[2]);
	if (!strcmp(argv[3], "-")) {
		buf = slurp_stdin(&len);
		if (!buf)
			return ctl_fail("write: stdin", -ENOMEM);
	} else {
		len = strlen(argv[3]);
	}
	if ((e = attach_nofd(ctl, argv[1], ISM_ACCESS_RW, &r, "write")) !=
	    EXIT_OK) {
		free(buf);
		return e;
	}
	n = len ? ism_region_write(r, off, buf ? buf : (uint8_t *)argv[3], len)
		: 0;
	free(buf);
	if (n < 0)
		return ctl_fail("write", (int)n);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "region",
				       ctl_json_id(ism_region_id(r)));
		json_object_object_add(o, "offset",
				       json_object_new_int64((int64_t)off));
		json_object_object_add(o, "written", json_object_new_int64(n));
		ctl_json(o);
	} else {
		printf("wrote %zd bytes at offset %llu of region %llx\n", n,
		       (unsigned long long)off,
		       (unsigned long long)ism_region_id(r));
	}
	ism_region_close(r);
	return EXIT_OK;
}

int cmd_notify(struct ctl *ctl, int argc, char **argv)
{
	struct ism_region *r;
	uint64_t value = 1;
	int e, n;

	if (want_help(argc, argv,
		      "notify TOKEN [VALUE]\n  Notify every peer referencing "
		      "the region (VALUE defaults to 1)."))
		return EXIT_OK;
	if (argc < 2 || argc > 3)
		return ctl_usage("usage: ismctl notify TOKEN [VALUE]");
	if (argc == 3 && ism_parse_u64(argv[2], UINT64_MAX, &value) < 0)
		return ctl_usage("notify: bad value '%s'", argv[2]);
	if ((e = attach_nofd(ctl, argv[1], ISM_ACCESS_RO, &r, "notify")) !=
	    EXIT_OK)
		return e;
	n = ism_region_notify(r, value);
	if (n < 0)
		return ctl_fail("notify", n);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "region",
				       ctl_json_id(ism_region_id(r)));
		json_object_object_add(o, "value",
				       json_object_new_uint64(value));
		json_object_object_add(o, "notified", json_object_new_int64(n));
		ctl_json(o);
	} else {
		printf("notified %d peer%s\n", n, n == 1 ? "" : "s");
	}
	ism_region_close(r);
	return EXIT_OK;
}

int cmd_destroy(struct ctl *ctl, int argc, char **argv)
{
	uint64_t id;
	int e, n;

	if (want_help(argc, argv,
		      "destroy REGION\n  Destroy a region by id (see ismctl "
		      "regions): its owner or an administrator only.\n  Every "
		      "referrer is told and the memory is freed at once."))
		return EXIT_OK;
	if (argc != 2)
		return ctl_usage("usage: ismctl destroy REGION");
	if (ctl_parse_id(argv[1], &id) < 0 || id == 0)
		return ctl_usage("destroy: bad region id '%s'", argv[1]);
	if ((e = ctl_connect(ctl, 0)) != EXIT_OK)
		return e;
	n = ism_admin_destroy(ctl->c, id);
	if (n < 0)
		return ctl_fail("destroy", n);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "region", ctl_json_id(id));
		json_object_object_add(o, "told", json_object_new_int64(n));
		ctl_json(o);
	} else {
		printf("destroyed region %llx; %d referrer%s told\n",
		       (unsigned long long)id, n, n == 1 ? "" : "s");
	}
	return EXIT_OK;
}
