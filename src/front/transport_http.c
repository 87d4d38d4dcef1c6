/* The transport seam over http/server: each request, its body buffered whole, becomes a
 * front_req; answers, chunked ones included, go out through the engine, and a client that
 * goes away before its answer is reported. What the handler reads (method, target,
 * headers, body, peer) is copied out of the engine's request, so it stays valid until the
 * answer even when the connection is gone. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <lambdad/xmalloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "front/transport_http.h"
#include "http/server.h"

#define HEAD_MAX (64 * 1024)          /* bytes of request line and header fields */
#define READ_TIMEOUT_MS (3600 * 1000) /* a client silent mid-request, or idle, this long is cut off */

struct front_http {
	struct http_server *srv;
	front_handler_cb cb;
	void *arg;
	uint16_t port;           /* bound */
	TAILQ_HEAD(, hreq) reqs; /* handed to the front and not answered */
};

/* One request handed to the front (the transport's impl). */
struct hreq {
	struct front_http *h;     /* NULL once the transport is freed */
	struct http_request *req; /* NULL once the connection is gone */
	struct front_req *rq;
	bool watching; /* the front wants to hear of the client going away */
	char *method, *uri;
	struct evkeyvalq headers;
	struct evbuffer *body;
	char peer[64];
	TAILQ_ENTRY(hreq) link;
};

static void hreq_free(struct hreq *x)
{
	if (x->h)
		TAILQ_REMOVE(&x->h->reqs, x, link);
	if (x->req)
		http_request_set_close_cb(x->req, NULL, NULL);
	free(x->method);
	free(x->uri);
	evhttp_clear_headers(&x->headers);
	evbuffer_free(x->body);
	free(x);
}

/* The answer's head, as evhttp wrote it: the handler's headers, a Date, and the default
 * Content-Type when a body may follow. Returns whether the handler asked to close. */
static void add_headers(struct hreq *x, int status, const struct evkeyvalq *headers)
{
	struct evkeyval *kv;
	bool date = false, ctype = false;
	TAILQ_FOREACH(kv, headers, next) {
		if (strcasecmp(kv->key, "Connection") == 0) {
			if (strcasestr(kv->value, "close"))
				http_response_close(x->req);
			continue;
		}
		date = date || strcasecmp(kv->key, "Date") == 0;
		ctype = ctype || strcasecmp(kv->key, "Content-Type") == 0;
		http_response_add_header(x->req, kv->key, kv->value);
	}
	if (!date) {
		char buf[64];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		http_response_add_header(x->req, "Date", buf);
	}
	bool head = strcmp(x->method, "HEAD") == 0;
	if (!ctype && !head && status >= 200 && status != 204 && status != 304)
		http_response_add_header(x->req, "Content-Type", "text/html; charset=ISO-8859-1");
}

static void t_send(void *impl, int status, const struct evkeyvalq *headers, struct evbuffer *body)
{
	struct hreq *x = impl;
	if (x->req) {
		add_headers(x, status, headers);
		http_reply(x->req, status, body);
	} else if (body) {
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	hreq_free(x);
}

static void t_start(void *impl, int status, const struct evkeyvalq *headers)
{
	struct hreq *x = impl;
	if (!x->req)
		return;
	add_headers(x, status, headers);
	http_reply_start(x->req, status);
}

static void t_chunk(void *impl, struct evbuffer *data)
{
	struct hreq *x = impl;
	if (x->req)
		http_reply_chunk_buffer(x->req, data);
	else
		evbuffer_drain(data, evbuffer_get_length(data));
}

static void t_end(void *impl)
{
	struct hreq *x = impl;
	if (x->req)
		http_reply_end(x->req, NULL);
	hreq_free(x);
}

/* The engine: the connection ended before the answer was complete. */
static void closed_cb(void *arg, struct http_request *req)
{
	struct hreq *x = arg;
	x->req = NULL;
	if (!x->watching)
		return; /* the front answers later; the answer is dropped then */
	struct front_req *rq = x->rq;
	hreq_free(x);
	front_req_closed(rq);
}

static void t_watch_close(void *impl, struct front_req *rq, bool on)
{
	struct hreq *x = impl;
	x->watching = on;
	if (on && !x->req) { /* gone already */
		hreq_free(x);
		front_req_closed(rq);
	}
}

static const struct front_transport http_transport = {
    .send = t_send,
    .start = t_start,
    .chunk = t_chunk,
    .end = t_end,
    .watch_close = t_watch_close,
};

/* The whole body is in: the request goes to the front. */
static void body_end_cb(void *arg, struct http_request *req)
{
	struct front_http *h = arg;
	struct hreq *x = xcalloc(1, sizeof(*x));
	x->h = h;
	x->req = req;
	x->method = xstrdup(http_request_method(req));
	x->uri = xstrdup(http_request_target(req));
	TAILQ_INIT(&x->headers);
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, http_request_headers(req), next)
		evhttp_add_header(&x->headers, kv->key, kv->value);
	x->body = evbuffer_new();
	evbuffer_add_buffer(x->body, http_request_body(req));
	snprintf(x->peer, sizeof(x->peer), "%s", http_request_peer(req));
	TAILQ_INSERT_TAIL(&h->reqs, x, link);
	http_request_set_close_cb(req, closed_cb, x);
	struct front_req_info in = {
	    .method_name = x->method,
	    .uri = x->uri,
	    .headers = &x->headers,
	    .body = x->body,
	    .peer = x->peer[0] ? x->peer : NULL,
	    .peer_port = http_request_peer_port(req),
	    .http_major = 1,
	    .http_minor = http_request_minor(req),
	};
	x->rq = front_req_new(&http_transport, x, &in);
	h->cb(x->rq, h->arg);
}

static const struct http_body_ops body_ops = {.end_cb = body_end_cb};

static void plain_reply(struct http_request *req, int status, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, strlen(text));
	http_response_add_header(req, "Content-Type", "text/plain; charset=utf-8");
	http_reply(req, status, b);
	evbuffer_free(b);
}

static void request_cb(void *arg, struct http_request *req)
{
	static const char *const served[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
	const char *m = http_request_method(req);
	bool ok = false;
	for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
		ok = ok || strcmp(m, served[i]) == 0;
	if (!ok)
		return plain_reply(req, 501, "Not Implemented\n");
	/* The body is kept whole; body_max (the server's) bounds it. */
	http_request_read_body(req, HTTP_BODY_BUFFER, UINT64_MAX, &body_ops, arg);
}

static const struct http_server_ops server_ops = {.request_cb = request_cb};

int front_http_new(struct event_base *base, const char *host, uint16_t port, size_t max_body,
                   front_handler_cb cb, void *arg, struct front_http **out, struct err *errp)
{
	struct front_http *h = xcalloc(1, sizeof(*h));
	h->cb = cb;
	h->arg = arg;
	TAILQ_INIT(&h->reqs);
	struct http_server_cfg cfg = {
	    .head_max = HEAD_MAX, .body_max = max_body, .read_timeout_ms = READ_TIMEOUT_MS};
	h->srv = http_server_new(base, &cfg, &server_ops, h);
	if (host) {
		struct err e = {0};
		int bound = 0;
		if (http_server_listen(h->srv, host, port, &bound, &e) < 0) {
			int r = err_make(errp, e.code == EADDRINUSE || !e.code ? EADDRINUSE : e.code, "%s",
			                 e.msg);
			front_http_free(h);
			return r;
		}
		h->port = (uint16_t)bound;
	}
	*out = h;
	return 0;
}

uint16_t front_http_port(const struct front_http *h)
{
	return h->port;
}

int front_http_serve_fd(struct front_http *h, int fd)
{
	return http_server_serve_fd(h->srv, fd);
}

void front_http_stop_accepting(struct front_http *h)
{
	if (h)
		http_server_stop_accepting(h->srv);
}

void front_http_free(struct front_http *h)
{
	if (!h)
		return;
	/* Requests still with the front keep their copies; their answers are dropped. */
	struct hreq *x;
	while ((x = TAILQ_FIRST(&h->reqs))) {
		TAILQ_REMOVE(&h->reqs, x, link);
		if (x->req)
			http_request_set_close_cb(x->req, NULL, NULL);
		x->h = NULL;
		x->req = NULL;
	}
	http_server_free(h->srv);
	free(h);
}
