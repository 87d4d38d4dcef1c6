/* The one non-cryptographic hash of the daemon: 64-bit FNV-1a, for hash tables and
 * for spreading names over buckets. Digests that must resist forgery are SHA-256 (codec.h). */
#ifndef LAMBDAD_BASE_HASH_H
#define LAMBDAD_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Why FNV-1a 64: keys here are short names (functions, aliases, environment ids) that
 * reach the daemon through the authenticated API, in the hundreds or thousands; FNV-1a is
 * a few instructions a byte, needs no state, and is the same in every run, so a table's
 * order of probes and a test's failure reproduce. It is not keyed: a caller who can
 * choose many keys can make them collide, which costs only time (lookups stay correct),
 * and is bounded by how many names the API lets one create. A table keyed by
 * unauthenticated input at scale should move to a keyed hash (SipHash).
 *
 * FNV-1a mixes poorly at both ends: the low k bits of the hash depend only on the low k
 * bits of each byte, and the last byte barely reaches the top bits. So a table never
 * indexes by the raw hash: hash_index and hash_bucket first pass it through hash_mix. */

/* The FNV-1a 64 hash of the len bytes at data (any data, len 0 included). */
uint64_t hash_bytes(const void *data, size_t len);
/* The FNV-1a 64 hash of the NUL-terminated string s (its bytes without the NUL). */
uint64_t hash_str(const char *s);

/* MurmurHash3's 64-bit finalizer (fmix64): a bijection in which each input bit changes
 * each output bit with probability about one half. */
static inline uint64_t hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* The index in [0, 2^bits) that a table of 2^bits slots uses for hash h. bits is 1 to 63. */
static inline size_t hash_index(uint64_t h, unsigned bits)
{
	return (size_t)(hash_mix(h) >> (64 - bits));
}

/* The index in [0, n) for hash h, for n buckets that need not be a power of two; n > 0. */
static inline size_t hash_bucket(uint64_t h, size_t n)
{
	return (size_t)(hash_mix(h) % n);
}

#endif
