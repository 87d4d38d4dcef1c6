/* What the codecs of proto/ share. */
#ifndef LAMBDAD_PROTO_INT_H
#define LAMBDAD_PROTO_INT_H

#include "proto/proto.h"

/* Answers rq with e in the query protocol's XML error shape, code code, message msg (UTF-8). */
void proto__query_error(struct front_req *rq, const struct svc_error *e, const char *code, const char *msg);

#endif
