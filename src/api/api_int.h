/* What the API's own files share: the context, error replies and JSON helpers. */
#ifndef LAMBDAD_API_INT_H
#define LAMBDAD_API_INT_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"

enum api_error {
#define X(name, status, type) API_ERR_##name,
#include "api/api_errors.def"
#undef X
};

struct api {
	struct event_base *base;
	struct store *store;
	struct sched *sched;
	struct registry *reg;
	struct evhttp *http;
	char *region;
	char *account;
	char *logs_dir;
	uint32_t account_concurrency;
};

/* The parts of a request a handler reads. */
struct api_req {
	struct evhttp_request *req;
	enum evhttp_cmd_type cmd;
	char *segs[8];		/* decoded path segments (owned) */
	int nsegs;
	struct evkeyvalq query;	/* decoded query parameters */
};

/* Replies with the AWS error shape: status, X-Amzn-ErrorType and {"Type","message"}.
 * extra (stolen, may be NULL) adds fields to the body. */
void api_reply_error(struct evhttp_request *req, enum api_error e, json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Replies with status and JSON o (stolen; NULL sends no body). */
void api_reply_json(struct evhttp_request *req, int status, json_t *o);
/* Maps a registry/store error to the API error and replies. */
void api_reply_err(struct evhttp_request *req, const struct err *e);
/* Parses the body as a JSON object; replies InvalidRequestContentException and
 * returns NULL when it is not one. */
json_t *api_body_json(struct evhttp_request *req);
/* Resolves the {FunctionName} segment and the Qualifier; replies and returns
 * NULL if the function does not exist at that qualifier. */
struct fn_config *api_lookup(struct api *a, struct api_req *r, const char *ref, char name[FN_NAME_MAX + 1]);
void api_not_found(struct api *a, struct evhttp_request *req, const char *name, const char *qual);

/* Handlers. */
void api_create_function(struct api *a, struct api_req *r);
void api_list_functions(struct api *a, struct api_req *r);
void api_get_function(struct api *a, struct api_req *r, bool config_only);
void api_delete_function(struct api *a, struct api_req *r);
void api_update_configuration(struct api *a, struct api_req *r);
void api_update_code(struct api *a, struct api_req *r);
void api_invoke(struct api *a, struct api_req *r);
void api_account_settings(struct api *a, struct api_req *r);
void api_ext_logs(struct api *a, struct api_req *r);
void api_ext_code(struct api *a, struct api_req *r);

#endif
