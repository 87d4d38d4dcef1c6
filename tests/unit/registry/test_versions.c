/* Tests for versions and aliases in the registry: what a qualifier names, versions in
 * number order and numbers never given twice, the code versions hold, aliases and the
 * weighted choice of a version, and their stored forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

static struct fn_config *cfg(const char *name, const char *version, char hexdigit)
{
	struct fn_config *c = fn_config_new();
	c->name = xstrdup(name);
	snprintf(c->version, sizeof(c->version), "%s", version);
	memset(c->code_hex, hexdigit, 64);
	c->code_hex[64] = 0;
	memset(c->revision_id, 'r', 36);
	c->revision_id[36] = 0;
	return c;
}

static void test_qual_kind(void **state)
{
	assert_int_equal(fn_qual_kind("$LATEST"), FN_QUAL_LATEST);
	assert_int_equal(fn_qual_kind("1"), FN_QUAL_VERSION);
	assert_int_equal(fn_qual_kind("42"), FN_QUAL_VERSION);
	assert_int_equal(fn_qual_kind("4294967295"), FN_QUAL_VERSION);
	assert_int_equal(fn_qual_kind("4294967296"), FN_QUAL_BAD);
	assert_int_equal(fn_qual_kind("12345678901"), FN_QUAL_BAD);
	assert_int_equal(fn_qual_kind("0"), FN_QUAL_BAD);
	assert_int_equal(fn_qual_kind("01"), FN_QUAL_BAD);
	assert_int_equal(fn_qual_kind("live"), FN_QUAL_ALIAS);
	assert_int_equal(fn_qual_kind("1a"), FN_QUAL_ALIAS);
	assert_int_equal(fn_qual_kind("prod-2_b"), FN_QUAL_ALIAS);
	assert_int_equal(fn_qual_kind(""), FN_QUAL_BAD);
	assert_int_equal(fn_qual_kind("a.b"), FN_QUAL_BAD);
	assert_int_equal(fn_qual_kind("$LATEST2"), FN_QUAL_BAD);
	assert_int_equal(fn_qual_kind("a:b"), FN_QUAL_BAD);
	char q[130];
	memset(q, 'q', 128);
	q[128] = 0;
	assert_int_equal(fn_qual_kind(q), FN_QUAL_ALIAS);
	q[128] = 'q';
	q[129] = 0;
	assert_int_equal(fn_qual_kind(q), FN_QUAL_BAD);
}

static void test_qualified_refs(void **state)
{
	/* The forms the model allows, each with a version or an alias after the name. */
	static const char *const refs[] = {"f:3", "123456789012:function:f:3",
	                                   "arn:aws:lambda:us-east-1:123456789012:function:f:3"};
	for (size_t i = 0; i < 3; i++) {
		char n[FN_NAME_MAX + 1], q[FN_QUAL_SIZE];
		struct err e = {0};
		assert_int_equal(fn_parse_ref(refs[i], n, q, &e), 0);
		assert_string_equal(n, "f");
		assert_string_equal(q, "3");
		assert_int_equal(fn_qual_kind(q), FN_QUAL_VERSION);
	}
	char *arn = fn_arn_qualified("f", "live", "eu-west-1", "123456789012");
	assert_string_equal(arn, "arn:aws:lambda:eu-west-1:123456789012:function:f:live");
	free(arn);
	arn = fn_arn_qualified("f", "", "eu-west-1", "123456789012");
	assert_string_equal(arn, "arn:aws:lambda:eu-west-1:123456789012:function:f");
	free(arn);
}

static void test_versions_order_and_numbers(void **state)
{
	struct registry *r = registry_new();
	assert_false(registry_version_put(r, cfg("f", "1", 'a'))); /* no function yet */
	registry_put(r, cfg("f", "", 'a'));
	assert_int_equal(registry_version_last(r, "f"), 0);
	/* Put out of order: listed by number, 10 after 9 (not after 1). */
	const char *vs[] = {"2", "10", "1", "9"};
	for (size_t i = 0; i < 4; i++)
		assert_true(registry_version_put(r, cfg("f", vs[i], 'b')));
	assert_int_equal(registry_version_count(r, "f"), 4);
	const char *want[] = {"1", "2", "9", "10"};
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(registry_version_at(r, "f", i)->version, want[i]);
	assert_null(registry_version_at(r, "f", 4));
	assert_int_equal(registry_version_after(r, "f", "2"), 2);
	assert_int_equal(registry_version_after(r, "f", "9"), 3);
	assert_int_equal(registry_version_after(r, "f", ""), 0);
	assert_int_equal(registry_version_last(r, "f"), 10);
	assert_non_null(registry_version_get(r, "f", "9"));
	assert_null(registry_version_get(r, "f", "3"));
	assert_null(registry_version_get(r, "f", "live"));
	assert_null(registry_version_get(r, "g", "1"));
	/* Deleting the highest keeps its number taken. */
	assert_true(registry_version_del(r, "f", "10"));
	assert_false(registry_version_del(r, "f", "10"));
	assert_int_equal(registry_version_last(r, "f"), 10);
	/* A restart sets the last number from the store; it never goes down. */
	assert_true(registry_version_set_last(r, "f", 12));
	assert_true(registry_version_set_last(r, "f", 5));
	assert_int_equal(registry_version_last(r, "f"), 12);
	assert_false(registry_version_set_last(r, "g", 1));
	/* A new configuration of $LATEST keeps the versions; deleting the function drops them. */
	registry_put(r, cfg("f", "", 'c'));
	assert_int_equal(registry_version_count(r, "f"), 3);
	assert_true(registry_del(r, "f"));
	assert_int_equal(registry_version_count(r, "f"), 0);
	registry_free(r);
}

static void test_version_code_in_use(void **state)
{
	struct registry *r = registry_new();
	registry_put(r, cfg("f", "", 'a'));
	registry_version_put(r, cfg("f", "1", 'b'));
	char hex[65];
	memset(hex, 'b', 64);
	hex[64] = 0;
	assert_true(registry_code_in_use(r, hex));
	registry_version_del(r, "f", "1");
	assert_false(registry_code_in_use(r, hex));
	registry_free(r);
}

static struct fn_alias *alias(const char *name, const char *ver, const char *extra, double w)
{
	struct fn_alias *a = xcalloc(1, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->version, sizeof(a->version), "%s", ver);
	snprintf(a->extra_version, sizeof(a->extra_version), "%s", extra);
	a->extra_weight = w;
	a->description = xstrdup("d");
	memset(a->revision_id, '1', 36);
	return a;
}

static void test_aliases(void **state)
{
	struct registry *r = registry_new();
	assert_false(registry_alias_put(r, "f", alias("live", "1", "", 0))); /* freed */
	registry_put(r, cfg("f", "", 'a'));
	assert_true(registry_alias_put(r, "f", alias("live", "1", "2", 0.1)));
	assert_true(registry_alias_put(r, "f", alias("beta", "$LATEST", "", 0)));
	assert_true(registry_alias_put(r, "f", alias("canary", "3", "", 0)));
	assert_int_equal(registry_alias_count(r, "f"), 3);
	assert_string_equal(registry_alias_at(r, "f", 0)->name, "beta");
	assert_string_equal(registry_alias_at(r, "f", 2)->name, "live");
	assert_int_equal(registry_alias_after(r, "f", "beta"), 1);
	assert_true(registry_version_aliased(r, "f", "2"));
	assert_true(registry_version_aliased(r, "f", "3"));
	assert_false(registry_version_aliased(r, "f", "4"));
	/* Replacing an alias frees the old one (ASan sees a leak otherwise). */
	assert_true(registry_alias_put(r, "f", alias("canary", "4", "", 0)));
	assert_false(registry_version_aliased(r, "f", "3"));
	assert_string_equal(registry_alias_get(r, "f", "canary")->version, "4");
	assert_true(registry_alias_del(r, "f", "canary"));
	assert_false(registry_alias_del(r, "f", "canary"));
	assert_null(registry_alias_get(r, "f", "canary"));
	registry_free(r); /* frees the aliases left */
}

static void test_alias_pick(void **state)
{
	struct fn_alias *a = alias("live", "1", "2", 0.1);
	assert_string_equal(fn_alias_pick(a, 0.0), "2");
	assert_string_equal(fn_alias_pick(a, 0.0999), "2");
	assert_string_equal(fn_alias_pick(a, 0.1), "1");
	assert_string_equal(fn_alias_pick(a, 0.9999), "1");
	/* Over evenly spread u, the extra version takes exactly its weight. */
	unsigned extra = 0;
	for (unsigned i = 0; i < 10000; i++)
		extra += strcmp(fn_alias_pick(a, (i + 0.5) / 10000.0), "2") == 0;
	assert_int_equal(extra, 1000);
	a->extra_weight = 0.0;
	assert_string_equal(fn_alias_pick(a, 0.0), "1");
	a->extra_weight = 1.0;
	assert_string_equal(fn_alias_pick(a, 0.99999), "2");
	a->extra_version[0] = 0; /* no routing: the weight means nothing */
	assert_string_equal(fn_alias_pick(a, 0.0), "1");
	fn_alias_free(a);
}

static void test_alias_stored(void **state)
{
	struct fn_alias *a = alias("live", "1", "2", 0.25);
	char *txt = fn_alias_to_stored(a);
	struct fn_alias *b = fn_alias_from_stored(txt);
	assert_non_null(b);
	assert_string_equal(b->name, "live");
	assert_string_equal(b->version, "1");
	assert_string_equal(b->extra_version, "2");
	assert_true(b->extra_weight == 0.25);
	assert_string_equal(b->description, "d");
	assert_memory_equal(b->revision_id, a->revision_id, 37);
	json_t *api = fn_alias_to_api(b, "f", "us-east-1", "000000000000");
	assert_string_equal(json_string_value(json_object_get(api, "AliasArn")),
	                    "arn:aws:lambda:us-east-1:000000000000:function:f:live");
	json_t *w = json_object_get(
	    json_object_get(json_object_get(api, "RoutingConfig"), "AdditionalVersionWeights"), "2");
	assert_true(json_real_value(w) == 0.25);
	json_decref(api);
	free(txt);
	fn_alias_free(b);
	/* Malformed rows are refused, not half read. */
	assert_null(fn_alias_from_stored("not json"));
	assert_null(fn_alias_from_stored("{\"name\":\"123\"}"));
	a->extra_weight = 1.5;
	txt = fn_alias_to_stored(a);
	assert_null(fn_alias_from_stored(txt));
	free(txt);
	fn_alias_free(a);
}

static void test_version_stored(void **state)
{
	struct fn_config *c = fn_config_new();
	c->name = xstrdup("f");
	c->runtime = xstrdup("provided.al2023");
	c->handler = xstrdup("x");
	c->role = xstrdup("arn:aws:iam::000000000000:role/r");
	snprintf(c->version, sizeof(c->version), "7");
	memset(c->code_hex, 'a', 64);
	memset(c->revision_id, 'r', 36);
	char *txt = fn_config_to_stored(c);
	struct err e = {0};
	struct fn_config *d = fn_config_from_stored(txt, &e);
	assert_non_null(d);
	assert_string_equal(d->version, "7");
	assert_string_equal(fn_version(d), "7");
	json_t *api = fn_config_to_api(d, "us-east-1", "000000000000");
	assert_string_equal(json_string_value(json_object_get(api, "Version")), "7");
	assert_string_equal(json_string_value(json_object_get(api, "FunctionArn")),
	                    "arn:aws:lambda:us-east-1:000000000000:function:f:7");
	json_decref(api);
	fn_config_unref(d);
	free(txt);
	c->version[0] = 0;
	assert_string_equal(fn_version(c), "$LATEST");
	api = fn_config_to_api(c, "us-east-1", "000000000000");
	assert_string_equal(json_string_value(json_object_get(api, "FunctionArn")),
	                    "arn:aws:lambda:us-east-1:000000000000:function:f");
	json_decref(api);
	fn_config_unref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_qual_kind),
	    cmocka_unit_test(test_qualified_refs),
	    cmocka_unit_test(test_versions_order_and_numbers),
	    cmocka_unit_test(test_version_code_in_use),
	    cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_alias_pick),
	    cmocka_unit_test(test_alias_stored),
	    cmocka_unit_test(test_version_stored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
