/* A growable array of fixed-size elements, stored contiguously: the one vector of the
 * daemon (lists of environments, pending events, sorted tables). */
#ifndef LAMBDAD_VEC_H
#define LAMBDAD_VEC_H

#include <stdbool.h>
#include <stddef.h>

/* The fields are visible so that a vector can be embedded (vec_init/vec_fini) and walked
 * with VEC_FOREACH; use the functions to change them. A vector owns its storage, not
 * what its elements point to: a vector of pointers frees none of them. */
struct vec {
	void *data;   /* len elements of esize bytes, then room for cap - len more; NULL when cap is 0 */
	size_t len;   /* elements */
	size_t cap;   /* elements there is room for */
	size_t esize; /* bytes per element, > 0 */
};

/* Makes v an empty vector of esize-byte elements (esize > 0); allocates nothing yet. */
void vec_init(struct vec *v, size_t esize);
/* Frees v's storage and leaves it empty, as after vec_init (so vec_fini twice is safe). */
void vec_fini(struct vec *v);
struct vec *vec_new(size_t esize); /* owned; free with vec_free */
void vec_free(struct vec *v);      /* NULL is a no-op */

static inline size_t vec_len(const struct vec *v)
{
	return v->len;
}

/* Makes room for at least n elements in all, so that pushes up to n do not move data. */
void vec_reserve(struct vec *v, size_t n);

/* Element i (borrowed; i < len, else a broken invariant): valid until the vector next
 * grows, shrinks or is freed. */
void *vec_at(const struct vec *v, size_t i);

/* Appends a copy of the esize bytes at elem (elem NULL: zero bytes) and returns the new
 * element (borrowed, as vec_at). Amortised constant time; may move all elements. */
void *vec_push(struct vec *v, const void *elem);
/* Inserts a copy of elem (NULL: zeroes) before element i (i <= len; i = len appends),
 * moving the ones after it up; returns the new element. Linear time. */
void *vec_insert_at(struct vec *v, size_t i, const void *elem);
/* Removes the last element, copying it to out first (if out is not NULL). Returns false,
 * changing nothing, when v is empty. */
bool vec_pop(struct vec *v, void *out);
/* Removes element i (i < len), copying it to out first (if out is not NULL); the ones
 * after it move down one, keeping their order. Linear time. */
void vec_remove_at(struct vec *v, size_t i, void *out);
/* Removes every element for which pred_cb returns true, keeping the order of the others,
 * in one pass; pred_cb may release what the element refers to, and must not change v.
 * Returns how many were removed. */
size_t vec_remove_if(struct vec *v, bool (*pred_cb)(void *elem, void *arg), void *arg);
/* Removes all elements, keeping the storage. */
void vec_clear(struct vec *v);

/* Sorts the elements with qsort (not stable) by cmp, which gets pointers to elements. */
void vec_sort(struct vec *v, int (*cmp)(const void *, const void *));
/* In a vector sorted by cmp: the index of the first element that does not sort before
 * key (cmp(elem, key) >= 0), or len if there is none. cmp gets an element, then key. */
size_t vec_lower_bound(const struct vec *v, const void *key, int (*cmp)(const void *elem, const void *key));

/* Checks that esize is v's element size (a broken invariant otherwise) and returns its
 * data: what VEC_FOREACH and VEC_AT start from. */
void *vec_data_as(const struct vec *v, size_t esize);

/* Element i of a vector of type, as an lvalue: VEC_AT(&v, struct env *, 3) = e. */
#define VEC_AT(v, type, i) (*(type *)vec_at((v), (i)))

/* Walks the elements in order with `type *p` pointing at each one in turn:
 *     VEC_FOREACH(&pending, struct event_rec, ev) total += ev->bytes;
 * Within the loop the vector must not grow, shrink or be freed (p would dangle or skip):
 * to remove while walking, use vec_remove_if, or an index that counts down with
 * vec_remove_at. Changing the elements through p is fine. */
#define VEC_FOREACH(v, type, p)                                                                              \
	for (type *p = vec_data_as((v), sizeof(type)); p && p < (type *)(v)->data + (v)->len; p++)

#endif
