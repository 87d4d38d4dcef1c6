/* MD5OfMessageAttributes (sqs_md5_attrs) against the vectors AWS's SDKs test with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "svc/sqs/sqs.h"

static void md5_is(const char *json, const char *want)
{
	json_t *o = json_loads(json, 0, NULL);
	assert_non_null(o);
	char out[33];
	assert_int_equal(sqs_md5_attrs(o, out), 0);
	assert_string_equal(out, want);
	json_decref(o);
}

static void test_vectors(void **state)
{
	md5_is("{\"attribName1\":{\"DataType\":\"String\",\"StringValue\":\"attribValue 1\"}}",
	       "19e27d4e946b072f3f58da80d94fd778");
	/* "Hello binary world!" in base64 */
	md5_is("{\"binaryAttribute\":{\"DataType\":\"Binary\",\"BinaryValue\":\"SGVsbG8gYmluYXJ5IHdvcmxkIQ=="
	       "\"}}",
	       "31a92b15d92f8db860eda32aceb656c3");
	md5_is("{\"customNumberTypeAttrib\":{\"DataType\":\"Number.float\",\"StringValue\":"
	       "\"4563442423554324324264524243.32543234\"}}",
	       "9fe1b90bbd9965bdf77bac517c7d2495");
	/* All three, given out of order: sorted by name. */
	md5_is(
	    "{\"customNumberTypeAttrib\":{\"DataType\":\"Number.float\",\"StringValue\":"
	    "\"4563442423554324324264524243.32543234\"},"
	    "\"attribName1\":{\"DataType\":\"String\",\"StringValue\":\"attribValue 1\"},"
	    "\"binaryAttribute\":{\"DataType\":\"Binary\",\"BinaryValue\":\"SGVsbG8gYmluYXJ5IHdvcmxkIQ==\"}}",
	    "c932db14a896c663f83c260297d594ff");
}

static void test_refused(void **state)
{
	char out[33];
	json_t *o = json_loads("{\"a\":{\"DataType\":\"String\"}}", 0, NULL);
	assert_int_equal(sqs_md5_attrs(o, out), -EINVAL);
	json_decref(o);
	o = json_loads("{\"a\":{\"DataType\":\"Binary\",\"BinaryValue\":\"!!\"}}", 0, NULL);
	assert_int_equal(sqs_md5_attrs(o, out), -EINVAL);
	json_decref(o);
	o = json_loads("{\"a\":{\"StringValue\":\"x\"}}", 0, NULL);
	assert_int_equal(sqs_md5_attrs(o, out), -EINVAL);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
