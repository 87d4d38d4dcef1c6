/* Route keys and API Gateway's choice of a route for a request (see route.h). */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "svc/apigw/route.h"
#include "base/codec.h"
#include "base/utf8.h"

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"};

static bool name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

void apigw_rkey_fini(struct apigw_rkey *k)
{
	for (int i = 0; i < k->nsegs; i++)
		free(k->segs[i].text);
	free(k->segs);
	memset(k, 0, sizeof(*k));
}

int apigw_rkey_parse(const char *key, struct apigw_rkey *out, struct err *errp)
{
	memset(out, 0, sizeof(*out));
	if (strlen(key) > APIGW_ROUTE_KEY_MAX)
		return err_make(errp, EINVAL, "The route key is longer than %d characters",
		                APIGW_ROUTE_KEY_MAX);
	if (strcmp(key, "$default") == 0) {
		out->is_default = true;
		return 0;
	}
	const char *sp = strchr(key, ' ');
	size_t mlen = sp ? (size_t)(sp - key) : 0;
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(methods) && !known; i++)
		known = strlen(methods[i]) == mlen && strncmp(key, methods[i], mlen) == 0;
	if (!known)
		return err_make(
		    errp, EINVAL,
		    "Invalid route key %s: expected $default or a method (GET, POST, PUT, PATCH, DELETE, "
		    "HEAD, OPTIONS or ANY), a space and a path",
		    key);
	memcpy(out->method, key, mlen);
	const char *p = sp + 1;
	if (p[0] != '/')
		return err_make(errp, EINVAL, "Invalid route key %s: the path must start with /", key);
	p++;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (out->nsegs > 0 && out->segs[out->nsegs - 1].kind == APIGW_SEG_GREEDY) ||
		    out->nsegs == APIGW_ROUTE_SEGS_MAX) {
			apigw_rkey_fini(out);
			return err_make(
			    errp, EINVAL,
			    "Invalid route key %s: empty path segment, greedy variable not last, or too many "
			    "segments",
			    key);
		}
		struct apigw_seg s = {.kind = APIGW_SEG_LITERAL};
		if (p[0] == '{' && p[len - 1] == '}') {
			bool greedy = len >= 3 && p[len - 2] == '+';
			size_t nlen = len - 2 - (greedy ? 1 : 0);
			if (!name_ok(p + 1, nlen)) {
				apigw_rkey_fini(out);
				return err_make(errp, EINVAL, "Invalid route key %s: bad path variable %.*s",
				                key, (int)len, p);
			}
			s.kind = greedy ? APIGW_SEG_GREEDY : APIGW_SEG_PARAM;
			s.text = xstrndup(p + 1, nlen);
		} else if (memchr(p, '{', len) || memchr(p, '}', len)) {
			apigw_rkey_fini(out);
			return err_make(errp, EINVAL,
			                "Invalid route key %s: a path variable must be a whole segment", key);
		} else {
			s.text = xstrndup(p, len);
		}
		out->segs = xrealloc(out->segs, sizeof(*out->segs) * (size_t)(out->nsegs + 1));
		out->segs[out->nsegs++] = s;
		p += len;
		if (*p == '/') {
			p++;
			if (!*p) {
				apigw_rkey_fini(out);
				return err_make(errp, EINVAL, "Invalid route key %s: the path ends with /",
				                key);
			}
		}
	}
	return 0;
}

/* Percent-decodes s[0..n) into an owned string ('+' stays; a malformed escape is kept
 * as is; bytes that are not UTF-8 become '?', so the result fits in JSON). */
static char *lenient_decode(const char *s, size_t n)
{
	char *o = xmalloc(n + 1), *q = o;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (s[i] == '%' && i + 2 < n && (h = hex_digit(s[i + 1])) >= 0 &&
		    (l = hex_digit(s[i + 2])) >= 0) {
			*q++ = (char)(h * 16 + l);
			i += 2;
		} else {
			*q++ = s[i];
		}
	}
	*q = '\0';
	utf8_sanitize(o);
	return o;
}

struct req_path {
	int n;
	const char **raw; /* start of each segment in the path */
	size_t *len;
	char **dec; /* decoded */
};

static void req_path_split(const char *path, struct req_path *rp)
{
	memset(rp, 0, sizeof(*rp));
	if (path[0] == '/')
		path++;
	if (!*path)
		return;
	int cap = 1;
	for (const char *c = path; *c; c++)
		cap += *c == '/';
	rp->raw = xcalloc((size_t)cap, sizeof(*rp->raw));
	rp->len = xcalloc((size_t)cap, sizeof(*rp->len));
	rp->dec = xcalloc((size_t)cap, sizeof(*rp->dec));
	const char *p = path;
	for (;;) {
		size_t len = strcspn(p, "/");
		rp->raw[rp->n] = p;
		rp->len[rp->n] = len;
		rp->dec[rp->n] = lenient_decode(p, len);
		rp->n++;
		if (!p[len])
			break;
		p += len + 1;
	}
}

static void req_path_free(struct req_path *rp)
{
	for (int i = 0; i < rp->n; i++)
		free(rp->dec[i]);
	free(rp->raw);
	free(rp->len);
	free(rp->dec);
}

static bool matches(const struct apigw_rkey *k, const struct req_path *rp)
{
	for (int i = 0; i < k->nsegs; i++) {
		const struct apigw_seg *s = &k->segs[i];
		if (i >= rp->n)
			return false;
		switch (s->kind) {
		case APIGW_SEG_LITERAL:
			if (strcmp(rp->dec[i], s->text) != 0)
				return false;
			break;
		case APIGW_SEG_PARAM:
			if (!rp->dec[i][0])
				return false;
			break;
		case APIGW_SEG_GREEDY:
			/* The rest, at least one character. */
			return rp->n - i > 1 || rp->len[i] > 0;
		}
	}
	return k->nsegs == rp->n;
}

/* < 0 when a is more specific than b, > 0 when less, 0 when as specific. */
static int specificity_cmp(const struct apigw_rkey *a, const struct apigw_rkey *b)
{
	int n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
	for (int i = 0; i < n; i++) {
		if (a->segs[i].kind != b->segs[i].kind)
			return (int)a->segs[i].kind - (int)b->segs[i].kind;
		if (a->segs[i].kind == APIGW_SEG_GREEDY)
			return 0;
	}
	/* Both matched the same path: one is longer only past a greedy variable, handled
	 * above, so the lengths are equal here. */
	bool a_any = strcmp(a->method, "ANY") == 0, b_any = strcmp(b->method, "ANY") == 0;
	return (int)a_any - (int)b_any;
}

int apigw_route_match(const struct apigw_rkey *keys, size_t n, const char *method, const char *path,
                      json_t **params)
{
	if (params)
		*params = NULL;
	struct req_path rp;
	req_path_split(path, &rp);
	int best = -1, dflt = -1;
	for (size_t i = 0; i < n; i++) {
		const struct apigw_rkey *k = &keys[i];
		if (k->is_default) {
			if (dflt < 0)
				dflt = (int)i;
			continue;
		}
		if (strcmp(k->method, "ANY") != 0 && strcmp(k->method, method) != 0)
			continue;
		if (!matches(k, &rp))
			continue;
		if (best < 0 || specificity_cmp(k, &keys[best]) < 0)
			best = (int)i;
	}
	if (best < 0) {
		req_path_free(&rp);
		return dflt;
	}
	const struct apigw_rkey *k = &keys[best];
	if (params) {
		for (int i = 0; i < k->nsegs; i++) {
			const struct apigw_seg *s = &k->segs[i];
			if (s->kind == APIGW_SEG_LITERAL)
				continue;
			if (!*params)
				*params = json_object();
			if (s->kind == APIGW_SEG_PARAM) {
				json_object_set_new(*params, s->text, json_string(rp.dec[i]));
			} else {
				autofree char *rest = lenient_decode(rp.raw[i], strlen(rp.raw[i]));
				json_object_set_new(*params, s->text, json_string(rest));
			}
		}
	}
	req_path_free(&rp);
	return best;
}
