/* Durable state: SQLite (WAL) for the registry, content-addressed code blobs on disk. */
#ifndef LAMBDAD_STORE_H
#define LAMBDAD_STORE_H

#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

#include "store/codezip.h"

struct store;
struct fn_scaling;

/* Opens (creating if needed) the store under data_dir: data_dir/lambdad.db and
 * data_dir/code/. Returns 0 and an owned *out, or a negative errno. */
int store_open(const char *data_dir, struct store **out, struct err *errp);
void store_free(struct store *st); /* NULL is a no-op */

/* Inserts or replaces a function's stored configuration, committed before return. */
int store_put_function(struct store *st, const char *name, const char *config_json, struct err *errp);
/* Deletes a function's row and its scaling settings in one transaction, committed
 * before return. 0 also when they were absent; on failure both are kept. */
int store_delete_function(struct store *st, const char *name, struct err *errp);
/* Calls cb for every stored function in name order; a non-zero cb return stops. */
typedef int (*store_fn_cb)(const char *name, const char *config_json, void *arg);
int store_load_functions(struct store *st, store_fn_cb cb, void *arg, struct err *errp);

/* Inserts or replaces a function's scaling settings (struct fn_scaling in
 * registry/registry.h), committed before return. Returns 0 or -EIO with a message;
 * on failure the stored row is unchanged. */
int store_put_scaling(struct store *st, const char *name, const struct fn_scaling *sc, struct err *errp);
/* Deletes a function's scaling settings, committed before return. 0 also when absent. */
int store_delete_scaling(struct store *st, const char *name, struct err *errp);
/* Calls cb for every stored scaling row in name order (sc is borrowed for the call);
 * a non-zero cb return stops. Out-of-range values read back as their defaults. */
typedef int (*store_scaling_cb)(const char *name, const struct fn_scaling *sc, void *arg);
int store_load_scaling(struct store *st, store_scaling_cb cb, void *arg, struct err *errp);

/* Stores a zip by the SHA-256 hex (given, computed by the caller) durably as
 * code/<hex>.zip and extracts it once to code/<hex>/ (skipped when both exist).
 * info gets what the extraction found; when code/<hex>/ already exists only
 * has_bootstrap is filled in. On failure nothing new is left behind. */
int store_put_code(struct store *st, const char *hex, const void *zip, size_t len, struct codezip_info *info,
                   struct err *errp);
/* Makes sure code/<hex>/ exists, extracting it again from the zip if a crash
 * lost it. */
int store_ensure_code(struct store *st, const char *hex, struct err *errp);
/* Removes code/<hex>.zip and code/<hex>/ (used when no function refers to them). */
void store_drop_code(struct store *st, const char *hex);
/* Removes every blob and leftover temporary whose hex is not accepted by keep(). */
void store_gc_code(struct store *st, int (*keep)(const char *hex, void *arg), void *arg);

/* Paths inside the store (owned strings). */
char *store_code_dir(struct store *st, const char *hex);
char *store_code_zip(struct store *st, const char *hex);
const char *store_data_dir(struct store *st); /* borrowed */

/* Function URL configurations (api/furl.c): config_json is the stored form of one
 * function's URL config, url_id its unique 32-character id. Put inserts or replaces,
 * delete removes (0 also when absent), both committed before return; load calls cb for
 * every row in name order (a non-zero cb return stops). Return 0 or -EIO with a message. */
int store_put_function_url(struct store *st, const char *name, const char *url_id, const char *config_json,
                           struct err *errp);
int store_delete_function_url(struct store *st, const char *name, struct err *errp);
typedef int (*store_furl_cb)(const char *name, const char *url_id, const char *config_json, void *arg);
int store_load_function_urls(struct store *st, store_furl_cb cb, void *arg, struct err *errp);

#endif
