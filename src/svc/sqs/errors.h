/* SQS's errors (errors.def): the ids the handlers answer with, and their table. */
#ifndef LAMBDAD_SVC_SQS_ERRORS_H
#define LAMBDAD_SVC_SQS_ERRORS_H

#include "proto/proto.h"

enum sqs_err {
	SQS_ERR_NONE = 0,
#define X(name, status, type, code, sender) SQS_ERR_##name,
#include "svc/sqs/errors.def"
#undef X
	SQS_ERR_COUNT
};

/* By id; [SQS_ERR_NONE] is empty. */
extern const struct svc_error sqs_errors[SQS_ERR_COUNT];
/* By id: the query protocol's code of each error (x-amzn-query-error in AWS JSON). */
extern const char *const sqs_query_codes[SQS_ERR_COUNT];

#endif
