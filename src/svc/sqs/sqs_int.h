/* What the files of svc/sqs share: the queue and message model (queue.c), the handlers
 * (ops.c) and the service tables (service.c). */
#ifndef LAMBDAD_SVC_SQS_INT_H
#define LAMBDAD_SVC_SQS_INT_H

#include <event2/event.h>
#include <jansson.h>
#include <lambdad/map.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "svc/sqs/errors.h"
#include "svc/sqs/sqs.h"

#define SQS_COLL "sqs.queues"       /* collection: queue name -> its configuration */
#define SQS_QPREFIX "sqs.messages." /* store queue of a queue's messages: prefix + name */
#define SQS_XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"
#define SQS_MAX_WAIT_S 20
#define SQS_DEDUP_MS (5 * 60 * 1000)

struct sqs_queue;
struct sqs_wait;

/* One message; its durable copy is the store queue item seq (payload: the body; attrs:
 * the rest, sqs__msg_attrs). */
struct sqs_msg {
	struct sqs_msg *prev, *next; /* the queue's list, in seq (send) order */
	struct sqs_msg *hnext;       /* the queue's table by seq */
	uint64_t seq;
	char id[37];
	char *body;
	size_t body_len;
	int64_t sent_ms;
	int64_t visible_at_ms;
	int64_t first_recv_ms; /* 0: never received */
	uint32_t recv_count;   /* receives so far; also the receipt handle's lease */
	json_t *mattrs;        /* message attributes, the JSON output shape (owned; NULL: none) */
	char md5_body[33];
	char md5_attrs[33]; /* "" when there are no attributes */
	char *group;        /* FIFO: MessageGroupId (owned) or NULL */
	char *dedup;        /* FIFO: MessageDeduplicationId (owned) or NULL */
	char *trace;        /* AWSTraceHeader or NULL */
	char *dlq_source;   /* DeadLetterQueueSourceArn or NULL */
	char *sender;       /* SenderId */
};

struct sqs_queue {
	struct sqs *s;
	char *name;
	char *qname; /* SQS_QPREFIX name */
	bool fifo;
	json_t *attrs; /* the settable attributes, all strings (owned) */
	json_t *tags;  /* {key: value} (owned) */
	int64_t created_s, modified_s;
	int64_t purged_ms; /* the last PurgeQueue, 0: none */
	struct sqs_msg *head, *tail;
	size_t nmsgs;
	struct sqs_msg **table; /* by seq, 2^bits chains */
	unsigned bits;
	json_t *dedup;            /* FIFO: {dedup id: [expires_ms, message id, sequence number]} */
	struct sqs_wait *waiters; /* long polls, oldest first */
	struct event *wake;       /* when the next hidden message becomes visible (waiters) */
	uint64_t sent, received, deleted, moved_to_dlq;
	uint64_t abandoned; /* long polls whose client went away */
	bool deleted_flag;
};

struct sqs {
	struct event_base *base;
	struct store *st;
	char *region, *account;
	struct map queues;       /* name -> struct sqs_queue, MAP_SORTED */
	struct metrics *metrics; /* where sqs__metrics_collect is registered, or NULL */
};

/* One request being answered: the handler owns it and ends it with sqs__reply or
 * sqs__fail, now or after a group commit. */
struct sqs_call {
	struct sqs *s;
	struct front_req *rq;
	const struct svc *svc; /* sqs_json_svc or sqs_query_svc: the protocol of the answer */
	const char *action;    /* the operation's name (static) */
	json_t *in;            /* the input, AWS JSON's shape (owned) */
	char host[256];        /* the request's Host, for queue URLs */
};

/* Answers c with result (stolen; NULL: an operation without output) and frees c. */
void sqs__reply(struct sqs_call *c, json_t *result);
/* Answers c with error id and a printf-style message, and frees c. */
void sqs__fail(struct sqs_call *c, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Frees c without answering (its request was answered already). */
void sqs__call_free(struct sqs_call *c);

/* ---- The model (queue.c) ---- */

/* Frees every queue of s (waiting receives are answered empty). */
void sqs__queues_free(struct sqs *s);
/* Loads the queues and messages of the store into s. */
int sqs__load(struct sqs *s, struct err *errp);
/* A new queue (owned by s->queues) with attributes attrs and tags (both stolen),
 * written to the store (not committed). */
struct sqs_queue *sqs__queue_add(struct sqs *s, const char *name, json_t *attrs, json_t *tags,
                                 struct err *errp);
struct sqs_queue *sqs__queue_get(struct sqs *s, const char *name);
/* Writes q's configuration (attributes, tags, times) to the store. */
int sqs__queue_save(struct sqs_queue *q, struct err *errp);
/* Removes q and its messages from s and the store; waiting receives are answered empty. */
int sqs__queue_del(struct sqs_queue *q, struct err *errp);
/* Removes every message of q. */
int sqs__queue_purge(struct sqs_queue *q, struct err *errp);
/* q's ARN into out. */
void sqs__queue_arn(const struct sqs_queue *q, char *out, size_t outsz);
/* The integer attribute name of q. */
int64_t sqs__queue_int(const struct sqs_queue *q, const char *name);

/* Appends m (owned by q from here on) to q and the store (not committed). */
int sqs__msg_add(struct sqs_queue *q, struct sqs_msg *m, struct err *errp);
struct sqs_msg *sqs__msg_get(struct sqs_queue *q, uint64_t seq);
/* Writes m's visibility and counts to the store. */
int sqs__msg_save(struct sqs_queue *q, struct sqs_msg *m, struct err *errp);
/* Removes m from q and the store, and frees it. */
int sqs__msg_del(struct sqs_queue *q, struct sqs_msg *m, struct err *errp);
void sqs__msg_free(struct sqs_msg *m);
/* The receipt handle of m's latest receive, into out (64 bytes). */
void sqs__receipt(const struct sqs_queue *q, const struct sqs_msg *m, char out[64]);
/* Parses a receipt handle of q: 0 with its seq and lease, or -EINVAL. */
int sqs__receipt_parse(const struct sqs_queue *q, const char *h, uint64_t *seq, uint32_t *lease);

/* ---- Long polling (ops.c) ---- */

/* Gives waiting receives of q what became available (after a send or a visibility
 * change); arms q's wake timer for the next hidden message when some still wait. */
void sqs__kick(struct sqs_queue *q);
/* Answers q's waiting receives empty and frees them (queue deleted, shutdown). */
void sqs__waiters_end(struct sqs_queue *q);

/* The per-queue series of GET /metrics (metrics_collect_fn's shape; arg: the sqs). */
struct metrics_scrape;
void sqs__metrics_collect(struct metrics_scrape *ms, void *arg);

/* ---- The handlers (ops.c) ---- */
void sqs__op_create_queue(struct sqs_call *c);
void sqs__op_get_queue_url(struct sqs_call *c);
void sqs__op_list_queues(struct sqs_call *c);
void sqs__op_delete_queue(struct sqs_call *c);
void sqs__op_purge_queue(struct sqs_call *c);
void sqs__op_get_queue_attributes(struct sqs_call *c);
void sqs__op_set_queue_attributes(struct sqs_call *c);
void sqs__op_send_message(struct sqs_call *c);
void sqs__op_send_message_batch(struct sqs_call *c);
void sqs__op_receive_message(struct sqs_call *c);
void sqs__op_delete_message(struct sqs_call *c);
void sqs__op_delete_message_batch(struct sqs_call *c);
void sqs__op_change_message_visibility(struct sqs_call *c);
void sqs__op_change_message_visibility_batch(struct sqs_call *c);
void sqs__op_tag_queue(struct sqs_call *c);
void sqs__op_untag_queue(struct sqs_call *c);
void sqs__op_list_queue_tags(struct sqs_call *c);
void sqs__op_list_dead_letter_source_queues(struct sqs_call *c);

#endif
