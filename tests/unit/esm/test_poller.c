/* The poller framework (esm/esm.c, esm/poller.c) over a fake source and a fake invoke:
 * batches by BatchSize and by window, ack on success and nack on a function error,
 * ReportBatchItemFailures (partial, empty, null, malformed, not JSON), filters acking what
 * they drop, a throttle retried without counting as a failure, scaling up to
 * MaximumConcurrency and back down, Disabled cancelling the receive, a deleted function or
 * source disabling the mapping with a reason, and rows surviving a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "esm/esm.h"
#include "registry/fn.h"
#include "registry/registry.h"
#include "store/store.h"

#define UUID "11111111-2222-4333-8444-555555555555"
#define ARN "arn:aws:sqs:us-east-1:000000000000:q"
#define MAXMSG 256
#define MAXINV 256

/* ---- the fake source: messages in memory; a nack makes one visible again at once ---- */

struct msg {
	char id[16];
	char body[64];
	bool visible, deleted;
	int receives, nacks;
};

struct reader {
	esm_receive_cb cb;
	void *arg;
	size_t max;
	bool waiting;
	bool timed;       /* the wait is armed: nothing there when it fires: an empty answer */
	struct event *ev; /* delivers on the next turn */
};

static struct {
	struct event_base *base;
	struct store *st;
	struct registry *reg;
	struct esm *e;
	char dir[64];
	struct msg msgs[MAXMSG];
	int nmsgs;
	struct reader *readers[64];
	int nreaders;
	bool gone; /* the source no longer exists */
	/* invocations */
	struct {
		json_t *event;
		sched_done_cb cb;
		void *arg;
		bool answered;
	} inv[MAXINV];
	int ninv;
	int throttle_next; /* refuse this many invokes with -EAGAIN */
	int max_inflight, inflight;
} F;

static int take(struct reader *r, struct esm_record **out)
{
	struct esm_record *recs = xcalloc(r->max ? r->max : 1, sizeof(*recs));
	size_t n = 0;
	for (int i = 0; i < F.nmsgs && n < r->max; i++) {
		struct msg *m = &F.msgs[i];
		if (!m->visible || m->deleted)
			continue;
		m->visible = false;
		m->receives++;
		struct esm_record *rec = &recs[n++];
		snprintf(rec->id, sizeof(rec->id), "%s", m->id);
		rec->record = json_pack("{s:s, s:s}", "messageId", m->id, "body", m->body);
		json_t *parsed = json_loads(m->body, JSON_DECODE_ANY, NULL);
		if (parsed) {
			rec->match = json_pack("{s:s, s:o}", "messageId", m->id, "body", parsed);
		}
		rec->token = m;
	}
	*out = recs;
	return (int)n;
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reader *r = arg;
	if (F.gone) {
		r->waiting = false;
		r->cb(r->arg, -ENOENT, NULL, 0, "PROBLEM: the fake source is gone");
		return;
	}
	if (!r->waiting)
		return;
	struct esm_record *recs;
	int n = take(r, &recs);
	if (n == 0 && !r->timed) {
		/* The long poll: a send wakes it, else it ends empty (20 ms, not 20 s). */
		free(recs);
		r->timed = true;
		struct timeval tv = {0, 20000};
		evtimer_add(r->ev, &tv);
		return;
	}
	if (n == 0) {
		free(recs);
		recs = NULL;
	}
	r->waiting = false;
	r->cb(r->arg, 0, recs, (size_t)n, NULL);
}

static int src_check(void *ctx, const char *arn, struct err *errp)
{
	return F.gone ? err_make(errp, ENOENT, "no such queue") : 0;
}

static int src_open(void *ctx, const char *arn, void **out, struct err *errp)
{
	if (F.gone)
		return err_make(errp, ENOENT, "PROBLEM: the fake source is gone");
	struct reader *r = xcalloc(1, sizeof(*r));
	r->ev = event_new(F.base, -1, 0, deliver_cb, r);
	F.readers[F.nreaders++] = r;
	*out = r;
	return 0;
}

static int src_receive(void *reader, size_t max, int64_t wait_ms, esm_receive_cb cb, void *arg)
{
	struct reader *r = reader;
	assert_false(r->waiting); /* one receive at a time */
	r->cb = cb;
	r->arg = arg;
	r->max = max;
	r->waiting = true;
	r->timed = false;
	event_active(r->ev, EV_TIMEOUT, 0);
	return 0;
}

static void src_ack(void *reader, struct esm_record *rec)
{
	struct msg *m = rec->token;
	m->deleted = true;
}

static void src_nack(void *reader, struct esm_record *rec)
{
	struct msg *m = rec->token;
	m->nacks++;
	m->visible = true;
}

static void src_close(void *reader)
{
	struct reader *r = reader;
	for (int i = 0; i < F.nreaders; i++)
		if (F.readers[i] == r) {
			F.readers[i] = F.readers[--F.nreaders];
			break;
		}
	event_free(r->ev);
	free(r);
}

static const struct esm_source_ops fake_src = {
    .kind = "fake",
    .arn_prefix = "arn:aws:sqs:",
    .check = src_check,
    .open = src_open,
    .receive = src_receive,
    .ack = src_ack,
    .nack = src_nack,
    .close = src_close,
};

/* Adds a message and wakes the readers waiting. */
static void send_msg(const char *body)
{
	struct msg *m = &F.msgs[F.nmsgs];
	snprintf(m->id, sizeof(m->id), "m%d", F.nmsgs);
	snprintf(m->body, sizeof(m->body), "%s", body);
	m->visible = true;
	F.nmsgs++;
	for (int i = 0; i < F.nreaders; i++)
		if (F.readers[i]->waiting)
			event_active(F.readers[i]->ev, EV_TIMEOUT, 0);
}

/* ---- the fake invoke ---- */

static int fake_invoke(void *ctx, const struct sched_invoke_args *a, struct err *errp)
{
	if (F.throttle_next > 0) {
		F.throttle_next--;
		errp->reason = SCHED_THROTTLE_RESERVED;
		return err_make(errp, EAGAIN, "throttled");
	}
	assert_true(F.ninv < MAXINV);
	size_t len = evbuffer_get_length(a->payload);
	F.inv[F.ninv].event = json_loadb((const char *)evbuffer_pullup(a->payload, -1), len, 0, NULL);
	assert_non_null(F.inv[F.ninv].event);
	F.inv[F.ninv].cb = a->cb;
	F.inv[F.ninv].arg = a->arg;
	F.ninv++;
	if (++F.inflight > F.max_inflight)
		F.max_inflight = F.inflight;
	return 0;
}

/* Answers invocation i with body (NULL: empty) as a success or a function error. */
static void answer(int i, bool function_error, const char *body)
{
	assert_false(F.inv[i].answered);
	F.inv[i].answered = true;
	F.inflight--;
	struct evbuffer *b = evbuffer_new();
	if (body)
		evbuffer_add(b, body, strlen(body));
	struct sched_result res = {.function_error = function_error, .body = b, .request_id = "r"};
	F.inv[i].cb(&res, F.inv[i].arg);
	evbuffer_free(b);
}

static size_t nrecords(int i)
{
	return json_array_size(json_object_get(F.inv[i].event, "Records"));
}

/* ---- the loop ---- */

static void turn(void)
{
	struct timeval tv = {0, 10000};
	event_base_loopexit(F.base, &tv);
	event_base_loop(F.base, EVLOOP_ONCE);
}

#define UNTIL(cond)                                                                                          \
	do {                                                                                                 \
		int i_;                                                                                      \
		for (i_ = 0; i_ < 2000 && !(cond); i_++)                                                     \
			turn();                                                                              \
		if (!(cond))                                                                                 \
			fail_msg("never: %s", #cond);                                                        \
	} while (0)

static void open_esm(void)
{
	struct esm_config cfg = {.base = F.base, .store = F.st, .reg = F.reg, .invoke = fake_invoke};
	struct err e = {0};
	if (esm_new(&cfg, &F.e, &e) < 0)
		fail_msg("esm_new: %s", e.msg);
	assert_int_equal(esm_source_register(F.e, &fake_src, NULL), 0);
	esm_start(F.e);
}

static int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.base = event_base_new();
	snprintf(F.dir, sizeof(F.dir), "/tmp/test_poller.XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	struct err e = {0};
	assert_int_equal(store_new(F.dir, &F.st, &e), 0);
	store_set_loop(F.st, F.base, NULL);
	F.reg = registry_new();
	struct fn_config *c = fn_config_new();
	c->name = xstrdup("f");
	registry_put(F.reg, c);
	open_esm();
	return 0;
}

static void answer_all_ok(void)
{
	for (int i = 0; i < F.ninv; i++)
		if (!F.inv[i].answered)
			answer(i, false, NULL);
}

static int teardown(void **state)
{
	esm_stop(F.e);
	answer_all_ok();
	for (int i = 0; i < 4; i++)
		event_base_loop(F.base, EVLOOP_NONBLOCK);
	esm_free(F.e);
	assert_int_equal(F.nreaders, 0);
	registry_free(F.reg);
	store_free(F.st);
	event_base_free(F.base);
	for (int i = 0; i < F.ninv; i++)
		json_decref(F.inv[i].event);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", F.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Puts the mapping with extra members (JSON object text, may be "{}"). */
static void put_mapping(const char *state, int batch, int window, const char *extra)
{
	json_t *row = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:[]}", "UUID", UUID, "EventSourceArn",
	                        ARN, "FunctionArn", "arn:aws:lambda:us-east-1:000000000000:function:f",
	                        "BatchSize", batch, "MaximumBatchingWindowInSeconds", window, "State", state,
	                        "StateTransitionReason", "USER_INITIATED", "FunctionResponseTypes");
	json_t *x = json_loads(extra, 0, NULL);
	assert_non_null(x);
	json_object_update(row, x);
	json_decref(x);
	struct err e = {0};
	if (esm_put(F.e, row, "Creating", &e) < 0)
		fail_msg("esm_put: %s", e.msg);
	json_decref(row);
}

static const char *state_of(void)
{
	static char s[32];
	json_t *row = esm_get(F.e, UUID);
	snprintf(s, sizeof(s), "%s", row ? json_string_value(json_object_get(row, "State")) : "gone");
	json_decref(row);
	return s;
}

static int deleted(void)
{
	int n = 0;
	for (int i = 0; i < F.nmsgs; i++)
		n += F.msgs[i].deleted;
	return n;
}

static struct esm_stats stats(void)
{
	struct esm_stats st;
	assert_int_equal(esm_stats_get(F.e, UUID, &st), 0);
	return st;
}

/* ---- tests ---- */

static void test_batch_acked(void **state)
{
	send_msg("a");
	send_msg("b");
	send_msg("c");
	put_mapping("Enabled", 10, 0, "{}");
	assert_string_equal(state_of(), "Creating");
	UNTIL(F.ninv == 1);
	assert_string_equal(state_of(), "Enabled");
	assert_int_equal(nrecords(0), 3);
	assert_int_equal(deleted(), 0);
	answer(0, false, "{\"ok\":true}");
	UNTIL(deleted() == 3);
	assert_int_equal(stats().batches, 1);
	assert_int_equal(stats().records, 3);
	assert_int_equal(stats().failures, 0);
}

static void test_batch_size_splits(void **state)
{
	for (int i = 0; i < 5; i++)
		send_msg("x");
	put_mapping("Enabled", 2, 0, "{}");
	UNTIL(F.ninv >= 1);
	for (int i = 0; i < F.ninv; i++)
		assert_true(nrecords(i) <= 2);
	UNTIL((answer_all_ok(), deleted() == 5));
	for (int i = 0; i < F.ninv; i++)
		assert_true(nrecords(i) <= 2);
}

static void test_function_error_nacks(void **state)
{
	send_msg("a");
	send_msg("b");
	put_mapping("Enabled", 10, 0, "{}");
	UNTIL(F.ninv == 1);
	answer(0, true, "{\"errorMessage\":\"boom\"}");
	/* Nothing deleted: both come back (this source makes them visible at once). */
	UNTIL(F.ninv == 2);
	assert_int_equal(deleted(), 0);
	assert_int_equal(F.msgs[0].nacks, 1);
	assert_int_equal(F.msgs[1].nacks, 1);
	assert_int_equal(stats().failures, 2);
	answer(1, false, NULL);
	UNTIL(deleted() == 2);
}

/* The batch of a, b, c answered with body under ReportBatchItemFailures: which were nacked. */
static void partial(const char *body, const char *want_nacked)
{
	send_msg("a");
	send_msg("b");
	send_msg("c");
	put_mapping("Enabled", 10, 0, "{\"FunctionResponseTypes\":[\"ReportBatchItemFailures\"]}");
	UNTIL(F.ninv == 1);
	answer(0, false, body);
	UNTIL(deleted() + F.msgs[0].nacks + F.msgs[1].nacks + F.msgs[2].nacks == 3);
	char got[8] = "";
	for (int i = 0; i < 3; i++)
		if (F.msgs[i].nacks)
			strncat(got, F.msgs[i].body, 1);
	assert_string_equal(got, want_nacked);
}

static void test_partial_listed(void **state)
{
	partial("{\"batchItemFailures\":[{\"itemIdentifier\":\"m1\"}]}", "b");
	assert_int_equal(stats().failures, 1);
}

static void test_partial_empty_list(void **state)
{
	partial("{\"batchItemFailures\":[]}", "");
}

static void test_partial_null_and_empty_body(void **state)
{
	partial("null", "");
}

static void test_partial_no_body(void **state)
{
	partial(NULL, "");
}

static void test_partial_unknown_id_fails_all(void **state)
{
	partial("{\"batchItemFailures\":[{\"itemIdentifier\":\"m9\"}]}", "abc");
}

static void test_partial_wrong_key_fails_all(void **state)
{
	partial("{\"batchItemFailures\":[{\"itemId\":\"m1\"}]}", "abc");
}

static void test_partial_empty_id_fails_all(void **state)
{
	partial("{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}", "abc");
}

static void test_partial_not_json_fails_all(void **state)
{
	partial("not json", "abc");
}

static void test_without_report_a_list_is_success(void **state)
{
	send_msg("a");
	put_mapping("Enabled", 10, 0, "{}");
	UNTIL(F.ninv == 1);
	answer(0, false, "{\"batchItemFailures\":[{\"itemIdentifier\":\"m0\"}]}");
	UNTIL(deleted() == 1);
}

static void test_filter_acks_dropped(void **state)
{
	send_msg("{\"kind\":\"order\"}");
	send_msg("{\"kind\":\"other\"}");
	send_msg("plain text");
	put_mapping("Enabled", 10, 0,
	            "{\"FilterCriteria\":{\"Filters\":[{\"Pattern\":\"{\\\"body\\\":{\\\"kind\\\":["
	            "\\\"order\\\"]}}\"}]}}");
	UNTIL(F.ninv == 1);
	assert_int_equal(nrecords(0), 1);
	/* The dropped ones are deleted before the invoke answers. */
	assert_true(F.msgs[1].deleted && F.msgs[2].deleted && !F.msgs[0].deleted);
	assert_int_equal(stats().filtered, 2);
	answer(0, false, NULL);
	UNTIL(deleted() == 3);
}

static void test_throttle_retried(void **state)
{
	F.throttle_next = 2;
	send_msg("a");
	put_mapping("Enabled", 10, 0, "{}");
	UNTIL(F.ninv == 1);
	assert_int_equal(stats().throttles, 2);
	assert_int_equal(stats().failures, 0);
	/* The record was kept, not handed back. */
	assert_int_equal(F.msgs[0].nacks, 0);
	assert_int_equal(F.msgs[0].receives, 1);
	answer(0, false, NULL);
	UNTIL(deleted() == 1);
}

static void test_window_gathers(void **state)
{
	put_mapping("Enabled", 5, 1, "{}");
	UNTIL(strcmp(state_of(), "Enabled") == 0);
	send_msg("a");
	for (int i = 0; i < 5; i++)
		turn();
	assert_int_equal(F.ninv, 0); /* the window is open: it waits for more */
	send_msg("b");
	send_msg("c");
	/* Gathered: the three come in fewer invocations than messages (a second worker may
	 * have taken b and c into a window of its own). */
	UNTIL(deleted() == 3 || (answer_all_ok(), false));
	assert_true(F.ninv < 3);
	assert_int_equal(nrecords(0) + (F.ninv > 1 ? nrecords(1) : 0), 3);
}

static void test_scales_to_maximum_concurrency(void **state)
{
	for (int i = 0; i < 40; i++)
		send_msg("x");
	put_mapping("Enabled", 1, 0, "{\"ScalingConfig\":{\"MaximumConcurrency\":3}}");
	UNTIL(F.inflight == 3);
	for (int i = 0; i < 10; i++)
		turn();
	assert_int_equal(F.max_inflight, 3);
	assert_true(stats().workers <= 3);
	/* Drain: answer as they come, never more than 3 at once. */
	UNTIL((answer_all_ok(), deleted() == 40));
	assert_int_equal(F.max_inflight, 3);
	/* Empty: back to one worker waiting. */
	UNTIL(stats().workers == 1);
}

static void test_disable_cancels(void **state)
{
	put_mapping("Enabled", 10, 0, "{}");
	UNTIL(F.nreaders == 1 && F.readers[0]->waiting);
	put_mapping("Disabled", 10, 0, "{}");
	UNTIL(F.nreaders == 0);
	assert_string_equal(state_of(), "Disabled");
	send_msg("a");
	for (int i = 0; i < 5; i++)
		turn();
	assert_int_equal(F.ninv, 0);
	put_mapping("Enabled", 10, 0, "{}");
	UNTIL(F.ninv == 1);
}

static void test_function_deleted(void **state)
{
	registry_del(F.reg, "f");
	send_msg("a");
	put_mapping("Enabled", 10, 0, "{}");
	UNTIL(strcmp(state_of(), "Disabled") == 0);
	json_t *row = esm_get(F.e, UUID);
	assert_string_equal(json_string_value(json_object_get(row, "StateTransitionReason")),
	                    "PROBLEM: Function not found: arn:aws:lambda:us-east-1:000000000000:function:f");
	json_decref(row);
	UNTIL(F.nreaders == 0);
	assert_int_equal(F.msgs[0].nacks, 1); /* handed back, not lost */
	assert_int_equal(F.ninv, 0);
}

static void test_source_gone(void **state)
{
	put_mapping("Enabled", 10, 0, "{}");
	UNTIL(F.nreaders == 1 && F.readers[0]->waiting);
	F.gone = true;
	event_active(F.readers[0]->ev, EV_TIMEOUT, 0);
	UNTIL(strcmp(state_of(), "Disabled") == 0);
	json_t *row = esm_get(F.e, UUID);
	assert_string_equal(json_string_value(json_object_get(row, "StateTransitionReason")),
	                    "PROBLEM: the fake source is gone");
	json_decref(row);
}

static void test_rows_survive_reopen(void **state)
{
	put_mapping("Enabled", 7, 0, "{}");
	UNTIL(strcmp(state_of(), "Enabled") == 0);
	esm_stop(F.e);
	for (int i = 0; i < 4; i++)
		event_base_loop(F.base, EVLOOP_NONBLOCK);
	esm_free(F.e);
	open_esm();
	json_t *row = esm_get(F.e, UUID);
	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "BatchSize")), 7);
	assert_string_equal(json_string_value(json_object_get(row, "State")), "Enabled");
	json_decref(row);
	/* ... and it polls again. */
	send_msg("a");
	UNTIL(F.ninv == 1);
	json_t *last = NULL;
	struct err e = {0};
	assert_int_equal(esm_delete(F.e, UUID, &last, &e), 0);
	assert_string_equal(json_string_value(json_object_get(last, "State")), "Deleting");
	json_decref(last);
	assert_null(esm_get(F.e, UUID));
	answer(0, false, NULL); /* the batch in flight still ends and is acked */
	UNTIL(deleted() == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_batch_acked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_size_splits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_function_error_nacks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_listed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_empty_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_null_and_empty_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_no_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_unknown_id_fails_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_wrong_key_fails_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_empty_id_fails_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_not_json_fails_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_without_report_a_list_is_success, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filter_acks_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_throttle_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_window_gathers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scales_to_maximum_concurrency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disable_cancels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_function_deleted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_source_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rows_survive_reopen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
