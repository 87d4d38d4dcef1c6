/* What the scheduler counts: duration histograms, per-function figures, the "hot"
 * window that keeps a busy function warm, and the counts for metrics and tests. */
#include <string.h>

#include "base/clock.h"
#include "sched/sched_int.h"

const double sched_hist_bounds_ms[SCHED_HIST_BUCKETS] = {1,   5,    10,   25,    50,    100,    250,
                                                         500, 1000, 2500, 10000, 30000, 120000, 900000};

void sched__hist_observe(struct sched_hist *h, double ms)
{
	unsigned i = 0;
	while (i < SCHED_HIST_BUCKETS && ms > sched_hist_bounds_ms[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum_ms += ms;
}

/* Counts an invocation towards the function's "hot" windows. */
void sched__count_invoke(struct fn_pool *pool)
{
	int64_t now = clock_mono_us();
	if (now - pool->window_start_us >= SCHED_HOT_WINDOW_US) {
		bool adjacent = now - pool->window_start_us < 2 * SCHED_HOT_WINDOW_US;
		pool->window_invokes[1] = adjacent ? pool->window_invokes[0] : 0;
		pool->window_invokes[0] = 0;
		pool->window_start_us = now;
	}
	pool->window_invokes[0]++;
}

bool sched__pool_hot(struct fn_pool *pool)
{
	int64_t age = clock_mono_us() - pool->window_start_us;
	if (age >= 2 * SCHED_HOT_WINDOW_US)
		return false;
	uint64_t n = pool->window_invokes[0] + (age < SCHED_HOT_WINDOW_US ? pool->window_invokes[1] : 0);
	return n >= SCHED_HOT_MIN_INVOKES;
}

uint32_t sched_provisioned_ready(const struct sched *s, const char *name)
{
	const struct fn_pool *pool = sched__pool_find(s, name);
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
	struct fn_pool *p;
	MAP_FOREACH_VALUE(&s->pools, p) {
		struct sched_fn_stats st = p->st;
		st.concurrent = p->inflight;
		const struct env *e;
		TAILQ_FOREACH(e, &p->envs, pool_link) {
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
