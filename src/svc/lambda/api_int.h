/* What the API's own files share: the context, error replies and JSON helpers. */
#ifndef LAMBDAD_API_INT_H
#define LAMBDAD_API_INT_H

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>

#include "front/front.h"
#include "front/svc.h"
#include "svc/lambda/errors.h"
#include "registry/registry.h"
#include "svc/lambda/api.h"

struct api {
	struct event_base *base;
	struct store *store;
	struct sched *sched;
	struct registry *reg;
	struct async *async;     /* InvocationType Event */
	struct apigw *apigw;     /* HTTP APIs (apigw.c) */
	struct front_http *http; /* the listener (front/transport_http.h) */
	struct front *front;     /* the services on the endpoint (front/svc.h) */
	struct metrics *metrics; /* GET /metrics: the scheduler's and async's collectors */
	bool draining;           /* shutting down: new requests get 503 ServiceException */
	char *region;
	char *account;
	char *logs_dir;
	uint32_t account_concurrency;
	uint16_t port;            /* the port api_listen serves (FunctionUrl) */
	struct furl_table *furls; /* function URL configs (furl.c) */
	struct deploys *deploys;  /* code uploads worked on the code pool (functions.c) */
	struct esm *esm;          /* event source mappings and their pollers (esm.c, esm/) */
};

/* The parts of a request a handler reads: the request itself (front.h: headers, query,
 * body, and the answer) and the operation with its URI template's parameters. */
struct api_req {
	struct front_req *req;
	enum front_method cmd;
	const struct svc_call *call;
};

/* The decoded URI template parameter name ("FunctionName"), or NULL. */
static inline const char *api__param(const struct api_req *r, const char *name)
{
	return svc_param(r->call, name);
}

/* Replies with the AWS error shape: status, X-Amzn-ErrorType and {"Type","message"}.
 * extra (stolen, may be NULL) adds fields to the body. */
void api__reply_error(struct front_req *req, enum lambda_err e, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a fresh x-amzn-RequestId to req's answer, as every AWS reply carries one. */
void api__add_request_id(struct front_req *req);
/* Replies with status and JSON o (stolen; NULL sends no body). */
void api__reply_json(struct front_req *req, int status, json_t *o);
/* Answers an error from the modules below the API: a service error (err_svc) by its id
 * in errors.def, a store's refusal (EINVAL, EPERM, EFBIG) as InvalidParameterValue, and
 * anything else as ServiceException (logged). The one place errors become replies. */
void api__reply_err(struct front_req *req, const struct err *e);
/* Parses the body as a JSON object; replies InvalidRequestContentException and
 * returns NULL when it is not one. */
json_t *api__body_json(struct front_req *req);
/* The same for a body taken off the loop (*body, freed and set NULL), on a pool thread:
 * the JSON object it holds (owned; an empty body is {}), or NULL with why the text is
 * not one in why. Sends nothing. */
json_t *api__parse_body(struct evbuffer **body, char *why, size_t whylen);
/* The MaxItems query of the List operations into *out: def when absent, else an integer
 * in [1, hi]; replies ValidationException naming maxItems and returns -1 when it is not. */
int api__max_items(struct api_req *r, long def, long hi, long *out);
/* Whether s matches the POSIX extended regular expression re as a whole (a pattern that
 * does not compile matches nothing). */
bool api__full_match(const char *s, const char *re);
/* Reads the string member key of body (field: its name in AWS's validation messages) into
 * *out (borrowed; NULL when absent or null). required: absent or null is a
 * ValidationException; not a string is InvalidParameterValue. 0 or -EINVAL. */
int api__str_member(json_t *body, const char *key, const char *field, bool required, const char **out,
                    struct err *errp);
/* Parses the {FunctionName} segment ref (a name, partial or full ARN) and the Qualifier
 * query into name and qual ("" when none); replies and returns -1 when they are
 * malformed or disagree. */
int api__parse_ref(struct api_req *r, const char *ref, char name[FN_NAME_MAX + 1], char qual[FN_QUAL_SIZE]);
/* Resolves the {FunctionName} segment and the Qualifier; replies and returns
 * NULL if the function does not exist at that qualifier. */
struct fn_config *api__lookup(struct api *a, struct api_req *r, const char *ref, char name[FN_NAME_MAX + 1]);
/* Like api__lookup, for the operations that take versions and aliases: the configuration
 * ref and the Qualifier name (borrowed), $LATEST's, a version's, or for an alias its
 * version's (pick: chosen by the alias's weights, else its main version). qual gets the
 * qualifier ("" when none), *executed (may be NULL) the version's number or $LATEST.
 * Replies ResourceNotFoundException and returns NULL when there is no such qualifier. */
struct fn_config *api__lookup_qual(struct api *a, struct api_req *r, const char *ref,
                                   char name[FN_NAME_MAX + 1], char qual[FN_QUAL_SIZE], bool pick,
                                   const char **executed);
/* api__lookup of the {FunctionName} parameter, then api__body_json: returns the function
 * (borrowed) and *body (owned), or NULL with the reply sent and nothing to free. */
struct fn_config *api__lookup_body(struct api *a, struct api_req *r, char name[FN_NAME_MAX + 1],
                                   json_t **body);
void api__not_found(struct api *a, struct front_req *req, const char *name, const char *qual);

/* The services on the front (front/svc.h): the Lambda API (service.c), the function URL
 * data plane (furl.c), HTTP APIs' data plane (execute-api) and control plane (apigw.c). */
extern const struct svc lambda_svc;
extern const struct svc lambda_furl_svc;
extern const struct svc lambda_execute_api_svc;
extern const struct svc apigw_svc;
/* Adds them to f in their order (the data planes' claims first), with ctx a (borrowed). */
void api__front_add(struct front *f, struct api *a);

/* The deploys' code pool and queue (functions.c): api__deploys_new makes them (0 or a
 * negative errno); api__deploys_free waits for the work under way, answers what is left
 * ServiceException without committing it, and frees them (a->deploys NULL: no-op). */
int api__deploys_new(struct api *a, struct err *errp);
void api__deploys_free(struct api *a);

/* Versions and aliases (versions.c, aliases.c), kept in the store's collections
 * API_VERSIONS_COLL ("name:N" -> the version's stored configuration), API_VERNUM_COLL
 * (name -> the last number given) and API_ALIASES_COLL ("name:alias" -> the alias). */
#define API_VERSIONS_COLL "versions"
#define API_VERNUM_COLL "versions.last"
#define API_ALIASES_COLL "aliases"
/* Reads them into the registry at startup (after the functions): 0 or a negative errno. */
int api__versions_load(struct api *a, struct err *errp);
/* Publishes latest (the function's $LATEST, borrowed) as its next version, committed, with
 * description (NULL: latest's): *out (borrowed from the registry) is the new version, or
 * the last one when code and configuration did not change since. 0 or a negative errno. */
int api__publish(struct api *a, struct fn_config *latest, const char *description, struct fn_config **out,
                 struct err *errp);
/* Drops every version and alias row of function name, not committed, and stops their
 * environments (DeleteFunction of the whole function): 0 or a negative errno. */
int api__versions_drop(struct api *a, const char *name, struct err *errp);
void api__publish_version(struct api *a, struct api_req *r);
void api__list_versions(struct api *a, struct api_req *r);
/* CreateAlias (POST .../aliases), ListAliases (GET .../aliases), Get/Update/Delete by
 * method on .../aliases/{Name}. */
void api__aliases(struct api *a, struct api_req *r);

/* Handlers. */
void api__create_function(struct api *a, struct api_req *r);
void api__list_functions(struct api *a, struct api_req *r);
void api__get_function(struct api *a, struct api_req *r, bool config_only);
void api__delete_function(struct api *a, struct api_req *r);
void api__update_configuration(struct api *a, struct api_req *r);
void api__update_code(struct api *a, struct api_req *r);
void api__invoke(struct api *a, struct api_req *r);
/* InvokeWithResponseStream: Invoke's checks (RequestResponse or DryRun only), then the
 * answer as an event stream (api__invoke_events). */
void api__invoke_with_response_stream(struct api *a, struct api_req *r);
/* Answers an invocation sched_invoke refused (rc, *e) as Invoke does: -EAGAIN is 429
 * TooManyRequestsException with its Reason and Retry-After, anything else api__reply_err. */
void api__reply_invoke_refused(struct front_req *req, int rc, const struct err *e);
void api__invoke_async(struct api *a, struct api_req *r);
void api__account_settings(struct api *a, struct api_req *r);
void api__ext_logs(struct api *a, struct api_req *r);
void api__ext_code(struct api *a, struct api_req *r);
/* Concurrency (concurrency.c): Put/Get/DeleteFunctionConcurrency, and
 * Put/Get/Delete/ListProvisionedConcurrencyConfig(s) by method and query. */
void api__put_concurrency(struct api *a, struct api_req *r);
void api__get_concurrency(struct api *a, struct api_req *r);
void api__delete_concurrency(struct api *a, struct api_req *r);
void api__provisioned_concurrency(struct api *a, struct api_req *r);
/* Provisioned concurrency configs on versions and aliases (concurrency.c), kept in the
 * registry and the store's "provisioned" collection: api__provisioned_load reads them at
 * startup (after versions and aliases); api__provisioned_sync hands the scheduler each
 * version's environments (its own config's and its aliases'), after any change to the
 * configs, the function's keep-alive or an alias; api__provisioned_drop removes name's
 * config on qual (NULL: all), not committed. */
int api__provisioned_load(struct api *a, struct err *errp);
void api__provisioned_sync(struct api *a, const char *name);
int api__provisioned_drop(struct api *a, const char *name, const char *qual, struct err *errp);
/* lambdad's own: POST .../prewarm, GET/PUT/DELETE .../keep-alive (concurrency.c). */
void api__ext_prewarm(struct api *a, struct api_req *r);
void api__ext_keep_alive(struct api *a, struct api_req *r);
/* Event invoke config (eventcfg.c): Put (PUT), Update (POST), Get, Delete by method
 * on .../event-invoke-config, and List on .../event-invoke-config/list; lambdad's
 * GET .../events/failed, POST .../events/replay, GET .../events/stats. */
void api__event_invoke_config(struct api *a, struct api_req *r);
void api__list_event_invoke_configs(struct api *a, struct api_req *r);
void api__ext_events(struct api *a, struct api_req *r);
/* Function URLs (furl.c): the control plane on /2021-10-31/functions/{Name}/url
 * (POST create, GET, PUT update, DELETE) and .../urls (GET list); the data plane takes
 * requests whose Host is <url-id>.lambda-url.<region>.localhost[:port] or whose path
 * starts with /lambda-url/<function-name>/ (lambda_furl_svc claims them). */
void api__function_url(struct api *a, struct api_req *r);
void api__list_function_urls(struct api *a, struct api_req *r);
/* Recursion, runtime management and function scaling configs (fncfg.c), GET or PUT
 * each; stored in the API_FNCFG_COLL collection under the function's name, which
 * DeleteFunction deletes with the function. */
#define API_FNCFG_COLL "fncfg"
void api__recursion_config(struct api *a, struct api_req *r);
void api__runtime_management_config(struct api *a, struct api_req *r);
void api__function_scaling_config(struct api *a, struct api_req *r);
/* Adds RuntimeVersionConfig {"RuntimeVersionArn"} to config (a GetFunctionConfiguration
 * answer of function name) when its runtime is pinned (UpdateRuntimeOn Manual). */
void api__fncfg_runtime_version(struct api *a, const char *name, json_t *config);

/* Resource-based policies (policy.c): AddPermission (POST), GetPolicy (GET) and
 * RemovePermission (DELETE) on .../policy[/{StatementId}], kept in the store's "policies"
 * collection by function name (DeleteFunction deletes the row). */
#define API_POLICY_MAX 20480 /* bytes of a policy document (PolicyLengthExceededException) */
void api__policy(struct api *a, struct api_req *r);
/* The statement AddPermission's body (borrowed) asks for on resource (an ARN): validated
 * as AWS validates it, Principal and Condition blocks written as AWS writes them. Returns
 * it (owned), or NULL with a service error in *errp naming the field. */
json_t *api__policy_statement(json_t *body, const char *resource, struct err *errp);
/* Appends statement st (stolen) to the policy document doc; -EINVAL (ResourceConflict)
 * when its Sid is there already, -EFBIG (PolicyLengthExceeded) when the document would
 * grow past API_POLICY_MAX; doc is unchanged on failure. */
int api__policy_add(json_t *doc, json_t *st, struct err *errp);
/* Removes the statement sid from doc; -EINVAL (ResourceNotFound) when it has none. */
int api__policy_remove(json_t *doc, const char *sid, struct err *errp);
/* Answers GetPolicy and GetLayerVersionPolicy: 200 {"Policy": the document of the
 * stored record rec (stolen) as compact JSON text, "RevisionId"}. */
void api__reply_policy(struct front_req *req, json_t *rec);

/* Loads the stored function URL configs into a->furls (at startup, after the
 * functions); returns 0 or a negative errno. api__furl_free releases them (NULL-safe).
 * api__furl_function_deleted drops the URL of a deleted function (store and memory). */
int api__furl_load(struct api *a, struct err *errp);
void api__furl_free(struct api *a);
void api__furl_function_deleted(struct api *a, const char *name);
/* InvokeMode RESPONSE_STREAM (stream.c): invokes cfg with event (drained) and relays
 * what the function streams to req as it comes (status, headers and cookies from its
 * prelude, then the body chunk by chunk); request_id is the one the event carries
 * (requestContext.requestId), kept by the invocation; extra (may be NULL) are headers to
 * add, the CORS ones. Replies itself in every case, errors included. */
void api__invoke_streaming(struct api *a, struct front_req *req, struct fn_config *cfg,
                           struct evbuffer *event, const char *request_id, const struct evkeyvalq *extra);
/* InvokeWithResponseStream's answer (stream.c): starts the invocation args (cfg, payload,
 * client context and want_tail set; cb, stream_cb, arg and request_id are set here) and
 * answers req 200 application/vnd.amazon.eventstream once the function streams or ends:
 * a PayloadChunk event for each piece as it comes (a function that does not stream: its
 * whole response in one), then InvokeComplete (ErrorCode and ErrorDetails when it failed,
 * LogResult when want_tail). A refused start (throttle) or lambdad's own failure before
 * any byte answers as Invoke does. Replies itself in every case. */
void api__invoke_events(struct api *a, struct front_req *req, struct sched_invoke_args *args);
/* HTTP APIs, API Gateway v2 (apigw.c): the control plane under /v2/apis, and the data
 * plane for Host <api-id>.execute-api.localhost[:port] or paths /apis/<api-id>/...;
 * lambda_execute_api_svc claims those; apigw_svc is the control plane. */

/* Tags (tags.c): TagResource (POST), UntagResource (DELETE), ListTags (GET) on
 * /2017-03-31/tags/{Resource}, a function's or a code signing config's ARN. */
#define API_TAGS_MAX 50
#define API_TAG_KEY_MAX 128
#define API_TAG_VALUE_MAX 256
void api__tags(struct api *a, struct api_req *r);
/* Checks a Tags object as AWS does (at most API_TAGS_MAX, keys 1-128 and values 0-256
 * characters of AWS's set, no aws: prefix): 0 or -EINVAL with the service error. */
int api__tags_check(json_t *tags, struct err *errp);
/* The tags of the resource arn (owned object, {} when none). */
json_t *api__tags_get(struct api *a, const char *arn);
/* Checks tags and merges them into arn's, not committed: 0 or a negative errno. */
int api__tags_add(struct api *a, const char *arn, json_t *tags, struct err *errp);
/* Drops arn's tags (with the resource), not committed: 0 or a negative errno. */
int api__tags_drop(struct api *a, const char *arn, struct err *errp);
/* Code signing configs (csc.c): the collection (functions: the GET of
 * ListFunctionsByCodeSigningConfig) and a function's binding. */
void api__csc(struct api *a, struct api_req *r, bool functions);
void api__function_csc(struct api *a, struct api_req *r);
/* Whether id has the shape csc-<17 of [a-z0-9]>; whether such a config is stored. */
bool api__csc_id_valid(const char *id);
bool api__csc_exists(struct api *a, const char *id);
/* Binds function name to the config ARN arn (a JSON string), not committed: 0, or
 * -EINVAL with ValidationException / CodeSigningConfigNotFoundException. name NULL:
 * only checks arn. */
int api__csc_bind(struct api *a, const char *name, json_t *arn, struct err *errp);
/* Drops name's binding, not committed (none: 0). */
int api__csc_unbind(struct api *a, const char *name, struct err *errp);

/* Event source mappings (esm.c): Create (POST) and List (GET) on
 * /2015-03-31/event-source-mappings[/], Get, Update (PUT) and Delete on .../{UUID}.
 * api__esm_new makes a->esm from the store's rows and starts its pollers (0 or a
 * negative errno). */
void api__esm(struct api *a, struct api_req *r);
int api__esm_new(struct api *a, struct err *errp);
/* Layers (layers.c): PublishLayerVersion, Get/Delete/ListLayerVersion(s), ListLayers,
 * GetLayerVersionByArn and the layer version permissions, by op; and a function's Layers. */
#define API_LAYER_NAME_MAX 140
#define API_LAYERS_MAX 5 /* layers of one function */
enum api_layer_op {
	API_LAYER_PUBLISH,
	API_LAYER_GET,
	API_LAYER_GET_BY_ARN,
	API_LAYER_LIST,
	API_LAYER_LIST_VERSIONS,
	API_LAYER_DELETE,
	API_LAYER_ADD_PERMISSION,
	API_LAYER_GET_POLICY,
	API_LAYER_REMOVE_PERMISSION,
};
void api__layers(struct api *a, struct api_req *r, enum api_layer_op op);
/* A layer (version) ARN's parts; region and account "" for a bare name, version 0 for a
 * layer ARN. */
struct api_layer_ref {
	char region[32];
	char account[13];
	char name[API_LAYER_NAME_MAX + 1];
	uint64_t version;
};
/* Parses arn:P:lambda:REGION:ACCOUNT:layer:NAME:VERSION into *ref: 0, or -EINVAL with
 * AWS's ValidationException naming 'arn'. */
int api__layer_parse_version_arn(const char *arn, struct api_layer_ref *ref, struct err *errp);
/* Parses a {LayerName}: a name (1-140 of [a-zA-Z0-9-_]) or a layer ARN; 0 or -EINVAL
 * naming 'layerName'. */
int api__layer_parse_name(const char *s, struct api_layer_ref *ref, struct err *errp);
/* Checks a function's Layers (borrowed): a list of at most API_LAYERS_MAX layer version
 * ARNs, no two of the same layer; their parts into refs[0..*count). 0 or -EINVAL with
 * the service error naming the field. */
int api__layers_check(json_t *list, struct api_layer_ref refs[API_LAYERS_MAX], size_t *count,
                      struct err *errp);
/* The statement AddLayerVersionPermission's body (borrowed) asks for on resource (the
 * version's ARN), as AWS writes it; owned, or NULL with the service error naming the field. */
json_t *api__layer_statement(json_t *body, const char *resource, struct err *errp);
/* Resolves list (a Layers request member, borrowed) into c->layers: every version must
 * exist, and the function's unzipped code (c->code_unzipped) plus the layers' must stay
 * within 250 MB. 0 or -EINVAL with AWS's InvalidParameterValueException; c unchanged
 * on failure. */
int api__layers_apply(struct api *a, struct fn_config *c, json_t *list, struct err *errp);
/* Whether one of c's layers has a regular file "bootstrap" at its root (at /opt, where a
 * custom runtime's code without one finds it). */
bool api__layers_have_bootstrap(struct api *a, const struct fn_config *c);
/* The same limit on c as it is (its code changed): 0 or -EINVAL. */
int api__layers_size_check(const struct fn_config *c, struct err *errp);
/* Whether the code blob hex is a function's code, one of its layers, or a layer
 * version's content. */
bool api__code_in_use(struct api *a, const char *hex);
/* Runs work(arg) on the code pool (functions.c), in order with the deploys and the
 * removals of code blobs, then done(arg) on the loop. */
void api__code_job(struct api *a, void (*work)(void *), void (*done)(void *), void *arg);
/* Whether the server is stopping: a code job's done answers ServiceException then. */
bool api__code_stopping(const struct api *a);
/* Removes the code blob hex (on the code pool) when api__code_in_use says no. */
void api__code_drop_unused(struct api *a, const char *hex);

/* GET /metrics, Prometheus text format (metrics.c). */
void api__metrics(struct api *a, struct api_req *r);

#endif
