/* The Lambda API's errors (errors.def): the ids modules report through err_svc, and the
 * table the API's edge answers them from. */
#ifndef LAMBDAD_SVC_LAMBDA_ERRORS_H
#define LAMBDAD_SVC_LAMBDA_ERRORS_H

#include "proto/proto.h"

enum lambda_err {
	LAMBDA_ERR_NONE = 0,
#define X(name, status, type, sender) LAMBDA_ERR_##name,
#include "svc/lambda/errors.def"
#undef X
	LAMBDA_ERR_COUNT
};

/* By id; [LAMBDA_ERR_NONE] is empty. */
extern const struct svc_error lambda_errors[LAMBDA_ERR_COUNT];

#endif
