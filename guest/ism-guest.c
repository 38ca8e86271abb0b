/* SPDX-License-Identifier: MIT */
/*
 * ism-guest - ism channels from inside a Linux guest (a static binary:
 * libism-guest, no ismd, no sockets).  See ism-guest --help and
 * docs/vm.md.  Every subcommand prints one result line a test (or a
 * person) can read; errors are one line on stderr and a non-zero exit.
 */
#include <ism-guest.h>
#include <ism/ivchan.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "ivchan/ivchan.h"
#include "util/util.h"

#include <ism/conn.h>
#include <stdbool.h>

static const char usage[] =
	"usage: ism-guest [--irq auto|vfio|poll] [--device BDF] "
	"[--timeout MS] COMMAND\n"
	"  info                       the device, our id, the channel slots\n"
	"  echo PORT [N]              accept N channels on PORT (1), echo "
	"each\n"
	"  send PEER PORT COUNT SIZE  offer a channel, send COUNT messages "
	"of\n"
	"                             SIZE bytes, check each echo\n"
	"  flood PEER PORT [N]        offer a channel, send N numbered "
	"messages\n"
	"                             (0: until killed)\n"
	"  drain PORT                 accept, read numbered messages to the "
	"end\n"
	"  garbage PEER PORT          offer a channel, then scribble over "
	"our\n"
	"                             own ring (a hostile guest)\n"
	"  cat PEER PORT | cat -l PORT  stdin to the channel, the channel "
	"to\n"
	"                             stdout (a byte pipe)\n"
	"  bench PEER PORT | bench-tcp IPV4 PORT  round trips, 64-byte "
	"messages\n"
	"                             and 64 KiB throughput against "
	"ism-bench-vm-host\n"
	"As an ism peer of ismd (a domain with control=on; --ismd ID, 0):\n"
	"  alloc SIZE [ro|rw] [NAME]  a region; prints its id and token\n"
	"  attach TOKEN [ro|rw]       attach (no fd) a region by token\n"
	"  read OFF LEN | write OFF TEXT  through ismd, the last region\n"
	"  notify VALUE | destroy | detach\n"
	"  watch [SECS]               print events until the region is gone\n"
	"  hold SECS                  print events for SECS seconds\n"
	"  Chain them with + on one peer (alloc 4096 rw + write 0 hi + hold "
	"60);\n"
	"  !CMD expects ismd to refuse CMD.\n";

static struct ism_guest *g;
static struct ism_ivdom *dom;
static int timeout_ms = 60000;

static void die(const char *what, int err)
{
	fprintf(stderr, "ism-guest: %s: %s\n", what, strerror(-err));
	exit(1);
}

static uint32_t num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end || v > UINT32_MAX) {
		fprintf(stderr, "ism-guest: bad number '%s'\n", s);
		exit(2);
	}
	return (uint32_t)v;
}

static const char *mode_name(void)
{
	return ism_guest_irq_mode(g) == ISM_GUEST_IRQ_VFIO ? "vfio" : "poll";
}

static struct ism_ivchan_opts copts(void)
{
	return (struct ism_ivchan_opts){ .size = sizeof(struct ism_ivchan_opts),
					 .timeout_ms = timeout_ms };
}

static int cmd_info(void)
{
	uint64_t size;
	uint32_t slots;

	ism_guest_mem(g, &size);
	printf("ism-guest: device %s id %u size %" PRIu64
	       " vectors %u irq %s\n",
	       ism_guest_device(g), ism_guest_id(g), size, ism_guest_vectors(g),
	       mode_name());
	if (!dom) {
		printf("ism-guest: no channel layout\n");
		return 0;
	}
	slots = ism_ivdom_slots(dom);
	printf("ism-guest: channels: %u slots, present:", slots);
	for (uint32_t i = 0; i < slots; i++)
		if (ism_ivdom_presence(dom, i))
			printf(" %u", i);
	printf("\n");
	return 0;
}

static void pattern(uint8_t *p, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 131u + i * 7u + 1u);
}

static int cmd_echo(uint32_t port, uint32_t n)
{
	struct ism_ivchan_opts o = copts();
	static uint8_t buf[1 << 20];

	for (uint32_t k = 0; k < n; k++) {
		struct ism_ivchan *ch;
		uint64_t msgs = 0, bytes = 0;
		ssize_t r;
		int e;

		if ((e = ism_ivchan_accept(dom, port, &o, &ch)) < 0)
			die("accept", e);
		printf("echo: accepted from %u\n", ism_ivchan_peer(ch));
		fflush(stdout);
		while ((r = ism_ivchan_recv(ch, buf, sizeof(buf), 0)) >= 0) {
			if ((e = ism_ivchan_send(ch, buf, (size_t)r, 0)) < 0)
				break;
			msgs++;
			bytes += (uint64_t)r;
		}
		printf("echo: %" PRIu64 " messages %" PRIu64
		       " bytes end %s irqs %" PRIu64 " irq %s\n",
		       msgs, bytes, strerror((int)-(r < 0 ? r : e)),
		       ism_guest_irqs(g), mode_name());
		fflush(stdout);
		ism_ivchan_close(ch);
	}
	return 0;
}

static int cmd_send(uint32_t peer, uint32_t port, uint32_t count, uint32_t size)
{
	struct ism_ivchan_opts o = copts();
	struct ism_ivchan *ch;
	uint8_t *out, *in;
	int e;

	if ((e = ism_ivchan_connect(dom, peer, port, &o, &ch)) < 0)
		die("connect", e);
	if (size > ism_ivchan_max_msg(ch))
		die("send", -EMSGSIZE);
	out = malloc(size + 1);
	in = malloc(size + 1);
	if (!out || !in)
		die("send", -ENOMEM);
	for (uint32_t i = 0; i < count; i++) {
		ssize_t r;

		pattern(out, size, i);
		if ((e = ism_ivchan_send(ch, out, size, 0)) < 0)
			die("send", e);
		if ((r = ism_ivchan_recv(ch, in, size + 1, 0)) < 0)
			die("recv", (int)r);
		if ((size_t)r != size || memcmp(in, out, size)) {
			fprintf(stderr, "ism-guest: echo %u differs\n", i);
			return 1;
		}
	}
	ism_ivchan_close(ch);
	printf("send: ok %u messages of %u bytes irqs %" PRIu64 " irq %s\n",
	       count, size, ism_guest_irqs(g), mode_name());
	free(out);
	free(in);
	return 0;
}

/* Numbered messages until killed; prints what is committed now and
 * then (a message is committed once send returned). */
static int cmd_flood(uint32_t peer, uint32_t port, uint32_t count)
{
	struct ism_ivchan_opts o = copts();
	struct ism_ivchan *ch;
	uint8_t buf[256];
	int e;

	if ((e = ism_ivchan_connect(dom, peer, port, &o, &ch)) < 0)
		die("connect", e);
	for (uint32_t i = 0; !count || i < count; i++) {
		memcpy(buf, &i, 4);
		pattern(buf + 4, sizeof(buf) - 4, i);
		if ((e = ism_ivchan_send(ch, buf, sizeof(buf), 0)) < 0)
			die("send", e);
		if (i % 1000 == 999) {
			printf("flood: committed %u\n", i + 1);
			fflush(stdout);
		}
	}
	ism_ivchan_close(ch);
	printf("flood: sent %u\n", count);
	return 0;
}

static int cmd_drain(uint32_t port)
{
	struct ism_ivchan_opts o = copts();
	struct ism_ivchan *ch;
	uint8_t buf[4096], want[4096];
	uint32_t n = 0;
	ssize_t r;
	int e;

	if ((e = ism_ivchan_accept(dom, port, &o, &ch)) < 0)
		die("accept", e);
	while ((r = ism_ivchan_recv(ch, buf, sizeof(buf), 0)) >= 0) {
		uint32_t seq;

		memcpy(&seq, buf, 4);
		pattern(want, (size_t)r - 4, seq);
		if (r < 4 || seq != n || memcmp(buf + 4, want, (size_t)r - 4)) {
			printf("drain: message %u is wrong\n", n);
			return 1;
		}
		n++;
	}
	printf("drain: %u messages end %s\n", n, strerror((int)-r));
	ism_ivchan_close(ch);
	return 0;
}

/* A hostile guest: a valid channel, then garbage in our own producer
 * area (the entry of our offer says where it is). */
static int cmd_garbage(uint32_t peer, uint32_t port)
{
	struct ism_ivchan_opts o = copts();
	struct ism_ivchan *ch;
	uint64_t size;
	uint8_t *mem = ism_guest_mem(g, &size);
	const struct ivc_hdr *h = (const void *)mem;
	struct ivc_slot *mine;
	int e;

	if ((e = ism_ivchan_connect(dom, peer, port, &o, &ch)) < 0)
		die("connect", e);
	if ((e = ism_ivchan_send(ch, "honest", 7, 0)) < 0)
		die("send", e);
	mine = (struct ivc_slot *)(mem + h->slot0 +
				   (uint64_t)ism_guest_id(g) * h->slot_size);
	for (uint32_t i = 0; i < IVC_ENTRIES; i++) {
		struct ivc_entry *en = &mine->ent[i];

		if (en->state != IVC_OFFER || en->port != port ||
		    en->prod_off >= size)
			continue;
		uint8_t *prod = mem + en->prod_off;

		/* Producer index far ahead, records of junk. */
		memset(prod + 64, 0x7f, 8);
		for (uint32_t k = 192;
		     k < 192 + 4096 && en->prod_off + k < size; k++)
			prod[k] = (uint8_t)(k * 13);
	}
	ism_guest_ring(g, peer, 1);
	printf("garbage: written\n");
	fflush(stdout);
	/* The channel is broken on the other side; we stay up. */
	sleep(2);
	ism_ivchan_close(ch);
	return 0;
}

/* A byte pipe: stdin to the channel, the channel to stdout. */
static int cmd_cat(int listen, uint32_t peer, uint32_t port)
{
	struct ism_ivchan_opts o = copts();
	struct ism_ivchan *ch;
	int e;

	if (listen)
		e = ism_ivchan_accept(dom, port, &o, &ch);
	else
		e = ism_ivchan_connect(dom, peer, port, &o, &ch);
	if (e < 0)
		die(listen ? "accept" : "connect", e);
	if ((e = ism_ivchan_pump(ch, 0, 1)) < 0)
		die("cat", e);
	ism_ivchan_close(ch);
	return 0;
}

/* ---- the guest as an ism peer (control=on): alloc, attach, read,
 * write, notify, watch, chained with "+" on one peer; "!CMD" expects ismd
 * to refuse CMD. */

static uint32_t ismd_id;

struct pctx {
	struct ism_guest_ctl *c;
	uint64_t region; /* the last one allocated or attached */
};

static int parse_access(const char *s)
{
	if (!strcmp(s, "ro"))
		return ISM_ACCESS_RO;
	if (!strcmp(s, "rw"))
		return ISM_ACCESS_RW;
	fprintf(stderr, "ism-guest: access is ro or rw, not '%s'\n", s);
	exit(2);
}

static void print_bytes(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
}

static const char *event_name(uint32_t type)
{
	switch (type) {
	case ISM_EV_NOTIFY: return "notify";
	case ISM_EV_REGION_GONE: return "region-gone";
	case ISM_EV_PEER_ATTACHED: return "peer-attached";
	case ISM_EV_PEER_DETACHED: return "peer-detached";
	case ISM_EV_OVERFLOW: return "overflow";
	default: return "other";
	}
}

/* Events for @secs seconds; with @until_gone, stop at our region's end
 * (0) and call the timeout a failure. */
static int watch(struct pctx *x, uint32_t secs, bool until_gone)
{
	uint64_t irqs = ism_guest_irqs(g);
	time_t end = time(NULL) + (time_t)secs;

	printf("ism-guest: watching\n");
	fflush(stdout);
	for (;;) {
		struct ism_event ev;
		time_t now = time(NULL);
		int r;

		if (now >= end)
			break;
		r = ism_guest_ctl_event(x->c, (int)(end - now) * 1000, &ev);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		printf("ism-guest: event %s region %#" PRIx64 " peer %#" PRIx64
		       " value %" PRIu64 " reason %u (interrupts %" PRIu64
		       ")\n",
		       event_name(ev.type), ev.region, ev.peer, ev.value,
		       ev.reason, ism_guest_irqs(g) - irqs);
		fflush(stdout);
		if (until_gone && ev.type == ISM_EV_REGION_GONE &&
		    ev.region == x->region)
			return 0;
	}
	return until_gone ? -ETIMEDOUT : 0;
}

/* Run one command (@argv[0..argc)): 0 or -errno; exits on bad usage. */
static int peer_cmd(struct pctx *x, int argc, char **argv)
{
	const char *cmd = argv[0];
	int r;

	if (!strcmp(cmd, "alloc") && argc >= 2 && argc <= 4) {
		uint8_t tok[ISM_TOKEN_SIZE];
		char hex[2 * ISM_TOKEN_SIZE + 1];

		r = ism_guest_ctl_alloc(
			x->c, num(argv[1]),
			argc >= 3 ? (uint32_t)parse_access(argv[2])
				  : ISM_ACCESS_RO,
			argc == 4 ? argv[3] : "ism-guest", &x->region, tok);
		if (r < 0)
			return r;
		ism_hex_encode(tok, sizeof(tok), hex);
		printf("ism-guest: alloc region %#" PRIx64 " token %s\n",
		       x->region, hex);
		return 0;
	}
	if (!strcmp(cmd, "attach") && (argc == 2 || argc == 3)) {
		uint8_t tok[ISM_TOKEN_SIZE];
		uint64_t region, size;

		if (ism_hex_decode(argv[1], tok, sizeof(tok)) < 0) {
			fprintf(stderr, "ism-guest: bad token '%s'\n", argv[1]);
			exit(2);
		}
		r = ism_guest_ctl_attach(
			x->c, tok,
			argc == 3 ? (uint32_t)parse_access(argv[2])
				  : ISM_ACCESS_RO,
			&region, &size);
		if (r < 0)
			return r;
		x->region = region;
		printf("ism-guest: attach region %#" PRIx64 " size %" PRIu64
		       "\n",
		       region, size);
		return 0;
	}
	if (!strcmp(cmd, "read") && argc == 3) {
		uint32_t len = num(argv[2]);
		uint8_t *buf = malloc(len ? len : 1);
		ssize_t n;

		if (!buf)
			return -ENOMEM;
		n = ism_guest_ctl_read(x->c, x->region, num(argv[1]), buf, len);
		if (n >= 0) {
			printf("ism-guest: read %zd bytes: ", n);
			print_bytes(buf, (size_t)n);
			printf("\n");
		}
		free(buf);
		return n < 0 ? (int)n : 0;
	}
	if (!strcmp(cmd, "write") && argc == 3) {
		size_t len = strlen(argv[2]);

		r = ism_guest_ctl_write(x->c, x->region, num(argv[1]), argv[2],
					(uint32_t)len);
		if (r == 0)
			printf("ism-guest: write %zu bytes\n", len);
		return r;
	}
	if (!strcmp(cmd, "notify") && argc == 2) {
		r = ism_guest_ctl_notify(x->c, x->region, num(argv[1]));
		if (r >= 0)
			printf("ism-guest: notify: %d told\n", r);
		return r < 0 ? r : 0;
	}
	if (!strcmp(cmd, "destroy") && argc == 1)
		return ism_guest_ctl_destroy(x->c, x->region);
	if (!strcmp(cmd, "detach") && argc == 1)
		return ism_guest_ctl_detach(x->c, x->region);
	if (!strcmp(cmd, "watch") && argc <= 2)
		return watch(x, argc == 2 ? num(argv[1]) : 60, true);
	if (!strcmp(cmd, "hold") && argc == 2)
		return watch(x, num(argv[1]), false);
	fprintf(stderr, "ism-guest: bad peer command '%s' (%d words)\n", cmd,
		argc);
	exit(2);
}

static bool is_peer_cmd(const char *cmd)
{
	static const char *const names[] = { "alloc", "attach",	 "read",
					     "write", "notify",	 "watch",
					     "hold",  "destroy", "detach" };

	if (*cmd == '!')
		cmd++;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(cmd, names[i]))
			return true;
	return false;
}

static int cmd_peer(int argc, char **argv)
{
	struct pctx x = { 0 };
	int e, i = 0;

	e = ism_guest_ctl_open(dom, ismd_id, "ism-guest", timeout_ms, &x.c);
	if (e < 0)
		die("connect to ismd's member (is the domain served with "
		    "control=on?)",
		    e);
	printf("ism-guest: ism peer %#" PRIx64 " (ismd member %u)\n",
	       ism_guest_ctl_peer_id(x.c), ismd_id);
	while (i < argc) {
		int j = i, r;
		bool refuse = argv[i][0] == '!';

		while (j < argc && strcmp(argv[j], "+") != 0)
			j++;
		if (refuse)
			argv[i]++;
		if (j == i || !is_peer_cmd(argv[i])) {
			fputs(usage, stderr);
			return 2;
		}
		r = peer_cmd(&x, j - i, argv + i);
		if (refuse && r == 0) {
			fprintf(stderr,
				"ism-guest: %s: done, but a refusal was "
				"expected\n",
				argv[i]);
			return 1;
		}
		if (refuse) {
			printf("ism-guest: %s: %s (refused, as expected)\n",
			       argv[i], strerror(-r));
		} else if (r < 0) {
			fprintf(stderr, "ism-guest: %s: %s\n", argv[i],
				strerror(-r));
			printf("ism-guest: %s failed: %s\n", argv[i],
			       strerror(-r));
			return 1;
		}
		fflush(stdout);
		i = j + 1;
	}
	ism_guest_ctl_close(x.c);
	return 0;
}

/* ---- bench: the client side of bench/vm_host.c, over a channel or TCP.
 * A run is a 12-byte header {mode, size, count} (little-endian): mode 1
 * echoes count messages of size, mode 2 sinks them and answers one
 * byte, mode 0 ends. */

struct xport {
	struct ism_ivchan *ch;
	int fd;
};

static void x_send(struct xport *x, const void *p, size_t n)
{
	int e;

	if (x->ch) {
		if ((e = ism_ivchan_send(x->ch, p, n, 0)) < 0)
			die("bench send", e);
		return;
	}
	for (const uint8_t *q = p; n;) {
		ssize_t w = write(x->fd, q, n);

		if (w <= 0)
			die("bench write", -errno);
		q += w;
		n -= (size_t)w;
	}
}

static void x_recv(struct xport *x, void *p, size_t n)
{
	if (x->ch) {
		ssize_t r = ism_ivchan_recv(x->ch, p, n, 0);

		if (r != (ssize_t)n)
			die("bench recv", r < 0 ? (int)r : -EPROTO);
		return;
	}
	for (uint8_t *q = p; n;) {
		ssize_t r = read(x->fd, q, n);

		if (r <= 0)
			die("bench read", r < 0 ? -errno : -EPIPE);
		q += r;
		n -= (size_t)r;
	}
}

static void x_hdr(struct xport *x, uint32_t mode, uint32_t size, uint32_t count)
{
	uint32_t h[3] = { mode, size, count };

	x_send(x, h, sizeof(h));
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int run_bench(const char *name, struct xport *x)
{
	enum { RTT = 2000, MSG = 20000, BIG = 400, BIGSZ = 65536 };
	static uint64_t t[RTT];
	static uint8_t buf[BIGSZ];
	uint64_t t0;
	double msg_s, mbps;

	memset(buf, 0x5a, sizeof(buf));
	x_hdr(x, 1, 64, RTT);
	for (int i = 0; i < RTT; i++) {
		t0 = mono_ns();
		x_send(x, buf, 64);
		x_recv(x, buf, 64);
		t[i] = mono_ns() - t0;
	}
	qsort(t, RTT, sizeof(t[0]), cmp_u64);
	x_hdr(x, 2, 64, MSG);
	t0 = mono_ns();
	for (int i = 0; i < MSG; i++)
		x_send(x, buf, 64);
	x_recv(x, buf, 1);
	msg_s = MSG / ((double)(mono_ns() - t0) / 1e9);
	x_hdr(x, 2, BIGSZ, BIG);
	t0 = mono_ns();
	for (int i = 0; i < BIG; i++)
		x_send(x, buf, BIGSZ);
	x_recv(x, buf, 1);
	mbps = (double)BIG * BIGSZ / ((double)(mono_ns() - t0) / 1e9) / 1e6;
	x_hdr(x, 0, 0, 0);
	printf("bench %s rtt_us_median %.1f msg64_per_s %.0f "
	       "bulk64k_mb_per_s %.1f\n",
	       name, (double)t[RTT / 2] / 1e3, msg_s, mbps);
	fflush(stdout);
	return 0;
}

static int cmd_bench(uint32_t peer, uint32_t port)
{
	struct ism_ivchan_opts o = copts();
	struct xport x = { .fd = -1 };
	int e;

	o.data_size = 1u << 20;
	if ((e = ism_ivchan_connect(dom, peer, port, &o, &x.ch)) < 0)
		die("connect", e);
	if (ism_ivchan_max_msg(x.ch) < 65536)
		die("bench: ring too small (use a larger domain)", -EMSGSIZE);
	run_bench("ivchan", &x);
	ism_ivchan_close(x.ch);
	return 0;
}

static int cmd_bench_tcp(const char *ip, uint32_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	struct xport x = { 0 };
	int one = 1;

	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		die("bench-tcp: address", -EINVAL);
	if ((x.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(x.fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bench-tcp: connect", -errno);
	setsockopt(x.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	run_bench("tcp", &x);
	close(x.fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "irq", required_argument, NULL, 'i' },
		{ "device", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "ismd", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ism_guest_opts go = { .size = sizeof(go) };
	const char *cmd;
	int c, e;

	while ((c = getopt_long(argc, argv, "+i:d:t:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!strcmp(optarg, "vfio"))
				go.irq = ISM_GUEST_IRQ_VFIO;
			else if (!strcmp(optarg, "poll"))
				go.irq = ISM_GUEST_IRQ_POLL;
			else if (strcmp(optarg, "auto") != 0) {
				fputs(usage, stderr);
				return 2;
			}
			break;
		case 'd': go.device = optarg; break;
		case 't': timeout_ms = (int)num(optarg); break;
		case 'm': ismd_id = num(optarg); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	if ((e = ism_guest_open(&go, &g)) < 0)
		die("open the ivshmem device", e);
	e = ism_guest_ivdom(g, &dom);
	if (!strcmp(cmd, "info"))
		return cmd_info();
	if (!strcmp(cmd, "bench-tcp") && argc == 2)
		return cmd_bench_tcp(argv[0], num(argv[1]));
	if (e < 0)
		die("channels (is the domain served with channels=on?)", e);
	if (is_peer_cmd(cmd))
		return cmd_peer(argc + 1, argv - 1);
	if (!strcmp(cmd, "echo") && (argc == 1 || argc == 2))
		return cmd_echo(num(argv[0]), argc == 2 ? num(argv[1]) : 1);
	if (!strcmp(cmd, "send") && argc == 4)
		return cmd_send(num(argv[0]), num(argv[1]), num(argv[2]),
				num(argv[3]));
	if (!strcmp(cmd, "flood") && (argc == 2 || argc == 3))
		return cmd_flood(num(argv[0]), num(argv[1]),
				 argc == 3 ? num(argv[2]) : 0);
	if (!strcmp(cmd, "drain") && argc == 1)
		return cmd_drain(num(argv[0]));
	if (!strcmp(cmd, "garbage") && argc == 2)
		return cmd_garbage(num(argv[0]), num(argv[1]));
	if (!strcmp(cmd, "bench") && argc == 2)
		return cmd_bench(num(argv[0]), num(argv[1]));
	if (!strcmp(cmd, "cat") && argc == 2 && !strcmp(argv[0], "-l"))
		return cmd_cat(1, 0, num(argv[1]));
	if (!strcmp(cmd, "cat") && argc == 2)
		return cmd_cat(0, num(argv[0]), num(argv[1]));
	fputs(usage, stderr);
	return 2;
}
