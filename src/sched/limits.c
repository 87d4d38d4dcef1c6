/* The scheduler's limits: account and reserved concurrency, the scaling rate (a token
 * bucket per function) and --max-memory, with idle environments evicted for room. */
#include <lambdad/log.h>

#include "base/clock.h"
#include "sched/sched_int.h"

int sched__limit_reached(const struct sched *s, const struct fn_pool *pool)
{
	uint32_t acct = s->cfg.account_concurrency;
	/* Reserved concurrency is the function's: all its versions count toward it. */
	const struct fn_pool *fn = pool->fn;
	if (fn->sc.reserved >= 0)
		return fn->fn_inflight >= (uint32_t)fn->sc.reserved ? SCHED_THROTTLE_RESERVED : 0;
	uint32_t unreserved = acct > s->reserved_sum ? acct - s->reserved_sum : 0;
	if (s->unreserved_inflight >= unreserved || s->inflight >= acct)
		return SCHED_THROTTLE_ACCOUNT;
	return 0;
}

/* The scaling rate: a bucket of scale_per_10s new environments, refilled over 10 s. */
bool sched__has_token(struct fn_pool *pool)
{
	double rate = pool->s->cfg.scale_per_10s;
	int64_t now = clock_mono_us();
	pool->tokens += (double)(now - pool->tokens_us) * rate / 10e6;
	if (pool->tokens > rate)
		pool->tokens = rate;
	pool->tokens_us = now;
	return pool->tokens >= 1.0;
}

int64_t sched__token_wait_us(const struct fn_pool *pool)
{
	double missing = 1.0 - pool->tokens;
	return missing <= 0 ? 0 : (int64_t)(missing * 10e6 / pool->s->cfg.scale_per_10s) + 1;
}

bool sched__mem_fits(const struct sched *s, uint32_t mb)
{
	return s->cfg.max_memory_mb == 0 || s->memory_mb - s->evictable_mb + mb <= s->cfg.max_memory_mb;
}

bool sched__mem_make_room(struct sched *s, uint32_t mb)
{
	if (!sched__mem_fits(s, mb))
		return false;
	struct env *e;
	while (s->cfg.max_memory_mb && s->memory_mb + mb > s->cfg.max_memory_mb &&
	       (e = TAILQ_LAST(&s->lru, env_list))) {
		log_debug("sched: evicting an idle environment of %s for room", e->pool->name);
		s->evictions++;
		sched__env_kill(e);
	}
	return true;
}
