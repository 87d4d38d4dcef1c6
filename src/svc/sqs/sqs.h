/* The SQS-compatible queue service on lambdad's endpoint: both of SQS's protocols (AWS
 * JSON 1.0 and query/XML) as entries of the front's service table, queues and messages in
 * the store's collections and queues. */
#ifndef LAMBDAD_SVC_SQS_H
#define LAMBDAD_SVC_SQS_H

#include <event2/event.h>
#include <jansson.h>
#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

#include "front/svc.h"
#include "store/store.h"

struct sqs_config {
	const char *region;  /* in queue ARNs */
	const char *account; /* the 12-digit account id of queue URLs and ARNs */
};

struct sqs;

/* Loads the queues and their messages from st (borrowed; outlives the service) and runs
 * its timers on base. Returns 0 and an owned *out, or a negative errno with a message. */
int sqs_new(struct event_base *base, struct store *st, const struct sqs_config *cfg, struct sqs **out,
            struct err *errp);
/* Shutdown, before the transport goes: commits what is open and sends the answers that
 * waited for it (store_flush), answers the receives still waiting (with no messages),
 * and frees s. NULL is a no-op. */
void sqs_free(struct sqs *s);
struct metrics;
/* Adds SQS's two protocols to f (the JSON one by X-Amz-Target, the query one by Action)
 * and its per-queue series to m (both borrowed; m may be NULL; sqs_free unregisters). */
void sqs_attach(struct sqs *s, struct front *f, struct metrics *m);

/* The two service entries (the same operations and errors in two protocols). */
extern const struct svc sqs_json_svc;
extern const struct svc sqs_query_svc;

/* The flattened members of SQS's query-protocol inputs (static), as proto_query_parse
 * takes them. */
const struct proto_qshape *sqs_query_in_shapes(void);

/* The MD5 of message attributes as SQS computes it (MD5OfMessageAttributes): attrs is
 * an object {name: {"DataType", "StringValue" | "BinaryValue" (base64)}} (borrowed).
 * Writes 32 lower-case hex digits and a NUL to out and returns 0, or -EINVAL when a
 * value is missing or a BinaryValue is not base64. */
int sqs_md5_attrs(json_t *attrs, char out[33]);

/* ---- For lambdad's own consumers (the event source mapping poller, esm/) ----
 * The same queues and semantics as ReceiveMessage/DeleteMessage, without the wire. */

/* Whether the queue of arn exists: 0 (its VisibilityTimeout in *visibility_s, may be
 * NULL), or -ENOENT. */
int sqs_queue_check(struct sqs *s, const char *arn, int64_t *visibility_s);
/* A receive: messages (ReceiveMessage's output shape, with every system and message
 * attribute) hidden for the queue's VisibilityTimeout. When some are visible now (or
 * wait_ms is 0): 0 with *msgs (an owned array, maybe empty). Otherwise 0 with *msgs NULL
 * and *w a long poll: cb(arg, msgs) runs once, later, with the messages as they come or
 * an empty array when wait_ms passed or the queue was deleted (msgs borrowed for the
 * call; w is gone by then; cb must not call into sqs: it defers its work), unless
 * sqs_receive_cancel(w) comes first. -ENOENT: no such
 * queue; -EIO: the store failed. */
struct sqs_wait;
typedef void (*sqs_recv_cb)(void *arg, json_t *msgs);
int sqs_receive(struct sqs *s, const char *arn, size_t max, int64_t wait_ms, sqs_recv_cb cb, void *arg,
                json_t **msgs, struct sqs_wait **w);
/* Ends the long poll w without calling its cb. NULL is a no-op. */
void sqs_receive_cancel(struct sqs_wait *w);
/* DeleteMessage of receipt on the queue of arn: 0 (a handle of a message gone or received
 * again since deletes nothing and succeeds too), -ENOENT (no queue) or -EINVAL. */
int sqs_delete_message(struct sqs *s, const char *arn, const char *receipt);

#endif
