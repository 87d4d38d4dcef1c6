/* `lambdad deploy`: creates a function from a directory or zip, or updates its code and
 * configuration when it already exists. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/codec.h"
#include "cli/cli_int.h"

#define DEPLOY_DEFAULT_ROLE "arn:aws:iam::000000000000:role/lambdad"
#define DEPLOY_CONFLICT_RETRIES 20 /* configuration updates refused while the code update runs */
#define DEPLOY_CONFLICT_WAIT_MS 250

static void deploy_usage(FILE *f)
{
	fprintf(f, "usage: lambdad deploy DIR|ZIP --name NAME --runtime RUNTIME --handler HANDLER [options]\n"
	           "Creates the function, or updates its code and configuration if it exists.\n"
	           "A directory is zipped (modes kept); a zip file is sent as it is.\n\n"
	           "  --name NAME         function name\n"
	           "  --runtime RUNTIME   e.g. provided.al2023, python3.12, nodejs20.x\n"
	           "  --handler HANDLER   e.g. index.handler\n"
	           "  --memory MB         memory size (128-10240)\n"
	           "  --timeout S         timeout in seconds (1-900)\n"
	           "  --env KEY=VALUE     environment variable (repeatable; replaces all of them)\n"
	           "  --role ARN          execution role (default " DEPLOY_DEFAULT_ROLE " on create)\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

struct deploy_args {
	const char *endpoint;
	const char *src;
	const char *name;
	const char *runtime;
	const char *handler;
	const char *role;
	long memory_mb; /* 0 when not given */
	long timeout_s; /* 0 when not given */
	json_t *env;    /* owned object, NULL when no --env */
};

/* Adds the configuration fields given on the command line to obj. */
static void deploy_config_fields(json_t *obj, const struct deploy_args *a, const char *role)
{
	json_object_set_new(obj, "Runtime", json_string(a->runtime));
	json_object_set_new(obj, "Handler", json_string(a->handler));
	if (role)
		json_object_set_new(obj, "Role", json_string(role));
	if (a->memory_mb)
		json_object_set_new(obj, "MemorySize", json_integer(a->memory_mb));
	if (a->timeout_s)
		json_object_set_new(obj, "Timeout", json_integer(a->timeout_s));
	if (a->env)
		json_object_set_new(obj, "Environment", json_pack("{sO}", "Variables", a->env));
}

/* Sends obj as JSON; fills *resp. Returns 0 or a transport error (reported). */
static int deploy_send(struct cli_client *c, const char *method, const char *path, json_t *obj,
                       struct cli_resp *resp)
{
	autofree char *body = json_dumps(obj, JSON_COMPACT);
	if (!body) {
		fprintf(stderr, "lambdad: out of memory (json_dumps)\n");
		abort();
	}
	struct err e = {0};
	if (cli_request(c, method, path, "application/json", body, strlen(body), NULL, 0, resp, &e) < 0) {
		cli_report_err(&e);
		return -1;
	}
	return 0;
}

/* Prints the one-line summary from a FunctionConfiguration answer, and the server's
 * warning if it sent one (X-Lambdad-Warning: e.g. an interpreter newer than the runtime). */
static void deploy_summary(const char *verb, const struct cli_resp *resp, const char *name)
{
	const char *warn = cli_resp_header(resp, "X-Lambdad-Warning");
	if (warn)
		fprintf(stderr, "lambdad: warning: %s\n", warn);
	json_t *j = json_loadb(resp->body, resp->len, 0, NULL);
	const char *fn = json_string_value(json_object_get(j, "FunctionName"));
	const char *sha = json_string_value(json_object_get(j, "CodeSha256"));
	const char *state = json_string_value(json_object_get(j, "State"));
	printf("%s %s: CodeSha256=%s State=%s\n", verb, fn ? fn : name, sha ? sha : "?", state ? state : "?");
	json_decref(j);
}

/* Tells whether s can be a JSON string (valid UTF-8). */
static bool deploy_utf8(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int deploy_run(const struct deploy_args *a)
{
	struct err e = {0};
	autofree unsigned char *zip = NULL;
	size_t ziplen = 0;
	struct stat st;
	if (stat(a->src, &st) < 0) {
		err_make(&e, errno, "%s: %s", a->src, strerror(errno));
		return cli_report_err(&e);
	}
	if (S_ISDIR(st.st_mode) ? cli_zip_dir(a->src, &zip, &ziplen, &e) < 0
	                        : cli_read_file(a->src, &zip, &ziplen, &e) < 0)
		return cli_report_err(&e);
	autofree char *b64 = b64_encode(zip, ziplen);

	autofree char *ename = cli_urlencode(a->name);
	autofree char *code_path = xasprintf("/2015-03-31/functions/%s/code", ename);
	autofree char *conf_path = xasprintf("/2015-03-31/functions/%s/configuration", ename);
	struct cli_client *c = cli_client_new(a->endpoint);
	struct cli_resp resp = {0};
	int rc = CLI_EXIT_FAIL;
	json_t *create = json_pack("{s:s, s:{s:s}}", "FunctionName", a->name, "Code", "ZipFile", b64);
	deploy_config_fields(create, a, a->role ? a->role : DEPLOY_DEFAULT_ROLE);
	int r = deploy_send(c, "POST", "/2015-03-31/functions", create, &resp);
	json_decref(create);
	if (r < 0)
		goto out;
	if (resp.status / 100 == 2) {
		deploy_summary("created", &resp, a->name);
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (resp.status != 409) {
		rc = cli_report_api_error(&resp);
		goto out;
	}

	/* It exists: update the code, then the configuration. */
	json_t *code = json_pack("{ss}", "ZipFile", b64);
	r = deploy_send(c, "PUT", code_path, code, &resp);
	json_decref(code);
	if (r < 0)
		goto out;
	if (resp.status / 100 != 2) {
		rc = cli_report_api_error(&resp);
		goto out;
	}
	json_t *conf = json_object();
	deploy_config_fields(conf, a, a->role);
	/* A server may refuse a configuration change while the code update is in progress. */
	for (int i = 0;; i++) {
		r = deploy_send(c, "PUT", conf_path, conf, &resp);
		if (r < 0 || resp.status != 409 || i == DEPLOY_CONFLICT_RETRIES)
			break;
		sleep_ms(DEPLOY_CONFLICT_WAIT_MS);
	}
	json_decref(conf);
	if (r < 0)
		goto out;
	if (resp.status / 100 != 2) {
		rc = cli_report_api_error(&resp);
		goto out;
	}
	deploy_summary("updated", &resp, a->name);
	rc = CLI_EXIT_OK;
out:
	cli_resp_fini(&resp);
	cli_client_free(c);
	return rc;
}

int cli_deploy(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},    {"runtime", required_argument, NULL, 'r'},
	    {"handler", required_argument, NULL, 'H'}, {"memory", required_argument, NULL, 'm'},
	    {"timeout", required_argument, NULL, 't'}, {"env", required_argument, NULL, 'e'},
	    {"role", required_argument, NULL, 'R'},    {"endpoint", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	struct deploy_args a = {.endpoint = cli_default_endpoint()};
	int ch, rc = CLI_EXIT_USAGE;
	const char *bad = NULL;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			a.name = optarg;
			break;
		case 'r':
			a.runtime = optarg;
			break;
		case 'H':
			a.handler = optarg;
			break;
		case 'R':
			a.role = optarg;
			break;
		case 'E':
			a.endpoint = optarg;
			break;
		case 'm':
			if (!cli_parse_long(optarg, 1, 1L << 20, &a.memory_mb))
				bad = "--memory takes a number of MB";
			break;
		case 't':
			if (!cli_parse_long(optarg, 1, 1L << 20, &a.timeout_s))
				bad = "--timeout takes a number of seconds";
			break;
		case 'e': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				bad = "--env takes KEY=VALUE";
				break;
			}
			if (!deploy_utf8(optarg)) {
				bad = "--env must be UTF-8";
				break;
			}
			if (!a.env)
				a.env = json_object();
			autofree char *key = xstrndup(optarg, (size_t)(eq - optarg));
			json_object_set_new(a.env, key, json_string(eq + 1));
			break;
		}
		case 'h':
			deploy_usage(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			goto usage;
		}
		if (bad)
			break;
	}
	if (!bad && optind != argc - 1)
		bad = optind < argc ? "only one DIR or ZIP" : "missing DIR or ZIP";
	if (!bad && (!a.name || !a.runtime || !a.handler))
		bad = "--name, --runtime and --handler are required";
	if (!bad && (!deploy_utf8(a.name) || !deploy_utf8(a.runtime) || !deploy_utf8(a.handler) ||
	             (a.role && !deploy_utf8(a.role))))
		bad = "names must be UTF-8";
	if (bad) {
		fprintf(stderr, "%s: %s\n", argv[0], bad);
		goto usage;
	}
	a.src = argv[optind];
	rc = deploy_run(&a);
	goto out;
usage:
	deploy_usage(stderr);
	rc = CLI_EXIT_USAGE;
out:
	json_decref(a.env);
	return rc;
}
