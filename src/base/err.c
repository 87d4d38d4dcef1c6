/* Error values with messages. */
#include <lambdad/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_make(struct err *errp, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = 5 /* EIO */;
	if (errp) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(errp->msg, sizeof(errp->msg), fmt, ap);
		va_end(ap);
		errp->code = code;
		errp->svc = 0;
		errp->reason = 0;
	}
	return -code;
}

int err_svc(struct err *errp, int svc, const char *fmt, ...)
{
	if (errp) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(errp->msg, sizeof(errp->msg), fmt, ap);
		va_end(ap);
		errp->code = 22 /* EINVAL */;
		errp->svc = svc;
		errp->reason = 0;
	}
	return -22;
}

int err_svc_enum(struct err *errp, int svc, const char *field, const char *value, const char *const *allowed)
{
	char set[256] = "";
	size_t n = 0;
	for (size_t i = 0; allowed[i]; i++) {
		if (strcmp(value, allowed[i]) == 0)
			return 0;
		int w = snprintf(set + n, sizeof(set) - n, "%s%s", i ? ", " : "", allowed[i]);
		if (w > 0 && (size_t)w < sizeof(set) - n)
			n += (size_t)w;
	}
	return err_svc(errp, svc,
	               "1 validation error detected: Value '%.64s' at '%s' failed to satisfy "
	               "constraint: Member must satisfy enum value set: [%s]",
	               value, field, set);
}

int err_as_svc(struct err *errp, int svc)
{
	if (errp) {
		errp->code = 22 /* EINVAL */;
		errp->svc = svc;
	}
	return -22;
}

int err_wrap(struct err *errp, const char *fmt, ...)
{
	if (!errp)
		return -5;
	char prefix[256];
	char old[sizeof(errp->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, errp->msg, sizeof(old));
	snprintf(errp->msg, sizeof(errp->msg), "%s: %s", prefix, old);
	return -errp->code;
}
