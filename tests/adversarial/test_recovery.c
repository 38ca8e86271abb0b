/* SPDX-License-Identifier: MIT */
/*
 * Hostile use of restart recovery: nobody may claim a region it did not
 * own.  A resumed peer presenting another's proof, a forged proof, a
 * substituted memfd, a region of the current epoch, a peer that did not
 * resume, a forged resume proof, and a region an administrator revoked
 * before the restart.  The secrets are read out of libism's own handles,
 * as a hostile peer that kept them would.
 */
#include "t_daemon.h"
#include "client/client.h"
#include "proto/proto.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t msg[ISM_WIRE_MAX_MSG];

struct stolen {
	uint64_t peer_id;
	uint8_t resume[ISM_PROOF_SIZE];
	uint64_t region, size;
	struct ism_token token;
	uint8_t proof[ISM_PROOF_SIZE];
	int fd; /* a dup of the owner's read-write fd */
};

static void steal(struct ism_conn *c, struct ism_region *r, struct stolen *s)
{
	s->peer_id = c->peer_id;
	memcpy(s->resume, c->resume_proof, ISM_PROOF_SIZE);
	s->region = r->id;
	s->size = r->size;
	s->token = r->token;
	memcpy(s->proof, r->proof, ISM_PROOF_SIZE);
	s->fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
}

/* A raw connection that resumes @id with @proof; returns fd and whether
 * ismd granted the resumption. */
static int raw_resume(const char *sock, uint64_t id, const uint8_t *proof,
		      bool *resumed)
{
	struct ism_hello_req h = { .min_version = 1,
				   .max_version = 1,
				   .flags = ISM_HELLO_F_RESUME,
				   .resume_id = id };
	struct ism_hello_rep rep;
	struct ism_wire_hdr hdr;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	int fd = t_raw_connect(sock), n;

	assert_true(fd >= 0);
	memcpy(h.resume_proof, proof, ISM_PROOF_SIZE);
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_HELLO, 0, 1, 0);
	ism_proto_put_hello_req(&b, &h);
	n = ism_proto_end(&b);
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, NULL, 0, 0), 0);
	n = (int)t_raw_recv(fd, msg, sizeof(msg), 5000, NULL, NULL);
	assert_true(n > 0);
	ism_rbuf_init(&rb, msg, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hdr), 0);
	assert_int_equal(hdr.status, 0);
	assert_int_equal(ism_proto_get_hello_rep(&rb, &rep), 0);
	*resumed = (rep.flags & ISM_HELLO_R_RESUMED) && rep.peer_id == id;
	return fd;
}

/* REGISTER one region; returns the request status (negative) or the
 * entry's status (positive errno, 0 = accepted). */
static int raw_register(int fd, const struct stolen *s, const uint8_t *proof,
			int memfd, uint64_t region)
{
	static struct ism_register_req rq;
	struct ism_register_ent *e = &rq.ent[0];
	struct ism_batch_rep br;
	struct ism_wire_hdr hdr;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	int n;

	memset(&rq, 0, sizeof(rq));
	rq.n = 1;
	e->region = region;
	e->size = s->size;
	memcpy(e->token, s->token.b, ISM_TOKEN_SIZE);
	memcpy(e->proof, proof, ISM_PROOF_SIZE);
	e->max_access = ISM_ACCESS_RO;
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_REGISTER, 0, 2, 0);
	ism_proto_put_register_req(&b, &rq);
	n = ism_proto_end(&b);
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, &memfd, 1, 0), 0);
	n = (int)t_raw_recv(fd, msg, sizeof(msg), 5000, NULL, NULL);
	assert_true(n > 0);
	ism_rbuf_init(&rb, msg, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hdr), 0);
	if (hdr.status)
		return -(int)hdr.status;
	assert_int_equal(ism_proto_get_batch_rep(&rb, &br), 0);
	return (int)br.status[0];
}

static void test_claims(void **state)
{
	static const char *const args[] = { "--recovery-window", "30000",
					    NULL };
	struct ism_private D;
	struct ism_conn *a, *b, *admin;
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *ra, *rb, *rrev;
	struct stolen sa, sb, srev;
	uint8_t forged[ISM_PROOF_SIZE];
	bool resumed;
	int fa, fb, fnew;

	(void)state;
	assert_int_equal(t_daemon_start(&D, args), 0);
	a = t_connect(&D, "a", 0);
	b = t_connect(&D, "b", 0);
	admin = t_connect(&D, "admin", 0);
	assert_int_equal(ism_region_alloc(a, 8192, &o, &ra), 0);
	assert_int_equal(ism_region_alloc(b, 8192, &o, &rb), 0);
	assert_int_equal(ism_region_alloc(a, 8192, &o, &rrev), 0);
	steal(a, ra, &sa);
	steal(b, rb, &sb);
	steal(a, rrev, &srev);

	/* Same epoch: REGISTER is refused outright, even for the owner. */
	fa = raw_resume(D.sock, sa.peer_id, sa.resume, &resumed);
	assert_false(resumed); /* and it could not take a's live id */
	assert_int_equal(raw_register(fa, &sa, sa.proof, sa.fd, sa.region),
			 -EPERM);
	close(fa);

	/* An administrator revokes one of a's regions, then ismd dies. */
	assert_true(ism_admin_destroy(admin, srev.region) >= 0);
	t_daemon_kill9(&D);
	assert_int_equal(t_daemon_restart(&D), 0);

	/* A forged resume proof does not resume. */
	memcpy(forged, sa.resume, sizeof(forged));
	forged[0] ^= 1;
	fa = raw_resume(D.sock, sa.peer_id, forged, &resumed);
	assert_false(resumed);
	assert_int_equal(raw_register(fa, &sa, sa.proof, sa.fd, sa.region),
			 -EPERM);
	close(fa);

	/* b resumes (legitimately) and tries to claim a's region. */
	fb = raw_resume(D.sock, sb.peer_id, sb.resume, &resumed);
	assert_true(resumed);
	assert_int_equal(raw_register(fb, &sa, sa.proof, sa.fd, sa.region),
			 EACCES);
	/* ... with a's proof under b's own region id ... */
	assert_int_equal(raw_register(fb, &sa, sa.proof, sa.fd, sb.region),
			 EACCES);
	/* ... and b's own works. */
	assert_int_equal(raw_register(fb, &sb, sb.proof, sb.fd, sb.region), 0);

	/* a resumes; a forged proof and a substituted memfd fail. */
	fa = raw_resume(D.sock, sa.peer_id, sa.resume, &resumed);
	assert_true(resumed);
	assert_int_equal(raw_register(fa, &sa, forged, sa.fd, sa.region),
			 EACCES);
	fnew = memfd_create("impostor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(fnew, (off_t)sa.size), 0);
	assert_int_equal(fcntl(fnew, F_ADD_SEALS,
			       F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 0);
	/* Mode 0777, as every memfd is born: refused outright. */
	assert_int_equal(raw_register(fa, &sa, sa.proof, fnew, sa.region),
			 EPERM);
	assert_int_equal(fchmod(fnew, 0600), 0);
	/* Same size, seals and mode, but not the same file. */
	assert_int_equal(raw_register(fa, &sa, sa.proof, fnew, sa.region),
			 EACCES);
	/* Not a memfd at all. */
	assert_int_equal(raw_register(fa, &sa, sa.proof, 0, sa.region), EBADF);
	/* A region id of this epoch. */
	assert_int_equal(raw_register(fa, &sa, sa.proof, sa.fd,
				      sa.region + (1ull << 32)),
			 EINVAL);
	/* The revoked region stays revoked. */
	assert_int_equal(
		raw_register(fa, &srev, srev.proof, srev.fd, srev.region),
		EACCES);
	/* The genuine claim succeeds, once. */
	assert_int_equal(raw_register(fa, &sa, sa.proof, sa.fd, sa.region), 0);
	assert_int_equal(raw_register(fa, &sa, sa.proof, sa.fd, sa.region),
			 EEXIST);
	close(fnew);
	close(fa);
	close(fb);
	close(sa.fd);
	close(sb.fd);
	close(srev.fd);
	ism_region_close(ra);
	ism_region_close(rb);
	ism_region_close(rrev);
	ism_conn_close(a);
	ism_conn_close(b);
	ism_conn_close(admin);
	assert_true(t_daemon_alive(&D));
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claims),
	};

	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
