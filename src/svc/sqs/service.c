/* SQS as two entries of the front's service table, AWS JSON 1.0 (X-Amz-Target AmazonSQS.*)
 * and query (Action=...), with the same operations and errors: the input of either
 * protocol becomes AWS JSON's shape, and the result goes out in the request's protocol. */
#include <ctype.h>
#include <lambdad/xmalloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "svc/sqs/sqs_int.h"

/* ---------------------------------------------------------------- query shapes */

static const struct proto_qshape in_mattr_value[] = {
    {"StringListValues", "StringListValue", PROTO_Q_LIST, NULL, NULL, NULL},
    {"BinaryListValues", "BinaryListValue", PROTO_Q_LIST, NULL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

#define IN_MSG_ATTRS                                                                                         \
	{"MessageAttributes", "MessageAttribute", PROTO_Q_MAP, "Name", "Value", in_mattr_value},             \
	{                                                                                                    \
		"MessageSystemAttributes", "MessageSystemAttribute", PROTO_Q_MAP, "Name", "Value",           \
		    in_mattr_value                                                                           \
	}

static const struct proto_qshape in_send_entry[] = {
    IN_MSG_ATTRS,
    {NULL, NULL, 0, NULL, NULL, NULL},
};

/* Every flattened member of SQS's inputs (botocore's query model). */
static const struct proto_qshape in_shapes[] = {
    {"Attributes", "Attribute", PROTO_Q_MAP, "Name", "Value", NULL},
    {"Tags", "Tag", PROTO_Q_MAP, "Key", "Value", NULL},
    {"TagKeys", "TagKey", PROTO_Q_LIST, NULL, NULL, NULL},
    {"AttributeNames", "AttributeName", PROTO_Q_LIST, NULL, NULL, NULL},
    {"MessageSystemAttributeNames", "MessageSystemAttributeName", PROTO_Q_LIST, NULL, NULL, NULL},
    {"MessageAttributeNames", "MessageAttributeName", PROTO_Q_LIST, NULL, NULL, NULL},
    IN_MSG_ATTRS,
    {"Entries", "SendMessageBatchRequestEntry", PROTO_Q_LIST, NULL, NULL, in_send_entry},
    {"Entries", "DeleteMessageBatchRequestEntry", PROTO_Q_LIST, NULL, NULL, NULL},
    {"Entries", "ChangeMessageVisibilityBatchRequestEntry", PROTO_Q_LIST, NULL, NULL, NULL},
    {"AWSAccountIds", "AWSAccountId", PROTO_Q_LIST, NULL, NULL, NULL},
    {"Actions", "ActionName", PROTO_Q_LIST, NULL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

static const struct proto_qshape out_message[] = {
    {"Attributes", "Attribute", PROTO_Q_MAP, "Name", "Value", NULL},
    {"MessageAttributes", "MessageAttribute", PROTO_Q_MAP, "Name", "Value", NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

#define OUT_COMMON                                                                                           \
	{"QueueUrls", "QueueUrl", PROTO_Q_LIST, NULL, NULL, NULL},                                           \
	    {"queueUrls", "QueueUrl", PROTO_Q_LIST, NULL, NULL, NULL},                                       \
	    {"Attributes", "Attribute", PROTO_Q_MAP, "Name", "Value", NULL},                                 \
	    {"Tags", "Tag", PROTO_Q_MAP, "Key", "Value", NULL},                                              \
	    {"Messages", "Message", PROTO_Q_LIST, NULL, NULL, out_message},                                  \
	{                                                                                                    \
		"Failed", "BatchResultErrorEntry", PROTO_Q_LIST, NULL, NULL, NULL                            \
	}

static const struct proto_qshape out_common[] = {
    OUT_COMMON,
    {NULL, NULL, 0, NULL, NULL, NULL},
};
static const struct proto_qshape out_send_batch[] = {
    OUT_COMMON,
    {"Successful", "SendMessageBatchResultEntry", PROTO_Q_LIST, NULL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};
static const struct proto_qshape out_delete_batch[] = {
    OUT_COMMON,
    {"Successful", "DeleteMessageBatchResultEntry", PROTO_Q_LIST, NULL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};
static const struct proto_qshape out_change_batch[] = {
    OUT_COMMON,
    {"Successful", "ChangeMessageVisibilityBatchResultEntry", PROTO_Q_LIST, NULL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

const struct proto_qshape *sqs_query_in_shapes(void)
{
	return in_shapes;
}

/* ---------------------------------------------------------------- calls */

void sqs__call_free(struct sqs_call *c)
{
	if (!c)
		return;
	json_decref(c->in);
	free(c);
}

void sqs__reply(struct sqs_call *c, json_t *result)
{
	if (c->svc->proto == PROTO_QUERY) {
		const struct proto_qshape *shapes = out_common;
		if (strcmp(c->action, "SendMessageBatch") == 0)
			shapes = out_send_batch;
		else if (strcmp(c->action, "DeleteMessageBatch") == 0)
			shapes = out_delete_batch;
		else if (strcmp(c->action, "ChangeMessageVisibilityBatch") == 0)
			shapes = out_change_batch;
		proto_query_reply(c->rq, SQS_XMLNS, c->action, result, shapes);
	} else {
		proto_reply(c->rq, PROTO_AWS_JSON_1_0, 200, result ? result : json_object());
	}
	sqs__call_free(c);
}

void sqs__fail(struct sqs_call *c, int id, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	svc_reply_error(c->rq, c->svc, id, NULL, "%s", msg);
	sqs__call_free(c);
}

/* The request's Host, when it is a plain host[:port]; else "localhost". */
static void host_of(struct front_req *rq, char *out, size_t outsz)
{
	const char *h = front_req_header(rq, "Host");
	bool ok = h && *h && strlen(h) < outsz;
	for (const char *p = h; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || strchr(".-:[]_", *p);
	snprintf(out, outsz, "%s", ok ? h : "localhost");
}

static void call(void *ctx, const struct svc_call *sc, void (*fn)(struct sqs_call *c))
{
	struct sqs_call *c = xcalloc(1, sizeof(*c));
	c->s = ctx;
	c->rq = sc->rq;
	c->svc = sc->svc;
	c->action = sc->op->name;
	host_of(sc->rq, c->host, sizeof(c->host));
	char why[512];
	if (c->svc->proto == PROTO_QUERY) {
		if (proto_query_input(sc->rq, in_shapes, &c->in, why, sizeof(why)) < 0)
			return sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE, "%s", why);
	} else {
		c->in = proto_body_json(sc->rq, why, sizeof(why));
		if (!c->in)
			return sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
			                 "The request body is not valid JSON: %s", why);
	}
	fn(c);
}

#define BIND(hname, fn)                                                                                      \
	static void hname(void *ctx, const struct svc_call *sc)                                              \
	{                                                                                                    \
		call(ctx, sc, fn);                                                                           \
	}

BIND(h_create_queue, sqs__op_create_queue)
BIND(h_get_queue_url, sqs__op_get_queue_url)
BIND(h_list_queues, sqs__op_list_queues)
BIND(h_delete_queue, sqs__op_delete_queue)
BIND(h_purge_queue, sqs__op_purge_queue)
BIND(h_get_queue_attributes, sqs__op_get_queue_attributes)
BIND(h_set_queue_attributes, sqs__op_set_queue_attributes)
BIND(h_send_message, sqs__op_send_message)
BIND(h_send_message_batch, sqs__op_send_message_batch)
BIND(h_receive_message, sqs__op_receive_message)
BIND(h_delete_message, sqs__op_delete_message)
BIND(h_delete_message_batch, sqs__op_delete_message_batch)
BIND(h_change_message_visibility, sqs__op_change_message_visibility)
BIND(h_change_message_visibility_batch, sqs__op_change_message_visibility_batch)
BIND(h_tag_queue, sqs__op_tag_queue)
BIND(h_untag_queue, sqs__op_untag_queue)
BIND(h_list_queue_tags, sqs__op_list_queue_tags)
BIND(h_list_dead_letter_source_queues, sqs__op_list_dead_letter_source_queues)

/* Every operation of botocore's sqs 2012-11-05 model; NULL: not implemented yet. */
static const struct op sqs_ops[] = {
    {.name = "AddPermission", .method = FRONT_POST},
    {.name = "CancelMessageMoveTask", .method = FRONT_POST},
    {.name = "ChangeMessageVisibility", .method = FRONT_POST, .handler = h_change_message_visibility},
    {.name = "ChangeMessageVisibilityBatch",
     .method = FRONT_POST,
     .handler = h_change_message_visibility_batch},
    {.name = "CreateQueue", .method = FRONT_POST, .handler = h_create_queue},
    {.name = "DeleteMessage", .method = FRONT_POST, .handler = h_delete_message},
    {.name = "DeleteMessageBatch", .method = FRONT_POST, .handler = h_delete_message_batch},
    {.name = "DeleteQueue", .method = FRONT_POST, .handler = h_delete_queue},
    {.name = "GetQueueAttributes", .method = FRONT_POST, .handler = h_get_queue_attributes},
    {.name = "GetQueueUrl", .method = FRONT_POST, .handler = h_get_queue_url},
    {.name = "ListDeadLetterSourceQueues", .method = FRONT_POST, .handler = h_list_dead_letter_source_queues},
    {.name = "ListMessageMoveTasks", .method = FRONT_POST},
    {.name = "ListQueueTags", .method = FRONT_POST, .handler = h_list_queue_tags},
    {.name = "ListQueues", .method = FRONT_POST, .handler = h_list_queues},
    {.name = "PurgeQueue", .method = FRONT_POST, .handler = h_purge_queue},
    {.name = "ReceiveMessage", .method = FRONT_POST, .handler = h_receive_message},
    {.name = "RemovePermission", .method = FRONT_POST},
    {.name = "SendMessage", .method = FRONT_POST, .handler = h_send_message},
    {.name = "SendMessageBatch", .method = FRONT_POST, .handler = h_send_message_batch},
    {.name = "SetQueueAttributes", .method = FRONT_POST, .handler = h_set_queue_attributes},
    {.name = "StartMessageMoveTask", .method = FRONT_POST},
    {.name = "TagQueue", .method = FRONT_POST, .handler = h_tag_queue},
    {.name = "UntagQueue", .method = FRONT_POST, .handler = h_untag_queue},
};

/* What the two protocols' entries share: the same operations and errors. */
#define SQS_SVC_COMMON                                                                                       \
	.name = "sqs", .title = "SQS", .ops = sqs_ops, .nops = sizeof(sqs_ops) / sizeof(sqs_ops[0]),         \
	.errors = sqs_errors, .nerrors = SQS_ERR_COUNT, .query_codes = sqs_query_codes,                      \
	.err_unknown_op = SQS_ERR_INVALID_ACTION, .err_bad_input = SQS_ERR_MALFORMED_QUERY_STRING,           \
	.err_unavailable = SQS_ERR_SERVICE_UNAVAILABLE, .err_too_large = SQS_ERR_REQUEST_TOO_LARGE

const struct svc sqs_json_svc = {
    SQS_SVC_COMMON,
    .proto = PROTO_AWS_JSON_1_0,
    .target_prefix = "AmazonSQS.",
};

const struct svc sqs_query_svc = {
    SQS_SVC_COMMON,
    .proto = PROTO_QUERY,
};

/* ---------------------------------------------------------------- lifecycle */

int sqs_new(struct event_base *base, struct store *st, const struct sqs_config *cfg, struct sqs **out,
            struct err *errp)
{
	struct sqs *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->st = st;
	s->region = xstrdup(cfg->region ? cfg->region : "us-east-1");
	s->account = xstrdup(cfg->account ? cfg->account : "000000000000");
	map_init(&s->queues, MAP_SORTED);
	int r = sqs__load(s, errp);
	if (r < 0) {
		sqs_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void sqs_free(struct sqs *s)
{
	if (!s)
		return;
	/* Answers waiting for a group commit go out now, while the transport is still up. */
	store_flush(s->st);
	if (s->metrics)
		metrics_unregister(s->metrics, sqs__metrics_collect, s);
	sqs__queues_free(s);
	free(s->region);
	free(s->account);
	free(s);
}

void sqs_attach(struct sqs *s, struct front *f, struct metrics *m)
{
	front_add(f, &sqs_json_svc, s);
	front_add(f, &sqs_query_svc, s);
	s->metrics = m;
	if (m)
		metrics_register(m, sqs__metrics_collect, s);
}
