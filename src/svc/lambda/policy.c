/* A function's resource-based policy: AddPermission, RemovePermission and GetPolicy. The
 * policy document is built as AWS builds it and kept in the store ("policies", keyed by
 * function name, with its own RevisionId); it is stored and shown, not enforced here. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "base/codec.h"

#define POLICY_COLL "policies"
#define SID_MAX 100
#define TOKEN_MAX 256

/* Checks s (not NULL) against pattern and the length bounds [lo, hi] (hi 0: none),
 * with the message AWS's validation gives naming field. */
static int check_str(const char *s, const char *field, const char *pattern, size_t lo, size_t hi,
                     struct err *errp)
{
	size_t n = strlen(s);
	char constraint[160];
	if (n < lo || (hi && n > hi)) {
		snprintf(constraint, sizeof(constraint), "Member must have length %s %zu",
		         n < lo ? "greater than or equal to" : "less than or equal to", n < lo ? lo : hi);
	} else if (pattern && !api__full_match(s, pattern)) {
		snprintf(constraint, sizeof(constraint), "Member must satisfy regular expression pattern: %s",
		         pattern);
	} else {
		return 0;
	}
	return err_svc(errp, LAMBDA_ERR_VALIDATION,
	               "1 validation error detected: Value '%.256s' at '%s' failed to satisfy constraint: %s",
	               s, field, constraint);
}

/* The Principal as AWS writes it in the statement (owned), or NULL with
 * InvalidParameterValueException: "*", an account id, an ARN or a service principal. */
static json_t *principal_json(const char *p, struct err *errp)
{
	if (strcmp(p, "*") == 0)
		return json_string("*");
	if (api__full_match(p, "[0-9]{12}")) {
		autofree char *arn = xasprintf("arn:aws:iam::%s:root", p);
		return json_pack("{s:s}", "AWS", arn);
	}
	if (api__full_match(p, "arn:aws[a-zA-Z-]*:(iam|sts)::[0-9]{12}:.+"))
		return json_pack("{s:s}", "AWS", p);
	if (api__full_match(p, "[a-z0-9-]+(\\.[a-z0-9-]+)+"))
		return json_pack("{s:s}", "Service", p);
	err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
	        "The provided principal was invalid. Please check the principal and try again.");
	return NULL;
}

/* Adds Condition[op][key] = value to st, creating the blocks as needed. */
static void add_condition(json_t *st, const char *op, const char *key, const char *value)
{
	json_t *cond = json_object_get(st, "Condition");
	if (!cond) {
		cond = json_object();
		json_object_set_new(st, "Condition", cond);
	}
	json_t *blk = json_object_get(cond, op);
	if (!blk) {
		blk = json_object();
		json_object_set_new(cond, op, blk);
	}
	json_object_set_new(blk, key, json_string(value));
}

json_t *api__policy_statement(json_t *body, const char *resource, struct err *errp)
{
	const char *sid, *action, *principal, *src_arn, *src_acct, *org, *token, *auth;
	if (!json_is_object(body)) {
		err_svc(errp, LAMBDA_ERR_INVALID_REQUEST_CONTENT, "The request body must be a JSON object");
		return NULL;
	}
	if (api__str_member(body, "Action", "action", true, &action, errp) < 0 ||
	    api__str_member(body, "Principal", "principal", true, &principal, errp) < 0 ||
	    api__str_member(body, "StatementId", "statementId", true, &sid, errp) < 0 ||
	    api__str_member(body, "SourceArn", "sourceArn", false, &src_arn, errp) < 0 ||
	    api__str_member(body, "SourceAccount", "sourceAccount", false, &src_acct, errp) < 0 ||
	    api__str_member(body, "PrincipalOrgID", "principalOrgID", false, &org, errp) < 0 ||
	    api__str_member(body, "EventSourceToken", "eventSourceToken", false, &token, errp) < 0 ||
	    api__str_member(body, "FunctionUrlAuthType", "functionUrlAuthType", false, &auth, errp) < 0)
		return NULL;
	if (check_str(sid, "statementId", "[a-zA-Z0-9_-]+", 1, SID_MAX, errp) < 0 ||
	    check_str(action, "action", "lambda:[*]|lambda:[a-zA-Z]+|[*]", 0, 0, errp) < 0 ||
	    check_str(principal, "principal", "[^[:space:]]+", 0, 0, errp) < 0 ||
	    (src_arn &&
	     check_str(
	         src_arn, "sourceArn",
	         "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9-])+:([a-z]{2}(-gov)?-[a-z]+-[0-9])?:([0-9]{12})?:(.*)",
	         0, 0, errp) < 0) ||
	    (src_acct && check_str(src_acct, "sourceAccount", "[0-9]{12}", 0, 12, errp) < 0) ||
	    (org && check_str(org, "principalOrgID", "o-[a-z0-9]{10,32}", 12, 34, errp) < 0) ||
	    (token && check_str(token, "eventSourceToken", "[a-zA-Z0-9._-]+", 0, TOKEN_MAX, errp) < 0))
		return NULL;
	static const char *const auth_types[] = {"NONE", "AWS_IAM", NULL};
	if (auth && err_svc_enum(errp, LAMBDA_ERR_VALIDATION, "functionUrlAuthType", auth, auth_types) < 0)
		return NULL;
	json_t *via = json_object_get(body, "InvokedViaFunctionUrl");
	if (via && !json_is_null(via) && !json_is_boolean(via)) {
		err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "InvokedViaFunctionUrl must be a boolean");
		return NULL;
	}
	bool invoked_via_url = json_is_true(via);
	if (invoked_via_url && strcmp(action, "lambda:InvokeFunction") != 0) {
		err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		        "InvokedViaFunctionUrl is only supported for the lambda:InvokeFunction action.");
		return NULL;
	}
	json_t *p = principal_json(principal, errp);
	if (!p)
		return NULL;
	json_t *st = json_pack("{s:s, s:s, s:o, s:s, s:s}", "Sid", sid, "Effect", "Allow", "Principal", p,
	                       "Action", action, "Resource", resource);
	/* AWS's order: the StringEquals block, then ArnLike, then Bool. */
	if (src_acct)
		add_condition(st, "StringEquals", "AWS:SourceAccount", src_acct);
	if (org)
		add_condition(st, "StringEquals", "aws:PrincipalOrgID", org);
	if (token)
		add_condition(st, "StringEquals", "lambda:EventSourceToken", token);
	if (auth)
		add_condition(st, "StringEquals", "lambda:FunctionUrlAuthType", auth);
	if (src_arn)
		add_condition(st, "ArnLike", "AWS:SourceArn", src_arn);
	/* The Bool operator for InvokedViaFunctionUrl is unconfirmed against a real policy. */
	if (invoked_via_url)
		add_condition(st, "Bool", "lambda:InvokedViaFunctionUrl", "true");
	return st;
}

int api__policy_add(json_t *doc, json_t *st, struct err *errp)
{
	json_t *list = json_object_get(doc, "Statement");
	const char *sid = json_string_value(json_object_get(st, "Sid"));
	size_t i;
	json_t *s;
	if (!json_is_array(list) || !sid) {
		json_decref(st);
		return err_make(errp, EINVAL, "malformed policy document");
	}
	json_array_foreach(list, i, s) {
		const char *other = json_string_value(json_object_get(s, "Sid"));
		if (other && strcmp(other, sid) == 0) {
			int r = err_svc(errp, LAMBDA_ERR_RESOURCE_CONFLICT,
			                "The statement id (%s) provided already exists. Please specify a new "
			                "statement id, or remove the existing statement.",
			                sid);
			json_decref(st); /* sid was st's */
			return r;
		}
	}
	json_array_append_new(list, st);
	autofree char *txt = json_dumps(doc, JSON_COMPACT);
	size_t n = txt ? strlen(txt) : 0;
	if (n > API_POLICY_MAX) {
		json_array_remove(list, json_array_size(list) - 1);
		return err_svc(errp, LAMBDA_ERR_POLICY_LENGTH_EXCEEDED,
		               "The final policy size (%zu) is bigger than the limit (%d).", n,
		               API_POLICY_MAX);
	}
	return 0;
}

int api__policy_remove(json_t *doc, const char *sid, struct err *errp)
{
	json_t *list = json_object_get(doc, "Statement");
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s) {
		const char *other = json_string_value(json_object_get(s, "Sid"));
		if (other && strcmp(other, sid) == 0) {
			json_array_remove(list, i);
			return 0;
		}
	}
	return err_svc(errp, LAMBDA_ERR_RESOURCE_NOT_FOUND,
	               "Statement %.100s is not found in resource policy.", sid);
}

/* ---- the stored record: {"RevisionId": "...", "Policy": {document}} ---- */

/* The stored record of function name (owned) with its store revision in *rev, or NULL
 * when it has none (*rev 0) or on a store error (replied, *rev UINT64_MAX). */
static json_t *load(struct api *a, struct front_req *req, const char *name, uint64_t *rev)
{
	struct err e = {0};
	autofree char *txt = NULL;
	int r = store_get(a->store, POLICY_COLL, name, &txt, NULL, rev, &e);
	if (r == -ENOENT) {
		*rev = 0;
		return NULL;
	}
	json_t *o = r == 0 ? json_loads(txt, 0, NULL) : NULL;
	if (!o || !json_is_object(json_object_get(o, "Policy")) ||
	    !json_is_string(json_object_get(o, "RevisionId"))) {
		json_decref(o);
		log_error("api: policy of %s: %s", name, r < 0 ? e.msg : "unreadable record");
		api__reply_error(req, LAMBDA_ERR_SERVICE, NULL, "The policy of %s cannot be read", name);
		*rev = UINT64_MAX;
		return NULL;
	}
	return o;
}

/* Writes rec (borrowed) as the record of name, or deletes it when its document has no
 * statement left, if the store's revision is still rev; commits. 0, or -1 after replying. */
static int save(struct api *a, struct front_req *req, const char *name, json_t *rec, uint64_t rev)
{
	struct err e = {0};
	json_t *list = json_object_get(json_object_get(rec, "Policy"), "Statement");
	int r;
	if (json_array_size(list) == 0) {
		r = store_del(a->store, POLICY_COLL, name, rev, &e);
	} else {
		char id[37];
		uuid_v4(id);
		json_object_set_new(rec, "RevisionId", json_string(id));
		autofree char *txt = json_dumps(rec, JSON_COMPACT);
		r = store_put(a->store, POLICY_COLL, name, txt, strlen(txt), rev, NULL, &e);
	}
	if (r == -ESTALE)
		err_make(&e, ESTALE, "the policy of %s changed while it was written", name);
	if (r == 0)
		r = store_commit(a->store, &e);
	if (r < 0) {
		log_error("api: policy of %s: %s", name, e.msg);
		api__reply_error(req, LAMBDA_ERR_SERVICE, NULL, "%s", e.msg);
		return -1;
	}
	return 0;
}

static void precondition_failed(struct front_req *req)
{
	api__reply_error(req, LAMBDA_ERR_PRECONDITION_FAILED, NULL,
	                 "The Revision Id provided does not match the latest Revision Id. Call the "
	                 "GetPolicy API to retrieve the latest Revision Id");
}

/* POST /2015-03-31/functions/{Name}/policy[?Qualifier=]: 201 {"Statement": "<json>"}. */
static void add_permission(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	json_t *body;
	/* AWS keeps $LATEST's statements on the unqualified function and refuses the name. */
	const char *q = front_req_query(r->req, "Qualifier");
	if (q && strcmp(q, FN_LATEST) == 0) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "We currently do not support adding policies for $LATEST.");
		return;
	}
	if (!api__lookup_body(a, r, name, &body))
		return;
	struct err e = {0};
	autofree char *arn = fn_arn(name, a->region, a->account);
	json_t *st = api__policy_statement(body, arn, &e);
	json_t *want = json_object_get(body, "RevisionId");
	uint64_t rev;
	json_t *rec = NULL;
	if (!st) {
		api__reply_err(r->req, &e);
		goto out;
	}
	if (want && !json_is_null(want) && !json_is_string(want)) {
		json_decref(st);
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "RevisionId must be a string");
		goto out;
	}
	rec = load(a, r->req, name, &rev);
	if (!rec && rev == UINT64_MAX) {
		json_decref(st);
		goto out;
	}
	if (json_is_string(want) &&
	    (!rec ||
	     strcmp(json_string_value(want), json_string_value(json_object_get(rec, "RevisionId"))) != 0)) {
		json_decref(st);
		precondition_failed(r->req);
		goto out;
	}
	if (!rec)
		rec = json_pack("{s:s, s:{s:s, s:s, s:[]}}", "RevisionId", "", "Policy", "Version",
		                "2012-10-17", "Id", "default", "Statement");
	json_incref(st);
	if (api__policy_add(json_object_get(rec, "Policy"), st, &e) < 0) {
		json_decref(st);
		api__reply_err(r->req, &e);
		goto out;
	}
	if (save(a, r->req, name, rec, rev) < 0) {
		json_decref(st);
		goto out;
	}
	char *txt = json_dumps(st, JSON_COMPACT);
	json_decref(st);
	log_info("api: %s: permission %s added", name,
	         json_string_value(json_object_get(body, "StatementId")));
	api__reply_json(r->req, 201, json_pack("{s:s%}", "Statement", txt, strlen(txt)));
	free(txt);
out:
	json_decref(rec);
	json_decref(body);
}

void api__reply_policy(struct front_req *req, json_t *rec)
{
	autofree char *txt = json_dumps(json_object_get(rec, "Policy"), JSON_COMPACT);
	api__reply_json(
	    req, 200,
	    json_pack("{s:s, s:O}", "Policy", txt, "RevisionId", json_object_get(rec, "RevisionId")));
	json_decref(rec);
}

/* GET /2015-03-31/functions/{Name}/policy[?Qualifier=]: 200 {"Policy", "RevisionId"}. */
static void get_policy(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	uint64_t rev;
	json_t *rec = load(a, r->req, name, &rev);
	if (!rec) {
		if (rev == 0)
			api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
			                 "The resource you requested does not exist.");
		return;
	}
	api__reply_policy(r->req, rec);
}

/* DELETE /2015-03-31/functions/{Name}/policy/{StatementId}[?Qualifier=&RevisionId=]: 204. */
static void remove_permission(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	const char *sid = api__param(r, "StatementId");
	struct err e = {0};
	if (!sid || check_str(sid, "statementId", "[a-zA-Z0-9._-]+", 1, SID_MAX, &e) < 0) {
		if (!sid)
			return api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
			                        "StatementId is required");
		return api__reply_err(r->req, &e);
	}
	uint64_t rev;
	json_t *rec = load(a, r->req, name, &rev);
	if (!rec) {
		if (rev == 0)
			api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
			                 "No policy is associated with the given resource.");
		return;
	}
	const char *want = front_req_query(r->req, "RevisionId");
	if (want && strcmp(want, json_string_value(json_object_get(rec, "RevisionId"))) != 0) {
		precondition_failed(r->req);
	} else if (api__policy_remove(json_object_get(rec, "Policy"), sid, &e) < 0) {
		api__reply_err(r->req, &e);
	} else if (save(a, r->req, name, rec, rev) == 0) {
		log_info("api: %s: permission %s removed", name, sid);
		api__reply_json(r->req, 204, NULL);
	}
	json_decref(rec);
}

void api__policy(struct api *a, struct api_req *r)
{
	if (r->cmd == FRONT_POST)
		return add_permission(a, r);
	if (r->cmd == FRONT_DELETE)
		return remove_permission(a, r);
	return get_policy(a, r);
}
