/* The queue's own SQLite database, data_dir/async.db (WAL, synchronous=FULL): pending
 * events, lambdad's dead-letter store and the event invoke configs. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>

#include "async/async_int.h"

static const char schema[] = "CREATE TABLE IF NOT EXISTS events ("
                             "  id TEXT PRIMARY KEY,"
                             "  fn TEXT NOT NULL,"
                             "  payload BLOB NOT NULL,"
                             "  accepted_ms INTEGER NOT NULL,"
                             "  due_ms INTEGER NOT NULL,"
                             "  attempts INTEGER NOT NULL,"
                             "  last_error TEXT"
                             ");"
                             "CREATE TABLE IF NOT EXISTS failed ("
                             "  id TEXT PRIMARY KEY,"
                             "  fn TEXT NOT NULL,"
                             "  payload BLOB NOT NULL,"
                             "  accepted_ms INTEGER NOT NULL,"
                             "  failed_ms INTEGER NOT NULL,"
                             "  attempts INTEGER NOT NULL,"
                             "  condition TEXT NOT NULL,"
                             "  reason TEXT NOT NULL,"
                             "  last_error TEXT"
                             ");"
                             "CREATE INDEX IF NOT EXISTS failed_fn ON failed(fn, failed_ms);"
                             "CREATE TABLE IF NOT EXISTS configs ("
                             "  fn TEXT PRIMARY KEY,"
                             "  max_retries INTEGER NOT NULL,"
                             "  max_age_s INTEGER NOT NULL,"
                             "  on_success TEXT,"
                             "  on_failure TEXT,"
                             "  modified_ms INTEGER NOT NULL"
                             ");";

static const struct {
	size_t off;
	const char *sql;
} stmts[] = {
    {offsetof(struct async, ins_ev),
     "INSERT OR REPLACE INTO events(id, fn, payload, accepted_ms, due_ms, attempts, last_error) "
     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, NULL)"},
    {offsetof(struct async, del_ev), "DELETE FROM events WHERE id = ?1"},
    {offsetof(struct async, upd_ev),
     "UPDATE events SET attempts = ?2, due_ms = ?3, last_error = ?4 WHERE id = ?1"},
    {offsetof(struct async, get_payload), "SELECT payload FROM events WHERE id = ?1"},
    {offsetof(struct async, ins_failed),
     "INSERT OR REPLACE INTO failed(id, fn, payload, accepted_ms, failed_ms, attempts, condition, reason, "
     "last_error) SELECT id, fn, payload, accepted_ms, ?2, ?3, ?4, ?5, ?6 FROM events WHERE id = ?1"},
    {offsetof(struct async, del_failed), "DELETE FROM failed WHERE id = ?1 AND fn = ?2"},
    {offsetof(struct async, replay_ev),
     "INSERT OR REPLACE INTO events(id, fn, payload, accepted_ms, due_ms, attempts, last_error) "
     "SELECT id, fn, payload, ?3, ?3, 0, NULL FROM failed WHERE id = ?1 AND fn = ?2"},
    {offsetof(struct async, put_cfg),
     "INSERT OR REPLACE INTO configs(fn, max_retries, max_age_s, on_success, on_failure, modified_ms) "
     "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
    {offsetof(struct async, del_cfg), "DELETE FROM configs WHERE fn = ?1"},
};

int adb_open(struct async *q, const char *data_dir, struct err *errp)
{
	autofree char *path = xasprintf("%s/async.db", data_dir);
	if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK)
		return err_make(errp, EIO, "cannot open %s: %s", path, q->db ? sqlite3_errmsg(q->db) : "?");
	sqlite3_busy_timeout(q->db, 5000);
	char *emsg = NULL;
	/* FULL: the commit that precedes a 202 survives a power cut, not only a crash. */
	if (sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &emsg) !=
	        SQLITE_OK ||
	    sqlite3_exec(q->db, schema, NULL, NULL, &emsg) != SQLITE_OK) {
		int r = err_make(errp, EIO, "cannot initialise %s: %s", path, emsg ? emsg : "?");
		sqlite3_free(emsg);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)q + stmts[i].off);
		if (sqlite3_prepare_v2(q->db, stmts[i].sql, -1, st, NULL) != SQLITE_OK)
			return err_make(errp, EIO, "%s: prepare: %s", path, sqlite3_errmsg(q->db));
	}
	return 0;
}

void adb_close(struct async *q)
{
	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++)
		sqlite3_finalize(*(sqlite3_stmt **)((char *)q + stmts[i].off));
	sqlite3_close(q->db);
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

int adb_load(struct async *q, struct err *errp)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(
	        q->db, "SELECT fn, max_retries, max_age_s, on_success, on_failure, modified_ms FROM configs",
	        -1, &st, NULL) != SQLITE_OK)
		return err_make(errp, EIO, "async.db: %s", sqlite3_errmsg(q->db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct afn *f = afn_get(q, (const char *)sqlite3_column_text(st, 0), true);
		acfg_fini(&f->cfg);
		f->cfg.present = true;
		f->cfg.max_retries = sqlite3_column_int(st, 1);
		f->cfg.max_age_s = sqlite3_column_int(st, 2);
		f->cfg.on_success = col_text(st, 3);
		f->cfg.on_failure = col_text(st, 4);
		f->cfg.modified_ms = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(q->db, "SELECT fn, COUNT(*) FROM failed GROUP BY fn", -1, &st, NULL) !=
	    SQLITE_OK)
		return err_make(errp, EIO, "async.db: %s", sqlite3_errmsg(q->db));
	while (sqlite3_step(st) == SQLITE_ROW)
		afn_get(q, (const char *)sqlite3_column_text(st, 0), true)->failed_stored =
		    (uint32_t)sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(
	        q->db,
	        "SELECT id, fn, accepted_ms, due_ms, attempts, last_error FROM events ORDER BY accepted_ms",
	        -1, &st, NULL) != SQLITE_OK)
		return err_make(errp, EIO, "async.db: %s", sqlite3_errmsg(q->db));
	size_t n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (!id || strlen(id) > 36)
			continue;
		struct afn *f = afn_get(q, (const char *)sqlite3_column_text(st, 1), true);
		struct aev *ev = xcalloc(1, sizeof(*ev));
		snprintf(ev->id, sizeof(ev->id), "%s", id);
		ev->fn = f;
		ev->accepted_ms = sqlite3_column_int64(st, 2);
		ev->due_ms = sqlite3_column_int64(st, 3);
		ev->attempts = (uint32_t)sqlite3_column_int(st, 4);
		ev->last_error = col_text(st, 5);
		ev->state = AEV_NEW;
		f->depth++;
		TAILQ_INSERT_TAIL(&q->fresh, ev, link);
		n++;
	}
	sqlite3_finalize(st);
	if (n)
		log_info(
		    "async: %zu events from before the restart are queued again (delivered at least once)",
		    n);
	return 0;
}

char *adb_payload(struct async *q, const char *id, size_t *len)
{
	sqlite3_stmt *st = q->get_payload;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	char *out = NULL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		const void *b = sqlite3_column_blob(st, 0);
		out = xmalloc(n + 1);
		if (n)
			memcpy(out, b, n);
		out[n] = 0;
		*len = n;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return out;
}
