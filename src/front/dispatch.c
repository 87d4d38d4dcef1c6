/* The front's dispatch: which service and operation a request is for (claims hooks,
 * X-Amz-Target, the SigV4 scope, URI templates), the drain reply, and the error answers of
 * requests no operation takes. */
#include <event2/http.h>
#include <lambdad/xmalloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "front/svc.h"

#define FRONT_SVCS_MAX 16

struct front {
	const struct svc *fallback;
	struct {
		const struct svc *s;
		void *ctx;
	} v[FRONT_SVCS_MAX];
	size_t n;
	bool draining;
	bool routes; /* some service added takes a body streamed, or sets a body limit */
	front_verify_fn verify;
	void *verify_arg;
	struct front_req *verifying; /* the request verify is running for, or NULL */
	bool verified_now;           /* verify passed it before returning */
};

void front_set_verify(struct front *f, front_verify_fn fn, void *arg)
{
	f->verify = fn;
	f->verify_arg = arg;
}

struct front *front_new(const struct svc *fallback)
{
	struct front *f = xcalloc(1, sizeof(*f));
	f->fallback = fallback;
	return f;
}

void front_free(struct front *f)
{
	free(f);
}

void front_add(struct front *f, const struct svc *s, void *ctx)
{
	if (f->n == FRONT_SVCS_MAX)
		abort(); /* a static table outgrew FRONT_SVCS_MAX: a programming error */
	f->v[f->n].s = s;
	f->v[f->n].ctx = ctx;
	f->n++;
	f->routes = f->routes || s->serve_streams || s->serve_body_max;
	for (size_t i = 0; i < s->nops; i++)
		f->routes = f->routes || s->ops[i].stream_body || s->ops[i].body_max;
}

void front_set_draining(struct front *f)
{
	f->draining = true;
}

const char *svc_param(const struct svc_call *c, const char *name)
{
	for (size_t i = 0; i < c->nparams; i++)
		if (strcmp(c->params[i].name, name) == 0)
			return c->params[i].value;
	return NULL;
}

void svc_call_fini(struct svc_call *c)
{
	for (size_t i = 0; i < c->nparams; i++)
		free(c->params[i].value);
	c->nparams = 0;
}

void svc_reply_error(struct front_req *rq, const struct svc *s, int id, json_t *extra, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	static const struct svc_error internal = {"InternalFailure", 500, false};
	const struct svc_error *e = id > 0 && (size_t)id < s->nerrors ? &s->errors[id] : &internal;
	const char *code = s->query_codes && e != &internal ? s->query_codes[id] : NULL;
	proto_reply_error_code(rq, s->proto, s->err_flags, e, code, extra, msg);
}

/* ---------------------------------------------------------------- URI templates */

/* The decoded bytes p[0..len), or NULL when an escape is malformed or decodes to NUL. */
static char *decode(const char *p, size_t len)
{
	char *raw = xstrndup(p, len);
	size_t outlen = 0;
	char *dec = evhttp_uridecode(raw, 0, &outlen);
	free(raw);
	if (dec && strlen(dec) != outlen) {
		free(dec);
		dec = NULL;
	}
	return dec;
}

/* Whether rq's query has every "K=V" of q ("K1=V1&K2=V2"; "K" alone: present). */
static bool query_matches(const char *q, const struct front_req *rq)
{
	while (q && *q) {
		size_t n = strcspn(q, "&");
		char kv[128];
		snprintf(kv, sizeof(kv), "%.*s", (int)n, q);
		char *eq = strchr(kv, '=');
		if (eq)
			*eq = 0;
		const char *have = front_req_query(rq, kv);
		if (!have || (eq && strcmp(have, eq + 1) != 0))
			return false;
		q += n;
		if (*q == '&')
			q++;
	}
	return true;
}

int front_match_template(const char *tmpl, const char *path, const struct front_req *rq, struct svc_call *c)
{
	const char *tq = strchr(tmpl, '?');
	const char *t = tmpl, *tend = tq ? tq : tmpl + strlen(tmpl);
	const char *p = path, *pend = path + strlen(path);
	while (tend > t + 1 && tend[-1] == '/')
		tend--;
	while (pend > p + 1 && pend[-1] == '/')
		pend--;
	size_t first = c->nparams;
	for (;;) {
		if (t == tend && p == pend)
			break;
		if (t == tend || p == pend || *t != '/' || *p != '/')
			goto no;
		t++;
		p++;
		size_t tl = strcspn(t, "/?");
		if (t + tl > tend)
			tl = (size_t)(tend - t);
		size_t pl = (size_t)(memchr(p, '/', (size_t)(pend - p))
		                         ? (const char *)memchr(p, '/', (size_t)(pend - p)) - p
		                         : pend - p);
		if (tl >= 2 && t[0] == '{' && t[tl - 1] == '}') {
			bool greedy = tl >= 3 && t[tl - 2] == '+';
			size_t nlen = tl - 2 - (greedy ? 1 : 0);
			size_t vl = greedy ? (size_t)(pend - p) : pl;
			if (vl == 0 || c->nparams == SVC_PARAMS_MAX)
				goto no;
			char *v = decode(p, vl);
			if (!v) {
				svc_call_fini(c);
				return -1;
			}
			snprintf(c->params[c->nparams].name, sizeof(c->params[0].name), "%.*s", (int)nlen,
			         t + 1);
			c->params[c->nparams++].value = v;
			t += tl;
			p += vl;
		} else if (!memchr(p, '%', pl)) { /* the common case: nothing to decode */
			if (pl != tl || memcmp(p, t, tl) != 0)
				goto no;
			t += tl;
			p += pl;
		} else {
			char *v = decode(p, pl);
			if (!v) {
				svc_call_fini(c);
				return -1;
			}
			bool same = strlen(v) == tl && memcmp(v, t, tl) == 0;
			free(v);
			if (!same)
				goto no;
			t += tl;
			p += pl;
		}
	}
	if (tq && !query_matches(tq + 1, rq))
		goto no;
	return 1;
no:
	while (c->nparams > first)
		free(c->params[--c->nparams].value);
	return 0;
}

/* ---------------------------------------------------------------- classification */

bool front_sigv4_service(const struct front_req *rq, char *out, size_t outsz)
{
	/* Credential=<AKID>/<yyyymmdd>/<region>/<service>/aws4_request */
	const char *auth = front_req_header(rq, "Authorization");
	const char *cred = auth ? strstr(auth, "Credential=") : NULL;
	const char *scope = cred ? cred + strlen("Credential=") : front_req_query(rq, "X-Amz-Credential");
	if (!scope)
		return false;
	const char *s = scope;
	for (int i = 0; i < 3; i++) {
		s = strchr(s, '/');
		if (!s)
			return false;
		s++;
	}
	size_t n = strcspn(s, "/,");
	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, s, n);
	out[n] = 0;
	return true;
}

static void unknown_op(struct front_req *rq, const struct svc *s, const struct op *missing)
{
	if (missing)
		return svc_reply_error(rq, s, s->err_unknown_op, NULL,
		                       "lambdad does not support the %s operation %s yet",
		                       s->title ? s->title : s->name, missing->name);
	if (s->unknown_op_msg)
		return svc_reply_error(rq, s, s->err_unknown_op, NULL, "%s", s->unknown_op_msg);
	svc_reply_error(rq, s, s->err_unknown_op, NULL, "No operation at %s %s", front_req_method_name(rq),
	                front_req_uri(rq));
}

/* AWS JSON: the operation named after the service's prefix, if lambdad implements it. */
static enum front_class classify_target(struct front_req *rq, const struct svc *s, const char *op_name,
                                        struct svc_call *c)
{
	c->svc = s;
	/* The query protocol takes GET with the same parameters too. */
	bool method_ok = front_req_method(rq) == FRONT_POST ||
	                 (s->proto == PROTO_QUERY && front_req_method(rq) == FRONT_GET);
	for (size_t i = 0; i < s->nops; i++) {
		const struct op *op = &s->ops[i];
		if (!op->name || strcmp(op->name, op_name) != 0)
			continue;
		if (!op->handler || !method_ok) {
			if (!op->handler && method_ok)
				c->missing = op;
			break;
		}
		c->op = op;
		return FRONT_OP;
	}
	return FRONT_UNKNOWN_OP;
}

/* Tries s's templates (with a query constraint first, pass 0): FRONT_OP when one matches
 * with the method and has a handler (c filled), FRONT_MALFORMED_PATH, or FRONT_UNKNOWN_OP
 * (*near set when a template matched but not the method, or matched an operation lambdad
 * does not implement; c->missing set to the first operation matched, method and all, that
 * lambdad does not implement). */
static enum front_class try_templates(struct front_req *rq, const struct svc *s, struct svc_call *c,
                                      const struct svc **near)
{
	const char *path = front_req_path(rq);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < s->nops; i++) {
			const struct op *op = &s->ops[i];
			if (!op->uri || (strchr(op->uri, '?') != NULL) != (pass == 0))
				continue;
			int m = front_match_template(op->uri, path, rq, c);
			if (m < 0)
				return FRONT_MALFORMED_PATH;
			if (m == 0)
				continue;
			bool method_ok = op->method == FRONT_OTHER || op->method == front_req_method(rq);
			if (!op->handler || !method_ok) {
				if (!*near)
					*near = s;
				if (!op->handler && method_ok && !c->missing) {
					c->missing = op;
					*near = s;
				}
				svc_call_fini(c);
				continue;
			}
			c->svc = s;
			c->op = op;
			return FRONT_OP;
		}
	}
	return FRONT_UNKNOWN_OP;
}

enum front_class front_classify(struct front *f, struct front_req *rq, struct svc_call *c, void **ctx)
{
	*c = (struct svc_call){.rq = rq, .svc = f->fallback};
	*ctx = NULL;
	/* 1. Host-based data planes and their path prefixes. */
	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].s->claims && f->v[i].s->claims(f->v[i].ctx, rq)) {
			c->svc = f->v[i].s;
			*ctx = f->v[i].ctx;
			return FRONT_CLAIMED;
		}
	}
	if (!front_req_path(rq))
		return FRONT_MALFORMED_PATH;
	if (!front_req_query_ok(rq))
		return FRONT_BAD_QUERY;
	/* 2. X-Amz-Target: a JSON protocol; the prefix picks the service. */
	const char *target = front_req_header(rq, "X-Amz-Target");
	for (size_t i = 0; target && i < f->n; i++) {
		const struct svc *s = f->v[i].s;
		const char *op = s->target_prefix ? proto_json_target(rq, s->target_prefix) : NULL;
		if (op) {
			*ctx = f->v[i].ctx;
			return classify_target(rq, s, op, c);
		}
	}
	/* 3. Action= (the query protocol) picks a query service by SigV4 scope (unsigned: the
	 * first one added); without one the request goes on to the paths. */
	char scope[32];
	bool has_scope = front_sigv4_service(rq, scope, sizeof(scope));
	char action[128];
	if (proto_query_action(rq, action, sizeof(action))) {
		for (size_t i = 0; i < f->n; i++) {
			const struct svc *s = f->v[i].s;
			if (s->proto == PROTO_QUERY && (!has_scope || strcmp(s->name, scope) == 0)) {
				*ctx = f->v[i].ctx;
				return classify_target(rq, s, action, c);
			}
		}
	}
	/* 4. The path, against the REST services' templates, the service of the SigV4 scope
	 * first. */
	size_t order[FRONT_SVCS_MAX], n = 0;
	for (size_t i = 0; has_scope && i < f->n; i++)
		if (strcmp(f->v[i].s->name, scope) == 0)
			order[n++] = i;
	for (size_t i = 0; i < f->n; i++)
		if (!has_scope || strcmp(f->v[i].s->name, scope) != 0)
			order[n++] = i;
	const struct svc *near = NULL;
	for (size_t k = 0; k < n; k++) {
		const struct svc *s = f->v[order[k]].s;
		if (s->proto != PROTO_REST_JSON)
			continue;
		enum front_class r = try_templates(rq, s, c, &near);
		if (r == FRONT_OP)
			*ctx = f->v[order[k]].ctx;
		if (r != FRONT_UNKNOWN_OP)
			return r;
	}
	c->svc = near ? near : f->fallback;
	return FRONT_UNKNOWN_OP;
}

bool front_wants_stream(struct front_req *rq, void *arg, uint64_t *body_max)
{
	struct front *f = arg;
	*body_max = 0;
	if (!f->routes || f->draining)
		return false;
	struct svc_call c;
	void *ctx;
	enum front_class k = front_classify(f, rq, &c, &ctx);
	bool yes = false;
	if (k == FRONT_CLAIMED) {
		yes = c.svc->serve_streams;
		*body_max = c.svc->serve_body_max;
	} else if (k == FRONT_OP) {
		yes = c.op->stream_body;
		*body_max = c.op->body_max;
	}
	svc_call_fini(&c);
	return yes;
}

/* The body of rq passed its limit and was not read: 413 in the shape of the service it is
 * for (its err_too_large), else in text. The connection closes after it. */
static void refuse_too_large(struct front *f, struct front_req *rq)
{
	struct svc_call c;
	void *ctx;
	enum front_class k = front_classify(f, rq, &c, &ctx);
	const struct svc *s = c.svc ? c.svc : f->fallback;
	unsigned long long max = (unsigned long long)front_req_refused(rq);
	front_reply_header(rq, "Connection", "close");
	if (s->err_too_large && k == FRONT_OP)
		svc_reply_error(rq, s, s->err_too_large, NULL,
		                "Request must be smaller than %llu bytes for the %s operation", max,
		                c.op->name);
	else if (s->err_too_large)
		svc_reply_error(rq, s, s->err_too_large, NULL, "Request must be smaller than %llu bytes",
		                max);
	else {
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "request body over the limit of %llu bytes\n", max);
		front_reply_header(rq, "Content-Type", "text/plain; charset=utf-8");
		front_reply(rq, 413, b);
		evbuffer_free(b);
	}
	svc_call_fini(&c);
}

/* Runs what classification k decided for rq. */
static void run(struct front *f, struct front_req *rq, enum front_class k, struct svc_call *c, void *ctx)
{
	switch (k) {
	case FRONT_CLAIMED:
		return c->svc->serve(ctx, rq);
	case FRONT_OP:
		c->op->handler(ctx, c);
		break;
	case FRONT_UNKNOWN_OP:
		unknown_op(rq, c->svc, c->missing);
		break;
	case FRONT_MALFORMED_PATH:
		svc_reply_error(rq, f->fallback, f->fallback->err_unknown_op, NULL, "malformed request path");
		break;
	case FRONT_BAD_QUERY:
		svc_reply_error(rq, f->fallback, f->fallback->err_bad_input, NULL, "malformed query string");
		break;
	}
	svc_call_fini(c);
}

static void dispatch_verified(struct front_req *rq, void *arg)
{
	struct front *f = arg;
	if (f->verifying == rq) { /* passed at once: front_dispatch runs the call it has */
		f->verified_now = true;
		return;
	}
	struct svc_call c;
	void *ctx;
	enum front_class k = front_classify(f, rq, &c, &ctx);
	run(f, rq, k, &c, ctx);
}

void front_dispatch(struct front_req *rq, void *arg)
{
	struct front *f = arg;
	if (front_req_refused(rq))
		return refuse_too_large(f, rq);
	if (f->draining) {
		/* The connection closes, so the client's retry opens a new one, which is refused. */
		front_reply_header(rq, "Connection", "close");
		return svc_reply_error(rq, f->fallback, f->fallback->err_unavailable, NULL,
		                       "lambdad is shutting down");
	}
	struct svc_call c;
	void *ctx;
	enum front_class k = front_classify(f, rq, &c, &ctx);
	if (f->verify && k != FRONT_CLAIMED) {
		/* Passed at once (the common case): the call runs as classified. Passed later (a
		 * body hashed on the pool): classified again then, so c need not wait. */
		f->verifying = rq;
		f->verified_now = false;
		f->verify(f->verify_arg, rq, c.svc, dispatch_verified, f);
		f->verifying = NULL;
		if (!f->verified_now) {
			svc_call_fini(&c);
			return;
		}
	}
	run(f, rq, k, &c, ctx);
}
