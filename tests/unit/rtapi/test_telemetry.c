/* Tests for the Telemetry API: every field of a subscription checked and named when
 * wrong, and events batched (maxItems, timeoutMs, init's backlog) and POSTed to a
 * listener on the loopback as one JSON array per connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtapi/telemetry.h"

#define ID "11111111-1111-4111-8111-111111111111"

static int sub(struct telem *t, const char *body, char *msg)
{
	return telem_subscribe(t, ID, false, body, strlen(body), msg, 256);
}

static void test_subscribe_validation(void **state)
{
	struct event_base *base = event_base_new();
	struct telem *t = telem_new(base);
	char msg[256];
	static const struct {
		const char *body, *msg;
	} bad[] = {
	    {"nope", "the body must be a JSON object"},
	    {"{\"types\":[\"platform\"],\"schemaVersion\":\"2020-01-01\","
	     "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:1234\"}}",
	     "schemaVersion must be"},
	    {"{\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:1234\"}}",
	     "types must be a non-empty array"},
	    {"{\"types\":[\"platform\",\"logs\"],"
	     "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:1234\"}}",
	     "types: logs is not platform, function or extension"},
	    {"{\"types\":[\"platform\"],\"buffering\":{\"maxItems\":10},"
	     "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:1234\"}}",
	     "buffering.maxItems must be an integer from 25 to 10000"},
	    {"{\"types\":[\"platform\"],\"buffering\":{\"maxBytes\":2000000},"
	     "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:1234\"}}",
	     "buffering.maxBytes must be an integer from 262144 to 1048576"},
	    {"{\"types\":[\"platform\"],\"buffering\":{\"timeoutMs\":\"x\"},"
	     "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:1234\"}}",
	     "buffering.timeoutMs must be an integer from 25 to 30000"},
	    {"{\"types\":[\"platform\"],\"destination\":{\"protocol\":\"TCP\",\"URI\":\"x\"}}",
	     "destination.protocol must be HTTP"},
	    {"{\"types\":[\"platform\"],\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://"
	     "example.com:80/\"}}",
	     "destination.URI must be http://sandbox.localdomain:PORT/PATH, not http://example.com:80/"},
	    {"{\"types\":[\"platform\"],\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox:0/"
	     "\"}}",
	     "destination.URI must be"},
	    {"{\"types\":[\"platform\"],\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox:9001/"
	     "\"}}",
	     "destination.URI: port 9001 is the Runtime API's"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = 0;
		assert_int_equal(sub(t, bad[i].body, msg), 400);
		if (strncmp(msg, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("case %zu: [%s] does not start with [%s]", i, msg, bad[i].msg);
	}
	assert_false(telem_subscribed(t));
	assert_int_equal(
	    sub(t,
	        "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\",\"function\"],"
	        "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:1234/x\"}}",
	        msg),
	    200);
	assert_true(telem_subscribed(t));
	/* The Logs API (2020-08-15) takes the same shape, without the Telemetry API's schemas;
	 * a new subscription of the same extension replaces its old one. */
	const char *logs = "{\"types\":[\"platform\",\"function\"],\"buffering\":{\"timeoutMs\":100},"
	                   "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox:1234/logs\"}}";
	assert_int_equal(telem_subscribe(t, ID, true, logs, strlen(logs), msg, sizeof(msg)), 200);
	const char *bad_logs =
	    "{\"types\":[\"platform\"],\"destination\":{\"protocol\":\"TCP\",\"URI\":\"x\"}}";
	assert_int_equal(telem_subscribe(t, ID, true, bad_logs, strlen(bad_logs), msg, sizeof(msg)), 400);
	assert_string_equal(msg, "destination.protocol must be HTTP");
	telem_free(t);
	event_base_free(base);
}

/* ---- delivery to a real listener ---- */

struct listener {
	int fd;
	uint16_t port;
	char got[8][4096]; /* each connection's request */
	int n;
};

static int make_socket(void *arg, void (*cb)(void *cb_arg, int fd), void *cb_arg)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* Accepts a connection, reads its request whole (up to its Content-Length), answers
 * and closes; loops the event base meanwhile. */
static void accept_one(struct event_base *base, struct listener *l)
{
	int c = -1;
	for (int i = 0; i < 10000 && c < 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK);
		if (c < 0)
			usleep(1000);
	}
	assert_true(c >= 0);
	char *buf = l->got[l->n++];
	size_t len = 0;
	for (int i = 0; i < 4000; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		ssize_t n = read(c, buf + len, 4095 - len);
		if (n > 0)
			len += (size_t)n;
		buf[len] = 0;
		char *body = strstr(buf, "\r\n\r\n");
		const char *cl = strstr(buf, "Content-Length: ");
		if (body && cl && strlen(body + 4) >= strtoul(cl + 16, NULL, 10))
			break;
		usleep(500);
	}
	const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
	assert_int_equal(write(c, ok, sizeof(ok) - 1), (ssize_t)sizeof(ok) - 1);
	close(c);
	for (int i = 0; i < 20; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(500);
	}
}

static void listener_init(struct listener *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l->fd, 8), 0);
	getsockname(l->fd, (struct sockaddr *)&a, &alen);
	l->port = ntohs(a.sin_port);
}

static void test_batches(void **state)
{
	struct event_base *base = event_base_new();
	struct telem *t = telem_new(base);
	telem_set_socket_fn(t, make_socket, NULL);
	struct listener l;
	listener_init(&l);
	/* During init, before anyone subscribed: kept for the platform subscriber. */
	telem_emit(t, TELEM_PLATFORM, "platform.initStart", json_pack("{s:s}", "functionName", "f"));
	telem_emit(t, TELEM_FUNCTION, "function", json_string("not kept"));
	char body[512], msg[256];
	snprintf(body, sizeof(body),
	         "{\"types\":[\"platform\",\"function\"],\"buffering\":{\"maxItems\":25,\"timeoutMs\":25},"
	         "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:%u/in\"}}",
	         l.port);
	assert_int_equal(sub(t, body, msg), 200);
	accept_one(base, &l);
	assert_non_null(strstr(l.got[0], "POST /in HTTP/1.1\r\n"));
	assert_non_null(strstr(l.got[0], "Content-Type: application/json\r\n"));
	assert_non_null(
	    strstr(l.got[0], "\"type\":\"platform.initStart\",\"record\":{\"functionName\":\"f\"}"));
	assert_null(strstr(l.got[0], "not kept"));
	telem_init_over(t);
	/* 26 events queued while no socket can be made: a batch takes 25 (maxItems), the
	 * next one the 26th. */
	telem_set_socket_fn(t, NULL, NULL);
	for (int i = 0; i < 26; i++) {
		char line[32];
		snprintf(line, sizeof(line), "line %d", i);
		telem_emit(t, TELEM_FUNCTION, "function", json_string(line));
	}
	telem_emit(t, TELEM_EXTENSION, "extension", json_string("not subscribed"));
	telem_set_socket_fn(t, make_socket, NULL);
	telem_flush(t);
	accept_one(base, &l);
	assert_non_null(strstr(l.got[1], "\"record\":\"line 0\""));
	assert_non_null(strstr(l.got[1], "\"record\":\"line 24\""));
	assert_null(strstr(l.got[1], "\"line 25\""));
	accept_one(base, &l);
	assert_non_null(strstr(l.got[2], "[{\"time\":\""));
	assert_non_null(strstr(l.got[2], "\"type\":\"function\",\"record\":\"line 25\"}]"));
	assert_null(strstr(l.got[2], "not subscribed"));
	for (int i = 0; i < 50 && telem_pending(t); i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_false(telem_pending(t));
	close(l.fd);
	telem_free(t);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_subscribe_validation),
	    cmocka_unit_test(test_batches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
