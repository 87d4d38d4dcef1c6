/* Tests for the Runtime API server: exact requests written on socketpairs handed to the
 * server with rtapi_serve_fd, and the exact replies and callbacks they get (keep-alive,
 * pipelining, bodies, limits, malformed input, streaming, and connections that go away). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../transcript.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtapi/rtapi.h"

#define P "/2018-06-01/runtime/"
#define NEXT "GET " P "invocation/next HTTP/1.1\r\nHost: rt\r\n\r\n"
#define ACCEPTED                                                                                             \
	"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "                        \
	"15\r\n\r\n{\"status\":\"OK\"}"
#define CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"
#define MAX_CLIENTS 8

/* One runtime-side connection and what the server sent it. */
struct client {
	int fd;
	struct evbuffer *in;
	bool eof; /* the server closed the connection */
};

/* The server under test, its callbacks written to log one line each. */
static struct harness {
	struct event_base *base;
	struct rtapi *rt;
	bool freed;
	const char *free_in; /* rtapi_free from inside the callback of this name */
	struct evbuffer *log;
	uint64_t progress; /* callbacks and bytes received, to tell when the loop is idle */
	struct client cl[MAX_CLIENTS];
	int ncl;
} H;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(H.log, fmt, ap);
	va_end(ap);
	assert_false(H.freed); /* no callback after rtapi_free */
	H.progress++;
}

static void maybe_free(const char *cb)
{
	if (H.free_in && strcmp(H.free_in, cb) == 0 && !H.freed) {
		rtapi_free(H.rt);
		H.freed = true;
	}
}

/* A body as text, or its size when it is long. */
static void log_body(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	if (n > 256)
		record("[%zu bytes]\n", n);
	else
		record("%.*s\n", (int)n, (const char *)evbuffer_pullup(b, -1));
}

static void next_cb(void *arg)
{
	record("next\n");
	maybe_free("next");
}

static void response_cb(void *arg, const char *id, struct evbuffer *body)
{
	record("response %s ", id);
	log_body(body);
	maybe_free("response");
}

static void error_cb(void *arg, const char *id, const char *type, struct evbuffer *body)
{
	record("error %s %s ", id, type ? type : "-");
	log_body(body);
	maybe_free("error");
}

static void init_error_cb(void *arg, const char *type, struct evbuffer *body)
{
	record("init_error %s ", type ? type : "-");
	log_body(body);
	maybe_free("init_error");
}

static void too_large_cb(void *arg, const char *id)
{
	record("too_large %s\n", id);
	maybe_free("too_large");
}

static void stream_begin_cb(void *arg, const char *id, const char *ctype)
{
	record("begin %s %s\n", id, ctype);
	maybe_free("begin");
}

static void stream_chunk_cb(void *arg, const char *id, const void *data, size_t len)
{
	record("chunk %s %.*s\n", id, (int)len, (const char *)data);
	maybe_free("chunk");
}

static void stream_end_cb(void *arg, const char *id, const char *type, struct evbuffer *body, bool truncated)
{
	record("end %s %s %s ", id, type ? type : "-", truncated ? "truncated" : "whole");
	log_body(body);
	maybe_free("end");
}

static void ext_done_cb(void *arg)
{
	record("ext_done\n");
}

static void ext_error_cb(void *arg, const char *name, bool init, const char *type)
{
	record("ext_error %s %s %s\n", name, init ? "init" : "exit", type);
}

static const struct rtapi_ops ops = {
    .next_cb = next_cb,
    .response_cb = response_cb,
    .error_cb = error_cb,
    .init_error_cb = init_error_cb,
    .too_large_cb = too_large_cb,
    .stream_begin_cb = stream_begin_cb,
    .stream_chunk_cb = stream_chunk_cb,
    .stream_end_cb = stream_end_cb,
    .ext_done_cb = ext_done_cb,
    .ext_error_cb = ext_error_cb,
};

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	H.log = evbuffer_new();
	struct err e = {0};
	if (!H.base || rtapi_new(H.base, -1, &ops, NULL, &H.rt, &e) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	if (!H.freed)
		rtapi_free(H.rt);
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

/* A new connection to the server; returns its index. */
static int connect_client(void)
{
	assert_true(H.ncl < MAX_CLIENTS);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(rtapi_serve_fd(H.rt, sv[0]), 0);
	H.cl[H.ncl] = (struct client){.fd = sv[1], .in = evbuffer_new()};
	return H.ncl++;
}

static void collect(void)
{
	char buf[65536];
	for (int i = 0; i < H.ncl; i++) {
		struct client *c = &H.cl[i];
		ssize_t n = -1;
		while (c->fd >= 0 && !c->eof && (n = read(c->fd, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				assert_true(errno == EAGAIN || errno == ECONNRESET);
				c->eof = errno == ECONNRESET;
				break;
			}
			evbuffer_add(c->in, buf, (size_t)n);
			H.progress += (uint64_t)n;
		}
		if (n == 0)
			c->eof = true;
	}
}

/* Whether some connection has bytes the server has not read yet. */
static bool unread(void)
{
	for (int i = 0; i < H.ncl; i++) {
		if (!H.cl[i].eof && transcript_unsent(H.cl[i].fd))
			return true;
	}
	return false;
}

/* Runs the loop until the server has read everything and three passes move nothing. */
static void run(void)
{
	assert_true(transcript_run(H.base, &H.progress, collect, unread, 200000));
}

/* Writes n bytes on connection i, running the loop whenever the socket is full. */
static void send_n(int i, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(H.cl[i].fd, p, n);
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			break; /* the server closed the connection: the rest is not read */
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

/* Takes what the server sent on connection i, as a string (owned by the caller). */
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

/* Asserts (and forgets) the callbacks so far. */
#define assert_log(expected)                                                                                 \
	do {                                                                                                 \
		size_t n_ = evbuffer_get_length(H.log);                                                      \
		char *got_ = malloc(n_ + 1);                                                                 \
		evbuffer_remove(H.log, got_, n_);                                                            \
		got_[n_] = 0;                                                                                \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

/* The reply the server gives an error: exact bytes. */
static char *error_reply(int code, const char *reason, const char *type, const char *msg, bool close)
{
	char body[512], *s;
	int n = snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
	assert_true(
	    asprintf(&s, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s",
	             code, reason, n, close ? "Connection: close\r\n" : "", body) > 0);
	return s;
}

#define assert_error_reply(i, code, reason, type, msg, close)                                                \
	do {                                                                                                 \
		char *want_ = error_reply(code, reason, type, msg, close);                                   \
		assert_reply(i, want_);                                                                      \
		free(want_);                                                                                 \
	} while (0)

static void deliver(const char *id, const char *payload)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, payload, strlen(payload));
	struct rtapi_event ev = {
	    .request_id = id,
	    .deadline_ms = 1700000000123,
	    .function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f",
	    .trace_id = "Root=1-2-3",
	    .payload = b,
	};
	assert_int_equal(rtapi_deliver(H.rt, &ev), 0);
	evbuffer_free(b);
	run();
}

/* The exact reply to a /next answered by deliver(). */
static char *event_reply(const char *id, const char *payload, bool close)
{
	char *s;
	assert_true(
	    asprintf(
	        &s,
	        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	        "Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: 1700000000123\r\n"
	        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
	        "Lambda-Runtime-Trace-Id: Root=1-2-3\r\n%s\r\n%s",
	        strlen(payload), id, close ? "Connection: close\r\n" : "", payload) > 0);
	return s;
}

#define assert_event_reply(i, id, payload)                                                                   \
	do {                                                                                                 \
		char *want_ = event_reply(id, payload, false);                                               \
		assert_reply(i, want_);                                                                      \
		free(want_);                                                                                 \
	} while (0)

/* /next, delivered as id, on connection i. */
static void next_delivered(int i, const char *id)
{
	send_s(i, NEXT);
	assert_true(rtapi_ready(H.rt));
	assert_log("next\n");
	assert_reply(i, "");
	deliver(id, "{\"k\":1}");
	assert_event_reply(i, id, "{\"k\":1}");
	assert_false(rtapi_ready(H.rt));
}

static char *post(const char *path, const char *headers, const char *body)
{
	char *s;
	assert_true(asprintf(&s, "POST " P "%s HTTP/1.1\r\nHost: rt\r\n%sContent-Length: %zu\r\n\r\n%s", path,
	                     headers, strlen(body), body) > 0);
	return s;
}

static void send_post(int i, const char *path, const char *headers, const char *body)
{
	char *s = post(path, headers, body);
	send_s(i, s);
	free(s);
}

/* ---- keep-alive and pipelining ---- */

/* Two invocations, a response and an error, on one connection that stays open. */
static void test_keepalive(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_post(c, "invocation/id-1/response", "Content-Type: application/json\r\n", "{\"ok\":true}");
	assert_reply(c, ACCEPTED);
	assert_log("response id-1 {\"ok\":true}\n");
	next_delivered(c, "id-2");
	send_post(c, "invocation/id-2/error", "Lambda-Runtime-Function-Error-Type: Runtime.Oops\r\n",
	          "{\"errorMessage\":\"x\"}");
	assert_reply(c, ACCEPTED);
	assert_log("error id-2 Runtime.Oops {\"errorMessage\":\"x\"}\n");
	/* The same id is answered once only. */
	send_post(c, "invocation/id-2/response", "", "late");
	assert_error_reply(c, 403, "Forbidden", "InvalidRequestID", "Invalid request ID", false);
	assert_log("");
	next_delivered(c, "id-3");
	assert_false(H.cl[c].eof);
}

/* Requests written at once are served one after the other, each after the reply of the
 * one before: the response waits behind the parked /next. */
static void test_pipelined(void **state)
{
	int c = connect_client();
	char *resp = post("invocation/id-1/response", "", "abc");
	char *all;
	assert_true(asprintf(&all, "%s%s%s", NEXT, resp, NEXT) > 0);
	send_s(c, all);
	assert_log("next\n");
	assert_reply(c, "");
	deliver("id-1", "{}");
	assert_log("response id-1 abc\nnext\n");
	char *want;
	char *ev = event_reply("id-1", "{}", false);
	assert_true(asprintf(&want, "%s%s", ev, ACCEPTED) > 0);
	assert_reply(c, want);
	assert_true(rtapi_ready(H.rt));
	free(ev);
	free(want);
	free(all);
	free(resp);
}

/* HTTP/1.0 closes after its reply unless it asks for keep-alive. */
static void test_http10(void **state)
{
	int c = connect_client();
	send_s(c, "GET " P "invocation/next HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_log("next\n");
	deliver("id-1", "{}");
	char *want;
	assert_true(
	    asprintf(
	        &want,
	        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
	        "Lambda-Runtime-Aws-Request-Id: id-1\r\nLambda-Runtime-Deadline-Ms: 1700000000123\r\n"
	        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
	        "Lambda-Runtime-Trace-Id: Root=1-2-3\r\nConnection: keep-alive\r\n\r\n{}") > 0);
	assert_reply(c, want);
	free(want);
	assert_false(H.cl[c].eof);
	send_s(c, "POST " P "invocation/id-1/response HTTP/1.0\r\nContent-Length: 2\r\n\r\nok");
	assert_reply(c, "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
	                "Connection: close\r\n\r\n{\"status\":\"OK\"}");
	assert_log("response id-1 ok\n");
	assert_true(H.cl[c].eof);
}

/* ---- bodies ---- */

/* A chunked body with an extension and a trailer, fed one byte at a time. */
static void test_chunked_bytewise(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	const char *req = "POST " P "invocation/id-1/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	                  "4;ext=1\r\n{\"a\"\r\nB \r\n:123456789}\r\n0\r\nX-Trailer: t\r\n\r\n";
	for (size_t k = 0; req[k]; k++) {
		send_n(c, req + k, 1);
		if (req[k + 1])
			assert_log("");
	}
	assert_reply(c, ACCEPTED);
	assert_log("response id-1 {\"a\":123456789}\n");
}

/* Content-Length 0 and a body split over writes. */
static void test_content_length(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_post(c, "invocation/id-1/response", "", "");
	assert_log("response id-1 \n");
	assert_reply(c, ACCEPTED);
	next_delivered(c, "id-2");
	send_s(c, "POST " P "invocation/id-2/response HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
	assert_log("");
	assert_reply(c, "");
	send_s(c, "56789");
	assert_log("response id-2 0123456789\n");
	assert_reply(c, ACCEPTED);
}

/* Expect: 100-continue is answered once the headers are in, before the body. */
static void test_expect_continue(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_s(c, "POST " P
	          "invocation/id-1/response HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	assert_reply(c, CONTINUE);
	assert_log("");
	send_s(c, "hi");
	assert_reply(c, ACCEPTED);
	assert_log("response id-1 hi\n");
	/* Not for an empty body. */
	next_delivered(c, "id-2");
	send_s(c, "POST " P
	          "invocation/id-2/response HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
	assert_reply(c, ACCEPTED);
	assert_log("response id-2 \n");
}

/* A response over 6 MB is refused with 413 and fails the invocation; the connection
 * goes on, and exactly 6 MB is accepted. */
static void test_response_too_large(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	size_t n = RTAPI_MAX_RESPONSE + 1;
	char *body = malloc(n + 1);
	memset(body, 'x', n);
	body[n] = 0;
	send_post(c, "invocation/id-1/response", "", body);
	assert_error_reply(c, 413, "Payload Too Large", "RequestEntityTooLarge",
	                   "Exceeded maximum allowed payload size (6291456 bytes).", false);
	assert_log("too_large id-1\n");
	assert_false(H.cl[c].eof);
	/* The invocation is over: its id is refused now. */
	send_post(c, "invocation/id-1/response", "", "x");
	assert_error_reply(c, 403, "Forbidden", "InvalidRequestID", "Invalid request ID", false);
	next_delivered(c, "id-2");
	body[n - 1] = 0;
	send_post(c, "invocation/id-2/response", "", body);
	assert_reply(c, ACCEPTED);
	assert_log("response id-2 [6291456 bytes]\n");
	free(body);
	/* A Content-Length past even the stream limit is refused before its body. */
	next_delivered(c, "id-3");
	send_s(c, "POST " P "invocation/id-3/response HTTP/1.1\r\nContent-Length: 209715201\r\n\r\n");
	assert_error_reply(c, 413, "Payload Too Large", "RequestEntityTooLarge",
	                   "Content-Length over the limit", true);
	assert_true(H.cl[c].eof);
	assert_log("");
}

/* ---- malformed requests: 400 (431 when too long) and the connection closed ---- */

static void malformed(const char *req, int code, const char *reason, const char *msg)
{
	int c = connect_client();
	send_s(c, req);
	assert_error_reply(c, code, reason, "BadRequest", msg, true);
	assert_true(H.cl[c].eof);
	assert_log("");
}

static void test_malformed(void **state)
{
	malformed("GET " P "invocation/next\r\n\r\n", 400, "Bad Request", "malformed request line");
	malformed("GET " P "invocation/next HTTP/2.0\r\n\r\n", 400, "Bad Request", "malformed request line");
	malformed("GET  " P "invocation/next HTTP/1.1\r\n\r\n", 400, "Bad Request", "malformed request line");
	malformed("G(T " P "invocation/next HTTP/1.1\r\n\r\n", 400, "Bad Request", "malformed request line");
}

static void test_malformed_headers(void **state)
{
	malformed("GET " P "invocation/next HTTP/1.1\r\nNo colon\r\n\r\n", 400, "Bad Request",
	          "malformed header field");
	malformed("GET " P "invocation/next HTTP/1.1\r\nBad Name: v\r\n\r\n", 400, "Bad Request",
	          "malformed header field");
	malformed("GET " P "invocation/next HTTP/1.1\r\n folded: v\r\n\r\n", 400, "Bad Request",
	          "malformed header field");
	malformed("GET " P "invocation/next HTTP/1.1\r\nX: a\001b\r\n\r\n", 400, "Bad Request",
	          "malformed header field");
}

static void test_malformed_bodies(void **state)
{
	malformed("POST " P "init/error HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", 400, "Bad Request",
	          "bad Content-Length");
	malformed("POST " P "init/error HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello", 400, "Bad Request",
	          "bad Content-Length");
	malformed("POST " P "init/error HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "Bad Request",
	          "unsupported Transfer-Encoding");
	malformed("POST " P
	          "init/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
	          400, "Bad Request", "malformed chunk size");
	malformed("POST " P
	          "init/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
	          400, "Bad Request", "malformed chunk size");
	malformed("POST " P "init/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
	          400, "Bad Request", "malformed chunk");
}

/* A request line or header block over 64 KB, or too many fields. */
static void test_too_long(void **state)
{
	size_t n = 70 * 1024;
	char *req = malloc(n + 64);
	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', n);
	strcpy(req + 5 + n, " HTTP/1.1\r\n\r\n");
	malformed(req, 431, "Request Header Fields Too Large", "request line too long");
	int k = sprintf(req, "GET " P "invocation/next HTTP/1.1\r\nX-A: ");
	memset(req + k, 'v', n);
	strcpy(req + k + n, "\r\n\r\n");
	malformed(req, 431, "Request Header Fields Too Large", "header fields too large");
	/* At most 128 fields. */
	k = sprintf(req, "GET " P "invocation/next HTTP/1.1\r\n");
	for (int i = 0; i < 129; i++)
		k += sprintf(req + k, "X-%d: v\r\n", i);
	strcpy(req + k, "\r\n");
	malformed(req, 400, "Bad Request", "malformed header field");
	free(req);
}

/* ---- routes ---- */

/* Unknown paths are 404 and wrong methods 405; neither closes the connection. */
static void test_routes(void **state)
{
	int c = connect_client();
	send_s(c, "GET /2018-06-01/runtime/invocation/id/other HTTP/1.1\r\n\r\n");
	assert_error_reply(c, 404, "Not Found", "NotFound", "unknown path", false);
	send_s(c, "GET /2019-01-01/runtime/invocation/next HTTP/1.1\r\n\r\n");
	assert_error_reply(c, 404, "Not Found", "NotFound", "unknown path", false);
	send_s(c, "GET " P "invocation//response HTTP/1.1\r\n\r\n");
	assert_error_reply(c, 404, "Not Found", "NotFound", "unknown path", false);
	send_s(c, "POST " P "invocation/next HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	assert_error_reply(c, 405, "Method Not Allowed", "MethodNotAllowed", "use GET", false);
	send_s(c, "GET " P "init/error HTTP/1.1\r\n\r\n");
	assert_error_reply(c, 405, "Method Not Allowed", "MethodNotAllowed", "use POST", false);
	send_s(c, "PUT " P "invocation/id/response HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
	assert_error_reply(c, 405, "Method Not Allowed", "MethodNotAllowed", "use POST", false);
	/* HEAD gets the headers only. */
	send_s(c, "HEAD " P "invocation/next HTTP/1.1\r\n\r\n");
	assert_reply(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: "
	                "application/json\r\nContent-Length: 57\r\n\r\n");
	assert_log("");
	/* The query string is not part of the path. */
	send_s(c, "GET " P "invocation/next?x=1 HTTP/1.1\r\n\r\n");
	assert_log("next\n");
	assert_false(H.cl[c].eof);
}

/* init/error before the first invocation; the environment takes no /next after it. */
static void test_init_error(void **state)
{
	int c = connect_client();
	send_post(c, "init/error", "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n",
	          "{\"errorMessage\":\"no module\"}");
	assert_reply(c, ACCEPTED);
	assert_log("init_error Runtime.ImportModuleError {\"errorMessage\":\"no module\"}\n");
	send_s(c, NEXT);
	assert_error_reply(c, 400, "Bad Request", "InvalidStateTransition",
	                   "the environment reported an init error", false);
	assert_log("");
}

static void test_init_error_after_invocation(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_post(c, "init/error", "", "{}");
	assert_error_reply(c, 403, "Forbidden", "InvalidStateTransition", "init/error after initialization",
	                   false);
	send_post(c, "invocation/id-2/response", "", "{}");
	assert_error_reply(c, 403, "Forbidden", "InvalidRequestID", "Invalid request ID", false);
	assert_log("");
}

/* ---- /next and its connection ---- */

/* A parked /next whose connection closes is forgotten; another may then park. */
static void test_next_closed(void **state)
{
	int a = connect_client(), b = connect_client();
	send_s(a, NEXT);
	assert_log("next\n");
	assert_true(rtapi_ready(H.rt));
	/* One /next at a time. */
	send_s(b, NEXT);
	assert_error_reply(b, 400, "Bad Request", "InvalidStateTransition",
	                   "another /next is already waiting", false);
	close(H.cl[a].fd);
	H.cl[a].fd = -1;
	run();
	assert_false(rtapi_ready(H.rt));
	struct rtapi_event ev = {.request_id = "id-1", .function_arn = "a", .trace_id = "t"};
	assert_int_equal(rtapi_deliver(H.rt, &ev), -EAGAIN);
	next_delivered(b, "id-1");
}

/* A client that sends more than 1 MB ahead while its /next is parked is cut off. */
static void test_flood_while_parked(void **state)
{
	int c = connect_client();
	send_s(c, NEXT);
	assert_log("next\n");
	size_t n = 1024 * 1024 + 4096;
	char *junk = malloc(n);
	memset(junk, 'j', n);
	send_n(c, junk, n);
	free(junk);
	assert_true(H.cl[c].eof);
	assert_false(rtapi_ready(H.rt));
	assert_reply(c, "");
	assert_log("");
}

/* ---- streaming ---- */

#define STREAM_HEAD(id)                                                                                      \
	"POST " P "invocation/" id "/response HTTP/1.1\r\n"                                                  \
	"Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"                 \
	"Content-Type: text/event-stream\r\nTrailer: Lambda-Runtime-Function-Error-Type\r\n\r\n"

/* Each chunk is relayed as it arrives, before the end; trailers make it an error. */
static void test_stream_trailers(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_s(c, STREAM_HEAD("id-1"));
	assert_log("begin id-1 text/event-stream\n");
	send_s(c, "6\r\nhello \r\n");
	assert_log("chunk id-1 hello \n");
	/* Meanwhile the invocation cannot be answered another way. */
	int d = connect_client();
	send_post(d, "invocation/id-1/response", "", "x");
	assert_error_reply(d, 403, "Forbidden", "InvalidRequestID", "Invalid request ID", false);
	send_s(c, "5\r\nworld\r\n");
	assert_log("chunk id-1 world\n");
	assert_reply(c, "");
	send_s(c, "0\r\nLambda-Runtime-Function-Error-Type: Runtime.Boom\r\n"
	          "Lambda-Runtime-Function-Error-Body: eyJlcnJvck1lc3NhZ2UiOiJib29tIn0=\r\n\r\n");
	assert_log("end id-1 Runtime.Boom whole {\"errorMessage\":\"boom\"}\n");
	assert_reply(c, ACCEPTED);
	next_delivered(c, "id-2");
}

/* A stream without trailers ends whole; one with Content-Length is relayed too. */
static void test_stream_whole(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_s(c, STREAM_HEAD("id-1") "3\r\nabc\r\n0\r\n\r\n");
	assert_log("begin id-1 text/event-stream\nchunk id-1 abc\nend id-1 - whole \n");
	assert_reply(c, ACCEPTED);
	next_delivered(c, "id-2");
	send_s(c, "POST " P "invocation/id-2/response HTTP/1.1\r\nExpect: 100-continue\r\n"
	          "Lambda-Runtime-Function-Response-Mode: streaming\r\nContent-Length: 4\r\n\r\n");
	assert_log("begin id-2 application/octet-stream\n");
	assert_reply(c, CONTINUE);
	send_s(c, "data");
	assert_log("chunk id-2 data\nend id-2 - whole \n");
	assert_reply(c, ACCEPTED);
}

/* The connection ends before the last chunk: the stream ends truncated. */
static void test_stream_cut(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_s(c, STREAM_HEAD("id-1") "5\r\nhel");
	assert_log("begin id-1 text/event-stream\nchunk id-1 hel\n");
	close(H.cl[c].fd);
	H.cl[c].fd = -1;
	run();
	assert_log("end id-1 Runtime.TruncatedResponse truncated {\"errorMessage\":\"the runtime closed the "
	           "connection before the end of the streamed "
	           "response\",\"errorType\":\"Runtime.TruncatedResponse\"}\n");
	/* The invocation is over and the environment serves the next one. */
	int d = connect_client();
	next_delivered(d, "id-2");
}

/* A malformed chunk ends the stream at once, cut short, and closes the connection. */
static void test_stream_malformed(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_s(c, STREAM_HEAD("id-1") "3\r\nabcXX");
	assert_log(
	    "begin id-1 text/event-stream\nchunk id-1 abc\nend id-1 Runtime.TruncatedResponse truncated "
	    "{\"errorMessage\":\"the streamed response was malformed: malformed chunk\",\"errorType\":"
	    "\"Runtime.TruncatedResponse\"}\n");
	assert_error_reply(c, 400, "Bad Request", "BadRequest", "malformed chunk", true);
	assert_true(H.cl[c].eof);
	int d = connect_client();
	next_delivered(d, "id-2");
}

/* A stream for an id not in flight is refused before its body is invited. */
static void test_stream_refused(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	send_s(c, "POST " P "invocation/id-9/response HTTP/1.1\r\nExpect: 100-continue\r\n"
	          "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_error_reply(c, 403, "Forbidden", "InvalidRequestID", "Invalid request ID", true);
	assert_true(H.cl[c].eof);
	assert_log("");
}

/* ---- rtapi_free ---- */

/* Freed from inside a callback: nothing more is heard, and nothing leaks. */
static void test_free_in_callback(void **state)
{
	int c = connect_client();
	next_delivered(c, "id-1");
	H.free_in = "chunk";
	send_s(c, STREAM_HEAD("id-1") "1\r\na\r\n1\r\nb\r\n");
	assert_log("begin id-1 text/event-stream\nchunk id-1 a\n");
	assert_true(H.freed);
	assert_true(H.cl[c].eof);
}

/* A connection handed over after rtapi_free is closed at once. */
static void test_serve_after_free(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	rtapi_free(H.rt);
	H.freed = true;
	assert_int_equal(rtapi_serve_fd(H.rt, sv[0]), -ESHUTDOWN);
	char ch;
	assert_int_equal(read(sv[1], &ch, 1), 0);
	close(sv[1]);
}

/* ---- the Extensions API ---- */

#define X "/2020-01-01/extension/"

/* A request of the Extensions API on connection i, with id as its identifier ("": none). */
static void send_ext(int i, const char *method, const char *path, const char *id, const char *extra,
                     const char *body)
{
	char *s;
	assert_true(asprintf(&s, "%s %s HTTP/1.1\r\nHost: rt\r\n%s%s%s%sContent-Length: %zu\r\n\r\n%s",
	                     method, path, id[0] ? "Lambda-Extension-Identifier: " : "", id,
	                     id[0] ? "\r\n" : "", extra, strlen(body), body) > 0);
	send_s(i, s);
	free(s);
}

/* Registers as name on connection i; the identifier goes to id (37 bytes). */
static void ext_register(int i, const char *name, const char *events, char *id)
{
	char hdr[96], body[96];
	snprintf(hdr, sizeof(hdr), "Lambda-Extension-Name: %s\r\n", name);
	snprintf(body, sizeof(body), "{\"events\":%s}", events);
	send_ext(i, "POST", X "register", "", hdr, body);
	char *got = take(i);
	assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
	const char *h = strstr(got, "Lambda-Extension-Identifier: ");
	assert_non_null(h);
	memcpy(id, h + 29, 36);
	id[36] = 0;
	assert_non_null(strstr(got,
	                       "\r\n\r\n{\"functionName\":\"f\",\"functionVersion\":\"$LATEST\",\"handler\":"
	                       "\"app.handler\",\"accountId\":\"123456789012\"}"));
	free(got);
}

/* Takes connection i's reply and checks it is a 200 with an event identifier and body. */
static void assert_ext_event(int i, const char *body)
{
	char *got = take(i);
	assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(got, "Lambda-Extension-Event-Identifier: "));
	char *b = strstr(got, "\r\n\r\n");
	assert_non_null(b);
	assert_string_equal(b + 4, body);
	free(got);
}

/* Init waits for the extension; INVOKE reaches it with the runtime's event; the end of
 * the invocation waits for it; SHUTDOWN reaches it; what it may not do is refused. */
static void test_extensions(void **state)
{
	struct rtapi_function fn = {
	    .name = "f", .version = "$LATEST", .handler = "app.handler", .account = "123456789012"};
	rtapi_set_function(H.rt, &fn);
	rtapi_expect_extensions(H.rt, 1);
	int r = connect_client(), x = connect_client();
	char id[40];
	send_s(r, NEXT);
	assert_log(""); /* the extension has not registered */
	assert_false(rtapi_ready(H.rt));
	send_ext(x, "POST", X "register", "", "", "{\"events\":[]}");
	assert_error_reply(x, 400, "Bad Request", "Extension.MissingHeader",
	                   "Missing Lambda-Extension-Name header", false);
	send_ext(x, "POST", X "register", "", "Lambda-Extension-Name: e\r\n", "{\"events\":[\"LOGS\"]}");
	assert_error_reply(x, 400, "Bad Request", "Extension.InvalidEventType",
	                   "events: LOGS is not INVOKE or SHUTDOWN", false);
	ext_register(x, "e", "[\"INVOKE\",\"SHUTDOWN\"]", id);
	send_ext(x, "POST", X "register", "", "Lambda-Extension-Name: e\r\n", "{\"events\":[]}");
	assert_error_reply(x, 403, "Forbidden", "Extension.InvalidExtensionName",
	                   "an extension named e is registered already", false);
	send_ext(x, "GET", X "event/next", "nope", "", "");
	assert_error_reply(x, 403, "Forbidden", "Extension.UnknownExtensionIdentifier",
	                   "Unknown extension nope", false);
	assert_log("");
	send_ext(x, "GET", X "event/next", id, "", "");
	assert_log("next\n"); /* init is over: both wait */
	deliver("id-1", "{}");
	assert_event_reply(r, "id-1", "{}");
	assert_ext_event(x, "{\"eventType\":\"INVOKE\",\"deadlineMs\":1700000000123,\"requestId\":\"id-1\","
	                    "\"invokedFunctionArn\":\"arn:aws:lambda:us-east-1:123456789012:function:f\","
	                    "\"tracing\":{\"type\":\"X-Amzn-Trace-Id\",\"value\":\"Root=1-2-3\"}}");
	assert_true(rtapi_ext_busy(H.rt));
	send_post(r, "invocation/id-1/response", "", "{\"ok\":1}");
	assert_reply(r, ACCEPTED);
	send_s(r, NEXT);
	assert_log("response id-1 {\"ok\":1}\n"); /* no next: the extension is not done */
	assert_false(rtapi_ready(H.rt));
	send_ext(x, "GET", X "event/next", id, "", "");
	assert_log("ext_done\nnext\n");
	assert_false(rtapi_ext_busy(H.rt));
	/* Registration is closed after init. */
	int y = connect_client();
	send_ext(y, "POST", X "register", "", "Lambda-Extension-Name: late\r\n", "{\"events\":[]}");
	assert_error_reply(y, 403, "Forbidden", "Extension.RegistrationClosed",
	                   "extensions register during the Init phase only", false);
	send_ext(y, "POST", X "init/error", id, "Lambda-Extension-Function-Error-Type: Extension.X\r\n",
	         "{}");
	assert_error_reply(y, 403, "Forbidden", "Extension.InvalidExtensionState",
	                   "init/error after the Init phase", false);
	assert_true(rtapi_wants_shutdown(H.rt));
	assert_int_equal(rtapi_shutdown(H.rt, "spindown", 1700000009999), 1);
	run();
	assert_ext_event(
	    x, "{\"eventType\":\"SHUTDOWN\",\"shutdownReason\":\"spindown\",\"deadlineMs\":1700000009999}");
	assert_false(rtapi_ready(H.rt));
	send_ext(x, "POST", X "exit/error", id, "Lambda-Extension-Function-Error-Type: Extension.Bye\r\n",
	         "{}");
	assert_reply(x, ACCEPTED);
	assert_log("ext_error e exit Extension.Bye\n");
	send_ext(x, "GET", X "event/next", id, "", "");
	assert_log("ext_done\n");
	send_ext(y, "PUT", "/2022-07-01/telemetry", id, "", "{\"types\":[]}");
	assert_error_reply(y, 400, "Bad Request", "ValidationError",
	                   "types must be a non-empty array of platform, function, extension", false);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_bytewise, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_content_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_response_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_bodies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_error_after_invocation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_next_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flood_while_parked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_trailers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_serve_after_free, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_extensions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
