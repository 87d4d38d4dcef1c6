/* libFuzzer target for the query protocol's parser (proto/query.c) with SQS's shapes: any
 * bytes either parse into a JSON object or are refused with a reason, deterministically;
 * every parsed value, and the keys of a parsed map, render as XML text with no '&' that
 * is not an entity and no '<' at all. */
#include <event2/buffer.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/proto.h"
#include "svc/sqs/sqs.h"

/* Whether the XML text s (n bytes) holds '&' only as an entity. */
static int xml_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '&' && !(strncmp(s + i, "&amp;", 5) == 0 || strncmp(s + i, "&lt;", 4) == 0 ||
		                     strncmp(s + i, "&gt;", 4) == 0 || strncmp(s + i, "&quot;", 6) == 0 ||
		                     strncmp(s + i, "&apos;", 6) == 0 || strncmp(s + i, "&#xD;", 5) == 0))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct proto_qshape *shapes = sqs_query_in_shapes();
	json_t *a = NULL, *b = NULL;
	char why[256], why2[256];
	int ra = proto_query_parse((const char *)data, size, shapes, &a, why, sizeof(why));
	int rb = proto_query_parse((const char *)data, size, shapes, &b, why2, sizeof(why2));
	CHECK(ra == rb);
	if (ra < 0) {
		CHECK(a == NULL && why[0] != 0);
		CHECK(strcmp(why, why2) == 0);
		return 0;
	}
	CHECK(json_is_object(a));
	CHECK(json_equal(a, b));
	const char *k;
	json_t *v;
	json_object_foreach(a, k, v) {
		bool strings = json_is_object(v) && strcmp(k, "Attributes") == 0;
		const char *mk;
		json_t *mv;
		json_object_foreach(v, mk, mv)
			strings = strings && json_is_string(mv);
		if (!json_is_string(v) && !strings)
			continue;
		/* A value as an element's text, a map through its flattened shape. */
		static const struct proto_qshape out[] = {
		    {"Attributes", "Attribute", PROTO_Q_MAP, "Name", "Value", NULL},
		    {NULL, NULL, 0, NULL, NULL, NULL},
		};
		json_t *o = json_pack("{s:O}", json_is_string(v) ? "V" : "Attributes", v);
		struct evbuffer *x = evbuffer_new();
		proto_query_xml(x, o, out);
		size_t n = evbuffer_get_length(x);
		const char *t = (const char *)evbuffer_pullup(x, -1);
		CHECK(xml_ok(t, n));
		if (json_is_string(v)) {
			CHECK(n >= 7 && memchr(t + 3, '<', n - 7) == NULL);
		}
		evbuffer_free(x);
		json_decref(o);
	}
	json_decref(a);
	json_decref(b);
	return 0;
}
