/* `lambdad warm`: starts idle environments of a function ahead of its invokes, and sets
 * how long its idle environments live (lambdad's prewarm and keep-alive endpoints). */
#include <getopt.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

#define WARM_COUNT_MAX 1000L
#define WARM_KEEP_ALIVE_MAX_S 86400L
#define WARM_REQUEST_TIMEOUT_S 60L

static void warm_usage(FILE *f)
{
	fprintf(f, "usage: lambdad warm NAME [options]\n"
	           "Starts idle, initialised environments of the function now (one unless --count),\n"
	           "and with --keep-alive sets how long its idle environments live. With only\n"
	           "--keep-alive, nothing is started.\n\n"
	           "  --count N           environments to start (1 to 1000)\n"
	           "  --keep-alive S      idle environments of this function live S seconds (0 to\n"
	           "                      86400; 0 = never reuse one), or 'default' for the server's\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

/* Sends one request with an optional JSON body; returns the parsed answer (owned; an
 * empty object for an empty body) or NULL after reporting the error. */
static json_t *warm_call(struct cli_client *c, const char *method, const char *path, const char *body)
{
	struct cli_resp resp = {0};
	struct err e = {0};
	json_t *out = NULL;
	if (cli_request(c, method, path, body ? "application/json" : NULL, body, body ? strlen(body) : 0,
	                NULL, WARM_REQUEST_TIMEOUT_S, &resp, &e) < 0) {
		cli_report_err(&e);
	} else if (resp.status / 100 != 2) {
		cli_report_api_error(&resp);
	} else if (resp.len == 0) {
		out = json_object();
	} else if (!(out = json_loadb(resp.body, resp.len, 0, NULL))) {
		fprintf(stderr, "lambdad: %s %s: the server's answer is not JSON\n", method, path);
	}
	cli_resp_fini(&resp);
	return out;
}

/* keep_alive: -1 leaves it, -2 returns to the server's, else seconds. count 0 starts none. */
static int warm_run(const char *endpoint, const char *name, long count, long keep_alive)
{
	autofree char *ename = cli_urlencode(name);
	struct cli_client *c = cli_client_new(endpoint);
	int rc = CLI_EXIT_FAIL;
	if (keep_alive != -1) {
		autofree char *path = xasprintf("/lambdad/v1/functions/%s/keep-alive", ename);
		autofree char *body =
		    keep_alive >= 0 ? xasprintf("{\"KeepAliveSeconds\":%ld}", keep_alive) : NULL;
		json_t *o = warm_call(c, keep_alive >= 0 ? "PUT" : "DELETE", path, body);
		if (!o)
			goto out;
		json_decref(o);
		if (keep_alive >= 0)
			printf("%s: idle environments live %ld s%s\n", name, keep_alive,
			       keep_alive == 0 ? " (never reused)" : "");
		else
			printf("%s: idle environments live as long as the server's --keep-alive\n", name);
	}
	if (count > 0) {
		autofree char *path = xasprintf("/lambdad/v1/functions/%s/prewarm", ename);
		autofree char *body = xasprintf("{\"Count\":%ld}", count);
		json_t *o = warm_call(c, "POST", path, body);
		if (!o)
			goto out;
		json_t *started = json_object_get(o, "Started");
		if (!json_is_integer(started)) {
			fprintf(stderr, "lambdad: the server's answer has no Started count\n");
			json_decref(o);
			goto out;
		}
		long long n = json_integer_value(started);
		printf("%s: starting %lld of %ld environment%s\n", name, n, count, count == 1 ? "" : "s");
		json_decref(o);
		if (n < count)
			printf("%s: the server's limits (--max-memory, concurrency) left no room for more\n",
			       name);
	}
	rc = CLI_EXIT_OK;
out:
	fflush(stdout);
	cli_client_free(c);
	return rc;
}

int cli_warm(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"count", required_argument, NULL, 'n'},
	    {"keep-alive", required_argument, NULL, 'k'},
	    {"endpoint", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *endpoint = cli_default_endpoint();
	long count = 0, keep_alive = -1;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (!cli_parse_long(optarg, 1, WARM_COUNT_MAX, &count)) {
				fprintf(stderr, "%s: --count must be a number from 1 to %ld: %s\n", argv[0],
				        WARM_COUNT_MAX, optarg);
				warm_usage(stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'k':
			if (strcmp(optarg, "default") == 0) {
				keep_alive = -2;
			} else if (!cli_parse_long(optarg, 0, WARM_KEEP_ALIVE_MAX_S, &keep_alive)) {
				fprintf(stderr,
				        "%s: --keep-alive must be seconds from 0 to %ld, or 'default': %s\n",
				        argv[0], WARM_KEEP_ALIVE_MAX_S, optarg);
				warm_usage(stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'E':
			endpoint = optarg;
			break;
		case 'h':
			warm_usage(stdout);
			return CLI_EXIT_OK;
		default:
			warm_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s\n", argv[0],
		        argc - optind < 1 ? "missing NAME" : "too many arguments");
		warm_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	/* Nothing asked for: start one. Only --keep-alive: start none. */
	if (count == 0 && keep_alive == -1)
		count = 1;
	return warm_run(endpoint, argv[optind], count, keep_alive);
}
