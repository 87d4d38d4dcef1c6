/* `lambdad rm`: deletes a function (all its versions and aliases). */
#include <getopt.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>

#include "cli/cli_int.h"

static void rm_usage(FILE *f)
{
	fprintf(f, "usage: lambdad rm NAME [options]\n"
	           "Deletes the function.\n\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

static int rm_run(const char *endpoint, const char *name)
{
	autofree char *ename = cli_urlencode(name);
	autofree char *path = xasprintf("/2015-03-31/functions/%s", ename);
	struct cli_client *c = cli_client_new(endpoint);
	struct cli_resp resp = {0};
	struct err e = {0};
	int rc;
	if (cli_request(c, "DELETE", path, NULL, NULL, 0, NULL, 0, &resp, &e) < 0)
		rc = cli_report_err(&e);
	else if (resp.status / 100 != 2)
		rc = cli_report_api_error(&resp);
	else
		rc = CLI_EXIT_OK;
	cli_resp_fini(&resp);
	cli_client_free(c);
	return rc;
}

int cli_rm(int argc, char **argv)
{
	const char *endpoint;
	int rc = cli_parse_endpoint_only(argc, argv, rm_usage, &endpoint);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s\n", argv[0],
		        argc - optind < 1 ? "missing NAME" : "too many arguments");
		rm_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return rm_run(endpoint, argv[optind]);
}
