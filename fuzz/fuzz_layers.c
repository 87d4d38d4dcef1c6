/* libFuzzer target for the layer configuration: any bytes, as JSON, go to a function's
 * Layers list check, to the layer version ARN and layer name parsers (each string of the
 * input), and as an AddLayerVersionPermission body to the statement builder. What parses
 * reads back as the parts it came from; what does not gives a service error with a
 * message; a statement has AWS's shape and goes into a policy document once. */
#include "svc/lambda/api_int.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

#define RES "arn:aws:lambda:us-east-1:000000000000:layer:l:1"

static void check_ref_string(const char *s)
{
	struct api_layer_ref ref;
	struct err e = {0};
	if (api__layer_parse_version_arn(s, &ref, &e) == 0) {
		CHECK(strlen(s) <= 140 && ref.name[0] && strlen(ref.account) == 12 && ref.region[0]);
		/* Rebuilt from its parts, the ARN names the same layer version. */
		char back[256];
		const char *part = strchr(s + 4, ':'); /* after the partition */
		CHECK(part);
		snprintf(back, sizeof(back), "%.*s:lambda:%s:%s:layer:%s:%" PRIu64, (int)(part - s), s,
		         ref.region, ref.account, ref.name, ref.version);
		struct api_layer_ref again;
		CHECK(api__layer_parse_version_arn(back, &again, &e) == 0);
		CHECK(strcmp(again.name, ref.name) == 0 && again.version == ref.version);
	} else {
		CHECK(e.code == EINVAL && e.svc == LAMBDA_ERR_VALIDATION && e.msg[0]);
	}
	memset(&e, 0, sizeof(e));
	if (api__layer_parse_name(s, &ref, &e) == 0)
		CHECK(ref.name[0] && strlen(ref.name) <= API_LAYER_NAME_MAX && ref.version == 0);
	else
		CHECK(e.code == EINVAL && e.msg[0]);
}

static void check_statement(json_t *st)
{
	CHECK(json_is_object(st));
	const char *sid = json_string_value(json_object_get(st, "Sid"));
	CHECK(sid && strlen(sid) >= 1 && strlen(sid) <= 100);
	CHECK(strcmp(json_string_value(json_object_get(st, "Effect")), "Allow") == 0);
	CHECK(strcmp(json_string_value(json_object_get(st, "Action")), "lambda:GetLayerVersion") == 0);
	CHECK(strcmp(json_string_value(json_object_get(st, "Resource")), RES) == 0);
	json_t *p = json_object_get(st, "Principal");
	if (json_is_string(p)) {
		CHECK(strcmp(json_string_value(p), "*") == 0);
	} else {
		const char *aws = json_string_value(json_object_get(p, "AWS"));
		CHECK(json_object_size(p) == 1 && aws && strncmp(aws, "arn:aws", 7) == 0);
		CHECK(!json_object_get(st, "Condition")); /* OrganizationId only with "*" */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!in)
		return 0;
	struct api_layer_ref refs[API_LAYERS_MAX];
	size_t n = 0;
	struct err e = {0};
	if (api__layers_check(in, refs, &n, &e) == 0) {
		CHECK(json_is_array(in) && n == json_array_size(in) && n <= API_LAYERS_MAX);
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < i; j++)
				CHECK(strcmp(refs[i].name, refs[j].name) ||
				      strcmp(refs[i].account, refs[j].account) ||
				      strcmp(refs[i].region, refs[j].region));
	} else {
		CHECK(e.code == EINVAL && e.msg[0]);
		CHECK(e.svc == LAMBDA_ERR_VALIDATION || e.svc == LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	}
	if (json_is_string(in))
		check_ref_string(json_string_value(in));
	size_t i;
	json_t *v;
	if (json_is_array(in))
		json_array_foreach(in, i, v)
			if (json_is_string(v))
				check_ref_string(json_string_value(v));
	memset(&e, 0, sizeof(e));
	json_t *st = api__layer_statement(in, RES, &e);
	if (!st) {
		CHECK(e.code == EINVAL && e.msg[0]);
		CHECK(e.svc == LAMBDA_ERR_VALIDATION || e.svc == LAMBDA_ERR_INVALID_PARAMETER_VALUE ||
		      e.svc == LAMBDA_ERR_INVALID_REQUEST_CONTENT);
	} else {
		check_statement(st);
		json_t *doc =
		    json_pack("{s:s, s:s, s:[]}", "Version", "2012-10-17", "Id", "default", "Statement");
		json_incref(st);
		CHECK(api__policy_add(doc, st, &e) == 0);
		json_incref(st);
		CHECK(api__policy_add(doc, st, &e) == -EINVAL && e.svc == LAMBDA_ERR_RESOURCE_CONFLICT);
		CHECK(json_array_size(json_object_get(doc, "Statement")) == 1);
		json_decref(doc);
		json_decref(st);
	}
	json_decref(in);
	return 0;
}
