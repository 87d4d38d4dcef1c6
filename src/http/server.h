/* lambdad's HTTP/1.1 server engine on libevent bufferevents: keep-alive and pipelining,
 * request bodies buffered or streamed to the handler as they arrive, chunked bodies with
 * trailers both ways, Expect: 100-continue, connection upgrade, and limits per request. */
#ifndef LAMBDAD_HTTP_SERVER_H
#define LAMBDAD_HTTP_SERVER_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>

struct http_server;
struct http_request;

/* What the engine itself refuses, before or while a request is read. Each comes with a
 * status (400, 413 or 431) and a short message; the connection is closed after the reply,
 * and nothing more of the request is read. */
enum http_error {
	HTTP_E_LINE_TOO_LONG,     /* 431 "request line too long" */
	HTTP_E_HEADERS_TOO_LARGE, /* 431 "header fields too large" (or trailers) */
	HTTP_E_BAD_LINE,          /* 400 "malformed request line" */
	HTTP_E_BAD_HEADER,        /* 400 "malformed header field" (or too many of them) */
	HTTP_E_BAD_LENGTH,        /* 400 "bad Content-Length" */
	HTTP_E_BAD_ENCODING,      /* 400 "unsupported Transfer-Encoding" */
	HTTP_E_BAD_CHUNK_SIZE,    /* 400 "malformed chunk size" */
	HTTP_E_BAD_CHUNK,         /* 400 "malformed chunk" */
	HTTP_E_LENGTH_TOO_LARGE,  /* 413 "Content-Length over the limit" (before the body, and
	                           * before 100 Continue) */
	HTTP_E_BODY_TOO_LARGE,    /* 413 "request body too large" (a body passing body_max) */
};

/* Why a body being read ended early (http_body_ops.abort_cb). */
enum http_abort {
	HTTP_ABORT_CLOSED,    /* the connection ended before the body's end */
	HTTP_ABORT_MALFORMED, /* the body's framing was broken (a 400 follows) */
	HTTP_ABORT_TOO_LARGE, /* the body passed the request's body_max (a 413 follows) */
};

struct http_server_cfg {
	size_t head_max;        /* bytes of request line and header fields (and of trailers); 0: 64 KiB */
	unsigned fields_max;    /* header (or trailer) fields of one request; 0: 128 */
	uint64_t body_max;      /* bytes of a request body, default of http_request_set_body_max; 0: 80 MiB */
	size_t input_ahead_max; /* bytes a client may send ahead while its request waits; 0: 1 MiB */
	/* ms a client may stay silent while it owes bytes (a request's head, a body being
	 * read, the next request on an idle connection) before the connection is closed;
	 * never while the handler owes the reply or holds a body back. 0: no limit. */
	unsigned read_timeout_ms;
	/* ms a reply may stay queued with none of it taken by the client (a client that
	 * stops reading) before the connection is closed. 0: 60 s. */
	unsigned write_timeout_ms;
};

struct http_server_ops {
	/* Optional: the request line is in (method, target), the header fields are not.
	 * May set per-request limits (http_request_set_head_max, _set_body_max). */
	void (*route_cb)(void *arg, struct http_request *req);
	/* The header fields are in and the body, if any, is not read yet. The handler
	 * chooses what happens to the body now or later (http_request_read_body), or
	 * replies without it; a request whose handler does neither waits. */
	void (*request_cb)(void *arg, struct http_request *req);
	/* Optional: the engine refuses a request (err, with its status and default message
	 * msg). The callback may write the reply itself with http_reply (the connection is
	 * closed after it); otherwise a text/plain reply of msg is written. */
	void (*error_cb)(void *arg, struct http_request *req, int status, enum http_error err,
	                 const char *msg);
};

/* How a body is taken (http_request_read_body). */
enum http_body_mode {
	HTTP_BODY_BUFFER,  /* kept in http_request_body until end_cb */
	HTTP_BODY_STREAM,  /* handed to data_cb piece by piece as it arrives, then end_cb */
	HTTP_BODY_DISCARD, /* read and dropped; end_cb still tells its end */
};

/* A body's consumer. All three are optional. */
struct http_body_ops {
	/* HTTP_BODY_STREAM: len (> 0) bytes of body, borrowed for the call. */
	void (*data_cb)(void *arg, struct http_request *req, const void *data, size_t len);
	/* The whole body is in; its trailers, if any, are in http_request_trailers. */
	void (*end_cb)(void *arg, struct http_request *req);
	/* The body ended early (why, msg: what went wrong); nothing more comes for it. */
	void (*abort_cb)(void *arg, struct http_request *req, enum http_abort why, const char *msg);
};

/* ---- the server ---- */

/* A server on base with cfg (copied; NULL for the defaults) that hands requests to ops
 * (borrowed; must outlive the server) with arg. Returns an owned server; it has no
 * listener until http_server_listen or _listen_fd. */
struct http_server *http_server_new(struct event_base *base, const struct http_server_cfg *cfg,
                                    const struct http_server_ops *ops, void *arg);
/* Listens on host ("127.0.0.1", "::", a name) and port (0: any free one). Returns 0 and
 * the port bound in *bound_port (may be NULL), or a negative errno. May be called more
 * than once for several addresses. */
int http_server_listen(struct http_server *srv, const char *host, int port, int *bound_port,
                       struct err *errp);
/* Accepts connections on listen_fd, a socket already listening (taken on success:
 * closed by http_server_free; left open on failure). Returns 0 or a negative errno. */
int http_server_listen_fd(struct http_server *srv, int listen_fd, struct err *errp);
/* Serves fd, an already-connected stream socket (taken: closed when its connection ends,
 * or at once on failure), as if a listener had accepted it: the seam for sockets handed
 * over with SCM_RIGHTS, for socketpairs in tests and for the fuzzer. Returns 0, or a
 * negative errno (-ESHUTDOWN after http_server_free). */
int http_server_serve_fd(struct http_server *srv, int fd);
/* Closes the listeners: new connections are refused; those open are served on. */
void http_server_stop_accepting(struct http_server *srv);
/* Closes every connection and listener, with no callback from now on, and frees the
 * server: at once, or on the next loop turn when called inside one of its callbacks, so
 * it is safe there. Requests handed out by it are gone with it (upgraded bufferevents
 * are not). NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* ---- a request (borrowed by the handler from request_cb until its exchange ends: its
 * reply is written and its body read, or its close_cb or abort_cb was called) ---- */

const char *http_request_method(const struct http_request *req); /* "GET"; NULL before the line */
const char *http_request_target(const struct http_request *req); /* as sent: "/p/a?x=1" */
/* The path of the target: the part before '?', as sent (not percent-decoded). Borrowed. */
const char *http_request_path(const struct http_request *req);
/* The query of the target after '?', or NULL when it has none. Borrowed. */
const char *http_request_query(const struct http_request *req);
int http_request_minor(const struct http_request *req); /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
/* The first header field named name (case-insensitive), or NULL. Borrowed. */
const char *http_request_header(const struct http_request *req, const char *name);
/* All header fields, in the order received. Borrowed. */
const struct evkeyvalq *http_request_headers(const struct http_request *req);
/* The trailer fields of a chunked body (empty until its end). Borrowed. */
const struct evkeyvalq *http_request_trailers(const struct http_request *req);
/* The peer's address as text ("127.0.0.1", "::1", "" for a unix socket). Borrowed. */
const char *http_request_peer(const struct http_request *req);
/* The peer's port, 0 when it has none. */
uint16_t http_request_peer_port(const struct http_request *req);
/* Whether a body follows the header fields (Content-Length > 0 or chunked). */
bool http_request_has_body(const struct http_request *req);
/* The declared Content-Length, or -1 for a chunked body or none. */
int64_t http_request_content_length(const struct http_request *req);
/* HTTP_BODY_BUFFER: the body read so far (borrowed; the handler may drain it). */
struct evbuffer *http_request_body(struct http_request *req);
/* HTTP_BODY_BUFFER: whether the body passed buffer_max; its bytes were then dropped. */
bool http_request_body_overflow(const struct http_request *req);
/* A pointer of the handler's, kept with the request. */
void http_request_set_data(struct http_request *req, void *data);
void *http_request_data(const struct http_request *req);

/* In route_cb: the bytes of request line and header fields allowed (431 past it). */
void http_request_set_head_max(struct http_request *req, size_t bytes);
/* In route_cb or request_cb before http_request_read_body: the body bytes allowed. A
 * Content-Length past it is refused with 413 (HTTP_E_LENGTH_TOO_LARGE) before the body:
 * the one of route_cb's before request_cb, a later one when http_request_read_body is
 * called; a body that passes it while read ends with abort_cb(HTTP_ABORT_TOO_LARGE) and
 * 413 (HTTP_E_BODY_TOO_LARGE). */
void http_request_set_body_max(struct http_request *req, uint64_t bytes);
/* The body bytes allowed now (the server's body_max unless set). */
uint64_t http_request_body_max(const struct http_request *req);

/* Takes the body in mode with ops and arg (ops borrowed, may be NULL). For
 * HTTP_BODY_BUFFER, past buffer_max bytes the body's bytes are dropped, the rest of it
 * is read and dropped with no body_max check, and http_request_body_overflow tells so
 * at end_cb. Answers Expect: 100-continue. A declared Content-Length over the request's
 * body_max is refused here, at once: 413 through error_cb (within this call), no
 * callback of ops, no 100 Continue, nothing of the body read. Callbacks come from the
 * loop, never from inside this call unless it is made in request_cb (they follow its
 * return). Called once per request; a request without a body gets end_cb alone. */
void http_request_read_body(struct http_request *req, enum http_body_mode mode, uint64_t buffer_max,
                            const struct http_body_ops *ops, void *arg);
/* HTTP_BODY_STREAM back-pressure: paused, no data_cb comes (not even for bytes already
 * read; a pause made inside data_cb holds the rest of the piece) and nothing more is
 * read from the connection, so a client sending on blocks once the socket's buffers
 * fill; the read timeout does not run. Resumed, the body goes on from the next loop
 * pass. No-op once the body is read or aborted. */
void http_request_pause_body(struct http_request *req, bool paused);
/* Calls cb(arg, req) if the connection ends before the reply was written in full; req
 * is freed after it returns. NULL cb to cancel. */
void http_request_set_close_cb(struct http_request *req, void (*cb)(void *arg, struct http_request *req),
                               void *arg);

/* ---- replies (once per request; a reply written before the body is read in full goes
 * out at once, and the body is read on or, with Expect: 100-continue pending, the
 * connection closed after it) ---- */

/* Adds a response header field (name a token; value with no CR, LF or other control
 * byte but tab). Content-Type is written first, then Content-Length or
 * Transfer-Encoding, then the others in order, then Connection. Returns 0 or -EINVAL. */
int http_response_add_header(struct http_request *req, const char *name, const char *value);
/* Asks for the connection to be closed after this reply. */
void http_response_close(struct http_request *req);
/* Writes the whole reply: status, the headers added, Content-Length and body (drained;
 * NULL for none; not written in reply to HEAD). */
void http_reply(struct http_request *req, int status, struct evbuffer *body);
/* Starts a streamed reply: Transfer-Encoding: chunked for HTTP/1.1, else a body ended
 * by closing the connection. */
void http_reply_start(struct http_request *req, int status);
/* One piece of a started reply: len bytes of data (copied), or buffer (drained). An empty
 * piece is not sent (it would end a chunked body). */
void http_reply_chunk(struct http_request *req, const void *data, size_t len);
void http_reply_chunk_buffer(struct http_request *req, struct evbuffer *buffer);
/* Ends a started reply, with trailers (borrowed, may be NULL; not sent to HTTP/1.0). */
void http_reply_end(struct http_request *req, const struct evkeyvalq *trailers);
/* Bytes of reply queued on the connection and not written yet (for back-pressure). */
size_t http_reply_pending(const struct http_request *req);
/* Back-pressure for a reply being written: calls cb(arg, req) once, when the bytes
 * queued on the connection fall to low_water or below (on the next loop pass when they
 * are already). NULL cb cancels. Never called once the connection ended (close_cb
 * tells that) or after the exchange is over; the last call wins. */
void http_reply_on_drain(struct http_request *req, size_t low_water,
                         void (*cb)(void *arg, struct http_request *req), void *arg);
/* Answers 101 Switching Protocols with the headers added (Connection: Upgrade unless
 * added) and hands the connection over: returns its bufferevent (owned, callbacks
 * cleared, input holding what the client sent after the request), or NULL when the
 * request has a body, is HTTP/1.0 or was replied to (req is then untouched). On success
 * req is gone, and no callback of the server follows for it. */
struct bufferevent *http_upgrade(struct http_request *req);
/* Closes the connection of req once what is queued on it is written (so a streamed
 * reply ends cut short, without its last chunk); nothing more is read, and no callback
 * follows for req, which stays valid until the next loop turn. */
void http_request_abort(struct http_request *req);

#endif
