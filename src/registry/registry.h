/* The registry (prefix registry_): the table of current functions, in name order, with
 * each function's scaling settings. The model it holds is registry/fn.h. */
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
/* Whether any function's code is the blob hex. */
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
#endif
