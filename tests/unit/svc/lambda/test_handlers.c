/* The Lambda API handlers in process: the real struct api over a store in a temporary
 * directory and a scheduler over a fake backend (environments whose runtime is this test,
 * speaking the Runtime API's bytes over a socketpair), requests fed through the front's
 * dispatch by the fake transport, and the exact status, headers and JSON bodies asserted:
 * CreateFunction, Get/List, UpdateFunctionConfiguration's RevisionId precondition, Delete,
 * concurrency, a synchronous Invoke, an Event invoke, an unknown operation and the drain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../front/fake_transport.h"
#include "base/codec.h"
#include "proto/eventstream.h"
#include "rtapi/rtapi.h"
#include "sched/backend.h"
#include "store/store.h"
#include "store/store_int.h"
#include "svc/lambda/api_int.h"

#define MAX_ENVS 8
#define RT "/2018-06-01/runtime/"

/* One environment of the fake backend: the runtime's end of its Runtime API connection. */
struct sched_benv {
	int id;
	struct sched_benv_cbs cbs;
	void *arg;
	int rt_fd, srv_fd;
	int log_r, log_w;
	struct event *ready_ev; /* reports ready on the next loop turn, never inside create */
	struct evbuffer *in;    /* what the Runtime API server sent the runtime */
};

static struct harness {
	struct event_base *base;
	struct store *st;
	struct sched *s;
	struct api *a;
	char dir[64];
	char logs[96];
	struct sched_benv *env[MAX_ENVS + 1]; /* by id, from 1 */
	int nenv;
} H;

/* ---- the fake backend ---- */

static void ready_now(evutil_socket_t fd, short what, void *arg)
{
	struct sched_benv *h = arg;
	h->cbs.ready_cb(h->arg, 0, NULL);
}

static int fake_create(void *be, const struct sched_env_spec *spec, const struct sched_benv_cbs *cbs,
                       void *arg, struct sched_benv **out, struct err *errp)
{
	assert_true(H.nenv < MAX_ENVS);
	struct sched_benv *h = xcalloc(1, sizeof(*h));
	h->id = ++H.nenv;
	h->cbs = *cbs;
	h->arg = arg;
	int sv[2], lp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(lp, O_NONBLOCK | O_CLOEXEC), 0);
	h->srv_fd = sv[0];
	h->rt_fd = sv[1];
	h->log_r = lp[0];
	h->log_w = lp[1];
	h->in = evbuffer_new();
	h->ready_ev = evtimer_new(H.base, ready_now, h);
	struct timeval now = {0, 0};
	evtimer_add(h->ready_ev, &now);
	H.env[h->id] = h;
	*out = h;
	return 0;
}

static int fake_log_fd(struct sched_benv *h)
{
	return h->log_r;
}

static int fake_serve(struct sched_benv *h, const struct rtapi_ops *ops, void *arg, struct rtapi **out,
                      struct err *errp)
{
	int r = rtapi_new(H.base, -1, ops, arg, out, errp);
	if (r == 0)
		r = rtapi_serve_fd(*out, h->srv_fd);
	h->srv_fd = -1;
	return r;
}

static int fake_signal(struct sched_benv *h, int sig)
{
	return 0;
}

static bool fake_can_freeze(struct sched_benv *h)
{
	return false;
}

static int fake_freeze(struct sched_benv *h, bool frozen)
{
	return -ENOTSUP;
}

static int fake_stats(struct sched_benv *h, uint64_t *kb)
{
	*kb = 1024;
	return 0;
}

/* The scheduler is done with h: everything of it goes (the test keeps no pointer). */
static void fake_destroy(struct sched_benv *h)
{
	event_free(h->ready_ev);
	if (h->srv_fd >= 0)
		close(h->srv_fd);
	close(h->rt_fd);
	close(h->log_r);
	close(h->log_w);
	evbuffer_free(h->in);
	H.env[h->id] = NULL;
	free(h);
}

static const struct sched_backend_ops fake_ops = {
    .env_new = fake_create,
    .log_fd = fake_log_fd,
    .serve = fake_serve,
    .signal = fake_signal,
    .can_freeze = fake_can_freeze,
    .freeze = fake_freeze,
    .stats = fake_stats,
    .env_free = fake_destroy,
    .free = NULL,
};

/* ---- the loop ---- */

static void collect(void)
{
	char buf[65536];
	for (int i = 1; i <= H.nenv; i++) {
		struct sched_benv *h = H.env[i];
		ssize_t n;
		while (h && (n = read(h->rt_fd, buf, sizeof(buf))) > 0)
			evbuffer_add(h->in, buf, (size_t)n);
	}
}

/* One turn of the loop, waiting up to 10 ms for something to happen. */
static void turn(void)
{
	struct timeval tv = {0, 10000};
	event_base_loopexit(H.base, &tv);
	event_base_loop(H.base, EVLOOP_ONCE);
	collect();
}

/* Turns the loop until cond holds (a generous bound: 20 s). */
#define UNTIL(cond)                                                                                          \
	do {                                                                                                 \
		int i_;                                                                                      \
		for (i_ = 0; i_ < 2000 && !(cond); i_++)                                                     \
			turn();                                                                              \
		if (!(cond))                                                                                 \
			fail_msg("never: %s", #cond);                                                        \
	} while (0)

/* ---- setup ---- */

static void open_all(void)
{
	struct err e = {0};
	assert_int_equal(store_new(H.dir, &H.st, &e), 0);
	store_set_loop(H.st, H.base, NULL);
	struct sched_config scfg = {.logs_dir = H.logs,
	                            .keep_alive_ms = 600000,
	                            .account_concurrency = 1000,
	                            .init_timeout_ms = 60000,
	                            .region = "us-east-1",
	                            .account = "000000000000"};
	struct sched_backend be = {.ops = &fake_ops, .be = NULL};
	assert_int_equal(sched_new_with(H.base, &scfg, be, &H.s, &e), 0);
	struct api_config acfg = {.region = "us-east-1",
	                          .account = "000000000000",
	                          .logs_dir = H.logs,
	                          .account_concurrency = 1000};
	if (api_new(H.base, H.st, H.s, &acfg, &H.a, &e) < 0)
		fail_msg("api_new: %s", e.msg);
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	snprintf(H.dir, sizeof(H.dir), "/tmp/test_handlers.XXXXXX");
	assert_non_null(mkdtemp(H.dir));
	snprintf(H.logs, sizeof(H.logs), "%s/logs", H.dir);
	assert_int_equal(mkdir(H.logs, 0755), 0);
	open_all();
	return 0;
}

/* In lambdad's order (main.c): stop, then free in the reverse order of creation. */
static int teardown(void **state)
{
	api_stop_accepting(H.a);
	sched_stop(H.s);
	api_free(H.a);
	sched_free(H.s);
	for (int i = 0; i < 4; i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	store_free(H.st);
	event_base_free(H.base);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", H.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- requests ---- */

/* The answer to one request, taken whole. */
struct answer {
	int status;
	char *body;     /* owned */
	json_t *json;   /* owned; NULL unless the body is JSON */
	struct fake *f; /* the headers (fake_header) */
};

static void answer_fini(struct answer *an)
{
	free(an->body);
	json_decref(an->json);
	fake_free(an->f);
}

/* Sends a request through the front and does not wait (the fake records the answer). */
static struct fake *send_req(const char *method, const char *uri, const char *const *hdrs, const char *body)
{
	struct fake *f = fake_new(method, uri, hdrs, body);
	front_dispatch(f->rq, H.a->front);
	return f;
}

static struct answer take(struct fake *f)
{
	UNTIL(f->sends + f->ends > 0);
	struct answer an = {.status = f->status, .body = fake_body(f), .f = f};
	an.json = json_loads(an.body, JSON_DECODE_ANY, NULL);
	/* Every answer of the Lambda API carries a request id. */
	assert_non_null(fake_header(f, "x-amzn-RequestId"));
	return an;
}

static struct answer req(const char *method, const char *uri, const char *body)
{
	const char *h[] = {"Host: 127.0.0.1:9001", "Content-Type: application/json", NULL};
	return take(send_req(method, uri, h, body));
}

/* The answer's header name, which must be there. */
static const char *hdr(struct fake *f, const char *name)
{
	const char *v = fake_header(f, name);
	if (!v)
		fail_msg("no header %s in the answer", name);
	return v;
}

static const char *jstr(const json_t *o, const char *path)
{
	json_t *v = json_object_get(o, path);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Asserts an AWS error answer: status, X-Amzn-ErrorType and {"Type","message"}. */
static void assert_error(struct answer *an, int status, const char *type, const char *message)
{
	assert_int_equal(an->status, status);
	assert_string_equal(hdr(an->f, "X-Amzn-ErrorType"), type);
	assert_non_null(an->json);
	assert_string_equal(jstr(an->json, "message"), message);
	assert_string_equal(jstr(an->json, "Type"), status < 500 ? "User" : "Service");
	assert_string_equal(hdr(an->f, "Content-Type"), "application/json");
	answer_fini(an);
}

/* A zip of one executable file named bootstrap, base64 (owned). */
static char *zip_b64(void)
{
	struct archive *w = archive_write_new();
	archive_write_set_format_zip(w);
	static char buf[4096];
	size_t used = 0;
	assert_int_equal(archive_write_open_memory(w, buf, sizeof(buf), &used), ARCHIVE_OK);
	struct archive_entry *en = archive_entry_new();
	static const char script[] = "#!/bin/sh\nexit 0\n";
	archive_entry_set_pathname(en, "bootstrap");
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0755);
	archive_entry_set_size(en, sizeof(script) - 1);
	assert_int_equal(archive_write_header(w, en), ARCHIVE_OK);
	assert_int_equal(archive_write_data(w, script, sizeof(script) - 1), (la_ssize_t)(sizeof(script) - 1));
	archive_entry_free(en);
	assert_int_equal(archive_write_close(w), ARCHIVE_OK);
	archive_write_free(w);
	return b64_encode(buf, used);
}

static char *create_body(const char *name, const char *zip)
{
	return xasprintf("{\"FunctionName\":\"%s\",\"Runtime\":\"provided.al2023\",\"Handler\":\"bootstrap\","
	                 "\"Role\":\"arn:aws:iam::000000000000:role/r\",\"Code\":{\"ZipFile\":\"%s\"}}",
	                 name, zip);
}

static void create(const char *name)
{
	char *zip = zip_b64();
	char *body = create_body(name, zip);
	struct answer an = req("POST", "/2015-03-31/functions", body);
	assert_int_equal(an.status, 201);
	answer_fini(&an);
	free(body);
	free(zip);
}

/* ---- the tests ---- */

static void test_create_function(void **state)
{
	char *zip = zip_b64();
	char *body = create_body("hello", zip);
	struct answer an = req("POST", "/2015-03-31/functions", body);
	assert_int_equal(an.status, 201);
	assert_string_equal(hdr(an.f, "Content-Type"), "application/json");
	assert_string_equal(jstr(an.json, "FunctionName"), "hello");
	assert_string_equal(jstr(an.json, "FunctionArn"),
	                    "arn:aws:lambda:us-east-1:000000000000:function:hello");
	assert_string_equal(jstr(an.json, "Runtime"), "provided.al2023");
	assert_string_equal(jstr(an.json, "Handler"), "bootstrap");
	assert_string_equal(jstr(an.json, "Version"), "$LATEST");
	assert_int_equal(json_integer_value(json_object_get(an.json, "MemorySize")), 128);
	assert_int_equal(json_integer_value(json_object_get(an.json, "Timeout")), 3);
	assert_non_null(jstr(an.json, "RevisionId"));
	assert_non_null(jstr(an.json, "CodeSha256"));
	answer_fini(&an);

	/* The same name again: 409. */
	an = req("POST", "/2015-03-31/functions", body);
	assert_error(&an, 409, "ResourceConflictException", "Function already exist: hello");
	free(body);
	free(zip);

	/* Not a zip. */
	body = create_body("bad", "bm90IGEgemlw"); /* "not a zip" */
	an = req("POST", "/2015-03-31/functions", body);
	assert_error(&an, 400, "InvalidParameterValueException",
	             "Could not unzip uploaded file. Please check your file, then try to upload again. "
	             "(Unrecognized archive format)");
	free(body);

	/* Missing fields are named, in the order they are checked. */
	an = req("POST", "/2015-03-31/functions", "{}");
	assert_error(&an, 400, "ValidationException",
	             "1 validation error detected: Value null at 'functionName' failed to satisfy "
	             "constraint: Member must not be null");
	an = req("POST", "/2015-03-31/functions", "{\"FunctionName\":\"x\"}");
	assert_error(&an, 400, "InvalidParameterValueException",
	             "Runtime is required for a function of PackageType Zip");
	an = req("POST", "/2015-03-31/functions", "{\"FunctionName\":\"x\",\"Runtime\":\"provided.al2023\"}");
	assert_error(&an, 400, "InvalidParameterValueException",
	             "Handler is required for a function of PackageType Zip");
	an = req("POST", "/2015-03-31/functions",
	         "{\"FunctionName\":\"x\",\"Runtime\":\"provided.al2023\",\"Handler\":\"h\","
	         "\"Role\":\"arn:aws:iam::000000000000:role/r\"}");
	assert_error(&an, 400, "InvalidParameterValueException", "Code must be an object with ZipFile");

	/* Not JSON. */
	an = req("POST", "/2015-03-31/functions", "{");
	assert_int_equal(an.status, 400);
	assert_string_equal(hdr(an.f, "X-Amzn-ErrorType"), "InvalidRequestContentException");
	answer_fini(&an);

	/* Nothing of the refused ones was created. */
	an = req("GET", "/2015-03-31/functions/bad", NULL);
	assert_error(&an, 404, "ResourceNotFoundException",
	             "Function not found: arn:aws:lambda:us-east-1:000000000000:function:bad");
}

static void test_get_and_list(void **state)
{
	create("f1");
	create("f2");
	create("f3");
	struct answer an = req("GET", "/2015-03-31/functions/f2", NULL);
	assert_int_equal(an.status, 200);
	json_t *cfg = json_object_get(an.json, "Configuration");
	assert_string_equal(jstr(cfg, "FunctionName"), "f2");
	json_t *code = json_object_get(an.json, "Code");
	assert_string_equal(jstr(code, "RepositoryType"), "S3");
	/* Where the zip can be fetched: lambdad's own code route on the Host asked. */
	const char *loc = jstr(code, "Location");
	assert_non_null(loc);
	static const char pre[] = "http://127.0.0.1:9001/lambdad/v1/code/";
	assert_int_equal(strncmp(loc, pre, sizeof(pre) - 1), 0);
	assert_int_equal(strlen(loc), sizeof(pre) - 1 + 64 + 4);
	assert_string_equal(loc + strlen(loc) - 4, ".zip");
	/* Concurrency only with a reservation. */
	assert_null(json_object_get(an.json, "Concurrency"));
	answer_fini(&an);

	an = req("GET", "/2015-03-31/functions/f2/configuration", NULL);
	assert_int_equal(an.status, 200);
	assert_string_equal(jstr(an.json, "FunctionName"), "f2");
	assert_null(json_object_get(an.json, "Configuration"));
	/* The whole configuration, with the two values that change from run to run (LastModified
	 * and RevisionId) replaced; CodeSha256 is the base64 SHA-256 of the zip sent. */
	char *zip = zip_b64();
	size_t zlen;
	unsigned char *raw = b64_decode(zip, strlen(zip), &zlen);
	unsigned char digest[32];
	sha256(raw, zlen, digest);
	char *sha = b64_encode(digest, 32);
	json_object_set_new(an.json, "LastModified", json_string("T"));
	json_object_set_new(an.json, "RevisionId", json_string("R"));
	char *got = json_dumps(an.json, JSON_COMPACT);
	char *want = xasprintf(
	    "{\"FunctionName\":\"f2\",\"FunctionArn\":\"arn:aws:lambda:us-east-1:000000000000:function:f2\","
	    "\"Runtime\":\"provided.al2023\",\"Role\":\"arn:aws:iam::000000000000:role/r\",\"Handler\":"
	    "\"bootstrap\",\"CodeSize\":%zu,\"Description\":\"\",\"Timeout\":3,\"MemorySize\":128,"
	    "\"LastModified\":\"T\",\"CodeSha256\":\"%s\",\"Version\":\"$LATEST\",\"TracingConfig\":"
	    "{\"Mode\":\"PassThrough\"},\"RevisionId\":\"R\",\"State\":\"Active\",\"LastUpdateStatus\":"
	    "\"Successful\",\"PackageType\":\"Zip\",\"Architectures\":[\"x86_64\"],\"EphemeralStorage\":"
	    "{\"Size\":512},\"LoggingConfig\":{\"LogFormat\":\"Text\",\"LogGroup\":\"/aws/lambda/f2\"},"
	    "\"SnapStart\":{\"ApplyOn\":\"None\"}}",
	    zlen, sha);
	assert_string_equal(got, want);
	free(want);
	free(got);
	free(sha);
	free(raw);
	free(zip);
	answer_fini(&an);

	/* By full ARN as well. */
	an = req("GET",
	         "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af3/"
	         "configuration",
	         NULL);
	assert_int_equal(an.status, 200);
	assert_string_equal(jstr(an.json, "FunctionName"), "f3");
	answer_fini(&an);

	an = req("GET", "/2015-03-31/functions/nope/configuration", NULL);
	assert_error(&an, 404, "ResourceNotFoundException",
	             "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope");

	/* Paging: two, then the rest by NextMarker. */
	an = req("GET", "/2015-03-31/functions/?MaxItems=2", NULL);
	assert_int_equal(an.status, 200);
	json_t *fs = json_object_get(an.json, "Functions");
	assert_int_equal(json_array_size(fs), 2);
	assert_string_equal(jstr(json_array_get(fs, 0), "FunctionName"), "f1");
	assert_string_equal(jstr(json_array_get(fs, 1), "FunctionName"), "f2");
	const char *marker = jstr(an.json, "NextMarker");
	assert_non_null(marker);
	char *uri = xasprintf("/2015-03-31/functions/?MaxItems=2&Marker=%s", marker);
	answer_fini(&an);
	an = req("GET", uri, NULL);
	free(uri);
	assert_int_equal(an.status, 200);
	fs = json_object_get(an.json, "Functions");
	assert_int_equal(json_array_size(fs), 1);
	assert_string_equal(jstr(json_array_get(fs, 0), "FunctionName"), "f3");
	assert_null(json_object_get(an.json, "NextMarker"));
	answer_fini(&an);
}

static void test_update_configuration_and_delete(void **state)
{
	create("u");
	struct answer an = req("GET", "/2015-03-31/functions/u/configuration", NULL);
	char *rev = xstrdup(jstr(an.json, "RevisionId"));
	answer_fini(&an);

	/* A stale RevisionId: 412, nothing changed. */
	an = req("PUT", "/2015-03-31/functions/u/configuration",
	         "{\"MemorySize\":256,\"RevisionId\":\"stale\"}");
	assert_error(&an, 412, "PreconditionFailedException",
	             "The Revision Id provided does not match the latest Revision Id. Call the "
	             "GetFunction/GetAlias API to retrieve the latest Revision Id");

	char *body = xasprintf("{\"MemorySize\":256,\"RevisionId\":\"%s\"}", rev);
	an = req("PUT", "/2015-03-31/functions/u/configuration", body);
	free(body);
	assert_int_equal(an.status, 200);
	assert_int_equal(json_integer_value(json_object_get(an.json, "MemorySize")), 256);
	assert_string_not_equal(jstr(an.json, "RevisionId"), rev);
	answer_fini(&an);

	/* The old revision is stale now. */
	body = xasprintf("{\"Timeout\":9,\"RevisionId\":\"%s\"}", rev);
	an = req("PUT", "/2015-03-31/functions/u/configuration", body);
	free(body);
	free(rev);
	assert_error(&an, 412, "PreconditionFailedException",
	             "The Revision Id provided does not match the latest Revision Id. Call the "
	             "GetFunction/GetAlias API to retrieve the latest Revision Id");

	an = req("GET", "/2015-03-31/functions/u/configuration", NULL);
	assert_int_equal(json_integer_value(json_object_get(an.json, "MemorySize")), 256);
	assert_int_equal(json_integer_value(json_object_get(an.json, "Timeout")), 3);
	answer_fini(&an);

	an = req("DELETE", "/2015-03-31/functions/u", NULL);
	assert_int_equal(an.status, 204);
	assert_string_equal(an.body, "");
	answer_fini(&an);
	an = req("GET", "/2015-03-31/functions/u", NULL);
	assert_error(&an, 404, "ResourceNotFoundException",
	             "Function not found: arn:aws:lambda:us-east-1:000000000000:function:u");
	an = req("DELETE", "/2015-03-31/functions/u", NULL);
	assert_error(&an, 404, "ResourceNotFoundException",
	             "Function not found: arn:aws:lambda:us-east-1:000000000000:function:u");
}

static void test_concurrency(void **state)
{
	create("c");
	struct answer an = req("GET", "/2019-09-30/functions/c/concurrency", NULL);
	assert_int_equal(an.status, 200);
	assert_string_equal(an.body, "{}");
	answer_fini(&an);

	/* 1000 in the account: reserving 901 would leave 99 unreserved, under the minimum of 100. */
	an = req("PUT", "/2017-10-31/functions/c/concurrency", "{\"ReservedConcurrentExecutions\":901}");
	assert_error(&an, 400, "InvalidParameterValueException",
	             "Specified ReservedConcurrentExecutions for function decreases account's "
	             "UnreservedConcurrentExecution below its minimum value of [100].");

	an = req("PUT", "/2017-10-31/functions/c/concurrency", "{\"ReservedConcurrentExecutions\":900}");
	assert_int_equal(an.status, 200);
	assert_string_equal(an.body, "{\"ReservedConcurrentExecutions\":900}");
	answer_fini(&an);
	an = req("GET", "/2019-09-30/functions/c/concurrency", NULL);
	assert_int_equal(an.status, 200);
	assert_string_equal(an.body, "{\"ReservedConcurrentExecutions\":900}");
	answer_fini(&an);

	an = req("DELETE", "/2017-10-31/functions/c/concurrency", NULL);
	assert_int_equal(an.status, 204);
	answer_fini(&an);
	an = req("GET", "/2019-09-30/functions/c/concurrency", NULL);
	assert_string_equal(an.body, "{}");
	answer_fini(&an);
}

/* The runtime of env id asks for its next event and gets it: returns the request id (owned)
 * and checks the payload. */
static char *rt_next(int id, const char *payload)
{
	static const char next[] = "GET " RT "invocation/next HTTP/1.1\r\nHost: rt\r\n\r\n";
	assert_int_equal(write(H.env[id]->rt_fd, next, sizeof(next) - 1), (ssize_t)(sizeof(next) - 1));
	struct evbuffer *in = H.env[id]->in;
	size_t plen = strlen(payload);
	UNTIL(evbuffer_search(in, "\r\n\r\n", 4, NULL).pos >= 0 &&
	      evbuffer_get_length(in) >= (size_t)evbuffer_search(in, "\r\n\r\n", 4, NULL).pos + 4 + plen);
	size_t n = evbuffer_get_length(in);
	char *s = xmalloc(n + 1);
	evbuffer_remove(in, s, n);
	s[n] = 0;
	if (!strstr(s, "HTTP/1.1 200 OK\r\n"))
		fail_msg("runtime got: %s", s);
	assert_string_equal(strstr(s, "\r\n\r\n") + 4, payload);
	const char *k = "Lambda-Runtime-Aws-Request-Id: ";
	char *p = strstr(s, k);
	assert_non_null(p);
	p += strlen(k);
	char *rid = xstrndup(p, strcspn(p, "\r"));
	free(s);
	return rid;
}

static void rt_post(int id, const char *rid, const char *what, const char *body)
{
	char *m =
	    xasprintf("POST " RT "invocation/%s/%s HTTP/1.1\r\nHost: rt\r\nContent-Length: %zu\r\n\r\n%s",
	              rid, what, strlen(body), body);
	assert_int_equal(write(H.env[id]->rt_fd, m, strlen(m)), (ssize_t)strlen(m));
	free(m);
	/* The Runtime API's answer to it, exactly. */
	static const char ok[] = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "
	                         "15\r\n\r\n{\"status\":\"OK\"}";
	struct evbuffer *in = H.env[id]->in;
	UNTIL(evbuffer_get_length(in) >= sizeof(ok) - 1);
	char got[sizeof(ok)] = {0};
	evbuffer_remove(in, got, sizeof(ok) - 1);
	assert_string_equal(got, ok);
}

static void test_invoke(void **state)
{
	create("inv");
	const char *h[] = {"Host: 127.0.0.1:9001", NULL};
	struct fake *f = send_req("POST", "/2015-03-31/functions/inv/invocations", h, "{\"n\":1}");
	UNTIL(H.nenv == 1);
	char *rid = rt_next(1, "{\"n\":1}");
	assert_int_equal(f->status, 0); /* not answered before the function is */
	rt_post(1, rid, "response", "{\"echo\":1}");
	struct answer an = take(f);
	assert_int_equal(an.status, 200);
	assert_string_equal(an.body, "{\"echo\":1}");
	assert_string_equal(hdr(f, "x-amzn-RequestId"), rid);
	assert_string_equal(hdr(f, "X-Amz-Executed-Version"), "$LATEST");
	assert_null(fake_header(f, "X-Amz-Function-Error"));
	answer_fini(&an);
	free(rid);

	/* A function error: 200 still, with X-Amz-Function-Error; the same environment, warm. */
	f = send_req("POST", "/2015-03-31/functions/inv/invocations", h, "{\"n\":2}");
	rid = rt_next(1, "{\"n\":2}");
	rt_post(1, rid, "error", "{\"errorMessage\":\"boom\",\"errorType\":\"E\"}");
	an = take(f);
	assert_int_equal(an.status, 200);
	assert_string_equal(hdr(f, "X-Amz-Function-Error"), "Unhandled");
	assert_string_equal(jstr(an.json, "errorMessage"), "boom");
	assert_string_equal(jstr(an.json, "errorType"), "E");
	assert_int_equal(H.nenv, 1);
	answer_fini(&an);
	free(rid);

	/* Not JSON: refused before the scheduler sees it. */
	an = req("POST", "/2015-03-31/functions/inv/invocations", "{");
	assert_int_equal(an.status, 400);
	assert_string_equal(hdr(an.f, "X-Amzn-ErrorType"), "InvalidRequestContentException");
	answer_fini(&an);
}

/* The runtime of env id asks for its next event: returns the request id (owned). */
static char *rt_next_any(int id)
{
	static const char next[] = "GET " RT "invocation/next HTTP/1.1\r\nHost: rt\r\n\r\n";
	assert_int_equal(write(H.env[id]->rt_fd, next, sizeof(next) - 1), (ssize_t)(sizeof(next) - 1));
	struct evbuffer *in = H.env[id]->in;
	UNTIL(evbuffer_search(in, "\r\n\r\n", 4, NULL).pos >= 0);
	size_t head = (size_t)evbuffer_search(in, "\r\n\r\n", 4, NULL).pos + 4;
	char *s = xstrndup((const char *)evbuffer_pullup(in, (ev_ssize_t)head), head);
	const char *cl = strstr(s, "Content-Length: ");
	assert_non_null(cl);
	size_t len = strtoul(cl + 16, NULL, 10);
	UNTIL(evbuffer_get_length(in) >= head + len);
	evbuffer_drain(in, head + len);
	const char *k = "Lambda-Runtime-Aws-Request-Id: ";
	char *p = strstr(s, k);
	assert_non_null(p);
	p += strlen(k);
	char *rid = xstrndup(p, strcspn(p, "\r"));
	free(s);
	return rid;
}

#define STREAM_TOTAL (128 * 1024 * 1024) /* bytes the function streams */
#define CLIENT_PER_PASS 32768            /* bytes the slow client takes per loop pass */

/* The function of environment 1 streams 128 MiB to the client of f (flow set, dispatched),
 * which reads slowly (32 KiB a loop pass): the relay pauses the runtime's stream past its
 * high watermark and resumes it as the client drains, so what waits for the client stays
 * bounded (the runtime blocks instead). Returns once the answer ended; the bytes the
 * client got are f->chunk_bytes. */
static void stream_to_slow_client(struct fake *f)
{
	UNTIL(H.nenv == 1);
	char *rid = rt_next_any(1);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_printf(out,
	                    "POST " RT "invocation/%s/response HTTP/1.1\r\nHost: rt\r\n"
	                    "Lambda-Runtime-Function-Response-Mode: streaming\r\nContent-Type: "
	                    "application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
	                    rid);
	static char piece[65536];
	memset(piece, 's', sizeof(piece));
	uint64_t generated = 0;
	int blocked = 0; /* passes in which the runtime could write nothing */
	int fd = H.env[1]->rt_fd;
	for (int pass = 0; pass < 20000000 && f->ends == 0; pass++) {
		while (generated < STREAM_TOTAL && evbuffer_get_length(out) < 4 * sizeof(piece)) {
			evbuffer_add_printf(out, "%zx\r\n", sizeof(piece));
			evbuffer_add(out, piece, sizeof(piece));
			evbuffer_add(out, "\r\n", 2);
			generated += sizeof(piece);
			if (generated == STREAM_TOTAL)
				evbuffer_add(out, "0\r\n\r\n", 5);
		}
		size_t n = evbuffer_get_length(out);
		if (n > 0) {
			ssize_t w = write(fd, evbuffer_pullup(out, (ev_ssize_t)(n < 65536 ? n : 65536)),
			                  n < 65536 ? n : 65536);
			if (w > 0)
				evbuffer_drain(out, (size_t)w);
			else
				blocked++;
		}
		event_base_loop(H.base, EVLOOP_NONBLOCK);
		collect();
		fake_consume(f, CLIENT_PER_PASS);
	}
	evbuffer_free(out);
	assert_int_equal(f->ends, 1);
	assert_int_equal(f->status, 200);
	assert_true(f->queued_max < 2 * 1024 * 1024); /* 1 MiB high watermark and a piece */
	assert_true(blocked > 0);
	print_message("128 MiB streamed to a slow client: at most %zu bytes queued for it, the runtime "
	              "held back in %d passes\n",
	              f->queued_max, blocked);
	UNTIL(evbuffer_search(H.env[1]->in, "202 Accepted", 12, NULL).pos >= 0);
	free(rid);
}

/* A RESPONSE_STREAM function URL to a slow client: bounded, and every byte arrives. */
static void test_stream_slow_client(void **state)
{
	create("st");
	struct answer an = req("POST", "/2021-10-31/functions/st/url",
	                       "{\"AuthType\":\"NONE\",\"InvokeMode\":\"RESPONSE_STREAM\"}");
	assert_int_equal(an.status, 201);
	answer_fini(&an);
	const char *h[] = {"Host: 127.0.0.1:9001", NULL};
	struct fake *f = fake_new("GET", "/lambda-url/st/", h, NULL);
	f->flow = true;
	front_dispatch(f->rq, H.a->front);
	stream_to_slow_client(f);
	assert_int_equal(f->chunk_bytes, STREAM_TOTAL);
	fake_free(f);
}

#define RSTREAM "/2021-11-15/functions/es/response-streaming-invocations"

/* The event-stream bytes of one event (our encoder, checked byte for byte against vectors
 * made outside it in tests/unit/proto/test_eventstream.c), appended to want. */
static void want_event(struct evbuffer *want, const char *type, const char *payload)
{
	struct err e = {0};
	const char *ct =
	    strcmp(type, "InvokeComplete") == 0 ? "application/json" : "application/octet-stream";
	assert_int_equal(eventstream_event(want, type, ct, payload, strlen(payload), &e), 0);
}

/* The answer's bytes so far are exactly want's. */
static void assert_bytes(struct fake *f, struct evbuffer *want)
{
	size_t n = evbuffer_get_length(want);
	assert_int_equal(evbuffer_get_length(f->body), n);
	assert_memory_equal(evbuffer_pullup(f->body, -1), evbuffer_pullup(want, -1), n);
}

/* InvokeWithResponseStream on the fake backend: each piece the runtime streams goes out
 * as its PayloadChunk event before the next is written, then InvokeComplete; a stream
 * that ends in error trailers, and a function that does not stream, end as they must. */
static void test_rstream(void **state)
{
	create("es");
	const char *h[] = {"Host: 127.0.0.1:9001", NULL};
	struct fake *f = send_req("POST", RSTREAM, h, "{\"n\":1}");
	UNTIL(H.nenv == 1);
	char *rid = rt_next(1, "{\"n\":1}");
	assert_int_equal(f->starts, 0); /* nothing before the function streams */
	char *head = xasprintf("POST " RT "invocation/%s/response HTTP/1.1\r\nHost: rt\r\n"
	                       "Lambda-Runtime-Function-Response-Mode: streaming\r\nContent-Type: "
	                       "application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n",
	                       rid);
	assert_int_equal(write(H.env[1]->rt_fd, head, strlen(head)), (ssize_t)strlen(head));
	free(head);
	UNTIL(f->chunks == 1);
	assert_int_equal(f->status, 200);
	assert_string_equal(hdr(f, "Content-Type"), "application/vnd.amazon.eventstream");
	assert_string_equal(hdr(f, "X-Amz-Executed-Version"), "$LATEST");
	assert_string_equal(hdr(f, "x-amzn-RequestId"), rid);
	struct evbuffer *want = evbuffer_new();
	want_event(want, "PayloadChunk", "one");
	assert_bytes(f, want);
	static const char rest[] = "3\r\ntwo\r\n0\r\n\r\n";
	assert_int_equal(write(H.env[1]->rt_fd, rest, sizeof(rest) - 1), (ssize_t)(sizeof(rest) - 1));
	UNTIL(f->ends == 1);
	want_event(want, "PayloadChunk", "two");
	want_event(want, "InvokeComplete", "{}");
	assert_bytes(f, want);
	assert_int_equal(f->sends, 0);
	UNTIL(evbuffer_search(H.env[1]->in, "202 Accepted", 12, NULL).pos >= 0);
	evbuffer_drain(H.env[1]->in, evbuffer_get_length(H.env[1]->in));
	fake_free(f);
	free(rid);

	/* An error in the trailers after a chunk: InvokeComplete names it. */
	f = send_req("POST", RSTREAM, h, "{\"n\":2}");
	rid = rt_next(1, "{\"n\":2}");
	const char *doc = "{\"errorType\":\"E\",\"errorMessage\":\"boom\"}";
	char *b64 = b64_encode(doc, strlen(doc));
	head =
	    xasprintf("POST " RT "invocation/%s/response HTTP/1.1\r\nHost: rt\r\n"
	              "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n\r\n"
	              "7\r\npartial\r\n0\r\nLambda-Runtime-Function-Error-Type: E\r\n"
	              "Lambda-Runtime-Function-Error-Body: %s\r\n\r\n",
	              rid, b64);
	free(b64);
	assert_int_equal(write(H.env[1]->rt_fd, head, strlen(head)), (ssize_t)strlen(head));
	free(head);
	UNTIL(f->ends == 1);
	evbuffer_drain(want, evbuffer_get_length(want));
	want_event(want, "PayloadChunk", "partial");
	want_event(want, "InvokeComplete", "{\"ErrorCode\":\"E\",\"ErrorDetails\":\"boom\"}");
	assert_bytes(f, want);
	UNTIL(evbuffer_search(H.env[1]->in, "202 Accepted", 12, NULL).pos >= 0);
	evbuffer_drain(H.env[1]->in, evbuffer_get_length(H.env[1]->in));
	fake_free(f);
	free(rid);

	/* A function that answers without streaming: its response is one PayloadChunk. */
	f = send_req("POST", RSTREAM, h, "{\"n\":3}");
	rid = rt_next(1, "{\"n\":3}");
	rt_post(1, rid, "response", "{\"echo\":3}");
	UNTIL(f->ends == 1);
	evbuffer_drain(want, evbuffer_get_length(want));
	want_event(want, "PayloadChunk", "{\"echo\":3}");
	want_event(want, "InvokeComplete", "{}");
	assert_bytes(f, want);
	assert_int_equal(H.nenv, 1);
	fake_free(f);
	free(rid);
	evbuffer_free(want);

	/* Before the stream: Invoke's checks, in JSON. */
	const char *ev[] = {"Host: 127.0.0.1:9001", "X-Amz-Invocation-Type: Event", NULL};
	struct answer an = take(send_req("POST", RSTREAM, ev, "{}"));
	assert_error(
	    &an, 400, "ValidationException",
	    "1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: "
	    "Member must satisfy enum value set: [RequestResponse, DryRun]");
	const char *dry[] = {"Host: 127.0.0.1:9001", "X-Amz-Invocation-Type: DryRun", NULL};
	an = take(send_req("POST", RSTREAM, dry, "{}"));
	assert_int_equal(an.status, 204);
	assert_string_equal(hdr(an.f, "X-Amz-Executed-Version"), "$LATEST");
	answer_fini(&an);
	an = req("POST", "/2021-11-15/functions/nope/response-streaming-invocations", "{}");
	assert_int_equal(an.status, 404);
	assert_string_equal(hdr(an.f, "X-Amzn-ErrorType"), "ResourceNotFoundException");
	answer_fini(&an);
	an = req("POST", RSTREAM, "{");
	assert_int_equal(an.status, 400);
	assert_string_equal(hdr(an.f, "X-Amzn-ErrorType"), "InvalidRequestContentException");
	answer_fini(&an);
	an = req("PUT", "/2017-10-31/functions/es/concurrency", "{\"ReservedConcurrentExecutions\":0}");
	answer_fini(&an);
	an = req("POST", RSTREAM, "{}");
	assert_string_equal(jstr(an.json, "Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded");
	assert_string_equal(hdr(an.f, "Retry-After"), "1");
	assert_error(&an, 429, "TooManyRequestsException", "Rate Exceeded.");
}

/* InvokeWithResponseStream to a slow client: the same back-pressure as function URLs, and
 * every byte arrives, framed: a PayloadChunk's framing is 106 bytes (12 of prelude, 90 of
 * headers, 4 of CRC), InvokeComplete {} is 102 bytes. */
static void test_rstream_slow_client(void **state)
{
	create("es");
	const char *h[] = {"Host: 127.0.0.1:9001", NULL};
	struct fake *f = fake_new("POST", RSTREAM, h, "{}");
	f->flow = true;
	front_dispatch(f->rq, H.a->front);
	stream_to_slow_client(f);
	assert_string_equal(hdr(f, "Content-Type"), "application/vnd.amazon.eventstream");
	assert_true(f->chunks > 1);
	assert_int_equal(f->chunk_bytes, STREAM_TOTAL + 106u * (uint64_t)(f->chunks - 1) + 102u);
	fake_free(f);
}

static void test_invoke_throttled(void **state)
{
	create("t");
	struct answer an =
	    req("PUT", "/2017-10-31/functions/t/concurrency", "{\"ReservedConcurrentExecutions\":0}");
	assert_int_equal(an.status, 200);
	answer_fini(&an);
	an = req("POST", "/2015-03-31/functions/t/invocations", "{}");
	assert_string_equal(jstr(an.json, "Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded");
	assert_string_equal(jstr(an.json, "retryAfterSeconds"), "1");
	assert_int_equal(H.nenv, 0);
	assert_error(&an, 429, "TooManyRequestsException", "Rate Exceeded.");
}

/* The store's durable step, watched: whether the Event request was answered before it. */
static struct {
	struct fake *f; /* the request whose answer must wait */
	int syncs;      /* fdatasync calls while f was unanswered */
	bool fail;      /* the fdatasync fails (EIO) */
} S;

static int watched_fdatasync(int fd)
{
	if (S.f && S.f->sends == 0)
		S.syncs++;
	if (S.fail)
		return errno = EIO, -1;
	return fdatasync(fd);
}

static void test_invoke_event(void **state)
{
	create("ev");
	memset(&S, 0, sizeof(S));
	store_sys.fdatasync = watched_fdatasync;
	const char *h[] = {"Host: 127.0.0.1:9001", "X-Amz-Invocation-Type: Event", NULL};
	struct fake *f = send_req("POST", "/2015-03-31/functions/ev/invocations", h, "{\"e\":1}");
	S.f = f;
	/* Not answered inside the call: the group holding the event commits at the end of the pass. */
	assert_int_equal(f->sends, 0);
	struct answer an = take(f);
	/* The group holding the event was made durable before the answer went out. */
	assert_true(S.syncs > 0);
	S.f = NULL;
	store_sys.fdatasync = fdatasync;
	assert_int_equal(an.status, 202);
	assert_string_equal(an.body, "");
	const char *rid = fake_header(f, "x-amzn-RequestId");
	/* It was stored: the queue hands it to an environment, which gets the payload, with the
	 * request id the answer gave. */
	UNTIL(H.nenv == 1);
	char *got = rt_next(1, "{\"e\":1}");
	assert_string_equal(got, rid);
	free(got);
	answer_fini(&an);
}

/* The group holding the event fails to be made durable: 500, never 202. */
static void test_invoke_event_not_stored(void **state)
{
	create("ev");
	memset(&S, 0, sizeof(S));
	S.fail = true;
	store_sys.fdatasync = watched_fdatasync;
	const char *h[] = {"Host: 127.0.0.1:9001", "X-Amz-Invocation-Type: Event", NULL};
	struct fake *f = send_req("POST", "/2015-03-31/functions/ev/invocations", h, "{\"e\":1}");
	S.f = f;
	struct answer an = take(f);
	store_sys.fdatasync = fdatasync;
	S.f = NULL;
	assert_true(S.syncs > 0);
	assert_error(&an, 500, "ServiceException", "the event could not be stored");
}

static void test_unknown_operation(void **state)
{
	/* An operation of Lambda's model that lambdad lacks is named; a path of none is not. */
	struct answer an = req("POST", "/2025-11-30/capacity-providers", "{}");
	assert_error(&an, 404, "UnknownOperationException",
	             "lambdad does not support the Lambda operation CreateCapacityProvider yet");
	/* Capacity providers stay out of lambdad (issue 14). */
	an = req("GET", "/2025-11-30/capacity-providers", NULL);
	assert_error(&an, 404, "UnknownOperationException",
	             "lambdad does not support the Lambda operation ListCapacityProviders yet");
	/* ListLayers is answered; GetLayerVersionByArn shares its path and takes find=. */
	an = req("GET", "/2018-10-31/layers", NULL);
	assert_int_equal(an.status, 200);
	assert_int_equal(json_array_size(json_object_get(an.json, "Layers")), 0);
	answer_fini(&an);
	an = req("GET",
	         "/2018-10-31/layers?find=LayerVersion&Arn=arn:aws:lambda:us-east-1:000000000000:layer:x:1",
	         NULL);
	assert_error(&an, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
	an = req("GET", "/2015-03-31/no/such/thing", NULL);
	assert_error(&an, 404, "UnknownOperationException", "No operation at GET /2015-03-31/no/such/thing");
}

static void test_drain(void **state)
{
	create("d");
	api_stop_accepting(H.a);
	struct answer an = req("GET", "/2015-03-31/functions/d", NULL);
	assert_string_equal(hdr(an.f, "Connection"), "close");
	assert_error(&an, 503, "ServiceException", "lambdad is shutting down");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_function, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_and_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_configuration_and_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_slow_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rstream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rstream_slow_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invoke_throttled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invoke_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invoke_event_not_stored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_operation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
