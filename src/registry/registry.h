/* The registry (prefix registry_): the table of current functions, in name order, with
 * each function's scaling settings, published versions and aliases. The model it holds
 * is registry/fn.h. */
#ifndef LAMBDAD_REGISTRY_H
#define LAMBDAD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/fn.h"

struct registry;
struct registry *registry_new(void);    /* owned */
void registry_free(struct registry *r); /* NULL is a no-op */
/* The current configuration of name (borrowed) or NULL. */
struct fn_config *registry_get(struct registry *r, const char *name);
/* Publishes c as name's current configuration (takes the caller's reference). */
void registry_put(struct registry *r, struct fn_config *c);
/* Removes name; returns whether it was there. */
bool registry_del(struct registry *r, const char *name);
size_t registry_count(const struct registry *r);
/* The index of the first function whose name sorts after marker ("" for the start). */
size_t registry_after(const struct registry *r, const char *marker);
/* The i-th function in name order (borrowed). */
struct fn_config *registry_at(const struct registry *r, size_t i);
/* Whether any function's code ($LATEST or a published version) is the blob hex. */
bool registry_code_in_use(const struct registry *r, const char *hex);
uint64_t registry_total_code_size(const struct registry *r);

/* The scaling settings of function name: a copy, FN_SCALING_DEFAULT when it has none
 * or does not exist. A function starts with none (registry_put of a new name) and
 * keeps them across registry_put of new configurations; registry_del drops them. */
struct fn_scaling registry_get_scaling(const struct registry *r, const char *name);
/* Sets the scaling settings of function name (copied); returns false, changing
 * nothing, when there is no such function. */
bool registry_set_scaling(struct registry *r, const char *name, const struct fn_scaling *sc);
/* The sum of all functions' reserved concurrency (reservations of 0 add nothing). */
uint64_t registry_reserved_sum(const struct registry *r);

/* Published versions of a function, immutable configurations whose version field is
 * their number. Numbers only grow: registry_version_last is the highest ever given
 * (kept when that version is deleted), 0 before the first. */
/* Version ver ("1", ...) of name (borrowed), or NULL. */
struct fn_config *registry_version_get(const struct registry *r, const char *name, const char *ver);
/* Adds c (c->version set; takes the caller's reference) to its function's versions, raising
 * the last number to it; returns false, changing nothing, when there is no such function. */
bool registry_version_put(struct registry *r, struct fn_config *c);
/* Removes version ver of name; returns whether it was there. */
bool registry_version_del(struct registry *r, const char *name, const char *ver);
/* How many versions name has, and the i-th in ascending number order (borrowed). */
size_t registry_version_count(const struct registry *r, const char *name);
struct fn_config *registry_version_at(const struct registry *r, const char *name, size_t i);
/* The index of the first version numbered above ver ("" or NULL: 0). */
size_t registry_version_after(const struct registry *r, const char *name, const char *ver);
uint32_t registry_version_last(const struct registry *r, const char *name);
/* Raises the last number given to n (a restart reads it back); false: no such function. */
bool registry_version_set_last(struct registry *r, const char *name, uint32_t n);

/* An alias: a name for a published version (or $LATEST), with at most one more version
 * taking a fraction of the invocations (RoutingConfig.AdditionalVersionWeights). */
struct fn_alias {
	char name[FN_QUAL_SIZE];
	char version[12];       /* the main version, or "$LATEST" */
	char extra_version[12]; /* "": no routing */
	double extra_weight;    /* 0.0-1.0: the fraction of invocations extra_version takes */
	char *description;      /* owned, never NULL */
	char revision_id[37];
};
/* Frees a (NULL is a no-op). */
void fn_alias_free(struct fn_alias *a);
/* The version an invocation of a runs, given u uniform in [0, 1): extra_version when
 * u < extra_weight, else the main version (borrowed from a). */
const char *fn_alias_pick(const struct fn_alias *a, double u);
/* The AliasConfiguration JSON (owned). */
json_t *fn_alias_to_api(const struct fn_alias *a, const char *fn_name, const char *region,
                        const char *account);
/* The stored form (owned JSON text) and back; from_stored returns NULL (owned alias
 * otherwise) when the text is not one. */
char *fn_alias_to_stored(const struct fn_alias *a);
struct fn_alias *fn_alias_from_stored(const char *text);

/* Alias aname of name (borrowed), or NULL. */
struct fn_alias *registry_alias_get(const struct registry *r, const char *name, const char *aname);
/* Adds or replaces alias a (taken) of name; false (a freed) when there is no such function. */
bool registry_alias_put(struct registry *r, const char *name, struct fn_alias *a);
bool registry_alias_del(struct registry *r, const char *name, const char *aname);
size_t registry_alias_count(const struct registry *r, const char *name);
/* The i-th alias of name in name order (borrowed), or NULL. */
struct fn_alias *registry_alias_at(const struct registry *r, const char *name, size_t i);
size_t registry_alias_after(const struct registry *r, const char *name, const char *marker);
/* Provisioned concurrency configs of a function, by qualifier (a version or an alias):
 * how many environments to keep initialised, and when that was set (epoch ms). */
struct fn_prov {
	uint32_t n;
	int64_t modified_ms;
};
/* Whether name has a config on qual (*out set then). */
bool registry_prov_get(const struct registry *r, const char *name, const char *qual, struct fn_prov *out);
/* Sets name's config on qual (p->n 0: removes it); false when there is no such function. */
bool registry_prov_set(struct registry *r, const char *name, const char *qual, const struct fn_prov *p);
size_t registry_prov_count(const struct registry *r, const char *name);
/* The i-th config of name in qualifier order: its qualifier (borrowed) and *out. */
const char *registry_prov_at(const struct registry *r, const char *name, size_t i, struct fn_prov *out);
/* The environments all of name's configs ask for. */
uint64_t registry_prov_total(const struct registry *r, const char *name);

/* The configuration a key names (borrowed), or NULL: a function name ($LATEST), or
 * "name:qualifier" for $LATEST, a version, or an alias (its version chosen by its weights
 * with u uniform in [0, 1)). The queue of Event invocations keys events this way. */
struct fn_config *registry_resolve(const struct registry *r, const char *key, double u);
/* Whether an alias of name routes to version ver (main or extra). */
bool registry_version_aliased(const struct registry *r, const char *name, const char *ver);
#endif
