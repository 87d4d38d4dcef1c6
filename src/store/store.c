/* SQLite registry store (WAL, synchronous FULL) and content-addressed code blobs. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"

struct store {
	char *dir;
	char *code_dir;
	sqlite3 *db;
	sqlite3_stmt *put_fn;
	sqlite3_stmt *del_fn;
	sqlite3_stmt *put_sc;
	sqlite3_stmt *del_sc;
};

static const char schema[] = "CREATE TABLE IF NOT EXISTS functions ("
                             "  name TEXT PRIMARY KEY,"
                             "  config TEXT NOT NULL"
                             ");"
                             "CREATE TABLE IF NOT EXISTS scaling ("
                             "  name TEXT PRIMARY KEY,"
                             "  reserved INTEGER NOT NULL,"
                             "  provisioned INTEGER NOT NULL,"
                             "  provisioned_modified_ms INTEGER NOT NULL,"
                             "  keep_alive_ms INTEGER NOT NULL"
                             ");";

static int db_err(struct store *st, struct err *errp, const char *what)
{
	return err_make(errp, EIO, "%s: %s", what, sqlite3_errmsg(st->db));
}

/* Creates the directory path (its parent must exist); an existing directory is fine,
 * anything else already at path is -ENOTDIR. */
static int mkdir_p(const char *path)
{
	struct stat sb;
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &sb) < 0)
		return -errno;
	return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

int store_open(const char *data_dir, struct store **out, struct err *errp)
{
	int r;
	if ((r = mkdir_p(data_dir)) < 0)
		return err_make(errp, -r, "cannot create data directory %s: %s", data_dir, strerror(-r));
	/* Absolute from here on: sandboxes mount code directories by this path from their
	 * own root, where a relative one (make run's ./data) means nothing. */
	char *abs = realpath(data_dir, NULL);
	if (!abs)
		return err_make(errp, errno, "cannot resolve data directory %s: %s", data_dir, strerror(errno));
	data_dir = abs;
	struct store *st = xcalloc(1, sizeof(*st));
	st->dir = abs;
	st->code_dir = xasprintf("%s/code", data_dir);
	if ((r = mkdir_p(st->code_dir)) < 0) {
		err_make(errp, -r, "cannot create %s: %s", st->code_dir, strerror(-r));
		store_free(st);
		return r;
	}
	autofree char *dbpath = xasprintf("%s/lambdad.db", data_dir);
	if (sqlite3_open_v2(dbpath, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		r = err_make(errp, EIO, "cannot open %s: %s", dbpath, st->db ? sqlite3_errmsg(st->db) : "?");
		store_free(st);
		return r;
	}
	sqlite3_busy_timeout(st->db, 5000);
	char *emsg = NULL;
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &emsg) !=
	        SQLITE_OK ||
	    sqlite3_exec(st->db, schema, NULL, NULL, &emsg) != SQLITE_OK) {
		r = err_make(errp, EIO, "cannot initialise %s: %s", dbpath, emsg ? emsg : "?");
		sqlite3_free(emsg);
		store_free(st);
		return r;
	}
	if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO functions(name, config) VALUES(?1, ?2)", -1,
	                       &st->put_fn, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "DELETE FROM functions WHERE name = ?1", -1, &st->del_fn, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v2(
	        st->db,
	        "INSERT OR REPLACE INTO scaling(name, reserved, provisioned, provisioned_modified_ms, "
	        "keep_alive_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
	        -1, &st->put_sc, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "DELETE FROM scaling WHERE name = ?1", -1, &st->del_sc, NULL) !=
	        SQLITE_OK) {
		r = db_err(st, errp, "prepare");
		store_free(st);
		return r;
	}
	*out = st;
	return 0;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->put_fn);
	sqlite3_finalize(st->del_fn);
	sqlite3_finalize(st->put_sc);
	sqlite3_finalize(st->del_sc);
	sqlite3_close(st->db);
	free(st->dir);
	free(st->code_dir);
	free(st);
}

const char *store_data_dir(struct store *st)
{
	return st->dir;
}

int store_put_function(struct store *st, const char *name, const char *config_json, struct err *errp)
{
	sqlite3_reset(st->put_fn);
	sqlite3_bind_text(st->put_fn, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->put_fn, 2, config_json, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st->put_fn);
	sqlite3_reset(st->put_fn);
	sqlite3_clear_bindings(st->put_fn);
	if (rc != SQLITE_DONE)
		return db_err(st, errp, "store function");
	return 0;
}

/* Runs a prepared statement that takes only the name; returns its sqlite3_step code. */
static int step_name(sqlite3_stmt *q, const char *name)
{
	sqlite3_reset(q);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

int store_delete_function(struct store *st, const char *name, struct err *errp)
{
	/* The function's row and its scaling settings go together or not at all, so a
	 * function created later under the same name cannot inherit them. */
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(st, errp, "delete function");
	if (step_name(st->del_fn, name) != SQLITE_DONE || step_name(st->del_sc, name) != SQLITE_DONE) {
		int r = db_err(st, errp, "delete function");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int r = db_err(st, errp, "delete function");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	return 0;
}

int store_load_functions(struct store *st, store_fn_cb cb, void *arg, struct err *errp)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "SELECT name, config FROM functions ORDER BY name", -1, &q, NULL) !=
	    SQLITE_OK)
		return db_err(st, errp, "load functions");
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cb((const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1), arg))
			break;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(st, errp, "load functions");
	return 0;
}

int store_put_scaling(struct store *st, const char *name, const struct fn_scaling *sc, struct err *errp)
{
	sqlite3_stmt *q = st->put_sc;
	sqlite3_reset(q);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, sc->reserved);
	sqlite3_bind_int64(q, 3, sc->provisioned);
	sqlite3_bind_int64(q, 4, sc->provisioned_modified_ms);
	sqlite3_bind_int64(q, 5, sc->keep_alive_ms);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE)
		return db_err(st, errp, "store scaling settings");
	return 0;
}

int store_delete_scaling(struct store *st, const char *name, struct err *errp)
{
	if (step_name(st->del_sc, name) != SQLITE_DONE)
		return db_err(st, errp, "delete scaling settings");
	return 0;
}

int store_load_scaling(struct store *st, store_scaling_cb cb, void *arg, struct err *errp)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(
	        st->db,
	        "SELECT name, reserved, provisioned, provisioned_modified_ms, keep_alive_ms FROM scaling "
	        "ORDER BY name",
	        -1, &q, NULL) != SQLITE_OK)
		return db_err(st, errp, "load scaling settings");
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		sqlite3_int64 reserved = sqlite3_column_int64(q, 1);
		sqlite3_int64 prov = sqlite3_column_int64(q, 2);
		struct fn_scaling sc = {
		    .reserved = reserved >= 0 && reserved <= INT32_MAX ? (int32_t)reserved : -1,
		    .provisioned = prov > 0 && prov <= UINT32_MAX ? (uint32_t)prov : 0,
		    .provisioned_modified_ms = sqlite3_column_int64(q, 3),
		    .keep_alive_ms = sqlite3_column_int64(q, 4) >= 0 ? sqlite3_column_int64(q, 4) : -1,
		};
		if (cb((const char *)sqlite3_column_text(q, 0), &sc, arg))
			break;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(st, errp, "load scaling settings");
	return 0;
}

char *store_code_dir(struct store *st, const char *hex)
{
	return xasprintf("%s/%s", st->code_dir, hex);
}
char *store_code_zip(struct store *st, const char *hex)
{
	return xasprintf("%s/%s.zip", st->code_dir, hex);
}

static int fsync_dir(const char *dir)
{
	autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

/* Writes data to path atomically and durably: temp file, fsync, rename, fsync dir. */
static int write_durable(const char *dir, const char *path, const void *data, size_t len, struct err *errp)
{
	autofree char *tmp = xasprintf("%s.tmp-XXXXXX", path);
	autoclose int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_make(errp, errno, "cannot create %s: %s", tmp, strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			unlink(tmp);
			return err_make(errp, e, "cannot write %s: %s", tmp, strerror(e));
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) < 0 || fchmod(fd, 0644) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return err_make(errp, e, "cannot store %s: %s", path, strerror(e));
	}
	fsync_dir(dir);
	return 0;
}

int store_put_code(struct store *st, const char *hex, const void *zip, size_t len, struct codezip_info *info,
                   struct err *errp)
{
	autofree char *zpath = store_code_zip(st, hex);
	autofree char *dpath = store_code_dir(st, hex);
	struct stat sb;
	bool had_zip = stat(zpath, &sb) == 0 && (size_t)sb.st_size == len;
	bool had_dir = stat(dpath, &sb) == 0 && S_ISDIR(sb.st_mode);
	int r;
	if (had_dir) {
		/* Already extracted once; re-run the checks on a scratch copy would be waste:
		 * the same bytes gave the same answer. Recompute only has_bootstrap. */
		autofree char *boot = xasprintf("%s/bootstrap", dpath);
		memset(info, 0, sizeof(*info));
		info->has_bootstrap = stat(boot, &sb) == 0 && S_ISREG(sb.st_mode);
		if (!had_zip && (r = write_durable(st->code_dir, zpath, zip, len, errp)) < 0)
			return r;
		return 0;
	}
	if ((r = codezip_extract(zip, len, dpath, NULL, info, errp)) < 0)
		return r;
	if (!had_zip && (r = write_durable(st->code_dir, zpath, zip, len, errp)) < 0) {
		codezip_rmtree(dpath);
		return r;
	}
	fsync_dir(st->code_dir);
	return 0;
}

int store_ensure_code(struct store *st, const char *hex, struct err *errp)
{
	autofree char *dpath = store_code_dir(st, hex);
	struct stat sb;
	if (stat(dpath, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	autofree char *zpath = store_code_zip(st, hex);
	autoclose int fd = open(zpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_make(errp, errno, "code blob %s is missing: %s", zpath, strerror(errno));
	if (fstat(fd, &sb) < 0)
		return err_make(errp, errno, "stat %s", zpath);
	autofree char *buf = xmalloc((size_t)sb.st_size + 1);
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n <= 0)
			return err_make(errp, n < 0 ? errno : EIO, "read %s", zpath);
		got += (size_t)n;
	}
	struct codezip_info info;
	return codezip_extract(buf, got, dpath, NULL, &info, errp);
}

void store_drop_code(struct store *st, const char *hex)
{
	autofree char *zpath = store_code_zip(st, hex);
	autofree char *dpath = store_code_dir(st, hex);
	unlink(zpath);
	codezip_rmtree(dpath);
}

void store_gc_code(struct store *st, int (*keep)(const char *hex, void *arg), void *arg)
{
	DIR *d = opendir(st->code_dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char hex[65];
		size_t n = strspn(de->d_name, "0123456789abcdef");
		bool blob = n == 64 && (de->d_name[64] == 0 || strcmp(de->d_name + 64, ".zip") == 0);
		if (blob) {
			memcpy(hex, de->d_name, 64);
			hex[64] = 0;
			if (keep(hex, arg))
				continue;
		}
		autofree char *path = xasprintf("%s/%s", st->code_dir, de->d_name);
		log_info("store: removing unreferenced or partial %s", path);
		if (unlink(path) < 0 && (errno == EISDIR || errno == EPERM))
			codezip_rmtree(path);
	}
	closedir(d);
}

/* Function URL configurations: one row per function, its url-id unique. The table is
 * made on first use, so stores written before function URLs existed open unchanged. */
static int furl_prepare(struct store *st, const char *sql, sqlite3_stmt **q, struct err *errp)
{
	char *emsg = NULL;
	if (sqlite3_exec(st->db,
	                 "CREATE TABLE IF NOT EXISTS function_urls ("
	                 "  name TEXT PRIMARY KEY,"
	                 "  url_id TEXT NOT NULL UNIQUE,"
	                 "  config TEXT NOT NULL"
	                 ");",
	                 NULL, NULL, &emsg) != SQLITE_OK) {
		int r = err_make(errp, EIO, "function URLs table: %s", emsg ? emsg : "?");
		sqlite3_free(emsg);
		return r;
	}
	if (sqlite3_prepare_v2(st->db, sql, -1, q, NULL) != SQLITE_OK)
		return db_err(st, errp, "function URLs");
	return 0;
}

int store_put_function_url(struct store *st, const char *name, const char *url_id, const char *config_json,
                           struct err *errp)
{
	sqlite3_stmt *q;
	int r = furl_prepare(
	    st, "INSERT OR REPLACE INTO function_urls(name, url_id, config) VALUES(?1, ?2, ?3)", &q, errp);
	if (r < 0)
		return r;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, url_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, config_json, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return db_err(st, errp, "store function URL");
	return 0;
}

int store_delete_function_url(struct store *st, const char *name, struct err *errp)
{
	sqlite3_stmt *q;
	int r = furl_prepare(st, "DELETE FROM function_urls WHERE name = ?1", &q, errp);
	if (r < 0)
		return r;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return db_err(st, errp, "delete function URL");
	return 0;
}

int store_load_function_urls(struct store *st, store_furl_cb cb, void *arg, struct err *errp)
{
	sqlite3_stmt *q;
	int r = furl_prepare(st, "SELECT name, url_id, config FROM function_urls ORDER BY name", &q, errp);
	if (r < 0)
		return r;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cb((const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
		       (const char *)sqlite3_column_text(q, 2), arg))
			break;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(st, errp, "load function URLs");
	return 0;
}
