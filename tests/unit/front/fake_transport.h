/* A transport for unit tests (front/front.h): requests made from strings, and what the
 * front answered, recorded (status, headers, body, chunks, how it ended). */
#ifndef LAMBDAD_TESTS_FAKE_TRANSPORT_H
#define LAMBDAD_TESTS_FAKE_TRANSPORT_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <lambdad/xmalloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "front/front.h"

struct fake {
	struct evkeyvalq in;      /* the request's headers */
	struct evbuffer *body_in; /* the request's body */
	char uri[512];
	char method[16];
	/* What came out. */
	int status;            /* 0: nothing sent */
	struct evkeyvalq out;  /* the answer's headers */
	struct evbuffer *body; /* the answer's body, chunks appended */
	int sends, starts, chunks, ends;
	bool watching;
	struct front_req *rq;
	/* Back-pressure (flow set by the test): chunks are counted, not kept, and count as
	 * queued for the client until fake_consume takes them; a drain asked for is answered
	 * there once they fall to its low watermark. */
	bool flow;
	uint64_t chunk_bytes;
	size_t queued, queued_max;
	bool drain_on;
	size_t drain_low;
};

static inline void fake_send(void *impl, int status, const struct evkeyvalq *h, struct evbuffer *body)
{
	struct fake *f = impl;
	f->status = status;
	f->sends++;
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, h, next)
		evhttp_add_header(&f->out, kv->key, kv->value);
	if (body)
		evbuffer_add_buffer(f->body, body);
}

static inline void fake_start(void *impl, int status, const struct evkeyvalq *h)
{
	struct fake *f = impl;
	f->status = status;
	f->starts++;
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, h, next)
		evhttp_add_header(&f->out, kv->key, kv->value);
}

static inline void fake_chunk(void *impl, struct evbuffer *data)
{
	struct fake *f = impl;
	f->chunks++;
	if (f->flow) {
		size_t n = evbuffer_get_length(data);
		f->chunk_bytes += n;
		f->queued += n;
		if (f->queued > f->queued_max)
			f->queued_max = f->queued;
		evbuffer_drain(data, n);
		return;
	}
	evbuffer_add_buffer(f->body, data);
}

static inline size_t fake_pending(void *impl)
{
	struct fake *f = impl;
	return f->flow ? f->queued : 0;
}

static inline void fake_on_drain(void *impl, size_t low_water, bool on)
{
	struct fake *f = impl;
	f->drain_on = on;
	f->drain_low = low_water;
}

/* The client takes up to n queued bytes; a drain asked for is answered if they are low. */
static inline void fake_consume(struct fake *f, size_t n)
{
	f->queued -= n < f->queued ? n : f->queued;
	if (f->drain_on && f->queued <= f->drain_low && !f->sends && !f->ends) {
		f->drain_on = false;
		front_req_drained(f->rq);
	}
}

static inline void fake_end(void *impl)
{
	((struct fake *)impl)->ends++;
}

static inline void fake_watch(void *impl, struct front_req *rq, bool on)
{
	((struct fake *)impl)->watching = on;
}

static const struct front_transport fake_transport = {
    .send = fake_send,
    .start = fake_start,
    .chunk = fake_chunk,
    .end = fake_end,
    .watch_close = fake_watch,
    .pending = fake_pending,
    .on_drain = fake_on_drain,
};

/* A request: hdrs is a NULL-terminated list of "Name: value"; body may be NULL; refused_max
 * > 0 makes it one whose body the transport refused (front_req_refused). The fake outlives
 * the request; free it with fake_free once the request was answered. */
static inline struct fake *fake_make(const char *method, const char *uri, const char *const *hdrs,
                                     const char *body, uint64_t refused_max)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	TAILQ_INIT(&f->in);
	TAILQ_INIT(&f->out);
	f->body_in = evbuffer_new();
	f->body = evbuffer_new();
	snprintf(f->uri, sizeof(f->uri), "%s", uri);
	snprintf(f->method, sizeof(f->method), "%s", method);
	for (const char *const *h = hdrs; h && *h; h++) {
		char *k = xstrdup(*h);
		char *v = strchr(k, ':');
		*v++ = 0;
		while (*v == ' ')
			v++;
		evhttp_add_header(&f->in, k, v);
		free(k);
	}
	if (body)
		evbuffer_add(f->body_in, body, strlen(body));
	struct front_req_info info = {
	    .method_name = f->method,
	    .uri = f->uri,
	    .headers = &f->in,
	    .body = f->body_in,
	    .peer = "127.0.0.1",
	    .peer_port = 40000,
	    .http_major = 1,
	    .http_minor = 1,
	    .refused_max = refused_max,
	};
	f->rq = front_req_new(&fake_transport, f, &info);
	return f;
}

static inline struct fake *fake_new(const char *method, const char *uri, const char *const *hdrs,
                                    const char *body)
{
	return fake_make(method, uri, hdrs, body, 0);
}

/* The answer's body as a string (owned). */
static inline char *fake_body(struct fake *f)
{
	size_t n = evbuffer_get_length(f->body);
	char *s = xmalloc(n + 1);
	evbuffer_copyout(f->body, s, n);
	s[n] = 0;
	return s;
}

static inline const char *fake_header(struct fake *f, const char *name)
{
	return evhttp_find_header(&f->out, name);
}

static inline void fake_free(struct fake *f)
{
	evhttp_clear_headers(&f->in);
	evhttp_clear_headers(&f->out);
	evbuffer_free(f->body_in);
	evbuffer_free(f->body);
	free(f);
}

#endif
