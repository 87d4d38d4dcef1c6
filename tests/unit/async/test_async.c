/* Tests for the async queue on the store: an accepted event is reported only once it
 * is durable, with its request id; a store failure is reported to every waiting
 * caller; events of a function that does not exist go to lambdad's dead-letter store,
 * which survives a restart and can be replayed. No scheduler: nothing is invoked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async/async.h"
#include "loop/pool.h"
#include "registry/registry.h"
#include "store/codezip.h"
#include "store/store.h"
#include "store/store_int.h"

struct fx {
	char tmp[64];
	struct event_base *base;
	struct pool *pool;
	struct store *st;
	struct registry *reg;
	struct async *q;
};

static void up(struct fx *f)
{
	struct err e = {0};
	f->base = event_base_new();
	assert_int_equal(pool_new(f->base, 1, &f->pool, &e), 0);
	assert_int_equal(store_new(f->tmp, &f->st, &e), 0);
	store_set_loop(f->st, f->base, f->pool);
	f->reg = registry_new();
	struct async_config cfg = {.store = f->st, .region = "us-east-1", .account = "000000000000"};
	if (async_new(f->base, NULL, f->reg, &cfg, &f->q, &e) != 0)
		fail_msg("async_new: %s", e.msg);
}

static void down(struct fx *f)
{
	async_free(f->q);
	registry_free(f->reg);
	store_free(f->st);
	pool_free(f->pool);
	if (f->base)
		event_base_free(f->base);
	f->q = NULL;
	f->reg = NULL;
	f->st = NULL;
	f->pool = NULL;
	f->base = NULL;
}

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	strcpy(f->tmp, "/tmp/async-test-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	up(f);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	down(f);
	store_sys.fdatasync = fdatasync;
	int r = codezip_rmtree(f->tmp);
	free(f);
	return r;
}

static atomic_int syncs;
static atomic_int fail_sync;

static int fake_fdatasync(int fd)
{
	atomic_fetch_add(&syncs, 1);
	if (atomic_load(&fail_sync)) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

struct reply {
	int calls;
	int status;
	char id[40];
	int syncs_then;
};

static void accepted_cb(int status, const char *request_id, void *arg)
{
	struct reply *r = arg;
	r->calls++;
	r->status = status;
	snprintf(r->id, sizeof(r->id), "%s", request_id);
	r->syncs_then = atomic_load(&syncs);
}

static int64_t stat_of(struct fx *f, const char *fn, const char *key)
{
	json_t *s = async_stats(f->q, fn);
	int64_t v = json_integer_value(json_object_get(s, key));
	json_decref(s);
	return v;
}

/* Runs the loop until cond holds (a generous bound of turns). */
#define RUN_UNTIL(f, cond)                                                                                   \
	do {                                                                                                 \
		for (int turns_ = 0; !(cond) && turns_ < 200000; turns_++)                                   \
			event_base_loop((f)->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);                           \
		assert_true(cond);                                                                           \
	} while (0)

static void test_accept_after_durable(void **state)
{
	struct fx *f = *state;
	store_sys.fdatasync = fake_fdatasync;
	atomic_store(&syncs, 0);
	atomic_store(&fail_sync, 0);
	struct reply r[3] = {{0}};
	for (int i = 0; i < 3; i++)
		async_enqueue(f->q, "nofn", "{\"i\":1}", 7, accepted_cb, &r[i]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 0); /* never before the commit */
	RUN_UNTIL(f, r[0].calls && r[1].calls && r[2].calls);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
		assert_int_equal(strlen(r[i].id), 36);
		assert_true(r[i].syncs_then >= 1); /* after the fdatasync */
	}
	assert_string_not_equal(r[0].id, r[1].id);
	assert_int_equal(stat_of(f, "nofn", "Accepted"), 3);
	/* The function does not exist: each event is kept in the dead-letter store. */
	RUN_UNTIL(f, stat_of(f, "nofn", "FailedStored") == 3);
	struct err e = {0};
	json_t *list = async_failed_list(f->q, "nofn", &e);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "Condition")),
	                    "FunctionDeleted");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "PayloadBytes")), 7);
	json_decref(list);
	/* It survives a restart, and a replay puts an event back with its request id. */
	store_sys.fdatasync = fdatasync;
	down(f);
	up(f);
	assert_int_equal(stat_of(f, "nofn", "FailedStored"), 3);
	const char *ids[] = {r[1].id, "not-there"};
	json_t *out = async_failed_replay(f->q, "nofn", ids, 2, &e);
	assert_non_null(out);
	assert_int_equal(json_array_size(json_object_get(out, "Replayed")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(out, "Replayed"), 0)), r[1].id);
	assert_string_equal(json_string_value(json_array_get(json_object_get(out, "NotFound"), 0)),
	                    "not-there");
	json_decref(out);
	assert_int_equal(stat_of(f, "nofn", "FailedStored"), 2);
	/* Still no function: back in the dead-letter store, once. */
	RUN_UNTIL(f, stat_of(f, "nofn", "FailedStored") == 3);
	list = async_failed_list(f->q, "nofn", &e);
	assert_int_equal(json_array_size(list), 3);
	json_decref(list);
}

/* An fdatasync failure is reported to every caller of the group (500), and the
 * events are not counted as accepted. */
static void test_fsync_failure_refuses(void **state)
{
	struct fx *f = *state;
	store_sys.fdatasync = fake_fdatasync;
	atomic_store(&fail_sync, 1);
	struct reply r[2] = {{0}};
	async_enqueue(f->q, "nofn", "{}", 2, accepted_cb, &r[0]);
	async_enqueue(f->q, "nofn", "", 0, accepted_cb, &r[1]);
	RUN_UNTIL(f, r[0].calls && r[1].calls);
	assert_int_equal(r[0].status, -EIO);
	assert_int_equal(r[1].status, -EIO);
	assert_int_equal(strlen(r[0].id), 36);
	assert_int_equal(stat_of(f, "nofn", "Accepted"), 0);
	assert_int_equal(stat_of(f, "nofn", "QueueDepth"), 0);
	atomic_store(&fail_sync, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accept_after_durable, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_fsync_failure_refuses, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
