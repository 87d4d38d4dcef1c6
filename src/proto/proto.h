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
	PROTO_QUERY, /* form-encoded Action=...&Version=... in, XML out; errors as <ErrorResponse> */
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
 * {"__type": <type>, "message": msg} in the protocol's content type. Query: text/xml
 * <ErrorResponse><Error><Type>Sender|Receiver</Type><Code>type</Code><Message>msg
 * </Message><Detail/></Error><RequestId>..</RequestId></ErrorResponse> (extra dropped). */
void proto_reply_error(struct front_req *rq, enum proto p, unsigned flags, const struct svc_error *e,
                       json_t *extra, const char *msg);

/* proto_reply_error for a query-compatible service (SQS): query_code (borrowed; NULL: e's
 * type) is the query protocol's <Code>, and AWS JSON adds the header
 * x-amzn-query-error: <query_code>;Sender|Receiver that botocore reports as the code. */
void proto_reply_error_code(struct front_req *rq, enum proto p, unsigned flags, const struct svc_error *e,
                            const char *query_code, json_t *extra, const char *msg);

/* Parses rq's body as a JSON object (an empty body is {}). Returns it (owned), or NULL with
 * why (whylen bytes) saying what is wrong: not JSON (with line and column), or not an
 * object. */
json_t *proto_body_json(struct front_req *rq, char *why, size_t whylen);
/* The same for the bytes of b (borrowed; NULL is an empty body), for a body taken off
 * the request (a pool thread's). */
struct evbuffer;
json_t *proto_buf_json(struct evbuffer *b, char *why, size_t whylen);

/* AWS JSON: the operation X-Amz-Target names, "<prefix><Operation>" (prefix e.g.
 * "AmazonSQS."), borrowed from rq; NULL when the header is missing, has another prefix or
 * names nothing. */
const char *proto_json_target(const struct front_req *rq, const char *prefix);

/* Whether rq's Content-Type is p's (AWS JSON: application/x-amz-json-1.x; REST-JSON:
 * anything). */
bool proto_content_type_ok(const struct front_req *rq, enum proto p);

/* ---- The query protocol (query.c) ----
 *
 * Its parameters are flat ("Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40"); a
 * service describes which of its names are flattened lists and maps, and gets them as the
 * JSON its AWS JSON input would be ({"Attributes": {"VisibilityTimeout": "40"}}), so one
 * handler serves both protocols. Every scalar stays a string. Results go the other way:
 * the JSON result becomes the <Action>Result element. */

enum proto_qkind {
	PROTO_Q_LIST, /* wire.N = value (or wire.N.<member> for a list of structures) */
	PROTO_Q_MAP,  /* wire.N.<key> = name, wire.N.<value> = value (or wire.N.<value>.<member>) */
};

/* One flattened member; a table of them ends with a row whose member is NULL. */
struct proto_qshape {
	const char *member; /* the JSON member: "Attributes" */
	const char *wire;   /* its flattened name: "Attribute" */
	enum proto_qkind kind;
	const char *key, *value;        /* PROTO_Q_MAP: "Name" and "Value" (or "Key", "Value") */
	const struct proto_qshape *sub; /* the flattened members inside each element, or NULL */
};

/* Parses form text (len bytes: "K=V&K2=V2", "+" and %XX decoded) into *out, an object
 * shaped by shapes (borrowed): returns 0 and an owned *out, or -EINVAL with why (whylen
 * bytes) naming the parameter at fault (a malformed escape, a NUL byte, an index that is
 * not a number from 1, a name that is both a value and a prefix). A repeated name keeps
 * its last value. */
int proto_query_parse(const char *form, size_t len, const struct proto_qshape *shapes, json_t **out,
                      char *why, size_t whylen);
/* The parameters of rq, from its query string and its form body (a POST's), as
 * proto_query_parse gives them (the body's win). */
int proto_query_input(struct front_req *rq, const struct proto_qshape *shapes, json_t **out, char *why,
                      size_t whylen);
/* The Action of a query-protocol request (its query string's, else its form body's) into
 * out (outsz bytes); false when it has none. The body is only read (not drained). */
bool proto_query_action(struct front_req *rq, char *out, size_t outsz);
/* Appends the XML of the members of o (borrowed) to b, shaped by shapes (NULL: none
 * flattened): a string as escaped text, a boolean as true/false, a number in decimal, an
 * object as nested elements, a flattened list as repeated <wire> elements, a flattened map
 * as repeated <wire><key>k</key><value>v</value></wire>. */
void proto_query_xml(struct evbuffer *b, json_t *o, const struct proto_qshape *shapes);
/* Answers rq 200 with <ActionResponse xmlns="xmlns"><ActionResult>result's XML
 * </ActionResult><ResponseMetadata><RequestId>..</RequestId></ResponseMetadata>
 * </ActionResponse> (no Result element when result is NULL; stolen). */
void proto_query_reply(struct front_req *rq, const char *xmlns, const char *action, json_t *result,
                       const struct proto_qshape *shapes);

#endif
