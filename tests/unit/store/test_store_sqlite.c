/* Tests for the store interface on its SQLite backend: collections (revisions, scan
 * order and paging), queues (lease deadline, ack, redelivery, change-visibility),
 * group commit (callbacks only once durable, one commit and one fdatasync for many
 * writes, an fdatasync failure told to every waiter, a group nobody waits for synced
 * with the next one or by the lazy timer, the WAL written over zeros kept ahead rather
 * than grown) and the migration of a data
 * directory of the previous format, built here with raw SQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop/pool.h"
#include "store/codezip.h"
#include "store/store.h"
#include "store/store_int.h"

struct fx {
	char tmp[64];
	char *data;
	struct store *st;
	struct event_base *base;
	struct pool *pool;
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	strcpy(f->tmp, "/tmp/store-sqlite-test-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	f->data = xasprintf("%s/data", f->tmp);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	store_free(f->st);
	pool_free(f->pool);
	if (f->base)
		event_base_free(f->base);
	int r = codezip_rmtree(f->tmp);
	free(f->data);
	free(f);
	return r;
}

static struct store *open_ok(const char *dir)
{
	struct store *st = NULL;
	struct err e = {0};
	if (store_new(dir, &st, &e) != 0)
		fail_msg("store_new %s: %s", dir, e.msg);
	return st;
}

/* The store with group commit on a loop and a pool of one thread. */
static void open_loop(struct fx *f)
{
	struct err e = {0};
	f->st = open_ok(f->data);
	f->base = event_base_new();
	assert_int_equal(pool_new(f->base, 1, &f->pool, &e), 0);
	store_set_loop(f->st, f->base, f->pool);
}

static void put_ok(struct store *st, const char *coll, const char *key, const char *v, uint64_t if_rev,
                   uint64_t want_rev)
{
	struct err e = {0};
	uint64_t rev = 0;
	if (store_put(st, coll, key, v, strlen(v), if_rev, &rev, &e) != 0)
		fail_msg("put %s/%s: %s", coll, key, e.msg);
	assert_int_equal(rev, want_rev);
}

/* ---- collections ---- */

static void test_revisions(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct err e = {0};
	uint64_t rev = 99;
	put_ok(f->st, "c", "k", "one", 0, 1); /* 0: must not exist */
	assert_int_equal(store_put(f->st, "c", "k", "x", 1, 0, &rev, &e), -ESTALE);
	assert_int_equal(rev, 1); /* the current revision */
	put_ok(f->st, "c", "k", "two", 1, 2);
	assert_int_equal(store_put(f->st, "c", "k", "x", 1, 1, &rev, &e), -ESTALE);
	assert_int_equal(rev, 2);
	put_ok(f->st, "c", "k", "three", STORE_REV_ANY, 3);
	/* Another collection is another namespace. */
	put_ok(f->st, "d", "k", "other", 0, 1);
	autofree char *v = NULL;
	size_t len = 0;
	assert_int_equal(store_get(f->st, "c", "k", &v, &len, &rev, &e), 0);
	assert_string_equal(v, "three");
	assert_int_equal(len, 5);
	assert_int_equal(rev, 3);
	assert_int_equal(store_get(f->st, "c", "absent", NULL, NULL, NULL, &e), -ENOENT);
	/* Deletes with a precondition; a missing item with ANY is fine. */
	assert_int_equal(store_del(f->st, "c", "k", 2, &e), -ESTALE);
	assert_int_equal(store_del(f->st, "c", "k", 3, &e), 0);
	assert_int_equal(store_del(f->st, "c", "k", STORE_REV_ANY, &e), 0);
	assert_int_equal(store_get(f->st, "c", "k", NULL, NULL, NULL, &e), -ENOENT);
	/* Created again, it starts at revision 1. */
	put_ok(f->st, "c", "k", "again", 0, 1);
	/* Bytes, not only text: a value with a NUL survives. */
	assert_int_equal(store_put(f->st, "c", "bin", "a\0b", 3, STORE_REV_ANY, NULL, &e), 0);
	free(v);
	v = NULL;
	assert_int_equal(store_get(f->st, "c", "bin", &v, &len, NULL, &e), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "a\0b", 3);
	assert_int_equal(store_put(f->st, "c", "", "x", 1, STORE_REV_ANY, NULL, &e), -EINVAL);
	assert_int_equal(store_commit(f->st, &e), 0);
	/* Committed: a reopen has it all. */
	store_free(f->st);
	f->st = open_ok(f->data);
	assert_int_equal(store_get(f->st, "c", "k", NULL, NULL, &rev, &e), 0);
	assert_int_equal(rev, 1);
	assert_int_equal(store_get(f->st, "d", "k", NULL, NULL, &rev, &e), 0);
}

struct keys {
	char k[32][16];
	size_t n;
};

static int keys_cb(const struct store_item *it, void *arg)
{
	struct keys *ks = arg;
	assert_true(ks->n < 32);
	snprintf(ks->k[ks->n++], sizeof(ks->k[0]), "%s", it->key);
	return 0;
}

static void test_scan_order_and_paging(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	static const char *const names[] = {"fn-b/2", "fn/1", "fn/10", "Fn/0", "fn/2", "fn-a", "zz", "fn/3"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		put_ok(f->st, "c", names[i], "v", 0, 1);
	put_ok(f->st, "other", "fn/9", "v", 0, 1);
	struct err e = {0};
	struct keys ks = {0};
	assert_int_equal(store_scan(f->st, "c", NULL, NULL, 0, keys_cb, &ks, &e), 0);
	assert_int_equal(ks.n, 8);
	/* Bytewise key order. */
	static const char *const all[] = {"Fn/0", "fn-a", "fn-b/2", "fn/1", "fn/10", "fn/2", "fn/3", "zz"};
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(ks.k[i], all[i]);
	/* A prefix is a range: "fn/" holds neither "fn-b/2" nor the other collection's. */
	ks.n = 0;
	assert_int_equal(store_scan(f->st, "c", "fn/", NULL, 0, keys_cb, &ks, &e), 0);
	assert_int_equal(ks.n, 4);
	assert_string_equal(ks.k[0], "fn/1");
	assert_string_equal(ks.k[3], "fn/3");
	/* Paging: limit, then start after the last key seen. */
	char after[16] = "";
	size_t pages = 0, total = 0;
	for (;;) {
		ks.n = 0;
		assert_int_equal(store_scan(f->st, "c", NULL, after[0] ? after : NULL, 3, keys_cb, &ks, &e),
		                 0);
		if (ks.n == 0)
			break;
		assert_true(ks.n <= 3);
		assert_string_equal(ks.k[0], all[total]);
		total += ks.n;
		pages++;
		snprintf(after, sizeof(after), "%s", ks.k[ks.n - 1]);
	}
	assert_int_equal(total, 8);
	assert_int_equal(pages, 3);
	assert_int_equal(store_commit(f->st, &e), 0);
}

/* ---- queues ---- */

struct leased {
	struct store_receipt rc[16];
	char payload[16][16];
	char attrs[16][32];
	size_t n;
};

static int leased_cb(const struct store_qitem *it, void *arg)
{
	struct leased *l = arg;
	assert_true(l->n < 16);
	l->rc[l->n] = it->receipt;
	snprintf(l->payload[l->n], sizeof(l->payload[0]), "%.*s", (int)it->len, it->payload);
	snprintf(l->attrs[l->n], sizeof(l->attrs[0]), "%s", it->attrs ? it->attrs : "");
	l->n++;
	return 0;
}

static int lease(struct store *st, size_t max, int64_t now, int64_t deadline, struct leased *l)
{
	struct err e = {0};
	memset(l, 0, sizeof(*l));
	int n = store_qlease(st, "q", max, now, deadline, leased_cb, l, &e);
	if (n < 0)
		fail_msg("lease: %s", e.msg);
	assert_int_equal((size_t)n, l->n);
	return n;
}

static void test_queue_lease_ack(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct err e = {0};
	struct store_receipt a, b, c;
	/* Visible-at then sequence: c (t=5) before a and b (t=10), a before b. */
	assert_int_equal(store_qappend(f->st, "q", "a", 1, "{\"n\":1}", 10, &a, &e), 0);
	assert_int_equal(store_qappend(f->st, "q", "b", 1, NULL, 10, &b, &e), 0);
	assert_int_equal(store_qappend(f->st, "q", "c", 1, NULL, 5, &c, &e), 0);
	assert_int_equal(store_qappend(f->st, "other", "x", 1, NULL, 0, NULL, &e), 0);
	assert_true(a.seq < b.seq && b.seq < c.seq);
	struct leased l;
	assert_int_equal(lease(f->st, 10, 4, 100, &l), 0); /* nothing visible at t=4 */
	assert_int_equal(lease(f->st, 2, 10, 100, &l), 2);
	assert_string_equal(l.payload[0], "c");
	assert_string_equal(l.payload[1], "a");
	assert_string_equal(l.attrs[1], "{\"n\":1}");
	struct store_receipt lc = l.rc[0], la = l.rc[1];
	assert_int_equal(lc.lease, 1);
	/* Leased items are hidden until their deadline. */
	assert_int_equal(lease(f->st, 10, 99, 200, &l), 1);
	assert_string_equal(l.payload[0], "b");
	struct store_receipt lb = l.rc[0];
	/* The append's receipt of a leased item is stale. */
	assert_int_equal(store_qack(f->st, "q", &a, &e), -ESTALE);
	assert_int_equal(store_qack(f->st, "q", &lc, &e), 0);
	assert_int_equal(store_qack(f->st, "q", &lc, &e), -ESTALE); /* gone */
	/* Past the deadline, a is delivered again with a new receipt; the old one is stale. */
	assert_int_equal(lease(f->st, 10, 100, 300, &l), 1);
	assert_string_equal(l.payload[0], "a");
	assert_int_equal(l.rc[0].lease, 2);
	assert_int_equal(store_qack(f->st, "q", &la, &e), -ESTALE);
	struct store_receipt la2 = l.rc[0];
	/* Change-visibility: b back at once (t=150) with new attributes; a hidden longer. */
	assert_int_equal(store_qchange(f->st, "q", &lb, 150, "{\"try\":2}", &e), 0);
	assert_int_equal(store_qchange(f->st, "q", &la2, 1000, NULL, &e), 0);
	assert_int_equal(lease(f->st, 10, 150, 2000, &l), 1);
	assert_string_equal(l.payload[0], "b");
	assert_string_equal(l.attrs[0], "{\"try\":2}");
	assert_int_equal(store_qchange(f->st, "q", &lb, 0, NULL, &e), -ESTALE); /* leased again since */
	assert_int_equal(lease(f->st, 10, 999, 2000, &l), 0);
	assert_int_equal(lease(f->st, 10, 1000, 2000, &l), 1);
	assert_string_equal(l.payload[0], "a");
	/* The other queue was never touched. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_qlease(f->st, "other", 10, 0, 1, leased_cb, &l, &e), 1);
	assert_int_equal(store_commit(f->st, &e), 0);
	/* Leases are durable: after a reopen a and b stay hidden until their deadlines. */
	store_free(f->st);
	f->st = open_ok(f->data);
	assert_int_equal(lease(f->st, 10, 1999, 3000, &l), 0);
	assert_int_equal(lease(f->st, 10, 2000, 3000, &l), 2);
	size_t plen = 0;
	autofree char *p = store_qpayload(f->st, "q", l.rc[0].seq, &plen);
	assert_non_null(p);
	assert_int_equal(plen, 1);
	assert_int_equal(store_commit(f->st, &e), 0);
}

/* ---- group commit ---- */

static atomic_int syncs;      /* fdatasync calls */
static atomic_int sync_errno; /* 0: succeed, else fail with it */

static int fake_fdatasync(int fd)
{
	atomic_fetch_add(&syncs, 1);
	int e = atomic_load(&sync_errno);
	if (e) {
		errno = e;
		return -1;
	}
	return fdatasync(fd);
}

struct waiter {
	bool called;
	int status;
	int syncs_then; /* fdatasync calls made before the callback ran */
	int *ncalled;
};

static void waiter_cb(int status, void *arg)
{
	struct waiter *w = arg;
	assert_false(w->called); /* once */
	w->called = true;
	w->status = status;
	w->syncs_then = atomic_load(&syncs);
	(*w->ncalled)++;
}

static void run_until(struct event_base *base, const int *n, int want)
{
	for (int turns = 0; *n < want && turns < 100000; turns++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(*n, want);
}

/* What another process sees: a second connection on the same file. */
static int count_items(const char *data, const char *coll)
{
	autofree char *path = xasprintf("%s/lambdad.db", data);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM items WHERE coll = ?1", -1, &q, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(q, 1, coll, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

#define NWAIT 100

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	open_loop(f);
	store_sys.fdatasync = fake_fdatasync;
	atomic_store(&sync_errno, 0);
	atomic_store(&syncs, 0);
	struct err e = {0};
	static struct waiter w[NWAIT];
	int ncalled = 0;
	/* One loop pass: many writes, each with its waiter. */
	for (int i = 0; i < NWAIT; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%03d", i);
		w[i] = (struct waiter){.ncalled = &ncalled};
		assert_int_equal(store_put(f->st, "g", key, "v", 1, 0, NULL, &e), 0);
		store_group_wait(f->st, waiter_cb, &w[i]);
	}
	/* Read-your-writes before the commit; nobody told yet; nothing visible outside. */
	assert_int_equal(store_get(f->st, "g", "k050", NULL, NULL, NULL, &e), 0);
	assert_int_equal(ncalled, 0);
	assert_int_equal(count_items(f->data, "g"), 0);
	run_until(f->base, &ncalled, NWAIT);
	/* One commit and one fdatasync for all, and every callback after it. */
	assert_int_equal(atomic_load(&syncs), 1);
	for (int i = 0; i < NWAIT; i++) {
		assert_int_equal(w[i].status, 0);
		assert_int_equal(w[i].syncs_then, 1);
	}
	assert_int_equal(count_items(f->data, "g"), NWAIT);
	/* A waiter with nothing pending is still called later, never inside the call. */
	struct waiter idle = {.ncalled = &ncalled};
	store_group_wait(f->st, waiter_cb, &idle);
	assert_false(idle.called);
	run_until(f->base, &ncalled, NWAIT + 1);
	assert_int_equal(idle.status, 0);
	store_sys.fdatasync = fdatasync;
}

static void test_group_fsync_failure(void **state)
{
	struct fx *f = *state;
	open_loop(f);
	store_sys.fdatasync = fake_fdatasync;
	atomic_store(&syncs, 0);
	atomic_store(&sync_errno, EIO);
	struct err e = {0};
	struct waiter w[3];
	int ncalled = 0;
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){.ncalled = &ncalled};
		assert_int_equal(store_qappend(f->st, "q", "x", 1, NULL, 0, NULL, &e), 0);
		store_group_wait(f->st, waiter_cb, &w[i]);
	}
	run_until(f->base, &ncalled, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w[i].status, -EIO);
	/* The synchronous commit reports it too. */
	assert_int_equal(store_put(f->st, "c", "k", "v", 1, 0, NULL, &e), 0);
	assert_int_equal(store_commit(f->st, &e), -EIO);
	/* Once the disk is back, the next group succeeds. */
	atomic_store(&sync_errno, 0);
	struct waiter ok = {.ncalled = &ncalled};
	assert_int_equal(store_put(f->st, "c", "k2", "v", 1, 0, NULL, &e), 0);
	store_group_wait(f->st, waiter_cb, &ok);
	run_until(f->base, &ncalled, 4);
	assert_int_equal(ok.status, 0);
	store_sys.fdatasync = fdatasync;
}

/* A group nobody waits for (a queue ack) starts no fdatasync of its own: the next group
 * somebody waits for is not held behind one, and one fdatasync covers both. */
static void test_group_unwaited_rides_on_next(void **state)
{
	struct fx *f = *state;
	open_loop(f);
	store_sys.fdatasync = fake_fdatasync;
	atomic_store(&sync_errno, 0);
	atomic_store(&syncs, 0);
	int lazy_ms = store_sqlite_lazy_sync_ms;
	store_sqlite_lazy_sync_ms = 3600 * 1000; /* the lazy timer stays out of this test */
	struct err e = {0};
	struct store_receipt rc;
	assert_int_equal(store_qappend(f->st, "q", "x", 1, NULL, 0, &rc, &e), 0);
	store_flush(f->st);
	atomic_store(&syncs, 0);
	/* The ack's group is committed at the end of its pass, and not synced. */
	assert_int_equal(store_qack(f->st, "q", &rc, &e), 0);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(pool_pending(f->pool), 0);
	assert_int_equal(atomic_load(&syncs), 0);
	/* The next accepted write: its waiter hears after exactly one fdatasync. */
	int ncalled = 0;
	struct waiter w = {.ncalled = &ncalled};
	assert_int_equal(store_qappend(f->st, "q", "y", 1, NULL, 0, NULL, &e), 0);
	store_group_wait(f->st, waiter_cb, &w);
	run_until(f->base, &ncalled, 1);
	assert_int_equal(w.status, 0);
	assert_int_equal(w.syncs_then, 1);
	assert_int_equal(atomic_load(&syncs), 1);
	store_sqlite_lazy_sync_ms = lazy_ms;
	store_sys.fdatasync = fdatasync;
}

/* ... and when none comes, the lazy timer makes it durable on its own. */
static void test_group_unwaited_synced_later(void **state)
{
	struct fx *f = *state;
	open_loop(f);
	store_sys.fdatasync = fake_fdatasync;
	atomic_store(&sync_errno, 0);
	atomic_store(&syncs, 0);
	int lazy_ms = store_sqlite_lazy_sync_ms;
	store_sqlite_lazy_sync_ms = 1;
	struct err e = {0};
	assert_int_equal(store_qappend(f->st, "q", "x", 1, NULL, 0, NULL, &e), 0);
	for (int turns = 0; atomic_load(&syncs) == 0 && turns < 100000; turns++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(atomic_load(&syncs), 1);
	pool_drain(f->pool);
	/* Nothing left to sync: a waiter now is told without another fdatasync. */
	int ncalled = 0;
	struct waiter w = {.ncalled = &ncalled};
	store_group_wait(f->st, waiter_cb, &w);
	run_until(f->base, &ncalled, 1);
	assert_int_equal(w.status, 0);
	assert_int_equal(atomic_load(&syncs), 1);
	store_sqlite_lazy_sync_ms = lazy_ms;
	store_sys.fdatasync = fdatasync;
}

static off_t file_size(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* Group commits write over zeros kept ahead of the WAL's last frame instead of growing
 * the file each time (an fdatasync that must also write the inode); a copy of the
 * files as a crash leaves them (WAL not checkpointed, zeros after its frames) opens
 * with every committed row. */
static void test_group_wal_written_ahead(void **state)
{
	struct fx *f = *state;
	open_loop(f);
	struct err e = {0};
	autofree char *wal = xasprintf("%s/lambdad.db-wal", f->data);
	int ncalled = 0, growths = 0;
	off_t size = -1;
	static struct waiter w[NWAIT];
	for (int i = 0; i < NWAIT; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%03d", i);
		w[i] = (struct waiter){.ncalled = &ncalled};
		assert_int_equal(store_put(f->st, "g", key, "v", 1, 0, NULL, &e), 0);
		store_group_wait(f->st, waiter_cb, &w[i]);
		run_until(f->base, &ncalled, i + 1); /* one group, one fdatasync each */
		assert_int_equal(w[i].status, 0);
		off_t now = file_size(wal);
		growths += now != size;
		size = now;
	}
	/* NWAIT groups of a page or more each: the file grew a few times, not each time. */
	assert_true(size > NWAIT * 4096);
	assert_true(growths <= 1 + NWAIT * (4096 + 24) * 3 / (256 * 1024));
	/* What a crash leaves: the database file and this WAL, zeros after its frames. */
	autofree char *copy = xasprintf("%s/copy", f->tmp);
	assert_int_equal(mkdir(copy, 0755), 0);
	autofree char *db = xasprintf("%s/lambdad.db", f->data);
	autofree char *db_copy = xasprintf("%s/lambdad.db", copy);
	autofree char *wal_copy = xasprintf("%s/lambdad.db-wal", copy);
	copy_file(db, db_copy);
	copy_file(wal, wal_copy);
	assert_int_equal(count_items(copy, "g"), NWAIT);
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *emsg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &emsg) != SQLITE_OK)
		fail_msg("%s: %s", path, emsg);
	sqlite3_close(db);
}

/* A write that fails fails its whole group: every waiter hears, nothing is kept. */
static void test_group_write_failure(void **state)
{
	struct fx *f = *state;
	open_loop(f);
	struct err e = {0};
	int ncalled = 0;
	struct waiter a = {.ncalled = &ncalled}, b = {.ncalled = &ncalled};
	/* A trigger (made through another connection) makes one insert fail. */
	autofree char *path = xasprintf("%s/lambdad.db", f->data);
	exec_sql(path, "CREATE TRIGGER poison BEFORE INSERT ON items WHEN NEW.key = 'poison' "
	               "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
	assert_int_equal(store_put(f->st, "c", "before", "v", 1, 0, NULL, &e), 0);
	store_group_wait(f->st, waiter_cb, &a);
	assert_int_equal(store_put(f->st, "c", "poison", "v", 1, STORE_REV_ANY, NULL, &e), -EIO);
	store_group_wait(f->st, waiter_cb, &b);
	run_until(f->base, &ncalled, 2);
	assert_int_equal(a.status, -EIO);
	assert_int_equal(b.status, -EIO);
	assert_int_equal(store_get(f->st, "c", "before", NULL, NULL, NULL, &e), -ENOENT);
}

/* ---- migration of a data directory of the previous format ---- */

/* The three databases as the previous lambdad wrote them (same DDL). */
static void make_old_dir(const char *data)
{
	assert_int_equal(mkdir(data, 0755), 0);
	autofree char *main_db = xasprintf("%s/lambdad.db", data);
	autofree char *async_db = xasprintf("%s/async.db", data);
	autofree char *apigw_db = xasprintf("%s/apigw.db", data);
	exec_sql(
	    main_db,
	    "PRAGMA journal_mode=WAL;"
	    "CREATE TABLE functions (name TEXT PRIMARY KEY, config TEXT NOT NULL);"
	    "CREATE TABLE scaling (name TEXT PRIMARY KEY, reserved INTEGER NOT NULL, provisioned INTEGER "
	    "NOT NULL, provisioned_modified_ms INTEGER NOT NULL, keep_alive_ms INTEGER NOT NULL);"
	    "CREATE TABLE function_urls (name TEXT PRIMARY KEY, url_id TEXT NOT NULL UNIQUE, config TEXT "
	    "NOT NULL);"
	    "INSERT INTO functions VALUES('fa', '{\"FunctionName\":\"fa\"}'), ('fb', "
	    "'{\"FunctionName\":\"fb\"}');"
	    "INSERT INTO scaling VALUES('fa', 5, 2, 1764000000123, -1);"
	    "INSERT INTO function_urls VALUES('fa', 'abcdefghijklmnopqrstuvwxyz012345', "
	    "'{\"AuthType\":\"NONE\",\"InvokeMode\":\"BUFFERED\"}');");
	exec_sql(
	    async_db,
	    "PRAGMA journal_mode=WAL;"
	    "CREATE TABLE events (id TEXT PRIMARY KEY, fn TEXT NOT NULL, payload BLOB NOT NULL, accepted_ms "
	    "INTEGER NOT NULL, due_ms INTEGER NOT NULL, attempts INTEGER NOT NULL, last_error TEXT);"
	    "CREATE TABLE failed (id TEXT PRIMARY KEY, fn TEXT NOT NULL, payload BLOB NOT NULL, accepted_ms "
	    "INTEGER NOT NULL, failed_ms INTEGER NOT NULL, attempts INTEGER NOT NULL, condition TEXT NOT "
	    "NULL, reason TEXT NOT NULL, last_error TEXT);"
	    "CREATE INDEX failed_fn ON failed(fn, failed_ms);"
	    "CREATE TABLE configs (fn TEXT PRIMARY KEY, max_retries INTEGER NOT NULL, max_age_s INTEGER NOT "
	    "NULL, on_success TEXT, on_failure TEXT, modified_ms INTEGER NOT NULL);"
	    "INSERT INTO events VALUES('e2', 'fa', '{\"n\":2}', 2000, 9000, 1, '{\"errorMessage\":\"x\"}');"
	    "INSERT INTO events VALUES('e1', 'fa', '{\"n\":1}', 1000, 1000, 0, NULL);"
	    "INSERT INTO failed VALUES('e0', 'fb', '{\"n\":0}', 500, 600, 3, 'RetriesExhausted', 'kept', "
	    "NULL);"
	    "INSERT INTO configs VALUES('fa', 1, 60, NULL, "
	    "'arn:aws:lambda:us-east-1:000000000000:function:fb', "
	    "42);");
	exec_sql(apigw_db,
	         "PRAGMA journal_mode=WAL;"
	         "CREATE TABLE apis (id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, doc TEXT NOT NULL);"
	         "INSERT INTO apis VALUES('api0000001', 7, '{\"api\":{\"name\":\"a\"}}');");
}

static char *get_text(struct store *st, const char *coll, const char *key)
{
	struct err e = {0};
	char *v = NULL;
	if (store_get(st, coll, key, &v, NULL, NULL, &e) != 0)
		fail_msg("get %s/%s: %d %s", coll, key, e.code, e.msg);
	return v;
}

static int qitems_cb(const struct store_qitem *it, void *arg)
{
	return leased_cb(it, arg);
}

static bool exists(const char *data, const char *name)
{
	autofree char *p = xasprintf("%s/%s", data, name);
	struct stat sb;
	return stat(p, &sb) == 0;
}

static void check_migrated(struct store *st, const char *data)
{
	struct err e = {0};
	autofree char *fa = get_text(st, "functions", "fa");
	assert_string_equal(fa, "{\"FunctionName\":\"fa\"}");
	autofree char *fb = get_text(st, "functions", "fb");
	assert_non_null(fb);
	autofree char *sc = get_text(st, "scaling", "fa");
	assert_string_equal(sc, "{\"reserved\":5,\"provisioned\":2,\"provisioned_modified_ms\":1764000000123,"
	                        "\"keep_alive_ms\":-1}");
	autofree char *url = get_text(st, "function_urls", "fa");
	assert_string_equal(url, "{\"AuthType\":\"NONE\",\"InvokeMode\":\"BUFFERED\",\"UrlId\":"
	                         "\"abcdefghijklmnopqrstuvwxyz012345\"}");
	autofree char *cfg = get_text(st, "async.configs", "fa");
	assert_string_equal(cfg, "{\"max_retries\":1,\"max_age_s\":60,\"on_success\":null,\"on_failure\":"
	                         "\"arn:aws:lambda:us-east-1:000000000000:function:fb\",\"modified_ms\":42}");
	autofree char *failed = get_text(st, "async.failed", "fb/e0");
	assert_non_null(strstr(failed, "\"condition\":\"RetriesExhausted\""));
	assert_non_null(strstr(failed, "\"payload_bytes\":7"));
	autofree char *fp = get_text(st, "async.failed_payload", "fb/e0");
	assert_string_equal(fp, "{\"n\":0}");
	autofree char *api = get_text(st, "apigw.apis", "api0000001");
	assert_string_equal(api, "{\"created_ms\":7,\"doc\":{\"api\":{\"name\":\"a\"}}}");
	/* Pending events: the queue, in visible-at order, acceptance order as sequence. */
	struct leased l = {0};
	assert_int_equal(store_qscan(st, "async.events", qitems_cb, &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.payload[0], "{\"n\":1}");
	assert_string_equal(l.payload[1], "{\"n\":2}");
	assert_true(l.rc[0].seq < l.rc[1].seq);
	assert_false(exists(data, "async.db"));
	assert_false(exists(data, "apigw.db"));
}

static void test_migrate_old_dir(void **state)
{
	struct fx *f = *state;
	make_old_dir(f->data);
	f->st = open_ok(f->data);
	check_migrated(f->st, f->data);
	/* Once is enough: a reopen changes nothing. */
	store_free(f->st);
	f->st = open_ok(f->data);
	check_migrated(f->st, f->data);
}

/* A migration that fails midway leaves the old files as they were; the next start
 * redoes it. Here apigw.db is damaged after async.db was read. */
static void test_migrate_redone_after_failure(void **state)
{
	struct fx *f = *state;
	make_old_dir(f->data);
	autofree char *apigw_db = xasprintf("%s/apigw.db", f->data);
	autofree char *saved = xasprintf("%s/apigw.db.saved", f->tmp);
	assert_int_equal(rename(apigw_db, saved), 0);
	FILE *junk = fopen(apigw_db, "w");
	assert_non_null(junk);
	fputs("this is not an SQLite database, but long enough to look like a header..............", junk);
	fclose(junk);
	struct store *st = NULL;
	struct err e = {0};
	assert_true(store_new(f->data, &st, &e) < 0);
	assert_null(st);
	/* Nothing was taken: the old tables and files are all there. */
	assert_true(exists(f->data, "async.db"));
	autofree char *main_db = xasprintf("%s/lambdad.db", f->data);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(main_db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM functions", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rename(saved, apigw_db), 0);
	f->st = open_ok(f->data);
	check_migrated(f->st, f->data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_revisions, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_order_and_paging, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_queue_lease_ack, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_fsync_failure, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_unwaited_rides_on_next, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_unwaited_synced_later, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_wal_written_ahead, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_write_failure, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_old_dir, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_redone_after_failure, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
