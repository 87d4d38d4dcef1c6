/* The store's front: the backend chosen at open (its ops table), and the
 * content-addressed code blobs, which stay files under data_dir/code/. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"

struct store {
	char *dir;
	char *code_dir;
	const struct store_ops *ops;
	void *be;
};

struct store_sys store_sys = {.fdatasync = fdatasync};

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

int store_new(const char *data_dir, struct store **out, struct err *errp)
{
	int r;
	if ((r = mkdir_p(data_dir)) < 0)
		return err_make(errp, -r, "cannot create data directory %s: %s", data_dir, strerror(-r));
	/* Absolute from here on: sandboxes mount code directories by this path from their
	 * own root, where a relative one (make run's ./data) means nothing. */
	char *abs = realpath(data_dir, NULL);
	if (!abs)
		return err_make(errp, errno, "cannot resolve data directory %s: %s", data_dir,
		                strerror(errno));
	struct store *st = xcalloc(1, sizeof(*st));
	st->dir = abs;
	st->code_dir = xasprintf("%s/code", abs);
	if ((r = mkdir_p(st->code_dir)) < 0) {
		err_make(errp, -r, "cannot create %s: %s", st->code_dir, strerror(-r));
		store_free(st);
		return r;
	}
	st->ops = &store_sqlite_ops;
	if ((r = st->ops->new (abs, &st->be, errp)) < 0) {
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
	if (st->be) {
		st->ops->flush(st->be);
		st->ops->free(st->be);
	}
	free(st->dir);
	free(st->code_dir);
	free(st);
}

void store_set_loop(struct store *st, struct event_base *base, struct pool *pool)
{
	st->ops->set_loop(st->be, base, pool);
}

const char *store_data_dir(struct store *st)
{
	return st->dir;
}

/* Keys are checked here, once for every backend. */
static int bad_key(const char *key, struct err *errp)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > STORE_KEY_MAX || strchr(key, '\xff'))
		return err_make(errp, EINVAL, "store: invalid key");
	return 0;
}

int store_get(struct store *st, const char *coll, const char *key, char **value, size_t *len, uint64_t *rev,
              struct err *errp)
{
	int r = bad_key(key, errp);
	return r < 0 ? r : st->ops->get(st->be, coll, key, value, len, rev, errp);
}

int store_put(struct store *st, const char *coll, const char *key, const void *value, size_t len,
              uint64_t if_rev, uint64_t *rev, struct err *errp)
{
	int r = bad_key(key, errp);
	return r < 0 ? r : st->ops->put(st->be, coll, key, value, len, if_rev, rev, errp);
}

int store_del(struct store *st, const char *coll, const char *key, uint64_t if_rev, struct err *errp)
{
	int r = bad_key(key, errp);
	return r < 0 ? r : st->ops->del(st->be, coll, key, if_rev, errp);
}

int store_scan(struct store *st, const char *coll, const char *prefix, const char *start_after, size_t limit,
               store_scan_cb cb, void *arg, struct err *errp)
{
	return st->ops->scan(st->be, coll, prefix, start_after, limit, cb, arg, errp);
}

int store_qappend(struct store *st, const char *queue, const void *payload, size_t len, const char *attrs,
                  int64_t visible_at_ms, struct store_receipt *out, struct err *errp)
{
	return st->ops->qappend(st->be, queue, payload, len, attrs, visible_at_ms, out, errp);
}

int store_qlease(struct store *st, const char *queue, size_t max, int64_t now_ms, int64_t deadline_ms,
                 store_qitem_cb cb, void *arg, struct err *errp)
{
	return st->ops->qlease(st->be, queue, max, now_ms, deadline_ms, cb, arg, errp);
}

int store_qack(struct store *st, const char *queue, const struct store_receipt *rc, struct err *errp)
{
	return st->ops->qack(st->be, queue, rc, errp);
}

int store_qchange(struct store *st, const char *queue, const struct store_receipt *rc, int64_t visible_at_ms,
                  const char *attrs, struct err *errp)
{
	return st->ops->qchange(st->be, queue, rc, visible_at_ms, attrs, errp);
}

int store_qscan(struct store *st, const char *queue, store_qitem_cb cb, void *arg, struct err *errp)
{
	return st->ops->qscan(st->be, queue, cb, arg, errp);
}

char *store_qpayload(struct store *st, const char *queue, uint64_t seq, size_t *len)
{
	return st->ops->qpayload(st->be, queue, seq, len);
}

void store_group_wait(struct store *st, store_done_cb cb, void *arg)
{
	st->ops->group_wait(st->be, cb, arg);
}

int store_commit(struct store *st, struct err *errp)
{
	return st->ops->commit(st->be, errp);
}

void store_flush(struct store *st)
{
	st->ops->flush(st->be);
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

static __thread struct codezip_info *tree_info;

static int tree_size_cb(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)path;
	(void)f;
	if (flag == FTW_F && S_ISREG(sb->st_mode))
		tree_info->unzipped_bytes += (uint64_t)sb->st_size;
	tree_info->entries++;
	return 0;
}

/* Adds up the regular files' bytes and the entries of the tree dir into info. */
static void tree_size(const char *dir, struct codezip_info *info)
{
	tree_info = info;
	nftw(dir, tree_size_cb, 16, FTW_PHYS);
	tree_info = NULL;
	if (info->entries)
		info->entries--; /* the root itself */
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
		/* The sizes, which the 250 MB limit of code plus layers adds up. */
		tree_size(dpath, info);
		if (!had_zip && (r = write_durable(st->code_dir, zpath, zip, len, errp)) < 0)
			return r;
		return 0;
	}
	if ((r = codezip_extract(zip, len, dpath, NULL, info, errp)) < 0)
		return r;
	/* The extracted files on disk now, by the caller (a worker): left dirty, they would
	 * be flushed by the next commit's fdatasync, on the loop; and a crash could leave
	 * a complete-looking tree of empty files that store_ensure_code would not redo. */
	autoclose int dfd = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		syncfs(dfd);
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
