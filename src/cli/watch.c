/* `lambdad deploy --watch`: waits for changes below a directory (inotify on every
 * directory that .lambdadignore does not exclude), debounced. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_int.h"

#define WATCH_MASK                                                                                           \
	(IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |      \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

struct cli_watch {
	int fd;                      /* inotify */
	const char *root;            /* borrowed */
	const struct cli_ignore *ig; /* borrowed */
	char **dirs;                 /* by watch descriptor: the directory below root ("" the root) */
	size_t ndirs;
};

void cli_watch_free(struct cli_watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i]);
	free(w->dirs);
	free(w);
}

/* Watches directory rel (below root) and, recursively, those below it. */
static int watch_add(struct cli_watch *w, const char *rel, struct err *errp)
{
	autofree char *path = *rel ? xasprintf("%s/%s", w->root, rel) : xstrdup(w->root);
	int wd = inotify_add_watch(w->fd, path, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			return err_make(errp, ENOSPC,
			                "watch %s: too many directories for inotify (raise the sysctl "
			                "fs.inotify.max_user_watches, or exclude some in %s)",
			                path, CLI_IGNORE_FILE);
		if (errno == ENOENT || errno == ENOTDIR)
			return 0; /* gone since it was listed: the change that removed it is seen */
		return err_make(errp, errno, "watch %s: %s", path, strerror(errno));
	}
	if ((size_t)wd >= w->ndirs) {
		size_t n = (size_t)wd + 16;
		w->dirs = xrealloc(w->dirs, n * sizeof(*w->dirs));
		memset(w->dirs + w->ndirs, 0, (n - w->ndirs) * sizeof(*w->dirs));
		w->ndirs = n;
	}
	free(w->dirs[wd]);
	w->dirs[wd] = xstrdup(rel);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : err_make(errp, errno, "watch %s: %s", path, strerror(errno));
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		autofree char *sub = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		if (!cli_ignore_match(w->ig, sub, true))
			r = watch_add(w, sub, errp);
	}
	closedir(d);
	return r;
}

int cli_watch_new(const char *dir, const struct cli_ignore *ig, struct cli_watch **out, struct err *errp)
{
	struct cli_watch *w = xcalloc(1, sizeof(*w));
	w->root = dir;
	w->ig = ig;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		int e = errno;
		cli_watch_free(w);
		return err_make(errp, e, "inotify: %s", strerror(e));
	}
	int r = watch_add(w, "", errp);
	if (r < 0) {
		cli_watch_free(w);
		return r;
	}
	*out = w;
	return 0;
}

int cli_watch_take(struct cli_watch *w, struct err *errp)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changed = 0;
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return changed;
		if (n <= 0)
			return err_make(errp, n < 0 ? errno : EIO, "read inotify: %s",
			                strerror(n < 0 ? errno : EIO));
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				changed = 1; /* events were lost: take it as a change */
				continue;
			}
			if (ev->mask & IN_IGNORED || ev->wd < 0 || (size_t)ev->wd >= w->ndirs ||
			    !w->dirs[ev->wd])
				continue;
			const char *dir = w->dirs[ev->wd];
			if (ev->len == 0 || !ev->name[0]) {
				changed = 1; /* the directory itself: moved, removed, its mode changed */
				continue;
			}
			autofree char *rel = *dir ? xasprintf("%s/%s", dir, ev->name) : xstrdup(ev->name);
			/* The ignore file is left out of the zip, but it changes what goes in. */
			bool is_dir = ev->mask & IN_ISDIR;
			if (strcmp(rel, CLI_IGNORE_FILE) != 0 && cli_ignore_match(w->ig, rel, is_dir))
				continue;
			changed = 1;
			/* A new directory is watched at once, so writes into it extend the debounce. */
			int r = is_dir && ev->mask & (IN_CREATE | IN_MOVED_TO) ? watch_add(w, rel, errp) : 0;
			if (r < 0)
				return r;
		}
	}
}

int cli_watch_wait(struct cli_watch *w, const sigset_t *stop, long debounce_ms, struct err *errp)
{
	autoclose int sfd = signalfd(-1, stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		return err_make(errp, errno, "signalfd: %s", strerror(errno));
	bool seen = false;
	for (;;) {
		struct pollfd pf[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		int n = poll(pf, 2, seen ? (int)debounce_ms : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_make(errp, errno, "poll: %s", strerror(errno));
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			return 0;
		}
		if (n == 0)
			return 1; /* quiet for debounce_ms after a change */
		int r = cli_watch_take(w, errp);
		if (r < 0)
			return r;
		if (r)
			seen = true;
	}
}
