/* metrics: the registry's collectors, families, labels, escaping and histograms, as the
 * text a scraper reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

/* Renders m and returns the text, owned and NUL-terminated. */
static char *render(struct metrics *m)
{
	struct evbuffer *b = evbuffer_new();
	metrics_render(m, b);
	size_t len = evbuffer_get_length(b);
	char *s = malloc(len + 1);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return s;
}

static void counter_a(struct metrics_scrape *s, void *arg)
{
	const uint64_t *v = arg;
	metrics_family(s, "t_requests_total", METRICS_COUNTER, "Requests.");
	metrics_sample_u64(s, NULL, 0, *v);
	metrics_sample_u64(s, &(struct metrics_label){"function", "f1"}, 1, *v - 1);
	metrics_family(s, "t_ratio", METRICS_GAUGE, "A ratio.");
	metrics_sample_f(s, NULL, 0, 0.25);
}

/* A second module adding to a family the first declared. */
static void counter_b(struct metrics_scrape *s, void *arg)
{
	(void)arg;
	metrics_family(s, "t_other", METRICS_GAUGE, "Other.");
	struct metrics_label l[] = {{"function", "f2"}, {"state", "idle"}};
	metrics_sample_u64(s, l, 2, 3);
	metrics_family(s, "t_requests_total", METRICS_COUNTER, "Requests.");
	metrics_sample_u64(s, &(struct metrics_label){"function", "f2"}, 1, 18446744073709551615u);
}

static void test_empty_registry(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	char *t = render(m);
	assert_string_equal(t, "");
	free(t);
	metrics_free(m);
	metrics_free(NULL);
}

static void test_families_grouped_in_first_order(void **state)
{
	(void)state;
	uint64_t v = 7;
	struct metrics *m = metrics_new();
	metrics_register(m, counter_a, &v);
	metrics_register(m, counter_b, NULL);
	char *t = render(m);
	assert_string_equal(t, "# HELP t_requests_total Requests.\n"
	                       "# TYPE t_requests_total counter\n"
	                       "t_requests_total 7\n"
	                       "t_requests_total{function=\"f1\"} 6\n"
	                       "t_requests_total{function=\"f2\"} 18446744073709551615\n"
	                       "# HELP t_ratio A ratio.\n"
	                       "# TYPE t_ratio gauge\n"
	                       "t_ratio 0.25\n"
	                       "# HELP t_other Other.\n"
	                       "# TYPE t_other gauge\n"
	                       "t_other{function=\"f2\",state=\"idle\"} 3\n");
	free(t);
	/* Values are read at each scrape. */
	v = 9;
	metrics_unregister(m, counter_b, NULL);
	t = render(m);
	assert_non_null(strstr(t, "\nt_requests_total 9\n"));
	assert_null(strstr(t, "t_other"));
	assert_null(strstr(t, "f2"));
	free(t);
	metrics_free(m);
}

static void escaping(struct metrics_scrape *s, void *arg)
{
	(void)arg;
	metrics_family(s, "t_esc", METRICS_GAUGE, "Escapes.");
	struct metrics_label l[] = {{"function", "a\"b\\c\nd"}, {"x", ""}};
	metrics_sample_u64(s, l, 2, 1);
}

static void test_label_values_escaped(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	metrics_render_one(escaping, NULL, b);
	size_t n = evbuffer_get_length(b);
	char t[256];
	assert_true(n < sizeof(t));
	evbuffer_remove(b, t, n);
	t[n] = '\0';
	assert_string_equal(t, "# HELP t_esc Escapes.\n# TYPE t_esc gauge\n"
	                       "t_esc{function=\"a\\\"b\\\\c\\nd\",x=\"\"} 1\n");
	evbuffer_free(b);
}

static const double bounds[] = {0.005, 0.1, 2.5};

static void hist(struct metrics_scrape *s, void *arg)
{
	(void)arg;
	metrics_family(s, "t_seconds", METRICS_HISTOGRAM, "Durations.");
	uint64_t c1[] = {1, 0, 2, 1};
	metrics_hist(s, &(struct metrics_label){"function", "h"}, 1, bounds, 3, c1, 4.5);
	uint64_t c2[] = {0, 0, 0, 0};
	metrics_hist(s, NULL, 0, bounds, 3, c2, 0);
}

static void test_histogram_cumulative(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	metrics_register(m, hist, NULL);
	char *t = render(m);
	assert_string_equal(t, "# HELP t_seconds Durations.\n"
	                       "# TYPE t_seconds histogram\n"
	                       "t_seconds_bucket{function=\"h\",le=\"0.005\"} 1\n"
	                       "t_seconds_bucket{function=\"h\",le=\"0.1\"} 1\n"
	                       "t_seconds_bucket{function=\"h\",le=\"2.5\"} 3\n"
	                       "t_seconds_bucket{function=\"h\",le=\"+Inf\"} 4\n"
	                       "t_seconds_sum{function=\"h\"} 4.5\n"
	                       "t_seconds_count{function=\"h\"} 4\n"
	                       "t_seconds_bucket{le=\"0.005\"} 0\n"
	                       "t_seconds_bucket{le=\"0.1\"} 0\n"
	                       "t_seconds_bucket{le=\"2.5\"} 0\n"
	                       "t_seconds_bucket{le=\"+Inf\"} 0\n"
	                       "t_seconds_sum 0\n"
	                       "t_seconds_count 0\n");
	free(t);
	metrics_free(m);
}

static void double_values(struct metrics_scrape *s, void *arg)
{
	(void)arg;
	metrics_family(s, "t_age_seconds", METRICS_GAUGE, "Ages.");
	metrics_sample_f(s, NULL, 0, 0.1);
	metrics_sample_f(s, &(struct metrics_label){"function", "f"}, 1, 3.0);
}

/* Doubles read back as the same double; whole ones have no fraction. */
static void test_double_values(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	metrics_register(m, double_values, NULL);
	char *t = render(m);
	const char *p = strstr(t, "\nt_age_seconds ");
	assert_non_null(p);
	assert_true(strtod(p + strlen("\nt_age_seconds "), NULL) == 0.1);
	assert_non_null(strstr(t, "\nt_age_seconds{function=\"f\"} 3\n"));
	free(t);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_registry),
	    cmocka_unit_test(test_families_grouped_in_first_order),
	    cmocka_unit_test(test_label_values_escaped),
	    cmocka_unit_test(test_histogram_cumulative),
	    cmocka_unit_test(test_double_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
