/* The API Gateway v2 API's errors (errors.def): the ids the model reports through err_svc,
 * and the table the control plane answers them from. */
#ifndef LAMBDAD_SVC_APIGW_ERRORS_H
#define LAMBDAD_SVC_APIGW_ERRORS_H

#include "proto/proto.h"

enum apigw_err {
	APIGW_ERR_NONE = 0,
#define X(name, status, type, sender) APIGW_ERR_##name,
#include "svc/apigw/errors.def"
#undef X
	APIGW_ERR_COUNT
};

/* By id; [APIGW_ERR_NONE] is empty. */
extern const struct svc_error apigw_errors[APIGW_ERR_COUNT];

#endif
