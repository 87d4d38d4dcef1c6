/* Tests for struct err's constructors: err_svc_enum accepts a member, and refuses
 * anything else with AWS's validation message listing the set in the given order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <lambdad/err.h>
#include <string.h>

static const char *const modes[] = {"Active", "PassThrough", NULL};

static void test_enum_member(void **state)
{
	(void)state;
	struct err e = {0};
	assert_int_equal(err_svc_enum(&e, 7, "tracingConfig.mode", "PassThrough", modes), 0);
	assert_int_equal(e.code, 0);
	assert_int_equal(e.svc, 0);
}

static void test_enum_refused(void **state)
{
	(void)state;
	struct err e = {0};
	assert_int_equal(err_svc_enum(&e, 7, "tracingConfig.mode", "active", modes), -EINVAL);
	assert_int_equal(e.code, EINVAL);
	assert_int_equal(e.svc, 7);
	assert_string_equal(e.msg, "1 validation error detected: Value 'active' at 'tracingConfig.mode' "
	                           "failed to satisfy constraint: Member must satisfy enum value set: "
	                           "[Active, PassThrough]");
}

/* A long value is cut in the message, never past it. */
static void test_enum_long_value(void **state)
{
	(void)state;
	char v[300];
	memset(v, 'x', sizeof(v) - 1);
	v[sizeof(v) - 1] = 0;
	struct err e = {0};
	assert_int_equal(err_svc_enum(&e, 7, "f", v, modes), -EINVAL);
	assert_non_null(strstr(e.msg, "Value 'xxxx"));
	assert_null(strstr(e.msg, v));
	assert_non_null(strstr(e.msg, "[Active, PassThrough]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enum_member),
	    cmocka_unit_test(test_enum_refused),
	    cmocka_unit_test(test_enum_long_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
