/* Error values: a negative errno plus a message that callers pass up or extend. */
#ifndef LAMBDAD_ERR_H
#define LAMBDAD_ERR_H

#include <stddef.h>

struct err {
	int code; /* positive errno, 0 when no error */
	int svc;  /* a service error: an id from the service's errors.def, 0 when none */
	/* Which of the failures that share code this is, for a caller that must tell them
	 * apart (e.g. sched's enum sched_throttle with EAGAIN): a value the failing module's
	 * header defines, 0 when none. err_make and err_svc clear it. */
	int reason;
	char msg[512];
};

/* Records code and a formatted message in *errp (if errp is not NULL) and
 * returns -code, so `return err_make(errp, EINVAL, "...")` reads naturally. */
int err_make(struct err *errp, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records a service error: the request is at fault in a way the service's API names (a
 * ValidationException, a NotFoundException, ...). svc is an id from that service's
 * errors.def (never 0); code is EINVAL. Returns -EINVAL. The service's edge turns it into
 * the error reply of its protocol. */
int err_svc(struct err *errp, int svc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether value is one of allowed (NULL-terminated): 0; or the service error svc with
 * AWS's validation message naming field and the allowed set, in allowed's order
 * ("1 validation error detected: Value 'x' at 'field' failed to satisfy constraint:
 * Member must satisfy enum value set: [A, B]"), returning -EINVAL. */
int err_svc_enum(struct err *errp, int svc, const char *field, const char *value, const char *const *allowed);

/* Makes the error already in *errp (a callee's, e.g. a parser's EINVAL) the service error
 * svc, keeping its message. Returns -EINVAL. */
int err_as_svc(struct err *errp, int svc);

/* Prefixes the message already in *errp with more context; returns -errp->code. */
int err_wrap(struct err *errp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
