/* The scheduler's API: sched_new over a backend, invocations in (sched_invoke), the
 * functions' scaling settings and updates, pre-warming, and shutdown. The rest lives in
 * invoke.c env.c pool.c limits.c stats.c report.c; the real backend in backend.c. */
#include "sched/sched.h"

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "sched/sched_int.h"

int sched_new_with(struct event_base *base, const struct sched_config *cfg, struct sched_backend backend,
                   struct sched **out, struct err *errp)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->be = backend;
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
	map_init(&s->pools, 0);
	TAILQ_INIT(&s->envs);
	TAILQ_INIT(&s->lru);
	TAILQ_INIT(&s->kick_list);
	s->kick_ev = event_new(base, -1, 0, sched__kick_cb, s);
	s->flush_timer = event_new(base, -1, EV_PERSIST, sched__flush_timer_cb, s);
	struct timeval tv = {0, 250000};
	evtimer_add(s->flush_timer, &tv);
	*out = s;
	return 0;
}

int sched_new(struct event_base *base, struct store *store, const struct sched_config *cfg,
              struct sched **out, struct err *errp)
{
	struct sched_backend be;
	int r = sched_backend_sandbox_new(base, store, &be, errp);
	if (r < 0)
		return r;
	return sched_new_with(base, cfg, be, out, errp);
}

void sched_stop(struct sched *s)
{
	if (!s || s->stopping)
		return;
	s->stopping = true;
	struct invocation *inv;
	struct fn_pool *p;
	MAP_FOREACH_VALUE(&s->pools, p) {
		while ((inv = TAILQ_FIRST(&p->queued))) {
			TAILQ_REMOVE(&p->queued, inv, wait_link);
			inv->queued = false;
			inv->system_error = true;
			sched__inv_fail(inv, "ServiceException", "lambdad is shutting down");
		}
	}
	struct env *e;
	while ((e = TAILQ_FIRST(&s->envs))) {
		if (e->inv) {
			e->inv->system_error = true;
			e->retire = true;
			sched__inv_fail(e->inv, "ServiceException", "lambdad is shutting down");
		}
		sched__env_kill(e);
	}
	/* Let deferred frees run. */
	event_base_loop(s->base, EVLOOP_NONBLOCK);
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	sched_stop(s);
	sched__pool_free_all(s);
	event_free(s->kick_ev);
	event_free(s->flush_timer);
	if (s->be.ops && s->be.ops->free)
		s->be.ops->free(s->be.be);
	free(s->logs_dir);
	free(s->region);
	free(s->account);
	free(s);
}

char *sched_pool_key(const struct fn_config *cfg)
{
	return cfg->version[0] ? xasprintf("%s:%s", cfg->name, cfg->version) : xstrdup(cfg->name);
}

int sched_invoke(struct sched *s, const struct sched_invoke_args *a, struct err *errp)
{
	if (s->stopping)
		return err_make(errp, ESHUTDOWN, "lambdad is shutting down");
	autofree char *key = sched_pool_key(a->cfg);
	struct fn_pool *pool = sched__pool_get(s, key, errp);
	if (!pool)
		return -errp->code;
	int reason = sched__limit_reached(s, pool);
	const char *why = reason == SCHED_THROTTLE_RESERVED ? "its reserved concurrency is in use"
	                                                    : "the account's concurrency limit is reached";
	const char *rev = a->cfg->revision_id;
	struct env *e = reason ? NULL : sched__pool_idle_env(pool, rev);
	struct env *starting = reason || e ? NULL : sched__pool_starting_env(pool, rev);
	bool cold = !reason && !e && !starting;
	/* Waits for an environment when the scaling rate or memory allows no start now. */
	bool queue = cold && (!TAILQ_EMPTY(&pool->queued) || !sched__has_token(pool) ||
	                      !sched__mem_fits(s, a->cfg->memory_mb));
	if (queue && !sched__mem_fits(s, a->cfg->memory_mb) && !sched__pool_has_env(pool, rev)) {
		/* Nothing of its own would ever free up: Lambda calls it the account's limit. */
		reason = SCHED_THROTTLE_ACCOUNT;
		why = "--max-memory leaves no room for another environment";
	}
	if (reason) {
		pool->st.throttles++;
		s->throttles++;
		err_make(errp, EAGAIN, "%s throttled: %s", a->cfg->name, why);
		if (errp)
			errp->reason = reason;
		return -EAGAIN;
	}
	struct invocation *inv = sched__inv_new(s, pool, a);
	sched__pool_set_cfg(pool, a->cfg);
	if (e) {
		/* A warm environment of the same revision, most recently used first. */
		sched__env_unidle(e);
		s->warm_starts++;
		sched__env_take(e, inv);
	} else if (starting) {
		/* A pre-warm start on its way: this invocation is its first. */
		starting->inv = inv;
		inv->env = starting;
		inv->cold = true;
		s->cold_starts++;
	} else if (queue) {
		inv->queued = true;
		TAILQ_INSERT_TAIL(&pool->queued, inv, wait_link);
		sched__kick(s, pool);
	} else {
		sched__cold_start(s, pool, inv);
	}
	return 0;
}

void sched_function_changed(struct sched *s, const char *name, struct fn_config *cur)
{
	struct fn_pool *pool = sched__pool_find(s, name);
	if (!pool)
		return;
	fn_config_unref(pool->cfg);
	pool->cfg = cur ? fn_config_ref(cur) : NULL;
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
			sched__env_kill(e);
	}
	pool->warm_failures = 0;
	if (sched__pool_warm_wanted(pool))
		sched__kick(s, pool);
}

void sched_set_scaling(struct sched *s, const char *name, struct fn_config *cfg, const struct fn_scaling *sc)
{
	struct err e = {0};
	struct fn_pool *pool = sched__pool_get(s, name, &e);
	if (!pool) {
		log_warn("sched: %s: %s", name, e.msg);
		return;
	}
	if (pool->sc.reserved >= 0)
		s->reserved_sum -= (uint32_t)pool->sc.reserved;
	bool keep_alive_changed = sc->keep_alive_ms != pool->sc.keep_alive_ms;
	pool->sc = *sc;
	if (pool->fn != pool)
		pool->sc.reserved = -1; /* the function's, on its own pool */
	if (pool->sc.reserved >= 0)
		s->reserved_sum += (uint32_t)pool->sc.reserved;
	if (cfg)
		sched__pool_set_cfg(pool, cfg);
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
			sched__env_unidle(env);
		if (extra) {
			env->provisioned = false;
			pool->n_provisioned--;
		}
		if (idle) {
			/* Back to idle with the keep-alive now in force (0: stop it). */
			if (sched__pool_keep_alive_ms(pool) == 0)
				sched__env_kill(env);
			else
				sched__env_make_idle(env);
		}
	}
	if (sched__pool_warm_wanted(pool))
		sched__kick(s, pool);
}

uint32_t sched_prewarm(struct sched *s, struct fn_config *cfg, uint32_t n)
{
	struct err e = {0};
	autofree char *key = sched_pool_key(cfg);
	struct fn_pool *pool = sched__pool_get(s, key, &e);
	if (!pool)
		return 0;
	sched__pool_set_cfg(pool, cfg);
	/* What fits in memory now, counting what is already asked for. */
	uint64_t room = UINT64_MAX;
	if (s->cfg.max_memory_mb) {
		uint64_t used =
		    s->memory_mb - s->evictable_mb + (uint64_t)sched__pool_warm_wanted(pool) * cfg->memory_mb;
		room = used < s->cfg.max_memory_mb ? (s->cfg.max_memory_mb - used) / cfg->memory_mb : 0;
	}
	if (n > room)
		n = (uint32_t)room;
	pool->warm_failures = 0;
	pool->prewarm += n;
	if (n)
		sched__kick(s, pool);
	return n;
}
