/* Tests for the function model: names and references, validation of CreateFunction and
 * UpdateFunctionConfiguration bodies (with the AWS error kind of each refusal), the
 * FunctionConfiguration JSON, and the stored form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/fn.h"
#include "svc/lambda/errors.h"

#define ROLE "arn:aws:iam::123456789012:role/lambda-role"
#define BASE                                                                                                 \
	"\"FunctionName\":\"hello\",\"Runtime\":\"provided.al2023\",\"Handler\":\"bootstrap\",\"Role\":"     \
	"\"" ROLE "\""
#define HEX64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define B64 "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
#define REV "5b0c4c9e-2f6b-4a34-9d0e-9a0d8e1f2a3b"

static json_t *J(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
	if (!j)
		fail_msg("test JSON does not parse: %s: %s", je.text, text);
	return j;
}

/* Applies body to c. Returns 0 or the positive error code, after checking the error
 * contract: the return value is -err.code and the message is not empty. */
static int apply(struct fn_config *c, const char *body, bool create, struct err *e)
{
	json_t *j = J(body);
	memset(e, 0, sizeof(*e));
	int r = fn_config_apply(c, j, create, e);
	json_decref(j);
	if (r == 0) {
		assert_int_equal(e->code, 0);
		return 0;
	}
	assert_int_equal(r, -e->code);
	assert_true(e->msg[0] != 0);
	return e->svc;
}

/* A configuration created from the minimal valid CreateFunction body (owned). */
static struct fn_config *created(void)
{
	struct fn_config *c = fn_config_new();
	struct err e;
	if (apply(c, "{" BASE "}", true, &e) != 0)
		fail_msg("the base body is refused: %s", e.msg);
	return c;
}

/* Asserts that body is refused with code and a message containing `needle`, both on
 * create (on a new config; the body gets the base fields first unless bare) and, if
 * also_update, on update of a created config. */
static void refused(const char *fields, bool also_update, int code, const char *needle)
{
	char *body = fields[0] ? xasprintf("{" BASE ", %s}", fields) : xstrdup("{" BASE "}");
	struct err e;
	struct fn_config *c = fn_config_new();
	int r = apply(c, body, true, &e);
	if (r != code)
		fail_msg("create with %s: got code %d (%s), want %d", fields, r, e.msg, code);
	if (!strstr(e.msg, needle))
		fail_msg("create with %s: message '%s' lacks '%s'", fields, e.msg, needle);
	fn_config_unref(c);
	free(body);
	if (!also_update)
		return;
	body = xasprintf("{%s}", fields);
	c = created();
	r = apply(c, body, false, &e);
	if (r != code)
		fail_msg("update with %s: got code %d (%s), want %d", fields, r, e.msg, code);
	if (!strstr(e.msg, needle))
		fail_msg("update with %s: message '%s' lacks '%s'", fields, e.msg, needle);
	fn_config_unref(c);
	free(body);
}

/* Asserts that a create body (complete, given whole) is refused with code and needle. */
static void create_refused(const char *body, int code, const char *needle)
{
	struct err e;
	struct fn_config *c = fn_config_new();
	int r = apply(c, body, true, &e);
	if (r != code)
		fail_msg("create %s: got code %d (%s), want %d", body, r, e.msg, code);
	if (!strstr(e.msg, needle))
		fail_msg("create %s: message '%s' lacks '%s'", body, e.msg, needle);
	fn_config_unref(c);
}

/* Applies fields (on top of the base body) on create, and alone on update; both must
 * succeed. Returns the created config (owned) for inspection. */
static struct fn_config *accepted(const char *fields)
{
	char *body = xasprintf("{" BASE ", %s}", fields);
	struct err e;
	struct fn_config *c = fn_config_new();
	if (apply(c, body, true, &e) != 0)
		fail_msg("create with %s refused: %s", fields, e.msg);
	free(body);
	body = xasprintf("{%s}", fields);
	struct fn_config *u = created();
	if (apply(u, body, false, &e) != 0)
		fail_msg("update with %s refused: %s", fields, e.msg);
	free(body);
	fn_config_unref(u);
	return c;
}

/* ---- names and references ---- */

static void test_name_valid(void **state)
{
	char n64[65], n65[66];
	memset(n64, 'a', 64);
	n64[64] = 0;
	memset(n65, 'b', 65);
	n65[65] = 0;
	assert_true(fn_name_valid("a"));
	assert_true(fn_name_valid("my-function_1"));
	assert_true(fn_name_valid("ABC-xyz_0123456789"));
	assert_true(fn_name_valid(n64));
	assert_false(fn_name_valid(n65));
	assert_false(fn_name_valid(""));
	assert_false(fn_name_valid("a.b"));
	assert_false(fn_name_valid("a b"));
	assert_false(fn_name_valid("a:b"));
	assert_false(fn_name_valid("a/b"));
	assert_false(fn_name_valid("$LATEST"));
	assert_false(fn_name_valid("caf\xc3\xa9"));
	assert_false(fn_name_valid("a\n"));
}

/* Parses ref and checks the name and qualifier it gives. */
static void ref_ok(const char *ref, const char *name, const char *qual)
{
	char n[FN_NAME_MAX + 1], q[130];
	struct err e = {0};
	memset(n, 'x', sizeof(n));
	memset(q, 'x', sizeof(q));
	if (fn_parse_ref(ref, n, q, &e) != 0)
		fail_msg("'%s' refused: %s", ref, e.msg);
	assert_string_equal(n, name);
	assert_string_equal(q, qual);
}

/* ref must be refused as a ValidationException naming functionName. */
static void ref_bad(const char *ref)
{
	char n[FN_NAME_MAX + 1], q[130];
	struct err e = {0};
	int r = fn_parse_ref(ref, n, q, &e);
	if (r == 0)
		fail_msg("'%s' accepted as name '%s' qualifier '%s'", ref, n, q);
	assert_int_equal(r, -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_VALIDATION);
	assert_non_null(strstr(e.msg, "functionName"));
}

static void test_parse_ref_forms(void **state)
{
	ref_ok("my-fn", "my-fn", "");
	ref_ok("my-fn:$LATEST", "my-fn", "$LATEST");
	ref_ok("my-fn:1", "my-fn", "1");
	ref_ok("my-fn:prod-alias_2", "my-fn", "prod-alias_2");
	ref_ok("123456789012:function:my-fn", "my-fn", "");
	ref_ok("123456789012:function:my-fn:7", "my-fn", "7");
	ref_ok("123456789012:function:my-fn:$LATEST", "my-fn", "$LATEST");
	ref_ok("arn:aws:lambda:us-east-1:123456789012:function:my-fn", "my-fn", "");
	ref_ok("arn:aws:lambda:us-east-1:123456789012:function:my-fn:live", "my-fn", "live");
	ref_ok("arn:aws:lambda:eu-west-2:000000000000:function:x:$LATEST", "x", "$LATEST");
	ref_ok("arn:aws-cn:lambda:cn-north-1:123456789012:function:f", "f", "");
	ref_ok("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:3", "f", "3");

	char n64[65], ref[200];
	memset(n64, 'n', 64);
	n64[64] = 0;
	ref_ok(n64, n64, "");
	snprintf(ref, sizeof(ref), "arn:aws:lambda:us-east-1:123456789012:function:%s:$LATEST", n64);
	ref_ok(ref, n64, "$LATEST");

	char q128[129];
	memset(q128, 'q', 128);
	q128[128] = 0;
	snprintf(ref, sizeof(ref), "f:%s", q128);
	ref_ok(ref, "f", q128);
}

static void test_parse_ref_bad(void **state)
{
	ref_bad("");
	ref_bad("bad name");
	ref_bad("a.b");
	ref_bad("a/b");
	ref_bad("a:b:c");
	ref_bad("my-fn:1:2");
	ref_bad("123456789012:function:my-fn:1:extra");
	ref_bad("arn:aws:lambda:us-east-1:123456789012:function");
	ref_bad("arn:aws:lambda:us-east-1:123456789012:function:");
	ref_bad("arn:aws:lambda:us-east-1:123456789012:function:my-fn:1:2");
	ref_bad("arn:aws:s3:::bucket");
	ref_bad("arn:aws:lambda:us-east-1:123456789012:layer:my-layer");
	ref_bad("arn:aws:sqs:us-east-1:123456789012:function:my-fn");
	ref_bad(":");

	char long_name[80], ref[300];
	memset(long_name, 'a', 65);
	long_name[65] = 0;
	ref_bad(long_name);
	snprintf(ref, sizeof(ref), "arn:aws:lambda:us-east-1:123456789012:function:%s", long_name);
	ref_bad(ref);
	/* A qualifier of 129 characters. */
	char q129[130];
	memset(q129, 'q', 129);
	q129[129] = 0;
	snprintf(ref, sizeof(ref), "f:%s", q129);
	ref_bad(ref);
	/* Past the 170 characters the API accepts; never truncated into something valid. */
	memset(ref, 'a', 250);
	ref[250] = 0;
	ref_bad(ref);
	memset(ref, ':', 250);
	ref_bad(ref);
}

/* Malformed references are refused with a ValidationException, as AWS's pattern
 *   (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?
 *   (function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?
 * refuses them with a ValidationException. */
static void test_parse_ref_malformed(void **state)
{
	ref_bad("my-fn:");                       /* empty qualifier: accepted as "my-fn" */
	ref_bad(":my-fn");                       /* accepted as "my-fn" */
	ref_bad("my-fn::1");                     /* accepted as my-fn, qualifier 1 */
	ref_bad("123456789012:function:my-fn:"); /* accepted */
	ref_bad("123456789012::function:my-fn"); /* accepted */
	ref_bad("my-fn:bad.qualifier");          /* qualifier pattern not checked */
	ref_bad("my-fn:a/b");
	ref_bad("my-fn:$LATESTX");
	ref_bad("abc:function:my-fn"); /* account is not 12 digits */
	ref_bad("12345:function:my-fn");
	ref_bad("arn:aws:lambda:us-east-1:12345:function:my-fn");
	ref_bad("arn:evil:lambda:us-east-1:123456789012:function:my-fn"); /* partition */
	ref_bad("arn:aws:lambda:not a region:123456789012:function:my-fn");
	/* "arn" is a valid function name (CreateFunction accepts it through a full ARN),
	 * but as a bare name it is taken for the start of an ARN and refused. */
	ref_ok("arn", "arn", "");
	ref_ok("arn:1", "arn", "1");
}

/* ---- create ---- */

static void test_create_minimal_defaults(void **state)
{
	struct fn_config *c = created();
	assert_int_equal(fn_config_refs(c), 1);
	assert_string_equal(c->name, "hello");
	assert_string_equal(c->runtime, "provided.al2023");
	assert_string_equal(c->handler, "bootstrap");
	assert_string_equal(c->role, ROLE);
	assert_string_equal(c->description, "");
	assert_int_equal(c->timeout_s, 3);
	assert_int_equal(c->memory_mb, 128);
	assert_int_equal(c->ephemeral_mb, 512);
	assert_non_null(c->env_vars);
	assert_true(json_is_object(c->env_vars));
	assert_int_equal(json_object_size(c->env_vars), 0);
	assert_string_equal(c->tracing_mode, "PassThrough");
	assert_int_equal(strlen(c->revision_id), 36);
	assert_true(c->last_modified_ms > 1600000000000LL);
	fn_config_unref(c);
}

static void test_create_every_field(void **state)
{
	struct fn_config *c = fn_config_new();
	struct err e;
	int r = apply(c,
	              "{\"FunctionName\":\"arn:aws:lambda:us-east-1:123456789012:function:full\","
	              "\"Runtime\":\"provided.al2\",\"Handler\":\"main.handle\",\"Role\":\"" ROLE "\","
	              "\"Description\":\"a test\",\"Timeout\":900,\"MemorySize\":10240,"
	              "\"EphemeralStorage\":{\"Size\":10240},"
	              "\"Environment\":{\"Variables\":{\"STAGE\":\"prod\",\"AWS_LAMBDA_EXEC_WRAPPER\":\"/opt/"
	              "w\",\"A1\":\"\"}},"
	              "\"TracingConfig\":{\"Mode\":\"Active\"},\"PackageType\":\"Zip\",\"Layers\":[],"
	              "\"Architectures\":[\"x86_64\"],\"Publish\":true,\"Code\":{\"ZipFile\":\"UEsFBg==\"},"
	              "\"Tags\":{\"k\":\"v\"},\"SomethingNew\":[1,2,3]}",
	              true, &e);
	if (r)
		fail_msg("refused: %s", e.msg);
	assert_string_equal(c->name, "full");
	assert_string_equal(c->runtime, "provided.al2");
	assert_string_equal(c->handler, "main.handle");
	assert_string_equal(c->description, "a test");
	assert_int_equal(c->timeout_s, 900);
	assert_int_equal(c->memory_mb, 10240);
	assert_int_equal(c->ephemeral_mb, 10240);
	assert_int_equal(json_object_size(c->env_vars), 3);
	assert_string_equal(json_string_value(json_object_get(c->env_vars, "STAGE")), "prod");
	assert_string_equal(json_string_value(json_object_get(c->env_vars, "AWS_LAMBDA_EXEC_WRAPPER")),
	                    "/opt/w");
	assert_string_equal(json_string_value(json_object_get(c->env_vars, "A1")), "");
	assert_string_equal(c->tracing_mode, "Active");
	fn_config_unref(c);
}

static void test_create_lower_bounds(void **state)
{
	struct fn_config *c =
	    accepted("\"Timeout\":1, \"MemorySize\":128, \"EphemeralStorage\":{\"Size\":512}");
	assert_int_equal(c->timeout_s, 1);
	assert_int_equal(c->memory_mb, 128);
	assert_int_equal(c->ephemeral_mb, 512);
	fn_config_unref(c);
}

/* A null is the same as an absent field. */
static void test_create_nulls_are_absent(void **state)
{
	struct fn_config *c =
	    accepted("\"Description\":null, \"Timeout\":null, \"MemorySize\":null,"
	             "\"EphemeralStorage\":null, \"Environment\":null, \"TracingConfig\":null");
	assert_int_equal(c->timeout_s, 3);
	assert_int_equal(c->memory_mb, 128);
	assert_int_equal(c->ephemeral_mb, 512);
	assert_string_equal(c->description, "");
	fn_config_unref(c);
}

static void test_create_function_name(void **state)
{
	const char *rest = "\"Runtime\":\"provided\",\"Handler\":\"h\",\"Role\":\"" ROLE "\"";
	char body[512];
	/* Absent or null: the model's "must not be null", a ValidationException. */
	snprintf(body, sizeof(body), "{%s}", rest);
	create_refused(body, LAMBDA_ERR_VALIDATION, "functionName");
	snprintf(body, sizeof(body), "{\"FunctionName\":null,%s}", rest);
	create_refused(body, LAMBDA_ERR_VALIDATION, "functionName");
	/* Outside the pattern or too long: ValidationException. */
	snprintf(body, sizeof(body), "{\"FunctionName\":\"bad name\",%s}", rest);
	create_refused(body, LAMBDA_ERR_VALIDATION, "functionName");
	snprintf(body, sizeof(body), "{\"FunctionName\":\"\",%s}", rest);
	create_refused(body, LAMBDA_ERR_VALIDATION, "functionName");
	snprintf(body, sizeof(body), "{\"FunctionName\":\"a.b\",%s}", rest);
	create_refused(body, LAMBDA_ERR_VALIDATION, "functionName");
	snprintf(
	    body, sizeof(body),
	    "{\"FunctionName\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",%s}",
	    rest);
	create_refused(body, LAMBDA_ERR_VALIDATION, "functionName");
	/* Not a string. */
	snprintf(body, sizeof(body), "{\"FunctionName\":5,%s}", rest);
	create_refused(body, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "FunctionName");
	/* A qualifier makes no sense on create. */
	snprintf(body, sizeof(body), "{\"FunctionName\":\"hello:1\",%s}", rest);
	create_refused(body, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "FunctionName");
	snprintf(body, sizeof(body), "{\"FunctionName\":\"123456789012:function:hello:$LATEST\",%s}", rest);
	create_refused(body, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "FunctionName");

	/* A partial ARN names the function. */
	snprintf(body, sizeof(body), "{\"FunctionName\":\"123456789012:function:part\",%s}", rest);
	struct fn_config *c = fn_config_new();
	struct err e;
	assert_int_equal(apply(c, body, true, &e), 0);
	assert_string_equal(c->name, "part");
	fn_config_unref(c);
}

static void test_body_not_object(void **state)
{
	const char *bodies[] = {"[]", "\"x\"", "1", "null", "true"};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct err e;
		struct fn_config *c = fn_config_new();
		assert_int_equal(apply(c, bodies[i], true, &e), LAMBDA_ERR_INVALID_PARAMETER_VALUE);
		fn_config_unref(c);
		c = created();
		assert_int_equal(apply(c, bodies[i], false, &e), LAMBDA_ERR_INVALID_PARAMETER_VALUE);
		fn_config_unref(c);
	}
}

static void test_package_type(void **state)
{
	refused("\"PackageType\":\"Image\"", false, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "PackageType");
	refused("\"PackageType\":7", false, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "PackageType");
	fn_config_unref(accepted("\"PackageType\":\"Zip\""));
}

static void test_runtime(void **state)
{
	create_refused("{\"FunctionName\":\"f\",\"Handler\":\"h\",\"Role\":\"" ROLE "\"}",
	               LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Runtime");
	create_refused("{\"FunctionName\":\"f\",\"Runtime\":null,\"Handler\":\"h\",\"Role\":\"" ROLE "\"}",
	               LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Runtime");
	refused("\"Runtime\":\"java21\"", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "runtime");
	refused("\"Runtime\":\"\"", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "runtime");
	refused("\"Runtime\":\"provided.al2023 \"", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "runtime");
	refused("\"Runtime\":12", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Runtime");
	refused("\"Runtime\":[\"provided\"]", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Runtime");
	const char *ok[] = {"provided", "provided.al2", "provided.al2023"};
	for (size_t i = 0; i < 3; i++) {
		char f[64];
		snprintf(f, sizeof(f), "\"Runtime\":\"%s\"", ok[i]);
		struct fn_config *c = accepted(f);
		assert_string_equal(c->runtime, ok[i]);
		fn_config_unref(c);
	}
}

static void test_runtime_helpers(void **state)
{
	const char *list = NULL;
	assert_true(fn_runtime_supported("provided.al2023", &list));
	assert_non_null(list);
	assert_non_null(strstr(list, "provided.al2023"));
	assert_true(fn_runtime_supported("provided.al2", NULL));
	assert_true(fn_runtime_supported("provided", NULL));
	assert_false(fn_runtime_supported("provided.al", NULL));
	assert_true(fn_runtime_supported("python3.12", NULL));
	assert_true(fn_runtime_supported("nodejs22.x", NULL));
	assert_false(fn_runtime_supported("python3.8", NULL));
	assert_false(fn_runtime_supported("java21", NULL));
	assert_false(fn_runtime_supported("", NULL));
	assert_true(fn_runtime_needs_bootstrap("provided"));
	assert_true(fn_runtime_needs_bootstrap("provided.al2023"));
	assert_false(fn_runtime_needs_bootstrap("python3.12"));
	assert_false(fn_runtime_needs_bootstrap("nodejs20.x"));
}

static void test_handler(void **state)
{
	create_refused("{\"FunctionName\":\"f\",\"Runtime\":\"provided\",\"Role\":\"" ROLE "\"}",
	               LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Handler");
	refused("\"Handler\":\"\"", true, LAMBDA_ERR_VALIDATION, "handler");
	refused("\"Handler\":\"a b\"", true, LAMBDA_ERR_VALIDATION, "handler");
	refused("\"Handler\":\"a\\tb\"", true, LAMBDA_ERR_VALIDATION, "handler");
	refused("\"Handler\":\"ab\\n\"", true, LAMBDA_ERR_VALIDATION, "handler");
	refused("\"Handler\":1", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Handler");
	char f[300];
	char h[130];
	memset(h, 'h', 129);
	h[129] = 0;
	snprintf(f, sizeof(f), "\"Handler\":\"%s\"", h);
	refused(f, true, LAMBDA_ERR_VALIDATION, "handler");
	h[128] = 0;
	snprintf(f, sizeof(f), "\"Handler\":\"%s\"", h);
	struct fn_config *c = accepted(f);
	assert_string_equal(c->handler, h);
	fn_config_unref(c);
}

static void test_role(void **state)
{
	create_refused("{\"FunctionName\":\"f\",\"Runtime\":\"provided\",\"Handler\":\"h\"}",
	               LAMBDA_ERR_VALIDATION, "role");
	const char *bad[] = {
	    "notarole",
	    "",
	    "arn:aws:iam::12345678901:role/x",   /* 11 digits */
	    "arn:aws:iam::1234567890123:role/x", /* 13 digits */
	    "arn:aws:iam::123456789012:role/",
	    "arn:aws:iam::123456789012:role",
	    "arn:aws:iam::123456789012:user/x",
	    "arn:aws:iam::123456789012:role/a b",
	    "arn:aws:iam:us-east-1:123456789012:role/x",
	    "arn:aws:sts::123456789012:role/x",
	    "arn:xyz:iam::123456789012:role/x",
	    "arn:aws:iam::123456789012:role/x*",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char f[200];
		snprintf(f, sizeof(f), "\"Role\":\"%s\"", bad[i]);
		refused(f, true, LAMBDA_ERR_VALIDATION, "role");
	}
	refused("\"Role\":true", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Role");
	const char *good[] = {
	    ROLE,
	    "arn:aws:iam::000000000000:role/x",
	    "arn:aws-cn:iam::123456789012:role/service-role/my_role+=,.@-",
	    "arn:aws-us-gov:iam::123456789012:role/a/b/c",
	    "arn::iam::123456789012:role/x",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char f[200];
		snprintf(f, sizeof(f), "\"Role\":\"%s\"", good[i]);
		struct fn_config *c = accepted(f);
		assert_string_equal(c->role, good[i]);
		fn_config_unref(c);
	}
}

static void test_description(void **state)
{
	char f[400], d[260];
	memset(d, 'd', 257);
	d[257] = 0;
	snprintf(f, sizeof(f), "\"Description\":\"%s\"", d);
	refused(f, true, LAMBDA_ERR_VALIDATION, "description");
	d[256] = 0;
	snprintf(f, sizeof(f), "\"Description\":\"%s\"", d);
	struct fn_config *c = accepted(f);
	assert_string_equal(c->description, d);
	fn_config_unref(c);
	refused("\"Description\":3", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Description");
}

/* The 256 limit on Description counts characters, as AWS does: 256 'é' (512 bytes) pass. */
static void test_description_counts_characters(void **state)
{
	char f[1200] = "\"Description\":\"";
	for (int i = 0; i < 256; i++)
		strcat(f, "\xc3\xa9");
	strcat(f, "\"");
	struct fn_config *c = accepted(f);
	assert_int_equal(strlen(c->description), 512);
	fn_config_unref(c);
}

/* Range checks: values outside the model's constraints are ValidationExceptions with
 * AWS's wording ("Value '901' at 'timeout' failed to satisfy constraint"). */
static void test_timeout(void **state)
{
	refused("\"Timeout\":0", true, LAMBDA_ERR_VALIDATION, "Value '0' at 'timeout'");
	refused("\"Timeout\":901", true, LAMBDA_ERR_VALIDATION, "Value '901' at 'timeout'");
	refused("\"Timeout\":901", true, LAMBDA_ERR_VALIDATION, "less than or equal to 900");
	refused("\"Timeout\":0", true, LAMBDA_ERR_VALIDATION, "greater than or equal to 1");
	refused("\"Timeout\":-1", true, LAMBDA_ERR_VALIDATION, "timeout");
	refused("\"Timeout\":4294967299", true, LAMBDA_ERR_VALIDATION, "timeout"); /* not wrapped to 3 */
	refused("\"Timeout\":\"30\"", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Timeout");
	refused("\"Timeout\":3.5", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Timeout");
	refused("\"Timeout\":true", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Timeout");
	struct fn_config *c = accepted("\"Timeout\":900");
	assert_int_equal(c->timeout_s, 900);
	fn_config_unref(c);
}

static void test_memory(void **state)
{
	refused("\"MemorySize\":64", true, LAMBDA_ERR_VALIDATION, "Value '64' at 'memorySize'");
	refused("\"MemorySize\":127", true, LAMBDA_ERR_VALIDATION, "memorySize");
	refused("\"MemorySize\":10241", true, LAMBDA_ERR_VALIDATION, "Value '10241' at 'memorySize'");
	refused("\"MemorySize\":0", true, LAMBDA_ERR_VALIDATION, "memorySize");
	refused("\"MemorySize\":4294967424", true, LAMBDA_ERR_VALIDATION, "memorySize"); /* 2^32 + 128 */
	refused("\"MemorySize\":\"128\"", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "MemorySize");
	refused("\"MemorySize\":{}", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "MemorySize");
	struct fn_config *c = accepted("\"MemorySize\":1769");
	assert_int_equal(c->memory_mb, 1769);
	fn_config_unref(c);
}

static void test_ephemeral(void **state)
{
	refused("\"EphemeralStorage\":{\"Size\":511}", true, LAMBDA_ERR_VALIDATION,
	        "Value '511' at 'ephemeralStorage.size'");
	refused("\"EphemeralStorage\":{\"Size\":10241}", true, LAMBDA_ERR_VALIDATION,
	        "ephemeralStorage.size");
	refused("\"EphemeralStorage\":{\"Size\":0}", true, LAMBDA_ERR_VALIDATION, "ephemeralStorage.size");
	refused("\"EphemeralStorage\":{\"Size\":\"1024\"}", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Size");
	refused("\"EphemeralStorage\":1024", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "EphemeralStorage");
	refused("\"EphemeralStorage\":[]", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "EphemeralStorage");
	struct fn_config *c = accepted("\"EphemeralStorage\":{\"Size\":2048}");
	assert_int_equal(c->ephemeral_mb, 2048);
	fn_config_unref(c);
	/* Without Size the value is kept. */
	c = accepted("\"EphemeralStorage\":{}");
	assert_int_equal(c->ephemeral_mb, 512);
	fn_config_unref(c);
}

static void test_env_reserved(void **state)
{
	const char *reserved[] = {
	    "AWS_DEFAULT_REGION",
	    "AWS_REGION",
	    "AWS_EXECUTION_ENV",
	    "AWS_LAMBDA_FUNCTION_NAME",
	    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
	    "AWS_LAMBDA_FUNCTION_VERSION",
	    "AWS_LAMBDA_INITIALIZATION_TYPE",
	    "AWS_LAMBDA_LOG_GROUP_NAME",
	    "AWS_LAMBDA_LOG_STREAM_NAME",
	    "AWS_ACCESS_KEY",
	    "AWS_ACCESS_KEY_ID",
	    "AWS_SECRET_ACCESS_KEY",
	    "AWS_SESSION_TOKEN",
	    "AWS_LAMBDA_RUNTIME_API",
	    "LAMBDA_TASK_ROOT",
	    "LAMBDA_RUNTIME_DIR",
	};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		char f[200], want[120];
		snprintf(f, sizeof(f), "\"Environment\":{\"Variables\":{\"OK_KEY\":\"1\",\"%s\":\"x\"}}",
		         reserved[i]);
		snprintf(want, sizeof(want), "Reserved keys used in this request: %s", reserved[i]);
		refused(f, true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, want);
	}
	/* _HANDLER and _X_AMZN_TRACE_ID are reserved too, but AWS's key pattern refuses
	 * them first, as a ValidationException. */
	refused("\"Environment\":{\"Variables\":{\"_HANDLER\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "_HANDLER");
	refused("\"Environment\":{\"Variables\":{\"_X_AMZN_TRACE_ID\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "_X_AMZN_TRACE_ID");
	/* Every reserved key of the request is named. */
	refused("\"Environment\":{\"Variables\":{\"AWS_REGION\":\"x\",\"AWS_LAMBDA_RUNTIME_API\":\"y\"}}",
	        true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "AWS_LAMBDA_RUNTIME_API");
	refused("\"Environment\":{\"Variables\":{\"AWS_REGION\":\"x\",\"AWS_LAMBDA_RUNTIME_API\":\"y\"}}",
	        true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "AWS_REGION");
	/* Close relatives are not reserved. */
	struct fn_config *c =
	    accepted("\"Environment\":{\"Variables\":{\"AWS_REGIONS\":\"1\",\"aws_region\":\"2\","
	             "\"AWS_LAMBDA_EXEC_WRAPPER\":\"3\",\"LAMBDA_TASK_ROOT2\":\"4\"}}");
	assert_int_equal(json_object_size(c->env_vars), 4);
	fn_config_unref(c);
}

static void test_env_keys_and_types(void **state)
{
	/* Key pattern [a-zA-Z]([a-zA-Z0-9_])+ : a ValidationException. */
	refused("\"Environment\":{\"Variables\":{\"1AB\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "environment.variables");
	refused("\"Environment\":{\"Variables\":{\"A-B\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "environment.variables");
	refused("\"Environment\":{\"Variables\":{\"A\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "environment.variables");
	refused("\"Environment\":{\"Variables\":{\"\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "environment.variables");
	refused("\"Environment\":{\"Variables\":{\"_AB\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "environment.variables");
	refused("\"Environment\":{\"Variables\":{\"A B\":\"x\"}}", true, LAMBDA_ERR_VALIDATION,
	        "environment.variables");
	/* Wrong types. */
	refused("\"Environment\":{\"Variables\":{\"AB\":5}}", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "AB");
	refused("\"Environment\":{\"Variables\":{\"AB\":null}}", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
	        "AB");
	refused("\"Environment\":{\"Variables\":[\"AB\"]}", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
	        "Variables");
	refused("\"Environment\":{\"Variables\":\"AB=1\"}", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
	        "Variables");
	refused("\"Environment\":\"AB=1\"", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Environment");
	refused("\"Environment\":[]", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Environment");
	struct fn_config *c =
	    accepted("\"Environment\":{\"Variables\":{\"Ab\":\"x\",\"a_1\":\"y\",\"ZZ9_\":\"\"}}");
	assert_int_equal(json_object_size(c->env_vars), 3);
	fn_config_unref(c);
}

/* Builds an Environment field with one variable AB whose value has vlen bytes. */
static char *env_one(size_t vlen)
{
	char *v = xmalloc(vlen + 1);
	memset(v, 'v', vlen);
	v[vlen] = 0;
	char *f = xasprintf("\"Environment\":{\"Variables\":{\"AB\":\"%s\"}}", v);
	free(v);
	return f;
}

/* The 4 KB limit, at bounds that hold whichever way the size is measured: 4096 bytes
 * of JSON ({"AB":"v..."}) fit, and 4097 bytes of keys and values alone do not. */
static void test_env_size_limit(void **state)
{
	char *f = env_one(4096 - 9);
	struct fn_config *c = accepted(f);
	assert_int_equal(json_string_length(json_object_get(c->env_vars, "AB")), 4087);
	fn_config_unref(c);
	free(f);
	f = env_one(4097 - 2);
	refused(f, true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "4KB");
	free(f);
	f = env_one(100000);
	refused(f, true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "4KB");
	free(f);
}

/* AWS measures the 4 KB limit on the JSON
 * text of the map (its message quotes it: "String measured: {"K000":"...",...}"), so
 * quotes, colons and commas count: 100 variables whose map is 4601 bytes of JSON are refused. */
static void test_env_size_counts_json(void **state)
{
	char *vars = xstrdup("");
	for (int i = 0; i < 100; i++) {
		char *n = xasprintf("%s%s\"K%03d\":\"%036d\"", vars, i ? "," : "", i, i);
		free(vars);
		vars = n;
	}
	char *f = xasprintf("\"Environment\":{\"Variables\":{%s}}", vars);
	refused(f, true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "4KB");
	free(f);
	free(vars);
}

static void test_tracing_layers_arch(void **state)
{
	refused("\"TracingConfig\":{\"Mode\":\"Bogus\"}", true, LAMBDA_ERR_VALIDATION, "tracingConfig.mode");
	refused("\"TracingConfig\":{\"Mode\":\"active\"}", true, LAMBDA_ERR_VALIDATION, "tracingConfig.mode");
	refused("\"TracingConfig\":{\"Mode\":1}", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Mode");
	refused("\"Architectures\":[\"arm64\"]", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Architectures");
	refused("\"Architectures\":[\"x86_64\",\"arm64\"]", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
	        "Architectures");
	refused("\"Architectures\":[1]", true, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "Architectures");
	struct fn_config *c = accepted("\"TracingConfig\":{\"Mode\":\"Active\"}");
	assert_string_equal(c->tracing_mode, "Active");
	fn_config_unref(c);
	c = accepted("\"TracingConfig\":{}, \"Layers\":[], \"Architectures\":[\"x86_64\"]");
	assert_string_equal(c->tracing_mode, "PassThrough");
	fn_config_unref(c);
	/* Layers are the API's to resolve (svc/lambda/layers.c): apply leaves them. */
	c = accepted("\"Layers\":[\"arn:aws:lambda:us-east-1:123456789012:layer:l:1\"]");
	assert_int_equal(json_array_size(c->layers), 0);
	/* Resolved layers survive the stored form and a copy, and show as [{Arn, CodeSize}]. */
	json_array_append_new(c->layers,
	                      json_pack("{s:s, s:i, s:s, s:i}", "Arn", "arn:aws:lambda:us-east-1:1:layer:l:1",
	                                "CodeSize", 10, "Sha", "ab", "Unzipped", 20));
	c->code_unzipped = 7;
	memset(c->code_hex, 'a', 64);
	c->code_hex[64] = 0;
	char *txt = fn_config_to_stored(c);
	struct err e = {0};
	struct fn_config *back = fn_config_from_stored(txt, &e);
	assert_non_null(back);
	assert_true(json_equal(back->layers, c->layers));
	assert_int_equal(back->code_unzipped, 7);
	struct fn_config *dup = fn_config_dup(back);
	assert_true(json_equal(dup->layers, c->layers));
	json_t *api = fn_config_to_api(dup, "us-east-1", "000000000000");
	json_t *want =
	    json_pack("[{s:s, s:i}]", "Arn", "arn:aws:lambda:us-east-1:1:layer:l:1", "CodeSize", 10);
	assert_true(json_equal(json_object_get(api, "Layers"), want));
	json_decref(want);
	json_decref(api);
	fn_config_unref(dup);
	fn_config_unref(back);
	free(txt);
	fn_config_unref(c);
}

/* ---- update ---- */

/* Copies the fields an update may change, for comparison. */
struct snap {
	char name[80], runtime[40], handler[140], role[200], desc[300], tracing[20];
	uint32_t timeout, memory, eph;
	char *env;
};

static void snap_take(struct snap *s, const struct fn_config *c)
{
	snprintf(s->name, sizeof(s->name), "%s", c->name);
	snprintf(s->runtime, sizeof(s->runtime), "%s", c->runtime);
	snprintf(s->handler, sizeof(s->handler), "%s", c->handler);
	snprintf(s->role, sizeof(s->role), "%s", c->role);
	snprintf(s->desc, sizeof(s->desc), "%s", c->description);
	snprintf(s->tracing, sizeof(s->tracing), "%s", c->tracing_mode);
	s->timeout = c->timeout_s;
	s->memory = c->memory_mb;
	s->eph = c->ephemeral_mb;
	s->env = json_dumps(c->env_vars, JSON_SORT_KEYS | JSON_COMPACT);
}

static void snap_equal(const struct snap *a, const struct snap *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->runtime, b->runtime);
	assert_string_equal(a->handler, b->handler);
	assert_string_equal(a->role, b->role);
	assert_string_equal(a->desc, b->desc);
	assert_string_equal(a->tracing, b->tracing);
	assert_int_equal(a->timeout, b->timeout);
	assert_int_equal(a->memory, b->memory);
	assert_int_equal(a->eph, b->eph);
	assert_string_equal(a->env, b->env);
}

static void test_update_empty_changes_nothing(void **state)
{
	struct fn_config *c = created();
	struct err e;
	assert_int_equal(
	    apply(c, "{\"Environment\":{\"Variables\":{\"AB\":\"1\"}},\"Timeout\":10}", false, &e), 0);
	struct snap before, after;
	snap_take(&before, c);
	/* No Runtime/Handler/Role needed; FunctionName and PackageType in the body are not
	 * the update's business. */
	assert_int_equal(apply(c, "{}", false, &e), 0);
	assert_int_equal(apply(c, "{\"FunctionName\":\"other\",\"PackageType\":\"Image\"}", false, &e), 0);
	snap_take(&after, c);
	snap_equal(&before, &after);
	free(before.env);
	free(after.env);
	fn_config_unref(c);
}

static void test_update_each_field_alone(void **state)
{
	static const struct {
		const char *body;
		const char *what;
	} ups[] = {
	    {"{\"Runtime\":\"provided.al2\"}", "runtime"},
	    {"{\"Handler\":\"new.handler\"}", "handler"},
	    {"{\"Role\":\"arn:aws:iam::210987654321:role/other\"}", "role"},
	    {"{\"Description\":\"changed\"}", "desc"},
	    {"{\"Timeout\":60}", "timeout"},
	    {"{\"MemorySize\":512}", "memory"},
	    {"{\"EphemeralStorage\":{\"Size\":1024}}", "eph"},
	    {"{\"Environment\":{\"Variables\":{\"NEW\":\"v\"}}}", "env"},
	    {"{\"TracingConfig\":{\"Mode\":\"Active\"}}", "tracing"},
	};
	for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
		struct fn_config *c = created();
		struct snap before, after;
		snap_take(&before, c);
		struct err e;
		if (apply(c, ups[i].body, false, &e) != 0)
			fail_msg("%s refused: %s", ups[i].body, e.msg);
		snap_take(&after, c);
		const char *w = ups[i].what;
		/* The named field changed, every other one did not. */
		assert_int_equal(strcmp(before.runtime, after.runtime) != 0, strcmp(w, "runtime") == 0);
		assert_int_equal(strcmp(before.handler, after.handler) != 0, strcmp(w, "handler") == 0);
		assert_int_equal(strcmp(before.role, after.role) != 0, strcmp(w, "role") == 0);
		assert_int_equal(strcmp(before.desc, after.desc) != 0, strcmp(w, "desc") == 0);
		assert_int_equal(before.timeout != after.timeout, strcmp(w, "timeout") == 0);
		assert_int_equal(before.memory != after.memory, strcmp(w, "memory") == 0);
		assert_int_equal(before.eph != after.eph, strcmp(w, "eph") == 0);
		assert_int_equal(strcmp(before.env, after.env) != 0, strcmp(w, "env") == 0);
		assert_int_equal(strcmp(before.tracing, after.tracing) != 0, strcmp(w, "tracing") == 0);
		assert_string_equal(before.name, after.name);
		free(before.env);
		free(after.env);
		fn_config_unref(c);
	}
}

/* Environment replaces the whole map; an empty map or no Variables clears it. */
static void test_update_environment(void **state)
{
	struct fn_config *c = created();
	struct err e;
	assert_int_equal(apply(c, "{\"Environment\":{\"Variables\":{\"AA\":\"1\",\"BB\":\"2\"}}}", false, &e),
	                 0);
	assert_int_equal(json_object_size(c->env_vars), 2);
	assert_int_equal(apply(c, "{\"Environment\":{\"Variables\":{\"CC\":\"3\"}}}", false, &e), 0);
	assert_int_equal(json_object_size(c->env_vars), 1);
	assert_string_equal(json_string_value(json_object_get(c->env_vars, "CC")), "3");
	assert_int_equal(apply(c, "{\"Environment\":null}", false, &e), 0); /* absent: kept */
	assert_int_equal(json_object_size(c->env_vars), 1);
	assert_int_equal(apply(c, "{\"Environment\":{\"Variables\":{}}}", false, &e), 0);
	assert_int_equal(json_object_size(c->env_vars), 0);
	assert_int_equal(apply(c, "{\"Environment\":{\"Variables\":{\"CC\":\"3\"}}}", false, &e), 0);
	assert_int_equal(apply(c, "{\"Environment\":{}}", false, &e), 0);
	assert_int_equal(json_object_size(c->env_vars), 0);
	assert_int_equal(apply(c, "{\"Environment\":{\"Variables\":{\"CC\":\"3\"}}}", false, &e), 0);
	assert_int_equal(apply(c, "{\"Environment\":{\"Variables\":null}}", false, &e), 0);
	assert_int_equal(json_object_size(c->env_vars), 0);

	/* The config keeps its own copy: changing the request afterwards changes nothing. */
	json_t *req = J("{\"Environment\":{\"Variables\":{\"DD\":\"4\"}}}");
	assert_int_equal(fn_config_apply(c, req, false, &e), 0);
	json_object_set_new(json_object_get(json_object_get(req, "Environment"), "Variables"), "EE",
	                    json_string("5"));
	json_decref(req);
	assert_int_equal(json_object_size(c->env_vars), 1);
	assert_string_equal(json_string_value(json_object_get(c->env_vars, "DD")), "4");
	fn_config_unref(c);
}

/* ---- lifecycle ---- */

static void test_ref_dup(void **state)
{
	fn_config_unref(NULL);
	struct fn_config *c = created();
	struct err e;
	assert_int_equal(
	    apply(c, "{\"Environment\":{\"Variables\":{\"AA\":\"1\"}},\"Description\":\"d\"}", false, &e), 0);
	memcpy(c->code_hex, HEX64, 65);
	c->code_size = 77;
	assert_ptr_equal(fn_config_ref(c), c);
	assert_int_equal(fn_config_refs(c), 2);
	fn_config_unref(c);
	assert_int_equal(fn_config_refs(c), 1);

	struct fn_config *d = fn_config_dup(c);
	assert_ptr_not_equal(d, c);
	assert_int_equal(fn_config_refs(d), 1);
	assert_string_equal(d->name, c->name);
	assert_ptr_not_equal(d->name, c->name);
	assert_ptr_not_equal(d->env_vars, c->env_vars);
	assert_true(json_equal(d->env_vars, c->env_vars));
	assert_string_equal(d->code_hex, HEX64);
	assert_int_equal(d->code_size, 77);
	assert_string_equal(d->revision_id, c->revision_id);
	/* An update of the copy leaves the original alone. */
	assert_int_equal(
	    apply(d, "{\"Environment\":{\"Variables\":{\"BB\":\"2\"}},\"Description\":\"new\",\"Timeout\":9}",
	          false, &e),
	    0);
	assert_string_equal(c->description, "d");
	assert_int_equal(c->timeout_s, 3);
	assert_non_null(json_object_get(c->env_vars, "AA"));
	assert_null(json_object_get(c->env_vars, "BB"));
	fn_config_unref(d);
	fn_config_unref(c);

	/* Two new configs get different revision ids. */
	struct fn_config *a = fn_config_new(), *b = fn_config_new();
	assert_string_not_equal(a->revision_id, b->revision_id);
	fn_config_unref(a);
	fn_config_unref(b);
}

/* ---- the API form ---- */

static const char *sget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		fail_msg("%s is not a string", k);
	return json_string_value(v);
}

static json_int_t iget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		fail_msg("%s is not an integer", k);
	return json_integer_value(v);
}

static void test_to_api(void **state)
{
	struct fn_config *c = created();
	struct err e;
	assert_int_equal(apply(c,
	                       "{\"Description\":\"desc\",\"Timeout\":30,\"MemorySize\":256,"
	                       "\"EphemeralStorage\":{\"Size\":1024},\"TracingConfig\":{\"Mode\":\"Active\"},"
	                       "\"Environment\":{\"Variables\":{\"STAGE\":\"prod\"}}}",
	                       false, &e),
	                 0);
	memcpy(c->code_hex, HEX64, 65);
	memcpy(c->code_b64, B64, sizeof(B64));
	c->code_size = 123456;
	c->last_modified_ms = 1700000000123LL;
	memcpy(c->revision_id, REV, 37);

	json_t *o = fn_config_to_api(c, "eu-west-1", "123456789012");
	assert_non_null(o);
	assert_string_equal(sget(o, "FunctionName"), "hello");
	assert_string_equal(sget(o, "FunctionArn"), "arn:aws:lambda:eu-west-1:123456789012:function:hello");
	assert_string_equal(sget(o, "Runtime"), "provided.al2023");
	assert_string_equal(sget(o, "Role"), ROLE);
	assert_string_equal(sget(o, "Handler"), "bootstrap");
	assert_int_equal(iget(o, "CodeSize"), 123456);
	assert_string_equal(sget(o, "Description"), "desc");
	assert_int_equal(iget(o, "Timeout"), 30);
	assert_int_equal(iget(o, "MemorySize"), 256);
	assert_string_equal(sget(o, "LastModified"), "2023-11-14T22:13:20.123+0000");
	assert_string_equal(sget(o, "CodeSha256"), B64);
	assert_string_equal(sget(o, "Version"), "$LATEST");
	assert_string_equal(sget(json_object_get(o, "TracingConfig"), "Mode"), "Active");
	assert_string_equal(sget(o, "RevisionId"), REV);
	assert_string_equal(sget(o, "State"), "Active");
	assert_string_equal(sget(o, "LastUpdateStatus"), "Successful");
	assert_string_equal(sget(o, "PackageType"), "Zip");
	json_t *arch = json_object_get(o, "Architectures");
	assert_true(json_is_array(arch));
	assert_int_equal(json_array_size(arch), 1);
	assert_string_equal(json_string_value(json_array_get(arch, 0)), "x86_64");
	assert_int_equal(iget(json_object_get(o, "EphemeralStorage"), "Size"), 1024);
	json_t *lc = json_object_get(o, "LoggingConfig");
	assert_string_equal(sget(lc, "LogFormat"), "Text");
	assert_string_equal(sget(lc, "LogGroup"), "/aws/lambda/hello");
	json_t *vars = json_object_get(json_object_get(o, "Environment"), "Variables");
	assert_true(json_is_object(vars));
	assert_int_equal(json_object_size(vars), 1);
	assert_string_equal(sget(vars, "STAGE"), "prod");
	json_decref(o);

	/* No variables: no Environment at all, as AWS shows it; default tracing. */
	struct fn_config *d = created();
	o = fn_config_to_api(d, "us-east-1", "000000000000");
	assert_null(json_object_get(o, "Environment"));
	assert_string_equal(sget(json_object_get(o, "TracingConfig"), "Mode"), "PassThrough");
	assert_string_equal(sget(o, "Description"), "");
	assert_int_equal(iget(o, "Timeout"), 3);
	assert_int_equal(iget(o, "MemorySize"), 128);
	assert_int_equal(iget(json_object_get(o, "EphemeralStorage"), "Size"), 512);
	assert_string_equal(sget(o, "FunctionArn"), "arn:aws:lambda:us-east-1:000000000000:function:hello");
	json_decref(o);
	fn_config_unref(d);
	fn_config_unref(c);

	char *arn = fn_arn("f", "ap-south-1", "111122223333");
	assert_string_equal(arn, "arn:aws:lambda:ap-south-1:111122223333:function:f");
	free(arn);
}

/* ---- the stored form ---- */

static void test_stored_round_trip(void **state)
{
	struct fn_config *c = fn_config_new();
	struct err e;
	assert_int_equal(
	    apply(c,
	          "{\"FunctionName\":\"round-trip_1\",\"Runtime\":\"provided.al2\",\"Handler\":\"a.b\","
	          "\"Role\":\"" ROLE "\",\"Description\":\"quote \\\" and \\u00e9 and \\\\\","
	          "\"Timeout\":899,\"MemorySize\":10240,\"EphemeralStorage\":{\"Size\":10239},"
	          "\"TracingConfig\":{\"Mode\":\"Active\"},"
	          "\"Environment\":{\"Variables\":{\"K1\":\"v=1\",\"K2\":\"\",\"K3\":\"line\\nbreak\"}}}",
	          true, &e),
	    0);
	memcpy(c->code_hex, HEX64, 65);
	memcpy(c->code_b64, B64, sizeof(B64));
	c->code_size = 5000000000ULL; /* past 32 bits */
	c->last_modified_ms = 1700000000123LL;
	memcpy(c->revision_id, REV, 37);

	char *s = fn_config_to_stored(c);
	assert_non_null(s);
	struct fn_config *d = fn_config_from_stored(s, &e);
	if (!d)
		fail_msg("from_stored refused its own text: %s: %s", e.msg, s);
	assert_int_equal(fn_config_refs(d), 1);
	assert_string_equal(d->name, c->name);
	assert_string_equal(d->runtime, c->runtime);
	assert_string_equal(d->handler, c->handler);
	assert_string_equal(d->role, c->role);
	assert_string_equal(d->description, c->description);
	assert_string_equal(d->tracing_mode, "Active");
	assert_int_equal(d->timeout_s, 899);
	assert_int_equal(d->memory_mb, 10240);
	assert_int_equal(d->ephemeral_mb, 10239);
	assert_true(json_equal(d->env_vars, c->env_vars));
	assert_string_equal(d->code_hex, HEX64);
	assert_string_equal(d->code_b64, B64);
	assert_true(d->code_size == 5000000000ULL);
	assert_true(d->last_modified_ms == 1700000000123LL);
	assert_string_equal(d->revision_id, REV);
	/* And the text is stable. */
	char *s2 = fn_config_to_stored(d);
	assert_string_equal(s, s2);
	free(s2);
	free(s);
	fn_config_unref(d);

	/* An empty environment and a function without code yet survive too. */
	struct fn_config *m = created();
	memset(m->code_hex, '0', 64);
	s = fn_config_to_stored(m);
	d = fn_config_from_stored(s, &e);
	assert_non_null(d);
	assert_int_equal(json_object_size(d->env_vars), 0);
	assert_string_equal(d->code_b64, "");
	free(s);
	fn_config_unref(d);
	fn_config_unref(m);
	fn_config_unref(c);
}

/* Replaces one member of a valid stored text and expects from_stored to refuse it. */
static void stored_bad_member(const char *key, json_t *value)
{
	struct fn_config *c = created();
	memcpy(c->code_hex, HEX64, 65);
	memcpy(c->code_b64, B64, sizeof(B64));
	char *s = fn_config_to_stored(c);
	fn_config_unref(c);
	json_t *o = J(s);
	free(s);
	if (value)
		json_object_set_new(o, key, value);
	else
		json_object_del(o, key);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct err e = {0};
	struct fn_config *d = fn_config_from_stored(s, &e);
	if (d)
		fail_msg("accepted a stored text with bad %s: %s", key, s);
	assert_int_equal(e.code, EINVAL);
	assert_true(e.msg[0] != 0);
	free(s);
}

static void test_stored_garbage(void **state)
{
	const char *texts[] = {"",      "not json",         "null", "[]", "{}",
	                       "\"x\"", "{\"name\":\"x\"}", "{",    "1",  "{\"name\":\"a\"} trailing"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct err e = {0};
		struct fn_config *d = fn_config_from_stored(texts[i], &e);
		if (d)
			fail_msg("accepted '%s'", texts[i]);
		assert_int_equal(e.code, EINVAL);
		assert_true(e.msg[0] != 0);
	}
	const char *keys[] = {"name",        "runtime",          "handler",    "role",
	                      "description", "timeout_s",        "memory_mb",  "ephemeral_mb",
	                      "env",         "tracing",          "code_hex",   "code_b64",
	                      "code_size",   "last_modified_ms", "revision_id"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		stored_bad_member(keys[i], NULL);         /* missing */
		stored_bad_member(keys[i], json_array()); /* wrong type */
	}
	stored_bad_member("name", json_integer(1));
	stored_bad_member("timeout_s", json_string("3"));
	stored_bad_member("env", json_string("{}"));
	stored_bad_member("code_hex", json_string("abc"));
	stored_bad_member("code_hex", json_string(HEX64 "0"));
	stored_bad_member("code_b64", json_string(B64 "A"));
	stored_bad_member("revision_id", json_string("short"));
	stored_bad_member("revision_id", json_string(REV "0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_valid),
	    cmocka_unit_test(test_parse_ref_forms),
	    cmocka_unit_test(test_parse_ref_bad),
	    cmocka_unit_test(test_parse_ref_malformed),
	    cmocka_unit_test(test_create_minimal_defaults),
	    cmocka_unit_test(test_create_every_field),
	    cmocka_unit_test(test_create_lower_bounds),
	    cmocka_unit_test(test_create_nulls_are_absent),
	    cmocka_unit_test(test_create_function_name),
	    cmocka_unit_test(test_body_not_object),
	    cmocka_unit_test(test_package_type),
	    cmocka_unit_test(test_runtime),
	    cmocka_unit_test(test_runtime_helpers),
	    cmocka_unit_test(test_handler),
	    cmocka_unit_test(test_role),
	    cmocka_unit_test(test_description),
	    cmocka_unit_test(test_description_counts_characters),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_memory),
	    cmocka_unit_test(test_ephemeral),
	    cmocka_unit_test(test_env_reserved),
	    cmocka_unit_test(test_env_keys_and_types),
	    cmocka_unit_test(test_env_size_limit),
	    cmocka_unit_test(test_env_size_counts_json),
	    cmocka_unit_test(test_tracing_layers_arch),
	    cmocka_unit_test(test_update_empty_changes_nothing),
	    cmocka_unit_test(test_update_each_field_alone),
	    cmocka_unit_test(test_update_environment),
	    cmocka_unit_test(test_ref_dup),
	    cmocka_unit_test(test_to_api),
	    cmocka_unit_test(test_stored_round_trip),
	    cmocka_unit_test(test_stored_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
