/* What the event source mapping module's files share: a mapping in memory and the
 * workers of its poller (esm.c owns the table, poller.c runs the workers). */
#ifndef LAMBDAD_ESM_INT_H
#define LAMBDAD_ESM_INT_H

#include <lambdad/map.h>
#include <sys/queue.h>

#include "esm/esm.h"
#include "esm/filter.h"
#include "registry/fn.h"

#define ESM_SOURCES_MAX 8
#define ESM_SCALE_START 5     /* concurrent batches a mapping reaches at once */
#define ESM_SCALE_STEP_MS 200 /* then one more at most this often (300 a minute) */

struct esm_worker;

struct esm_map {
	struct esm *e;
	char uuid[37];
	json_t *row; /* the stored row (owned) */
	const struct esm_source_ops *src;
	void *src_ctx;
	char *source_arn;
	char fn_name[FN_NAME_MAX + 1];
	/* What is invoked: "name" ($LATEST) or "name:qualifier" (a version or an alias, whose
	 * version is chosen by its weights for each batch), as registry_resolve takes it. */
	char fn_key[FN_NAME_MAX + FN_QUAL_SIZE + 1];
	bool qualified; /* FunctionArn names a qualifier: it is the invocations' invokedFunctionArn */
	uint32_t batch_size;
	uint32_t window_ms;
	uint32_t max_conc; /* 0: ESM_CONCURRENCY_MAX */
	bool report_failures;
	bool enabled;
	bool deleted;                     /* out of the table; freed with its last worker */
	struct esm_filter *filter;        /* NULL: no filtering */
	const char *state;                /* what Get shows now (static) */
	struct event *apply;              /* brings the poller to the row, then state to its stable value */
	TAILQ_HEAD(, esm_worker) workers; /* live: receiving, invoking or about to */
	uint32_t nworkers;
	uint32_t nrefs;             /* workers live or ended and not yet freed: each holds the mapping */
	int64_t throttled_until_ms; /* no scaling up before this */
	int64_t scaled_ms;          /* when the last worker beyond ESM_SCALE_START was added */
	int64_t backoff_ms;         /* the next throttle back-off */
	struct esm_stats st;
};

struct esm {
	struct esm_config cfg;
	struct map maps; /* UUID -> struct esm_map, MAP_SORTED */
	struct {
		const struct esm_source_ops *ops;
		void *ctx;
	} src[ESM_SOURCES_MAX];
	size_t nsrc;
	bool started;
	bool stopped;                  /* esm_stop: no poller runs any more */
	TAILQ_HEAD(, esm_worker) dead; /* ended, freed on their next loop turn */
};

/* poller.c: starts one more worker of m (when its cap allows); stops them all (workers
 * invoking finish their batch first); the cap of concurrent batches of m now. */
void esm__worker_add(struct esm_map *m);
void esm__workers_stop(struct esm_map *m);
/* Frees the ended workers now (esm_free: the loop runs no more). */
void esm__workers_reap(struct esm *e);
uint32_t esm__cap(struct esm_map *m);
/* esm.c: the mapping can no longer run (its function or source is gone): Disabled with
 * reason, stored, its workers stopped. */
void esm__problem(struct esm_map *m, const char *reason);
/* esm.c: frees m once it is deleted and no worker holds it. */
void esm__map_maybe_free(struct esm_map *m);
int64_t esm__now_ms(void);

#endif
