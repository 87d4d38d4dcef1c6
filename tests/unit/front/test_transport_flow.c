/* Tests for back-pressure through the front's transport over http/server: a handler that
 * relays 1 GiB as a chunked answer to a client reading slowly (a bounded amount a loop pass,
 * on a socketpair) writes on only as front_reply_on_drain says, so what the engine holds for
 * the client stays near the high watermark while every byte arrives, in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front/transport_http.h"

#define TOTAL (1024ull * 1024 * 1024) /* bytes of the answer */
#define PIECE 65536                   /* bytes of each chunk */
#define HIGH_WATER (1024 * 1024)      /* the handler stops writing past this */
#define LOW_WATER (256 * 1024)        /* and goes on below this */
#define CLIENT_PER_PASS 131072        /* bytes the client reads a loop pass */

static struct harness {
	struct event_base *base;
	struct front_http *h;
	int fd;
	struct front_req *rq; /* the answer under way */
	uint64_t written;     /* bytes of body handed to front_reply_chunk */
	size_t pending_max;   /* most bytes front_reply_pending said were queued */
	int drains;           /* drain callbacks */
	bool ended;
	/* The client's view. */
	uint64_t read; /* bytes of the answer read (head, framing and body) */
	uint64_t body; /* of them, body bytes, checked against the pattern */
	uint64_t bad;
	int state; /* 0: head, 1: chunk size line, 2: chunk data, 3: after the last chunk */
	uint64_t chunk_left;
	char line[64];
	size_t line_len;
} H;

/* The body's byte at offset off is off % 251: pattern + off % 251 holds the next PIECE. */
static unsigned char pattern[PIECE + CLIENT_PER_PASS + 251];

/* Writes chunks until the queue passes the high watermark (then waits for the drain) or
 * the whole answer is out. */
static void pump(struct front_req *rq, void *arg)
{
	H.drains += arg != NULL;
	while (H.written < TOTAL) {
		front_reply_chunk(rq, pattern + H.written % 251, PIECE);
		H.written += PIECE;
		size_t q = front_reply_pending(rq);
		if (q > H.pending_max)
			H.pending_max = q;
		if (q > HIGH_WATER && H.written < TOTAL) {
			front_reply_on_drain(rq, LOW_WATER, pump, rq);
			return;
		}
	}
	H.ended = true;
	H.rq = NULL;
	front_reply_end(rq);
}

static void handler(struct front_req *rq, void *arg)
{
	H.rq = rq;
	front_reply_header(rq, "Content-Type", "application/octet-stream");
	front_reply_start(rq, 200);
	pump(rq, NULL);
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)(i % 251);
	H.base = event_base_new();
	struct err e = {0};
	if (front_http_new(H.base, NULL, 0, 0, handler, NULL, &H.h, &e) < 0)
		return -1;
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
	if (H.rq)
		front_reply_end(H.rq); /* dropped */
	for (int i = 0; i < 4 && event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED); i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_int_equal(event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED), 0);
	if (H.fd >= 0)
		close(H.fd);
	event_base_free(H.base);
	return 0;
}

/* Parses what the client read: the head, then chunks, checking the body's pattern. */
static void parse(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (H.state == 2) {
			size_t k = n - i < H.chunk_left ? n - i : (size_t)H.chunk_left;
			if (memcmp(p + i, pattern + H.body % 251, k) != 0)
				H.bad++;
			H.body += k;
			H.chunk_left -= k;
			i += k;
			if (H.chunk_left == 0)
				H.state = 4; /* the CRLF after the data */
			continue;
		}
		char ch = (char)p[i++];
		if (H.line_len + 1 < sizeof(H.line))
			H.line[H.line_len++] = ch;
		if (ch != '\n')
			continue;
		H.line[H.line_len] = 0;
		bool blank = strcmp(H.line, "\r\n") == 0;
		H.line_len = 0;
		if (H.state == 0 && blank) {
			H.state = 1;
		} else if (H.state == 4) {
			assert_true(blank);
			H.state = 1;
		} else if (H.state == 1) {
			H.chunk_left = strtoull(H.line, NULL, 16);
			H.state = H.chunk_left ? 2 : 3;
		}
	}
}

/* 1 GiB to a client that reads 128 KiB a loop pass: at most about the high watermark
 * waits in the engine, the handler is called on to write again and again, and all of it
 * arrives whole and in order. */
static void test_slow_reader(void **state)
{
	static const char get[] = "GET /big HTTP/1.1\r\n\r\n";
	assert_int_equal(write(H.fd, get, sizeof(get) - 1), (ssize_t)(sizeof(get) - 1));
	static unsigned char buf[CLIENT_PER_PASS];
	for (long pass = 0; pass < 2000000 && H.state != 3; pass++) {
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		ssize_t n = read(H.fd, buf, sizeof(buf));
		if (n > 0) {
			H.read += (uint64_t)n;
			parse(buf, (size_t)n);
		} else {
			assert_true(n < 0 && errno == EAGAIN);
		}
	}
	assert_int_equal(H.state, 3);
	assert_true(H.ended);
	assert_int_equal(H.body, TOTAL);
	assert_int_equal(H.bad, 0);
	assert_true(H.drains > 100);
	assert_true(H.pending_max < HIGH_WATER + 2 * PIECE);
	print_message("1 GiB to a slow reader: at most %zu bytes queued in the engine, %d drain callbacks\n",
	              H.pending_max, H.drains);
}

/* The client goes away while the handler waits for a drain: no drain callback comes. */
static void test_gone_while_waiting(void **state)
{
	static const char get[] = "GET /big HTTP/1.1\r\n\r\n";
	assert_int_equal(write(H.fd, get, sizeof(get) - 1), (ssize_t)(sizeof(get) - 1));
	for (int i = 0; i < 100; i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_non_null(H.rq);
	assert_int_equal(H.drains, 0);
	close(H.fd);
	H.fd = -1;
	for (int i = 0; i < 1000 && !front_req_gone(H.rq); i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_true(front_req_gone(H.rq));
	assert_int_equal(H.drains, 0);
	assert_true(front_reply_pending(H.rq) == 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone_while_waiting, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
