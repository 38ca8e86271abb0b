/* SPDX-License-Identifier: MIT */
/* acct - see acct.h. */
#include "acct.h"
#include "util/map.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>

static struct {
	struct ism_map by_uid;
	uint64_t cap[ACCT_KINDS], uid_cap[ACCT_KINDS], total[ACCT_KINDS];
	uint32_t n;
	bool ready;
} A;

static const int full_errno[ACCT_KINDS] = {
	[ACCT_PEERS] = EUSERS,
	[ACCT_FDS] = ENFILE,
	[ACCT_HEAP] = ENOMEM,
	[ACCT_MEM] = ENOMEM,
};

void acct_init(const uint64_t caps[ACCT_KINDS], uint32_t share_pct)
{
	if (!A.ready)
		ism_map_init(&A.by_uid);
	A.ready = true;
	share_pct = ISM_MAX(1u, ISM_MIN(share_pct, 100u));
	for (int k = 0; k < ACCT_KINDS; k++) {
		A.cap[k] = caps[k];
		/* Overflow-safe percentage of a 64-bit cap. */
		A.uid_cap[k] = caps[k] / 100 * share_pct +
			       caps[k] % 100 * share_pct / 100;
		if (A.uid_cap[k] == 0)
			A.uid_cap[k] = 1;
	}
}

void acct_fini(void)
{
	size_t pos = 0;
	struct acct *a;

	if (!A.ready)
		return;
	while ((a = ism_map_next(&A.by_uid, &pos, NULL, NULL)))
		free(a);
	ism_map_free(&A.by_uid);
	A.ready = false;
	A.n = 0;
	for (int k = 0; k < ACCT_KINDS; k++)
		A.total[k] = 0;
}

struct acct *acct_get(uint32_t uid, bool exempt)
{
	struct acct *a = ism_map_get(&A.by_uid, uid, 0);

	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return NULL;
		a->uid = uid;
		if (ism_map_put(&A.by_uid, uid, 0, a) < 0) {
			free(a);
			return NULL;
		}
		A.n++;
	}
	a->exempt |= exempt;
	a->refs++;
	return a;
}

struct acct *acct_ref(struct acct *a)
{
	if (a)
		a->refs++;
	return a;
}

/* A log budget refills in well under this (log.c: 20 lines at 5/s). */
#define RL_IDLE_NS (10ull * 1000000000ull)

static bool idle(const struct acct *a, uint64_t now)
{
	if (a->refs)
		return false;
	for (int k = 0; k < ACCT_KINDS; k++)
		if (a->used[k])
			return false;
	return a->rl_stamp == 0 || now - a->rl_stamp >= RL_IDLE_NS;
}

static void maybe_free(struct acct *a)
{
	if (!idle(a, ism_now_ns()))
		return;
	ism_map_del(&A.by_uid, a->uid, 0);
	A.n--;
	free(a);
}

void acct_sweep(uint64_t now)
{
	size_t pos = 0;
	struct acct *a;

	if (!A.ready)
		return;
	/* Deleting moves later entries: restart after each (rare). */
	while ((a = ism_map_next(&A.by_uid, &pos, NULL, NULL))) {
		if (!idle(a, now))
			continue;
		ism_map_del(&A.by_uid, a->uid, 0);
		A.n--;
		free(a);
		pos = 0;
	}
}

void acct_put(struct acct *a)
{
	if (!a)
		return;
	a->refs--;
	maybe_free(a);
}

static bool fits(uint64_t used, uint64_t n, uint64_t cap)
{
	return used <= cap && n <= cap - used;
}

int acct_charge(struct acct *a, enum acct_kind k, uint64_t n)
{
	if (!fits(A.total[k], n, A.cap[k])) {
		if (a)
			a->refused[k]++;
		return -full_errno[k];
	}
	if (a && !a->exempt && !fits(a->used[k], n, A.uid_cap[k])) {
		a->refused[k]++;
		return -EDQUOT;
	}
	acct_force(a, k, n);
	return 0;
}

void acct_force(struct acct *a, enum acct_kind k, uint64_t n)
{
	A.total[k] += n;
	if (a)
		a->used[k] += n;
}

void acct_uncharge(struct acct *a, enum acct_kind k, uint64_t n)
{
	A.total[k] -= ISM_MIN(n, A.total[k]);
	if (a) {
		a->used[k] -= ISM_MIN(n, a->used[k]);
		maybe_free(a);
	}
}

bool acct_over(const struct acct *a, enum acct_kind k)
{
	if (A.total[k] >= A.cap[k])
		return true;
	return a && !a->exempt && a->used[k] >= A.uid_cap[k];
}

bool acct_beyond(const struct acct *a, enum acct_kind k)
{
	if (A.total[k] > A.cap[k])
		return true;
	return a && !a->exempt && a->used[k] > A.uid_cap[k];
}

uint64_t acct_total(enum acct_kind k)
{
	return A.total[k];
}

uint64_t acct_cap(enum acct_kind k)
{
	return A.cap[k];
}

uint64_t acct_uid_cap(const struct acct *a, enum acct_kind k)
{
	return a && a->exempt ? A.cap[k] : A.uid_cap[k];
}

uint32_t acct_count(void)
{
	return A.n;
}

const char *acct_kind_name(enum acct_kind k)
{
	static const char *const names[ACCT_KINDS] = {
		[ACCT_PEERS] = "connections",
		[ACCT_FDS] = "file descriptors",
		[ACCT_HEAP] = "ismd memory",
		[ACCT_MEM] = "shared memory",
	};

	return (unsigned)k < ACCT_KINDS ? names[k] : "?";
}
