/* `lambdad invoke`: invokes a function synchronously and prints what it returned, or
 * asynchronously (--event) and prints the request id of the event queued. */
#include <errno.h>
#include <getopt.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "cli/cli_int.h"

static void invoke_usage(FILE *f)
{
	fprintf(f, "usage: lambdad invoke NAME [JSON|-] [options]\n"
	           "Invokes the function with the JSON payload (or stdin with -, or {} when absent)\n"
	           "and prints its response. Exits 1 if the function failed.\n\n"
	           "  --tail              print the end of the invocation's log on stderr\n"
	           "  --event             invoke asynchronously (InvocationType Event): print the\n"
	           "                      202 and the request id once lambdad has queued the event\n"
	           "  --qualifier Q       the version or alias to invoke (default $LATEST)\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

struct invoke_args {
	const char *endpoint;
	const char *name;
	const char *payload; /* the JSON, "-" for stdin, NULL for {} */
	const char *qualifier;
	bool tail;
	bool event;
};

static int invoke_run(const struct invoke_args *a)
{
	const char *payload_arg = a->payload;
	bool tail = a->tail;
	struct err e = {0};
	autofree unsigned char *stdin_buf = NULL;
	const char *payload = "{}";
	size_t plen = 2;
	if (payload_arg && strcmp(payload_arg, "-") == 0) {
		if (cli_read_stream(stdin, "stdin", &stdin_buf, &plen, &e) < 0)
			return cli_report_err(&e);
		payload = (const char *)stdin_buf;
	} else if (payload_arg) {
		payload = payload_arg;
		plen = strlen(payload_arg);
	}
	autofree char *ename = cli_urlencode(a->name);
	autofree char *equal = a->qualifier ? cli_urlencode(a->qualifier) : NULL;
	autofree char *path = xasprintf("/2015-03-31/functions/%s/invocations%s%s", ename,
	                                equal ? "?Qualifier=" : "", equal ? equal : "");
	const char *hdrs[] = {a->event ? "X-Amz-Invocation-Type: Event"
	                      : tail   ? "X-Amz-Log-Type: Tail"
	                               : NULL,
	                      NULL};
	struct cli_client *c = cli_client_new(a->endpoint);
	struct cli_resp resp = {0};
	int rc = CLI_EXIT_FAIL;
	if (cli_request(c, "POST", path, "application/json", payload, plen, hdrs, 0, &resp, &e) < 0) {
		cli_report_err(&e);
		goto out;
	}
	if (resp.status / 100 != 2) {
		rc = cli_report_api_error(&resp);
		goto out;
	}
	if (a->event) {
		const char *id = cli_resp_header(&resp, "x-amzn-RequestId");
		printf("%ld Accepted RequestId=%s\n", resp.status, id ? id : "?");
		rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		goto out;
	}
	const char *logres = tail ? cli_resp_header(&resp, "X-Amz-Log-Result") : NULL;
	if (logres) {
		size_t n;
		autofree unsigned char *log = b64_decode(logres, strlen(logres), &n);
		if (log) {
			fwrite(log, 1, n, stderr);
			if (n && log[n - 1] != '\n')
				fputc('\n', stderr);
		} else {
			fprintf(stderr, "lambdad: X-Amz-Log-Result is not valid base64\n");
		}
	}
	fwrite(resp.body, 1, resp.len, stdout);
	fputc('\n', stdout);
	if (fflush(stdout) != 0) {
		err_make(&e, errno, "write stdout: %s", strerror(errno));
		cli_report_err(&e);
		goto out;
	}
	rc = cli_resp_header(&resp, "X-Amz-Function-Error") ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
	cli_resp_fini(&resp);
	cli_client_free(c);
	return rc;
}

int cli_invoke(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tail", no_argument, NULL, 't'},
	    {"event", no_argument, NULL, 'e'},
	    {"qualifier", required_argument, NULL, 'q'},
	    {"endpoint", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct invoke_args a = {.endpoint = cli_default_endpoint()};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			a.tail = true;
			break;
		case 'e':
			a.event = true;
			break;
		case 'q':
			a.qualifier = optarg;
			break;
		case 'E':
			a.endpoint = optarg;
			break;
		case 'h':
			invoke_usage(stdout);
			return CLI_EXIT_OK;
		default:
			invoke_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	int npos = argc - optind;
	const char *bad = npos < 1 ? "missing NAME" : npos > 2 ? "too many arguments" : NULL;
	if (!bad && a.event && a.tail)
		bad = "--tail is for synchronous invocations: an --event's log is in lambdad logs";
	if (!bad && a.qualifier && !*a.qualifier)
		bad = "--qualifier takes a version or an alias";
	if (bad) {
		fprintf(stderr, "%s: %s\n", argv[0], bad);
		invoke_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	a.name = argv[optind];
	a.payload = npos == 2 ? argv[optind + 1] : NULL;
	return invoke_run(&a);
}
