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
	sched_stream_cb stream_cb;
	void *arg;
	bool streamed;         /* the runtime began a streamed response */
	bool sbuf_over;        /* the collected stream passed RTAPI_MAX_RESPONSE */
	char *content_type;    /* of the streamed response */
	struct evbuffer *sbuf; /* a streamed response collected (no stream_cb) */
	struct env *env;
	struct event *timer; /* the function's timeout, armed at delivery */
	int64_t start_us;    /* delivery to the runtime */
	int64_t deadline_ms; /* epoch ms */
	bool delivered;
	bool cold;
	bool timed_out;
	bool system_error; /* answered for lambdad's own failure (shutdown) */
	bool unreserved;   /* counted in sched->unreserved_inflight */
	double init_ms;
	uint32_t mem_mb; /* memory held for a cold start not begun yet (sched->memory_mb) */
	struct fn_pool *pool;
	struct fn_pool *wait_pool; /* waiting for a blank sandbox, in sched->waiting */
	bool queued;               /* waiting in pool->queued for an environment */
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
	bool retire;      /* destroy when the invocation in flight ends */
	bool initialized; /* the runtime asked for its first event */
	bool provisioned; /* one of the function's provisioned environments */
	bool warm;        /* started without an invocation */
	uint32_t mem_mb;  /* its MemorySize, counted in sched->memory_mb */
	struct invocation *inv;
	struct event *log_ev;
	struct event *timer;     /* init timeout while starting, keep-alive while idle */
	struct event *freeze_ev; /* freezes an idle environment shortly after its last answer */
	bool frozen;
	char line[LINE_MAX_BYTES];
	size_t line_len;
	char stream[96];
	int64_t created_us;
	TAILQ_ENTRY(env) all_link;  /* sched->envs */
	TAILQ_ENTRY(env) pool_link; /* pool->envs */
	TAILQ_ENTRY(env) idle_link; /* pool->idle, when ENV_IDLE */
	TAILQ_ENTRY(env) lru_link;  /* sched->lru, when ENV_IDLE and not provisioned */
};
TAILQ_HEAD(env_list, env);

struct fn_pool {
	struct sched *s;
	char *name;
	struct fnlog *log;
	struct env_list envs;
	struct env_list idle;  /* most recently used first */
	struct fn_pool *next;  /* hash chain */
	struct fn_config *cfg; /* latest configuration, for starts without an invocation */
	struct fn_scaling sc;
	uint32_t inflight;      /* invocations not yet answered */
	uint32_t n_provisioned; /* live environments marked provisioned */
	uint32_t prewarm;       /* environments still to start without an invocation */
	uint32_t warm_failures; /* consecutive starts without an invocation that failed */
	double tokens;          /* scaling rate: new environments that may start now */
	int64_t tokens_us;
	TAILQ_HEAD(, invocation) queued; /* waiting for an environment, in order */
	bool kick;                       /* in sched->kick_list */
	TAILQ_ENTRY(fn_pool) kick_link;
	uint64_t window_invokes[2]; /* invocations in this and the previous HOT_WINDOW */
	int64_t window_start_us;
	struct sched_fn_stats st;
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
	struct event *refill;   /* tops up the sandbox pool after the current loop pass */
	struct event *blank_ev; /* a blank sandbox is ready: start the waiting cold starts */
	TAILQ_HEAD(, invocation) waiting;
	struct env_list lru;             /* idle environments that may be evicted, newest first */
	TAILQ_HEAD(, fn_pool) kick_list; /* pools with invocations or starts waiting */
	struct event *kick_ev;           /* serves kick_list */
	uint32_t inflight;
	uint32_t unreserved_inflight;
	uint32_t reserved_sum;
	uint32_t n_envs;
	uint32_t n_idle;
	uint64_t memory_mb;    /* live environments and cold starts about to begin */
	uint64_t evictable_mb; /* of which idle in lru */
	uint64_t cold_starts;
	uint64_t warm_starts;
	uint64_t throttles;
	uint64_t evictions;
	bool stopping;
};

const double sched_hist_bounds_ms[SCHED_HIST_BUCKETS] = {1,   5,    10,   25,    50,    100,    250,
                                                         500, 1000, 2500, 10000, 30000, 120000, 900000};

/* A function invoked at least HOT_MIN_INVOKES times within about HOT_WINDOW_US keeps
 * HOT_KEEP environment(s) past the server's keep-alive. */
#define HOT_WINDOW_US (60 * 1000000LL)
#define HOT_MIN_INVOKES 10
#define HOT_KEEP 1
/* Starts without an invocation (provisioned, pre-warm) give up after this many
 * consecutive failures, until the settings change. */
#define WARM_MAX_FAILURES 3

static const struct rtapi_ops env_rtapi_ops;
static void env_kill(struct env *e);
static void sched_pool_refill_soon(struct sched *s);
static void sched_kick(struct sched *s, struct fn_pool *pool);
static void kick_cb(evutil_socket_t fd, short what, void *arg);
static int64_t pool_keep_alive_ms(const struct fn_pool *pool);
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
	p->s = s;
	p->name = xstrdup(name);
	p->log = log;
	TAILQ_INIT(&p->envs);
	TAILQ_INIT(&p->idle);
	TAILQ_INIT(&p->queued);
	p->sc = FN_SCALING_DEFAULT;
	p->tokens = s->cfg.scale_per_10s;
	p->tokens_us = clock_mono_us();
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

static void log_read_cb(evutil_socket_t fd, short what, void *arg)
{
	env_drain_output(arg);
}

static void flush_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	sched_flush_logs(arg, NULL);
}

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
	inv->s->memory_mb -= inv->mem_mb;
	if (inv->timer)
		event_free(inv->timer);
	if (inv->payload)
		evbuffer_free(inv->payload);
	if (inv->sbuf)
		evbuffer_free(inv->sbuf);
	free(inv->content_type);
	free(inv->client_context);
	logtail_fini(&inv->tail);
	fn_config_unref(inv->cfg);
	free(inv);
}

static void env_make_idle(struct env *e);

static void hist_observe(struct sched_hist *h, double ms)
{
	unsigned i = 0;
	while (i < SCHED_HIST_BUCKETS && ms > sched_hist_bounds_ms[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum_ms += ms;
}

/* Delivery to now; a timed-out invocation lasted its whole timeout, as Lambda reports
 * it (the timer may fire a hair early by the clock the start was taken with). */
static double inv_duration_ms(const struct invocation *inv)
{
	if (!inv->delivered)
		return 0.0;
	double ms = (double)(clock_mono_us() - inv->start_us) / 1000.0;
	double limit = (double)inv->cfg->timeout_s * 1000.0;
	return inv->timed_out && ms < limit ? limit : ms;
}

/* Counts an invocation towards the function's "hot" windows. */
static void pool_count_invoke(struct fn_pool *pool)
{
	int64_t now = clock_mono_us();
	if (now - pool->window_start_us >= HOT_WINDOW_US) {
		bool adjacent = now - pool->window_start_us < 2 * HOT_WINDOW_US;
		pool->window_invokes[1] = adjacent ? pool->window_invokes[0] : 0;
		pool->window_invokes[0] = 0;
		pool->window_start_us = now;
	}
	pool->window_invokes[0]++;
}

static bool pool_hot(struct fn_pool *pool)
{
	int64_t age = clock_mono_us() - pool->window_start_us;
	if (age >= 2 * HOT_WINDOW_US)
		return false;
	uint64_t n = pool->window_invokes[0] + (age < HOT_WINDOW_US ? pool->window_invokes[1] : 0);
	return n >= HOT_MIN_INVOKES;
}

/* Ends an invocation: END and REPORT lines, the callback, and the environment
 * goes back to the pool (or away). body is drained by the callback. */
static void inv_finish(struct invocation *inv, bool function_error, struct evbuffer *body)
{
	struct env *e = inv->env;
	struct sched *s = inv->s;
	if (e) {
		env_drain_output(e);
		env_flush_partial_line(e);
		double dur_ms = inv_duration_ms(inv);
		struct sandbox_stats st = {0};
		if (e->sb)
			sandbox_stats(e->sb, &st);
		unsigned long used_mb = (unsigned long)((st.max_rss_kb + 1023) / 1024);
		env_logf(e, "END RequestId: %s", inv->request_id);
		char init[64] = "";
		if (inv->cold)
			snprintf(init, sizeof(init), "\tInit Duration: %.2f ms", inv->init_ms);
		env_logf(e,
		         "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\tMemory Size: %u "
		         "MB\tMax Memory Used: %lu MB%s\t",
		         inv->request_id, dur_ms, ceil(dur_ms < 1 ? 1 : dur_ms), inv->cfg->memory_mb, used_mb,
		         init);
		e->inv = NULL;
	}
	if (inv->timer)
		event_del(inv->timer);
	s->inflight--;
	struct fn_pool *pool = inv->pool;
	pool->inflight--;
	if (inv->unreserved)
		s->unreserved_inflight--;
	double ms = inv_duration_ms(inv);
	pool->st.invocations++;
	if (function_error)
		pool->st.errors++;
	if (inv->timed_out)
		pool->st.timeouts++;
	hist_observe(&pool->st.duration, ms);
	if (inv->cold) {
		pool->st.cold_starts++;
		hist_observe(&pool->st.init_duration, inv->init_ms);
	}
	struct sched_result res = {.function_error = function_error,
	                           .system_error = inv->system_error,
	                           .body = body,
	                           .request_id = inv->request_id,
	                           .streamed = inv->streamed,
	                           .content_type = inv->content_type};
	if (inv->want_tail)
		res.log_tail = logtail_get(&inv->tail, &res.log_tail_len);
	inv->cb(&res, inv->arg);
	inv_free(inv);
	if (e && e->state != ENV_DEAD) {
		bool stale = e->pool->cfg && strcmp(e->pool->cfg->revision_id, e->cfg->revision_id) != 0;
		if (e->retire || stale || (pool_keep_alive_ms(e->pool) == 0 && !e->provisioned))
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
	inv->timed_out = true;
	if (e) {
		env_drain_output(e);
		env_logf(e, "%s %s Task timed out after %.2f seconds", ts, inv->request_id,
		         (double)inv->cfg->timeout_s);
		/* The environment is killed: a function that ran out of time is not reused. */
		e->retire = true;
		sandbox_signal(e->sb, SIGKILL);
	}
	inv_fail(inv, "Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds",
	         inv->request_id, (double)inv->cfg->timeout_s);
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

static uint32_t pool_live_envs(const struct fn_pool *pool)
{
	uint32_t n = 0;
	const struct env *e;
	TAILQ_FOREACH(e, &pool->envs, pool_link) n++;
	return n;
}

static int64_t pool_keep_alive_ms(const struct fn_pool *pool)
{
	return pool->sc.keep_alive_ms >= 0 ? pool->sc.keep_alive_ms : pool->s->cfg.keep_alive_ms;
}

static void env_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	if (e->state == ENV_IDLE) {
		struct fn_pool *pool = e->pool;
		/* A function invoked often keeps a warm environment past the server's keep-alive. */
		if (pool->sc.keep_alive_ms < 0 && pool_hot(pool) && pool_live_envs(pool) <= HOT_KEEP) {
			struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
			evtimer_add(e->timer, &tv);
			return;
		}
		log_debug("sched: reaping idle environment %s of %s", e->stream, pool->name);
		env_kill(e);
		return;
	}
	if (e->state == ENV_STARTING && !e->initialized) {
		struct invocation *inv = e->inv;
		e->retire = true;
		if (inv) {
			env_drain_output(e);
			inv_fail(inv, "Runtime.InitTimeout",
			         "RequestId: %s Error: Runtime did not ask for an event within %.2f seconds "
			         "of starting",
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

static void env_take(struct env *e, struct invocation *inv);

/* The environment has nothing to do: the first invocation queued for the function
 * takes it, or it waits for one, frozen, until its keep-alive ends (provisioned ones
 * stay). */
static void env_make_idle(struct env *e)
{
	struct sched *s = e->s;
	struct fn_pool *pool = e->pool;
	struct invocation *inv;
	TAILQ_FOREACH(inv, &pool->queued, wait_link)
	if (strcmp(inv->cfg->revision_id, e->cfg->revision_id) == 0)
		break;
	if (inv) {
		TAILQ_REMOVE(&pool->queued, inv, wait_link);
		inv->queued = false;
		s->warm_starts++;
		env_take(e, inv);
		return;
	}
	e->state = ENV_IDLE;
	TAILQ_INSERT_HEAD(&pool->idle, e, idle_link);
	s->n_idle++;
	if (!e->provisioned) {
		TAILQ_INSERT_HEAD(&s->lru, e, lru_link);
		s->evictable_mb += e->mem_mb;
		int64_t ka = pool_keep_alive_ms(pool);
		struct timeval tv = {.tv_sec = ka / 1000, .tv_usec = (ka % 1000) * 1000};
		evtimer_add(e->timer, &tv);
	}
	if (e->freeze_ev) {
		struct timeval ftv = {0, FREEZE_DELAY_MS * 1000};
		evtimer_add(e->freeze_ev, &ftv);
	}
	/* Its memory may now be evicted for a start that waits for room. */
	if (!TAILQ_EMPTY(&s->kick_list))
		sched_kick(s, NULL);
}

static void env_unidle(struct env *e)
{
	if (e->state == ENV_IDLE) {
		TAILQ_REMOVE(&e->pool->idle, e, idle_link);
		e->s->n_idle--;
		evtimer_del(e->timer);
		if (!e->provisioned) {
			TAILQ_REMOVE(&e->s->lru, e, lru_link);
			e->s->evictable_mb -= e->mem_mb;
		}
	}
	env_thaw(e);
}

/* Gives a warm environment (unidled) its invocation. */
static void env_take(struct env *e, struct invocation *inv)
{
	e->state = ENV_BUSY;
	e->inv = inv;
	inv->env = e;
	env_deliver(e);
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
	s->memory_mb -= e->mem_mb;
	if (e->warm && !e->initialized)
		e->pool->warm_failures++;
	if (e->provisioned) {
		e->pool->n_provisioned--;
		if (e->pool->n_provisioned < e->pool->sc.provisioned)
			sched_kick(s, e->pool);
	}
	if (!TAILQ_EMPTY(&s->kick_list))
		sched_kick(s, NULL);
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
	json_t *vars = json_pack(
	    "{s:s, s:s, s:s, s:s}", "PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG", "en_US.UTF-8",
	    "TZ", ":UTC", "LD_LIBRARY_PATH",
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
	json_object_set_new(vars, "AWS_LAMBDA_INITIALIZATION_TYPE",
	                    json_string(e->provisioned ? "provisioned-concurrency" : "on-demand"));
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

/* Starts a new environment for cfg with inv assigned to it (a cold start), or with
 * none (pre-warming; provisioned marks it as one of the provisioned ones). Its memory
 * is the one inv holds, or is counted now. -EWOULDBLOCK: no blank sandbox yet. */
static int env_start(struct sched *s, struct fn_pool *pool, struct fn_config *cfg, struct invocation *inv,
                     bool provisioned, struct err *errp)
{
	int r;
	if ((r = store_ensure_code(s->store, cfg->code_hex, errp)) < 0)
		return r;
	struct env *e = xcalloc(1, sizeof(*e));
	e->s = s;
	e->pool = pool;
	e->provisioned = provisioned;
	e->warm = inv == NULL;
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
	struct timeval tv = {.tv_sec = s->cfg.init_timeout_ms / 1000,
	                     .tv_usec = (s->cfg.init_timeout_ms % 1000) * 1000};
	evtimer_add(e->timer, &tv);
	TAILQ_INSERT_TAIL(&s->envs, e, all_link);
	TAILQ_INSERT_TAIL(&pool->envs, e, pool_link);
	s->n_envs++;
	if (inv) {
		e->mem_mb = inv->mem_mb;
		inv->mem_mb = 0;
		s->cold_starts++;
		e->inv = inv;
		inv->env = e;
		inv->cold = true;
	} else {
		e->mem_mb = cfg->memory_mb;
		s->memory_mb += e->mem_mb;
	}
	if (provisioned)
		pool->n_provisioned++;
	log_debug("sched: %s start of %s (pid %d)",
	          inv           ? "cold"
	          : provisioned ? "provisioned"
	                        : "pre-warm",
	          cfg->name, (int)e->pid);
	return 0;
}

/* ---- Runtime API events ---- */

static void rt_next_cb(void *arg)
{
	struct env *e = arg;
	if (!e->initialized) {
		e->initialized = true;
		evtimer_del(e->timer);
		if (e->warm)
			e->pool->warm_failures = 0;
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
		env_logf(e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s",
		         inv->init_ms, error_type ? error_type : "Runtime.Unknown");
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
		         "Response payload size exceeded maximum allowed payload size (%u bytes).",
		         RTAPI_MAX_RESPONSE);
}

/* A streamed response began: the invocation is answered piece by piece from now on. */
static void rt_stream_begin_cb(void *arg, const char *request_id, const char *content_type)
{
	struct invocation *inv = env_current(arg, request_id);
	if (!inv || inv->streamed)
		return;
	inv->streamed = true;
	inv->content_type = xstrdup(content_type);
	if (!inv->stream_cb)
		inv->sbuf = evbuffer_new();
}

static void rt_stream_chunk_cb(void *arg, const char *request_id, const void *data, size_t len)
{
	struct invocation *inv = env_current(arg, request_id);
	if (!inv || !inv->streamed)
		return;
	if (inv->stream_cb) {
		inv->stream_cb(inv->arg, inv->content_type, data, len);
		return;
	}
	/* Collected for an ordinary Invoke: past 6 MB the rest is read and dropped, and
	 * the invocation fails at the stream's end. */
	if (inv->sbuf_over)
		return;
	if (evbuffer_get_length(inv->sbuf) + len > RTAPI_MAX_RESPONSE) {
		inv->sbuf_over = true;
		evbuffer_drain(inv->sbuf, evbuffer_get_length(inv->sbuf));
		return;
	}
	evbuffer_add(inv->sbuf, data, len);
}

static void rt_stream_end_cb(void *arg, const char *request_id, const char *error_type,
                             struct evbuffer *error_body, bool truncated)
{
	struct env *e = arg;
	struct invocation *inv = env_current(e, request_id);
	if (!inv || !inv->streamed)
		return;
	/* A runtime that dropped its connection mid-stream is not given another event. */
	if (truncated)
		e->retire = true;
	env_drain_output(e);
	if (error_type) {
		finish_with_error_body(inv, error_type, error_body);
		return;
	}
	if (inv->sbuf_over) {
		inv_fail(inv, "Function.ResponseSizeTooLarge",
		         "Response payload size exceeded maximum allowed payload size (%u bytes).",
		         RTAPI_MAX_RESPONSE);
		return;
	}
	if (inv->sbuf) {
		inv_finish(inv, false, inv->sbuf);
		return;
	}
	struct evbuffer *empty = evbuffer_new();
	inv_finish(inv, false, empty);
	evbuffer_free(empty);
}

static const struct rtapi_ops env_rtapi_ops = {
    .next_cb = rt_next_cb,
    .response_cb = rt_response_cb,
    .error_cb = rt_error_cb,
    .init_error_cb = rt_init_error_cb,
    .too_large_cb = rt_too_large_cb,
    .stream_begin_cb = rt_stream_begin_cb,
    .stream_chunk_cb = rt_stream_chunk_cb,
    .stream_end_cb = rt_stream_end_cb,
};

/* ---- the sandbox pool ---- */

static void refill_cb(evutil_socket_t fd, short what, void *arg)
{
	sandbox_pool_fill();
}

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
		int r = env_start(s, inv->wait_pool, inv->cfg, inv, false, &e);
		if (r == -EWOULDBLOCK)
			break;
		TAILQ_REMOVE(&s->waiting, inv, wait_link);
		inv->wait_pool = NULL;
		if (r < 0) {
			log_warn("sched: cannot start %s: %s", inv->cfg->name, e.msg);
			inv_fail(inv, "Runtime.InvalidEntrypoint", "RequestId: %s Error: %s", inv->request_id,
			         e.msg);
		}
	}
	if (!TAILQ_EMPTY(&s->kick_list))
		sched_kick(s, NULL);
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
		if (e->pid == pid)
			break;
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
			const char *type =
			    e->sb && sandbox_oom_killed(e->sb) ? "Runtime.OutOfMemory" : "Runtime.ExitError";
			env_logf(e, "RequestId: %s Error: Runtime exited with error: %s", inv->request_id,
			         why);
			env_logf(e, "%s", type);
			inv_fail(inv, type, "RequestId: %s Error: Runtime exited with error: %s",
			         inv->request_id, why);
		} else {
			env_kill(e);
		}
	}
}

/* ---- public ---- */

int sched_new(struct event_base *base, struct store *store, const struct sched_config *cfg,
              struct sched **out, struct err *errp)
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
	if (s->cfg.scale_per_10s == 0)
		s->cfg.scale_per_10s = 1000;
	TAILQ_INIT(&s->envs);
	TAILQ_INIT(&s->lru);
	TAILQ_INIT(&s->kick_list);
	s->kick_ev = event_new(base, -1, 0, kick_cb, s);
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
	s->stopping = true;
	struct invocation *inv;
	while ((inv = TAILQ_FIRST(&s->waiting))) {
		TAILQ_REMOVE(&s->waiting, inv, wait_link);
		inv->system_error = true;
		inv_fail(inv, "ServiceException", "lambdad is shutting down");
	}
	for (unsigned b = 0; b < POOL_BUCKETS; b++)
		for (struct fn_pool *p = s->pools[b]; p; p = p->next)
			while ((inv = TAILQ_FIRST(&p->queued))) {
				TAILQ_REMOVE(&p->queued, inv, wait_link);
				inv->queued = false;
				inv->system_error = true;
				inv_fail(inv, "ServiceException", "lambdad is shutting down");
			}
	struct env *e;
	while ((e = TAILQ_FIRST(&s->envs))) {
		if (e->inv) {
			e->inv->system_error = true;
			inv_fail(e->inv, "ServiceException", "lambdad is shutting down");
		}
		env_kill(e);
	}
	/* Let deferred frees run. */
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	for (unsigned b = 0; b < POOL_BUCKETS; b++) {
		struct fn_pool *p = s->pools[b];
		while (p) {
			struct fn_pool *n = p->next;
			fnlog_free(p->log);
			fn_config_unref(p->cfg);
			free(p->name);
			free(p);
			p = n;
		}
	}
	event_free(s->sigchld);
	event_free(s->refill);
	event_free(s->kick_ev);
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

/* ---- limits, scaling rate and memory ---- */

/* Why a new invocation of pool may not run now, or NULL. */
static const char *limit_reached(const struct sched *s, const struct fn_pool *pool)
{
	uint32_t acct = s->cfg.account_concurrency;
	if (pool->sc.reserved >= 0)
		return pool->inflight >= (uint32_t)pool->sc.reserved
		           ? "ReservedFunctionConcurrentInvocationLimitExceeded"
		           : NULL;
	uint32_t unreserved = acct > s->reserved_sum ? acct - s->reserved_sum : 0;
	if (s->unreserved_inflight >= unreserved || s->inflight >= acct)
		return "ConcurrentInvocationLimitExceeded";
	return NULL;
}

/* The scaling rate: a bucket of scale_per_10s new environments, refilled over 10 s. */
static bool pool_has_token(struct fn_pool *pool)
{
	double rate = pool->s->cfg.scale_per_10s;
	int64_t now = clock_mono_us();
	pool->tokens += (double)(now - pool->tokens_us) * rate / 10e6;
	if (pool->tokens > rate)
		pool->tokens = rate;
	pool->tokens_us = now;
	return pool->tokens >= 1.0;
}

/* Microseconds until the bucket holds a whole token again. */
static int64_t pool_token_wait_us(const struct fn_pool *pool)
{
	double missing = 1.0 - pool->tokens;
	return missing <= 0 ? 0 : (int64_t)(missing * 10e6 / pool->s->cfg.scale_per_10s) + 1;
}

/* Whether mb more fit under --max-memory, counting idle environments as room. */
static bool mem_fits(const struct sched *s, uint32_t mb)
{
	return s->cfg.max_memory_mb == 0 || s->memory_mb - s->evictable_mb + mb <= s->cfg.max_memory_mb;
}

/* Makes room for mb: evicts idle environments, least recently used first. */
static bool mem_make_room(struct sched *s, uint32_t mb)
{
	if (!mem_fits(s, mb))
		return false;
	struct env *e;
	while (s->cfg.max_memory_mb && s->memory_mb + mb > s->cfg.max_memory_mb &&
	       (e = TAILQ_LAST(&s->lru, env_list))) {
		log_debug("sched: evicting an idle environment of %s for room", e->pool->name);
		s->evictions++;
		env_kill(e);
	}
	return true;
}

/* A cold start for inv now (its token and room are there). */
static void cold_start(struct sched *s, struct fn_pool *pool, struct invocation *inv)
{
	mem_make_room(s, inv->cfg->memory_mb);
	pool->tokens -= 1.0;
	inv->mem_mb = inv->cfg->memory_mb;
	s->memory_mb += inv->mem_mb;
	struct err e = {0};
	int r = env_start(s, pool, inv->cfg, inv, false, &e);
	if (r == -EWOULDBLOCK) {
		/* No blank sandbox yet: it comes from the pool thread, not from this loop. */
		inv->wait_pool = pool;
		TAILQ_INSERT_TAIL(&s->waiting, inv, wait_link);
	} else if (r < 0) {
		/* The runtime could not be started: Lambda reports this as a function error. */
		log_warn("sched: cannot start %s: %s", inv->cfg->name, e.msg);
		inv_fail(inv, "Runtime.InvalidEntrypoint", "RequestId: %s Error: %s", inv->request_id, e.msg);
	}
}

static struct env *pool_idle_env(struct fn_pool *pool, const char *revision)
{
	struct env *e;
	TAILQ_FOREACH(e, &pool->idle, idle_link)
	if (strcmp(e->cfg->revision_id, revision) == 0)
		return e;
	return NULL;
}

/* An environment starting without an invocation, which one can join. */
static struct env *pool_starting_env(struct fn_pool *pool, const char *revision)
{
	struct env *e;
	TAILQ_FOREACH(e, &pool->envs, pool_link)
	if (e->state == ENV_STARTING && !e->inv && strcmp(e->cfg->revision_id, revision) == 0)
		return e;
	return NULL;
}

static bool pool_busy_env(struct fn_pool *pool, const char *revision)
{
	struct env *e;
	TAILQ_FOREACH(e, &pool->envs, pool_link)
	if (e->state != ENV_DEAD && strcmp(e->cfg->revision_id, revision) == 0)
		return true;
	return false;
}

static uint32_t pool_warm_wanted(const struct fn_pool *pool)
{
	if (!pool->cfg || pool->warm_failures >= WARM_MAX_FAILURES)
		return 0;
	uint32_t deficit =
	    pool->sc.provisioned > pool->n_provisioned ? pool->sc.provisioned - pool->n_provisioned : 0;
	return deficit + pool->prewarm;
}

/* Serves what waits in pool: queued invocations first, then starts without one.
 * Returns whether something still waits (a token, room or a blank sandbox). */
static bool pool_serve(struct sched *s, struct fn_pool *pool)
{
	struct invocation *inv;
	while ((inv = TAILQ_FIRST(&pool->queued))) {
		struct env *e = pool_idle_env(pool, inv->cfg->revision_id);
		if (e) {
			TAILQ_REMOVE(&pool->queued, inv, wait_link);
			inv->queued = false;
			env_unidle(e);
			s->warm_starts++;
			env_take(e, inv);
			continue;
		}
		if (!pool_has_token(pool) || !mem_fits(s, inv->cfg->memory_mb))
			return true;
		TAILQ_REMOVE(&pool->queued, inv, wait_link);
		inv->queued = false;
		cold_start(s, pool, inv);
	}
	while (pool_warm_wanted(pool) > 0) {
		if (!pool_has_token(pool) || !mem_make_room(s, pool->cfg->memory_mb))
			return true;
		bool prov = pool->sc.provisioned > pool->n_provisioned;
		struct err e = {0};
		int r = env_start(s, pool, pool->cfg, NULL, prov, &e);
		if (r == -EWOULDBLOCK)
			return true;
		if (r < 0) {
			log_warn("sched: cannot pre-start %s: %s", pool->name, e.msg);
			pool->warm_failures = WARM_MAX_FAILURES;
			return false;
		}
		pool->tokens -= 1.0;
		if (!prov)
			pool->prewarm--;
	}
	return false;
}

/* Serves every pool in the kick list; arms the timer for the next token if one waits. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	int64_t wait_us = -1;
	if (s->stopping)
		return;
	struct fn_pool *pool, *tmp;
	for (pool = TAILQ_FIRST(&s->kick_list); pool; pool = tmp) {
		tmp = TAILQ_NEXT(pool, kick_link);
		if (pool_serve(s, pool)) {
			int64_t w = pool_has_token(pool) ? 0 : pool_token_wait_us(pool);
			if (w > 0 && (wait_us < 0 || w < wait_us))
				wait_us = w;
			continue;
		}
		TAILQ_REMOVE(&s->kick_list, pool, kick_link);
		pool->kick = false;
	}
	if (wait_us > 0) {
		struct timeval tv = {.tv_sec = wait_us / 1000000, .tv_usec = wait_us % 1000000};
		evtimer_add(s->kick_ev, &tv);
	}
}

/* Serves pool (NULL: every waiting pool) on the next loop turn. */
static void sched_kick(struct sched *s, struct fn_pool *pool)
{
	if (pool && !pool->kick) {
		pool->kick = true;
		TAILQ_INSERT_TAIL(&s->kick_list, pool, kick_link);
	}
	if (s->kick_ev && !s->stopping && !TAILQ_EMPTY(&s->kick_list))
		event_active(s->kick_ev, EV_TIMEOUT, 0);
}

int sched_invoke(struct sched *s, const struct sched_invoke_args *a, struct err *errp)
{
	struct fn_pool *pool = pool_get(s, a->cfg->name, errp);
	if (!pool)
		return -errp->code;
	const char *reason = limit_reached(s, pool);
	const char *rev = a->cfg->revision_id;
	struct env *e = reason ? NULL : pool_idle_env(pool, rev);
	struct env *starting = reason || e ? NULL : pool_starting_env(pool, rev);
	bool cold = !reason && !e && !starting;
	/* Waits for an environment when the scaling rate or memory allows no start now. */
	bool queue =
	    cold && (!TAILQ_EMPTY(&pool->queued) || !pool_has_token(pool) || !mem_fits(s, a->cfg->memory_mb));
	if (queue && !mem_fits(s, a->cfg->memory_mb) && !pool_busy_env(pool, rev))
		reason = "ConcurrentInvocationLimitExceeded"; /* nothing of its own would ever free up */
	if (reason) {
		pool->st.throttles++;
		s->throttles++;
		return err_make(errp, EAGAIN, "%s", reason);
	}
	struct invocation *inv = xcalloc(1, sizeof(*inv));
	inv->s = s;
	inv->pool = pool;
	inv->cfg = fn_config_ref(a->cfg);
	if (a->request_id)
		snprintf(inv->request_id, sizeof(inv->request_id), "%s", a->request_id);
	else
		uuid_v4(inv->request_id);
	make_trace_id(inv->trace_id);
	inv->payload = evbuffer_new();
	evbuffer_add_buffer(inv->payload, a->payload);
	inv->client_context = xstrdup(a->client_context);
	inv->want_tail = a->want_tail;
	logtail_init(&inv->tail);
	inv->cb = a->cb;
	inv->stream_cb = a->stream_cb;
	inv->arg = a->arg;
	s->inflight++;
	pool->inflight++;
	inv->unreserved = pool->sc.reserved < 0;
	if (inv->unreserved)
		s->unreserved_inflight++;
	pool_count_invoke(pool);
	if (!pool->cfg || strcmp(pool->cfg->revision_id, rev) != 0) {
		fn_config_unref(pool->cfg);
		pool->cfg = fn_config_ref(a->cfg);
	}
	if (e) {
		/* A warm environment of the same revision, most recently used first. */
		env_unidle(e);
		s->warm_starts++;
		env_take(e, inv);
	} else if (starting) {
		/* A pre-warm start on its way: this invocation is its first. */
		starting->inv = inv;
		inv->env = starting;
		inv->cold = true;
		s->cold_starts++;
	} else if (queue) {
		inv->queued = true;
		TAILQ_INSERT_TAIL(&pool->queued, inv, wait_link);
		sched_kick(s, pool);
	} else {
		cold_start(s, pool, inv);
	}
	return 0;
}

void sched_function_changed(struct sched *s, const char *name, const struct fn_config *cur)
{
	struct fn_pool *pool = pool_find(s, name);
	if (!pool)
		return;
	fn_config_unref(pool->cfg);
	pool->cfg = cur ? fn_config_ref((struct fn_config *)cur) : NULL;
	pool->prewarm = 0;
	if (!cur) {
		if (pool->sc.reserved >= 0)
			s->reserved_sum -= (uint32_t)pool->sc.reserved;
		pool->sc = FN_SCALING_DEFAULT;
	}
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
	pool->warm_failures = 0;
	if (pool_warm_wanted(pool))
		sched_kick(s, pool);
}

void sched_set_scaling(struct sched *s, const char *name, const struct fn_config *cfg,
                       const struct fn_scaling *sc)
{
	struct err e = {0};
	struct fn_pool *pool = pool_get(s, name, &e);
	if (!pool) {
		log_warn("sched: %s: %s", name, e.msg);
		return;
	}
	if (pool->sc.reserved >= 0)
		s->reserved_sum -= (uint32_t)pool->sc.reserved;
	if (sc->reserved >= 0)
		s->reserved_sum += (uint32_t)sc->reserved;
	bool keep_alive_changed = sc->keep_alive_ms != pool->sc.keep_alive_ms;
	pool->sc = *sc;
	if (cfg && (!pool->cfg || strcmp(pool->cfg->revision_id, cfg->revision_id) != 0)) {
		fn_config_unref(pool->cfg);
		pool->cfg = fn_config_ref((struct fn_config *)cfg);
	}
	pool->warm_failures = 0;
	/* Provisioned environments beyond the new count become ordinary idle ones. */
	struct env *env, *tmp;
	for (env = TAILQ_FIRST(&pool->envs); env; env = tmp) {
		tmp = TAILQ_NEXT(env, pool_link);
		bool extra = env->provisioned && pool->n_provisioned > sc->provisioned;
		if (!extra && !(keep_alive_changed && env->state == ENV_IDLE && !env->provisioned))
			continue;
		bool idle = env->state == ENV_IDLE;
		if (idle)
			env_unidle(env);
		if (extra) {
			env->provisioned = false;
			pool->n_provisioned--;
		}
		if (idle) {
			/* Back to idle with the keep-alive now in force (0: stop it). */
			if (pool_keep_alive_ms(pool) == 0)
				env_kill(env);
			else
				env_make_idle(env);
		}
	}
	if (pool_warm_wanted(pool))
		sched_kick(s, pool);
}

uint32_t sched_prewarm(struct sched *s, const struct fn_config *cfg, uint32_t n)
{
	struct err e = {0};
	struct fn_pool *pool = pool_get(s, cfg->name, &e);
	if (!pool)
		return 0;
	if (!pool->cfg || strcmp(pool->cfg->revision_id, cfg->revision_id) != 0) {
		fn_config_unref(pool->cfg);
		pool->cfg = fn_config_ref((struct fn_config *)cfg);
	}
	/* What fits in memory now, counting what is already asked for. */
	uint64_t room = UINT64_MAX;
	if (s->cfg.max_memory_mb) {
		uint64_t used =
		    s->memory_mb - s->evictable_mb + (uint64_t)pool_warm_wanted(pool) * cfg->memory_mb;
		room = used < s->cfg.max_memory_mb ? (s->cfg.max_memory_mb - used) / cfg->memory_mb : 0;
	}
	if (n > room)
		n = (uint32_t)room;
	pool->warm_failures = 0;
	pool->prewarm += n;
	if (n)
		sched_kick(s, pool);
	return n;
}

uint32_t sched_provisioned_ready(const struct sched *s, const char *name)
{
	const struct fn_pool *pool = pool_find((struct sched *)s, name);
	uint32_t n = 0;
	const struct env *e;
	if (pool)
		TAILQ_FOREACH(e, &pool->envs, pool_link)
	if (e->provisioned && e->initialized)
		n++;
	return n;
}

void sched_foreach_fn(const struct sched *s,
                      void (*cb)(const char *name, const struct sched_fn_stats *st, void *arg), void *arg)
{
	for (unsigned b = 0; b < POOL_BUCKETS; b++)
		for (struct fn_pool *p = s->pools[b]; p; p = p->next) {
			struct sched_fn_stats st = p->st;
			st.concurrent = p->inflight;
			const struct env *e;
			TAILQ_FOREACH(e, &p->envs, pool_link)
			{
				st.env_starting += e->state == ENV_STARTING;
				st.env_idle += e->state == ENV_IDLE;
				st.env_busy += e->state == ENV_BUSY;
				st.provisioned_ready += e->provisioned && e->initialized;
			}
			cb(p->name, &st, arg);
		}
}

uint32_t sched_inflight(const struct sched *s)
{
	return s->inflight;
}

void sched_counts(const struct sched *s, struct sched_counts *c)
{
	c->envs = s->n_envs;
	c->idle = s->n_idle;
	c->inflight = s->inflight;
	c->cold_starts = s->cold_starts;
	c->warm_starts = s->warm_starts;
	c->throttles = s->throttles;
	c->evictions = s->evictions;
	c->memory_mb = s->memory_mb;
}
