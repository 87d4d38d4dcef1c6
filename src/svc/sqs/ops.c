/* SQS's operations: queues (create, look up, list, attributes, tags, purge, delete) and
 * messages (send, receive with long polling, delete, visibility, dead-letter moves). The
 * data plane answers after the group commit that holds its writes (store_group_wait);
 * the control plane commits before its answer (store_commit). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/utf8.h"
#include "metrics/metrics.h"
#include "svc/sqs/sqs_int.h"

/* ---------------------------------------------------------------- input helpers */

static json_t *in_get(struct sqs_call *c, const char *name)
{
	return json_object_get(c->in, name);
}

/* The string member name, or NULL when absent; a member of another type answers
 * InvalidParameterValue and sets *bad. */
static const char *in_str(struct sqs_call *c, const char *name, bool *bad)
{
	json_t *v = in_get(c, name);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = true;
		sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
		          "Value for parameter %s is invalid. Reason: must be a string.", name);
		return NULL;
	}
	return json_string_value(v);
}

/* The member name (JSON null included), or NULL when absent, answered MissingParameter. */
static json_t *in_required(struct sqs_call *c, const char *name)
{
	json_t *v = in_get(c, name);
	if (!v)
		sqs__fail(c, SQS_ERR_MISSING_PARAMETER, "The request must contain the parameter %s.", name);
	return v;
}

/* The string member name, or NULL when absent or of another type (answered). */
static const char *in_str_required(struct sqs_call *c, const char *name)
{
	bool bad = false;
	const char *v = in_str(c, name, &bad);
	if (!v && !bad)
		sqs__fail(c, SQS_ERR_MISSING_PARAMETER, "The request must contain the parameter %s.", name);
	return v;
}

/* Parses v (a JSON integer, or a string of decimal digits) as an integer in [min, max]. */
static bool int_of(json_t *v, int64_t min, int64_t max, int64_t *out)
{
	int64_t x;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;
		errno = 0;
		if (!*s || strlen(s) > 18)
			return false;
		x = strtoll(s, &end, 10);
		if (*end || errno)
			return false;
	} else {
		return false;
	}
	if (x < min || x > max)
		return false;
	*out = x;
	return true;
}

/* The integer member name of c's input: 1 and *out when present, 0 when absent, -1 when
 * invalid (answered). */
static int in_int(struct sqs_call *c, const char *name, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = in_get(c, name);
	if (!v || json_is_null(v))
		return 0;
	if (!int_of(v, min, max, out)) {
		char shown[64];
		if (json_is_string(v))
			snprintf(shown, sizeof(shown), "%.40s", json_string_value(v));
		else if (json_is_integer(v))
			snprintf(shown, sizeof(shown), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			snprintf(shown, sizeof(shown), "(not a number)");
		sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
		          "Value %s for parameter %s is invalid. Reason: must be between %" PRId64
		          " and %" PRId64 ".",
		          shown, name, min, max);
		return -1;
	}
	return 1;
}

static void queue_url(const struct sqs_call *c, const struct sqs_queue *q, char *out, size_t outsz)
{
	snprintf(out, outsz, "http://%s/%s/%s", c->host, c->s->account, q->name);
}

/* The queue name of a QueueUrl ("http://host/account/name", "/account/name" or "name"). */
static const char *url_name(const char *url)
{
	const char *slash = strrchr(url, '/');
	return slash ? slash + 1 : url;
}

/* The queue c's QueueUrl (or, without one, its request path /ACCOUNT/NAME) names, or NULL
 * (answered). */
static struct sqs_queue *in_queue(struct sqs_call *c)
{
	bool bad = false;
	const char *url = in_str(c, "QueueUrl", &bad);
	if (bad)
		return NULL;
	const char *path = front_req_path(c->rq);
	char buf[512];
	if (!url && path && strcmp(path, "/") != 0) {
		snprintf(buf, sizeof(buf), "%s", path);
		size_t n = strlen(buf);
		while (n > 1 && buf[n - 1] == '/')
			buf[--n] = 0;
		url = buf;
	}
	if (!url) {
		sqs__fail(c, SQS_ERR_MISSING_PARAMETER, "The request must contain the parameter QueueUrl.");
		return NULL;
	}
	struct sqs_queue *q = sqs__queue_get(c->s, url_name(url));
	if (!q)
		sqs__fail(c, SQS_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
	return q;
}

static bool valid_queue_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 80)
		return false;
	size_t base = len > 5 && strcmp(n + len - 5, ".fifo") == 0 ? len - 5 : len;
	for (size_t i = 0; i < base; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '-' && n[i] != '_')
			return false;
	return true;
}

static bool is_fifo_name(const char *n)
{
	size_t len = strlen(n);
	return len > 5 && strcmp(n + len - 5, ".fifo") == 0;
}

/* ---------------------------------------------------------------- answering after a commit */

struct pending {
	struct sqs_call *c;
	json_t *result;
};

static void durable_cb(int status, void *arg)
{
	struct pending *p = arg;
	if (status < 0) {
		json_decref(p->result);
		sqs__fail(p->c, SQS_ERR_INTERNAL_FAILURE, "The request could not be made durable: %s",
		          strerror(-status));
	} else {
		sqs__reply(p->c, p->result);
	}
	free(p);
}

/* Answers c with result (stolen) once every write made so far is durable. */
static void reply_durable(struct sqs_call *c, json_t *result)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	p->c = c;
	p->result = result;
	store_group_wait(c->s->st, durable_cb, p);
}

/* The control plane: commits now, then answers. */
static void reply_committed(struct sqs_call *c, json_t *result)
{
	struct err e = {0};
	if (store_commit(c->s->st, &e) < 0) {
		json_decref(result);
		return sqs__fail(c, SQS_ERR_INTERNAL_FAILURE, "The change could not be stored: %s", e.msg);
	}
	sqs__reply(c, result);
}

/* Stores q's changed attributes or tags (what names them in the error) and answers the
 * call once committed; false when the store failed (answered). */
static bool save_reply(struct sqs_call *c, struct sqs_queue *q, const char *what)
{
	struct err e = {0};
	if (sqs__queue_save(q, &e) < 0) {
		sqs__fail(c, SQS_ERR_INTERNAL_FAILURE, "The %s could not be stored: %s", what, e.msg);
		return false;
	}
	reply_committed(c, NULL);
	return true;
}

/* ---------------------------------------------------------------- queue attributes */

struct attr_rule {
	const char *name;
	int64_t min, max; /* an integer attribute when max > 0 */
	const char *dflt; /* set at creation when given none; NULL: absent */
	bool fifo_only;
};

static const struct attr_rule attr_rules[] = {
    {"DelaySeconds", 0, 900, "0", false},
    {"MaximumMessageSize", 1024, 1048576, "1048576", false},
    {"MessageRetentionPeriod", 60, 1209600, "345600", false},
    {"ReceiveMessageWaitTimeSeconds", 0, 20, "0", false},
    {"VisibilityTimeout", 0, 43200, "30", false},
    {"KmsDataKeyReusePeriodSeconds", 60, 86400, NULL, false},
    {"Policy", 0, 0, NULL, false},
    {"RedrivePolicy", 0, 0, NULL, false},
    {"RedriveAllowPolicy", 0, 0, NULL, false},
    {"KmsMasterKeyId", 0, 0, NULL, false},
    {"SqsManagedSseEnabled", 0, 0, "true", false},
    {"FifoQueue", 0, 0, NULL, true},
    {"ContentBasedDeduplication", 0, 0, NULL, true},
    {"DeduplicationScope", 0, 0, NULL, true},
    {"FifoThroughputLimit", 0, 0, NULL, true},
};

static const char *const readonly_attrs[] = {
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
};

static const struct attr_rule *attr_rule(const char *name)
{
	for (size_t i = 0; i < sizeof(attr_rules) / sizeof(attr_rules[0]); i++)
		if (strcmp(attr_rules[i].name, name) == 0)
			return &attr_rules[i];
	return NULL;
}

static bool is_bool_text(const char *v)
{
	return strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
}

/* Checks attribute name = v for a queue (fifo: whether it is FIFO); 0, or an error id
 * with the message in msg. */
static int check_attr(struct sqs *s, const char *name, const char *v, bool fifo, bool create, char *msg,
                      size_t msglen)
{
	const struct attr_rule *r = attr_rule(name);
	if (!r) {
		for (size_t i = 0; i < sizeof(readonly_attrs) / sizeof(readonly_attrs[0]); i++)
			if (strcmp(readonly_attrs[i], name) == 0) {
				snprintf(msg, msglen, "Attribute %s is read-only.", name);
				return SQS_ERR_INVALID_ATTRIBUTE_NAME;
			}
		snprintf(msg, msglen, "Unknown Attribute %s.", name);
		return SQS_ERR_INVALID_ATTRIBUTE_NAME;
	}
	if (r->fifo_only && !fifo && strcmp(name, "FifoQueue") != 0) {
		snprintf(msg, msglen, "Unknown Attribute %s.", name);
		return SQS_ERR_INVALID_ATTRIBUTE_NAME;
	}
	int64_t x;
	json_t *jv = json_string(v);
	bool ok = r->max == 0 || int_of(jv, r->min, r->max, &x);
	json_decref(jv);
	if (!ok) {
		snprintf(msg, msglen,
		         "Invalid value for the parameter %s. Reason: must be an integer from %" PRId64
		         " to %" PRId64 ".",
		         name, r->min, r->max);
		return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
	}
	if (strcmp(name, "FifoQueue") == 0) {
		if (!create) {
			snprintf(msg, msglen,
			         "Invalid value for the parameter FifoQueue. Reason: it cannot be changed.");
			return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
		}
		if (!is_bool_text(v) || (strcmp(v, "true") == 0) != fifo) {
			snprintf(msg, msglen,
			         "Invalid value for the parameter FifoQueue. Reason: a FIFO queue's name "
			         "ends in .fifo "
			         "and it has FifoQueue true; another queue has neither.");
			return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
		}
	}
	if ((strcmp(name, "ContentBasedDeduplication") == 0 || strcmp(name, "SqsManagedSseEnabled") == 0) &&
	    !is_bool_text(v)) {
		snprintf(msg, msglen, "Invalid value for the parameter %s. Reason: must be true or false.",
		         name);
		return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
	}
	if (strcmp(name, "DeduplicationScope") == 0 && strcmp(v, "queue") != 0 &&
	    strcmp(v, "messageGroup") != 0) {
		snprintf(
		    msg, msglen,
		    "Invalid value for the parameter DeduplicationScope. Reason: queue or messageGroup.");
		return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
	}
	if (strcmp(name, "FifoThroughputLimit") == 0 && strcmp(v, "perQueue") != 0 &&
	    strcmp(v, "perMessageGroupId") != 0) {
		snprintf(msg, msglen,
		         "Invalid value for the parameter FifoThroughputLimit. Reason: perQueue or "
		         "perMessageGroupId.");
		return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
	}
	if ((strcmp(name, "Policy") == 0 || strcmp(name, "RedriveAllowPolicy") == 0) && *v) {
		json_t *o = json_loads(v, 0, NULL);
		bool obj = json_is_object(o);
		json_decref(o);
		if (!obj) {
			snprintf(msg, msglen,
			         "Invalid value for the parameter %s. Reason: not a JSON object.", name);
			return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
		}
	}
	if (strcmp(name, "RedrivePolicy") == 0 && *v) {
		json_t *o = json_loads(v, 0, NULL);
		const char *arn = json_string_value(json_object_get(o, "deadLetterTargetArn"));
		int64_t n = 0;
		bool cnt = int_of(json_object_get(o, "maxReceiveCount"), 1, 1000, &n);
		const char *colon = arn ? strrchr(arn, ':') : NULL;
		struct sqs_queue *dlq = colon ? sqs__queue_get(s, colon + 1) : NULL;
		int id = 0;
		if (!json_is_object(o) || !arn || !cnt)
			snprintf(msg, msglen,
			         "Value %.200s for parameter RedrivePolicy is invalid. Reason: Redrive "
			         "policy is not a "
			         "JSON object with deadLetterTargetArn and maxReceiveCount (1 to 1000).",
			         v);
		else if (!dlq)
			snprintf(msg, msglen,
			         "Value %.200s for parameter RedrivePolicy is invalid. Reason: Dead letter "
			         "target does "
			         "not exist.",
			         v);
		else if (dlq->fifo != fifo)
			snprintf(msg, msglen,
			         "Value %.200s for parameter RedrivePolicy is invalid. Reason: Dead-letter "
			         "queue must be "
			         "same type of queue as the source.",
			         v);
		else
			id = -1;
		json_decref(o);
		if (id == 0)
			return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	return 0;
}

/* Checks every attribute of attrs (an object of strings); 0 or an error id (msg). */
static int check_attrs(struct sqs *s, json_t *attrs, bool fifo, bool create, char *msg, size_t msglen)
{
	if (!attrs)
		return 0;
	if (!json_is_object(attrs)) {
		snprintf(msg, msglen,
		         "Value for parameter Attributes is invalid. Reason: must be a map of strings.");
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	const char *k;
	json_t *v;
	json_object_foreach(attrs, k, v) {
		if (!json_is_string(v)) {
			snprintf(msg, msglen, "Invalid value for the parameter %s. Reason: must be a string.",
			         k);
			return SQS_ERR_INVALID_ATTRIBUTE_VALUE;
		}
		int id = check_attr(s, k, json_string_value(v), fifo, create, msg, msglen);
		if (id)
			return id;
	}
	return 0;
}

static bool check_tags(struct sqs_call *c, json_t *tags)
{
	if (!tags)
		return true;
	const char *k;
	json_t *v;
	if (!json_is_object(tags))
		goto bad;
	json_object_foreach(tags, k, v) {
		if (!json_is_string(v) || !*k || strlen(k) > 128 || json_string_length(v) > 256)
			goto bad;
	}
	if (json_object_size(tags) <= 50)
		return true;
bad:
	sqs__fail(
	    c, SQS_ERR_INVALID_PARAMETER_VALUE,
	    "Value for parameter Tags is invalid. Reason: tags are at most 50 pairs of a key of 1 to 128 "
	    "characters and a value of at most 256.");
	return false;
}

/* ---------------------------------------------------------------- queue operations */

void sqs__op_create_queue(struct sqs_call *c)
{
	const char *name = in_str_required(c, "QueueName");
	if (!name)
		return;
	if (!valid_queue_name(name))
		return sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
		                 "Value %.100s for parameter QueueName is invalid. Reason: Can only include "
		                 "alphanumeric characters, hyphens, or underscores. 1 to 80 in length.",
		                 name);
	json_t *attrs = in_get(c, "Attributes");
	json_t *tags = in_get(c, "tags") ? in_get(c, "tags") : in_get(c, "Tags");
	bool fifo = is_fifo_name(name);
	const char *fq = json_string_value(json_object_get(attrs, "FifoQueue"));
	if (fifo && !(fq && strcmp(fq, "true") == 0))
		return sqs__fail(
		    c, SQS_ERR_INVALID_PARAMETER_VALUE,
		    "Value %.100s for parameter QueueName is invalid. Reason: The name of a FIFO queue can "
		    "only include alphanumeric characters, hyphens, or underscores, must end with .fifo "
		    "suffix and the FifoQueue attribute must be true.",
		    name);
	char msg[512];
	int id = check_attrs(c->s, attrs, fifo, true, msg, sizeof(msg));
	if (id)
		return sqs__fail(c, id, "%s", msg);
	if (!check_tags(c, tags))
		return;
	struct sqs_queue *q = sqs__queue_get(c->s, name);
	char url[512];
	if (q) {
		const char *k;
		json_t *v;
		json_object_foreach(attrs, k, v) {
			json_t *have = json_object_get(q->attrs, k);
			if (!(have ? json_equal(have, v) : json_string_length(v) == 0))
				return sqs__fail(
				    c, SQS_ERR_QUEUE_NAME_EXISTS,
				    "A queue already exists with the same name and a different value for "
				    "attribute %s",
				    k);
		}
		queue_url(c, q, url, sizeof(url));
		return sqs__reply(c, json_pack("{s:s}", "QueueUrl", url));
	}
	json_t *all = json_object();
	for (size_t i = 0; i < sizeof(attr_rules) / sizeof(attr_rules[0]); i++) {
		if (attr_rules[i].dflt)
			json_object_set_new(all, attr_rules[i].name, json_string(attr_rules[i].dflt));
	}
	if (fifo) {
		json_object_set_new(all, "ContentBasedDeduplication", json_string("false"));
		json_object_set_new(all, "DeduplicationScope", json_string("queue"));
		json_object_set_new(all, "FifoThroughputLimit", json_string("perQueue"));
	}
	if (attrs)
		json_object_update(all, attrs);
	struct err e = {0};
	q = sqs__queue_add(c->s, name, all, tags ? json_deep_copy(tags) : NULL, &e);
	if (!q)
		return sqs__fail(c, SQS_ERR_INTERNAL_FAILURE, "The queue could not be stored: %s", e.msg);
	queue_url(c, q, url, sizeof(url));
	reply_committed(c, json_pack("{s:s}", "QueueUrl", url));
}

void sqs__op_get_queue_url(struct sqs_call *c)
{
	const char *name = in_str_required(c, "QueueName");
	if (!name)
		return;
	struct sqs_queue *q = sqs__queue_get(c->s, name);
	if (!q)
		return sqs__fail(c, SQS_ERR_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
	char url[512];
	queue_url(c, q, url, sizeof(url));
	sqs__reply(c, json_pack("{s:s}", "QueueUrl", url));
}

/* Pages names of queues that pred accepts: MaxResults and NextToken (the base64 of the
 * last name given). Adds member (the list) and NextToken to out, or answers an error. */
static bool page_queues(struct sqs_call *c, json_t *out, const char *member,
                        bool (*pred)(struct sqs_queue *q, void *arg), void *arg)
{
	int64_t max = 1000;
	int has_max = in_int(c, "MaxResults", 1, 1000, &max);
	if (has_max < 0)
		return false;
	bool bad = false;
	const char *tok = in_str(c, "NextToken", &bad);
	if (bad)
		return false;
	char *after = NULL;
	if (tok) {
		size_t n = 0;
		after = (char *)b64_decode(tok, strlen(tok), &n);
		if (!after || !n) {
			free(after);
			sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE, "Invalid NextToken value.");
			return false;
		}
		after = xrealloc(after, n + 1);
		after[n] = 0;
	}
	json_t *list = json_array();
	size_t i = after ? map_upper_bound(&c->s->queues, after) : 0;
	const char *last = NULL;
	bool more = false;
	for (; i < map_count(&c->s->queues); i++) {
		struct sqs_queue *q = map_value_at(&c->s->queues, i);
		if (!pred(q, arg))
			continue;
		if ((int64_t)json_array_size(list) == max) {
			more = true;
			break;
		}
		char url[512];
		queue_url(c, q, url, sizeof(url));
		json_array_append_new(list, json_string(url));
		last = q->name;
	}
	free(after);
	if (json_array_size(list) || strcmp(member, "QueueUrls") != 0)
		json_object_set_new(out, member, list);
	else
		json_decref(list);
	if (more && has_max && last) {
		char *t = b64_encode(last, strlen(last));
		json_object_set_new(out, "NextToken", json_string(t));
		free(t);
	}
	return true;
}

static bool prefix_pred(struct sqs_queue *q, void *arg)
{
	const char *p = arg;
	return !p || strncmp(q->name, p, strlen(p)) == 0;
}

void sqs__op_list_queues(struct sqs_call *c)
{
	bool bad = false;
	const char *prefix = in_str(c, "QueueNamePrefix", &bad);
	if (bad)
		return;
	json_t *out = json_object();
	if (!page_queues(c, out, "QueueUrls", prefix_pred, (void *)prefix)) {
		json_decref(out);
		return;
	}
	sqs__reply(c, out);
}

static bool dlq_source_pred(struct sqs_queue *q, void *arg)
{
	const char *arn = arg;
	const char *rp = json_string_value(json_object_get(q->attrs, "RedrivePolicy"));
	json_t *o = rp && *rp ? json_loads(rp, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(o, "deadLetterTargetArn"));
	bool yes = t && strcmp(t, arn) == 0;
	json_decref(o);
	return yes;
}

void sqs__op_list_dead_letter_source_queues(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	char arn[512];
	sqs__queue_arn(q, arn, sizeof(arn));
	json_t *out = json_object();
	if (!page_queues(c, out, "queueUrls", dlq_source_pred, arn)) {
		json_decref(out);
		return;
	}
	sqs__reply(c, out);
}

void sqs__op_delete_queue(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	struct err e = {0};
	if (sqs__queue_del(q, &e) < 0)
		return sqs__fail(c, SQS_ERR_INTERNAL_FAILURE, "The queue could not be deleted: %s", e.msg);
	reply_committed(c, NULL);
}

void sqs__op_purge_queue(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	int64_t now = clock_wall_ms();
	if (q->purged_ms && now - q->purged_ms < 60000)
		return sqs__fail(c, SQS_ERR_PURGE_QUEUE_IN_PROGRESS,
		                 "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q->name);
	struct err e = {0};
	q->purged_ms = now;
	if (sqs__queue_purge(q, &e) < 0 || sqs__queue_save(q, &e) < 0)
		return sqs__fail(c, SQS_ERR_INTERNAL_FAILURE, "The queue could not be purged: %s", e.msg);
	reply_durable(c, NULL);
}

static bool wants(json_t *names, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		const char *s = json_string_value(v);
		if (s && (strcmp(s, "All") == 0 || strcmp(s, name) == 0))
			return true;
	}
	return false;
}

void sqs__op_get_queue_attributes(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	json_t *names = in_get(c, "AttributeNames");
	if (names && !json_is_array(names))
		return sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
		                 "Value for parameter AttributeNames is invalid. Reason: must be a list.");
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		const char *n = json_string_value(v);
		bool known = n && (strcmp(n, "All") == 0 || attr_rule(n));
		for (size_t j = 0; n && j < sizeof(readonly_attrs) / sizeof(readonly_attrs[0]); j++)
			known = known || strcmp(readonly_attrs[j], n) == 0;
		if (!known)
			return sqs__fail(c, SQS_ERR_INVALID_ATTRIBUTE_NAME, "Unknown Attribute %s.",
			                 n ? n : "(not a string)");
	}
	int64_t now = clock_wall_ms();
	int64_t keep_ms = sqs__queue_int(q, "MessageRetentionPeriod") * 1000;
	uint64_t visible = 0, inflight = 0, delayed = 0;
	for (struct sqs_msg *m = q->head, *n; m; m = n) {
		n = m->next;
		struct err e = {0};
		if (m->sent_ms + keep_ms <= now && sqs__msg_del(q, m, &e) == 0)
			continue; /* past the retention period: gone (a failed delete counts it still) */
		if (m->visible_at_ms <= now)
			visible++;
		else if (m->recv_count > 0)
			inflight++;
		else
			delayed++;
	}
	json_t *all = json_deep_copy(q->attrs);
	char arn[512];
	sqs__queue_arn(q, arn, sizeof(arn));
	json_object_set_new(all, "QueueArn", json_string(arn));
	char num[32];
#define SETNUM(k, x)                                                                                         \
	do {                                                                                                 \
		snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)(x));                                       \
		json_object_set_new(all, k, json_string(num));                                               \
	} while (0)
	SETNUM("ApproximateNumberOfMessages", visible);
	SETNUM("ApproximateNumberOfMessagesNotVisible", inflight);
	SETNUM("ApproximateNumberOfMessagesDelayed", delayed);
	SETNUM("CreatedTimestamp", q->created_s);
	SETNUM("LastModifiedTimestamp", q->modified_s);
#undef SETNUM
	json_t *out = json_object();
	const char *k;
	json_object_foreach(all, k, v) {
		if (wants(names, k) && json_string_length(v) > 0)
			json_object_set(out, k, v);
	}
	json_decref(all);
	json_t *res = json_object();
	if (json_object_size(out))
		json_object_set_new(res, "Attributes", out);
	else
		json_decref(out);
	sqs__reply(c, res);
}

void sqs__op_set_queue_attributes(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	json_t *attrs = in_required(c, "Attributes");
	if (!attrs)
		return;
	char msg[512];
	int id = check_attrs(c->s, attrs, q->fifo, false, msg, sizeof(msg));
	if (id)
		return sqs__fail(c, id, "%s", msg);
	const char *k;
	json_t *v;
	json_object_foreach(attrs, k, v) {
		if (json_string_length(v) == 0 &&
		    (strcmp(k, "RedrivePolicy") == 0 || strcmp(k, "Policy") == 0 ||
		     strcmp(k, "RedriveAllowPolicy") == 0))
			json_object_del(q->attrs, k);
		else
			json_object_set(q->attrs, k, v);
	}
	q->modified_s = clock_wall_ms() / 1000;
	/* a shorter ReceiveMessageWaitTimeSeconds changes nothing for waiters; harmless */
	if (save_reply(c, q, "attributes"))
		sqs__kick(q);
}

void sqs__op_tag_queue(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	json_t *tags = in_required(c, "Tags");
	if (!tags)
		return;
	if (!check_tags(c, tags))
		return;
	json_t *merged = json_deep_copy(q->tags);
	json_object_update(merged, tags);
	if (json_object_size(merged) > 50) {
		json_decref(merged);
		return sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE, "Too many tags added for queue %s.",
		                 q->name);
	}
	json_decref(q->tags);
	q->tags = merged;
	save_reply(c, q, "tags");
}

void sqs__op_untag_queue(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	json_t *keys = in_required(c, "TagKeys");
	if (!keys)
		return;
	if (!json_is_array(keys))
		return sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
		                 "Value for parameter TagKeys is invalid. Reason: must be a list.");
	size_t i;
	json_t *v;
	json_array_foreach(keys, i, v) {
		if (json_is_string(v))
			json_object_del(q->tags, json_string_value(v));
	}
	save_reply(c, q, "tags");
}

void sqs__op_list_queue_tags(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	json_t *res = json_object();
	if (json_object_size(q->tags))
		json_object_set_new(res, "Tags", json_deep_copy(q->tags));
	sqs__reply(c, res);
}

/* ---------------------------------------------------------------- sending */

/* Whether body holds only the characters SQS allows (#x9 #xA #xD #x20-#xD7FF
 * #xE000-#xFFFD #x10000-#x10FFFF) in valid UTF-8. */
static bool body_chars_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		uint32_t cp;
		size_t n;
		if (*p < 0x80) {
			cp = *p;
			n = 1;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p & 0x1f;
			n = 2;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p & 0x0f;
			n = 3;
		} else if ((*p & 0xf8) == 0xf0) {
			cp = *p & 0x07;
			n = 4;
		} else {
			return false;
		}
		if ((size_t)(end - p) < n)
			return false;
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < minv[n])
			return false;
		bool ok = cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
		          (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
		if (!ok)
			return false;
		p += n;
	}
	return true;
}

static bool attr_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 256 || n[0] == '.' || n[len - 1] == '.' || strstr(n, ".."))
		return false;
	if (strncasecmp(n, "AWS.", 4) == 0 || strncasecmp(n, "Amazon.", 7) == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '-' && n[i] != '.')
			return false;
	return true;
}

/* Checks message attributes a (NULL: none) and normalises them into *out (owned: only
 * DataType and StringValue or BinaryValue); adds their size to *size. 0 or an error id. */
static int check_mattrs(json_t *a, const char *member, json_t **out, size_t *size, char *msg, size_t msglen)
{
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_object(a)) {
		snprintf(msg, msglen, "Value for parameter %s is invalid. Reason: must be a map.", member);
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	if (json_object_size(a) > 10) {
		snprintf(msg, msglen, "Number of message attributes [%zu] exceeds the allowed maximum [10].",
		         json_object_size(a));
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	json_t *norm = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(a, k, v) {
		if (!attr_name_ok(k)) {
			snprintf(msg, msglen, "Message (user) attribute name '%.256s' is invalid.", k);
			goto bad;
		}
		const char *type = json_string_value(json_object_get(v, "DataType"));
		if (!type || !*type) {
			snprintf(
			    msg, msglen,
			    "The message attribute '%.256s' must contain a non-empty message attribute type.",
			    k);
			goto bad;
		}
		bool bin = strncmp(type, "Binary", 6) == 0 && (type[6] == 0 || type[6] == '.');
		bool str = (strncmp(type, "String", 6) == 0 && (type[6] == 0 || type[6] == '.')) ||
		           (strncmp(type, "Number", 6) == 0 && (type[6] == 0 || type[6] == '.'));
		if ((!bin && !str) || strlen(type) > 256) {
			snprintf(
			    msg, msglen,
			    "The type of message (user) attribute '%.256s' is invalid. You must use only "
			    "the following supported type prefixes: Binary, Number, String.",
			    k);
			goto bad;
		}
		if (json_object_get(v, "StringListValues") || json_object_get(v, "BinaryListValues")) {
			json_t *sl = json_object_get(v, "StringListValues"),
			       *bl = json_object_get(v, "BinaryListValues");
			if (json_array_size(sl) || json_array_size(bl)) {
				snprintf(msg, msglen,
				         "Message attribute list values in SendMessage operation are not "
				         "supported.");
				goto bad;
			}
		}
		const char *sv = json_string_value(json_object_get(v, "StringValue"));
		const char *bv = json_string_value(json_object_get(v, "BinaryValue"));
		json_t *n = json_pack("{s:s}", "DataType", type);
		if (bin) {
			size_t blen = 0;
			unsigned char *raw = bv ? b64_decode(bv, strlen(bv), &blen) : NULL;
			if (!raw || !blen) {
				free(raw);
				json_decref(n);
				snprintf(msg, msglen,
				         "The message attribute '%.256s' with type 'Binary' must use field "
				         "'Binary'.",
				         k);
				goto bad;
			}
			free(raw);
			*size += blen;
			json_object_set_new(n, "BinaryValue", json_string(bv));
		} else {
			if (!sv || !*sv || !body_chars_ok(sv, strlen(sv))) {
				json_decref(n);
				snprintf(
				    msg, msglen,
				    "The message attribute '%.256s' with type '%s' must use field 'String'.",
				    k, strncmp(type, "Number", 6) == 0 ? "Number" : "String");
				goto bad;
			}
			if (strncmp(type, "Number", 6) == 0) {
				char *end = NULL;
				strtod(sv, &end);
				if (*end || strlen(sv) > 40) {
					json_decref(n);
					snprintf(msg, msglen,
					         "Can't cast the value of message (user) attribute '%.256s' "
					         "to a number.",
					         k);
					goto bad;
				}
			}
			*size += strlen(sv);
			json_object_set_new(n, "StringValue", json_string(sv));
		}
		*size += strlen(k) + strlen(type);
		json_object_set_new(norm, k, n);
	}
	*out = norm;
	return 0;
bad:
	json_decref(norm);
	return SQS_ERR_INVALID_PARAMETER_VALUE;
}

static void md5_hex(const void *p, size_t len, char out[33])
{
	unsigned char md[16];
	unsigned int n = 0;
	EVP_Digest(p, len, md, &n, EVP_md5(), NULL);
	hex_encode(md, 16, out);
}

static bool group_id_ok(const char *g)
{
	size_t n = strlen(g);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (g[i] < 0x21 || g[i] > 0x7e)
			return false;
	return true;
}

/* Sends entry e (SendMessage's input or a batch entry) to q: 0 and *res, or an error id
 * with msg. */
static int send_one(struct sqs_call *c, struct sqs_queue *q, json_t *e, json_t **res, char *msg,
                    size_t msglen)
{
	json_t *jb = json_object_get(e, "MessageBody");
	if (!jb || json_is_null(jb)) {
		snprintf(msg, msglen, "The request must contain the parameter MessageBody.");
		return SQS_ERR_MISSING_PARAMETER;
	}
	if (!json_is_string(jb)) {
		snprintf(msg, msglen,
		         "Value for parameter MessageBody is invalid. Reason: must be a string.");
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	const char *body = json_string_value(jb);
	size_t blen = json_string_length(jb);
	if (blen == 0) {
		snprintf(msg, msglen, "The request must contain the parameter MessageBody.");
		return SQS_ERR_MISSING_PARAMETER;
	}
	if (!body_chars_ok(body, blen)) {
		snprintf(msg, msglen,
		         "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to "
		         "#xD7FF | "
		         "#xE000 to #xFFFD | #x10000 to #x10FFFF");
		return SQS_ERR_INVALID_MESSAGE_CONTENTS;
	}
	int64_t delay = sqs__queue_int(q, "DelaySeconds");
	json_t *jd = json_object_get(e, "DelaySeconds");
	if (jd && !json_is_null(jd)) {
		if (q->fifo) {
			snprintf(msg, msglen,
			         "Value for parameter DelaySeconds is invalid. Reason: The request include "
			         "parameter that "
			         "is not valid for this queue type.");
			return SQS_ERR_INVALID_PARAMETER_VALUE;
		}
		if (!int_of(jd, 0, 900, &delay)) {
			snprintf(msg, msglen,
			         "Value for parameter DelaySeconds is invalid. Reason: must be between 0 and "
			         "900.");
			return SQS_ERR_INVALID_PARAMETER_VALUE;
		}
	}
	size_t size = blen;
	json_t *ma = NULL;
	int id = check_mattrs(json_object_get(e, "MessageAttributes"), "MessageAttributes", &ma, &size, msg,
	                      msglen);
	if (id)
		return id;
	json_t *sa = json_object_get(e, "MessageSystemAttributes");
	const char *trace = NULL;
	if (sa && !json_is_null(sa)) {
		const char *k;
		json_t *v;
		json_object_foreach(sa, k, v) {
			if (strcmp(k, "AWSTraceHeader") != 0 ||
			    strcmp(json_string_value(json_object_get(v, "DataType")) ?: "", "String") != 0 ||
			    !json_string_value(json_object_get(v, "StringValue"))) {
				json_decref(ma);
				snprintf(msg, msglen,
				         "Message system attribute name '%.100s' is invalid: only "
				         "AWSTraceHeader of type "
				         "String is accepted.",
				         k);
				return SQS_ERR_INVALID_PARAMETER_VALUE;
			}
			trace = json_string_value(json_object_get(v, "StringValue"));
		}
	}
	int64_t maxsz = sqs__queue_int(q, "MaximumMessageSize");
	if ((int64_t)size > maxsz) {
		json_decref(ma);
		snprintf(msg, msglen,
		         "One or more parameters are invalid. Reason: Message must be shorter than %" PRId64
		         " bytes.",
		         maxsz);
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	const char *group = json_string_value(json_object_get(e, "MessageGroupId"));
	const char *dedup = json_string_value(json_object_get(e, "MessageDeduplicationId"));
	char dedup_buf[65];
	if (group && !group_id_ok(group)) {
		json_decref(ma);
		snprintf(msg, msglen, "Value %.140s for parameter MessageGroupId is invalid.", group);
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	if (q->fifo) {
		if (!group) {
			json_decref(ma);
			snprintf(msg, msglen, "The request must contain the parameter MessageGroupId.");
			return SQS_ERR_MISSING_PARAMETER;
		}
		if (dedup && !group_id_ok(dedup)) {
			json_decref(ma);
			snprintf(msg, msglen, "Value %.140s for parameter MessageDeduplicationId is invalid.",
			         dedup);
			return SQS_ERR_INVALID_PARAMETER_VALUE;
		}
		if (!dedup) {
			const char *cbd =
			    json_string_value(json_object_get(q->attrs, "ContentBasedDeduplication"));
			if (!cbd || strcmp(cbd, "true") != 0) {
				json_decref(ma);
				snprintf(msg, msglen,
				         "The queue should either have ContentBasedDeduplication enabled or "
				         "MessageDeduplicationId provided explicitly");
				return SQS_ERR_INVALID_PARAMETER_VALUE;
			}
			unsigned char h[32];
			sha256(body, blen, h);
			hex_encode(h, 32, dedup_buf);
			dedup = dedup_buf;
		}
	} else if (dedup) {
		json_decref(ma);
		snprintf(msg, msglen,
		         "Value %.140s for parameter MessageDeduplicationId is invalid. Reason: The request "
		         "includes a "
		         "parameter that is not valid for this queue type.",
		         dedup);
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	int64_t now = clock_wall_ms();
	char md5b[33], md5a[33] = "";
	md5_hex(body, blen, md5b);
	if (ma && sqs_md5_attrs(ma, md5a) < 0) {
		json_decref(ma);
		snprintf(msg, msglen, "The message attributes could not be digested.");
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	char md5s[33] = "";
	if (trace) {
		json_t *so =
		    json_pack("{s:{s:s, s:s}}", "AWSTraceHeader", "DataType", "String", "StringValue", trace);
		sqs_md5_attrs(so, md5s);
		json_decref(so);
	}
	*res = json_object();
	if (md5s[0])
		json_object_set_new(*res, "MD5OfMessageSystemAttributes", json_string(md5s));
	/* FIFO deduplication: an id seen in the last 5 minutes is accepted, not delivered. */
	char dkey[300] = "";
	if (q->fifo) {
		const char *scope = json_string_value(json_object_get(q->attrs, "DeduplicationScope"));
		snprintf(dkey, sizeof(dkey), "%s%s%s",
		         scope && strcmp(scope, "messageGroup") == 0 ? group : "",
		         scope && strcmp(scope, "messageGroup") == 0 ? "\x1f" : "", dedup);
		json_t *seen = json_object_get(q->dedup, dkey);
		if (seen && json_integer_value(json_array_get(seen, 0)) > now) {
			json_object_set_new(*res, "MessageId", json_copy(json_array_get(seen, 1)));
			json_object_set_new(*res, "MD5OfMessageBody", json_string(md5b));
			if (ma)
				json_object_set_new(*res, "MD5OfMessageAttributes", json_string(md5a));
			json_object_set_new(*res, "SequenceNumber", json_copy(json_array_get(seen, 2)));
			json_decref(ma);
			return 0;
		}
	}
	struct sqs_msg *m = xcalloc(1, sizeof(*m));
	uuid_v4(m->id);
	m->body = xmalloc(blen + 1);
	memcpy(m->body, body, blen + 1);
	m->body_len = blen;
	m->sent_ms = now;
	m->visible_at_ms = now + delay * 1000;
	m->mattrs = ma;
	memcpy(m->md5_body, md5b, sizeof(md5b));
	memcpy(m->md5_attrs, md5a, sizeof(md5a));
	m->group = group ? xstrdup(group) : NULL;
	m->dedup = q->fifo ? xstrdup(dedup) : NULL;
	m->trace = trace ? xstrdup(trace) : NULL;
	m->sender = xstrdup(c->s->account);
	struct err err = {0};
	char id_copy[37];
	memcpy(id_copy, m->id, sizeof(id_copy));
	if (sqs__msg_add(q, m, &err) < 0) { /* m is freed */
		json_decref(*res);
		*res = NULL;
		snprintf(msg, msglen, "The message could not be stored: %s", err.msg);
		return SQS_ERR_INTERNAL_FAILURE;
	}
	q->sent++;
	json_object_set_new(*res, "MessageId", json_string(id_copy));
	json_object_set_new(*res, "MD5OfMessageBody", json_string(md5b));
	if (md5a[0])
		json_object_set_new(*res, "MD5OfMessageAttributes", json_string(md5a));
	if (q->fifo) {
		char sn[24];
		snprintf(sn, sizeof(sn), "%020" PRIu64, m->seq);
		json_object_set_new(*res, "SequenceNumber", json_string(sn));
		json_object_set_new(q->dedup, dkey,
		                    json_pack("[I, s, s]", (json_int_t)(now + SQS_DEDUP_MS), id_copy, sn));
	}
	return 0;
}

/* Drops FIFO deduplication ids older than 5 minutes. */
static void dedup_expire(struct sqs_queue *q, int64_t now)
{
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(q->dedup, tmp, k, v) {
		if (json_integer_value(json_array_get(v, 0)) <= now)
			json_object_del(q->dedup, k);
	}
}

void sqs__op_send_message(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	dedup_expire(q, clock_wall_ms());
	json_t *res = NULL;
	char msg[512];
	int id = send_one(c, q, c->in, &res, msg, sizeof(msg));
	if (id)
		return sqs__fail(c, id, "%s", msg);
	sqs__kick(q);
	reply_durable(c, res);
}

/* Checks a batch's Entries: the array, or NULL (answered). */
static json_t *batch_entries(struct sqs_call *c, const char *entry_name)
{
	json_t *es = in_get(c, "Entries");
	if (!es || (json_is_array(es) && json_array_size(es) == 0)) {
		sqs__fail(c, SQS_ERR_EMPTY_BATCH_REQUEST, "There should be at least one %s in the request.",
		          entry_name);
		return NULL;
	}
	if (!json_is_array(es)) {
		sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
		          "Value for parameter Entries is invalid. Reason: must be a list.");
		return NULL;
	}
	if (json_array_size(es) > 10) {
		sqs__fail(c, SQS_ERR_TOO_MANY_ENTRIES_IN_BATCH_REQUEST,
		          "Maximum number of entries per request are 10. You have sent %zu.",
		          json_array_size(es));
		return NULL;
	}
	size_t i, j;
	json_t *e, *f;
	json_array_foreach(es, i, e) {
		const char *id = json_string_value(json_object_get(e, "Id"));
		bool ok = id && *id && strlen(id) <= 80;
		for (const char *p = id; ok && *p; p++)
			ok = isalnum((unsigned char)*p) || *p == '-' || *p == '_';
		if (!ok) {
			sqs__fail(c, SQS_ERR_INVALID_BATCH_ENTRY_ID,
			          "A batch entry id can only contain alphanumeric characters, hyphens and "
			          "underscores. It "
			          "can be at most 80 letters long.");
			return NULL;
		}
		json_array_foreach(es, j, f) {
			if (j < i && strcmp(id, json_string_value(json_object_get(f, "Id"))) == 0) {
				sqs__fail(c, SQS_ERR_BATCH_ENTRY_IDS_NOT_DISTINCT, "Id %s repeated.", id);
				return NULL;
			}
		}
	}
	return es;
}

static json_t *batch_failure(const char *id, int err, const char *msg)
{
	return json_pack("{s:s, s:b, s:s, s:s}", "Id", id, "SenderFault", sqs_errors[err].sender_fault,
	                 "Code", sqs_query_codes[err], "Message", msg);
}

void sqs__op_send_message_batch(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	json_t *es = batch_entries(c, "SendMessageBatchRequestEntry");
	if (!es)
		return;
	size_t total = 0, i;
	json_t *e;
	json_array_foreach(es, i, e) {
		total += json_string_length(json_object_get(e, "MessageBody"));
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(e, "MessageAttributes"), k, v) {
			total += strlen(k) + json_string_length(json_object_get(v, "DataType")) +
			         json_string_length(json_object_get(v, "StringValue")) +
			         json_string_length(json_object_get(v, "BinaryValue")) * 3 / 4;
		}
	}
	int64_t maxsz = sqs__queue_int(q, "MaximumMessageSize");
	if ((int64_t)total > maxsz)
		return sqs__fail(c, SQS_ERR_BATCH_REQUEST_TOO_LONG,
		                 "Batch requests cannot be longer than %" PRId64
		                 " bytes. You have sent %zu bytes.",
		                 maxsz, total);
	dedup_expire(q, clock_wall_ms());
	json_t *ok = json_array(), *failed = json_array();
	json_array_foreach(es, i, e) {
		const char *id = json_string_value(json_object_get(e, "Id"));
		json_t *res = NULL;
		char msg[512];
		int err = send_one(c, q, e, &res, msg, sizeof(msg));
		if (err) {
			json_array_append_new(failed, batch_failure(id, err, msg));
			continue;
		}
		json_object_set_new(res, "Id", json_string(id));
		json_array_append_new(ok, res);
	}
	sqs__kick(q);
	reply_durable(c, json_pack("{s:o, s:o}", "Successful", ok, "Failed", failed));
}

/* ---------------------------------------------------------------- receiving */

struct recv_params {
	int64_t max;
	int64_t vt_ms;
	json_t *sys;   /* system attribute names (borrowed from the call's input), or NULL */
	json_t *names; /* message attribute names, or NULL */
};

struct sqs_wait {
	struct sqs_wait *prev, *next;
	struct sqs_queue *q;
	struct sqs_call *c; /* a ReceiveMessage call, or NULL for an internal consumer: */
	sqs_recv_cb cb;     /* ... which hears through cb(cb_arg, messages) */
	void *cb_arg;
	struct recv_params p;
	struct event *timeout;
	bool gone; /* the client went away */
};

static bool name_wanted(json_t *names, const char *n)
{
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		const char *w = json_string_value(v);
		if (!w)
			continue;
		size_t wl = strlen(w);
		if (strcmp(w, "All") == 0 || strcmp(w, ".*") == 0 || strcmp(w, n) == 0)
			return true;
		if (wl > 2 && strcmp(w + wl - 2, ".*") == 0 && strncmp(n, w, wl - 1) == 0)
			return true;
	}
	return false;
}

static void sys_attr(json_t *out, json_t *names, const char *k, const char *v)
{
	if (v && name_wanted(names, k))
		json_object_set_new(out, k, json_string(v));
}

/* The output of m as ReceiveMessage gives it. */
static json_t *msg_json(struct sqs_queue *q, struct sqs_msg *m, const struct recv_params *p)
{
	char rh[64];
	sqs__receipt(q, m, rh);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s%}", "MessageId", m->id, "ReceiptHandle", rh, "MD5OfBody",
	                      m->md5_body, "Body", m->body, m->body_len);
	if (p->sys) {
		json_t *a = json_object();
		char n[32];
		sys_attr(a, p->sys, "SenderId", m->sender);
		snprintf(n, sizeof(n), "%" PRId64, m->sent_ms);
		sys_attr(a, p->sys, "SentTimestamp", n);
		snprintf(n, sizeof(n), "%" PRIu32, m->recv_count);
		sys_attr(a, p->sys, "ApproximateReceiveCount", n);
		snprintf(n, sizeof(n), "%" PRId64, m->first_recv_ms);
		sys_attr(a, p->sys, "ApproximateFirstReceiveTimestamp", n);
		sys_attr(a, p->sys, "AWSTraceHeader", m->trace);
		sys_attr(a, p->sys, "DeadLetterQueueSourceArn", m->dlq_source);
		if (q->fifo) {
			snprintf(n, sizeof(n), "%020" PRIu64, m->seq);
			sys_attr(a, p->sys, "SequenceNumber", n);
			sys_attr(a, p->sys, "MessageGroupId", m->group);
			sys_attr(a, p->sys, "MessageDeduplicationId", m->dedup);
		}
		if (json_object_size(a))
			json_object_set_new(o, "Attributes", a);
		else
			json_decref(a);
	}
	if (m->mattrs && p->names) {
		json_t *a = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(m->mattrs, k, v) {
			if (name_wanted(p->names, k))
				json_object_set(a, k, v);
		}
		char md5[33];
		if (json_object_size(a) && sqs_md5_attrs(a, md5) == 0) {
			json_object_set_new(o, "MD5OfMessageAttributes", json_string(md5));
			json_object_set_new(o, "MessageAttributes", a);
		} else {
			json_decref(a);
		}
	}
	return o;
}

/* Moves m from q to its dead-letter queue dlq. */
static int move_to_dlq(struct sqs_queue *q, struct sqs_msg *m, struct sqs_queue *dlq, struct err *errp)
{
	struct sqs_msg *d = xcalloc(1, sizeof(*d));
	memcpy(d->id, m->id, sizeof(d->id));
	d->body = xmalloc(m->body_len + 1);
	memcpy(d->body, m->body, m->body_len + 1);
	d->body_len = m->body_len;
	d->sent_ms = m->sent_ms;
	d->visible_at_ms = clock_wall_ms();
	d->first_recv_ms = m->first_recv_ms;
	d->recv_count = m->recv_count;
	d->mattrs = m->mattrs ? json_incref(m->mattrs) : NULL;
	memcpy(d->md5_body, m->md5_body, sizeof(d->md5_body));
	memcpy(d->md5_attrs, m->md5_attrs, sizeof(d->md5_attrs));
	d->group = m->group ? xstrdup(m->group) : NULL;
	d->dedup = m->dedup ? xstrdup(m->dedup) : NULL;
	d->trace = m->trace ? xstrdup(m->trace) : NULL;
	d->sender = m->sender ? xstrdup(m->sender) : NULL;
	char arn[512];
	sqs__queue_arn(q, arn, sizeof(arn));
	d->dlq_source = xstrdup(arn);
	int r = sqs__msg_add(dlq, d, errp);
	if (r == 0)
		r = sqs__msg_del(q, m, errp);
	if (r == 0) {
		q->moved_to_dlq++;
		dlq->sent++;
	}
	return r;
}

/* The dead-letter queue and maxReceiveCount of q's RedrivePolicy, or NULL. */
static struct sqs_queue *redrive(struct sqs_queue *q, int64_t *max)
{
	const char *rp = json_string_value(json_object_get(q->attrs, "RedrivePolicy"));
	if (!rp || !*rp)
		return NULL;
	json_t *o = json_loads(rp, 0, NULL);
	const char *arn = json_string_value(json_object_get(o, "deadLetterTargetArn"));
	const char *colon = arn ? strrchr(arn, ':') : NULL;
	struct sqs_queue *dlq = colon ? sqs__queue_get(q->s, colon + 1) : NULL;
	if (!int_of(json_object_get(o, "maxReceiveCount"), 1, 1000, max))
		dlq = NULL;
	json_decref(o);
	return dlq == q ? NULL : dlq;
}

/* Takes up to p->max visible messages of q (retention and dead-letter moves on the way):
 * each becomes invisible for p->vt_ms and is written to the store. Returns the array of
 * their outputs (owned; empty when none), or NULL with errp when a write failed. */
static json_t *take(struct sqs_queue *q, const struct recv_params *p, struct err *errp)
{
	int64_t now = clock_wall_ms();
	int64_t keep_ms = sqs__queue_int(q, "MessageRetentionPeriod") * 1000;
	int64_t max_recv = 0;
	struct sqs_queue *dlq = redrive(q, &max_recv);
	json_t *out = json_array();
	json_t *blocked = q->fifo ? json_object() : NULL; /* FIFO: groups that deliver nothing more now */
	bool moved = false;
	for (struct sqs_msg *m = q->head, *n; m && (int64_t)json_array_size(out) < p->max; m = n) {
		n = m->next;
		if (m->sent_ms + keep_ms <= now) {
			if (sqs__msg_del(q, m, errp) < 0)
				goto fail;
			continue;
		}
		bool visible = m->visible_at_ms <= now;
		if (blocked && m->group && json_object_get(blocked, m->group))
			continue;
		if (!visible) {
			if (blocked && m->group)
				json_object_set_new(blocked, m->group, json_true());
			continue;
		}
		if (dlq && m->recv_count >= (uint64_t)max_recv) {
			if (move_to_dlq(q, m, dlq, errp) < 0)
				goto fail;
			moved = true;
			continue;
		}
		m->recv_count++;
		if (!m->first_recv_ms)
			m->first_recv_ms = now;
		m->visible_at_ms = now + p->vt_ms;
		if (sqs__msg_save(q, m, errp) < 0)
			goto fail;
		q->received++;
		json_array_append_new(out, msg_json(q, m, p));
	}
	json_decref(blocked);
	if (moved)
		sqs__kick(dlq);
	return out;
fail:
	json_decref(blocked);
	json_decref(out);
	return NULL;
}

static json_t *recv_result(json_t *msgs)
{
	json_t *res = json_object();
	if (json_array_size(msgs))
		json_object_set_new(res, "Messages", msgs);
	else
		json_decref(msgs);
	return res;
}

static void wait_unlink(struct sqs_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		w->q->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	event_free(w->timeout);
}

/* Answers w with msgs (stolen) and frees it (unlinked already). */
static void wait_answer(struct sqs_wait *w, json_t *msgs)
{
	if (w->c) {
		sqs__reply(w->c, recv_result(msgs));
	} else {
		w->cb(w->cb_arg, msgs);
		json_decref(msgs);
	}
	free(w);
}

static void wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sqs_wait *w = arg;
	wait_unlink(w);
	wait_answer(w, json_array());
}

static void wait_close_cb(struct front_req *rq, void *arg)
{
	struct sqs_wait *w = arg;
	w->gone = true;
	w->q->abandoned++;
	/* Its answer (dropped) goes out on the next loop turn, outside this callback. */
	event_active(w->timeout, EV_TIMEOUT, 0);
}

void sqs__waiters_end(struct sqs_queue *q)
{
	while (q->waiters) {
		struct sqs_wait *w = q->waiters;
		if (w->c)
			front_req_on_close(w->c->rq, NULL, NULL);
		wait_unlink(w);
		wait_answer(w, json_array());
	}
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	sqs__kick(arg);
}

void sqs__kick(struct sqs_queue *q)
{
	if (!q)
		return;
	for (struct sqs_wait *w = q->waiters, *n; w; w = n) {
		n = w->next;
		if (w->gone)
			continue;
		struct err e = {0};
		json_t *msgs = take(q, &w->p, &e);
		if (msgs && json_array_size(msgs) == 0) {
			json_decref(msgs);
			break; /* nothing visible: no later waiter gets anything either */
		}
		n = w->next;
		wait_unlink(w);
		if (!w->c) {
			wait_answer(w, msgs ? msgs : json_array());
			continue;
		}
		front_req_on_close(w->c->rq, NULL, NULL);
		if (!msgs)
			sqs__fail(w->c, SQS_ERR_INTERNAL_FAILURE, "The receive could not be stored: %s",
			          e.msg);
		else
			reply_durable(w->c, recv_result(msgs));
		free(w);
	}
	if (!q->waiters)
		return;
	/* Wake when the next hidden message becomes visible. */
	int64_t next = INT64_MAX, now = clock_wall_ms();
	for (struct sqs_msg *m = q->head; m; m = m->next)
		if (m->visible_at_ms > now && m->visible_at_ms < next)
			next = m->visible_at_ms;
	if (!q->wake)
		q->wake = evtimer_new(q->s->base, wake_cb, q);
	if (next == INT64_MAX) {
		evtimer_del(q->wake);
		return;
	}
	int64_t d = next - now;
	struct timeval tv = {.tv_sec = d / 1000, .tv_usec = (d % 1000) * 1000};
	evtimer_add(q->wake, &tv);
}

/* A new long poll on q for p, at the end of q's waiters, timing out after wait_ms; the
 * caller says who hears it (c, or cb and cb_arg). */
static struct sqs_wait *wait_add(struct sqs_queue *q, const struct recv_params *p, int64_t wait_ms)
{
	struct sqs_wait *w = xcalloc(1, sizeof(*w));
	w->q = q;
	w->p = *p;
	w->timeout = evtimer_new(q->s->base, wait_timeout_cb, w);
	struct timeval tv = {.tv_sec = wait_ms / 1000, .tv_usec = wait_ms % 1000 * 1000};
	evtimer_add(w->timeout, &tv);
	struct sqs_wait **pp = &q->waiters, *prev = NULL;
	while (*pp) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	w->prev = prev;
	*pp = w;
	return w;
}

void sqs__op_receive_message(struct sqs_call *c)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	struct recv_params p = {.max = 1, .vt_ms = sqs__queue_int(q, "VisibilityTimeout") * 1000};
	int64_t vt = 0, wait = sqs__queue_int(q, "ReceiveMessageWaitTimeSeconds");
	if (in_int(c, "MaxNumberOfMessages", 1, 10, &p.max) < 0)
		return;
	int r = in_int(c, "VisibilityTimeout", 0, 43200, &vt);
	if (r < 0)
		return;
	if (r > 0)
		p.vt_ms = vt * 1000;
	if (in_int(c, "WaitTimeSeconds", 0, SQS_MAX_WAIT_S, &wait) < 0)
		return;
	/* AttributeNames (deprecated) and MessageSystemAttributeNames: their union. */
	json_t *a1 = in_get(c, "AttributeNames"), *a2 = in_get(c, "MessageSystemAttributeNames");
	json_t *mn = in_get(c, "MessageAttributeNames");
	if ((a1 && !json_is_array(a1)) || (a2 && !json_is_array(a2)) || (mn && !json_is_array(mn)))
		return sqs__fail(c, SQS_ERR_INVALID_PARAMETER_VALUE,
		                 "Value for parameter AttributeNames, MessageSystemAttributeNames or "
		                 "MessageAttributeNames is invalid. Reason: must be a list.");
	if (a1 || a2) {
		json_t *u = json_array();
		if (a1)
			json_array_extend(u, a1);
		if (a2)
			json_array_extend(u, a2);
		json_object_set_new(c->in, "_sys", u);
		p.sys = u;
	}
	p.names = mn;
	struct err e = {0};
	json_t *msgs = take(q, &p, &e);
	if (!msgs)
		return sqs__fail(c, SQS_ERR_INTERNAL_FAILURE, "The receive could not be stored: %s", e.msg);
	if (json_array_size(msgs) || wait == 0)
		return reply_durable(c, recv_result(msgs));
	json_decref(msgs);
	/* Long polling: wait on the loop, woken by a send, a visibility change or a timer. */
	struct sqs_wait *w = wait_add(q, &p, wait * 1000);
	w->c = c;
	front_req_on_close(c->rq, wait_close_cb, w);
	sqs__kick(q); /* arms the wake timer for a delayed or in-flight message */
}

/* ---------------------------------------------------------------- deleting, visibility */

/* Deletes the message of receipt handle h from q: 0 or an error id with msg. A handle
 * of a message already gone, or received again since, deletes nothing and succeeds. */
static int delete_one(struct sqs_queue *q, const char *h, json_t *vt, char *msg, size_t msglen)
{
	uint64_t seq;
	uint32_t lease;
	if (!h) {
		snprintf(msg, msglen, "The request must contain the parameter ReceiptHandle.");
		return SQS_ERR_MISSING_PARAMETER;
	}
	if (sqs__receipt_parse(q, h, &seq, &lease) < 0) {
		snprintf(msg, msglen, "The input receipt handle \"%.100s\" is not a valid receipt handle.",
		         h);
		return SQS_ERR_RECEIPT_HANDLE_IS_INVALID;
	}
	struct sqs_msg *m = sqs__msg_get(q, seq);
	if (!m || m->recv_count != lease)
		return 0;
	struct err e = {0};
	if (sqs__msg_del(q, m, &e) < 0) {
		snprintf(msg, msglen, "The message could not be deleted: %s", e.msg);
		return SQS_ERR_INTERNAL_FAILURE;
	}
	q->deleted++;
	return 0;
}

static int change_one(struct sqs_queue *q, const char *h, json_t *jvt, char *msg, size_t msglen)
{
	uint64_t seq;
	uint32_t lease;
	int64_t vt;
	if (!h) {
		snprintf(msg, msglen, "The request must contain the parameter ReceiptHandle.");
		return SQS_ERR_MISSING_PARAMETER;
	}
	if (!jvt || json_is_null(jvt)) {
		snprintf(msg, msglen, "The request must contain the parameter VisibilityTimeout.");
		return SQS_ERR_MISSING_PARAMETER;
	}
	if (!int_of(jvt, 0, 43200, &vt)) {
		snprintf(
		    msg, msglen,
		    "Value for parameter VisibilityTimeout is invalid. Reason: must be between 0 and 43200.");
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	if (sqs__receipt_parse(q, h, &seq, &lease) < 0) {
		snprintf(msg, msglen, "The input receipt handle \"%.100s\" is not a valid receipt handle.",
		         h);
		return SQS_ERR_RECEIPT_HANDLE_IS_INVALID;
	}
	struct sqs_msg *m = sqs__msg_get(q, seq);
	int64_t now = clock_wall_ms();
	if (!m || m->recv_count != lease) {
		snprintf(msg, msglen,
		         "Value %.100s for parameter ReceiptHandle is invalid. Reason: Message does not "
		         "exist or is not "
		         "available for visibility timeout change.",
		         h);
		return SQS_ERR_INVALID_PARAMETER_VALUE;
	}
	if (m->visible_at_ms <= now) {
		snprintf(msg, msglen, "Message %s is not in flight.", m->id);
		return SQS_ERR_MESSAGE_NOT_INFLIGHT;
	}
	m->visible_at_ms = now + vt * 1000;
	struct err e = {0};
	if (sqs__msg_save(q, m, &e) < 0) {
		snprintf(msg, msglen, "The change could not be stored: %s", e.msg);
		return SQS_ERR_INTERNAL_FAILURE;
	}
	return 0;
}

/* An operation on the message of one receipt handle (delete_one, change_one): h and vt
 * (the entry's VisibilityTimeout, unused by delete_one) as the input gives them; 0 or an
 * error id with msg. */
typedef int handle_fn(struct sqs_queue *q, const char *h, json_t *vt, char *msg, size_t msglen);

/* DeleteMessage, ChangeMessageVisibility: one handle of the call's input; kick rearms q's
 * wake timer after a change of visibility. */
static void handle_single(struct sqs_call *c, handle_fn *fn, bool kick)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	bool bad = false;
	const char *h = in_str(c, "ReceiptHandle", &bad);
	if (bad)
		return;
	char msg[512];
	int id = fn(q, h, in_get(c, "VisibilityTimeout"), msg, sizeof(msg));
	if (id)
		return sqs__fail(c, id, "%s", msg);
	if (kick)
		sqs__kick(q);
	reply_durable(c, NULL);
}

/* Their batches: each entry by itself, answered in Successful or Failed. */
static void handle_batch(struct sqs_call *c, const char *entry_name, handle_fn *fn, bool kick)
{
	struct sqs_queue *q = in_queue(c);
	if (!q)
		return;
	json_t *es = batch_entries(c, entry_name);
	if (!es)
		return;
	json_t *ok = json_array(), *failed = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(es, i, e) {
		const char *id = json_string_value(json_object_get(e, "Id"));
		char msg[512];
		int err = fn(q, json_string_value(json_object_get(e, "ReceiptHandle")),
		             json_object_get(e, "VisibilityTimeout"), msg, sizeof(msg));
		if (err)
			json_array_append_new(failed, batch_failure(id, err, msg));
		else
			json_array_append_new(ok, json_pack("{s:s}", "Id", id));
	}
	if (kick)
		sqs__kick(q);
	reply_durable(c, json_pack("{s:o, s:o}", "Successful", ok, "Failed", failed));
}

void sqs__op_delete_message(struct sqs_call *c)
{
	handle_single(c, delete_one, false);
}

void sqs__op_delete_message_batch(struct sqs_call *c)
{
	handle_batch(c, "DeleteMessageBatchRequestEntry", delete_one, false);
}

void sqs__op_change_message_visibility(struct sqs_call *c)
{
	handle_single(c, change_one, true);
}

void sqs__op_change_message_visibility_batch(struct sqs_call *c)
{
	handle_batch(c, "ChangeMessageVisibilityBatchRequestEntry", change_one, true);
}

/* ---------------------------------------------------------------- metrics */

void sqs__metrics_collect(struct metrics_scrape *ms, void *arg)
{
	struct sqs *s = arg;
	static const struct {
		const char *name;
		enum metrics_type type;
		const char *help;
	} fam[] = {
	    {"lambdad_sqs_messages_visible", METRICS_GAUGE, "Messages a receive can take now."},
	    {"lambdad_sqs_messages_in_flight", METRICS_GAUGE,
	     "Messages received and not deleted nor visible again."},
	    {"lambdad_sqs_messages_delayed", METRICS_GAUGE,
	     "Messages sent with a delay that has not passed."},
	    {"lambdad_sqs_oldest_message_age_seconds", METRICS_GAUGE, "Age of the queue's oldest message."},
	    {"lambdad_sqs_waiting_receives", METRICS_GAUGE, "Long-polling receives waiting for a message."},
	    {"lambdad_sqs_sent_total", METRICS_COUNTER, "Messages accepted (dead-letter moves included)."},
	    {"lambdad_sqs_received_total", METRICS_COUNTER, "Messages handed to receives."},
	    {"lambdad_sqs_deleted_total", METRICS_COUNTER, "Messages deleted by DeleteMessage(Batch)."},
	    {"lambdad_sqs_moved_to_dlq_total", METRICS_COUNTER, "Messages moved to the dead-letter queue."},
	    {"lambdad_sqs_receives_abandoned_total", METRICS_COUNTER,
	     "Long polls whose client went away while they waited (their wait freed at once)."},
	};
	int64_t now = clock_wall_ms();
	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		metrics_family(ms, fam[k].name, fam[k].type, fam[k].help);
		const char *name;
		struct sqs_queue *q;
		MAP_FOREACH(&s->queues, name, q) {
			uint64_t v[10] = {0};
			int64_t oldest = now;
			for (struct sqs_msg *m = q->head; m; m = m->next) {
				if (m->visible_at_ms <= now)
					v[0]++;
				else if (m->recv_count > 0)
					v[1]++;
				else
					v[2]++;
				if (m->sent_ms < oldest)
					oldest = m->sent_ms;
			}
			v[3] = (uint64_t)((now - oldest) / 1000);
			for (struct sqs_wait *w = q->waiters; w; w = w->next)
				v[4]++;
			v[5] = q->sent;
			v[6] = q->received;
			v[7] = q->deleted;
			v[8] = q->moved_to_dlq;
			v[9] = q->abandoned;
			metrics_sample_u64(ms, &(struct metrics_label){"queue", name}, 1, v[k]);
		}
	}
}

/* ---------------------------------------------------------------- internal consumers */

/* The queue of arn ("arn:aws:sqs:<region>:<account>:<name>") in s, or NULL. */
static struct sqs_queue *queue_of_arn(struct sqs *s, const char *arn)
{
	char want[512];
	const char *colon = arn ? strrchr(arn, ':') : NULL;
	struct sqs_queue *q = colon ? sqs__queue_get(s, colon + 1) : NULL;
	if (!q)
		return NULL;
	sqs__queue_arn(q, want, sizeof(want));
	return strcmp(want, arn) == 0 ? q : NULL;
}

int sqs_queue_check(struct sqs *s, const char *arn, int64_t *visibility_s)
{
	struct sqs_queue *q = queue_of_arn(s, arn);
	if (!q)
		return -ENOENT;
	if (visibility_s)
		*visibility_s = sqs__queue_int(q, "VisibilityTimeout");
	return 0;
}

int sqs_receive(struct sqs *s, const char *arn, size_t max, int64_t wait_ms, sqs_recv_cb cb, void *arg,
                json_t **msgs, struct sqs_wait **wp)
{
	*msgs = NULL;
	*wp = NULL;
	struct sqs_queue *q = queue_of_arn(s, arn);
	if (!q)
		return -ENOENT;
	static json_t *all;
	if (!all)
		all = json_pack("[s]", "All");
	struct recv_params p = {.max = (int64_t)max,
	                        .vt_ms = sqs__queue_int(q, "VisibilityTimeout") * 1000,
	                        .sys = all,
	                        .names = all};
	struct err e = {0};
	json_t *got = take(q, &p, &e);
	if (!got)
		return -EIO;
	if (json_array_size(got) || wait_ms <= 0) {
		*msgs = got;
		return 0;
	}
	json_decref(got);
	struct sqs_wait *w = wait_add(q, &p, wait_ms);
	w->cb = cb;
	w->cb_arg = arg;
	*wp = w;
	sqs__kick(q);
	return 0;
}

void sqs_receive_cancel(struct sqs_wait *w)
{
	if (!w)
		return;
	wait_unlink(w);
	free(w);
}

int sqs_delete_message(struct sqs *s, const char *arn, const char *receipt)
{
	struct sqs_queue *q = queue_of_arn(s, arn);
	if (!q)
		return -ENOENT;
	char msg[512];
	return delete_one(q, receipt, NULL, msg, sizeof(msg)) ? -EINVAL : 0;
}
