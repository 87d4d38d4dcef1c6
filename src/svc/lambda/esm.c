/* Event source mappings through the Lambda API: Create/Get/Update/Delete/
 * ListEventSourceMappings, validated as AWS validates them, kept and run by esm/ (the
 * table in the store and the pollers). Only SQS queues are accepted as event sources
 * until the stream sources land. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/codec.h"
#include "esm/esm.h"
#include "esm/filter.h"
#include "svc/lambda/api_int.h"

#define LIST_MAX_DEFAULT 100
#define LIST_MAX 10000
#define SQS_BATCH_DEFAULT 10
#define SQS_BATCH_NO_WINDOW 10
#define BATCH_MAX 10000
#define WINDOW_MAX 300
#define CONC_MIN 2
#define CONC_MAX 1000
/* botocore's Arn pattern (\d as [0-9]), anchored. */
#define ARN_ERE                                                                                              \
	"^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9-])+:([a-z]{2}(-gov)?-[a-z]+-[0-9]{1})?:([0-9]{12})?:(.*)$"

/* Members that belong to other kinds of sources (streams, Kafka, MQ, DocumentDB). */
static const char *const NOT_FOR_SQS[] = {
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "TumblingWindowInSeconds",
    "DestinationConfig",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
    "ProvisionedPollerConfig",
    NULL,
};

static bool arn_valid(const char *s)
{
	static regex_t re;
	static bool compiled;
	if (!compiled) {
		if (regcomp(&re, ARN_ERE, REG_EXTENDED | REG_NOSUB) != 0)
			return false;
		compiled = true;
	}
	return regexec(&re, s, 0, NULL, 0) == 0;
}

static void reply_range(struct front_req *req, const char *field, long long v, long long lo, long long hi)
{
	api__reply_error(
	    req, LAMBDA_ERR_VALIDATION, NULL,
	    "1 validation error detected: Value '%lld' at '%s' failed to satisfy constraint: Member "
	    "must have value %s %lld",
	    v, field, v < lo ? "greater than or equal to" : "less than or equal to", v < lo ? lo : hi);
}

/* The optional integer member key of body within [lo, hi] into *out (left as it is when
 * absent or null). Returns 0, or -1 after replying. */
static int opt_int(struct front_req *req, json_t *body, const char *key, const char *field, long long lo,
                   long long hi, long long *out)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "%s must be an integer", key);
		return -1;
	}
	long long n = json_integer_value(v);
	if (n < lo || n > hi) {
		reply_range(req, field, n, lo, hi);
		return -1;
	}
	*out = n;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

/* The FunctionArn for the FunctionName member ref (a name, partial or full ARN, with a
 * qualifier): owned, or NULL after replying (malformed, or no such function). */
static char *function_arn(struct api *a, struct api_req *r, const char *ref)
{
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	struct err e = {0};
	if (strlen(ref) > 256) {
		api__reply_error(
		    r->req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.64s...' at 'functionName' failed to satisfy "
		    "constraint: Member must have length less than or equal to 256",
		    ref);
		return NULL;
	}
	if (fn_parse_ref(ref, name, qual, &e) < 0) {
		api__reply_err(r->req, &e);
		return NULL;
	}
	/* $LATEST, a version or an alias of the function. */
	autofree char *key = qual[0] ? xasprintf("%s:%s", name, qual) : xstrdup(name);
	if (!registry_get(a->reg, name) || !registry_resolve(a->reg, key, 0)) {
		api__not_found(a, r->req, name, qual);
		return NULL;
	}
	autofree char *arn = fn_arn(name, a->region, a->account);
	return qual[0] ? xasprintf("%s:%s", arn, qual) : steal_ptr(&arn);
}

/* Checks the members of body that a create and an update share, and writes them into row
 * (the mapping as it will be). Returns 0, or -1 after replying. */
static int apply_settings(struct api *a, struct api_req *r, json_t *body, json_t *row)
{
	struct front_req *req = r->req;
	for (size_t i = 0; NOT_FOR_SQS[i]; i++) {
		json_t *v = json_object_get(body, NOT_FOR_SQS[i]);
		if (v && !json_is_null(v)) {
			api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
			                 "Unsupported %s parameter for given event source mapping type.",
			                 NOT_FOR_SQS[i]);
			return -1;
		}
	}
	long long batch = json_integer_value(json_object_get(row, "BatchSize"));
	long long window = json_integer_value(json_object_get(row, "MaximumBatchingWindowInSeconds"));
	if (opt_int(req, body, "BatchSize", "batchSize", 1, BATCH_MAX, &batch) < 0 ||
	    opt_int(req, body, "MaximumBatchingWindowInSeconds", "maximumBatchingWindowInSeconds", 0,
	            WINDOW_MAX, &window) < 0)
		return -1;
	const char *arn = json_string_value(json_object_get(row, "EventSourceArn"));
	bool fifo = arn && strlen(arn) > 5 && strcmp(arn + strlen(arn) - 5, ".fifo") == 0;
	if (fifo && batch > SQS_BATCH_NO_WINDOW) {
		api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "Batch size for FIFO queues must be between 1 and 10, inclusive.");
		return -1;
	}
	if (fifo && window > 0) {
		api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "Batching window is not supported for FIFO queues.");
		return -1;
	}
	if (batch > SQS_BATCH_NO_WINDOW && window < 1) {
		api__reply_error(
		    req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
		    "greater than 10");
		return -1;
	}
	json_object_set_new(row, "BatchSize", json_integer(batch));
	json_object_set_new(row, "MaximumBatchingWindowInSeconds", json_integer(window));

	json_t *frt = json_object_get(body, "FunctionResponseTypes");
	if (frt && !json_is_null(frt)) {
		if (!json_is_array(frt)) {
			api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
			                 "FunctionResponseTypes must be a list");
			return -1;
		}
		if (json_array_size(frt) > 1) {
			api__reply_error(
			    req, LAMBDA_ERR_VALIDATION, NULL,
			    "1 validation error detected: Value at 'functionResponseTypes' failed to satisfy "
			    "constraint: Member must have length less than or equal to 1");
			return -1;
		}
		size_t i;
		json_t *t;
		json_array_foreach(frt, i, t) {
			const char *s = json_string_value(t);
			if (!s || strcmp(s, "ReportBatchItemFailures") != 0) {
				api__reply_error(
				    req, LAMBDA_ERR_VALIDATION, NULL,
				    "1 validation error detected: Value '[%.60s]' at 'functionResponseTypes' "
				    "failed to satisfy constraint: Member must satisfy constraint: [Member "
				    "must "
				    "satisfy enum value set: [ReportBatchItemFailures]]",
				    s ? s : "null");
				return -1;
			}
		}
		json_object_set(row, "FunctionResponseTypes", frt);
	}

	json_t *sc = json_object_get(body, "ScalingConfig");
	if (sc && !json_is_null(sc)) {
		if (!json_is_object(sc)) {
			api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
			                 "ScalingConfig must be an object");
			return -1;
		}
		long long mc = 0;
		if (opt_int(req, sc, "MaximumConcurrency", "scalingConfig.maximumConcurrency", CONC_MIN,
		            CONC_MAX, &mc) < 0)
			return -1;
		/* {} removes it. */
		if (mc)
			json_object_set_new(row, "ScalingConfig",
			                    json_pack("{s:I}", "MaximumConcurrency", mc));
		else
			json_object_del(row, "ScalingConfig");
	}

	json_t *fc = json_object_get(body, "FilterCriteria");
	if (fc && !json_is_null(fc)) {
		struct esm_filter *f = NULL;
		struct err e = {0};
		if (esm_filter_new(fc, &f, &e) < 0) {
			api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "%s", e.msg);
			return -1;
		}
		/* {} (or no filters) removes filtering. */
		if (f)
			json_object_set(row, "FilterCriteria", fc);
		else
			json_object_del(row, "FilterCriteria");
		esm_filter_free(f);
	}

	const char *echo[] = {"KMSKeyArn", "MetricsConfig", "LoggingConfig"};
	for (size_t i = 0; i < sizeof(echo) / sizeof(echo[0]); i++) {
		json_t *v = json_object_get(body, echo[i]);
		if (v && !json_is_null(v))
			json_object_set(row, echo[i], v);
	}

	json_t *fn = json_object_get(body, "FunctionName");
	if (fn && !json_is_null(fn)) {
		if (!json_is_string(fn) || json_string_length(fn) == 0) {
			api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
			                 "FunctionName must be a non-empty string");
			return -1;
		}
		autofree char *farn = function_arn(a, r, json_string_value(fn));
		if (!farn)
			return -1;
		json_object_set_new(row, "FunctionArn", json_string(farn));
	}
	return 0;
}

/* InvalidParameterValueException when the function may run longer than the source hides a
 * record (SQS: its visibility timeout), as AWS refuses it. */
static int check_lease(struct api *a, struct api_req *r, const struct esm_source_ops *ops, void *ctx,
                       json_t *row)
{
	char name[FN_NAME_MAX + 1];
	const char *arn = json_string_value(json_object_get(row, "EventSourceArn"));
	if (!ops->lease_s ||
	    !esm_arn_function(json_string_value(json_object_get(row, "FunctionArn")), name, sizeof(name)))
		return 0;
	struct fn_config *c = registry_get(a->reg, name);
	int64_t lease = ops->lease_s(ctx, arn);
	if (!c || lease < 0 || (int64_t)c->timeout_s <= lease)
		return 0;
	api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
	                 "Queue visibility timeout: %lld seconds is less than Function timeout: %u seconds",
	                 (long long)lease, c->timeout_s);
	return -1;
}

/* ResourceConflictException when another mapping joins the same source and function. */
static int check_conflict(struct api *a, struct api_req *r, json_t *row, const char *self)
{
	const char *src = json_string_value(json_object_get(row, "EventSourceArn"));
	const char *farn = json_string_value(json_object_get(row, "FunctionArn"));
	char name[FN_NAME_MAX + 1];
	if (!esm_arn_function(farn, name, sizeof(name)))
		return 0;
	const char *other = esm_find(a->esm, src, name, self);
	if (!other)
		return 0;
	api__reply_error(
	    r->req, LAMBDA_ERR_RESOURCE_CONFLICT, NULL,
	    "An event source mapping with SQS arn (\" %s \") and function (\" %s \") already exists. "
	    "Please update or delete the existing mapping with UUID %s",
	    src, name, other);
	return -1;
}

static void create(struct api *a, struct api_req *r)
{
	json_auto_t *body = api__body_json(r->req);
	if (!body)
		return;
	json_t *fn = json_object_get(body, "FunctionName");
	if (!fn || json_is_null(fn))
		return api__reply_error(
		    r->req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value null at 'functionName' failed to satisfy "
		    "constraint: Member must not be null");
	json_t *src = json_object_get(body, "EventSourceArn");
	if (!src || json_is_null(src))
		return api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "Unrecognized event source, must be kinesis, dynamodb stream or sqs. Unsupported "
		    "source arn : null");
	const char *arn = json_string_value(src);
	if (!arn || !arn_valid(arn))
		return api__reply_error(
		    r->req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.200s' at 'eventSourceArn' failed to "
		    "satisfy constraint: Member must satisfy regular expression pattern: "
		    "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:"
		    "(\\d{12})?:(.*)",
		    arn ? arn : "(not a string)");
	if (strncmp(arn, "arn:aws:kinesis:", 16) == 0 ||
	    (strncmp(arn, "arn:aws:dynamodb:", 17) == 0 && strstr(arn, "/stream/")))
		return api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "Kinesis and DynamoDB stream event sources are not supported by this server "
		    "yet: %s",
		    arn);
	if (strncmp(arn, "arn:aws:sqs:", 12) != 0)
		return api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "Unrecognized event source, must be kinesis, dynamodb stream or sqs. Unsupported "
		    "source arn : %s",
		    arn);
	json_t *en = json_object_get(body, "Enabled");
	if (en && !json_is_null(en) && !json_is_boolean(en))
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "Enabled must be a boolean");
	json_t *tags = json_object_get(body, "Tags");
	struct err e = {0};
	if (tags && !json_is_null(tags) && api__tags_check(tags, &e) < 0)
		return api__reply_err(r->req, &e);

	char uuid[37];
	uuid_v4(uuid);
	json_auto_t *row = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:[]}", "UUID", uuid, "BatchSize",
	                             (json_int_t)SQS_BATCH_DEFAULT, "MaximumBatchingWindowInSeconds",
	                             (json_int_t)0, "EventSourceArn", arn, "State", "Enabled",
	                             "StateTransitionReason", "USER_INITIATED", "FunctionResponseTypes");
	autofree char *esm_arn =
	    xasprintf("arn:aws:lambda:%s:%s:event-source-mapping:%s", a->region, a->account, uuid);
	json_object_set_new(row, "EventSourceMappingArn", json_string(esm_arn));
	if (apply_settings(a, r, body, row) < 0)
		return;
	/* The queue must exist (checked after the function, as AWS does). */
	void *ctx = NULL;
	const struct esm_source_ops *ops = esm_source_for(a->esm, arn, &ctx);
	if (!ops)
		return api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "Error occurred while ReceiveMessage. SQS Error Code: "
		    "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue "
		    "does not exist or you do not have access to it.");
	if (ops->check(ctx, arn, &e) < 0) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "%s", e.msg);
		return;
	}
	if (check_lease(a, r, ops, ctx, row) < 0)
		return;
	if (check_conflict(a, r, row, NULL) < 0)
		return;
	if (en && json_is_false(en))
		json_object_set_new(row, "State", json_string("Disabled"));
	json_object_set_new(row, "LastModified", json_real(now_s()));
	if (tags && !json_is_null(tags) && json_object_size(tags) && api__tags_add(a, esm_arn, tags, &e) < 0)
		return api__reply_err(r->req, &e);
	if (esm_put(a->esm, row, "Creating", &e) < 0)
		return api__reply_err(r->req, &e);
	json_object_set_new(row, "State", json_string("Creating"));
	api__reply_json(r->req, 202, json_incref(row));
}

static void update(struct api *a, struct api_req *r, const char *uuid)
{
	json_auto_t *row = esm_get(a->esm, uuid);
	if (!row)
		return api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
		                        "The resource you requested does not exist.");
	json_auto_t *body = api__body_json(r->req);
	if (!body)
		return;
	if (esm_busy(a->esm, uuid))
		return api__reply_error(
		    r->req, LAMBDA_ERR_RESOURCE_IN_USE, NULL,
		    "Cannot update the event source mapping because it is in use (state %s).",
		    json_string_value(json_object_get(row, "State")));
	json_t *en = json_object_get(body, "Enabled");
	if (en && !json_is_null(en) && !json_is_boolean(en))
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "Enabled must be a boolean");
	if (apply_settings(a, r, body, row) < 0)
		return;
	if (json_object_get(body, "FunctionName") && check_conflict(a, r, row, uuid) < 0)
		return;
	void *ctx = NULL;
	const struct esm_source_ops *ops =
	    esm_source_for(a->esm, json_string_value(json_object_get(row, "EventSourceArn")), &ctx);
	if (ops && json_object_get(body, "FunctionName") && check_lease(a, r, ops, ctx, row) < 0)
		return;
	bool was = strcmp(json_string_value(json_object_get(row, "State")), "Enabled") == 0;
	bool now = en && json_is_boolean(en) ? json_is_true(en) : was;
	const char *transitional = now == was ? "Updating" : now ? "Enabling" : "Disabling";
	json_object_set_new(row, "State", json_string(now ? "Enabled" : "Disabled"));
	json_object_set_new(row, "StateTransitionReason", json_string("USER_INITIATED"));
	json_object_set_new(row, "LastModified", json_real(now_s()));
	struct err e = {0};
	if (esm_put(a->esm, row, transitional, &e) < 0)
		return api__reply_err(r->req, &e);
	json_object_set_new(row, "State", json_string(transitional));
	api__reply_json(r->req, 202, json_incref(row));
}

static void list(struct api *a, struct api_req *r)
{
	long n;
	if (api__max_items(r, LIST_MAX_DEFAULT, LIST_MAX, &n) < 0)
		return;
	const char *src = front_req_query(r->req, "EventSourceArn");
	if (src && *src && !arn_valid(src))
		return api__reply_error(
		    r->req, LAMBDA_ERR_VALIDATION, NULL,
		    "1 validation error detected: Value '%.200s' at 'eventSourceArn' failed to "
		    "satisfy constraint: Member must satisfy regular expression pattern: "
		    "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:"
		    "(\\d{12})?:(.*)",
		    src);
	const char *fn = front_req_query(r->req, "FunctionName");
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (fn && *fn) {
		struct err e = {0};
		if (fn_parse_ref(fn, name, qual, &e) < 0)
			return api__reply_err(r->req, &e);
	}
	json_t *out = json_array();
	autofree char *next = esm_list(a->esm, front_req_query(r->req, "Marker"), src && *src ? src : NULL,
	                               fn && *fn ? name : NULL, (size_t)n, out);
	json_t *o = json_pack("{s:o}", "EventSourceMappings", out);
	if (next)
		json_object_set_new(o, "NextMarker", json_string(next));
	api__reply_json(r->req, 200, o);
}

void api__esm(struct api *a, struct api_req *r)
{
	const char *uuid = api__param(r, "UUID");
	if (!uuid) {
		if (r->cmd == FRONT_POST)
			return create(a, r);
		return list(a, r);
	}
	if (r->cmd == FRONT_PUT)
		return update(a, r, uuid);
	if (r->cmd == FRONT_GET) {
		json_t *row = esm_get(a->esm, uuid);
		if (!row)
			return api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
			                        "The resource you requested does not exist.");
		return api__reply_json(r->req, 200, row);
	}
	/* DELETE */
	if (esm_busy(a->esm, uuid)) {
		json_auto_t *row = esm_get(a->esm, uuid);
		return api__reply_error(
		    r->req, LAMBDA_ERR_RESOURCE_IN_USE, NULL,
		    "Cannot delete the event source mapping because it is in use (state %s).",
		    json_string_value(json_object_get(row, "State")));
	}
	json_t *last = NULL;
	struct err e = {0};
	int rc = esm_delete(a->esm, uuid, &last, &e);
	if (rc == -ENOENT)
		return api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
		                        "The resource you requested does not exist.");
	if (rc < 0)
		return api__reply_err(r->req, &e);
	if (api__tags_drop(a, json_string_value(json_object_get(last, "EventSourceMappingArn")), &e) < 0)
		log_warn("api: tags of mapping %s: %s", uuid, e.msg);
	api__reply_json(r->req, 202, last);
}

int api__esm_new(struct api *a, struct err *errp)
{
	struct esm_config cfg = {.base = a->base, .store = a->store, .reg = a->reg, .sched = a->sched};
	int r = esm_new(&cfg, &a->esm, errp);
	if (r == 0)
		esm_start(a->esm);
	return r;
}

struct esm *api_esm(struct api *a)
{
	return a->esm;
}
