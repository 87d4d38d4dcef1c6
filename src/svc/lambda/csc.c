/* Code signing configs: Create/Get/Update/Delete/ListCodeSigningConfigs on
 * /2020-04-22/code-signing-configs, Put/Get/DeleteFunctionCodeSigningConfig on
 * /2020-06-30/functions/{Name}/code-signing-config, ListFunctionsByCodeSigningConfig.
 * Stored and shown: lambdad checks no signature. A config is an item of "lambda.csc"
 * keyed by its id (csc-<17 hex>), its JSON the API's CodeSigningConfig; a function's
 * binding an item of "lambda.csc_functions" keyed by the function's name, the config's
 * ARN its value. */
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "svc/lambda/api_int.h"
#include "base/clock.h"
#include "store/store.h"

#define CSC_COLL "lambda.csc"
#define BIND_COLL "lambda.csc_functions"
#define CSC_ID_HEX 17
#define PUBLISHERS_MAX 20
#define DESCRIPTION_MAX 256
#define LIST_MAX 10000

bool api__csc_id_valid(const char *id)
{
	if (strncmp(id, "csc-", 4) != 0 || strlen(id) != 4 + CSC_ID_HEX)
		return false;
	for (const char *p = id + 4; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* The config id (csc-...) of arn when it is a code signing config ARN of this server,
 * else NULL (borrowed from arn). *malformed tells one not of the ARN's shape. */
static const char *arn_id(struct api *a, const char *arn, bool *malformed)
{
	*malformed = true;
	if (!arn)
		return NULL;
	autofree char *prefix = xasprintf("arn:aws:lambda:%s:%s:code-signing-config:", a->region, a->account);
	const char *id = strstr(arn, ":code-signing-config:");
	if (strncmp(arn, "arn:aws:lambda:", 15) != 0 || !id || !api__csc_id_valid(id + 21))
		return NULL;
	*malformed = false;
	return strncmp(arn, prefix, strlen(prefix)) == 0 ? arn + strlen(prefix) : NULL;
}

/* The stored config id (owned JSON), or NULL. */
static json_t *csc_load(struct api *a, const char *id)
{
	autofree char *txt = NULL;
	struct err e = {0};
	if (store_get(a->store, CSC_COLL, id, &txt, NULL, NULL, &e) < 0)
		return NULL;
	json_t *o = json_loads(txt, 0, NULL);
	if (!json_is_object(o)) {
		log_warn("store: code signing config %s is not an object (ignored)", id);
		json_decref(o);
		return NULL;
	}
	return o;
}

bool api__csc_exists(struct api *a, const char *id)
{
	json_t *o = csc_load(a, id);
	json_decref(o);
	return o != NULL;
}

/* Resolves the {CodeSigningConfigArn} parameter to its stored config (owned) and id;
 * replies ValidationException or ResourceNotFoundException and returns NULL. */
static json_t *csc_lookup(struct api *a, struct api_req *r, char id[32])
{
	const char *arn = api__param(r, "CodeSigningConfigArn");
	bool malformed;
	const char *p = arn_id(a, arn, &malformed);
	if (malformed) {
		api__reply_error(
		    r->req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.200s' at 'codeSigningConfigArn' failed "
		    "to satisfy constraint: Member must satisfy regular expression pattern: "
		    "arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1}:\\d{12}:"
		    "code-signing-config:csc-[a-z0-9]{17}",
		    arn ? arn : "");
		return NULL;
	}
	json_t *o = p ? csc_load(a, p) : NULL;
	if (!o) {
		api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
		                 "The code signing configuration cannot be found. Check that the provided "
		                 "configuration is not deleted: %.200s.",
		                 arn);
		return NULL;
	}
	snprintf(id, 32, "%s", p);
	return o;
}

static int null_field(struct err *errp, const char *field)
{
	return err_svc(errp, LAMBDA_ERR_VALIDATION,
	               "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
	               "Member must not be null",
	               field);
}

/* Applies AllowedPublishers, CodeSigningPolicies and Description of body to the config
 * o (create: AllowedPublishers required, the policy defaults to Warn). Returns 0 or
 * -EINVAL with the service error naming the field; o may be half changed. */
static int csc_apply(json_t *o, json_t *body, bool create, struct err *errp)
{
	json_t *ap = json_object_get(body, "AllowedPublishers");
	if (ap && !json_is_null(ap)) {
		json_t *arns = json_object_get(ap, "SigningProfileVersionArns");
		if (!json_is_object(ap) || !arns || json_is_null(arns))
			return null_field(errp, "allowedPublishers.signingProfileVersionArns");
		if (!json_is_array(arns))
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "AllowedPublishers.SigningProfileVersionArns must be a list of ARNs");
		size_t n = json_array_size(arns);
		if (n < 1 || n > PUBLISHERS_MAX)
			return err_svc(errp, LAMBDA_ERR_VALIDATION,
			               "1 validation error detected: Value '[...]' at "
			               "'allowedPublishers.signingProfileVersionArns' failed to satisfy "
			               "constraint: Member must have length %s %d",
			               n < 1 ? "greater than or equal to" : "less than or equal to",
			               n < 1 ? 1 : PUBLISHERS_MAX);
		size_t i;
		json_t *v;
		json_array_foreach(arns, i, v) {
			const char *s = json_string_value(v);
			if (!s || strncmp(s, "arn:aws", 7) != 0 || strlen(s) > 1024 || !strchr(s + 7, ':'))
				return err_svc(
				    errp, LAMBDA_ERR_VALIDATION,
				    "1 validation error detected: Value '%.200s' at "
				    "'allowedPublishers.signingProfileVersionArns.%zu.member' failed to "
				    "satisfy constraint: Member must satisfy regular expression "
				    "pattern: "
				    "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-"
				    "\\d{1})?:(\\d{12})?:(.*)",
				    s ? s : "(not a string)", i + 1);
		}
		json_object_set_new(o, "AllowedPublishers",
		                    json_pack("{s:O}", "SigningProfileVersionArns", arns));
	} else if (create) {
		return null_field(errp, "allowedPublishers");
	}
	json_t *cp = json_object_get(body, "CodeSigningPolicies");
	const char *policy = create ? "Warn" : NULL;
	if (cp && !json_is_null(cp)) {
		json_t *u = json_is_object(cp) ? json_object_get(cp, "UntrustedArtifactOnDeployment") : NULL;
		if (!json_is_object(cp) || (u && !json_is_null(u) && !json_is_string(u)))
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "CodeSigningPolicies must be an object with UntrustedArtifactOnDeployment "
			    "Warn or Enforce");
		if (json_is_string(u)) {
			policy = json_string_value(u);
			static const char *const modes[] = {"Warn", "Enforce", NULL};
			if (err_svc_enum(errp, LAMBDA_ERR_VALIDATION,
			                 "codeSigningPolicies.untrustedArtifactOnDeployment", policy,
			                 modes) < 0)
				return -EINVAL;
		} else if (!create) {
			policy = "Warn";
		}
	}
	if (policy)
		json_object_set_new(o, "CodeSigningPolicies",
		                    json_pack("{s:s}", "UntrustedArtifactOnDeployment", policy));
	json_t *d = json_object_get(body, "Description");
	if (d && !json_is_null(d)) {
		if (!json_is_string(d))
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "Description must be a string");
		if (json_string_length(d) > DESCRIPTION_MAX)
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value '%.40s...' at 'description' failed to "
			    "satisfy constraint: Member must have length less than or equal to %d",
			    json_string_value(d), DESCRIPTION_MAX);
		json_object_set(o, "Description", d);
	} else if (create) {
		json_object_set_new(o, "Description", json_string(""));
	}
	char lastmod[32];
	clock_fmt_lastmod(clock_wall_ms(), lastmod);
	json_object_set_new(o, "LastModified", json_string(lastmod));
	return 0;
}

static int csc_write(struct api *a, const char *id, json_t *o, struct err *errp)
{
	autofree char *txt = json_dumps(o, JSON_COMPACT);
	return store_put(a->store, CSC_COLL, id, txt, strlen(txt), STORE_REV_ANY, NULL, errp);
}

static void csc_create(struct api *a, struct api_req *r)
{
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	json_t *o = json_object();
	struct err e = {0};
	autofree char *arn = NULL;
	json_t *tags = json_object_get(body, "Tags");
	if (csc_apply(o, body, true, &e) < 0 ||
	    (tags && !json_is_null(tags) && api__tags_check(tags, &e) < 0))
		goto fail;
	unsigned char rnd[CSC_ID_HEX];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		err_svc(&e, LAMBDA_ERR_SERVICE, "no random bytes for the config's id");
		goto fail;
	}
	char id[4 + CSC_ID_HEX + 1] = "csc-";
	for (size_t i = 0; i < CSC_ID_HEX; i++)
		id[4 + i] = "0123456789abcdef"[rnd[i] & 15];
	id[4 + CSC_ID_HEX] = 0;
	arn = xasprintf("arn:aws:lambda:%s:%s:code-signing-config:%s", a->region, a->account, id);
	json_object_set_new(o, "CodeSigningConfigId", json_string(id));
	json_object_set_new(o, "CodeSigningConfigArn", json_string(arn));
	if (csc_write(a, id, o, &e) < 0 ||
	    (tags && !json_is_null(tags) && api__tags_add(a, arn, tags, &e) < 0) ||
	    store_commit(a->store, &e) < 0)
		goto fail;
	log_info("api: created code signing config %s", id);
	json_decref(body);
	return api__reply_json(r->req, 201, json_pack("{s:o}", "CodeSigningConfig", o));
fail:
	json_decref(body);
	json_decref(o);
	api__reply_err(r->req, &e);
}

struct scan {
	json_t *list;
	const char *want; /* bindings: the config ARN looked for */
	size_t max;
	char next[STORE_KEY_MAX + 1]; /* the last key taken when more follow */
	bool more;
	struct api *a;
};

static int scan_csc(const struct store_item *it, void *arg)
{
	struct scan *s = arg;
	if (json_array_size(s->list) == s->max) {
		s->more = true;
		return 1;
	}
	json_t *o = json_loads(it->value, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return 0;
	}
	json_array_append_new(s->list, o);
	snprintf(s->next, sizeof(s->next), "%s", it->key);
	return 0;
}

static int scan_bound(const struct store_item *it, void *arg)
{
	struct scan *s = arg;
	if (strcmp(it->value, s->want) != 0)
		return 0;
	if (json_array_size(s->list) == s->max) {
		s->more = true;
		return 1;
	}
	autofree char *arn = fn_arn(it->key, s->a->region, s->a->account);
	json_array_append_new(s->list, json_string(arn));
	snprintf(s->next, sizeof(s->next), "%s", it->key);
	return 0;
}

/* Runs the scan of coll after ?Marker= and replies {member: [...], NextMarker}. */
static void list_reply(struct api *a, struct api_req *r, const char *coll, store_scan_cb cb, const char *want,
                       const char *member)
{
	long max;
	if (api__max_items(r, 50, LIST_MAX, &max) < 0)
		return;
	struct scan s = {.list = json_array(), .want = want, .max = (size_t)max, .a = a};
	struct err e = {0};
	const char *marker = front_req_query(r->req, "Marker");
	int rc = store_scan(a->store, coll, NULL, marker && *marker ? marker : NULL, 0, cb, &s, &e);
	if (rc < 0) {
		json_decref(s.list);
		return api__reply_err(r->req, &e);
	}
	json_t *o = json_pack("{s:o}", member, s.list);
	if (s.more)
		json_object_set_new(o, "NextMarker", json_string(s.next));
	api__reply_json(r->req, 200, o);
}

/* Stops at the first function bound to the config ARN arg. */
static int scan_any(const struct store_item *it, void *arg)
{
	return strcmp(it->value, (const char *)arg) == 0 ? 1 : 0;
}

/* POST (create) and GET (list) on /2020-04-22/code-signing-configs; GET, PUT (update)
 * and DELETE on .../{CodeSigningConfigArn}; GET .../{Arn}/functions. */
void api__csc(struct api *a, struct api_req *r, bool functions)
{
	enum front_method m = r->cmd;
	if (!api__param(r, "CodeSigningConfigArn")) {
		if (m == FRONT_POST)
			return csc_create(a, r);
		if (m == FRONT_GET)
			return list_reply(a, r, CSC_COLL, scan_csc, NULL, "CodeSigningConfigs");
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "code-signing-configs takes GET or POST");
	}
	if (m != FRONT_GET && m != FRONT_PUT && m != FRONT_DELETE)
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "a code signing config takes GET, PUT or DELETE");
	char id[32];
	json_t *o = csc_lookup(a, r, id);
	if (!o)
		return;
	const char *arn = json_string_value(json_object_get(o, "CodeSigningConfigArn"));
	struct err e = {0};
	if (functions) {
		list_reply(a, r, BIND_COLL, scan_bound, arn, "FunctionArns");
		return json_decref(o);
	}
	if (m == FRONT_GET)
		return api__reply_json(r->req, 200, json_pack("{s:o}", "CodeSigningConfig", o));
	if (m == FRONT_PUT) {
		json_t *body = api__body_json(r->req);
		if (!body)
			return json_decref(o);
		int rc = csc_apply(o, body, false, &e);
		json_decref(body);
		if (rc < 0 || csc_write(a, id, o, &e) < 0 || store_commit(a->store, &e) < 0) {
			json_decref(o);
			return api__reply_err(r->req, &e);
		}
		log_info("api: updated code signing config %s", id);
		return api__reply_json(r->req, 200, json_pack("{s:o}", "CodeSigningConfig", o));
	}
	int used = store_scan(a->store, BIND_COLL, NULL, NULL, 0, scan_any, (void *)arn, &e);
	if (used != 0) {
		if (used > 0)
			api__reply_error(
			    r->req, LAMBDA_ERR_RESOURCE_CONFLICT, NULL,
			    "The code signing configuration %s cannot be deleted because it is used by "
			    "one or more functions.",
			    arn);
		else
			api__reply_err(r->req, &e);
		return json_decref(o);
	}
	if (store_del(a->store, CSC_COLL, id, STORE_REV_ANY, &e) < 0 || api__tags_drop(a, arn, &e) < 0 ||
	    store_commit(a->store, &e) < 0) {
		json_decref(o);
		return api__reply_err(r->req, &e);
	}
	log_info("api: deleted code signing config %s", id);
	json_decref(o);
	api__reply_json(r->req, 204, NULL);
}

int api__csc_bind(struct api *a, const char *name, json_t *arn, struct err *errp)
{
	const char *s = json_string_value(arn);
	if (!s)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "CodeSigningConfigArn must be a string");
	bool malformed;
	const char *id = arn_id(a, s, &malformed);
	if (malformed)
		return err_svc(
		    errp, LAMBDA_ERR_VALIDATION,
		    "1 validation error detected: Value '%.200s' at 'codeSigningConfigArn' failed to "
		    "satisfy constraint: Member must satisfy regular expression pattern: "
		    "arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1}:\\d{12}:"
		    "code-signing-config:csc-[a-z0-9]{17}",
		    s);
	if (!id || !api__csc_exists(a, id))
		return err_svc(errp, LAMBDA_ERR_CODE_SIGNING_CONFIG_NOT_FOUND,
		               "The code signing configuration cannot be found. Check that the provided "
		               "configuration is not deleted: %.200s.",
		               s);
	if (!name)
		return 0;
	return store_put(a->store, BIND_COLL, name, s, strlen(s), STORE_REV_ANY, NULL, errp);
}

int api__csc_unbind(struct api *a, const char *name, struct err *errp)
{
	return store_del(a->store, BIND_COLL, name, STORE_REV_ANY, errp);
}

/* PUT, GET and DELETE on /2020-06-30/functions/{Name}/code-signing-config. */
void api__function_csc(struct api *a, struct api_req *r)
{
	enum front_method m = r->cmd;
	if (m != FRONT_GET && m != FRONT_PUT && m != FRONT_DELETE)
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "code-signing-config takes GET, PUT or DELETE");
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	struct err e = {0};
	if (m == FRONT_GET) {
		autofree char *arn = NULL;
		int rc = store_get(a->store, BIND_COLL, name, &arn, NULL, NULL, &e);
		if (rc < 0 && rc != -ENOENT)
			return api__reply_err(r->req, &e);
		return api__reply_json(
		    r->req, 200,
		    json_pack("{s:s, s:s}", "CodeSigningConfigArn", arn ? arn : "", "FunctionName", name));
	}
	if (m == FRONT_DELETE) {
		if (api__csc_unbind(a, name, &e) < 0 || store_commit(a->store, &e) < 0)
			return api__reply_err(r->req, &e);
		log_info("api: %s: code signing config removed", name);
		return api__reply_json(r->req, 204, NULL);
	}
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	json_t *arn = json_object_get(body, "CodeSigningConfigArn");
	int rc = !arn || json_is_null(arn) ? null_field(&e, "codeSigningConfigArn")
	                                   : api__csc_bind(a, name, arn, &e);
	if (rc < 0 || store_commit(a->store, &e) < 0) {
		json_decref(body);
		return api__reply_err(r->req, &e);
	}
	log_info("api: %s: code signing config %s", name, json_string_value(arn));
	api__reply_json(r->req, 200,
	                json_pack("{s:O, s:s}", "CodeSigningConfigArn", arn, "FunctionName", name));
	json_decref(body);
}
