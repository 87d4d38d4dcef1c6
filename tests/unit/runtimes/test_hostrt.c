/* runtimes/hostrt: which managed runtime identifiers a host's interpreters can serve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "registry/fn.h"
#include "runtimes/hostrt.h"
#include "svc/lambda/errors.h"

static void test_python_versions(void **state)
{
	struct err e = {0};
	hostrt_set("3.11", "20.20.2");
	assert_int_equal(hostrt_check("python3.9", &e), 0);
	assert_int_equal(hostrt_check("python3.11", &e), 0);
	assert_int_equal(hostrt_check("python3.12", &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "needs Python 3.12 or newer"));
	assert_non_null(strstr(e.msg, "has Python 3.11"));
	assert_non_null(strstr(e.msg, "use python3.11"));
	hostrt_set("3.13", NULL);
	assert_int_equal(hostrt_check("python3.13", &e), 0);
	hostrt_set(NULL, NULL);
	assert_int_equal(hostrt_check("python3.9", &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "apt install python3"));
}

static void test_node_versions(void **state)
{
	struct err e = {0};
	hostrt_set("3.11", "20.20.2");
	assert_int_equal(hostrt_check("nodejs18.x", &e), 0);
	assert_int_equal(hostrt_check("nodejs20.x", &e), 0);
	assert_int_equal(hostrt_check("nodejs22.x", &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "needs Node.js 22 or newer"));
	assert_non_null(strstr(e.msg, "use nodejs20.x"));
	hostrt_set("3.11", NULL);
	assert_int_equal(hostrt_check("nodejs18.x", &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "apt install nodejs"));
}

static void test_provided_always(void **state)
{
	struct err e = {0};
	hostrt_set(NULL, NULL);
	assert_int_equal(hostrt_check("provided.al2023", &e), 0);
	assert_string_equal(fn_runtime_family("provided"), "provided");
	assert_string_equal(fn_runtime_family("python3.12"), "python");
	assert_string_equal(fn_runtime_family("nodejs20.x"), "node");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_python_versions),
	    cmocka_unit_test(test_node_versions),
	    cmocka_unit_test(test_provided_always),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
