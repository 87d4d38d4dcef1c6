/* The transport seam over evhttp: each evhttp request becomes a front_req; answers, chunked
 * ones included, go out through evhttp, and a client that goes away mid-answer is reported. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <lambdad/xmalloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "front/transport_evhttp.h"
#include "http/status.h"

struct front_evhttp {
	struct evhttp *http;
	struct evhttp_bound_socket *listener; /* NULL once stop_accepting ran */
	front_handler_cb cb;
	void *arg;
	uint16_t port; /* bound */
};

/* One request in flight: the evhttp request and its connection, for the close callback. */
struct evreq {
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct front_req *rq;
	char peer[64];
};

static void copy_headers(struct evhttp_request *req, const struct evkeyvalq *h)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, h, next)
		evhttp_add_header(oh, kv->key, kv->value);
}

static void ev_send(void *impl, int status, const struct evkeyvalq *headers, struct evbuffer *body)
{
	struct evreq *x = impl;
	copy_headers(x->req, headers);
	/* A request whose client went away meanwhile is detached from its connection;
	 * evhttp frees it once answered. */
	evhttp_send_reply(x->req, status, http_reason(status), body);
	free(x);
}

static void ev_start(void *impl, int status, const struct evkeyvalq *headers)
{
	struct evreq *x = impl;
	copy_headers(x->req, headers);
	evhttp_send_reply_start(x->req, status, http_reason(status));
}

static void ev_chunk(void *impl, struct evbuffer *data)
{
	struct evreq *x = impl;
	evhttp_send_reply_chunk(x->req, data);
}

static void ev_end(void *impl)
{
	struct evreq *x = impl;
	evhttp_send_reply_end(x->req);
	free(x);
}

/* The client closed its connection: libevent detached the request from it, so it is ours
 * to free. */
static void closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct evreq *x = arg;
	if (x->conn != conn)
		return;
	struct front_req *rq = x->rq;
	evhttp_request_free(x->req);
	free(x);
	front_req_closed(rq);
}

static void ev_watch_close(void *impl, struct front_req *rq, bool on)
{
	struct evreq *x = impl;
	if (!on) {
		if (x->conn)
			evhttp_connection_set_closecb(x->conn, NULL, NULL);
		return;
	}
	x->conn = evhttp_request_get_connection(x->req);
	if (!x->conn) { /* gone already */
		evhttp_request_free(x->req);
		free(x);
		front_req_closed(rq);
		return;
	}
	evhttp_connection_set_closecb(x->conn, closed_cb, x);
}

static const struct front_transport evhttp_transport = {
    .send = ev_send,
    .start = ev_start,
    .chunk = ev_chunk,
    .end = ev_end,
    .watch_close = ev_watch_close,
};

static const char *method_name(enum evhttp_cmd_type c)
{
	switch (c) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	default:
		return "";
	}
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct front_evhttp *h = arg;
	struct evreq *x = xcalloc(1, sizeof(*x));
	x->req = req;
	struct front_req_info in = {
	    .method_name = method_name(evhttp_request_get_command(req)),
	    .uri = evhttp_request_get_uri(req),
	    .headers = evhttp_request_get_input_headers(req),
	    .body = evhttp_request_get_input_buffer(req),
	    .http_major = req->major,
	    .http_minor = req->minor,
	};
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	if (conn) {
		char *peer = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(conn, &peer, &port);
		if (peer) {
			snprintf(x->peer, sizeof(x->peer), "%s", peer);
			in.peer = x->peer;
		}
		in.peer_port = port;
	}
	x->rq = front_req_new(&evhttp_transport, x, &in);
	h->cb(x->rq, h->arg);
}

int front_evhttp_new(struct event_base *base, const char *host, uint16_t port, size_t max_body,
                     front_handler_cb cb, void *arg, struct front_evhttp **out, struct err *errp)
{
	struct front_evhttp *h = xcalloc(1, sizeof(*h));
	h->cb = cb;
	h->arg = arg;
	h->http = evhttp_new(base);
	if (!h->http) {
		free(h);
		return err_make(errp, ENOMEM, "evhttp_new");
	}
	evhttp_set_max_body_size(h->http, max_body);
	evhttp_set_max_headers_size(h->http, 64 * 1024);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH |
	                                        EVHTTP_REQ_OPTIONS);
	evhttp_set_timeout(h->http, 3600);
	evhttp_set_gencb(h->http, request_cb, h);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h->http, host, port);
	if (!bs) {
		int r = err_make(errp, EADDRINUSE, "cannot listen on %s:%u: %s", host, port, strerror(errno));
		front_evhttp_free(h);
		return r;
	}
	int one = 1;
	setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	h->listener = bs;
	h->port = port;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)&ss)->sin_port);
	*out = h;
	return 0;
}

uint16_t front_evhttp_port(const struct front_evhttp *h)
{
	return h->port;
}

void front_evhttp_stop_accepting(struct front_evhttp *h)
{
	if (h && h->listener) {
		/* Frees the evconnlistener, which closes the socket: connects are refused. */
		evhttp_del_accept_socket(h->http, h->listener);
		h->listener = NULL;
	}
}

void front_evhttp_free(struct front_evhttp *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	free(h);
}
