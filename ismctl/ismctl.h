/* SPDX-License-Identifier: MIT */
/*
 * ismctl - shared state of the CLI: global options, the connection, the
 * exit codes and output helpers.  One file per command group.
 */
#ifndef ISMCTL_H
#define ISMCTL_H

#include <ism.h>
#include <json-c/json.h>
#include <stdbool.h>

/* Stable exit codes (ismctl(1)). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_PROTOCOL = 4,
};

struct ctl {
	const char *socket; /* NULL: discovery */
	bool json;
	struct ism_conn *c;
};

/* Connect (name "ismctl").  Returns EXIT_OK or an exit code after
 * printing the error. */
int ctl_connect(struct ctl *ctl, unsigned flags);
/* Print "ismctl: WHAT: strerror" and map -errno to an exit code. */
int ctl_fail(const char *what, int err);
/* Same, with plain words for what a token attach can fail with. */
int ctl_fail_token(const char *what, int err);
/* Print a usage error and return EXIT_USAGE. */
int ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print @obj as one JSON document (or line) and free it. */
void ctl_json(json_object *obj);
/* Ids print as hex everywhere (they carry the ismd epoch in the top half). */
json_object *ctl_json_id(uint64_t id);
int ctl_parse_id(const char *s, uint64_t *out);
const char *ctl_access_name(uint32_t access);

int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_peers(struct ctl *ctl, int argc, char **argv);
int cmd_regions(struct ctl *ctl, int argc, char **argv);
int cmd_refs(struct ctl *ctl, int argc, char **argv);
int cmd_alloc(struct ctl *ctl, int argc, char **argv);
int cmd_attach(struct ctl *ctl, int argc, char **argv);
int cmd_read(struct ctl *ctl, int argc, char **argv);
int cmd_write(struct ctl *ctl, int argc, char **argv);
int cmd_notify(struct ctl *ctl, int argc, char **argv);
int cmd_destroy(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);
int cmd_streams(struct ctl *ctl, int argc, char **argv);
int cmd_ivshmem(struct ctl *ctl, int argc, char **argv);

#endif
