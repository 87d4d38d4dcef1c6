/* libFuzzer target for the function model: any bytes, as a CreateFunction or
 * UpdateFunctionConfiguration body, either give a configuration within Lambda's limits
 * whose API and stored forms hold together, or a REG_* error with a message; as a
 * FunctionName they either give a valid name and qualifier or a ValidationException. */
#include "registry/registry.h"
#include "svc/lambda/errors.h"

#include <jansson.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

static struct fn_config *base; /* a valid created configuration that updates start from */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	json_t *j = json_loads(
	    "{\"FunctionName\":\"base\",\"Runtime\":\"provided.al2023\",\"Handler\":\"h\","
	    "\"Role\":\"arn:aws:iam::123456789012:role/r\",\"Environment\":{\"Variables\":{\"AB\":\"1\"}}}",
	    0, NULL);
	struct err e = {0};
	base = fn_config_new();
	if (!j || fn_config_apply(base, j, true, &e) != 0)
		abort();
	memset(base->code_hex, 'a', 64);
	json_decref(j);
	return 0;
}

static void check_error(int r, const struct err *e)
{
	CHECK(r < 0);
	CHECK(r == -e->code);
	CHECK(e->code == EINVAL &&
	      (e->svc == LAMBDA_ERR_INVALID_PARAMETER_VALUE || e->svc == LAMBDA_ERR_VALIDATION));
	CHECK(e->msg[0] != 0);
}

/* Characters (code points) of a UTF-8 string, as AWS counts lengths. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* What every accepted configuration satisfies, and its JSON forms. */
static void check_config(const struct fn_config *c)
{
	CHECK(c->name && fn_name_valid(c->name));
	CHECK(c->runtime && fn_runtime_supported(c->runtime, NULL));
	CHECK(c->handler && c->handler[0] && strlen(c->handler) <= 128);
	CHECK(c->role && strncmp(c->role, "arn:", 4) == 0);
	CHECK(c->description && utf8_chars(c->description) <= 256);
	CHECK(c->timeout_s >= 1 && c->timeout_s <= 900);
	CHECK(c->memory_mb >= 128 && c->memory_mb <= 10240);
	CHECK(c->ephemeral_mb >= 512 && c->ephemeral_mb <= 10240);
	CHECK(strcmp(c->tracing_mode, "Active") == 0 || strcmp(c->tracing_mode, "PassThrough") == 0);
	CHECK(json_is_object(c->env_vars));
	size_t total = 0;
	const char *k;
	json_t *v;
	json_object_foreach(c->env_vars, k, v) {
		CHECK(json_is_string(v));
		total += strlen(k) + json_string_length(v);
	}
	CHECK(total <= FN_ENV_MAX_BYTES);

	json_t *api = fn_config_to_api(c, "us-east-1", "123456789012");
	CHECK(api);
	CHECK(strcmp(json_string_value(json_object_get(api, "FunctionName")), c->name) == 0);
	CHECK(json_integer_value(json_object_get(api, "Timeout")) == c->timeout_s);
	CHECK(json_integer_value(json_object_get(api, "MemorySize")) == c->memory_mb);
	CHECK((json_object_size(c->env_vars) > 0) == (json_object_get(api, "Environment") != NULL));
	char *txt = json_dumps(api, JSON_COMPACT);
	CHECK(txt);
	free(txt);
	json_decref(api);

	char *s = fn_config_to_stored(c);
	CHECK(s);
	struct err e = {0};
	struct fn_config *d = fn_config_from_stored(s, &e);
	CHECK(d);
	char *s2 = fn_config_to_stored(d);
	CHECK(s2 && strcmp(s, s2) == 0);
	CHECK(json_equal(c->env_vars, d->env_vars));
	CHECK(strcmp(c->description, d->description) == 0);
	free(s2);
	free(s);
	fn_config_unref(d);
}

static void fuzz_body(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!j)
		return;
	struct err e = {0};
	struct fn_config *c = fn_config_new();
	int r = fn_config_apply(c, j, true, &e);
	if (r == 0) {
		/* CreateFunction stores the code before the configuration is stored. */
		memset(c->code_hex, 'b', 64);
		check_config(c);
	} else
		check_error(r, &e);
	fn_config_unref(c);

	/* The same body as an update of a valid function. */
	struct fn_config *u = fn_config_dup(base);
	memset(&e, 0, sizeof(e));
	r = fn_config_apply(u, j, false, &e);
	if (r == 0) {
		check_config(u);
		CHECK(strcmp(u->name, base->name) == 0);
	} else {
		check_error(r, &e);
	}
	fn_config_unref(u);
	/* The update worked on a copy. */
	CHECK(strcmp(base->handler, "h") == 0 && json_object_size(base->env_vars) == 1);
	json_decref(j);
}

static void fuzz_ref(const uint8_t *data, size_t size)
{
	char *ref = malloc(size + 1);
	if (!ref)
		abort();
	memcpy(ref, data, size);
	ref[size] = 0;
	char name[FN_NAME_MAX + 1], qual[130];
	struct err e = {0};
	int r = fn_parse_ref(ref, name, qual, &e);
	if (r == 0) {
		CHECK(fn_name_valid(name));
		CHECK(strlen(qual) <= 128);
		CHECK(strstr(ref, name) != NULL);
		CHECK(qual[0] == 0 || strstr(ref, qual) != NULL);
		/* The qualifier pattern, \$LATEST|[a-zA-Z0-9-_]+. */
		CHECK(strcmp(qual, "$LATEST") == 0 ||
		      strspn(qual, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                   "0123456789-_") == strlen(qual));
		/* The canonical forms of the same reference resolve the same way (within
		 * the 170 characters a reference may have). */
		char again[FN_NAME_MAX + 1], q2[130];
		char *full = malloc(300);
		if (!full)
			abort();
		int n = snprintf(full, 300, "arn:aws:lambda:us-east-1:123456789012:function:%s%s%s", name,
		                 qual[0] ? ":" : "", qual);
		if (n <= 170) {
			CHECK(fn_parse_ref(full, again, q2, &e) == 0);
			CHECK(strcmp(again, name) == 0 && strcmp(q2, qual) == 0);
		}
		/* The short form too, unless AWS's pattern is ambiguous for it: a name that
		 * looks like a region (us-east-1) or an account (12 digits), or "function",
		 * may be read as one. */
		snprintf(full, 300, "%s%s%s", name, qual[0] ? ":" : "", qual);
		bool ambiguous = strchr(name, '-') || strspn(name, "0123456789") == strlen(name) ||
		                 strcmp(name, "function") == 0;
		if (!ambiguous) {
			CHECK(fn_parse_ref(full, again, q2, &e) == 0);
			CHECK(strcmp(again, name) == 0 && strcmp(q2, qual) == 0);
		}
		free(full);
	} else {
		check_error(r, &e);
		CHECK(e.svc == LAMBDA_ERR_VALIDATION);
	}

	/* The same bytes as a stored configuration: refused cleanly or self-consistent. */
	memset(&e, 0, sizeof(e));
	struct fn_config *c = fn_config_from_stored(ref, &e);
	if (c) {
		char *s = fn_config_to_stored(c);
		CHECK(s);
		free(s);
		fn_config_unref(c);
	} else {
		CHECK(e.code != 0 && e.msg[0] != 0);
	}
	free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_body(data, size);
	fuzz_ref(data, size);
	return 0;
}
