/* Tests for the worker pool: work runs off the loop thread, every completion runs on
 * the loop thread after its work, pool_drain waits for all, a completion may
 * submit again, and no completion waits for a wake-up that never comes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "loop/pool.h"

#define NJOBS 64

struct job {
	pthread_t worker;     /* the thread work ran on */
	atomic_bool worked;   /* work returned */
	bool done;            /* the completion ran */
	bool done_after_work; /* work had returned when the completion ran */
	pthread_t done_on;
	int *ndone;
};

static void work_cb(void *arg)
{
	struct job *j = arg;
	j->worker = pthread_self();
	usleep(1000);
	atomic_store(&j->worked, true);
}

static void done_cb(void *arg)
{
	struct job *j = arg;
	j->done = true;
	j->done_after_work = atomic_load(&j->worked);
	j->done_on = pthread_self();
	(*j->ndone)++;
}

/* Completions arrive as events of the loop: each on the loop thread, after its work,
 * which ran on another thread. */
static void test_completions_on_loop(void **state)
{
	struct event_base *base = event_base_new();
	struct pool *p = NULL;
	struct err e = {0};
	assert_int_equal(pool_new(base, 2, &p, &e), 0);
	static struct job jobs[NJOBS];
	int ndone = 0;
	for (int i = 0; i < NJOBS; i++) {
		jobs[i] = (struct job){.ndone = &ndone};
		pool_submit(p, work_cb, done_cb, &jobs[i]);
	}
	assert_int_equal(pool_pending(p), NJOBS);
	/* Nothing completes inside pool_submit. */
	assert_int_equal(ndone, 0);
	for (int turns = 0; ndone < NJOBS && turns < 100000; turns++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ndone, NJOBS);
	assert_int_equal(pool_pending(p), 0);
	for (int i = 0; i < NJOBS; i++) {
		assert_true(jobs[i].done);
		assert_true(jobs[i].done_after_work);
		assert_true(pthread_equal(jobs[i].done_on, pthread_self()));
		assert_false(pthread_equal(jobs[i].worker, pthread_self()));
	}
	pool_free(p);
	event_base_free(base);
}

struct chain {
	struct pool *p;
	int left;
	int ndone;
};

static void nop_work(void *arg) {}

static void chain_done(void *arg)
{
	struct chain *c = arg;
	c->ndone++;
	if (--c->left > 0)
		pool_submit(c->p, nop_work, chain_done, c);
}

/* pool_drain returns once every job, including those submitted by completions, has
 * completed; pool_free of an idle pool and of NULL is fine. */
static void test_drain(void **state)
{
	struct event_base *base = event_base_new();
	struct pool *p = NULL;
	struct err e = {0};
	assert_int_equal(pool_new(base, 1, &p, &e), 0);
	struct chain c = {.p = p, .left = 5};
	pool_submit(p, nop_work, chain_done, &c);
	pool_drain(p);
	assert_int_equal(c.ndone, 5);
	assert_int_equal(pool_pending(p), 0);
	/* A job without a completion. */
	struct job j = {0};
	pool_submit(p, work_cb, NULL, &j);
	pool_free(p);
	assert_true(atomic_load(&j.worked));
	pool_free(NULL);
	event_base_free(base);
}

struct burst {
	struct pool *p;
	int submitted, ndone;
};

static void burst_done(void *arg)
{
	struct burst *b = arg;
	b->ndone++;
}

/* Many jobs that finish at once on two threads, in waves submitted from the loop: every
 * completion still reaches the loop through its wake-up (the loop blocks in
 * EVLOOP_ONCE until it does; a lost wake-up would hang here). */
static void test_wakeups_not_lost(void **state)
{
	struct event_base *base = event_base_new();
	struct err e = {0};
	struct burst b = {0};
	assert_int_equal(pool_new(base, 2, &b.p, &e), 0);
	for (int wave = 0; wave < 200; wave++) {
		for (int i = 0; i < 1 + wave % 7; i++, b.submitted++)
			pool_submit(b.p, nop_work, burst_done, &b);
		while (b.ndone < b.submitted)
			event_base_loop(base, EVLOOP_ONCE);
	}
	assert_int_equal(b.ndone, b.submitted);
	assert_int_equal(pool_pending(b.p), 0);
	pool_free(b.p);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_completions_on_loop),
	    cmocka_unit_test(test_drain),
	    cmocka_unit_test(test_wakeups_not_lost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
