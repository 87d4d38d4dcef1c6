/* The SQLite backend of the store: one database, data_dir/lambdad.db (WAL), its
 * migrations, and group commit with the fsync on the worker pool.
 *
 * Threads. One connection (db) is used by the loop thread only: every statement, reads
 * and writes, runs there, so reads see the open group's writes (read-your-writes) and
 * no connection is ever used by two threads. The durable part of a commit is not
 * SQLite's: the connection runs with synchronous=NORMAL, so its COMMIT writes the
 * group's frames to the -wal file (page cache, microseconds) and returns, and the
 * fdatasync of that file, which is what synchronous=FULL would do inside COMMIT, runs
 * on a pool thread on a descriptor of its own. Completion callbacks run on the loop
 * after that fdatasync returned: what a caller is told is durable is durable as with
 * FULL. Meanwhile the loop goes on building the next group; at most one fdatasync is
 * in flight, and the group open while it runs stays open (one transaction, however many
 * loop passes) until it returns, then is committed and synced in turn.
 * A committed group that nobody waits for (a queue ack, a retry's new time: writes no
 * caller is told about) starts no fdatasync of its own: the next group somebody waits
 * for covers it, or the lazy timer syncs it store_sqlite_lazy_sync_ms later. Otherwise
 * such a group's fdatasync, in flight when the next accepted write arrives, would hold
 * that write's group open for a whole fdatasync before its own could start (two in a
 * row on the path of every 1-client request). Until then it is in the page cache:
 * it survives kill -9, and a power cut can only undo it (an event delivered again).
 * The WAL is kept written ahead of its last frame (wal_extend), so that fdatasync
 * writes the frames and not also the inode of a file grown by each group.
 * SQLite's own checkpoints would fsync on the loop: the automatic checkpoint is off
 * (a WAL hook counts frames instead) and every SQ_CHECKPOINT_FRAMES new frames a
 * PASSIVE checkpoint runs on the pool on a second connection (ckpt) that only that job
 * uses, one at a time. The WAL restarts only after a checkpoint that no write overlapped;
 * when steady writes never leave one that chance, the loop checkpoints once the WAL
 * passes SQ_WAL_MAX_FRAMES (its only fsyncs, once in tens of MB of writes).
 *
 * Visibility. A committed group is visible to reads before it is durable (as with
 * SQLite's NORMAL), but nobody is told it is stored before it is durable. If the
 * fdatasync fails, every waiter of it hears -EIO; the rows stay in the database, whose
 * durability is then unknown (a power cut may or may not keep them), as when SQLite's
 * own fsync fails inside COMMIT.
 *
 * Schema (PRAGMA user_version):
 *   1: items(coll, key, rev, value) for collections; qitems(seq AUTOINCREMENT, queue,
 *      visible_ms, lease, payload, attrs) for queues. Migrates version 0: the tables
 *      functions, scaling and function_urls of lambdad.db become the collections
 *      "functions" (the config text), "scaling" (the JSON of fn_scaling_to_json in
 *      registry/) and "function_urls" (the config with its url-id as "UrlId"); async.db
 *      becomes the queue "async.events" and the collections "async.failed",
 *      "async.failed_payload" and "async.configs", apigw.db the collection "apigw.apis"
 *      ({"created_ms", "doc"}) (the forms src/async/ and src/apigw/ read). One
 *      transaction; the old files are removed after it committed, and again at any
 *      later open that finds them (a crash in between). */
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop/pool.h"
#include "store/store_int.h"

#define SQ_SCHEMA_VERSION 1
#define SQ_CHECKPOINT_FRAMES 1000 /* a pool checkpoint starts after this many new WAL frames */
#define SQ_WAL_MAX_FRAMES 20000   /* past this the loop checkpoints itself, so the WAL restarts */
#define SQ_WAL_SLACK (64 * 1024)  /* bytes: written WAL kept ahead of SQLite's last frame, at least */
#define SQ_WAL_CHUNK (256 * 1024) /* bytes of zeros appended to the WAL at a time */

int store_sqlite_lazy_sync_ms = 50; /* ms; store_int.h */

struct sq_waiter {
	store_done_cb cb;
	void *arg;
	int status;
	STAILQ_ENTRY(sq_waiter) link;
};
STAILQ_HEAD(sq_waiters, sq_waiter);

struct sq {
	char *path, *wal_path;
	sqlite3 *db;   /* the loop thread's */
	sqlite3 *ckpt; /* the checkpoint job's */
	sqlite3_stmt *get, *put_new, *put_upd, *del, *rev, *qins, *qack, *qchange, *qchange_attrs, *qpayload,
	    *qlease_sel, *qlease_upd;
	struct event_base *base;
	struct pool *pool;
	struct event *commit_ev; /* the end of the loop pass that opened the group */
	struct event *notify_ev; /* runs the waiters in done */
	struct event *lazy_ev;   /* syncs what nobody waits for (store_sqlite_lazy_sync_ms) */
	bool lazy_due;           /* lazy_ev fired: the next start_sync runs without waiters */
	bool in_txn, txn_failed;
	struct sq_waiters group;   /* wait for the open group */
	struct sq_waiters pending; /* committed, wait for the next fdatasync */
	struct sq_waiters syncing; /* wait for the fdatasync in flight */
	struct sq_waiters done;    /* to be called, status set */
	bool dirty;                /* committed since the last fdatasync started */
	bool sync_inflight;
	int sync_result; /* of the job in flight: 0 or -errno (written by the worker) */
	int wal_frames;  /* frames in the WAL (the hook's count) */
	int page_size;   /* bytes; a WAL frame is one page and a 24-byte header */
	off_t wal_size;  /* bytes of the WAL file when wal_extend last looked */
	int ckpt_frames; /* wal_frames when the last pool checkpoint started */
	bool ckpt_inflight;
};

/* ---- small helpers ---- */

static int db_err(struct sq *s, struct err *errp, const char *what)
{
	return err_make(errp, EIO, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

static int step_reset(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

static void waiters_move(struct sq_waiters *to, struct sq_waiters *from, int status)
{
	struct sq_waiter *w;
	for (w = STAILQ_FIRST(from); w; w = STAILQ_NEXT(w, link))
		w->status = status;
	STAILQ_CONCAT(to, from);
}

static void notify(struct sq *s)
{
	if (!STAILQ_EMPTY(&s->done) && s->notify_ev)
		event_active(s->notify_ev, EV_TIMEOUT, 0);
}

static void run_done(struct sq *s)
{
	struct sq_waiters list = STAILQ_HEAD_INITIALIZER(list);
	STAILQ_CONCAT(&list, &s->done);
	struct sq_waiter *w;
	while ((w = STAILQ_FIRST(&list))) {
		STAILQ_REMOVE_HEAD(&list, link);
		w->cb(w->status, w->arg);
		free(w);
	}
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	run_done(arg);
}

/* ---- durability: fdatasync of the WAL, checkpoints ---- */

static int sync_wal(const char *wal_path)
{
	autoclose int fd = open(wal_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* no WAL: everything is in the database file */
	return store_sys.fdatasync(fd) < 0 ? -errno : 0;
}

static void sync_work(void *arg)
{
	struct sq *s = arg;
	s->sync_result = sync_wal(s->wal_path);
}

static void start_sync(struct sq *s);
static void maybe_checkpoint(struct sq *s);
static void group_close(struct sq *s);

static void sync_done(void *arg)
{
	struct sq *s = arg;
	s->sync_inflight = false;
	if (s->sync_result < 0)
		log_error("store: fdatasync %s: %s: the waiting writes are reported failed", s->wal_path,
		          strerror(-s->sync_result));
	waiters_move(&s->done, &s->syncing, s->sync_result);
	run_done(s);
	if (s->in_txn)
		group_close(s);
	else
		start_sync(s);
	maybe_checkpoint(s);
}

/* Starts an fdatasync for what was committed since the last one, unless one is in
 * flight (its completion starts the next) or nobody waits for it yet (then the lazy
 * timer is armed, if it is not already: the bound runs from the first such commit). */
static void start_sync(struct sq *s)
{
	if (s->sync_inflight || !s->dirty)
		return;
	if (STAILQ_EMPTY(&s->pending) && !s->lazy_due && s->lazy_ev) {
		if (!evtimer_pending(s->lazy_ev, NULL)) {
			int ms = store_sqlite_lazy_sync_ms;
			struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
			evtimer_add(s->lazy_ev, &tv);
		}
		return;
	}
	s->lazy_due = false;
	if (s->lazy_ev)
		evtimer_del(s->lazy_ev);
	s->dirty = false;
	s->sync_inflight = true;
	STAILQ_CONCAT(&s->syncing, &s->pending);
	if (s->pool) {
		pool_submit(s->pool, sync_work, sync_done, s);
	} else {
		sync_work(s);
		sync_done(s);
	}
}

static void lazy_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sq *s = arg;
	s->lazy_due = true;
	start_sync(s); /* or, when one is in flight, its completion */
}

static void ckpt_work(void *arg)
{
	struct sq *s = arg;
	int logn = 0, done = 0;
	if (sqlite3_wal_checkpoint_v2(s->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, &logn, &done) != SQLITE_OK)
		log_warn("store: checkpoint: %s", sqlite3_errmsg(s->ckpt));
}

static void ckpt_done(void *arg)
{
	struct sq *s = arg;
	s->ckpt_inflight = false;
}

static void maybe_checkpoint(struct sq *s)
{
	if (s->wal_frames < s->ckpt_frames)
		s->ckpt_frames = 0; /* the WAL restarted */
	if (s->ckpt_inflight || s->wal_frames - s->ckpt_frames < SQ_CHECKPOINT_FRAMES)
		return;
	s->ckpt_frames = s->wal_frames;
	s->ckpt_inflight = true;
	if (s->pool) {
		pool_submit(s->pool, ckpt_work, ckpt_done, s);
	} else {
		ckpt_work(s);
		ckpt_done(s);
	}
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	((struct sq *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

/* ---- the group transaction ---- */

static int begin(struct sq *s, struct err *errp)
{
	if (s->in_txn)
		return 0;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, errp, "BEGIN");
	s->in_txn = true;
	s->txn_failed = false;
	if (s->commit_ev)
		event_active(s->commit_ev, EV_TIMEOUT, 0);
	return 0;
}

/* A write of the group failed: the whole group is rolled back at its commit. */
static int write_failed(struct sq *s, struct err *errp, const char *what)
{
	s->txn_failed = true;
	return db_err(s, errp, what);
}

/* Ends the open group: COMMIT (no fsync: synchronous=NORMAL), or ROLLBACK when a write
 * failed or COMMIT did. Its waiters move to pending, or to done with -EIO. */
static int end_txn(struct sq *s, struct err *errp)
{
	if (!s->in_txn)
		return 0;
	s->in_txn = false;
	int r = 0;
	if (s->txn_failed)
		r = err_make(errp, EIO, "store: a write of this group failed; the group is rolled back");
	else if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = db_err(s, errp, "COMMIT");
	if (r < 0) {
		log_error("%s", errp ? errp->msg : "store: the group is rolled back");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		waiters_move(&s->done, &s->group, -EIO);
		notify(s);
		return r;
	}
	STAILQ_CONCAT(&s->pending, &s->group);
	s->dirty = true;
	return 0;
}

/* Keeps at least SQ_WAL_SLACK written bytes past SQLite's last frame by appending
 * SQ_WAL_CHUNK of zeros past the file's end (never over anything SQLite wrote), here on
 * the loop, the WAL's only writer, as page-cache writes; the pool's next fdatasync
 * persists them with the frames. The WAL only restarts (is written over from its start)
 * when a checkpoint finished with no write overlapping it, which the pool's rarely get,
 * so without this every group's frames extend the file and its fdatasync also writes
 * the inode (size, new blocks): about twice the time of one that writes the data alone
 * (ext4). SQLite reads a WAL up to its first invalid frame, and zeros never are one
 * (their salts do not match the header's), as frames left from before a restart. */
static void wal_extend(struct sq *s)
{
	off_t end = 32 + (off_t)s->wal_frames * (s->page_size + 24);
	if (!s->page_size || s->wal_size - end >= SQ_WAL_SLACK)
		return;
	autoclose int fd = open(s->wal_path, O_WRONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < end)
		return; /* (the last: the hook's count is not this file's; write nothing) */
	static const char zeros[64 * 1024];
	off_t off = sb.st_size;
	while (off - end < SQ_WAL_SLACK || off - sb.st_size < SQ_WAL_CHUNK) {
		ssize_t n = pwrite(fd, zeros, sizeof(zeros), off);
		if (n <= 0)
			break; /* ENOSPC and the like: the next commit reports what matters */
		off += n;
	}
	s->wal_size = off;
}

/* Commits the open group and starts its fdatasync. */
static void group_close(struct sq *s)
{
	struct err e = {0};
	end_txn(s, &e);
	wal_extend(s);
	start_sync(s);
	/* Under steady writes the pool's checkpoints never find the WAL idle, so it never
	 * restarts; past SQ_WAL_MAX_FRAMES (tens of MB) one checkpoint runs here, between
	 * groups, and the next write restarts the WAL. Its fsyncs block the loop once in
	 * that many frames. */
	if (s->wal_frames >= SQ_WAL_MAX_FRAMES && !s->ckpt_inflight) {
		int logn = 0, done = 0;
		if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &logn, &done) !=
		    SQLITE_OK)
			log_warn("store: checkpoint: %s", sqlite3_errmsg(s->db));
		s->wal_frames = s->ckpt_frames = 0;
	}
}

/* The end of the loop pass that opened the group. While an fdatasync is in flight the
 * group stays open and takes the writes of the next passes too: they cannot be durable
 * before that fdatasync returns anyway, and one transaction writes each page once
 * where many small ones would write it each time. sync_done closes it. */
static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sq *s = arg;
	if (!s->sync_inflight)
		group_close(s);
}

static void sq_group_wait(void *be, store_done_cb cb, void *arg)
{
	struct sq *s = be;
	struct sq_waiter *w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	if (s->in_txn) {
		STAILQ_INSERT_TAIL(&s->group, w, link);
	} else if (s->dirty || s->sync_inflight) {
		/* Committed but perhaps not covered by the fdatasync in flight: the next one. */
		STAILQ_INSERT_TAIL(&s->pending, w, link);
		s->dirty = true;
		if (!s->sync_inflight && s->commit_ev)
			event_active(s->commit_ev, EV_TIMEOUT, 0); /* starts it */
	} else {
		STAILQ_INSERT_TAIL(&s->done, w, link);
		notify(s);
	}
}

static int sq_commit(void *be, struct err *errp)
{
	struct sq *s = be;
	int r = end_txn(s, errp);
	if (r < 0)
		return r;
	if (!s->dirty && STAILQ_EMPTY(&s->pending) && !s->sync_inflight)
		return 0;
	/* Blocking, on the loop: the control plane's commit-before-return. */
	s->dirty = false;
	s->lazy_due = false;
	if (s->lazy_ev)
		evtimer_del(s->lazy_ev);
	r = sync_wal(s->wal_path);
	if (r < 0)
		err_make(errp, -r, "store: fdatasync %s: %s", s->wal_path, strerror(-r));
	waiters_move(&s->done, &s->pending, r);
	if (s->notify_ev)
		notify(s);
	else
		run_done(s);
	return r;
}

static void sq_flush(void *be)
{
	struct sq *s = be;
	struct err e = {0};
	sq_commit(s, &e);
	if (s->pool)
		pool_drain(s->pool);
	run_done(s);
}

static void sq_set_loop(void *be, struct event_base *base, struct pool *pool)
{
	struct sq *s = be;
	s->base = base;
	s->pool = pool;
	s->commit_ev = event_new(base, -1, 0, commit_cb, s);
	s->notify_ev = event_new(base, -1, 0, notify_cb, s);
	s->lazy_ev = evtimer_new(base, lazy_cb, s);
}

/* ---- collections ---- */

static int sq_get(void *be, const char *coll, const char *key, char **value, size_t *len, uint64_t *rev,
                  struct err *errp)
{
	struct sq *s = be;
	sqlite3_stmt *q = s->get;
	sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	int r = 0;
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(q, 1);
		if (value) {
			*value = xmalloc(n + 1);
			if (n)
				memcpy(*value, sqlite3_column_blob(q, 1), n);
			(*value)[n] = 0;
		}
		if (len)
			*len = n;
		if (rev)
			*rev = (uint64_t)sqlite3_column_int64(q, 0);
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = db_err(s, errp, "get");
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return r;
}

/* The current revision of key (0 when absent) in *rev; 0 or -EIO. */
static int current_rev(struct sq *s, const char *coll, const char *key, uint64_t *rev, struct err *errp)
{
	sqlite3_stmt *q = s->rev;
	sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	*rev = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_err(s, errp, "revision");
}

static int sq_put(void *be, const char *coll, const char *key, const void *value, size_t len, uint64_t if_rev,
                  uint64_t *rev, struct err *errp)
{
	struct sq *s = be;
	uint64_t cur;
	int r;
	if ((r = current_rev(s, coll, key, &cur, errp)) < 0)
		return r;
	if (if_rev != STORE_REV_ANY && if_rev != cur) {
		if (rev)
			*rev = cur;
		return -ESTALE;
	}
	if ((r = begin(s, errp)) < 0)
		return r;
	sqlite3_stmt *q = cur ? s->put_upd : s->put_new;
	sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 3, len ? value : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)(cur + 1));
	if (step_reset(q) != SQLITE_DONE)
		return write_failed(s, errp, "put");
	if (rev)
		*rev = cur + 1;
	return 0;
}

static int sq_del(void *be, const char *coll, const char *key, uint64_t if_rev, struct err *errp)
{
	struct sq *s = be;
	uint64_t cur;
	int r;
	if ((r = current_rev(s, coll, key, &cur, errp)) < 0)
		return r;
	if (if_rev != STORE_REV_ANY && if_rev != cur)
		return -ESTALE;
	if (!cur)
		return 0;
	if ((r = begin(s, errp)) < 0)
		return r;
	sqlite3_bind_text(s->del, 1, coll, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->del, 2, key, -1, SQLITE_STATIC);
	if (step_reset(s->del) != SQLITE_DONE)
		return write_failed(s, errp, "delete");
	return 0;
}

static int sq_scan(void *be, const char *coll, const char *prefix, const char *start_after, size_t limit,
                   store_scan_cb cb, void *arg, struct err *errp)
{
	struct sq *s = be;
	sqlite3_stmt *q;
	/* The prefix is a key range: [prefix, prefix + 0xff), 0xff being no key's byte. */
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT key, value, rev FROM items WHERE coll = ?1 AND key >= ?2 AND "
	                       "(?3 IS NULL OR key < ?3) AND (?4 IS NULL OR key > ?4) ORDER BY key LIMIT ?5",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_err(s, errp, "scan");
	autofree char *end = prefix && *prefix ? xasprintf("%s\xff", prefix) : NULL;
	sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, prefix ? prefix : "", -1, SQLITE_STATIC);
	if (end)
		sqlite3_bind_text(q, 3, end, -1, SQLITE_STATIC);
	if (start_after)
		sqlite3_bind_text(q, 4, start_after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, limit ? (sqlite3_int64)limit : -1);
	int rc, r = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const void *v = sqlite3_column_blob(q, 1);
		struct store_item it = {.key = (const char *)sqlite3_column_text(q, 0),
		                        .len = (size_t)sqlite3_column_bytes(q, 1),
		                        .rev = (uint64_t)sqlite3_column_int64(q, 2)};
		/* A blob column's bytes are not NUL-terminated: copy the value when needed. */
		autofree char *copy = xmalloc(it.len + 1);
		if (it.len)
			memcpy(copy, v, it.len);
		copy[it.len] = 0;
		it.value = copy;
		if ((r = cb(&it, arg)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(s, errp, "scan");
	sqlite3_finalize(q);
	return r;
}

/* ---- queues ---- */

static int sq_qappend(void *be, const char *queue, const void *payload, size_t len, const char *attrs,
                      int64_t visible_at_ms, struct store_receipt *out, struct err *errp)
{
	struct sq *s = be;
	int r;
	if ((r = begin(s, errp)) < 0)
		return r;
	sqlite3_stmt *q = s->qins;
	sqlite3_bind_text(q, 1, queue, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, visible_at_ms);
	sqlite3_bind_blob(q, 3, len ? payload : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, attrs, -1, SQLITE_STATIC);
	if (step_reset(q) != SQLITE_DONE)
		return write_failed(s, errp, "append");
	if (out)
		*out = (struct store_receipt){.seq = (uint64_t)sqlite3_last_insert_rowid(s->db), .lease = 0};
	return 0;
}

static void qitem_from_row(sqlite3_stmt *q, struct store_qitem *it, char **copy)
{
	it->receipt.seq = (uint64_t)sqlite3_column_int64(q, 0);
	it->visible_at_ms = sqlite3_column_int64(q, 1);
	it->receipt.lease = (uint64_t)sqlite3_column_int64(q, 2);
	it->len = (size_t)sqlite3_column_bytes(q, 3);
	*copy = xmalloc(it->len + 1);
	if (it->len)
		memcpy(*copy, sqlite3_column_blob(q, 3), it->len);
	(*copy)[it->len] = 0;
	it->payload = *copy;
	it->attrs = (const char *)sqlite3_column_text(q, 4);
}

static int sq_qlease(void *be, const char *queue, size_t max, int64_t now_ms, int64_t deadline_ms,
                     store_qitem_cb cb, void *arg, struct err *errp)
{
	struct sq *s = be;
	int r;
	if (max == 0)
		return 0;
	if ((r = begin(s, errp)) < 0)
		return r;
	sqlite3_stmt *q = s->qlease_sel;
	sqlite3_bind_text(q, 1, queue, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now_ms);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)max);
	/* Collect first: the update must not move rows under the running SELECT. */
	uint64_t *seqs = xcalloc(max, sizeof(*seqs));
	size_t n = 0;
	int rc;
	while (n < max && (rc = sqlite3_step(q)) == SQLITE_ROW)
		seqs[n++] = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	int leased = 0;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *u = s->qlease_upd;
		sqlite3_bind_int64(u, 1, (sqlite3_int64)seqs[i]);
		sqlite3_bind_int64(u, 2, deadline_ms);
		if (sqlite3_step(u) != SQLITE_ROW) {
			sqlite3_reset(u);
			sqlite3_clear_bindings(u);
			free(seqs);
			return write_failed(s, errp, "lease");
		}
		struct store_qitem it;
		autofree char *copy = NULL;
		qitem_from_row(u, &it, &copy);
		int cr = cb ? cb(&it, arg) : 0;
		sqlite3_reset(u);
		sqlite3_clear_bindings(u);
		leased++;
		(void)cr;
	}
	free(seqs);
	return leased;
}

/* Runs an ack or change statement whose ?1 ?2 ?3 are queue, seq, lease; 0 when it
 * matched, -ESTALE when not, -EIO. */
static int receipt_write(struct sq *s, sqlite3_stmt *q, const char *queue, const struct store_receipt *rc,
                         struct err *errp, const char *what)
{
	int r;
	if ((r = begin(s, errp)) < 0)
		return r;
	sqlite3_bind_text(q, 1, queue, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)rc->seq);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)rc->lease);
	if (step_reset(q) != SQLITE_DONE)
		return write_failed(s, errp, what);
	return sqlite3_changes(s->db) == 1 ? 0 : -ESTALE;
}

static int sq_qack(void *be, const char *queue, const struct store_receipt *rc, struct err *errp)
{
	struct sq *s = be;
	return receipt_write(s, s->qack, queue, rc, errp, "ack");
}

static int sq_qchange(void *be, const char *queue, const struct store_receipt *rc, int64_t visible_at_ms,
                      const char *attrs, struct err *errp)
{
	struct sq *s = be;
	sqlite3_stmt *q = attrs ? s->qchange_attrs : s->qchange;
	sqlite3_bind_int64(q, 4, visible_at_ms);
	if (attrs)
		sqlite3_bind_text(q, 5, attrs, -1, SQLITE_STATIC);
	return receipt_write(s, q, queue, rc, errp, "change visibility");
}

static int sq_qscan(void *be, const char *queue, store_qitem_cb cb, void *arg, struct err *errp)
{
	struct sq *s = be;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT seq, visible_ms, lease, payload, attrs FROM qitems WHERE queue = ?1 "
	                       "ORDER BY visible_ms, seq",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_err(s, errp, "queue scan");
	sqlite3_bind_text(q, 1, queue, -1, SQLITE_STATIC);
	int rc, r = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_qitem it;
		autofree char *copy = NULL;
		qitem_from_row(q, &it, &copy);
		if ((r = cb(&it, arg)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(s, errp, "queue scan");
	sqlite3_finalize(q);
	return r;
}

static char *sq_qpayload(void *be, const char *queue, uint64_t seq, size_t *len)
{
	struct sq *s = be;
	sqlite3_stmt *q = s->qpayload;
	sqlite3_bind_text(q, 1, queue, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)seq);
	char *out = NULL;
	if (sqlite3_step(q) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(q, 0);
		out = xmalloc(n + 1);
		if (n)
			memcpy(out, sqlite3_column_blob(q, 0), n);
		out[n] = 0;
		*len = n;
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return out;
}

/* ---- open, migrations ---- */

static const char schema_v1[] = "CREATE TABLE items ("
                                "  coll TEXT NOT NULL,"
                                "  key TEXT NOT NULL,"
                                "  rev INTEGER NOT NULL,"
                                "  value BLOB NOT NULL,"
                                "  PRIMARY KEY (coll, key)"
                                ") WITHOUT ROWID;"
                                "CREATE TABLE qitems ("
                                "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                "  queue TEXT NOT NULL,"
                                "  visible_ms INTEGER NOT NULL,"
                                "  lease INTEGER NOT NULL DEFAULT 0,"
                                "  payload BLOB NOT NULL,"
                                "  attrs TEXT"
                                ");"
                                "CREATE INDEX qitems_visible ON qitems(queue, visible_ms, seq);";

/* Version 0's lambdad.db tables, converted and dropped (each may be absent). */
static const char *const import_main[] = {
    "INSERT INTO items(coll, key, rev, value) SELECT 'functions', name, 1, config FROM functions",
    ("INSERT INTO items(coll, key, rev, value) SELECT 'scaling', name, 1, json_object('reserved', reserved, "
     "'provisioned', provisioned, 'provisioned_modified_ms', provisioned_modified_ms, 'keep_alive_ms', "
     "keep_alive_ms) FROM scaling"),
    ("INSERT INTO items(coll, key, rev, value) SELECT 'function_urls', name, 1, json_set(config, '$.UrlId', "
     "url_id) FROM function_urls"),
};
static const char *const import_main_tables[] = {"functions", "scaling", "function_urls"};

/* async.db, attached as old_async. */
static const char *const import_async[] = {
    "INSERT INTO qitems(queue, visible_ms, lease, payload, attrs) SELECT 'async.events', due_ms, 0, payload, "
    "json_object('id', id, 'fn', fn, 'accepted_ms', accepted_ms, 'attempts', attempts, 'last_error', "
    "last_error) FROM old_async.events ORDER BY accepted_ms, id",
    "INSERT INTO items(coll, key, rev, value) SELECT 'async.failed', fn || '/' || id, 1, json_object("
    "'condition', condition, 'reason', reason, 'last_error', last_error, 'attempts', attempts, "
    "'accepted_ms', accepted_ms, 'failed_ms', failed_ms, 'payload_bytes', length(payload)) FROM "
    "old_async.failed",
    "INSERT INTO items(coll, key, rev, value) SELECT 'async.failed_payload', fn || '/' || id, 1, payload "
    "FROM old_async.failed",
    "INSERT INTO items(coll, key, rev, value) SELECT 'async.configs', fn, 1, json_object('max_retries', "
    "max_retries, 'max_age_s', max_age_s, 'on_success', on_success, 'on_failure', on_failure, "
    "'modified_ms', modified_ms) FROM old_async.configs",
};

/* apigw.db, attached as old_apigw. */
static const char *const import_apigw[] = {
    "INSERT INTO items(coll, key, rev, value) SELECT 'apigw.apis', id, 1, json_object('created_ms', "
    "created_ms, 'doc', json(doc)) FROM old_apigw.apis",
};

static const char *const old_files[] = {"async.db", "apigw.db"};

static bool file_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* 1 when schema has table, 0 when not, -EIO when schema cannot be read (a damaged
 * old file fails the migration instead of being skipped). */
static int table_exists(struct sq *s, const char *schema, const char *table, struct err *errp)
{
	autofree char *sql =
	    xasprintf("SELECT 1 FROM %s.sqlite_master WHERE type = 'table' AND name = ?1", schema);
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
		return db_err(s, errp, schema);
	sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(s, errp, schema);
	return rc == SQLITE_ROW;
}

static int exec(struct sq *s, const char *sql, struct err *errp)
{
	char *emsg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &emsg) != SQLITE_OK) {
		int r = err_make(errp, EIO, "store: %s: %s", s->path, emsg ? emsg : "?");
		sqlite3_free(emsg);
		return r;
	}
	return 0;
}

/* Runs the statements of an import whose source tables exist (a statement names its
 * source after FROM). */
static int run_import(struct sq *s, const char *schema, const char *const *sqls, size_t n, struct err *errp)
{
	for (size_t i = 0; i < n; i++) {
		const char *from = strstr(sqls[i], "FROM ");
		char table[64] = "";
		if (from)
			sscanf(from + 5, "%63[a-z_.]", table);
		const char *dot = strchr(table, '.');
		int r = table_exists(s, schema, dot ? dot + 1 : table, errp);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		r = exec(s, sqls[i], errp);
		if (r < 0)
			return r;
	}
	return 0;
}

static void remove_old(const char *dir, const char *name)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < ARRAY_SIZE(suffix); i++) {
		autofree char *p = xasprintf("%s/%s%s", dir, name, suffix[i]);
		if (unlink(p) == 0)
			log_info("store: %s was imported into lambdad.db and is removed", p);
	}
}

/* Brings the database to SQ_SCHEMA_VERSION. Version 0 (any database older than the
 * migrations, or a new one) takes the old tables and files in one transaction. */
static int migrate(struct sq *s, const char *dir, struct err *errp)
{
	int version = 0;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
		return db_err(s, errp, "user_version");
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (version > SQ_SCHEMA_VERSION)
		return err_make(errp, EPROTO, "store: %s has schema version %d, newer than this lambdad (%d)",
		                s->path, version, SQ_SCHEMA_VERSION);
	int r;
	if (version == 0) {
		/* ATTACH is not allowed inside a transaction: the old files first. */
		bool had[ARRAY_SIZE(old_files)] = {false};
		for (size_t i = 0; i < ARRAY_SIZE(old_files); i++) {
			autofree char *p = xasprintf("%s/%s", dir, old_files[i]);
			if (!file_exists(p))
				continue;
			autofree char *sql = xasprintf("ATTACH DATABASE '%s' AS old_%.*s", p,
			                               (int)strcspn(old_files[i], "."), old_files[i]);
			if ((r = exec(s, sql, errp)) < 0)
				return r;
			had[i] = true;
		}
		if ((r = exec(s, "BEGIN IMMEDIATE", errp)) < 0)
			return r;
		if ((r = exec(s, schema_v1, errp)) < 0 ||
		    (r = run_import(s, "main", import_main, ARRAY_SIZE(import_main), errp)) < 0 ||
		    (had[0] &&
		     (r = run_import(s, "old_async", import_async, ARRAY_SIZE(import_async), errp)) < 0) ||
		    (had[1] &&
		     (r = run_import(s, "old_apigw", import_apigw, ARRAY_SIZE(import_apigw), errp)) < 0))
			goto rollback;
		for (size_t i = 0; i < ARRAY_SIZE(import_main_tables); i++) {
			autofree char *sql = xasprintf("DROP TABLE IF EXISTS main.%s", import_main_tables[i]);
			if ((r = exec(s, sql, errp)) < 0)
				goto rollback;
		}
		autofree char *v = xasprintf("PRAGMA user_version = %d", SQ_SCHEMA_VERSION);
		if ((r = exec(s, v, errp)) < 0 || (r = exec(s, "COMMIT", errp)) < 0)
			goto rollback;
		if (had[0])
			exec(s, "DETACH DATABASE old_async", NULL);
		if (had[1])
			exec(s, "DETACH DATABASE old_apigw", NULL);
		/* Durable before the old files go: FULL semantics for the migration itself. */
		if ((r = sync_wal(s->wal_path)) < 0)
			return err_make(errp, -r, "store: fdatasync %s: %s", s->wal_path, strerror(-r));
		if (had[0] || had[1])
			log_info("store: migrated the data directory to schema version %d",
			         SQ_SCHEMA_VERSION);
	}
	for (size_t i = 0; i < ARRAY_SIZE(old_files); i++)
		remove_old(dir, old_files[i]);
	return 0;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(s->db, "DETACH DATABASE old_async", NULL, NULL, NULL);
	sqlite3_exec(s->db, "DETACH DATABASE old_apigw", NULL, NULL, NULL);
	return r;
}

static const struct {
	size_t off;
	const char *sql;
} stmts[] = {
    {offsetof(struct sq, get), "SELECT rev, value FROM items WHERE coll = ?1 AND key = ?2"},
    {offsetof(struct sq, rev), "SELECT rev FROM items WHERE coll = ?1 AND key = ?2"},
    {offsetof(struct sq, put_new), "INSERT INTO items(coll, key, value, rev) VALUES(?1, ?2, ?3, ?4)"},
    {offsetof(struct sq, put_upd), "UPDATE items SET value = ?3, rev = ?4 WHERE coll = ?1 AND key = ?2"},
    {offsetof(struct sq, del), "DELETE FROM items WHERE coll = ?1 AND key = ?2"},
    {offsetof(struct sq, qins),
     "INSERT INTO qitems(queue, visible_ms, lease, payload, attrs) VALUES(?1, ?2, 0, "
     "?3, ?4)"},
    {offsetof(struct sq, qack), "DELETE FROM qitems WHERE queue = ?1 AND seq = ?2 AND lease = ?3"},
    {offsetof(struct sq, qchange),
     "UPDATE qitems SET visible_ms = ?4 WHERE queue = ?1 AND seq = ?2 AND lease = ?3"},
    {offsetof(struct sq, qchange_attrs),
     "UPDATE qitems SET visible_ms = ?4, attrs = ?5 WHERE queue = ?1 AND seq = ?2 AND lease = ?3"},
    {offsetof(struct sq, qpayload), "SELECT payload FROM qitems WHERE queue = ?1 AND seq = ?2"},
    {offsetof(struct sq, qlease_sel),
     "SELECT seq FROM qitems WHERE queue = ?1 AND visible_ms <= ?2 ORDER BY visible_ms, seq LIMIT ?3"},
    {offsetof(struct sq, qlease_upd), "UPDATE qitems SET lease = lease + 1, visible_ms = ?2 WHERE seq = ?1 "
                                      "RETURNING seq, visible_ms, lease, payload, attrs"},
};

static void sq_free(void *be)
{
	struct sq *s = be;
	if (!s)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++)
		sqlite3_finalize(*(sqlite3_stmt **)((char *)s + stmts[i].off));
	if (s->ckpt)
		sqlite3_close(s->ckpt);
	if (s->db)
		sqlite3_close(s->db);
	if (s->commit_ev)
		event_free(s->commit_ev);
	if (s->notify_ev)
		event_free(s->notify_ev);
	if (s->lazy_ev)
		event_free(s->lazy_ev);
	free(s->path);
	free(s->wal_path);
	free(s);
}

static int open_conn(const char *path, sqlite3 **db, struct err *errp)
{
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK)
		return err_make(errp, EIO, "cannot open %s: %s", path, *db ? sqlite3_errmsg(*db) : "?");
	sqlite3_busy_timeout(*db, 5000);
	char *emsg = NULL;
	/* NORMAL: COMMIT does not fsync; the pool's fdatasync of the WAL does (see above). */
	if (sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &emsg) !=
	    SQLITE_OK) {
		int r = err_make(errp, EIO, "cannot initialise %s: %s", path, emsg ? emsg : "?");
		sqlite3_free(emsg);
		return r;
	}
	return 0;
}

static int sq_new(const char *dir, void **be, struct err *errp)
{
	struct sq *s = xcalloc(1, sizeof(*s));
	STAILQ_INIT(&s->group);
	STAILQ_INIT(&s->pending);
	STAILQ_INIT(&s->syncing);
	STAILQ_INIT(&s->done);
	s->path = xasprintf("%s/lambdad.db", dir);
	s->wal_path = xasprintf("%s-wal", s->path);
	int r;
	if ((r = open_conn(s->path, &s->db, errp)) < 0 || (r = migrate(s, dir, errp)) < 0 ||
	    (r = open_conn(s->path, &s->ckpt, errp)) < 0) {
		sq_free(s);
		return r;
	}
	/* Checkpoints are the pool's (maybe_checkpoint), never inside a COMMIT on the loop. */
	sqlite3_wal_hook(s->db, wal_hook, s);
	sqlite3_stmt *ps;
	if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK) {
		if (sqlite3_step(ps) == SQLITE_ROW)
			s->page_size = sqlite3_column_int(ps, 0);
		sqlite3_finalize(ps);
	}
	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
		sqlite3_stmt **q = (sqlite3_stmt **)((char *)s + stmts[i].off);
		if (sqlite3_prepare_v2(s->db, stmts[i].sql, -1, q, NULL) != SQLITE_OK) {
			r = db_err(s, errp, "prepare");
			sq_free(s);
			return r;
		}
	}
	*be = s;
	return 0;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .new = sq_new,
    .free = sq_free,
    .set_loop = sq_set_loop,
    .get = sq_get,
    .put = sq_put,
    .del = sq_del,
    .scan = sq_scan,
    .qappend = sq_qappend,
    .qlease = sq_qlease,
    .qack = sq_qack,
    .qchange = sq_qchange,
    .qscan = sq_qscan,
    .qpayload = sq_qpayload,
    .group_wait = sq_group_wait,
    .commit = sq_commit,
    .flush = sq_flush,
};
