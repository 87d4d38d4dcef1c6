/* CreateFunction, GetFunction(Configuration), ListFunctions, UpdateFunctionCode,
 * UpdateFunctionConfiguration, DeleteFunction. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "async/async.h"
#include "base/clock.h"
#include "base/codec.h"
#include "runtimes/hostrt.h"

#define MAX_ZIP_BYTES 52428800u /* 50 MB: Lambda's direct upload limit */

static json_t *config_json(struct api *a, const struct fn_config *c)
{
	return fn_config_to_api(c, a->region, a->account);
}

/* Drops a code blob that no function uses any more. */
static void drop_unused_code(struct api *a, const char *hex)
{
	if (hex[0] && !registry_code_in_use(a->reg, hex))
		store_drop_code(a->store, hex);
}

/* Decodes Code.ZipFile (or ZipFile), stores and extracts it, and sets the code
 * fields of c. Returns 0, or a negative errno with the service error in *errp (the
 * caller replies); nothing new is left behind on failure. */
static int take_code(struct api *a, json_t *code, struct fn_config *c, struct err *errp)
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
	struct codezip_info info;
	int r = store_put_code(a->store, hex, zip, zlen, &info, errp);
	if (r < 0)
		return r;
	if (fn_runtime_needs_bootstrap(c->runtime) && !info.has_bootstrap) {
		drop_unused_code(a, hex);
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "The deployment package has no executable file named 'bootstrap' at its root; "
		               "runtime %s starts /var/task/bootstrap",
		               c->runtime);
	}
	memcpy(c->code_hex, hex, sizeof(hex));
	snprintf(c->code_b64, sizeof(c->code_b64), "%s", b64);
	c->code_size = zlen;
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

/* hostrt_check for c's runtime; an interpreter newer than the runtime identifier is
 * allowed with a warning, logged and sent in X-Lambdad-Warning (no field of the answer
 * carries one on AWS, and SDKs ignore headers they do not know; `lambdad deploy` prints it). */
static int check_runtime(struct api_req *r, const struct fn_config *c, struct err *e)
{
	char warn[512];
	if (hostrt_check(c->runtime, warn, sizeof(warn), e) < 0)
		return -1;
	if (warn[0]) {
		log_warn("api: function %s: %s", c->name, warn);
		front_reply_header(r->req, "X-Lambdad-Warning", warn);
	}
	return 0;
}

void api__create_function(struct api *a, struct api_req *r)
{
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	struct fn_config *c = fn_config_new();
	struct err e = {0};
	if (fn_config_apply(c, body, true, &e) < 0 || check_runtime(r, c, &e) < 0) {
		api__reply_err(r->req, &e);
		goto out;
	}
	if (registry_get(a->reg, c->name)) {
		api__reply_error(r->req, LAMBDA_ERR_RESOURCE_CONFLICT, NULL, "Function already exist: %s",
		                 c->name);
		goto out;
	}
	if (take_code(a, json_object_get(body, "Code"), c, &e) < 0) {
		api__reply_err(r->req, &e);
		goto out;
	}
	if (commit(a, r->req, c) < 0) {
		drop_unused_code(a, c->code_hex);
		goto out;
	}
	registry_put(a->reg, fn_config_ref(c));
	log_info("api: created function %s (code %.12s, %llu bytes)", c->name, c->code_hex,
	         (unsigned long long)c->code_size);
	api__reply_json(r->req, 201, config_json(a, c));
out:
	fn_config_unref(c);
	json_decref(body);
}

void api__get_function(struct api *a, struct api_req *r, bool config_only)
{
	char name[FN_NAME_MAX + 1];
	struct fn_config *c = api__lookup(a, r, api__param(r, "FunctionName"), name);
	if (!c)
		return;
	if (config_only)
		return api__reply_json(r->req, 200, config_json(a, c));
	const char *host = front_req_header(r->req, "Host");
	autofree char *loc =
	    xasprintf("http://%s/lambdad/v1/code/%s.zip", host ? host : "127.0.0.1", c->code_hex);
	json_t *o = json_pack("{s:o, s:{s:s, s:s}, s:{}}", "Configuration", config_json(a, c), "Code",
	                      "RepositoryType", "S3", "Location", loc, "Tags");
	/* As on AWS, Concurrency appears only when the function has a reservation. */
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	if (sc.reserved >= 0)
		json_object_set_new(o, "Concurrency",
		                    json_pack("{s:i}", "ReservedConcurrentExecutions", (int)sc.reserved));
	api__reply_json(r->req, 200, o);
}

void api__list_functions(struct api *a, struct api_req *r)
{
	const char *marker = front_req_query(r->req, "Marker");
	const char *max = front_req_query(r->req, "MaxItems");
	long maxn = 50;
	if (max) {
		char *end;
		maxn = strtol(max, &end, 10);
		if (!*max || *end || maxn < 1 || maxn > 10000)
			return api__reply_error(
			    r->req, LAMBDA_ERR_VALIDATION, NULL,
			    "1 validation error detected: Value '%.20s' at 'maxItems' failed to satisfy "
			    "constraint: Member must have value between 1 and 10000",
			    max);
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

void api__delete_function(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	const char *q = front_req_query(r->req, "Qualifier");
	if (q && strcmp(q, FN_LATEST) == 0)
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "$LATEST version cannot be deleted without deleting the function.");
	struct fn_config *c = api__lookup(a, r, api__param(r, "FunctionName"), name);
	if (!c)
		return;
	struct err e = {0};
	/* Takes the function's scaling settings (reserved, provisioned, keep-alive) with it. */
	if (store_del(a->store, "functions", name, STORE_REV_ANY, &e) < 0 ||
	    store_del(a->store, "scaling", name, STORE_REV_ANY, &e) < 0 || store_commit(a->store, &e) < 0)
		return api__reply_err(r->req, &e);
	char hex[65];
	memcpy(hex, c->code_hex, sizeof(hex));
	struct fn_scaling sc = registry_get_scaling(a->reg, name);
	registry_del(a->reg, name);
	api__furl_function_deleted(a, name);
	if (!fn_scaling_is_default(&sc))
		sched_set_scaling(a->sched, name, NULL, &FN_SCALING_DEFAULT);
	sched_function_changed(a->sched, name, NULL);
	async_function_deleted(a->async, name);
	drop_unused_code(a, hex);
	log_info("api: deleted function %s", name);
	api__reply_json(r->req, 204, NULL);
}

/* Shared tail of the two updates: RevisionId precondition, new revision, commit, publish. */
static void finish_update(struct api *a, struct api_req *r, json_t *body, struct fn_config *old,
                          struct fn_config *c, bool dry_run)
{
	json_t *rev = json_object_get(body, "RevisionId");
	if (rev && json_is_string(rev) && strcmp(json_string_value(rev), old->revision_id) != 0) {
		api__reply_error(r->req, LAMBDA_ERR_PRECONDITION_FAILED, NULL,
		                 "The Revision Id provided does not match the latest Revision Id. Call the "
		                 "GetFunction/GetAlias API to retrieve the latest Revision Id");
		drop_unused_code(a, c->code_hex);
		return;
	}
	if (dry_run) {
		api__reply_json(r->req, 200, config_json(a, c));
		drop_unused_code(a, c->code_hex);
		return;
	}
	c->last_modified_ms = clock_wall_ms();
	uuid_v4(c->revision_id);
	char oldhex[65];
	memcpy(oldhex, old->code_hex, sizeof(oldhex));
	if (commit(a, r->req, c) < 0) {
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
	api__reply_json(r->req, 200, config_json(a, c));
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
	if (fn_config_apply(c, body, false, &e) < 0 ||
	    (strcmp(c->runtime, old->runtime) != 0 && check_runtime(r, c, &e) < 0))
		api__reply_err(r->req, &e);
	else
		finish_update(a, r, body, old, c, false);
	fn_config_unref(c);
	json_decref(body);
}

void api__update_code(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	json_t *body;
	struct fn_config *old = api__lookup_body(a, r, name, &body);
	if (!old)
		return;
	struct fn_config *c = fn_config_dup(old);
	json_t *arch = json_object_get(body, "Architectures");
	struct err e = {0};
	if (arch) {
		json_t *only = json_pack("{s:O}", "Architectures", arch);
		int rc = fn_config_apply(c, only, false, &e);
		json_decref(only);
		if (rc < 0) {
			api__reply_err(r->req, &e);
			goto out;
		}
	}
	if (take_code(a, body, c, &e) < 0) {
		api__reply_err(r->req, &e);
		goto out;
	}
	finish_update(a, r, body, old, c, json_is_true(json_object_get(body, "DryRun")));
out:
	fn_config_unref(c);
	json_decref(body);
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
