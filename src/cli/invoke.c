/* `lambdad invoke`: invokes a function synchronously and prints what it returned. */
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
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

static int invoke_run(const char *endpoint, const char *name, const char *payload_arg, bool tail)
{
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
	autofree char *ename = cli_urlencode(name);
	autofree char *path = xasprintf("/2015-03-31/functions/%s/invocations", ename);
	const char *hdrs[] = {tail ? "X-Amz-Log-Type: Tail" : NULL, NULL};
	struct cli_client *c = cli_client_new(endpoint);
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
	    {"endpoint", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *endpoint = cli_default_endpoint();
	bool tail = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			tail = true;
			break;
		case 'E':
			endpoint = optarg;
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
	if (npos < 1 || npos > 2) {
		fprintf(stderr, "%s: %s\n", argv[0], npos < 1 ? "missing NAME" : "too many arguments");
		invoke_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return invoke_run(endpoint, argv[optind], npos == 2 ? argv[optind + 1] : NULL, tail);
}
