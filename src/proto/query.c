/* The query protocol (SQS's older clients, SNS, STS): form-encoded parameters in, with
 * flattened lists and maps turned into the JSON of the AWS JSON input, and XML out, its
 * results and its <ErrorResponse>. */
#include <errno.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/codec.h"
#include "proto/proto.h"
#include "proto/proto_int.h"

/* ---------------------------------------------------------------- parsing */

/* Puts value (stolen) at the dotted path name into root; -EINVAL with why when a
 * component is both a value and a prefix of other names, or is empty. */
static int tree_put(json_t *root, const char *name, json_t *value, char *why, size_t whylen)
{
	json_t *obj = root;
	const char *p = name;
	for (;;) {
		size_t n = strcspn(p, ".");
		if (n == 0) {
			json_decref(value);
			snprintf(why, whylen, "the parameter name %s has an empty part", name);
			return -EINVAL;
		}
		char *comp = xstrndup(p, n);
		json_t *cur = json_object_get(obj, comp);
		if (!p[n]) {
			if (json_is_object(cur)) {
				free(comp);
				json_decref(value);
				snprintf(why, whylen,
				         "the parameter %s is also the prefix of other parameters", name);
				return -EINVAL;
			}
			json_object_set_new(obj, comp, value);
			free(comp);
			return 0;
		}
		if (!cur) {
			cur = json_object();
			json_object_set_new(obj, comp, cur);
		} else if (!json_is_object(cur)) {
			free(comp);
			json_decref(value);
			snprintf(why, whylen, "the parameter %.*s is also the prefix of %s",
			         (int)(p + n - name), name, name);
			return -EINVAL;
		}
		free(comp);
		obj = cur;
		p += n + 1;
	}
}

/* The 1-based index of a flattened element's name, or 0 when it is not one. */
static size_t index_of(const char *k)
{
	if (!*k || *k == '0' || strlen(k) > 6 || strspn(k, "0123456789") != strlen(k))
		return 0;
	return (size_t)strtoul(k, NULL, 10);
}

static json_t *reshape(json_t *o, const struct proto_qshape *shapes, const char *path, char *why,
                       size_t whylen);

/* The elements of flattened o ({"1": x, "2": y}) in index order, as an array (owned);
 * NULL with why when a key is not an index. */
static json_t *elements(json_t *o, const char *path, char *why, size_t whylen)
{
	size_t max = 0;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		size_t i = index_of(k);
		if (!i) {
			snprintf(why, whylen, "%s.%s: %s is not a list index (1, 2, ...)", path, k, k);
			return NULL;
		}
		if (i > max)
			max = i;
	}
	json_t *a = json_array();
	for (size_t i = 1; i <= max; i++) {
		char key[16];
		snprintf(key, sizeof(key), "%zu", i);
		json_t *e = json_object_get(o, key);
		if (e)
			json_array_append(a, e);
	}
	return a;
}

static json_t *reshape_value(json_t *v, const struct proto_qshape *sub, const char *path, char *why,
                             size_t whylen)
{
	return json_is_object(v) ? reshape(v, sub, path, why, whylen) : json_incref(v);
}

/* A copy of tree o (owned) with the flattened members of shapes turned into arrays and
 * objects, or NULL with why. */
static json_t *reshape(json_t *o, const struct proto_qshape *shapes, const char *path, char *why,
                       size_t whylen)
{
	json_t *out = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		const struct proto_qshape *s = NULL;
		const struct proto_qshape *bm = NULL; /* botocore sends an empty list as "<Member>=" */
		for (size_t i = 0; shapes && shapes[i].member; i++) {
			if (strcmp(shapes[i].wire, k) == 0)
				s = &shapes[i];
			else if (!s && strcmp(shapes[i].member, k) == 0 && json_is_string(v) &&
			         json_string_length(v) == 0)
				bm = &shapes[i];
		}
		if (!s && bm) {
			json_object_set_new(out, k, bm->kind == PROTO_Q_LIST ? json_array() : json_object());
			continue;
		}
		char sub[512];
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
		if (!s) {
			json_t *r = reshape_value(v, NULL, sub, why, whylen);
			if (!r)
				goto fail;
			json_object_set_new(out, k, r);
			continue;
		}
		if (json_is_string(v) && json_string_length(v) == 0) { /* an empty list */
			json_object_set_new(out, s->member,
			                    s->kind == PROTO_Q_LIST ? json_array() : json_object());
			continue;
		}
		if (!json_is_object(v)) {
			snprintf(why, whylen, "%s must be given as %s.1, %s.2, ...", sub, sub, sub);
			goto fail;
		}
		json_t *els = elements(v, sub, why, whylen);
		if (!els)
			goto fail;
		json_t *r = s->kind == PROTO_Q_LIST ? json_array() : json_object();
		size_t i;
		json_t *e;
		json_array_foreach(els, i, e) {
			char ep[600];
			snprintf(ep, sizeof(ep), "%s.%zu", sub, i + 1);
			if (s->kind == PROTO_Q_LIST) {
				json_t *x = reshape_value(e, s->sub, ep, why, whylen);
				if (!x) {
					json_decref(els);
					json_decref(r);
					goto fail;
				}
				json_array_append_new(r, x);
				continue;
			}
			json_t *name = json_is_object(e) ? json_object_get(e, s->key) : NULL;
			json_t *val = json_is_object(e) ? json_object_get(e, s->value) : NULL;
			if (!json_is_string(name) || !val) {
				snprintf(why, whylen, "%s needs %s.%s and %s.%s", ep, ep, s->key, ep,
				         s->value);
				json_decref(els);
				json_decref(r);
				goto fail;
			}
			json_t *x = reshape_value(val, s->sub, ep, why, whylen);
			if (!x) {
				json_decref(els);
				json_decref(r);
				goto fail;
			}
			json_object_set_new(r, json_string_value(name), x);
		}
		json_decref(els);
		json_object_set_new(out, s->member, r);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static int parse_into(json_t *tree, const char *form, size_t len, char *why, size_t whylen)
{
	const char *p = form, *end = form + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		if (pe > p) {
			const char *eq = memchr(p, '=', (size_t)(pe - p));
			const char *ke = eq ? eq : pe;
			char *k = pct_decode(p, (size_t)(ke - p), true, NULL);
			char *v = eq ? pct_decode(eq + 1, (size_t)(pe - eq - 1), true, NULL) : xstrdup("");
			if (!k || !v) {
				snprintf(why, whylen,
				         "the parameter %.*s has a malformed escape or a NUL byte",
				         (int)((ke - p) > 200 ? 200 : (ke - p)), p);
				free(k);
				free(v);
				return -EINVAL;
			}
			int r = tree_put(tree, k, json_string_nocheck(v), why, whylen);
			free(k);
			free(v);
			if (r < 0)
				return r;
		}
		p = pe + 1;
	}
	return 0;
}

int proto_query_parse(const char *form, size_t len, const struct proto_qshape *shapes, json_t **out,
                      char *why, size_t whylen)
{
	*out = NULL;
	json_t *tree = json_object();
	int r = parse_into(tree, form, len, why, whylen);
	if (r == 0) {
		*out = reshape(tree, shapes, "", why, whylen);
		if (!*out)
			r = -EINVAL;
	}
	json_decref(tree);
	return r;
}

static bool is_form(struct front_req *rq)
{
	const char *ct = front_req_header(rq, "Content-Type");
	return front_req_method(rq) == FRONT_POST && ct &&
	       strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

int proto_query_input(struct front_req *rq, const struct proto_qshape *shapes, json_t **out, char *why,
                      size_t whylen)
{
	*out = NULL;
	json_t *tree = json_object();
	const char *qs = front_req_query_string(rq);
	int r = qs ? parse_into(tree, qs, strlen(qs), why, whylen) : 0;
	struct evbuffer *b = front_req_body(rq);
	size_t len = b ? evbuffer_get_length(b) : 0;
	if (r == 0 && len && is_form(rq))
		r = parse_into(tree, (const char *)evbuffer_pullup(b, -1), len, why, whylen);
	if (r == 0) {
		*out = reshape(tree, shapes, "", why, whylen);
		if (!*out)
			r = -EINVAL;
	}
	json_decref(tree);
	return r;
}

/* The value of Action in form text s[0..len) into out. */
static bool find_action(const char *s, size_t len, char *out, size_t outsz)
{
	const char *p = s, *end = s + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		if ((size_t)(pe - p) > 7 && memcmp(p, "Action=", 7) == 0) {
			char *v = pct_decode(p + 7, (size_t)(pe - p - 7), true, NULL);
			bool ok = v && *v && strlen(v) < outsz;
			if (ok)
				snprintf(out, outsz, "%s", v);
			free(v);
			return ok;
		}
		p = pe + 1;
	}
	return false;
}

bool proto_query_action(struct front_req *rq, char *out, size_t outsz)
{
	const char *qs = front_req_query_string(rq);
	if (qs && find_action(qs, strlen(qs), out, outsz))
		return true;
	if (!is_form(rq))
		return false;
	struct evbuffer *b = front_req_body(rq);
	size_t len = b ? evbuffer_get_length(b) : 0;
	return len && find_action((const char *)evbuffer_pullup(b, -1), len, out, outsz);
}

/* ---------------------------------------------------------------- XML */

/* Appends s escaped as XML text (a carriage return as &#xD;, so parsers keep it). */
static void xml_text(struct evbuffer *b, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '\r':
			rep = "&#xD;";
			break;
		default:
			continue;
		}
		evbuffer_add(b, run, (size_t)(s - run));
		evbuffer_add(b, rep, strlen(rep));
		run = s + 1;
	}
	evbuffer_add(b, run, (size_t)(s - run));
}

static void xml_value(struct evbuffer *b, const char *tag, json_t *v, const struct proto_qshape *sub)
{
	evbuffer_add_printf(b, "<%s>", tag);
	if (json_is_string(v))
		xml_text(b, json_string_value(v));
	else if (json_is_true(v))
		evbuffer_add(b, "true", 4);
	else if (json_is_false(v))
		evbuffer_add(b, "false", 5);
	else if (json_is_integer(v))
		evbuffer_add_printf(b, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		evbuffer_add_printf(b, "%.17g", json_real_value(v));
	else if (json_is_object(v))
		proto_query_xml(b, v, sub);
	evbuffer_add_printf(b, "</%s>", tag);
}

void proto_query_xml(struct evbuffer *b, json_t *o, const struct proto_qshape *shapes)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		const struct proto_qshape *s = NULL;
		for (size_t i = 0; shapes && shapes[i].member; i++)
			if (strcmp(shapes[i].member, k) == 0)
				s = &shapes[i];
		if (s && s->kind == PROTO_Q_LIST && json_is_array(v)) {
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e)
				xml_value(b, s->wire, e, s->sub);
		} else if (s && s->kind == PROTO_Q_MAP && json_is_object(v)) {
			const char *mk;
			json_t *mv;
			json_object_foreach(v, mk, mv) {
				evbuffer_add_printf(b, "<%s><%s>", s->wire, s->key);
				xml_text(b, mk);
				evbuffer_add_printf(b, "</%s>", s->key);
				xml_value(b, s->value, mv, s->sub);
				evbuffer_add_printf(b, "</%s>", s->wire);
			}
		} else if (!json_is_null(v)) {
			xml_value(b, k, v, NULL);
		}
	}
}

static void reply_xml(struct front_req *rq, int status, struct evbuffer *b)
{
	front_reply_header(rq, "Content-Type", "text/xml");
	front_reply(rq, status, b);
	evbuffer_free(b);
}

void proto_query_reply(struct front_req *rq, const char *xmlns, const char *action, json_t *result,
                       const struct proto_qshape *shapes)
{
	proto_request_id(rq);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "<?xml version=\"1.0\"?><%sResponse xmlns=\"%s\">", action, xmlns);
	if (result) {
		evbuffer_add_printf(b, "<%sResult>", action);
		proto_query_xml(b, result, shapes);
		evbuffer_add_printf(b, "</%sResult>", action);
		json_decref(result);
	}
	evbuffer_add_printf(b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
	                    front_reply_header_get(rq, "x-amzn-RequestId"), action);
	reply_xml(rq, 200, b);
}

void proto__query_error(struct front_req *rq, const struct svc_error *e, const char *code, const char *msg)
{
	proto_request_id(rq);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>%s</Type><Code>",
	                    e->sender_fault ? "Sender" : "Receiver");
	xml_text(b, code);
	evbuffer_add_printf(b, "</Code><Message>");
	xml_text(b, msg);
	evbuffer_add_printf(b, "</Message><Detail/></Error><RequestId>%s</RequestId></ErrorResponse>",
	                    front_reply_header_get(rq, "x-amzn-RequestId"));
	reply_xml(rq, e->status, b);
}
