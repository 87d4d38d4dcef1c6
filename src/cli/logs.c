/* `lambdad logs`: prints a function's log, and with --follow keeps printing what is
 * added until SIGINT or SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_int.h"

#define LOGS_POLL_MS 300
#define LOGS_REQUEST_TIMEOUT_S 60L

static void logs_usage(FILE *f)
{
	fprintf(f, "usage: lambdad logs NAME [options]\n"
	           "Prints the function's log (START/END/REPORT lines and what it wrote).\n\n"
	           "  --follow, -f        keep printing new lines until interrupted\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

/* Waits up to ms for SIGINT or SIGTERM (blocked by the caller); returns true if one came. */
static bool logs_wait_stop(const sigset_t *stop, long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	for (;;) {
		if (sigtimedwait(stop, NULL, &ts) >= 0)
			return true;
		if (errno != EINTR)
			return false; /* EAGAIN: the time is up */
	}
}

static int logs_run(const char *endpoint, const char *name, bool follow)
{
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	/* Blocked, the signals wait for sigtimedwait between polls: no handler, no global flag. */
	if (follow)
		sigprocmask(SIG_BLOCK, &stop, &old);
	autofree char *ename = cli_urlencode(name);
	struct cli_client *c = cli_client_new(endpoint);
	struct cli_resp resp = {0};
	struct err e = {0};
	long long offset = 0;
	int rc = CLI_EXIT_FAIL;
	for (;;) {
		autofree char *path = xasprintf("/lambdad/v1/functions/%s/logs?offset=%lld", ename, offset);
		if (cli_request(c, "GET", path, NULL, NULL, 0, NULL, LOGS_REQUEST_TIMEOUT_S, &resp, &e) < 0) {
			cli_report_err(&e);
			break;
		}
		if (resp.status != 200) {
			rc = cli_report_api_error(&resp);
			break;
		}
		const char *nx = cli_resp_header(&resp, "X-Lambdad-Next-Offset");
		char *end = NULL;
		long long next = nx ? strtoll(nx, &end, 10) : -1;
		if (!nx || !*nx || *end || next < 0) {
			fprintf(stderr, "lambdad: the server's answer has no valid X-Lambdad-Next-Offset\n");
			break;
		}
		if (fwrite(resp.body, 1, resp.len, stdout) != resp.len || fflush(stdout) != 0) {
			fprintf(stderr, "lambdad: write stdout: %s\n", strerror(errno));
			break;
		}
		bool more = next > offset;
		if (next < offset) {
			/* The log is shorter than what we read: it was started over (the function was
			 * deleted and created again). Read the new one from its start. */
			next = 0;
			more = true;
		}
		offset = next;
		if (!follow && !more) {
			rc = CLI_EXIT_OK;
			break;
		}
		if (follow && logs_wait_stop(&stop, more ? 0 : LOGS_POLL_MS)) {
			rc = CLI_EXIT_OK;
			break;
		}
	}
	cli_resp_fini(&resp);
	cli_client_free(c);
	if (follow)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int cli_logs(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"follow", no_argument, NULL, 'f'},
	    {"endpoint", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *endpoint = cli_default_endpoint();
	bool follow = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			follow = true;
			break;
		case 'E':
			endpoint = optarg;
			break;
		case 'h':
			logs_usage(stdout);
			return CLI_EXIT_OK;
		default:
			logs_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s\n", argv[0],
		        argc - optind < 1 ? "missing NAME" : "too many arguments");
		logs_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return logs_run(endpoint, argv[optind], follow);
}
