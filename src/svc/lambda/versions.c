/* Versions: PublishVersion, ListVersionsByFunction, publishing from CreateFunction and
 * the updates (Publish), and the versions' and aliases' rows in the store. */
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

#define LIST_PAGE_MAX 50 /* versions per page, whatever MaxItems says (as AWS) */

/* Whether a and b have the same code and configuration: what a version is made of, not
 * its number, revision, date or description. */
static bool same_content(const struct fn_config *a, const struct fn_config *b)
{
	struct fn_config *x = fn_config_dup(a), *y = fn_config_dup(b);
	struct fn_config *both[2] = {x, y};
	for (int i = 0; i < 2; i++) {
		both[i]->version[0] = 0;
		memset(both[i]->revision_id, '0', 36);
		both[i]->last_modified_ms = 0;
		free(both[i]->description);
		both[i]->description = xstrdup("");
	}
	autofree char *sx = fn_config_to_stored(x);
	autofree char *sy = fn_config_to_stored(y);
	fn_config_unref(x);
	fn_config_unref(y);
	return strcmp(sx, sy) == 0;
}

int api__publish(struct api *a, struct fn_config *latest, const char *description, struct fn_config **out,
                 struct err *errp)
{
	const char *name = latest->name;
	size_t n = registry_version_count(a->reg, name);
	struct fn_config *last = n ? registry_version_at(a->reg, name, n - 1) : NULL;
	if (last && same_content(last, latest)) {
		*out = last;
		return 0;
	}
	uint32_t num = registry_version_last(a->reg, name) + 1;
	struct fn_config *v = fn_config_dup(latest);
	snprintf(v->version, sizeof(v->version), "%u", num);
	if (description) {
		free(v->description);
		v->description = xstrdup(description);
	}
	uuid_v4(v->revision_id);
	v->last_modified_ms = clock_wall_ms();
	autofree char *key = xasprintf("%s:%u", name, num);
	autofree char *txt = fn_config_to_stored(v);
	char nbuf[16];
	snprintf(nbuf, sizeof(nbuf), "%u", num);
	int r;
	if ((r = store_put(a->store, API_VERSIONS_COLL, key, txt, strlen(txt), STORE_REV_ANY, NULL, errp)) <
	        0 ||
	    (r = store_put(a->store, API_VERNUM_COLL, name, nbuf, strlen(nbuf), STORE_REV_ANY, NULL, errp)) <
	        0 ||
	    (r = store_commit(a->store, errp)) < 0) {
		fn_config_unref(v);
		return r;
	}
	registry_version_put(a->reg, v);
	log_info("api: published version %u of %s (code %.12s)", num, name, v->code_hex);
	*out = v;
	return 0;
}

void api__publish_version(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	json_t *body;
	struct fn_config *c = api__lookup_body(a, r, name, &body);
	if (!c)
		return;
	struct err e = {0};
	json_t *sha = json_object_get(body, "CodeSha256");
	json_t *rev = json_object_get(body, "RevisionId");
	json_t *desc = json_object_get(body, "Description");
	struct fn_config *v = NULL;
	if ((sha && !json_is_string(sha)) || (rev && !json_is_string(rev)) || (desc && !json_is_string(desc)))
		err_svc(&e, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s must be a string",
		        sha && !json_is_string(sha)   ? "CodeSha256"
		        : rev && !json_is_string(rev) ? "RevisionId"
		                                      : "Description");
	else if (desc && strlen(json_string_value(desc)) > 256)
		err_svc(&e, LAMBDA_ERR_VALIDATION,
		        "1 validation error detected: Value at 'description' failed to satisfy constraint: "
		        "Member must have length less than or equal to 256");
	else if (sha && strcmp(json_string_value(sha), c->code_b64) != 0)
		err_svc(&e, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		        "CodeSHA256 (%.64s) is different from current CodeSHA256 in $LATEST (%s). Please try "
		        "again with the CodeSHA256 in $LATEST.",
		        json_string_value(sha), c->code_b64);
	else if (rev && strcmp(json_string_value(rev), c->revision_id) != 0)
		err_svc(&e, LAMBDA_ERR_PRECONDITION_FAILED,
		        "The Revision Id provided does not match the latest Revision Id. Call the "
		        "GetFunction/GetAlias API to retrieve the latest Revision Id");
	else
		api__publish(a, c, desc ? json_string_value(desc) : NULL, &v, &e);
	json_decref(body);
	if (!v)
		return api__reply_err(r->req, &e);
	api__reply_json(r->req, 201, fn_config_to_api(v, a->region, a->account));
}

void api__list_versions(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	struct fn_config *c = api__lookup(a, r, api__param(r, "FunctionName"), name);
	if (!c)
		return;
	const char *marker = front_req_query(r->req, "Marker");
	long maxn;
	if (api__max_items(r, LIST_PAGE_MAX, 10000, &maxn) < 0)
		return;
	if (maxn > LIST_PAGE_MAX)
		maxn = LIST_PAGE_MAX;
	/* The list is $LATEST, then the versions in ascending order; a marker is the
	 * Version of the last item of the previous page. */
	if (marker && marker[0] && strcmp(marker, FN_LATEST) != 0 && fn_qual_kind(marker) != FN_QUAL_VERSION)
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "Marker %.64s is not one ListVersionsByFunction returned", marker);
	json_t *list = json_array();
	bool from_start = !marker || !marker[0];
	if (from_start)
		json_array_append_new(list, fn_config_to_api(c, a->region, a->account));
	size_t i =
	    from_start || strcmp(marker, FN_LATEST) == 0 ? 0 : registry_version_after(a->reg, name, marker);
	size_t n = registry_version_count(a->reg, name);
	const char *last = from_start ? FN_LATEST : NULL;
	for (; i < n && (long)json_array_size(list) < maxn; i++) {
		struct fn_config *v = registry_version_at(a->reg, name, i);
		json_array_append_new(list, fn_config_to_api(v, a->region, a->account));
		last = v->version;
	}
	json_t *o = json_pack("{s:o}", "Versions", list);
	if (i < n && last)
		json_object_set_new(o, "NextMarker", json_string(last));
	api__reply_json(r->req, 200, o);
}

static int load_version_cb(const struct store_item *it, void *arg)
{
	struct api *a = arg;
	struct err e = {0};
	struct fn_config *c = fn_config_from_stored(it->value, &e);
	if (!c || !c->version[0]) {
		log_error("store: version %s: %s (skipped)", it->key, c ? "no version number" : e.msg);
		fn_config_unref(c);
		return 0;
	}
	if (!registry_version_put(a->reg, c))
		log_warn("store: version %s of an unknown function (ignored)", it->key);
	return 0;
}

static int load_vernum_cb(const struct store_item *it, void *arg)
{
	struct api *a = arg;
	registry_version_set_last(a->reg, it->key, (uint32_t)strtoul(it->value, NULL, 10));
	return 0;
}

static int load_alias_cb(const struct store_item *it, void *arg)
{
	struct api *a = arg;
	char name[FN_NAME_MAX + 1];
	const char *colon = strchr(it->key, ':');
	struct fn_alias *al = fn_alias_from_stored(it->value);
	if (!al || !colon || (size_t)(colon - it->key) > FN_NAME_MAX) {
		log_error("store: alias %s is malformed (skipped)", it->key);
		fn_alias_free(al);
		return 0;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(colon - it->key), it->key);
	if (!registry_alias_put(a->reg, name, al))
		log_warn("store: alias %s of an unknown function (ignored)", it->key);
	return 0;
}

int api__versions_load(struct api *a, struct err *errp)
{
	int r;
	if ((r = store_scan(a->store, API_VERSIONS_COLL, NULL, NULL, 0, load_version_cb, a, errp)) < 0 ||
	    (r = store_scan(a->store, API_VERNUM_COLL, NULL, NULL, 0, load_vernum_cb, a, errp)) < 0 ||
	    (r = store_scan(a->store, API_ALIASES_COLL, NULL, NULL, 0, load_alias_cb, a, errp)) < 0)
		return r;
	return 0;
}

int api__versions_drop(struct api *a, const char *name, struct err *errp)
{
	autofree char *prefix = xasprintf("%s:", name);
	int r;
	for (size_t i = registry_version_count(a->reg, name); i-- > 0;) {
		struct fn_config *v = registry_version_at(a->reg, name, i);
		autofree char *key = xasprintf("%s:%s", name, v->version);
		if ((r = store_del(a->store, API_VERSIONS_COLL, key, STORE_REV_ANY, errp)) < 0)
			return r;
		sched_function_changed(a->sched, key, NULL);
		async_function_deleted(a->async, key);
	}
	for (size_t i = registry_alias_count(a->reg, name); i-- > 0;) {
		autofree char *key = xasprintf("%s:%s", name, registry_alias_at(a->reg, name, i)->name);
		if ((r = store_del(a->store, API_ALIASES_COLL, key, STORE_REV_ANY, errp)) < 0)
			return r;
		async_function_deleted(a->async, key);
	}
	return store_del(a->store, API_VERNUM_COLL, name, STORE_REV_ANY, errp);
}
