/* The rest of a function's configuration surface that lives beside its configuration:
 * Put/GetFunctionRecursionConfig, Put/GetRuntimeManagementConfig and
 * Put/GetFunctionScalingConfig. The settings are one JSON row of the "fncfg" collection
 * per function ({"RecursiveLoop", "UpdateRuntimeOn", "RuntimeVersionArn"}, a member only
 * when it is not AWS's default), kept apart from the configuration so that the function's
 * RevisionId does not change, and deleted with the function (functions.c).
 *
 * Recursive loop detection itself (stopping a chain of invocations through queues and
 * topics) waits for those services; the setting is stored and shown. Function scaling
 * configs belong to Lambda Managed Instances functions (functions with a capacity
 * provider), which lambdad does not have: the requests are validated as AWS validates
 * them and then refused as AWS refuses them for a function without a capacity provider. */
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"

#define RUNTIME_ARN_MIN 26
#define RUNTIME_ARN_MAX 2048
/* botocore's RuntimeVersionArn pattern, \d as [0-9] for POSIX ERE, anchored. */
#define RUNTIME_ARN_PATTERN                                                                                  \
	"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1}::runtime:.+"
#define RUNTIME_ARN_ERE                                                                                      \
	"^arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-[0-9]{1}::runtime:.+$"
#define SCALING_ENVS_MAX 15000 /* FunctionScalingConfigExecutionEnvironments */
#define QUALIFIER_PUBLISHED "$LATEST.PUBLISHED"

/* The function's stored row (owned; an empty object when it has none), or NULL after
 * replying ServiceException. */
static json_t *load_row(struct api *a, struct front_req *req, const char *name)
{
	struct err e = {0};
	autofree char *txt = NULL;
	size_t len = 0;
	int r = store_get(a->store, API_FNCFG_COLL, name, &txt, &len, NULL, &e);
	if (r == -ENOENT)
		return json_object();
	if (r < 0) {
		api__reply_err(req, &e);
		return NULL;
	}
	json_error_t je;
	json_t *o = json_loadb(txt, len, 0, &je);
	if (!json_is_object(o)) {
		/* A damaged row is AWS's defaults rather than a function nobody can configure. */
		log_warn("store: settings of %s: not a JSON object (defaults used)", name);
		json_decref(o);
		return json_object();
	}
	return o;
}

/* Stores row as the function's (dropped when it is empty) and commits. Replies
 * ServiceException and returns -1 if the store fails. */
static int save_row(struct api *a, struct front_req *req, const char *name, json_t *row)
{
	struct err e = {0};
	int r;
	if (json_object_size(row) == 0) {
		r = store_del(a->store, API_FNCFG_COLL, name, STORE_REV_ANY, &e);
	} else {
		autofree char *txt = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
		r = store_put(a->store, API_FNCFG_COLL, name, txt, strlen(txt), STORE_REV_ANY, NULL, &e);
	}
	if (r == 0)
		r = store_commit(a->store, &e);
	if (r < 0) {
		log_error("api: settings of %s: %s", name, e.msg);
		api__reply_err(req, &e);
		return -1;
	}
	return 0;
}

static void reply_null(struct front_req *req, const char *field)
{
	api__reply_error(req, LAMBDA_ERR_VALIDATION, NULL,
	                 "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
	                 "Member must not be null",
	                 field);
}

/* The string member key of body, one of the NULL-terminated values; replies the
 * ValidationException AWS gives (field: its member name in the message) and returns
 * NULL when it is missing, not a string or not one of them. */
static const char *required_enum(struct front_req *req, json_t *body, const char *key, const char *field,
                                 const char *const *values)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v)) {
		reply_null(req, field);
		return NULL;
	}
	if (!json_is_string(v)) {
		api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "%s must be a string", key);
		return NULL;
	}
	const char *s = json_string_value(v);
	struct err e = {0};
	if (err_svc_enum(&e, LAMBDA_ERR_VALIDATION, field, s, values) < 0) {
		api__reply_err(req, &e);
		return NULL;
	}
	size_t i = 0;
	while (strcmp(s, values[i]) != 0)
		i++;
	return values[i]; /* static, unlike s */
}

/* The function of the {FunctionName} segment when it must be unqualified (the model's
 * UnqualifiedFunctionName: no ":qualifier" in it, no Qualifier query); replies and
 * returns NULL otherwise or when it does not exist. */
static struct fn_config *lookup_unqualified(struct api *a, struct api_req *r, char name[FN_NAME_MAX + 1])
{
	const char *ref = api__param(r, "FunctionName");
	char qual[FN_QUAL_SIZE];
	struct err e = {0};
	if (fn_parse_ref(ref, name, qual, &e) < 0) {
		api__reply_err(r->req, &e);
		return NULL;
	}
	if (qual[0]) {
		api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
		                 "1 validation error detected: Value '%.140s' at 'functionName' failed to "
		                 "satisfy constraint: Member must be an unqualified function name or ARN",
		                 ref);
		return NULL;
	}
	struct fn_config *c = registry_get(a->reg, name);
	if (!c)
		api__not_found(a, r->req, name, "");
	return c;
}

/* ---- recursion ---- */

static const char *const recursive_loop_values[] = {"Allow", "Terminate", NULL};
#define RECURSIVE_LOOP_DEFAULT "Terminate"

/* GET|PUT /2024-08-31/functions/{Name}/recursion-config: {"RecursiveLoop": ...}. */
void api__recursion_config(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!lookup_unqualified(a, r, name))
		return;
	json_t *body = NULL, *row = NULL;
	if (r->cmd == FRONT_PUT) {
		if (!(body = api__body_json(r->req)))
			return;
		const char *v =
		    required_enum(r->req, body, "RecursiveLoop", "recursiveLoop", recursive_loop_values);
		if (!v || !(row = load_row(a, r->req, name)))
			goto out;
		if (strcmp(v, RECURSIVE_LOOP_DEFAULT) == 0)
			json_object_del(row, "RecursiveLoop");
		else
			json_object_set_new(row, "RecursiveLoop", json_string(v));
		if (save_row(a, r->req, name, row) < 0)
			goto out;
		log_info("api: %s: recursive loop %s", name, v);
	} else if (!(row = load_row(a, r->req, name))) {
		return;
	}
	const char *v = json_string_value(json_object_get(row, "RecursiveLoop"));
	api__reply_json(r->req, 200, json_pack("{s:s}", "RecursiveLoop", v ? v : RECURSIVE_LOOP_DEFAULT));
out:
	json_decref(row);
	json_decref(body);
}

/* ---- runtime management ---- */

static const char *const update_runtime_on_values[] = {"Auto", "Manual", "FunctionUpdate", NULL};
#define UPDATE_RUNTIME_ON_DEFAULT "Auto"

/* 0 when arn is a RuntimeVersionArn of the model (length and pattern); replies the
 * ValidationException and returns -1 otherwise. */
static int check_runtime_arn(struct front_req *req, const char *arn)
{
	size_t n = strlen(arn);
	if (n < RUNTIME_ARN_MIN || n > RUNTIME_ARN_MAX) {
		api__reply_error(
		    req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.64s' at 'runtimeVersionArn' failed to "
		    "satisfy constraint: Member must have length %s %d",
		    arn, n < RUNTIME_ARN_MIN ? "greater than or equal to" : "less than or equal to",
		    n < RUNTIME_ARN_MIN ? RUNTIME_ARN_MIN : RUNTIME_ARN_MAX);
		return -1;
	}
	regex_t re;
	if (regcomp(&re, RUNTIME_ARN_ERE, REG_EXTENDED | REG_NOSUB) != 0) {
		api__reply_error(req, LAMBDA_ERR_SERVICE, NULL, "runtimeVersionArn pattern does not compile");
		return -1;
	}
	int m = regexec(&re, arn, 0, NULL, 0);
	regfree(&re);
	if (m != 0) {
		api__reply_error(
		    req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.64s' at 'runtimeVersionArn' failed to "
		    "satisfy constraint: Member must satisfy regular expression pattern: %s",
		    arn, RUNTIME_ARN_PATTERN);
		return -1;
	}
	return 0;
}

/* The Put/GetRuntimeManagementConfig answer of row for function name (owned). */
static json_t *runtime_json(struct api *a, const char *name, json_t *row)
{
	const char *mode = json_string_value(json_object_get(row, "UpdateRuntimeOn"));
	const char *arn = json_string_value(json_object_get(row, "RuntimeVersionArn"));
	autofree char *farn = fn_arn(name, a->region, a->account);
	json_t *o = json_pack("{s:s, s:s}", "UpdateRuntimeOn", mode ? mode : UPDATE_RUNTIME_ON_DEFAULT,
	                      "FunctionArn", farn);
	if (arn)
		json_object_set_new(o, "RuntimeVersionArn", json_string(arn));
	return o;
}

static void put_runtime(struct api *a, struct api_req *r, const char *name)
{
	json_t *body = api__body_json(r->req), *row = NULL;
	if (!body)
		return;
	const char *mode =
	    required_enum(r->req, body, "UpdateRuntimeOn", "updateRuntimeOn", update_runtime_on_values);
	if (!mode)
		goto out;
	json_t *av = json_object_get(body, "RuntimeVersionArn");
	if (av && json_is_null(av))
		av = NULL;
	if (av && !json_is_string(av)) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "RuntimeVersionArn must be a string");
		goto out;
	}
	const char *arn = av ? json_string_value(av) : NULL;
	if (arn && check_runtime_arn(r->req, arn) < 0)
		goto out;
	bool manual = strcmp(mode, "Manual") == 0;
	if (manual && !arn) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "RuntimeVersionArn is required when UpdateRuntimeOn is Manual.");
		goto out;
	}
	if (!manual && arn) {
		api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "RuntimeVersionArn can be specified only when UpdateRuntimeOn is Manual, not %s.", mode);
		goto out;
	}
	if (!(row = load_row(a, r->req, name)))
		goto out;
	if (strcmp(mode, UPDATE_RUNTIME_ON_DEFAULT) == 0)
		json_object_del(row, "UpdateRuntimeOn");
	else
		json_object_set_new(row, "UpdateRuntimeOn", json_string(mode));
	if (arn)
		json_object_set_new(row, "RuntimeVersionArn", json_string(arn));
	else
		json_object_del(row, "RuntimeVersionArn");
	if (save_row(a, r->req, name, row) < 0)
		goto out;
	log_info("api: %s: runtime updates %s%s%s", name, mode, arn ? " " : "", arn ? arn : "");
	api__reply_json(r->req, 200, runtime_json(a, name, row));
out:
	json_decref(row);
	json_decref(body);
}

/* GET|PUT /2021-07-20/functions/{Name}/runtime-management-config[?Qualifier=]: the
 * qualifier is $LATEST or a published version (lambdad has only $LATEST; api__lookup
 * answers the others ResourceNotFoundException). */
void api__runtime_management_config(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	if (r->cmd == FRONT_PUT)
		return put_runtime(a, r, name);
	json_t *row = load_row(a, r->req, name);
	if (!row)
		return;
	api__reply_json(r->req, 200, runtime_json(a, name, row));
	json_decref(row);
}

/* lambdad's runtimes are not AWS's runtime versions: only a version the user pinned
 * (Manual) is shown; a read failure shows none (logged). */
void api__fncfg_runtime_version(struct api *a, const char *name, json_t *config)
{
	struct err e = {0};
	autofree char *txt = NULL;
	size_t len = 0;
	int r = store_get(a->store, API_FNCFG_COLL, name, &txt, &len, NULL, &e);
	if (r < 0) {
		if (r != -ENOENT)
			log_warn("api: settings of %s: %s", name, e.msg);
		return;
	}
	json_t *row = json_loadb(txt, len, 0, NULL);
	json_t *arn = json_object_get(row, "RuntimeVersionArn");
	if (json_is_string(arn))
		json_object_set_new(config, "RuntimeVersionConfig",
		                    json_pack("{s:O}", "RuntimeVersionArn", arn));
	json_decref(row);
}

/* ---- function scaling (Lambda Managed Instances) ---- */

/* 0 when the FunctionScalingConfig member of body, if any, has the model's shape
 * (MinExecutionEnvironments and MaxExecutionEnvironments integers from 0 to 15000);
 * replies and returns -1 otherwise. */
static int check_scaling_body(struct front_req *req, json_t *body)
{
	json_t *sc = json_object_get(body, "FunctionScalingConfig");
	if (!sc || json_is_null(sc))
		return 0;
	if (!json_is_object(sc)) {
		api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "FunctionScalingConfig must be an object");
		return -1;
	}
	static const char *const keys[][2] = {
	    {"MinExecutionEnvironments", "functionScalingConfig.minExecutionEnvironments"},
	    {"MaxExecutionEnvironments", "functionScalingConfig.maxExecutionEnvironments"}};
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(sc, keys[i][0]);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_integer(v)) {
			api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
			                 "FunctionScalingConfig.%s must be an integer", keys[i][0]);
			return -1;
		}
		json_int_t n = json_integer_value(v);
		if (n < 0 || n > SCALING_ENVS_MAX) {
			api__reply_error(
			    req, LAMBDA_ERR_VALIDATION, NULL,
			    "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
			    "constraint: Member must have value %s %d",
			    (long long)n, keys[i][1],
			    n < 0 ? "greater than or equal to" : "less than or equal to",
			    n < 0 ? 0 : SCALING_ENVS_MAX);
			return -1;
		}
	}
	return 0;
}

/* True when q is a PublishedFunctionQualifier: $LATEST.PUBLISHED or a version number. */
static bool published_qualifier(const char *q)
{
	if (strcmp(q, QUALIFIER_PUBLISHED) == 0)
		return true;
	if (!*q || strlen(q) > 128)
		return false;
	for (const char *p = q; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/* GET|PUT /2025-11-30/functions/{Name}/function-scaling-config?Qualifier=: the
 * Qualifier is required ($LATEST.PUBLISHED or a version). Only a function with a
 * capacity provider has a scaling config and lambdad has none, so once the request is
 * valid and the function's version exists the answer is InvalidParameterValueException. */
void api__function_scaling_config(struct api *a, struct api_req *r)
{
	const char *q = front_req_query(r->req, "Qualifier");
	if (!q)
		return reply_null(r->req, "qualifier");
	if (!published_qualifier(q))
		return api__reply_error(
		    r->req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.128s' at 'qualifier' failed to "
		    "satisfy constraint: Member must satisfy regular expression pattern: "
		    "(\\$LATEST\\.PUBLISHED|[0-9]+)",
		    q);
	if (r->cmd == FRONT_PUT) {
		json_t *body = api__body_json(r->req);
		if (!body)
			return;
		int ok = check_scaling_body(r->req, body);
		json_decref(body);
		if (ok < 0)
			return;
	}
	char name[FN_NAME_MAX + 1];
	if (!lookup_unqualified(a, r, name))
		return;
	/* A version must exist: api__lookup answers ResourceNotFoundException for one that
	 * does not. $LATEST.PUBLISHED is what a capacity provider function publishes to. */
	if (strcmp(q, QUALIFIER_PUBLISHED) != 0 && !api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
	                 "Function scaling configuration is supported only for functions with a capacity "
	                 "provider (Lambda Managed Instances); %s has none.",
	                 name);
}
