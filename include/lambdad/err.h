/* Error values: a negative errno plus a message that callers pass up or extend. */
#ifndef LAMBDAD_ERR_H
#define LAMBDAD_ERR_H

#include <stddef.h>

struct err {
	int code; /* positive errno, 0 when no error */
	char msg[512];
};

/* Records code and a formatted message in *errp (if errp is not NULL) and
 * returns -code, so `return err_make(errp, EINVAL, "...")` reads naturally. */
int err_make(struct err *errp, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in *errp with more context; returns -errp->code. */
int err_wrap(struct err *errp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
