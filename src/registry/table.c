/* The table of current functions: a sorted array, searched by binary search. Each
 * entry also holds the function's scaling settings, which live as long as it does. */
#include <lambdad/xmalloc.h>
#include <string.h>

#include "registry/registry.h"

struct reg_entry {
	struct fn_config *c; /* owned reference */
	struct fn_scaling sc;
};

struct registry {
	struct reg_entry *v;
	size_t n;
	size_t cap;
};

struct registry *registry_new(void)
{
	return xcalloc(1, sizeof(struct registry));
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		fn_config_unref(r->v[i].c);
	free(r->v);
	free(r);
}

/* Index of name, or of where it would go, and whether it is there. */
static size_t find(const struct registry *r, const char *name, bool *found)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(r->v[mid].c->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct fn_config *registry_get(struct registry *r, const char *name)
{
	bool f;
	size_t i = find(r, name, &f);
	return f ? r->v[i].c : NULL;
}

void registry_put(struct registry *r, struct fn_config *c)
{
	bool f;
	size_t i = find(r, c->name, &f);
	if (f) {
		fn_config_unref(r->v[i].c);
		r->v[i].c = c;
		return;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	memmove(r->v + i + 1, r->v + i, (r->n - i) * sizeof(*r->v));
	r->v[i] = (struct reg_entry){.c = c, .sc = FN_SCALING_DEFAULT};
	r->n++;
}

bool registry_del(struct registry *r, const char *name)
{
	bool f;
	size_t i = find(r, name, &f);
	if (!f)
		return false;
	fn_config_unref(r->v[i].c);
	memmove(r->v + i, r->v + i + 1, (r->n - i - 1) * sizeof(*r->v));
	r->n--;
	return true;
}

size_t registry_count(const struct registry *r)
{
	return r->n;
}

size_t registry_after(const struct registry *r, const char *marker)
{
	if (!marker || !marker[0])
		return 0;
	bool f;
	size_t i = find(r, marker, &f);
	return f ? i + 1 : i;
}

struct fn_config *registry_at(const struct registry *r, size_t i)
{
	return i < r->n ? r->v[i].c : NULL;
}

bool registry_code_in_use(const struct registry *r, const char *hex)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].c->code_hex, hex) == 0)
			return true;
	return false;
}

uint64_t registry_total_code_size(const struct registry *r)
{
	uint64_t t = 0;
	for (size_t i = 0; i < r->n; i++)
		t += r->v[i].c->code_size;
	return t;
}

bool fn_scaling_is_default(const struct fn_scaling *sc)
{
	return sc->reserved < 0 && sc->provisioned == 0 && sc->keep_alive_ms < 0;
}

struct fn_scaling registry_get_scaling(const struct registry *r, const char *name)
{
	bool f;
	size_t i = find(r, name, &f);
	return f ? r->v[i].sc : FN_SCALING_DEFAULT;
}

bool registry_set_scaling(struct registry *r, const char *name, const struct fn_scaling *sc)
{
	bool f;
	size_t i = find(r, name, &f);
	if (f)
		r->v[i].sc = *sc;
	return f;
}

uint64_t registry_reserved_sum(const struct registry *r)
{
	uint64_t t = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].sc.reserved > 0)
			t += (uint64_t)r->v[i].sc.reserved;
	return t;
}
