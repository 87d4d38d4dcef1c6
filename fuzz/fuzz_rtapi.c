/* libFuzzer target for the Runtime API server: any bytes, as what a function's runtime
 * sends on one or two connections, give callbacks that follow the state machine (one
 * completion per delivered invocation, stream chunks only inside a stream, nothing after
 * rtapi_free), replies that are well-formed HTTP/1.1, and no leak once it is freed.
 *
 * Run (after `make fuzz`; new inputs go to the first directory, the seeds stay as they are):
 *   mkdir -p /tmp/rtapi-corpus
 *   ./build-fuzz/fuzz/fuzz_rtapi -max_total_time=120 /tmp/rtapi-corpus fuzz/corpus/rtapi
 * A crash is reproduced with ./build-fuzz/fuzz/fuzz_rtapi crash-<sha1>, and
 * FUZZ_RTAPI_TRACE=1 prints the callbacks and replies of the inputs given. */
#include "rtapi/rtapi.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"

/*
 * The input: a flags byte, then what the runtime sends.
 *   F_SPLIT    the rest is cut at every DELIM byte into writes, with the loop run until
 *              idle after each one (DELIM bytes are then never sent)
 *   F_DELIVER  after each write, an event is delivered if a /next is parked
 *   F_TWO      writes alternate between two connections (the first, second, first, ...)
 *   F_CLOSE    at the end the runtime shuts its side down before rtapi_free: no /next
 *              may stay parked and every stream must have ended
 *   F_FREE_IN  (3 bits) rtapi_free is called from inside that kind of callback
 *   F_INLINE   the event is delivered from inside next_cb, as the scheduler does
 */
#define F_SPLIT 0x01
#define F_DELIVER 0x02
#define F_TWO 0x04
#define F_CLOSE 0x08
#define F_FREE_SHIFT 4
#define F_INLINE 0x80
#define DELIM 0xff
#define MAX_DELIVERIES 8
#define MAX_PASSES 100000 /* loop passes of one run_idle: more means a livelock */

static bool trace; /* FUZZ_RTAPI_TRACE=1: print the callbacks, to check what a seed reaches */
#define TRACE(...) (trace ? fprintf(stderr, __VA_ARGS__) : 0)

enum cb_kind { K_NONE, K_NEXT, K_COMPLETE, K_BEGIN, K_CHUNK, K_END, K_INIT_ERROR, K_NEVER };

struct fz {
	struct event_base *base;
	struct rtapi *rt;
	bool freed; /* rtapi_free was called: no callback may follow */
	enum cb_kind free_in;
	bool inline_deliver;
	int deliveries;
	char cur[16];       /* the delivered invocation not yet completed, or "" */
	bool any_delivered; /* so init/error is refused from now on */
	bool init_failed;
	bool streaming;
	uint64_t stream_bytes;
	uint64_t progress; /* callbacks and bytes moved, to tell when the loop is idle */
	int client[2];     /* the runtime's ends, -1 when unused */
	int server[2];     /* a duplicate of the server's ends, to see what it has not read */
	struct evbuffer *replies[2];
};

static void maybe_free(struct fz *f, enum cb_kind k)
{
	if (f->free_in == k && !f->freed) {
		rtapi_free(f->rt);
		f->freed = true;
	}
}

static void deliver(struct fz *f)
{
	if (f->deliveries >= MAX_DELIVERIES || !rtapi_ready(f->rt))
		return;
	char id[16];
	snprintf(id, sizeof(id), "r%d", f->deliveries + 1);
	struct evbuffer *payload = evbuffer_new();
	evbuffer_add_printf(payload, "{\"n\":%d}", f->deliveries + 1);
	struct rtapi_event ev = {
	    .request_id = id,
	    .deadline_ms = 1700000000000,
	    .function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f",
	    .trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
	    .client_context = (f->deliveries & 1) ? "{\"custom\":{}}" : NULL,
	    .cognito_identity = (f->deliveries & 2) ? "{\"cognitoIdentityId\":\"i\"}" : NULL,
	    .payload = payload,
	};
	/* The state machine allows one invocation at a time, never after init/error. */
	bool can = f->cur[0] == 0 && !f->init_failed;
	int r = rtapi_deliver(f->rt, &ev);
	CHECK(r == 0 || r == -EAGAIN);
	CHECK((r == 0) == can);
	if (r == 0) {
		CHECK(evbuffer_get_length(payload) == 0);
		CHECK(!rtapi_ready(f->rt));
		f->deliveries++;
		f->any_delivered = true;
		snprintf(f->cur, sizeof(f->cur), "%s", id);
	}
	TRACE("deliver %s: %d\n", id, r);
	evbuffer_free(payload);
}

/* A completion (response, error, too large, stream end) of request_id. */
static void complete(struct fz *f, const char *request_id)
{
	CHECK(f->cur[0] != 0);
	CHECK(strcmp(request_id, f->cur) == 0);
	f->cur[0] = 0;
}

static void next_cb(void *arg)
{
	struct fz *f = arg;
	CHECK(!f->freed);
	CHECK(!f->init_failed);
	CHECK(rtapi_ready(f->rt));
	f->progress++;
	TRACE("next\n");
	if (f->inline_deliver)
		deliver(f);
	maybe_free(f, K_NEXT);
}

static void response_cb(void *arg, const char *request_id, struct evbuffer *body)
{
	struct fz *f = arg;
	CHECK(!f->freed && !f->streaming);
	CHECK(evbuffer_get_length(body) <= RTAPI_MAX_RESPONSE);
	f->progress++;
	TRACE("response %s: %zu bytes\n", request_id, evbuffer_get_length(body));
	complete(f, request_id);
	evbuffer_drain(body, evbuffer_get_length(body));
	maybe_free(f, K_COMPLETE);
}

static void error_cb(void *arg, const char *request_id, const char *error_type, struct evbuffer *body)
{
	struct fz *f = arg;
	CHECK(!f->freed && !f->streaming);
	CHECK(!error_type || !strpbrk(error_type, "\r\n"));
	f->progress++;
	TRACE("error %s %s: %zu bytes\n", request_id, error_type ? error_type : "-",
	      evbuffer_get_length(body));
	complete(f, request_id);
	evbuffer_drain(body, evbuffer_get_length(body));
	maybe_free(f, K_COMPLETE);
}

static void init_error_cb(void *arg, const char *error_type, struct evbuffer *body)
{
	struct fz *f = arg;
	CHECK(!f->freed && !f->any_delivered && !f->init_failed);
	CHECK(!error_type || !strpbrk(error_type, "\r\n"));
	f->progress++;
	f->init_failed = true;
	TRACE("init error %s: %zu bytes\n", error_type ? error_type : "-", evbuffer_get_length(body));
	maybe_free(f, K_INIT_ERROR);
}

static void too_large_cb(void *arg, const char *request_id)
{
	struct fz *f = arg;
	CHECK(!f->freed && !f->streaming);
	f->progress++;
	TRACE("too large %s\n", request_id);
	complete(f, request_id);
	maybe_free(f, K_COMPLETE);
}

static void stream_begin_cb(void *arg, const char *request_id, const char *content_type)
{
	struct fz *f = arg;
	CHECK(!f->freed && !f->streaming);
	CHECK(f->cur[0] && strcmp(request_id, f->cur) == 0);
	CHECK(content_type && content_type[0]);
	f->progress++;
	f->streaming = true;
	TRACE("stream begin %s %s\n", request_id, content_type);
	f->stream_bytes = 0;
	maybe_free(f, K_BEGIN);
}

static void stream_chunk_cb(void *arg, const char *request_id, const void *data, size_t len)
{
	struct fz *f = arg;
	CHECK(!f->freed && f->streaming);
	CHECK(strcmp(request_id, f->cur) == 0);
	CHECK(data && len > 0);
	f->progress++;
	f->stream_bytes += len;
	TRACE("stream chunk %s: %.*s\n", request_id, (int)len, (const char *)data);
	CHECK(f->stream_bytes <= RTAPI_MAX_STREAM);
	maybe_free(f, K_CHUNK);
}

static void stream_end_cb(void *arg, const char *request_id, const char *error_type,
                          struct evbuffer *error_body, bool truncated)
{
	struct fz *f = arg;
	CHECK(!f->freed && f->streaming);
	CHECK(error_body);
	CHECK(!truncated || (error_type && strcmp(error_type, "Runtime.TruncatedResponse") == 0));
	CHECK(error_type || evbuffer_get_length(error_body) == 0);
	CHECK(!error_type || !strpbrk(error_type, "\r\n"));
	f->progress++;
	f->streaming = false;
	TRACE("stream end %s %s truncated=%d: %.*s\n", request_id, error_type ? error_type : "-", truncated,
	      (int)evbuffer_get_length(error_body), (const char *)evbuffer_pullup(error_body, -1));
	complete(f, request_id);
	maybe_free(f, K_END);
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
};

/* Bytes the server has not read yet on connection i. */
static int unread(const struct fz *f, int i)
{
	int n = 0;
	if (f->server[i] >= 0 && ioctl(f->server[i], FIONREAD, &n) < 0)
		n = 0;
	return n;
}

/* Reads what the server wrote to the runtime's ends. */
static void collect(struct fz *f)
{
	char buf[16384];
	for (int i = 0; i < 2; i++) {
		if (f->client[i] < 0)
			continue;
		ssize_t n;
		while ((n = read(f->client[i], buf, sizeof(buf))) > 0) {
			evbuffer_add(f->replies[i], buf, (size_t)n);
			f->progress += (uint64_t)n;
		}
	}
}

/* Runs the loop until two passes in a row move nothing. */
static void run_idle(struct fz *f)
{
	int quiet = 0;
	for (int pass = 0; quiet < 2; pass++) {
		CHECK(pass < MAX_PASSES);
		uint64_t before = f->progress;
		int u0 = unread(f, 0), u1 = unread(f, 1);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		collect(f);
		if (unread(f, 0) != u0 || unread(f, 1) != u1)
			f->progress++;
		quiet = f->progress == before ? quiet + 1 : 0;
	}
}

/* Sends one piece on connection i; what the server does not take (it stopped reading)
 * is dropped. */
static void send_piece(struct fz *f, int i, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(f->client[i], p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		CHECK(w < 0 && (errno == EAGAIN || errno == EPIPE || errno == ECONNRESET));
		if (errno != EAGAIN)
			return;
		uint64_t before = f->progress;
		int u = unread(f, i);
		run_idle(f);
		if (f->progress == before && unread(f, i) == u)
			return;
	}
}

/* The replies on one connection are a sequence of HTTP/1.1 responses framed by
 * Content-Length (with no body after HEAD), 100 Continue aside; the last may be cut off
 * by the end. */
static void check_replies(struct evbuffer *b)
{
	size_t len = evbuffer_get_length(b);
	const char *s = (const char *)evbuffer_pullup(b, -1);
	size_t pos = 0;
	while (pos < len) {
		const char *head = s + pos;
		size_t left = len - pos;
		const char *end = memmem(head, left, "\r\n\r\n", 4);
		if (!end)
			break;
		CHECK(left > 13 && memcmp(head, "HTTP/1.1 ", 9) == 0);
		int code = atoi(head + 9);
		CHECK(code == 100 || code == 200 || code == 202 || code == 400 || code == 403 ||
		      code == 404 || code == 405 || code == 410 || code == 413 || code == 431);
		size_t hlen = (size_t)(end - head) + 4;
		if (code == 100) {
			CHECK(hlen == 25);
			pos += hlen;
			continue;
		}
		const char *cl = memmem(head, hlen, "\r\nContent-Length: ", 18);
		CHECK(cl);
		size_t body = strtoul(cl + 18, NULL, 10);
		/* A reply to HEAD has a Content-Length but no body; no body here starts
		 * like a status line. */
		if (left - hlen >= 9 && memcmp(head + hlen, "HTTP/1.1 ", 9) == 0)
			body = 0;
		pos += hlen + body;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	signal(SIGPIPE, SIG_IGN);
	trace = getenv("FUZZ_RTAPI_TRACE") != NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++, size--;

	struct fz f = {
	    .free_in = (enum cb_kind)((flags >> F_FREE_SHIFT) & 7),
	    .inline_deliver = flags & F_INLINE,
	    .client = {-1, -1},
	    .server = {-1, -1},
	};
	f.base = event_base_new();
	CHECK(f.base);
	struct err e = {0};
	CHECK(rtapi_new(f.base, -1, &ops, &f, &f.rt, &e) == 0);
	int nconn = flags & F_TWO ? 2 : 1;
	for (int i = 0; i < nconn; i++) {
		int sv[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
		f.server[i] = dup(sv[0]);
		CHECK(f.server[i] >= 0);
		f.client[i] = sv[1];
		f.replies[i] = evbuffer_new();
		CHECK(rtapi_serve_fd(f.rt, sv[0]) == 0);
	}

	size_t start = 0;
	int piece = 0;
	while (start < size) {
		size_t end = size;
		if (flags & F_SPLIT) {
			const uint8_t *d = memchr(data + start, DELIM, size - start);
			if (d)
				end = (size_t)(d - data);
		}
		if (!f.freed)
			send_piece(&f, piece % nconn, data + start, end - start);
		run_idle(&f);
		if ((flags & F_DELIVER) && !f.freed)
			deliver(&f);
		run_idle(&f);
		start = end + 1;
		piece++;
	}

	if ((flags & F_CLOSE) && !f.freed) {
		for (int i = 0; i < nconn; i++)
			shutdown(f.client[i], SHUT_WR);
		run_idle(&f);
		if (!f.freed) {
			/* The server noticed: nothing parked, no stream left open. */
			CHECK(!rtapi_ready(f.rt));
			CHECK(!f.streaming);
		}
	}
	if (!f.freed) {
		rtapi_free(f.rt);
		f.freed = true;
	}
	/* The deferred free runs on the next turn; then nothing is left on the base. */
	for (int pass = 0;
	     event_base_get_num_events(f.base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) > 0;
	     pass++) {
		CHECK(pass < 4);
		event_base_loop(f.base, EVLOOP_NONBLOCK);
	}
	collect(&f);
	for (int i = 0; i < nconn; i++) {
		TRACE("replies %d:\n%.*s\n", i, (int)evbuffer_get_length(f.replies[i]),
		      (const char *)evbuffer_pullup(f.replies[i], -1));
		check_replies(f.replies[i]);
		evbuffer_free(f.replies[i]);
		close(f.client[i]);
		close(f.server[i]);
	}
	event_base_free(f.base);
	return 0;
}
