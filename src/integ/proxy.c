/* The Lambda proxy integration shared by function URLs and HTTP APIs: HTTP request to
 * event (payload formats 1.0 and 2.0) and the function's answer back to HTTP. */
#include "integ/proxy.h"
#include "integ/cors.h"

#include <ctype.h>
#include <errno.h>
#include <event2/http_struct.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/utf8.h"

/* ---------------------------------------------------------------- request to event */

/* A JSON string of n bytes at s; bytes that are not UTF-8 become '?'. */
static json_t *jstrn(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	autofree char *c = xstrndup(s, n);
	utf8_sanitize(c);
	return json_string(c);
}

static json_t *jstr(const char *s)
{
	return jstrn(s, strlen(s));
}

/* Whether a Content-Type names text that travels in the event as it is. */
static bool text_type(const char *ct)
{
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n >= 5 && strncasecmp(ct, "text/", 5) == 0)
		return true;
	static const char *const exact[] = {"application/json", "application/javascript", "application/xml",
	                                    "application/x-javascript", "application/ecmascript"};
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
		if (n == strlen(exact[i]) && strncasecmp(ct, exact[i], n) == 0)
			return true;
	if (n >= 5 && (strncasecmp(ct + n - 5, "+json", 5) == 0 || (strncasecmp(ct + n - 4, "+xml", 4) == 0)))
		return strncasecmp(ct, "application/", 12) == 0;
	return false;
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* Appends value to the string member key of o, joined with a comma. */
static void join_member(json_t *o, const char *key, json_t *value)
{
	json_t *old = json_object_get(o, key);
	if (!old) {
		json_object_set_new(o, key, value);
		return;
	}
	size_t a = json_string_length(old), b = json_string_length(value);
	autofree char *s = xmalloc(a + b + 2);
	memcpy(s, json_string_value(old), a);
	s[a] = ',';
	memcpy(s + a + 1, json_string_value(value), b);
	json_object_set_new(o, key, json_stringn(s, a + 1 + b));
	json_decref(value);
}

/* Appends value to the array member key of o. */
static void push_member(json_t *o, const char *key, json_t *value)
{
	json_t *arr = json_object_get(o, key);
	if (!arr) {
		arr = json_array();
		json_object_set_new(o, key, arr);
	}
	json_array_append_new(arr, value);
}

/* Splits a Cookie header value into its name=value pairs. */
static void split_cookies(const char *v, json_t *cookies)
{
	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ';')
			v++;
		size_t n = strcspn(v, ";");
		size_t m = n;
		while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
			m--;
		if (m > 0)
			json_array_append_new(cookies, jstrn(v, m));
		v += n;
	}
}

/* Decodes one query component ('+' is a space, as browsers send forms). */
static json_t *query_part(const char *s, size_t n)
{
	autofree char *raw = xstrndup(s, n);
	size_t outlen = 0;
	autofree char *dec = evhttp_uridecode(raw, 1, &outlen);
	if (!dec)
		return jstrn(s, n);
	return jstrn(dec, outlen);
}

/* Fills single (last or comma-joined value) and multi (every value) from a raw query. */
static void parse_query(const char *q, json_t *single, json_t *multi, bool join)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		if (n > 0) {
			const char *eq = memchr(q, '=', n);
			size_t kn = eq ? (size_t)(eq - q) : n;
			json_t *k = query_part(q, kn);
			json_t *v = eq ? query_part(eq + 1, n - kn - 1) : json_string("");
			const char *key = json_string_value(k);
			if (multi)
				push_member(multi, key, json_incref(v));
			if (join)
				join_member(single, key, v);
			else
				json_object_set_new(single, key, v);
			json_decref(k);
		}
		q += n;
		if (*q == '&')
			q++;
	}
}

static void fmt_clf_time(int64_t ms, char out[40])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 40, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

int proxy_event_build(const struct proxy_request *rq, const struct proxy_ctx *ctx, size_t max_body,
                      struct evbuffer *out, struct err *errp)
{
	if (rq->body_len > max_body)
		return err_make(errp, E2BIG, "Request must be smaller than %zu bytes", max_body);
	bool v2 = ctx->version != 1;
	json_t *headers = json_object();
	json_t *multi = v2 ? NULL : json_object();
	json_t *cookies = json_array();
	const char *ctype = NULL, *ua = "";
	const char *xff = NULL;
	bool has_proto = false, has_port = false;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, rq->headers, next) {
		autofree char *name = lower_dup(kv->key);
		if (strcmp(name, "content-type") == 0)
			ctype = kv->value;
		else if (strcmp(name, "user-agent") == 0)
			ua = kv->value;
		else if (strcmp(name, "x-forwarded-for") == 0) {
			xff = kv->value;
			continue; /* added below with the peer */
		} else if (strcmp(name, "x-forwarded-proto") == 0)
			has_proto = true;
		else if (strcmp(name, "x-forwarded-port") == 0)
			has_port = true;
		if (v2 && strcmp(name, "cookie") == 0) {
			split_cookies(kv->value, cookies);
			continue;
		}
		json_t *v = jstr(kv->value);
		if (multi)
			push_member(multi, name, json_incref(v));
		if (v2)
			join_member(headers, name, v);
		else
			json_object_set_new(headers, name, v);
	}
	const char *ip = rq->source_ip ? rq->source_ip : "";
	autofree char *xff_all = xff ? xasprintf("%s, %s", xff, ip) : xstrdup(ip);
	char port[8];
	snprintf(port, sizeof(port), "%u", rq->port);
	struct {
		const char *k, *v;
		bool add;
	} fwd[] = {{"x-forwarded-for", xff_all, true},
	           {"x-forwarded-proto", "http", !has_proto},
	           {"x-forwarded-port", port, !has_port}};
	for (size_t i = 0; i < ARRAY_SIZE(fwd); i++) {
		if (!fwd[i].add)
			continue;
		json_object_set_new(headers, fwd[i].k, jstr(fwd[i].v));
		if (multi)
			json_object_set_new(multi, fwd[i].k, json_pack("[o]", jstr(fwd[i].v)));
	}

	bool binary = false;
	json_t *body = NULL;
	if (rq->body_len > 0) {
		binary = ctype ? !text_type(ctype) : false;
		if (!binary && !utf8_valid(rq->body, rq->body_len))
			binary = true;
		if (binary) {
			autofree char *b64 = b64_encode(rq->body, rq->body_len);
			body = json_string(b64);
		} else {
			body = json_stringn(rq->body, rq->body_len);
		}
	}

	char when[40];
	fmt_clf_time(rq->time_ms, when);
	char proto[16];
	snprintf(proto, sizeof(proto), "HTTP/%d.%d", rq->http_major, rq->http_minor);
	const char *q = rq->query ? rq->query : "";
	json_t *ev;
	if (v2) {
		ev = json_pack("{s:s, s:s, s:o, s:o}", "version", "2.0", "routeKey", ctx->route_key,
		               "rawPath", jstr(ctx->raw_path), "rawQueryString", jstr(q));
		if (json_array_size(cookies))
			json_object_set(ev, "cookies", cookies);
		json_object_set(ev, "headers", headers);
		if (*q) {
			json_t *qs = json_object();
			parse_query(q, qs, NULL, true);
			json_object_set_new(ev, "queryStringParameters", qs);
		}
		if (ctx->path_params)
			json_object_set(ev, "pathParameters", ctx->path_params);
		if (ctx->stage_vars)
			json_object_set(ev, "stageVariables", ctx->stage_vars);
		json_t *rc = json_pack(
		    "{s:s, s:s, s:s, s:s, s:{s:s, s:o, s:s, s:s, s:o}, s:s, s:s, s:s, s:s, s:I}", "accountId",
		    ctx->account, "apiId", ctx->api_id, "domainName", ctx->domain_name, "domainPrefix",
		    ctx->domain_prefix, "http", "method", rq->method, "path", jstr(ctx->raw_path), "protocol",
		    proto, "sourceIp", ip, "userAgent", jstr(ua), "requestId", ctx->request_id, "routeKey",
		    ctx->route_key, "stage", ctx->stage, "time", when, "timeEpoch", (json_int_t)rq->time_ms);
		json_object_set_new(ev, "requestContext", rc);
		if (body)
			json_object_set_new(ev, "body", body);
		json_object_set_new(ev, "isBase64Encoded", json_boolean(binary));
	} else {
		const char *resource = ctx->resource ? ctx->resource : ctx->raw_path;
		ev = json_pack("{s:s, s:o, s:o, s:s, s:O, s:O}", "version", "1.0", "resource", jstr(resource),
		               "path", jstr(ctx->raw_path), "httpMethod", rq->method, "headers", headers,
		               "multiValueHeaders", multi);
		if (*q) {
			json_t *qs = json_object(), *mq = json_object();
			parse_query(q, qs, mq, false);
			json_object_set_new(ev, "queryStringParameters", qs);
			json_object_set_new(ev, "multiValueQueryStringParameters", mq);
		} else {
			json_object_set_new(ev, "queryStringParameters", json_null());
			json_object_set_new(ev, "multiValueQueryStringParameters", json_null());
		}
		json_t *identity =
		    json_pack("{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:s, s:n, s:o, s:n}", "accessKey",
		              "accountId", "caller", "cognitoAuthenticationProvider",
		              "cognitoAuthenticationType", "cognitoIdentityId", "cognitoIdentityPoolId",
		              "principalOrgId", "sourceIp", ip, "user", "userAgent", jstr(ua), "userArn");
		json_t *rc = json_pack(
		    "{s:s, s:s, s:{s:n, s:n}, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:I, s:n, "
		    "s:o, s:s}",
		    "accountId", ctx->account, "apiId", ctx->api_id, "authorizer", "claims", "scopes",
		    "domainName", ctx->domain_name, "domainPrefix", ctx->domain_prefix, "extendedRequestId",
		    ctx->request_id, "httpMethod", rq->method, "identity", identity, "path",
		    jstr(ctx->raw_path), "protocol", proto, "requestId", ctx->request_id, "requestTime", when,
		    "requestTimeEpoch", (json_int_t)rq->time_ms, "resourceId", "resourcePath", jstr(resource),
		    "stage", ctx->stage);
		json_object_set_new(ev, "requestContext", rc);
		json_object_set(ev, "pathParameters", ctx->path_params ? ctx->path_params : json_null());
		json_object_set(ev, "stageVariables", ctx->stage_vars ? ctx->stage_vars : json_null());
		json_object_set_new(ev, "body", body ? body : json_null());
		json_object_set_new(ev, "isBase64Encoded", json_boolean(binary));
	}
	json_decref(headers);
	json_decref(multi);
	json_decref(cookies);
	if (!ev)
		return err_make(errp, EINVAL, "cannot build the event");
	char *txt = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!txt)
		return err_make(errp, ENOMEM, "cannot serialise the event");
	evbuffer_add(out, txt, strlen(txt));
	free(txt);
	return 0;
}

int proxy_event(struct front_req *req, const struct proxy_ctx *ctx, size_t max_body, struct evbuffer *out,
                struct err *errp)
{
	const char *method = front_req_method_name(req);
	struct evbuffer *in = front_req_body(req);
	size_t len = evbuffer_get_length(in);
	if (len > max_body)
		return err_make(errp, E2BIG, "Request must be smaller than %zu bytes", max_body);
	/* The port the client connected to, from the Host it sent (default 80). */
	uint16_t port = 80;
	const char *host = front_req_header(req, "Host");
	const char *colon = host ? strrchr(host, ':') : NULL;
	if (colon && !strchr(colon, ']'))
		port = (uint16_t)strtoul(colon + 1, NULL, 10);
	int major, minor;
	front_req_http_version(req, &major, &minor);
	struct proxy_request rq = {
	    .method = method[0] ? method : "GET",
	    .query = front_req_query_string(req),
	    .headers = front_req_headers(req),
	    .body = len ? evbuffer_pullup(in, -1) : NULL,
	    .body_len = len,
	    .source_ip = front_req_peer(req),
	    .http_major = major,
	    .http_minor = minor,
	    .port = port,
	    .time_ms = front_req_time_ms(req),
	};
	return proxy_event_build(&rq, ctx, max_body, out, errp);
}

/* ---------------------------------------------------------------- answer to HTTP */

static bool token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static bool hop_by_hop(const char *k)
{
	static const char *const h[] = {"connection",     "keep-alive",       "transfer-encoding",
	                                "content-length", "upgrade",          "te",
	                                "trailer",        "proxy-connection", "proxy-authenticate"};
	for (size_t i = 0; i < ARRAY_SIZE(h); i++)
		if (strcasecmp(k, h[i]) == 0)
			return true;
	return false;
}

/* A header value from a JSON scalar (owned), or NULL when it is not one. */
static char *scalar_text(json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v))
		return xasprintf("%.17g", json_real_value(v));
	if (json_is_boolean(v))
		return xstrdup(json_is_true(v) ? "true" : "false");
	return NULL;
}

static int add_header(struct proxy_response *r, const char *k, json_t *v, struct err *errp)
{
	if (json_is_null(v))
		return 0;
	autofree char *s = scalar_text(v);
	if (!s)
		return err_make(errp, EBADMSG, "header %s: the value is not a string", k);
	/* A line break in a value would split the response (or fold it): dropped. */
	if (!token(k) || hop_by_hop(k) || strpbrk(s, "\r\n"))
		return 0;
	evhttp_add_header(&r->headers, k, s);
	return 0;
}

int proxy_parse_reply(int version, const char *answer, size_t len, struct proxy_response *out,
                      struct err *errp)
{
	out->status = 200;
	TAILQ_INIT(&out->headers);
	out->body = evbuffer_new();
	json_error_t je;
	json_t *o = json_loadb(answer, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!o)
		return err_make(errp, EBADMSG, "the answer is not JSON: %s", je.text);
	json_t *sc = json_is_object(o) ? json_object_get(o, "statusCode") : NULL;
	if (!sc) {
		json_decref(o);
		if (version == 1)
			return err_make(errp, EBADMSG, "the answer has no statusCode");
		evhttp_add_header(&out->headers, "Content-Type", "application/json");
		evbuffer_add(out->body, answer, len);
		return 0;
	}
	int r = 0;
	if (json_is_integer(sc) && json_integer_value(sc) >= 100 && json_integer_value(sc) <= 599)
		out->status = (int)json_integer_value(sc);
	else if (json_is_real(sc) && json_real_value(sc) >= 100 && json_real_value(sc) <= 599 &&
	         json_real_value(sc) == (double)(int)json_real_value(sc))
		out->status = (int)json_real_value(sc);
	else
		r = err_make(errp, EBADMSG, "statusCode is not an HTTP status");
	json_t *h = json_object_get(o, "headers");
	json_t *mh = version == 1 ? json_object_get(o, "multiValueHeaders") : NULL;
	const char *k;
	json_t *v;
	if (!r && h && !json_is_null(h) && !json_is_object(h))
		r = err_make(errp, EBADMSG, "headers is not an object");
	if (!r && mh && !json_is_null(mh) && !json_is_object(mh))
		r = err_make(errp, EBADMSG, "multiValueHeaders is not an object");
	if (!r && json_is_object(h)) {
		json_object_foreach(h, k, v) {
			/* A name in multiValueHeaders takes its values from there (API Gateway merges). */
			bool in_multi = false;
			const char *mk;
			json_t *mv;
			if (json_is_object(mh))
				json_object_foreach(mh, mk, mv)
					if (strcasecmp(mk, k) == 0)
						in_multi = true;
			if (!in_multi && (r = add_header(out, k, v, errp)) < 0)
				break;
		}
	}
	if (!r && json_is_object(mh)) {
		json_object_foreach(mh, k, v) {
			if (json_is_null(v))
				continue;
			if (!json_is_array(v)) {
				r = err_make(errp, EBADMSG, "multiValueHeaders %s is not a list", k);
				break;
			}
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e)
				if ((r = add_header(out, k, e, errp)) < 0)
					break;
			if (r)
				break;
		}
	}
	json_t *ck = version == 1 ? NULL : json_object_get(o, "cookies");
	if (!r && ck && !json_is_null(ck)) {
		size_t i;
		json_t *e;
		if (!json_is_array(ck))
			r = err_make(errp, EBADMSG, "cookies is not a list");
		else
			json_array_foreach(ck, i, e) {
				if (!json_is_string(e)) {
					r = err_make(errp, EBADMSG,
					             "cookies holds a value that is not a string");
					break;
				}
				if (!strpbrk(json_string_value(e), "\r\n"))
					evhttp_add_header(&out->headers, "Set-Cookie", json_string_value(e));
			}
	}
	json_t *b = json_object_get(o, "body");
	json_t *b64 = json_object_get(o, "isBase64Encoded");
	if (!r && b && !json_is_null(b)) {
		if (!json_is_string(b)) {
			r = err_make(errp, EBADMSG, "body is not a string");
		} else if (json_is_true(b64)) {
			size_t n = 0;
			autofree unsigned char *d =
			    b64_decode(json_string_value(b), json_string_length(b), &n);
			if (!d && json_string_length(b) > 0)
				r = err_make(errp, EBADMSG, "isBase64Encoded is true but body is not base64");
			else if (d)
				evbuffer_add(out->body, d, n);
		} else {
			evbuffer_add(out->body, json_string_value(b), json_string_length(b));
		}
	}
	if (!r && !evhttp_find_header(&out->headers, "Content-Type"))
		evhttp_add_header(&out->headers, "Content-Type", "application/json");
	json_decref(o);
	return r;
}

void proxy_response_fini(struct proxy_response *r)
{
	evhttp_clear_headers(&r->headers);
	if (r->body)
		evbuffer_free(r->body);
	r->body = NULL;
}

static void send_with_extra(struct front_req *req, int status, struct evkeyvalq *hdrs, struct evbuffer *body,
                            const struct evkeyvalq *extra)
{
	struct evkeyval *kv;
	if (extra)
		TAILQ_FOREACH(kv, extra, next)
			while (evhttp_remove_header(hdrs, kv->key) == 0)
				;
	TAILQ_FOREACH(kv, hdrs, next)
		front_reply_header(req, kv->key, kv->value);
	if (extra)
		TAILQ_FOREACH(kv, extra, next)
			front_reply_header(req, kv->key, kv->value);
	front_reply(req, status, body);
}

void proxy_reply(struct front_req *req, int version, bool function_error, struct evbuffer *body,
                 const struct evkeyvalq *extra, bool strip_cors)
{
	struct proxy_response r = {0};
	struct err e = {0};
	size_t len = evbuffer_get_length(body);
	int rc = function_error
	             ? -1
	             : proxy_parse_reply(version, (const char *)evbuffer_pullup(body, -1), len, &r, &e);
	evbuffer_drain(body, len);
	if (rc < 0) {
		if (!function_error)
			proxy_response_fini(&r);
		proxy_error_reply(req, PROXY_ERR_BAD_GATEWAY, extra);
		return;
	}
	if (strip_cors)
		cors_strip(&r.headers);
	send_with_extra(req, r.status, &r.headers, r.body, extra);
	proxy_response_fini(&r);
}

static const struct {
	int status;
	const char *body;
} proxy_errors[] = {
    [PROXY_ERR_BAD_REQUEST] = {400, "{\"message\":\"Bad Request\"}"},
    [PROXY_ERR_NOT_FOUND] = {404, "{\"message\":\"Not Found\"}"},
    [PROXY_ERR_TOO_LARGE] = {413, "{\"message\":\"Request Entity Too Large\"}"},
    [PROXY_ERR_THROTTLED] = {429, "{\"message\":\"Too Many Requests\"}"},
    [PROXY_ERR_INTERNAL] = {500, "{\"message\":\"Internal Server Error\"}"},
    [PROXY_ERR_BAD_GATEWAY] = {502, "{\"message\":\"Internal Server Error\"}"},
    [PROXY_ERR_TIMEOUT] = {503, "{\"message\":\"Service Unavailable\"}"},
};

void proxy_error_reply(struct front_req *req, enum proxy_error e, const struct evkeyvalq *extra)
{
	LD_ASSERT((size_t)e < sizeof(proxy_errors) / sizeof(proxy_errors[0]));
	front_reply_header(req, "Content-Type", "application/json");
	struct evkeyval *kv;
	if (extra)
		TAILQ_FOREACH(kv, extra, next)
			front_reply_header(req, kv->key, kv->value);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, proxy_errors[e].body, strlen(proxy_errors[e].body));
	front_reply(req, proxy_errors[e].status, b);
	evbuffer_free(b);
}
