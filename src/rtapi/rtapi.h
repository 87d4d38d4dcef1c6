/* The Lambda Runtime API served to one execution environment, and its state machine. */
#ifndef LAMBDAD_RTAPI_H
#define LAMBDAD_RTAPI_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
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

#define RTAPI_EXT_MAX 10 /* external extensions per environment, as Lambda's limit */

/* What an extension registered for (a bit set). */
enum rtapi_ext_events {
	RTAPI_EXT_INVOKE = 1,
	RTAPI_EXT_SHUTDOWN = 2,
};

/* One registered extension (Extensions API 2020-01-01). */
struct rtapi_ext {
	char id[40];     /* Lambda-Extension-Identifier */
	char name[64];   /* Lambda-Extension-Name, its file name */
	unsigned events; /* enum rtapi_ext_events */
	bool parked;     /* its event/next waits for an event */
	bool busy;       /* it was given an event and has not asked for the next one yet */
	bool failed;     /* it reported init/error or exit/error */
	bool owed;       /* SHUTDOWN is due to it and was not sent yet */
	bool gone;       /* its process ended: nothing is waited for from it any more */
};

struct rtapi_sm {
	enum rtapi_state state;
	bool parked;         /* a /next request is waiting for an event */
	bool streaming;      /* the response of request_id is being streamed (RTAPI_BUSY) */
	char request_id[64]; /* the invocation in flight (RTAPI_BUSY) */
	/* Extensions: how many executables were started (init waits for each to register
	 * and ask for its first event), and those that registered, in order. */
	unsigned ext_expected;
	unsigned n_ext;
	struct rtapi_ext ext[RTAPI_EXT_MAX];
	bool shutdown; /* SHUTDOWN was sent: no invocation any more */
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

/* ---- Extensions (the pure part) ---- */

/* /extension/register with name and events (RTAPI_EXT_*), the identifier id chosen by
 * the caller: 200, 400 when name is empty or does not fit, 403 after init (an
 * invocation was delivered), when the environment failed, when name is registered
 * already or RTAPI_EXT_MAX are. */
int rtapi_sm_ext_register(struct rtapi_sm *sm, const char *name, unsigned events, const char *id);
/* The registered extension with identifier id, or -1. */
int rtapi_sm_ext_find(const struct rtapi_sm *sm, const char *id);
/* /extension/event/next of extension i: 0 to park it (it is done with its last event),
 * 1 to answer it with SHUTDOWN now (owed to it; it is busy with it from now on), 400
 * when one of its requests is parked already. */
int rtapi_sm_ext_next(struct rtapi_sm *sm, int i);
/* Its parked event/next went away. */
void rtapi_sm_ext_unpark(struct rtapi_sm *sm, int i);
/* /extension/init/error (202 before init ended, else 403) and /extension/exit/error
 * (202) of extension i: it is marked failed. */
int rtapi_sm_ext_init_error(struct rtapi_sm *sm, int i);
int rtapi_sm_ext_exit_error(struct rtapi_sm *sm, int i);
/* The process of extension i ended. */
void rtapi_sm_ext_gone(struct rtapi_sm *sm, int i);
/* Whether an event can be delivered: the runtime's /next is parked, every extension
 * started has registered, and every registered one waits in event/next. */
bool rtapi_sm_ready(const struct rtapi_sm *sm);
/* Whether an extension still works on the last event it was given. */
bool rtapi_sm_ext_busy(const struct rtapi_sm *sm);
/* Whether an extension registered for SHUTDOWN. */
bool rtapi_sm_wants_shutdown(const struct rtapi_sm *sm);
/* SHUTDOWN: it is owed to every extension registered for it (busy until it asks for
 * another event); the others are done. No invocation is delivered after it. Returns
 * how many are owed it. */
unsigned rtapi_sm_shutdown(struct rtapi_sm *sm);
/* Sends extension i the SHUTDOWN owed to it if its event/next is parked: 0 (unparked,
 * no longer owed), or -1. */
int rtapi_sm_ext_take_shutdown(struct rtapi_sm *sm, int i);

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
	/* Extensions (all may be NULL). The last extension that worked on an event (INVOKE
	 * or SHUTDOWN) asked for its next one. */
	void (*ext_done_cb)(void *arg);
	/* An extension reported /extension/init/error (init true) or /exit/error, with the
	 * Lambda-Extension-Function-Error-Type header (or "Extension.Unknown"). */
	void (*ext_error_cb)(void *arg, const char *name, bool init, const char *error_type);
};

/* What /extension/register answers about the function (copied by rtapi_set_function). */
struct rtapi_function {
	const char *name;
	const char *version;
	const char *handler;
	const char *account;
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
/* The function the environment runs, for the Extensions API's answers. */
void rtapi_set_function(struct rtapi *rt, const struct rtapi_function *fn);
/* n extension executables were started: no event is delivered before each registered
 * and asked for its first one (the end of init). 0 (the default): none waited for. */
void rtapi_expect_extensions(struct rtapi *rt, unsigned n);
/* The extension started as name (its file name) ended: during init the environment
 * fails it (ext_error_cb "Extension.Crash", init), later it is retired (the same, not
 * init) and nothing more is waited for from it. */
void rtapi_ext_exited(struct rtapi *rt, const char *name);
/* Whether an extension still works on the last event (ext_done_cb comes when not). */
bool rtapi_ext_busy(const struct rtapi *rt);
/* Whether an extension registered for SHUTDOWN. */
bool rtapi_wants_shutdown(const struct rtapi *rt);
/* Sends SHUTDOWN {shutdownReason: reason ("spindown", "timeout", "failure"),
 * deadlineMs} to the extensions registered for it (now, or when they next ask);
 * no invocation is delivered after it. Returns how many are owed it (0: nothing to
 * wait for; else ext_done_cb comes once each has asked for another event). */
unsigned rtapi_shutdown(struct rtapi *rt, const char *reason, int64_t deadline_ms);

/* Telemetry API: how the server makes a socket that reaches the sandbox's loopback
 * (see telem_socket_fn in rtapi/telemetry.h); without one nothing is delivered. */
void rtapi_set_socket_fn(struct rtapi *rt,
                         int (*fn)(void *arg, void (*cb)(void *cb_arg, int fd), void *cb_arg), void *arg);
/* An event for the Telemetry API's subscribers: type is TELEM_PLATFORM, _FUNCTION or
 * _EXTENSION (rtapi/telemetry.h), name its "type" ("platform.report", "function"),
 * record taken. Cheap when nobody subscribed. */
void rtapi_telemetry(struct rtapi *rt, unsigned type, const char *name, json_t *record);
/* Whether an extension subscribed to the Telemetry or Logs API. */
bool rtapi_telemetry_wanted(const struct rtapi *rt);
/* Sends the queued telemetry now; whether some is still queued or on its way (an
 * environment is frozen only once its listeners have it). */
bool rtapi_telemetry_flush(struct rtapi *rt);

/* Stops serving and frees everything; safe to call from inside an ops callback
 * (the HTTP server itself is freed on the next loop turn). NULL is a no-op. */
void rtapi_free(struct rtapi *rt);

#endif
