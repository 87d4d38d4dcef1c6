/* Durable state behind one interface: named collections (items with revisions, ordered
 * by key), named queues (append, lease with a visibility deadline, ack), group commit
 * with completion callbacks, and content-addressed code blobs on disk. */
#ifndef LAMBDAD_STORE_H
#define LAMBDAD_STORE_H

#include <event2/event.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/codezip.h"

struct store;
struct pool;

/* ---- Opening ----
 *
 * The backend is an ops table chosen at open (store_int.h), as crun chooses a cgroup
 * manager or SQLite a VFS; "sqlite" (one database, data_dir/lambdad.db, WAL) is the
 * only one today. A replicated backend implements the same table: no service sees
 * which one runs. Data directories of older versions (lambdad.db with functions,
 * scaling and function_urls tables, async.db, apigw.db) are migrated in place at the
 * first open, in one transaction: a crash midway leaves the old files as they were
 * and the next open redoes it. */

/* Opens (creating if needed) the store under data_dir: the database and data_dir/code/.
 * Returns 0 and an owned *out, or a negative errno with a message. Until store_set_loop
 * is called every commit is synchronous (store_commit). */
int store_new(const char *data_dir, struct store **out, struct err *errp);
/* Commits what is still open (waiting for it to be durable), runs the completion
 * callbacks not run yet, then closes. NULL is a no-op. */
void store_free(struct store *st);
/* Group commit from here on: writes of one loop pass of base are committed together at
 * its end and made durable by pool (borrowed; both outlive st, or store_free runs
 * first). pool NULL: the fsync runs on the loop thread. */
void store_set_loop(struct store *st, struct event_base *base, struct pool *pool);

/* ---- Collections ----
 *
 * A collection is named ("functions", "scaling", "function_urls", "apigw.apis",
 * "async.configs", ...); an item is a key (UTF-8 text, at most STORE_KEY_MAX bytes,
 * never the byte 0xff), an opaque value (bytes; JSON text by convention) and a
 * revision: 1 when created, +1 at each put. Reads see every write made before them,
 * committed or not (read-your-writes: one writer, the loop thread). Writes join the
 * open group (below): they are durable once its commit completes. */

#define STORE_KEY_MAX 1024
#define STORE_REV_ANY UINT64_MAX /* put/del precondition: whatever the revision */

/* The item key of coll: 0 with an owned *value (NUL-terminated beyond *len, so JSON
 * text reads as a string) and its revision in *rev (either may be NULL), -ENOENT when
 * absent, or -EIO with a message. */
int store_get(struct store *st, const char *coll, const char *key, char **value, size_t *len, uint64_t *rev,
              struct err *errp);
/* Writes value (len bytes, copied) as key's item if its revision is if_rev: 0 = it must
 * not exist, N = it must be N, STORE_REV_ANY = no precondition. Returns 0 and the new
 * revision in *rev (may be NULL); -ESTALE when the precondition failed (nothing
 * written; *rev gets the current revision, 0 when absent); -EIO with a message, which
 * also fails the open group. */
int store_put(struct store *st, const char *coll, const char *key, const void *value, size_t len,
              uint64_t if_rev, uint64_t *rev, struct err *errp);
/* Deletes key's item if its revision is if_rev (STORE_REV_ANY: any). 0 also when it
 * was absent and if_rev is STORE_REV_ANY; -ESTALE or -EIO as store_put. */
int store_del(struct store *st, const char *coll, const char *key, uint64_t if_rev, struct err *errp);

/* One item of a scan; every pointer is borrowed for the callback only. */
struct store_item {
	const char *key;
	const char *value; /* NUL-terminated beyond len */
	size_t len;
	uint64_t rev;
};
/* Returns 0 to go on, anything else to stop the scan (store_scan returns it). */
typedef int (*store_scan_cb)(const struct store_item *it, void *arg);
/* Calls cb for the items of coll whose key starts with prefix ("" or NULL: all) and
 * sorts after start_after (NULL: from the first), in key order (bytewise), at most
 * limit of them (0: no limit). The callback must not write to the store. Returns 0, the
 * callback's non-zero return, or -EIO with a message. */
int store_scan(struct store *st, const char *coll, const char *prefix, const char *start_after, size_t limit,
               store_scan_cb cb, void *arg, struct err *errp);

/* ---- Queues ----
 *
 * A queue is named ("async.events", later an SQS queue's); an item has a sequence
 * number (unique in the store, growing), a payload (bytes), attributes (text, JSON by
 * convention, NULL allowed), a visible-at time (wall clock ms) and a lease count.
 * Items are taken in (visible_at, seq) order. A lease hides an item until its deadline
 * and hands a receipt; ack and change-visibility need the receipt of the latest lease
 * (or of the append, for an item never leased), so a consumer whose lease expired and
 * was taken by another is refused (-ESTALE). Queue writes join the open group. */

struct store_receipt {
	uint64_t seq;
	uint64_t lease; /* lease count when issued; 0: the append's receipt */
};

struct store_qitem {
	struct store_receipt receipt;
	int64_t visible_at_ms;
	const char *payload; /* NUL-terminated beyond len; borrowed for the callback */
	size_t len;
	const char *attrs; /* borrowed for the callback; NULL when none */
};
typedef int (*store_qitem_cb)(const struct store_qitem *it, void *arg);

/* Appends an item to queue (created on first use), visible from visible_at_ms. Returns
 * 0 and its receipt in *out (may be NULL), or -EIO with a message. */
int store_qappend(struct store *st, const char *queue, const void *payload, size_t len, const char *attrs,
                  int64_t visible_at_ms, struct store_receipt *out, struct err *errp);
/* Leases up to max items of queue visible at now_ms (visible_at <= now_ms), in order:
 * each becomes invisible until deadline_ms, its lease count grows, and cb gets it with
 * its new receipt (payload and attributes borrowed for the call; its return value is
 * ignored: every item taken is leased). The callback must not write to the store.
 * Returns the number leased, or -EIO with a message (the group then fails). */
int store_qlease(struct store *st, const char *queue, size_t max, int64_t now_ms, int64_t deadline_ms,
                 store_qitem_cb cb, void *arg, struct err *errp);
/* Removes the item of receipt rc. 0, -ESTALE (gone, or leased since), or -EIO. */
int store_qack(struct store *st, const char *queue, const struct store_receipt *rc, struct err *errp);
/* Makes the item of rc visible at visible_at_ms instead, and when attrs is not NULL
 * replaces its attributes. The receipt stays valid. 0, -ESTALE or -EIO. */
int store_qchange(struct store *st, const char *queue, const struct store_receipt *rc, int64_t visible_at_ms,
                  const char *attrs, struct err *errp);
/* Reads every item of queue, leased or not, in (visible_at, seq) order, without
 * leasing: for a consumer that schedules its items itself and recovers them at start
 * (the async queue). Returns 0, cb's non-zero return, or -EIO. */
int store_qscan(struct store *st, const char *queue, store_qitem_cb cb, void *arg, struct err *errp);
/* The payload of the item seq (owned, NUL-terminated beyond *len), or NULL when it is
 * gone or the read failed. */
char *store_qpayload(struct store *st, const char *queue, uint64_t seq, size_t *len);

/* ---- Group commit ----
 *
 * Every write opens the group if none is open; the group is committed at the end of the
 * loop pass that opened it, and made durable on the pool (store_sqlite.c says how).
 * A completion callback runs on the loop thread once everything written before it was
 * registered is durable: status 0, or a negative errno when the group failed (a write
 * failed, the commit failed, or the fsync failed: every waiter of it hears). It never
 * runs inside the call that registers it. */

typedef void (*store_done_cb)(int status, void *arg);
/* Calls cb(status, arg) once every write made so far is durable (on the next loop turn
 * when nothing is pending). arg is borrowed until then. */
void store_group_wait(struct store *st, store_done_cb cb, void *arg);
/* The synchronous commit of the control plane (CreateFunction and the like): commits
 * the open group now and waits, blocking the loop thread, until it is durable. Returns
 * 0, or a negative errno with a message when the group failed (its writes are then
 * rolled back or not durable). Waiters registered before are called afterwards, on the
 * loop. */
int store_commit(struct store *st, struct err *errp);
/* Commits and waits like store_commit, then runs every completion callback still due
 * before returning (shutdown). */
void store_flush(struct store *st);

/* ---- Code blobs (unchanged) ---- */

/* Stores a zip by the SHA-256 hex (given, computed by the caller) durably as
 * code/<hex>.zip and extracts it once to code/<hex>/ (skipped when both exist).
 * info gets what the extraction found; when code/<hex>/ already exists only
 * has_bootstrap is filled in. On failure nothing new is left behind. It blocks on the
 * file system (extraction, fsyncs) and touches only the code directory: callable from a
 * worker thread, as store_drop_code is, but not for the same hex at once. */
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
