/* One environment's Runtime API server: a small HTTP/1.1 server on bufferevents, on the
 * environment's own listener. It is not evhttp because libevent 2.1's evhttp hands a
 * server request over only once its whole body is read and drops chunked trailers,
 * while a streamed response must be relayed chunk by chunk and may end in trailers. */
#include "rtapi/rtapi.h"
#include "http/status.h"

#include <ctype.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "base/codec.h"

#define PREFIX "/2018-06-01/runtime/"
#define HEAD_MAX (64 * 1024)                        /* bytes of a request line and headers (or trailers) */
#define HEADERS_MAX 128                             /* header (or trailer) fields of one request */
#define BODY_MAX (4 * (uint64_t)RTAPI_MAX_RESPONSE) /* a buffered body; past the 6 MB limit on purpose */
#define IDLE_INPUT_MAX (1024 * 1024) /* bytes a client may send ahead while its request waits */

enum conn_state {
	C_LINE,       /* reading the request line */
	C_HEADERS,    /* reading header fields */
	C_BODY,       /* reading a Content-Length body (remaining bytes) */
	C_CHUNK_SIZE, /* reading a chunk-size line */
	C_CHUNK_DATA, /* reading chunk data (remaining bytes) */
	C_CHUNK_END,  /* reading the CRLF after chunk data */
	C_TRAILERS,   /* reading trailer fields */
	C_WAITING,    /* the request was dispatched; its reply is not written yet */
	C_WRITING,    /* the reply is being written */
};

/* One client connection and the request being read on it. */
struct rtapi_conn {
	struct rtapi *rt;
	struct bufferevent *bev;
	enum conn_state state;
	size_t head_bytes;
	/* the current request */
	char *method;
	char *target;
	int minor; /* HTTP/1.minor */
	struct evkeyvalq headers;
	struct evkeyvalq trailers;
	struct evbuffer *body; /* buffered bodies */
	uint64_t remaining;    /* of a Content-Length body or a chunk */
	uint64_t body_len;     /* so far */
	bool chunked;
	bool close_after; /* close once the reply is written */
	bool too_large;   /* a buffered body passed BODY_MAX */
	bool stream;      /* a streamed response: relayed as it arrives */
	char stream_id[64];
	TAILQ_ENTRY(rtapi_conn) link;
};
TAILQ_HEAD(conn_list, rtapi_conn);

struct rtapi {
	struct event_base *base;
	struct evconnlistener *listener;
	const struct rtapi_ops *ops;
	void *arg;
	struct rtapi_sm sm;
	struct conn_list conns;
	struct rtapi_conn *parked; /* the connection of the waiting /next, if any */
	bool dead;
};

static void conn_process(struct rtapi_conn *c);
static void stream_cut(struct rtapi_conn *c, const char *why);

/* ---- connections ---- */

static void conn_reset_request(struct rtapi_conn *c)
{
	free(c->method);
	free(c->target);
	c->method = c->target = NULL;
	evhttp_clear_headers(&c->headers);
	evhttp_clear_headers(&c->trailers);
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
	c->head_bytes = 0;
	c->remaining = c->body_len = 0;
	c->minor = 1;
	c->chunked = c->too_large = c->stream = false;
	c->stream_id[0] = 0;
	c->state = C_LINE;
}

/* Frees a connection now; what it was doing is forgotten (a parked /next is
 * unparked, an open stream ends as truncated). */
static void conn_free(struct rtapi_conn *c)
{
	struct rtapi *rt = c->rt;
	if (c->stream && !rt->dead)
		stream_cut(c, "the runtime closed the connection before the end of the streamed response");
	if (rt->parked == c) {
		rt->parked = NULL;
		rtapi_sm_unpark(&rt->sm);
	}
	TAILQ_REMOVE(&rt->conns, c, link);
	bufferevent_free(c->bev);
	conn_reset_request(c);
	evbuffer_free(c->body);
	free(c);
}

/* Writes a reply: status line, Content-Type (when ctype), Content-Length, the lines in
 * extra (each ending CRLF, may be NULL) and body (drained; NULL for none). */
static void conn_reply(struct rtapi_conn *c, int code, const char *ctype, const char *extra,
                       struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = body ? evbuffer_get_length(body) : 0;
	const char *conn = evhttp_find_header(&c->headers, "Connection");
	if (c->minor == 0 && !(conn && strcasecmp(conn, "keep-alive") == 0))
		c->close_after = true;
	if (conn && strcasecmp(conn, "close") == 0)
		c->close_after = true;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", code, http_reason(code));
	if (ctype)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	evbuffer_add_printf(out, "Content-Length: %zu\r\n%s%s\r\n", len, extra ? extra : "",
	                    c->close_after  ? "Connection: close\r\n"
	                    : c->minor == 0 ? "Connection: keep-alive\r\n"
	                                    : "");
	if (body && (!c->method || strcmp(c->method, "HEAD") != 0))
		evbuffer_add_buffer(out, body);
	else if (body)
		evbuffer_drain(body, len);
	c->state = C_WRITING;
	bufferevent_enable(c->bev, EV_WRITE);
}

static void reply_json(struct rtapi_conn *c, int code, const char *json)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, json, strlen(json));
	conn_reply(c, code, "application/json", NULL, b);
	evbuffer_free(b);
}

static void reply_error(struct rtapi_conn *c, int code, const char *type, const char *msg)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
	reply_json(c, code, body);
}

/* A request that cannot be read on: reply and close the connection after. A stream it
 * carried ends now, cut short. */
static void reply_fatal(struct rtapi_conn *c, int code, const char *type, const char *msg)
{
	if (c->stream) {
		char why[256];
		snprintf(why, sizeof(why), "the streamed response was malformed: %s", msg);
		stream_cut(c, why);
		if (c->rt->dead)
			return;
	}
	c->close_after = true;
	reply_error(c, code, type, msg);
}

/* ---- streamed responses ---- */

static void stream_end(struct rtapi_conn *c, const char *etype, struct evbuffer *ebody, bool truncated)
{
	struct rtapi *rt = c->rt;
	char id[64];
	snprintf(id, sizeof(id), "%s", c->stream_id);
	c->stream = false;
	rtapi_sm_stream_end(&rt->sm);
	rt->ops->stream_end_cb(rt->arg, id, etype, ebody, truncated);
}

/* Ends the open stream of c as cut short, with an error document saying why. */
static void stream_cut(struct rtapi_conn *c, const char *why)
{
	char doc[512];
	snprintf(doc, sizeof(doc), "{\"errorMessage\":\"%s\",\"errorType\":\"Runtime.TruncatedResponse\"}",
	         why);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, doc, strlen(doc));
	stream_end(c, "Runtime.TruncatedResponse", b, true);
	evbuffer_free(b);
}

/* The whole stream is in, trailers included: its outcome, then 202. */
static void stream_finish(struct rtapi_conn *c)
{
	struct rtapi *rt = c->rt;
	const char *etype = evhttp_find_header(&c->trailers, "Lambda-Runtime-Function-Error-Type");
	const char *ebody64 = evhttp_find_header(&c->trailers, "Lambda-Runtime-Function-Error-Body");
	struct evbuffer *b = evbuffer_new();
	if (etype || ebody64) {
		size_t n = 0;
		unsigned char *doc = ebody64 ? b64_decode(ebody64, strlen(ebody64), &n) : NULL;
		if (doc)
			evbuffer_add(b, doc, n);
		else
			evbuffer_add_printf(b,
			                    "{\"errorMessage\":\"the function failed while streaming its "
			                    "response\",\"errorType\":\"%s\"}",
			                    etype ? etype : "Unhandled");
		free(doc);
	}
	stream_end(c, etype || ebody64 ? (etype ? etype : "Unhandled") : NULL, b, false);
	evbuffer_free(b);
	if (!rt->dead)
		reply_json(c, 202, "{\"status\":\"OK\"}");
}

/* Relays n body bytes at the head of input as stream chunks and drains them. Returns
 * false when the server went away (rtapi_free) or the limit was passed. */
static bool stream_relay(struct rtapi_conn *c, struct evbuffer *in, size_t n)
{
	struct rtapi *rt = c->rt;
	if (c->body_len + n > RTAPI_MAX_STREAM) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Exceeded maximum allowed payload size (%u bytes).",
		         RTAPI_MAX_STREAM);
		stream_cut(c, "the streamed response exceeded the maximum allowed size");
		if (!rt->dead)
			reply_fatal(c, 413, "RequestEntityTooLarge", msg);
		return false;
	}
	c->body_len += n;
	while (n > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, (ev_ssize_t)n, NULL, &v, 1) < 1)
			break;
		size_t k = v.iov_len < n ? v.iov_len : n;
		rt->ops->stream_chunk_cb(rt->arg, c->stream_id, v.iov_base, k);
		if (rt->dead)
			return false;
		evbuffer_drain(in, k);
		n -= k;
	}
	return true;
}

/* Takes n body bytes at the head of input: relayed for a stream, else buffered (up to
 * BODY_MAX, past which the request is marked too large and the rest discarded). */
static bool body_take(struct rtapi_conn *c, struct evbuffer *in, size_t n)
{
	if (c->stream)
		return stream_relay(c, in, n);
	if (c->body_len + n > BODY_MAX)
		c->too_large = true;
	if (c->too_large)
		evbuffer_drain(in, n);
	else
		evbuffer_remove_buffer(in, c->body, n);
	c->body_len += n;
	return true;
}

/* ---- the routes ---- */

static void handle_next(struct rtapi_conn *c)
{
	struct rtapi *rt = c->rt;
	int code = rtapi_sm_next(&rt->sm);
	if (code) {
		reply_error(c, code, "InvalidStateTransition",
		            rt->sm.state == RTAPI_FAILED ? "the environment reported an init error"
		                                         : "another /next is already waiting");
		return;
	}
	rt->parked = c;
	rt->ops->next_cb(rt->arg);
}

static void handle_complete(struct rtapi_conn *c, const char *id, bool is_error)
{
	struct rtapi *rt = c->rt;
	struct evbuffer *body = c->body;
	int code = rtapi_sm_complete(&rt->sm, id);
	if (code != 202) {
		reply_error(c, 403, "InvalidRequestID", "Invalid request ID");
		return;
	}
	if (!is_error && (c->too_large || evbuffer_get_length(body) > RTAPI_MAX_RESPONSE)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Exceeded maximum allowed payload size (%u bytes).",
		         RTAPI_MAX_RESPONSE);
		reply_error(c, 413, "RequestEntityTooLarge", msg);
		rt->ops->too_large_cb(rt->arg, id);
		return;
	}
	const char *etype = evhttp_find_header(&c->headers, "Lambda-Runtime-Function-Error-Type");
	char idcopy[64];
	snprintf(idcopy, sizeof(idcopy), "%s", id);
	if (is_error)
		rt->ops->error_cb(rt->arg, idcopy, etype, body);
	else
		rt->ops->response_cb(rt->arg, idcopy, body);
	if (!rt->dead)
		reply_json(c, 202, "{\"status\":\"OK\"}");
}

static void handle_init_error(struct rtapi_conn *c)
{
	struct rtapi *rt = c->rt;
	if (rtapi_sm_init_error(&rt->sm) != 202) {
		reply_error(c, 403, "InvalidStateTransition", "init/error after initialization");
		return;
	}
	const char *etype = evhttp_find_header(&c->headers, "Lambda-Runtime-Function-Error-Type");
	rt->ops->init_error_cb(rt->arg, etype, c->body);
	if (!rt->dead)
		reply_json(c, 202, "{\"status\":\"OK\"}");
}

enum route { R_NONE, R_NEXT, R_INIT_ERROR, R_RESPONSE, R_ERROR };

/* Splits the target into a route and, for /invocation/{id}/..., the id (into id). */
static enum route route_of(const char *target, char *id, size_t idsize)
{
	size_t n = strcspn(target, "?");
	size_t pl = strlen(PREFIX);
	if (n >= 256 || n < pl || strncmp(target, PREFIX, pl) != 0)
		return R_NONE;
	char path[256];
	memcpy(path, target + pl, n - pl);
	path[n - pl] = 0;
	if (strcmp(path, "invocation/next") == 0)
		return R_NEXT;
	if (strcmp(path, "init/error") == 0)
		return R_INIT_ERROR;
	if (strncmp(path, "invocation/", 11) != 0)
		return R_NONE;
	char *s = path + 11;
	char *slash = strchr(s, '/');
	if (!slash || slash == s || (strcmp(slash, "/response") != 0 && strcmp(slash, "/error") != 0))
		return R_NONE;
	bool err = strcmp(slash, "/error") == 0;
	*slash = 0;
	snprintf(id, idsize, "%s", s);
	return err ? R_ERROR : R_RESPONSE;
}

/* A whole request is in (a stream's headers only): serve it. */
static void dispatch(struct rtapi_conn *c)
{
	struct rtapi *rt = c->rt;
	c->state = C_WAITING;
	if (rt->dead)
		return reply_fatal(c, 410, "EnvironmentGone", "the environment is shutting down");
	char id[256] = "";
	enum route r = route_of(c->target, id, sizeof(id));
	bool get = strcmp(c->method, "GET") == 0, post = strcmp(c->method, "POST") == 0;
	if (r == R_NONE)
		return reply_error(c, 404, "NotFound", "unknown path");
	if (r == R_NEXT && !get)
		return reply_error(c, 405, "MethodNotAllowed", "use GET");
	if (r != R_NEXT && !post)
		return reply_error(c, 405, "MethodNotAllowed", "use POST");
	if (c->too_large && r != R_RESPONSE)
		return reply_fatal(c, 413, "RequestEntityTooLarge", "request body too large");
	switch (r) {
	case R_NEXT:
		return handle_next(c);
	case R_INIT_ERROR:
		return handle_init_error(c);
	case R_RESPONSE:
	case R_ERROR:
		return handle_complete(c, id, r == R_ERROR);
	default:
		return;
	}
}

/* A streamed response's headers are in: open the stream, or refuse it (and close, as
 * its body is not read). Returns whether the body is to be read as a stream. */
static bool stream_open(struct rtapi_conn *c)
{
	struct rtapi *rt = c->rt;
	char id[256] = "";
	if (rt->dead) {
		reply_fatal(c, 410, "EnvironmentGone", "the environment is shutting down");
		return false;
	}
	if (route_of(c->target, id, sizeof(id)) != R_RESPONSE || strcmp(c->method, "POST") != 0) {
		reply_fatal(c, 404, "NotFound", "streaming is for POST /invocation/{id}/response");
		return false;
	}
	if (strlen(id) >= sizeof(c->stream_id) || rtapi_sm_stream_begin(&rt->sm, id) != 202) {
		reply_fatal(c, 403, "InvalidRequestID", "Invalid request ID");
		return false;
	}
	snprintf(c->stream_id, sizeof(c->stream_id), "%s", id);
	c->stream = true;
	const char *ct = evhttp_find_header(&c->headers, "Content-Type");
	rt->ops->stream_begin_cb(rt->arg, c->stream_id, ct && *ct ? ct : "application/octet-stream");
	return !rt->dead;
}

/* ---- parsing ---- */

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

/* Adds "Name: value" to q. Returns false for a malformed line or too many fields. */
static bool parse_field(struct evkeyvalq *q, char *line)
{
	char *colon = strchr(line, ':');
	if (!colon || !is_token(line, (size_t)(colon - line)))
		return false;
	int n = 0;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, q, next)
	n++;
	if (n >= HEADERS_MAX)
		return false;
	*colon = 0;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t vl = strlen(v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		v[--vl] = 0;
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)v[i] < 32 && v[i] != '\t')
			return false;
	return evhttp_add_header(q, line, v) == 0;
}

static bool parse_request_line(struct rtapi_conn *c, char *line)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || !is_token(line, (size_t)(sp1 - line)) || sp2 == sp1 + 1)
		return false;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1') || sp2[9] != 0)
		return false;
	c->minor = sp2[8] - '0';
	c->method = xstrndup(line, (size_t)(sp1 - line));
	c->target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	return true;
}

/* Headers done: decides how the body is framed. Returns false if it replied. */
static bool start_body(struct rtapi_conn *c)
{
	const char *te = evhttp_find_header(&c->headers, "Transfer-Encoding");
	const char *cl = evhttp_find_header(&c->headers, "Content-Length");
	const char *mode = evhttp_find_header(&c->headers, "Lambda-Runtime-Function-Response-Mode");
	if (te) {
		if (strcasecmp(te, "chunked") != 0) {
			reply_fatal(c, 400, "BadRequest", "unsupported Transfer-Encoding");
			return false;
		}
		c->chunked = true;
	} else if (cl) {
		/* 1*DIGIT (RFC 9110 8.6): strtoull alone would also take "+5" or " 5". */
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (cl[0] < '0' || cl[0] > '9' || *end || errno || n > RTAPI_MAX_STREAM) {
			if (n > RTAPI_MAX_STREAM)
				reply_fatal(c, 413, "RequestEntityTooLarge", "Content-Length over the limit");
			else
				reply_fatal(c, 400, "BadRequest", "bad Content-Length");
			return false;
		}
		c->remaining = n;
	}
	/* A stream is opened (or refused) before the body is invited. */
	if (mode && strcasecmp(mode, "streaming") == 0 && !stream_open(c))
		return false;
	const char *expect = evhttp_find_header(&c->headers, "Expect");
	if (expect && c->minor >= 1 && strcasecmp(expect, "100-continue") == 0 &&
	    (c->chunked || c->remaining))
		evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	c->state = c->chunked ? C_CHUNK_SIZE : C_BODY;
	return true;
}

/* Reads a line of at most HEAD_MAX bytes in all; NULL if none is complete yet. Sets
 * *bad when the limit is passed. */
static char *read_line(struct rtapi_conn *c, struct evbuffer *in, bool *bad)
{
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (!line) {
		*bad = c->head_bytes + evbuffer_get_length(in) > HEAD_MAX;
		return NULL;
	}
	c->head_bytes += n + 2;
	*bad = c->head_bytes > HEAD_MAX || strlen(line) != n;
	return line;
}

/* Parses what is buffered, as far as it goes. Returns when more input is needed,
 * a reply is pending, or the connection was freed. */
static void conn_process(struct rtapi_conn *c)
{
	struct rtapi *rt = c->rt;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	bool bad = false;
	char *line;
	for (;;) {
		if (rt->dead)
			return;
		size_t avail = evbuffer_get_length(in);
		switch (c->state) {
		case C_LINE:
			if (!(line = read_line(c, in, &bad))) {
				if (bad)
					return reply_fatal(c, 431, "BadRequest", "request line too long");
				return;
			}
			if (!*line && c->head_bytes == 2) { /* a stray CRLF between requests */
				free(line);
				c->head_bytes = 0;
				continue;
			}
			if (bad || !parse_request_line(c, line)) {
				free(line);
				return reply_fatal(c, 400, "BadRequest", "malformed request line");
			}
			free(line);
			c->state = C_HEADERS;
			continue;
		case C_HEADERS:
		case C_TRAILERS:
			if (!(line = read_line(c, in, &bad))) {
				if (bad)
					return reply_fatal(c, 431, "BadRequest", "header fields too large");
				return;
			}
			if (*line && !bad) {
				bool ok =
				    parse_field(c->state == C_HEADERS ? &c->headers : &c->trailers, line);
				free(line);
				if (!ok)
					return reply_fatal(c, 400, "BadRequest", "malformed header field");
				continue;
			}
			free(line);
			if (bad)
				return reply_fatal(c, 431, "BadRequest", "header fields too large");
			if (c->state == C_TRAILERS) {
				if (c->stream)
					return stream_finish(c);
				return dispatch(c);
			}
			if (!start_body(c))
				return;
			continue;
		case C_BODY:
			if (c->remaining == 0) {
				if (c->stream)
					return stream_finish(c);
				return dispatch(c);
			}
			if (avail == 0)
				return;
			{
				size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
				c->remaining -= n;
				if (!body_take(c, in, n))
					return;
			}
			continue;
		case C_CHUNK_SIZE: {
			size_t n;
			line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			if (!line) {
				if (avail > 1024)
					return reply_fatal(c, 400, "BadRequest", "malformed chunk size");
				return;
			}
			/* chunk-size = 1*HEXDIG, then optional whitespace or ;extensions (RFC 9112
			 * 7.1); strtoull would also take " 5", "+5" and "0x5". */
			uint64_t sz = 0;
			size_t i = 0;
			for (; isxdigit((unsigned char)line[i]) && sz <= RTAPI_MAX_STREAM; i++)
				sz = sz * 16 + (uint64_t)(isdigit((unsigned char)line[i])
				                              ? line[i] - '0'
				                              : (line[i] | 0x20) - 'a' + 10);
			bool ok = i > 0 && sz <= RTAPI_MAX_STREAM && strlen(line) == n &&
			          (line[i] == 0 || line[i] == ';' || line[i] == ' ' || line[i] == '\t');
			free(line);
			if (!ok)
				return reply_fatal(c, 400, "BadRequest", "malformed chunk size");
			if (sz == 0) {
				c->head_bytes = 0;
				c->state = C_TRAILERS;
			} else {
				c->remaining = sz;
				c->state = C_CHUNK_DATA;
			}
			continue;
		}
		case C_CHUNK_DATA:
			if (avail == 0)
				return;
			{
				size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
				c->remaining -= n;
				if (!body_take(c, in, n))
					return;
			}
			if (c->remaining == 0)
				c->state = C_CHUNK_END;
			continue;
		case C_CHUNK_END: {
			if (avail < 2)
				return;
			char crlf[2];
			evbuffer_remove(in, crlf, 2);
			if (crlf[0] != '\r' || crlf[1] != '\n')
				return reply_fatal(c, 400, "BadRequest", "malformed chunk");
			c->state = C_CHUNK_SIZE;
			continue;
		}
		case C_WAITING:
		case C_WRITING:
			/* A client sending ahead is read later; one that floods is cut off. */
			if (avail > IDLE_INPUT_MAX)
				return conn_free(c);
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
	struct rtapi_conn *c = arg;
	if (c->state != C_WRITING || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->close_after || c->rt->dead)
		return conn_free(c);
	conn_reset_request(c);
	conn_process(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct rtapi_conn *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	rtapi_serve_fd(arg, fd);
}

/* ---- public ---- */

int rtapi_serve_fd(struct rtapi *rt, int fd)
{
	if (rt->dead) {
		evutil_closesocket(fd);
		return -ESHUTDOWN;
	}
	struct bufferevent *bev = NULL;
	if (evutil_make_socket_nonblocking(fd) < 0 ||
	    !(bev = bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		evutil_closesocket(fd);
		return -EIO;
	}
	struct rtapi_conn *c = xcalloc(1, sizeof(*c));
	c->rt = rt;
	c->bev = bev;
	c->body = evbuffer_new();
	TAILQ_INIT(&c->headers);
	TAILQ_INIT(&c->trailers);
	conn_reset_request(c);
	TAILQ_INSERT_TAIL(&rt->conns, c, link);
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return 0;
}

int rtapi_new(struct event_base *base, int listen_fd, const struct rtapi_ops *ops, void *arg,
              struct rtapi **out, struct err *errp)
{
	struct rtapi *rt = xcalloc(1, sizeof(*rt));
	rt->base = base;
	rt->ops = ops;
	rt->arg = arg;
	rtapi_sm_init(&rt->sm);
	TAILQ_INIT(&rt->conns);
	if (listen_fd < 0) { /* connections come through rtapi_serve_fd only */
		*out = rt;
		return 0;
	}
	evutil_make_socket_nonblocking(listen_fd);
	/* backlog 0: the socket is listening already (made inside the sandbox's netns). */
	rt->listener = evconnlistener_new(base, accept_cb, rt, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                                  0, listen_fd);
	if (!rt->listener) {
		free(rt);
		return err_make(errp, EIO, "cannot serve the runtime API socket");
	}
	*out = rt;
	return 0;
}

bool rtapi_ready(const struct rtapi *rt)
{
	return rt->parked != NULL && !rt->dead;
}

int rtapi_deliver(struct rtapi *rt, const struct rtapi_event *ev)
{
	struct rtapi_conn *c = rt->parked;
	if (!c || rt->dead || rtapi_sm_deliver(&rt->sm, ev->request_id) < 0)
		return -EAGAIN;
	rt->parked = NULL;
	/* Header values come from lambdad, but the client context and identity from the
	 * caller: they were checked as JSON, whose text holds no raw CR or LF. */
	struct evbuffer *h = evbuffer_new();
	evbuffer_add_printf(h,
	                    "Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: %lld\r\n"
	                    "Lambda-Runtime-Invoked-Function-Arn: %s\r\nLambda-Runtime-Trace-Id: %s\r\n",
	                    ev->request_id, (long long)ev->deadline_ms, ev->function_arn, ev->trace_id);
	if (ev->client_context && !strpbrk(ev->client_context, "\r\n"))
		evbuffer_add_printf(h, "Lambda-Runtime-Client-Context: %s\r\n", ev->client_context);
	if (ev->cognito_identity && !strpbrk(ev->cognito_identity, "\r\n"))
		evbuffer_add_printf(h, "Lambda-Runtime-Cognito-Identity: %s\r\n", ev->cognito_identity);
	evbuffer_add(h, "", 1);
	conn_reply(c, 200, "application/json", (const char *)evbuffer_pullup(h, -1), ev->payload);
	evbuffer_free(h);
	return 0;
}

static void deferred_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rtapi *rt = arg;
	struct rtapi_conn *c;
	while ((c = TAILQ_FIRST(&rt->conns)))
		conn_free(c);
	if (rt->listener)
		evconnlistener_free(rt->listener);
	free(rt);
}

void rtapi_free(struct rtapi *rt)
{
	if (!rt || rt->dead)
		return;
	rt->dead = true;
	rt->parked = NULL;
	if (rt->listener)
		evconnlistener_disable(rt->listener);
	struct rtapi_conn *c;
	TAILQ_FOREACH(c, &rt->conns, link)
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	struct timeval zero = {0, 0};
	event_base_once(rt->base, -1, EV_TIMEOUT, deferred_free_cb, rt, &zero);
}
