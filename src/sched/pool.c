/* The pools of execution environments, one per version of a function (a hash table by
 * "name" for $LATEST and "name:N" for its versions), and
 * serving what waits in them: queued invocations first, then starts without one. */
#include <errno.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "sched/sched_int.h"

struct fn_pool *sched__pool_find(const struct sched *s, const char *name)
{
	return map_get(&s->pools, name);
}

struct fn_pool *sched__pool_get(struct sched *s, const char *name, struct err *errp)
{
	struct fn_pool *p = sched__pool_find(s, name);
	if (p)
		return p;
	const char *colon = strchr(name, ':');
	struct fn_pool *fn = NULL;
	struct logs_file *log = NULL;
	if (colon) {
		char base[FN_NAME_MAX + 1];
		snprintf(base, sizeof(base), "%.*s", (int)(colon - name), name);
		if (!(fn = sched__pool_get(s, base, errp)))
			return NULL;
	} else if (!(log = logs_file_new(s->logs_dir, name, errp))) {
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->name = xstrdup(name);
	p->fn = fn ? fn : p;
	p->log = fn ? fn->log : log;
	TAILQ_INIT(&p->envs);
	TAILQ_INIT(&p->idle);
	TAILQ_INIT(&p->queued);
	p->sc = FN_SCALING_DEFAULT;
	p->tokens = s->cfg.scale_per_10s;
	p->tokens_us = clock_mono_us();
	map_put(&s->pools, name, p, NULL);
	return p;
}

static void pool_free(void *v)
{
	struct fn_pool *p = v;
	if (p->fn == p)
		logs_file_free(p->log);
	fn_config_unref(p->cfg);
	free(p->name);
	free(p);
}

void sched__pool_free_all(struct sched *s)
{
	map_fini(&s->pools, pool_free);
}

void sched__pool_set_cfg(struct fn_pool *pool, struct fn_config *cfg)
{
	if (cfg && pool->cfg && strcmp(pool->cfg->revision_id, cfg->revision_id) == 0)
		return;
	fn_config_unref(pool->cfg);
	pool->cfg = cfg ? fn_config_ref(cfg) : NULL;
}

struct env *sched__pool_idle_env(struct fn_pool *pool, const char *revision)
{
	/* One that answered but has not asked for more may be on its way out (a runtime
	 * that exits after reporting an uncaught error): one that waits goes first. */
	struct env *e, *any = NULL;
	TAILQ_FOREACH(e, &pool->idle, idle_link) {
		if (strcmp(e->cfg->revision_id, revision) != 0)
			continue;
		if (e->rt && rtapi_ready(e->rt))
			return e;
		if (!any)
			any = e;
	}
	return any;
}

struct env *sched__pool_starting_env(struct fn_pool *pool, const char *revision)
{
	struct env *e;
	TAILQ_FOREACH(e, &pool->envs, pool_link)
		if (e->state == ENV_STARTING && !e->inv && strcmp(e->cfg->revision_id, revision) == 0)
			return e;
	return NULL;
}

bool sched__pool_has_env(struct fn_pool *pool, const char *revision)
{
	struct env *e;
	TAILQ_FOREACH(e, &pool->envs, pool_link)
		if (e->state != ENV_DEAD && strcmp(e->cfg->revision_id, revision) == 0)
			return true;
	return false;
}

uint32_t sched__pool_warm_wanted(const struct fn_pool *pool)
{
	if (!pool->cfg || pool->warm_failures >= SCHED_WARM_MAX_FAILURES)
		return 0;
	uint32_t deficit =
	    pool->sc.provisioned > pool->n_provisioned ? pool->sc.provisioned - pool->n_provisioned : 0;
	return deficit + pool->prewarm;
}

int64_t sched__pool_keep_alive_ms(const struct fn_pool *pool)
{
	return pool->sc.keep_alive_ms >= 0 ? pool->sc.keep_alive_ms : pool->s->cfg.keep_alive_ms;
}

uint32_t sched__pool_live_envs(const struct fn_pool *pool)
{
	uint32_t n = 0;
	const struct env *e;
	TAILQ_FOREACH(e, &pool->envs, pool_link)
		n++;
	return n;
}

void sched__cold_start(struct sched *s, struct fn_pool *pool, struct invocation *inv)
{
	sched__mem_make_room(s, inv->cfg->memory_mb);
	pool->tokens -= 1.0;
	inv->mem_mb = inv->cfg->memory_mb;
	s->memory_mb += inv->mem_mb;
	struct err e = {0};
	if (sched__env_start(s, pool, inv->cfg, inv, false, &e) < 0) {
		/* The runtime could not be started: Lambda reports this as a function error. */
		log_warn("sched: cannot start %s: %s", inv->cfg->name, e.msg);
		sched__inv_fail(inv, "Runtime.InvalidEntrypoint", "RequestId: %s Error: %s", inv->request_id,
		                e.msg);
	}
}

void sched__inv_requeue(struct invocation *inv)
{
	struct fn_pool *pool = inv->pool;
	inv->requeues++;
	if (!inv->cold)
		inv->s->warm_starts--; /* it was counted as one when it took the environment */
	inv->queued = true;
	TAILQ_INSERT_HEAD(&pool->queued, inv, wait_link);
	sched__kick(inv->s, pool);
}

/* Serves what waits in pool: queued invocations first, then starts without one.
 * Returns whether something still waits (a token or room). */
static bool pool_serve(struct sched *s, struct fn_pool *pool)
{
	struct invocation *inv;
	while ((inv = TAILQ_FIRST(&pool->queued))) {
		struct env *e = sched__pool_idle_env(pool, inv->cfg->revision_id);
		if (e) {
			TAILQ_REMOVE(&pool->queued, inv, wait_link);
			inv->queued = false;
			sched__env_unidle(e);
			s->warm_starts++;
			sched__env_take(e, inv);
			continue;
		}
		if (!sched__has_token(pool) || !sched__mem_fits(s, inv->cfg->memory_mb))
			return true;
		TAILQ_REMOVE(&pool->queued, inv, wait_link);
		inv->queued = false;
		sched__cold_start(s, pool, inv);
	}
	while (sched__pool_warm_wanted(pool) > 0) {
		if (!sched__has_token(pool) || !sched__mem_make_room(s, pool->cfg->memory_mb))
			return true;
		bool prov = pool->sc.provisioned > pool->n_provisioned;
		struct err e = {0};
		if (sched__env_start(s, pool, pool->cfg, NULL, prov, &e) < 0) {
			log_warn("sched: cannot pre-start %s: %s", pool->name, e.msg);
			pool->warm_failures = SCHED_WARM_MAX_FAILURES;
			return false;
		}
		pool->tokens -= 1.0;
		if (!prov)
			pool->prewarm--;
	}
	return false;
}

/* Serves every pool in the kick list; arms the timer for the next token if one waits. */
void sched__kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	int64_t wait_us = -1;
	if (s->stopping)
		return;
	struct fn_pool *pool, *tmp;
	for (pool = TAILQ_FIRST(&s->kick_list); pool; pool = tmp) {
		tmp = TAILQ_NEXT(pool, kick_link);
		if (pool_serve(s, pool)) {
			int64_t w = sched__has_token(pool) ? 0 : sched__token_wait_us(pool);
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

void sched__kick(struct sched *s, struct fn_pool *pool)
{
	if (pool && !pool->kick) {
		pool->kick = true;
		TAILQ_INSERT_TAIL(&s->kick_list, pool, kick_link);
	}
	if (s->kick_ev && !s->stopping && !TAILQ_EMPTY(&s->kick_list))
		event_active(s->kick_ev, EV_TIMEOUT, 0);
}
