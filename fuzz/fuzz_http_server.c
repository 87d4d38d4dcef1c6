/* libFuzzer target for the HTTP/1.1 server engine (src/http/server.c): any bytes, as
 * what a client sends on one or two connections, give handler callbacks in a lawful
 * order (a body's data only between its acceptance and its end, end or abort once,
 * close only before the reply is complete, nothing after http_server_free), replies
 * that are well-formed HTTP/1.1 (Content-Length, chunked or close-delimited bodies),
 * and no leak once the server is freed.
 *
 * The handler does what the first letter after '/' of each request's path says:
 * b buffer the body, s stream it, d discard it, l decide later (when the harness next
 * runs), p stream it paused at its first piece until the harness next runs, r reply
 * before the body, c reply chunked with trailers, w reply chunked in pieces written on
 * each drain callback (low watermark 1 KiB), u upgrade, h hold the reply until the harness
 * answers it, x abort the connection; anything else, a plain 200.
 *
 * Run (after `make fuzz`; new inputs go to the first directory, the seeds stay as they are):
 *   mkdir -p /tmp/http-corpus
 *   ./build-fuzz/fuzz/fuzz_http_server -max_total_time=30 /tmp/http-corpus fuzz/corpus/http_server */
#include "http/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"

/*
 * The input: a flags byte, then what the client sends.
 *   F_SPLIT   the rest is cut at every DELIM byte into writes, the loop run until idle after each
 *   F_TWO     writes alternate between two connections
 *   F_CLOSE   at the end the client shuts its side down before http_server_free
 *   F_LIMITS  small limits: 256 bytes of head, 64 of body, 32 buffered, 512 ahead
 *   F_FREE_IN (3 bits) http_server_free is called from inside that kind of callback
 */
#define F_SPLIT 0x01
#define F_TWO 0x02
#define F_CLOSE 0x04
#define F_LIMITS 0x08
#define F_FREE_SHIFT 4
#define DELIM 0xff
#define MAX_REQS 512
#define MAX_PASSES 100000

enum cb_kind { K_NONE, K_REQUEST, K_DATA, K_END, K_ABORT, K_CLOSE, K_ERROR, K_NEVER };

/* What the harness knows of one request. */
struct rq {
	struct http_request *req; /* NULL once the engine may have freed it */
	bool reading;             /* read_body was called */
	bool ended, aborted, closed, replied;
	bool held;   /* waits for the harness to answer (h), or to choose its body (l) */
	bool paused; /* p: its body is paused (no data may come) */
	bool resumed;
	int drains; /* w: drain callbacks so far */
	char letter;
};

struct fz {
	struct event_base *base;
	struct http_server *srv;
	bool freed;
	enum cb_kind free_in;
	struct rq rqs[MAX_REQS];
	int nrq;
	uint64_t progress;
	int client[2];
	int server[2];
	struct evbuffer *replies[2];
	struct bufferevent *upgraded[MAX_REQS];
	int nup;
	uint64_t buffer_max;
};

static struct fz *F;

static void maybe_free(struct fz *f, enum cb_kind k)
{
	if (f->free_in == k && !f->freed) {
		http_server_free(f->srv);
		f->freed = true;
	}
}

static struct rq *rq_of(struct http_request *req)
{
	struct rq *r = http_request_data(req);
	CHECK(r && r->req == req);
	return r;
}

static void reply_plain(struct rq *r, int status)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "%c-reply", r->letter);
	http_response_add_header(r->req, "Content-Type", "text/plain");
	http_reply(r->req, status, b);
	CHECK(evbuffer_get_length(b) == 0);
	evbuffer_free(b);
	r->replied = true;
}

static void data_cb(void *arg, struct http_request *req, const void *data, size_t len)
{
	struct fz *f = arg;
	struct rq *r = rq_of(req);
	CHECK(!f->freed && r->reading && !r->ended && !r->aborted && len > 0 && data && !r->paused);
	f->progress++;
	if (r->letter == 'p' && !r->resumed) {
		http_request_pause_body(req, true);
		r->paused = true;
	}
	maybe_free(f, K_DATA);
}

static void end_cb(void *arg, struct http_request *req)
{
	struct fz *f = arg;
	struct rq *r = rq_of(req);
	CHECK(!f->freed && r->reading && !r->ended && !r->aborted);
	r->ended = true;
	f->progress++;
	if (r->letter == 'b')
		CHECK(http_request_body_overflow(req) ||
		      evbuffer_get_length(http_request_body(req)) <= f->buffer_max);
	maybe_free(f, K_END);
	if (!f->freed && !r->replied && r->letter != 'h')
		reply_plain(r, 200);
}

static void abort_cb(void *arg, struct http_request *req, enum http_abort why, const char *msg)
{
	struct fz *f = arg;
	struct rq *r = rq_of(req);
	CHECK(!f->freed && r->reading && !r->ended && !r->aborted && msg);
	r->aborted = true;
	f->progress++;
	maybe_free(f, K_ABORT);
}

static const struct http_body_ops body_ops = {.data_cb = data_cb, .end_cb = end_cb, .abort_cb = abort_cb};

static void close_cb(void *arg, struct http_request *req)
{
	struct fz *f = arg;
	struct rq *r = rq_of(req);
	CHECK(!f->freed && !r->closed && !r->replied);
	r->closed = true;
	r->req = NULL;
	f->progress++;
	maybe_free(f, K_CLOSE);
}

#define W_PIECE 4096
#define W_LOW 1024

/* w: more of the reply each time what is queued falls to the low watermark. */
static void drain_cb(void *arg, struct http_request *req)
{
	struct fz *f = arg;
	struct rq *r = rq_of(req);
	CHECK(!f->freed && !r->closed && !r->replied && http_reply_pending(req) <= W_LOW);
	f->progress++;
	static char piece[W_PIECE];
	if (++r->drains < 4) {
		http_reply_chunk(req, piece, sizeof(piece));
		http_reply_on_drain(req, W_LOW, drain_cb, f);
		return;
	}
	http_reply_end(req, NULL);
	r->replied = true;
}

static void route_cb(void *arg, struct http_request *req)
{
	struct fz *f = arg;
	CHECK(!f->freed && http_request_method(req) && http_request_path(req));
}

static void request_cb(void *arg, struct http_request *req)
{
	struct fz *f = arg;
	CHECK(!f->freed);
	CHECK(http_request_method(req) && http_request_target(req) && http_request_path(req));
	f->progress++;
	if (f->nrq >= MAX_REQS) {
		http_request_abort(req);
		return;
	}
	struct rq *r = &f->rqs[f->nrq++];
	*r = (struct rq){.req = req};
	const char *p = http_request_path(req);
	r->letter = p[0] == '/' ? p[1] : 0;
	http_request_set_data(req, r);
	http_request_set_close_cb(req, close_cb, f);
	maybe_free(f, K_REQUEST);
	if (f->freed)
		return;
	struct bufferevent *bev;
	switch (r->letter) {
	case 'b':
	case 's':
	case 'p':
	case 'd':
		r->reading = true;
		http_request_read_body(req,
		                       r->letter == 'b'                       ? HTTP_BODY_BUFFER
		                       : r->letter == 's' || r->letter == 'p' ? HTTP_BODY_STREAM
		                                                              : HTTP_BODY_DISCARD,
		                       f->buffer_max, &body_ops, f);
		break;
	case 'w': {
		static char piece[W_PIECE];
		http_reply_start(req, 200);
		for (int i = 0; i < 8; i++)
			http_reply_chunk(req, piece, sizeof(piece));
		http_reply_on_drain(req, W_LOW, drain_cb, f);
		break;
	}
	case 'l':
	case 'h':
		r->held = true;
		break;
	case 'c': {
		http_response_add_header(req, "Trailer", "X-T");
		http_reply_start(req, 200);
		http_reply_chunk(req, "abc", 3);
		struct evkeyvalq t;
		TAILQ_INIT(&t);
		evhttp_add_header(&t, "X-T", "v");
		http_reply_end(req, &t);
		evhttp_clear_headers(&t);
		r->replied = true;
		break;
	}
	case 'u':
		http_response_add_header(req, "Upgrade", "x");
		if ((bev = http_upgrade(req))) {
			CHECK(f->nup < MAX_REQS);
			f->upgraded[f->nup++] = bev;
			bufferevent_enable(bev, EV_WRITE);
			r->replied = true;
			r->req = NULL;
		} else {
			reply_plain(r, 400);
		}
		break;
	case 'x':
		http_request_abort(req);
		r->req = NULL;
		r->replied = true; /* nothing may follow */
		break;
	default: /* 'r' and the rest: reply before (without) the body */
		reply_plain(r, r->letter == 'r' ? 413 : 200);
		break;
	}
}

static void error_cb(void *arg, struct http_request *req, int status, enum http_error err, const char *msg)
{
	struct fz *f = arg;
	CHECK(!f->freed);
	CHECK(status == 400 || status == 413 || status == 431);
	f->progress++;
	struct rq *r = http_request_data(req);
	if (r) { /* a request it was handed: its reply is not written yet */
		CHECK(r->req == req && !r->replied);
		r->replied = true; /* the engine replies now, then closes */
	}
	maybe_free(f, K_ERROR);
}

static const struct http_server_ops ops = {
    .route_cb = route_cb, .request_cb = request_cb, .error_cb = error_cb};

/* The harness resumes the bodies paused. */
static void resume_paused(struct fz *f)
{
	for (int i = 0; i < f->nrq && !f->freed; i++) {
		struct rq *r = &f->rqs[i];
		if (!r->paused || !r->req || r->closed || r->ended || r->aborted)
			continue;
		r->paused = false;
		r->resumed = true;
		http_request_pause_body(r->req, false);
	}
}

/* The harness answers what waits: held replies, bodies to choose, and paused ones. */
static void answer_held(struct fz *f)
{
	resume_paused(f);
	for (int i = 0; i < f->nrq && !f->freed; i++) {
		struct rq *r = &f->rqs[i];
		if (!r->held || !r->req || r->closed)
			continue;
		r->held = false;
		if (r->letter == 'l') {
			r->reading = true;
			http_request_read_body(r->req, HTTP_BODY_STREAM, 0, &body_ops, f);
		} else if (!r->replied) {
			reply_plain(r, 202);
		}
	}
}

static int unread(const struct fz *f, int i)
{
	int n = 0;
	if (f->server[i] >= 0 && ioctl(f->server[i], FIONREAD, &n) < 0)
		n = 0;
	return n;
}

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

/* Parses one chunked body at s (len bytes); returns its length, or 0 when cut off. */
static size_t chunked_len(const char *s, size_t len)
{
	size_t pos = 0;
	for (;;) {
		const char *eol = memmem(s + pos, len - pos, "\r\n", 2);
		if (!eol)
			return 0;
		char *end;
		unsigned long sz = strtoul(s + pos, &end, 16);
		CHECK(end == eol && end > s + pos);
		pos = (size_t)(eol - s) + 2;
		if (sz == 0)
			break;
		if (len - pos < sz + 2)
			return 0;
		CHECK(memcmp(s + pos + sz, "\r\n", 2) == 0);
		pos += sz + 2;
	}
	const char *tend = pos + 2 <= len && memcmp(s + pos, "\r\n", 2) == 0
	                       ? s + pos
	                       : memmem(s + pos, len - pos, "\r\n\r\n", 4);
	if (!tend)
		return 0;
	return (size_t)(tend - s) + (tend == s + pos ? 2 : 4);
}

/* The replies on one connection: a sequence of HTTP/1.1 responses, 100 Continue aside,
 * each framed by Content-Length (no body after HEAD), chunks, or the connection's end;
 * a 101 ends HTTP on the connection; the last may be cut off. */
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
		CHECK(code == 100 || code == 101 || code == 200 || code == 202 || code == 400 ||
		      code == 413 || code == 431);
		size_t hlen = (size_t)(end - head) + 4;
		CHECK(!memmem(head, hlen - 2, "\r\n\r\n", 4) || memmem(head, hlen, "\r\n\r\n", 4) == end);
		if (code == 100) {
			CHECK(hlen == 25);
			pos += hlen;
			continue;
		}
		if (code == 101)
			return;
		const char *cl = memmem(head, hlen, "\r\nContent-Length: ", 18);
		bool chunked = memmem(head, hlen, "\r\nTransfer-Encoding: chunked\r\n", 30) != NULL;
		CHECK(!(cl && chunked));
		pos += hlen;
		if (left - hlen >= 9 && memcmp(head + hlen, "HTTP/1.1 ", 9) == 0)
			continue; /* a reply to HEAD */
		if (cl) {
			pos += strtoul(cl + 18, NULL, 10);
		} else if (chunked) {
			size_t n = chunked_len(s + pos, len - pos);
			if (!n)
				return;
			pos += n;
		} else {
			CHECK(memmem(head, hlen, "\r\nConnection: close\r\n", 21));
			return; /* the body runs to the end */
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++, size--;
	static struct fz f;
	memset(&f, 0, sizeof(f));
	F = &f;
	f.free_in = (enum cb_kind)((flags >> F_FREE_SHIFT) & 7);
	f.client[0] = f.client[1] = f.server[0] = f.server[1] = -1;
	f.base = event_base_new();
	CHECK(f.base);
	struct http_server_cfg cfg = {0};
	f.buffer_max = 1024 * 1024;
	if (flags & F_LIMITS) {
		cfg = (struct http_server_cfg){.head_max = 256, .body_max = 64, .input_ahead_max = 512};
		f.buffer_max = 32;
	}
	f.srv = http_server_new(f.base, &cfg, &ops, &f);
	int nconn = flags & F_TWO ? 2 : 1;
	for (int i = 0; i < nconn; i++) {
		int sv[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
		f.server[i] = dup(sv[0]);
		CHECK(f.server[i] >= 0);
		f.client[i] = sv[1];
		f.replies[i] = evbuffer_new();
		CHECK(http_server_serve_fd(f.srv, sv[0]) == 0);
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
		answer_held(&f);
		run_idle(&f);
		start = end + 1;
		piece++;
	}
	if ((flags & F_CLOSE) && !f.freed) {
		for (int i = 0; i < nconn; i++)
			shutdown(f.client[i], SHUT_WR);
		run_idle(&f);
		resume_paused(&f); /* a paused body reads nothing, so hears of the end once resumed */
		run_idle(&f);
		/* Every request handed over and not answered heard of it. */
		for (int i = 0; i < f.nrq && !f.freed; i++)
			CHECK(f.rqs[i].replied || f.rqs[i].closed);
	}
	if (!f.freed) {
		http_server_free(f.srv);
		f.freed = true;
	}
	for (int i = 0; i < f.nup; i++)
		bufferevent_free(f.upgraded[i]);
	for (int pass = 0;
	     event_base_get_num_events(f.base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) > 0;
	     pass++) {
		CHECK(pass < 4);
		event_base_loop(f.base, EVLOOP_NONBLOCK);
	}
	collect(&f);
	for (int i = 0; i < nconn; i++) {
		check_replies(f.replies[i]);
		evbuffer_free(f.replies[i]);
		close(f.client[i]);
		close(f.server[i]);
	}
	event_base_free(f.base);
	return 0;
}
