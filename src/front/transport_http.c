/* The transport seam over http/server: each request becomes a front_req once its body is
 * buffered whole or, when the stream hook says its handler wants it so, as soon as its
 * headers are in, the body then handed to the handler's consumer piece by piece. Answers,
 * chunked ones included, go out through the engine, and a client that goes away before its
 * answer is reported. What the handler reads (method, target, headers, body, peer) is
 * copied out of the engine's request, so it stays valid until the answer even when the
 * connection is gone. */
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
#include <unistd.h>

#include "front/transport_http.h"
#include "http/server.h"

#define HEAD_MAX (64 * 1024)          /* bytes of request line and header fields */
#define READ_TIMEOUT_MS (3600 * 1000) /* a client silent mid-request, or idle, this long is cut off */

struct front_http {
	struct event_base *base;
	struct http_server *srv;
	front_handler_cb cb;
	front_stream_cb wants; /* NULL: every body read whole */
	void *arg;
	size_t max_body;         /* bytes of a request body read whole, and of a streamed one whose
	                          * route sets no limit */
	uint16_t port;           /* bound */
	TAILQ_HEAD(, hreq) reqs; /* handed to the front and not answered */
	TAILQ_HEAD(, front_http_listener) extra; /* front_http_listen_fd's */
};

struct front_http_listener {
	struct front_http *h; /* NULL once h is freed */
	struct evconnlistener *l;
	TAILQ_ENTRY(front_http_listener) link;
};

/* One request handed to the front (the transport's impl). */
struct hreq {
	struct front_http *h;     /* NULL once the transport is freed */
	struct http_request *req; /* NULL once the connection is gone */
	struct front_req *rq;
	bool watching; /* the front wants to hear of the client going away */
	bool reading;  /* a streamed body is being read (the engine calls back with x) */
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
	if (x->req) {
		http_request_set_close_cb(x->req, NULL, NULL);
		http_reply_on_drain(x->req, 0, NULL, NULL);
	}
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

/* The front is done with x: freed now, or, while the engine still streams its body to x,
 * at the body's end (the rest is dropped). */
static void hreq_answered(struct hreq *x)
{
	x->rq = NULL;
	if (x->reading && x->req)
		return;
	hreq_free(x);
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
	hreq_answered(x);
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
	hreq_answered(x);
}

/* The engine: the connection ended before the answer was complete. */
static void closed_cb(void *arg, struct http_request *req)
{
	struct hreq *x = arg;
	x->req = NULL;
	if (!x->rq) { /* answered; only the body was still being read */
		hreq_free(x);
		return;
	}
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

static void plain_reply(struct http_request *req, int status, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, strlen(text));
	http_response_add_header(req, "Content-Type", "text/plain; charset=utf-8");
	http_reply(req, status, b);
	evbuffer_free(b);
}

/* A streamed body's pieces, end and early end, from the engine to the front. */
static void s_data(void *arg, struct http_request *req, const void *data, size_t len)
{
	struct hreq *x = arg;
	if (x->rq)
		front_req_body_data(x->rq, data, len);
}

static void s_end(void *arg, struct http_request *req)
{
	struct hreq *x = arg;
	x->reading = false;
	if (!x->rq) {
		hreq_free(x);
		return;
	}
	front_req_body_end(x->rq, http_request_trailers(req)); /* may answer, and free x */
}

static void s_abort(void *arg, struct http_request *req, enum http_abort why, const char *msg)
{
	struct hreq *x = arg;
	struct front_req *rq = x->rq;
	x->reading = false;
	hreq_free(x); /* the engine answers (400, 413) or the client is gone: no answer of ours */
	if (rq)
		front_req_body_abort(rq, why == HTTP_ABORT_CLOSED      ? FRONT_BODY_GONE
		                         : why == HTTP_ABORT_TOO_LARGE ? FRONT_BODY_TOO_LARGE
		                                                       : FRONT_BODY_MALFORMED);
}

static const struct http_body_ops stream_ops = {.data_cb = s_data, .end_cb = s_end, .abort_cb = s_abort};

static int t_read_body(void *impl, uint64_t limit)
{
	struct hreq *x = impl;
	if (!x->req)
		return -ECONNRESET;
	uint64_t route = http_request_body_max(x->req); /* request_cb set it */
	if (!limit || limit > route)
		limit = route;
	http_request_set_body_max(x->req, limit);
	x->reading = true;
	http_request_read_body(x->req, HTTP_BODY_STREAM, 0, &stream_ops, x);
	if (!x->req) /* a Content-Length over limit, answered 413 at once (error_cb) */
		return -EFBIG;
	return 0;
}

/* Back-pressure: the answer's bytes queued, and the engine's drain report. */
static size_t t_pending(void *impl)
{
	struct hreq *x = impl;
	return x->req ? http_reply_pending(x->req) : 0;
}

static void drained_cb(void *arg, struct http_request *req)
{
	struct hreq *x = arg;
	if (x->rq)
		front_req_drained(x->rq);
}

static void t_on_drain(void *impl, size_t low_water, bool on)
{
	struct hreq *x = impl;
	if (x->req)
		http_reply_on_drain(x->req, low_water, on ? drained_cb : NULL, x);
}

static const struct front_transport http_transport = {
    .send = t_send,
    .start = t_start,
    .chunk = t_chunk,
    .end = t_end,
    .watch_close = t_watch_close,
    .read_body = t_read_body,
    .pending = t_pending,
    .on_drain = t_on_drain,
};

/* The request goes to the front: its body whole (streamed false), or to come, or refused
 * for passing the limit refused_max (> 0; no body). */
static void hand_over(struct front_http *h, struct http_request *req, bool streamed, uint64_t refused_max)
{
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
	if (!streamed && !refused_max)
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
	    .streamed = streamed,
	    .refused_max = refused_max,
	};
	x->rq = front_req_new(&http_transport, x, &in);
	h->cb(x->rq, h->arg);
}

/* The whole body is in. */
static void body_end_cb(void *arg, struct http_request *req)
{
	hand_over(arg, req, false, 0);
}

/* The front's request of req, if it has one and is still on the connection. */
static struct hreq *hreq_of(struct front_http *h, struct http_request *req)
{
	struct hreq *x;
	TAILQ_FOREACH(x, &h->reqs, link)
		if (x->req == req)
			return x;
	return NULL;
}

/* x's answer is dropped from now on (the connection is about to end). */
static void hreq_detach(struct hreq *x)
{
	http_request_set_close_cb(x->req, NULL, NULL);
	http_reply_on_drain(x->req, 0, NULL, NULL);
	x->req = NULL;
	x->reading = false;
}

/* The engine refuses a request. With a stream hook (the front routes), a body over the
 * limit request_cb set (before it was read, or while) is answered by the front in its
 * service's shape, through a refused request handed to the handler; the engine answers
 * anything else, and what the handler does not answer within the call, in text. */
static void error_cb(void *arg, struct http_request *req, int status, enum http_error err, const char *msg)
{
	struct front_http *h = arg;
	if (status != 413 || !h->wants || http_request_data(req) != h)
		return;
	struct hreq *x = hreq_of(h, req);
	if (x) /* a streamed request whose Content-Length passed the handler's own limit */
		hreq_detach(x);
	hand_over(h, req, false, http_request_body_max(req));
	if ((x = hreq_of(h, req)))
		hreq_detach(x);
}

static const struct http_body_ops body_ops = {.end_cb = body_end_cb};

/* Asks the stream hook about req, with a probe made of the engine's own strings. */
static bool wants_stream(struct front_http *h, struct http_request *req, uint64_t *body_max)
{
	const char *peer = http_request_peer(req);
	struct front_req_info in = {
	    .method_name = http_request_method(req),
	    .uri = http_request_target(req),
	    .headers = http_request_headers(req),
	    .peer = peer && peer[0] ? peer : NULL,
	    .peer_port = http_request_peer_port(req),
	    .http_major = 1,
	    .http_minor = http_request_minor(req),
	    .streamed = true,
	};
	struct front_req *probe = front_req_new(&http_transport, NULL, &in);
	*body_max = 0;
	bool yes = h->wants(probe, h->arg, body_max);
	front_req_discard(probe);
	return yes;
}

static void request_cb(void *arg, struct http_request *req)
{
	static const char *const served[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
	struct front_http *h = arg;
	const char *m = http_request_method(req);
	bool ok = false;
	for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
		ok = ok || strcmp(m, served[i]) == 0;
	http_request_set_body_max(req, h->max_body); /* what a refused request's body may be */
	if (!ok)
		return plain_reply(req, 501, "Not Implemented\n");
	/* The route's limit: a body read whole is kept within the transport's, a streamed one
	 * within its route's. From here on a 413 is the front's to answer (error_cb). */
	uint64_t max = 0;
	bool stream = h->wants && wants_stream(h, req, &max);
	uint64_t limit = !max ? h->max_body : stream || max < h->max_body ? max : h->max_body;
	http_request_set_body_max(req, limit);
	http_request_set_data(req, h);
	int64_t cl = http_request_content_length(req);
	if (stream && (cl < 0 || (uint64_t)cl <= limit))
		return hand_over(h, req, true, 0);
	/* The body is kept whole, or, declared over the limit, refused at once: error_cb. */
	http_request_read_body(req, HTTP_BODY_BUFFER, UINT64_MAX, &body_ops, arg);
}

static const struct http_server_ops server_ops = {.request_cb = request_cb, .error_cb = error_cb};

int front_http_new(struct event_base *base, const char *host, uint16_t port, size_t max_body,
                   front_handler_cb cb, void *arg, struct front_http **out, struct err *errp)
{
	struct front_http *h = xcalloc(1, sizeof(*h));
	h->cb = cb;
	h->arg = arg;
	h->max_body = max_body ? max_body : 80 * 1024 * 1024;
	TAILQ_INIT(&h->reqs);
	TAILQ_INIT(&h->extra);
	h->base = base;
	/* No limit of the engine's own: request_cb sets each request's once it is routed. */
	struct http_server_cfg cfg = {
	    .head_max = HEAD_MAX, .body_max = UINT64_MAX, .read_timeout_ms = READ_TIMEOUT_MS};
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

void front_http_set_stream(struct front_http *h, front_stream_cb wants)
{
	h->wants = wants;
}

uint16_t front_http_port(const struct front_http *h)
{
	return h->port;
}

int front_http_serve_fd(struct front_http *h, int fd)
{
	return http_server_serve_fd(h->srv, fd);
}

static void extra_accept_cb(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa, int salen,
                            void *arg)
{
	struct front_http_listener *l = arg;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	http_server_serve_fd(l->h->srv, fd); /* closes fd on failure */
}

int front_http_listen_fd(struct front_http *h, int lfd, struct front_http_listener **out, struct err *errp)
{
	struct front_http_listener *l = xcalloc(1, sizeof(*l));
	l->h = h;
	evutil_make_socket_nonblocking(lfd);
	/* backlog 0: the socket is listening already. */
	l->l = evconnlistener_new(h->base, extra_accept_cb, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                          0, lfd);
	if (!l->l) {
		close(lfd);
		free(l);
		return err_make(errp, EIO, "cannot serve HTTP on socket %d", lfd);
	}
	TAILQ_INSERT_TAIL(&h->extra, l, link);
	*out = l;
	return 0;
}

void front_http_listener_free(struct front_http_listener *l)
{
	if (!l)
		return;
	if (l->h) {
		TAILQ_REMOVE(&l->h->extra, l, link);
		evconnlistener_free(l->l);
	}
	free(l);
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
		struct front_req *rq = x->rq;
		if (!rq) { /* answered; only its body was still being read */
			hreq_free(x);
		} else if (x->reading) { /* no more of its body comes */
			hreq_free(x);
			front_req_body_abort(rq, FRONT_BODY_GONE);
		}
	}
	/* The extra listeners' handles stay with their owners, closed. */
	struct front_http_listener *l;
	while ((l = TAILQ_FIRST(&h->extra))) {
		TAILQ_REMOVE(&h->extra, l, link);
		evconnlistener_free(l->l);
		l->h = NULL;
	}
	http_server_free(h->srv);
	free(h);
}
