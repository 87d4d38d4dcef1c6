/* The CLI's entry point and what its verbs share: verb dispatch, a small libcurl client,
 * API error reporting, URL encoding and reading files. */
#include "cli/cli.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_int.h"
#include "lambdad_version.h"

#define CLI_CONNECT_TIMEOUT_S 10L
#define CLI_MSG_SHOWN 300         /* bytes of a non-JSON error body quoted in a message */
#define CLI_PROGRESS_EVERY_MS 100 /* between two redraws of the progress line on a terminal */

static const struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} cli_verbs[] = {
    {"deploy", cli_deploy, "create or update a function from a directory or zip"},
    {"events", cli_events, "asynchronous events: failed ones kept by lambdad, replay, stats"},
    {"invoke", cli_invoke, "invoke a function and print its result"},
    {"logs", cli_logs, "print a function's logs (--follow to keep reading)"},
    {"ls", cli_ls, "list functions"},
    {"rm", cli_rm, "delete a function"},
    {"warm", cli_warm, "pre-warm a function's environments; set its keep-alive"},
};

void cli_usage(FILE *f)
{
	fprintf(f, "usage: lambdad VERB [options]\n\n");
	fprintf(f, "  %-8s  %s\n", "serve", "run the server (lambdad serve --help)");
	for (size_t i = 0; i < ARRAY_SIZE(cli_verbs); i++)
		fprintf(f, "  %-8s  %s\n", cli_verbs[i].name, cli_verbs[i].what);
	fprintf(f,
	        "\nEach verb takes --help and --endpoint URL (default $LAMBDAD_ENDPOINT, else %s).\n"
	        "Requests are signed (SigV4) with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or\n"
	        "--profile NAME of ~/.aws/credentials ($AWS_SHARED_CREDENTIALS_FILE); unsigned if none.\n"
	        "lambdad --version prints the version.\n",
	        CLI_DEFAULT_ENDPOINT);
}

int cli_main(int argc, char **argv)
{
	if (argc < 1) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[0], "--version") == 0 || strcmp(argv[0], "version") == 0) {
		printf("lambdad %s\n", LAMBDAD_VERSION);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	const struct cli_verb *v = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(cli_verbs); i++)
		if (strcmp(argv[0], cli_verbs[i].name) == 0)
			v = &cli_verbs[i];
	if (!v) {
		fprintf(stderr, "lambdad: unknown verb '%s'\n", argv[0]);
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "lambdad: cannot initialize libcurl\n");
		return CLI_EXIT_FAIL;
	}
	/* getopt names the program after argv[0] in its messages, and permutes the array. */
	autofree char *prog = xasprintf("lambdad %s", v->name);
	autofree char **av = xcalloc((size_t)argc + 1, sizeof(*av));
	av[0] = prog;
	/* --profile NAME (or --profile=NAME) is every verb's: taken out here. */
	int ac = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
			cli_profile = argv[++i];
		else if (strncmp(argv[i], "--profile=", 10) == 0)
			cli_profile = argv[i] + 10;
		else
			av[ac++] = argv[i];
	}
	optind = 0; /* GNU getopt: full reinitialization */
	int rc = v->run(ac, av);
	curl_global_cleanup();
	return rc;
}

const char *cli_default_endpoint(void)
{
	const char *e = getenv("LAMBDAD_ENDPOINT");
	return e && *e ? e : CLI_DEFAULT_ENDPOINT;
}

int cli_parse_endpoint_only(int argc, char **argv, void (*usage)(FILE *), const char **endpoint)
{
	static const struct option opts[] = {
	    {"endpoint", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	*endpoint = cli_default_endpoint();
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'E':
			*endpoint = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	return -1;
}

/* ---- HTTP client ---- */

const char *cli_profile;

struct cli_client {
	CURL *curl;
	struct cli_creds creds;
	char *sigv4;    /* "aws:amz:REGION:lambda", or NULL: unsigned */
	char *userpwd;  /* "AKID:SECRET" */
	char *endpoint; /* without a trailing '/' */
	char errbuf[CURL_ERROR_SIZE];
	const sigset_t *stop; /* borrowed: signals that interrupt a request, or NULL */
	bool interrupted;     /* the transfer was aborted for one of them */
	size_t progress_min;  /* request bodies of this many bytes show progress; 0: never */
	const char *progress_what;
	bool progress_on; /* this request shows it */
	bool tty;         /* stderr is a terminal */
	int64_t started_ms, drawn_ms;
	bool drawn_all; /* the line says all was sent */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct cli_client *cli_client_new(const char *endpoint)
{
	struct cli_client *c = xcalloc(1, sizeof(*c));
	size_t n = strlen(endpoint);
	while (n > 0 && endpoint[n - 1] == '/')
		n--;
	c->endpoint = xstrndup(endpoint, n);
	c->curl = curl_easy_init();
	if (!c->curl) {
		fprintf(stderr, "lambdad: out of memory (curl_easy_init)\n");
		abort();
	}
	struct err e = {0};
	if (cli_creds_load(cli_profile, &c->creds, &e) < 0) {
		fprintf(stderr, "lambdad: %s\n", e.msg);
		exit(CLI_EXIT_USAGE);
	}
	if (c->creds.akid[0]) {
		c->sigv4 = xasprintf("aws:amz:%s:lambda", c->creds.region);
		c->userpwd = xasprintf("%s:%s", c->creds.akid, c->creds.secret);
	}
	return c;
}

void cli_client_set_interrupt(struct cli_client *c, const sigset_t *set)
{
	c->stop = set;
}

void cli_client_set_progress(struct cli_client *c, size_t min_bytes, const char *what)
{
	c->progress_min = min_bytes;
	c->progress_what = what;
	c->tty = isatty(STDERR_FILENO) == 1;
}

void cli_client_free(struct cli_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c->endpoint);
	free(c->sigv4);
	if (c->userpwd)
		explicit_bzero(c->userpwd, strlen(c->userpwd));
	free(c->userpwd);
	explicit_bzero(&c->creds, sizeof(c->creds));
	free(c);
}

void cli_resp_fini(struct cli_resp *r)
{
	free(r->body);
	for (size_t i = 0; i < r->nhdrs; i++) {
		free(r->hdr_names[i]);
		free(r->hdr_values[i]);
	}
	free(r->hdr_names);
	free(r->hdr_values);
	memset(r, 0, sizeof(*r));
}

static void resp_clear_headers(struct cli_resp *r)
{
	for (size_t i = 0; i < r->nhdrs; i++) {
		free(r->hdr_names[i]);
		free(r->hdr_values[i]);
	}
	r->nhdrs = 0;
}

const char *cli_resp_header(const struct cli_resp *r, const char *name)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->hdr_names[i], name) == 0)
			return r->hdr_values[i];
	return NULL;
}

static size_t body_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct cli_resp *r = ud;
	size_t n = size * nmemb;
	r->body = xrealloc(r->body, r->len + n + 1);
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Keeps the headers of the last response only: a status line (after a 100 Continue or
 * an interim answer) starts a new set. */
static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct cli_resp *r = ud;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		resp_clear_headers(r);
		return n;
	}
	const char *colon = memchr(data, ':', n);
	if (!colon)
		return n;
	const char *v = colon + 1, *end = data + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	if (r->nhdrs == r->hdrs_cap) {
		r->hdrs_cap = r->hdrs_cap ? 2 * r->hdrs_cap : 16;
		r->hdr_names = xrealloc(r->hdr_names, r->hdrs_cap * sizeof(char *));
		r->hdr_values = xrealloc(r->hdr_values, r->hdrs_cap * sizeof(char *));
	}
	r->hdr_names[r->nhdrs] = xstrndup(data, (size_t)(colon - data));
	r->hdr_values[r->nhdrs] = xstrndup(v, (size_t)(end - v));
	r->nhdrs++;
	return n;
}

static double mb(curl_off_t n)
{
	return (double)n / (1024.0 * 1024.0);
}

/* curl's progress callback: stops the transfer when a stop signal is pending, and draws
 * the upload's progress on a terminal. */
static int xfer_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct cli_client *c = ud;
	if (c->stop) {
		sigset_t pending;
		sigpending(&pending);
		for (int s = 1; s < NSIG; s++)
			if (sigismember(c->stop, s) == 1 && sigismember(&pending, s) == 1) {
				c->interrupted = true;
				return 1;
			}
	}
	if (!c->progress_on || !c->tty || ultotal <= 0)
		return 0;
	int64_t now = mono_ms();
	if (c->drawn_all || (now - c->drawn_ms < CLI_PROGRESS_EVERY_MS && ulnow < ultotal))
		return 0;
	c->drawn_all = ulnow == ultotal;
	c->drawn_ms = now;
	if (ulnow < ultotal)
		fprintf(stderr, "\r\033[Klambdad: %s: sent %.1f of %.1f MB (%d%%)", c->progress_what,
		        mb(ulnow), mb(ultotal), (int)(100 * ulnow / ultotal));
	else
		fprintf(stderr, "\r\033[Klambdad: %s: sent %.1f MB, waiting for the server", c->progress_what,
		        mb(ultotal));
	return 0;
}

/* Ends the progress display: the last line says how much was sent in how long. */
static void progress_done(struct cli_client *c, size_t len, bool ok)
{
	if (!c->progress_on)
		return;
	double s = (double)(mono_ms() - c->started_ms) / 1000.0;
	if (c->tty)
		fputs("\r\033[K", stderr);
	if (ok)
		fprintf(stderr, "lambdad: %s: sent %.1f MB in %.1f s\n", c->progress_what,
		        mb((curl_off_t)len), s);
	else if (c->tty)
		fflush(stderr); /* the line cleared: the caller reports the failure */
}

/* Says what a transport failure means to someone running the CLI: most often that no
 * server listens at the endpoint. Returns the negative errno. */
static int request_failed(struct cli_client *c, CURLcode cc, const char *method, const char *url,
                          struct err *errp)
{
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
	curl_off_t connected_us = 0;
	curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connected_us);
	if (c->interrupted)
		return err_make(errp, EINTR, "%s %s: interrupted", method, url);
	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return err_make(errp, EINVAL, "bad endpoint %s: %s", c->endpoint, why);
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (connected_us == 0)
			break;
		return err_make(errp, ETIMEDOUT, "%s %s: %s", method, url, why);
	default:
		return err_make(errp, EIO, "%s %s: %s", method, url, why);
	}
	return err_make(errp, ECONNREFUSED, "cannot reach lambdad at %s: is `lambdad serve` running? (%s)",
	                c->endpoint, why);
}

int cli_request(struct cli_client *c, const char *method, const char *path, const char *content_type,
                const void *body, size_t len, const char *const *headers, long timeout_s,
                struct cli_resp *resp, struct err *errp)
{
	CURL *h = c->curl;
	cli_resp_fini(resp);
	autofree char *url = xasprintf("%s%s", c->endpoint, path);
	autofree char *ct = content_type ? xasprintf("Content-Type: %s", content_type) : NULL;
	struct curl_slist *hl = NULL, *t;
	/* Expect: 100-continue would only add a round trip for the payloads we send. */
	const char *fixed[] = {"Expect:", ct};
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		if (!fixed[i])
			continue;
		if (!(t = curl_slist_append(hl, fixed[i])))
			goto oom;
		hl = t;
	}
	for (size_t i = 0; headers && headers[i]; i++) {
		if (!(t = curl_slist_append(hl, headers[i])))
			goto oom;
		hl = t;
	}
	/* A reset keeps the connection cache, so consecutive requests reuse the connection. */
	curl_easy_reset(h);
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CLI_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "lambdad-cli");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	if (c->sigv4) {
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
		curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd);
	}
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") != 0 || !body)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	c->interrupted = false;
	c->progress_on = body && c->progress_min && len >= c->progress_min;
	c->started_ms = mono_ms();
	c->drawn_ms = 0;
	c->drawn_all = false;
	if (c->stop || c->progress_on) {
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}
	CURLcode cc = curl_easy_perform(h);
	curl_slist_free_all(hl);
	progress_done(c, len, cc == CURLE_OK);
	if (cc != CURLE_OK)
		return request_failed(c, cc, method, url, errp);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (!resp->body)
		resp->body = xcalloc(1, 1);
	return 0;
oom:
	curl_slist_free_all(hl);
	fprintf(stderr, "lambdad: out of memory (curl_slist_append)\n");
	abort();
}

/* ---- errors ---- */

int cli_report_api_error(const struct cli_resp *r)
{
	json_t *j = r->body && r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *type = cli_resp_header(r, "X-Amzn-ErrorType");
	size_t type_len = type ? strcspn(type, ":") : 0; /* AWS may append ":<uri>" */
	const char *keys[] = {"__type", "code", "Type"};
	for (size_t i = 0; i < ARRAY_SIZE(keys) && !type_len && json_is_object(j); i++) {
		type = json_string_value(json_object_get(j, keys[i]));
		type_len = type ? strlen(type) : 0;
		/* "__type" may be "<namespace>#<Type>". */
		const char *hash = type ? memchr(type, '#', type_len) : NULL;
		if (hash) {
			type_len -= (size_t)(hash + 1 - type);
			type = hash + 1;
		}
	}
	const char *msg = NULL;
	if (json_is_object(j)) {
		msg = json_string_value(json_object_get(j, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(j, "Message"));
		if (!msg)
			msg = json_string_value(json_object_get(j, "errorMessage"));
	}
	char fallback[CLI_MSG_SHOWN + 4];
	if (!msg) {
		/* Not the JSON we expected: show the start of the body on one line, runs of
		 * white space squeezed to one blank and control characters as '?'. */
		size_t o = 0, i = 0;
		for (; r->body && i < r->len && o < CLI_MSG_SHOWN; i++) {
			unsigned char ch = (unsigned char)r->body[i];
			if (isspace(ch)) {
				if (o > 0 && fallback[o - 1] != ' ')
					fallback[o++] = ' ';
				continue;
			}
			fallback[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
		while (o > 0 && fallback[o - 1] == ' ')
			o--;
		if (r->body && i < r->len) {
			memcpy(fallback + o, "...", 3);
			o += 3;
		}
		fallback[o] = '\0';
		msg = o ? fallback : "(no message)";
	}
	if (type_len)
		fprintf(stderr, "lambdad: %.*s: %s\n", (int)type_len, type, msg);
	else
		fprintf(stderr, "lambdad: HTTP %ld: %s\n", r->status, msg);
	json_decref(j);
	return CLI_EXIT_FAIL;
}

int cli_report_err(const struct err *e)
{
	fprintf(stderr, "lambdad: %s\n", e->msg);
	return CLI_EXIT_FAIL;
}

/* ---- small helpers ---- */

char *cli_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(3 * strlen(s) + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) && *p < 0x80) {
			*o++ = (char)*p;
		} else if (*p == '-' || *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

int cli_read_stream(FILE *f, const char *what, unsigned char **out, size_t *len, struct err *errp)
{
	size_t cap = 64 * 1024, n = 0;
	autofree unsigned char *buf = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				return err_make(errp, errno ? errno : EIO, "read %s: %s", what,
				                strerror(errno ? errno : EIO));
			break;
		}
	}
	buf[n] = '\0';
	*out = steal_ptr(&buf);
	*len = n;
	return 0;
}

int cli_read_file(const char *path, unsigned char **out, size_t *len, struct err *errp)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_make(errp, errno, "%s: %s", path, strerror(errno));
	int r = cli_read_stream(f, path, out, len, errp);
	fclose(f);
	return r;
}

bool cli_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || !isdigit((unsigned char)*s) || v < min || v > max)
		return false;
	*out = v;
	return true;
}
