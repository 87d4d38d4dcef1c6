/* The filter-pattern matcher (esm/filter.c): the examples of AWS's Lambda event filtering
 * documentation (each operator of its table, SQS bodies, DynamoDB images), record arrays,
 * nesting, $or, and the errors that name what is wrong in a pattern. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "esm/filter.h"

/* Whether record (JSON text) matches pattern (JSON text, which must parse). */
static bool matches(const char *pattern, const char *record)
{
	struct err e = {0};
	json_t *p = esm_pattern_parse(pattern, strlen(pattern), &e);
	if (!p)
		fail_msg("%s: %s", pattern, e.msg);
	json_t *r = json_loads(record, JSON_DECODE_ANY, NULL);
	assert_non_null(r);
	bool m = esm_pattern_match(p, r);
	json_decref(p);
	json_decref(r);
	return m;
}

#define YES(p, r) assert_true(matches(p, r))
#define NO(p, r) assert_false(matches(p, r))

/* The pattern is refused and the message holds want. */
static void refused(const char *pattern, const char *want)
{
	struct err e = {0};
	json_t *p = esm_pattern_parse(pattern, strlen(pattern), &e);
	if (p)
		fail_msg("accepted: %s", pattern);
	assert_int_equal(e.code, EINVAL);
	if (!strstr(e.msg, want))
		fail_msg("%s: message '%s' lacks '%s'", pattern, e.msg, want);
}

static void test_null_empty_equals(void **state)
{
	YES("{\"UserID\": [null]}", "{\"UserID\": null}");
	NO("{\"UserID\": [null]}", "{\"UserID\": \"\"}");
	NO("{\"UserID\": [null]}", "{}");
	YES("{\"LastName\": [\"\"]}", "{\"LastName\": \"\"}");
	NO("{\"LastName\": [\"\"]}", "{\"LastName\": null}");
	YES("{\"Name\": [\"Alice\"]}", "{\"Name\": \"Alice\"}");
	NO("{\"Name\": [\"Alice\"]}", "{\"Name\": \"alice\"}");
	/* Numbers by their form in plain equality: 300 is not 300.0, nor "300". */
	YES("{\"n\": [300]}", "{\"n\": 300}");
	NO("{\"n\": [300]}", "{\"n\": 300.0}");
	NO("{\"n\": [300]}", "{\"n\": \"300\"}");
	YES("{\"b\": [true]}", "{\"b\": true}");
	NO("{\"b\": [true]}", "{\"b\": \"true\"}");
}

static void test_equals_ignore_case(void **state)
{
	YES("{\"Name\": [{\"equals-ignore-case\": \"alice\"}]}", "{\"Name\": \"ALICE\"}");
	YES("{\"Name\": [{\"equals-ignore-case\": \"alice\"}]}", "{\"Name\": \"Alice\"}");
	NO("{\"Name\": [{\"equals-ignore-case\": \"alice\"}]}", "{\"Name\": \"Alicia\"}");
	NO("{\"Name\": [{\"equals-ignore-case\": \"1\"}]}", "{\"Name\": 1}");
}

static void test_and_or(void **state)
{
	const char *and = "{\"Location\": [\"New York\"], \"Day\": [\"Monday\"]}";
	YES(and, "{\"Location\": \"New York\", \"Day\": \"Monday\"}");
	NO(and, "{\"Location\": \"New York\", \"Day\": \"Tuesday\"}");
	NO(and, "{\"Location\": \"New York\"}");
	const char * or = "{\"PaymentType\": [\"Credit\", \"Debit\"]}";
	YES(or, "{\"PaymentType\": \"Credit\"}");
	YES(or, "{\"PaymentType\": \"Debit\"}");
	NO(or, "{\"PaymentType\": \"Cash\"}");
	const char *dollar_or = "{\"$or\": [{\"Location\": [\"New York\"]}, {\"Day\": [\"Monday\"]}]}";
	YES(dollar_or, "{\"Location\": \"New York\", \"Day\": \"Friday\"}");
	YES(dollar_or, "{\"Location\": \"Oslo\", \"Day\": \"Monday\"}");
	NO(dollar_or, "{\"Location\": \"Oslo\", \"Day\": \"Friday\"}");
	/* $or beside other keys: both must hold. */
	const char *mixed = "{\"source\": [\"a\"], \"$or\": [{\"x\": [1]}, {\"y\": [2]}]}";
	YES(mixed, "{\"source\": \"a\", \"y\": 2}");
	NO(mixed, "{\"source\": \"b\", \"y\": 2}");
}

static void test_anything_but(void **state)
{
	const char *p = "{\"Weather\": [{\"anything-but\": [\"Raining\"]}]}";
	YES(p, "{\"Weather\": \"Sunny\"}");
	NO(p, "{\"Weather\": \"Raining\"}");
	NO(p, "{}"); /* a missing field never matches */
	YES("{\"state\": [{\"anything-but\": \"initializing\"}]}", "{\"state\": \"running\"}");
	NO("{\"state\": [{\"anything-but\": \"initializing\"}]}", "{\"state\": \"initializing\"}");
	NO("{\"n\": [{\"anything-but\": [100, 200]}]}", "{\"n\": 200}");
	NO("{\"n\": [{\"anything-but\": [100]}]}", "{\"n\": 100.0}");
	YES("{\"n\": [{\"anything-but\": [100, 200]}]}", "{\"n\": 300}");
}

static void test_numeric(void **state)
{
	const char *eq = "{\"Price\": [{\"numeric\": [\"=\", 100]}]}";
	YES(eq, "{\"Price\": 100}");
	YES(eq, "{\"Price\": 100.0}");
	NO(eq, "{\"Price\": 101}");
	NO(eq, "{\"Price\": \"100\"}");
	const char *range = "{\"Price\": [{\"numeric\": [\">\", 10, \"<=\", 20]}]}";
	YES(range, "{\"Price\": 20}");
	YES(range, "{\"Price\": 10.5}");
	NO(range, "{\"Price\": 10}");
	NO(range, "{\"Price\": 20.01}");
	YES("{\"x\": [{\"numeric\": [\"<\", 0]}]}", "{\"x\": -3}");
	YES("{\"x\": [{\"numeric\": [\">=\", 0]}]}", "{\"x\": 0}");
	NO("{\"x\": [{\"numeric\": [\">=\", 0]}]}", "{\"x\": -0.5}");
}

static void test_exists(void **state)
{
	YES("{\"ProductName\": [{\"exists\": true}]}", "{\"ProductName\": \"Widget\"}");
	YES("{\"ProductName\": [{\"exists\": true}]}", "{\"ProductName\": null}");
	NO("{\"ProductName\": [{\"exists\": true}]}", "{\"Other\": 1}");
	YES("{\"ProductName\": [{\"exists\": false}]}", "{\"Other\": 1}");
	NO("{\"ProductName\": [{\"exists\": false}]}", "{\"ProductName\": \"Widget\"}");
	/* exists matches leaves only; a missing parent means the leaf does not exist. */
	NO("{\"a\": [{\"exists\": true}]}", "{\"a\": {\"b\": 1}}");
	YES("{\"a\": {\"b\": [{\"exists\": false}]}}", "{\"c\": 1}");
	YES("{\"a\": {\"b\": [{\"exists\": false}]}}", "{\"a\": {\"c\": 1}}");
	NO("{\"a\": {\"b\": [{\"exists\": false}]}}", "{\"a\": {\"b\": 1}}");
}

static void test_prefix_suffix(void **state)
{
	YES("{\"Region\": [{\"prefix\": \"us-\"}]}", "{\"Region\": \"us-east-1\"}");
	NO("{\"Region\": [{\"prefix\": \"us-\"}]}", "{\"Region\": \"eu-west-1\"}");
	NO("{\"Region\": [{\"prefix\": \"us-\"}]}", "{\"Region\": \"us\"}");
	YES("{\"Region\": [{\"prefix\": {\"equals-ignore-case\": \"US-\"}}]}", "{\"Region\": \"us-east-1\"}");
	YES("{\"FileName\": [{\"suffix\": \".png\"}]}", "{\"FileName\": \"cat.png\"}");
	NO("{\"FileName\": [{\"suffix\": \".png\"}]}", "{\"FileName\": \"cat.jpg\"}");
	YES("{\"FileName\": [{\"suffix\": {\"equals-ignore-case\": \".PNG\"}}]}",
	    "{\"FileName\": \"cat.png\"}");
	NO("{\"FileName\": [{\"suffix\": \".png\"}]}", "{\"FileName\": 5}");
}

/* The SQS, Kinesis and DynamoDB examples of the Lambda documentation: the poller parses
 * a JSON body before matching, so a body pattern meets an object. */
static void test_documented_records(void **state)
{
	const char *sqs =
	    "{\"messageId\": \"059f36b4-87a3-44ab-83d2-661975830a7d\", "
	    "\"attributes\": {\"ApproximateReceiveCount\": \"1\", \"SenderId\": \"AIDAIENQZJOLO23YVJ4VO\"}, "
	    "\"body\": {\"RecordNumber\": 1234, \"TimeStamp\": \"yyyy-mm-ddThh:mm:ss\", "
	    "\"RequestCode\": \"AAAA\"}, \"eventSource\": \"aws:sqs\"}";
	YES("{\"body\": {\"RequestCode\": [\"AAAA\"]}}", sqs);
	NO("{\"body\": {\"RequestCode\": [\"BBBB\"]}}", sqs);
	YES("{\"body\": {\"RecordNumber\": [{\"numeric\": [\">\", 1000]}]}}", sqs);
	YES("{\"attributes\": {\"SenderId\": [{\"prefix\": \"AIDA\"}]}}", sqs);
	/* A plain-text body is a string: a string pattern matches it, an object pattern does not. */
	const char *plain = "{\"body\": \"hello world\"}";
	YES("{\"body\": [{\"prefix\": \"hello\"}]}", plain);
	NO("{\"body\": {\"RequestCode\": [\"AAAA\"]}}", plain);
	NO("{\"body\": [{\"prefix\": \"{\"}]}", sqs);
	const char *ddb = "{\"eventName\": \"INSERT\", \"dynamodb\": {\"Keys\": {\"CustomerName\": "
	                  "{\"S\": \"AnyCompany Industries\"}}, \"NewImage\": {\"id\": {\"BOOL\": true}}}}";
	YES("{\"dynamodb\": {\"Keys\": {\"CustomerName\": {\"S\": [\"AnyCompany Industries\"]}}}}", ddb);
	YES("{\"eventName\": [\"INSERT\"], \"dynamodb\": {\"NewImage\": {\"id\": {\"BOOL\": [true]}}}}", ddb);
	NO("{\"eventName\": [\"MODIFY\"]}", ddb);
	const char *kin =
	    "{\"partitionKey\": \"1\", \"data\": {\"temperature\": 55, \"location\": \"Oslo\"}}";
	YES("{\"data\": {\"temperature\": [{\"numeric\": [\">\", 0, \"<=\", 100]}], \"location\": "
	    "[\"Oslo\"]}}",
	    kin);
	NO("{\"data\": {\"temperature\": [{\"numeric\": [\">\", 60]}]}}", kin);
}

static void test_arrays_in_record(void **state)
{
	const char *ec2 =
	    "{\"resources\": [\"arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f\", \"x\"]}";
	YES("{\"resources\": [\"arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f\"]}", ec2);
	NO("{\"resources\": [\"y\"]}", ec2);
	YES("{\"resources\": [{\"prefix\": \"arn:aws:ec2\"}]}", ec2);
	/* Arrays of objects: any element may match the nested pattern. */
	const char *items = "{\"items\": [{\"sku\": \"a\", \"n\": 1}, {\"sku\": \"b\", \"n\": 5}]}";
	YES("{\"items\": {\"sku\": [\"b\"]}}", items);
	NO("{\"items\": {\"sku\": [\"c\"]}}", items);
	YES("{\"tags\": [{\"exists\": true}]}", "{\"tags\": [\"a\"]}");
	NO("{\"tags\": [{\"exists\": true}]}", "{\"tags\": []}");
	/* A record that is not an object meets the pattern as an empty one. */
	NO("{\"a\": [1]}", "[1]");
	YES("{\"a\": [{\"exists\": false}]}", "\"text\"");
}

static void test_duplicate_keys_last_wins(void **state)
{
	YES("{\"a\": [\"x\"], \"a\": [\"y\"]}", "{\"a\": \"y\"}");
	NO("{\"a\": [\"x\"], \"a\": [\"y\"]}", "{\"a\": \"x\"}");
}

static void test_errors(void **state)
{
	refused("", "the pattern is empty");
	refused("{", "not JSON");
	refused("[\"a\"]", "is a JSON object");
	refused("{}", "an empty object");
	refused("{\"a\": \"x\"}", "\"a\": a value in a pattern is a list of matchers");
	refused("{\"a\": []}", "\"a\": an empty list");
	refused("{\"a\": {\"b\": [{\"numeric\": [\">\"]}]}}", "\"a.b\": numeric takes");
	refused("{\"a\": [{\"numeric\": [\"=\", 1, \"<\", 2]}]}", "\"=\" stands alone");
	refused("{\"a\": [{\"numeric\": [\">\", 1, \">\", 2]}]}", "one lower bound");
	refused("{\"a\": [{\"numeric\": [\">\", 5, \"<\", 2]}]}", "lower bound is above");
	refused("{\"a\": [{\"numeric\": [\">\", \"5\"]}]}", "numbers only");
	refused("{\"a\": [{\"exists\": \"yes\"}]}", "exists takes true or false");
	refused("{\"a\": [{\"prefix\": 5}]}", "prefix takes a string");
	refused("{\"a\": [{\"anything-but\": {\"prefix\": \"us-\"}}]}", "not Lambda's");
	refused("{\"a\": [{\"anything-but\": []}]}", "non-empty list");
	refused("{\"a\": [{\"wildcard\": \"*.png\"}]}", "unsupported operator \"wildcard\"");
	refused("{\"a\": [{\"prefix\": \"a\", \"suffix\": \"b\"}]}", "exactly one operator");
	refused("{\"a\": [[1]]}", "a matcher is");
	refused("{\"$or\": [{\"a\": [1]}]}", "at least two");
	refused("{\"$or\": [{\"a\": [1]}, 5]}", "$or lists pattern objects");
	/* Longer than 4096 characters. */
	char *big = malloc(5000);
	strcpy(big, "{\"a\": [\"");
	memset(big + 8, 'x', 4100);
	strcpy(big + 4108, "\"]}");
	refused(big, "longer than 4096");
	free(big);
	/* Too deep. */
	char deep[1024] = "";
	for (int i = 0; i < 70; i++)
		strcat(deep, "{\"a\":");
	strcat(deep, "[1]");
	for (int i = 0; i < 70; i++)
		strcat(deep, "}");
	refused(deep, "nested too deeply");
}

static void test_filter_criteria(void **state)
{
	struct err e = {0};
	struct esm_filter *f = NULL;
	json_t *c = json_loads("{\"Filters\": [{\"Pattern\": \"{\\\"a\\\": [1]}\"}, "
	                       "{\"Pattern\": \"{\\\"b\\\": [2]}\"}]}",
	                       0, NULL);
	assert_int_equal(esm_filter_new(c, &f, &e), 0);
	assert_non_null(f);
	json_t *r1 = json_pack("{s:i}", "a", 1), *r2 = json_pack("{s:i}", "b", 2),
	       *r3 = json_pack("{s:i}", "c", 3);
	assert_true(esm_filter_match(f, r1));
	assert_true(esm_filter_match(f, r2));
	assert_false(esm_filter_match(f, r3));
	esm_filter_free(f);
	json_decref(c);
	/* {} and no Filters: nothing to filter, everything passes. */
	c = json_object();
	assert_int_equal(esm_filter_new(c, &f, &e), 0);
	assert_null(f);
	assert_true(esm_filter_match(NULL, r3));
	json_decref(c);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	/* Errors name the field. */
	c = json_loads("{\"Filters\": [{\"Pattern\": \"{\\\"a\\\": [1]}\"}, {\"Pattern\": 5}]}", 0, NULL);
	assert_int_equal(esm_filter_new(c, &f, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "Filters[1].Pattern must be a string"));
	json_decref(c);
	c = json_loads("{\"Filters\": [{\"Pattern\": \"{\\\"a\\\": 1}\"}]}", 0, NULL);
	assert_int_equal(esm_filter_new(c, &f, &e), -EINVAL);
	assert_non_null(
	    strstr(e.msg, "FilterCriteria.Filters[0].Pattern: Invalid filter pattern definition"));
	json_decref(c);
	c = json_loads("{\"Filters\": [{\"Pattern\": \"{}\"},{\"Pattern\": \"{}\"},{\"Pattern\": \"{}\"},"
	               "{\"Pattern\": \"{}\"},{\"Pattern\": \"{}\"},{\"Pattern\": \"{}\"}]}",
	               0, NULL);
	assert_int_equal(esm_filter_new(c, &f, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "at most 5 filters"));
	json_decref(c);
	c = json_loads("{\"Filter\": []}", 0, NULL);
	assert_int_equal(esm_filter_new(c, &f, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "unknown field Filter"));
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_null_empty_equals),
	    cmocka_unit_test(test_equals_ignore_case),
	    cmocka_unit_test(test_and_or),
	    cmocka_unit_test(test_anything_but),
	    cmocka_unit_test(test_numeric),
	    cmocka_unit_test(test_exists),
	    cmocka_unit_test(test_prefix_suffix),
	    cmocka_unit_test(test_documented_records),
	    cmocka_unit_test(test_arrays_in_record),
	    cmocka_unit_test(test_duplicate_keys_last_wins),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_filter_criteria),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
