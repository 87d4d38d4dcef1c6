/* Tests for the Runtime API state machine: every transition of INIT/BUSY/BETWEEN/FAILED
 * with and without a parked /next, and every call it must refuse, as HTTP statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rtapi/rtapi.h"

#define ID1 "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
#define ID2 "0b1d4a33-0c1f-4d63-9e26-2b3a5f0c9e11"

/* Asserts the whole observable state in one place. */
static void check(const struct rtapi_sm *sm, enum rtapi_state state, bool parked, const char *id)
{
	assert_int_equal(sm->state, state);
	assert_int_equal(sm->parked, parked);
	assert_string_equal(sm->request_id, id);
}

/* Brings a fresh machine to BUSY with ID1 in flight. */
static void to_busy(struct rtapi_sm *sm)
{
	rtapi_sm_init(sm);
	assert_int_equal(rtapi_sm_next(sm), 0);
	assert_int_equal(rtapi_sm_deliver(sm, ID1), 0);
	check(sm, RTAPI_BUSY, false, ID1);
}

/* Brings a fresh machine to BETWEEN (ID1 answered). */
static void to_between(struct rtapi_sm *sm)
{
	to_busy(sm);
	assert_int_equal(rtapi_sm_complete(sm, ID1), 202);
	check(sm, RTAPI_BETWEEN, false, "");
}

/* Brings a fresh machine to FAILED through /init/error. */
static void to_failed(struct rtapi_sm *sm)
{
	rtapi_sm_init(sm);
	assert_int_equal(rtapi_sm_init_error(sm), 202);
	check(sm, RTAPI_FAILED, false, "");
}

static void test_init_state(void **state)
{
	struct rtapi_sm sm;
	memset(&sm, 0xa5, sizeof(sm)); /* init must not rely on zeroed storage */
	rtapi_sm_init(&sm);
	check(&sm, RTAPI_INIT, false, "");
}

/* The normal life of an environment: next, deliver, response, next, deliver, error. */
static void test_happy_path_twice(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	check(&sm, RTAPI_INIT, true, "");
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), 0);
	check(&sm, RTAPI_BUSY, false, ID1);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
	check(&sm, RTAPI_BETWEEN, false, "");
	assert_int_equal(rtapi_sm_next(&sm), 0);
	check(&sm, RTAPI_BETWEEN, true, "");
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), 0);
	check(&sm, RTAPI_BUSY, false, ID2);
	assert_int_equal(rtapi_sm_complete(&sm, ID2), 202);
	check(&sm, RTAPI_BETWEEN, false, "");
}

/* ---- /next ---- */

static void test_next_twice_refused_in_init(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_next(&sm), 400);
	check(&sm, RTAPI_INIT, true, ""); /* the first one is still parked */
}

static void test_next_twice_refused_between(void **state)
{
	struct rtapi_sm sm;
	to_between(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_next(&sm), 400);
	check(&sm, RTAPI_BETWEEN, true, "");
}

static void test_next_refused_when_failed(void **state)
{
	struct rtapi_sm sm;
	to_failed(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 400);
	check(&sm, RTAPI_FAILED, false, "");
}

/* The header's contract: /next while an invocation is in flight parks (only "already
 * parked" and "failed" are refused); the invocation in flight is untouched. */
static void test_next_while_busy_parks(void **state)
{
	struct rtapi_sm sm;
	to_busy(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	check(&sm, RTAPI_BUSY, true, ID1);
	assert_int_equal(rtapi_sm_next(&sm), 400);
	/* The response for the invocation in flight is still accepted, and then the
	 * parked /next gets the next event. */
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
	check(&sm, RTAPI_BETWEEN, true, "");
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), 0);
	check(&sm, RTAPI_BUSY, false, ID2);
}

/* ---- deliver ---- */

static void test_deliver_without_parked(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), -1);
	check(&sm, RTAPI_INIT, false, "");

	to_between(&sm);
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), -1);
	check(&sm, RTAPI_BETWEEN, false, "");

	to_busy(&sm);
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), -1);
	check(&sm, RTAPI_BUSY, false, ID1);
}

static void test_deliver_twice_refused(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), -1); /* the /next was used up */
	check(&sm, RTAPI_BUSY, false, ID1);
}

/* A /next parked before init/error: the environment is finished, nothing is delivered. */
static void test_deliver_refused_when_failed(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_init_error(&sm), 202);
	assert_int_equal(sm.state, RTAPI_FAILED);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), -1);
	assert_int_equal(sm.state, RTAPI_FAILED);
	assert_string_equal(sm.request_id, "");
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403);
}

/* One invocation per environment: a /next parked while ID1 is in flight must not
 * let a second event replace ID1 (its response would then be refused with 403). */
static void test_deliver_refused_while_busy(void **state)
{
	struct rtapi_sm sm;
	to_busy(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), -1);
	check(&sm, RTAPI_BUSY, true, ID1);
	assert_int_equal(rtapi_sm_complete(&sm, ID2), 403);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
}

/* A request id that does not fit is refused rather than truncated: a truncated id
 * would turn away the real id and accept its prefix. */
static void test_deliver_long_id_refused(void **state)
{
	struct rtapi_sm sm;
	char longid[sizeof(sm.request_id) + 10];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, longid), -1);
	check(&sm, RTAPI_INIT, true, ""); /* still parked for a proper event */
	char prefix[sizeof(sm.request_id)];
	memcpy(prefix, longid, sizeof(prefix) - 1);
	prefix[sizeof(prefix) - 1] = 0;
	assert_int_equal(rtapi_sm_complete(&sm, prefix), 403);
	assert_int_equal(rtapi_sm_complete(&sm, longid), 403);

	/* The longest id that fits is kept whole. */
	assert_int_equal(rtapi_sm_deliver(&sm, prefix), 0);
	assert_string_equal(sm.request_id, prefix);
	assert_int_equal(rtapi_sm_complete(&sm, prefix), 202);
}

static void test_deliver_empty_id_refused(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ""), -1);
	check(&sm, RTAPI_INIT, true, "");
	assert_int_equal(rtapi_sm_complete(&sm, ""), 403);
}

/* ---- unpark ---- */

static void test_unpark(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	rtapi_sm_unpark(&sm); /* nothing parked: a no-op */
	check(&sm, RTAPI_INIT, false, "");
	assert_int_equal(rtapi_sm_next(&sm), 0);
	rtapi_sm_unpark(&sm);
	check(&sm, RTAPI_INIT, false, "");
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), -1); /* the /next went away */
	assert_int_equal(rtapi_sm_next(&sm), 0);          /* a new one may come */
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), 0);

	/* Unparking a /next that came while busy leaves the invocation alone. */
	assert_int_equal(rtapi_sm_next(&sm), 0);
	rtapi_sm_unpark(&sm);
	check(&sm, RTAPI_BUSY, false, ID1);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);

	to_failed(&sm);
	rtapi_sm_unpark(&sm);
	check(&sm, RTAPI_FAILED, false, "");
}

/* ---- response / error ---- */

static void test_complete_refused_in_init(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403);
	assert_int_equal(rtapi_sm_complete(&sm, ""), 403);
	check(&sm, RTAPI_INIT, false, "");
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403);
	check(&sm, RTAPI_INIT, true, "");
}

static void test_complete_wrong_id(void **state)
{
	struct rtapi_sm sm;
	to_busy(&sm);
	assert_int_equal(rtapi_sm_complete(&sm, ID2), 403);
	assert_int_equal(rtapi_sm_complete(&sm, ""), 403);
	assert_int_equal(rtapi_sm_complete(&sm, "8476a536"), 403); /* a prefix */
	assert_int_equal(rtapi_sm_complete(&sm, ID1 "0"), 403);    /* longer */
	assert_int_equal(rtapi_sm_complete(&sm, "8476A536-E9F4-11E8-9739-2DFE598C3FCD"), 403);
	check(&sm, RTAPI_BUSY, false, ID1); /* unchanged: the right id still works */
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
}

static void test_complete_twice_refused(void **state)
{
	struct rtapi_sm sm;
	to_between(&sm);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403); /* finished id */
	assert_int_equal(rtapi_sm_complete(&sm, ""), 403);
	check(&sm, RTAPI_BETWEEN, false, "");
	/* Also when a /next is parked between invocations. */
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403);
	check(&sm, RTAPI_BETWEEN, true, "");
}

static void test_complete_refused_when_failed(void **state)
{
	struct rtapi_sm sm;
	to_failed(&sm);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403);
	assert_int_equal(rtapi_sm_complete(&sm, ""), 403);
	check(&sm, RTAPI_FAILED, false, "");
}

/* ---- /init/error ---- */

static void test_init_error_in_init(void **state)
{
	struct rtapi_sm sm;
	to_failed(&sm);
	/* FAILED is final: nothing moves it. */
	assert_int_equal(rtapi_sm_init_error(&sm), 403);
	assert_int_equal(rtapi_sm_next(&sm), 400);
	rtapi_sm_unpark(&sm);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), -1);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403);
	check(&sm, RTAPI_FAILED, false, "");
}

static void test_init_error_with_parked_next(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_init_error(&sm), 202);
	assert_int_equal(sm.state, RTAPI_FAILED);
	assert_int_equal(rtapi_sm_next(&sm), 400);
}

static void test_init_error_refused_when_busy(void **state)
{
	struct rtapi_sm sm;
	to_busy(&sm);
	assert_int_equal(rtapi_sm_init_error(&sm), 403);
	check(&sm, RTAPI_BUSY, false, ID1);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
}

static void test_init_error_refused_between(void **state)
{
	struct rtapi_sm sm;
	to_between(&sm);
	assert_int_equal(rtapi_sm_init_error(&sm), 403);
	check(&sm, RTAPI_BETWEEN, false, "");
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_init_error(&sm), 403);
	check(&sm, RTAPI_BETWEEN, true, "");
}

/* Exhaustive: from each reachable (state, parked) pair, each call gives the status
 * the header promises. Catches a transition the hand-written cases missed. */
enum reach { R_INIT, R_INIT_P, R_BUSY, R_BUSY_P, R_BETWEEN, R_BETWEEN_P, R_FAILED, R_FAILED_P, R_N };

static void reach(struct rtapi_sm *sm, enum reach r)
{
	switch (r) {
	case R_INIT:
		rtapi_sm_init(sm);
		break;
	case R_INIT_P:
		rtapi_sm_init(sm);
		assert_int_equal(rtapi_sm_next(sm), 0);
		break;
	case R_BUSY:
		to_busy(sm);
		break;
	case R_BUSY_P:
		to_busy(sm);
		assert_int_equal(rtapi_sm_next(sm), 0);
		break;
	case R_BETWEEN:
		to_between(sm);
		break;
	case R_BETWEEN_P:
		to_between(sm);
		assert_int_equal(rtapi_sm_next(sm), 0);
		break;
	case R_FAILED:
		to_failed(sm);
		break;
	case R_FAILED_P:
		rtapi_sm_init(sm);
		assert_int_equal(rtapi_sm_next(sm), 0);
		assert_int_equal(rtapi_sm_init_error(sm), 202);
		break;
	default:
		fail();
	}
}

static void test_exhaustive_table(void **state)
{
	static const struct {
		int next, deliver, complete_id1, complete_other, init_error;
	} want[R_N] = {
	    [R_INIT] = {0, -1, 403, 403, 202},     [R_INIT_P] = {400, 0, 403, 403, 202},
	    [R_BUSY] = {0, -1, 202, 403, 403},     [R_BUSY_P] = {400, -1, 202, 403, 403},
	    [R_BETWEEN] = {0, -1, 403, 403, 403},  [R_BETWEEN_P] = {400, 0, 403, 403, 403},
	    [R_FAILED] = {400, -1, 403, 403, 403}, [R_FAILED_P] = {400, -1, 403, 403, 403},
	};
	for (int r = 0; r < R_N; r++) {
		struct rtapi_sm sm;
		reach(&sm, r);
		assert_int_equal(rtapi_sm_next(&sm), want[r].next);
		reach(&sm, r);
		assert_int_equal(rtapi_sm_deliver(&sm, ID2), want[r].deliver);
		reach(&sm, r);
		assert_int_equal(rtapi_sm_complete(&sm, ID1), want[r].complete_id1);
		reach(&sm, r);
		assert_int_equal(rtapi_sm_complete(&sm, ID2), want[r].complete_other);
		reach(&sm, r);
		assert_int_equal(rtapi_sm_init_error(&sm), want[r].init_error);
	}
}

/* A streamed response: the invocation stays in flight while the stream is open, no
 * other completion is taken, and the end of the stream answers it. */
static void test_stream_begin_end(void **state)
{
	(void)state;
	struct rtapi_sm sm;
	to_busy(&sm);
	assert_int_equal(rtapi_sm_stream_begin(&sm, ID1), 202);
	assert_true(sm.streaming);
	check(&sm, RTAPI_BUSY, false, ID1);
	assert_int_equal(rtapi_sm_stream_begin(&sm, ID1), 403);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 403);
	assert_int_equal(rtapi_sm_next(&sm), 0); /* a /next may wait meanwhile */
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), -1);
	rtapi_sm_stream_end(&sm);
	assert_false(sm.streaming);
	check(&sm, RTAPI_BETWEEN, true, "");
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), 0);
	check(&sm, RTAPI_BUSY, false, ID2);
}

static void test_stream_begin_refused(void **state)
{
	(void)state;
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_stream_begin(&sm, ID1), 403); /* INIT */
	to_busy(&sm);
	assert_int_equal(rtapi_sm_stream_begin(&sm, ID2), 403); /* not the id in flight */
	assert_false(sm.streaming);
	to_between(&sm);
	assert_int_equal(rtapi_sm_stream_begin(&sm, ID1), 403); /* already answered */
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_init_error(&sm), 202);
	assert_int_equal(rtapi_sm_stream_begin(&sm, ""), 403); /* FAILED */
	assert_false(sm.streaming);
}

static void test_stream_end_without_stream(void **state)
{
	(void)state;
	struct rtapi_sm sm;
	to_busy(&sm);
	rtapi_sm_stream_end(&sm); /* no-op: the invocation is still in flight */
	check(&sm, RTAPI_BUSY, false, ID1);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
}

/* ---- extensions ---- */

#define XA "11111111-1111-4111-8111-111111111111"
#define XB "22222222-2222-4222-8222-222222222222"

/* Init ends only when every extension started registered and asked for its first
 * event, and the runtime asked for its own. */
static void test_ext_init_waits_for_all(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	sm.ext_expected = 2;
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_false(rtapi_sm_ready(&sm));
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE | RTAPI_EXT_SHUTDOWN, XA), 200);
	assert_int_equal(rtapi_sm_ext_next(&sm, rtapi_sm_ext_find(&sm, XA)), 0);
	assert_false(rtapi_sm_ready(&sm)); /* b has not registered */
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), -1);
	assert_int_equal(rtapi_sm_ext_register(&sm, "b", RTAPI_EXT_SHUTDOWN, XB), 200);
	assert_false(rtapi_sm_ready(&sm)); /* b has not asked for an event */
	assert_int_equal(rtapi_sm_ext_next(&sm, 1), 0);
	assert_true(rtapi_sm_ready(&sm));
	assert_false(rtapi_sm_ext_busy(&sm));
}

/* An INVOKE goes to the extensions registered for it; the invocation's extensions
 * part ends when each asked for its next event; the next event waits for that. */
static void test_ext_invoke_busy_until_next(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	sm.ext_expected = 2;
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE, XA), 200);
	assert_int_equal(rtapi_sm_ext_register(&sm, "b", RTAPI_EXT_SHUTDOWN, XB), 200);
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 0);
	assert_int_equal(rtapi_sm_ext_next(&sm, 1), 0);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), 0);
	assert_true(sm.ext[0].busy);
	assert_false(sm.ext[0].parked);
	assert_false(sm.ext[1].busy); /* SHUTDOWN only: still waiting */
	assert_true(sm.ext[1].parked);
	assert_true(rtapi_sm_ext_busy(&sm));
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_false(rtapi_sm_ready(&sm)); /* a still works on ID1 */
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), -1);
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 0);
	assert_false(rtapi_sm_ext_busy(&sm));
	assert_true(rtapi_sm_ready(&sm));
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), 0);
}

static void test_ext_register_refused(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_ext_register(&sm, "", RTAPI_EXT_INVOKE, XA), 400);
	char longname[80];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[79] = 0;
	assert_int_equal(rtapi_sm_ext_register(&sm, longname, RTAPI_EXT_INVOKE, XA), 400);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE, ""), 400);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE, XA), 200);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE, XB), 403); /* same name */
	for (int i = 1; i < RTAPI_EXT_MAX; i++) {
		char n[8], id[8];
		snprintf(n, sizeof(n), "e%d", i);
		snprintf(id, sizeof(id), "id%d", i);
		assert_int_equal(rtapi_sm_ext_register(&sm, n, 0, id), 200);
	}
	assert_int_equal(rtapi_sm_ext_register(&sm, "one-too-many", 0, "idx"), 403);
	assert_int_equal(rtapi_sm_ext_find(&sm, "nope"), -1);
	assert_int_equal(rtapi_sm_ext_find(&sm, XA), 0);
	/* After init: registration is closed. */
	to_between(&sm);
	assert_int_equal(rtapi_sm_ext_register(&sm, "late", RTAPI_EXT_INVOKE, XB), 403);
}

static void test_ext_next_twice_refused(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE, XA), 200);
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 0);
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 400);
	rtapi_sm_ext_unpark(&sm, 0);
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 0);
}

/* SHUTDOWN is owed to the extensions registered for it: a parked one takes it at
 * once, a busy one when it asks next; done when each asks again. */
static void test_ext_shutdown(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_false(rtapi_sm_wants_shutdown(&sm));
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE | RTAPI_EXT_SHUTDOWN, XA), 200);
	assert_int_equal(rtapi_sm_ext_register(&sm, "b", RTAPI_EXT_SHUTDOWN, XB), 200);
	assert_int_equal(rtapi_sm_ext_register(&sm, "c", RTAPI_EXT_INVOKE, "idc"), 200);
	assert_true(rtapi_sm_wants_shutdown(&sm));
	for (int i = 0; i < 3; i++)
		assert_int_equal(rtapi_sm_ext_next(&sm, i), 0);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), 0); /* a and c busy with ID1 */
	assert_int_equal(rtapi_sm_shutdown(&sm), 2);
	assert_false(rtapi_sm_ready(&sm));
	assert_int_equal(rtapi_sm_ext_take_shutdown(&sm, 0), -1); /* a is not waiting */
	assert_int_equal(rtapi_sm_ext_take_shutdown(&sm, 1), 0);  /* b is */
	assert_int_equal(rtapi_sm_ext_take_shutdown(&sm, 1), -1); /* sent once */
	assert_int_equal(rtapi_sm_ext_take_shutdown(&sm, 2), -1); /* c did not register for it */
	assert_int_equal(rtapi_sm_ext_next(&sm, 2), 0);           /* c done with ID1: parks */
	assert_true(rtapi_sm_ext_busy(&sm));
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 1); /* a done with ID1: takes SHUTDOWN now */
	assert_int_equal(rtapi_sm_ext_next(&sm, 1), 0); /* b done with SHUTDOWN */
	assert_true(rtapi_sm_ext_busy(&sm));
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 0); /* a done with SHUTDOWN */
	assert_false(rtapi_sm_ext_busy(&sm));
	assert_false(rtapi_sm_ready(&sm)); /* nothing is delivered after SHUTDOWN */
	assert_int_equal(rtapi_sm_deliver(&sm, ID2), -1);
}

/* An extension whose process ended is waited for no more: not at an invocation's end,
 * not for the next event, not at SHUTDOWN. */
static void test_ext_gone(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE | RTAPI_EXT_SHUTDOWN, XA), 200);
	assert_int_equal(rtapi_sm_ext_register(&sm, "b", RTAPI_EXT_INVOKE, XB), 200);
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 0);
	assert_int_equal(rtapi_sm_ext_next(&sm, 1), 0);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), 0);
	assert_int_equal(rtapi_sm_complete(&sm, ID1), 202);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_ext_next(&sm, 1), 0);
	assert_true(rtapi_sm_ext_busy(&sm)); /* a works on ID1 */
	rtapi_sm_ext_gone(&sm, 0);           /* ... and crashes */
	assert_false(rtapi_sm_ext_busy(&sm));
	assert_true(rtapi_sm_ready(&sm));
	assert_false(rtapi_sm_wants_shutdown(&sm));
	assert_int_equal(rtapi_sm_shutdown(&sm), 0);
}

static void test_ext_errors(void **state)
{
	struct rtapi_sm sm;
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE, XA), 200);
	assert_int_equal(rtapi_sm_ext_exit_error(&sm, 0), 202);
	assert_true(sm.ext[0].failed);
	assert_int_equal(rtapi_sm_ext_init_error(&sm, 0), 202);
	assert_int_equal(sm.state, RTAPI_FAILED);
	assert_int_equal(rtapi_sm_next(&sm), 400);
	to_between(&sm);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", RTAPI_EXT_INVOKE, XA), 403);
	/* after init, init/error is refused */
	rtapi_sm_init(&sm);
	assert_int_equal(rtapi_sm_ext_register(&sm, "a", 0, XA), 200);
	assert_int_equal(rtapi_sm_ext_next(&sm, 0), 0);
	assert_int_equal(rtapi_sm_next(&sm), 0);
	assert_int_equal(rtapi_sm_deliver(&sm, ID1), 0);
	assert_int_equal(rtapi_sm_ext_init_error(&sm, 0), 403);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_state),
	    cmocka_unit_test(test_happy_path_twice),
	    cmocka_unit_test(test_next_twice_refused_in_init),
	    cmocka_unit_test(test_next_twice_refused_between),
	    cmocka_unit_test(test_next_refused_when_failed),
	    cmocka_unit_test(test_next_while_busy_parks),
	    cmocka_unit_test(test_deliver_without_parked),
	    cmocka_unit_test(test_deliver_twice_refused),
	    cmocka_unit_test(test_deliver_refused_when_failed),
	    cmocka_unit_test(test_deliver_refused_while_busy),
	    cmocka_unit_test(test_deliver_long_id_refused),
	    cmocka_unit_test(test_deliver_empty_id_refused),
	    cmocka_unit_test(test_unpark),
	    cmocka_unit_test(test_complete_refused_in_init),
	    cmocka_unit_test(test_complete_wrong_id),
	    cmocka_unit_test(test_complete_twice_refused),
	    cmocka_unit_test(test_complete_refused_when_failed),
	    cmocka_unit_test(test_init_error_in_init),
	    cmocka_unit_test(test_init_error_with_parked_next),
	    cmocka_unit_test(test_init_error_refused_when_busy),
	    cmocka_unit_test(test_init_error_refused_between),
	    cmocka_unit_test(test_exhaustive_table),
	    cmocka_unit_test(test_stream_begin_end),
	    cmocka_unit_test(test_stream_begin_refused),
	    cmocka_unit_test(test_stream_end_without_stream),
	    cmocka_unit_test(test_ext_init_waits_for_all),
	    cmocka_unit_test(test_ext_invoke_busy_until_next),
	    cmocka_unit_test(test_ext_register_refused),
	    cmocka_unit_test(test_ext_next_twice_refused),
	    cmocka_unit_test(test_ext_shutdown),
	    cmocka_unit_test(test_ext_errors),
	    cmocka_unit_test(test_ext_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
