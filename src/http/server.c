/* The HTTP/1.1 server engine: one state machine per connection reading requests off a
 * bufferevent, one request at a time (pipelined ones wait their turn), with the body
 * buffered, streamed or dropped as the handler chose once it saw the header fields. */
#include "http/server.h"
#include "http/status.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_HEAD_MAX (64 * 1024)
#define DEFAULT_FIELDS_MAX 128
#define DEFAULT_BODY_MAX (80 * 1024 * 1024)
#define DEFAULT_AHEAD_MAX (1024 * 1024)
#define DEFAULT_WRITE_TIMEOUT_MS (60 * 1000)
#define CHUNK_LINE_MAX 1024 /* bytes of a chunk-size line with its extensions */

enum conn_state {
	P_LINE,       /* reading the request line */
	P_HEADERS,    /* reading header fields */
	P_DECIDE,     /* the header fields are in; the handler has not chosen what to do with the body */
	P_BODY,       /* reading a Content-Length body (remaining bytes) */
	P_CHUNK_SIZE, /* reading a chunk-size line */
	P_CHUNK_DATA, /* reading chunk data (remaining bytes) */
	P_CHUNK_END,  /* reading the CRLF after chunk data */
	P_TRAILERS,   /* reading trailer fields */
	P_DONE,       /* the request is read in full; its reply may not be */
	P_DEAD,       /* nothing more is read; the connection closes after the reply */
};

enum reply_state { RS_NONE, RS_STREAMING, RS_DONE };

struct http_request {
	struct http_conn *conn;
	char *method; /* NULL until the request line is parsed */
	char *target;
	char *path;  /* the target up to '?' */
	char *query; /* after '?', or NULL */
	int minor;   /* HTTP/1.minor */
	bool head;   /* a HEAD request: replies carry no body */
	struct evkeyvalq headers;
	struct evkeyvalq trailers;
	struct evkeyvalq out_headers;
	size_t head_max;        /* bytes of request line and header fields */
	uint64_t body_max;      /* bytes of body */
	int64_t content_length; /* -1 when chunked or none */
	bool chunked;
	bool has_body;
	bool expect;       /* Expect: 100-continue with a body to come */
	bool delivered;    /* request_cb was called: callbacks about it may follow */
	bool mode_set;     /* the handler chose a body mode */
	bool end_sent;     /* end_cb was called */
	bool body_done;    /* the body is read in full */
	bool body_aborted; /* abort_cb was called */
	bool overflow;     /* HTTP_BODY_BUFFER: the body passed buffer_max */
	bool close_after;  /* close the connection once the reply is written */
	bool paused;       /* HTTP_BODY_STREAM: the handler holds the body back */
	enum http_body_mode mode;
	uint64_t buffer_max; /* bytes, HTTP_BODY_BUFFER */
	uint64_t body_len;   /* bytes of body read so far */
	struct evbuffer *body;
	const struct http_body_ops *bops;
	void *barg;
	void (*close_cb)(void *arg, struct http_request *req);
	void *close_arg;
	void (*drain_cb)(void *arg, struct http_request *req); /* NULL: none asked for */
	void *drain_arg;
	size_t drain_low; /* bytes queued at or below which drain_cb runs */
	void *data;
	enum reply_state reply;
};

struct http_conn {
	struct http_server *srv;
	struct bufferevent *bev; /* NULL once upgraded */
	struct event *kick;      /* runs conn_process (or frees) on the next loop pass */
	enum conn_state state;
	size_t head_bytes;  /* of the request line and fields (or trailers) so far */
	uint64_t remaining; /* bytes of a Content-Length body or a chunk */
	struct http_request *req;
	bool timing;   /* the read timeout is armed */
	bool upgraded; /* handed over by http_upgrade: free without touching bev */
	bool closing;  /* nothing more is read; freed once what is queued is written */
	char peer[INET6_ADDRSTRLEN];
	uint16_t peer_port;
	TAILQ_ENTRY(http_conn) link;
};
TAILQ_HEAD(conn_list, http_conn);

struct listener {
	struct evconnlistener *l;
	TAILQ_ENTRY(listener) link;
};
TAILQ_HEAD(listener_list, listener);

struct http_server {
	struct event_base *base;
	struct http_server_cfg cfg;
	const struct http_server_ops *ops;
	void *arg;
	struct conn_list conns;
	struct listener_list listeners;
	int depth; /* handler callbacks under way: http_server_free defers the free */
	bool dead; /* http_server_free was called */
};

/* Calls a handler callback, counted so http_server_free knows it is inside one. */
#define CALL(srv, call)                                                                                      \
	do {                                                                                                 \
		(srv)->depth++;                                                                              \
		call;                                                                                        \
		(srv)->depth--;                                                                              \
	} while (0)

static void conn_process(struct http_conn *c);

static const char *error_msg[] = {
    [HTTP_E_LINE_TOO_LONG] = "request line too long",
    [HTTP_E_HEADERS_TOO_LARGE] = "header fields too large",
    [HTTP_E_BAD_LINE] = "malformed request line",
    [HTTP_E_BAD_HEADER] = "malformed header field",
    [HTTP_E_BAD_LENGTH] = "bad Content-Length",
    [HTTP_E_BAD_ENCODING] = "unsupported Transfer-Encoding",
    [HTTP_E_BAD_CHUNK_SIZE] = "malformed chunk size",
    [HTTP_E_BAD_CHUNK] = "malformed chunk",
    [HTTP_E_LENGTH_TOO_LARGE] = "Content-Length over the limit",
    [HTTP_E_BODY_TOO_LARGE] = "request body too large",
};

/* ---- small helpers ---- */

static bool is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 32 || ch >= 127 || strchr("()<>@,;:\\\"/[]?={}", ch))
			return false;
	}
	return true;
}

/* Whether the comma-separated list v holds token (case-insensitive). */
static bool has_token(const char *v, const char *token)
{
	size_t tl = strlen(token);
	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		size_t n = strcspn(v, ",");
		size_t k = n;
		while (k && (v[k - 1] == ' ' || v[k - 1] == '\t'))
			k--;
		if (k == tl && strncasecmp(v, token, tl) == 0)
			return true;
		v += n;
	}
	return false;
}

static struct evbuffer *conn_output(struct http_conn *c)
{
	return bufferevent_get_output(c->bev);
}

static void conn_kick(struct http_conn *c)
{
	event_active(c->kick, EV_TIMEOUT, 1);
}

/* The read timeout when armed (c->timing), and the write timeout, which libevent runs
 * only while bytes wait to be written and restarts at each write that takes some. */
static void conn_set_timeouts(struct http_conn *c)
{
	unsigned r = c->srv->cfg.read_timeout_ms, w = c->srv->cfg.write_timeout_ms;
	struct timeval rtv = {.tv_sec = r / 1000, .tv_usec = (r % 1000) * 1000};
	struct timeval wtv = {.tv_sec = w / 1000, .tv_usec = (w % 1000) * 1000};
	if (c->bev)
		bufferevent_set_timeouts(c->bev, r && c->timing ? &rtv : NULL, &wtv);
}

/* Arms the read timeout while the client owes bytes (a request's head or the body the
 * handler asked for, or the next request), and disarms it while the handler owes. */
static void conn_expect_input(struct http_conn *c, bool on)
{
	if (!c->srv->cfg.read_timeout_ms || !c->bev || c->timing == on)
		return;
	c->timing = on;
	conn_set_timeouts(c);
}

/* ---- requests ---- */

static struct http_request *request_new(struct http_conn *c)
{
	struct http_request *req = xcalloc(1, sizeof(*req));
	req->conn = c;
	req->minor = 1;
	TAILQ_INIT(&req->headers);
	TAILQ_INIT(&req->trailers);
	TAILQ_INIT(&req->out_headers);
	req->head_max = c->srv->cfg.head_max;
	req->body_max = c->srv->cfg.body_max;
	req->content_length = -1;
	req->body = evbuffer_new();
	LD_ASSERT(req->body);
	return req;
}

static void request_free(struct http_request *req)
{
	if (!req)
		return;
	free(req->method);
	free(req->target);
	free(req->path);
	free(req->query);
	evhttp_clear_headers(&req->headers);
	evhttp_clear_headers(&req->trailers);
	evhttp_clear_headers(&req->out_headers);
	evbuffer_free(req->body);
	free(req);
}

/* ---- connections ---- */

/* The handler hears (once) that the request it was handed is left unfinished: its body
 * (abort_cb), then its reply (close_cb). */
static void notify_gone(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	struct http_request *req = c->req;
	if (!req || !req->delivered || srv->dead)
		return;
	req->drain_cb = NULL;
	if (req->mode_set && !req->body_done && !req->body_aborted && req->bops && req->bops->abort_cb) {
		req->body_aborted = true;
		CALL(srv, req->bops->abort_cb(req->barg, req, HTTP_ABORT_CLOSED,
		                              "the connection closed before the end of the body"));
	}
	void (*cb)(void *, struct http_request *) = req->close_cb;
	req->close_cb = NULL;
	if (!srv->dead && req->reply != RS_DONE && cb)
		CALL(srv, cb(req->close_arg, req));
}

/* Frees c now; with notify, after notify_gone. */
static void conn_free(struct http_conn *c, bool notify)
{
	struct http_server *srv = c->srv;
	if (notify)
		notify_gone(c);
	TAILQ_REMOVE(&srv->conns, c, link);
	if (c->bev)
		bufferevent_free(c->bev);
	event_free(c->kick);
	request_free(c->req);
	free(c);
}

/* The next request on c. */
static void conn_reset(struct http_conn *c)
{
	request_free(c->req);
	c->req = request_new(c);
	c->state = P_LINE;
	c->head_bytes = 0;
	c->remaining = 0;
	conn_expect_input(c, true);
}

/* ---- writing replies ---- */

/* Decides from the request whether the connection closes after the reply. */
static void decide_close(struct http_request *req)
{
	const char *conn = http_request_header(req, "Connection");
	if (req->minor == 0 && !has_token(conn, "keep-alive"))
		req->close_after = true;
	if (has_token(conn, "close"))
		req->close_after = true;
	/* A body the client was told to hold back may or may not follow: nothing after it
	 * can be read as the next request. */
	if (req->conn->state == P_DECIDE && !req->mode_set && req->has_body && req->expect)
		req->close_after = true;
}

enum framing { F_LENGTH, F_CHUNKED, F_CLOSE, F_NONE };

static void write_head(struct http_request *req, int status, enum framing f, size_t len)
{
	struct evbuffer *out = conn_output(req->conn);
	decide_close(req);
	if (f == F_CLOSE)
		req->close_after = true;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	const char *ct = evhttp_find_header(&req->out_headers, "Content-Type");
	if (ct)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ct);
	if (f == F_LENGTH && status >= 200 && status != 204)
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	else if (f == F_CHUNKED)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	bool upgrade = status == 101, conn_added = false;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &req->out_headers, next) {
		if (strcasecmp(kv->key, "Content-Type") == 0 || strcasecmp(kv->key, "Content-Length") == 0 ||
		    strcasecmp(kv->key, "Transfer-Encoding") == 0)
			continue;
		if (strcasecmp(kv->key, "Connection") == 0) {
			if (!upgrade)
				continue;
			conn_added = true;
		}
		evbuffer_add_printf(out, "%s: %s\r\n", kv->key, kv->value);
	}
	if (upgrade)
		evbuffer_add_printf(out, "%s\r\n", conn_added ? "" : "Connection: Upgrade\r\n");
	else
		evbuffer_add_printf(out, "%s\r\n",
		                    req->close_after  ? "Connection: close\r\n"
		                    : req->minor == 0 ? "Connection: keep-alive\r\n"
		                                      : "");
}

static void reply_done(struct http_request *req)
{
	struct http_conn *c = req->conn;
	req->reply = RS_DONE;
	req->drain_cb = NULL;
	evhttp_clear_headers(&req->out_headers);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->bev, EV_WRITE);
	/* The write callback comes only after a write: with nothing left to write, go on. */
	if (evbuffer_get_length(conn_output(c)) == 0)
		conn_kick(c);
}

int http_response_add_header(struct http_request *req, const char *name, const char *value)
{
	if (!name || !value || !is_token(name, strlen(name)))
		return -EINVAL;
	for (const char *p = value; *p; p++)
		if (((unsigned char)*p < 32 && *p != '\t') || *p == 127)
			return -EINVAL;
	return evhttp_add_header(&req->out_headers, name, value) == 0 ? 0 : -EINVAL;
}

void http_response_close(struct http_request *req)
{
	req->close_after = true;
}

void http_reply(struct http_request *req, int status, struct evbuffer *body)
{
	if (req->reply != RS_NONE || !req->conn->bev) {
		log_warn("http: a second reply to one request is dropped");
		if (body)
			evbuffer_drain(body, evbuffer_get_length(body));
		return;
	}
	size_t len = body ? evbuffer_get_length(body) : 0;
	write_head(req, status, F_LENGTH, len);
	if (body && !req->head)
		evbuffer_add_buffer(conn_output(req->conn), body);
	else if (body)
		evbuffer_drain(body, len);
	reply_done(req);
}

void http_reply_start(struct http_request *req, int status)
{
	if (req->reply != RS_NONE || !req->conn->bev) {
		log_warn("http: a second reply to one request is dropped");
		return;
	}
	write_head(req, status, req->minor >= 1 ? F_CHUNKED : F_CLOSE, 0);
	req->reply = RS_STREAMING;
	bufferevent_enable(req->conn->bev, EV_WRITE);
}

void http_reply_chunk(struct http_request *req, const void *data, size_t len)
{
	if (req->reply != RS_STREAMING || len == 0 || req->head)
		return;
	struct evbuffer *out = conn_output(req->conn);
	if (req->minor >= 1)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	if (req->minor >= 1)
		evbuffer_add(out, "\r\n", 2);
}

void http_reply_chunk_buffer(struct http_request *req, struct evbuffer *buffer)
{
	size_t len = evbuffer_get_length(buffer);
	if (req->reply != RS_STREAMING || len == 0 || req->head) {
		evbuffer_drain(buffer, len);
		return;
	}
	struct evbuffer *out = conn_output(req->conn);
	if (req->minor >= 1)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add_buffer(out, buffer);
	if (req->minor >= 1)
		evbuffer_add(out, "\r\n", 2);
}

void http_reply_end(struct http_request *req, const struct evkeyvalq *trailers)
{
	if (req->reply != RS_STREAMING)
		return;
	struct evbuffer *out = conn_output(req->conn);
	if (req->minor >= 1 && !req->head) {
		evbuffer_add(out, "0\r\n", 3);
		struct evkeyval *kv;
		if (trailers) {
			TAILQ_FOREACH(kv, trailers, next) {
				if (is_token(kv->key, strlen(kv->key)) && !strpbrk(kv->value, "\r\n"))
					evbuffer_add_printf(out, "%s: %s\r\n", kv->key, kv->value);
			}
		}
		evbuffer_add(out, "\r\n", 2);
	}
	reply_done(req);
}

size_t http_reply_pending(const struct http_request *req)
{
	return req->conn->bev ? evbuffer_get_length(bufferevent_get_output(req->conn->bev)) : 0;
}

void http_reply_on_drain(struct http_request *req, size_t low_water,
                         void (*cb)(void *arg, struct http_request *req), void *arg)
{
	struct http_conn *c = req->conn;
	req->drain_cb = cb;
	req->drain_arg = arg;
	req->drain_low = low_water;
	if (!c->bev)
		return;
	/* The write callback comes when a write leaves no more than the low watermark. */
	bufferevent_setwatermark(c->bev, EV_WRITE, cb ? low_water : 0, 0);
	if (cb && evbuffer_get_length(conn_output(c)) <= low_water)
		conn_kick(c);
}

/* Runs the drain callback asked for, once, if the bytes queued fell low enough. Returns
 * false when the callback freed the server or closed c. */
static bool conn_drain_check(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	struct http_request *req = c->req;
	if (!req || !req->drain_cb || !c->bev || evbuffer_get_length(conn_output(c)) > req->drain_low)
		return true;
	void (*cb)(void *, struct http_request *) = req->drain_cb;
	req->drain_cb = NULL;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	CALL(srv, cb(req->drain_arg, req));
	return !srv->dead && !c->closing && !c->upgraded;
}

struct bufferevent *http_upgrade(struct http_request *req)
{
	struct http_conn *c = req->conn;
	if (req->reply != RS_NONE || req->has_body || req->minor < 1 || !c->bev ||
	    (c->state != P_DECIDE && c->state != P_DONE))
		return NULL;
	write_head(req, 101, F_NONE, 0);
	struct bufferevent *bev = c->bev;
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	c->bev = NULL;
	c->upgraded = true;
	conn_kick(c);
	return bev;
}

/* Reads no more on c and frees it once what is queued is written (the next loop pass
 * at the soonest). */
static void conn_close_soon(struct http_conn *c)
{
	c->closing = true;
	c->state = P_DEAD;
	conn_expect_input(c, false);
	if (c->bev) {
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_enable(c->bev, EV_WRITE);
	}
	conn_kick(c);
}

void http_request_abort(struct http_request *req)
{
	req->close_cb = NULL; /* the handler asked: it hears nothing more */
	req->drain_cb = NULL;
	req->bops = NULL;
	conn_close_soon(req->conn);
}

/* ---- request accessors ---- */

const char *http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_target(const struct http_request *req)
{
	return req->target;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *http_request_query(const struct http_request *req)
{
	return req->query;
}

int http_request_minor(const struct http_request *req)
{
	return req->minor;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	return evhttp_find_header(&req->headers, name);
}

const struct evkeyvalq *http_request_headers(const struct http_request *req)
{
	return &req->headers;
}

const struct evkeyvalq *http_request_trailers(const struct http_request *req)
{
	return &req->trailers;
}

const char *http_request_peer(const struct http_request *req)
{
	return req->conn->peer;
}

uint16_t http_request_peer_port(const struct http_request *req)
{
	return req->conn->peer_port;
}

bool http_request_has_body(const struct http_request *req)
{
	return req->has_body;
}

int64_t http_request_content_length(const struct http_request *req)
{
	return req->content_length;
}

struct evbuffer *http_request_body(struct http_request *req)
{
	return req->body;
}

bool http_request_body_overflow(const struct http_request *req)
{
	return req->overflow;
}

void http_request_set_data(struct http_request *req, void *data)
{
	req->data = data;
}

void *http_request_data(const struct http_request *req)
{
	return req->data;
}

void http_request_set_head_max(struct http_request *req, size_t bytes)
{
	req->head_max = bytes;
}

void http_request_set_body_max(struct http_request *req, uint64_t bytes)
{
	req->body_max = bytes;
}

uint64_t http_request_body_max(const struct http_request *req)
{
	return req->body_max;
}

void http_request_set_close_cb(struct http_request *req, void (*cb)(void *arg, struct http_request *req),
                               void *arg)
{
	req->close_cb = cb;
	req->close_arg = arg;
}

static void fail(struct http_conn *c, enum http_error e);

void http_request_read_body(struct http_request *req, enum http_body_mode mode, uint64_t buffer_max,
                            const struct http_body_ops *ops, void *arg)
{
	struct http_conn *c = req->conn;
	if (req->mode_set)
		return;
	/* A limit set after route_cb: the declared length is refused before any of the
	 * body is asked for (so no 100 Continue) or read. */
	if (c->state == P_DECIDE && c->bev && c->req == req && req->reply == RS_NONE &&
	    req->content_length > 0 && (uint64_t)req->content_length > req->body_max) {
		fail(c, HTTP_E_LENGTH_TOO_LARGE);
		conn_kick(c);
		return;
	}
	req->mode_set = true;
	req->mode = mode;
	req->buffer_max = buffer_max;
	req->bops = ops;
	req->barg = arg;
	if (req->expect && req->reply == RS_NONE && c->state == P_DECIDE && c->bev)
		evbuffer_add_printf(conn_output(c), "HTTP/1.1 100 Continue\r\n\r\n");
	conn_kick(c);
}

/* Whether the connection reads body bytes now (P_BODY to P_TRAILERS). */
static bool in_body(const struct http_conn *c)
{
	return c->state >= P_BODY && c->state <= P_TRAILERS;
}

void http_request_pause_body(struct http_request *req, bool paused)
{
	struct http_conn *c = req->conn;
	if (req->paused == paused || req->body_done || req->body_aborted || c->req != req || c->closing)
		return;
	req->paused = paused;
	if (!c->bev)
		return;
	if (paused) {
		bufferevent_disable(c->bev, EV_READ);
		conn_expect_input(c, false);
		return;
	}
	if (c->state != P_DEAD)
		bufferevent_enable(c->bev, EV_READ);
	if (in_body(c))
		conn_expect_input(c, true);
	conn_kick(c); /* what was read before the pause goes on */
}

/* ---- parsing ---- */

/* The engine refuses the request: the body's consumer hears why, the handler may write
 * the reply (or a plain one is written), and the connection closes after it. */
static void fail(struct http_conn *c, enum http_error e)
{
	struct http_server *srv = c->srv;
	struct http_request *req = c->req;
	int status = e == HTTP_E_LINE_TOO_LONG || e == HTTP_E_HEADERS_TOO_LARGE   ? 431
	             : e == HTTP_E_LENGTH_TOO_LARGE || e == HTTP_E_BODY_TOO_LARGE ? 413
	                                                                          : 400;
	c->state = P_DEAD;
	conn_expect_input(c, false);
	if (req->delivered && req->mode_set && !req->body_done && !req->body_aborted && req->bops &&
	    req->bops->abort_cb) {
		req->body_aborted = true;
		CALL(srv, req->bops->abort_cb(req->barg, req,
		                              e == HTTP_E_BODY_TOO_LARGE ? HTTP_ABORT_TOO_LARGE
		                                                         : HTTP_ABORT_MALFORMED,
		                              error_msg[e]));
		if (srv->dead || c->closing || c->upgraded)
			return;
	}
	req->close_after = true;
	if (req->reply == RS_STREAMING) { /* too late for a status: cut the reply short */
		notify_gone(c);
		if (!srv->dead)
			conn_close_soon(c);
		return;
	}
	if (req->reply == RS_DONE)
		return;
	evhttp_clear_headers(&req->out_headers);
	if (srv->ops->error_cb) {
		CALL(srv, srv->ops->error_cb(srv->arg, req, status, e, error_msg[e]));
		if (srv->dead || c->closing || c->upgraded)
			return;
	}
	if (req->reply == RS_NONE) {
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "%s\n", error_msg[e]);
		evhttp_clear_headers(&req->out_headers);
		http_response_add_header(req, "Content-Type", "text/plain; charset=utf-8");
		http_reply(req, status, b);
		evbuffer_free(b);
	}
	req->close_after = true;
}

/* Adds "Name: value" to q. Returns false for a malformed line or too many fields. */
static bool parse_field(struct http_conn *c, struct evkeyvalq *q, char *line)
{
	char *colon = strchr(line, ':');
	if (!colon || !is_token(line, (size_t)(colon - line)))
		return false;
	unsigned n = 0;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, q, next)
		n++;
	if (n >= c->srv->cfg.fields_max)
		return false;
	*colon = 0;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t vl = strlen(v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		v[--vl] = 0;
	for (size_t i = 0; i < vl; i++)
		if (((unsigned char)v[i] < 32 && v[i] != '\t') || v[i] == 127)
			return false;
	return evhttp_add_header(q, line, v) == 0;
}

static bool parse_request_line(struct http_request *req, char *line)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || !is_token(line, (size_t)(sp1 - line)) || sp2 == sp1 + 1)
		return false;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1') || sp2[9] != 0)
		return false;
	/* No control byte in the target; raw UTF-8 is taken as sent, as evhttp did. */
	for (const char *p = sp1 + 1; p < sp2; p++)
		if ((unsigned char)*p <= 32 || (unsigned char)*p == 127)
			return false;
	req->minor = sp2[8] - '0';
	req->method = xstrndup(line, (size_t)(sp1 - line));
	req->target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	size_t pl = strcspn(req->target, "?");
	req->path = xstrndup(req->target, pl);
	req->query = req->target[pl] ? xstrdup(req->target + pl + 1) : NULL;
	req->head = strcmp(req->method, "HEAD") == 0;
	return true;
}

/* The header fields are in: how the body is framed. Returns false after fail(). */
static bool framing(struct http_conn *c)
{
	struct http_request *req = c->req;
	const char *te = NULL, *cl = NULL;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &req->headers, next) {
		if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
			if (te) { /* one coding is all we take: "chunked" */
				fail(c, HTTP_E_BAD_ENCODING);
				return false;
			}
			te = kv->value;
		}
		if (strcasecmp(kv->key, "Content-Length") != 0)
			continue;
		if (cl && strcmp(cl, kv->value) != 0) { /* RFC 9112 6.3: differing lengths */
			fail(c, HTTP_E_BAD_LENGTH);
			return false;
		}
		cl = kv->value;
	}
	if (te) {
		if (strcasecmp(te, "chunked") != 0) {
			fail(c, HTTP_E_BAD_ENCODING);
			return false;
		}
		req->chunked = req->has_body = true;
		if (cl) /* RFC 9112 6.1: chunked wins, and the connection is not reused */
			req->close_after = true;
	} else if (cl) {
		/* 1*DIGIT (RFC 9110 8.6): strtoull alone would also take "+5" or " 5". */
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (cl[0] < '0' || cl[0] > '9' || *end) {
			fail(c, HTTP_E_BAD_LENGTH);
			return false;
		}
		if (errno || n > req->body_max) { /* all digits, but too many */
			fail(c, HTTP_E_LENGTH_TOO_LARGE);
			return false;
		}
		req->content_length = (int64_t)n;
		req->has_body = n > 0;
	}
	const char *expect = http_request_header(req, "Expect");
	req->expect = expect && req->minor >= 1 && strcasecmp(expect, "100-continue") == 0 && req->has_body;
	return true;
}

/* Reads a line of at most head_max bytes of head in all; NULL if none is complete yet.
 * Sets *too_long when the limit is passed, *nul when the line holds a NUL byte. */
static char *read_line(struct http_conn *c, struct evbuffer *in, bool *too_long, bool *nul)
{
	size_t n;
	*nul = false;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (!line) {
		*too_long = c->head_bytes + evbuffer_get_length(in) > c->req->head_max;
		return NULL;
	}
	c->head_bytes += n + 2;
	*too_long = c->head_bytes > c->req->head_max;
	*nul = strlen(line) != n;
	return line;
}

/* The body is read in full. */
static void body_end(struct http_conn *c)
{
	c->req->body_done = true;
	c->state = P_DONE;
	conn_expect_input(c, false);
}

/* Takes up to n body bytes at the head of input as the handler chose, counting them off
 * c->remaining (fewer when the handler pauses the body midway). Returns false when the
 * state changed under it (a failure, a callback that freed or aborted). */
static bool body_take(struct http_conn *c, struct evbuffer *in, size_t n)
{
	struct http_server *srv = c->srv;
	struct http_request *req = c->req;
	if (req->mode == HTTP_BODY_BUFFER && !req->overflow && req->body_len + n > req->buffer_max) {
		req->overflow = true;
		evbuffer_drain(req->body, evbuffer_get_length(req->body));
	}
	if (!(req->mode == HTTP_BODY_BUFFER && req->overflow) && req->body_len + n > req->body_max) {
		fail(c, HTTP_E_BODY_TOO_LARGE);
		return false;
	}
	switch (req->mode) {
	case HTTP_BODY_BUFFER:
		if (req->overflow)
			evbuffer_drain(in, n);
		else
			evbuffer_remove_buffer(in, req->body, n);
		req->body_len += n;
		c->remaining -= n;
		return true;
	case HTTP_BODY_DISCARD:
		evbuffer_drain(in, n);
		req->body_len += n;
		c->remaining -= n;
		return true;
	case HTTP_BODY_STREAM:
		while (n > 0 && !req->paused) {
			struct evbuffer_iovec v;
			if (evbuffer_peek(in, (ev_ssize_t)n, NULL, &v, 1) < 1)
				break;
			size_t k = v.iov_len < n ? v.iov_len : n;
			if (req->bops && req->bops->data_cb && !req->body_aborted) {
				CALL(srv, req->bops->data_cb(req->barg, req, v.iov_base, k));
				if (srv->dead || c->closing || c->upgraded)
					return false;
			}
			evbuffer_drain(in, k);
			req->body_len += k;
			c->remaining -= k;
			n -= k;
		}
		return true;
	}
	return true;
}

/* Waiting on the handler or the reply: a client that sends on is read later, one that
 * floods is cut off. Returns false when c was freed. */
static bool ahead_ok(struct http_conn *c, struct evbuffer *in)
{
	if (evbuffer_get_length(in) <= c->srv->cfg.input_ahead_max)
		return true;
	conn_free(c, true);
	return false;
}

/* Parses what is buffered, as far as it goes. Returns when more input is needed, a
 * reply is awaited, or c was freed. */
static void conn_process(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	for (;;) {
		if (srv->dead)
			return;
		if (c->upgraded)
			return conn_free(c, false);
		if (c->closing) {
			if (!c->bev || evbuffer_get_length(conn_output(c)) == 0)
				return conn_free(c, false);
			return;
		}
		struct http_request *req = c->req;
		struct evbuffer *in = bufferevent_get_input(c->bev);
		size_t avail = evbuffer_get_length(in);
		bool too_long, nul;
		if (req->paused && in_body(c))
			return; /* http_request_pause_body kicks when it resumes */
		char *line;
		switch (c->state) {
		case P_LINE:
			if (!(line = read_line(c, in, &too_long, &nul))) {
				if (too_long)
					fail(c, HTTP_E_LINE_TOO_LONG);
				else
					return;
				continue;
			}
			if (!*line && c->head_bytes == 2) { /* a stray CRLF between requests */
				free(line);
				c->head_bytes = 0;
				continue;
			}
			if (too_long || nul || !parse_request_line(req, line)) {
				free(line);
				fail(c, too_long ? HTTP_E_LINE_TOO_LONG : HTTP_E_BAD_LINE);
				continue;
			}
			free(line);
			c->state = P_HEADERS;
			if (srv->ops->route_cb)
				CALL(srv, srv->ops->route_cb(srv->arg, req));
			continue;
		case P_HEADERS:
		case P_TRAILERS:
			if (!(line = read_line(c, in, &too_long, &nul))) {
				if (too_long)
					fail(c, HTTP_E_HEADERS_TOO_LARGE);
				else
					return;
				continue;
			}
			if (too_long || nul) {
				free(line);
				fail(c, too_long ? HTTP_E_HEADERS_TOO_LARGE : HTTP_E_BAD_HEADER);
				continue;
			}
			if (*line) {
				bool ok = parse_field(
				    c, c->state == P_HEADERS ? &req->headers : &req->trailers, line);
				free(line);
				if (!ok)
					fail(c, HTTP_E_BAD_HEADER);
				continue;
			}
			free(line);
			if (c->state == P_TRAILERS) {
				body_end(c);
				continue;
			}
			if (!framing(c))
				continue;
			c->state = P_DECIDE;
			conn_expect_input(c, false);
			req->delivered = true;
			CALL(srv, srv->ops->request_cb(srv->arg, req));
			continue;
		case P_DECIDE:
			if (!req->mode_set && req->reply != RS_NONE && req->has_body) {
				if (req->expect) { /* the body was held back and is not wanted */
					c->state = P_DEAD;
					req->close_after = true;
					continue;
				}
				req->mode_set = true;
				req->mode = HTTP_BODY_DISCARD;
				req->bops = NULL;
			}
			if (!req->has_body) {
				body_end(c);
				continue;
			}
			if (!req->mode_set) {
				ahead_ok(c, in);
				return;
			}
			c->remaining = req->chunked ? 0 : (uint64_t)req->content_length;
			c->state = req->chunked ? P_CHUNK_SIZE : P_BODY;
			conn_expect_input(c, !req->paused);
			continue;
		case P_BODY:
			if (c->remaining == 0) {
				body_end(c);
				continue;
			}
			if (avail == 0)
				return;
			{
				size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
				if (!body_take(c, in, n))
					continue;
			}
			continue;
		case P_CHUNK_SIZE: {
			size_t n;
			line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			if (!line) {
				if (avail > CHUNK_LINE_MAX)
					fail(c, HTTP_E_BAD_CHUNK_SIZE);
				else
					return;
				continue;
			}
			/* chunk-size = 1*HEXDIG, then optional whitespace or ;extensions (RFC 9112
			 * 7.1); strtoull would also take " 5", "+5" and "0x5". */
			uint64_t sz = 0;
			size_t i = 0;
			bool huge = false; /* more digits than 64 bits hold */
			for (; isxdigit((unsigned char)line[i]); i++) {
				if (sz > (UINT64_MAX >> 4)) {
					huge = true;
					continue;
				}
				sz = sz * 16 + (uint64_t)(isdigit((unsigned char)line[i])
				                              ? line[i] - '0'
				                              : (line[i] | 0x20) - 'a' + 10);
			}
			bool ok = i > 0 && strlen(line) == n && n <= CHUNK_LINE_MAX &&
			          (line[i] == 0 || line[i] == ';' || line[i] == ' ' || line[i] == '\t');
			free(line);
			bool dropping = req->mode == HTTP_BODY_BUFFER && req->overflow;
			if (!ok || ((huge || sz > req->body_max) && dropping)) {
				fail(c, HTTP_E_BAD_CHUNK_SIZE);
				continue;
			}
			if (huge ||
			    sz > req->body_max - req->body_len) { /* a chunk declared past the limit */
				fail(c, HTTP_E_BODY_TOO_LARGE);
				continue;
			}
			if (sz == 0) {
				c->head_bytes = 0;
				c->state = P_TRAILERS;
			} else {
				c->remaining = sz;
				c->state = P_CHUNK_DATA;
			}
			continue;
		}
		case P_CHUNK_DATA:
			if (avail == 0)
				return;
			{
				size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
				if (!body_take(c, in, n))
					continue;
			}
			if (c->remaining == 0)
				c->state = P_CHUNK_END;
			continue;
		case P_CHUNK_END: {
			if (avail < 2)
				return;
			char crlf[2];
			evbuffer_remove(in, crlf, 2);
			if (crlf[0] != '\r' || crlf[1] != '\n')
				fail(c, HTTP_E_BAD_CHUNK);
			else
				c->state = P_CHUNK_SIZE;
			continue;
		}
		case P_DONE:
			if (req->mode_set && !req->end_sent) {
				req->end_sent = true;
				if (req->bops && req->bops->end_cb && !req->body_aborted)
					CALL(srv, req->bops->end_cb(req->barg, req));
				continue;
			}
			if (req->reply == RS_DONE && evbuffer_get_length(conn_output(c)) == 0) {
				if (req->close_after)
					return conn_free(c, true);
				conn_reset(c);
				continue;
			}
			ahead_ok(c, in);
			return;
		case P_DEAD:
			if (req->reply == RS_DONE && evbuffer_get_length(conn_output(c)) == 0)
				return conn_free(c, true);
			evbuffer_drain(in, avail);
			return;
		}
	}
}

/* ---- bufferevent callbacks ---- */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	if (!conn_drain_check(c))
		return;
	if ((c->req->reply != RS_DONE && !c->closing) || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	conn_process(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c, true);
}

static void conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	if (c->srv->dead)
		return;
	if (!c->upgraded && !c->closing && !conn_drain_check(c))
		return;
	conn_process(c);
}

/* ---- the server ---- */

struct http_server *http_server_new(struct event_base *base, const struct http_server_cfg *cfg,
                                    const struct http_server_ops *ops, void *arg)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	if (cfg)
		srv->cfg = *cfg;
	if (!srv->cfg.head_max)
		srv->cfg.head_max = DEFAULT_HEAD_MAX;
	if (!srv->cfg.fields_max)
		srv->cfg.fields_max = DEFAULT_FIELDS_MAX;
	if (!srv->cfg.body_max)
		srv->cfg.body_max = DEFAULT_BODY_MAX;
	if (!srv->cfg.input_ahead_max)
		srv->cfg.input_ahead_max = DEFAULT_AHEAD_MAX;
	if (!srv->cfg.write_timeout_ms)
		srv->cfg.write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS;
	srv->ops = ops;
	srv->arg = arg;
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->listeners);
	return srv;
}

static int serve(struct http_server *srv, int fd, const struct sockaddr *sa)
{
	if (srv->dead) {
		evutil_closesocket(fd);
		return -ESHUTDOWN;
	}
	struct bufferevent *bev = NULL;
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    !(bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		evutil_closesocket(fd);
		return -EIO;
	}
	struct http_conn *c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->bev = bev;
	c->kick = event_new(srv->base, -1, 0, conn_kick_cb, c);
	LD_ASSERT(c->kick);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (!sa && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		sa = (struct sockaddr *)&ss;
	if (sa && sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
		c->peer_port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa && sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof(c->peer));
		c->peer_port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	c->req = request_new(c);
	c->state = P_LINE;
	conn_set_timeouts(c);
	conn_expect_input(c, true);
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return 0;
}

int http_server_serve_fd(struct http_server *srv, int fd)
{
	return serve(srv, fd, NULL);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	int one = 1;
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) /* replies go out as written */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	serve(arg, fd, sa);
}

static void add_listener(struct http_server *srv, struct evconnlistener *l)
{
	struct listener *li = xcalloc(1, sizeof(*li));
	li->l = l;
	TAILQ_INSERT_TAIL(&srv->listeners, li, link);
}

int http_server_listen_fd(struct http_server *srv, int listen_fd, struct err *errp)
{
	evutil_make_socket_nonblocking(listen_fd);
	/* backlog 0: the socket is listening already. */
	struct evconnlistener *l = evconnlistener_new(
	    srv->base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, listen_fd);
	if (!l)
		return err_make(errp, EIO, "cannot serve HTTP on socket %d", listen_fd);
	add_listener(srv, l);
	return 0;
}

int http_server_listen(struct http_server *srv, const char *host, int port, int *bound_port, struct err *errp)
{
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
	                                .ai_socktype = SOCK_STREAM,
	                                .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG};
	struct evutil_addrinfo *ai = NULL;
	char ports[16];
	snprintf(ports, sizeof(ports), "%d", port);
	int r = evutil_getaddrinfo(host, ports, &hints, &ai);
	if (r != 0)
		return err_make(errp, EINVAL, "cannot resolve %s: %s", host, evutil_gai_strerror(r));
	struct evconnlistener *l = evconnlistener_new_bind(
	    srv->base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, -1,
	    ai->ai_addr, (int)ai->ai_addrlen);
	int saved = errno;
	evutil_freeaddrinfo(ai);
	if (!l)
		return err_make(errp, saved ? saved : EIO, "cannot listen on %s:%d", host, port);
	if (bound_port) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		*bound_port = port;
		if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &sl) == 0)
			*bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			                                             : ((struct sockaddr_in *)&ss)->sin_port);
	}
	add_listener(srv, l);
	return 0;
}

void http_server_stop_accepting(struct http_server *srv)
{
	struct listener *li;
	while ((li = TAILQ_FIRST(&srv->listeners))) {
		TAILQ_REMOVE(&srv->listeners, li, link);
		evconnlistener_free(li->l); /* closes the socket: new connections are refused */
		free(li);
	}
}

static void free_now(struct http_server *srv)
{
	struct http_conn *c;
	while ((c = TAILQ_FIRST(&srv->conns)))
		conn_free(c, false);
	http_server_stop_accepting(srv);
	free(srv);
}

static void deferred_free_cb(evutil_socket_t fd, short what, void *arg)
{
	free_now(arg);
}

void http_server_free(struct http_server *srv)
{
	if (!srv || srv->dead)
		return;
	srv->dead = true;
	if (srv->depth == 0)
		return free_now(srv);
	http_server_stop_accepting(srv);
	struct http_conn *c;
	TAILQ_FOREACH(c, &srv->conns, link)
		if (c->bev)
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	struct timeval zero = {0, 0};
	event_base_once(srv->base, -1, EV_TIMEOUT, deferred_free_cb, srv, &zero);
}
