/* The table of services on lambdad's one endpoint, in the way tmux lists its cmd_entry's:
 * each service says its name (the SigV4 scope and ARN service), its wire protocol, its
 * X-Amz-Target prefix, its operations (generated ops.def rows bound to handlers), its error
 * table, and a claims hook for Host-based data planes. The front classifies a request to one
 * service and one operation and calls the handler with the URI template's named parameters. */
#ifndef LAMBDAD_FRONT_SVC_H
#define LAMBDAD_FRONT_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "front/front.h"
#include "proto/proto.h"

struct svc_call;

/* An operation's handler: answers c->rq exactly once, now or later (front.h). ctx is the
 * service's, given to front_add. c is valid for the call only; c->rq until answered. */
typedef void (*svc_op_fn)(void *ctx, const struct svc_call *c);

/* One operation: a row of ops.def bound to its handler. */
struct op {
	const char *name;         /* "Invoke" */
	enum front_method method; /* FRONT_OTHER: any method (the handler tells them apart) */
	const char *uri;          /* REST: the requestUri template "/2015-03-31/functions/{FunctionName}"
	                           * ({P} one segment, {P+} the rest, "?K=V" a required query value);
	                           * AWS JSON: NULL (POST /, X-Amz-Target) */
	svc_op_fn handler;        /* NULL: lambdad does not implement it (UnknownOperationException) */
	bool stream_body;         /* the handler gets the request at its headers and reads the body
	                           * through front_req_read_body (S3 uploads); false: read whole */
	uint64_t body_max;        /* bytes of request body the operation takes (5 GiB for an S3
	                           * PutObject); 0: the transport's limit. A body read whole is
	                           * never kept past the transport's limit, whatever this says. A
	                           * body over it is answered err_too_large before it is read */
};

struct svc {
	const char *name;  /* "lambda", "apigateway", "sqs": SigV4 scope and ARN service */
	const char *title; /* "Lambda": the API's name in "lambdad does not support the Lambda
	                    * operation X yet"; NULL: name */
	enum proto proto;
	const char *target_prefix; /* "AmazonSQS." for X-Amz-Target, or NULL */
	const struct op *ops;
	size_t nops;
	const struct svc_error *errors; /* by id (errors.def); [0] is empty */
	size_t nerrors;
	int err_unknown_op;             /* the error answering a request no operation takes */
	const char *unknown_op_msg;     /* its message; NULL: "No operation at <method> <uri>" */
	int err_bad_input;              /* the error answering a malformed query string */
	int err_unavailable;            /* the error answering while lambdad shuts down */
	int err_too_large;              /* the error answering a body over its limit; 0: a text/plain 413 */
	unsigned err_flags;             /* proto_reply_error flags (PROTO_ERR_TYPE_FIELD) */
	const char *const *query_codes; /* by error id: the query protocol's code of each error
	                                 * (query-compatible services: SQS); NULL: the types */
	/* Host-based data planes (function URLs, execute-api, later S3 virtual hosts): whether
	 * the service takes rq whole (then serve answers it), before any other rule. NULL: none. */
	bool (*claims)(void *ctx, const struct front_req *rq);
	void (*serve)(void *ctx, struct front_req *rq);
	bool serve_streams;      /* serve gets claimed requests streamed (front_req_read_body) */
	uint64_t serve_body_max; /* bytes of body a claimed request may carry; 0: the transport's */
	/* A request --auth sigv4 refused (why, with AWS's message msg), answered in the
	 * service's shape: S3's XML, SQS's query or JSON errors. NULL: front_auth_error. */
	void (*auth_error)(struct front_req *rq, const struct svc *s, enum sigv4_status why, const char *msg);
};

/* The JSON services' answer to a refused signature (Lambda's, API Gateway's): 403 with
 * X-Amzn-ErrorType MissingAuthenticationTokenException, IncompleteSignatureException,
 * UnrecognizedClientException or InvalidSignatureException, in s's protocol. */
void front_auth_error(struct front_req *rq, const struct svc *s, enum sigv4_status why, const char *msg);

#define SVC_PARAMS_MAX 8

/* A classified request. */
struct svc_call {
	struct front_req *rq;
	const struct svc *svc;
	const struct op *op;
	/* FRONT_UNKNOWN_OP: the operation of the model the request is for (its template and
	 * method, or its X-Amz-Target, matched) that lambdad does not implement, or NULL. */
	const struct op *missing;
	size_t nparams;
	struct {
		char name[64]; /* the template's {Name} */
		char *value;   /* decoded (owned by the front) */
	} params[SVC_PARAMS_MAX];
};

/* The decoded value of the template parameter name, or NULL. */
const char *svc_param(const struct svc_call *c, const char *name);

/* Answers c's request with the service error id of its own table (message printf-style). */
void svc_reply_error(struct front_req *rq, const struct svc *s, int id, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The services of one endpoint. */
struct front;

/* A front whose requests no service takes are answered by fallback's errors (borrowed,
 * static). */
struct front *front_new(const struct svc *fallback);
void front_free(struct front *f); /* NULL is a no-op */
/* Verification before dispatch (--auth): fn answers rq itself, with s's auth error, or
 * calls done(rq, done_arg) once it passed, now or later (its body hashed on the pool).
 * Every request is verified but those a claims hook takes (function URLs, execute-api:
 * their own authorization decides). */
typedef void (*front_verified_cb)(struct front_req *rq, void *arg);
typedef void (*front_verify_fn)(void *arg, struct front_req *rq, const struct svc *s, front_verified_cb done,
                                void *done_arg);
/* Sets f's verification (fn NULL: none; arg borrowed, outlives f). */
void front_set_verify(struct front *f, front_verify_fn fn, void *arg);
/* Adds service s (borrowed, static) with the ctx its handlers get; order is the order of
 * the claims hooks and of template matching. */
void front_add(struct front *f, const struct svc *s, void *ctx);
/* From now on every request is answered with its service's err_unavailable and
 * "Connection: close" (shutdown). */
void front_set_draining(struct front *f);

/* Classifies rq and calls its handler, or answers the error (front_handler_cb's shape).
 * A refused request (front_req_refused) is answered with its service's err_too_large.
 * Otherwise:
 * 1. a claims hook that takes it; 2. X-Amz-Target: the service with that prefix (AWS JSON),
 * the operation by name; 3. Action= in the query string or a form body: a query service
 * by SigV4 scope (the first added when unsigned), the operation by name; 4. the path against every REST
 * service's templates (the SigV4 scope's service first): the first template that matches with the method. A
 * path that matches no template (or only with other methods) is UnknownOperationException of the service it
 * fits best. */
void front_dispatch(struct front_req *rq, void *front);

/* front_stream_cb's shape: whether rq's handler wants its body streamed (an operation's
 * stream_body, a claiming service's serve_streams), and its limit in *body_max (the
 * operation's body_max, the claiming service's serve_body_max). At once false, with 0,
 * when no service added streams or limits. */
bool front_wants_stream(struct front_req *rq, void *front, uint64_t *body_max);

/* What front_classify decided. */
enum front_class {
	FRONT_CLAIMED,        /* c->svc's claims hook takes the request (its serve answers it) */
	FRONT_OP,             /* c->svc, c->op and c->params: the handler answers it */
	FRONT_UNKNOWN_OP,     /* no operation: c->svc answers err_unknown_op */
	FRONT_MALFORMED_PATH, /* the path holds a NUL or is missing: the fallback answers */
	FRONT_BAD_QUERY,      /* the query string does not parse: the fallback answers */
};

/* Classifies rq as front_dispatch does, without answering it: fills c (c->rq = rq; the
 * caller runs svc_call_fini) and, for FRONT_OP and FRONT_CLAIMED, *ctx with the service's
 * ctx. */
enum front_class front_classify(struct front *f, struct front_req *rq, struct svc_call *c, void **ctx);

/* The service of rq's SigV4 credential scope (Authorization or X-Amz-Credential), into out
 * (size outsz); false when unsigned. */
bool front_sigv4_service(const struct front_req *rq, char *out, size_t outsz);

/* Matches path (raw, not decoded; a trailing '/' ignored) and rq's query against template
 * tmpl, filling c's params. Returns 1 on a match, 0 when it does not match, -1 when the path
 * holds a malformed escape. */
int front_match_template(const char *tmpl, const char *path, const struct front_req *rq, struct svc_call *c);
/* Frees c's parameter values. */
void svc_call_fini(struct svc_call *c);

#endif
