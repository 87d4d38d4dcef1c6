/* SQS's error table and the query codes of its errors, from errors.def. */
#include "svc/sqs/errors.h"

const struct svc_error sqs_errors[SQS_ERR_COUNT] = {
#define X(name, status, type, code, sender) [SQS_ERR_##name] = {type, status, sender},
#include "svc/sqs/errors.def"
#undef X
};

const char *const sqs_query_codes[SQS_ERR_COUNT] = {
#define X(name, status, type, code, sender) [SQS_ERR_##name] = code,
#include "svc/sqs/errors.def"
#undef X
};
