/* `lambdad deploy`: creates a function from a directory or zip, or updates its code
 * (and the configuration given on the command line) when it exists; with --watch,
 * deploys the code again whenever the directory changes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/codec.h"
#include "cli/cli_int.h"

#define DEPLOY_DEFAULT_ROLE "arn:aws:iam::000000000000:role/lambdad"
#define DEPLOY_WAIT_MS 250                 /* between two polls of a function being updated */
#define DEPLOY_WAIT_MAX_MS (5 * 60 * 1000) /* how long an update may stay InProgress */
#define DEPLOY_PROGRESS_MIN (4u << 20)     /* request bodies that show the upload's progress */
#define DEPLOY_DEBOUNCE_MS 300             /* --watch: quiet time after a change */

static void deploy_usage(FILE *f)
{
	fprintf(f,
	        "usage: lambdad deploy DIR|ZIP --name NAME [--runtime RUNTIME --handler HANDLER] [options]\n"
	        "Creates the function (--runtime and --handler needed), or updates the code of the\n"
	        "one that exists: its configuration stays as it is, but for the options given.\n"
	        "A directory is zipped (modes and mtimes kept) without what its " CLI_IGNORE_FILE "\n"
	        "excludes, nor the top-level .git, .venv and __pycache__; a zip file is sent as it is.\n\n"
	        "  --name NAME         function name\n"
	        "  --runtime RUNTIME   e.g. provided.al2023, python3.12, nodejs20.x\n"
	        "  --handler HANDLER   e.g. index.handler\n"
	        "  --memory MB         memory size (128-10240)\n"
	        "  --timeout S         timeout in seconds (1-900)\n"
	        "  --env KEY=VALUE     environment variable (repeatable; replaces all of them)\n"
	        "  --role ARN          execution role (default " DEPLOY_DEFAULT_ROLE " on create)\n"
	        "  --watch             deploy the code of DIR again on every change, until Ctrl-C\n"
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
	bool watch;
};

/* One deploy session: the arguments, the client, and what the last deploy sent. */
struct deploy {
	const struct deploy_args *a;
	struct cli_client *c;
	char *code_path;
	char *conf_path;
	bool is_dir;
	bool config_sent;  /* the configuration options were applied (once, on the first deploy) */
	char last_sha[48]; /* base64 SHA-256 of the last zip deployed, "" before */
};

static bool deploy_has_config(const struct deploy_args *a)
{
	return a->runtime || a->handler || a->role || a->memory_mb || a->timeout_s || a->env;
}

/* Adds the configuration fields given on the command line to obj. */
static void deploy_config_fields(json_t *obj, const struct deploy_args *a, const char *role)
{
	if (a->runtime)
		json_object_set_new(obj, "Runtime", json_string(a->runtime));
	if (a->handler)
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

/* Sends obj (NULL: no body) as JSON; fills *resp and prints the server's warning if it
 * sent one (X-Lambdad-Warning: e.g. a runtime older than its interpreter). Returns 0, or
 * -1 after reporting a transport error. */
static int deploy_send(struct deploy *d, const char *method, const char *path, json_t *obj,
                       struct cli_resp *resp)
{
	autofree char *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (obj && !body) {
		fprintf(stderr, "lambdad: out of memory (json_dumps)\n");
		abort();
	}
	struct err e = {0};
	if (cli_request(d->c, method, path, body ? "application/json" : NULL, body, body ? strlen(body) : 0,
	                NULL, 0, resp, &e) < 0) {
		if (e.code != EINTR)
			cli_report_err(&e);
		return -1;
	}
	const char *warn = cli_resp_header(resp, "X-Lambdad-Warning");
	if (warn)
		fprintf(stderr, "lambdad: warning: %s\n", warn);
	return 0;
}

/* The time of day, for --watch's lines ("" otherwise). */
static void deploy_stamp(const struct deploy *d, char out[16])
{
	out[0] = '\0';
	if (!d->a->watch)
		return;
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, 16, "[%H:%M:%S] ", &tm);
}

/* Prints the one-line summary from a FunctionConfiguration answer. */
static void deploy_summary(const struct deploy *d, const char *verb, const struct cli_resp *resp,
                           const char *what)
{
	json_t *j = json_loadb(resp->body, resp->len, 0, NULL);
	const char *fn = json_string_value(json_object_get(j, "FunctionName"));
	const char *sha = json_string_value(json_object_get(j, "CodeSha256"));
	const char *state = json_string_value(json_object_get(j, "State"));
	char ts[16];
	deploy_stamp(d, ts);
	printf("%s%s %s: CodeSha256=%s CodeSize=%lld State=%s%s\n", ts, verb, fn ? fn : d->a->name,
	       sha ? sha : "?", (long long)json_integer_value(json_object_get(j, "CodeSize")),
	       state ? state : "?", what);
	fflush(stdout);
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

/* Waits until the function is neither Pending nor InProgress, as AWS asks before the
 * next update (the function-updated waiter). Returns 0 (with *resp the last
 * configuration), or CLI_EXIT_FAIL after reporting why. */
static int deploy_wait_ready(struct deploy *d, struct cli_resp *resp)
{
	for (long waited = 0;; waited += DEPLOY_WAIT_MS) {
		if (deploy_send(d, "GET", d->conf_path, NULL, resp) < 0)
			return CLI_EXIT_FAIL;
		if (resp->status != 200)
			return cli_report_api_error(resp);
		json_t *j = json_loadb(resp->body, resp->len, 0, NULL);
		const char *state = json_string_value(json_object_get(j, "State"));
		const char *upd = json_string_value(json_object_get(j, "LastUpdateStatus"));
		const char *why = json_string_value(json_object_get(j, "LastUpdateStatusReason"));
		bool busy =
		    (state && strcmp(state, "Pending") == 0) || (upd && strcmp(upd, "InProgress") == 0);
		bool failed = (upd && strcmp(upd, "Failed") == 0) || (state && strcmp(state, "Failed") == 0);
		if (failed)
			fprintf(stderr, "lambdad: the update of %s failed: %s\n", d->a->name,
			        why ? why : json_string_value(json_object_get(j, "StateReason")) ?: "(no reason given)");
		json_decref(j);
		if (failed)
			return CLI_EXIT_FAIL;
		if (!busy)
			return 0;
		if (waited >= DEPLOY_WAIT_MAX_MS) {
			fprintf(stderr, "lambdad: %s is still being updated after %d s\n", d->a->name,
			        DEPLOY_WAIT_MAX_MS / 1000);
			return CLI_EXIT_FAIL;
		}
		sleep_ms(DEPLOY_WAIT_MS);
	}
}

/* PUT obj to path, waiting out a ResourceConflictException (an update in progress).
 * Returns 0 with a 2xx in *resp, or the exit status after reporting. */
static int deploy_update(struct deploy *d, const char *path, json_t *obj, struct cli_resp *resp)
{
	for (long waited = 0;; waited += DEPLOY_WAIT_MS) {
		if (deploy_send(d, "PUT", path, obj, resp) < 0)
			return CLI_EXIT_FAIL;
		if (resp->status / 100 == 2)
			return 0;
		if (resp->status != 409 || waited >= DEPLOY_WAIT_MAX_MS)
			return cli_report_api_error(resp);
		sleep_ms(DEPLOY_WAIT_MS);
	}
}

/* Zips the source (or reads the zip). Returns 0, or the exit status after reporting. */
static int deploy_package(struct deploy *d, unsigned char **zip, size_t *len)
{
	struct err e = {0};
	if (!d->is_dir)
		return cli_read_file(d->a->src, zip, len, &e) < 0 ? cli_report_err(&e) : 0;
	autoclose int fd = open(d->a->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct cli_ignore *ig = NULL;
	if (fd < 0)
		err_make(&e, errno, "%s: %s", d->a->src, strerror(errno));
	if (fd < 0 || cli_ignore_load(fd, d->a->src, true, &ig, &e) < 0 ||
	    cli_zip_dir(d->a->src, ig, zip, len, &e) < 0) {
		cli_ignore_free(ig);
		return cli_report_err(&e);
	}
	cli_ignore_free(ig);
	return 0;
}

/* One deploy: create, or update the code and then (the first time) the configuration
 * given. Returns the exit status. */
static int deploy_once(struct deploy *d)
{
	const struct deploy_args *a = d->a;
	autofree unsigned char *zip = NULL;
	size_t ziplen = 0;
	int rc = deploy_package(d, &zip, &ziplen);
	if (rc != 0)
		return rc;
	unsigned char digest[32];
	sha256(zip, ziplen, digest);
	autofree char *sha = b64_encode(digest, sizeof(digest));
	if (a->watch && strcmp(sha, d->last_sha) == 0) {
		char ts[16];
		deploy_stamp(d, ts);
		printf("%sno change to deploy (CodeSha256=%s)\n", ts, sha);
		fflush(stdout);
		return CLI_EXIT_OK;
	}
	autofree char *b64 = b64_encode(zip, ziplen);
	struct cli_resp resp = {0};
	rc = CLI_EXIT_FAIL;
	if (deploy_send(d, "GET", d->conf_path, NULL, &resp) < 0)
		goto out;
	if (resp.status == 404) {
		if (!a->runtime || !a->handler) {
			fprintf(stderr,
			        "lambdad: %s does not exist: creating it takes --runtime and --handler\n",
			        a->name);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		json_t *create = json_pack("{s:s, s:{s:s}}", "FunctionName", a->name, "Code", "ZipFile", b64);
		deploy_config_fields(create, a, a->role ? a->role : DEPLOY_DEFAULT_ROLE);
		int r = deploy_send(d, "POST", "/2015-03-31/functions", create, &resp);
		json_decref(create);
		if (r < 0)
			goto out;
		if (resp.status / 100 == 2) {
			d->config_sent = true;
			rc = deploy_wait_ready(d, &resp);
			if (rc == 0)
				deploy_summary(d, "created", &resp, "");
			goto done;
		}
		if (resp.status != 409) { /* 409: created by someone else meanwhile */
			rc = cli_report_api_error(&resp);
			goto out;
		}
	} else if (resp.status != 200) {
		rc = cli_report_api_error(&resp);
		goto out;
	}

	/* It exists: its code alone, then the configuration options if any, each after the
	 * update before it is done. */
	json_t *code = json_pack("{ss}", "ZipFile", b64);
	rc = deploy_update(d, d->code_path, code, &resp);
	json_decref(code);
	if (rc != 0)
		goto out;
	bool with_config = !d->config_sent && deploy_has_config(a);
	if (with_config) {
		if ((rc = deploy_wait_ready(d, &resp)) != 0)
			goto out;
		json_t *conf = json_object();
		deploy_config_fields(conf, a, a->role);
		rc = deploy_update(d, d->conf_path, conf, &resp);
		json_decref(conf);
		if (rc != 0)
			goto out;
		d->config_sent = true;
	}
	if ((rc = deploy_wait_ready(d, &resp)) == 0)
		deploy_summary(d, "updated", &resp, with_config ? " (code and configuration)" : " (code)");
done:
	if (rc == 0)
		snprintf(d->last_sha, sizeof(d->last_sha), "%s", sha);
out:
	cli_resp_fini(&resp);
	return rc;
}

/* --watch: deploys, then again after each change, until SIGINT or SIGTERM. The watches
 * are set before each zip is made, so a change made while it is sent is not missed. */
static int deploy_watch(struct deploy *d)
{
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	/* Blocked, the signals wait for the watcher's signalfd, and a request in flight
	 * sees them pending and stops. */
	sigprocmask(SIG_BLOCK, &stop, &old);
	cli_client_set_interrupt(d->c, &stop);
	printf("watching %s for changes (Ctrl-C to stop)\n", d->a->src);
	fflush(stdout);
	int rc = CLI_EXIT_OK;
	for (;;) {
		struct err e = {0};
		struct cli_ignore *ig = NULL;
		struct cli_watch *w = NULL;
		autoclose int fd = open(d->a->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			err_make(&e, errno, "%s: %s", d->a->src, strerror(errno));
		if (fd < 0 || cli_ignore_load(fd, d->a->src, true, &ig, &e) < 0 ||
		    cli_watch_new(d->a->src, ig, &w, &e) < 0) {
			cli_ignore_free(ig);
			rc = cli_report_err(&e);
			break;
		}
		int r = deploy_once(d);
		if (r == CLI_EXIT_USAGE) { /* cannot create it: watching would not help */
			cli_watch_free(w);
			cli_ignore_free(ig);
			rc = r;
			break;
		}
		/* A failed deploy (a bad package, a server away) waits for the next change. */
		r = cli_watch_wait(w, &stop, DEPLOY_DEBOUNCE_MS, &e);
		cli_watch_free(w);
		cli_ignore_free(ig);
		if (r < 0) {
			rc = cli_report_err(&e);
			break;
		}
		if (r == 0) {
			printf("stopped watching %s\n", d->a->src);
			break;
		}
	}
	cli_client_set_interrupt(d->c, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int deploy_run(const struct deploy_args *a)
{
	struct stat st;
	if (stat(a->src, &st) < 0) {
		fprintf(stderr, "lambdad: %s: %s\n", a->src, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (a->watch && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "lambdad deploy: --watch takes a directory, not %s\n", a->src);
		return CLI_EXIT_USAGE;
	}
	autofree char *ename = cli_urlencode(a->name);
	struct deploy d = {
	    .a = a,
	    .c = cli_client_new(a->endpoint),
	    .code_path = xasprintf("/2015-03-31/functions/%s/code", ename),
	    .conf_path = xasprintf("/2015-03-31/functions/%s/configuration", ename),
	    .is_dir = S_ISDIR(st.st_mode),
	};
	cli_client_set_progress(d.c, DEPLOY_PROGRESS_MIN, "code upload");
	int rc = a->watch ? deploy_watch(&d) : deploy_once(&d);
	cli_client_free(d.c);
	free(d.code_path);
	free(d.conf_path);
	return rc;
}

int cli_deploy(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"runtime", required_argument, NULL, 'r'},
	    {"handler", required_argument, NULL, 'H'},
	    {"memory", required_argument, NULL, 'm'},
	    {"timeout", required_argument, NULL, 't'},
	    {"env", required_argument, NULL, 'e'},
	    {"role", required_argument, NULL, 'R'},
	    {"endpoint", required_argument, NULL, 'E'},
	    {"watch", no_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
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
		case 'w':
			a.watch = true;
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
	if (!bad && !a.name)
		bad = "--name is required";
	if (!bad && (!deploy_utf8(a.name) || (a.runtime && !deploy_utf8(a.runtime)) ||
	             (a.handler && !deploy_utf8(a.handler)) || (a.role && !deploy_utf8(a.role))))
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
