/* CreateFunction, GetFunction(Configuration), ListFunctions, UpdateFunctionCode,
 * UpdateFunctionConfiguration, DeleteFunction. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svc/lambda/api_int.h"
#include "async/async.h"
#include "base/clock.h"
#include "base/codec.h"
#include "loop/pool.h"
#include "runtimes/hostrt.h"

#define MAX_ZIP_BYTES 52428800u /* 50 MB: Lambda's direct upload limit */

/* A CreateFunction or UpdateFunctionCode: the heavy part (parsing the body, decoding
 * ZipFile, SHA-256, the zip's checks, extraction and the durable write of the zip) runs
 * on the code pool; the rest (configuration, RevisionId, commit, publish, answer) on
 * the loop, in the order the deploys arrived. */
enum deploy_op { DEPLOY_CREATE, DEPLOY_UPDATE };

struct deploy {
	struct api *a;
	struct front_req *req; /* answered by deploy_finish */
	enum deploy_op op;
	char name[FN_NAME_MAX + 1]; /* UpdateFunctionCode: the function; Create: from the body */
	struct store *store;        /* borrowed by the worker: its code blobs only */
	/* In: the request body, moved out of the transport's buffer (the worker's alone). */
	struct evbuffer *body;
	/* Out, from the worker. */
	json_t *json;        /* the parsed body, NULL when it did not parse */
	char parse_err[512]; /* why it did not */
	int code_rc;         /* 0: the code is stored and extracted; < 0: code_err says why */
	struct err code_err;
	struct codezip_info info;
	char hex[65];  /* SHA-256 of the zip, "" until the code is stored */
	char b64[45];  /* the same, base64 (CodeSha256) */
	uint64_t zlen; /* zipped bytes */
	bool worked;   /* the worker has returned (loop thread) */
	TAILQ_ENTRY(deploy) link;
};
TAILQ_HEAD(deploy_list, deploy);

/* The API's deploys (api->deploys): in arrival order, those on the pool and those
 * whose work is done waiting for an earlier one to be answered. */
struct deploys {
	struct pool *pool; /* one thread: deploys are worked one at a time */
	struct deploy_list list;
	unsigned working; /* on the pool, work not returned yet */
	char **deferred;  /* code blobs to drop once no work is under way */
	size_t ndeferred, deferred_cap;
	bool stopping; /* teardown: what is left is answered ServiceException */
};

static bool code_pinned(struct api *a, const char *hex)
{
	struct deploy *d;
	TAILQ_FOREACH(d, &a->deploys->list, link)
		if (d->worked && strcmp(d->hex, hex) == 0)
			return true;
	return false;
}

/* Removing a blob (its zip and tree, tens of MB) is file system work too: on the code
 * pool. Its one thread runs jobs in submission order, so a deploy submitted after the
 * drop finds the blob gone and stores it anew. */
struct drop_job {
	struct store *store;
	char hex[65];
};

static void drop_work(void *arg)
{
	struct drop_job *j = arg;
	store_drop_code(j->store, j->hex);
}

/* Drops a code blob that no function uses any more. A blob a deploy has stored but not
 * yet committed is kept (that deploy drops it if it fails); while a worker runs, the
 * blob it is about to find already stored might be this one, so the drop waits for the
 * worker to be done. */
static void drop_unused_code(struct api *a, const char *hex)
{
	struct deploys *ds = a->deploys;
	if (!hex[0] || api__code_in_use(a, hex) || code_pinned(a, hex))
		return;
	if (ds->working > 0) {
		if (ds->ndeferred == ds->deferred_cap) {
			ds->deferred_cap = ds->deferred_cap ? 2 * ds->deferred_cap : 8;
			ds->deferred = xrealloc(ds->deferred, ds->deferred_cap * sizeof(*ds->deferred));
		}
		ds->deferred[ds->ndeferred++] = xstrdup(hex);
		return;
	}
	if (!ds->pool) {
		store_drop_code(a->store, hex); /* teardown: the pool is gone */
		return;
	}
	struct drop_job *j = xcalloc(1, sizeof(*j));
	j->store = a->store;
	snprintf(j->hex, sizeof(j->hex), "%s", hex);
	pool_submit(ds->pool, drop_work, free, j);
}

static void drop_deferred_code(struct api *a);

/* The blobs of layers (a function's former Layers, borrowed) that nothing uses now. */
static void drop_unused_layers(struct api *a, json_t *layers)
{
	size_t i;
	json_t *l;
	json_array_foreach(layers, i, l) {
		const char *hex = json_string_value(json_object_get(l, "Sha"));
		if (hex)
			drop_unused_code(a, hex);
	}
}

/* Another module's work on the code pool (api__code_job): counted as a deploy's work,
 * so the removals of code blobs wait for it. */
struct code_job {
	struct api *a;
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
};

static void code_job_work(void *arg)
{
	struct code_job *j = arg;
	j->work(j->arg);
}

static void code_job_done(void *arg)
{
	struct code_job *j = arg;
	struct api *a = j->a;
	j->done(j->arg);
	free(j);
	a->deploys->working--;
	drop_deferred_code(a);
}

void api__code_job(struct api *a, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct code_job *j = xcalloc(1, sizeof(*j));
	*j = (struct code_job){.a = a, .work = work, .done = done, .arg = arg};
	a->deploys->working++;
	pool_submit(a->deploys->pool, code_job_work, code_job_done, j);
}

bool api__code_stopping(const struct api *a)
{
	return a->deploys->stopping;
}

void api__code_drop_unused(struct api *a, const char *hex)
{
	drop_unused_code(a, hex);
}

static void drop_deferred_code(struct api *a)
{
	struct deploys *ds = a->deploys;
	if (ds->working > 0)
		return;
	size_t n = ds->ndeferred;
	char **list = steal_ptr(&ds->deferred);
	ds->ndeferred = ds->deferred_cap = 0;
	for (size_t i = 0; i < n; i++) {
		drop_unused_code(a, list[i]);
		free(list[i]);
	}
	free(list);
}

/* Worker thread: the code of d's body (Code for CreateFunction, the body itself for
 * UpdateFunctionCode) decoded, hashed, checked, stored and extracted. Touches only d and
 * the store's code directory. Returns 0 or a negative errno with the service error in
 * *errp; nothing new is left behind on failure. */
static int take_code(struct deploy *d, json_t *code, struct err *errp)
{
	if (!json_is_object(code))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Code must be an object with ZipFile");
	json_t *zf = json_object_get(code, "ZipFile");
	if (!zf || !json_is_string(zf)) {
		if (json_object_get(code, "S3Bucket") || json_object_get(code, "ImageUri"))
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "Code from S3Bucket/S3Key or ImageUri is not supported by lambdad; send "
			    "ZipFile");
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Code.ZipFile is required (a base64 zip)");
	}
	size_t zlen;
	autofree unsigned char *zip = b64_decode(json_string_value(zf), json_string_length(zf), &zlen);
	/* The base64 text is not needed any more: its memory goes now, not with the body. */
	json_object_del(code, "ZipFile");
	if (!zip)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "ZipFile is not valid base64");
	if (zlen > MAX_ZIP_BYTES)
		return err_svc(errp, LAMBDA_ERR_REQUEST_ENTITY_TOO_LARGE,
		               "Zipped size must be smaller than %u bytes", MAX_ZIP_BYTES);
	unsigned char digest[32];
	sha256(zip, zlen, digest);
	char hex[65];
	hex_encode(digest, 32, hex);
	autofree char *b64 = b64_encode(digest, 32);
	int r = store_put_code(d->store, hex, zip, zlen, &d->info, errp);
	if (r < 0)
		return r;
	memcpy(d->hex, hex, sizeof(hex));
	snprintf(d->b64, sizeof(d->b64), "%s", b64);
	d->zlen = zlen;
	return 0;
}

static void deploy_work(void *arg)
{
	struct deploy *d = arg;
	/* The code pool's thread is background work: at nice +10 (a thread's own, on Linux)
	 * it yields the CPU to the loop and to the functions on a busy machine. */
	static __thread bool niced;
	if (!niced) {
		niced = true;
		setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	}
	json_t *o = api__parse_body(&d->body, d->parse_err, sizeof(d->parse_err));
	if (!o)
		return;
	d->json = o;
	d->code_rc = take_code(d, d->op == DEPLOY_CREATE ? json_object_get(o, "Code") : o, &d->code_err);
}

static json_t *config_json(struct api *a, const struct fn_config *c)
{
	return fn_config_to_api(c, a->region, a->account);
}

/* hostrt_check for c's runtime; an interpreter newer than the runtime identifier is
 * allowed with a warning, logged and sent in X-Lambdad-Warning (no field of the answer
 * carries one on AWS, and SDKs ignore headers they do not know; `lambdad deploy` prints it). */
static int check_runtime(struct front_req *req, const struct fn_config *c, struct err *e)
{
	char warn[512];
	if (hostrt_check(c->runtime, warn, sizeof(warn), e) < 0)
		return -1;
	if (warn[0]) {
		log_warn("api: function %s: %s", c->name, warn);
		front_reply_header(req, "X-Lambdad-Warning", warn);
	}
	return 0;
}

/* The code d stored, into c; or the reply why not (its code error, or a package without
 * the bootstrap c's runtime starts), returning -1. */
static int deploy_set_code(struct deploy *d, struct fn_config *c)
{
	struct api *a = d->a;
	if (d->code_rc < 0) {
		api__reply_err(d->req, &d->code_err);
		return -1;
	}
	if (fn_runtime_needs_bootstrap(c->runtime) && !d->info.has_bootstrap &&
	    !api__layers_have_bootstrap(a, c)) {
		api__reply_error(d->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "The deployment package has no executable file named 'bootstrap' at its "
		                 "root, nor has any of its layers; runtime %s starts /var/task/bootstrap "
		                 "or /opt/bootstrap",
		                 c->runtime);
		drop_unused_code(a, d->hex);
		return -1;
	}
	memcpy(c->code_hex, d->hex, sizeof(d->hex));
	snprintf(c->code_b64, sizeof(c->code_b64), "%s", d->b64);
	c->code_size = d->zlen;
	c->code_unzipped = d->info.unzipped_bytes;
	return 0;
}

/* Makes c the function's current configuration: committed, then published. */
static int commit(struct api *a, struct front_req *req, struct fn_config *c)
{
	autofree char *txt = fn_config_to_stored(c);
	struct err e = {0};
	if (store_put(a->store, "functions", c->name, txt, strlen(txt), STORE_REV_ANY, NULL, &e) < 0 ||
	    store_commit(a->store, &e) < 0) {
		api__reply_err(req, &e);
		return -1;
	}
	return 0;
}

static void reply_published(struct api *a, struct front_req *req, json_t *body, struct fn_config *c,
                            int status);

static void deploy_finish_create(struct deploy *d)
{
	struct api *a = d->a;
	struct fn_config *c = fn_config_new();
	struct err e = {0};
	autofree char *arn = NULL;
	/* The configuration's errors come before the code's, as when it was checked first. */
	if (fn_config_apply(c, d->json, true, &e) < 0 || check_runtime(d->req, c, &e) < 0) {
		api__reply_err(d->req, &e);
		drop_unused_code(a, d->hex);
		goto out;
	}
	if (registry_get(a->reg, c->name)) {
		api__reply_error(d->req, LAMBDA_ERR_RESOURCE_CONFLICT, NULL, "Function already exist: %s",
		                 c->name);
		drop_unused_code(a, d->hex);
		goto out;
	}
	/* Tags and a code signing config are checked before the code is taken, and written
	 * in the same commit as the function. */
	json_t *tags = json_object_get(d->json, "Tags");
	json_t *csc = json_object_get(d->json, "CodeSigningConfigArn");
	tags = json_is_null(tags) ? NULL : tags;
	csc = json_is_null(csc) ? NULL : csc;
	if ((tags && api__tags_check(tags, &e) < 0) || (csc && api__csc_bind(a, NULL, csc, &e) < 0)) {
		api__reply_err(d->req, &e);
		drop_unused_code(a, d->hex);
		goto out;
	}
	/* Layers before the code's bootstrap check: one of them may carry the bootstrap. */
	json_t *layers = json_object_get(d->json, "Layers");
	if (d->code_rc == 0 && layers && !json_is_null(layers)) {
		c->code_unzipped = d->info.unzipped_bytes;
		if (api__layers_apply(a, c, layers, &e) < 0) {
			api__reply_err(d->req, &e);
			drop_unused_code(a, d->hex);
			goto out;
		}
	}
	if (deploy_set_code(d, c) < 0)
		goto out;
	arn = fn_arn(c->name, a->region, a->account);
	if ((csc && api__csc_bind(a, c->name, csc, &e) < 0) ||
	    (tags && api__tags_add(a, arn, tags, &e) < 0)) {
		api__reply_err(d->req, &e);
		drop_unused_code(a, c->code_hex);
		goto out;
	}
	if (commit(a, d->req, c) < 0) {
		drop_unused_code(a, c->code_hex);
		goto out;
	}
	registry_put(a->reg, fn_config_ref(c));
	log_info("api: created function %s (code %.12s, %llu bytes)", c->name, c->code_hex,
	         (unsigned long long)c->code_size);
	reply_published(a, d->req, d->json, c, 201);
out:
	fn_config_unref(c);
}

static void deploy_done(void *arg);

/* Hands the request's body to the code pool; the deploy is answered from deploy_done, in
 * arrival order. name: the function (UpdateFunctionCode), "" for CreateFunction. */
static void deploy_start(struct api *a, struct front_req *req, enum deploy_op op, const char *name)
{
	struct deploys *ds = a->deploys;
	struct deploy *d = xcalloc(1, sizeof(*d));
	d->a = a;
	d->req = req;
	d->op = op;
	d->store = a->store;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->body = evbuffer_new();
	evbuffer_add_buffer(d->body, front_req_body(req)); /* moves the chains, copies nothing */
	TAILQ_INSERT_TAIL(&ds->list, d, link);
	ds->working++;
	log_info("api: %s%s%s: %zu bytes, checked and stored on the worker pool",
	         op == DEPLOY_CREATE ? "CreateFunction" : "UpdateFunctionCode", name[0] ? " " : "", name,
	         evbuffer_get_length(d->body));
	pool_submit(ds->pool, deploy_work, deploy_done, d);
}

void api__create_function(struct api *a, struct api_req *r)
{
	deploy_start(a, r->req, DEPLOY_CREATE, "");
}

void api__get_function(struct api *a, struct api_req *r, bool config_only)
{
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	struct fn_config *c = api__lookup_qual(a, r, api__param(r, "FunctionName"), name, qual, false, NULL);
	if (!c)
		return;
	json_t *cfg = config_json(a, c);
	/* Asked for at a qualifier, the ARN is the one asked for (an alias's included). */
	if (qual[0]) {
		autofree char *qarn = fn_arn_qualified(name, qual, a->region, a->account);
		json_object_set_new(cfg, "FunctionArn", json_string(qarn));
	}
	api__fncfg_runtime_version(a, name, cfg);
	if (config_only)
		return api__reply_json(r->req, 200, cfg);
	const char *host = front_req_header(r->req, "Host");
	autofree char *loc =
	    xasprintf("http://%s/lambdad/v1/code/%s.zip", host ? host : "127.0.0.1", c->code_hex);
	autofree char *arn = fn_arn(name, a->region, a->account);
	json_t *o = json_pack("{s:o, s:{s:s, s:s}, s:o}", "Configuration", cfg, "Code", "RepositoryType",
	                      "S3", "Location", loc, "Tags", api__tags_get(a, arn));
	/* As on AWS, Concurrency appears only when the function has a reservation. */
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	if (sc.reserved >= 0)
		json_object_set_new(o, "Concurrency",
		                    json_pack("{s:i}", "ReservedConcurrentExecutions", (int)sc.reserved));
	api__reply_json(r->req, 200, o);
}

/* Appends the versions of function name from index from ($LATEST is 0, version i is
 * i + 1) to list, up to maxn items; *last is the marker of the last one appended, and
 * the return whether some were left. */
static bool append_versions(struct api *a, const char *name, size_t from, json_t *list, long maxn,
                            char **last)
{
	size_t n = registry_version_count(a->reg, name) + 1;
	for (size_t i = from; i < n; i++) {
		if ((long)json_array_size(list) >= maxn)
			return true;
		struct fn_config *c =
		    i == 0 ? registry_get(a->reg, name) : registry_version_at(a->reg, name, i - 1);
		json_array_append_new(list, config_json(a, c));
		free(*last);
		*last = xasprintf("%s:%s", name, fn_version(c));
	}
	return false;
}

/* ListFunctions with FunctionVersion=ALL: every function's $LATEST and versions, in name
 * then version order; a marker is "name:version" of the last item of the previous page. */
static void list_all_versions(struct api *a, struct api_req *r, const char *marker, long maxn)
{
	json_t *list = json_array();
	autofree char *last = NULL;
	char mname[FN_NAME_MAX + 1] = "";
	const char *mver = NULL;
	if (marker && *marker) {
		const char *colon = strchr(marker, ':');
		size_t len = colon ? (size_t)(colon - marker) : strlen(marker);
		snprintf(mname, sizeof(mname), "%.*s", (int)(len > FN_NAME_MAX ? FN_NAME_MAX : len), marker);
		mver = colon ? colon + 1 : FN_LATEST;
	}
	bool more = false;
	if (mname[0] && registry_get(a->reg, mname)) {
		/* The rest of the marker's function: after $LATEST comes version index 1. */
		size_t from =
		    strcmp(mver, FN_LATEST) == 0 ? 1 : registry_version_after(a->reg, mname, mver) + 1;
		more = append_versions(a, mname, from, list, maxn, &last);
	}
	size_t n = registry_count(a->reg);
	for (size_t i = registry_after(a->reg, mname); !more && i < n; i++)
		more = append_versions(a, registry_at(a->reg, i)->name, 0, list, maxn, &last);
	json_t *o = json_pack("{s:o}", "Functions", list);
	if (more && last)
		json_object_set_new(o, "NextMarker", json_string(last));
	api__reply_json(r->req, 200, o);
}

void api__list_functions(struct api *a, struct api_req *r)
{
	const char *marker = front_req_query(r->req, "Marker");
	long maxn;
	if (api__max_items(r, 50, 10000, &maxn) < 0)
		return;
	const char *fv = front_req_query(r->req, "FunctionVersion");
	if (fv) {
		static const char *const all[] = {"ALL", NULL};
		struct err ve = {0};
		if (err_svc_enum(&ve, LAMBDA_ERR_VALIDATION, "functionVersion", fv, all) < 0)
			return api__reply_err(r->req, &ve);
		return list_all_versions(a, r, marker, maxn);
	}
	json_t *list = json_array();
	size_t i = registry_after(a->reg, marker);
	size_t n = registry_count(a->reg);
	const struct fn_config *last = NULL;
	for (; i < n && (long)json_array_size(list) < maxn; i++) {
		last = registry_at(a->reg, i);
		json_array_append_new(list, config_json(a, last));
	}
	json_t *o = json_pack("{s:o}", "Functions", list);
	if (i < n && last)
		json_object_set_new(o, "NextMarker", json_string(last->name));
	api__reply_json(r->req, 200, o);
}

/* DeleteFunction of one version: refused while an alias routes to it. */
static void delete_version(struct api *a, struct api_req *r, const char *name, const char *qual)
{
	struct fn_config *v = registry_version_get(a->reg, name, qual);
	if (!v)
		return api__not_found(a, r->req, name, qual);
	if (registry_version_aliased(a->reg, name, qual)) {
		json_t *names = json_array();
		for (size_t i = 0, n = registry_alias_count(a->reg, name); i < n; i++) {
			const struct fn_alias *al = registry_alias_at(a->reg, name, i);
			if (strcmp(al->version, qual) == 0 || strcmp(al->extra_version, qual) == 0)
				json_array_append_new(names, json_string(al->name));
		}
		autofree char *list = json_dumps(names, JSON_COMPACT);
		json_decref(names);
		return api__reply_error(
		    r->req, LAMBDA_ERR_RESOURCE_CONFLICT, NULL,
		    "Unable to delete version because the following aliases reference it: %s", list);
	}
	struct err e = {0};
	autofree char *key = xasprintf("%s:%s", name, qual);
	/* Its event invoke config goes with it, and its queued events to the dead-letter store. */
	async_function_deleted(a->async, key);
	if (api__provisioned_drop(a, name, qual, &e) < 0 ||
	    store_del(a->store, API_VERSIONS_COLL, key, STORE_REV_ANY, &e) < 0 ||
	    store_commit(a->store, &e) < 0)
		return api__reply_err(r->req, &e);
	char hex[65];
	memcpy(hex, v->code_hex, sizeof(hex));
	registry_version_del(a->reg, name, qual);
	sched_function_changed(a->sched, key, NULL);
	drop_unused_code(a, hex);
	log_info("api: deleted version %s of function %s", qual, name);
	api__reply_json(r->req, 204, NULL);
}

void api__delete_function(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (api__parse_ref(r, api__param(r, "FunctionName"), name, qual) < 0)
		return;
	if (strcmp(qual, FN_LATEST) == 0)
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "$LATEST version cannot be deleted without deleting the function.");
	struct fn_config *c = registry_get(a->reg, name);
	if (!c)
		return api__not_found(a, r->req, name, qual);
	if (qual[0] && fn_qual_kind(qual) != FN_QUAL_VERSION)
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "Deletion of aliases is not supported through DeleteFunction; use "
		                        "DeleteAlias for %s",
		                        qual);
	if (qual[0])
		return delete_version(a, r, name, qual);
	struct err e = {0};
	/* The versions' code blobs, dropped with them once the deletion is committed. */
	size_t nver = registry_version_count(a->reg, name);
	char(*vhex)[65] = xcalloc(nver + 1, sizeof(*vhex));
	for (size_t i = 0; i < nver; i++)
		memcpy(vhex[i], registry_version_at(a->reg, name, i)->code_hex, 65);
	/* Takes the function's scaling settings (reserved, provisioned, keep-alive), tags,
	 * code signing config binding, resource-based policy, and recursion and runtime
	 * management configs (fncfg.c) with it. */
	autofree char *arn = fn_arn(name, a->region, a->account);
	if (store_del(a->store, "functions", name, STORE_REV_ANY, &e) < 0 ||
	    store_del(a->store, "scaling", name, STORE_REV_ANY, &e) < 0 || api__tags_drop(a, arn, &e) < 0 ||
	    api__csc_unbind(a, name, &e) < 0 ||
	    store_del(a->store, "policies", name, STORE_REV_ANY, &e) < 0 ||
	    store_del(a->store, API_FNCFG_COLL, name, STORE_REV_ANY, &e) < 0 ||
	    api__versions_drop(a, name, &e) < 0 || api__provisioned_drop(a, name, NULL, &e) < 0 ||
	    store_commit(a->store, &e) < 0) {
		free(vhex);
		return api__reply_err(r->req, &e);
	}
	char hex[65];
	memcpy(hex, c->code_hex, sizeof(hex));
	json_t *layers = json_incref(c->layers);
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	for (size_t i = 0, n = registry_alias_count(a->reg, name); i < n; i++) {
		autofree char *key = xasprintf("%s:%s", name, registry_alias_at(a->reg, name, i)->name);
		api__furl_function_deleted(a, key); /* the aliases' function URLs */
	}
	registry_del(a->reg, name);
	api__furl_function_deleted(a, name);
	if (!fn_scaling_is_default(&sc))
		sched_set_scaling(a->sched, name, NULL, &FN_SCALING_DEFAULT);
	sched_function_changed(a->sched, name, NULL);
	async_function_deleted(a->async, name);
	drop_unused_code(a, hex);
	for (size_t i = 0; i < nver; i++)
		drop_unused_code(a, vhex[i]);
	free(vhex);
	drop_unused_layers(a, layers);
	json_decref(layers);
	log_info("api: deleted function %s", name);
	api__reply_json(r->req, 204, NULL);
}

/* Answers status with c (the function's new $LATEST), or with the version published
 * from it when body asks for Publish, as AWS answers CreateFunction and the updates. */
static void reply_published(struct api *a, struct front_req *req, json_t *body, struct fn_config *c,
                            int status)
{
	struct fn_config *v = NULL;
	struct err e = {0};
	if (!json_is_true(json_object_get(body, "Publish")))
		return api__reply_json(req, status, config_json(a, c));
	if (api__publish(a, c, NULL, &v, &e) < 0)
		return api__reply_err(req, &e);
	api__reply_json(req, status, config_json(a, v));
}

/* Shared tail of the two updates: RevisionId precondition, new revision, commit, publish. */
static void finish_update(struct api *a, struct front_req *req, json_t *body, struct fn_config *old,
                          struct fn_config *c, bool dry_run)
{
	json_t *rev = json_object_get(body, "RevisionId");
	if (rev && json_is_string(rev) && strcmp(json_string_value(rev), old->revision_id) != 0) {
		api__reply_error(req, LAMBDA_ERR_PRECONDITION_FAILED, NULL,
		                 "The Revision Id provided does not match the latest Revision Id. Call the "
		                 "GetFunction/GetAlias API to retrieve the latest Revision Id");
		drop_unused_code(a, c->code_hex);
		return;
	}
	if (dry_run) {
		api__reply_json(req, 200, config_json(a, c));
		drop_unused_code(a, c->code_hex);
		return;
	}
	c->last_modified_ms = clock_wall_ms();
	uuid_v4(c->revision_id);
	char oldhex[65];
	memcpy(oldhex, old->code_hex, sizeof(oldhex));
	json_t *old_layers = json_incref(old->layers);
	if (commit(a, req, c) < 0) {
		json_decref(old_layers);
		drop_unused_code(a, c->code_hex);
		return;
	}
	registry_put(a->reg, fn_config_ref(c)); /* drops the registry's reference to old */
	sched_function_changed(a->sched, c->name, c);
	/* Provisioned environments follow the new revision. */
	struct fn_scaling sc = registry_get_scaling(a->reg, c->name);
	if (sc.provisioned > 0)
		sched_set_scaling(a->sched, c->name, c, &sc);
	drop_unused_code(a, oldhex);
	drop_unused_layers(a, old_layers);
	json_decref(old_layers);
	reply_published(a, req, body, c, 200);
}

/* Whether c's extracted code has a regular file "bootstrap" at its root. */
static bool code_has_bootstrap(struct api *a, const struct fn_config *c)
{
	autofree char *dir = store_code_dir(a->store, c->code_hex);
	autofree char *boot = xasprintf("%s/bootstrap", dir);
	struct stat st;
	return stat(boot, &st) == 0 && S_ISREG(st.st_mode);
}

void api__update_configuration(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	json_t *body;
	struct fn_config *old = api__lookup_body(a, r, name, &body);
	if (!old)
		return;
	struct fn_config *c = fn_config_dup(old);
	struct err e = {0};
	/* UpdateFunctionConfiguration has no Publish in Lambda's model: AWS ignores one sent. */
	json_object_del(body, "Publish");
	json_t *layers = json_object_get(body, "Layers");
	if (fn_config_apply(c, body, false, &e) < 0 ||
	    (strcmp(c->runtime, old->runtime) != 0 && check_runtime(r->req, c, &e) < 0) ||
	    (layers && !json_is_null(layers) && api__layers_apply(a, c, layers, &e) < 0))
		api__reply_err(r->req, &e);
	else if ((strcmp(c->runtime, old->runtime) != 0 || (layers && !json_is_null(layers))) &&
	         fn_runtime_needs_bootstrap(c->runtime) && !code_has_bootstrap(a, c) &&
	         !api__layers_have_bootstrap(a, c))
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "The deployment package has no executable file named 'bootstrap' at its "
		                 "root, nor has any of its layers; runtime %s starts /var/task/bootstrap "
		                 "or /opt/bootstrap",
		                 c->runtime);
	else
		finish_update(a, r->req, body, old, c, false);
	fn_config_unref(c);
	json_decref(body);
}

static void deploy_finish_update(struct deploy *d)
{
	struct api *a = d->a;
	/* The function as it is now: a configuration update or a deploy answered since this
	 * one arrived is kept, and RevisionId is checked against the latest revision. */
	struct fn_config *old = registry_get(a->reg, d->name);
	if (!old) {
		api__not_found(a, d->req, d->name, "");
		drop_unused_code(a, d->hex);
		return;
	}
	struct fn_config *c = fn_config_dup(old);
	json_t *arch = json_object_get(d->json, "Architectures");
	struct err e = {0};
	if (arch) {
		json_t *only = json_pack("{s:O}", "Architectures", arch);
		int rc = fn_config_apply(c, only, false, &e);
		json_decref(only);
		if (rc < 0) {
			api__reply_err(d->req, &e);
			drop_unused_code(a, d->hex);
			goto out;
		}
	}
	if (deploy_set_code(d, c) < 0)
		goto out;
	/* The new code with the function's layers stays within the unzipped limit. */
	if (api__layers_size_check(c, &e) < 0) {
		api__reply_err(d->req, &e);
		drop_unused_code(a, d->hex);
		goto out;
	}
	finish_update(a, d->req, d->json, old, c, json_is_true(json_object_get(d->json, "DryRun")));
out:
	fn_config_unref(c);
}

void api__update_code(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	deploy_start(a, r->req, DEPLOY_UPDATE, name);
}

/* Answers d (its work is done), then frees it. */
static void deploy_finish(struct deploy *d)
{
	struct api *a = d->a;
	if (d->a->deploys->stopping) {
		api__reply_error(d->req, LAMBDA_ERR_SERVICE, NULL, "lambdad is shutting down");
		drop_unused_code(a, d->hex);
	} else if (!d->json) {
		api__reply_error(d->req, LAMBDA_ERR_INVALID_REQUEST_CONTENT, NULL,
		                 "Could not parse request body into json: %s", d->parse_err);
	} else if (d->op == DEPLOY_CREATE) {
		deploy_finish_create(d);
	} else {
		deploy_finish_update(d);
	}
	json_decref(d->json);
	free(d);
}

/* Loop thread, once d's work has returned: answers every deploy at the head of the
 * list whose work is done, so deploys are answered (and take effect) in arrival order
 * whatever order the workers finish in. */
static void deploy_done(void *arg)
{
	struct deploy *d = arg;
	struct deploys *ds = d->a->deploys;
	struct api *a = d->a;
	d->worked = true;
	ds->working--;
	while ((d = TAILQ_FIRST(&ds->list)) && d->worked) {
		TAILQ_REMOVE(&ds->list, d, link);
		deploy_finish(d);
	}
	drop_deferred_code(a);
}

int api__deploys_new(struct api *a, struct err *errp)
{
	struct deploys *ds = xcalloc(1, sizeof(*ds));
	TAILQ_INIT(&ds->list);
	int r = pool_new(a->base, 1, &ds->pool, errp);
	if (r < 0) {
		free(ds);
		return r;
	}
	a->deploys = ds;
	return 0;
}

void api__deploys_free(struct api *a)
{
	struct deploys *ds = a->deploys;
	if (!ds)
		return;
	/* Work under way is waited for (a worker cannot be cut short), and what it leaves
	 * is answered ServiceException and dropped: the loop no longer runs, so nothing
	 * would reach the client, and nothing half-done is committed. */
	ds->stopping = true;
	pool_free(ds->pool);
	ds->pool = NULL;
	LD_ASSERT(TAILQ_EMPTY(&ds->list));
	drop_deferred_code(a);
	free(ds->deferred);
	free(ds);
	a->deploys = NULL;
}

unsigned api_deploys_in_flight(const struct api *a)
{
	const struct deploy *d;
	unsigned n = 0;
	if (!a->deploys)
		return 0;
	TAILQ_FOREACH(d, &a->deploys->list, link)
		n++;
	return n;
}

void api__account_settings(struct api *a, struct api_req *r)
{
	/* Below 0 only when the server restarted with a smaller --account-concurrency. */
	long long unreserved = (long long)a->account_concurrency - (long long)registry_reserved_sum(a->reg);
	if (unreserved < 0)
		unreserved = 0;
	json_t *o = json_pack("{s:{s:I, s:I, s:I, s:i, s:i}, s:{s:I, s:I}}", "AccountLimit", "TotalCodeSize",
	                      (json_int_t)80530636800LL, "CodeSizeUnzipped", (json_int_t)CODEZIP_MAX_UNZIPPED,
	                      "CodeSizeZipped", (json_int_t)MAX_ZIP_BYTES, "ConcurrentExecutions",
	                      (int)a->account_concurrency, "UnreservedConcurrentExecutions", (int)unreserved,
	                      "AccountUsage", "TotalCodeSize", (json_int_t)registry_total_code_size(a->reg),
	                      "FunctionCount", (json_int_t)registry_count(a->reg));
	api__reply_json(r->req, 200, o);
}
