/* The queue in the store: pending events are items of the queue "async.events" (the
 * payload, and the event's fields as JSON attributes), lambdad's dead-letter store and
 * the event invoke configs are collections. No SQL here: every write joins the store's
 * group. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "async/async_int.h"
#include "base/clock.h"

char *async__store_failed_key(const char *fn, const char *id)
{
	return xasprintf("%s/%s", fn, id);
}

char *async__store_attrs(const struct async_ev *ev)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:s?}", "id", ev->id, "fn", ev->fn->name, "accepted_ms",
	                      (json_int_t)ev->accepted_ms, "attempts", (int)ev->attempts, "last_error",
	                      ev->last_error);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

char *async__store_payload(struct async *q, const struct async_ev *ev, size_t *len)
{
	return store_qpayload(q->st, ASYNC_QUEUE, ev->rc.seq, len);
}

int async__store_put_failed(struct async *q, const struct async_ev *ev, const char *condition,
                            const char *reason, const char *payload, size_t plen)
{
	autofree char *key = async__store_failed_key(ev->fn->name, ev->id);
	json_t *o = json_pack("{s:s, s:s, s:s?, s:i, s:I, s:I, s:I}", "condition", condition, "reason",
	                      reason, "last_error", ev->last_error, "attempts", (int)ev->attempts,
	                      "accepted_ms", (json_int_t)ev->accepted_ms, "failed_ms",
	                      (json_int_t)clock_wall_ms(), "payload_bytes", (json_int_t)plen);
	autofree char *meta = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct err e = {0};
	if (store_put(q->st, ASYNC_FAILED, key, meta, strlen(meta), STORE_REV_ANY, NULL, &e) < 0 ||
	    store_put(q->st, ASYNC_FAILED_PAYLOAD, key, payload ? payload : "", payload ? plen : 0,
	              STORE_REV_ANY, NULL, &e) < 0) {
		log_error("async: %s", e.msg);
		return -EIO;
	}
	return 0;
}

int async__store_put_config(struct async *q, const char *name, const struct async_cfg *c, struct err *errp)
{
	if (!c)
		return store_del(q->st, ASYNC_CONFIGS, name, STORE_REV_ANY, errp);
	json_t *o = json_pack("{s:i, s:i, s:s?, s:s?, s:I}", "max_retries", c->max_retries, "max_age_s",
	                      c->max_age_s, "on_success", c->on_success, "on_failure", c->on_failure,
	                      "modified_ms", (json_int_t)c->modified_ms);
	autofree char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return store_put(q->st, ASYNC_CONFIGS, name, text, strlen(text), STORE_REV_ANY, NULL, errp);
}

static char *str_or_null(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? xstrdup(s) : NULL;
}

static int config_cb(const struct store_item *it, void *arg)
{
	struct async *q = arg;
	json_t *o = json_loads(it->value, 0, NULL);
	if (!o)
		return 0;
	struct async_fn *f = async__fn_get(q, it->key, true);
	async__cfg_fini(&f->cfg);
	f->cfg.present = true;
	f->cfg.max_retries = (int32_t)json_integer_value(json_object_get(o, "max_retries"));
	f->cfg.max_age_s = (int32_t)json_integer_value(json_object_get(o, "max_age_s"));
	f->cfg.on_success = str_or_null(o, "on_success");
	f->cfg.on_failure = str_or_null(o, "on_failure");
	f->cfg.modified_ms = json_integer_value(json_object_get(o, "modified_ms"));
	json_decref(o);
	return 0;
}

static int failed_cb(const struct store_item *it, void *arg)
{
	struct async *q = arg;
	const char *slash = strrchr(it->key, '/');
	if (!slash)
		return 0;
	autofree char *fn = xstrndup(it->key, (size_t)(slash - it->key));
	async__fn_get(q, fn, true)->failed_stored++;
	return 0;
}

struct loaded {
	struct async *q;
	struct async_ev **v;
	size_t n, cap;
};

static int event_cb(const struct store_qitem *it, void *arg)
{
	struct loaded *l = arg;
	struct async *q = l->q;
	json_t *o = it->attrs ? json_loads(it->attrs, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *fn = json_string_value(json_object_get(o, "fn"));
	if (!id || strlen(id) > 36 || !fn) {
		json_decref(o);
		return 0;
	}
	struct async_ev *ev = xcalloc(1, sizeof(*ev));
	snprintf(ev->id, sizeof(ev->id), "%s", id);
	ev->fn = async__fn_get(q, fn, true);
	ev->rc = it->receipt;
	ev->accepted_ms = json_integer_value(json_object_get(o, "accepted_ms"));
	ev->due_ms = it->visible_at_ms;
	ev->attempts = (uint32_t)json_integer_value(json_object_get(o, "attempts"));
	ev->last_error = str_or_null(o, "last_error");
	json_decref(o);
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = ev;
	return 0;
}

/* Acceptance order, as they were queued before the restart. */
static int by_accepted(const void *x, const void *y)
{
	const struct async_ev *a = *(struct async_ev *const *)x, *b = *(struct async_ev *const *)y;
	if (a->accepted_ms != b->accepted_ms)
		return a->accepted_ms < b->accepted_ms ? -1 : 1;
	return a->rc.seq < b->rc.seq ? -1 : a->rc.seq > b->rc.seq;
}

int async__store_load(struct async *q, struct err *errp)
{
	int r;
	if ((r = store_scan(q->st, ASYNC_CONFIGS, NULL, NULL, 0, config_cb, q, errp)) < 0 ||
	    (r = store_scan(q->st, ASYNC_FAILED, NULL, NULL, 0, failed_cb, q, errp)) < 0)
		return r;
	struct loaded l = {.q = q};
	if ((r = store_qscan(q->st, ASYNC_QUEUE, event_cb, &l, errp)) < 0) {
		for (size_t i = 0; i < l.n; i++) {
			free(l.v[i]->last_error);
			free(l.v[i]);
		}
		free(l.v);
		return r;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), by_accepted);
	for (size_t i = 0; i < l.n; i++) {
		l.v[i]->fn->depth++;
		async__ev_schedule(q, l.v[i]);
	}
	if (l.n)
		log_info(
		    "async: %zu events from before the restart are queued again (delivered at least once)",
		    l.n);
	free(l.v);
	return 0;
}
