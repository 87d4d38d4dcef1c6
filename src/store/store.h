/* Durable state: SQLite (WAL) for the registry, content-addressed code blobs on disk. */
#ifndef LAMBDAD_STORE_H
#define LAMBDAD_STORE_H

#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

#include "store/codezip.h"

struct store;

/* Opens (creating if needed) the store under data_dir: data_dir/lambdad.db and
 * data_dir/code/. Returns 0 and an owned *out, or a negative errno. */
int store_open(const char *data_dir, struct store **out, struct err *errp);
void store_free(struct store *st); /* NULL is a no-op */

/* Inserts or replaces a function's stored configuration, committed before return. */
int store_put_function(struct store *st, const char *name, const char *config_json, struct err *errp);
/* Deletes a function's row, committed before return. 0 also when it was absent. */
int store_delete_function(struct store *st, const char *name, struct err *errp);
/* Calls cb for every stored function in name order; a non-zero cb return stops. */
typedef int (*store_fn_cb)(const char *name, const char *config_json, void *arg);
int store_load_functions(struct store *st, store_fn_cb cb, void *arg, struct err *errp);

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

#endif
