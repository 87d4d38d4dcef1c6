/* The SQS event source of event source mappings (source_sqs.c). */
#ifndef LAMBDAD_ESM_SOURCE_SQS_H
#define LAMBDAD_ESM_SOURCE_SQS_H

#include <event2/event.h>

struct esm;
struct sqs;

/* Registers SQS queues of s (borrowed; outlives e's pollers) as event sources of e, their
 * hand-overs on base. 0 or a negative errno. */
int esm_source_sqs_register(struct esm *e, struct sqs *s, struct event_base *base);

#endif
