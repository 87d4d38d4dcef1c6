/* Lambda event filtering (FilterCriteria): the pattern language of EventBridge that
 * event source mappings accept, parsed and checked once, then matched against records.
 * Pure code: no I/O, no loop. */
#ifndef LAMBDAD_ESM_FILTER_H
#define LAMBDAD_ESM_FILTER_H

#include <jansson.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>

#define ESM_PATTERN_MAX 4096 /* characters of one Pattern string */
#define ESM_FILTERS_MAX 5    /* Filters of one FilterCriteria (AWS's default quota) */

/* Parses the Pattern text (len bytes of UTF-8) and checks it against the language:
 * an object whose keys map to a non-empty list of matchers (values: a string, a number,
 * null, true/false, or one of {"prefix"}, {"suffix"}, {"equals-ignore-case"},
 * {"anything-but"}, {"numeric"}, {"exists"}), to a nested object of the same form, or
 * ("$or") to a list of at least two such objects. Returns the pattern (owned, a jansson
 * value to give to esm_pattern_match and json_decref), or NULL with EINVAL and a message
 * naming the key path and what is wrong. */
json_t *esm_pattern_parse(const char *text, size_t len, struct err *errp);

/* Whether record (borrowed; any JSON value, usually an object) matches pattern (one that
 * esm_pattern_parse returned): every key of the pattern is present in the record and one
 * of its matchers matches (exists:false: the key is absent); a record array matches when
 * one of its elements does. Numbers match a number literal only of the same kind and
 * value (300 is not 300.0), and any number in "numeric". */
bool esm_pattern_match(const json_t *pattern, const json_t *record);

/* A FilterCriteria: up to ESM_FILTERS_MAX patterns, ORed. */
struct esm_filter;

/* Checks a FilterCriteria object of the API ({"Filters":[{"Pattern":"..."}]}; {} or no
 * Filters: no filtering) and parses its patterns. Returns 0 and an owned *out (NULL when
 * there is nothing to filter), or -EINVAL with a message naming the field. */
int esm_filter_new(const json_t *criteria, struct esm_filter **out, struct err *errp);
/* Whether record passes: f NULL (no filters) or one of its patterns matches. */
bool esm_filter_match(const struct esm_filter *f, const json_t *record);
/* Frees f; NULL is a no-op. */
void esm_filter_free(struct esm_filter *f);

#endif
