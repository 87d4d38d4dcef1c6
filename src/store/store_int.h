/* What the store's files share: the backend ops table (one per backend, chosen at
 * open) and the syscalls a test can make fail. */
#ifndef LAMBDAD_STORE_INT_H
#define LAMBDAD_STORE_INT_H

#include "store/store.h"

/* A backend. Each entry has the contract of the store_* function of the same name in
 * store.h, with the backend's own state (be) in place of the store. */
struct store_ops {
	const char *name;
	int (*new)(const char *data_dir, void **be, struct err *errp);
	void (*free)(void *be); /* after flush */
	void (*set_loop)(void *be, struct event_base *base, struct pool *pool);
	int (*get)(void *be, const char *coll, const char *key, char **value, size_t *len, uint64_t *rev,
	           struct err *errp);
	int (*put)(void *be, const char *coll, const char *key, const void *value, size_t len,
	           uint64_t if_rev, uint64_t *rev, struct err *errp);
	int (*del)(void *be, const char *coll, const char *key, uint64_t if_rev, struct err *errp);
	int (*scan)(void *be, const char *coll, const char *prefix, const char *start_after, size_t limit,
	            store_scan_cb cb, void *arg, struct err *errp);
	int (*qappend)(void *be, const char *queue, const void *payload, size_t len, const char *attrs,
	               int64_t visible_at_ms, struct store_receipt *out, struct err *errp);
	int (*qlease)(void *be, const char *queue, size_t max, int64_t now_ms, int64_t deadline_ms,
	              store_qitem_cb cb, void *arg, struct err *errp);
	int (*qack)(void *be, const char *queue, const struct store_receipt *rc, struct err *errp);
	int (*qchange)(void *be, const char *queue, const struct store_receipt *rc, int64_t visible_at_ms,
	               const char *attrs, struct err *errp);
	int (*qscan)(void *be, const char *queue, store_qitem_cb cb, void *arg, struct err *errp);
	char *(*qpayload)(void *be, const char *queue, uint64_t seq, size_t *len);
	void (*group_wait)(void *be, store_done_cb cb, void *arg);
	int (*commit)(void *be, struct err *errp);
	void (*flush)(void *be);
};

extern const struct store_ops store_sqlite_ops;
/* How long (ms) a committed group that nobody waits for may stay without its fdatasync
 * when no waited group comes to cover it (store_sqlite.c); tests change it. */
extern int store_sqlite_lazy_sync_ms;

/* Syscalls of the durable path, replaceable by tests (sqlite's aSyscall[] style). */
struct store_sys {
	int (*fdatasync)(int fd);
};
extern struct store_sys store_sys;

#endif
