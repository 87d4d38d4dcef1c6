/* The SQS event source: a reader per poller worker over the SQS service's internal
 * consumer interface (svc/sqs/sqs.h: sqs_receive, sqs_delete_message), and the SQS event
 * record of Lambda (messageId, receiptHandle, body, attributes, messageAttributes,
 * md5OfBody, eventSource, eventSourceARN, awsRegion). A failed record is left alone: it
 * reappears after the queue's visibility timeout. */
#include <errno.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esm/esm.h"
#include "esm/source_sqs.h"
#include "svc/sqs/sqs.h"

/* The source's context: the service and the loop. */
struct sqs_src {
	struct sqs *s;
	struct event_base *base;
};

struct sqs_reader {
	struct sqs *s;
	char *arn;
	char region[64];
	struct sqs_wait *w; /* the long poll under way, or NULL */
	struct event *ev;   /* hands the receive's outcome to the poller on a loop turn */
	json_t *pending;    /* the messages received, not handed over yet */
	int status;         /* of the receive, when handed over */
	esm_receive_cb cb;
	void *arg;
};

static int check(void *ctx, const char *arn, struct err *errp)
{
	struct sqs_src *src = ctx;
	if (sqs_queue_check(src->s, arn, NULL) == 0)
		return 0;
	return err_make(
	    errp, ENOENT,
	    "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
	    "SQS Error Message: The specified queue does not exist or you do not have access to it.");
}

static int64_t lease_s(void *ctx, const char *arn)
{
	struct sqs_src *src = ctx;
	int64_t vt = -1;
	return sqs_queue_check(src->s, arn, &vt) == 0 ? vt : -1;
}

/* The record of Lambda's SQS event for m (ReceiveMessage's output shape, borrowed). */
static json_t *record_of(struct sqs_reader *r, json_t *m)
{
	json_t *attrs = json_object(), *mattrs = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(m, "Attributes"), k, v) {
		json_object_set(attrs, k, v);
	}
	json_object_foreach(json_object_get(m, "MessageAttributes"), k, v) {
		json_t *a = json_pack("{s:[], s:[], s:O?}", "stringListValues", "binaryListValues",
		                      "dataType", json_object_get(v, "DataType"));
		json_t *sv = json_object_get(v, "StringValue"), *bv = json_object_get(v, "BinaryValue");
		if (sv)
			json_object_set(a, "stringValue", sv);
		if (bv)
			json_object_set(a, "binaryValue", bv);
		json_object_set_new(mattrs, k, a);
	}
	return json_pack(
	    "{s:O?, s:O?, s:O?, s:o, s:o, s:O?, s:s, s:s, s:s}", "messageId", json_object_get(m, "MessageId"),
	    "receiptHandle", json_object_get(m, "ReceiptHandle"), "body", json_object_get(m, "Body"),
	    "attributes", attrs, "messageAttributes", mattrs, "md5OfBody", json_object_get(m, "MD5OfBody"),
	    "eventSource", "aws:sqs", "eventSourceARN", r->arn, "awsRegion", r->region);
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sqs_reader *r = arg;
	json_t *msgs = r->pending;
	r->pending = NULL;
	size_t n = json_array_size(msgs);
	struct esm_record *recs = n ? xcalloc(n, sizeof(*recs)) : NULL;
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m) {
		struct esm_record *rec = &recs[i];
		snprintf(rec->id, sizeof(rec->id), "%s", json_string_value(json_object_get(m, "MessageId")));
		rec->record = record_of(r, m);
		rec->token = xstrdup(json_string_value(json_object_get(m, "ReceiptHandle")));
		const char *sent =
		    json_string_value(json_object_get(json_object_get(m, "Attributes"), "SentTimestamp"));
		rec->arrived_ms = sent ? strtoll(sent, NULL, 10) : 0;
		/* FilterCriteria sees a JSON body as JSON. */
		const char *body = json_string_value(json_object_get(m, "Body"));
		json_t *parsed = body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
		if (parsed) {
			rec->match = json_deep_copy(rec->record);
			json_object_set_new(rec->match, "body", parsed);
		}
	}
	json_decref(msgs);
	int status = r->status;
	r->status = 0;
	r->cb(r->arg, status, recs, n, status == -ENOENT ? "PROBLEM: The SQS queue no longer exists." : NULL);
}

static void waited_cb(void *arg, json_t *msgs)
{
	struct sqs_reader *r = arg;
	r->w = NULL;
	r->pending = json_incref(msgs);
	event_active(r->ev, EV_TIMEOUT, 0);
}

static int open_reader(void *ctx, const char *arn, void **out, struct err *errp)
{
	struct sqs_src *src = ctx;
	if (sqs_queue_check(src->s, arn, NULL) < 0)
		return check(ctx, arn, errp);
	struct sqs_reader *r = xcalloc(1, sizeof(*r));
	r->s = src->s;
	r->arn = xstrdup(arn);
	/* arn:aws:sqs:<region>:<account>:<name> */
	const char *p = arn + strlen("arn:aws:sqs:");
	snprintf(r->region, sizeof(r->region), "%.*s", (int)strcspn(p, ":"), p);
	r->ev = event_new(src->base, -1, 0, deliver_cb, r);
	*out = r;
	return 0;
}

static int receive(void *reader, size_t max, int64_t wait_ms, esm_receive_cb cb, void *arg)
{
	struct sqs_reader *r = reader;
	if (r->w || r->pending)
		return -EBUSY;
	r->cb = cb;
	r->arg = arg;
	json_t *msgs = NULL;
	/* The service hands at most 10 at a time, as ReceiveMessage does. */
	int rc = sqs_receive(r->s, r->arn, max > 10 ? 10 : max, wait_ms, waited_cb, r, &msgs, &r->w);
	if (rc == -ENOENT) {
		r->status = -ENOENT;
		r->pending = json_array();
	} else if (rc < 0) {
		return rc;
	} else if (msgs) {
		r->pending = msgs;
	}
	if (r->pending)
		event_active(r->ev, EV_TIMEOUT, 0);
	return 0;
}

static void ack(void *reader, struct esm_record *rec)
{
	struct sqs_reader *r = reader;
	sqs_delete_message(r->s, r->arn, rec->token);
}

static void nack(void *reader, struct esm_record *rec)
{
	/* Left to the visibility timeout, as Lambda does. */
}

static void close_reader(void *reader)
{
	struct sqs_reader *r = reader;
	if (!r)
		return;
	sqs_receive_cancel(r->w);
	event_free(r->ev);
	json_decref(r->pending);
	free(r->arn);
	free(r);
}

static const struct esm_source_ops sqs_source = {
    .kind = "sqs",
    .arn_prefix = "arn:aws:sqs:",
    .check = check,
    .lease_s = lease_s,
    .open = open_reader,
    .receive = receive,
    .ack = ack,
    .nack = nack,
    .token_free = free,
    .close = close_reader,
    .ctx_free = free,
};

int esm_source_sqs_register(struct esm *e, struct sqs *s, struct event_base *base)
{
	struct sqs_src *src = xcalloc(1, sizeof(*src));
	src->s = s;
	src->base = base;
	int r = esm_source_register(e, &sqs_source, src);
	if (r < 0)
		free(src);
	return r;
}
