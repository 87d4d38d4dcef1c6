/* Transcript tests of the scheduler over a fake backend: the Runtime API's exact bytes
 * in and out over socketpairs (the real rtapi server), an exact log of what the
 * scheduler asked of the backend and of every invocation's answer: cold and warm starts,
 * throttles, a timeout, crashes (and a runtime that exits after its answer, just as the
 * next invocation takes it), eviction for --max-memory, a code update, provisioned
 * concurrency and shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../transcript.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"
#include "rtapi/rtapi.h"
#include "sched/backend.h"
#include "sched/sched.h"

#define P "/2018-06-01/runtime/"
#define NEXT "GET " P "invocation/next HTTP/1.1\r\nHost: rt\r\n\r\n"
#define ACCEPTED                                                                                             \
	"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "                        \
	"15\r\n\r\n{\"status\":\"OK\"}"
#define MAX_ENVS 16

/* One environment of the fake backend: the runtime's end of its Runtime API connection
 * and of its output pipe. */
struct sched_benv {
	int id;
	struct sched_benv_cbs cbs;
	void *arg;
	int rt_fd;  /* the runtime's end; the server's end goes to rtapi_serve_fd */
	int srv_fd; /* until served */
	int log_r, log_w;
	struct evbuffer *in; /* what the server sent the runtime */
	bool ready, destroyed;
	int init_done;     /* calls of init_done */
	size_t in_at_init; /* bytes the runtime had been sent when init_done came */
};

static struct harness {
	struct event_base *base;
	struct sched *s;
	char logs_dir[64];
	struct evbuffer *log;
	uint64_t progress;
	struct sched_benv *env[MAX_ENVS + 1]; /* by id, from 1 */
	int nenv;
	char tail[8192]; /* the log tail of the last answer asked with want_tail */
	bool can_freeze; /* the fake's environments can be frozen (logged) */
} H;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(H.log, fmt, ap);
	va_end(ap);
	H.progress++;
}

/* ---- the fake backend ---- */

static const char *envp_get(char *const *envp, const char *key)
{
	size_t k = strlen(key);
	for (; *envp; envp++)
		if (strncmp(*envp, key, k) == 0 && (*envp)[k] == '=')
			return *envp + k + 1;
	return "";
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
	H.env[h->id] = h;
	record("create #%d %s %uMB %s\n", h->id, spec->cfg->name, spec->cfg->memory_mb,
	       envp_get(spec->envp, "AWS_LAMBDA_INITIALIZATION_TYPE"));
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
	record("serve #%d\n", h->id);
	int r = rtapi_new(H.base, -1, ops, arg, out, errp);
	if (r == 0)
		r = rtapi_serve_fd(*out, h->srv_fd);
	h->srv_fd = -1;
	return r;
}

static int fake_signal(struct sched_benv *h, int sig)
{
	record("signal #%d %d\n", h->id, sig);
	return 0;
}

static bool fake_can_freeze(struct sched_benv *h)
{
	return H.can_freeze; /* freezing runs on a timer: kept out of most transcripts */
}

static int fake_freeze(struct sched_benv *h, bool frozen)
{
	if (!H.can_freeze)
		return -ENOTSUP;
	record("freeze #%d %d\n", h->id, frozen);
	return 0;
}

static int fake_stats(struct sched_benv *h, uint64_t *kb)
{
	*kb = 64 * 1024;
	return 0;
}

static void collect(void);

/* Counted, not logged: every transcript would carry it. */
static int fake_init_done(struct sched_benv *h)
{
	collect();
	h->init_done++;
	h->in_at_init = evbuffer_get_length(h->in);
	return 0;
}

static void fake_destroy(struct sched_benv *h)
{
	record("destroy #%d\n", h->id);
	h->destroyed = true;
	if (h->srv_fd >= 0)
		close(h->srv_fd);
	h->srv_fd = -1;
}

static const struct sched_backend_ops fake_ops = {
    .env_new = fake_create,
    .log_fd = fake_log_fd,
    .serve = fake_serve,
    .signal = fake_signal,
    .can_freeze = fake_can_freeze,
    .freeze = fake_freeze,
    .stats = fake_stats,
    .init_done = fake_init_done,
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
		while (h->rt_fd >= 0 && (n = read(h->rt_fd, buf, sizeof(buf))) > 0) {
			evbuffer_add(h->in, buf, (size_t)n);
			H.progress += (uint64_t)n;
		}
	}
}

static bool unread(void)
{
	for (int i = 1; i <= H.nenv; i++) {
		struct sched_benv *h = H.env[i];
		if (transcript_unsent(h->rt_fd))
			return true;
	}
	return false;
}

/* Runs the loop until everything written was read and three passes move nothing. */
static void run(void)
{
	assert_true(transcript_run(H.base, &H.progress, collect, unread, 100000));
}

/* Runs the loop, waiting for timers, until the log holds want (a generous bound). */
static void run_until_logged(const char *want)
{
	for (int i = 0; i < 2000; i++) {
		struct evbuffer_ptr p = evbuffer_search(H.log, want, strlen(want), NULL);
		if (p.pos >= 0) {
			run();
			return;
		}
		struct timeval tv = {0, 10000};
		event_base_loopexit(H.base, &tv);
		event_base_loop(H.base, 0);
		collect();
	}
	fail_msg("never logged: %s", want);
}

static void done_cb(const struct sched_result *res, void *arg)
{
	const char *rid = arg;
	size_t n = evbuffer_get_length(res->body);
	record("done %s %s %.*s\n", rid,
	       res->system_error     ? "system"
	       : res->function_error ? "error"
	                             : "ok",
	       (int)n, (const char *)evbuffer_pullup(res->body, -1));
	evbuffer_drain(res->body, n);
	if (res->log_tail)
		snprintf(H.tail, sizeof(H.tail), "%.*s", (int)res->log_tail_len, res->log_tail);
}

/* ---- the test's side ---- */

static struct fn_config *fn(const char *name, uint32_t memory_mb, uint32_t timeout_s)
{
	struct fn_config *c = fn_config_new();
	c->name = xstrdup(name);
	c->runtime = xstrdup("provided.al2023");
	c->handler = xstrdup("bootstrap");
	c->memory_mb = memory_mb;
	c->timeout_s = timeout_s;
	return c;
}

static int invoke_tail(struct fn_config *cfg, const char *rid, const char *payload, bool tail, struct err *e)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, payload, strlen(payload));
	struct sched_invoke_args a = {.cfg = cfg,
	                              .payload = b,
	                              .want_tail = tail,
	                              .request_id = rid,
	                              .cb = done_cb,
	                              .arg = (void *)rid};
	int r = sched_invoke(H.s, &a, e);
	evbuffer_free(b);
	run();
	return r;
}

static void invoke(struct fn_config *cfg, const char *rid, const char *payload)
{
	struct err e = {0};
	assert_int_equal(invoke_tail(cfg, rid, payload, false, &e), 0);
}

static void throttled(struct fn_config *cfg, const char *rid, enum sched_throttle reason)
{
	struct err e = {0};
	assert_int_equal(invoke_tail(cfg, rid, "{}", false, &e), -EAGAIN);
	assert_int_equal(e.reason, reason);
}

/* The backend finishes making environment id (rc 0: it runs). */
static void be_ready(int id, int rc)
{
	struct sched_benv *h = H.env[id];
	assert_non_null(h);
	assert_false(h->ready);
	h->ready = true;
	struct err e = {0};
	if (rc < 0)
		err_make(&e, -rc, "sandbox setup failed at mount /var/task: %s", strerror(-rc));
	h->cbs.ready_cb(h->arg, rc, rc < 0 ? &e : NULL);
	run();
}

/* Its first process ended with status. */
static void be_exit(int id, int status, bool oom)
{
	struct sched_benv *h = H.env[id];
	assert_false(h->destroyed);
	h->cbs.exit_cb(h->arg, status, oom);
	run();
}

/* The runtime writes s on its Runtime API connection. */
static void rt_send(int id, const char *s)
{
	size_t n = strlen(s);
	assert_int_equal(write(H.env[id]->rt_fd, s, n), (ssize_t)n);
	run();
}

/* The runtime of id writes a line on its stdout. */
static void rt_print(int id, const char *line)
{
	assert_int_equal(write(H.env[id]->log_w, line, strlen(line)), (ssize_t)strlen(line));
}

/* Writes one record framed as our runtimes do (AWS's telemetry log format). */
static void rt_frame(int id, const char *msg)
{
	unsigned char buf[512];
	uint32_t len = (uint32_t)strlen(msg);
	uint64_t us = (uint64_t)clock_wall_ms() * 1000;
	const unsigned char hdr[16] = {0xa5,     0x5a,     0x00,     0x03,     len >> 24, len >> 16,
	                               len >> 8, len,      us >> 56, us >> 48, us >> 40,  us >> 32,
	                               us >> 24, us >> 16, us >> 8,  us};
	memcpy(buf, hdr, 16);
	memcpy(buf + 16, msg, len);
	assert_int_equal(write(H.env[id]->log_w, buf, 16 + len), (ssize_t)(16 + len));
}

/* The function's log file as it is now (owned). */
static char *fn_log(const char *name)
{
	sched_flush_logs(H.s, name);
	char path[128];
	snprintf(path, sizeof(path), "%s/%s.log", H.logs_dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return xstrdup(buf);
}

static void rt_respond(int id, const char *rid, const char *body)
{
	char req[512];
	snprintf(req, sizeof(req),
	         "POST " P "invocation/%s/response HTTP/1.1\r\nHost: rt\r\nContent-Length: %zu\r\n\r\n%s",
	         rid, strlen(body), body);
	rt_send(id, req);
}

/* What the server sent runtime id so far (owned), with the two values that change
 * from run to run (the deadline and the trace id) replaced by D and T. */
static char *rt_take(int id)
{
	struct evbuffer *b = H.env[id]->in;
	size_t n = evbuffer_get_length(b);
	char *s = xmalloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = 0;
	static const char *const keys[] = {"Lambda-Runtime-Deadline-Ms: ", "Lambda-Runtime-Trace-Id: "};
	static const char *const subst[] = {"D", "T"};
	for (int k = 0; k < 2; k++) {
		char *p = strstr(s, keys[k]);
		if (!p)
			continue;
		p += strlen(keys[k]);
		char *end = strstr(p, "\r\n");
		assert_non_null(end);
		memmove(p + 1, end, strlen(end) + 1);
		*p = subst[k][0];
	}
	return s;
}

#define assert_rt(id, expected)                                                                              \
	do {                                                                                                 \
		char *got_ = rt_take(id);                                                                    \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

static char *event_reply(const char *f, const char *rid, const char *payload)
{
	char *s;
	assert_true(
	    asprintf(
	        &s,
	        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	        "Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: D\r\n"
	        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:%s\r\n"
	        "Lambda-Runtime-Trace-Id: T\r\n\r\n%s",
	        strlen(payload), rid, f, payload) > 0);
	return s;
}

#define assert_event(id, f, rid, payload)                                                                    \
	do {                                                                                                 \
		char *want_ = event_reply(f, rid, payload);                                                  \
		assert_rt(id, want_);                                                                        \
		free(want_);                                                                                 \
	} while (0)

/* Asserts (and forgets) the log so far. */
#define assert_log(expected)                                                                                 \
	do {                                                                                                 \
		size_t n_ = evbuffer_get_length(H.log);                                                      \
		char *got_ = malloc(n_ + 1);                                                                 \
		evbuffer_remove(H.log, got_, n_);                                                            \
		got_[n_] = 0;                                                                                \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

static void counts(uint32_t envs, uint32_t idle, uint32_t inflight)
{
	struct sched_counts c;
	sched_counts(H.s, &c);
	assert_int_equal(c.envs, envs);
	assert_int_equal(c.idle, idle);
	assert_int_equal(c.inflight, inflight);
}

static void start(uint32_t account, uint64_t max_memory_mb)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	H.log = evbuffer_new();
	snprintf(H.logs_dir, sizeof(H.logs_dir), "/tmp/test_sched.XXXXXX");
	assert_non_null(mkdtemp(H.logs_dir));
	struct sched_config cfg = {.logs_dir = H.logs_dir,
	                           .keep_alive_ms = 600000,
	                           .account_concurrency = account,
	                           .max_memory_mb = max_memory_mb,
	                           .init_timeout_ms = 60000,
	                           .region = "us-east-1",
	                           .account = "000000000000"};
	struct sched_backend be = {.ops = &fake_ops, .be = NULL};
	struct err e = {0};
	assert_int_equal(sched_new_with(H.base, &cfg, be, &H.s, &e), 0);
}

static int teardown(void **state)
{
	sched_free(H.s);
	for (int i = 0; i < 4; i++)
		event_base_loop(H.base, EVLOOP_NONBLOCK);
	for (int i = 1; i <= H.nenv; i++) {
		struct sched_benv *h = H.env[i];
		assert_true(h->destroyed); /* nothing outlives the scheduler */
		close(h->rt_fd);
		close(h->log_r);
		close(h->log_w);
		evbuffer_free(h->in);
		free(h);
	}
	evbuffer_free(H.log);
	event_base_free(H.base);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", H.logs_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A cold start: the environment is made, served, asked for its event, answers; its
 * output and the START/END/REPORT lines (with Init Duration) reach the caller's tail. */
static void test_cold(void **state)
{
	start(10, 0);
	struct fn_config *f = fn("f", 128, 3);
	struct err e = {0};
	assert_int_equal(invoke_tail(f, "rid-1", "{\"a\":1}", true, &e), 0);
	assert_log("create #1 f 128MB on-demand\n");
	counts(1, 0, 1);
	be_ready(1, 0);
	assert_log("serve #1\n");
	assert_int_equal(H.env[1]->init_done, 0); /* init is not throttled */
	rt_send(1, NEXT);
	/* Init ended with the first /next, before its event went out. */
	assert_int_equal(H.env[1]->init_done, 1);
	assert_int_equal(H.env[1]->in_at_init, 0);
	assert_event(1, "f", "rid-1", "{\"a\":1}");
	rt_print(1, "hello from f\n");
	rt_frame(1, "[ERROR] boom\nTraceback:\n  at f\n");
	rt_respond(1, "rid-1", "{\"ok\":true}");
	assert_rt(1, ACCEPTED);
	assert_log("done rid-1 ok {\"ok\":true}\n");
	assert_non_null(strstr(H.tail, "START RequestId: rid-1 Version: $LATEST\n"));
	assert_non_null(strstr(H.tail, "hello from f\n"));
	/* A framed record of several lines: as written in the tail, one record in the file. */
	assert_non_null(strstr(H.tail, "hello from f\n[ERROR] boom\nTraceback:\n  at f\nEND"));
	autofree char *log = fn_log("f");
	assert_non_null(strstr(log, " [ERROR] boom\n\tTraceback:\n\t  at f\n"));
	/* INIT_START opens the environment's log (not the invocation's tail); REPORT of a
	 * success ends with a tab, as AWS's. */
	assert_non_null(strstr(log, "INIT_START Runtime Version: provided:al2023\tRuntime Version ARN: "
	                            "arn:aws:lambda:us-east-1::runtime:"));
	assert_true(strstr(log, "INIT_START") < strstr(log, "START RequestId: rid-1"));
	assert_null(strstr(H.tail, "INIT_START"));
	assert_non_null(strstr(log, "Init Duration: "));
	assert_non_null(strstr(strstr(log, "REPORT RequestId: rid-1"), " ms\t\n"));
	assert_non_null(strstr(H.tail, "END RequestId: rid-1\n"));
	assert_non_null(strstr(H.tail, "REPORT RequestId: rid-1\tDuration: "));
	assert_non_null(strstr(H.tail, "Memory Size: 128 MB\tMax Memory Used: 64 MB\tInit Duration: "));
	counts(1, 1, 0);
	struct sched_counts c;
	sched_counts(H.s, &c);
	assert_int_equal(c.cold_starts, 1);
	assert_int_equal(c.warm_starts, 0);
	fn_config_unref(f);
}

/* A warm start: the idle environment's parked /next gets the next event at once; no
 * creation, no Init Duration. A start that fails is the function's error. */
static void test_warm(void **state)
{
	start(10, 0);
	struct fn_config *f = fn("f", 128, 3);
	invoke(f, "rid-1", "1");
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "f", "rid-1", "1");
	rt_respond(1, "rid-1", "one");
	rt_send(1, NEXT);
	assert_rt(1, ACCEPTED);
	assert_log("create #1 f 128MB on-demand\nserve #1\ndone rid-1 ok one\n");
	struct err e = {0};
	assert_int_equal(invoke_tail(f, "rid-2", "2", true, &e), 0);
	assert_event(1, "f", "rid-2", "2");
	rt_respond(1, "rid-2", "two");
	assert_rt(1, ACCEPTED);
	assert_log("done rid-2 ok two\n");
	assert_null(strstr(H.tail, "Init Duration"));
	assert_int_equal(H.env[1]->init_done, 1); /* once per environment */
	struct sched_counts c;
	sched_counts(H.s, &c);
	assert_int_equal(c.cold_starts, 1);
	assert_int_equal(c.warm_starts, 1);
	/* A second invocation while the first is busy: a second environment, which fails. */
	rt_send(1, NEXT);
	invoke(f, "rid-3", "3");
	assert_event(1, "f", "rid-3", "3");
	invoke(f, "rid-4", "4");
	assert_log("create #2 f 128MB on-demand\n");
	be_ready(2, -ENOENT);
	assert_log(
	    "done rid-4 error {\"errorType\":\"Runtime.InvalidEntrypoint\",\"errorMessage\":\"RequestId: "
	    "rid-4 Error: sandbox setup failed at mount /var/task: No such file or directory\"}\n"
	    "destroy #2\n");
	counts(1, 0, 1);
	fn_config_unref(f);
}

/* Throttles: the account's concurrency (less what functions reserve) and a function's
 * reserved concurrency; nothing is started for a throttled invocation. */
static void test_throttle(void **state)
{
	start(2, 0);
	struct fn_config *f = fn("f", 128, 3), *g = fn("g", 128, 3);
	struct fn_scaling sc = FN_SCALING_DEFAULT;
	sc.reserved = 1;
	sched_set_scaling(H.s, "g", g, &sc);
	run();
	invoke(f, "rid-1", "{}");
	throttled(f, "rid-2", SCHED_THROTTLE_ACCOUNT);
	invoke(g, "rid-3", "{}");
	throttled(g, "rid-4", SCHED_THROTTLE_RESERVED);
	assert_log("create #1 f 128MB on-demand\ncreate #2 g 128MB on-demand\n");
	struct sched_counts c;
	sched_counts(H.s, &c);
	assert_int_equal(c.throttles, 2);
	assert_int_equal(c.inflight, 2);
	/* Once rid-1 is answered, f may run again. */
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	rt_respond(1, "rid-1", "{}");
	rt_send(1, NEXT);
	assert_rt(1, ACCEPTED);
	invoke(f, "rid-5", "{}");
	assert_event(1, "f", "rid-5", "{}");
	assert_log("serve #1\ndone rid-1 ok {}\n");
	fn_config_unref(f);
	fn_config_unref(g);
}

/* A timeout: the environment is killed, the caller gets Sandbox.Timedout, and the next
 * invocation starts a new environment. */
static void test_timeout(void **state)
{
	start(10, 0);
	struct fn_config *f = fn("f", 128, 1);
	invoke(f, "rid-1", "{}");
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	assert_log("create #1 f 128MB on-demand\nserve #1\n");
	run_until_logged("destroy #1\n");
	assert_log("signal #1 9\n"
	           "done rid-1 error {\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":\"RequestId: rid-1 "
	           "Error: Task timed out after 1.00 seconds\"}\n"
	           "destroy #1\n");
	autofree char *log = fn_log("f");
	const char *report = strstr(log, "REPORT RequestId: rid-1\tDuration: ");
	assert_non_null(report);
	assert_non_null(strstr(report, " ms\tStatus: timeout\n"));
	/* The runtime's late answer goes nowhere. */
	invoke(f, "rid-2", "{}");
	assert_log("create #2 f 128MB on-demand\n");
	counts(1, 0, 1);
	fn_config_unref(f);
}

/* Crashes: the runtime exits during an invocation (Runtime.ExitError), is killed by the
 * OOM killer (Runtime.OutOfMemory), or exits while idle (just gone). */
static void test_crash(void **state)
{
	start(10, 0);
	struct fn_config *f = fn("f", 128, 3);
	invoke(f, "rid-1", "{}");
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	rt_print(1, "about to fail\n");
	be_exit(1, W_EXITCODE(2, 0), false);
	assert_log(
	    "create #1 f 128MB on-demand\nserve #1\n"
	    "done rid-1 error {\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: rid-1 "
	    "Error: Runtime exited with error: exit status 2\"}\n"
	    "destroy #1\n");
	invoke(f, "rid-2", "{}");
	be_ready(2, 0);
	rt_send(2, NEXT);
	assert_event(2, "f", "rid-2", "{}");
	be_exit(2, SIGKILL, true);
	assert_log(
	    "create #2 f 128MB on-demand\nserve #2\n"
	    "done rid-2 error {\"errorType\":\"Runtime.OutOfMemory\",\"errorMessage\":\"RequestId: rid-2 "
	    "Error: Runtime exited with error: signal: killed\"}\n"
	    "destroy #2\n");
	invoke(f, "rid-3", "{}");
	be_ready(3, 0);
	rt_send(3, NEXT);
	assert_event(3, "f", "rid-3", "{}");
	rt_respond(3, "rid-3", "{}");
	assert_rt(3, ACCEPTED);
	counts(1, 1, 0);
	be_exit(3, W_EXITCODE(0, 0), false);
	assert_log("create #3 f 128MB on-demand\nserve #3\ndone rid-3 ok {}\ndestroy #3\n");
	counts(0, 0, 0);
	/* REPORT says how the platform ended each one. */
	autofree char *log = fn_log("f");
	assert_non_null(strstr(strstr(log, "REPORT RequestId: rid-1"),
	                       "\tStatus: error\tError Type: Runtime.ExitError\n"));
	assert_non_null(strstr(strstr(log, "REPORT RequestId: rid-2"),
	                       "\tStatus: error\tError Type: Runtime.OutOfMemory\n"));
	const char *r3 = strstr(log, "REPORT RequestId: rid-3");
	assert_non_null(r3);
	assert_null(strstr(r3, "Status:"));
	fn_config_unref(f);
}

#define ERR_LATE "{\"errorType\":\"Error\",\"errorMessage\":\"late\"}"

static void rt_error(int id, const char *rid, const char *body)
{
	char req[512];
	snprintf(req, sizeof(req),
	         "POST " P "invocation/%s/error HTTP/1.1\r\nHost: rt\r\n"
	         "Lambda-Runtime-Function-Error-Type: Unhandled\r\nContent-Length: %zu\r\n\r\n%s",
	         rid, strlen(body), body);
	rt_send(id, req);
}

/* A runtime that reports an uncaught error and exits (Node.js: an exception thrown from
 * a timer): the next invocation takes the environment after the error and before the
 * exit. It was never sent there, so it goes to a new environment and succeeds, and the
 * dead one gets nothing more; never Runtime.ExitError for the innocent one. */
static void test_exit_after_error(void **state)
{
	start(10, 0);
	struct fn_config *f = fn("f", 512, 3);
	invoke(f, "rid-1", "{}");
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	rt_error(1, "rid-1", ERR_LATE);
	assert_rt(1, ACCEPTED);
	assert_log("create #1 f 512MB on-demand\nserve #1\ndone rid-1 error " ERR_LATE "\n");
	counts(1, 1, 0);
	invoke(f, "rid-2", "{}"); /* takes #1, which does not ask for it */
	assert_log("");
	counts(1, 0, 1);
	be_exit(1, W_EXITCODE(129, 0), false);
	assert_log("destroy #1\ncreate #2 f 512MB on-demand\n");
	assert_rt(1, "");
	counts(1, 0, 1);
	be_ready(2, 0);
	rt_send(2, NEXT);
	assert_event(2, "f", "rid-2", "{}");
	rt_respond(2, "rid-2", "1");
	assert_rt(2, ACCEPTED);
	assert_log("serve #2\ndone rid-2 ok 1\n");
	struct sched_counts c;
	sched_counts(H.s, &c);
	assert_int_equal(c.cold_starts, 2);
	assert_int_equal(c.warm_starts, 0);
	/* Two invocations after the error: rid-4 takes #2, rid-5 starts #3; #2 dies,
	 * and rid-4 goes to a new #4. */
	rt_send(2, NEXT);
	invoke(f, "rid-3", "{}");
	assert_event(2, "f", "rid-3", "{}");
	rt_error(2, "rid-3", ERR_LATE);
	assert_rt(2, ACCEPTED);
	invoke(f, "rid-4", "{}");
	invoke(f, "rid-5", "{}");
	assert_log("done rid-3 error " ERR_LATE "\ncreate #3 f 512MB on-demand\n");
	be_exit(2, W_EXITCODE(129, 0), false);
	assert_log("destroy #2\ncreate #4 f 512MB on-demand\n");
	be_ready(3, 0);
	be_ready(4, 0);
	rt_send(3, NEXT);
	rt_send(4, NEXT);
	assert_event(3, "f", "rid-5", "{}");
	assert_event(4, "f", "rid-4", "{}");
	rt_respond(4, "rid-4", "4");
	rt_respond(3, "rid-5", "5");
	assert_log("serve #3\nserve #4\ndone rid-4 ok 4\ndone rid-5 ok 5\n");
	counts(2, 2, 0);
	fn_config_unref(f);
}

/* An invocation passed on from environments that keep ending before it is sent is
 * failed with Runtime.ExitError by the fourth (SCHED_MAX_REQUEUES passes). A crash in
 * the init of the environment started for it is its own failure (not passed on). */
static void test_exit_requeue_bound(void **state)
{
	start(10, 0);
	struct fn_config *f = fn("f", 128, 3);
	const char *rids[] = {"rid-1", "rid-2", "rid-3", "rid-4"};
	for (int i = 0; i < 4; i++)
		invoke(f, rids[i], "{}");
	for (int i = 1; i <= 4; i++) {
		be_ready(i, 0);
		rt_send(i, NEXT);
		assert_event(i, "f", rids[i - 1], "{}");
	}
	for (int i = 1; i <= 4; i++) {
		rt_respond(i, rids[i - 1], "{}");
		assert_rt(i, ACCEPTED);
	}
	evbuffer_drain(H.log, evbuffer_get_length(H.log));
	counts(4, 4, 0);
	invoke(f, "rid-x", "{}"); /* the most recently used: #4 */
	be_exit(4, W_EXITCODE(1, 0), false);
	assert_log("destroy #4\n");
	be_exit(3, W_EXITCODE(1, 0), false);
	assert_log("destroy #3\n");
	be_exit(2, W_EXITCODE(1, 0), false);
	assert_log("destroy #2\n");
	be_exit(1, W_EXITCODE(1, 0), false);
	assert_log("done rid-x error {\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: "
	           "rid-x Error: Runtime exited with error: exit status 1\"}\n"
	           "destroy #1\n");
	counts(0, 0, 0);
	/* A new environment that dies in its init: rid-y's own cold start failed. */
	invoke(f, "rid-y", "{}");
	be_ready(5, 0);
	be_exit(5, W_EXITCODE(3, 0), false);
	assert_log("create #5 f 128MB on-demand\nserve #5\n"
	           "done rid-y error {\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: "
	           "rid-y Error: Runtime exited with error: exit status 3\"}\n"
	           "destroy #5\n");
	fn_config_unref(f);
}

/* Runs the loop for ms, timers included. */
static void run_for(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(H.base, &tv);
	event_base_loop(H.base, 0);
	collect();
}

/* An idle environment is frozen only once its runtime waits for the next event: one
 * that answered and has not asked (it may be exiting) is left to run, and thawed and
 * given an event as usual when it asks. */
static void test_freeze_waits_for_next(void **state)
{
	start(10, 0);
	H.can_freeze = true;
	struct fn_config *f = fn("f", 128, 3);
	invoke(f, "rid-1", "{}");
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	rt_respond(1, "rid-1", "{}");
	assert_rt(1, ACCEPTED);
	assert_log("create #1 f 128MB on-demand\nserve #1\ndone rid-1 ok {}\n");
	run_for(100); /* ten times the freeze delay */
	assert_log("");
	rt_send(1, NEXT);
	run_until_logged("freeze #1 1\n");
	assert_log("freeze #1 1\n");
	invoke(f, "rid-2", "{}");
	assert_event(1, "f", "rid-2", "{}");
	assert_log("freeze #1 0\n");
	fn_config_unref(f);
}

/* --max-memory: an idle environment, least recently used first, makes room for a cold
 * start; with nothing idle to evict and nothing of its own, a function is throttled. */
static void test_eviction(void **state)
{
	start(10, 256);
	struct fn_config *a = fn("a", 128, 3), *b = fn("b", 128, 3), *c = fn("c", 128, 3);
	invoke(a, "rid-1", "{}");
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "a", "rid-1", "{}");
	rt_respond(1, "rid-1", "{}");
	assert_rt(1, ACCEPTED);
	invoke(b, "rid-2", "{}");
	be_ready(2, 0);
	rt_send(2, NEXT);
	assert_event(2, "b", "rid-2", "{}");
	rt_respond(2, "rid-2", "{}");
	assert_rt(2, ACCEPTED);
	assert_log("create #1 a 128MB on-demand\nserve #1\ndone rid-1 ok {}\n"
	           "create #2 b 128MB on-demand\nserve #2\ndone rid-2 ok {}\n");
	invoke(c, "rid-3", "{}");
	assert_log("destroy #1\ncreate #3 c 128MB on-demand\n");
	struct sched_counts n;
	sched_counts(H.s, &n);
	assert_int_equal(n.evictions, 1);
	assert_int_equal(n.memory_mb, 256);
	/* b is idle, c busy: b goes for a; then both busy, and a is throttled. */
	invoke(a, "rid-4", "{}");
	assert_log("destroy #2\ncreate #4 a 128MB on-demand\n");
	throttled(b, "rid-5", SCHED_THROTTLE_ACCOUNT);
	assert_log("");
	fn_config_unref(a);
	fn_config_unref(b);
	fn_config_unref(c);
}

/* A code update: idle environments of the old revision go at once, busy ones when their
 * invocation ends; the new revision starts its own. */
static void test_code_update(void **state)
{
	start(10, 0);
	struct fn_config *v1 = fn("f", 128, 3);
	invoke(v1, "rid-1", "{}");
	invoke(v1, "rid-2", "{}");
	be_ready(1, 0);
	be_ready(2, 0);
	rt_send(1, NEXT);
	rt_send(2, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	assert_event(2, "f", "rid-2", "{}");
	rt_respond(1, "rid-1", "{}");
	assert_rt(1, ACCEPTED);
	assert_log("create #1 f 128MB on-demand\ncreate #2 f 128MB on-demand\nserve #1\nserve #2\n"
	           "done rid-1 ok {}\n");
	struct fn_config *v2 = fn_config_dup(v1);
	uuid_v4(v2->revision_id);
	sched_function_changed(H.s, "f", v2);
	run();
	assert_log("destroy #1\n");
	rt_respond(2, "rid-2", "old");
	assert_log("done rid-2 ok old\ndestroy #2\n");
	invoke(v2, "rid-3", "{}");
	assert_log("create #3 f 128MB on-demand\n");
	/* Deleted: what is left goes too. */
	be_ready(3, 0);
	rt_send(3, NEXT);
	rt_respond(3, "rid-3", "new");
	sched_function_changed(H.s, "f", NULL);
	run();
	assert_log("serve #3\ndone rid-3 ok new\ndestroy #3\n");
	counts(0, 0, 0);
	fn_config_unref(v1);
	fn_config_unref(v2);
}

/* Versions: each runs in a pool of its own ("f:1"), untouched by a change of $LATEST,
 * and the function's reserved concurrency bounds all of them together. */
static void test_version_pools(void **state)
{
	start(10, 0);
	struct fn_config *latest = fn("f", 128, 3);
	struct fn_config *v1 = fn_config_dup(latest);
	snprintf(v1->version, sizeof(v1->version), "1");
	uuid_v4(v1->revision_id);
	char *key = sched_pool_key(v1);
	assert_string_equal(key, "f:1");
	free(key);
	struct fn_scaling sc = FN_SCALING_DEFAULT;
	sc.reserved = 2;
	sched_set_scaling(H.s, "f", latest, &sc);
	run();
	invoke(v1, "rid-1", "{}");
	be_ready(1, 0);
	rt_send(1, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	invoke(latest, "rid-2", "{}");
	/* Two in flight, one of each: the reservation of 2 is used up for both. */
	throttled(v1, "rid-3", SCHED_THROTTLE_RESERVED);
	throttled(latest, "rid-4", SCHED_THROTTLE_RESERVED);
	assert_log("create #1 f 128MB on-demand\nserve #1\ncreate #2 f 128MB on-demand\n");
	rt_respond(1, "rid-1", "one");
	rt_send(1, NEXT);
	assert_rt(1, ACCEPTED);
	assert_log("done rid-1 ok one\n");
	/* A new $LATEST stops $LATEST's environments of the old revision, not version 1's. */
	struct fn_config *l2 = fn_config_dup(latest);
	uuid_v4(l2->revision_id);
	sched_function_changed(H.s, "f", l2);
	run();
	invoke(v1, "rid-5", "{}");
	assert_event(1, "f", "rid-5", "{}");
	rt_respond(1, "rid-5", "again");
	assert_rt(1, ACCEPTED);
	assert_log("done rid-5 ok again\n");
	/* Version 1 deleted: its environment goes. */
	sched_function_changed(H.s, "f:1", NULL);
	run();
	assert_log("destroy #1\n");
	be_ready(2, 0);
	rt_send(2, NEXT);
	assert_event(2, "f", "rid-2", "{}");
	rt_respond(2, "rid-2", "stale");
	assert_log("serve #2\ndone rid-2 ok stale\ndestroy #2\n");
	counts(0, 0, 0);
	fn_config_unref(latest);
	fn_config_unref(l2);
	fn_config_unref(v1);
}

/* Provisioned concurrency: environments started without an invocation, initialised
 * and kept; an invocation takes one warm; one that crashes is replaced; set to 0 they
 * become ordinary idle environments. */
static void test_provisioned(void **state)
{
	start(10, 0);
	struct fn_config *p = fn("p", 128, 3);
	struct fn_scaling sc = FN_SCALING_DEFAULT;
	sc.provisioned = 2;
	sched_set_scaling(H.s, "p", p, &sc);
	run();
	assert_log("create #1 p 128MB provisioned-concurrency\ncreate #2 p 128MB provisioned-concurrency\n");
	assert_int_equal(sched_provisioned_ready(H.s, "p"), 0);
	be_ready(1, 0);
	be_ready(2, 0);
	rt_send(1, NEXT);
	rt_send(2, NEXT);
	assert_int_equal(sched_provisioned_ready(H.s, "p"), 2);
	counts(2, 2, 0);
	invoke(p, "rid-1", "{}");
	assert_event(2, "p", "rid-1", "{}");
	rt_respond(2, "rid-1", "{}");
	assert_rt(2, ACCEPTED);
	assert_log("serve #1\nserve #2\ndone rid-1 ok {}\n");
	struct sched_counts c;
	sched_counts(H.s, &c);
	assert_int_equal(c.cold_starts, 0);
	assert_int_equal(c.warm_starts, 1);
	be_exit(1, W_EXITCODE(1, 0), false);
	assert_log("destroy #1\ncreate #3 p 128MB provisioned-concurrency\n");
	assert_int_equal(sched_provisioned_ready(H.s, "p"), 1);
	be_ready(3, 0);
	rt_send(3, NEXT);
	assert_log("serve #3\n");
	assert_int_equal(sched_provisioned_ready(H.s, "p"), 2);
	counts(2, 2, 0);
	sc.provisioned = 0;
	sched_set_scaling(H.s, "p", p, &sc);
	run();
	assert_log("");
	assert_int_equal(sched_provisioned_ready(H.s, "p"), 0);
	counts(2, 2, 0);
	fn_config_unref(p);
}

/* Shutdown: in flight invocations drain as they are answered; sched_stop cuts the rest
 * short (ServiceException, system_error) and kills every environment, including one
 * still being made; nothing is accepted after it. */
static void test_shutdown(void **state)
{
	start(10, 0);
	struct fn_config *f = fn("f", 128, 3);
	invoke(f, "rid-1", "{}");
	invoke(f, "rid-2", "{}");
	invoke(f, "rid-3", "{}");
	be_ready(1, 0);
	be_ready(2, 0);
	rt_send(1, NEXT);
	rt_send(2, NEXT);
	assert_event(1, "f", "rid-1", "{}");
	assert_event(2, "f", "rid-2", "{}");
	assert_int_equal(sched_inflight(H.s), 3);
	rt_respond(1, "rid-1", "{}");
	assert_int_equal(sched_inflight(H.s), 2);
	assert_log("create #1 f 128MB on-demand\ncreate #2 f 128MB on-demand\ncreate #3 f 128MB on-demand\n"
	           "serve #1\nserve #2\ndone rid-1 ok {}\n");
	sched_stop(H.s);
	assert_int_equal(sched_inflight(H.s), 0);
	char *log = NULL;
	size_t n = evbuffer_get_length(H.log);
	log = xmalloc(n + 1);
	evbuffer_remove(H.log, log, n);
	log[n] = 0;
	const char *cut =
	    "{\"errorType\":\"ServiceException\",\"errorMessage\":\"lambdad is shutting down\"}";
	char want2[256], want3[256];
	snprintf(want2, sizeof(want2), "done rid-2 system %s\n", cut);
	snprintf(want3, sizeof(want3), "done rid-3 system %s\n", cut);
	assert_non_null(strstr(log, want2));
	assert_non_null(strstr(log, want3));
	assert_non_null(strstr(log, "destroy #1\n"));
	assert_non_null(strstr(log, "destroy #2\n"));
	assert_non_null(strstr(log, "destroy #3\n"));
	free(log);
	struct err e = {0};
	assert_int_equal(invoke_tail(f, "rid-4", "{}", false, &e), -ESHUTDOWN);
	assert_log("");
	fn_config_unref(f);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_cold, teardown),
	    cmocka_unit_test_teardown(test_warm, teardown),
	    cmocka_unit_test_teardown(test_throttle, teardown),
	    cmocka_unit_test_teardown(test_timeout, teardown),
	    cmocka_unit_test_teardown(test_crash, teardown),
	    cmocka_unit_test_teardown(test_exit_after_error, teardown),
	    cmocka_unit_test_teardown(test_exit_requeue_bound, teardown),
	    cmocka_unit_test_teardown(test_freeze_waits_for_next, teardown),
	    cmocka_unit_test_teardown(test_eviction, teardown),
	    cmocka_unit_test_teardown(test_version_pools, teardown),
	    cmocka_unit_test_teardown(test_code_update, teardown),
	    cmocka_unit_test_teardown(test_provisioned, teardown),
	    cmocka_unit_test_teardown(test_shutdown, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
