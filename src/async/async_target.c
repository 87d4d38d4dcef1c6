/* Targets of destination records and dead letters, by the ARN's service: Lambda
 * functions (an asynchronous invocation) built in; queues, topics, event buses and
 * buckets accepted by the API and refused at delivery until their issues plug in. */
#include <ctype.h>
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "async/async_int.h"
#include "svc/lambda/errors.h"

static int lambda_deliver(void *arg, const char *arn, const struct async_target_msg *m, struct err *errp)
{
	struct async *q = arg;
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (fn_parse_ref(arn, name, qual, errp) < 0)
		return -EINVAL;
	if (qual[0] && strcmp(qual, FN_LATEST) != 0)
		return err_make(errp, ENOENT, "function %s has no version or alias %s", name, qual);
	if (!registry_get(q->reg, name))
		return err_make(errp, ENOENT, "function %s does not exist", name);
	return async__ev_insert(q, async__fn_get(q, name, true), NULL, m->body, m->len, errp) ? 0 : -EIO;
}

static int not_yet_deliver(void *arg, const char *arn, const struct async_target_msg *m, struct err *errp)
{
	char svc[16] = "?";
	async__target_service(arn, svc);
	const char *what = strcmp(svc, "sqs") == 0   ? "SQS queues"
	                   : strcmp(svc, "sns") == 0 ? "SNS topics"
	                   : strcmp(svc, "s3") == 0  ? "S3 buckets"
	                                             : "EventBridge event buses";
	return err_make(errp, ENOTSUP, "%s are not available in lambdad yet", what);
}

static const struct async_target_ops builtin[] = {
    {"lambda", ASYNC_USE_ON_SUCCESS | ASYNC_USE_ON_FAILURE, lambda_deliver},
    {"sqs", ASYNC_USE_ON_SUCCESS | ASYNC_USE_ON_FAILURE | ASYNC_USE_DLQ, not_yet_deliver},
    {"sns", ASYNC_USE_ON_SUCCESS | ASYNC_USE_ON_FAILURE | ASYNC_USE_DLQ, not_yet_deliver},
    {"events", ASYNC_USE_ON_SUCCESS | ASYNC_USE_ON_FAILURE, not_yet_deliver},
    {"s3", ASYNC_USE_ON_FAILURE, not_yet_deliver},
};

void async_target_register(struct async *q, const struct async_target_ops *ops, void *arg)
{
	for (size_t i = 0; i < q->ntargets; i++)
		if (strcmp(q->targets[i].ops->service, ops->service) == 0) {
			q->targets[i] = (struct async_target){ops, arg};
			return;
		}
	LD_ASSERT(q->ntargets < ASYNC_TARGETS_MAX);
	q->targets[q->ntargets++] = (struct async_target){ops, arg};
}

void async__target_builtin(struct async *q)
{
	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		async_target_register(q, &builtin[i], q);
}

int async__target_service(const char *arn, char svc[16])
{
	/* arn:aws[a-zA-Z-]*:SERVICE:... */
	if (strncmp(arn, "arn:aws", 7) != 0)
		return -EINVAL;
	const char *p = arn + 7;
	while (isalpha((unsigned char)*p) || *p == '-')
		p++;
	if (*p != ':')
		return -EINVAL;
	p++;
	size_t n = strcspn(p, ":");
	if (n == 0 || n > 15 || p[n] != ':')
		return -EINVAL;
	memcpy(svc, p, n);
	svc[n] = 0;
	return 0;
}

/* REGION:ACCOUNT:RESOURCE after the service: a region ([a-z]{2}(-gov)?-[a-z]+-\d), 12
 * digits and a non-empty resource of printable characters; S3 has neither region nor
 * account. */
static bool arn_tail_valid(const char *svc, const char *p)
{
	size_t rn = strcspn(p, ":");
	if (!p[rn])
		return false;
	const char *acct = p + rn + 1;
	size_t an = strcspn(acct, ":");
	if (!acct[an])
		return false;
	const char *res = acct + an + 1;
	if (strcmp(svc, "s3") == 0) {
		if (rn || an)
			return false;
	} else {
		if (rn < 9 || !islower((unsigned char)p[0]) || !islower((unsigned char)p[1]) || p[2] != '-' ||
		    !isdigit((unsigned char)p[rn - 1]) || p[rn - 2] != '-')
			return false;
		for (size_t i = 2; i < rn - 1; i++)
			if (!islower((unsigned char)p[i]) && p[i] != '-')
				return false;
		if (an != 12)
			return false;
		for (size_t i = 0; i < 12; i++)
			if (!isdigit((unsigned char)acct[i]))
				return false;
	}
	if (!*res)
		return false;
	for (const char *c = res; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
			return false;
	return true;
}

static const struct async_target *find(struct async *q, const char *svc)
{
	for (size_t i = 0; i < q->ntargets; i++)
		if (strcmp(q->targets[i].ops->service, svc) == 0)
			return &q->targets[i];
	return NULL;
}

static const char *use_name(unsigned use)
{
	return use == ASYNC_USE_ON_SUCCESS   ? "an OnSuccess destination"
	       : use == ASYNC_USE_ON_FAILURE ? "an OnFailure destination"
	                                     : "a DeadLetterConfig target";
}

int async__target_check(struct async *q, const char *arn, unsigned use, struct err *errp)
{
	char svc[16];
	if (async__target_service(arn, svc) < 0 ||
	    !arn_tail_valid(svc, arn + strlen("arn:") + strcspn(arn + 4, ":") + 1 + strlen(svc) + 1))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "The destination ARN %.360s is not a valid ARN", arn);
	const struct async_target *t = find(q, svc);
	if (!t || !(t->ops->uses & use))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "The ARN %.360s (service %s) cannot be %s", arn, svc, use_name(use));
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (strcmp(svc, "lambda") == 0 && fn_parse_ref(arn, name, qual, NULL) < 0)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "The destination ARN %.360s is not a Lambda function ARN", arn);
	return 0;
}

int async__target_deliver(struct async *q, const char *arn, unsigned use, const struct async_target_msg *m,
                          struct err *errp)
{
	char svc[16];
	if (async__target_service(arn, svc) < 0)
		return err_make(errp, EINVAL, "%s is not an ARN", arn);
	const struct async_target *t = find(q, svc);
	if (!t || !(t->ops->uses & use))
		return err_make(errp, ENOTSUP, "no target for service %s", svc);
	return t->ops->deliver(t->arg, arn, m, errp);
}
