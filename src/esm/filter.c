/* Lambda event filtering: FilterCriteria patterns checked at CreateEventSourceMapping and
 * UpdateEventSourceMapping, then matched against every record a poller reads. The pattern
 * stays a jansson value once checked; matching walks it beside the record. */
#include "esm/filter.h"

#include <errno.h>
#include <lambdad/xmalloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"

/* Deeper than this, a pattern is refused (a record deeper than its pattern is never
 * walked, so this also bounds the matcher's recursion). */
#define PATTERN_DEPTH_MAX 64

struct esm_filter {
	size_t n;
	json_t *patterns[ESM_FILTERS_MAX];
};

/* ---- Checking ---- */

/* The key path of the place being checked, for messages: "body.price". */
struct path {
	char s[256];
	size_t len;
};

static size_t path_push(struct path *p, const char *key)
{
	size_t old = p->len;
	int n = snprintf(p->s + p->len, sizeof(p->s) - p->len, "%s%s", p->len ? "." : "", key);
	if (n > 0)
		p->len = p->len + (size_t)n < sizeof(p->s) ? p->len + (size_t)n : sizeof(p->s) - 1;
	return old;
}

static void path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}

static int bad(struct err *errp, const struct path *p, const char *what)
{
	return err_make(errp, EINVAL, "Invalid filter pattern definition: %s%s%s%s", p->len ? "\"" : "", p->s,
	                p->len ? "\": " : "", what);
}

static bool is_literal(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_null(v) || json_is_boolean(v);
}

/* {"prefix": "x"} or {"prefix": {"equals-ignore-case": "x"}} (and suffix). */
static int check_affix(const json_t *v, const struct path *p, const char *op, struct err *errp)
{
	if (json_is_string(v))
		return 0;
	if (json_is_object(v) && json_object_size(v) == 1 &&
	    json_is_string(json_object_get(v, "equals-ignore-case")))
		return 0;
	char msg[128];
	snprintf(msg, sizeof(msg), "%s takes a string or {\"equals-ignore-case\": string}", op);
	return bad(errp, p, msg);
}

static bool is_lower(const char *op)
{
	return strcmp(op, ">") == 0 || strcmp(op, ">=") == 0;
}

static bool is_upper(const char *op)
{
	return strcmp(op, "<") == 0 || strcmp(op, "<=") == 0;
}

static int check_numeric(const json_t *v, const struct path *p, struct err *errp)
{
	static const char usage[] =
	    "numeric takes [\"=\", n], [op, n] or [lower-op, n, upper-op, m] with op one of =, <, <=, >, >=";
	size_t n = json_array_size(v);
	if (!json_is_array(v) || (n != 2 && n != 4))
		return bad(errp, p, usage);
	for (size_t i = 0; i < n; i += 2) {
		const char *op = json_string_value(json_array_get(v, i));
		if (!op || (strcmp(op, "=") != 0 && !is_lower(op) && !is_upper(op)))
			return bad(errp, p, usage);
		if (!json_is_number(json_array_get(v, i + 1)))
			return bad(errp, p, "numeric compares with numbers only");
		if (n == 4 && strcmp(op, "=") == 0)
			return bad(errp, p, "numeric \"=\" stands alone");
	}
	if (n == 4) {
		const char *a = json_string_value(json_array_get(v, 0)),
		           *b = json_string_value(json_array_get(v, 2));
		if (!((is_lower(a) && is_upper(b)) || (is_upper(a) && is_lower(b))))
			return bad(
			    errp, p,
			    "a numeric range needs one lower bound (>, >=) and one upper bound (<, <=)");
		double lo = json_number_value(json_array_get(v, is_lower(a) ? 1 : 3));
		double hi = json_number_value(json_array_get(v, is_lower(a) ? 3 : 1));
		if (!(lo <= hi))
			return bad(errp, p, "numeric range: the lower bound is above the upper bound");
	}
	return 0;
}

static int check_matcher(const json_t *m, const struct path *p, struct err *errp)
{
	if (is_literal(m))
		return 0;
	if (!json_is_object(m))
		return bad(errp, p,
		           "a matcher is a string, a number, null, a boolean or an object with one operator");
	if (json_object_size(m) != 1)
		return bad(errp, p, "a matcher object holds exactly one operator");
	const char *op = json_object_iter_key(json_object_iter((json_t *)m));
	const json_t *v = json_object_iter_value(json_object_iter((json_t *)m));
	if (strcmp(op, "exists") == 0)
		return json_is_boolean(v) ? 0 : bad(errp, p, "exists takes true or false");
	if (strcmp(op, "prefix") == 0 || strcmp(op, "suffix") == 0)
		return check_affix(v, p, op, errp);
	if (strcmp(op, "equals-ignore-case") == 0)
		return json_is_string(v) ? 0 : bad(errp, p, "equals-ignore-case takes a string");
	if (strcmp(op, "numeric") == 0)
		return check_numeric(v, p, errp);
	if (strcmp(op, "anything-but") == 0) {
		if (json_is_string(v) || json_is_number(v))
			return 0;
		if (json_is_object(v))
			return bad(errp, p,
			           "anything-but takes a value or a list of values (its prefix, suffix, "
			           "equals-ignore-case and wildcard forms are EventBridge's, not Lambda's)");
		if (!json_is_array(v) || json_array_size(v) == 0)
			return bad(errp, p, "anything-but takes a value or a non-empty list of values");
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) && !json_is_number(e))
				return bad(errp, p, "anything-but lists strings or numbers");
		}
		return 0;
	}
	char msg[160];
	snprintf(msg, sizeof(msg), "unsupported operator \"%.60s\"", op);
	return bad(errp, p, msg);
}

static int check_object(const json_t *o, struct path *p, int depth, struct err *errp);

static int check_value(const char *key, const json_t *v, struct path *p, int depth, struct err *errp)
{
	size_t old = path_push(p, key);
	int rc = 0;
	if (strcmp(key, "$or") == 0) {
		if (!json_is_array(v) || json_array_size(v) < 2)
			rc = bad(errp, p, "$or takes a list of at least two patterns");
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			if (rc)
				break;
			if (!json_is_object(e))
				rc = bad(errp, p, "$or lists pattern objects");
			else
				rc = check_object(e, p, depth + 1, errp);
		}
	} else if (json_is_object(v)) {
		rc = check_object(v, p, depth + 1, errp);
	} else if (json_is_array(v)) {
		if (json_array_size(v) == 0)
			rc = bad(errp, p, "an empty list matches nothing");
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			if (rc)
				break;
			rc = check_matcher(e, p, errp);
		}
	} else {
		rc = bad(errp, p, "a value in a pattern is a list of matchers or a nested object");
	}
	path_pop(p, old);
	return rc;
}

static int check_object(const json_t *o, struct path *p, int depth, struct err *errp)
{
	if (depth > PATTERN_DEPTH_MAX)
		return bad(errp, p, "nested too deeply");
	if (json_object_size(o) == 0)
		return bad(errp, p, "an empty object matches nothing");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v) {
		int rc = check_value(key, v, p, depth, errp);
		if (rc)
			return rc;
	}
	return 0;
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

json_t *esm_pattern_parse(const char *text, size_t len, struct err *errp)
{
	struct path p = {.len = 0};
	if (!text || len == 0) {
		err_make(errp, EINVAL, "Invalid filter pattern definition: the pattern is empty");
		return NULL;
	}
	if (!utf8_valid(text, len)) {
		err_make(errp, EINVAL, "Invalid filter pattern definition: the pattern is not UTF-8");
		return NULL;
	}
	if (utf8_chars(text, len) > ESM_PATTERN_MAX) {
		err_make(errp, EINVAL,
		         "Invalid filter pattern definition: the pattern is longer than %d characters",
		         ESM_PATTERN_MAX);
		return NULL;
	}
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_DECODE_ANY, &je);
	if (!o) {
		err_make(errp, EINVAL, "Invalid filter pattern definition: not JSON: %s at character %d",
		         je.text, je.position);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		err_make(errp, EINVAL, "Invalid filter pattern definition: the pattern is a JSON object");
		return NULL;
	}
	if (check_object(o, &p, 0, errp) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- Matching ---- */

static bool literal_eq(const json_t *m, const json_t *v)
{
	if (json_is_string(m))
		return json_is_string(v) && json_string_length(m) == json_string_length(v) &&
		       memcmp(json_string_value(m), json_string_value(v), json_string_length(m)) == 0;
	if (json_is_integer(m))
		return json_is_integer(v) && json_integer_value(m) == json_integer_value(v);
	if (json_is_real(m))
		return json_is_real(v) && json_real_value(m) == json_real_value(v);
	if (json_is_null(m))
		return json_is_null(v);
	if (json_is_boolean(m))
		return json_is_boolean(v) && json_is_true(m) == json_is_true(v);
	return false;
}

static bool affix(const json_t *arg, const json_t *v, bool suffix)
{
	if (!json_is_string(v))
		return false;
	bool icase = json_is_object(arg);
	const json_t *s = icase ? json_object_get(arg, "equals-ignore-case") : arg;
	size_t n = json_string_length(s), vn = json_string_length(v);
	if (n > vn)
		return false;
	const char *a = json_string_value(s), *b = json_string_value(v) + (suffix ? vn - n : 0);
	return icase ? strncasecmp(a, b, n) == 0 : memcmp(a, b, n) == 0;
}

static bool numeric_ok(const char *op, double x, double bound)
{
	if (strcmp(op, "=") == 0)
		return x == bound;
	if (strcmp(op, "<") == 0)
		return x < bound;
	if (strcmp(op, "<=") == 0)
		return x <= bound;
	if (strcmp(op, ">") == 0)
		return x > bound;
	return x >= bound;
}

static bool numeric(const json_t *arg, const json_t *v)
{
	if (!json_is_number(v))
		return false;
	double x = json_number_value(v);
	for (size_t i = 0; i + 1 < json_array_size(arg); i += 2)
		if (!numeric_ok(json_string_value(json_array_get(arg, i)), x,
		                json_number_value(json_array_get(arg, i + 1))))
			return false;
	return true;
}

static bool anything_but(const json_t *arg, const json_t *v)
{
	if (!json_is_array(arg))
		return !literal_eq(arg, v);
	size_t i;
	json_t *e;
	json_array_foreach(arg, i, e) {
		if (literal_eq(e, v))
			return false;
		/* A number in the list also excludes the same value of the other kind. */
		if (json_is_number(e) && json_is_number(v) && json_number_value(e) == json_number_value(v))
			return false;
	}
	return true;
}

/* Matcher m (not exists) against one leaf value v. */
static bool match_one(const json_t *m, const json_t *v)
{
	if (!json_is_object(m))
		return literal_eq(m, v);
	const char *op = json_object_iter_key(json_object_iter((json_t *)m));
	const json_t *arg = json_object_iter_value(json_object_iter((json_t *)m));
	if (strcmp(op, "prefix") == 0)
		return affix(arg, v, false);
	if (strcmp(op, "suffix") == 0)
		return affix(arg, v, true);
	if (strcmp(op, "equals-ignore-case") == 0)
		return json_is_string(v) && json_string_length(v) == json_string_length(arg) &&
		       strcasecmp(json_string_value(arg), json_string_value(v)) == 0;
	if (strcmp(op, "numeric") == 0)
		return numeric(arg, v);
	if (strcmp(op, "anything-but") == 0)
		return anything_but(arg, v);
	return false;
}

/* Whether field (NULL: absent) has a leaf value: a non-container, or an array holding one. */
static bool has_leaf(const json_t *field)
{
	if (!field || json_is_object(field))
		return false;
	if (!json_is_array(field))
		return true;
	size_t i;
	json_t *e;
	json_array_foreach(field, i, e) {
		if (has_leaf(e))
			return true;
	}
	return false;
}

/* Whether matcher m matches field (NULL: absent): a record array through any element. */
static bool match_field(const json_t *m, const json_t *field)
{
	if (json_is_object(m)) {
		const json_t *ex = json_object_get(m, "exists");
		if (ex)
			return json_is_true(ex) ? has_leaf(field) : field == NULL;
	}
	if (!field || json_is_object(field))
		return false;
	if (!json_is_array(field))
		return match_one(m, field);
	size_t i;
	json_t *e;
	json_array_foreach(field, i, e) {
		if (!json_is_object(e) && match_field(m, e))
			return true;
	}
	return false;
}

static bool match_object(const json_t *pat, const json_t *rec);

/* A nested pattern object against field: an object, or an array with an object that matches;
 * absent fields still reach exists:false below. */
static bool match_nested(const json_t *pat, const json_t *field)
{
	if (json_is_array(field)) {
		size_t i;
		json_t *e;
		json_array_foreach(field, i, e) {
			if (json_is_object(e) && match_object(pat, e))
				return true;
		}
		return false;
	}
	return match_object(pat, json_is_object(field) ? field : NULL);
}

/* Whether any element of the array pats (an $or's patterns, a field's matchers) matches x
 * by match; none when pats is not an array. */
static bool match_any(const json_t *pats, bool (*match)(const json_t *, const json_t *), const json_t *x)
{
	size_t i;
	json_t *p;
	json_array_foreach((json_t *)pats, i, p) {
		if (match(p, x))
			return true;
	}
	return false;
}

static bool match_object(const json_t *pat, const json_t *rec)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)pat, key, v) {
		if (strcmp(key, "$or") == 0) {
			if (!match_any(v, match_object, rec))
				return false;
			continue;
		}
		const json_t *field = rec ? json_object_get(rec, key) : NULL;
		if (json_is_object(v)) {
			if (!match_nested(v, field))
				return false;
			continue;
		}
		if (!match_any(v, match_field, field))
			return false;
	}
	return true;
}

bool esm_pattern_match(const json_t *pattern, const json_t *record)
{
	return match_object(pattern, json_is_object(record) ? record : NULL);
}

/* ---- FilterCriteria ---- */

void esm_filter_free(struct esm_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->patterns[i]);
	free(f);
}

int esm_filter_new(const json_t *criteria, struct esm_filter **out, struct err *errp)
{
	*out = NULL;
	if (!criteria || json_is_null(criteria))
		return 0;
	if (!json_is_object(criteria))
		return err_make(errp, EINVAL, "FilterCriteria must be an object {\"Filters\": [...]}");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)criteria, key, v) {
		if (strcmp(key, "Filters") != 0)
			return err_make(errp, EINVAL, "FilterCriteria has an unknown field %.60s", key);
	}
	const json_t *filters = json_object_get(criteria, "Filters");
	if (!filters || json_is_null(filters))
		return 0;
	if (!json_is_array(filters))
		return err_make(errp, EINVAL, "FilterCriteria.Filters must be a list");
	if (json_array_size(filters) > ESM_FILTERS_MAX)
		return err_make(errp, EINVAL,
		                "FilterCriteria.Filters: at most %d filters are allowed, %zu were given",
		                ESM_FILTERS_MAX, json_array_size(filters));
	if (json_array_size(filters) == 0)
		return 0;
	struct esm_filter *f = xcalloc(1, sizeof(*f));
	size_t i;
	json_array_foreach(filters, i, v) {
		const json_t *pat = json_is_object(v) ? json_object_get(v, "Pattern") : NULL;
		if (!json_is_string(pat)) {
			esm_filter_free(f);
			return err_make(errp, EINVAL, "FilterCriteria.Filters[%zu].Pattern must be a string",
			                i);
		}
		json_t *p = esm_pattern_parse(json_string_value(pat), json_string_length(pat), errp);
		if (!p) {
			esm_filter_free(f);
			return err_wrap(errp, "FilterCriteria.Filters[%zu].Pattern", i);
		}
		f->patterns[f->n++] = p;
	}
	*out = f;
	return 0;
}

bool esm_filter_match(const struct esm_filter *f, const json_t *record)
{
	if (!f)
		return true;
	for (size_t i = 0; i < f->n; i++)
		if (esm_pattern_match(f->patterns[i], record))
			return true;
	return false;
}
