/* The Lambda API's error table, from errors.def. */
#include "svc/lambda/errors.h"

const struct svc_error lambda_errors[LAMBDA_ERR_COUNT] = {
#define X(name, status, type, sender) [LAMBDA_ERR_##name] = {type, status, sender},
#include "svc/lambda/errors.def"
#undef X
};
