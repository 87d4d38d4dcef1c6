/* Event invoke config (Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s)) and
 * lambdad's own endpoints for asynchronous events: the dead-letter store and stats. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "async/async.h"
#include "base/codec.h"

/* The queue's key of the config a request names: the function's name for none or
 * $LATEST, "name:qualifier" for a version or an alias (which must exist). Replies and
 * returns NULL when there is no such function or qualifier; owned otherwise. */
static char *config_key(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (!api__lookup_qual(a, r, api__param(r, "FunctionName"), name, qual, false, NULL))
		return NULL;
	if (!qual[0] || strcmp(qual, FN_LATEST) == 0)
		return xstrdup(name);
	return xasprintf("%s:%s", name, qual);
}

void api__event_invoke_config(struct api *a, struct api_req *r)
{
	autofree char *name = config_key(a, r);
	if (!name)
		return;
	struct err e = {0};
	json_t *out = NULL;
	int rc;
	switch (r->cmd) {
	case FRONT_PUT:
	case FRONT_POST: {
		json_t *body = api__body_json(r->req);
		if (!body)
			return;
		rc = async_config_put(a->async, name, body, r->cmd == FRONT_PUT, &out, &e);
		json_decref(body);
		break;
	}
	case FRONT_GET:
		rc = async_config_get(a->async, name, &out, &e);
		break;
	case FRONT_DELETE:
		if ((rc = async_config_delete(a->async, name, &e)) == 0)
			return api__reply_json(r->req, 204, NULL);
		break;
	default:
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "event-invoke-config takes PUT, POST, GET or DELETE");
	}
	if (rc < 0)
		return api__reply_err(r->req, &e);
	api__reply_json(r->req, 200, out);
}

void api__list_event_invoke_configs(struct api *a, struct api_req *r)
{
	long maxn; /* checked only: one page holds them all */
	if (api__max_items(r, 50, 50, &maxn) < 0)
		return;
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	/* $LATEST's config, then the versions' in number order, then the aliases' in name
	 * order: all of them on one page (a function has few), so there is no NextMarker. */
	json_t *list = json_array(), *one = NULL;
	const char *marker = front_req_query(r->req, "Marker");
	if (!marker || !*marker) {
		if (async_config_get(a->async, name, &one, NULL) == 0)
			json_array_append_new(list, one);
		for (size_t i = 0, n = registry_version_count(a->reg, name); i < n; i++) {
			autofree char *key =
			    xasprintf("%s:%s", name, registry_version_at(a->reg, name, i)->version);
			if (async_config_get(a->async, key, &one, NULL) == 0)
				json_array_append_new(list, one);
		}
		for (size_t i = 0, n = registry_alias_count(a->reg, name); i < n; i++) {
			autofree char *key =
			    xasprintf("%s:%s", name, registry_alias_at(a->reg, name, i)->name);
			if (async_config_get(a->async, key, &one, NULL) == 0)
				json_array_append_new(list, one);
		}
	}
	api__reply_json(r->req, 200, json_pack("{s:o}", "FunctionEventInvokeConfigs", list));
}

/* GET .../events/failed (?payload=true: with the payloads), POST .../events/replay
 * {"RequestIds": [...]} (none: all),
 * GET .../events/stats. failed and stats work for a deleted function too. */
void api__ext_events(struct api *a, struct api_req *r)
{
	const char *op = api__param(r, "Op");
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	struct err e = {0};
	if (strcmp(op, "replay") == 0 && r->cmd == FRONT_POST) {
		if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
			return;
		json_t *body = api__body_json(r->req);
		if (!body)
			return;
		json_t *ids = json_object_get(body, "RequestIds");
		if (ids && !json_is_null(ids) && !json_is_array(ids)) {
			json_decref(body);
			return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
			                        "RequestIds must be a list of request ids");
		}
		size_t n = json_array_size(ids);
		autofree const char **v = xcalloc(n + 1, sizeof(*v));
		for (size_t i = 0; i < n; i++)
			if (!(v[i] = json_string_value(json_array_get(ids, i)))) {
				json_decref(body);
				return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
				                        "RequestIds must be a list of strings");
			}
		json_t *out = async_failed_replay(a->async, name, v, n, &e);
		json_decref(body);
		if (!out)
			return api__reply_err(r->req, &e);
		return api__reply_json(r->req, 200, out);
	}
	if (r->cmd != FRONT_GET || (strcmp(op, "failed") != 0 && strcmp(op, "stats") != 0))
		return api__reply_error(
		    r->req, LAMBDA_ERR_UNKNOWN_OPERATION, NULL,
		    "No operation at %s (GET events/failed, POST events/replay, GET events/stats)",
		    front_req_uri(r->req));
	if (fn_parse_ref(api__param(r, "FunctionName"), name, qual, &e) < 0)
		return api__reply_err(r->req, &e);
	if (strcmp(op, "stats") == 0)
		return api__reply_json(r->req, 200, async_stats(a->async, name));
	json_t *list = async_failed_list(a->async, name, &e);
	if (!list)
		return api__reply_err(r->req, &e);
	/* ?payload=true: each event with its payload, as a string (base64 if not UTF-8). */
	const char *with = front_req_query(r->req, "payload");
	bool payloads = with && strcmp(with, "true") == 0;
	for (size_t i = 0; payloads && i < json_array_size(list); i++) {
		json_t *ev = json_array_get(list, i);
		autofree char *p = NULL;
		size_t n = 0;
		if (async_failed_payload(a->async, name, json_string_value(json_object_get(ev, "RequestId")),
		                         &p, &n, &e) < 0)
			continue; /* replayed since the list was read */
		json_t *s = json_stringn(p, n);
		if (!s) {
			autofree char *b = b64_encode(p, n);
			json_object_set_new(ev, "PayloadBase64", json_string(b));
		} else {
			json_object_set_new(ev, "Payload", s);
		}
	}
	api__reply_json(r->req, 200, json_pack("{s:s, s:o}", "FunctionName", name, "Events", list));
}
