/* The invoke path: pools of execution environments per function, warm reuse, cold
 * starts, timeouts, runtime crashes, and START/END/REPORT logs of each invocation. */
#include "sched/sched.h"

#include <errno.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"
#include "logs/logs.h"
#include "rtapi/rtapi.h"
#include "sandbox/sandbox.h"

#define POOL_BUCKETS 256
#define LINE_MAX_BYTES 8192

struct env;

struct invocation {
	struct sched *s;
	struct fn_config *cfg;
	char request_id[37];
	char trace_id[96];
	struct evbuffer *payload;
	char *client_context;
	bool want_tail;
	struct logtail tail;
	sched_done_cb cb;
	void *arg;
	struct env *env;
	struct event *timer;	/* the function's timeout, armed at delivery */
	int64_t start_us;	/* delivery to the runtime */
	int64_t deadline_ms;	/* epoch ms */
	bool delivered;
	bool cold;
	double init_ms;
	struct fn_pool *wait_pool;		/* waiting for a blank sandbox, in sched->waiting */
	TAILQ_ENTRY(invocation) wait_link;
};

enum env_state { ENV_STARTING, ENV_IDLE, ENV_BUSY, ENV_DEAD };

struct fn_pool;

struct env {
	struct sched *s;
	struct fn_pool *pool;
	struct fn_config *cfg;
	struct sandbox *sb;
	struct rtapi *rt;
	pid_t pid;
	enum env_state state;
	bool retire;		/* destroy when the invocation in flight ends */
	bool initialized;	/* the runtime asked for its first event */
	struct invocation *inv;
	struct event *log_ev;
	struct event *timer;	/* init timeout while starting, keep-alive while idle */
	struct event *freeze_ev; /* freezes an idle environment shortly after its last answer */
	bool frozen;
	char line[LINE_MAX_BYTES];
	size_t line_len;
	char stream[96];
	int64_t created_us;
	TAILQ_ENTRY(env) all_link;	/* sched->envs */
	TAILQ_ENTRY(env) pool_link;	/* pool->envs */
	TAILQ_ENTRY(env) idle_link;	/* pool->idle, when ENV_IDLE */
};
TAILQ_HEAD(env_list, env);

struct fn_pool {
	char *name;
	struct fnlog *log;
	struct env_list envs;
	struct env_list idle;	/* most recently used first */
	struct fn_pool *next;	/* hash chain */
};

struct sched {
	struct event_base *base;
	struct store *store;
	struct sched_config cfg;
	char *logs_dir;
	char *region;
	char *account;
	struct fn_pool *pools[POOL_BUCKETS];
	struct env_list envs;
	struct event *sigchld;
	struct event *flush_timer;
	struct event *refill;	/* tops up the sandbox pool after the current loop pass */
	struct event *blank_ev;	/* a blank sandbox is ready: start the waiting cold starts */
	TAILQ_HEAD(, invocation) waiting;
	uint32_t inflight;
	uint32_t n_envs;
	uint32_t n_idle;
	uint64_t cold_starts;
	uint64_t warm_starts;
};

static const struct rtapi_ops env_rtapi_ops;
static void env_kill(struct env *e);
static void sched_pool_refill_soon(struct sched *s);
static void inv_fail(struct invocation *inv, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- pools ---- */

static unsigned hash_name(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % POOL_BUCKETS;
}

static struct fn_pool *pool_find(struct sched *s, const char *name)
{
	for (struct fn_pool *p = s->pools[hash_name(name)]; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static struct fn_pool *pool_get(struct sched *s, const char *name, struct err *errp)
{
	struct fn_pool *p = pool_find(s, name);
	if (p)
		return p;
	struct fnlog *log = fnlog_open(s->logs_dir, name, errp);
	if (!log)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->name = xstrdup(name);
	p->log = log;
	TAILQ_INIT(&p->envs);
	TAILQ_INIT(&p->idle);
	unsigned b = hash_name(name);
	p->next = s->pools[b];
	s->pools[b] = p;
	return p;
}

/* ---- logs ---- */

/* One line of an environment's output (or a platform line): to the function's
 * log file and to the tail of the invocation in flight. */
static void env_log(struct env *e, const char *text, size_t len)
{
	fnlog_line(e->pool->log, e->stream, text, len);
	if (e->inv && e->inv->want_tail) {
		logtail_add(&e->inv->tail, text, len);
		logtail_add(&e->inv->tail, "\n", 1);
	}
}

static void env_logf(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void env_logf(struct env *e, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	env_log(e, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Reads what the environment wrote so far and splits it into lines. */
static void env_drain_output(struct env *e)
{
	if (!e->sb)
		return;
	char buf[16384];
	for (;;) {
		ssize_t n = read(sandbox_log_fd(e->sb), buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 && e->log_ev)
				event_del(e->log_ev);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || e->line_len == sizeof(e->line)) {
				env_log(e, e->line, e->line_len);
				e->line_len = 0;
				if (buf[i] == '\n')
					continue;
			}
			e->line[e->line_len++] = buf[i];
		}
	}
}

static void env_flush_partial_line(struct env *e)
{
	if (e->line_len) {
		env_log(e, e->line, e->line_len);
		e->line_len = 0;
	}
}

static void log_read_cb(evutil_socket_t fd, short what, void *arg) { env_drain_output(arg); }

static void flush_timer_cb(evutil_socket_t fd, short what, void *arg) { sched_flush_logs(arg, NULL); }

void sched_flush_logs(struct sched *s, const char *name)
{
	for (unsigned b = 0; b < POOL_BUCKETS; b++)
		for (struct fn_pool *p = s->pools[b]; p; p = p->next)
			if (!name || strcmp(p->name, name) == 0)
				fnlog_flush(p->log);
}

/* ---- invocations ---- */

static void inv_free(struct invocation *inv)
{
	if (inv->timer)
		event_free(inv->timer);
	if (inv->payload)
		evbuffer_free(inv->payload);
	free(inv->client_context);
	logtail_fini(&inv->tail);
	fn_config_unref(inv->cfg);
	free(inv);
}

static void env_make_idle(struct env *e);

/* Ends an invocation: END and REPORT lines, the callback, and the environment
 * goes back to the pool (or away). body is drained by the callback. */
static void inv_finish(struct invocation *inv, bool function_error, struct evbuffer *body)
{
	struct env *e = inv->env;
	struct sched *s = inv->s;
	if (e) {
		env_drain_output(e);
		env_flush_partial_line(e);
		double dur_ms = inv->delivered ? (double)(clock_mono_us() - inv->start_us) / 1000.0 : 0.0;
		struct sandbox_stats st = {0};
		if (e->sb)
			sandbox_stats(e->sb, &st);
		unsigned long used_mb = (unsigned long)((st.max_rss_kb + 1023) / 1024);
		env_logf(e, "END RequestId: %s", inv->request_id);
		char init[64] = "";
		if (inv->cold)
			snprintf(init, sizeof(init), "\tInit Duration: %.2f ms", inv->init_ms);
		env_logf(e, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\tMemory Size: %u MB\tMax Memory Used: %lu MB%s\t",
			 inv->request_id, dur_ms, ceil(dur_ms < 1 ? 1 : dur_ms), inv->cfg->memory_mb, used_mb, init);
		e->inv = NULL;
	}
	if (inv->timer)
		event_del(inv->timer);
	s->inflight--;
	struct sched_result res = {.function_error = function_error, .body = body, .request_id = inv->request_id};
	if (inv->want_tail)
		res.log_tail = logtail_get(&inv->tail, &res.log_tail_len);
	inv->cb(&res, inv->arg);
	inv_free(inv);
	if (e && e->state != ENV_DEAD) {
		if (e->retire || s->cfg.keep_alive_ms == 0)
			env_kill(e);
		else
			env_make_idle(e);
	}
}

static void inv_fail(struct invocation *inv, const char *type, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s, s:s}", "errorType", type, "errorMessage", msg);
	char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, txt, strlen(txt));
	free(txt);
	inv_finish(inv, true, b);
	evbuffer_free(b);
}

static void inv_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct invocation *inv = arg;
	struct env *e = inv->env;
	char ts[32];
	clock_fmt_iso(clock_wall_ms(), ts);
	if (e) {
		env_drain_output(e);
		env_logf(e, "%s %s Task timed out after %.2f seconds", ts, inv->request_id, (double)inv->cfg->timeout_s);
		/* The environment is killed: a function that ran out of time is not reused. */
		e->retire = true;
		sandbox_signal(e->sb, SIGKILL);
	}
	inv_fail(inv, "Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds", inv->request_id,
		 (double)inv->cfg->timeout_s);
}

/* Hands the invocation to the environment's parked /next. */
static int env_deliver(struct env *e)
{
	struct invocation *inv = e->inv;
	if (!inv || inv->delivered || !rtapi_ready(e->rt))
		return -EAGAIN;
	autofree char *arn = fn_arn(inv->cfg->name, e->s->region, e->s->account);
	inv->deadline_ms = clock_wall_ms() + (int64_t)inv->cfg->timeout_s * 1000;
	struct rtapi_event ev = {
		.request_id = inv->request_id,
		.deadline_ms = inv->deadline_ms,
		.function_arn = arn,
		.trace_id = inv->trace_id,
		.client_context = inv->client_context,
		.payload = inv->payload,
	};
	env_logf(e, "START RequestId: %s Version: $LATEST", inv->request_id);
	inv->start_us = clock_mono_us();
	if (rtapi_deliver(e->rt, &ev) < 0)
		return -EAGAIN;
	inv->delivered = true;
	struct timeval tv = {.tv_sec = inv->cfg->timeout_s, .tv_usec = 0};
	inv->timer = evtimer_new(e->s->base, inv_timeout_cb, inv);
	evtimer_add(inv->timer, &tv);
	return 0;
}

/* ---- environments ---- */

static void env_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	if (e->state == ENV_IDLE) {
		log_debug("sched: reaping idle environment %s of %s", e->stream, e->pool->name);
		env_kill(e);
		return;
	}
	if (e->state == ENV_STARTING && !e->initialized) {
		struct invocation *inv = e->inv;
		e->retire = true;
		if (inv) {
			env_drain_output(e);
			inv_fail(inv, "Runtime.InitTimeout",
				 "RequestId: %s Error: Runtime did not ask for an event within %.2f seconds of starting",
				 inv->request_id, (double)e->s->cfg.init_timeout_ms / 1000.0);
		} else {
			env_kill(e);
		}
	}
}

/* As Lambda does, an idle environment does not run: what a function left running after
 * its answer is frozen (cgroup freezer) FREEZE_DELAY_MS after it, until the next event.
 * The delay spares back-to-back invocations a freeze and thaw each. */
#define FREEZE_DELAY_MS 10

static void freeze_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	if (e->state == ENV_IDLE && e->sb && !e->frozen && sandbox_freeze(e->sb, true) == 0)
		e->frozen = true;
}

static void env_thaw(struct env *e)
{
	if (e->freeze_ev)
		evtimer_del(e->freeze_ev);
	if (e->frozen && e->sb)
		sandbox_freeze(e->sb, false);
	e->frozen = false;
}

static void env_make_idle(struct env *e)
{
	struct sched *s = e->s;
	e->state = ENV_IDLE;
	TAILQ_INSERT_HEAD(&e->pool->idle, e, idle_link);
	s->n_idle++;
	struct timeval tv = {.tv_sec = s->cfg.keep_alive_ms / 1000, .tv_usec = (s->cfg.keep_alive_ms % 1000) * 1000};
	evtimer_add(e->timer, &tv);
	if (e->freeze_ev) {
		struct timeval ftv = {0, FREEZE_DELAY_MS * 1000};
		evtimer_add(e->freeze_ev, &ftv);
	}
}

static void env_unidle(struct env *e)
{
	if (e->state == ENV_IDLE) {
		TAILQ_REMOVE(&e->pool->idle, e, idle_link);
		e->s->n_idle--;
		evtimer_del(e->timer);
	}
	env_thaw(e);
}

static void env_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	if (e->log_ev)
		event_free(e->log_ev);
	if (e->timer)
		event_free(e->timer);
	if (e->freeze_ev)
		event_free(e->freeze_ev);
	fn_config_unref(e->cfg);
	free(e);
}

/* Kills the environment's processes and takes it out of every list; the struct
 * is freed on the next loop turn. An invocation still in flight must have been
 * finished by the caller. */
static void env_kill(struct env *e)
{
	if (e->state == ENV_DEAD)
		return;
	struct sched *s = e->s;
	LD_ASSERT(e->inv == NULL);
	env_unidle(e);
	e->state = ENV_DEAD;
	TAILQ_REMOVE(&s->envs, e, all_link);
	TAILQ_REMOVE(&e->pool->envs, e, pool_link);
	s->n_envs--;
	if (e->log_ev)
		event_del(e->log_ev);
	evtimer_del(e->timer);
	if (e->freeze_ev)
		evtimer_del(e->freeze_ev);
	rtapi_free(e->rt);
	e->rt = NULL;
	sandbox_destroy(e->sb);
	e->sb = NULL;
	struct timeval zero = {0, 0};
	event_base_once(s->base, -1, EV_TIMEOUT, env_free_cb, e, &zero);
}

static char **env_build_envp(struct env *e)
{
	const struct fn_config *c = e->cfg;
	struct sched *s = e->s;
	/* Platform defaults that a function may override, then its own, then the reserved ones. */
	json_t *vars = json_pack("{s:s, s:s, s:s, s:s}", "PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG",
				 "en_US.UTF-8", "TZ", ":UTC", "LD_LIBRARY_PATH",
				 "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib");
	json_object_update(vars, c->env_vars);
	char buf[64];
	/* AWS_LAMBDA_RUNTIME_API and LAMBDA_TASK_ROOT come from the sandbox. */
	json_object_set_new(vars, "_HANDLER", json_string(c->handler));
	json_object_set_new(vars, "LAMBDA_RUNTIME_DIR", json_string("/var/runtime"));
	json_object_set_new(vars, "AWS_LAMBDA_FUNCTION_NAME", json_string(c->name));
	json_object_set_new(vars, "AWS_LAMBDA_FUNCTION_VERSION", json_string("$LATEST"));
	snprintf(buf, sizeof(buf), "%u", c->memory_mb);
	json_object_set_new(vars, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", json_string(buf));
	autofree char *group = xasprintf("/aws/lambda/%s", c->name);
	json_object_set_new(vars, "AWS_LAMBDA_LOG_GROUP_NAME", json_string(group));
	json_object_set_new(vars, "AWS_LAMBDA_LOG_STREAM_NAME", json_string(e->stream));
	json_object_set_new(vars, "AWS_LAMBDA_INITIALIZATION_TYPE", json_string("on-demand"));
	json_object_set_new(vars, "AWS_REGION", json_string(s->region));
	json_object_set_new(vars, "AWS_DEFAULT_REGION", json_string(s->region));
	/* No STS here: the role's credentials are placeholders a local endpoint accepts. */
	json_object_set_new(vars, "AWS_ACCESS_KEY_ID", json_string("LAMBDADLOCALKEY"));
	json_object_set_new(vars, "AWS_SECRET_ACCESS_KEY", json_string("lambdad-local-secret"));
	json_object_set_new(vars, "AWS_SESSION_TOKEN", json_string("lambdad-local-session"));
	size_t n = json_object_size(vars), i = 0;
	char **envp = xcalloc(n + 1, sizeof(char *));
	const char *k;
	json_t *v;
	json_object_foreach(vars, k, v) envp[i++] = xasprintf("%s=%s", k, json_string_value(v));
	json_decref(vars);
	return envp;
}

static void free_envp(char **envp)
{
	for (char **p = envp; *p; p++)
		free(*p);
	free(envp);
}

/* Starts a new environment for cfg with inv assigned to it (a cold start). */
static int env_start(struct sched *s, struct fn_pool *pool, struct fn_config *cfg, struct invocation *inv,
		     struct err *errp)
{
	int r;
	if ((r = store_ensure_code(s->store, cfg->code_hex, errp)) < 0)
		return r;
	struct env *e = xcalloc(1, sizeof(*e));
	e->s = s;
	e->pool = pool;
	e->cfg = fn_config_ref(cfg);
	e->state = ENV_STARTING;
	e->created_us = clock_mono_us();
	char day[32], hex[33];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y/%m/%d", &tm);
	random_hex32(hex);
	snprintf(e->stream, sizeof(e->stream), "%s/[$LATEST]%s", day, hex);
	e->timer = evtimer_new(s->base, env_timer_cb, e);
	autofree char *code_dir = store_code_dir(s->store, cfg->code_hex);
	char **envp = env_build_envp(e);
	/* provided*: the zip's bootstrap; python and node: the project's runtime. */
	const char *family = fn_runtime_family(cfg->runtime);
	autofree char *runtime_exe = strcmp(family, "provided") ? xasprintf("%s/bootstrap", family) : NULL;
	struct sandbox_spec spec = {.code_dir = code_dir,
				    .exe = "bootstrap",
				    .runtime_exe = runtime_exe,
				    .envp = envp,
				    .memory_mb = cfg->memory_mb,
				    .ephemeral_mb = cfg->ephemeral_mb,
				    .nofile = 1024};
	r = sandbox_create(&spec, &e->sb, errp);
	free_envp(envp);
	if (r < 0) {
		env_free_cb(-1, 0, e);
		return r;
	}
	int lfd = sandbox_take_rtapi_fd(e->sb);
	if ((r = rtapi_new(s->base, lfd, &env_rtapi_ops, e, &e->rt, errp)) < 0) {
		close(lfd);
		sandbox_destroy(e->sb);
		e->sb = NULL;
		env_free_cb(-1, 0, e);
		return r;
	}
	sched_pool_refill_soon(s);
	e->pid = sandbox_pid(e->sb);
	if (sandbox_can_freeze(e->sb))
		e->freeze_ev = evtimer_new(s->base, freeze_cb, e);
	e->log_ev = event_new(s->base, sandbox_log_fd(e->sb), EV_READ | EV_PERSIST, log_read_cb, e);
	event_add(e->log_ev, NULL);
	struct timeval tv = {.tv_sec = s->cfg.init_timeout_ms / 1000, .tv_usec = (s->cfg.init_timeout_ms % 1000) * 1000};
	evtimer_add(e->timer, &tv);
	TAILQ_INSERT_TAIL(&s->envs, e, all_link);
	TAILQ_INSERT_TAIL(&pool->envs, e, pool_link);
	s->n_envs++;
	s->cold_starts++;
	e->inv = inv;
	inv->env = e;
	inv->cold = true;
	log_debug("sched: cold start of %s (pid %d)", cfg->name, (int)e->pid);
	return 0;
}

/* ---- Runtime API events ---- */

static void rt_next_cb(void *arg)
{
	struct env *e = arg;
	if (!e->initialized) {
		e->initialized = true;
		evtimer_del(e->timer);
		if (e->inv)
			e->inv->init_ms = (double)(clock_mono_us() - e->created_us) / 1000.0;
	}
	if (e->state == ENV_STARTING) {
		if (e->inv) {
			e->state = ENV_BUSY;
		} else {
			env_make_idle(e);
			return;
		}
	}
	if (e->state == ENV_BUSY)
		env_deliver(e);
}

static struct invocation *env_current(struct env *e, const char *request_id)
{
	if (!e->inv || !e->inv->delivered || strcmp(e->inv->request_id, request_id) != 0)
		return NULL;
	return e->inv;
}

static void rt_response_cb(void *arg, const char *request_id, struct evbuffer *body)
{
	struct invocation *inv = env_current(arg, request_id);
	if (inv)
		inv_finish(inv, false, body);
}

/* A runtime's error body passes through when it is a JSON object; anything else
 * is wrapped so that the caller always gets {errorMessage, errorType}. */
static void finish_with_error_body(struct invocation *inv, const char *error_type, struct evbuffer *body)
{
	size_t len = evbuffer_get_length(body);
	const char *p = (const char *)evbuffer_pullup(body, -1);
	json_t *o = len ? json_loadb(p, len, 0, NULL) : NULL;
	if (json_is_object(o)) {
		json_decref(o);
		inv_finish(inv, true, body);
		return;
	}
	json_decref(o);
	autofree char *msg = xstrndup(p ? p : "", len);
	inv_fail(inv, error_type ? error_type : "Unhandled", "%s", msg);
}

static void rt_error_cb(void *arg, const char *request_id, const char *error_type, struct evbuffer *body)
{
	struct env *e = arg;
	struct invocation *inv = env_current(e, request_id);
	if (!inv)
		return;
	env_drain_output(e);
	finish_with_error_body(inv, error_type, body);
}

static void rt_init_error_cb(void *arg, const char *error_type, struct evbuffer *body)
{
	struct env *e = arg;
	struct invocation *inv = e->inv;
	e->retire = true;
	env_drain_output(e);
	if (inv) {
		e->initialized = true;
		evtimer_del(e->timer);
		inv->init_ms = (double)(clock_mono_us() - e->created_us) / 1000.0;
		env_logf(e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s", inv->init_ms,
			 error_type ? error_type : "Runtime.Unknown");
		finish_with_error_body(inv, error_type, body);
	} else {
		env_kill(e);
	}
}

static void rt_too_large_cb(void *arg, const char *request_id)
{
	struct invocation *inv = env_current(arg, request_id);
	if (inv)
		inv_fail(inv, "Function.ResponseSizeTooLarge",
			 "Response payload size exceeded maximum allowed payload size (%u bytes).", RTAPI_MAX_RESPONSE);
}

static const struct rtapi_ops env_rtapi_ops = {
	.next_cb = rt_next_cb,
	.response_cb = rt_response_cb,
	.error_cb = rt_error_cb,
	.init_error_cb = rt_init_error_cb,
	.too_large_cb = rt_too_large_cb,
};

/* ---- the sandbox pool ---- */

static void refill_cb(evutil_socket_t fd, short what, void *arg) { sandbox_pool_fill(); }

/* Blank sandboxes became ready (or making them failed): start the cold starts that
 * wait for one, in arrival order. */
static void blank_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0) {
	}
	struct invocation *inv;
	while ((inv = TAILQ_FIRST(&s->waiting))) {
		struct err e = {0};
		int r = env_start(s, inv->wait_pool, inv->cfg, inv, &e);
		if (r == -EWOULDBLOCK)
			break;
		TAILQ_REMOVE(&s->waiting, inv, wait_link);
		inv->wait_pool = NULL;
		if (r < 0) {
			log_warn("sched: cannot start %s: %s", inv->cfg->name, e.msg);
			inv_fail(inv, "Runtime.InvalidEntrypoint", "RequestId: %s Error: %s", inv->request_id, e.msg);
		}
	}
}

/* Blank sandboxes are made after the replies of this loop pass have gone out, so a
 * cold start never waits for its successor's namespaces. */
static void sched_pool_refill_soon(struct sched *s)
{
	struct timeval tv = {0, 1000};
	if (s->refill && !evtimer_pending(s->refill, NULL))
		evtimer_add(s->refill, &tv);
}

/* ---- process exits ---- */

static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	int status;
	pid_t pid;
	while ((pid = sandbox_reap(&status)) > 0) {
		struct env *e;
		TAILQ_FOREACH(e, &s->envs, all_link)
		if (e->pid == pid) break;
		if (!e)
			continue;
		char why[96];
		if (e->sb)
			sandbox_exit_status(e->sb, &status);
		sandbox_describe_status(status, why, sizeof(why));
		log_debug("sched: environment of %s (pid %d) ended: %s", e->pool->name, (int)pid, why);
		env_drain_output(e);
		env_flush_partial_line(e);
		struct invocation *inv = e->inv;
		e->retire = true;
		if (inv) {
			/* Killed by the cgroup's OOM killer: Lambda's Runtime.OutOfMemory. */
			const char *type = e->sb && sandbox_oom_killed(e->sb) ? "Runtime.OutOfMemory" : "Runtime.ExitError";
			env_logf(e, "RequestId: %s Error: Runtime exited with error: %s", inv->request_id, why);
			env_logf(e, "%s", type);
			inv_fail(inv, type, "RequestId: %s Error: Runtime exited with error: %s", inv->request_id, why);
		} else {
			env_kill(e);
		}
	}
}

/* ---- public ---- */

int sched_new(struct event_base *base, struct store *store, const struct sched_config *cfg, struct sched **out,
	      struct err *errp)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->store = store;
	s->cfg = *cfg;
	s->logs_dir = xstrdup(cfg->logs_dir);
	s->region = xstrdup(cfg->region);
	s->account = xstrdup(cfg->account);
	s->cfg.logs_dir = s->logs_dir;
	s->cfg.region = s->region;
	s->cfg.account = s->account;
	if (s->cfg.init_timeout_ms <= 0)
		s->cfg.init_timeout_ms = 10000;
	TAILQ_INIT(&s->envs);
	s->sigchld = evsignal_new(base, SIGCHLD, sigchld_cb, s);
	evsignal_add(s->sigchld, NULL);
	s->refill = event_new(base, -1, 0, refill_cb, s);
	TAILQ_INIT(&s->waiting);
	if (sandbox_notify_fd() >= 0) {
		s->blank_ev = event_new(base, sandbox_notify_fd(), EV_READ | EV_PERSIST, blank_ready_cb, s);
		event_add(s->blank_ev, NULL);
	}
	sched_pool_refill_soon(s);
	s->flush_timer = event_new(base, -1, EV_PERSIST, flush_timer_cb, s);
	struct timeval tv = {0, 250000};
	evtimer_add(s->flush_timer, &tv);
	*out = s;
	return 0;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	struct invocation *inv;
	while ((inv = TAILQ_FIRST(&s->waiting))) {
		TAILQ_REMOVE(&s->waiting, inv, wait_link);
		inv_fail(inv, "ServiceException", "lambdad is shutting down");
	}
	struct env *e;
	while ((e = TAILQ_FIRST(&s->envs))) {
		if (e->inv)
			inv_fail(e->inv, "ServiceException", "lambdad is shutting down");
		env_kill(e);
	}
	/* Let deferred frees run. */
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	for (unsigned b = 0; b < POOL_BUCKETS; b++) {
		struct fn_pool *p = s->pools[b];
		while (p) {
			struct fn_pool *n = p->next;
			fnlog_free(p->log);
			free(p->name);
			free(p);
			p = n;
		}
	}
	event_free(s->sigchld);
	event_free(s->refill);
	if (s->blank_ev)
		event_free(s->blank_ev);
	event_free(s->flush_timer);
	free(s->logs_dir);
	free(s->region);
	free(s->account);
	free(s);
}

static void make_trace_id(char out[96])
{
	char h[33], p[33];
	random_hex32(h);
	random_hex32(p);
	snprintf(out, 96, "Root=1-%08lx-%.24s;Parent=%.16s;Sampled=0", (unsigned long)time(NULL), h, p);
}

int sched_invoke(struct sched *s, const struct sched_invoke_args *a, struct err *errp)
{
	if (s->inflight >= s->cfg.account_concurrency)
		return err_make(errp, EAGAIN, "Rate Exceeded.");
	struct fn_pool *pool = pool_get(s, a->cfg->name, errp);
	if (!pool)
		return -errp->code;
	struct invocation *inv = xcalloc(1, sizeof(*inv));
	inv->s = s;
	inv->cfg = fn_config_ref(a->cfg);
	uuid_v4(inv->request_id);
	make_trace_id(inv->trace_id);
	inv->payload = evbuffer_new();
	evbuffer_add_buffer(inv->payload, a->payload);
	inv->client_context = xstrdup(a->client_context);
	inv->want_tail = a->want_tail;
	logtail_init(&inv->tail);
	inv->cb = a->cb;
	inv->arg = a->arg;
	/* A warm environment of the same revision, most recently used first. */
	struct env *e;
	TAILQ_FOREACH(e, &pool->idle, idle_link)
	if (strcmp(e->cfg->revision_id, a->cfg->revision_id) == 0) break;
	if (e) {
		env_unidle(e);
		e->state = ENV_BUSY;
		e->inv = inv;
		inv->env = e;
		s->warm_starts++;
		s->inflight++;
		env_deliver(e);
		return 0;
	}
	int r = env_start(s, pool, a->cfg, inv, errp);
	s->inflight++;
	if (r == -EWOULDBLOCK) {
		/* No blank sandbox yet: it comes from the pool thread, not from this loop. */
		inv->wait_pool = pool;
		TAILQ_INSERT_TAIL(&s->waiting, inv, wait_link);
		return 0;
	}
	if (r < 0) {
		/* The runtime could not be started: Lambda reports this as a function error. */
		log_warn("sched: cannot start %s: %s", a->cfg->name, errp->msg);
		struct err copy = *errp;
		inv_fail(inv, "Runtime.InvalidEntrypoint", "RequestId: %s Error: %s", inv->request_id, copy.msg);
		return 0;
	}
	return 0;
}

void sched_function_changed(struct sched *s, const char *name, const struct fn_config *cur)
{
	struct fn_pool *pool = pool_find(s, name);
	if (!pool)
		return;
	struct env *e, *tmp;
	for (e = TAILQ_FIRST(&pool->envs); e; e = tmp) {
		tmp = TAILQ_NEXT(e, pool_link);
		if (cur && strcmp(e->cfg->revision_id, cur->revision_id) == 0)
			continue;
		if (e->inv)
			e->retire = true;
		else
			env_kill(e);
	}
}

void sched_counts(const struct sched *s, struct sched_counts *c)
{
	c->envs = s->n_envs;
	c->idle = s->n_idle;
	c->inflight = s->inflight;
	c->cold_starts = s->cold_starts;
	c->warm_starts = s->warm_starts;
}
