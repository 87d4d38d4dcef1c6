/* The growable array of include/lambdad/vec.h: doubling growth, memmove for inserts and
 * removals, qsort for sorting. */
#include <lambdad/log.h>
#include <lambdad/vec.h>
#include <lambdad/xmalloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void vec_init(struct vec *v, size_t esize)
{
	LD_ASSERT(esize > 0);
	*v = (struct vec){.esize = esize};
}

void vec_fini(struct vec *v)
{
	free(v->data);
	v->data = NULL;
	v->len = v->cap = 0;
}

struct vec *vec_new(size_t esize)
{
	struct vec *v = xmalloc(sizeof(*v));
	vec_init(v, esize);
	return v;
}

void vec_free(struct vec *v)
{
	if (!v)
		return;
	vec_fini(v);
	free(v);
}

static char *elem(const struct vec *v, size_t i)
{
	return (char *)v->data + i * v->esize;
}

void vec_reserve(struct vec *v, size_t n)
{
	if (n <= v->cap)
		return;
	size_t cap = v->cap ? v->cap : 8;
	while (cap < n) {
		LD_ASSERT(cap <= SIZE_MAX / 2);
		cap *= 2;
	}
	LD_ASSERT(cap <= SIZE_MAX / v->esize);
	v->data = xrealloc(v->data, cap * v->esize);
	v->cap = cap;
}

void *vec_at(const struct vec *v, size_t i)
{
	LD_ASSERT(i < v->len);
	return elem(v, i);
}

void *vec_insert_at(struct vec *v, size_t i, const void *e)
{
	LD_ASSERT(i <= v->len);
	vec_reserve(v, v->len + 1);
	char *p = elem(v, i);
	memmove(p + v->esize, p, (v->len - i) * v->esize);
	if (e)
		memcpy(p, e, v->esize);
	else
		memset(p, 0, v->esize);
	v->len++;
	return p;
}

void *vec_push(struct vec *v, const void *e)
{
	return vec_insert_at(v, v->len, e);
}

bool vec_pop(struct vec *v, void *out)
{
	if (v->len == 0)
		return false;
	vec_remove_at(v, v->len - 1, out);
	return true;
}

void vec_remove_at(struct vec *v, size_t i, void *out)
{
	LD_ASSERT(i < v->len);
	char *p = elem(v, i);
	if (out)
		memcpy(out, p, v->esize);
	memmove(p, p + v->esize, (v->len - i - 1) * v->esize);
	v->len--;
}

size_t vec_remove_if(struct vec *v, bool (*pred_cb)(void *elem, void *arg), void *arg)
{
	size_t kept = 0, n = v->len;
	for (size_t i = 0; i < n; i++) {
		char *p = elem(v, i);
		if (pred_cb(p, arg))
			continue;
		if (kept != i)
			memcpy(elem(v, kept), p, v->esize);
		kept++;
	}
	v->len = kept;
	return n - kept;
}

void vec_clear(struct vec *v)
{
	v->len = 0;
}

void vec_sort(struct vec *v, int (*cmp)(const void *, const void *))
{
	if (v->len > 1)
		qsort(v->data, v->len, v->esize, cmp);
}

size_t vec_lower_bound(const struct vec *v, const void *key, int (*cmp)(const void *elem, const void *key))
{
	size_t lo = 0, hi = v->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp(elem(v, mid), key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void *vec_data_as(const struct vec *v, size_t esize)
{
	LD_ASSERT(esize == v->esize);
	return v->data;
}
