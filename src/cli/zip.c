/* Zips a directory into memory for `lambdad deploy`: relative names, unix modes kept,
 * symbolic links stored as links and never followed out of the directory, what
 * .lambdadignore excludes left out. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_int.h"

#define ZIP_BLOCK (64 * 1024) /* bytes read from a file per call */

struct zipper {
	struct archive *ar;
	const char *root; /* the directory as the user named it, for messages */
	unsigned char *out;
	size_t len;
	size_t cap;
	unsigned char *io; /* ZIP_BLOCK bytes */
	const struct cli_ignore *ig;
	struct err *errp;
};

static la_ssize_t zip_write_cb(struct archive *a, void *ud, const void *buf, size_t n)
{
	struct zipper *z = ud;
	if (z->len + n > z->cap) {
		while (z->len + n > z->cap)
			z->cap = z->cap ? 2 * z->cap : 64 * 1024;
		z->out = xrealloc(z->out, z->cap);
	}
	memcpy(z->out + z->len, buf, n);
	z->len += n;
	return (la_ssize_t)n;
}

static int zip_sys(struct zipper *z, int code, const char *rel, const char *what)
{
	return err_make(z->errp, code, "zip %s/%s: %s: %s", z->root, rel, what, strerror(code));
}

static int zip_ar(struct zipper *z, const char *rel)
{
	const char *why = archive_error_string(z->ar);
	return err_make(z->errp, EIO, "zip %s/%s: %s", z->root, rel, why ? why : "libarchive failed");
}

/* Tells whether a relative symlink target, read in a directory `depth` levels below the
 * root, stays inside the root when taken lexically (as the server checks it). */
static bool zip_target_inside(size_t depth, const char *target)
{
	if (target[0] == '/')
		return false;
	size_t d = depth;
	const char *p = target;
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (d == 0)
				return false;
			d--;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			d++;
		}
		p = *e ? e + 1 : e;
	}
	return true;
}

static int zip_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the names in directory dfd (not "." or ".."), sorted bytewise so the same tree
 * gives the same zip. Returns the count and an owned array of owned names in *names. */
static int zip_list(struct zipper *z, int dfd, const char *rel, char ***names, size_t *count)
{
	int fd = dup(dfd);
	if (fd < 0)
		return zip_sys(z, errno, rel, "dup");
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return zip_sys(z, e, rel, "opendir");
	}
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(de->d_name);
		errno = 0;
	}
	int e = errno;
	closedir(d);
	if (e) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return zip_sys(z, e, rel, "readdir");
	}
	if (n)
		qsort(v, n, sizeof(*v), zip_cmp);
	*names = v;
	*count = n;
	return 0;
}

/* Writes the header of entry rel with st's type, mode and mtime; target for a link. */
static int zip_header(struct zipper *z, const char *rel, const struct stat *st, const char *target)
{
	struct archive_entry *e = archive_entry_new();
	if (!e) {
		fprintf(stderr, "lambdad: out of memory (archive_entry_new)\n");
		abort();
	}
	archive_entry_set_pathname(e, rel);
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
	archive_entry_set_size(e, S_ISREG(st->st_mode) ? st->st_size : 0);
	if (target)
		archive_entry_set_symlink(e, target);
	int r = archive_write_header(z->ar, e);
	archive_entry_free(e);
	/* ARCHIVE_WARN (e.g. a name not in the locale's charset) still wrote the entry. */
	return r < ARCHIVE_WARN ? zip_ar(z, rel) : 0;
}

static int zip_file(struct zipper *z, int dfd, const char *name, const char *rel)
{
	autoclose int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return zip_sys(z, errno, rel, "open");
	if (fstat(fd, &st) < 0)
		return zip_sys(z, errno, rel, "stat");
	if (!S_ISREG(st.st_mode))
		return err_make(z->errp, EAGAIN, "zip %s/%s: changed while being zipped", z->root, rel);
	int r = zip_header(z, rel, &st, NULL);
	if (r < 0)
		return r;
	off_t total = 0;
	for (;;) {
		ssize_t n = read(fd, z->io, ZIP_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return zip_sys(z, errno, rel, "read");
		if (n == 0)
			break;
		total += n;
		if (total > st.st_size)
			break;
		if (archive_write_data(z->ar, z->io, (size_t)n) < 0)
			return zip_ar(z, rel);
	}
	if (total != st.st_size)
		return err_make(z->errp, EAGAIN, "zip %s/%s: changed while being zipped", z->root, rel);
	return 0;
}

/* Adds everything in directory dfd, whose path below the root is prefix (NULL for the
 * root itself, then depth 0). */
static int zip_walk(struct zipper *z, int dfd, const char *prefix, size_t depth)
{
	char **names = NULL;
	size_t n = 0;
	int r = zip_list(z, dfd, prefix ? prefix : ".", &names, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *name = names[i];
		autofree char *rel = prefix ? xasprintf("%s/%s", prefix, name) : xstrdup(name);
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = zip_sys(z, errno, rel, "stat");
		} else if (cli_ignore_match(z->ig, rel, S_ISDIR(st.st_mode))) {
			continue;
		} else if (S_ISREG(st.st_mode)) {
			r = zip_file(z, dfd, name, rel);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = zip_sys(z, errno, rel, "open directory");
			} else {
				r = zip_header(z, rel, &st, NULL);
				if (r == 0)
					r = zip_walk(z, sub, rel, depth + 1);
				close(sub);
			}
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t tl = readlinkat(dfd, name, target, sizeof(target) - 1);
			if (tl < 0) {
				r = zip_sys(z, errno, rel, "readlink");
			} else {
				target[tl] = '\0';
				if (!zip_target_inside(depth, target))
					r = err_make(
					    z->errp, EPERM,
					    "zip %s/%s: symbolic link to \"%s\" points outside the directory",
					    z->root, rel, target);
				else
					r = zip_header(z, rel, &st, target);
			}
		} else {
			r = err_make(z->errp, EINVAL,
			             "zip %s/%s: not a regular file, directory or symbolic link", z->root,
			             rel);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int cli_zip_dir(const char *dir, const struct cli_ignore *ig, unsigned char **out, size_t *outlen,
                struct err *errp)
{
	autoclose int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return err_make(errp, errno, "%s: %s", dir, strerror(errno));
	struct zipper z = {.root = dir, .ig = ig, .errp = errp};
	size_t rl = strlen(dir);
	autofree char *shown = NULL;
	if (rl > 1 && dir[rl - 1] == '/') {
		/* Messages read "dir/file", not "dir//file". */
		while (rl > 1 && dir[rl - 1] == '/')
			rl--;
		z.root = shown = xstrndup(dir, rl);
	}
	autofree unsigned char *io = xmalloc(ZIP_BLOCK);
	z.io = io;
	z.ar = archive_write_new();
	if (!z.ar) {
		fprintf(stderr, "lambdad: out of memory (archive_write_new)\n");
		abort();
	}
	int r = 0;
	/* No padding after the central directory: the zip ends where it ends. */
	if (archive_write_set_format_zip(z.ar) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(z.ar, 1) != ARCHIVE_OK ||
	    archive_write_open(z.ar, &z, NULL, zip_write_cb, NULL) != ARCHIVE_OK)
		r = zip_ar(&z, ".");
	if (r == 0)
		r = zip_walk(&z, root, NULL, 0);
	if (r == 0 && archive_write_close(z.ar) != ARCHIVE_OK)
		r = zip_ar(&z, ".");
	archive_write_free(z.ar);
	if (r < 0) {
		free(z.out);
		return r;
	}
	*out = z.out ? z.out : xmalloc(1);
	*outlen = z.len;
	return 0;
}
