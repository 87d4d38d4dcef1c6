/* Extracts an uploaded deployment package (zip) into a fresh directory, refusing anything
 * that could be written or point outside it, and counting the bytes it really writes. */
#include "store/codezip.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* AWS's wording for any zip it cannot or will not unpack. */
#define CODEZIP_BAD_ZIP "Could not unzip uploaded file. Please check your file, then try to upload again."
#define CODEZIP_BLOCK (64 * 1024) /* bytes read from libarchive per call */
#define CODEZIP_MAX_HOPS 40       /* symlinks followed per lookup, as the kernel's MAXSYMLINKS */
#define CODEZIP_NAME_SHOWN 120    /* bytes of an entry name quoted in a message */

/* A directory entry whose mtime is set once the tree is complete: every file made in
 * it afterwards would move it again. */
struct dir_time {
	char *norm;
	struct timespec mtime;
};

struct xtract {
	struct archive *ar;
	int root; /* fd of the temporary directory being filled */
	const struct codezip_limits *lim;
	struct codezip_info *info;
	char **links; /* normalized paths of the symlinks made so far */
	size_t nlinks;
	size_t links_cap;
	struct dir_time *dirs; /* directory entries with an mtime, in zip order */
	size_t ndirs;
	size_t dirs_cap;
	char *buf; /* CODEZIP_BLOCK bytes */
	struct err *errp;
};

static bool is_dot(const char *p, size_t n)
{
	return n == 1 && p[0] == '.';
}
static bool is_dotdot(const char *p, size_t n)
{
	return n == 2 && p[0] == '.' && p[1] == '.';
}

/* Copies an entry name into out[CODEZIP_NAME_SHOWN + 4] for a message: printable ASCII
 * only, since the message may end up in JSON or a terminal. */
static void name_for_msg(const char *name, char *out)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (o == CODEZIP_NAME_SHOWN) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		out[o++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? (char)*p : '?';
	}
	out[o] = '\0';
}

static int bad_entry(struct xtract *x, int code, const char *name, const char *why)
{
	char shown[CODEZIP_NAME_SHOWN + 4];
	name_for_msg(name, shown);
	return err_make(x->errp, code, CODEZIP_BAD_ZIP " (entry \"%s\": %s)", shown, why);
}

static int bad_zip(struct xtract *x)
{
	const char *detail = archive_error_string(x->ar);
	return err_make(x->errp, EINVAL, CODEZIP_BAD_ZIP " (%s)", detail ? detail : "unreadable zip");
}

static int sys_entry(struct xtract *x, int code, const char *name, const char *what)
{
	char shown[CODEZIP_NAME_SHOWN + 4];
	name_for_msg(name, shown);
	return err_make(x->errp, code, "cannot extract \"%s\": %s: %s", shown, what, strerror(code));
}

/* Normalizes an entry name to "a/b/c" (no empty or "." components) in *out (owned) with
 * its component count in *depth. Refuses absolute names and ".." anywhere with -EPERM,
 * and names that are too long with -EINVAL; *why says which. */
static int path_normalize(const char *name, char **out, size_t *depth, const char **why)
{
	size_t len = strlen(name);
	if (name[0] == '/') {
		*why = "absolute path";
		return -EPERM;
	}
	if (len >= PATH_MAX) {
		*why = "name too long";
		return -EINVAL;
	}
	autofree char *norm = xmalloc(len + 1);
	size_t o = 0, n = 0;
	const char *p = name;
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t cl = (size_t)(e - p);
		if (is_dotdot(p, cl)) {
			*why = "path contains \"..\"";
			return -EPERM;
		}
		if (cl > NAME_MAX) {
			*why = "name too long";
			return -EINVAL;
		}
		if (cl > 0 && !is_dot(p, cl)) {
			if (o)
				norm[o++] = '/';
			memcpy(norm + o, p, cl);
			o += cl;
			n++;
		}
		p = *e ? e + 1 : e;
	}
	norm[o] = '\0';
	*out = steal_ptr(&norm);
	*depth = n;
	return 0;
}

/* Tells whether a relative symlink target, read from a directory `depth` levels below
 * the root, stays inside the root when taken lexically. */
static bool target_stays_inside(size_t depth, const char *target)
{
	size_t d = depth;
	const char *p = target;
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t cl = (size_t)(e - p);
		if (is_dotdot(p, cl)) {
			if (d == 0)
				return false;
			d--;
		} else if (cl > 0 && !is_dot(p, cl)) {
			d++;
		}
		p = *e ? e + 1 : e;
	}
	return true;
}

/* Makes way for a new entry at dfd/name: an earlier file or symlink of the same name is
 * removed (the last entry wins, as with unzip), a directory is a conflict. */
static int replace_existing(struct xtract *x, int dfd, const char *leaf, const char *name)
{
	struct stat st;
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sys_entry(x, errno, name, "stat");
	if (S_ISDIR(st.st_mode))
		return bad_entry(x, EINVAL, name, "conflicts with a directory of the same name");
	if (unlinkat(dfd, leaf, 0) < 0)
		return sys_entry(x, errno, name, "replace");
	return 0;
}

/* Opens (creating it 0755 if missing) the directory dfd/leaf without following a
 * symlink. Returns an owned fd or a negative errno with a message. */
static int open_subdir(struct xtract *x, int dfd, const char *leaf, const char *name)
{
	bool made = mkdirat(dfd, leaf, 0755) == 0;
	if (!made && errno != EEXIST)
		return sys_entry(x, errno, name, "mkdir");
	int fd = openat(dfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		struct stat st;
		if (e == ELOOP || (e == ENOTDIR && fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		                   S_ISLNK(st.st_mode)))
			return bad_entry(x, EPERM, name, "path goes through a symbolic link");
		if (e == ENOTDIR)
			return bad_entry(x, EINVAL, name, "path goes through a file");
		return sys_entry(x, e, name, "open directory");
	}
	if (made && fchmod(fd, 0755) < 0) {
		int e = errno;
		close(fd);
		return sys_entry(x, e, name, "chmod");
	}
	return fd;
}

/* Opens the directory that will hold the last component of norm, creating the missing
 * ones and never passing through anything but real directories; *leaf points into norm.
 * Returns an owned fd or a negative errno with a message. */
static int open_parent(struct xtract *x, char *norm, const char *name, const char **leaf)
{
	int cur = -1;
	char *p = norm;
	char *slash;
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		int fd = open_subdir(x, cur < 0 ? x->root : cur, p, name);
		*slash = '/';
		if (cur >= 0)
			close(cur);
		if (fd < 0)
			return fd;
		cur = fd;
		p = slash + 1;
	}
	*leaf = p;
	if (cur < 0 && (cur = fcntl(x->root, F_DUPFD_CLOEXEC, 0)) < 0)
		return sys_entry(x, errno, name, "dup");
	return cur;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int too_big(struct xtract *x)
{
	return err_make(x->errp, EFBIG, "Unzipped size must be smaller than %llu bytes",
	                (unsigned long long)x->lim->max_unzipped_bytes);
}

/* The entry's modification time in *ts (false when the zip gives none). The zip's DOS
 * time is local time with 2 s steps; an extended timestamp field (zip(1), most tools)
 * gives UTC seconds; libarchive reads both. */
static bool entry_mtime(struct archive_entry *e, struct timespec *ts)
{
	if (!archive_entry_mtime_is_set(e))
		return false;
	ts->tv_sec = (time_t)archive_entry_mtime(e);
	long ns = archive_entry_mtime_nsec(e);
	ts->tv_nsec = ns >= 0 && ns < 1000000000L ? ns : 0;
	return true;
}

/* Sets atime and mtime of dfd/leaf (fd >= 0: of fd instead) to mtime, without following
 * a symlink. A time the filesystem cannot hold leaves the extraction time: the package
 * is no less usable for it. */
static int set_mtime(struct xtract *x, int fd, int dfd, const char *leaf, const struct timespec *mtime,
                     const char *name)
{
	const struct timespec ts[2] = {*mtime, *mtime};
	int r = fd >= 0 ? futimens(fd, ts) : utimensat(dfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	if (r < 0 && errno != EINVAL && errno != EOVERFLOW && errno != ERANGE)
		return sys_entry(x, errno, name, "set modification time");
	return 0;
}

/* Writes the current entry's data to dfd/leaf, counting every byte against the limit,
 * then gives it mode and the entry's mtime (if any). */
static int extract_file(struct xtract *x, int dfd, const char *leaf, const char *name, mode_t mode,
                        const struct timespec *mtime)
{
	int r;
	autoclose int fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		if ((r = replace_existing(x, dfd, leaf, name)) < 0)
			return r;
		fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return sys_entry(x, errno, name, "create");
	for (;;) {
		la_ssize_t n = archive_read_data(x->ar, x->buf, CODEZIP_BLOCK);
		if (n == 0)
			break;
		if (n < 0)
			return bad_zip(x);
		if ((uint64_t)n > x->lim->max_unzipped_bytes - x->info->unzipped_bytes)
			return too_big(x);
		x->info->unzipped_bytes += (uint64_t)n;
		if ((r = write_all(fd, x->buf, (size_t)n)) < 0)
			return sys_entry(x, -r, name, "write");
	}
	if (fchmod(fd, mode) < 0)
		return sys_entry(x, errno, name, "chmod");
	if (mtime && (r = set_mtime(x, fd, -1, NULL, mtime, name)) < 0)
		return r;
	if (close(steal_fd(&fd)) < 0)
		return sys_entry(x, errno, name, "close");
	return 0;
}

static int extract_symlink(struct xtract *x, int dfd, const char *leaf, const char *norm, size_t depth,
                           const char *name, const char *target, const struct timespec *mtime)
{
	int r;
	if (!target || !*target)
		return bad_entry(x, EINVAL, name, "symbolic link without a target");
	if (strlen(target) >= PATH_MAX)
		return bad_entry(x, EINVAL, name, "symbolic link target too long");
	if (target[0] == '/')
		return bad_entry(x, EPERM, name, "symbolic link to an absolute path");
	if (!target_stays_inside(depth - 1, target))
		return bad_entry(x, EPERM, name, "symbolic link points outside the package");
	if (symlinkat(target, dfd, leaf) < 0) {
		if (errno != EEXIST)
			return sys_entry(x, errno, name, "symlink");
		if ((r = replace_existing(x, dfd, leaf, name)) < 0)
			return r;
		if (symlinkat(target, dfd, leaf) < 0)
			return sys_entry(x, errno, name, "symlink");
	}
	if (mtime && (r = set_mtime(x, -1, dfd, leaf, mtime, name)) < 0)
		return r;
	if (x->nlinks == x->links_cap) {
		x->links_cap = x->links_cap ? 2 * x->links_cap : 16;
		x->links = xrealloc(x->links, x->links_cap * sizeof(*x->links));
	}
	x->links[x->nlinks++] = xstrdup(norm);
	return 0;
}

static int extract_entry(struct xtract *x, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	const char *why = NULL;
	autofree char *norm = NULL;
	size_t depth;
	int r;

	if (!name || !*name)
		return err_make(x->errp, EINVAL, CODEZIP_BAD_ZIP " (an entry has no name)");
	if (archive_entry_hardlink(e))
		return bad_entry(x, EPERM, name, "hard links are not allowed");
	mode_t type = archive_entry_filetype(e);
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return bad_entry(x, EPERM, name, "only files, directories and symbolic links are allowed");
	if ((r = path_normalize(name, &norm, &depth, &why)) < 0)
		return bad_entry(x, -r, name, why);
	if (depth == 0) {
		if (type == AE_IFDIR)
			return 0; /* "./" names the root itself */
		return bad_entry(x, EINVAL, name, "empty name");
	}
	if (type == AE_IFREG && archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
	    (uint64_t)archive_entry_size(e) > x->lim->max_unzipped_bytes - x->info->unzipped_bytes)
		return too_big(x);

	const char *leaf;
	autoclose int dfd = open_parent(x, norm, name, &leaf);
	if (dfd < 0)
		return dfd;
	struct timespec mt;
	bool has_mt = entry_mtime(e, &mt);
	switch (type) {
	case AE_IFDIR: {
		int fd = open_subdir(x, dfd, leaf, name);
		if (fd < 0)
			return fd;
		r = fchmod(fd, 0755) < 0 ? sys_entry(x, errno, name, "chmod") : 0;
		close(fd);
		if (r == 0 && has_mt) {
			if (x->ndirs == x->dirs_cap) {
				x->dirs_cap = x->dirs_cap ? 2 * x->dirs_cap : 16;
				x->dirs = xrealloc(x->dirs, x->dirs_cap * sizeof(*x->dirs));
			}
			x->dirs[x->ndirs++] = (struct dir_time){.norm = steal_ptr(&norm), .mtime = mt};
		}
		return r;
	}
	case AE_IFLNK:
		return extract_symlink(x, dfd, leaf, norm, depth, name, archive_entry_symlink(e),
		                       has_mt ? &mt : NULL);
	default: {
		/* Readable by all, and executable by all if the zip makes it executable for
		 * anyone: the function runs as another uid than the files' owner, and a zip
		 * made under umask 027 must still run. Never setuid, setgid or sticky. */
		mode_t mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
		if (depth == 1 && strcmp(leaf, "bootstrap") == 0)
			mode = 0755;
		return extract_file(x, dfd, leaf, name, mode, has_mt ? &mt : NULL);
	}
	}
}

/* Follows `path` inside the finished tree the way the kernel would, symlinks included,
 * and returns -EPERM if the lookup ever climbs above the root or reaches an absolute
 * target. Dangling and looping links cannot lead anywhere and are accepted. */
static int resolve_inside(int root, const char *path)
{
	autofree char *rest = xstrdup(path); /* components still to look up */
	autofree char *cur = xstrdup("");    /* the real directory reached so far, "" for the root */
	autofree char *target = xmalloc(PATH_MAX);
	unsigned hops = 0;
	const char *p = rest;

	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t cl = (size_t)(e - p);
		const char *next = *e ? e + 1 : e;
		if (cl == 0 || is_dot(p, cl)) {
			p = next;
			continue;
		}
		if (is_dotdot(p, cl)) {
			if (!*cur)
				return -EPERM;
			char *slash = strrchr(cur, '/');
			*(slash ? slash : cur) = '\0';
			p = next;
			continue;
		}
		/* cur holds only directories already checked not to be symlinks, so the
		 * kernel follows nothing on the way to the candidate. */
		autofree char *cand = *cur ? xasprintf("%s/%.*s", cur, (int)cl, p) : xstrndup(p, cl);
		struct stat st;
		if (fstatat(root, cand, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG) ? 0 : -errno;
		if (S_ISDIR(st.st_mode)) {
			free(cur);
			cur = steal_ptr(&cand);
			p = next;
			continue;
		}
		if (!S_ISLNK(st.st_mode))
			return 0; /* a file ends the lookup, or fails it with ENOTDIR */
		if (++hops > CODEZIP_MAX_HOPS)
			return 0; /* ELOOP */
		ssize_t n = readlinkat(root, cand, target, PATH_MAX - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		if (target[0] == '/')
			return -EPERM;
		char *more = xasprintf("%s/%s", target, next);
		free(rest);
		rest = more;
		p = rest;
	}
	return 0;
}

/* Checks every symlink once the tree is complete, since a link that looks harmless on
 * its own can escape through another one (a -> b/.., b -> c/d, c/d -> ..). */
static int check_links(struct xtract *x)
{
	for (size_t i = 0; i < x->nlinks; i++) {
		int r = resolve_inside(x->root, x->links[i]);
		if (r == -EPERM)
			return bad_entry(x, EPERM, x->links[i], "symbolic link points outside the package");
		if (r < 0)
			return sys_entry(x, -r, x->links[i], "check symbolic link");
	}
	return 0;
}

static int extract_all(struct xtract *x, const void *data, size_t len)
{
	struct archive_entry *e;
	int r;

	if (len == 0)
		return err_make(x->errp, EINVAL, CODEZIP_BAD_ZIP " (empty file)");
	/* The seekable reader trusts the central directory only, as unzip does; a zip
	 * without one is refused instead of being guessed from its local headers. */
	if (archive_read_support_format_zip_seekable(x->ar) != ARCHIVE_OK ||
	    archive_read_open_memory(x->ar, data, len) != ARCHIVE_OK)
		return bad_zip(x);
	for (;;) {
		r = archive_read_next_header(x->ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return bad_zip(x);
		if (x->info->entries >= x->lim->max_entries)
			return err_make(x->errp, EFBIG, "Zip file must have at most %u entries",
			                (unsigned)x->lim->max_entries);
		x->info->entries++;
		if ((r = extract_entry(x, e)) < 0)
			return r;
	}
	if ((r = check_links(x)) < 0)
		return r;
	/* Directories last, so the files made in them do not move their times again. Every
	 * recorded path is a real directory reached through real directories: a later entry
	 * can neither replace a directory nor be made through a symlink. */
	for (size_t i = x->ndirs; i-- > 0;)
		if ((r = set_mtime(x, -1, x->root, x->dirs[i].norm, &x->dirs[i].mtime, x->dirs[i].norm)) < 0)
			return r;
	struct stat st;
	x->info->has_bootstrap =
	    fstatat(x->root, "bootstrap", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	if (fchmod(x->root, 0755) < 0)
		return err_make(x->errp, errno, "chmod extracted package: %s", strerror(errno));
	return 0;
}

int codezip_extract(const void *data, size_t len, const char *dir, const struct codezip_limits *lim,
                    struct codezip_info *info, struct err *errp)
{
	static const struct codezip_limits defaults = {CODEZIP_MAX_UNZIPPED, CODEZIP_MAX_ENTRIES};
	struct codezip_info scratch;
	struct stat st;
	int r;

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	autofree char *dst = xstrdup(dir ? dir : "");
	size_t dl = strlen(dst);
	while (dl > 1 && dst[dl - 1] == '/')
		dst[--dl] = '\0';
	if (dl == 0 || strcmp(dst, "/") == 0)
		return err_make(errp, EINVAL, "invalid extraction directory \"%s\"", dst);
	if (lstat(dst, &st) == 0)
		return err_make(errp, EEXIST, "%s already exists", dst);
	if (errno != ENOENT)
		return err_make(errp, errno, "%s: %s", dst, strerror(errno));

	autofree char *tmp = xasprintf("%s.tmp-XXXXXX", dst);
	if (!mkdtemp(tmp))
		return err_make(errp, errno, "cannot create a directory next to %s: %s", dst,
		                strerror(errno));
	struct xtract x = {
	    .ar = archive_read_new(),
	    .root = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
	    .lim = lim ? lim : &defaults,
	    .info = info,
	    .buf = xmalloc(CODEZIP_BLOCK),
	    .errp = errp,
	};
	if (!x.ar)
		r = err_make(errp, ENOMEM, "cannot start reading the zip");
	else if (x.root < 0)
		r = err_make(errp, errno, "%s: %s", tmp, strerror(errno));
	else
		r = extract_all(&x, data, len);

	if (x.ar)
		archive_read_free(x.ar);
	if (x.root >= 0)
		close(x.root);
	for (size_t i = 0; i < x.nlinks; i++)
		free(x.links[i]);
	free(x.links);
	for (size_t i = 0; i < x.ndirs; i++)
		free(x.dirs[i].norm);
	free(x.dirs);
	free(x.buf);

	if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) < 0) {
		/* Some filesystems lack RENAME_NOREPLACE; the lstat above has to do then. */
		if ((errno == EINVAL || errno == ENOSYS) && lstat(dst, &st) < 0 && errno == ENOENT)
			r = rename(tmp, dst) < 0 ? -errno : 0;
		else
			r = -errno;
		if (r < 0)
			err_make(errp, -r, "cannot move the extracted package to %s: %s", dst, strerror(-r));
	}
	if (r < 0)
		codezip_rmtree(tmp);
	return r;
}

/* One directory on the way down: the subdirectories it still held after its files and
 * empty subdirectories went, and its identity to check when coming back up by "..". */
struct rm_frame {
	char **subs;
	size_t n;
	size_t next;
	dev_t dev;
	ino_t ino;
};

static void rm_frame_fini(struct rm_frame *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->subs[i]);
	free(f->subs);
}

/* Empties the directory open at fd of everything but non-empty subdirectories, which it
 * lists in a new frame on *stack. */
static int rm_enter(int fd, struct rm_frame **stack, size_t *depth, size_t *cap)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (*depth == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		*stack = xrealloc(*stack, *cap * sizeof(**stack));
	}
	struct rm_frame *f = &(*stack)[(*depth)++];
	*f = (struct rm_frame){.dev = st.st_dev, .ino = st.st_ino};
	size_t subs_cap = 0;

	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return -e;
	}
	rewinddir(d);
	int r = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		if (unlinkat(fd, nm, 0) == 0 || errno == ENOENT)
			continue;
		int first = errno;
		if (first != EISDIR && first != EPERM) {
			r = -first;
			break;
		}
		if (unlinkat(fd, nm, AT_REMOVEDIR) == 0 || errno == ENOENT)
			continue;
		if (errno == ENOTDIR) {
			r = -first;
			break;
		}
		if (errno != ENOTEMPTY && errno != EEXIST) {
			r = -errno;
			break;
		}
		if (f->n == subs_cap) {
			subs_cap = subs_cap ? 2 * subs_cap : 8;
			f->subs = xrealloc(f->subs, subs_cap * sizeof(*f->subs));
		}
		f->subs[f->n++] = xstrdup(nm);
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	return r;
}

int codezip_rmtree(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return unlink(dir) < 0 ? -errno : 0; /* a symlink goes, never its target */
		return -errno;
	}
	/* The walk holds one fd and climbs back by "..", checking each parent is the one it
	 * came from, so neither depth nor path length is limited by fds or PATH_MAX. */
	struct rm_frame *stack = NULL;
	size_t depth = 0, cap = 0;
	int r = rm_enter(fd, &stack, &depth, &cap);
	while (r == 0 && depth > 0) {
		struct rm_frame *f = &stack[depth - 1];
		if (f->next < f->n) {
			int child =
			    openat(fd, f->subs[f->next], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (child < 0) {
				r = -errno;
				break;
			}
			close(fd);
			fd = child;
			r = rm_enter(fd, &stack, &depth, &cap);
			continue;
		}
		rm_frame_fini(f);
		if (--depth == 0)
			break;
		int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0) {
			r = -errno;
			break;
		}
		close(fd);
		fd = parent;
		struct rm_frame *pf = &stack[depth - 1];
		struct stat st;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			break;
		}
		if (st.st_dev != pf->dev || st.st_ino != pf->ino) {
			r = -ESTALE; /* the tree moved while being removed */
			break;
		}
		if (unlinkat(fd, pf->subs[pf->next], AT_REMOVEDIR) < 0 && errno != ENOENT) {
			r = -errno;
			break;
		}
		pf->next++;
	}
	for (size_t i = 0; i < depth; i++)
		rm_frame_fini(&stack[i]);
	free(stack);
	close(fd);
	if (r == 0 && rmdir(dir) < 0)
		r = -errno;
	return r;
}
