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
#define STATE_SIZE 80
#define KEY_SIZE 32
#define REVOKED_MAX 65536u

struct ismd_state {
	uint8_t key[KEY_SIZE];
	int dir_fd, lock_fd, revoked_fd;
	struct ism_map revoked;
	uint32_t n_revoked;
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

static int load_revoked(struct ismd_state *s)
{
	uint8_t buf[8 * 512];
	ssize_t n;

	s->revoked_fd = openat(s->dir_fd, "revoked",
			       O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s->revoked_fd < 0)
		return -errno;
	if (check_private(s->revoked_fd, "revoked list") < 0)
		return -EPERM;
	while ((n = read(s->revoked_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i + 8 <= n; i += 8) {
			uint64_t id = rd64(buf + i);

			if (id && s->n_revoked < REVOKED_MAX &&
			    ism_map_put(&s->revoked, id, 0, (void *)1) == 0)
				s->n_revoked++;
		}
	}
	return n < 0 ? -errno : 0;
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
	ism_map_init(&s->revoked);
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
		ismd_log(L_ERR, "epoch counter exhausted; remove the state file");
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
	ism_map_init(&s->revoked);
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
	ism_map_free(&s->revoked);
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
	return ism_map_get(&d->st->revoked, region, 0) != NULL;
}

int ismd_revoke_record(struct daemon *d, uint64_t region)
{
	struct ismd_state *s = d->st;
	uint8_t b[8];

	le64(b, region);
	if (s->n_revoked < REVOKED_MAX &&
	    ism_map_put(&s->revoked, region, 0, (void *)1) == 0)
		s->n_revoked++;
	if (s->revoked_fd < 0)
		return 0; /* ephemeral state */
	/* Only regions of an earlier epoch could ever be re-registered, but
	 * any region revoked now is of this or an earlier epoch and may
	 * outlive this ismd: record it durably. */
	if (write(s->revoked_fd, b, sizeof(b)) != (ssize_t)sizeof(b) ||
	    fdatasync(s->revoked_fd) < 0)
		return -errno;
	return 0;
}
