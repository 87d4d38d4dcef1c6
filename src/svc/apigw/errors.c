/* The API Gateway v2 API's error table, from errors.def. */
#include "svc/apigw/errors.h"

const struct svc_error apigw_errors[APIGW_ERR_COUNT] = {
#define X(name, status, type, sender) [APIGW_ERR_##name] = {type, status, sender},
#include "svc/apigw/errors.def"
#undef X
};
