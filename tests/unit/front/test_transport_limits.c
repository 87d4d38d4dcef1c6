/* Tests for body limits per route through the front's transport over http/server and the
 * front's dispatch: an operation's body_max lets a streamed upload pass the transport's
 * limit (200 MiB under a 5 GiB limit, with bounded buffering), a buffered operation keeps
 * the transport's cap or its own lower one, and a body over its route's limit is answered
 * 413 in the service's error shape before it is read (no 100 Continue), as exact bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../transcript.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front/svc.h"
#include "front/transport_http.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)
#define TRANSPORT_MAX MIB  /* the transport's limit in these tests */
#define UPLOAD (200 * MIB) /* the streamed upload */
#define PIECE 65536        /* bytes of each of its chunks */

static struct harness {
	struct event_base *base;
	struct front *front;
	struct front_http *h;
	int fd;
	struct evbuffer *in;  /* what the server sent */
	struct evbuffer *out; /* what the client still has to send */
	bool eof;
	uint64_t progress;
	uint64_t sent;     /* bytes the client wrote */
	uint64_t gen_left; /* bytes of the upload's body still to generate into out */
	uint64_t gen_off;
	uint64_t got;  /* body bytes the handler was given */
	uint64_t bad;  /* of them, not the pattern */
	uint64_t peak; /* most bytes written by the client and not yet given to the handler */
	int calls;     /* handler calls */
	int read_rc;
} H;

/* ---- the service ---- */

static void up_data(struct front_req *rq, const void *data, size_t len, void *arg)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)((H.got + i) % 251))
			H.bad++;
	H.got += len;
	if (H.sent - H.got > H.peak)
		H.peak = H.sent - H.got;
	H.progress++;
}

static void reply_text(struct front_req *rq, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_text(struct front_req *rq, int status, const char *fmt, ...)
{
	struct evbuffer *b = evbuffer_new();
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	front_reply_header(rq, "Content-Type", "text/plain");
	front_reply(rq, status, b);
	evbuffer_free(b);
}

static void up_end(struct front_req *rq, const struct evkeyvalq *trailers, void *arg)
{
	reply_text(rq, 200, "got=%llu", (unsigned long long)H.got);
	H.progress++;
}

static void up_abort(struct front_req *rq, enum front_body_abort why, void *arg)
{
	front_reply(rq, 500, NULL); /* dropped */
	H.progress++;
}

static const struct front_body_ops up_ops = {.data = up_data, .end = up_end, .abort = up_abort};

static void h_put(void *ctx, const struct svc_call *c)
{
	H.calls++;
	H.got = H.bad = H.peak = 0;
	H.read_rc = front_req_read_body(c->rq, 0, &up_ops, NULL);
	if (H.read_rc < 0)
		front_reply(c->rq, 500, NULL); /* dropped */
}

static void h_note(void *ctx, const struct svc_call *c)
{
	H.calls++;
	reply_text(c->rq, 200, "%s %zu", c->op->name, evbuffer_get_length(front_req_body(c->rq)));
}

enum { E_NONE, E_UNKNOWN, E_LARGE, E_COUNT };
static const struct svc_error errs[E_COUNT] = {
    [E_UNKNOWN] = {"UnknownOperationException", 404, true},
    [E_LARGE] = {"EntityTooLarge", 413, true},
};
static const struct op ops[] = {
    {.name = "PutObject",
     .method = FRONT_PUT,
     .uri = "/b/{Key+}",
     .handler = h_put,
     .stream_body = true,
     .body_max = 5 * GIB},
    {.name = "PostNote", .method = FRONT_POST, .uri = "/notes", .handler = h_note},
    {.name = "PostSmall", .method = FRONT_POST, .uri = "/small", .handler = h_note, .body_max = 16},
    {.name = "PostHuge", .method = FRONT_POST, .uri = "/huge", .handler = h_note, .body_max = 5 * GIB},
};
static const struct svc svc = {
    .name = "t",
    .proto = PROTO_REST_JSON,
    .ops = ops,
    .nops = sizeof(ops) / sizeof(ops[0]),
    .errors = errs,
    .nerrors = E_COUNT,
    .err_unknown_op = E_UNKNOWN,
    .err_too_large = E_LARGE,
};

/* ---- the harness ---- */

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	H.in = evbuffer_new();
	H.out = evbuffer_new();
	H.front = front_new(&svc);
	front_add(H.front, &svc, NULL);
	struct err e = {0};
	if (front_http_new(H.base, NULL, 0, TRANSPORT_MAX, front_dispatch, H.front, &H.h, &e) < 0)
		return -1;
	front_http_set_stream(H.h, front_wants_stream);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
	    front_http_serve_fd(H.h, sv[0]) < 0)
		return -1;
	H.fd = sv[1];
	return 0;
}

static int teardown(void **state)
{
	front_http_free(H.h);
	for (int i = 0; i < 4 && event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED); i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_int_equal(event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED), 0);
	if (H.fd >= 0)
		close(H.fd);
	front_free(H.front);
	evbuffer_free(H.in);
	evbuffer_free(H.out);
	event_base_free(H.base);
	return 0;
}

/* Tops up what the client has to send with the upload's next chunks, a few at a time. */
static void generate(void)
{
	static unsigned char piece[PIECE];
	while (H.gen_left > 0 && evbuffer_get_length(H.out) < 4 * PIECE) {
		size_t n = H.gen_left < PIECE ? (size_t)H.gen_left : PIECE;
		for (size_t i = 0; i < n; i++)
			piece[i] = (unsigned char)((H.gen_off + i) % 251);
		evbuffer_add_printf(H.out, "%zx\r\n", n);
		evbuffer_add(H.out, piece, n);
		evbuffer_add_printf(H.out, "\r\n");
		H.gen_off += n;
		H.gen_left -= n;
		if (H.gen_left == 0)
			evbuffer_add_printf(H.out, "0\r\n\r\n");
	}
}

/* Runs the loop, the client writing what it has to send as the socket takes it and reading
 * what comes, until nothing moves for a few passes. */
static void run(void)
{
	int quiet = 0;
	for (int pass = 0; quiet < 3; pass++) {
		assert_true(pass < 10000000);
		uint64_t before = H.progress;
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		generate();
		while (H.fd >= 0 && evbuffer_get_length(H.out) > 0) {
			size_t n = evbuffer_get_length(H.out);
			ssize_t w = write(H.fd, evbuffer_pullup(H.out, (ev_ssize_t)(n < PIECE ? n : PIECE)),
			                  n < PIECE ? n : PIECE);
			if (w <= 0)
				break;
			evbuffer_drain(H.out, (size_t)w);
			H.sent += (uint64_t)w;
			H.progress += (uint64_t)w;
			generate();
		}
		transcript_read(H.fd, H.in, &H.progress, &H.eof);
		bool unread = !H.eof && transcript_unsent(H.fd);
		quiet = H.progress == before && !unread ? quiet + 1 : 0;
	}
}

static void send_s(const char *s)
{
	evbuffer_add(H.out, s, strlen(s));
	run();
}

/* What the server sent, with the Date value made "D" and the request id "R". */
static char *take(void)
{
	char *s = transcript_take(H.in);
	transcript_mask(s, "x-amzn-RequestId: [0-9a-f-]{36}", "x-amzn-RequestId: R");
	return s;
}

#define assert_reply(expected)                                                                               \
	do {                                                                                                 \
		char *got_ = take();                                                                         \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

/* The service's 413 for operation op over limit. */
static void assert_too_large(uint64_t limit, const char *op)
{
	char body[256], want[512];
	snprintf(body, sizeof(body),
	         "{\"message\":\"Request must be smaller than %llu bytes for the %s operation\"}",
	         (unsigned long long)limit, op);
	snprintf(want, sizeof(want),
	         "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	         "X-Amzn-ErrorType: EntityTooLarge\r\nx-amzn-RequestId: R\r\nDate: D\r\nConnection: "
	         "close\r\n\r\n%s",
	         strlen(body), body);
	assert_reply(want);
}

/* 200 MiB chunked to an operation whose limit is 5 GiB, past the transport's 1 MiB: the
 * handler gets all of it in pieces, and what waits between the client and the handler
 * stays far below the body. */
static void test_stream_over_transport_limit(void **state)
{
	evbuffer_add_printf(H.out, "PUT /b/dir/key HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	H.gen_left = UPLOAD;
	run();
	assert_reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: D\r\n\r\n"
	             "got=209715200");
	assert_int_equal(H.got, UPLOAD);
	assert_int_equal(H.bad, 0);
	assert_int_equal(H.calls, 1);
	assert_true(H.peak < 4 * MIB);
	print_message("200 MiB streamed, at most %llu bytes between client and handler\n",
	              (unsigned long long)H.peak);
	/* A Content-Length past the transport's limit is taken as well, on the same connection. */
	evbuffer_add_printf(H.out, "PUT /b/k2 HTTP/1.1\r\nContent-Length: %llu\r\n\r\n",
	                    (unsigned long long)(3 * MIB));
	H.gen_off = 0;
	for (uint64_t i = 0; i < 3 * MIB; i++) {
		unsigned char ch = (unsigned char)(i % 251);
		evbuffer_add(H.out, &ch, 1);
	}
	run();
	assert_reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nDate: D\r\n\r\n"
	             "got=3145728");
	assert_false(H.eof);
}

/* A body read whole keeps the transport's cap whatever its operation says, and an
 * operation's own lower one: 413 in the service's shape, the handler never called. */
static void test_buffered_cap(void **state)
{
	send_s("POST /notes HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
	assert_reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nDate: D\r\n\r\n"
	             "PostNote 5");
	/* Declared over the cap: refused before the body, which the client then never sends. */
	send_s("POST /notes HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n");
	assert_too_large(1048576, "PostNote");
	assert_true(H.eof);
	assert_int_equal(H.calls, 1);
}

/* A chunked body found over the cap while read: cut off there with the same 413. */
static void test_buffered_chunked_cap(void **state)
{
	evbuffer_add_printf(H.out, "POST /huge HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	H.gen_left = 2 * MIB; /* its 5 GiB limit does not hold for a body read whole */
	run();
	assert_too_large(1048576, "PostHuge");
	assert_true(H.eof);
	assert_true(H.sent < 2 * MIB); /* not read to its end */
	assert_int_equal(H.calls, 0);
}

/* One chunk declared over the cap: refused at its size line. */
static void test_chunk_declared_over_cap(void **state)
{
	send_s("POST /notes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\nabc");
	assert_too_large(1048576, "PostNote");
	assert_true(H.eof);
	assert_int_equal(H.calls, 0);
}

/* A Content-Length over the operation's limit is refused before reading, and with
 * Expect: 100-continue no 100 goes out: streamed and buffered operations alike. */
static void test_length_refused_before_reading(void **state)
{
	send_s("PUT /b/k HTTP/1.1\r\nContent-Length: 5368709121\r\nExpect: 100-continue\r\n\r\n");
	assert_too_large(5368709120ull, "PutObject");
	assert_true(H.eof);
	assert_int_equal(H.calls, 0);
}

static void test_length_refused_buffered(void **state)
{
	send_s("POST /small HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef");
	assert_reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nDate: D\r\n\r\n"
	             "PostSmall 16");
	send_s("POST /small HTTP/1.1\r\nContent-Length: 17\r\nExpect: 100-continue\r\n\r\n");
	assert_too_large(16, "PostSmall");
	assert_true(H.eof);
	assert_int_equal(H.calls, 1);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stream_over_transport_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffered_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffered_chunked_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunk_declared_over_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_length_refused_before_reading, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_length_refused_buffered, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
