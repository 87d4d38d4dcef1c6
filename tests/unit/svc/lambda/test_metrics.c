/* svc/lambda/metrics: the Prometheus text the registry renders from what
 * api_metrics_fill adds for known counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/metrics.h"

struct fill_args {
	const struct sched_counts *c;
	const struct metrics_fn *fns;
	size_t n;
	uint32_t limit;
};

static void fill(struct metrics_scrape *s, void *arg)
{
	const struct fill_args *f = arg;
	api_metrics_fill(s, f->c, f->fns, f->n, f->limit);
}

/* Renders and returns the text, owned and NUL-terminated. */
static char *render(const struct sched_counts *c, const struct metrics_fn *fns, size_t n, uint32_t limit)
{
	struct evbuffer *b = evbuffer_new();
	struct fill_args f = {c, fns, n, limit};
	metrics_render_one(fill, &f, b);
	size_t len = evbuffer_get_length(b);
	char *s = malloc(len + 1);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return s;
}

/* Asserts that text has line as a whole line. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line [%s] in:\n%s", line, text);
}

static size_t count_lines_starting(const char *text, const char *prefix)
{
	size_t k = 0, n = strlen(prefix);
	for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
		if (strncmp(p, prefix, n) == 0)
			k++;
		if (!strchr(p, '\n'))
			break;
	}
	return k;
}

/* Every family's # HELP comes first, then # TYPE, then its samples, all together; no
 * family twice; every line ends in a newline. */
static void check_grouping(const char *text)
{
	char seen[64][96];
	size_t nseen = 0;
	char cur[96] = "";
	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		char line[512];
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		char name[96], second[96];
		if (sscanf(line, "# HELP %95s", name) == 1) {
			for (size_t i = 0; i < nseen; i++)
				if (strcmp(seen[i], name) == 0)
					fail_msg("family %s twice", name);
			assert_true(nseen < 64);
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
			snprintf(cur, sizeof(cur), "%s", name);
			/* The next line is its TYPE. */
			const char *q = nl + 1;
			assert_int_equal(sscanf(q, "# TYPE %95s %95s", name, second), 2);
			assert_string_equal(name, cur);
			p = strchr(q, '\n') + 1;
			continue;
		}
		assert_true(line[0] != '#');
		if (strncmp(line, cur, strlen(cur)) != 0 || !strchr("{ _", line[strlen(cur)]))
			fail_msg("sample [%s] outside family %s", line, cur);
		p = nl + 1;
	}
}

static void test_empty_server(void **state)
{
	struct sched_counts c = {.warm_starts = 4, .evictions = 2, .memory_mb = 384};
	char *t = render(&c, NULL, 0, 1000);
	check_grouping(t);
	has_line(t, "# TYPE lambdad_invocations_total counter");
	has_line(t, "lambdad_invocations_total 0");
	has_line(t, "lambdad_warm_starts_total 4");
	has_line(t, "lambdad_evictions_total 2");
	has_line(t, "lambdad_environment_memory_mb 384");
	has_line(t, "lambdad_account_concurrency_limit 1000");
	has_line(t, "lambdad_environments{state=\"starting\"} 0");
	has_line(t, "# TYPE lambdad_invocation_duration_seconds histogram");
	assert_int_equal(count_lines_starting(t, "lambdad_invocation_duration_seconds"), 0);
	assert_null(strstr(t, "function="));
	free(t);
}

static void test_functions_and_totals(void **state)
{
	struct metrics_fn fns[2] = {
	    {.name = "a",
	     .st = {.invocations = 5,
	            .errors = 2,
	            .timeouts = 1,
	            .cold_starts = 2,
	            .throttles = 1,
	            .concurrent = 1,
	            .env_idle = 1,
	            .env_busy = 1,
	            .provisioned_ready = 1}},
	    {.name = "b", .st = {.invocations = 2, .cold_starts = 1, .env_starting = 2, .concurrent = 2}},
	};
	struct sched_counts c = {0};
	char *t = render(&c, fns, 2, 7);
	check_grouping(t);
	has_line(t, "lambdad_invocations_total 7");
	has_line(t, "lambdad_invocations_total{function=\"a\"} 5");
	has_line(t, "lambdad_invocations_total{function=\"b\"} 2");
	has_line(t, "lambdad_errors_total 2");
	has_line(t, "lambdad_timeouts_total{function=\"a\"} 1");
	has_line(t, "lambdad_throttles_total 1");
	has_line(t, "lambdad_cold_starts_total 3");
	has_line(t, "lambdad_concurrent_executions 3");
	has_line(t, "lambdad_concurrent_executions{function=\"b\"} 2");
	has_line(t, "lambdad_provisioned_ready 1");
	has_line(t, "lambdad_environments{state=\"starting\"} 2");
	has_line(t, "lambdad_environments{state=\"idle\"} 1");
	has_line(t, "lambdad_environments{state=\"busy\"} 1");
	has_line(t, "lambdad_environments{function=\"a\",state=\"busy\"} 1");
	has_line(t, "lambdad_environments{function=\"b\",state=\"idle\"} 0");
	has_line(t, "lambdad_account_concurrency_limit 7");
	/* Per-function series follow the total, in the caller's order. */
	const char *tot = strstr(t, "lambdad_invocations_total 7\n");
	const char *a = strstr(t, "lambdad_invocations_total{function=\"a\"}");
	const char *b = strstr(t, "lambdad_invocations_total{function=\"b\"}");
	assert_true(tot && a && b && tot < a && a < b);
	free(t);
}

static void test_histogram_cumulative_in_seconds(void **state)
{
	struct metrics_fn f = {.name = "h"};
	f.st.duration.counts[0] = 1;                  /* <= 1 ms */
	f.st.duration.counts[3] = 2;                  /* <= 25 ms */
	f.st.duration.counts[SCHED_HIST_BUCKETS] = 1; /* over the last bound */
	f.st.duration.n = 4;
	f.st.duration.sum_ms = 1000000.5 + 1 + 20 + 24;
	f.st.init_duration.counts[6] = 1;
	f.st.init_duration.n = 1;
	f.st.init_duration.sum_ms = 200;
	struct sched_counts c = {0};
	char *t = render(&c, &f, 1, 1);
	check_grouping(t);
	const char *d = "lambdad_invocation_duration_seconds";
	char line[160];
	uint64_t cum = 0;
	for (unsigned i = 0; i < SCHED_HIST_BUCKETS; i++) {
		cum += f.st.duration.counts[i];
		snprintf(line, sizeof(line), "%s_bucket{function=\"h\",le=\"%.15g\"} %llu", d,
		         sched_hist_bounds_ms[i] / 1000, (unsigned long long)cum);
		has_line(t, line);
	}
	has_line(t, "lambdad_invocation_duration_seconds_bucket{function=\"h\",le=\"0.001\"} 1");
	has_line(t, "lambdad_invocation_duration_seconds_bucket{function=\"h\",le=\"0.025\"} 3");
	has_line(t, "lambdad_invocation_duration_seconds_bucket{function=\"h\",le=\"+Inf\"} 4");
	has_line(t, "lambdad_invocation_duration_seconds_count{function=\"h\"} 4");
	has_line(t, "lambdad_invocation_duration_seconds_sum{function=\"h\"} 1000.0455");
	has_line(t, "lambdad_init_duration_seconds_bucket{function=\"h\",le=\"0.1\"} 0");
	has_line(t, "lambdad_init_duration_seconds_bucket{function=\"h\",le=\"0.25\"} 1");
	has_line(t, "lambdad_init_duration_seconds_sum{function=\"h\"} 0.2");
	has_line(t, "lambdad_init_duration_seconds_count{function=\"h\"} 1");
	assert_int_equal(count_lines_starting(t, "lambdad_invocation_duration_seconds_bucket"),
	                 SCHED_HIST_BUCKETS + 1);
	free(t);
}

static void test_label_values_escaped(void **state)
{
	struct metrics_fn f = {.name = "x\"y\\z\nw", .st = {.invocations = 1}};
	struct sched_counts c = {0};
	char *t = render(&c, &f, 1, 1);
	check_grouping(t);
	has_line(t, "lambdad_invocations_total{function=\"x\\\"y\\\\z\\nw\"} 1");
	has_line(t, "lambdad_environments{function=\"x\\\"y\\\\z\\nw\",state=\"idle\"} 0");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_server),
	    cmocka_unit_test(test_functions_and_totals),
	    cmocka_unit_test(test_histogram_cumulative_in_seconds),
	    cmocka_unit_test(test_label_values_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
