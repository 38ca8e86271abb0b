/* SPDX-License-Identifier: MIT */
/*
 * preload - libism-preload.so, the shim ism-run(1) puts under unmodified
 * programs: their TCP connections to peers that also run under ism move
 * onto ism streams (ism/stream.h); everything else keeps the real socket.
 *
 * Concepts.  The application's fd stays a real socket: connect() and
 * accept() get an ism stream from libism and dup3() the stream's TCP
 * socket onto the application's fd number, so getpeername, getsockopt,
 * fstat and the fd number all stay what the kernel says.  A table indexed
 * by fd number (fdtab.c) says which fds the shim manages and holds one
 * object per open socket, shared by its dup()s:
 *
 *   SK_SOCK    an AF_INET/AF_INET6 SOCK_STREAM socket not yet connected or
 *              listening: its options are recorded to be replayed on the
 *              socket that replaces it;
 *   SK_LISTEN  a listener registered with ismd (ism_stream_listen());
 *   SK_STREAM  a connection; on shared memory (or while its handshake is
 *              pending) the data and readiness calls go to the stream, on
 *              TCP ("native") straight to the kernel;
 *   SK_EPOLL   an epoll set holding streams on shared memory (epoll.c).
 *
 * Anything the shim does not handle is the kernel's: UDP, AF_UNIX, a
 * socket the application bound before connecting, a listener with an
 * option that cannot be reproduced, a connection to another host.  The
 * decision is taken before any byte moves, and `ism-run -v` says why.
 *
 * Readiness of a stream on shared memory is computed, never guessed:
 * readable when the shim holds bytes, the stream says EOF or an error, or
 * a non-blocking receive of one byte (kept for the next read) succeeds;
 * writable when the ring has room for a good write (64 KiB), as the kernel
 * says POLLOUT only with a good part of its buffer free.  The stream's
 * ism_stream_fd() (the "wait fd") wakes every wait: poll() and select()
 * wait on it in place of the application's fd, and an application's epoll
 * set holds it edge-triggered (epoll.c).
 *
 * Threads: every entry point may run on any thread.  The table takes a
 * striped lock to hand out a reference; a stream's receive and send sides
 * have a lock each (libism allows one receiver and one sender at a time)
 * and are only ever held across non-blocking libism calls, so a thread
 * waiting in poll() never waits for another thread's blocking read.
 *
 * The fds libism and the shim make for themselves live above a floor
 * (fdhigh.c), out of the range where the application's own fds are.
 *
 * fork(): ismd's connection and every listener stay usable in every
 * process (calls that talk to ismd are serialised across the processes by
 * a robust mutex in shared memory); a stream on shared memory belongs to
 * whichever process uses it first after the fork (shim.c).
 */
#ifndef ISM_PRELOAD_H
#define ISM_PRELOAD_H

#include <ism.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#define SHIM_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- the real functions (shim.c) ---- */

struct real_fns {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned, int,
			struct timespec *);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned, int);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*close_range)(unsigned, unsigned, int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int,
			    const struct timespec *, const sigset_t *);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*splice)(int, off_t *, int, off_t *, size_t, unsigned);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	int (*socketpair)(int, int, int, int[2]);
	int (*eventfd)(unsigned int, int);
	int (*memfd_create)(const char *, unsigned int);
	int (*timerfd_create)(int, int);
	int (*open)(const char *, int, ...);
	int (*vdprintf)(int, const char *, va_list);
	int (*__vdprintf_chk)(int, int, const char *, va_list);
	FILE *(*fdopen)(int, const char *);
	int (*fileno)(FILE *);
	int (*fileno_unlocked)(FILE *);
};
extern struct real_fns real;

/* Resolve every real function (idempotent; any thread). */
void shim_resolve(void);

/* ---- fds of libism and the shim (fdhigh.c) ---- */

/* Read the floor (ISM_RUN_FD_FLOOR, RLIMIT_NOFILE); at start. */
void shim_fd_floor_init(void);
/* @fd moved to the lowest free number at or above the floor (its
 * FD_CLOEXEC kept), or @fd itself if below nothing or no room; errno
 * kept.  For fds libism or the shim make for themselves. */
int shim_fd_high(int fd);
/* The same for every SCM_RIGHTS fd in @m, in place. */
void shim_fds_high_cmsg(struct msghdr *m);

/* ---- process state (shim.c) ---- */

struct shim_cfg {
	bool off;	    /* ISM_RUN=off: pass everything through */
	int verbose;	    /* ISM_RUN_VERBOSE: 0, 1 (decisions), 2 (more) */
	int handshake_ms;   /* ISM_RUN_HANDSHAKE_MS */
	uint32_t ring;	    /* ISM_RUN_RING_KIB * 1024, or 0 (default) */
	uint32_t spin_ns;   /* ISM_RUN_SPIN_US * 1000: most an epoll_wait
			     * spins before it sleeps (0: never) */
	const char *sock;   /* ISM_SOCKET, or NULL (libism's default) */
	char name[64];	    /* "ism-run:<comm>", for ismctl peers */
	int log_fd;	    /* where -v lines go (stderr, or ISM_RUN_LOG) */
	char log_path[256]; /* ISM_RUN_LOG, read at start (a server may
			     * clear its environment: nginx does) */
};
extern struct shim_cfg cfg;

/* Set while the shim itself calls into libism or libc on its own behalf:
 * every interposed function then goes straight to the real one. */
extern __thread int shim_busy __attribute__((tls_model("initial-exec")));

/* The process's connection to ismd, opened on first use; NULL if ismd
 * is unreachable (retried at most once a second). */
struct ism_conn *shim_conn(void);

/*
 * Around every libism call that may talk to ismd: lib_enter() returns
 * with no fork() able to start (so no child inherits a libism lock held
 * mid-request), and, once the connection is shared with a forked
 * process, with the cross-process mutex held.  Sets shim_busy.
 */
void lib_enter(void);
void lib_leave(void);
/* The same for a libism call that does not talk to ismd (sets only
 * shim_busy). */
#define LIB_QUIET_ENTER() (shim_busy++)
#define LIB_QUIET_LEAVE() (shim_busy--)

/* Whether to log at @level; the line (no newline needed). */
#define SHIM_LOG(level, ...)                                                   \
	do {                                                                   \
		if (cfg.verbose >= (level))                                    \
			shim_log(__VA_ARGS__);                                 \
	} while (0)
void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* This process's pid (kept across fork by the child handler). */
extern pid_t shim_pid;
/* A fork happened (in this process or an ancestor since ism started):
 * streams carry claim words. */
extern atomic_bool shim_forked;

/*
 * Claim words: a stream that existed at a fork belongs to whichever
 * process uses it first.  shim_claim() returns true if this process owns
 * slot @slot (claiming it if nobody has yet), false if another does.
 */
bool shim_claim(int slot);
/* @n fresh consecutive words for an object crossing a fork (-1 if none
 * are left). */
int shim_slot_new(unsigned n);
/* The word at @slot (a stream's owner pid, 0: unclaimed). */
int shim_claim_word(int slot);
/* Listener holders: a listener crossing a fork counts its processes. */
void shim_slot_hold(int slot);
/* Drop this process's hold; true if it was the last. */
bool shim_slot_release(int slot);

/* The signal that interrupted a wait: true if the call should fail with
 * EINTR (a handler without SA_RESTART, or a socket timeout is set). */
bool shim_eintr(bool timeout_set);

/* Milliseconds left until @deadline_ns (CLOCK_MONOTONIC; 0 = never):
 * -1 (forever), or >= 0. */
int shim_ms_left(uint64_t deadline_ns);
uint64_t shim_now_ns(void);

/* ---- objects and the fd table (fdtab.c) ---- */

enum sk_kind {
	SK_SOCK = 1,
	SK_LISTEN = 2,
	SK_STREAM = 3,
	SK_EPOLL = 4,
};

struct obj {
	atomic_int ref;	  /* table slots + temporary holds */
	atomic_int slots; /* table slots (the application's fds) */
	int kind;
	void (*destroy)(struct obj *o); /* the last reference went */
};

/* An option set before connect() or listen(), to replay. */
struct sopt {
	int level, name;
	socklen_t len;
	unsigned char val[32];
};
#define SOPT_MAX 16

/* A native epoll registration of a socket the shim may replace (dup3 at
 * connect or listen removes the kernel's registration with the file). */
struct nreg {
	int epfd;
	int fd;
	struct epoll_event ev;
	struct nreg *next;
};

struct ssock {
	struct obj o;
	pthread_mutex_t lock;
	int domain;
	bool bound;
	bool nonblock;
	int reuseaddr; /* the application's SO_REUSEADDR (-1: never set) */
	const char *native_why; /* set: never accelerate, and why */
	unsigned nopts;
	struct sopt opts[SOPT_MAX];
	struct nreg *nregs;
};

struct slisten {
	struct obj o;
	struct ism_stream_listener *l;
	atomic_bool nonblock; /* the application's O_NONBLOCK (virtual) */
	int slot;	      /* holder count across forks, or -1 */
	unsigned fork_gen;    /* the last fork that counted it */
	int family;
	uint16_t port;
	uint8_t addr[16];
};

struct reg;

struct sstream {
	struct obj o;
	struct ism_stream *s;
	int wfd;		  /* ism_stream_fd(s): the wait fd */
	atomic_bool native;	  /* on TCP: everything goes to the kernel */
	atomic_bool on_shm;	  /* said so in the log */
	atomic_bool said_foreign; /* "used by another process": logged */
	atomic_bool nonblock;	  /* cached O_NONBLOCK of the file */
	atomic_bool rx_maybe;	  /* a receive may find something */
	atomic_bool tx_blocked;	  /* the last send or probe found the ring
				   * (too) full */
	atomic_bool tx_armed;	  /* ... and left libism armed for room */
	atomic_bool eof;	  /* the other side's EOF was read */
	atomic_bool rd_shut, wr_shut;
	atomic_int err;	     /* pending error (SO_ERROR, POLLERR) */
	atomic_int reset;    /* 1: the connection was reset (reported) */
	atomic_uint gen;     /* bumps on every change of readiness */
	atomic_int last_rev; /* what st_revents() last found */
	atomic_uint nregs;   /* epoll registrations (epoll.c) */
	atomic_int rcvtimeo_ms, sndtimeo_ms; /* SO_RCVTIMEO/SNDTIMEO, 0 */
	atomic_int waiters;	/* threads in poll() on the wait fd */
	int nudge_fd;		/* an eventfd inside the wait fd */
	atomic_bool nudged;	/* nudge_fd may be non-zero */
	atomic_bool woke;	/* the wait fd fired: look at both directions */
	atomic_bool rx_unarmed; /* the last receive found nothing and left
				 * libism unarmed: st_arm() before a wait */
	atomic_bool in_pend;	/* on the pending list (changed under its
				 * lock, io.c) */
	struct sstream *pend_prev, *pend_next;
	pthread_mutex_t rx_lock, tx_lock;
	uint8_t *rxb; /* bytes received ahead (probe, peek) */
	size_t rx_len, rx_off, rx_cap;
	int slot; /* claim word across forks (then its holder count), or -1 */
	unsigned fork_gen; /* the last fork that counted it */
	struct reg *regs;  /* epoll registrations (under the epoll lock) */
	char desc[112];
};

struct sepoll;

/* Look up fd: a referenced object, or NULL (not the shim's). */
struct obj *fd_get(int fd);
void obj_put(struct obj *o);
void obj_hold(struct obj *o);
/* A reference unless @o is already being destroyed. */
bool obj_tryhold(struct obj *o);
/* Install @o at @fd (taking a reference); what was there is returned
 * (its reference is the caller's to drop), NULL if nothing. */
struct obj *fd_set_obj(int fd, struct obj *o);
/* Remove fd's object (the caller drops the returned reference). */
struct obj *fd_take(int fd);
/* Call @fn on every object in the table (table locked: @fn must not
 * take it).  Used at fork and exec. */
void fd_walk(void (*fn)(int fd, struct obj *o, void *arg), void *arg);
/* fork(): the prepare/parent/child handlers' part. */
void fdtab_lock_all(void);
void fdtab_unlock_all(void);
/* The fast test: is anything at @fd (no lock, may be stale). */
bool fd_maybe(int fd);
/* Is @fd a stream the shim carries (not handed back to the kernel)? */
bool fd_is_stream(int fd);

/* ---- sockets (sock.c) ---- */

struct ssock *ssock_new(int domain, bool nonblock);
/* A new stream object around @s for the application's @fd. */
struct sstream *sstream_new(struct ism_stream *s, bool nonblock);
/* The stream is on TCP from now on: epoll registrations move to the
 * kernel (epoll.c does it), reads go to the kernel. */
void stream_went_native(struct sstream *st);
/* Refresh st->native from libism (after a call that may settle a
 * pending handshake).  Returns the path. */
int stream_path_refresh(struct sstream *st);
/* A stream that another process claimed after a fork. */
bool stream_foreign(struct sstream *st);

/* ---- data and readiness (io.c) ---- */

/* recvmsg/sendmsg on a stream the shim carries; -errno on failure. */
ssize_t st_recv(struct sstream *st, const struct iovec *iov, int iovcnt,
		int flags);
ssize_t st_send(struct sstream *st, const struct iovec *iov, int iovcnt,
		int flags);
/* poll(2) events of a stream for @want (probing if needed). */
short st_revents(struct sstream *st, short want);
/* The wait fd fired (or may have): what the stream can do may have
 * changed. */
void st_activity(struct sstream *st);
/* Bytes readable now (FIONREAD), pulling what is there. */
int st_inq(struct sstream *st);
/* Called after an application IO call: epoll registrations look again. */
void st_touched(struct sstream *st);
/* Wake whoever waits on the stream's wait fd (another thread). */
void st_nudge(struct sstream *st);
/* Put the nudge eventfd into the wait fd (once the stream has one). */
void st_wait_fd_ready(struct sstream *st);
/* Arm a stream left unarmed by its last receive (io.c atop): true if a
 * receive may progress now (a wake-up it never got).  No lock held. */
bool st_arm(struct sstream *st);
/* The same without arming (a wait that does not sleep): true if ready,
 * looked at as after a wake-up. */
bool st_look(struct sstream *st);
/* Streams a sleeping wait armed, to disarm once it woke (few only). */
#define ST_ARMED_MAX 64
struct st_armed {
	int n;
	struct sstream *st[ST_ARMED_MAX]; /* referenced */
};
/* Every stream in an epoll set left unarmed since the last wait: armed
 * (@sleeping) or looked at; true if one of them is ready (its
 * registrations are hot).  Those armed go into @armed, if not NULL and
 * they are few. */
bool st_arm_pending(bool sleeping, struct st_armed *armed);
/* Disarm them again (the wait woke); true if one is ready (hot). */
bool st_disarm_woken(struct st_armed *armed);
/* Look at the pending streams without arming: true if one is ready
 * (hot); false also when there are none or too many to look at. */
bool st_look_pending(void);
/* Some streams are pending, few enough to look at. */
bool st_look_pending_few(void);
/* Off the pending list (the stream is being destroyed). */
void st_unpend(struct sstream *st);
/* On it, if unarmed (it just joined an epoll set). */
void st_pend_if_unarmed(struct sstream *st);
/* Threads inside an emulated epoll_wait (epoll.c). */
extern atomic_int shim_epoll_waiters;

/* ---- epoll (epoll.c) ---- */

/* Remove every registration of @st (it is being destroyed or went
 * native: @native re-adds them to the kernel as the application asked). */
void epoll_forget_stream(struct sstream *st, bool native);
/* Mark @st's registrations for a look at the next epoll_wait. */
void epoll_mark_hot(struct sstream *st);
/* A socket replaced by dup3(): re-add its native registrations (the
 * kernel dropped them with the old file), or hand them to the stream. */
void epoll_replay_native(struct ssock *sk, int fd, struct obj *now);
/* epoll.c's fork handlers. */
void epoll_lock_all(void);
void epoll_unlock_all(void);

/* ---- exec (shim.c) ---- */

/* Before exec: streams on shared memory that the new program would
 * inherit become dead sockets (it could not use them). */
void shim_exec_prepare(void);

#endif
