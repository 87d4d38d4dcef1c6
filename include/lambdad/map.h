/* A small string-keyed hash map: the one map of the daemon (functions by name, pools,
 * queues). Entries sit in one array in a stable order, insertion order or (MAP_SORTED)
 * the strcmp order of their keys, and can be walked by index; a hash index over the
 * array finds a key in constant expected time. */
#ifndef LAMBDAD_MAP_H
#define LAMBDAD_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Costs, for n entries: map_get is constant time (expected); map_put of a new key is
 * amortised constant, linear with MAP_SORTED (the array is kept in order) unless the
 * key sorts last, as when loading in order; replacing a value is constant; removal is
 * linear (the array closes the gap and the index is rebuilt). Meant for up to some tens
 * of thousands of entries that change less often than they are looked up.
 *
 * Ownership: the map owns a copy of each key; values are the caller's `void *`, given
 * to the map and returned by map_put (the value replaced), map_del and map_del_at (the
 * value removed). map_fini/map_free hand each remaining value to value_free if given.
 *
 * Order: entry i is entry i until an insertion or removal before it; replacing a value
 * keeps its place. Within MAP_FOREACH, replacing the value of an existing key (map_put)
 * is allowed; inserting or removing is not (entries would be skipped or seen twice):
 * use map_remove_if, or a loop over i counting down with map_del_at. */

enum {
	MAP_SORTED = 1u << 0, /* keep entries in strcmp order of their keys, not insertion order */
};

struct map_entry {
	char *key;     /* owned copy */
	void *value;   /* the caller's */
	uint64_t hash; /* hash_str(key) */
};

/* Visible so that a map can be embedded (map_init/map_fini); use the functions. */
struct map {
	struct map_entry *ents; /* n entries in order, room for cap */
	size_t n, cap;
	uint32_t *slots; /* 2^bits slots: 0 is empty, else 1 + an index into ents */
	unsigned bits;   /* 0 while nothing was ever inserted */
	unsigned flags;  /* MAP_* */
};

/* Makes m an empty map with flags (MAP_* or 0); allocates nothing yet. */
void map_init(struct map *m, unsigned flags);
/* Frees m's keys and storage, handing each value to value_free first (if not NULL), and
 * leaves m empty as after map_init with the same flags. */
void map_fini(struct map *m, void (*value_free)(void *value));
struct map *map_new(unsigned flags); /* owned; free with map_free */
/* map_fini and the map itself; NULL is a no-op. */
void map_free(struct map *m, void (*value_free)(void *value));

static inline size_t map_count(const struct map *m)
{
	return m->n;
}

/* The value of key (borrowed), or NULL when key is not there (or its value is NULL). */
void *map_get(const struct map *m, const char *key);
/* Whether key is there. */
bool map_contains(const struct map *m, const char *key);
/* The index of key's entry, or map_count(m) when key is not there. */
size_t map_index(const struct map *m, const char *key);

/* Sets key's value: a new entry (key copied; at the end, or at its place in key order with
 * MAP_SORTED), or in place of an existing value. Returns true when key was there, and
 * then hands the value it had to *oldp (if oldp is not NULL) or drops it (the caller
 * still owns it). */
bool map_put(struct map *m, const char *key, void *value, void **oldp);
/* Removes key; returns whether it was there, and hands its value to *valuep (if not NULL). */
bool map_del(struct map *m, const char *key, void **valuep);
/* Removes entry i (i < count), handing its value to *valuep (if not NULL); the entries
 * after it move down one. */
void map_del_at(struct map *m, size_t i, void **valuep);
/* Removes every entry for which pred_cb returns true, in one pass, keeping the order of
 * the others; pred_cb may free the value (the map forgets it) and must not change m.
 * Returns how many were removed. */
size_t map_remove_if(struct map *m, bool (*pred_cb)(const char *key, void *value, void *arg), void *arg);

/* Entry i's key (borrowed, valid while the entry is there) and value; i < count. */
const char *map_key_at(const struct map *m, size_t i);
void *map_value_at(const struct map *m, size_t i);

/* MAP_SORTED only: the index of the first entry whose key sorts at or after key
 * (lower bound) or strictly after key (upper bound), or map_count(m) if none does. key
 * need not be in the map: paging resumes after a marker that has since been removed. */
size_t map_lower_bound(const struct map *m, const char *key);
size_t map_upper_bound(const struct map *m, const char *key);

/* Walks the entries in order, setting the caller's `const char *k` and `void *v` (or
 * any pointer type) to each key and value; see the order rules above.
 *     MAP_FOREACH(&s->pools, name, pool) n += pool->idle;                            */
#define MAP_FOREACH(m, k, v)                                                                                 \
	for (size_t map_i_ = 0;                                                                              \
	     map_i_ < (m)->n && ((k) = (m)->ents[map_i_].key, (v) = (m)->ents[map_i_].value, 1); map_i_++)
/* The same for the values alone. */
#define MAP_FOREACH_VALUE(m, v)                                                                              \
	for (size_t map_i_ = 0; map_i_ < (m)->n && ((v) = (m)->ents[map_i_].value, 1); map_i_++)

#endif
