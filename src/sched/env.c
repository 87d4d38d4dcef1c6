/* Execution environments: started through the backend (a cold start with its first
 * invocation, or warm without one), idle and frozen between invocations, reaped after
 * the keep-alive, killed on a timeout, a crash, an update or for room. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"
#include "runtimes/hostrt.h"
#include "sandbox/sandbox.h"
#include "sched/sched_int.h"

static void env_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	if (e->state == ENV_IDLE) {
		struct fn_pool *pool = e->pool;
		/* A function invoked often keeps a warm environment past the server's keep-alive. */
		if (pool->sc.keep_alive_ms < 0 && sched__pool_hot(pool) &&
		    sched__pool_live_envs(pool) <= SCHED_HOT_KEEP) {
			struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
			evtimer_add(e->timer, &tv);
			return;
		}
		log_debug("sched: reaping idle environment %s of %s", e->stream, pool->name);
		sched__env_kill(e);
		return;
	}
	if (e->state == ENV_STARTING && !e->initialized) {
		struct invocation *inv = e->inv;
		e->retire = true;
		if (inv) {
			sched__env_drain_output(e);
			snprintf(inv->report_error, sizeof(inv->report_error), "Runtime.InitTimeout");
			sched__inv_fail(
			    inv, "Runtime.InitTimeout",
			    "RequestId: %s Error: Runtime did not ask for an event within %.2f seconds "
			    "of starting",
			    inv->request_id, (double)e->s->cfg.init_timeout_ms / 1000.0);
		} else {
			sched__env_kill(e);
		}
	}
}

/* As Lambda does, an idle environment does not run: what a function left running after
 * its answer is frozen (cgroup freezer) shortly after it, until the next event. The
 * delay spares back-to-back invocations a freeze and thaw each. Only a runtime that
 * waits for its next event is frozen, as on Lambda: one that has not asked yet may be
 * on its way out (an uncaught error reported, then exit), and frozen it would never
 * get there; rt_next_cb arms the freeze again when it asks. */
static void freeze_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	if (e->state == ENV_IDLE && e->created && !e->frozen && e->rt && rtapi_ready(e->rt) &&
	    e->s->be.ops->freeze(e->h, true) == 0)
		e->frozen = true;
}

static void env_thaw(struct env *e)
{
	if (e->freeze_ev)
		evtimer_del(e->freeze_ev);
	if (e->frozen && e->created)
		e->s->be.ops->freeze(e->h, false);
	e->frozen = false;
}

/* The environment has nothing to do: the first invocation queued for the function
 * takes it, or it waits for one, frozen, until its keep-alive ends (provisioned ones
 * stay). */
void sched__env_make_idle(struct env *e)
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
		sched__env_take(e, inv);
		return;
	}
	e->state = ENV_IDLE;
	TAILQ_INSERT_HEAD(&pool->idle, e, idle_link);
	s->n_idle++;
	if (!e->provisioned) {
		TAILQ_INSERT_HEAD(&s->lru, e, lru_link);
		s->evictable_mb += e->mem_mb;
		int64_t ka = sched__pool_keep_alive_ms(pool);
		struct timeval tv = {.tv_sec = ka / 1000, .tv_usec = (ka % 1000) * 1000};
		evtimer_add(e->timer, &tv);
	}
	if (e->freeze_ev) {
		struct timeval ftv = {0, SCHED_FREEZE_DELAY_MS * 1000};
		evtimer_add(e->freeze_ev, &ftv);
	}
	/* Its memory may now be evicted for a start that waits for room. */
	if (!TAILQ_EMPTY(&s->kick_list))
		sched__kick(s, NULL);
}

void sched__env_unidle(struct env *e)
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
void sched__env_take(struct env *e, struct invocation *inv)
{
	e->state = ENV_BUSY;
	e->inv = inv;
	inv->env = e;
	sched__env_deliver(e);
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
	logs_split_fini(&e->split);
	fn_config_unref(e->cfg);
	free(e);
}

/* Kills the environment's processes and takes it out of every list; the struct
 * is freed on the next loop turn. An invocation still in flight must have been
 * finished by the caller. */
void sched__env_kill(struct env *e)
{
	if (e->state == ENV_DEAD)
		return;
	struct sched *s = e->s;
	LD_ASSERT(e->inv == NULL);
	sched__env_unidle(e);
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
			sched__kick(s, e->pool);
	}
	if (!TAILQ_EMPTY(&s->kick_list))
		sched__kick(s, NULL);
	if (e->log_ev)
		event_del(e->log_ev);
	evtimer_del(e->timer);
	if (e->freeze_ev)
		evtimer_del(e->freeze_ev);
	rtapi_free(e->rt);
	e->rt = NULL;
	s->be.ops->env_free(e->h);
	e->h = NULL;
	e->created = false;
	struct timeval zero = {0, 0};
	event_base_once(s->base, -1, EV_TIMEOUT, env_free_cb, e, &zero);
}

/* ---- the environment variables ---- */

struct envvars {
	char **v; /* "KEY=value", owned */
	size_t n, cap;
};

/* Sets key (replacing an earlier value of it). */
static void envvars_set(struct envvars *ev, const char *key, const char *value)
{
	size_t klen = strlen(key);
	char *kv = xasprintf("%s=%s", key, value);
	for (size_t i = 0; i < ev->n; i++)
		if (strncmp(ev->v[i], key, klen) == 0 && ev->v[i][klen] == '=') {
			free(ev->v[i]);
			ev->v[i] = kv;
			return;
		}
	if (ev->n + 2 > ev->cap) {
		ev->cap = ev->cap ? ev->cap * 2 : 32;
		ev->v = xrealloc(ev->v, ev->cap * sizeof(char *));
	}
	ev->v[ev->n++] = kv;
	ev->v[ev->n] = NULL;
}

char **sched__env_build_envp(const struct env *e)
{
	const struct fn_config *c = e->cfg;
	const struct sched *s = e->s;
	struct envvars ev = {0};
	/* Platform defaults that a function may override, then its own, then the reserved ones. */
	envvars_set(&ev, "PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin");
	envvars_set(&ev, "LANG", "en_US.UTF-8");
	envvars_set(&ev, "TZ", ":UTC");
	envvars_set(
	    &ev, "LD_LIBRARY_PATH",
	    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib");
	const char *k;
	json_t *v;
	json_object_foreach(c->env_vars, k, v)
		if (json_is_string(v))
			envvars_set(&ev, k, json_string_value(v));
	/* AWS_LAMBDA_RUNTIME_API and LAMBDA_TASK_ROOT come from the sandbox. */
	envvars_set(&ev, "_HANDLER", c->handler);
	envvars_set(&ev, "LAMBDA_RUNTIME_DIR", "/var/runtime");
	envvars_set(&ev, "AWS_LAMBDA_FUNCTION_NAME", c->name);
	envvars_set(&ev, "AWS_LAMBDA_FUNCTION_VERSION", fn_version(e->cfg));
	char buf[64];
	snprintf(buf, sizeof(buf), "%u", c->memory_mb);
	envvars_set(&ev, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", buf);
	autofree char *group = xasprintf("/aws/lambda/%s", c->name);
	envvars_set(&ev, "AWS_LAMBDA_LOG_GROUP_NAME", group);
	envvars_set(&ev, "AWS_LAMBDA_LOG_STREAM_NAME", e->stream);
	envvars_set(&ev, "AWS_LAMBDA_INITIALIZATION_TYPE",
	            e->provisioned ? "provisioned-concurrency" : "on-demand");
	envvars_set(&ev, "AWS_REGION", s->region);
	envvars_set(&ev, "AWS_DEFAULT_REGION", s->region);
	/* As Lambda's managed runtimes say which they are (provided* ones say nothing). */
	if (strcmp(fn_runtime_family(c->runtime), "provided") != 0) {
		autofree char *exec_env = xasprintf("AWS_Lambda_%s", c->runtime);
		envvars_set(&ev, "AWS_EXECUTION_ENV", exec_env);
	}
	/* No STS here: the role's credentials are placeholders a local endpoint accepts, or
	 * (--auth sigv4) the root key, without a session token, until roles are real. */
	if (s->cfg.access_key_id && s->cfg.secret_access_key) {
		envvars_set(&ev, "AWS_ACCESS_KEY_ID", s->cfg.access_key_id);
		envvars_set(&ev, "AWS_SECRET_ACCESS_KEY", s->cfg.secret_access_key);
	} else {
		envvars_set(&ev, "AWS_ACCESS_KEY_ID", "LAMBDADLOCALKEY");
		envvars_set(&ev, "AWS_SECRET_ACCESS_KEY", "lambdad-local-secret");
		envvars_set(&ev, "AWS_SESSION_TOKEN", "lambdad-local-session");
	}
	/* Our managed runtimes: the interpreter (--runtime-path) and the log framing, one
	 * frame per record on stdout, as AWS's runtimes write to their telemetry fd. */
	struct hostrt_info hi;
	if (hostrt_lookup(c->runtime, &hi)) {
		if (strcmp(fn_runtime_family(c->runtime), "node") == 0)
			envvars_set(&ev, "LAMBDAD_NODE", hi.path);
		envvars_set(&ev, "_LAMBDA_TELEMETRY_LOG_FD", "1");
	}
	return ev.v;
}

void sched__free_envp(char **envp)
{
	for (char **p = envp; p && *p; p++)
		free(*p);
	free(envp);
}

/* ---- what the backend reports ---- */

static void env_ready_cb(void *arg, int rc, const struct err *err)
{
	struct env *e = arg;
	struct sched *s = e->s;
	struct err re = {0};
	if (rc == 0)
		e->created = true;
	if (rc == 0 && (rc = s->be.ops->serve(e->h, &sched__rtapi_ops, e, &e->rt, &re)) < 0)
		err = &re;
	if (rc < 0) {
		e->retire = true;
		if (e->inv) {
			/* The runtime could not be started: Lambda reports this as a function error. */
			log_warn("sched: cannot start %s: %s", e->cfg->name, err->msg);
			snprintf(e->inv->report_error, sizeof(e->inv->report_error),
			         "Runtime.InvalidEntrypoint");
			sched__inv_fail(e->inv, "Runtime.InvalidEntrypoint", "RequestId: %s Error: %s",
			                e->inv->request_id, err->msg);
		} else {
			log_warn("sched: cannot pre-start %s: %s", e->cfg->name, err->msg);
			sched__env_kill(e);
		}
		return;
	}
	if (s->be.ops->can_freeze(e->h))
		e->freeze_ev = evtimer_new(s->base, freeze_cb, e);
	e->log_ev = event_new(s->base, s->be.ops->log_fd(e->h), EV_READ | EV_PERSIST, sched__log_read_cb, e);
	event_add(e->log_ev, NULL);
	struct timeval tv = {.tv_sec = s->cfg.init_timeout_ms / 1000,
	                     .tv_usec = (s->cfg.init_timeout_ms % 1000) * 1000};
	evtimer_add(e->timer, &tv);
}

static void env_exit_cb(void *arg, int status, bool oom)
{
	struct env *e = arg;
	char why[96];
	sandbox_describe_status(status, why, sizeof(why));
	log_debug("sched: environment of %s ended: %s", e->pool->name, why);
	sched__env_drain_output(e);
	sched__env_flush_partial_line(e);
	struct invocation *inv = e->inv;
	e->retire = true;
	if (inv && !inv->delivered && e->initialized && inv->requeues < SCHED_MAX_REQUEUES) {
		/* It ended between two invocations: after it answered the last one (a runtime
		 * that reports an uncaught error and exits) and before it asked for inv. inv
		 * was never sent to it, so it is not this environment's to fail: it goes to
		 * another one, as on Lambda, where a crashed environment is never reused. */
		e->inv = NULL;
		inv->env = NULL;
		sched__env_kill(e);
		sched__inv_requeue(inv);
		return;
	}
	if (inv) {
		/* Killed by the cgroup's OOM killer: Lambda's Runtime.OutOfMemory. */
		const char *type = oom ? "Runtime.OutOfMemory" : "Runtime.ExitError";
		sched__env_logf(e, "RequestId: %s Error: Runtime exited with error: %s", inv->request_id,
		                why);
		sched__env_logf(e, "%s", type);
		snprintf(inv->report_error, sizeof(inv->report_error), "%s", type);
		sched__inv_fail(inv, type, "RequestId: %s Error: Runtime exited with error: %s",
		                inv->request_id, why);
	} else {
		sched__env_kill(e);
	}
}

static const struct sched_benv_cbs env_benv_cbs = {.ready_cb = env_ready_cb, .exit_cb = env_exit_cb};

int sched__env_start(struct sched *s, struct fn_pool *pool, struct fn_config *cfg, struct invocation *inv,
                     bool provisioned, struct err *errp)
{
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
	char **envp = sched__env_build_envp(e);
	struct sched_env_spec spec = {.cfg = cfg, .envp = envp};
	int r = s->be.ops->env_new(s->be.be, &spec, &env_benv_cbs, e, &e->h, errp);
	sched__free_envp(envp);
	if (r < 0) {
		env_free_cb(-1, 0, e);
		return r;
	}
	TAILQ_INSERT_TAIL(&s->envs, e, all_link);
	TAILQ_INSERT_TAIL(&pool->envs, e, pool_link);
	s->n_envs++;
	sched__report_init_start(e);
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
	log_debug("sched: %s start of %s",
	          inv           ? "cold"
	          : provisioned ? "provisioned"
	                        : "pre-warm",
	          cfg->name);
	return 0;
}
