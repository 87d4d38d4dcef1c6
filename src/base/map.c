/* The map of include/lambdad/map.h: a dense array of entries in order, and over it an
 * open-addressing index (linear probing, at most half full) of positions in the array.
 * Insertions in the middle and removals rebuild the index from the stored hashes, so the
 * index needs no tombstones. */
#include <lambdad/log.h>
#include <lambdad/map.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

#define MAP_MIN_BITS 4
#define MAP_MAX_ENTRIES (UINT32_MAX / 4) /* slots hold 1 + an index in 32 bits, at most half full */

void map_init(struct map *m, unsigned flags)
{
	*m = (struct map){.flags = flags};
}

void map_fini(struct map *m, void (*value_free)(void *value))
{
	for (size_t i = 0; i < m->n; i++) {
		if (value_free)
			value_free(m->ents[i].value);
		free(m->ents[i].key);
	}
	free(m->ents);
	free(m->slots);
	map_init(m, m->flags);
}

struct map *map_new(unsigned flags)
{
	struct map *m = xmalloc(sizeof(*m));
	map_init(m, flags);
	return m;
}

void map_free(struct map *m, void (*value_free)(void *value))
{
	if (!m)
		return;
	map_fini(m, value_free);
	free(m);
}

static size_t nslots(const struct map *m)
{
	return m->bits ? (size_t)1 << m->bits : 0;
}

/* The slot that holds key's position, or the empty slot where it would go. The index
 * must exist (bits > 0) and, being at most half full, always has an empty slot. */
static size_t probe(const struct map *m, const char *key, uint64_t h)
{
	size_t mask = nslots(m) - 1;
	for (size_t s = hash_index(h, m->bits);; s = (s + 1) & mask) {
		uint32_t e = m->slots[s];
		if (e == 0)
			return s;
		const struct map_entry *en = &m->ents[e - 1];
		if (en->hash == h && strcmp(en->key, key) == 0)
			return s;
	}
}

/* Rebuilds the index over ents from the stored hashes. */
static void reindex(struct map *m)
{
	size_t mask = nslots(m) - 1;
	memset(m->slots, 0, nslots(m) * sizeof(*m->slots));
	for (size_t i = 0; i < m->n; i++) {
		size_t s = hash_index(m->ents[i].hash, m->bits);
		while (m->slots[s] != 0)
			s = (s + 1) & mask;
		m->slots[s] = (uint32_t)(i + 1);
	}
}

/* Makes room for one more entry, in the array and in the index. */
static void reserve_one(struct map *m)
{
	LD_ASSERT(m->n < MAP_MAX_ENTRIES);
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 8;
		m->ents = xrealloc(m->ents, m->cap * sizeof(*m->ents));
	}
	if ((m->n + 1) * 2 > nslots(m)) {
		m->bits = m->bits ? m->bits + 1 : MAP_MIN_BITS;
		free(m->slots);
		m->slots = xmalloc(nslots(m) * sizeof(*m->slots));
		reindex(m);
	}
}

size_t map_index(const struct map *m, const char *key)
{
	if (m->n == 0)
		return m->n;
	uint32_t e = m->slots[probe(m, key, hash_str(key))];
	return e ? e - 1 : m->n;
}

void *map_get(const struct map *m, const char *key)
{
	size_t i = map_index(m, key);
	return i < m->n ? m->ents[i].value : NULL;
}

bool map_contains(const struct map *m, const char *key)
{
	return map_index(m, key) < m->n;
}

/* The index of the first entry whose key does not sort before key (strict: after it). */
static size_t bound(const struct map *m, const char *key, bool strict)
{
	LD_ASSERT(m->flags & MAP_SORTED);
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->ents[mid].key, key);
		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t map_lower_bound(const struct map *m, const char *key)
{
	return bound(m, key, false);
}

size_t map_upper_bound(const struct map *m, const char *key)
{
	return bound(m, key, true);
}

bool map_put(struct map *m, const char *key, void *value, void **oldp)
{
	uint64_t h = hash_str(key);
	reserve_one(m);
	size_t s = probe(m, key, h);
	if (m->slots[s] != 0) {
		struct map_entry *en = &m->ents[m->slots[s] - 1];
		if (oldp)
			*oldp = en->value;
		en->value = value;
		return true;
	}
	struct map_entry en = {.key = xstrdup(key), .value = value, .hash = h};
	if (!(m->flags & MAP_SORTED) || m->n == 0 || strcmp(m->ents[m->n - 1].key, key) < 0) {
		m->ents[m->n++] = en;
		m->slots[s] = (uint32_t)m->n;
		return false;
	}
	size_t i = bound(m, key, false);
	memmove(&m->ents[i + 1], &m->ents[i], (m->n - i) * sizeof(*m->ents));
	m->ents[i] = en;
	m->n++;
	reindex(m);
	return false;
}

void map_del_at(struct map *m, size_t i, void **valuep)
{
	LD_ASSERT(i < m->n);
	if (valuep)
		*valuep = m->ents[i].value;
	free(m->ents[i].key);
	memmove(&m->ents[i], &m->ents[i + 1], (m->n - i - 1) * sizeof(*m->ents));
	m->n--;
	reindex(m);
}

bool map_del(struct map *m, const char *key, void **valuep)
{
	size_t i = map_index(m, key);
	if (i == m->n)
		return false;
	map_del_at(m, i, valuep);
	return true;
}

size_t map_remove_if(struct map *m, bool (*pred_cb)(const char *key, void *value, void *arg), void *arg)
{
	size_t kept = 0, n = m->n;
	for (size_t i = 0; i < n; i++) {
		struct map_entry en = m->ents[i];
		if (pred_cb(en.key, en.value, arg)) {
			free(en.key);
			continue;
		}
		m->ents[kept++] = en;
	}
	m->n = kept;
	if (kept != n)
		reindex(m);
	return n - kept;
}

const char *map_key_at(const struct map *m, size_t i)
{
	LD_ASSERT(i < m->n);
	return m->ents[i].key;
}

void *map_value_at(const struct map *m, size_t i)
{
	LD_ASSERT(i < m->n);
	return m->ents[i].value;
}
