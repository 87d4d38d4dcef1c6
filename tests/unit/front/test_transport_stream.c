/* Tests for streamed request bodies through the front's transport over http/server:
 * requests written on socketpairs (front_http_serve_fd) whose handler opted in reach it at
 * their headers, and their bodies come in pieces through front_req_read_body (chunked with
 * trailers, Content-Length, Expect: 100-continue asked for or refused, the client leaving
 * mid-body, the limit, pipelining after them), as exact bytes on the wire. */
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
#include <linux/sockios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front/transport_http.h"

#define BIG (10 * 1024 * 1024) /* bytes of the large upload */
#define PIECE 65536            /* bytes of each of its chunks */

static struct harness {
	struct event_base *base;
	struct front_http *h;
	int fd;
	struct evbuffer *in;  /* what the server sent */
	struct evbuffer *out; /* what the client still has to send */
	bool eof;
	uint64_t progress;
	uint64_t sent; /* bytes the client wrote */
	/* The streamed request under way. */
	struct front_req *held; /* a request the test answers itself */
	uint64_t got;           /* body bytes the handler was given */
	uint64_t pieces;
	uint64_t peak;  /* most bytes written by the client and not yet given to the handler */
	uint64_t bad;   /* bytes not the pattern (the large upload) */
	char small[64]; /* the head of the body, for the small uploads */
	int aborts;     /* abort callbacks */
	enum front_body_abort why;
	int read_rc; /* front_req_read_body's return */
	bool early;  /* /s/early answered */
	int streamed, whole, refused;
} H;

static void s_data(struct front_req *rq, const void *data, size_t len, void *arg)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		if (strcmp(front_req_path(rq), "/s/big") == 0 && p[i] != (unsigned char)((H.got + i) % 251))
			H.bad++;
		if (H.got + i < sizeof(H.small) - 1)
			H.small[H.got + i] = (char)p[i];
	}
	H.got += len;
	H.pieces++;
	if (strcmp(front_req_path(rq), "/s/early") == 0 && H.got >= 3 && !H.early) {
		H.early = true; /* answers before the end: the rest is dropped, no callback follows */
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "early");
		front_reply_header(rq, "Content-Type", "text/plain");
		front_reply(rq, 400, b);
		evbuffer_free(b);
	}
	if (H.sent - H.got > H.peak)
		H.peak = H.sent - H.got;
	H.progress++;
}

static void s_end(struct front_req *rq, const struct evkeyvalq *trailers, void *arg)
{
	const char *sum = evhttp_find_header(trailers, "X-Sum");
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "got=%llu sum=%s body=%s", (unsigned long long)H.got, sum ? sum : "-",
	                    H.got < sizeof(H.small) ? H.small : "(big)");
	front_reply_header(rq, "Content-Type", "text/plain");
	front_reply(rq, 200, b);
	evbuffer_free(b);
	H.progress++;
}

static void s_abort(struct front_req *rq, enum front_body_abort why, void *arg)
{
	H.aborts++;
	H.why = why;
	H.progress++;
	assert_true(front_req_gone(rq));
	if (rq != H.held)
		front_reply(rq, 500, NULL); /* dropped */
}

static const struct front_body_ops ops = {.data = s_data, .end = s_end, .abort = s_abort};

static bool wants(struct front_req *rq, void *arg, uint64_t *body_max)
{
	return front_req_path(rq) && strncmp(front_req_path(rq), "/s/", 3) == 0;
}

static void handler(struct front_req *rq, void *arg)
{
	const char *path = front_req_path(rq);
	H.progress++;
	if (front_req_refused(rq)) { /* the front's 413: with the route's limit */
		H.refused++;
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "refused %s over %llu", path,
		                    (unsigned long long)front_req_refused(rq));
		front_reply_header(rq, "Content-Type", "text/plain");
		front_reply(rq, 413, b);
		evbuffer_free(b);
		return;
	}
	if (!front_req_streamed(rq)) {
		H.whole++;
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "whole %s body=", front_req_uri(rq));
		evbuffer_add_buffer(b, front_req_body(rq));
		front_reply_header(rq, "Content-Type", "text/plain");
		front_reply(rq, 200, b);
		evbuffer_free(b);
		return;
	}
	H.streamed++;
	assert_int_equal(evbuffer_get_length(front_req_body(rq)), 0);
	H.got = H.pieces = H.peak = 0;
	memset(H.small, 0, sizeof(H.small));
	if (strcmp(path, "/s/refuse") == 0) {
		front_reply_header(rq, "Content-Type", "text/plain");
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "no");
		front_reply(rq, 403, b);
		evbuffer_free(b);
	} else if (strcmp(path, "/s/later") == 0) {
		H.held = rq; /* the test calls front_req_read_body */
	} else {
		const char *lim = front_req_query(rq, "limit");
		H.read_rc = front_req_read_body(rq, lim ? strtoull(lim, NULL, 10) : 0, &ops, NULL);
		if (strcmp(path, "/s/hold") == 0)
			H.held = rq;
		else if (H.read_rc < 0)
			front_reply(rq, 500, NULL); /* dropped: the transport answered */
	}
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	H.in = evbuffer_new();
	H.out = evbuffer_new();
	struct err e = {0};
	if (front_http_new(H.base, NULL, 0, 16 * 1024 * 1024, handler, NULL, &H.h, &e) < 0)
		return -1;
	front_http_set_stream(H.h, wants);
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
	if (H.held) /* answered after the transport is gone: dropped */
		front_reply(H.held, 200, NULL);
	for (int i = 0; i < 4 && event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED); i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_int_equal(event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED), 0);
	if (H.fd >= 0)
		close(H.fd);
	evbuffer_free(H.in);
	evbuffer_free(H.out);
	event_base_free(H.base);
	return 0;
}

/* Runs the loop, the client writing what it has to send as the socket takes it and reading
 * what comes, until nothing moves for a few passes. */
static void run(void)
{
	int quiet = 0;
	for (int pass = 0; quiet < 3; pass++) {
		assert_true(pass < 2000000);
		uint64_t before = H.progress;
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		while (H.fd >= 0 && evbuffer_get_length(H.out) > 0) {
			size_t n = evbuffer_get_length(H.out);
			ssize_t w = write(H.fd, evbuffer_pullup(H.out, (ev_ssize_t)(n < PIECE ? n : PIECE)),
			                  n < PIECE ? n : PIECE);
			if (w <= 0)
				break;
			evbuffer_drain(H.out, (size_t)w);
			H.sent += (uint64_t)w;
			H.progress += (uint64_t)w;
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

/* What the server sent, with the Date header's value (the time) made "D". */
static char *take(void)
{
	char *s = transcript_take(H.in);
	return s;
}

#define assert_reply(expected)                                                                               \
	do {                                                                                                 \
		char *got_ = take();                                                                         \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

/* The 200 the handler answers with body b. */
#define OK(len, b)                                                                                           \
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " len "\r\nDate: D\r\n\r\n" b

/* 10 MiB chunked, with a trailer: the handler gets it in pieces as it comes, never whole. */
static void test_big_chunked(void **state)
{
	evbuffer_add_printf(H.out, "PUT /s/big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	unsigned char *piece = malloc(PIECE);
	for (uint64_t off = 0; off < BIG; off += PIECE) {
		for (size_t i = 0; i < PIECE; i++)
			piece[i] = (unsigned char)((off + i) % 251);
		evbuffer_add_printf(H.out, "%x\r\n", PIECE);
		evbuffer_add(H.out, piece, PIECE);
		evbuffer_add_printf(H.out, "\r\n");
	}
	free(piece);
	evbuffer_add_printf(H.out, "0\r\nX-Sum: abc\r\n\r\n");
	run();
	assert_reply(OK("31", "got=10485760 sum=abc body=(big)"));
	assert_int_equal(H.got, BIG);
	assert_int_equal(H.bad, 0);
	assert_true(H.pieces >= BIG / PIECE);
	/* What was in flight (socket and engine) at any piece stays far below the body. */
	assert_true(H.peak < 2 * 1024 * 1024);
	print_message("10 MiB in %llu pieces, at most %llu bytes in flight\n", (unsigned long long)H.pieces,
	              (unsigned long long)H.peak);
	assert_int_equal(H.streamed, 1);
}

/* A Content-Length body, then a request read whole pipelined behind it. */
static void test_length_and_pipelined(void **state)
{
	send_s("PUT /s/up HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"
	       "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
	       "PUT /s/up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
	       "GET /echo2 HTTP/1.1\r\n\r\n");
	assert_reply(OK("29", "got=11 sum=- body=hello world") OK("19", "whole /echo body=hi")
	                 OK("22", "got=5 sum=- body=abcde") OK("18", "whole /echo2 body="));
	assert_int_equal(H.streamed, 2);
	assert_int_equal(H.whole, 2);
	assert_false(H.eof);
}

/* Expect: 100-continue goes out only when the handler asks for the body. */
static void test_expect_accepted(void **state)
{
	send_s("PUT /s/later HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
	assert_non_null(H.held);
	assert_int_equal(evbuffer_get_length(H.in), 0);
	assert_int_equal(front_req_read_body(H.held, 0, &ops, NULL), 0);
	assert_int_equal(front_req_read_body(H.held, 0, &ops, NULL), -EINVAL); /* once */
	H.held = NULL;                                                         /* s_end answers it */
	run();
	assert_reply("HTTP/1.1 100 Continue\r\n\r\n");
	send_s("body");
	assert_reply(OK("21", "got=4 sum=- body=body"));
	send_s("GET /echo HTTP/1.1\r\n\r\n");
	assert_reply(OK("17", "whole /echo body="));
}

/* The handler answers without the body: with Expect pending no 100 goes out and the
 * connection closes after its answer. */
static void test_expect_refused(void **state)
{
	send_s("PUT /s/refuse HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
	assert_reply("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nDate: "
	             "D\r\nConnection: close\r\n\r\nno");
	assert_true(H.eof);
}

/* Refused without Expect: the body sent anyway is read and dropped; the next request is served. */
static void test_refused_then_pipelined(void **state)
{
	send_s("PUT /s/refuse HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
	       "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
	assert_reply("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nDate: "
	             "D\r\n\r\nno" OK("19", "whole /echo body=ok"));
	assert_false(H.eof);
}

/* The handler answers mid-body: the rest of the body is read and dropped, and the request
 * pipelined behind it is served. */
static void test_answer_mid_body(void **state)
{
	send_s("PUT /s/early HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc");
	assert_reply("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: "
	             "D\r\n\r\nearly");
	send_s("def"
	       "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
	assert_reply(OK("19", "whole /echo body=ok"));
	assert_int_equal(H.got, 3);
	assert_int_equal(H.aborts, 0);
}

/* The transport is freed while a body is being read: the handler hears it gone. */
static void test_transport_freed(void **state)
{
	send_s("PUT /s/hold HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	assert_non_null(H.held);
	front_http_free(H.h);
	H.h = NULL;
	assert_int_equal(H.aborts, 1);
	assert_int_equal(H.why, FRONT_BODY_GONE);
}

/* The client leaves mid-body: the handler hears the abort, answered in it or later. */
static void test_client_gone(void **state)
{
	send_s("PUT /s/up HTTP/1.1\r\nContent-Length: 1000\r\n\r\n0123456789");
	assert_int_equal(H.got, 10);
	close(H.fd);
	H.fd = -1;
	run();
	assert_int_equal(H.aborts, 1);
	assert_int_equal(H.why, FRONT_BODY_GONE);
}

static void test_client_gone_held(void **state)
{
	send_s("PUT /s/hold HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
	assert_non_null(H.held);
	front_req_on_close(H.held, NULL, NULL);
	close(H.fd);
	H.fd = -1;
	run();
	assert_int_equal(H.aborts, 1);
	assert_int_equal(H.why, FRONT_BODY_GONE);
	assert_true(front_req_gone(H.held));
	front_reply(H.held, 200, NULL); /* dropped */
	H.held = NULL;
}

/* The handler's limit: a chunked body passing it is cut off with 413, a Content-Length past
 * it refused before the body. */
static void test_limit_chunked(void **state)
{
	send_s("PUT /s/up?limit=100 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "50\r\n01234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n"
	       "50\r\n01234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n"
	       "0\r\n\r\n");
	assert_reply("HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
	             "Date: D\r\nConnection: close\r\n\r\nrefused /s/up over 100");
	assert_int_equal(H.refused, 1);
	assert_int_equal(H.aborts, 1);
	assert_int_equal(H.why, FRONT_BODY_TOO_LARGE);
	assert_true(H.got <= 100);
	assert_true(H.eof);
}

/* Broken framing mid-body: the handler hears it, the engine answers 400. */
static void test_malformed(void **state)
{
	send_s("PUT /s/up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
	assert_int_equal(H.aborts, 1);
	assert_int_equal(H.why, FRONT_BODY_MALFORMED);
	assert_int_equal(H.got, 3);
	assert_reply("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
	             "21\r\nConnection: close\r\n\r\nmalformed chunk size\n");
	assert_true(H.eof);
}

static void test_limit_length(void **state)
{
	send_s("PUT /s/up?limit=100 HTTP/1.1\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n");
	assert_int_equal(H.read_rc, -EFBIG);
	assert_reply("HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
	             "Date: D\r\nConnection: close\r\n\r\nrefused /s/up over 100");
	assert_int_equal(H.refused, 1);
	assert_int_equal(H.aborts, 0);
	assert_true(H.eof);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_big_chunked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_length_and_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_accepted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_then_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_answer_mid_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transport_freed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_chunked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
