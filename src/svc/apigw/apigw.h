/* HTTP APIs, the API Gateway v2 subset lambdad serves: APIs with their integrations
 * (AWS_PROXY to a function), routes and stages; validated from the control plane's JSON
 * (lowerCamel, as the AWS CLI sends and reads it), kept in the store (collection "apigw.apis"), and
 * resolved to a function for each data-plane request. No HTTP here. */
#ifndef LAMBDAD_APIGW_H
#define LAMBDAD_APIGW_H

#include <jansson.h>
#include <lambdad/err.h>
#include <stdint.h>

#include "registry/fn.h"
#include "svc/apigw/errors.h"

/* The model reports API Gateway's own errors as service errors (err_svc, errp->svc one of
 * svc/apigw/errors.h: BAD_REQUEST, NOT_FOUND, CONFLICT) and returns -EINVAL. Anything else
 * is a storage failure. */

#define APIGW_API_ID_LEN 10
#define APIGW_TIMEOUT_DEFAULT_MS 30000

struct apigw;
struct store;
struct cors;

/* The children of an API. */
enum apigw_kind { APIGW_INTEGRATIONS, APIGW_ROUTES, APIGW_STAGES };

/* Loads every API from st (borrowed; it outlives the result), where changes are
 * committed from then on; account (copied) is the account id that messages name.
 * Returns 0 and *out (owned), or a negative errno with a message. */
int apigw_new(struct store *st, const char *account, struct apigw **out, struct err *errp);
void apigw_free(struct apigw *g); /* NULL is a no-op */

/* The control plane. Each call validates in (borrowed), commits the change to the
 * database before returning, and returns the object as the API shows it (owned; an
 * API without its apiEndpoint, which depends on how the client reached us), or NULL
 * with errp set (a service error or a storage error) and nothing changed. CreateApi with a
 * target is quick create: an AWS_PROXY integration (payload 2.0) to the target, the
 * route routeKey (default $default) to it, and the $default stage with autoDeploy. */
json_t *apigw_create_api(struct apigw *g, json_t *in, struct err *errp);
json_t *apigw_get_api(struct apigw *g, const char *api_id, struct err *errp);
json_t *apigw_update_api(struct apigw *g, const char *api_id, json_t *in, struct err *errp);
int apigw_delete_api(struct apigw *g, const char *api_id, struct err *errp);
/* Every API, in creation order (owned array). */
json_t *apigw_list_apis(struct apigw *g);

/* The same for an API's integrations, routes and stages; id is the integrationId,
 * routeId or stageName. */
json_t *apigw_create(struct apigw *g, const char *api_id, enum apigw_kind kind, json_t *in, struct err *errp);
json_t *apigw_get(struct apigw *g, const char *api_id, enum apigw_kind kind, const char *id,
                  struct err *errp);
json_t *apigw_update(struct apigw *g, const char *api_id, enum apigw_kind kind, const char *id, json_t *in,
                     struct err *errp);
int apigw_delete(struct apigw *g, const char *api_id, enum apigw_kind kind, const char *id, struct err *errp);
/* In creation order (owned array), or NULL with APIGW_ERR_NOT_FOUND when there is no such API. */
json_t *apigw_list(struct apigw *g, const char *api_id, enum apigw_kind kind, struct err *errp);

/* Whether an API api_id exists. */
bool apigw_has_api(struct apigw *g, const char *api_id);

/* The CORS configuration of API api_id (borrowed until the next change of the API), or
 * NULL when it has none or there is no such API. */
const struct cors *apigw_cors(struct apigw *g, const char *api_id);
/* DeleteCorsConfiguration: commits the API without its corsConfiguration. Returns 0, or
 * APIGW_ERR_NOT_FOUND (no such API) or a storage error with nothing changed. */
int apigw_delete_cors(struct apigw *g, const char *api_id, struct err *errp);

/* What a data-plane request resolves to. Borrowed fields live until the next change
 * of the API (the caller uses them at once, on the loop). */
struct apigw_target {
	const char *stage;     /* the stage's name: "$default" or the path's first segment */
	json_t *stage_vars;    /* the stage's variables, or NULL when it has none */
	size_t stage_prefix;   /* bytes of the path that name the stage ("/prod"), 0 for $default */
	const char *route_key; /* the matched route's key */
	const char *resource;  /* its path ("/items/{id}"), or "$default" */
	json_t *path_params;   /* owned object, or NULL when the route has no variables */
	bool has_integration;  /* false: the route has no (existing) integration */
	char fn_name[FN_NAME_MAX + 1];
	char fn_qual[FN_QUAL_SIZE]; /* the function's qualifier in the integrationUri, or "" */
	int version;                /* payload format: 1 or 2 */
	uint32_t timeout_ms;
};

/* Resolves method and path (as sent, without the query) for API api_id: the stage
 * (a first segment naming one of its stages, else $default) and the route within it,
 * as route.h chooses. Returns 0 with *t filled (fini it after), or -ENOENT when the
 * API, a stage or a route is missing (the client's 404). */
int apigw_resolve(struct apigw *g, const char *api_id, const char *method, const char *path,
                  struct apigw_target *t);
void apigw_target_fini(struct apigw_target *t);

/* Extracts the function reference from an integrationUri: a function ARN (optionally
 * qualified), a function name, or API Gateway's
 * arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations.
 * Returns 0, or -EINVAL with APIGW_ERR_BAD_REQUEST and a message. */
int apigw_parse_uri(const char *uri, char name[FN_NAME_MAX + 1], char qual[FN_QUAL_SIZE], struct err *errp);

#endif
