/* The Lambda proxy integration that function URLs and HTTP APIs share: the event made
 * from an HTTP request (payload formats 1.0 and 2.0, as API Gateway and Lambda build
 * them) and the HTTP response made from the function's answer. */
#ifndef LAMBDAD_INTEG_PROXY_H
#define LAMBDAD_INTEG_PROXY_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "front/front.h"

/* What the front knows about a request beyond the request itself. */
struct proxy_ctx {
	int version;               /* 1: payload format 1.0; 2: 2.0 (function URLs: 2.0) */
	const char *route_key;     /* "$default", "GET /items/{id}", ... */
	const char *raw_path;      /* the path the function sees (front's prefix removed), as sent */
	json_t *path_params;       /* borrowed object, or NULL: none */
	const char *stage;         /* "$default" */
	const char *api_id;        /* the url-id or api-id */
	const char *domain_name;   /* e.g. abc.lambda-url.us-east-1.localhost or the Host sent */
	const char *domain_prefix; /* e.g. abc */
	const char *account;
	const char *resource;   /* 1.0 "resource": the route's path, e.g. /items/{id} */
	const char *request_id; /* requestContext.requestId */
	json_t *stage_vars;     /* borrowed object, or NULL: none; "stageVariables" (HTTP APIs) */
};

/* Builds the event for req into out (JSON text). A body over max_body bytes fails with
 * E2BIG (the front answers 413); a binary body (not valid UTF-8, or a Content-Type that
 * is not text) is base64 with isBase64Encoded true. Returns 0 or a negative errno.
 * Text Content-Types: text/x, application/json, application/javascript,
 * application/xml and the +json / +xml suffixes; a request without one is text when it
 * is valid UTF-8. Header names are lower-cased; x-forwarded-for (the peer appended),
 * x-forwarded-proto and x-forwarded-port are added as API Gateway and Lambda add them.
 * Payload 2.0: repeated headers and query parameters joined with commas, the Cookie
 * headers split into "cookies" (and left out of "headers"), fields without a value
 * left out. Payload 1.0: headers/queryStringParameters keep the last value,
 * multiValueHeaders/multiValueQueryStringParameters all of them, null when none. */
int proxy_event(struct front_req *req, const struct proxy_ctx *ctx, size_t max_body, struct evbuffer *out,
                struct err *errp);

/* The request as proxy_event reads it, for callers (and tests) without a front_req.
 * All borrowed. */
struct proxy_request {
	const char *method;              /* "GET", ... */
	const char *query;               /* the raw query string after '?', or NULL: none */
	const struct evkeyvalq *headers; /* as received, repeated headers repeated */
	const void *body;
	size_t body_len;
	const char *source_ip;
	int http_major, http_minor;
	uint16_t port;   /* the port the client connected to (x-forwarded-port) */
	int64_t time_ms; /* when it arrived, ms since the epoch */
};
/* proxy_event on an already-dissected request; same rules and results. */
int proxy_event_build(const struct proxy_request *rq, const struct proxy_ctx *ctx, size_t max_body,
                      struct evbuffer *out, struct err *errp);

/* An HTTP response made from a function's answer. */
struct proxy_response {
	int status;
	struct evkeyvalq headers; /* in order; Set-Cookie once per cookie */
	struct evbuffer *body;    /* owned */
};
/* Parses a function's answer (len bytes of JSON) by version's rules into out, which
 * it initialises; release it with proxy_response_fini, also after a failure. Returns 0,
 * or -EBADMSG with a message naming what is malformed (the front answers 502): not
 * JSON, statusCode outside 100-599 or not an integer, headers not an object of
 * scalars, body not a string, isBase64Encoded with a body that is not base64, cookies
 * not strings. Header names that are not HTTP tokens, values with a CR or LF, and
 * hop-by-hop headers (Connection, Content-Length, Transfer-Encoding, ...) are dropped. */
int proxy_parse_reply(int version, const char *answer, size_t len, struct proxy_response *out,
                      struct err *errp);
void proxy_response_fini(struct proxy_response *r);

/* Answers req from the function's result body (version's rules: for 2.0 a JSON value
 * without statusCode is a 200 application/json body, the JSON text as the function
 * returned it; statusCode, headers, cookies, body, isBase64Encoded otherwise; 1.0:
 * statusCode, headers, multiValueHeaders, body, isBase64Encoded). function_error: the
 * function failed (502 with {"message":"Internal Server Error"}); a malformed answer
 * is 502 too. A structured answer without a Content-Type gets application/json.
 * extra (NULL: none) are headers added to every answer (CORS); they replace the
 * function's headers of the same names. strip_cors: the function's own
 * Access-Control-* headers are dropped first (HTTP APIs with a CORS configuration, as
 * API Gateway ignores them). body is drained. */
void proxy_reply(struct front_req *req, int version, bool function_error, struct evbuffer *body,
                 const struct evkeyvalq *extra, bool strip_cors);

/* The integration's own answers, when no answer of the function's is the reply: one
 * table of status and {"message": ...} body, shared by function URLs, HTTP APIs
 * (execute-api) and the streaming data plane. */
enum proxy_error {
	PROXY_ERR_BAD_REQUEST, /* 400 {"message":"Bad Request"}: no event can be made */
	PROXY_ERR_NOT_FOUND,   /* 404 {"message":"Not Found"}: no API, stage, route or function */
	PROXY_ERR_TOO_LARGE,   /* 413 {"message":"Request Entity Too Large"} */
	PROXY_ERR_THROTTLED,   /* 429 {"message":"Too Many Requests"} */
	PROXY_ERR_INTERNAL,    /* 500 {"message":"Internal Server Error"}: lambdad could not invoke */
	PROXY_ERR_BAD_GATEWAY, /* 502 {"message":"Internal Server Error"}: the function failed,
	                        * its answer is not one, or (streaming) it could not be invoked */
	PROXY_ERR_TIMEOUT,     /* 503 {"message":"Service Unavailable"}: the integration timed out */
};

/* Answers req with e: Content-Type application/json, then the headers of extra (NULL:
 * none; added, as the caller's CORS headers), then e's status and body. */
void proxy_error_reply(struct front_req *req, enum proxy_error e, const struct evkeyvalq *extra);

#endif
