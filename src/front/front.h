/* The transport seam: what a handler sees of an HTTP request and how it answers, whatever
 * server carried it. A transport (transport_http.c over src/http/server.c) makes a front_req
 * for each request it reads whole, hands it to its handler callback, and carries out the
 * answer the handler gives through the front_reply* calls below. A handler that opts in
 * (front_stream_cb) gets its request as soon as the headers are in and reads the body
 * piece by piece (front_req_read_body). Bytes travel in libevent evbuffers; header lists
 * are libevent evkeyvalq lists (evhttp_add_header and evhttp_find_header work on them), so
 * any engine built on libevent fills them as is. */
#ifndef LAMBDAD_FRONT_FRONT_H
#define LAMBDAD_FRONT_FRONT_H

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum front_method {
	FRONT_OTHER = 0, /* any method the front does not serve (TRACE, CONNECT, ...) */
	FRONT_GET,
	FRONT_HEAD,
	FRONT_POST,
	FRONT_PUT,
	FRONT_DELETE,
	FRONT_PATCH,
	FRONT_OPTIONS,
};

/* One request and its answer. It lives from the transport's handler call until the handler
 * answers it (front_reply, or front_reply_end after front_reply_start): a handler may answer
 * later, from another callback (an invocation's end). Every request is answered exactly
 * once; the call that answers frees it. */
struct front_req;

/* ---- Reading a request. Everything returned is borrowed from rq. ---- */

enum front_method front_req_method(const struct front_req *rq);
/* The method as sent ("GET", ...). */
const char *front_req_method_name(const struct front_req *rq);
/* The request target as sent: origin form "/path?query" or absolute form "http://h/p". */
const char *front_req_uri(const struct front_req *rq);
/* The target's path, not decoded ("/" at least); NULL when the target has none. */
const char *front_req_path(const struct front_req *rq);
/* The raw query string after '?', or NULL when there is none. */
const char *front_req_query_string(const struct front_req *rq);
/* Whether the query string parsed (a malformed one has no parameters). */
bool front_req_query_ok(const struct front_req *rq);
/* The first decoded query parameter named name (case-sensitive), or NULL. */
const char *front_req_query(const struct front_req *rq, const char *name);
/* The first request header named name (case-insensitive), or NULL. */
const char *front_req_header(const struct front_req *rq, const char *name);
/* Every request header, in order, repeated ones repeated. */
const struct evkeyvalq *front_req_headers(const struct front_req *rq);
/* The whole body; a handler may drain it (it then is empty for later readers). Empty for a
 * streamed request (front_req_streamed): its body comes through front_req_read_body. */
struct evbuffer *front_req_body(struct front_req *rq);
/* The client's address (text) or NULL when unknown, and its port (0: unknown). */
const char *front_req_peer(const struct front_req *rq);
void front_req_http_version(const struct front_req *rq, int *major, int *minor);
/* When the request was read whole (a streamed one: its headers), ms since the epoch. */
int64_t front_req_time_ms(const struct front_req *rq);

/* ---- Answering. Headers are set before the status goes out. ---- */

/* Adds a header to the answer (repeats allowed); name and value are copied. */
void front_reply_header(struct front_req *rq, const char *name, const char *value);
/* Sets a header, replacing every one of that name already added. */
void front_reply_header_set(struct front_req *rq, const char *name, const char *value);
/* The first answer header named name added so far, or NULL. */
const char *front_reply_header_get(const struct front_req *rq, const char *name);
/* Answers status with body (borrowed and drained; NULL: empty) and frees rq. The transport
 * adds Content-Length and Date; "Connection: close" among the headers closes the connection
 * after the answer. */
void front_reply(struct front_req *rq, int status, struct evbuffer *body);
/* Chunked answer (RESPONSE_STREAM): start sends the status and headers, chunk sends len
 * bytes (len 0 sends nothing), end finishes the answer and frees rq. */
void front_reply_start(struct front_req *rq, int status);
void front_reply_chunk(struct front_req *rq, const void *data, size_t len);
void front_reply_end(struct front_req *rq);

/* Back-pressure for a chunked answer: the bytes of it queued for the client and not yet
 * written (0 when none, or the client is gone). */
size_t front_reply_pending(const struct front_req *rq);
/* Calls cb(rq, arg) once, when the bytes queued for the client fall to low_water or below
 * (on a later loop pass when they are already): a handler relaying a large stream stops
 * its source past a high watermark and resumes it here, so what waits for a slow client
 * stays bounded. Never called once the client went away (the close callback tells that)
 * or rq is answered; NULL cb cancels; the last call wins. */
typedef void (*front_drain_cb)(struct front_req *rq, void *arg);
void front_reply_on_drain(struct front_req *rq, size_t low_water, front_drain_cb cb, void *arg);

/* Called once when the client goes away before the answer is complete. rq stays valid (the
 * handler still answers it, and the answer is dropped): cb only lets work be cut short. */
typedef void (*front_close_cb)(struct front_req *rq, void *arg);
/* Registers cb (NULL: none) for rq; the last call wins. */
void front_req_on_close(struct front_req *rq, front_close_cb cb, void *arg);
/* Whether the client went away (what is answered now is dropped). */
bool front_req_gone(const struct front_req *rq);

/* ---- Streamed bodies (opt-in: front_stream_cb) ---- */

/* Why a streamed body ended early. After it the client has no answer to hear (what the
 * handler answers is dropped): the transport has answered what it could itself. */
enum front_body_abort {
	FRONT_BODY_GONE,      /* the client went away before the body's end */
	FRONT_BODY_MALFORMED, /* the body's framing was broken: 400 went out, connection closed */
	FRONT_BODY_TOO_LARGE, /* the body passed the limit: 413 went out, connection closed */
};

/* A streamed body's consumer; arg is front_req_read_body's. Each may answer rq (then no
 * callback follows and the rest of the body is read and dropped). */
struct front_body_ops {
	/* len (> 0) bytes of body, borrowed for the call. */
	void (*data)(struct front_req *rq, const void *data, size_t len, void *arg);
	/* The whole body is in; trailers (borrowed for the call) are those of a chunked body
	 * (empty otherwise). The handler answers rq now or later. */
	void (*end)(struct front_req *rq, const struct evkeyvalq *trailers, void *arg);
	/* The body ended early (why); nothing more comes for it, and no close callback: the
	 * handler still answers rq (the answer is dropped). */
	void (*abort)(struct front_req *rq, enum front_body_abort why, void *arg);
};

/* A request whose body the transport refused unread for passing its limit: returns the
 * limit (bytes, > 0), and the handler answers 413 in its service's error shape (the
 * connection closes after it); rq has no body and is not streamed. 0 for any other. */
uint64_t front_req_refused(const struct front_req *rq);

/* Whether rq was handed over before its body (its handler opted in to streaming). */
bool front_req_streamed(const struct front_req *rq);
/* A streamed request: takes its body through ops (borrowed; outlives the body) with arg,
 * at most limit bytes (0: its route's limit, front_stream_cb's body_max, which also caps
 * it; a body passing it is answered 413 by the transport, through the handler callback as
 * a refused request, front_req_refused), and answers Expect: 100-continue. A handler that
 * answers rq without calling this refuses the body (with Expect: 100-continue pending,
 * the connection closes after the answer). Callbacks come from the loop, after this call
 * returns. Called at most once. Returns 0; -EFBIG when the declared Content-Length passes
 * the limit (413 went out, the connection closes, no callback follows; the handler still
 * answers rq, dropped); -ECONNRESET when the client is gone (no callback follows);
 * -EINVAL when rq is not streamed or its body is already taken. */
int front_req_read_body(struct front_req *rq, uint64_t limit, const struct front_body_ops *ops, void *arg);

/* ---- The transport's side ---- */

/* What a transport does with an answer. impl is the transport's own request object, given
 * to front_req_new. Headers are borrowed for the call. After send or end the front forgets
 * impl; none is called after front_req_closed. */
struct front_transport {
	void (*send)(void *impl, int status, const struct evkeyvalq *headers, struct evbuffer *body);
	void (*start)(void *impl, int status, const struct evkeyvalq *headers);
	void (*chunk)(void *impl, struct evbuffer *data);
	void (*end)(void *impl);
	/* Asks the transport to report (on) or stop reporting (off) the client's going away
	 * through front_req_closed; the front asks for it while a close callback is set or a
	 * chunked answer is under way. */
	void (*watch_close)(void *impl, struct front_req *rq, bool on);
	/* Streamed requests: starts reading the body, at most limit bytes (0: the route's
	 * limit); front_req_read_body's return values. */
	int (*read_body)(void *impl, uint64_t limit);
	/* Optional (back-pressure): the bytes of the answer queued and not yet written, and
	 * asking (on) for front_req_drained once they fall to low_water or below, or no more
	 * (off). NULL: nothing is ever queued, and no drained call comes. */
	size_t (*pending)(void *impl);
	void (*on_drain)(void *impl, size_t low_water, bool on);
};

/* What the transport read; all borrowed and valid until the answer is sent (or the
 * client went away and front_req_closed was called). */
struct front_req_info {
	const char *method_name;
	const char *uri;
	const struct evkeyvalq *headers;
	struct evbuffer *body;
	const char *peer; /* NULL: unknown */
	uint16_t peer_port;
	int http_major, http_minor;
	bool streamed; /* the body is not read yet: it comes through front_req_body_* */
	/* > 0: the body passed this limit (bytes) and was refused unread (front_req_refused) */
	uint64_t refused_max;
};

/* A request for the handler; owned by the front until it is answered. t must outlive it. */
struct front_req *front_req_new(const struct front_transport *t, void *impl, const struct front_req_info *in);
/* The transport: the client went away; impl is no longer used. Calls the close callback. */
void front_req_closed(struct front_req *rq);

/* Frees rq, made by front_req_new and never handed to a handler (a probe). */
void front_req_discard(struct front_req *rq);
/* The transport, for a streamed body being read: len bytes (borrowed), its end with its
 * trailers (borrowed, may be NULL), or its early end (after which impl is no longer used,
 * and the answer is dropped). Each may answer (and free) rq. */
void front_req_body_data(struct front_req *rq, const void *data, size_t len);
void front_req_body_end(struct front_req *rq, const struct evkeyvalq *trailers);
void front_req_body_abort(struct front_req *rq, enum front_body_abort why);
/* The transport, after on_drain(on): the bytes queued fell to the low watermark. */
void front_req_drained(struct front_req *rq);

/* What a transport calls for each request (the front's dispatch). */
typedef void (*front_handler_cb)(struct front_req *rq, void *arg);
/* Optional, asked of each request once its headers are in (rq is a probe: borrowed for the
 * call, its body not there, never answered): whether its handler wants the body streamed,
 * and in *body_max (set to 0 before the call) the bytes of body its route takes (0: the
 * transport's limit). A streamed request goes to the handler at once; one read whole once
 * it is in, never past the transport's limit (a larger body_max counts for streamed bodies
 * only). A declared Content-Length over the limit is refused before the body is read. */
typedef bool (*front_stream_cb)(struct front_req *rq, void *arg, uint64_t *body_max);

#endif
