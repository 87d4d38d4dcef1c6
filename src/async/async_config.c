/* Event invoke config (FunctionEventInvokeConfig): validation of API input, its JSON
 * form, and its items in the store (async_store.c). */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "async/async_int.h"
#include "base/clock.h"
#include "svc/lambda/errors.h"

void async__cfg_fini(struct async_cfg *c)
{
	free(c->on_success);
	free(c->on_failure);
	*c = (struct async_cfg){.max_retries = -1, .max_age_s = -1};
}

int32_t async__cfg_max_retries(const struct async_cfg *c)
{
	return c->present && c->max_retries >= 0 ? c->max_retries : ASYNC_RETRIES_DEFAULT;
}

int64_t async__cfg_max_age_ms(const struct async *q, const struct async_cfg *c)
{
	return (int64_t)(c->present && c->max_age_s >= 0 ? c->max_age_s : ASYNC_AGE_DEFAULT_S) *
	       q->age_unit_ms;
}

static json_t *dest_json(const char *arn)
{
	return arn ? json_pack("{s:s}", "Destination", arn) : json_object();
}

static json_t *cfg_json(struct async *q, const struct async_fn *f)
{
	autofree char *arn = fn_arn(f->name, q->region, q->account);
	autofree char *qarn = strchr(f->name, ':') ? xstrdup(arn) : xasprintf("%s:$LATEST", arn);
	json_t *o = json_pack("{s:f, s:s, s:{s:o, s:o}}", "LastModified", (double)f->cfg.modified_ms / 1000.0,
	                      "FunctionArn", qarn, "DestinationConfig", "OnSuccess",
	                      dest_json(f->cfg.on_success), "OnFailure", dest_json(f->cfg.on_failure));
	if (f->cfg.max_retries >= 0)
		json_object_set_new(o, "MaximumRetryAttempts", json_integer(f->cfg.max_retries));
	if (f->cfg.max_age_s >= 0)
		json_object_set_new(o, "MaximumEventAgeInSeconds", json_integer(f->cfg.max_age_s));
	return o;
}

static int no_config(struct async *q, const char *name, struct err *errp)
{
	autofree char *arn = fn_arn(name, q->region, q->account);
	return err_svc(errp, LAMBDA_ERR_RESOURCE_NOT_FOUND,
	               "The function %s%s doesn't have an EventInvokeConfig", arn,
	               strchr(name, ':') ? "" : ":$LATEST");
}

/* An optional integer field within [lo, hi] into *out (-1 when null or absent and
 * reset). Returns 0 or a negative REG_* code. */
static int get_bounded(json_t *body, const char *key, const char *field, long lo, long hi, bool reset,
                       int32_t *out, struct err *errp)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v)) {
		if (reset)
			*out = -1;
		return 0;
	}
	if (!json_is_integer(v))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s must be an integer", key);
	json_int_t i = json_integer_value(v);
	if (i < lo || i > hi)
		return err_svc(
		    errp, LAMBDA_ERR_VALIDATION,
		    "1 validation error detected: Value '%lld' at '%s' failed to satisfy constraint: "
		    "Member must have value %s %ld",
		    (long long)i, field, i < lo ? "greater than or equal to" : "less than or equal to",
		    i < lo ? lo : hi);
	*out = (int32_t)i;
	return 0;
}

/* DestinationConfig.<key>.Destination into *slot: absent keeps it (or clears it when
 * reset), null or "" clears it, else a valid target ARN for use replaces it. */
static int get_dest(struct async *q, const char *name, json_t *dc, const char *key, unsigned use, bool reset,
                    char **slot, struct err *errp)
{
	json_t *o = dc ? json_object_get(dc, key) : NULL;
	if (!o || json_is_null(o)) {
		if (reset) {
			free(*slot);
			*slot = NULL;
		}
		return 0;
	}
	if (!json_is_object(o))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "DestinationConfig.%s must be an object with Destination", key);
	json_t *d = json_object_get(o, "Destination");
	if (d && !json_is_null(d) && !json_is_string(d))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "DestinationConfig.%s.Destination must be a string", key);
	const char *arn = json_string_value(d);
	if (!arn || !arn[0]) {
		free(*slot);
		*slot = NULL;
		return 0;
	}
	if (strlen(arn) > 350)
		return err_svc(
		    errp, LAMBDA_ERR_VALIDATION,
		    "1 validation error detected: Value at 'destinationConfig.%s.destination' failed to "
		    "satisfy constraint: Member must have length less than or equal to 350",
		    key[2] == 'S' ? "onSuccess" : "onFailure");
	int r = async__target_check(q, arn, use, errp);
	if (r < 0)
		return r;
	char svc[16];
	char dname[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (async__target_service(arn, svc) == 0 && strcmp(svc, "lambda") == 0 &&
	    fn_parse_ref(arn, dname, qual, NULL) == 0 && strcmp(dname, name) == 0)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "You can't specify the function as a destination for itself.");
	free(*slot);
	*slot = xstrdup(arn);
	return 0;
}

int async_config_put(struct async *q, const char *name, json_t *body, bool replace, json_t **out,
                     struct err *errp)
{
	struct async_fn *f = async__fn_get(q, name, false);
	if (!replace && (!f || !f->cfg.present))
		return no_config(q, name, errp);
	struct async_cfg n = {.max_retries = -1, .max_age_s = -1};
	if (!replace && f) {
		n.max_retries = f->cfg.max_retries;
		n.max_age_s = f->cfg.max_age_s;
		n.on_success = xstrdup(f->cfg.on_success);
		n.on_failure = xstrdup(f->cfg.on_failure);
	}
	int r;
	json_t *dc = json_object_get(body, "DestinationConfig");
	if (dc && !json_is_null(dc) && !json_is_object(dc)) {
		r = err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		            "DestinationConfig must be an object with OnSuccess and OnFailure");
		goto fail;
	}
	if ((r = get_bounded(body, "MaximumRetryAttempts", "maximumRetryAttempts", 0, 2, replace,
	                     &n.max_retries, errp)) < 0 ||
	    (r = get_bounded(body, "MaximumEventAgeInSeconds", "maximumEventAgeInSeconds", 60, 21600, replace,
	                     &n.max_age_s, errp)) < 0 ||
	    (r = get_dest(q, name, dc, "OnSuccess", ASYNC_USE_ON_SUCCESS, replace, &n.on_success, errp)) <
	        0 ||
	    (r = get_dest(q, name, dc, "OnFailure", ASYNC_USE_ON_FAILURE, replace, &n.on_failure, errp)) < 0)
		goto fail;
	n.present = true;
	n.modified_ms = clock_wall_ms();
	struct err e = {0};
	if (async__store_put_config(q, name, &n, &e) < 0 || store_commit(q->st, &e) < 0) {
		log_error("async: %s", e.msg);
		r = err_make(errp, EIO, "the event invoke config could not be stored");
		goto fail;
	}
	f = async__fn_get(q, name, true);
	async__cfg_fini(&f->cfg);
	f->cfg = n;
	*out = cfg_json(q, f);
	return 0;
fail:
	async__cfg_fini(&n);
	return r;
}

int async_config_get(struct async *q, const char *name, json_t **out, struct err *errp)
{
	struct async_fn *f = async__fn_get(q, name, false);
	if (!f || !f->cfg.present)
		return no_config(q, name, errp);
	*out = cfg_json(q, f);
	return 0;
}

int async_config_delete(struct async *q, const char *name, struct err *errp)
{
	struct async_fn *f = async__fn_get(q, name, false);
	if (!f || !f->cfg.present)
		return no_config(q, name, errp);
	struct err e = {0};
	if (async__store_put_config(q, name, NULL, &e) < 0 || store_commit(q->st, &e) < 0) {
		log_error("async: %s", e.msg);
		return err_make(errp, EIO, "the event invoke config could not be deleted");
	}
	async__cfg_fini(&f->cfg);
	return 0;
}
