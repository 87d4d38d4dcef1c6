/* The JSON services' answers to a request --auth sigv4 refused (svc.h front_auth_error):
 * the error codes and status Lambda and API Gateway answer with. */
#include "front/svc.h"

void front_auth_error(struct front_req *rq, const struct svc *s, enum sigv4_status why, const char *msg)
{
	static const struct svc_error missing = {"MissingAuthenticationTokenException", 403, true};
	static const struct svc_error incomplete = {"IncompleteSignatureException", 403, true};
	static const struct svc_error unknown = {"UnrecognizedClientException", 403, true};
	static const struct svc_error invalid = {"InvalidSignatureException", 403, true};
	const struct svc_error *e = &invalid;
	switch (why) {
	case SIGV4_MISSING:
		e = &missing;
		break;
	case SIGV4_INCOMPLETE:
		e = &incomplete;
		break;
	case SIGV4_UNKNOWN_KEY:
		e = &unknown;
		break;
	default:
		break;
	}
	proto_reply_error(rq, s->proto, s->err_flags, e, NULL, msg);
}
