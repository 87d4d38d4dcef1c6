/* HTTP API route keys ("GET /items/{id}", "ANY /{proxy+}", "$default") and the route
 * matcher: pure functions, no I/O, as API Gateway chooses a route for a request. */
#ifndef LAMBDAD_APIGW_ROUTE_H
#define LAMBDAD_APIGW_ROUTE_H

#include <jansson.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>

#define APIGW_ROUTE_KEY_MAX 512 /* bytes of a route key */
#define APIGW_ROUTE_SEGS_MAX 64

enum apigw_seg_kind {
	APIGW_SEG_LITERAL = 0, /* matches the same text */
	APIGW_SEG_PARAM = 1,   /* {name}: one non-empty segment */
	APIGW_SEG_GREEDY = 2,  /* {name+}: the rest of the path, at least one character; last only */
};

struct apigw_seg {
	enum apigw_seg_kind kind;
	char *text; /* the literal, or the parameter's name (owned) */
};

/* A parsed route key. */
struct apigw_rkey {
	bool is_default;        /* "$default": any request no other route takes */
	char method[8];         /* "GET", ..., or "ANY"; "" for $default */
	struct apigw_seg *segs; /* owned; nsegs of them ("/" has none) */
	int nsegs;
};

/* Parses key into out (fini it after). Methods: GET POST PUT PATCH DELETE HEAD OPTIONS
 * ANY; the path starts with '/', has no empty segment, and a greedy variable only as its
 * last segment; variable names are [A-Za-z0-9._-]+. Returns 0, or -EINVAL with a
 * message (out is then empty). */
int apigw_rkey_parse(const char *key, struct apigw_rkey *out, struct err *errp);
void apigw_rkey_fini(struct apigw_rkey *k);

/* Chooses among keys[0..n) the route API Gateway takes for method and path (the path
 * as sent: percent-encoded, without the query; literal segments compare with the
 * decoded segment). Most specific first: segment by segment, a literal beats a
 * variable, which beats a greedy variable; for the same path a route with the method
 * beats ANY; $default comes last. Returns the index, or -1 when none matches. When
 * params is not NULL it gets the path parameters (owned object of decoded strings;
 * NULL when the chosen route has none or nothing matches). */
int apigw_route_match(const struct apigw_rkey *keys, size_t n, const char *method, const char *path,
                      json_t **params);

#endif
