/* libFuzzer target for the UTF-8 validator and sanitizer: any bytes are valid exactly when
 * a straightforward decoder (decode each sequence, re-encode the code point, compare)
 * accepts them; utf8_seq_len agrees at every step; and the sanitizer's output, of the
 * same length, is always valid and equals its input when that was valid. */
#include "base/utf8.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

/* The length of the sequence at p as its lead byte announces it, and its code point, or
 * 0 when the lead byte announces none or the n bytes cut it. No range checks here. */
static size_t decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t len = p[0] < 0x80 ? 1 : p[0] >> 5 == 6 ? 2 : p[0] >> 4 == 14 ? 3 : p[0] >> 3 == 30 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	uint32_t c = len == 1 ? p[0] : p[0] & (0xffu >> (len + 1));
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	*cp = c;
	return len;
}

/* The shortest form's length of code point cp. */
static size_t enc_len(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* The reference: the length of a well-formed sequence at p, or 0. */
static size_t ref_seq_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len = n ? decode(p, n, &cp) : 0;
	if (len == 0 || enc_len(cp) != len || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool ref_valid = true;
	for (size_t i = 0; i < size;) {
		size_t len = ref_seq_len(data + i, size - i);
		CHECK(utf8_seq_len(data + i, size - i) == len);
		if (len == 0) {
			ref_valid = false;
			break;
		}
		i += len;
	}
	CHECK(utf8_valid(data, size) == ref_valid);

	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	size_t n = strlen(s); /* the sanitizer works up to the first NUL */
	bool was_valid = utf8_valid(s, n);
	utf8_sanitize(s);
	CHECK(strlen(s) == n);
	CHECK(utf8_valid(s, n));
	if (was_valid)
		CHECK(memcmp(s, data, n) == 0);
	else
		CHECK(memcmp(s, data, n) != 0);
	/* Only bytes that became '?' changed. */
	for (size_t i = 0; i < n; i++)
		CHECK(s[i] == (char)data[i] || s[i] == '?');
	free(s);
	return 0;
}
