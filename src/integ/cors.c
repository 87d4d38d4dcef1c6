/* CORS for function URLs and HTTP APIs: one parsed configuration made from either API's
 * JSON, the preflight answer and the headers of other answers (cors.h). */
#include <errno.h>
#include <inttypes.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "integ/cors.h"

enum cors_flavor { CORS_FURL, CORS_APIGW };

struct cors {
	enum cors_flavor flavor;
	json_t *doc;     /* the known fields as given, in the API's casing */
	json_t *origins; /* borrowed from doc: array of strings, or NULL */
	char *methods;   /* joined with ", ", or NULL: none configured */
	char *headers;   /* the same */
	char *expose;    /* the same */
	bool has_max_age;
	json_int_t max_age_s; /* seconds; API Gateway allows -1 */
	bool credentials;
};

/* The field names of one API: its JSON keys and how its errors name them. */
struct cors_names {
	const char *credentials, *headers, *methods, *origins, *expose, *max_age;
};

static const struct cors_names furl_keys = {"AllowCredentials", "AllowHeaders",  "AllowMethods",
                                            "AllowOrigins",     "ExposeHeaders", "MaxAge"};
static const struct cors_names furl_fields = {"cors.allowCredentials", "cors.allowHeaders",
                                              "cors.allowMethods",     "cors.allowOrigins",
                                              "cors.exposeHeaders",    "cors.maxAge"};
static const struct cors_names gw_keys = {"allowCredentials", "allowHeaders",  "allowMethods",
                                          "allowOrigins",     "exposeHeaders", "maxAge"};

void cors_free(struct cors *c)
{
	if (!c)
		return;
	json_decref(c->doc);
	free(c->methods);
	free(c->headers);
	free(c->expose);
	free(c);
}

json_t *cors_json(const struct cors *c)
{
	return c->doc;
}

/* The strings of list joined with ", " (owned), or NULL when there are none. */
static char *join(json_t *list)
{
	size_t i, len = 0;
	json_t *e;
	json_array_foreach(list, i, e)
		len += json_string_length(e) + 2;
	if (!len)
		return NULL;
	char *s = xmalloc(len + 1), *p = s;
	json_array_foreach(list, i, e) {
		if (p != s)
			*p++ = ',', *p++ = ' ';
		memcpy(p, json_string_value(e), json_string_length(e));
		p += json_string_length(e);
	}
	*p = 0;
	return s;
}

/* Completes c from its validated doc under the key names k; returns c. */
static struct cors *finish(struct cors *c, const struct cors_names *k)
{
	c->origins = json_object_get(c->doc, k->origins);
	c->methods = join(json_object_get(c->doc, k->methods));
	c->headers = join(json_object_get(c->doc, k->headers));
	c->expose = join(json_object_get(c->doc, k->expose));
	json_t *ma = json_object_get(c->doc, k->max_age);
	c->has_max_age = json_is_integer(ma);
	c->max_age_s = json_integer_value(ma);
	c->credentials = json_is_true(json_object_get(c->doc, k->credentials));
	return c;
}

static bool method_ok(const char *m, const char *const *ok, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcasecmp(m, ok[k]) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- function URLs */

/* Lambda's ValidationException text about field; returns -EINVAL. */
static int furl_invalid(struct err *errp, const char *value, const char *field, const char *constraint)
{
	return err_make(
	    errp, EINVAL,
	    "1 validation error detected: Value '%.200s' at '%s' failed to satisfy constraint: %s", value,
	    field, constraint);
}

/* A list member of Cors: strings of minlen..maxlen characters, at most maxn of them. */
static int furl_list(json_t *l, const char *field, size_t maxn, size_t minlen, size_t maxlen,
                     struct err *errp)
{
	if (!json_is_array(l))
		return furl_invalid(errp, "(not a list)", field, "Member must be a list of strings");
	if (json_array_size(l) > maxn) {
		char c[80];
		snprintf(c, sizeof(c), "Member must have length less than or equal to %zu", maxn);
		return furl_invalid(errp, "(list)", field, c);
	}
	size_t i;
	json_t *e;
	json_array_foreach(l, i, e) {
		if (!json_is_string(e))
			return furl_invalid(errp, "(not a string)", field,
			                    "Member must be a list of strings");
		size_t n = json_string_length(e);
		if (n < minlen || n > maxlen) {
			char c[120];
			snprintf(c, sizeof(c),
			         "Member must satisfy constraint: [Member must have length %s %zu]",
			         n < minlen ? "greater than or equal to" : "less than or equal to",
			         n < minlen ? minlen : maxlen);
			return furl_invalid(errp, json_string_value(e), field, c);
		}
	}
	return 0;
}

/* Validates in into doc (the known fields); returns 0 or -EINVAL. */
static int furl_check(json_t *in, json_t *doc, struct err *errp)
{
	const struct cors_names *k = &furl_keys, *f = &furl_fields;
	if (!json_is_object(in))
		return furl_invalid(errp, "(not an object)", "cors", "Member must be an object");
	json_t *v;
	if ((v = json_object_get(in, k->credentials)) && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return furl_invalid(errp, "(not a boolean)", f->credentials,
			                    "Member must be a boolean");
		json_object_set(doc, k->credentials, v);
	}
	const struct {
		const char *key, *field;
		size_t maxn, minlen, maxlen;
	} lists[] = {{k->headers, f->headers, 100, 0, 1024},
	             {k->methods, f->methods, 6, 0, 6},
	             {k->origins, f->origins, 100, 1, 253},
	             {k->expose, f->expose, 100, 0, 1024}};
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		if (!(v = json_object_get(in, lists[i].key)) || json_is_null(v))
			continue;
		int r = furl_list(v, lists[i].field, lists[i].maxn, lists[i].minlen, lists[i].maxlen, errp);
		if (r < 0)
			return r;
		json_object_set(doc, lists[i].key, v);
	}
	static const char *const ok[] = {"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "*"};
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, k->methods), i, e) {
		if (!method_ok(json_string_value(e), ok, ARRAY_SIZE(ok)))
			return furl_invalid(
			    errp, json_string_value(e), f->methods,
			    "Member must satisfy enum value set: [GET, PUT, HEAD, POST, PATCH, "
			    "DELETE, OPTIONS, *]");
	}
	if ((v = json_object_get(in, k->max_age)) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 86400) {
			autofree char *txt = json_dumps(v, JSON_ENCODE_ANY);
			return furl_invalid(errp, txt ? txt : "?", f->max_age,
			                    json_is_integer(v) && json_integer_value(v) < 0
			                        ? "Member must have value greater than or equal to 0"
			                        : "Member must have value less than or equal to 86400");
		}
		json_object_set(doc, k->max_age, v);
	}
	return 0;
}

int cors_from_furl(json_t *in, struct cors **out, struct err *errp)
{
	*out = NULL;
	if (!in || json_is_null(in))
		return 0;
	json_t *doc = json_object();
	int r = furl_check(in, doc, errp);
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	struct cors *c = xcalloc(1, sizeof(*c));
	c->flavor = CORS_FURL;
	c->doc = doc;
	*out = finish(c, &furl_keys);
	return 0;
}

/* ---------------------------------------------------------------- HTTP APIs */

/* Whether an allowed origin is a scheme's wildcard: "https://" or "http://" (any
 * lower-case scheme) followed by "*". */
static bool scheme_wildcard(const char *o)
{
	size_t n = strlen(o);
	return n > 4 && strcmp(o + n - 4, "://*") == 0 && strspn(o, "abcdefghijklmnopqrstuvwxyz") == n - 4;
}

static int gw_list(json_t *in, json_t *doc, const char *key, struct err *errp)
{
	json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return 0;
	size_t i;
	json_t *e;
	if (!json_is_array(v))
		return err_make(errp, EINVAL,
		                "Invalid input for corsConfiguration.%s: a list of strings expected", key);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 1024)
			return err_make(
			    errp, EINVAL,
			    "Invalid input for corsConfiguration.%s: a list of strings of 1 to 1024 "
			    "characters expected",
			    key);
	}
	json_object_set(doc, key, v);
	return 0;
}

static int gw_check(json_t *in, json_t *doc, struct err *errp)
{
	const struct cors_names *k = &gw_keys;
	if (!json_is_object(in))
		return err_make(errp, EINVAL, "Invalid input for corsConfiguration: an object expected");
	json_t *v;
	if ((v = json_object_get(in, k->credentials)) && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return err_make(errp, EINVAL,
			                "Invalid input for corsConfiguration.%s: a boolean expected",
			                k->credentials);
		json_object_set(doc, k->credentials, v);
	}
	const char *lists[] = {k->headers, k->methods, k->origins, k->expose};
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		int r = gw_list(in, doc, lists[i], errp);
		if (r < 0)
			return r;
	}
	static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*"};
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, k->methods), i, e) {
		if (!method_ok(json_string_value(e), ok, ARRAY_SIZE(ok)))
			return err_make(
			    errp, EINVAL,
			    "Invalid input for corsConfiguration.%s: %.64s is not one of GET, POST, "
			    "PUT, PATCH, DELETE, HEAD, OPTIONS, *",
			    k->methods, json_string_value(e));
	}
	if ((v = json_object_get(in, k->max_age)) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > 86400)
			return err_make(
			    errp, EINVAL,
			    "Invalid input for corsConfiguration.%s: an integer from -1 to 86400 expected",
			    k->max_age);
		json_object_set(doc, k->max_age, v);
	}
	/* AWS's own words for this refusal. */
	if (json_is_true(json_object_get(doc, k->credentials)))
		json_array_foreach(json_object_get(doc, k->origins), i, e) {
			if (strcmp(json_string_value(e), "*") == 0)
				return err_make(errp, EINVAL,
				                "allow-credentials is not supported if 'allow-origin' is * "
				                "(corsConfiguration.allowCredentials with allowOrigins *)");
		}
	return 0;
}

int cors_from_apigw(json_t *in, struct cors **out, struct err *errp)
{
	*out = NULL;
	if (!in || json_is_null(in))
		return 0;
	json_t *doc = json_object();
	int r = gw_check(in, doc, errp);
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	struct cors *c = xcalloc(1, sizeof(*c));
	c->flavor = CORS_APIGW;
	c->doc = doc;
	*out = finish(c, &gw_keys);
	return 0;
}

/* ---------------------------------------------------------------- answers */

/* The Access-Control-Allow-Origin value for origin, or NULL: not allowed. The first
 * entry that matches decides. */
static const char *allowed_origin(const struct cors *c, const char *origin)
{
	size_t i;
	json_t *e;
	json_array_foreach(c->origins, i, e) {
		const char *o = json_string_value(e);
		if (strcmp(o, "*") == 0)
			return c->credentials ? origin : "*";
		if (strcasecmp(o, origin) == 0)
			return origin;
		if (c->flavor == CORS_APIGW && scheme_wildcard(o)) {
			size_t n = strlen(o) - 1; /* "https://" */
			if (strncasecmp(origin, o, n) == 0 && origin[n])
				return origin;
		}
	}
	return NULL;
}

/* What c allows a request with headers in as its Access-Control-Allow-Origin, or NULL. */
static const char *allow_of(const struct cors *c, const struct evkeyvalq *in)
{
	const char *origin = evhttp_find_header(in, "Origin");
	return c && origin ? allowed_origin(c, origin) : NULL;
}

static void add_common(const struct cors *c, const char *allow, struct evkeyvalq *out)
{
	evhttp_add_header(out, "Access-Control-Allow-Origin", allow);
	if (c->credentials)
		evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
}

int cors_preflight(const struct cors *c, const char *method, const struct evkeyvalq *in,
                   struct evkeyvalq *out)
{
	if (!c || strcmp(method, "OPTIONS") != 0 || !evhttp_find_header(in, "Origin") ||
	    !evhttp_find_header(in, "Access-Control-Request-Method"))
		return 0;
	int status = c->flavor == CORS_APIGW ? 204 : 200;
	const char *allow = allow_of(c, in);
	if (!allow)
		return status;
	add_common(c, allow, out);
	if (c->methods)
		evhttp_add_header(out, "Access-Control-Allow-Methods", c->methods);
	if (c->headers)
		evhttp_add_header(out, "Access-Control-Allow-Headers", c->headers);
	if (c->has_max_age) {
		char s[24];
		snprintf(s, sizeof(s), "%" JSON_INTEGER_FORMAT, c->max_age_s);
		evhttp_add_header(out, "Access-Control-Max-Age", s);
	}
	if (strcmp(allow, "*") != 0)
		evhttp_add_header(out, "Vary", "Origin");
	return status;
}

void cors_headers(const struct cors *c, const struct evkeyvalq *in, struct evkeyvalq *out)
{
	const char *allow = allow_of(c, in);
	if (!allow)
		return;
	add_common(c, allow, out);
	if (c->expose)
		evhttp_add_header(out, "Access-Control-Expose-Headers", c->expose);
	if (strcmp(allow, "*") != 0)
		evhttp_add_header(out, "Vary", "Origin");
}

void cors_strip(struct evkeyvalq *h)
{
	struct evkeyval *kv;
	for (;;) {
		TAILQ_FOREACH(kv, h, next)
			if (strncasecmp(kv->key, "Access-Control-", 15) == 0)
				break;
		if (!kv)
			return;
		autofree char *name = xstrdup(kv->key);
		while (evhttp_remove_header(h, name) == 0)
			;
	}
}
