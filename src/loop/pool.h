/* The worker pool: blocking work (fsync, later extraction and sandbox set-up) runs on a
 * few threads, and its completion comes back to the loop thread as an event. */
#ifndef LAMBDAD_LOOP_POOL_H
#define LAMBDAD_LOOP_POOL_H

#include <event2/event.h>
#include <lambdad/err.h>
#include <stdbool.h>

struct pool;

/* Runs on a worker thread: it may block, and must touch nothing the loop thread owns
 * except what its job hands it (arg). */
typedef void (*pool_work_cb)(void *arg);
/* Runs on the loop thread, after work returned (in the loop pass that sees the
 * completion, or inside pool_drain). */
typedef void (*pool_done_cb)(void *arg);

/* Starts nthreads (at least 1) worker threads whose completions are events of base
 * (borrowed; it outlives the pool). Returns 0 and an owned *out, or a negative errno
 * (no thread left running). */
int pool_new(struct event_base *base, unsigned nthreads, struct pool **out, struct err *errp);
/* Waits for every submitted job (pool_drain), then stops and joins the threads.
 * NULL is a no-op. */
void pool_free(struct pool *p);

/* Queues a job: work(arg) on a worker thread, then done(arg) on the loop thread (done
 * may be NULL). Jobs start in submission order; with more than one thread they may
 * finish in any order. arg is borrowed by the pool until done has run. Never fails
 * (out of memory is fatal). Callable from the loop thread only. */
void pool_submit(struct pool *p, pool_work_cb work, pool_done_cb done, void *arg);

/* Blocks the calling (loop) thread until every submitted job's work has returned,
 * then runs the done callbacks not yet run, in completion order, before returning.
 * For shutdown and for synchronous commits; a done callback may submit again (that
 * job is waited for too). */
void pool_drain(struct pool *p);

/* Jobs submitted whose done callback has not run yet. */
unsigned pool_pending(const struct pool *p);

#endif
