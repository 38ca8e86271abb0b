/* SPDX-License-Identifier: MIT */
/*
 * ismctl watch: lifecycle events as lines of text, or JSON Lines.
 */
#include "ismctl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static const char *kind_name(uint32_t k)
{
	switch (k) {
	case ISM_WATCH_PEER_UP: return "peer-up";
	case ISM_WATCH_PEER_DOWN: return "peer-down";
	case ISM_WATCH_REGION_NEW: return "region-new";
	case ISM_WATCH_REGION_GONE: return "region-gone";
	case ISM_WATCH_ATTACH: return "attach";
	case ISM_WATCH_DETACH: return "detach";
	default: return "unknown";
	}
}

static void emit(struct ctl *ctl, const struct ism_event *ev)
{
	const char *what = ev->type == ISM_EV_WATCH ? kind_name(ev->watch.kind)
						    : ism_event_name(ev->type);

	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "event",
				       json_object_new_string(what));
		if (ev->peer)
			json_object_object_add(o, "peer",
					       ctl_json_id(ev->peer));
		if (ev->region)
			json_object_object_add(o, "region",
					       ctl_json_id(ev->region));
		if (ev->type == ISM_EV_WATCH) {
			json_object_object_add(
				o, "reason", json_object_new_int64(ev->reason));
			json_object_object_add(
				o, "uid", json_object_new_int64(ev->watch.uid));
			json_object_object_add(
				o, "pid", json_object_new_int64(ev->watch.pid));
			if (ev->watch.size)
				json_object_object_add(
					o, "size",
					json_object_new_int64(
						(int64_t)ev->watch.size));
			json_object_object_add(
				o, "name",
				json_object_new_string(ev->watch.name));
		} else if (ev->type == ISM_EV_OVERFLOW) {
			json_object_object_add(
				o, "lost",
				json_object_new_int64((int64_t)ev->count));
		}
		ctl_json(o);
		return;
	}
	printf("%-12s", what);
	if (ev->peer)
		printf(" peer %llx", (unsigned long long)ev->peer);
	if (ev->region)
		printf(" region %llx", (unsigned long long)ev->region);
	if (ev->type == ISM_EV_WATCH) {
		if (ev->watch.kind == ISM_WATCH_PEER_UP)
			printf(" pid %u uid %u", ev->watch.pid, ev->watch.uid);
		if (ev->watch.size)
			printf(" size %llu",
			       (unsigned long long)ev->watch.size);
		if (ev->watch.name[0])
			printf(" \"%s\"", ev->watch.name);
	} else if (ev->type == ISM_EV_OVERFLOW) {
		printf(" %llu events lost", (unsigned long long)ev->count);
	}
	printf("\n");
	fflush(stdout);
}

int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	sigset_t set;
	int sfd, e;

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			printf("Usage: ismctl watch\n  Print peers and regions "
			       "coming and going until interrupted.\n");
			return EXIT_OK;
		}
		return ctl_usage("usage: ismctl watch");
	}
	if ((e = ctl_connect(ctl, ISM_CONN_RECONNECT)) != EXIT_OK)
		return e;
	if ((e = ism_admin_watch(ctl->c)) < 0)
		return ctl_fail("watch", e);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return ctl_fail("signalfd", -errno);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = ism_conn_fd(ctl->c), .events = POLLIN },
		};
		struct ism_event ev;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		ism_conn_process(ctl->c);
		while (ism_conn_next_event(ctl->c, &ev) == 1) {
			emit(ctl, &ev);
			/* A new ismd forgot us. */
			if (ev.type == ISM_EV_RECONNECTED)
				ism_admin_watch(ctl->c);
			if (ev.type == ISM_EV_DISCONNECTED) {
				close(sfd);
				return EXIT_UNREACHABLE;
			}
		}
	}
	close(sfd);
	return EXIT_OK;
}
