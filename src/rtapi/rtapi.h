/* The Lambda Runtime API served to one execution environment, and its state machine. */
#ifndef LAMBDAD_RTAPI_H
#define LAMBDAD_RTAPI_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>

#define RTAPI_MAX_RESPONSE 6291456u /* 6 MB: Lambda's synchronous response limit */
#define RTAPI_MAX_STREAM 209715200u /* 200 MB: a streamed response (RESPONSE_STREAM) */

/* ---- State machine (pure; unit-tested on its own) ---- */

enum rtapi_state {
	RTAPI_INIT,    /* started, no invocation delivered yet */
	RTAPI_BUSY,    /* an invocation was delivered and awaits its response */
	RTAPI_BETWEEN, /* the last invocation was answered; the next /next may come */
	RTAPI_FAILED,  /* init/error was reported: the environment is finished */
};

struct rtapi_sm {
	enum rtapi_state state;
	bool parked;         /* a /next request is waiting for an event */
	bool streaming;      /* the response of request_id is being streamed (RTAPI_BUSY) */
	char request_id[64]; /* the invocation in flight (RTAPI_BUSY) */
};

/* HTTP statuses the state machine decides; 0 means "park the request". */
void rtapi_sm_init(struct rtapi_sm *sm);
/* A /next arrived: 0 to park it, 400 if one is already parked or the env failed. */
int rtapi_sm_next(struct rtapi_sm *sm);
/* A parked /next was answered with an invocation; returns 0, or -1 when nothing was
 * parked, an invocation is in flight, the environment failed, or request_id is empty
 * or does not fit (64 bytes or more). */
int rtapi_sm_deliver(struct rtapi_sm *sm, const char *request_id);
/* A parked /next went away (connection closed). */
void rtapi_sm_unpark(struct rtapi_sm *sm);
/* /invocation/{id}/response or /error: 202 if id is the invocation in flight, else 403
 * (also while its response is being streamed). */
int rtapi_sm_complete(struct rtapi_sm *sm, const char *request_id);
/* A streamed /invocation/{id}/response began: 202 if id is the invocation in flight and
 * no stream is open, else 403. The invocation stays in flight until rtapi_sm_stream_end. */
int rtapi_sm_stream_begin(struct rtapi_sm *sm, const char *request_id);
/* The stream opened by rtapi_sm_stream_begin ended (whole, with an error, or cut):
 * the invocation is answered. No-op when no stream is open. */
void rtapi_sm_stream_end(struct rtapi_sm *sm);
/* /init/error: 202 before any invocation was delivered, else 403. */
int rtapi_sm_init_error(struct rtapi_sm *sm);

/* ---- The server for one environment ---- */

struct rtapi;

/* What the environment's owner hears. Bodies are borrowed: drain or copy them
 * during the call. error_type is the Lambda-Runtime-Function-Error-Type header
 * or NULL. */
struct rtapi_ops {
	void (*next_cb)(void *arg); /* the runtime is ready for an event */
	void (*response_cb)(void *arg, const char *request_id, struct evbuffer *body);
	void (*error_cb)(void *arg, const char *request_id, const char *error_type, struct evbuffer *body);
	void (*init_error_cb)(void *arg, const char *error_type, struct evbuffer *body);
	/* the runtime sent a response over the limit: the invocation fails */
	void (*too_large_cb)(void *arg, const char *request_id);
	/* Streaming (Lambda-Runtime-Function-Response-Mode: streaming): begin once, when
	 * the request's headers are in (content_type: the runtime's Content-Type, or
	 * "application/octet-stream"), then one chunk_cb per piece of body as it arrives,
	 * then end once. At the end error_type is NULL for a whole stream; otherwise
	 * error_body holds the error document (from the Lambda-Runtime-Function-Error-Type
	 * and -Error-Body trailers, or made up), and truncated tells that the runtime's
	 * connection ended, or the 200 MB limit was passed, before the stream's end. */
	void (*stream_begin_cb)(void *arg, const char *request_id, const char *content_type);
	void (*stream_chunk_cb)(void *arg, const char *request_id, const void *data, size_t len);
	void (*stream_end_cb)(void *arg, const char *request_id, const char *error_type,
	                      struct evbuffer *error_body, bool truncated);
};

/* An event for /next. The payload is drained into the reply. */
struct rtapi_event {
	const char *request_id;
	int64_t deadline_ms; /* epoch ms */
	const char *function_arn;
	const char *trace_id;
	const char *client_context;   /* JSON text or NULL */
	const char *cognito_identity; /* JSON text or NULL */
	struct evbuffer *payload;
};

/* Serves the Runtime API (HTTP/1.1, keep-alive, Content-Length or chunked bodies with
 * trailers) on listen_fd (taken, closed by rtapi_free), or on no listener when listen_fd
 * is -1 (connections then come only through rtapi_serve_fd). Returns 0 and an owned
 * *out, or a negative errno. */
int rtapi_new(struct event_base *base, int listen_fd, const struct rtapi_ops *ops, void *arg,
              struct rtapi **out, struct err *errp);
/* Serves one already-connected stream socket fd (taken: closed when its connection
 * ends or by rtapi_free) as if the listener had accepted it; the listener uses it, and
 * tests and the fuzzer hand the server one end of a socketpair through it. Returns 0,
 * or a negative errno with fd closed (-ESHUTDOWN after rtapi_free). */
int rtapi_serve_fd(struct rtapi *rt, int fd);
/* Back-pressure on the streamed response being read: paused, no stream_chunk_cb comes
 * and the runtime's writes block once the socket's buffers fill (its timeout still runs);
 * resumed, the stream goes on from the next loop pass. Returns 0, or -ENOENT when no
 * stream is open. */
int rtapi_stream_pause(struct rtapi *rt, bool paused);
/* Whether a /next is parked and an event can be delivered now. */
bool rtapi_ready(const struct rtapi *rt);
/* Answers the parked /next with ev. Returns 0, or -EAGAIN if none is parked. */
int rtapi_deliver(struct rtapi *rt, const struct rtapi_event *ev);
/* Stops serving and frees everything; safe to call from inside an ops callback
 * (the HTTP server itself is freed on the next loop turn). NULL is a no-op. */
void rtapi_free(struct rtapi *rt);

#endif
