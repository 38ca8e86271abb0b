/* SPDX-License-Identifier: MIT */
/*
 * shim - the process side of libism-preload.so: configuration, the real
 * functions, the connection to ismd, logging, fork and exec.
 *
 * fork().  The child inherits the connection to ismd (one socket, two
 * processes) and a copy of every object.  From then on every libism call
 * that talks to ismd holds a robust process-shared mutex that lives in a
 * shared anonymous mapping made before the fork, so requests and replies
 * of the two processes never interleave; listeners work in every process
 * (prefork servers accept in their workers).  A stream's rings, though,
 * hold per-process state: a stream that existed at the fork gets a claim
 * word and a holder count in that mapping, and the first process to use
 * it owns it; the other gets ECONNRESET if it tries.  A close() in a
 * process that does not own the stream, or while another process still
 * holds it unused, closes only this process's sockets (a forking server
 * closes its copy of the connection its child serves at once); the last
 * holder's close of an unused stream is the stream's.
 *
 * exec().  The new program starts with a fresh shim and could not read a
 * stream on shared memory through the socket it inherits: before exec, a
 * stream whose fd would survive it is shut down on TCP, so the new
 * program reads EOF instead of waiting forever.
 */
#include "preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct real_fns real;
struct shim_cfg cfg = { .log_fd = 2 };
__thread int shim_busy __attribute__((tls_model("initial-exec")));
pid_t shim_pid;
atomic_bool shim_forked;

#define NSLOTS 32768u

/* Shared with every process forked after the connection was opened. */
struct shared_area {
	pthread_mutex_t xlock; /* around requests on the shared connection */
	atomic_uint next_slot;
	atomic_int words[NSLOTS]; /* claim words (pid) or holder counts */
};

static struct shared_area *area;
static struct ism_conn *conn;
static uint64_t conn_failed_ns;
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t fork_rw;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

/* ---- real functions ---- */

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static void resolve_all(void)
{
#define R(f)                                                                   \
	__atomic_store_n(&real.f, (__typeof__(real.f))sym(#f), __ATOMIC_RELEASE)
	R(socket);
	R(vdprintf);
	R(__vdprintf_chk);
	R(fdopen);
	R(fileno);
	R(fileno_unlocked);
	R(bind);
	R(listen);
	R(accept4);
	R(connect);
	R(read);
	R(write);
	R(readv);
	R(writev);
	R(recvfrom);
	R(sendto);
	R(recvmsg);
	R(sendmsg);
	R(recvmmsg);
	R(sendmmsg);
	R(shutdown);
	R(close);
	R(close_range);
	R(dup);
	R(dup2);
	R(dup3);
	R(ioctl);
	R(getsockopt);
	R(setsockopt);
	R(poll);
	R(ppoll);
	R(select);
	R(pselect);
	R(epoll_create1);
	R(epoll_ctl);
	R(epoll_wait);
	R(epoll_pwait);
	R(epoll_pwait2);
	R(sendfile);
	R(splice);
	R(execve);
	R(execvpe);
	R(fexecve);
	R(execveat);
	R(socketpair);
	R(eventfd);
	R(memfd_create);
	R(timerfd_create);
	R(open);
#undef R
	real.fcntl = (int (*)(int, int, ...))sym("fcntl64");
	if (!real.fcntl)
		real.fcntl = (int (*)(int, int, ...))sym("fcntl");
}

void shim_resolve(void)
{
	pthread_once(&resolve_once, resolve_all);
}

/* ---- logging ---- */

void shim_log(const char *fmt, ...)
{
	char line[512];
	const char *path = cfg.log_path;
	va_list ap;
	int n, fd;

	n = snprintf(line, sizeof(line), "ism-run[%d]: ", (int)shim_pid);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	shim_busy++;
	if (path && *path) {
		/* Opened per line: the program may close any fd it likes. */
		fd = real.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			       0600);
		if (fd >= 0) {
			(void)!real.write(fd, line, (size_t)n);
			real.close(fd);
		}
	} else {
		(void)!real.write(2, line, (size_t)n);
	}
	shim_busy--;
}

/* ---- time and signals ---- */

uint64_t shim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int shim_ms_left(uint64_t deadline_ns)
{
	uint64_t now;

	if (!deadline_ns)
		return -1;
	now = shim_now_ns();
	if (now >= deadline_ns)
		return 0;
	return (int)SHIM_MIN((deadline_ns - now + 999999) / 1000000,
			     (uint64_t)INT32_MAX);
}

bool shim_eintr(bool timeout_set)
{
	/* The kernel fails a blocking socket call with EINTR when a
	 * handler without SA_RESTART ran, or when a timeout is set; it
	 * restarts it otherwise.  Which signal came is not known here, so
	 * any handler installed without SA_RESTART means EINTR. */
	if (timeout_set)
		return true;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, NULL, &sa) < 0)
			continue;
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return true;
	}
	return false;
}

/* ---- ismd ---- */

static void area_map(void)
{
	pthread_mutexattr_t a;
	void *m;

	if (area)
		return;
	m = mmap(NULL, sizeof(*area), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return;
	area = m;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&area->xlock, &a);
	pthread_mutexattr_destroy(&a);
}

struct ism_conn *shim_conn(void)
{
	struct ism_conn_opts o = { .size = sizeof(o),
				   .flags = ISM_CONN_RECONNECT |
					    ISM_CONN_NO_DOORBELL,
				   .name = cfg.name };
	struct ism_conn *c;
	int r;

	c = __atomic_load_n(&conn, __ATOMIC_ACQUIRE);
	if (c)
		return c;
	pthread_mutex_lock(&conn_lock);
	c = conn;
	if (!c && (!conn_failed_ns ||
		   shim_now_ns() - conn_failed_ns > 1000000000ull)) {
		area_map();
		shim_busy++;
		pthread_rwlock_rdlock(&fork_rw);
		r = area ? ism_conn_open(cfg.sock, &o, &c) : -ENOMEM;
		pthread_rwlock_unlock(&fork_rw);
		shim_busy--;
		if (r < 0) {
			if (!conn_failed_ns)
				SHIM_LOG(1,
					 "ismd unreachable (%s): connections "
					 "stay on TCP",
					 strerror(-r));
			conn_failed_ns = shim_now_ns();
			c = NULL;
		} else {
			SHIM_LOG(2, "connected to ismd as peer %llx",
				 (unsigned long long)ism_conn_peer_id(c));
			__atomic_store_n(&conn, c, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&conn_lock);
	return c;
}

void lib_enter(void)
{
	shim_busy++;
	pthread_rwlock_rdlock(&fork_rw);
	if (atomic_load(&shim_forked) && area) {
		int r = pthread_mutex_lock(&area->xlock);

		if (r == EOWNERDEAD) {
			/* A process died mid-request: read what it left. */
			pthread_mutex_consistent(&area->xlock);
			if (conn)
				(void)ism_conn_process(conn);
		}
	}
}

void lib_leave(void)
{
	if (atomic_load(&shim_forked) && area)
		pthread_mutex_unlock(&area->xlock);
	pthread_rwlock_unlock(&fork_rw);
	shim_busy--;
}

/* ---- claims across fork ---- */

int shim_slot_new(unsigned n)
{
	unsigned s;

	if (!area || n == 0 || n > NSLOTS)
		return -1;
	s = atomic_fetch_add(&area->next_slot, n);
	if (s >= NSLOTS || NSLOTS - s < n)
		return -1;
	for (unsigned i = 0; i < n; i++)
		atomic_store(&area->words[s + i], 0);
	return (int)s;
}

int shim_claim_word(int slot)
{
	return slot < 0 || !area ? (int)shim_pid
				 : atomic_load(&area->words[slot]);
}

bool shim_claim(int slot)
{
	int w, zero = 0;

	if (slot < 0 || !area)
		return true;
	w = atomic_load(&area->words[slot]);
	if (w == shim_pid)
		return true;
	if (w == 0 && atomic_compare_exchange_strong(&area->words[slot], &zero,
						     (int)shim_pid))
		return true;
	return atomic_load(&area->words[slot]) == shim_pid;
}

void shim_slot_hold(int slot)
{
	if (slot >= 0 && area)
		atomic_fetch_add(&area->words[slot], 1);
}

bool shim_slot_release(int slot)
{
	if (slot < 0 || !area)
		return true;
	return atomic_fetch_sub(&area->words[slot], 1) <= 1;
}

/* ---- fork ---- */

/* Counts forks in this process: objects are counted once per fork,
 * however many fds name them. */
static unsigned fork_gen;

/*
 * Before the fork, in the parent: each listener and stream on shared
 * memory gets its words, and the child's hold is counted here, not in
 * the child, since the parent may close its copy before the child has
 * run a single instruction (a forking server does at once).  (If the
 * fork fails, the hold stays: the object is then never released by a
 * close, only by the process's exit.)
 */
static void prep_obj(int fd, struct obj *o, void *arg)
{
	(void)fd;
	(void)arg;
	if (o->kind == SK_STREAM) {
		struct sstream *st = (struct sstream *)o;

		if (atomic_load(&st->native) || st->fork_gen == fork_gen)
			return;
		st->fork_gen = fork_gen;
		/* Two words: the owner (0: nobody yet), then how many
		 * processes hold the stream. */
		if (st->slot < 0) {
			if ((st->slot = shim_slot_new(2)) < 0)
				return;
			atomic_store(&area->words[st->slot + 1], 1);
		} else if (atomic_load(&area->words[st->slot]) == shim_pid) {
			atomic_store(&area->words[st->slot], 0);
		}
		/* (claimed by another process: stays that process's) */
		shim_slot_hold(st->slot + 1);
	} else if (o->kind == SK_LISTEN) {
		struct slisten *ls = (struct slisten *)o;

		if (ls->fork_gen == fork_gen)
			return;
		ls->fork_gen = fork_gen;
		if (ls->slot < 0) {
			if ((ls->slot = shim_slot_new(1)) < 0)
				return;
			atomic_store(&area->words[ls->slot], 1);
		}
		shim_slot_hold(ls->slot);
	}
}

static void child_obj(int fd, struct obj *o, void *arg)
{
	(void)fd;
	(void)arg;
	if (o->kind == SK_STREAM) {
		struct sstream *st = (struct sstream *)o;

		/* A lock another thread held at the fork is nobody's now. */
		pthread_mutex_init(&st->rx_lock, NULL);
		pthread_mutex_init(&st->tx_lock, NULL);
	} else if (o->kind == SK_SOCK) {
		pthread_mutex_init(&((struct ssock *)o)->lock, NULL);
	}
}

static void atfork_prepare(void)
{
	if (cfg.off)
		return;
	pthread_rwlock_wrlock(&fork_rw);
	epoll_lock_all();
	fdtab_lock_all();
	fork_gen++;
	fd_walk(prep_obj, NULL);
}

static void atfork_parent(void)
{
	if (cfg.off)
		return;
	if (area)
		atomic_store(&shim_forked, true);
	fdtab_unlock_all();
	epoll_unlock_all();
	pthread_rwlock_unlock(&fork_rw);
}

static void atfork_child(void)
{
	pthread_rwlockattr_t a;

	if (cfg.off)
		return;
	shim_pid = getpid();
	if (area)
		atomic_store(&shim_forked, true);
	fd_walk(child_obj, NULL);
	fdtab_unlock_all();
	epoll_unlock_all();
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(
		&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fork_rw, &a);
	pthread_rwlockattr_destroy(&a);
	pthread_mutex_init(&conn_lock, NULL);
}

/* ---- exec ---- */

static void exec_obj(int fd, struct obj *o, void *arg)
{
	(void)arg;
	if (o->kind == SK_STREAM) {
		struct sstream *st = (struct sstream *)o;
		int fl;

		if (atomic_load(&st->native))
			return;
		/* Another process owns it, or may still use it: not ours
		 * to shut down. */
		if (st->slot >= 0 && atomic_load(&shim_forked) &&
		    shim_claim_word(st->slot) != (int)shim_pid &&
		    (shim_claim_word(st->slot) != 0 ||
		     shim_claim_word(st->slot + 1) > 1))
			return;
		fl = real.fcntl(fd, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC))
			return;
		/* The new program would read this socket, where nothing
		 * arrives: it reads EOF instead.  (The TCP connection is
		 * idle on shared memory; this process's stream is
		 * untouched if the exec fails.) */
		real.shutdown(fd, SHUT_RDWR);
		SHIM_LOG(1,
			 "fd %d: %s: shut down for exec (a stream on "
			 "shared memory does not survive exec)",
			 fd, st->desc);
	} else if (o->kind == SK_LISTEN) {
		struct slisten *ls = (struct slisten *)o;

		if (ls->slot >= 0) {
			shim_slot_release(ls->slot);
			ls->slot = -1;
		}
	}
}

void shim_exec_prepare(void)
{
	if (cfg.off)
		return;
	fdtab_lock_all();
	fd_walk(exec_obj, NULL);
	fdtab_unlock_all();
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	shim_resolve();
	shim_exec_prepare();
	return real.execve(path, argv, envp);
}

int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	shim_resolve();
	shim_exec_prepare();
	return real.execvpe(file, argv, envp);
}

int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	shim_resolve();
	shim_exec_prepare();
	return real.fexecve(fd, argv, envp);
}

int execveat(int dirfd, const char *path, char *const argv[],
	     char *const envp[], int flags)
{
	shim_resolve();
	shim_exec_prepare();
	if (!real.execveat)
		return (int)syscall(SYS_execveat, dirfd, path, argv, envp,
				    flags);
	return real.execveat(dirfd, path, argv, envp, flags);
}

/* execl*: the argument list as an array, then the v-form. */
static char **arg_array(const char *arg0, va_list ap, char ***envp)
{
	va_list aq;
	size_t n = 1;
	char **v;

	va_copy(aq, ap);
	while (va_arg(aq, char *))
		n++;
	va_end(aq);
	v = malloc((n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	v[0] = (char *)arg0;
	for (size_t i = 1; i <= n; i++)
		v[i] = va_arg(ap, char *); /* the last is the NULL */
	if (envp)
		*envp = va_arg(ap, char **);
	return v;
}

int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	char **v;
	int r;

	va_start(ap, arg);
	v = arg_array(arg, ap, NULL);
	va_end(ap);
	if (!v) {
		errno = ENOMEM;
		return -1;
	}
	r = execve(path, v, environ);
	free(v);
	return r;
}

int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **v;
	int r;

	va_start(ap, arg);
	v = arg_array(arg, ap, NULL);
	va_end(ap);
	if (!v) {
		errno = ENOMEM;
		return -1;
	}
	r = execvpe(file, v, environ);
	free(v);
	return r;
}

int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **v, **envp = NULL;
	int r;

	va_start(ap, arg);
	v = arg_array(arg, ap, &envp);
	va_end(ap);
	if (!v) {
		errno = ENOMEM;
		return -1;
	}
	r = execve(path, v, envp);
	free(v);
	return r;
}

/* ---- start ---- */

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	if (*end || n < lo || n > hi)
		return def;
	return (int)n;
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *run = getenv("ISM_RUN");
	pthread_rwlockattr_t a;
	char comm[32] = "";
	int fd;

	shim_resolve();
	shim_fd_floor_init();
	shim_pid = getpid();
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(
		&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fork_rw, &a);
	pthread_rwlockattr_destroy(&a);
	cfg.off = run && (!strcmp(run, "off") || !strcmp(run, "0") ||
			  !strcmp(run, "no"));
	cfg.verbose = env_int("ISM_RUN_VERBOSE", 0, 0, 9);
	cfg.handshake_ms = env_int("ISM_RUN_HANDSHAKE_MS", 0, 0, 600000);
	cfg.ring = (uint32_t)env_int("ISM_RUN_RING_KIB", 0, 4, 1 << 20) * 1024u;
	cfg.spin_ns = (uint32_t)env_int("ISM_RUN_SPIN_US", 50, 0, 1000) * 1000u;
	/* At least 64 KiB: POLLOUT promises room for a usual write, and a
	 * message is at most half the ring (io.c). */
	if (cfg.ring && cfg.ring < (64u << 10))
		cfg.ring = 64u << 10;
	cfg.sock = getenv("ISM_SOCKET");
	if (cfg.sock && !*cfg.sock)
		cfg.sock = NULL;
	if (cfg.sock && !(cfg.sock = strdup(cfg.sock)))
		cfg.off = true; /* no memory at start: stay out of the way */
	if (getenv("ISM_RUN_LOG") &&
	    strlen(getenv("ISM_RUN_LOG")) < sizeof(cfg.log_path))
		strcpy(cfg.log_path, getenv("ISM_RUN_LOG"));
	fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = real.read(fd, comm, sizeof(comm) - 1);

		comm[n > 0 ? n : 0] = 0;
		if (n > 0 && comm[n - 1] == '\n')
			comm[n - 1] = 0;
		real.close(fd);
	}
	snprintf(cfg.name, sizeof(cfg.name), "ism-run:%s", comm);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	if (cfg.off)
		SHIM_LOG(2, "ISM_RUN=off: every call goes to the kernel");
	else
		SHIM_LOG(2, "loaded in %s", comm);
}
