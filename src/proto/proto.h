/* The wire protocols AWS services speak, as codecs on the transport seam (front/front.h):
 * how a request's JSON input is read, and how a result or a service error goes out in the
 * protocol's shape. REST-JSON and AWS JSON 1.0/1.1 now; query (XML) and REST-XML join on
 * the same calls when their first services arrive. */
#ifndef LAMBDAD_PROTO_PROTO_H
#define LAMBDAD_PROTO_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "front/front.h"

enum proto {
	PROTO_NONE = 0,
	PROTO_REST_JSON,    /* operation by method and URI template; errors in X-Amzn-ErrorType */
	PROTO_AWS_JSON_1_0, /* POST /, operation in X-Amz-Target; errors as {"__type", "message"} */
	PROTO_AWS_JSON_1_1,
};

/* One error of a service's API, a row of its errors.def. */
struct svc_error {
	const char *type;  /* the AWS error code, e.g. "ResourceNotFoundException" */
	int status;        /* HTTP status */
	bool sender_fault; /* the client's fault (4xx), or the service's (5xx) */
};

/* Flags of proto_reply_error. */
#define PROTO_ERR_TYPE_FIELD 1u    /* REST-JSON bodies start with "Type": "User" | "Service" (Lambda's) */
#define PROTO_ERR_MESSAGE_UPPER 2u /* the message member is "Message" (function URLs') */

/* The Content-Type of p's bodies: "application/json", "application/x-amz-json-1.0", ... */
const char *proto_content_type(enum proto p);

/* Adds a fresh x-amzn-RequestId (a UUID) to rq's answer unless the handler set one. */
void proto_request_id(struct front_req *rq);

/* Answers rq with status and o (stolen; NULL sends no body) in p's content type, with an
 * x-amzn-RequestId. rq is answered (and freed) on return. */
void proto_reply(struct front_req *rq, enum proto p, int status, json_t *o);

/* Answers rq with the service error e (borrowed) in p's error shape, with e's status and
 * an x-amzn-RequestId. msg (borrowed; bytes that are not UTF-8 are replaced) is the
 * message; extra (stolen, may be NULL) adds members to the body.
 * REST-JSON: X-Amzn-ErrorType: <type>, body {"message": msg} (with PROTO_ERR_TYPE_FIELD,
 * {"Type": "User"|"Service", "message": msg}). AWS JSON 1.0/1.1: body
 * {"__type": <type>, "message": msg} in the protocol's content type. */
void proto_reply_error(struct front_req *rq, enum proto p, unsigned flags, const struct svc_error *e,
                       json_t *extra, const char *msg);

/* Parses rq's body as a JSON object (an empty body is {}). Returns it (owned), or NULL with
 * why (whylen bytes) saying what is wrong: not JSON (with line and column), or not an
 * object. */
json_t *proto_body_json(struct front_req *rq, char *why, size_t whylen);

/* AWS JSON: the operation X-Amz-Target names, "<prefix><Operation>" (prefix e.g.
 * "AmazonSQS."), borrowed from rq; NULL when the header is missing, has another prefix or
 * names nothing. */
const char *proto_json_target(const struct front_req *rq, const char *prefix);

/* Whether rq's Content-Type is p's (AWS JSON: application/x-amz-json-1.x; REST-JSON:
 * anything). */
bool proto_content_type_ok(const struct front_req *rq, enum proto p);

#endif
