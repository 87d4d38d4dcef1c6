/* UTF-8: the one validator (RFC 3629, strict) and the sanitizer that makes text safe to
 * put in JSON. */
#ifndef LAMBDAD_BASE_UTF8_H
#define LAMBDAD_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1 to 4) of the well-formed UTF-8 sequence that starts the n bytes at p, or 0
 * when they do not start with one: a byte that never appears in UTF-8 (C0, C1, F5-FF),
 * a lone or missing continuation byte, an overlong form, a surrogate (U+D800-DFFF), a
 * code point past U+10FFFF, or a sequence cut short by the end of the n bytes. n = 0
 * returns 0. A NUL byte is U+0000, a one-byte sequence. */
size_t utf8_seq_len(const void *p, size_t n);

/* Whether the n bytes at p are well-formed UTF-8 throughout (n = 0: true). Embedded
 * NUL bytes are valid (U+0000); a caller that must refuse them checks separately. */
bool utf8_valid(const void *p, size_t n);

/* Replaces each byte of the NUL-terminated s that does not start a well-formed
 * sequence (see utf8_seq_len) with '?', in place; the length does not change, and
 * afterwards utf8_valid(s, strlen(s)) holds. */
void utf8_sanitize(char *s);

#endif
