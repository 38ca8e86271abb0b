/* SPDX-License-Identifier: MIT */
/*
 * state - what ismd keeps on disk: its host id, a secret key, an epoch
 * counter, and the regions an administrator revoked.
 *
 * Why: a restarted ismd must recognise the peers and regions of its
 * predecessor without having stored them.  Owner proofs and peer resume
 * proofs are keyed BLAKE2s of the claim, so the new ismd verifies a claim
 * by recomputing it.  Ids carry the epoch they were made in (epoch << 32),
 * which tells "made by an earlier ismd" from "made by me".  Only
 * revocations are recorded, so a revoked region stays revoked across
 * restarts.  The state directory is 0700 and the files 0600, owned by
 * ismd's user; ismd refuses a state file others could read.
 *
 * Revocations: the file "revoked" is a sequence of 8-byte little-endian
 * region ids, appended and fdatasync'ed at each administrator revocation.
 * All of them are held in memory (a sorted array: 8 bytes an id), up to
 * REVOKED_MAX.  Where a revocation cannot be held - a file over that
 * bound, no memory for it at start or for a new one at run time - ismd
 * fails closed instead of forgetting it: from then on every region of an
 * earlier epoch counts as revoked (no re-registration, no re-attach), and
 * this is logged once.  Regions of the running epoch need no record to
 * stay revoked: a revoked one is destroyed and its id is never issued or
 * registered again in this epoch.  Failing closed was chosen over
 * refusing to start: new regions keep working, only restart recovery is
 * lost, which is what a stale revocation list must not let through.
 */
#include "ismd.h"
#include "crypto/blake2s.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "ISMSTAT1"
#define STATE_SIZE  80
#define KEY_SIZE    32
/* Revocations held in memory: 16 Mi ids, 128 MiB, far beyond any real
 * administrator's; a larger file means failing closed (see above). */
#define REVOKED_MAX (16u << 20)
#define REVOKED_REC 8

struct ismd_state {
	uint8_t key[KEY_SIZE];
	int dir_fd, lock_fd, revoked_fd;
	uint64_t *revoked; /* sorted, without duplicates */
	size_t n_revoked, cap_revoked;
	off_t revoked_len; /* the file's length: whole records only */
	bool revoked_all;  /* failed closed: every earlier epoch's region */
};

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int default_dir(char *buf, size_t n)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int w;

	if (geteuid() == 0)
		w = snprintf(buf, n, "/var/lib/ism");
	else if (xdg && *xdg)
		w = snprintf(buf, n, "%s/ism", xdg);
	else if (home && *home)
		w = snprintf(buf, n, "%s/.local/state/ism", home);
	else
		return -ENOENT;
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static int check_private(int fd, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		ismd_log(L_ERR,
			 "%s must be owned by uid %d and not accessible to "
			 "others (mode %03o, owner %d)",
			 what, (int)geteuid(), (unsigned)(st.st_mode & 0777),
			 (int)st.st_uid);
		return -EPERM;
	}
	return 0;
}

static void state_sum(const uint8_t *buf, uint8_t *out)
{
	ism_blake2s(out, 16, NULL, 0, buf, 64);
}

static int write_state(struct ismd_state *s, uint32_t epoch,
		       const uint8_t *host_id)
{
	uint8_t buf[STATE_SIZE] = { 0 };
	int fd, r = 0;

	memcpy(buf, STATE_MAGIC, 8);
	le32(buf + 8, 1);
	le32(buf + 12, epoch);
	memcpy(buf + 16, host_id, ISM_HOST_ID_SIZE);
	memcpy(buf + 32, s->key, KEY_SIZE);
	state_sum(buf, buf + 64);
	unlinkat(s->dir_fd, "ismd.state.tmp", 0);
	fd = openat(s->dir_fd, "ismd.state.tmp",
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	close(fd);
	memset(buf, 0, sizeof(buf));
	if (r == 0 &&
	    renameat(s->dir_fd, "ismd.state.tmp", s->dir_fd, "ismd.state") < 0)
		r = -errno;
	if (r == 0)
		fsync(s->dir_fd);
	return r;
}

static void fail_closed(struct ismd_state *s, const char *why)
{
	if (s->revoked_all)
		return;
	s->revoked_all = true;
	ismd_log(L_ERR,
		 "revocations: %s; failing closed: no region of an earlier "
		 "epoch will be re-registered or re-attached",
		 why);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Where @id is in the sorted list, or where it would go. */
static size_t revoked_pos(const struct ismd_state *s, uint64_t id)
{
	size_t lo = 0, hi = s->n_revoked;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->revoked[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Hold @id in memory: 0, -ENOMEM, or -ENOSPC past REVOKED_MAX. */
static int revoked_add(struct ismd_state *s, uint64_t id)
{
	size_t at = revoked_pos(s, id);

	if (at < s->n_revoked && s->revoked[at] == id)
		return 0;
	if (s->n_revoked >= REVOKED_MAX)
		return -ENOSPC;
	if (s->n_revoked == s->cap_revoked) {
		size_t cap = s->cap_revoked ? s->cap_revoked * 2 : 64;
		uint64_t *v;

		if (cap > REVOKED_MAX)
			cap = REVOKED_MAX;
		v = realloc(s->revoked, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->revoked = v;
		s->cap_revoked = cap;
	}
	/* O(n), but revocations are an administrator's rare act and the
	 * lookups (every re-registration) stay a binary search. */
	memmove(s->revoked + at + 1, s->revoked + at,
		(s->n_revoked - at) * sizeof(*s->revoked));
	s->revoked[at] = id;
	s->n_revoked++;
	return 0;
}

/* Read the whole file into a sorted array.  -errno only for I/O errors
 * (ismd then refuses to start); what cannot be held fails closed. */
static int load_revoked(struct ismd_state *s)
{
	uint8_t buf[REVOKED_REC * 1024];
	struct stat st;
	off_t off = 0;
	size_t n, k = 0;

	s->revoked_fd = openat(s->dir_fd, "revoked",
			       O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s->revoked_fd < 0)
		return -errno;
	if (check_private(s->revoked_fd, "revoked list") < 0)
		return -EPERM;
	if (fstat(s->revoked_fd, &st) < 0)
		return -errno;
	if (st.st_size % REVOKED_REC) {
		/* A record torn by a crash while it was appended: that
		 * revocation was never complete (nor acknowledged).  Cut it
		 * off, or every later record would be read across it. */
		off_t whole = st.st_size - st.st_size % REVOKED_REC;

		ismd_log(L_WARN,
			 "revoked list: dropping a torn last record (%lld of "
			 "%d bytes)",
			 (long long)(st.st_size - whole), REVOKED_REC);
		if (ftruncate(s->revoked_fd, whole) < 0 ||
		    fsync(s->revoked_fd) < 0)
			return -errno;
		st.st_size = whole;
	}
	s->revoked_len = st.st_size;
	if ((uint64_t)st.st_size / REVOKED_REC > REVOKED_MAX) {
		char why[96];

		snprintf(why, sizeof(why), "%llu recorded, more than %u",
			 (unsigned long long)st.st_size / REVOKED_REC,
			 REVOKED_MAX);
		fail_closed(s, why);
		return 0;
	}
	n = (size_t)st.st_size / REVOKED_REC;
	if (n == 0)
		return 0;
	s->revoked = malloc(n * sizeof(*s->revoked));
	if (!s->revoked) {
		fail_closed(s, "out of memory for the revoked list");
		return 0;
	}
	s->cap_revoked = n;
	while (off < s->revoked_len) {
		off_t left = s->revoked_len - off;
		size_t want =
			left < (off_t)sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t r = pread(s->revoked_fd, buf, want, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* shrank under us */
		/* Whole records only; a short read resumes at the next. */
		for (size_t i = 0; i + REVOKED_REC <= (size_t)r;
		     i += REVOKED_REC) {
			uint64_t id = rd64(buf + i);

			if (id && k < n) /* 0 is never a region id */
				s->revoked[k++] = id;
		}
		off += r - r % REVOKED_REC;
	}
	qsort(s->revoked, k, sizeof(*s->revoked), cmp_u64);
	s->n_revoked = 0;
	for (size_t i = 0; i < k; i++)
		if (s->n_revoked == 0 ||
		    s->revoked[s->n_revoked - 1] != s->revoked[i])
			s->revoked[s->n_revoked++] = s->revoked[i];
	return 0;
}

int ismd_state_open(struct daemon *d, const char *dir)
{
	char path[PATH_MAX];
	uint8_t buf[STATE_SIZE], sum[16];
	struct ismd_state *s;
	uint32_t epoch = 0;
	ssize_t n;
	int fd, r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir_fd = s->lock_fd = s->revoked_fd = -1;
	d->st = s;
	if (!dir) {
		if ((r = default_dir(path, sizeof(path))) < 0) {
			ismd_log(L_ERR, "no state directory: set --state-dir");
			return r;
		}
		dir = path;
	}
	if ((r = mkdir_p(dir)) < 0) {
		ismd_log(L_ERR, "state directory %s: %s", dir, strerror(-r));
		return r;
	}
	s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0) {
		r = -errno;
		ismd_log(L_ERR, "state directory %s: %s", dir, strerror(-r));
		return r;
	}
	if ((r = check_private(s->dir_fd, "state directory")) < 0)
		return r;
	s->lock_fd = openat(s->dir_fd, "ismd.lock",
			    O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		ismd_log(L_ERR, "state directory %s is in use by another ismd",
			 dir);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}

	fd = openat(s->dir_fd, "ismd.state", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		r = check_private(fd, "state file");
		n = r < 0 ? -1 : read(fd, buf, sizeof(buf));
		close(fd);
		if (r < 0)
			return r;
		state_sum(buf, sum);
		if (n != STATE_SIZE || memcmp(buf, STATE_MAGIC, 8) != 0 ||
		    rd32(buf + 8) != 1 || !ism_ct_equal(sum, buf + 64, 16)) {
			ismd_log(L_ERR,
				 "state file %s/ismd.state is corrupt; move it "
				 "away to start with a new host id",
				 dir);
			return -EBADMSG;
		}
		epoch = rd32(buf + 12);
		memcpy(d->host_id, buf + 16, ISM_HOST_ID_SIZE);
		memcpy(s->key, buf + 32, KEY_SIZE);
		memset(buf, 0, sizeof(buf));
	} else if (errno == ENOENT) {
		if ((r = ism_random(d->host_id, ISM_HOST_ID_SIZE)) < 0 ||
		    (r = ism_random(s->key, KEY_SIZE)) < 0)
			return r;
		ismd_log(L_INFO, "new state in %s", dir);
	} else {
		r = -errno;
		ismd_log(L_ERR, "state file: %s", strerror(-r));
		return r;
	}
	if (epoch >= UINT32_MAX - 1) {
		ismd_log(L_ERR,
			 "epoch counter exhausted; remove the state file");
		return -EOVERFLOW;
	}
	d->epoch = epoch + 1;
	if ((r = write_state(s, d->epoch, d->host_id)) < 0) {
		ismd_log(L_ERR, "cannot write state file: %s", strerror(-r));
		return r;
	}
	if ((r = load_revoked(s)) < 0) {
		ismd_log(L_ERR, "revoked list: %s", strerror(-r));
		return r;
	}
	return 0;
}

int ismd_state_ephemeral(struct daemon *d)
{
	struct ismd_state *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->dir_fd = s->lock_fd = s->revoked_fd = -1;
	d->st = s;
	if ((r = ism_random(d->host_id, ISM_HOST_ID_SIZE)) < 0 ||
	    (r = ism_random(s->key, KEY_SIZE)) < 0)
		return r;
	d->epoch = 2;
	return 0;
}

void ismd_state_close(struct daemon *d)
{
	struct ismd_state *s = d->st;

	if (!s)
		return;
	memset(s->key, 0, sizeof(s->key));
	ism_close_fd(&s->revoked_fd);
	ism_close_fd(&s->lock_fd);
	ism_close_fd(&s->dir_fd);
	free(s->revoked);
	free(s);
	d->st = NULL;
}

static void prf(struct daemon *d, const char *label, const uint8_t *msg,
		size_t len, uint8_t *out)
{
	struct ism_blake2s b;

	ism_blake2s_init(&b, ISM_PROOF_SIZE, d->st->key, KEY_SIZE);
	ism_blake2s_update(&b, label, strlen(label) + 1);
	ism_blake2s_update(&b, msg, len);
	ism_blake2s_final(&b, out);
}

void ismd_proof_owner(struct daemon *d, uint64_t region, uint64_t owner,
		      uint64_t size, uint64_t ino, const uint8_t *token,
		      uint8_t *out)
{
	uint8_t m[32 + ISM_TOKEN_SIZE];

	le64(m, region);
	le64(m + 8, owner);
	le64(m + 16, size);
	le64(m + 24, ino);
	memcpy(m + 32, token, ISM_TOKEN_SIZE);
	prf(d, "ism owner proof v1", m, sizeof(m), out);
}

void ismd_proof_peer(struct daemon *d, uint64_t peer, uint8_t *out)
{
	uint8_t m[8];

	le64(m, peer);
	prf(d, "ism peer resume v1", m, sizeof(m), out);
}

bool ismd_revoked(struct daemon *d, uint64_t region)
{
	struct ismd_state *s = d->st;
	size_t at;

	if (s->revoked_all && (region >> 32) < d->epoch)
		return true;
	at = revoked_pos(s, region);
	return at < s->n_revoked && s->revoked[at] == region;
}

int ismd_revoke_record(struct daemon *d, uint64_t region)
{
	struct ismd_state *s = d->st;
	uint8_t b[REVOKED_REC];
	ssize_t n;
	int r;

	le64(b, region);
	if ((r = revoked_add(s, region)) < 0)
		fail_closed(s, r == -ENOMEM ? "out of memory for a revocation"
					    : "too many revocations");
	if (s->revoked_fd < 0)
		return 0; /* ephemeral state */
	if (s->revoked_len < 0)
		return -EIO; /* a partial record could not be cut off */
	/* Only regions of an earlier epoch could ever be re-registered, but
	 * any region revoked now is of this or an earlier epoch and may
	 * outlive this ismd: record it durably. */
	n = write(s->revoked_fd, b, sizeof(b));
	if (n != (ssize_t)sizeof(b)) {
		r = n < 0 ? -errno : -EIO;
		/* Cut off a partial record: later ones must stay aligned.
		 * If that fails, append nothing more: the next start drops
		 * the torn tail and reads everything before it. */
		if (n > 0 && ftruncate(s->revoked_fd, s->revoked_len) < 0) {
			ismd_log(L_ERR,
				 "revoked list: cannot cut a partial record "
				 "(%s); recording no more revocations",
				 strerror(errno));
			s->revoked_len = -1;
		}
		return r;
	}
	s->revoked_len += (off_t)sizeof(b);
	if (fdatasync(s->revoked_fd) < 0)
		return -errno;
	return 0;
}
