/* The JSON protocols: REST-JSON (Lambda, API Gateway) and AWS JSON 1.0/1.1 (SQS, DynamoDB,
 * Kinesis, ...): bodies, results and the error shape of each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/codec.h"
#include "base/utf8.h"
#include "proto/proto.h"
#include "proto/proto_int.h"

const char *proto_content_type(enum proto p)
{
	switch (p) {
	case PROTO_AWS_JSON_1_0:
		return "application/x-amz-json-1.0";
	case PROTO_AWS_JSON_1_1:
		return "application/x-amz-json-1.1";
	case PROTO_QUERY:
		return "text/xml";
	default:
		return "application/json";
	}
}

void proto_request_id(struct front_req *rq)
{
	if (front_reply_header_get(rq, "x-amzn-RequestId"))
		return;
	char id[37];
	uuid_v4(id);
	front_reply_header(rq, "x-amzn-RequestId", id);
}

static void free_ref_cb(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

void proto_reply(struct front_req *rq, enum proto p, int status, json_t *o)
{
	proto_request_id(rq);
	struct evbuffer *b = NULL;
	if (o) {
		char *txt = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		b = evbuffer_new();
		evbuffer_add_reference(b, txt, strlen(txt), free_ref_cb, NULL);
		front_reply_header(rq, "Content-Type", proto_content_type(p));
	}
	front_reply(rq, status, b);
	if (b)
		evbuffer_free(b);
}

void proto_reply_error(struct front_req *rq, enum proto p, unsigned flags, const struct svc_error *e,
                       json_t *extra, const char *msg)
{
	proto_reply_error_code(rq, p, flags, e, NULL, extra, msg);
}

void proto_reply_error_code(struct front_req *rq, enum proto p, unsigned flags, const struct svc_error *e,
                            const char *query_code, json_t *extra, const char *msg)
{
	char m[1024];
	snprintf(m, sizeof(m), "%s", msg ? msg : "");
	utf8_sanitize(m); /* names from URLs may hold any byte; truncation may cut a character */
	if (p == PROTO_QUERY) {
		json_decref(extra);
		return proto__query_error(rq, e, query_code ? query_code : e->type, m);
	}
	if (query_code) {
		char h[256];
		snprintf(h, sizeof(h), "%s;%s", query_code, e->sender_fault ? "Sender" : "Receiver");
		front_reply_header(rq, "x-amzn-query-error", h);
	}
	json_t *o = json_object();
	if (p == PROTO_AWS_JSON_1_0 || p == PROTO_AWS_JSON_1_1) {
		json_object_set_new(o, "__type", json_string(e->type));
	} else {
		front_reply_header(rq, "X-Amzn-ErrorType", e->type);
		if (flags & PROTO_ERR_TYPE_FIELD)
			json_object_set_new(o, "Type", json_string(e->sender_fault ? "User" : "Service"));
	}
	json_object_set_new(o, flags & PROTO_ERR_MESSAGE_UPPER ? "Message" : "message", json_string(m));
	if (extra)
		json_object_update(o, extra);
	json_decref(extra);
	proto_reply(rq, p, e->status, o);
}

json_t *proto_body_json(struct front_req *rq, char *why, size_t whylen)
{
	return proto_buf_json(front_req_body(rq), why, whylen);
}

json_t *proto_buf_json(struct evbuffer *b, char *why, size_t whylen)
{
	size_t len = b ? evbuffer_get_length(b) : 0;
	json_error_t je;
	json_t *o = len ? json_loadb((const char *)evbuffer_pullup(b, -1), len, 0, &je) : json_object();
	if (!o) {
		snprintf(why, whylen, "%s (line %d, column %d)", je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(why, whylen, "the body must be a JSON object");
		return NULL;
	}
	return o;
}

const char *proto_json_target(const struct front_req *rq, const char *prefix)
{
	const char *t = front_req_header(rq, "X-Amz-Target");
	size_t n = prefix ? strlen(prefix) : 0;
	if (!t || !prefix || strncmp(t, prefix, n) != 0 || !t[n])
		return NULL;
	return t + n;
}

bool proto_content_type_ok(const struct front_req *rq, enum proto p)
{
	if (p != PROTO_AWS_JSON_1_0 && p != PROTO_AWS_JSON_1_1)
		return true;
	const char *ct = front_req_header(rq, "Content-Type");
	const char *want = proto_content_type(p);
	return ct && strncasecmp(ct, want, strlen(want)) == 0;
}
