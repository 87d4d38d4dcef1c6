/* Who is calling: the access keys lambdad knows (a table in the store: access key id ->
 * secret and principal ARN), the root key made on first start, and the front's check of
 * every request in --auth sigv4 mode (SigV4, signing keys cached per key, day, region and
 * service; large bodies hashed on the worker pool, so the loop never waits on them). */
#ifndef LAMBDAD_AUTH_AUTH_H
#define LAMBDAD_AUTH_AUTH_H

#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "front/svc.h"
#include "loop/pool.h"
#include "store/store.h"

enum auth_mode {
	AUTH_NONE,  /* every request is served unsigned (loopback only, or --i-know) */
	AUTH_SIGV4, /* every request of the front is verified before its handler runs */
};

struct auth_config {
	enum auth_mode mode;
	bool test_credentials; /* accept the access key "test" with the secret "test" */
	const char *account;   /* the 12-digit account of the root principal */
	int64_t skew_s;        /* the clock-skew window either side (0: 15 minutes) */
};

struct auth;

/* Loads the access keys of st (borrowed; outlives the auth) and, when there is none,
 * makes the root key: stored, written to DATA/credentials (mode 0600, the AWS shared
 * credentials format, profile "lambdad") and printed once on stdout. pool (borrowed)
 * hashes large bodies. Returns 0 and an owned *out, or a negative errno with a message. */
int auth_new(struct store *st, struct pool *pool, const struct auth_config *cfg, struct auth **out,
             struct err *errp);
void auth_free(struct auth *au); /* NULL is a no-op */

/* The root access key id and its secret (borrowed, valid until auth_free). */
const char *auth_root_key_id(const struct auth *au);
const char *auth_root_secret(const struct auth *au);
/* The file holding the root key (borrowed). */
const char *auth_root_file(const struct auth *au);

/* The front's verification hook (front_verify_fn's shape; arg is the auth): in sigv4 mode
 * checks rq's signature and answers it with s's auth error, or calls done. In none mode
 * calls done at once. */
void auth_front_verify(void *arg, struct front_req *rq, const struct svc *s, front_verified_cb done,
                       void *done_arg);

/* The secret of access key akid and its principal ARN (both borrowed), or NULL. */
const char *auth_lookup(const struct auth *au, const char *akid, const char **arn);

/* Requests refused so far, by enum sigv4_status (index 0: accepted). */
uint64_t auth_count(const struct auth *au, enum sigv4_status st);

#endif
