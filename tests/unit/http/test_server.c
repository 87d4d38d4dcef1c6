/* Tests for the HTTP/1.1 server engine: exact bytes written on socketpairs handed to the
 * server with http_server_serve_fd, and the exact replies and handler callbacks they get
 * (pipelining, keep-alive, bodies buffered and streamed, chunked both ways with trailers,
 * 100-continue, limits, HEAD, malformed input, upgrade, clients that go away). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../transcript.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/server.h"

#define MAX_CLIENTS 16

struct client {
	int fd;
	struct evbuffer *in;
	bool eof;    /* the server closed the connection */
	bool deaf;   /* reads nothing (a client that stopped reading) */
	size_t slow; /* > 0: reads at most this many bytes per pass */
};

static struct harness {
	struct event_base *base;
	struct http_server *srv;
	bool freed;
	const char *free_in; /* http_server_free from inside the callback of this name */
	struct evbuffer *log;
	uint64_t progress;
	struct client cl[MAX_CLIENTS];
	int ncl;
	struct http_request *held; /* a request the test answers itself */
	struct bufferevent *upgraded;
	bool serve_after_free;
} H;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(H.log, fmt, ap);
	va_end(ap);
	assert_false(H.freed); /* no callback after http_server_free */
	H.progress++;
}

static bool maybe_free(const char *cb)
{
	if (H.free_in && strcmp(H.free_in, cb) == 0 && !H.freed) {
		http_server_free(H.srv);
		H.freed = true;
		if (H.serve_after_free) {
			int sv[2];
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
			assert_int_equal(http_server_serve_fd(H.srv, sv[0]), -ESHUTDOWN);
			char ch;
			assert_int_equal(read(sv[1], &ch, 1), 0);
			close(sv[1]);
		}
		return true;
	}
	return false;
}

static void reply_text(struct http_request *req, int status, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, strlen(text));
	http_response_add_header(req, "Content-Type", "text/plain");
	http_reply(req, status, b);
	evbuffer_free(b);
}

/* ---- the handler: what it does is chosen by the path ---- */

static void echo_end_cb(void *arg, struct http_request *req)
{
	struct evbuffer *b = http_request_body(req);
	record("end %s %zu%s\n", http_request_path(req), evbuffer_get_length(b),
	       http_request_body_overflow(req) ? " overflow" : "");
	if (maybe_free("end"))
		return;
	const char *t = evhttp_find_header(http_request_trailers(req), "X-T");
	if (t)
		evbuffer_add_printf(b, "|X-T=%s", t);
	if (http_request_body_overflow(req)) {
		reply_text(req, 413, "too big");
		return;
	}
	http_response_add_header(req, "Content-Type", "text/plain");
	http_reply(req, 200, b);
}

static void stream_data_cb(void *arg, struct http_request *req, const void *data, size_t len)
{
	record("data %.*s\n", (int)len, (const char *)data);
	maybe_free("data");
}

static void stream_end_cb(void *arg, struct http_request *req)
{
	const char *t = evhttp_find_header(http_request_trailers(req), "X-T");
	record("end %s%s%s\n", http_request_path(req), t ? " X-T=" : "", t ? t : "");
	reply_text(req, 200, "streamed");
}

static void abort_cb(void *arg, struct http_request *req, enum http_abort why, const char *msg)
{
	record("abort %d %s\n", (int)why, msg);
	maybe_free("abort");
}

static const struct http_body_ops echo_ops = {.end_cb = echo_end_cb, .abort_cb = abort_cb};
static const struct http_body_ops stream_ops = {
    .data_cb = stream_data_cb, .end_cb = stream_end_cb, .abort_cb = abort_cb};

static void close_cb(void *arg, struct http_request *req)
{
	record("closed %s\n", http_request_path(req));
	if (H.held == req)
		H.held = NULL;
}

static void route_cb(void *arg, struct http_request *req)
{
	if (strcmp(http_request_path(req), "/later") == 0)
		http_request_set_body_max(req, 1024 * 1024 * 1024);
	if (strncmp(http_request_path(req), "/small", 6) == 0) {
		http_request_set_head_max(req, 128);
		http_request_set_body_max(req, 10);
	}
}

static void request_cb(void *arg, struct http_request *req)
{
	const char *path = http_request_path(req);
	const char *q = http_request_query(req);
	record("request %s %s%s%s\n", http_request_method(req), path, q ? " ?" : "", q ? q : "");
	if (maybe_free("request"))
		return;
	if (strcmp(path, "/echo") == 0 || strcmp(path, "/small/echo") == 0) {
		http_request_read_body(req, HTTP_BODY_BUFFER, 64, &echo_ops, NULL);
	} else if (strcmp(path, "/stream") == 0 || strcmp(path, "/small/stream") == 0) {
		http_request_read_body(req, HTTP_BODY_STREAM, 0, &stream_ops, NULL);
	} else if (strcmp(path, "/hold") == 0 || strcmp(path, "/later") == 0) {
		H.held = req; /* answered (or its body taken) by the test */
		http_request_set_close_cb(req, close_cb, NULL);
	} else if (strcmp(path, "/duplex") == 0) { /* answers while the body streams in */
		http_request_set_close_cb(req, close_cb, NULL);
		http_request_read_body(req, HTTP_BODY_STREAM, 0, &stream_ops, NULL);
		http_reply_start(req, 200);
		http_reply_chunk(req, "ack", 3);
	} else if (strcmp(path, "/refuse") == 0) {
		reply_text(req, 417, "no");
	} else if (strcmp(path, "/chunked") == 0) {
		http_response_add_header(req, "Content-Type", "text/plain");
		http_response_add_header(req, "Trailer", "X-Sum");
		http_reply_start(req, 200);
		http_reply_chunk(req, "hello", 5);
		http_reply_chunk(req, "", 0);
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, " world", 6);
		http_reply_chunk_buffer(req, b);
		evbuffer_free(b);
		struct evkeyvalq t;
		TAILQ_INIT(&t);
		evhttp_add_header(&t, "X-Sum", "11");
		http_reply_end(req, &t);
		evhttp_clear_headers(&t);
	} else if (strcmp(path, "/upgrade") == 0) {
		http_response_add_header(req, "Upgrade", "echo");
		struct bufferevent *bev = http_upgrade(req);
		record("upgraded %s\n", bev ? "yes" : "no");
		if (bev)
			H.upgraded = bev;
		else
			reply_text(req, 400, "no upgrade");
	} else {
		const char *h = http_request_header(req, "X-Say");
		reply_text(req, 200, h ? h : path);
	}
}

static void error_cb(void *arg, struct http_request *req, int status, enum http_error err, const char *msg)
{
	record("error %d %s\n", status, msg);
	maybe_free("error");
}

static const struct http_server_ops ops = {
    .route_cb = route_cb, .request_cb = request_cb, .error_cb = error_cb};

/* ---- the harness ---- */

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	H.log = evbuffer_new();
	struct http_server_cfg cfg = {.head_max = 1024, .body_max = 4096, .input_ahead_max = 8192};
	H.srv = http_server_new(H.base, &cfg, &ops, NULL);
	return H.base && H.srv ? 0 : -1;
}

static int teardown(void **state)
{
	if (!H.freed)
		http_server_free(H.srv);
	if (H.upgraded)
		bufferevent_free(H.upgraded);
	for (int i = 0; i < 4 && event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED); i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_int_equal(event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED), 0);
	for (int i = 0; i < H.ncl; i++) {
		if (H.cl[i].fd >= 0)
			close(H.cl[i].fd);
		evbuffer_free(H.cl[i].in);
	}
	evbuffer_free(H.log);
	event_base_free(H.base);
	return 0;
}

static int add_client(int fd)
{
	assert_true(H.ncl < MAX_CLIENTS);
	H.cl[H.ncl] = (struct client){.fd = fd, .in = evbuffer_new()};
	return H.ncl++;
}

static int connect_client(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(http_server_serve_fd(H.srv, sv[0]), 0);
	return add_client(sv[1]);
}

static void collect(void)
{
	char buf[65536];
	for (int i = 0; i < H.ncl; i++) {
		struct client *c = &H.cl[i];
		ssize_t n = -1;
		if (c->deaf)
			continue;
		size_t want = c->slow ? c->slow : sizeof(buf);
		while (c->fd >= 0 && !c->eof && (n = read(c->fd, buf, want)) != 0) {
			if (n < 0) {
				assert_true(errno == EAGAIN || errno == ECONNRESET);
				c->eof = errno == ECONNRESET;
				break;
			}
			evbuffer_add(c->in, buf, (size_t)n);
			H.progress += (uint64_t)n;
			if (c->slow)
				break;
		}
		if (n == 0)
			c->eof = true;
	}
}

static bool unread(void)
{
	for (int i = 0; i < H.ncl; i++) {
		if (!H.cl[i].eof && !H.cl[i].deaf && transcript_unsent(H.cl[i].fd))
			return true;
	}
	return false;
}

/* Runs the loop until the server has read everything and three passes move nothing. */
static void run(void)
{
	assert_true(transcript_run(H.base, &H.progress, collect, unread, 200000));
}

static void send_n(int i, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(H.cl[i].fd, p, n);
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (w < 0) {
			assert_int_equal(errno, EAGAIN);
			event_base_loop(H.base, EVLOOP_NONBLOCK);
			collect();
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	run();
}

static void send_s(int i, const char *s)
{
	send_n(i, s, strlen(s));
}

static char *take(int i)
{
	struct evbuffer *b = H.cl[i].in;
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = 0;
	return s;
}

#define assert_reply(i, expected)                                                                            \
	do {                                                                                                 \
		char *got_ = take(i);                                                                        \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

#define assert_log(expected)                                                                                 \
	do {                                                                                                 \
		size_t n_ = evbuffer_get_length(H.log);                                                      \
		char *got_ = malloc(n_ + 1);                                                                 \
		evbuffer_remove(H.log, got_, n_);                                                            \
		got_[n_] = 0;                                                                                \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

/* The exact text/plain reply of the handler. */
static char *text_reply(int status, const char *reason, const char *body, const char *conn)
{
	char *s;
	assert_true(asprintf(&s,
	                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s",
	                     status, reason, strlen(body), conn, body) > 0);
	return s;
}

#define assert_text_reply(i, status, reason, body, conn)                                                     \
	do {                                                                                                 \
		char *want_ = text_reply(status, reason, body, conn);                                        \
		assert_reply(i, want_);                                                                      \
		free(want_);                                                                                 \
	} while (0)

#define CLOSE "Connection: close\r\n"

/* The engine's own reply to a refused request (the handler's error_cb wrote none). */
static char *engine_reply(int status, const char *reason, const char *msg)
{
	char *s;
	assert_true(asprintf(&s,
	                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
	                     "%zu\r\nConnection: close\r\n\r\n%s\n",
	                     status, reason, strlen(msg) + 1, msg) > 0);
	return s;
}

#define assert_engine_reply(i, status, reason, msg)                                                          \
	do {                                                                                                 \
		char *want_ = engine_reply(status, reason, msg);                                             \
		assert_reply(i, want_);                                                                      \
		free(want_);                                                                                 \
	} while (0)

/* ---- keep-alive and pipelining ---- */

/* Requests written at once are answered in order, each after the one before, even
 * when the first is answered late. */
static void test_pipelined(void **state)
{
	int c = connect_client();
	send_s(c, "GET /hold HTTP/1.1\r\nHost: h\r\n\r\nGET /b?x=1 HTTP/1.1\r\n\r\n"
	          "GET /c HTTP/1.1\r\nX-Say: third\r\n\r\n");
	assert_log("request GET /hold\n");
	assert_reply(c, "");
	assert_non_null(H.held);
	reply_text(H.held, 200, "first");
	H.held = NULL;
	run();
	assert_log("request GET /b ?x=1\nrequest GET /c\n");
	char *a = text_reply(200, "OK", "first", ""), *b = text_reply(200, "OK", "/b", ""),
	     *d = text_reply(200, "OK", "third", ""), *all;
	assert_true(asprintf(&all, "%s%s%s", a, b, d) > 0);
	assert_reply(c, all);
	free(a), free(b), free(d), free(all);
	assert_false(H.cl[c].eof);
}

/* HTTP/1.1 stays open unless asked to close; HTTP/1.0 closes unless asked to keep alive. */
static void test_keepalive(void **state)
{
	int c = connect_client();
	send_s(c, "GET /a HTTP/1.1\r\n\r\n");
	assert_text_reply(c, 200, "OK", "/a", "");
	send_s(c, "GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	assert_text_reply(c, 200, "OK", "/b", "Connection: keep-alive\r\n");
	assert_false(H.cl[c].eof);
	send_s(c, "GET /c HTTP/1.1\r\nConnection: foo, close\r\n\r\n");
	assert_text_reply(c, 200, "OK", "/c", CLOSE);
	assert_true(H.cl[c].eof);
	int d = connect_client();
	send_s(d, "GET /d HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n");
	assert_text_reply(d, 200, "OK", "/d", CLOSE);
	assert_true(H.cl[d].eof);
	assert_log("request GET /a\nrequest GET /b\nrequest GET /c\nrequest GET /d\n");
}

/* ---- request bodies ---- */

/* A chunked body with an extension and a trailer, fed one byte at a time, buffered. */
static void test_chunked_body_trailers(void **state)
{
	int c = connect_client();
	const char *req = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	                  "4;ext=1\r\nabcd\r\nA \r\n0123456789\r\n0\r\nX-T: tv\r\n\r\n";
	for (size_t k = 0; req[k]; k++)
		send_n(c, req + k, 1);
	assert_log("request POST /echo\nend /echo 14\n");
	assert_text_reply(c, 200, "OK", "abcd0123456789|X-T=tv", "");
	/* Content-Length bodies too, and one over buffer_max is dropped, but read. */
	send_s(c, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
	assert_text_reply(c, 200, "OK", "xyz", "");
	char big[200];
	memset(big, 'b', 100);
	snprintf(big + 100, sizeof(big) - 100, "GET /after HTTP/1.1\r\n\r\n");
	send_s(c, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
	send_s(c, big);
	assert_log("request POST /echo\nend /echo 3\nrequest POST /echo\nend /echo 0 overflow\n"
	           "request GET /after\n");
	char *a = text_reply(413, "Payload Too Large", "too big", ""),
	     *b = text_reply(200, "OK", "/after", ""), *all;
	assert_true(asprintf(&all, "%s%s", a, b) > 0);
	assert_reply(c, all);
	free(a), free(b), free(all);
}

/* A streamed body reaches the handler piece by piece as it arrives, trailers at the end. */
static void test_streamed_body(void **state)
{
	int c = connect_client();
	send_s(c, "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
	assert_log("request POST /stream\ndata hel\n");
	send_s(c, "lo\r\n");
	assert_log("data lo\n");
	send_s(c, "6\r\n world\r\n");
	assert_log("data  world\n");
	assert_reply(c, "");
	send_s(c, "0\r\nX-T: done\r\n\r\n");
	assert_log("end /stream X-T=done\n");
	assert_text_reply(c, 200, "OK", "streamed", "");
	send_s(c, "POST /stream HTTP/1.1\r\nContent-Length: 6\r\n\r\nab");
	assert_log("request POST /stream\ndata ab\n");
	send_s(c, "cdef");
	assert_log("data cdef\nend /stream\n");
	assert_text_reply(c, 200, "OK", "streamed", "");
}

/* A streamed body cut by the connection: the handler hears it, twice over (body, request). */
static void test_streamed_body_cut(void **state)
{
	int c = connect_client();
	send_s(c, "POST /stream HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	assert_log("request POST /stream\ndata abc\n");
	close(H.cl[c].fd);
	H.cl[c].fd = -1;
	run();
	assert_log("abort 0 the connection closed before the end of the body\n");
	int d = connect_client();
	send_s(d, "GET /alive HTTP/1.1\r\n\r\n");
	assert_text_reply(d, 200, "OK", "/alive", "");
}

/* The handler may choose what to do with the body later; till then nothing is read. */
static void test_decide_later(void **state)
{
	int c = connect_client();
	send_s(c, "POST /later HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody");
	assert_log("request POST /later\n");
	assert_non_null(H.held);
	struct http_request *req = H.held;
	H.held = NULL;
	http_request_read_body(req, HTTP_BODY_STREAM, 0, &stream_ops, NULL);
	assert_log(""); /* never from inside the call */
	run();
	assert_log("data body\nend /later\n");
	assert_text_reply(c, 200, "OK", "streamed", "");
}

/* A reply before the body is read: the body is read and dropped, the connection goes on. */
static void test_reply_before_body(void **state)
{
	int c = connect_client();
	send_s(c, "POST /refuse HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n\r\n");
	assert_log("request POST /refuse\nrequest GET /next\n");
	char *a = text_reply(417, "Expectation Failed", "no", ""), *b = text_reply(200, "OK", "/next", ""),
	     *all;
	assert_true(asprintf(&all, "%s%s", a, b) > 0);
	assert_reply(c, all);
	free(a), free(b), free(all);
	/* Chunked alike. */
	send_s(c, "POST /refuse HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	          "GET /z HTTP/1.1\r\n\r\n");
	a = text_reply(417, "Expectation Failed", "no", "");
	b = text_reply(200, "OK", "/z", "");
	assert_true(asprintf(&all, "%s%s", a, b) > 0);
	assert_reply(c, all);
	free(a), free(b), free(all);
}

/* ---- Expect: 100-continue ---- */

static void test_expect_continue(void **state)
{
	int c = connect_client();
	send_s(c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	assert_reply(c, "HTTP/1.1 100 Continue\r\n\r\n");
	send_s(c, "hi");
	assert_text_reply(c, 200, "OK", "hi", "");
	/* No 100 for an empty body, nor for HTTP/1.0. */
	send_s(c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
	assert_text_reply(c, 200, "OK", "", "");
	/* A handler that decides later: the 100 waits for it. */
	send_s(c, "POST /later HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_reply(c, "");
	http_request_read_body(H.held, HTTP_BODY_BUFFER, 64, &echo_ops, NULL);
	H.held = NULL;
	run();
	assert_reply(c, "HTTP/1.1 100 Continue\r\n\r\n");
	send_s(c, "1\r\nk\r\n0\r\n\r\n");
	assert_text_reply(c, 200, "OK", "k", "");
	assert_log("request POST /echo\nend /echo 2\nrequest POST /echo\nend /echo 0\n"
	           "request POST /later\nend /later 1\n");
}

/* Refused: the final status, no 100, and the connection closed (the body may follow). */
static void test_expect_refused(void **state)
{
	int c = connect_client();
	send_s(c, "POST /refuse HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	assert_text_reply(c, 417, "Expectation Failed", "no", CLOSE);
	assert_true(H.cl[c].eof);
	/* Past the route's body limit: 413 before the body, whatever the handler. */
	int d = connect_client();
	send_s(d, "POST /small/echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
	assert_engine_reply(d, 413, "Payload Too Large", "Content-Length over the limit");
	assert_true(H.cl[d].eof);
	assert_log("request POST /refuse\nerror 413 Content-Length over the limit\n");
}

/* ---- limits ---- */

static void test_limits(void **state)
{
	/* The server's head limit (1024 bytes), and a route's (128). */
	char req[2048];
	int k = snprintf(req, sizeof(req), "GET /a HTTP/1.1\r\nX-Big: ");
	memset(req + k, 'v', 1100);
	strcpy(req + k + 1100, "\r\n\r\n");
	int c = connect_client();
	send_s(c, req);
	assert_engine_reply(c, 431, "Request Header Fields Too Large", "header fields too large");
	assert_true(H.cl[c].eof);
	c = connect_client();
	k = snprintf(req, sizeof(req), "GET /small HTTP/1.1\r\nX-Big: ");
	memset(req + k, 'v', 200);
	strcpy(req + k + 200, "\r\n\r\n");
	send_s(c, req);
	assert_engine_reply(c, 431, "Request Header Fields Too Large", "header fields too large");
	k = snprintf(req, sizeof(req), "GET /");
	memset(req + k, 'p', 1100);
	strcpy(req + k + 1100, " HTTP/1.1\r\n\r\n");
	c = connect_client();
	send_s(c, req);
	assert_engine_reply(c, 431, "Request Header Fields Too Large", "request line too long");
	/* The body limit: a Content-Length over it, and a chunked body that passes it. */
	c = connect_client();
	send_s(c, "POST /echo HTTP/1.1\r\nContent-Length: 4097\r\n\r\n");
	assert_engine_reply(c, 413, "Payload Too Large", "Content-Length over the limit");
	c = connect_client();
	send_s(c, "POST /small/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n");
	send_s(c, "5\r\nghijk\r\n");
	assert_engine_reply(c, 413, "Payload Too Large", "request body too large");
	assert_true(H.cl[c].eof);
	assert_log("error 431 header fields too large\nerror 431 header fields too large\n"
	           "error 431 request line too long\nerror 413 Content-Length over the limit\n"
	           "request POST /small/stream\ndata abcdef\nabort 2 request body too large\n"
	           "error 413 request body too large\n");
}

/* A client that sends far ahead while its request waits is cut off. */
static void test_flood(void **state)
{
	int c = connect_client();
	send_s(c, "GET /hold HTTP/1.1\r\n\r\n");
	char junk[9000];
	memset(junk, 'j', sizeof(junk));
	send_n(c, junk, sizeof(junk));
	assert_true(H.cl[c].eof);
	assert_null(H.held);
	assert_log("request GET /hold\nclosed /hold\n");
}

/* A client silent while it owes bytes is cut off after read_timeout_ms; one whose reply
 * the handler owes is not. */
static void test_read_timeout(void **state)
{
	http_server_free(H.srv);
	struct http_server_cfg cfg = {.read_timeout_ms = 20};
	H.srv = http_server_new(H.base, &cfg, &ops, NULL);
	int held = connect_client();
	send_s(held, "GET /hold HTTP/1.1\r\n\r\n");
	assert_non_null(H.held);
	int half = connect_client(), body = connect_client(), idle = connect_client();
	send_s(half, "GET /a HTTP/1.1\r\nHost:");
	send_s(body, "POST /stream HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc");
	send_s(idle, "GET /b HTTP/1.1\r\n\r\n");
	for (int i = 0; i < 10000 && !(H.cl[half].eof && H.cl[body].eof && H.cl[idle].eof); i++) {
		event_base_loop(H.base, EVLOOP_ONCE);
		collect();
	}
	assert_true(H.cl[half].eof && H.cl[body].eof && H.cl[idle].eof);
	assert_false(H.cl[held].eof);
	assert_non_null(H.held);
	assert_reply(half, "");
	assert_reply(body, "");
	assert_text_reply(idle, 200, "OK", "/b", "");
	assert_log("request GET /hold\nrequest POST /stream\ndata abc\nrequest GET /b\n"
	           "abort 0 the connection closed before the end of the body\n");
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

/* A client that stops reading a reply is cut off once write_timeout_ms pass with none
 * of it taken; the handler hears it (close_cb) and the server goes on. */
static void test_write_timeout(void **state)
{
	http_server_free(H.srv);
	struct http_server_cfg cfg = {.write_timeout_ms = 20};
	H.srv = http_server_new(H.base, &cfg, &ops, NULL);
	int c = connect_client();
	send_s(c, "GET /hold HTTP/1.1\r\n\r\n");
	H.cl[c].deaf = true;
	struct http_request *req = H.held;
	http_reply_start(req, 200);
	static char piece[65536];
	memset(piece, 'p', sizeof(piece));
	for (int i = 0; i < 64; i++) /* 4 MiB: more than the socket holds */
		http_reply_chunk(req, piece, sizeof(piece));
	assert_true(http_reply_pending(req) > 0);
	/* A tick, so that each pass ends within 10 ms whatever the engine does. */
	struct event *tick = event_new(H.base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 10000};
	event_add(tick, &tv);
	for (int i = 0; i < 2000 && H.held; i++) /* up to 20 s */
		event_base_loop(H.base, EVLOOP_ONCE);
	event_free(tick);
	assert_null(H.held);
	assert_log("request GET /hold\nclosed /hold\n");
	int d = connect_client();
	send_s(d, "GET /alive HTTP/1.1\r\n\r\n");
	assert_text_reply(d, 200, "OK", "/alive", "");
}

static size_t drain_low; /* the low watermark asked for */
static void drain_cb(void *arg, struct http_request *req)
{
	record("drained %s\n", http_reply_pending(req) <= drain_low ? "low" : "HIGH");
}

/* The drain callback comes once the bytes queued fall to the low watermark: never while
 * the client reads nothing, once as it reads on, on the next pass when they are low
 * already, and not at all once cancelled. */
static void test_drain(void **state)
{
	int c = connect_client();
	send_s(c, "GET /hold HTTP/1.1\r\n\r\n");
	H.cl[c].deaf = true;
	struct http_request *req = H.held;
	http_reply_start(req, 200);
	static char piece[65536];
	memset(piece, 'p', sizeof(piece));
	for (int i = 0; i < 32; i++) /* 2 MiB */
		http_reply_chunk(req, piece, sizeof(piece));
	drain_low = 128 * 1024;
	assert_true(http_reply_pending(req) > drain_low);
	http_reply_on_drain(req, drain_low, drain_cb, NULL);
	for (int i = 0; i < 100; i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_log("request GET /hold\n");
	H.cl[c].deaf = false;
	H.cl[c].slow = 4096;
	for (int i = 0; i < 100000 && evbuffer_get_length(H.log) == 0; i++) {
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		collect();
	}
	assert_log("drained low\n");
	assert_true(http_reply_pending(req) > 0); /* called at the mark, not once all was written */
	/* Low already: on a later pass, not inside the call. */
	drain_low = 64 * 1024 * 1024;
	http_reply_on_drain(req, drain_low, drain_cb, NULL);
	assert_log("");
	event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_log("drained low\n");
	/* Cancelled: nothing. */
	http_reply_on_drain(req, drain_low, drain_cb, NULL);
	http_reply_on_drain(req, 0, NULL, NULL);
	H.cl[c].slow = 0;
	http_reply_end(req, NULL);
	H.held = NULL;
	run();
	assert_log("");
	assert_int_equal(evbuffer_get_length(H.cl[c].in), 32 * (65536 + 9) + 5 + 47);
}

/* A streamed body paused by its handler: no data comes, and nothing more is read (the
 * client blocks once the socket is full), until it is resumed; then the rest, and its end. */
static struct http_request *pausing;
static uint64_t paused_got;
static void pause_data_cb(void *arg, struct http_request *req, const void *data, size_t len)
{
	if (!pausing) {
		record("data %zu\n", len);
		pausing = req;
		http_request_pause_body(req, true);
	}
	paused_got += len;
}

static const struct http_body_ops pause_ops = {.data_cb = pause_data_cb, .end_cb = stream_end_cb};

static void test_pause_body(void **state)
{
	int c = connect_client();
	pausing = NULL;
	paused_got = 0;
	send_s(c, "POST /later HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	http_request_read_body(H.held, HTTP_BODY_STREAM, 0, &pause_ops, NULL);
	H.held = NULL;
	send_s(c, "3\r\nabc\r\n");
	assert_log("request POST /later\ndata 3\n");
	/* 16 MiB more, written as the socket takes it: it stops taking it. */
	struct evbuffer *out = evbuffer_new();
	static char junk[65536];
	for (int i = 0; i < 256; i++) {
		evbuffer_add_printf(out, "%zx\r\n", sizeof(junk));
		evbuffer_add(out, junk, sizeof(junk));
		evbuffer_add(out, "\r\n", 2);
	}
	evbuffer_add(out, "0\r\n\r\n", 5);
	size_t total = evbuffer_get_length(out);
	for (int i = 0; i < 1000; i++) {
		size_t n = evbuffer_get_length(out);
		ssize_t w = write(H.cl[c].fd, evbuffer_pullup(out, (ev_ssize_t)(n < 65536 ? n : 65536)),
		                  n < 65536 ? n : 65536);
		if (w > 0)
			evbuffer_drain(out, (size_t)w);
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	}
	assert_true(evbuffer_get_length(out) > total / 2); /* held back */
	assert_int_equal(paused_got, 3);
	assert_log("");
	http_request_pause_body(pausing, false);
	for (int i = 0; i < 1000000 && evbuffer_get_length(out) > 0; i++) {
		size_t n = evbuffer_get_length(out);
		ssize_t w = write(H.cl[c].fd, evbuffer_pullup(out, (ev_ssize_t)(n < 65536 ? n : 65536)),
		                  n < 65536 ? n : 65536);
		if (w > 0)
			evbuffer_drain(out, (size_t)w);
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		collect();
	}
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);
	run();
	assert_int_equal(paused_got, 3 + 256 * 65536);
	assert_log("end /later\n");
	assert_text_reply(c, 200, "OK", "streamed", "");
}

/* ---- replies ---- */

static void test_chunked_reply(void **state)
{
	int c = connect_client();
	send_s(c, "GET /chunked HTTP/1.1\r\n\r\n");
	assert_reply(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
	                "Trailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n");
	assert_false(H.cl[c].eof);
	/* HEAD: the head alone. */
	send_s(c, "HEAD /chunked HTTP/1.1\r\n\r\n");
	assert_reply(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
	                "Trailer: X-Sum\r\n\r\n");
	/* HTTP/1.0 cannot take chunks: the body ends with the connection, without trailers. */
	send_s(c, "GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_reply(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-Sum\r\nConnection: "
	                "close\r\n\r\nhello world");
	assert_true(H.cl[c].eof);
}

static void test_head(void **state)
{
	int c = connect_client();
	send_s(c, "HEAD /thing HTTP/1.1\r\n\r\nGET /thing HTTP/1.1\r\n\r\n");
	char *a, *b = text_reply(200, "OK", "/thing", ""), *all;
	assert_true(asprintf(&a, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n") >
	            0);
	assert_true(asprintf(&all, "%s%s", a, b) > 0);
	assert_reply(c, all);
	free(a), free(b), free(all);
}

/* Response header fields are checked: no CR, LF or other control byte. */
static void test_response_headers(void **state)
{
	int c = connect_client();
	send_s(c, "GET /hold HTTP/1.1\r\n\r\n");
	struct http_request *req = H.held;
	H.held = NULL;
	assert_int_equal(http_response_add_header(req, "X-A", "a\r\nInjected: 1"), -EINVAL);
	assert_int_equal(http_response_add_header(req, "X A", "v"), -EINVAL);
	assert_int_equal(http_response_add_header(req, "X-B", "tab\tok"), 0);
	http_reply(req, 204, NULL);
	run();
	assert_reply(c, "HTTP/1.1 204 No Content\r\nX-B: tab\tok\r\n\r\n");
	assert_log("request GET /hold\n");
}

/* ---- malformed requests: 400, the connection closed, the server alive ---- */

/* req gets the engine's reply; the handler heard pre (its callbacks), then error_cb. */
static void malformed(const char *req, const char *pre, int status, const char *reason, const char *msg)
{
	int c = connect_client();
	send_s(c, req);
	assert_engine_reply(c, status, reason, msg);
	assert_true(H.cl[c].eof);
	char *want;
	assert_true(asprintf(&want, "%serror %d %s\n", pre, status, msg) > 0);
	assert_log(want);
	free(want);
}

static void test_malformed(void **state)
{
	malformed("GET /x\r\n\r\n", "", 400, "Bad Request", "malformed request line");
	malformed("GET /x HTTP/2.0\r\n\r\n", "", 400, "Bad Request", "malformed request line");
	malformed("GET /x\001y HTTP/1.1\r\n\r\n", "", 400, "Bad Request", "malformed request line");
	malformed("GET /x HTTP/1.1\r\nNo colon\r\n\r\n", "", 400, "Bad Request", "malformed header field");
	malformed("GET /x HTTP/1.1\r\n folded: v\r\n\r\n", "", 400, "Bad Request", "malformed header field");
	malformed("GET /x HTTP/1.1\r\nX: a\177\r\n\r\n", "", 400, "Bad Request", "malformed header field");
	malformed("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "", 400,
	          "Bad Request", "bad Content-Length");
	malformed("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "", 400, "Bad Request",
	          "bad Content-Length");
	malformed("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", "", 413,
	          "Payload Too Large", "Content-Length over the limit");
	malformed("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "", 400, "Bad Request",
	          "unsupported Transfer-Encoding");
	malformed("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	          "request POST /echo\nabort 1 malformed chunk size\n", 400, "Bad Request",
	          "malformed chunk size");
	malformed("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
	          "request POST /echo\nabort 1 malformed chunk\n", 400, "Bad Request", "malformed chunk");
	/* A malformed chunk in a streamed body: the handler hears it first. */
	int c = connect_client();
	send_s(c, "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX");
	assert_engine_reply(c, 400, "Bad Request", "malformed chunk");
	assert_log("request POST /stream\ndata ab\nabort 1 malformed chunk\nerror 400 malformed chunk\n");
	/* Malformed while the reply is under way: no status can be sent, so the connection is
	 * cut and the handler hears it. */
	c = connect_client();
	send_s(c, "POST /duplex HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\nzz\r\n");
	assert_reply(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nack\r\n");
	assert_true(H.cl[c].eof);
	assert_log("request POST /duplex\ndata x\nabort 1 malformed chunk size\nclosed /duplex\n");
	/* And the server serves on. */
	c = connect_client();
	send_s(c, "\r\nGET /ok HTTP/1.1\r\n\r\n");
	assert_text_reply(c, 200, "OK", "/ok", "");
	/* Raw UTF-8 in the target is taken as sent. */
	send_s(c, "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n");
	assert_text_reply(c, 200, "OK", "/caf\xc3\xa9", "");
	assert_log("request GET /ok\nrequest GET /caf\xc3\xa9\n");
}

/* ---- upgrade ---- */

static void test_upgrade(void **state)
{
	int c = connect_client();
	send_s(c, "GET /upgrade HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly bytes");
	assert_log("request GET /upgrade\nupgraded yes\n");
	assert_non_null(H.upgraded);
	/* The 101 is queued on the bufferevent handed over, and what came after the request
	 * waits in its input; the server no longer reads it. */
	bufferevent_enable(H.upgraded, EV_READ | EV_WRITE);
	send_s(c, " and more");
	struct evbuffer *in = bufferevent_get_input(H.upgraded);
	assert_int_equal(evbuffer_get_length(in), strlen("early bytes and more"));
	assert_memory_equal(evbuffer_pullup(in, -1), "early bytes and more", 20);
	assert_reply(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
	bufferevent_write(H.upgraded, "pong", 4);
	run();
	assert_reply(c, "pong");
	assert_log("");
	/* Not for a request with a body. */
	int d = connect_client();
	send_s(d, "POST /upgrade HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
	assert_log("request POST /upgrade\nupgraded no\n");
	assert_reply(d, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
	                "Upgrade: echo\r\n\r\nno upgrade");
}

/* ---- clients that go away ---- */

/* The client goes away in the middle of a streamed reply: the handler hears it, the
 * server goes on. */
static void test_client_gone_mid_reply(void **state)
{
	int c = connect_client();
	send_s(c, "GET /hold HTTP/1.1\r\n\r\n");
	struct http_request *req = H.held;
	http_reply_start(req, 200);
	http_reply_chunk(req, "part", 4);
	run();
	assert_reply(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n");
	close(H.cl[c].fd);
	H.cl[c].fd = -1;
	/* Writing on finds the peer gone. */
	for (int i = 0; i < 100 && H.held; i++) {
		http_reply_chunk(H.held, "more", 4);
		run();
	}
	assert_null(H.held);
	assert_log("request GET /hold\nclosed /hold\n");
	int d = connect_client();
	send_s(d, "GET /alive HTTP/1.1\r\n\r\n");
	assert_text_reply(d, 200, "OK", "/alive", "");
}

/* http_request_abort drops the connection without a callback. */
static void test_abort(void **state)
{
	int c = connect_client();
	send_s(c, "GET /hold HTTP/1.1\r\n\r\n");
	http_reply_start(H.held, 200);
	http_request_abort(H.held);
	H.held = NULL;
	run();
	assert_true(H.cl[c].eof);
	assert_reply(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"); /* what was queued */
	assert_log("request GET /hold\n");
}

/* ---- the server's life ---- */

/* Freed from inside a callback: nothing more is heard, nothing leaks. */
static void test_free_in_callback(void **state)
{
	int c = connect_client();
	H.free_in = "data";
	send_s(c, "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n");
	assert_log("request POST /stream\ndata a\n");
	assert_true(H.freed);
	assert_true(H.cl[c].eof);
}

/* A connection handed over after http_server_free (inside a callback, so the server
 * is not gone yet) is closed at once. */
static void test_serve_after_free(void **state)
{
	int c = connect_client();
	H.free_in = "request";
	H.serve_after_free = true;
	send_s(c, "GET /a HTTP/1.1\r\n\r\n");
	assert_true(H.freed);
	assert_true(H.cl[c].eof);
	assert_reply(c, "");
	assert_log("request GET /a\n");
}

/* A real listener on a free port: a TCP client is served, and stop_accepting stops it. */
static void test_listen(void **state)
{
	struct err e = {0};
	int port = 0;
	assert_int_equal(http_server_listen(H.srv, "127.0.0.1", 0, &port, &e), 0);
	assert_true(port > 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int c = add_client(fd);
	const char *req = "GET /hold HTTP/1.1\r\n\r\n";
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (int i = 0; i < 1000000 && !H.held; i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_non_null(H.held);
	assert_string_equal(http_request_peer(H.held), "127.0.0.1");
	reply_text(H.held, 200, "tcp");
	H.held = NULL;
	for (int i = 0; i < 1000000 && evbuffer_get_length(H.cl[c].in) < 60; i++) {
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		char buf[256];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			evbuffer_add(H.cl[c].in, buf, (size_t)n);
	}
	assert_text_reply(c, 200, "OK", "tcp", "");
	assert_log("request GET /hold\n");
	http_server_stop_accepting(H.srv);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_body_trailers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_streamed_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_streamed_body_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decide_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_before_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_response_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone_mid_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_serve_after_free, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
