/* Per-function concurrency: Put/Get/DeleteFunctionConcurrency, provisioned concurrency
 * configs, and lambdad's own pre-warming and per-function keep-alive. The settings are
 * a function's fn_scaling: stored apart from its configuration (no new RevisionId) and
 * handed to the scheduler on every change. */
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "base/clock.h"

#define UNRESERVED_MIN 100      /* the account's unreserved pool never drops below this */
#define PREWARM_MAX 1000        /* environments one pre-warm request may ask for */
#define KEEP_ALIVE_MAX_S 86400  /* a day */
#define PROVISIONED_LIST_MAX 50 /* ListProvisionedConcurrencyConfigs' MaxItems bound */

/* Makes sc the scaling settings of the function: committed (the row is dropped when
 * sc asks for nothing), then kept in the registry and handed to the scheduler.
 * Replies ServiceException and returns -1, changing nothing, if the store fails. */
static int apply_scaling(struct api *a, struct front_req *req, struct fn_config *c,
                         const struct fn_scaling *sc)
{
	struct err e = {0};
	autofree char *txt = fn_scaling_is_default(sc) ? NULL : fn_scaling_to_stored(sc);
	int r = txt ? store_put(a->store, "scaling", c->name, txt, strlen(txt), STORE_REV_ANY, NULL, &e)
	            : store_del(a->store, "scaling", c->name, STORE_REV_ANY, &e);
	if (r == 0)
		r = store_commit(a->store, &e);
	if (r < 0) {
		log_error("api: scaling settings of %s: %s", c->name, e.msg);
		api__reply_error(req, LAMBDA_ERR_SERVICE, NULL, "%s", e.msg);
		return -1;
	}
	registry_set_scaling(a->reg, c->name, sc);
	sched_set_scaling(a->sched, c->name, c, sc);
	if (registry_version_count(a->reg, c->name))
		api__provisioned_sync(a, c->name); /* the versions' keep-alive */
	return 0;
}

/* Reads the required integer field key (AWS member name field) of body into *out within
 * [lo, hi], replying the error AWS gives when it is missing (ValidationException), not
 * an integer (InvalidParameterValueException) or out of range (ValidationException).
 * Returns 0, or -1 after replying. */
static int required_int(struct front_req *req, json_t *body, const char *key, const char *field, long long lo,
                        long long hi, long long *out)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v)) {
		api__reply_error(
		    req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member "
		    "must not be null",
		    field);
		return -1;
	}
	if (!json_is_integer(v)) {
		api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "%s must be an integer", key);
		return -1;
	}
	long long n = json_integer_value(v);
	if (n < lo || n > hi) {
		api__reply_error(
		    req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%lld' at '%s' failed to satisfy constraint: Member "
		    "must have value %s %lld",
		    n, field, n < lo ? "greater than or equal to" : "less than or equal to",
		    n < lo ? lo : hi);
		return -1;
	}
	*out = n;
	return 0;
}

/* The account's unreserved pool if function name's reservation were reserved (-1: none). */
static long long unreserved_with(struct api *a, const char *name, int32_t reserved)
{
	long long sum = (long long)registry_reserved_sum(a->reg);
	struct fn_scaling old = registry_get_scaling(a->reg, name);
	if (old.reserved > 0)
		sum -= old.reserved;
	if (reserved > 0)
		sum += reserved;
	return (long long)a->account_concurrency - sum;
}

/* ---- reserved concurrency ---- */

/* PUT /2017-10-31/functions/{Name}/concurrency {"ReservedConcurrentExecutions": N} */
void api__put_concurrency(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	json_t *body;
	struct fn_config *c = api__lookup_body(a, r, name, &body);
	if (!c)
		return;
	long long n;
	if (required_int(r->req, body, "ReservedConcurrentExecutions", "reservedConcurrentExecutions", 0,
	                 INT32_MAX, &n) < 0)
		goto out;
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	if (unreserved_with(a, name, (int32_t)n) < UNRESERVED_MIN) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "Specified ReservedConcurrentExecutions for function decreases account's "
		                 "UnreservedConcurrentExecution below its minimum value of [%d].",
		                 UNRESERVED_MIN);
		goto out;
	}
	uint64_t prov = sc.provisioned + registry_prov_total(a->reg, name);
	if (prov > 0 && n < (long long)prov) {
		api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "Specified ReservedConcurrentExecutions for function is less than the function's "
		    "ProvisionedConcurrentExecutions of [%llu].",
		    (unsigned long long)prov);
		goto out;
	}
	sc.reserved = (int32_t)n;
	if (apply_scaling(a, r->req, c, &sc) < 0)
		goto out;
	log_info("api: %s: reserved concurrency %lld", name, n);
	api__reply_json(r->req, 200, json_pack("{s:I}", "ReservedConcurrentExecutions", (json_int_t)n));
out:
	json_decref(body);
}

/* GET /2019-09-30/functions/{Name}/concurrency: {"ReservedConcurrentExecutions": N} or {}. */
void api__get_concurrency(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	json_t *o = json_object();
	if (sc.reserved >= 0)
		json_object_set_new(o, "ReservedConcurrentExecutions", json_integer(sc.reserved));
	api__reply_json(r->req, 200, o);
}

/* DELETE /2017-10-31/functions/{Name}/concurrency: back to the unreserved pool. */
void api__delete_concurrency(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	struct fn_config *c = api__lookup(a, r, api__param(r, "FunctionName"), name);
	if (!c)
		return;
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	if (sc.reserved >= 0) {
		sc.reserved = -1;
		if (apply_scaling(a, r->req, c, &sc) < 0)
			return;
		log_info("api: %s: reserved concurrency removed", name);
	}
	api__reply_json(r->req, 204, NULL);
}

/* ---- provisioned concurrency ---- */

#define PROV_COLL "provisioned" /* "name:qualifier" -> {"n", "modified_ms"} */

/* The version qual (a version or an alias) runs: its number, or NULL when it has none. */
static const char *prov_version(struct api *a, const char *name, const char *qual)
{
	if (fn_qual_kind(qual) == FN_QUAL_VERSION)
		return registry_version_get(a->reg, name, qual) ? qual : NULL;
	const struct fn_alias *al = registry_alias_get(a->reg, name, qual);
	return al ? al->version : NULL;
}

void api__provisioned_sync(struct api *a, const char *name)
{
	struct fn_scaling fsc = registry_get_scaling(a->reg, name);
	for (size_t i = 0, n = registry_version_count(a->reg, name); i < n; i++) {
		struct fn_config *v = registry_version_at(a->reg, name, i);
		/* A version's environments: its own config's and those of the aliases on it. */
		struct fn_scaling sc = {.reserved = -1, .provisioned = 0, .keep_alive_ms = fsc.keep_alive_ms};
		struct fn_prov p;
		for (size_t j = 0, m = registry_prov_count(a->reg, name); j < m; j++) {
			const char *q = registry_prov_at(a->reg, name, j, &p);
			const char *ver = prov_version(a, name, q);
			if (ver && strcmp(ver, v->version) == 0)
				sc.provisioned += p.n;
		}
		autofree char *key = xasprintf("%s:%s", name, v->version);
		sched_set_scaling(a->sched, key, v, &sc);
	}
}

static int load_prov_cb(const struct store_item *it, void *arg)
{
	struct api *a = arg;
	const char *colon = strchr(it->key, ':');
	json_t *o = json_loads(it->value, 0, NULL);
	json_int_t n = json_integer_value(json_object_get(o, "n"));
	struct fn_prov p = {.n = (uint32_t)n,
	                    .modified_ms = json_integer_value(json_object_get(o, "modified_ms"))};
	json_decref(o);
	char name[FN_NAME_MAX + 1];
	if (!colon || (size_t)(colon - it->key) > FN_NAME_MAX || n <= 0 || n > UINT32_MAX) {
		log_warn("store: provisioned concurrency config %s is malformed (ignored)", it->key);
		return 0;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(colon - it->key), it->key);
	if (!prov_version(a, name, colon + 1) || !registry_prov_set(a->reg, name, colon + 1, &p))
		log_warn("store: provisioned concurrency config %s of nothing there (ignored)", it->key);
	return 0;
}

int api__provisioned_load(struct api *a, struct err *errp)
{
	int r = store_scan(a->store, PROV_COLL, NULL, NULL, 0, load_prov_cb, a, errp);
	if (r < 0)
		return r;
	for (size_t i = 0, n = registry_count(a->reg); i < n; i++) {
		const char *name = registry_at(a->reg, i)->name;
		/* The versions' provisioned environments and the function's keep-alive. */
		if (registry_prov_count(a->reg, name) ||
		    (registry_version_count(a->reg, name) &&
		     registry_get_scaling(a->reg, name).keep_alive_ms >= 0))
			api__provisioned_sync(a, name);
	}
	return 0;
}

int api__provisioned_drop(struct api *a, const char *name, const char *qual, struct err *errp)
{
	struct fn_prov p;
	for (size_t i = registry_prov_count(a->reg, name); i-- > 0;) {
		const char *q = registry_prov_at(a->reg, name, i, &p);
		if (qual && strcmp(q, qual) != 0)
			continue;
		autofree char *key = xasprintf("%s:%s", name, q);
		int r = store_del(a->store, PROV_COLL, key, STORE_REV_ANY, errp);
		if (r < 0)
			return r;
		registry_prov_set(a->reg, name, q, &(struct fn_prov){0});
	}
	return 0;
}

/* The shape Put/GetProvisionedConcurrencyConfig return (owned): environments of the
 * qualifier's version that are ready, at most the requested number. */
static json_t *provisioned_json(struct api *a, const char *name, const char *qual, const struct fn_prov *p)
{
	const char *ver = prov_version(a, name, qual);
	autofree char *key = xasprintf("%s:%s", name, ver ? ver : qual);
	uint32_t ready = sched_provisioned_ready(a->sched, key);
	if (ready > p->n)
		ready = p->n;
	char lastmod[32];
	clock_fmt_lastmod(p->modified_ms, lastmod);
	return json_pack("{s:I, s:I, s:I, s:s, s:s}", "RequestedProvisionedConcurrentExecutions",
	                 (json_int_t)p->n, "AvailableProvisionedConcurrentExecutions", (json_int_t)ready,
	                 "AllocatedProvisionedConcurrentExecutions", (json_int_t)ready, "Status",
	                 ready >= p->n ? "READY" : "IN_PROGRESS", "LastModified", lastmod);
}

/* GET .../provisioned-concurrency?List=ALL[&MaxItems=&Marker=] (ListProvisionedConcurrencyConfigs),
 * in qualifier order, the Marker being the last qualifier of the previous page. */
static void list_provisioned(struct api *a, struct api_req *r)
{
	const char *list = front_req_query(r->req, "List");
	if (strcmp(list, "ALL") != 0)
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "List must be ALL");
	long maxn;
	if (api__max_items(r, PROVISIONED_LIST_MAX, PROVISIONED_LIST_MAX, &maxn) < 0)
		return;
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	const char *marker = front_req_query(r->req, "Marker");
	json_t *configs = json_array();
	const char *last = NULL;
	size_t i = 0, n = registry_prov_count(a->reg, name);
	/* A config on $LATEST (set before lambdad refused them) is listed first. */
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	if (sc.provisioned > 0 && (!marker || !*marker)) {
		struct fn_prov p = {sc.provisioned, sc.provisioned_modified_ms};
		json_t *o = provisioned_json(a, name, FN_LATEST, &p);
		autofree char *qarn = fn_arn_qualified(name, FN_LATEST, a->region, a->account);
		json_object_set_new(o, "FunctionArn", json_string(qarn));
		json_array_append_new(configs, o);
	}
	for (; i < n && (long)json_array_size(configs) < maxn; i++) {
		struct fn_prov p;
		const char *q = registry_prov_at(a->reg, name, i, &p);
		if (marker && *marker && strcmp(q, marker) <= 0)
			continue;
		json_t *o = provisioned_json(a, name, q, &p);
		autofree char *qarn = fn_arn_qualified(name, q, a->region, a->account);
		json_object_set_new(o, "FunctionArn", json_string(qarn));
		json_array_append_new(configs, o);
		last = q;
	}
	json_t *out = json_pack("{s:o}", "ProvisionedConcurrencyConfigs", configs);
	if (i < n && last)
		json_object_set_new(out, "NextMarker", json_string(last));
	api__reply_json(r->req, 200, out);
}

/* PUT .../provisioned-concurrency?Qualifier= {"ProvisionedConcurrentExecutions": N} */
static void put_provisioned(struct api *a, struct api_req *r, const char *name, const char *qual)
{
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	autofree char *key = NULL, *txt = NULL;
	long long n;
	if (required_int(r->req, body, "ProvisionedConcurrentExecutions", "provisionedConcurrentExecutions",
	                 1, UINT32_MAX, &n) < 0)
		goto out;
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	struct fn_prov old = {0};
	registry_prov_get(a->reg, name, qual, &old);
	/* What all the function's configs would ask for with this one. */
	long long total = (long long)registry_prov_total(a->reg, name) - old.n + n + sc.provisioned;
	if (sc.reserved >= 0 && total > sc.reserved) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "Requested Provisioned Concurrency should not be greater than the "
		                 "reservedConcurrentExecution for function");
		goto out;
	}
	/* Without a reservation the environments come out of the unreserved pool. */
	if (sc.reserved < 0 && unreserved_with(a, name, -1) - total < UNRESERVED_MIN) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "Specified ProvisionedConcurrentExecutions for function decreases account's "
		                 "UnreservedConcurrentExecution below its minimum value of [%d].",
		                 UNRESERVED_MIN);
		goto out;
	}
	struct fn_prov p = {.n = (uint32_t)n, .modified_ms = clock_wall_ms()};
	struct err e = {0};
	key = xasprintf("%s:%s", name, qual);
	txt = xasprintf("{\"n\":%u,\"modified_ms\":%lld}", p.n, (long long)p.modified_ms);
	if (store_put(a->store, PROV_COLL, key, txt, strlen(txt), STORE_REV_ANY, NULL, &e) < 0 ||
	    store_commit(a->store, &e) < 0) {
		api__reply_err(r->req, &e);
		goto out;
	}
	registry_prov_set(a->reg, name, qual, &p);
	api__provisioned_sync(a, name);
	log_info("api: %s:%s: provisioned concurrency %lld", name, qual, n);
	api__reply_json(r->req, 202, provisioned_json(a, name, qual, &p));
out:
	json_decref(body);
}

void api__provisioned_concurrency(struct api *a, struct api_req *r)
{
	enum front_method m = r->cmd;
	if (m != FRONT_GET && m != FRONT_PUT && m != FRONT_DELETE)
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "provisioned-concurrency takes GET, PUT or DELETE");
	if (m == FRONT_GET && front_req_query(r->req, "List"))
		return list_provisioned(a, r);
	/* AWS wants a version or an alias, in the name (name:1) or as ?Qualifier=. */
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (api__parse_ref(r, api__param(r, "FunctionName"), name, qual) < 0)
		return;
	if (!qual[0])
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "Qualifier is required: provisioned concurrency is configured on a "
		                        "version or alias");
	if (!registry_get(a->reg, name))
		return api__not_found(a, r->req, name, qual);
	if (strcmp(qual, FN_LATEST) == 0 && m == FRONT_PUT)
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "Provisioned Concurrency Configs cannot be applied to unpublished "
		                        "function versions.");
	if (strcmp(qual, FN_LATEST) != 0 && !prov_version(a, name, qual))
		return api__not_found(a, r->req, name, qual);
	if (m == FRONT_PUT)
		return put_provisioned(a, r, name, qual);
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	struct fn_prov p = {0};
	bool have = strcmp(qual, FN_LATEST) == 0
	                ? (p = (struct fn_prov){sc.provisioned, sc.provisioned_modified_ms}).n > 0
	                : registry_prov_get(a->reg, name, qual, &p);
	if (m == FRONT_GET) {
		if (!have)
			return api__reply_error(r->req, LAMBDA_ERR_PROVISIONED_CONCURRENCY_CONFIG_NOT_FOUND,
			                        NULL,
			                        "No Provisioned Concurrency Config found for this function");
		return api__reply_json(r->req, 200, provisioned_json(a, name, qual, &p));
	}
	struct err e = {0};
	if (have && strcmp(qual, FN_LATEST) == 0) {
		/* One set on $LATEST before lambdad refused them can still be deleted. */
		sc.provisioned = 0;
		sc.provisioned_modified_ms = 0;
		if (apply_scaling(a, r->req, registry_get(a->reg, name), &sc) < 0)
			return;
	} else if (have) {
		if (api__provisioned_drop(a, name, qual, &e) < 0 || store_commit(a->store, &e) < 0)
			return api__reply_err(r->req, &e);
		api__provisioned_sync(a, name);
	}
	if (have)
		log_info("api: %s:%s: provisioned concurrency removed", name, qual);
	api__reply_json(r->req, 204, NULL);
}

/* ---- lambdad's own ---- */

/* Reads the optional integer field key of body into *out within [lo, hi]; replies
 * InvalidParameterValueException naming it and returns -1 otherwise (null included).
 * Returns 1 when present, 0 when absent. */
static int ext_int(struct front_req *req, json_t *body, const char *key, long long lo, long long hi,
                   long long *out)
{
	json_t *v = json_object_get(body, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "%s must be an integer from %lld to %lld", key, lo, hi);
		return -1;
	}
	*out = json_integer_value(v);
	return 1;
}

/* POST /lambdad/v1/functions/{Name}/prewarm {"Count": N}: starts N idle environments
 * now; 202 {"Started": n} (the scheduler's limits may start fewer). */
void api__ext_prewarm(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	json_t *body;
	struct fn_config *c = api__lookup_body(a, r, name, &body);
	if (!c)
		return;
	long long n = 1;
	if (ext_int(r->req, body, "Count", 1, PREWARM_MAX, &n) >= 0) {
		uint32_t started = sched_prewarm(a->sched, c, (uint32_t)n);
		log_info("api: %s: pre-warming %u of %lld environments", name, started, n);
		api__reply_json(r->req, 202, json_pack("{s:I}", "Started", (json_int_t)started));
	}
	json_decref(body);
}

/* GET|PUT|DELETE /lambdad/v1/functions/{Name}/keep-alive: how long idle environments of
 * the function live, {"KeepAliveSeconds": S} (0: never reused); DELETE returns to the
 * server's --keep-alive. */
void api__ext_keep_alive(struct api *a, struct api_req *r)
{
	enum front_method m = r->cmd;
	if (m != FRONT_GET && m != FRONT_PUT && m != FRONT_DELETE)
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "keep-alive takes GET, PUT or DELETE");
	char name[FN_NAME_MAX + 1];
	struct fn_config *c = api__lookup(a, r, api__param(r, "FunctionName"), name);
	if (!c)
		return;
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	if (m == FRONT_GET) {
		if (sc.keep_alive_ms < 0)
			return api__reply_json(r->req, 200,
			                       json_pack("{s:n, s:b}", "KeepAliveSeconds", "Default", true));
		return api__reply_json(
		    r->req, 200,
		    json_pack("{s:I}", "KeepAliveSeconds", (json_int_t)(sc.keep_alive_ms / 1000)));
	}
	if (m == FRONT_DELETE) {
		if (sc.keep_alive_ms >= 0) {
			sc.keep_alive_ms = -1;
			if (apply_scaling(a, r->req, c, &sc) < 0)
				return;
			log_info("api: %s: keep-alive back to the server's", name);
		}
		return api__reply_json(r->req, 204, NULL);
	}
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	long long s = 0;
	int got = ext_int(r->req, body, "KeepAliveSeconds", 0, KEEP_ALIVE_MAX_S, &s);
	if (got == 0)
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "KeepAliveSeconds is required (an integer from 0 to %d)", KEEP_ALIVE_MAX_S);
	if (got <= 0)
		goto out;
	sc.keep_alive_ms = s * 1000;
	if (apply_scaling(a, r->req, c, &sc) < 0)
		goto out;
	log_info("api: %s: keep-alive %lld s", name, s);
	api__reply_json(r->req, 200, json_pack("{s:I}", "KeepAliveSeconds", (json_int_t)s));
out:
	json_decref(body);
}
