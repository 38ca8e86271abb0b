/* SPDX-License-Identifier: MIT */
/*
 * ism-run - run a program with libism-preload.so, so that its TCP
 * connections to peers that also run under ism move onto shared memory
 * (ism-run(1)).
 *
 * A C program rather than a script: it finds the library next to itself
 * (the build tree) or where it was installed, keeps a sanitizer runtime
 * first in LD_PRELOAD where one is already there (it must come first),
 * passes the command line through untouched, and needs no shell.
 */
#include "elf_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef ISM_PRELOAD_DIR
#define ISM_PRELOAD_DIR "/usr/local/lib"
#endif
#ifndef ISM_VERSION
#define ISM_VERSION "0"
#endif
#define LIBNAME "libism-preload.so"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ism-run [-v] [--socket PATH] [--log FILE] CMD "
		"[ARGS...]\n"
		"Run CMD so that its TCP connections to programs that also "
		"run under ism-run\n"
		"on this host move onto ism shared-memory streams; "
		"everything else stays TCP.\n"
		"\n"
		"  -v, --verbose      say which connections moved and why the "
		"others did not\n"
		"                     (twice: more detail)\n"
		"  -s, --socket PATH  ismd's socket (default: $ISM_SOCKET, "
		"$XDG_RUNTIME_DIR/ism.sock,\n"
		"                     /run/ism/ism.sock)\n"
		"  -l, --log FILE     write -v lines to FILE instead of "
		"stderr\n"
		"  -h, --help         this text\n"
		"      --version      ism's version\n"
		"\n"
		"ISM_RUN=off runs CMD exactly as without ism-run.  See "
		"ism-run(1).\n");
}

static int exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The library: $ISM_PRELOAD_LIB, next to this program, or installed. */
static const char *find_lib(char *buf, size_t n)
{
	const char *env = getenv("ISM_PRELOAD_LIB");
	char self[PATH_MAX];
	ssize_t k;
	char *slash;

	if (env && *env)
		return env;
	k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k > 0) {
		self[k] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			if ((size_t)snprintf(buf, n, "%s/%s", self, LIBNAME) <
				    n &&
			    exists(buf))
				return buf;
		}
	}
	snprintf(buf, n, "%s/%s", ISM_PRELOAD_DIR, LIBNAME);
	return buf;
}

static int is_sanitizer(const char *e, size_t len)
{
	static const char *const names[] = { "libasan", "libtsan", "libubsan",
					     "libmsan", "libclang_rt" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t m = strlen(names[i]);

		for (size_t j = 0; j + m <= len; j++)
			if (!memcmp(e + j, names[i], m))
				return 1;
	}
	return 0;
}

/* LD_PRELOAD with the shim in it: after any sanitizer runtime, before
 * everything else. */
static char *preload_list(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	size_t n = strlen(lib) + (old ? strlen(old) : 0) + 4;
	char *out = malloc(n), *san = malloc(n), *rest = malloc(n);
	const char *p = old;

	if (!out || !san || !rest)
		exit(1);
	*san = *rest = 0;
	while (p && *p) {
		size_t len = strcspn(p, " :");

		if (len) {
			char *dst = is_sanitizer(p, len) ? san : rest;

			if (*dst)
				strcat(dst, ":");
			strncat(dst, p, len);
		}
		p += len;
		p += strspn(p, " :");
	}
	snprintf(out, n, "%s%s%s%s%s", san, *san ? ":" : "", lib,
		 *rest ? ":" : "", rest);
	free(san);
	free(rest);
	return out;
}

/* The file execvp() would run for @cmd: @cmd itself if it names a path,
 * else the first executable regular file of that name on $PATH. */
static const char *which(const char *cmd, char *buf, size_t n)
{
	const char *path = getenv("PATH"), *p;

	if (strchr(cmd, '/'))
		return cmd;
	if (!path)
		path = "/bin:/usr/bin";
	for (p = path;; p++) {
		size_t len = strcspn(p, ":");
		if ((size_t)snprintf(buf, n, "%.*s%s%s", (int)len, p,
				     len ? "/" : "", cmd) < n &&
		    exists(buf) && access(buf, X_OK) == 0)
			return buf;
		p += len;
		if (!*p)
			return NULL;
	}
}

/* A program file that shrinks while we read it (rebuilt in place): the
 * probe is abandoned, not ism-run. */
static sigjmp_buf probe_bus;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(probe_bus, 1);
}

static int probe_file(int fd, size_t size)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	volatile int r = -EIO;

	if (map == MAP_FAILED)
		return -errno;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (!sigsetjmp(probe_bus, 1))
		r = elf_probe(map, size);
	sigaction(SIGBUS, &old, NULL);
	munmap(map, size);
	return r;
}

static void unreachable(const char *cmd, const char *why)
{
	fprintf(stderr, "ism-run: %s %s; its connections stay TCP\n", cmd, why);
}

/*
 * Say so when the program is one the shim cannot reach: its connections
 * would otherwise stay on TCP with nothing to tell why.  (The loader
 * ignores LD_PRELOAD outside the standard directories for a set-user-ID
 * or set-group-ID program; a static one never reads it; Go makes its own
 * system calls.)
 */
static void warn_unreachable(const char *cmd)
{
	char buf[PATH_MAX];
	const char *file = which(cmd, buf, sizeof(buf));
	struct stat st;
	int fd, r;

	/* Only a regular file is run (a FIFO would block the open). */
	if (!file || stat(file, &st) < 0 || !S_ISREG(st.st_mode))
		return; /* execvp() will say */
	/* The loader turns LD_PRELOAD off only when running the program
	 * changes our uid or gid (root running its own: no change). */
	if ((st.st_mode & S_ISUID && st.st_uid != getuid()) ||
	    (st.st_mode & S_ISGID && st.st_gid != getgid()))
		unreachable(cmd, "is set-user-ID or set-group-ID: the loader "
				 "ignores the shim");
	fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return; /* (execute-only) */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !st.st_size ||
	    (uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return;
	}
	r = probe_file(fd, (size_t)st.st_size);
	close(fd);
	if (r > 0 && (r & ELF_PROBE_GO))
		unreachable(cmd, "is a Go program, which makes its own system "
				 "calls: the shim cannot reach it");
	else if (r > 0 && (r & ELF_PROBE_STATIC))
		unreachable(cmd, "is statically linked: the shim cannot reach "
				 "it");
}

/* Does ismd answer at @path?  (For -v only: the shim decides alone.) */
static const char *probe_ismd(const char *path, char *buf, size_t n)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	const char *p = path;
	int fd, r;

	if (!p || !*p)
		p = getenv("ISM_SOCKET");
	if (!p || !*p) {
		const char *x = getenv("XDG_RUNTIME_DIR");

		if (x && *x)
			snprintf(buf, n, "%s/ism.sock", x);
		else
			snprintf(buf, n, "/run/ism/ism.sock");
		p = buf;
	}
	if (strlen(p) >= sizeof(a.sun_path))
		return "path too long";
	strcpy(a.sun_path, p);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return strerror(errno);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	r = r < 0 ? errno : 0;
	close(fd);
	return r ? strerror(r) : NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "socket", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *log = NULL, *run = getenv("ISM_RUN");
	char libbuf[PATH_MAX], sbuf[128], vbuf[16];
	const char *lib;
	int c, verbose = 0;

	while ((c = getopt_long(argc, argv, "+vs:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v': verbose++; break;
		case 's': sock = optarg; break;
		case 'l': log = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ism-run %s\n", ISM_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ism-run: no command given\n");
		usage(stderr);
		return 2;
	}
	if (run &&
	    (!strcmp(run, "off") || !strcmp(run, "0") || !strcmp(run, "no"))) {
		/* Exactly the program, as without ism-run. */
		if (verbose)
			fprintf(stderr,
				"ism-run: ISM_RUN=%s: running %s "
				"without the shim\n",
				run, argv[optind]);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "ism-run: %s: %s\n", argv[optind],
			strerror(errno));
		return errno == ENOENT ? 127 : 126;
	}
	lib = find_lib(libbuf, sizeof(libbuf));
	if (!exists(lib)) {
		fprintf(stderr, "ism-run: %s: not found\n", lib);
		return 127;
	}
	if (sock && setenv("ISM_SOCKET", sock, 1) < 0)
		return 1;
	if (log && setenv("ISM_RUN_LOG", log, 1) < 0)
		return 1;
	if (verbose) {
		const char *why = probe_ismd(sock, sbuf, sizeof(sbuf));

		snprintf(vbuf, sizeof(vbuf), "%d", verbose);
		setenv("ISM_RUN_VERBOSE", vbuf, 1);
		fprintf(stderr, "ism-run: %s with %s; ismd %s%s%s\n",
			argv[optind], lib, why ? "unreachable (" : "reachable",
			why ? why : "",
			why ? "): every connection stays on TCP" : "");
	}
	warn_unreachable(argv[optind]);
	if (setenv("LD_PRELOAD", preload_list(lib), 1) < 0)
		return 1;
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "ism-run: %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
