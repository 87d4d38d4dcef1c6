/* UTF-8 validation by the table of well-formed byte sequences of RFC 3629 section 4 (the
 * Unicode standard's table 3-7): the second byte's range depends on the first, which is
 * what excludes overlongs, surrogates and code points past U+10FFFF. */
#include "base/utf8.h"

#include <string.h>

size_t utf8_seq_len(const void *p, size_t n)
{
	const unsigned char *s = p;
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* E0 80-9F would be overlong */
		else if (c == 0xed)
			hi = 0x9f; /* ED A0-BF are the surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* F0 80-8F would be overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* F4 90 and up is past U+10FFFF */
	} else {
		return 0; /* 80-BF (continuation), C0-C1 (overlong), F5-FF (never used) */
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

bool utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0;
	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t len = utf8_seq_len(s + i, n - i);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

void utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s);
	while (n > 0) {
		size_t len = utf8_seq_len(p, n);
		if (len == 0) {
			*p = '?';
			len = 1;
		}
		p += len;
		n -= len;
	}
}
