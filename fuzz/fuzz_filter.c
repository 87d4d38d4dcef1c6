/* libFuzzer target for FilterCriteria patterns: any bytes, as a Pattern, are refused with a
 * message or give a pattern that matches records without crashing; the pattern's own text
 * read back as a record always gives an answer, and a pattern that parses once parses
 * again from its compact form. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esm/filter.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first line is the pattern, the rest a record. */
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen = nl ? (size_t)(nl - data) : size;
	struct err e = {0};
	json_t *p = esm_pattern_parse((const char *)data, plen, &e);
	if (!p) {
		CHECK(e.code == EINVAL && e.msg[0]);
		return 0;
	}
	CHECK(json_is_object(p));
	char *txt = json_dumps(p, JSON_COMPACT);
	CHECK(txt);
	json_t *again = esm_pattern_parse(txt, strlen(txt), &e);
	/* The compact form is never longer in characters, so it parses too. */
	CHECK(again && json_equal(again, p));
	json_decref(again);
	free(txt);
	(void)esm_pattern_match(p, p);
	if (nl) {
		json_t *rec = json_loadb((const char *)nl + 1, size - plen - 1, JSON_DECODE_ANY, NULL);
		if (rec) {
			bool m = esm_pattern_match(p, rec);
			/* Matching is a pure function of its inputs. */
			CHECK(m == esm_pattern_match(p, rec));
			json_decref(rec);
		}
	}
	json_decref(p);
	return 0;
}
