/* `lambdad ls`: lists the functions, one aligned line each, following NextMarker. */
#include <getopt.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

#define LS_PAGE 50
#define LS_COLS 5

static void ls_usage(FILE *f)
{
	fprintf(f, "usage: lambdad ls [options]\n"
	           "Lists the functions: name, runtime, memory (MB), timeout (s), last modified.\n\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

struct ls_table {
	char **cells; /* owned, LS_COLS per row */
	size_t rows;
	size_t cap;
};

static void ls_add_row(struct ls_table *t, char *const row[LS_COLS])
{
	if (t->rows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = xrealloc(t->cells, t->cap * LS_COLS * sizeof(char *));
	}
	memcpy(t->cells + t->rows * LS_COLS, row, LS_COLS * sizeof(char *));
	t->rows++;
}

/* A cell for a string or integer field, "-" when it is absent. Owned. */
static char *ls_cell(json_t *fn, const char *key)
{
	json_t *v = json_object_get(fn, key);
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	return xstrdup("-");
}

/* Adds the rows of one ListFunctions page; returns its NextMarker (owned) or NULL. */
static char *ls_page(struct ls_table *t, json_t *page)
{
	json_t *fns = json_object_get(page, "Functions");
	size_t i;
	json_t *fn;
	json_array_foreach(fns, i, fn) {
		char *row[LS_COLS] = {
		    ls_cell(fn, "FunctionName"), ls_cell(fn, "Runtime"),      ls_cell(fn, "MemorySize"),
		    ls_cell(fn, "Timeout"),      ls_cell(fn, "LastModified"),
		};
		ls_add_row(t, row);
	}
	const char *next = json_string_value(json_object_get(page, "NextMarker"));
	return next && *next ? xstrdup(next) : NULL;
}

static void ls_print(const struct ls_table *t)
{
	static const char *const head[LS_COLS] = {"NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST_MODIFIED"};
	int w[LS_COLS];
	for (int c = 0; c < LS_COLS; c++) {
		w[c] = (int)strlen(head[c]);
		for (size_t r = 0; r < t->rows; r++) {
			int n = (int)strlen(t->cells[r * LS_COLS + c]);
			if (n > w[c])
				w[c] = n;
		}
	}
	/* Numbers right-aligned, text left-aligned, the last column unpadded. */
	printf("%-*s  %-*s  %*s  %*s  %s\n", w[0], head[0], w[1], head[1], w[2], head[2], w[3], head[3],
	       head[4]);
	for (size_t r = 0; r < t->rows; r++) {
		char *const *row = t->cells + r * LS_COLS;
		printf("%-*s  %-*s  %*s  %*s  %s\n", w[0], row[0], w[1], row[1], w[2], row[2], w[3], row[3],
		       row[4]);
	}
}

static int ls_run(const char *endpoint)
{
	struct cli_client *c = cli_client_new(endpoint);
	struct cli_resp resp = {0};
	struct ls_table t = {0};
	struct err e = {0};
	autofree char *marker = NULL;
	int rc = CLI_EXIT_FAIL;
	for (;;) {
		autofree char *emarker = marker ? cli_urlencode(marker) : NULL;
		autofree char *path =
		    emarker ? xasprintf("/2015-03-31/functions/?MaxItems=%d&Marker=%s", LS_PAGE, emarker)
		            : xasprintf("/2015-03-31/functions/?MaxItems=%d", LS_PAGE);
		if (cli_request(c, "GET", path, NULL, NULL, 0, NULL, 0, &resp, &e) < 0) {
			cli_report_err(&e);
			goto out;
		}
		if (resp.status != 200) {
			rc = cli_report_api_error(&resp);
			goto out;
		}
		json_error_t je;
		json_t *page = json_loadb(resp.body, resp.len, 0, &je);
		if (!json_is_object(page)) {
			fprintf(stderr,
			        "lambdad: ListFunctions answered something other than a JSON object: %s\n",
			        page ? "not an object" : je.text);
			json_decref(page);
			goto out;
		}
		char *next = ls_page(&t, page);
		json_decref(page);
		/* A marker that does not move would loop forever. */
		bool same = next && marker && strcmp(next, marker) == 0;
		free(marker);
		marker = next;
		if (!marker)
			break;
		if (same) {
			fprintf(stderr, "lambdad: ListFunctions returned the same NextMarker twice\n");
			goto out;
		}
	}
	ls_print(&t);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	for (size_t i = 0; i < t.rows * LS_COLS; i++)
		free(t.cells[i]);
	free(t.cells);
	cli_resp_fini(&resp);
	cli_client_free(c);
	return rc;
}

int cli_ls(int argc, char **argv)
{
	const char *endpoint;
	int rc = cli_parse_endpoint_only(argc, argv, ls_usage, &endpoint);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		ls_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return ls_run(endpoint);
}
