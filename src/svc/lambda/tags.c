/* Tags on Lambda's taggable resources: TagResource, UntagResource and ListTags on
 * /2017-03-31/tags/{ARN}, Tags at CreateFunction and in GetFunction. A resource's tags are
 * one item of the "lambda.tags" collection keyed by its unqualified ARN (a function's or
 * a code signing config's), dropped with the resource. */
#include <errno.h>
#include <event2/http.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "svc/lambda/api_int.h"
#include "esm/esm.h"
#include "store/store.h"

#define TAGS_COLL "lambda.tags"

/* Code points of the UTF-8 text s (a jansson string is valid UTF-8). */
static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* AWS's pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]*: ASCII letters, digits, space and _.:/=+-@;
 * non-ASCII characters are taken as letters, separators or numbers. */
static bool tag_chars_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch >= 0x80 || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9'))
			continue;
		if (!strchr(" _.:/=+-@", ch))
			return false;
	}
	return true;
}

#define TAG_PATTERN "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"

int api__tags_check(json_t *tags, struct err *errp)
{
	if (!json_is_object(tags))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Tags must be an object of string keys to string values");
	if (json_object_size(tags) > API_TAGS_MAX)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Number of tags exceeds resource tag limit (%d).", API_TAGS_MAX);
	const char *k;
	json_t *v;
	json_object_foreach(tags, k, v) {
		size_t kl = utf8_len(k);
		if (kl < 1 || kl > API_TAG_KEY_MAX || !tag_chars_ok(k))
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value '%.140s' at 'tags' failed to "
			    "satisfy constraint: Map keys must satisfy constraint: [Member must have "
			    "length less than or equal to %d, Member must have length greater than "
			    "or equal to 1, Member must satisfy regular expression pattern: " TAG_PATTERN "]",
			    k, API_TAG_KEY_MAX);
		if (strncasecmp(k, "aws:", 4) == 0)
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "Invalid tag key '%.140s': tag keys starting with aws: (case insensitive) "
			    "are reserved for AWS use",
			    k);
		if (!json_is_string(v))
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "Tags: the value of tag '%.140s' must be a string", k);
		const char *s = json_string_value(v);
		if (utf8_len(s) > API_TAG_VALUE_MAX || !tag_chars_ok(s))
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value '%.260s' at 'tags' failed to "
			    "satisfy constraint: Map value must satisfy constraint: [Member must "
			    "have length less than or equal to %d, Member must have length greater "
			    "than or equal to 0, Member must satisfy regular expression pattern: " TAG_PATTERN
			    "]",
			    s, API_TAG_VALUE_MAX);
	}
	return 0;
}

json_t *api__tags_get(struct api *a, const char *arn)
{
	autofree char *txt = NULL;
	struct err e = {0};
	if (store_get(a->store, TAGS_COLL, arn, &txt, NULL, NULL, &e) < 0)
		return json_object();
	json_t *o = json_loads(txt, 0, NULL);
	if (!json_is_object(o)) {
		log_warn("store: tags of %s are not an object (ignored)", arn);
		json_decref(o);
		return json_object();
	}
	return o;
}

/* Writes o (borrowed) as arn's tags, the item dropped when o is empty; not committed. */
static int tags_write(struct api *a, const char *arn, json_t *o, struct err *errp)
{
	if (json_object_size(o) == 0)
		return store_del(a->store, TAGS_COLL, arn, STORE_REV_ANY, errp);
	autofree char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	return store_put(a->store, TAGS_COLL, arn, txt, strlen(txt), STORE_REV_ANY, NULL, errp);
}

int api__tags_add(struct api *a, const char *arn, json_t *tags, struct err *errp)
{
	if (api__tags_check(tags, errp) < 0)
		return -EINVAL;
	json_t *o = api__tags_get(a, arn);
	json_object_update(o, tags);
	int r = 0;
	if (json_object_size(o) > API_TAGS_MAX)
		r = err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		            "Number of tags exceeds resource tag limit (%d).", API_TAGS_MAX);
	else
		r = tags_write(a, arn, o, errp);
	json_decref(o);
	return r;
}

int api__tags_drop(struct api *a, const char *arn, struct err *errp)
{
	return store_del(a->store, TAGS_COLL, arn, STORE_REV_ANY, errp);
}

/* The {Resource} ARN: 0 with the unqualified ARN a resource of this server has, or -1
 * after replying (ValidationException when it is not a taggable Lambda ARN,
 * InvalidParameterValueException for a version or alias, ResourceNotFoundException when
 * nothing has that ARN here). */
static int resolve(struct api *a, struct api_req *r, const char *arn, char **out)
{
	const char *p = arn && strncmp(arn, "arn:aws:lambda:", 15) == 0 ? arn + 15 : NULL;
	const char *region = p, *account = p ? strchr(p, ':') : NULL;
	const char *type = account ? strchr(account + 1, ':') : NULL;
	if (!type) {
		api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
		                 "1 validation error detected: Value '%.200s' at 'resource' failed to "
		                 "satisfy constraint: Member must be the ARN of a function or a code signing "
		                 "config (arn:aws:lambda:REGION:ACCOUNT:function:NAME)",
		                 arn ? arn : "");
		return -1;
	}
	bool here = (size_t)(account - region) == strlen(a->region) &&
	            strncmp(region, a->region, strlen(a->region)) == 0 &&
	            (size_t)(type - account - 1) == strlen(a->account) &&
	            strncmp(account + 1, a->account, strlen(a->account)) == 0;
	type++;
	if (strncmp(type, "function:", 9) == 0) {
		const char *name = type + 9;
		if (strchr(name, ':')) {
			api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
			                 "Tags are not supported on function aliases and versions: %.200s",
			                 arn);
			return -1;
		}
		if (!fn_name_valid(name)) {
			api__reply_error(
			    r->req, LAMBDA_ERR_VALIDATION, NULL,
			    "1 validation error detected: Value '%.200s' at 'resource' failed to "
			    "satisfy constraint: Member must be a function ARN with a valid name",
			    arn);
			return -1;
		}
		if (!here || !registry_get(a->reg, name)) {
			api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
			                 "Function not found: %.200s", arn);
			return -1;
		}
		*out = fn_arn(name, a->region, a->account);
		return 0;
	}
	if (strncmp(type, "event-source-mapping:", 21) == 0) {
		json_t *row = here ? esm_get(a->esm, type + 21) : NULL;
		if (!row) {
			api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
			                 "The resource you requested does not exist: %.200s", arn);
			return -1;
		}
		json_decref(row);
		*out = xstrdup(arn);
		return 0;
	}
	if (strncmp(type, "code-signing-config:", 20) == 0) {
		const char *id = type + 20;
		if (!api__csc_id_valid(id)) {
			api__reply_error(
			    r->req, LAMBDA_ERR_VALIDATION, NULL,
			    "1 validation error detected: Value '%.200s' at 'resource' failed to "
			    "satisfy constraint: Member must be a code signing config ARN "
			    "(code-signing-config:csc-<17 characters>)",
			    arn);
			return -1;
		}
		if (!here || !api__csc_exists(a, id)) {
			api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
			                 "The resource you requested does not exist: %.200s", arn);
			return -1;
		}
		*out = xstrdup(arn);
		return 0;
	}
	api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
	                 "1 validation error detected: Value '%.200s' at 'resource' failed to satisfy "
	                 "constraint: Member must be the ARN of a taggable Lambda resource (a function or "
	                 "a code signing config)",
	                 arn);
	return -1;
}

/* POST (TagResource {"Tags": {...}}), DELETE (UntagResource ?tagKeys=K&tagKeys=...) and
 * GET (ListTags) on /2017-03-31/tags/{Resource}. */
void api__tags(struct api *a, struct api_req *r)
{
	enum front_method m = r->cmd;
	if (m != FRONT_GET && m != FRONT_POST && m != FRONT_DELETE)
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "tags takes GET, POST or DELETE");
	autofree char *arn = NULL;
	if (resolve(a, r, api__param(r, "Resource"), &arn) < 0)
		return;
	if (m == FRONT_GET)
		return api__reply_json(r->req, 200, json_pack("{s:o}", "Tags", api__tags_get(a, arn)));
	struct err e = {0};
	if (m == FRONT_POST) {
		json_t *body = api__body_json(r->req);
		if (!body)
			return;
		json_t *tags = json_object_get(body, "Tags");
		int rc;
		if (!tags || json_is_null(tags))
			rc = err_svc(&e, LAMBDA_ERR_VALIDATION,
			             "1 validation error detected: Value null at 'tags' failed to satisfy "
			             "constraint: Member must not be null");
		else
			rc = api__tags_add(a, arn, tags, &e);
		json_decref(body);
		if (rc < 0 || store_commit(a->store, &e) < 0)
			return api__reply_err(r->req, &e);
		log_info("api: tagged %s", arn);
		return api__reply_json(r->req, 204, NULL);
	}
	/* UntagResource: every tagKeys of the query (the SDKs repeat the parameter). */
	const char *qs = front_req_query_string(r->req);
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	if (qs && evhttp_parse_query_str(qs, &q) < 0)
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "the query string is malformed");
	json_t *o = api__tags_get(a, arn);
	size_t nkeys = 0;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "tagKeys") != 0)
			continue;
		nkeys++;
		json_object_del(o, kv->value);
	}
	evhttp_clear_headers(&q);
	if (nkeys == 0) {
		json_decref(o);
		return api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
		                        "1 validation error detected: Value null at 'tagKeys' failed to "
		                        "satisfy constraint: Member must not be null");
	}
	int rc = tags_write(a, arn, o, &e);
	json_decref(o);
	if (rc < 0 || store_commit(a->store, &e) < 0)
		return api__reply_err(r->req, &e);
	log_info("api: untagged %zu key(s) of %s", nkeys, arn);
	api__reply_json(r->req, 204, NULL);
}
