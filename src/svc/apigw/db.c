/* HTTP APIs in the store: the collection "apigw.apis", one item per API (key: its id)
 * holding {"created_ms": N, "doc": its whole state}, committed before each change
 * returns. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "svc/apigw/apigw_int.h"

#define GWDB_COLL "apigw.apis"

struct loaded {
	char *id;
	int64_t created_ms;
	json_t *doc;
};

struct load_ctx {
	struct loaded *v;
	size_t n, cap;
};

static int scan_cb(const struct store_item *it, void *arg)
{
	struct load_ctx *c = arg;
	json_t *o = json_loads(it->value, 0, NULL);
	json_t *doc = json_object_get(o, "doc");
	if (!json_is_object(doc)) {
		log_error("apigw: API %s: unreadable (skipped)", it->key);
		json_decref(o);
		return 0;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = (struct loaded){xstrdup(it->key), json_integer_value(json_object_get(o, "created_ms")),
	                               json_incref(doc)};
	json_decref(o);
	return 0;
}

/* Creation order, then the id (the store scans by key). */
static int by_created(const void *x, const void *y)
{
	const struct loaded *a = x, *b = y;
	if (a->created_ms != b->created_ms)
		return a->created_ms < b->created_ms ? -1 : 1;
	return strcmp(a->id, b->id);
}

int apigw__db_load(struct apigw *g,
                   int (*cb)(struct apigw *g, const char *id, int64_t created_ms, json_t *doc),
                   struct err *errp)
{
	struct load_ctx c = {0};
	int r = store_scan(g->st, GWDB_COLL, NULL, NULL, 0, scan_cb, &c, errp);
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), by_created);
	for (size_t i = 0; i < c.n; i++) {
		if (r == 0 && cb(g, c.v[i].id, c.v[i].created_ms, c.v[i].doc) < 0)
			log_error("apigw: API %s: unreadable (skipped)", c.v[i].id);
		free(c.v[i].id);
		json_decref(c.v[i].doc);
	}
	free(c.v);
	return r;
}

int apigw__db_put(struct apigw *g, const char *id, int64_t created_ms, json_t *doc, struct err *errp)
{
	json_t *o = json_pack("{s:I, s:O}", "created_ms", (json_int_t)created_ms, "doc", doc);
	autofree char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (store_put(g->st, GWDB_COLL, id, text, strlen(text), STORE_REV_ANY, NULL, errp) < 0 ||
	    store_commit(g->st, errp) < 0)
		return err_wrap(errp, "cannot store API %s", id);
	return 0;
}

int apigw__db_del(struct apigw *g, const char *id, struct err *errp)
{
	if (store_del(g->st, GWDB_COLL, id, STORE_REV_ANY, errp) < 0 || store_commit(g->st, errp) < 0)
		return err_wrap(errp, "cannot delete API %s", id);
	return 0;
}
