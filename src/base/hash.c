/* 64-bit FNV-1a (Fowler, Noll, Vo; draft-eastlake-fnv), the offset basis and prime of
 * the specification. */
#include "base/hash.h"

#define FNV64_BASIS 0xcbf29ce484222325ull
#define FNV64_PRIME 0x00000100000001b3ull

uint64_t hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = FNV64_BASIS;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * FNV64_PRIME;
	return h;
}

uint64_t hash_str(const char *s)
{
	uint64_t h = FNV64_BASIS;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * FNV64_PRIME;
	return h;
}
