/* The Telemetry API (2022-07-01) and the Logs API (2020-08-15) of one environment: an
 * extension subscribes its HTTP listener inside the sandbox to event types; the events
 * are batched per subscriber (maxItems, maxBytes, timeoutMs) and POSTed as a JSON array
 * from the loop, each batch on a new connection from a socket made in the sandbox's
 * network namespace. */
#include "rtapi/telemetry.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"

#define BACKLOG_MAX 64             /* platform events of init kept for who subscribes during it */
#define QUEUE_MAX_BYTES (4u << 20) /* past this a subscriber's oldest events are dropped */
#define POST_TIMEOUT_S 10          /* a listener that does not answer a batch in this long */

struct telem_sub {
	struct telem *t;
	char ext_id[40];
	unsigned types; /* TELEM_* */
	unsigned max_items, max_bytes, timeout_ms;
	uint16_t port;
	char *path;
	json_t *queue; /* events not sent yet */
	size_t queued_bytes;
	struct event *timer;     /* timeoutMs after the first queued event */
	struct bufferevent *bev; /* the batch being posted */
	bool waiting_socket;     /* asked for a socket, none yet */
	bool flush_soon;         /* a batch is due once the current one is sent */
	uint64_t sent, dropped;
};

struct telem {
	struct event_base *base;
	telem_socket_fn socket_fn;
	void *socket_arg;
	struct telem_sub *subs[TELEM_SUBS_MAX];
	unsigned nsubs;
	json_t *backlog; /* platform events of init (before any subscription ended init) */
	bool init_over;
	bool dead;
};

struct telem *telem_new(struct event_base *base)
{
	struct telem *t = xcalloc(1, sizeof(*t));
	t->base = base;
	t->backlog = json_array();
	return t;
}

void telem_set_socket_fn(struct telem *t, telem_socket_fn fn, void *arg)
{
	t->socket_fn = fn;
	t->socket_arg = arg;
}

static void sub_free(struct telem_sub *s)
{
	if (s->timer)
		event_free(s->timer);
	if (s->bev)
		bufferevent_free(s->bev);
	json_decref(s->queue);
	free(s->path);
	free(s);
}

void telem_free(struct telem *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->nsubs; i++)
		sub_free(t->subs[i]);
	json_decref(t->backlog);
	free(t);
}

/* ---- the subscription ---- */

static int fail(char *msg, size_t msglen, const char *fmt, const char *a)
{
	snprintf(msg, msglen, fmt, a);
	return 400;
}

/* A number of the buffering object in [lo, hi], or its default. */
static bool buffering_field(json_t *b, const char *name, unsigned lo, unsigned hi, unsigned *out, char *msg,
                            size_t msglen)
{
	json_t *v = json_object_get(b, name);
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(msg, msglen, "buffering.%s must be an integer from %u to %u", name, lo, hi);
		return false;
	}
	*out = (unsigned)json_integer_value(v);
	return true;
}

static void sub_timer_cb(evutil_socket_t fd, short what, void *arg);
static void sub_flush(struct telem_sub *s);

int telem_subscribe(struct telem *t, const char *ext_id, bool logs_api, const char *body, size_t len,
                    char *msg, size_t msglen)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return fail(msg, msglen, "the body must be a JSON object: %s", je.text);
	}
	int code = 400;
	const char *sv = json_string_value(json_object_get(o, "schemaVersion"));
	json_t *types = json_object_get(o, "types");
	json_t *buf = json_object_get(o, "buffering");
	json_t *dest = json_object_get(o, "destination");
	unsigned mask = 0;
	size_t i;
	json_t *v;
	static const char *const schemas[] = {"2022-07-01", "2022-12-13", "2025-01-29"};
	if (!logs_api && json_object_get(o, "schemaVersion")) {
		bool ok = false;
		for (size_t k = 0; sv && k < sizeof(schemas) / sizeof(schemas[0]); k++)
			ok = ok || strcmp(sv, schemas[k]) == 0;
		if (!ok) {
			code = fail(msg, msglen,
			            "schemaVersion must be 2022-07-01, 2022-12-13 or 2025-01-29%s", "");
			goto out;
		}
	}
	if (!json_is_array(types) || json_array_size(types) == 0) {
		code = fail(msg, msglen, "types must be a non-empty array of platform, function, extension%s",
		            "");
		goto out;
	}
	json_array_foreach(types, i, v) {
		const char *s = json_string_value(v);
		if (s && strcmp(s, "platform") == 0)
			mask |= TELEM_PLATFORM;
		else if (s && strcmp(s, "function") == 0)
			mask |= TELEM_FUNCTION;
		else if (s && strcmp(s, "extension") == 0)
			mask |= TELEM_EXTENSION;
		else {
			code = fail(msg, msglen, "types: %.40s is not platform, function or extension",
			            s ? s : "(not a string)");
			goto out;
		}
	}
	unsigned max_items = 1000, max_bytes = 262144, timeout_ms = 1000;
	if (buf && !json_is_object(buf)) {
		code = fail(msg, msglen, "buffering must be an object%s", "");
		goto out;
	}
	if (!buffering_field(buf, "maxItems", 25, 10000, &max_items, msg, msglen) ||
	    !buffering_field(buf, "maxBytes", 262144, 1048576, &max_bytes, msg, msglen) ||
	    !buffering_field(buf, "timeoutMs", 25, 30000, &timeout_ms, msg, msglen))
		goto out;
	const char *proto = json_string_value(json_object_get(dest, "protocol"));
	const char *uri = json_string_value(json_object_get(dest, "URI"));
	if (!json_is_object(dest) || !proto || strcmp(proto, "HTTP") != 0) {
		code = fail(msg, msglen, "destination.protocol must be HTTP%s", "");
		goto out;
	}
	/* http://sandbox.localdomain:PORT/path (sandbox, localhost and 127.0.0.1 too). */
	char host[64] = "";
	unsigned port = 0;
	int used = 0;
	if (!uri || sscanf(uri, "http://%63[^:/]:%u%n", host, &port, &used) != 2 || port == 0 ||
	    port > 65535 ||
	    (strcmp(host, "sandbox.localdomain") != 0 && strcmp(host, "sandbox") != 0 &&
	     strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0) ||
	    (uri[used] && uri[used] != '/')) {
		code = fail(msg, msglen,
		            "destination.URI must be http://sandbox.localdomain:PORT/PATH, not %.80s",
		            uri ? uri : "(missing)");
		goto out;
	}
	if (port == 9001) {
		code = fail(msg, msglen, "destination.URI: port 9001 is the Runtime API's%s", "");
		goto out;
	}
	/* One subscription per extension: a new one replaces it. */
	struct telem_sub *s = NULL;
	for (unsigned k = 0; k < t->nsubs; k++)
		if (strcmp(t->subs[k]->ext_id, ext_id) == 0)
			s = t->subs[k];
	if (!s) {
		if (t->nsubs >= TELEM_SUBS_MAX) {
			code = fail(msg, msglen, "at most %s subscriptions per environment", "10");
			goto out;
		}
		s = xcalloc(1, sizeof(*s));
		s->t = t;
		snprintf(s->ext_id, sizeof(s->ext_id), "%s", ext_id);
		s->queue = json_array();
		s->timer = evtimer_new(t->base, sub_timer_cb, s);
		t->subs[t->nsubs++] = s;
	}
	s->types = mask;
	s->max_items = max_items;
	s->max_bytes = max_bytes;
	s->timeout_ms = timeout_ms;
	s->port = (uint16_t)port;
	free(s->path);
	s->path = xstrdup(uri[used] ? uri + used : "/");
	/* What init said so far, for a subscriber of platform events. */
	if ((mask & TELEM_PLATFORM) && !t->init_over) {
		json_array_foreach(t->backlog, i, v) {
			s->queued_bytes += 256;
			json_array_append(s->queue, v);
		}
		if (json_array_size(s->queue))
			sub_flush(s);
	}
	code = 200;
out:
	json_decref(o);
	return code;
}

/* ---- delivery ---- */

static void sub_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	sub_flush(arg);
}

static void post_event_cb(struct bufferevent *bev, short what, void *arg);

static void post_read_cb(struct bufferevent *bev, void *arg)
{
	/* The answer is not looked at: it is read and dropped until the listener closes. */
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* The batch is over (answered and closed, refused, or timed out): the next may go. */
static void post_done(struct telem_sub *s)
{
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (json_array_size(s->queue) && (s->flush_soon || s->t->dead)) {
		s->flush_soon = false;
		sub_flush(s);
	} else if (json_array_size(s->queue) && !evtimer_pending(s->timer, NULL)) {
		struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
		evtimer_add(s->timer, &tv);
	}
}

static void post_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct telem_sub *s = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		log_debug("telemetry: the listener on port %u: %s", s->port,
		          what & BEV_EVENT_TIMEOUT ? "timed out" : strerror(EVUTIL_SOCKET_ERROR()));
	post_done(s);
}

/* A socket inside the sandbox (or -errno): POST the queued events on it. */
static void sub_socket_cb(void *arg, int fd)
{
	struct telem_sub *s = arg;
	s->waiting_socket = false;
	if (fd < 0 || s->t->dead) {
		if (fd >= 0)
			close(fd);
		if (fd < 0)
			log_debug("telemetry: no socket for port %u: %s", s->port, strerror(-fd));
		return;
	}
	evutil_make_socket_nonblocking(fd);
	s->bev = bufferevent_socket_new(s->t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(s->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bufferevent_setcb(s->bev, post_read_cb, NULL, post_event_cb, s);
	struct timeval tv = {POST_TIMEOUT_S, 0};
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	/* Up to maxItems events and about maxBytes, in one JSON array. */
	json_t *batch = json_array();
	size_t bytes = 2;
	while (json_array_size(s->queue) && json_array_size(batch) < s->max_items) {
		json_t *ev = json_array_get(s->queue, 0);
		char *txt = json_dumps(ev, JSON_COMPACT);
		size_t n = strlen(txt) + 1;
		free(txt);
		if (json_array_size(batch) && bytes + n > s->max_bytes)
			break;
		bytes += n;
		json_array_append(batch, ev);
		json_array_remove(s->queue, 0);
		s->queued_bytes = s->queued_bytes > n ? s->queued_bytes - n : 0;
	}
	char *body = json_dumps(batch, JSON_COMPACT);
	s->sent += json_array_size(batch);
	json_decref(batch);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out,
	                    "POST %s HTTP/1.1\r\nHost: sandbox.localdomain:%u\r\nContent-Type: "
	                    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
	                    s->path, s->port, strlen(body));
	evbuffer_add(out, body, strlen(body));
	free(body);
	s->flush_soon = json_array_size(s->queue) > 0;
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&a, sizeof(a)) < 0) {
		log_debug("telemetry: cannot connect to port %u", s->port);
		post_done(s);
		return;
	}
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void sub_flush(struct telem_sub *s)
{
	evtimer_del(s->timer);
	if (!json_array_size(s->queue))
		return;
	if (s->bev || s->waiting_socket) {
		s->flush_soon = true;
		return;
	}
	if (!s->t->socket_fn) {
		return;
	}
	s->waiting_socket = true;
	int fd = s->t->socket_fn(s->t->socket_arg, sub_socket_cb, s);
	if (fd != -EINPROGRESS)
		sub_socket_cb(s, fd);
}

static void sub_add(struct telem_sub *s, json_t *ev, size_t bytes)
{
	/* A listener that cannot keep up loses the oldest events, never the server's memory. */
	while (s->queued_bytes + bytes > QUEUE_MAX_BYTES && json_array_size(s->queue)) {
		json_array_remove(s->queue, 0);
		s->queued_bytes = s->queued_bytes > 256 ? s->queued_bytes - 256 : 0;
		s->dropped++;
	}
	json_array_append(s->queue, ev);
	s->queued_bytes += bytes;
	if (json_array_size(s->queue) >= s->max_items || s->queued_bytes >= s->max_bytes)
		sub_flush(s);
	else if (!evtimer_pending(s->timer, NULL) && !s->bev && !s->waiting_socket) {
		struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
		evtimer_add(s->timer, &tv);
	}
}

void telem_emit(struct telem *t, unsigned type, const char *name, json_t *record)
{
	if (t->dead) {
		json_decref(record);
		return;
	}
	if (!record)
		return; /* a record that could not be made (not UTF-8) */
	char ts[32];
	clock_fmt_iso(clock_wall_ms(), ts);
	json_t *ev = json_pack("{s:s, s:s, s:o}", "time", ts, "type", name, "record", record);
	if (!ev)
		return;
	size_t bytes = 64 + (json_is_string(record) ? json_string_length(record) : 256);
	if (type == TELEM_PLATFORM && !t->init_over && json_array_size(t->backlog) < BACKLOG_MAX)
		json_array_append(t->backlog, ev);
	for (unsigned i = 0; i < t->nsubs; i++)
		if (t->subs[i]->types & type)
			sub_add(t->subs[i], ev, bytes);
	json_decref(ev);
}

void telem_init_over(struct telem *t)
{
	t->init_over = true;
	json_array_clear(t->backlog);
}

void telem_flush(struct telem *t)
{
	for (unsigned i = 0; i < t->nsubs; i++)
		sub_flush(t->subs[i]);
}

bool telem_subscribed(const struct telem *t)
{
	return t->nsubs > 0;
}

bool telem_pending(const struct telem *t)
{
	for (unsigned i = 0; i < t->nsubs; i++) {
		const struct telem_sub *s = t->subs[i];
		if (json_array_size(s->queue) || s->bev || s->waiting_socket)
			return true;
	}
	return false;
}
