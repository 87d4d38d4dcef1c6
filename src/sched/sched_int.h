/* What the scheduler's own files share: its structs and sched__ functions. */
#ifndef LAMBDAD_SCHED_INT_H
#define LAMBDAD_SCHED_INT_H

#include <lambdad/map.h>
#include <stdarg.h>
#include <sys/queue.h>

#include "logs/logs.h"
#include "rtapi/rtapi.h"
#include "sched/backend.h"
#include "sched/sched.h"

/* A function invoked at least HOT_MIN_INVOKES times within about HOT_WINDOW_US keeps
 * HOT_KEEP environment(s) past the server's keep-alive. */
#define SCHED_HOT_WINDOW_US (60 * 1000000LL)
#define SCHED_HOT_MIN_INVOKES 10
#define SCHED_HOT_KEEP 1
/* Starts without an invocation (provisioned, pre-warm) give up after this many
 * consecutive failures, until the settings change. */
#define SCHED_WARM_MAX_FAILURES 3
/* An idle environment is frozen this long after its last answer (ms). */
#define SCHED_FREEZE_DELAY_MS 10
/* How many times an invocation goes to another environment because the one it was
 * given ended before the invocation was sent (a bound against a crash loop). */
#define SCHED_MAX_REQUEUES 3

struct env;
struct fn_pool;

struct invocation {
	struct sched *s;
	struct fn_config *cfg;
	char request_id[37];
	char trace_id[96];
	struct evbuffer *payload;
	char *client_context;
	char *invoked_arn; /* the ARN the caller used; NULL: the function's own */
	bool want_tail;
	struct logs_tail tail;
	sched_done_cb cb;
	sched_stream_cb stream_cb;
	void *arg;
	bool streamed;         /* the runtime began a streamed response */
	bool sbuf_over;        /* the collected stream passed RTAPI_MAX_RESPONSE */
	char *content_type;    /* of the streamed response */
	struct evbuffer *sbuf; /* a streamed response collected (no stream_cb) */
	struct env *env;
	struct event *timer; /* the function's timeout, armed at delivery */
	int64_t start_us;    /* delivery to the runtime (monotonic µs) */
	int64_t deadline_ms; /* epoch ms */
	bool delivered;
	bool cold;
	bool timed_out;
	bool system_error; /* answered for lambdad's own failure (shutdown) */
	bool unreserved;   /* counted in sched->unreserved_inflight */
	/* The platform's error type for REPORT's "Status: error" (Runtime.ExitError), or "". */
	char report_error[64];
	double init_ms;
	uint32_t mem_mb; /* memory held for a cold start not begun yet (sched->memory_mb) */
	struct fn_pool *pool;
	bool queued;       /* waiting in pool->queued for an environment */
	unsigned requeues; /* environments that ended before it was sent to them */
	TAILQ_ENTRY(invocation) wait_link;
};

enum env_state { ENV_STARTING, ENV_IDLE, ENV_BUSY, ENV_DEAD };

struct env {
	struct sched *s;
	struct fn_pool *pool;
	struct fn_config *cfg;
	struct sched_benv *h; /* the backend's environment */
	bool created;         /* the backend said it runs */
	struct rtapi *rt;
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
	struct logs_split split; /* its output, cut into log records */
	char stream[96];
	int64_t created_us;         /* monotonic µs */
	TAILQ_ENTRY(env) all_link;  /* sched->envs */
	TAILQ_ENTRY(env) pool_link; /* pool->envs */
	TAILQ_ENTRY(env) idle_link; /* pool->idle, when ENV_IDLE */
	TAILQ_ENTRY(env) lru_link;  /* sched->lru, when ENV_IDLE and not provisioned */
};
TAILQ_HEAD(env_list, env);

/* A pool of environments of one version of a function: its key is the function's name
 * for $LATEST and "name:N" for version N. Reserved concurrency is the function's, shared
 * by all its versions: it lives in the $LATEST pool (fn), which counts them all. */
struct fn_pool {
	struct sched *s;
	char *name;            /* the key */
	struct fn_pool *fn;    /* the function's $LATEST pool (itself for $LATEST) */
	uint32_t fn_inflight;  /* fn itself only: invocations of all the versions in flight */
	struct logs_file *log; /* the function's (owned by fn) */
	struct env_list envs;
	struct env_list idle;  /* most recently used first */
	struct fn_config *cfg; /* latest configuration, for starts without an invocation */
	struct fn_scaling sc;
	uint32_t inflight;               /* invocations not yet answered */
	uint32_t n_provisioned;          /* live environments marked provisioned */
	uint32_t prewarm;                /* environments still to start without an invocation */
	uint32_t warm_failures;          /* consecutive starts without an invocation that failed */
	double tokens;                   /* scaling rate: new environments that may start now */
	int64_t tokens_us;               /* monotonic µs of the last refill */
	TAILQ_HEAD(, invocation) queued; /* waiting for an environment, in order */
	bool kick;                       /* in sched->kick_list */
	TAILQ_ENTRY(fn_pool) kick_link;
	uint64_t window_invokes[2]; /* invocations in this and the previous hot window */
	int64_t window_start_us;
	struct sched_fn_stats st;
};

struct sched {
	struct event_base *base;
	struct sched_backend be;
	struct sched_config cfg;
	char *logs_dir;
	char *region;
	char *account;
	struct map pools; /* function name -> struct fn_pool (owned) */
	struct env_list envs;
	struct event *flush_timer;
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

/* pool.c: functions' pools and serving what waits in them */
/* The pool of key (a function name, or "name:N" for its version N), or NULL (borrowed). */
struct fn_pool *sched__pool_find(const struct sched *s, const char *name);
/* The pool of key, made (with the function's pool and log file) when there is none;
 * NULL with errp. */
struct fn_pool *sched__pool_get(struct sched *s, const char *name, struct err *errp);
/* Frees every pool (their environments are gone already). */
void sched__pool_free_all(struct sched *s);
/* Makes cfg (a new reference is taken) the pool's latest, unless it has that revision. */
void sched__pool_set_cfg(struct fn_pool *pool, struct fn_config *cfg);
/* An idle environment of revision, most recently used first among those whose
 * runtime already waits for its next event, else most recently used; or NULL. */
struct env *sched__pool_idle_env(struct fn_pool *pool, const char *revision);
/* An environment of revision starting without an invocation (one may join it), or NULL. */
struct env *sched__pool_starting_env(struct fn_pool *pool, const char *revision);
/* Whether the pool has a live environment of revision (one may free up). */
bool sched__pool_has_env(struct fn_pool *pool, const char *revision);
/* Environments still to start without an invocation (provisioned, pre-warm). */
uint32_t sched__pool_warm_wanted(const struct fn_pool *pool);
/* The keep-alive in force for the pool's idle environments (ms). */
int64_t sched__pool_keep_alive_ms(const struct fn_pool *pool);
uint32_t sched__pool_live_envs(const struct fn_pool *pool);
/* Starts an environment for inv now (its token and room are there), evicting for room;
 * a start that cannot begin answers inv (Runtime.InvalidEntrypoint). */
void sched__cold_start(struct sched *s, struct fn_pool *pool, struct invocation *inv);
/* Puts inv (in flight, in no environment, never delivered) back at the head of its
 * pool's queue: an idle environment or a new one takes it on the next loop turn. */
void sched__inv_requeue(struct invocation *inv);
/* Serves pool (NULL: every waiting pool) on the next loop turn. */
void sched__kick(struct sched *s, struct fn_pool *pool);
void sched__kick_cb(evutil_socket_t fd, short what, void *arg);

/* limits.c: concurrency, the scaling rate and memory */
/* Whether a concurrency limit stops a new invocation of pool now: 0, or the enum
 * sched_throttle that says which. */
int sched__limit_reached(const struct sched *s, const struct fn_pool *pool);
/* Refills the pool's bucket; whether a whole token is there for a new environment. */
bool sched__has_token(struct fn_pool *pool);
/* Microseconds until the bucket holds a whole token again. */
int64_t sched__token_wait_us(const struct fn_pool *pool);
/* Whether mb more fit under --max-memory, counting idle environments as room. */
bool sched__mem_fits(const struct sched *s, uint32_t mb);
/* Makes room for mb, evicting idle environments least recently used first; false
 * (nothing evicted) when even that is not enough. */
bool sched__mem_make_room(struct sched *s, uint32_t mb);

/* stats.c: histograms and the hot window */
void sched__hist_observe(struct sched_hist *h, double ms);
/* Counts an invocation towards the pool's hot window. */
void sched__count_invoke(struct fn_pool *pool);
/* Whether the function was invoked often enough lately to keep a warm environment. */
bool sched__pool_hot(struct fn_pool *pool);

/* report.c: an environment's log lines, START/END/REPORT */
/* One record (text borrowed; ts_ms epoch ms, 0: now) to the function's log and the tail
 * of the invocation in flight. */
void sched__env_log(struct env *e, int64_t ts_ms, const char *text, size_t len);
void sched__env_logf(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads what the environment wrote so far and logs it record by record. */
void sched__env_drain_output(struct env *e);
void sched__env_flush_partial_line(struct env *e);
void sched__log_read_cb(evutil_socket_t fd, short what, void *arg);
void sched__flush_timer_cb(evutil_socket_t fd, short what, void *arg);
/* The END and REPORT lines of inv, which ran dur_ms in e. */
void sched__report(struct env *e, const struct invocation *inv, double dur_ms);
/* INIT_START: the runtime's version, in the function's log as an environment starts. */
void sched__report_init_start(struct env *e);

/* env.c: execution environments */
/* Starts an environment of cfg through the backend, with inv its first invocation (a
 * cold start) or none (provisioned or pre-warm). 0, or a negative errno with errp and
 * nothing started (inv untouched). */
int sched__env_start(struct sched *s, struct fn_pool *pool, struct fn_config *cfg, struct invocation *inv,
                     bool provisioned, struct err *errp);
/* The environment has nothing to do: a queued invocation takes it, or it idles. */
void sched__env_make_idle(struct env *e);
/* Takes an idle environment out of the idle lists and thaws it. */
void sched__env_unidle(struct env *e);
/* Gives an unidled environment inv and delivers it when the runtime waits. */
void sched__env_take(struct env *e, struct invocation *inv);
/* Destroys the environment (no invocation may be in flight in it); freed next turn. */
void sched__env_kill(struct env *e);
/* The function's environment variables for e: owned, free with sched__free_envp. */
char **sched__env_build_envp(const struct env *e);
void sched__free_envp(char **envp);

/* invoke.c: invocations and the Runtime API's events */
extern const struct rtapi_ops sched__rtapi_ops;
/* A new invocation of a (payload drained), counted in flight. Owned until answered. */
struct invocation *sched__inv_new(struct sched *s, struct fn_pool *pool, const struct sched_invoke_args *a);
/* Answers inv (body borrowed, drained by the callback), frees it, and sends its
 * environment back to the pool or away. */
void sched__inv_finish(struct invocation *inv, bool function_error, struct evbuffer *body);
/* Answers inv with the error document {errorType: type, errorMessage: fmt...}. */
void sched__inv_fail(struct invocation *inv, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Hands e's invocation to the runtime's parked /next; -EAGAIN when none is parked. */
int sched__env_deliver(struct env *e);

#endif
