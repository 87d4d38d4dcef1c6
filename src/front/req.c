/* The transport seam's request object: what the transport read, the answer's headers as
 * the handler adds them, the one answer handed back to the transport, and a streamed body's
 * pieces passed on to the handler's consumer. */
#include <errno.h>
#include <event2/http.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "base/clock.h"
#include "front/front.h"

struct front_req {
	const struct front_transport *t;
	void *impl; /* NULL once the client went away */
	struct front_req_info in;
	enum front_method method;
	char *path;              /* owned; NULL: none */
	char *query;             /* owned raw query; NULL: none */
	struct evkeyvalq params; /* decoded query parameters */
	bool query_ok;
	int64_t time_ms;
	struct evkeyvalq out; /* the answer's headers */
	front_close_cb close_cb;
	void *close_arg;
	bool streaming;                        /* front_reply_start ran */
	bool watching;                         /* the transport reports a close */
	const struct front_body_ops *body_ops; /* a streamed body being read; NULL: none */
	void *body_arg;
	bool body_taken;         /* front_req_read_body ran */
	front_drain_cb drain_cb; /* NULL: no drain asked for */
	void *drain_arg;
};

static enum front_method method_of(const char *m)
{
	static const struct {
		const char *name;
		enum front_method m;
	} map[] = {{"GET", FRONT_GET},        {"HEAD", FRONT_HEAD},     {"POST", FRONT_POST},
	           {"PUT", FRONT_PUT},        {"DELETE", FRONT_DELETE}, {"PATCH", FRONT_PATCH},
	           {"OPTIONS", FRONT_OPTIONS}};
	for (size_t i = 0; m && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(m, map[i].name) == 0)
			return map[i].m;
	return FRONT_OTHER;
}

struct front_req *front_req_new(const struct front_transport *t, void *impl, const struct front_req_info *in)
{
	struct front_req *rq = xcalloc(1, sizeof(*rq));
	rq->t = t;
	rq->impl = impl;
	rq->in = *in;
	if (!rq->in.method_name)
		rq->in.method_name = "";
	if (!rq->in.uri)
		rq->in.uri = "";
	rq->method = method_of(rq->in.method_name);
	rq->time_ms = clock_wall_ms();
	TAILQ_INIT(&rq->params);
	TAILQ_INIT(&rq->out);
	/* The path of the origin form, or of the absolute form after its authority. */
	const char *u = rq->in.uri;
	if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) {
		const char *auth = strstr(u, "//") + 2;
		u = auth + strcspn(auth, "/?#");
		if (*u != '/')
			u = NULL;
	}
	if (u && u[0] == '/') {
		size_t plen = strcspn(u, "?#");
		rq->path = xstrndup(u, plen);
		if (u[plen] == '?')
			rq->query = xstrndup(u + plen + 1, strcspn(u + plen + 1, "#"));
	}
	rq->query_ok = !rq->query || evhttp_parse_query_str(rq->query, &rq->params) == 0;
	if (!rq->query_ok)
		evhttp_clear_headers(&rq->params);
	return rq;
}

/* Stops the transport's drain report, if one was asked for. */
static void drain_off(struct front_req *rq)
{
	if (rq->drain_cb && rq->impl && rq->t->on_drain)
		rq->t->on_drain(rq->impl, 0, false);
	rq->drain_cb = NULL;
}

static void req_free(struct front_req *rq)
{
	drain_off(rq);
	if (rq->impl && rq->watching && rq->t->watch_close)
		rq->t->watch_close(rq->impl, rq, false);
	evhttp_clear_headers(&rq->params);
	evhttp_clear_headers(&rq->out);
	free(rq->path);
	free(rq->query);
	free(rq);
}

void front_req_discard(struct front_req *rq)
{
	rq->impl = NULL;
	req_free(rq);
}

static void watch(struct front_req *rq, bool on)
{
	if (!rq->impl || rq->watching == on || !rq->t->watch_close)
		return;
	rq->watching = on;
	rq->t->watch_close(rq->impl, rq, on);
}

void front_req_closed(struct front_req *rq)
{
	rq->impl = NULL;
	rq->watching = false;
	rq->drain_cb = NULL;
	front_close_cb cb = rq->close_cb;
	rq->close_cb = NULL;
	if (cb)
		cb(rq, rq->close_arg);
}

enum front_method front_req_method(const struct front_req *rq)
{
	return rq->method;
}

const char *front_req_method_name(const struct front_req *rq)
{
	return rq->in.method_name;
}

const char *front_req_uri(const struct front_req *rq)
{
	return rq->in.uri;
}

const char *front_req_path(const struct front_req *rq)
{
	return rq->path;
}

const char *front_req_query_string(const struct front_req *rq)
{
	return rq->query;
}

bool front_req_query_ok(const struct front_req *rq)
{
	return rq->query_ok;
}

const char *front_req_query(const struct front_req *rq, const char *name)
{
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, &rq->params, next)
		if (strcmp(kv->key, name) == 0)
			return kv->value;
	return NULL;
}

const char *front_req_header(const struct front_req *rq, const char *name)
{
	const struct evkeyval *kv;
	if (rq->in.headers)
		TAILQ_FOREACH(kv, rq->in.headers, next)
			if (strcasecmp(kv->key, name) == 0)
				return kv->value;
	return NULL;
}

const struct evkeyvalq *front_req_headers(const struct front_req *rq)
{
	static struct evkeyvalq none = TAILQ_HEAD_INITIALIZER(none);
	return rq->in.headers ? rq->in.headers : &none;
}

struct evbuffer *front_req_body(struct front_req *rq)
{
	return rq->in.body;
}

const char *front_req_peer(const struct front_req *rq)
{
	return rq->in.peer;
}

void front_req_http_version(const struct front_req *rq, int *major, int *minor)
{
	*major = rq->in.http_major;
	*minor = rq->in.http_minor;
}

int64_t front_req_time_ms(const struct front_req *rq)
{
	return rq->time_ms;
}

void front_reply_header(struct front_req *rq, const char *name, const char *value)
{
	evhttp_add_header(&rq->out, name, value);
}

void front_reply_header_set(struct front_req *rq, const char *name, const char *value)
{
	while (evhttp_remove_header(&rq->out, name) == 0)
		;
	evhttp_add_header(&rq->out, name, value);
}

const char *front_reply_header_get(const struct front_req *rq, const char *name)
{
	return evhttp_find_header(&rq->out, name);
}

bool front_req_streamed(const struct front_req *rq)
{
	return rq->in.streamed;
}

uint64_t front_req_refused(const struct front_req *rq)
{
	return rq->in.refused_max;
}

size_t front_reply_pending(const struct front_req *rq)
{
	return rq->impl && rq->t->pending ? rq->t->pending(rq->impl) : 0;
}

void front_reply_on_drain(struct front_req *rq, size_t low_water, front_drain_cb cb, void *arg)
{
	if (!cb || !rq->impl || !rq->t->on_drain) {
		drain_off(rq);
		return;
	}
	rq->drain_cb = cb;
	rq->drain_arg = arg;
	rq->t->on_drain(rq->impl, low_water, true);
}

void front_req_drained(struct front_req *rq)
{
	front_drain_cb cb = rq->drain_cb;
	rq->drain_cb = NULL;
	if (cb && rq->impl)
		cb(rq, rq->drain_arg);
}

int front_req_read_body(struct front_req *rq, uint64_t limit, const struct front_body_ops *ops, void *arg)
{
	if (!rq->in.streamed || rq->body_taken || !rq->t->read_body)
		return -EINVAL;
	rq->body_taken = true;
	if (!rq->impl)
		return -ECONNRESET;
	rq->body_ops = ops;
	rq->body_arg = arg;
	int r = rq->t->read_body(rq->impl, limit);
	if (r < 0)
		rq->body_ops = NULL;
	return r;
}

void front_req_body_data(struct front_req *rq, const void *data, size_t len)
{
	if (rq->body_ops && rq->body_ops->data && len > 0)
		rq->body_ops->data(rq, data, len, rq->body_arg);
}

void front_req_body_end(struct front_req *rq, const struct evkeyvalq *trailers)
{
	static struct evkeyvalq none = TAILQ_HEAD_INITIALIZER(none);
	const struct front_body_ops *ops = rq->body_ops;
	rq->body_ops = NULL;
	if (ops && ops->end)
		ops->end(rq, trailers ? trailers : &none, rq->body_arg);
}

void front_req_body_abort(struct front_req *rq, enum front_body_abort why)
{
	const struct front_body_ops *ops = rq->body_ops;
	rq->body_ops = NULL;
	rq->impl = NULL;
	rq->watching = false;
	rq->close_cb = NULL;
	rq->drain_cb = NULL;
	if (ops && ops->abort)
		ops->abort(rq, why, rq->body_arg);
}

void front_reply(struct front_req *rq, int status, struct evbuffer *body)
{
	if (rq->impl) {
		drain_off(rq);
		watch(rq, false);
		rq->t->send(rq->impl, status, &rq->out, body);
		rq->impl = NULL;
	} else if (body) {
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	req_free(rq);
}

void front_reply_start(struct front_req *rq, int status)
{
	rq->streaming = true;
	if (!rq->impl)
		return;
	watch(rq, true);
	if (rq->impl) /* the transport may find the client gone already */
		rq->t->start(rq->impl, status, &rq->out);
}

void front_reply_chunk(struct front_req *rq, const void *data, size_t len)
{
	if (!rq->impl || len == 0)
		return;
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, data, len);
	rq->t->chunk(rq->impl, b);
	evbuffer_free(b);
}

void front_reply_end(struct front_req *rq)
{
	if (rq->impl) {
		drain_off(rq);
		watch(rq, false);
		rq->t->end(rq->impl);
		rq->impl = NULL;
	}
	req_free(rq);
}

void front_req_on_close(struct front_req *rq, front_close_cb cb, void *arg)
{
	rq->close_cb = cb;
	rq->close_arg = arg;
	watch(rq, cb != NULL || rq->streaming);
}

bool front_req_gone(const struct front_req *rq)
{
	return rq->impl == NULL;
}
