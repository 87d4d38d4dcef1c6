/* Tests for the front's transport over http/server: requests written on socketpairs
 * handed over with front_http_serve_fd reach the handler as front_reqs, and their
 * answers (whole, chunked, late, after the client left) go out as exact bytes. */
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

static struct harness {
	struct event_base *base;
	struct front_http *h;
	int fd;
	struct evbuffer *in;
	bool eof;
	struct front_req *held;
	int closes;
	uint64_t progress;
} H;

static void on_close(struct front_req *rq, void *arg)
{
	H.closes++;
}

static void handler(struct front_req *rq, void *arg)
{
	const char *path = front_req_path(rq);
	H.progress++;
	if (strcmp(path, "/echo") == 0) {
		struct evbuffer *b = evbuffer_new();
		const char *q = front_req_query(rq, "q");
		evbuffer_add_printf(b, "%s %s q=%s h=%s peer=%s body=", front_req_method_name(rq),
		                    front_req_uri(rq), q ? q : "-",
		                    front_req_header(rq, "X-In") ? front_req_header(rq, "X-In") : "-",
		                    front_req_peer(rq) ? front_req_peer(rq) : "-");
		evbuffer_add_buffer(b, front_req_body(rq));
		front_reply_header(rq, "Content-Type", "text/plain");
		front_reply_header(rq, "X-Out", "1");
		front_reply(rq, 200, b);
		evbuffer_free(b);
	} else if (strcmp(path, "/stream") == 0) {
		front_reply_header(rq, "Content-Type", "application/octet-stream");
		front_reply_start(rq, 200);
		front_reply_chunk(rq, "abc", 3);
		front_reply_chunk(rq, "de", 2);
		front_reply_end(rq);
	} else if (strcmp(path, "/watch") == 0) {
		front_req_on_close(rq, on_close, NULL);
		H.held = rq;
	} else {
		H.held = rq;
	}
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	H.in = evbuffer_new();
	struct err e = {0};
	if (front_http_new(H.base, NULL, 0, 1024, handler, NULL, &H.h, &e) < 0)
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
	if (H.held) /* answered after the transport is gone: dropped */
		front_reply(H.held, 200, NULL);
	for (int i = 0; i < 4 && event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED); i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	assert_int_equal(event_base_get_num_events(H.base, EVENT_BASE_COUNT_ADDED), 0);
	if (H.fd >= 0)
		close(H.fd);
	evbuffer_free(H.in);
	event_base_free(H.base);
	return 0;
}

static void run(void)
{
	int quiet = 0;
	for (int pass = 0; quiet < 3; pass++) {
		assert_true(pass < 200000);
		uint64_t before = H.progress;
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		transcript_read(H.fd, H.in, &H.progress, &H.eof);
		bool unread = !H.eof && transcript_unsent(H.fd);
		quiet = H.progress == before && !unread ? quiet + 1 : 0;
	}
}

static void send_s(const char *s)
{
	assert_int_equal(write(H.fd, s, strlen(s)), (ssize_t)strlen(s));
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

static void test_whole(void **state)
{
	send_s("POST /echo?q=a%20b HTTP/1.1\r\nX-In: v\r\nTransfer-Encoding: "
	       "chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
	assert_reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 43\r\nX-Out: 1\r\nDate: "
	             "D\r\n\r\nPOST /echo?q=a%20b q=a b h=v peer=- body=hi");
	/* The default Content-Type when the handler gives none, as evhttp wrote it; none on HEAD. */
	send_s("GET /later HTTP/1.1\r\n\r\n");
	front_reply(H.held, 202, NULL);
	H.held = NULL;
	run();
	assert_reply(
	    "HTTP/1.1 202 Accepted\r\nContent-Type: text/html; charset=ISO-8859-1\r\nContent-Length: "
	    "0\r\nDate: D\r\n\r\n");
	send_s("HEAD /later HTTP/1.1\r\n\r\n");
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, "xyz", 3);
	front_reply_header(H.held, "Connection", "close");
	front_reply(H.held, 200, b);
	evbuffer_free(b);
	H.held = NULL;
	run();
	assert_reply("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDate: D\r\nConnection: close\r\n\r\n");
	assert_true(H.eof);
}

static void test_stream_and_limits(void **state)
{
	send_s("GET /stream HTTP/1.1\r\n\r\n");
	assert_reply("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: "
	             "chunked\r\nDate: D\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	send_s("TRACE /echo HTTP/1.1\r\n\r\n");
	assert_reply(
	    "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
	    "16\r\n\r\nNot Implemented\n");
	send_s("POST /echo HTTP/1.1\r\nContent-Length: 1025\r\n\r\n");
	assert_reply("HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
	             "Content-Length: 30\r\nConnection: close\r\n\r\nContent-Length over the limit\n");
	assert_true(H.eof);
}

/* The client leaves before the answer: a watching handler hears it; a late answer is dropped. */
static void test_client_gone(void **state)
{
	send_s("GET /watch HTTP/1.1\r\n\r\n");
	assert_non_null(H.held);
	close(H.fd);
	H.fd = -1;
	run();
	assert_int_equal(H.closes, 1);
	assert_true(front_req_gone(H.held));
	front_reply(H.held, 200, NULL);
	H.held = NULL;
}

static void test_client_gone_unwatched(void **state)
{
	send_s("POST /later HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
	assert_non_null(H.held);
	close(H.fd);
	H.fd = -1;
	run();
	/* What the handler reads stays valid; the answer is dropped. */
	assert_string_equal(front_req_method_name(H.held), "POST");
	assert_int_equal(evbuffer_get_length(front_req_body(H.held)), 2);
	front_reply_start(H.held, 200);
	assert_true(front_req_gone(H.held));
	front_reply_end(H.held);
	H.held = NULL;
	assert_int_equal(H.closes, 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_and_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone_unwatched, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
