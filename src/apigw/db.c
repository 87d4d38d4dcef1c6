/* HTTP APIs' own SQLite database, data_dir/apigw.db (WAL, synchronous=FULL): one row
 * per API holding its whole state as a JSON document. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "apigw/apigw_int.h"

static const char schema[] = "CREATE TABLE IF NOT EXISTS apis ("
                             "  id TEXT PRIMARY KEY,"
                             "  created_ms INTEGER NOT NULL,"
                             "  doc TEXT NOT NULL"
                             ");";

int gwdb_open(struct apigw *g, const char *data_dir, struct err *errp)
{
	autofree char *path = xasprintf("%s/apigw.db", data_dir);
	if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK)
		return err_make(errp, EIO, "cannot open %s: %s", path, g->db ? sqlite3_errmsg(g->db) : "?");
	sqlite3_busy_timeout(g->db, 5000);
	char *emsg = NULL;
	/* FULL: a change the API acknowledged survives a power cut, not only a crash. */
	if (sqlite3_exec(g->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &emsg) !=
	        SQLITE_OK ||
	    sqlite3_exec(g->db, schema, NULL, NULL, &emsg) != SQLITE_OK) {
		int r = err_make(errp, EIO, "cannot initialise %s: %s", path, emsg ? emsg : "?");
		sqlite3_free(emsg);
		return r;
	}
	if (sqlite3_prepare_v2(g->db, "INSERT OR REPLACE INTO apis(id, created_ms, doc) VALUES(?1, ?2, ?3)",
	                       -1, &g->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(g->db, "DELETE FROM apis WHERE id = ?1", -1, &g->del, NULL) != SQLITE_OK)
		return err_make(errp, EIO, "%s: prepare: %s", path, sqlite3_errmsg(g->db));
	return 0;
}

void gwdb_close(struct apigw *g)
{
	sqlite3_finalize(g->put);
	sqlite3_finalize(g->del);
	sqlite3_close(g->db);
}

int gwdb_load(struct apigw *g, int (*cb)(struct apigw *g, const char *id, int64_t created_ms, json_t *doc),
              struct err *errp)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(g->db, "SELECT id, created_ms, doc FROM apis ORDER BY created_ms, rowid", -1,
	                       &st, NULL) != SQLITE_OK)
		return err_make(errp, EIO, "apigw.db: %s", sqlite3_errmsg(g->db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *text = (const char *)sqlite3_column_text(st, 2);
		json_error_t je;
		json_t *doc = text ? json_loads(text, 0, &je) : NULL;
		if (!id || !doc || cb(g, id, sqlite3_column_int64(st, 1), doc) < 0)
			log_error("apigw.db: API %s: unreadable (skipped)", id ? id : "?");
		json_decref(doc);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_make(errp, EIO, "apigw.db: %s", sqlite3_errmsg(g->db));
	return 0;
}

int gwdb_put(struct apigw *g, const char *id, int64_t created_ms, json_t *doc, struct err *errp)
{
	autofree char *text = json_dumps(doc, JSON_COMPACT);
	sqlite3_reset(g->put);
	sqlite3_bind_text(g->put, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(g->put, 2, created_ms);
	sqlite3_bind_text(g->put, 3, text, -1, SQLITE_STATIC);
	int rc = sqlite3_step(g->put);
	sqlite3_reset(g->put);
	sqlite3_clear_bindings(g->put);
	if (rc != SQLITE_DONE)
		return err_make(errp, EIO, "apigw.db: cannot store API %s: %s", id, sqlite3_errmsg(g->db));
	return 0;
}

int gwdb_del(struct apigw *g, const char *id, struct err *errp)
{
	sqlite3_reset(g->del);
	sqlite3_bind_text(g->del, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(g->del);
	sqlite3_reset(g->del);
	sqlite3_clear_bindings(g->del);
	if (rc != SQLITE_DONE)
		return err_make(errp, EIO, "apigw.db: cannot delete API %s: %s", id, sqlite3_errmsg(g->db));
	return 0;
}
