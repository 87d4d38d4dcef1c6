/* The table of current functions: a map in name order (MAP_SORTED), so that lookup is
 * by hash and ListFunctions pages by index. Each entry also holds the function's scaling
 * settings, which live as long as it does. */
#include <lambdad/map.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "registry/registry.h"

struct reg_entry {
	struct fn_config *c; /* owned reference */
	struct fn_scaling sc;
};

struct registry {
	struct map fns; /* name -> struct reg_entry (owned) */
};

static void reg_entry_free(void *p)
{
	struct reg_entry *e = p;
	fn_config_unref(e->c);
	free(e);
}

struct registry *registry_new(void)
{
	struct registry *r = xmalloc(sizeof(*r));
	map_init(&r->fns, MAP_SORTED);
	return r;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	map_fini(&r->fns, reg_entry_free);
	free(r);
}

struct fn_config *registry_get(struct registry *r, const char *name)
{
	struct reg_entry *e = map_get(&r->fns, name);
	return e ? e->c : NULL;
}

void registry_put(struct registry *r, struct fn_config *c)
{
	struct reg_entry *e = map_get(&r->fns, c->name);
	if (e) {
		fn_config_unref(e->c);
		e->c = c;
		return;
	}
	e = xmalloc(sizeof(*e));
	*e = (struct reg_entry){.c = c, .sc = FN_SCALING_DEFAULT};
	map_put(&r->fns, c->name, e, NULL);
}

bool registry_del(struct registry *r, const char *name)
{
	void *e;
	if (!map_del(&r->fns, name, &e))
		return false;
	reg_entry_free(e);
	return true;
}

size_t registry_count(const struct registry *r)
{
	return map_count(&r->fns);
}

size_t registry_after(const struct registry *r, const char *marker)
{
	if (!marker || !marker[0])
		return 0;
	return map_upper_bound(&r->fns, marker);
}

struct fn_config *registry_at(const struct registry *r, size_t i)
{
	return i < map_count(&r->fns) ? ((struct reg_entry *)map_value_at(&r->fns, i))->c : NULL;
}

bool registry_code_in_use(const struct registry *r, const char *hex)
{
	struct reg_entry *e;
	MAP_FOREACH_VALUE(&r->fns, e)
		if (strcmp(e->c->code_hex, hex) == 0)
			return true;
	return false;
}

uint64_t registry_total_code_size(const struct registry *r)
{
	uint64_t t = 0;
	struct reg_entry *e;
	MAP_FOREACH_VALUE(&r->fns, e)
		t += e->c->code_size;
	return t;
}

struct fn_scaling registry_get_scaling(const struct registry *r, const char *name)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e ? e->sc : FN_SCALING_DEFAULT;
}

bool registry_set_scaling(struct registry *r, const char *name, const struct fn_scaling *sc)
{
	struct reg_entry *e = map_get(&r->fns, name);
	if (e)
		e->sc = *sc;
	return e != NULL;
}

uint64_t registry_reserved_sum(const struct registry *r)
{
	uint64_t t = 0;
	struct reg_entry *e;
	MAP_FOREACH_VALUE(&r->fns, e)
		if (e->sc.reserved > 0)
			t += (uint64_t)e->sc.reserved;
	return t;
}
