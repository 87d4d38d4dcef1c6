/* The table of current functions: a map in name order (MAP_SORTED), so that lookup is
 * by hash and ListFunctions pages by index. Each entry also holds the function's scaling
 * settings, published versions and aliases, which live as long as it does. */
#include <lambdad/map.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

struct reg_entry {
	struct fn_config *c; /* owned reference */
	struct fn_scaling sc;
	/* Published versions by their number written in 10 digits with leading zeros, so
	 * that the map's order (MAP_SORTED) is the numbers' order: -> struct fn_config (an
	 * owned reference). */
	struct map versions;
	uint32_t last_version;
	struct map aliases; /* alias name -> struct fn_alias (owned), MAP_SORTED */
	struct map prov;    /* qualifier -> struct fn_prov (owned), MAP_SORTED */
};

static void version_unref(void *p)
{
	fn_config_unref(p);
}

static void alias_free(void *p)
{
	fn_alias_free(p);
}

/* The versions map's key of ver: "" when ver is not a version number. */
static void version_key(const char *ver, char key[16])
{
	key[0] = 0;
	if (ver && fn_qual_kind(ver) == FN_QUAL_VERSION)
		snprintf(key, 16, "%010lu", strtoul(ver, NULL, 10));
}

struct registry {
	struct map fns; /* name -> struct reg_entry (owned) */
};

static void reg_entry_free(void *p)
{
	struct reg_entry *e = p;
	fn_config_unref(e->c);
	map_fini(&e->versions, version_unref);
	map_fini(&e->aliases, alias_free);
	map_fini(&e->prov, free);
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
	map_init(&e->versions, MAP_SORTED);
	map_init(&e->aliases, MAP_SORTED);
	map_init(&e->prov, MAP_SORTED);
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
	struct fn_config *v;
	MAP_FOREACH_VALUE(&r->fns, e) {
		if (strcmp(e->c->code_hex, hex) == 0)
			return true;
		MAP_FOREACH_VALUE(&e->versions, v)
			if (strcmp(v->code_hex, hex) == 0)
				return true;
	}
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

struct fn_config *registry_version_get(const struct registry *r, const char *name, const char *ver)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	char key[16];
	version_key(ver, key);
	return e && key[0] ? map_get(&e->versions, key) : NULL;
}

bool registry_version_put(struct registry *r, struct fn_config *c)
{
	struct reg_entry *e = map_get(&r->fns, c->name);
	char key[16];
	version_key(c->version, key);
	if (!e || !key[0]) {
		fn_config_unref(c);
		return false;
	}
	void *old = NULL;
	map_put(&e->versions, key, c, &old);
	fn_config_unref(old);
	uint32_t n = (uint32_t)strtoul(c->version, NULL, 10);
	if (n > e->last_version)
		e->last_version = n;
	return true;
}

bool registry_version_del(struct registry *r, const char *name, const char *ver)
{
	struct reg_entry *e = map_get(&r->fns, name);
	char key[16];
	version_key(ver, key);
	void *old;
	if (!e || !key[0] || !map_del(&e->versions, key, &old))
		return false;
	fn_config_unref(old);
	return true;
}

size_t registry_version_count(const struct registry *r, const char *name)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e ? map_count(&e->versions) : 0;
}

struct fn_config *registry_version_at(const struct registry *r, const char *name, size_t i)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e && i < map_count(&e->versions) ? map_value_at(&e->versions, i) : NULL;
}

size_t registry_version_after(const struct registry *r, const char *name, const char *ver)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	char key[16];
	version_key(ver, key);
	if (!e || !key[0])
		return 0;
	return map_upper_bound(&e->versions, key);
}

uint32_t registry_version_last(const struct registry *r, const char *name)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e ? e->last_version : 0;
}

bool registry_version_set_last(struct registry *r, const char *name, uint32_t n)
{
	struct reg_entry *e = map_get(&r->fns, name);
	if (e && n > e->last_version)
		e->last_version = n;
	return e != NULL;
}

struct fn_alias *registry_alias_get(const struct registry *r, const char *name, const char *aname)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e ? map_get(&e->aliases, aname) : NULL;
}

bool registry_alias_put(struct registry *r, const char *name, struct fn_alias *a)
{
	struct reg_entry *e = map_get(&r->fns, name);
	if (!e) {
		fn_alias_free(a);
		return false;
	}
	void *old = NULL;
	map_put(&e->aliases, a->name, a, &old);
	fn_alias_free(old);
	return true;
}

bool registry_alias_del(struct registry *r, const char *name, const char *aname)
{
	struct reg_entry *e = map_get(&r->fns, name);
	void *old;
	if (!e || !map_del(&e->aliases, aname, &old))
		return false;
	fn_alias_free(old);
	return true;
}

size_t registry_alias_count(const struct registry *r, const char *name)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e ? map_count(&e->aliases) : 0;
}

struct fn_alias *registry_alias_at(const struct registry *r, const char *name, size_t i)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e && i < map_count(&e->aliases) ? map_value_at(&e->aliases, i) : NULL;
}

size_t registry_alias_after(const struct registry *r, const char *name, const char *marker)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	if (!e || !marker || !marker[0])
		return 0;
	return map_upper_bound(&e->aliases, marker);
}

bool registry_version_aliased(const struct registry *r, const char *name, const char *ver)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	struct fn_alias *a;
	if (!e)
		return false;
	MAP_FOREACH_VALUE(&e->aliases, a)
		if (strcmp(a->version, ver) == 0 || strcmp(a->extra_version, ver) == 0)
			return true;
	return false;
}

struct fn_config *registry_resolve(const struct registry *r, const char *key, double u)
{
	const char *colon = strchr(key, ':');
	if (!colon) {
		const struct reg_entry *e = map_get(&r->fns, key);
		return e ? e->c : NULL;
	}
	char name[FN_NAME_MAX + 1];
	if ((size_t)(colon - key) > FN_NAME_MAX)
		return NULL;
	snprintf(name, sizeof(name), "%.*s", (int)(colon - key), key);
	const struct reg_entry *e = map_get(&r->fns, name);
	const char *q = colon + 1;
	if (!e)
		return NULL;
	switch (fn_qual_kind(q)) {
	case FN_QUAL_LATEST:
		return e->c;
	case FN_QUAL_VERSION:
		return registry_version_get(r, name, q);
	case FN_QUAL_ALIAS: {
		const struct fn_alias *a = map_get(&e->aliases, q);
		const char *v = a ? fn_alias_pick(a, u) : NULL;
		if (!v)
			return NULL;
		return strcmp(v, FN_LATEST) == 0 ? e->c : registry_version_get(r, name, v);
	}
	default:
		return NULL;
	}
}

bool registry_prov_get(const struct registry *r, const char *name, const char *qual, struct fn_prov *out)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	const struct fn_prov *p = e ? map_get(&e->prov, qual) : NULL;
	if (p && out)
		*out = *p;
	return p != NULL;
}

bool registry_prov_set(struct registry *r, const char *name, const char *qual, const struct fn_prov *p)
{
	struct reg_entry *e = map_get(&r->fns, name);
	if (!e)
		return false;
	void *old = NULL;
	if (p->n == 0) {
		if (map_del(&e->prov, qual, &old))
			free(old);
		return true;
	}
	struct fn_prov *n = xmalloc(sizeof(*n));
	*n = *p;
	map_put(&e->prov, qual, n, &old);
	free(old);
	return true;
}

size_t registry_prov_count(const struct registry *r, const char *name)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	return e ? map_count(&e->prov) : 0;
}

const char *registry_prov_at(const struct registry *r, const char *name, size_t i, struct fn_prov *out)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	if (!e || i >= map_count(&e->prov))
		return NULL;
	*out = *(const struct fn_prov *)map_value_at(&e->prov, i);
	return map_key_at(&e->prov, i);
}

uint64_t registry_prov_total(const struct registry *r, const char *name)
{
	const struct reg_entry *e = map_get(&r->fns, name);
	uint64_t t = 0;
	const struct fn_prov *p;
	if (e)
		MAP_FOREACH_VALUE(&e->prov, p)
			t += p->n;
	return t;
}
