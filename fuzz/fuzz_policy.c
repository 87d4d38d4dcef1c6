/* libFuzzer target for resource policies: any bytes, as an AddPermission body, either
 * give a statement of the shape AWS writes (Sid, Effect Allow, a Principal of one of its
 * shapes, Action, Resource, Condition blocks of strings) or a service error with a
 * message; a statement that builds goes into a document, which then refuses its Sid
 * again, stays within the size limit and gives it back on removal. */
#include "svc/lambda/api_int.h"

#include <jansson.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

#define RES "arn:aws:lambda:us-east-1:000000000000:function:f"

static void check_principal(json_t *p)
{
	if (json_is_string(p)) {
		CHECK(strcmp(json_string_value(p), "*") == 0);
		return;
	}
	CHECK(json_is_object(p) && json_object_size(p) == 1);
	json_t *v = json_object_get(p, "AWS");
	if (!v)
		v = json_object_get(p, "Service");
	CHECK(json_is_string(v) && json_string_length(v) > 0);
}

static void check_statement(json_t *st)
{
	const char *key;
	json_t *v;
	CHECK(json_is_object(st));
	const char *sid = json_string_value(json_object_get(st, "Sid"));
	CHECK(sid && strlen(sid) >= 1 && strlen(sid) <= 100);
	CHECK(strcmp(json_string_value(json_object_get(st, "Effect")), "Allow") == 0);
	CHECK(strcmp(json_string_value(json_object_get(st, "Resource")), RES) == 0);
	const char *action = json_string_value(json_object_get(st, "Action"));
	CHECK(action && (strcmp(action, "*") == 0 || strncmp(action, "lambda:", 7) == 0));
	check_principal(json_object_get(st, "Principal"));
	json_t *cond = json_object_get(st, "Condition");
	if (cond) {
		CHECK(json_is_object(cond) && json_object_size(cond) > 0);
		json_object_foreach(cond, key, v) {
			CHECK(!strcmp(key, "StringEquals") || !strcmp(key, "ArnLike") ||
			      !strcmp(key, "Bool"));
			CHECK(json_is_object(v) && json_object_size(v) > 0);
			const char *k2;
			json_t *s;
			json_object_foreach(v, k2, s)
				CHECK(json_is_string(s));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!body)
		return 0;
	struct err e = {0};
	json_t *st = api__policy_statement(body, RES, &e);
	if (!st) {
		CHECK(e.code == EINVAL && e.msg[0]);
		CHECK(e.svc == LAMBDA_ERR_VALIDATION || e.svc == LAMBDA_ERR_INVALID_PARAMETER_VALUE ||
		      e.svc == LAMBDA_ERR_INVALID_REQUEST_CONTENT);
		json_decref(body);
		return 0;
	}
	check_statement(st);
	char *sid = strdup(json_string_value(json_object_get(st, "Sid")));
	json_t *doc = json_pack("{s:s, s:s, s:[]}", "Version", "2012-10-17", "Id", "default", "Statement");
	json_incref(st);
	int r = api__policy_add(doc, st, &e);
	if (r == 0) {
		CHECK(json_array_size(json_object_get(doc, "Statement")) == 1);
		char *txt = json_dumps(doc, JSON_COMPACT);
		CHECK(txt && strlen(txt) <= API_POLICY_MAX);
		/* The stored form reads back to the same document. */
		json_t *back = json_loads(txt, 0, NULL);
		CHECK(back && json_equal(back, doc));
		json_decref(back);
		free(txt);
		json_incref(st);
		CHECK(api__policy_add(doc, st, &e) == -EINVAL && e.svc == LAMBDA_ERR_RESOURCE_CONFLICT);
		CHECK(api__policy_remove(doc, sid, &e) == 0);
		CHECK(json_array_size(json_object_get(doc, "Statement")) == 0);
	} else {
		CHECK(r == -EINVAL && e.svc == LAMBDA_ERR_POLICY_LENGTH_EXCEEDED);
		CHECK(json_array_size(json_object_get(doc, "Statement")) == 0);
	}
	CHECK(api__policy_remove(doc, sid, &e) == -EINVAL && e.svc == LAMBDA_ERR_RESOURCE_NOT_FOUND);
	free(sid);
	json_decref(st);
	json_decref(doc);
	json_decref(body);
	return 0;
}
