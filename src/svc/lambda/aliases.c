/* Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases, with the one
 * additional version of RoutingConfig.AdditionalVersionWeights. Kept in the store's
 * API_ALIASES_COLL under "name:alias" and in the registry. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "async/async.h"
#include "base/codec.h"

#define ALIAS_PATTERN "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"

static int bad_pattern(struct err *errp, const char *field, const char *v, const char *pattern)
{
	return err_svc(errp, LAMBDA_ERR_VALIDATION,
	               "1 validation error detected: Value '%.140s' at '%s' failed to satisfy constraint: "
	               "Member must satisfy regular expression pattern: %s",
	               v, field, pattern);
}

static int get_string(json_t *body, const char *key, const char **out, struct err *errp)
{
	json_t *v = json_object_get(body, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* Whether version ver ("$LATEST" or a number) of name exists; else the error. */
static int version_exists(struct api *a, const char *name, const char *ver, struct err *errp)
{
	if (strcmp(ver, FN_LATEST) == 0 || registry_version_get(a->reg, name, ver))
		return 0;
	autofree char *arn = fn_arn_qualified(name, ver, a->region, a->account);
	return err_svc(errp, LAMBDA_ERR_RESOURCE_NOT_FOUND, "Function not found: %s", arn);
}

static int check_version_field(const char *field, const char *ver, struct err *errp)
{
	enum fn_qual_kind k = fn_qual_kind(ver);
	if (k != FN_QUAL_LATEST && k != FN_QUAL_VERSION)
		return bad_pattern(errp, field, ver, "(\\$LATEST|[0-9]+)");
	return 0;
}

/* Applies a CreateAlias / UpdateAlias body to al (create: Name and FunctionVersion are
 * required), validating each field as AWS does. al may be half changed on failure. */
static int alias_apply(struct api *a, const char *name, struct fn_alias *al, json_t *body, bool create,
                       struct err *errp)
{
	const char *ver, *desc;
	int r;
	if ((r = get_string(body, "FunctionVersion", &ver, errp)) < 0 ||
	    (r = get_string(body, "Description", &desc, errp)) < 0)
		return r;
	if (create && !ver)
		return err_svc(
		    errp, LAMBDA_ERR_VALIDATION,
		    "1 validation error detected: Value null at 'functionVersion' failed to satisfy "
		    "constraint: Member must not be null");
	if (ver) {
		if ((r = check_version_field("functionVersion", ver, errp)) < 0)
			return r;
		snprintf(al->version, sizeof(al->version), "%s", ver);
	}
	if (desc) {
		if (strlen(desc) > 256)
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value at 'description' failed to satisfy "
			    "constraint: Member must have length less than or equal to 256");
		free(al->description);
		al->description = xstrdup(desc);
	}
	json_t *rc = json_object_get(body, "RoutingConfig");
	if (rc && !json_is_null(rc)) {
		json_t *w = json_object_get(rc, "AdditionalVersionWeights");
		if (!json_is_object(rc) || (w && !json_is_null(w) && !json_is_object(w)))
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "RoutingConfig.AdditionalVersionWeights must be a map of a version to a "
			    "weight");
		al->extra_version[0] = 0;
		al->extra_weight = 0.0;
		if (w && json_object_size(w) > 1)
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "Number of items in AdditionalVersionWeights cannot be greater than 1");
		const char *k;
		json_t *v;
		json_object_foreach(w, k, v) {
			if (fn_qual_kind(k) != FN_QUAL_VERSION)
				return bad_pattern(errp, "routingConfig.additionalVersionWeights.key", k,
				                   "[0-9]+");
			if (!json_is_number(v))
				return err_svc(
				    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
				    "RoutingConfig.AdditionalVersionWeights value for '%s' must be a "
				    "number",
				    k);
			double d = json_number_value(v);
			if (d < 0.0 || d > 1.0)
				return err_svc(errp, LAMBDA_ERR_VALIDATION,
				               "1 validation error detected: Value '%g' at "
				               "'routingConfig.additionalVersionWeights' failed to satisfy "
				               "constraint: Member must have value between 0.0 and 1.0",
				               d);
			snprintf(al->extra_version, sizeof(al->extra_version), "%s", k);
			al->extra_weight = d;
		}
	}
	if ((r = version_exists(a, name, al->version, errp)) < 0)
		return r;
	if (al->extra_version[0]) {
		if (strcmp(al->version, FN_LATEST) == 0)
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "$LATEST is not supported for an alias pointing to more than 1 version");
		if (strcmp(al->version, al->extra_version) == 0)
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "The function version %s is also the additional version of the alias's "
			    "RoutingConfig; an alias routes to two different versions",
			    al->version);
		if ((r = version_exists(a, name, al->extra_version, errp)) < 0)
			return r;
	}
	return 0;
}

/* Writes al (taken) as name's alias, committed, then into the registry; 0 or -errno. */
static int alias_commit(struct api *a, const char *name, struct fn_alias *al, struct err *errp)
{
	uuid_v4(al->revision_id);
	autofree char *key = xasprintf("%s:%s", name, al->name);
	autofree char *txt = fn_alias_to_stored(al);
	int r;
	if ((r = store_put(a->store, API_ALIASES_COLL, key, txt, strlen(txt), STORE_REV_ANY, NULL, errp)) <
	        0 ||
	    (r = store_commit(a->store, errp)) < 0) {
		fn_alias_free(al);
		return r;
	}
	registry_alias_put(a->reg, name, al);
	return 0;
}

static struct fn_alias *alias_dup(const struct fn_alias *o)
{
	struct fn_alias *al = xmalloc(sizeof(*al));
	*al = *o;
	al->description = xstrdup(o->description);
	return al;
}

static void create_alias(struct api *a, struct api_req *r, const char *name, json_t *body)
{
	struct err e = {0};
	const char *aname;
	if (get_string(body, "Name", &aname, &e) < 0)
		return api__reply_err(r->req, &e);
	if (!aname)
		return api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
		                        "1 validation error detected: Value null at 'name' failed to satisfy "
		                        "constraint: Member must not be null");
	if (strlen(aname) > 128 || !aname[0])
		return api__reply_error(
		    r->req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.140s' at 'name' failed to "
		    "satisfy constraint: Member must have length %s",
		    aname, aname[0] ? "less than or equal to 128" : "greater than or equal to 1");
	if (fn_qual_kind(aname) != FN_QUAL_ALIAS) {
		bad_pattern(&e, "name", aname, ALIAS_PATTERN);
		return api__reply_err(r->req, &e);
	}
	struct fn_alias *al = xcalloc(1, sizeof(*al));
	snprintf(al->name, sizeof(al->name), "%s", aname);
	al->description = xstrdup("");
	if (alias_apply(a, name, al, body, true, &e) < 0) {
		fn_alias_free(al);
		return api__reply_err(r->req, &e);
	}
	if (registry_alias_get(a->reg, name, aname)) {
		autofree char *arn = fn_arn_qualified(name, aname, a->region, a->account);
		fn_alias_free(al);
		return api__reply_error(r->req, LAMBDA_ERR_RESOURCE_CONFLICT, NULL,
		                        "Alias already exists: %s", arn);
	}
	if (alias_commit(a, name, al, &e) < 0)
		return api__reply_err(r->req, &e);
	log_info("api: alias %s of %s -> %s", al->name, name, al->version);
	api__reply_json(r->req, 201, fn_alias_to_api(al, name, a->region, a->account));
}

static void list_aliases(struct api *a, struct api_req *r, const char *name)
{
	const char *marker = front_req_query(r->req, "Marker");
	const char *fver = front_req_query(r->req, "FunctionVersion");
	struct err e = {0};
	long maxn;
	if (api__max_items(r, 50, 10000, &maxn) < 0)
		return;
	if (maxn > 50)
		maxn = 50;
	if (fver && check_version_field("functionVersion", fver, &e) < 0)
		return api__reply_err(r->req, &e);
	json_t *list = json_array();
	size_t n = registry_alias_count(a->reg, name);
	size_t i = registry_alias_after(a->reg, name, marker);
	const struct fn_alias *last = NULL;
	for (; i < n && (long)json_array_size(list) < maxn; i++) {
		const struct fn_alias *al = registry_alias_at(a->reg, name, i);
		if (fver && strcmp(al->version, fver) != 0 && strcmp(al->extra_version, fver) != 0)
			continue;
		json_array_append_new(list, fn_alias_to_api(al, name, a->region, a->account));
		last = al;
	}
	json_t *o = json_pack("{s:o}", "Aliases", list);
	/* Another page only when a matching alias is left. */
	for (size_t j = i; last && j < n; j++) {
		const struct fn_alias *al = registry_alias_at(a->reg, name, j);
		if (!fver || strcmp(al->version, fver) == 0 || strcmp(al->extra_version, fver) == 0) {
			json_object_set_new(o, "NextMarker", json_string(last->name));
			break;
		}
	}
	api__reply_json(r->req, 200, o);
}

void api__aliases(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	const char *aname = api__param(r, "Name");
	if (!aname) {
		if (r->cmd == FRONT_GET)
			return list_aliases(a, r, name);
		json_t *body = api__body_json(r->req);
		if (!body)
			return;
		create_alias(a, r, name, body);
		json_decref(body);
		return;
	}
	struct fn_alias *al = registry_alias_get(a->reg, name, aname);
	autofree char *arn = fn_arn_qualified(name, aname, a->region, a->account);
	if (r->cmd == FRONT_DELETE) {
		/* DeleteAlias of an alias that is not there succeeds, as AWS's does. */
		struct err e = {0};
		autofree char *key = xasprintf("%s:%s", name, aname);
		if (al)
			async_function_deleted(a->async, key); /* its event invoke config and events */
		if (al && (api__provisioned_drop(a, name, aname, &e) < 0 ||
		           store_del(a->store, API_ALIASES_COLL, key, STORE_REV_ANY, &e) < 0 ||
		           store_commit(a->store, &e) < 0))
			return api__reply_err(r->req, &e);
		if (al) {
			api__furl_function_deleted(a, key); /* its function URL, if it has one */
			registry_alias_del(a->reg, name, aname);
			api__provisioned_sync(a, name);
			log_info("api: deleted alias %s of %s", aname, name);
		}
		return api__reply_json(r->req, 204, NULL);
	}
	if (!al)
		return api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
		                        "Cannot find alias arn: %s", arn);
	if (r->cmd == FRONT_GET)
		return api__reply_json(r->req, 200, fn_alias_to_api(al, name, a->region, a->account));
	/* UpdateAlias (PUT). */
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	struct err e = {0};
	const char *rev;
	struct fn_alias *nal = alias_dup(al);
	if (get_string(body, "RevisionId", &rev, &e) < 0 || alias_apply(a, name, nal, body, false, &e) < 0) {
		fn_alias_free(nal);
		api__reply_err(r->req, &e);
	} else if (rev && strcmp(rev, al->revision_id) != 0) {
		fn_alias_free(nal);
		api__reply_error(r->req, LAMBDA_ERR_PRECONDITION_FAILED, NULL,
		                 "The Revision Id provided does not match the latest Revision Id. Call the "
		                 "GetFunction/GetAlias API to retrieve the latest Revision Id");
	} else if (alias_commit(a, name, nal, &e) < 0) {
		api__reply_err(r->req, &e);
	} else {
		api__provisioned_sync(a, name); /* its provisioned environments follow its version */
		api__reply_json(r->req, 200, fn_alias_to_api(nal, name, a->region, a->account));
	}
	json_decref(body);
}
