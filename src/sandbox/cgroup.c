/* Per-environment cgroups on cgroup v1 and v2: the two backends differ only in the
 * files they write, so they are two tables of operations over the same directory
 * handling (crun's cgroup-v1/v2 split). LINUX ONLY. */
#include "sandbox/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_V2_MOUNT "/sys/fs/cgroup"
#define CG_MAX_HIER 4            /* v1: memory, cpu, pids, freezer at most */
#define CG_CPU_PERIOD_US 100000  /* the CFS period written with every quota */
#define CG_CPU_MIN_QUOTA_US 1000 /* the kernel refuses smaller quotas */
#define CG_KILL_PASSES 64        /* passes over cgroup.procs before giving up on a forker */
#define CG_FREE_WAIT_MS 1000     /* how long removal waits for killed processes */
#define CG_V2_WEIGHT_MAX 10000   /* cpu.weight's range is 1..10000, default 100 */
#define CG_V2_WEIGHT_DEFAULT 100
#define CG_V1_SHARES_MIN 2 /* cpu.shares' range is 2..262144, default 1024 */
#define CG_V1_SHARES_MAX 262144
#define CG_V1_SHARES_DEFAULT 1024

enum cg_ctl { CTL_MEMORY = 1, CTL_CPU = 2, CTL_PIDS = 4, CTL_FREEZER = 8 };

static const struct {
	enum cg_ctl ctl;
	const char *name;
	bool required;
} ctl_names[] = {
    {CTL_MEMORY, "memory", true},
    {CTL_CPU, "cpu", true},
    {CTL_PIDS, "pids", true},
    {CTL_FREEZER, "freezer", false},
};

/* One mounted hierarchy (v2: the only one). */
struct cg_hier {
	char *own;     /* the server's own cgroup directory, absolute */
	char *dir;     /* own/<name>: this server's subtree */
	unsigned ctls; /* enum cg_ctl bits served by this hierarchy */
};

struct cg_ops {
	const char *kind;
	int (*set_limits)(struct cg *g, const struct cg_limits *l, struct err *errp);
	int (*set_cpu_quota)(struct cg *g, uint32_t cpu_millis, struct err *errp);
	int (*set_cpu_weight)(struct cg *g, uint32_t cpu_weight, struct err *errp);
	int (*peak_kb)(struct cg *g, uint64_t *kb);
	int (*oom_kills)(struct cg *g, uint64_t *n);
	int (*kill)(struct cg *g);
	int (*freeze)(struct cg *g, bool frozen);
};

struct cg_root {
	const struct cg_ops *ops;
	struct cg_hier h[CG_MAX_HIER];
	unsigned nh;
	char *leaf;       /* v2: own/<name>-server when the server moved itself, else NULL */
	unsigned enabled; /* v2 with leaf: controllers this server enabled in own */
};

struct cg {
	struct cg_root *r;
	char *dir[CG_MAX_HIER]; /* per hierarchy of r; NULL once removed */
	uint64_t mem_limit;     /* v1: the memory limit last written, bytes; UINT64_MAX = none */
};

/* ---- system calls ---- */

static int libc_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}
static void libc_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

const struct cg_sys cg_sys_libc = {
    .open = libc_open,
    .read = read,
    .write = write,
    .close = close,
    .access = access,
    .mkdir = mkdir,
    .rmdir = rmdir,
    .opendir = opendir,
    .readdir = readdir,
    .closedir = closedir,
    .kill = kill,
    .getpid = getpid,
    .sleep_ms = libc_sleep_ms,
};
const struct cg_sys *cg_sys = &cg_sys_libc;

/* ---- small file helpers: 0 or a negative errno ---- */

static bool path_exists(const char *path)
{
	return cg_sys->access(path, F_OK) == 0;
}

/* Writes s to the existing file path in one write(2), as cgroup files want. */
static int file_write(const char *path, const char *s)
{
	int fd = cg_sys->open(path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	size_t len = strlen(s);
	ssize_t n;
	do
		n = cg_sys->write(fd, s, len);
	while (n < 0 && errno == EINTR);
	int rc = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	cg_sys->close(fd);
	return rc;
}

/* Reads the whole file into *out (owned, NUL-terminated). */
static int file_read(const char *path, char **out)
{
	int fd = cg_sys->open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, len = 0;
	autofree char *buf = xmalloc(cap);
	for (;;) {
		if (cap - len < 2)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = cg_sys->read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			cg_sys->close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	cg_sys->close(fd);
	buf[len] = '\0';
	*out = steal_ptr(&buf);
	return 0;
}

static int file_read_u64(const char *path, uint64_t *v)
{
	autofree char *s = NULL;
	int rc = file_read(path, &s);
	if (rc < 0)
		return rc;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	*v = x;
	return 0;
}

/* Reads the value of "key value" in a flat keyed file (memory.events, oom_control). */
static int file_read_key(const char *path, const char *key, uint64_t *v)
{
	autofree char *s = NULL;
	int rc = file_read(path, &s);
	if (rc < 0)
		return rc;
	size_t klen = strlen(key);
	for (char *line = s; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*v = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	return -ENOTSUP;
}

/* Whether the whitespace-separated list s contains word. */
static bool has_word(const char *s, const char *word, const char *seps)
{
	size_t wl = strlen(word);
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, seps);
		if (n == wl && strncmp(p, word, wl) == 0)
			return true;
		p += n;
		p += strspn(p, seps);
	}
	return false;
}

static int write_err(struct err *errp, int rc, const char *path, const char *val)
{
	return err_make(errp, -rc, "cgroup: writing \"%s\" to %s: %s", val, path, strerror(-rc));
}

static int mkdir_err(struct err *errp, int rc, const char *path)
{
	if (rc == -EACCES || rc == -EPERM || rc == -EROFS)
		return err_make(errp, -rc,
		                "cgroup: mkdir %s: %s (lambdad needs write access to its own cgroup: "
		                "run it as root or in a delegated cgroup, e.g. systemd Delegate=yes)",
		                path, strerror(-rc));
	return err_make(errp, -rc, "cgroup: mkdir %s: %s", path, strerror(-rc));
}

/* ---- killing and removing ---- */

/* Sends SIGKILL to every process listed in dir/cgroup.procs, pass after pass, until a
 * pass finds nobody it has not signalled yet (a process may fork between the read and
 * the kill). Does not wait for them to exit. */
static int kill_procs(const char *dir)
{
	autofree char *path = xasprintf("%s/cgroup.procs", dir);
	autofree pid_t *done = NULL;
	size_t ndone = 0, cap = 0;
	for (int pass = 0; pass < CG_KILL_PASSES; pass++) {
		autofree char *s = NULL;
		int rc = file_read(path, &s);
		if (rc < 0)
			return rc;
		bool fresh = false;
		for (char *p = s; *p;) {
			char *end;
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			p = end;
			if (pid <= 0)
				continue;
			bool seen = false;
			for (size_t i = 0; i < ndone && !seen; i++)
				seen = done[i] == (pid_t)pid;
			if (seen)
				continue;
			if (ndone == cap)
				done = xrealloc(done, (cap = cap ? cap * 2 : 16) * sizeof(*done));
			done[ndone++] = (pid_t)pid;
			fresh = true;
			if (cg_sys->kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
				return -errno;
		}
		if (!fresh)
			return 0;
	}
	return -EAGAIN;
}

/* Calls fn on every subdirectory of dir, depth first after fn returns for the
 * parent when pre is true, before it otherwise. Stops at the first error. */
static int walk_tree(const char *dir, bool pre, int (*fn)(const char *))
{
	int rc;
	if (pre && (rc = fn(dir)) < 0)
		return rc;
	DIR *d = cg_sys->opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	rc = 0;
	struct dirent *de;
	while ((de = cg_sys->readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		autofree char *sub = xasprintf("%s/%s", dir, de->d_name);
		int r = walk_tree(sub, pre, fn);
		if (r < 0 && rc == 0)
			rc = r;
	}
	cg_sys->closedir(d);
	if (rc == 0 && !pre)
		rc = fn(dir);
	return rc;
}

static int kill_one(const char *dir)
{
	int rc = kill_procs(dir);
	return rc == -ENOENT ? 0 : rc;
}

static int rmdir_one(const char *dir)
{
	if (cg_sys->rmdir(dir) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* A killed process that is frozen (v1 freezer) dies only once thawed: a server that
 * was killed while an environment was frozen left it so. Outside the freezer's
 * hierarchy there is no freezer.state, and nothing to do. */
static int thaw_one(const char *dir)
{
	autofree char *fs = xasprintf("%s/freezer.state", dir);
	if (cg_sys->access(fs, F_OK) == 0)
		file_write(fs, "THAWED");
	return 0;
}

/* Kills everything in the tree at dir and removes it, waiting up to wait_ms for the
 * killed processes to leave. 0 or a negative errno (-EBUSY: still populated). */
static int rm_tree(const char *dir, unsigned wait_ms)
{
	for (unsigned waited = 0;; waited += 10) {
		walk_tree(dir, true, kill_one);
		walk_tree(dir, true, thaw_one);
		int rc = walk_tree(dir, false, rmdir_one);
		if (rc != -EBUSY || waited >= wait_ms)
			return rc;
		cg_sys->sleep_ms(10);
	}
}

/* The pid in a subtree name "lambdad[-...]-<pid>[-server]", or 0. */
static pid_t stale_pid(const char *name)
{
	if (strncmp(name, "lambdad-", 8) != 0)
		return 0;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", name);
	size_t n = strlen(buf);
	if (n > 7 && strcmp(buf + n - 7, "-server") == 0)
		buf[n -= 7] = '\0';
	char *dash = strrchr(buf, '-');
	if (!dash || !dash[1] || strspn(dash + 1, "0123456789") != strlen(dash + 1))
		return 0;
	long pid = strtol(dash + 1, NULL, 10);
	return pid > 0 && pid <= INT32_MAX ? (pid_t)pid : 0;
}

/* Removes the subtrees of servers that died without cleaning up (killed with -9). */
static void remove_stale(const char *own)
{
	DIR *d = cg_sys->opendir(own);
	if (!d)
		return;
	pid_t self = cg_sys->getpid();
	char **stale = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = cg_sys->readdir(d)) != NULL) {
		if (de->d_type != DT_DIR)
			continue;
		pid_t pid = stale_pid(de->d_name);
		if (pid <= 0 || pid == self || cg_sys->kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		stale = xrealloc(stale, (n + 1) * sizeof(*stale));
		stale[n++] = xasprintf("%s/%s", own, de->d_name);
	}
	cg_sys->closedir(d);
	for (size_t i = 0; i < n; i++) {
		int rc = rm_tree(stale[i], CG_FREE_WAIT_MS);
		if (rc < 0)
			log_warn("cgroup: removing stale %s: %s", stale[i], strerror(-rc));
		else
			log_info("cgroup: removed stale %s", stale[i]);
		free(stale[i]);
	}
	free(stale);
}

/* ---- finding the hierarchy ---- */

/* The server's cgroup path for a v1 controller ("memory") or v2 (ctl NULL) from
 * /proc/self/cgroup; owned, or NULL. */
static char *self_cgroup(const char *text, const char *ctl)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		autofree char *l = xstrndup(line, len);
		line = nl ? nl + 1 : NULL;
		char *c1 = strchr(l, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = '\0';
		if (ctl ? has_word(c1 + 1, ctl, ",") : (strcmp(l, "0") == 0 && c1[1] == '\0'))
			return xstrdup(c2 + 1);
	}
	return NULL;
}

/* Finds the v1 mount of ctl in /proc/self/mountinfo: *mnt (owned) and *root (owned,
 * the cgroup mounted there). Returns false if none. */
static bool v1_mount(const char *mountinfo, const char *ctl, char **mnt, char **root)
{
	for (const char *line = mountinfo; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		autofree char *l = xstrndup(line, len);
		line = nl ? nl + 1 : NULL;
		/* Optional fields end at " - "; what follows is fstype, source, super options. */
		char *sep = strstr(l, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		const char *rest = sep + 3;
		char *f[5] = {0};
		char *save = NULL, *tok = strtok_r(l, " ", &save);
		for (int i = 0; i < 5 && tok; i++, tok = strtok_r(NULL, " ", &save))
			f[i] = tok;
		if (!f[4])
			continue;
		char fstype[32], source[256], opts[1024];
		if (sscanf(rest, "%31s %255s %1023s", fstype, source, opts) != 3 ||
		    strcmp(fstype, "cgroup") != 0 || !has_word(opts, ctl, ","))
			continue;
		*mnt = xstrdup(f[4]);
		*root = xstrdup(f[3]);
		return true;
	}
	return false;
}

/* mnt + the part of path below the mounted root; owned. */
static char *join_cgroup(const char *mnt, const char *root, const char *path)
{
	size_t rl = strlen(root);
	if (strcmp(root, "/") != 0 && strncmp(path, root, rl) == 0 && (path[rl] == '/' || !path[rl]))
		path += rl;
	while (*path == '/')
		path++;
	return *path ? xasprintf("%s/%s", mnt, path) : xstrdup(mnt);
}

static void hier_fini(struct cg_hier *h)
{
	free(h->own);
	free(h->dir);
	h->own = h->dir = NULL;
}

static const struct cg_ops v1_ops, v2_ops;

static int open_v1(const char *name, struct cg_root *r, struct err *errp)
{
	autofree char *mountinfo = NULL, *self = NULL;
	int rc = file_read("/proc/self/mountinfo", &mountinfo);
	if (rc < 0)
		return err_make(errp, -rc, "cgroup: reading /proc/self/mountinfo: %s", strerror(-rc));
	rc = file_read("/proc/self/cgroup", &self);
	if (rc < 0)
		return err_make(errp, -rc, "cgroup: reading /proc/self/cgroup: %s", strerror(-rc));

	char *mnts[CG_MAX_HIER] = {0};
	const char *missing = NULL;
	bool any = false;
	for (size_t c = 0; c < ARRAY_SIZE(ctl_names); c++) {
		autofree char *mnt = NULL, *root = NULL, *path = NULL;
		if (!v1_mount(mountinfo, ctl_names[c].name, &mnt, &root) ||
		    !(path = self_cgroup(self, ctl_names[c].name))) {
			if (ctl_names[c].required && !missing)
				missing = ctl_names[c].name;
			continue;
		}
		any = true;
		unsigned i = 0;
		while (i < r->nh && strcmp(mnts[i], mnt) != 0)
			i++;
		if (i == r->nh) {
			mnts[r->nh] = steal_ptr(&mnt);
			r->h[r->nh].own = join_cgroup(mnts[r->nh], root, path);
			r->nh++;
		}
		r->h[i].ctls |= ctl_names[c].ctl;
	}
	for (unsigned i = 0; i < r->nh; i++)
		free(mnts[i]);
	if (!any) {
		rc = err_make(errp, ENOENT,
		              "cgroup: no cgroup filesystem: neither cgroup v2 (" CG_V2_MOUNT
		              "/cgroup.controllers) nor cgroup v1 controllers are mounted");
		goto fail;
	}
	if (missing) {
		rc = err_make(errp, ENOENT,
		              "cgroup v1: the %s controller is not mounted (or not in /proc/self/cgroup)",
		              missing);
		goto fail;
	}
	for (unsigned i = 0; i < r->nh; i++)
		remove_stale(r->h[i].own);
	for (unsigned i = 0; i < r->nh; i++) {
		r->h[i].dir = xasprintf("%s/%s", r->h[i].own, name);
		if (cg_sys->mkdir(r->h[i].dir, 0755) < 0) {
			rc = mkdir_err(errp, -errno, r->h[i].dir);
			while (i-- > 0)
				cg_sys->rmdir(r->h[i].dir);
			goto fail;
		}
		/* Before Linux 5.11 v1 memory limits nest only with use_hierarchy; newer kernels
		 * always nest and may refuse the write, which is harmless. */
		if (r->h[i].ctls & CTL_MEMORY) {
			autofree char *uh = xasprintf("%s/memory.use_hierarchy", r->h[i].dir);
			file_write(uh, "1");
		}
	}
	r->ops = &v1_ops;
	return 0;
fail:
	for (unsigned i = 0; i < r->nh; i++)
		hier_fini(&r->h[i]);
	r->nh = 0;
	return rc;
}

/* v2: the controllers of mask as "+memory +cpu" (sign '+') or "-memory" ('-'). */
static void ctl_list(unsigned mask, char sign, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t c = 0; c < ARRAY_SIZE(ctl_names); c++)
		if (mask & ctl_names[c].ctl)
			snprintf(out + strlen(out), len - strlen(out), "%s%c%s", out[0] ? " " : "", sign,
			         ctl_names[c].name);
}

/* v2: puts the server back into own after a move into the leaf; best effort. */
static void v2_unmove(struct cg_root *r)
{
	struct cg_hier *h = &r->h[0];
	char list[64], pid[24];
	autofree char *sc = xasprintf("%s/cgroup.subtree_control", h->own);
	autofree char *procs = xasprintf("%s/cgroup.procs", h->own);
	if (r->enabled) {
		ctl_list(r->enabled, '-', list, sizeof(list));
		int rc = file_write(sc, list);
		if (rc < 0)
			log_warn("cgroup: writing \"%s\" to %s: %s", list, sc, strerror(-rc));
		r->enabled = 0;
	}
	if (r->leaf) {
		snprintf(pid, sizeof(pid), "%d", (int)cg_sys->getpid());
		int rc = file_write(procs, pid);
		if (rc < 0 || cg_sys->rmdir(r->leaf) < 0)
			log_warn("cgroup: moving lambdad back from %s: %s", r->leaf,
			         strerror(rc < 0 ? -rc : errno));
		free(r->leaf);
		r->leaf = NULL;
	}
}

static int open_v2(const char *name, struct cg_root *r, struct err *errp)
{
	autofree char *self = NULL, *path = NULL, *avail = NULL, *enabled = NULL, *dsc = NULL;
	int rc = file_read("/proc/self/cgroup", &self);
	if (rc < 0)
		return err_make(errp, -rc, "cgroup: reading /proc/self/cgroup: %s", strerror(-rc));
	if (!(path = self_cgroup(self, NULL)))
		return err_make(errp, ENOENT, "cgroup v2: no \"0::\" line in /proc/self/cgroup");
	struct cg_hier *h = &r->h[0];
	h->own = join_cgroup(CG_V2_MOUNT, "/", path);
	h->ctls = CTL_MEMORY | CTL_CPU | CTL_PIDS;
	r->nh = 1;
	autofree char *ctrl = xasprintf("%s/cgroup.controllers", h->own);
	autofree char *sc = xasprintf("%s/cgroup.subtree_control", h->own);
	if ((rc = file_read(ctrl, &avail)) < 0 || (rc = file_read(sc, &enabled)) < 0) {
		rc = err_make(errp, -rc, "cgroup v2: reading %s: %s", rc == 0 ? sc : ctrl, strerror(-rc));
		goto fail;
	}
	unsigned need = 0;
	for (size_t c = 0; c < ARRAY_SIZE(ctl_names); c++) {
		if (!(h->ctls & ctl_names[c].ctl))
			continue;
		if (!has_word(avail, ctl_names[c].name, " \n")) {
			rc = err_make(errp, ENOTSUP,
			              "cgroup v2: the %s controller is not available in %s (the parent "
			              "cgroup does not delegate it)",
			              ctl_names[c].name, h->own);
			goto fail;
		}
		if (!has_word(enabled, ctl_names[c].name, " \n"))
			need |= ctl_names[c].ctl;
	}
	remove_stale(h->own);

	char list[64];
	if (need) {
		ctl_list(need, '+', list, sizeof(list));
		rc = file_write(sc, list);
		if (rc == -EBUSY) {
			/* The no-internal-processes rule: the server leaves its cgroup for a leaf. */
			r->leaf = xasprintf("%s/%s-server", h->own, name);
			if (cg_sys->mkdir(r->leaf, 0755) < 0) {
				rc = mkdir_err(errp, -errno, r->leaf);
				free(r->leaf);
				r->leaf = NULL;
				goto fail;
			}
			autofree char *lp = xasprintf("%s/cgroup.procs", r->leaf);
			char pid[24];
			snprintf(pid, sizeof(pid), "%d", (int)cg_sys->getpid());
			if ((rc = file_write(lp, pid)) < 0) {
				write_err(errp, rc, lp, pid);
				goto undo;
			}
			rc = file_write(sc, list);
			if (rc == -EBUSY) {
				err_make(
				    errp, EBUSY,
				    "cgroup v2: cannot enable %s in %s: another process shares lambdad's "
				    "cgroup; run lambdad in a cgroup of its own (e.g. systemd Delegate=yes)",
				    list, sc);
				goto undo;
			}
		}
		if (rc < 0) {
			write_err(errp, rc, sc, list);
			goto undo;
		}
		if (r->leaf)
			r->enabled = need;
	}
	h->dir = xasprintf("%s/%s", h->own, name);
	if (cg_sys->mkdir(h->dir, 0755) < 0) {
		rc = mkdir_err(errp, -errno, h->dir);
		goto undo;
	}
	dsc = xasprintf("%s/cgroup.subtree_control", h->dir);
	ctl_list(h->ctls, '+', list, sizeof(list));
	if ((rc = file_write(dsc, list)) < 0) {
		write_err(errp, rc, dsc, list);
		cg_sys->rmdir(h->dir);
		goto undo;
	}
	r->ops = &v2_ops;
	return 0;
undo:
	v2_unmove(r);
fail:
	hier_fini(h);
	r->nh = 0;
	return rc;
}

int cg_root_new(const char *name, struct cg_root **out, struct err *errp)
{
	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_make(errp, EINVAL, "cgroup: invalid subtree name \"%s\"", name ? name : "");
	struct cg_root *r = xcalloc(1, sizeof(*r));
	int rc =
	    path_exists(CG_V2_MOUNT "/cgroup.controllers") ? open_v2(name, r, errp) : open_v1(name, r, errp);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

const char *cg_root_kind(const struct cg_root *r)
{
	return r->ops->kind;
}

const char *cg_root_path(const struct cg_root *r, unsigned i)
{
	return i < r->nh ? r->h[i].dir : NULL;
}

void cg_root_free(struct cg_root *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->nh; i++) {
		int rc = rm_tree(r->h[i].dir, CG_FREE_WAIT_MS);
		if (rc < 0)
			log_warn("cgroup: removing %s: %s", r->h[i].dir, strerror(-rc));
	}
	v2_unmove(r);
	for (unsigned i = 0; i < r->nh; i++)
		hier_fini(&r->h[i]);
	free(r);
}

/* ---- groups: what both backends share ---- */

int cg_new(struct cg_root *r, const char *id, struct cg **out, struct err *errp)
{
	if (!id || !*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return err_make(errp, EINVAL, "cgroup: invalid group name \"%s\"", id ? id : "");
	struct cg *g = xcalloc(1, sizeof(*g));
	g->r = r;
	g->mem_limit = UINT64_MAX;
	for (unsigned i = 0; i < r->nh; i++) {
		g->dir[i] = xasprintf("%s/%s", r->h[i].dir, id);
		if (cg_sys->mkdir(g->dir[i], 0755) < 0) {
			int rc = mkdir_err(errp, -errno, g->dir[i]);
			free(g->dir[i]);
			while (i-- > 0) {
				cg_sys->rmdir(g->dir[i]);
				free(g->dir[i]);
			}
			free(g);
			return rc;
		}
	}
	*out = g;
	return 0;
}

/* The group's directory in the hierarchy serving ctl, or NULL. */
static const char *ctl_dir(const struct cg *g, unsigned ctl)
{
	for (unsigned i = 0; i < g->r->nh; i++)
		if (g->r->h[i].ctls & ctl)
			return g->dir[i];
	return NULL;
}

/* Writes val to dir/file; 0 or a negative errno with a message. */
static int set_file(struct err *errp, const char *dir, const char *file, const char *val)
{
	autofree char *path = xasprintf("%s/%s", dir, file);
	int rc = file_write(path, val);
	return rc < 0 ? write_err(errp, rc, path, val) : 0;
}

int cg_set_limits(struct cg *g, const struct cg_limits *l, struct err *errp)
{
	return g->r->ops->set_limits(g, l, errp);
}

int cg_set_cpu_quota(struct cg *g, uint32_t cpu_millis, struct err *errp)
{
	return g->r->ops->set_cpu_quota(g, cpu_millis, errp);
}

int cg_set_cpu_weight(struct cg *g, uint32_t cpu_weight, struct err *errp)
{
	return g->r->ops->set_cpu_weight(g, cpu_weight, errp);
}

int cg_attach(struct cg *g, pid_t pid, struct err *errp)
{
	char s[24];
	snprintf(s, sizeof(s), "%d", (int)pid);
	for (unsigned i = 0; i < g->r->nh; i++) {
		int rc = set_file(errp, g->dir[i], "cgroup.procs", s);
		if (rc < 0) {
			while (i-- > 0) {
				autofree char *back = xasprintf("%s/cgroup.procs", g->r->h[i].own);
				file_write(back, s);
			}
			return rc;
		}
	}
	return 0;
}

int cg_peak_kb(struct cg *g, uint64_t *kb)
{
	return g->r->ops->peak_kb(g, kb);
}
int cg_oom_kills(struct cg *g, uint64_t *n)
{
	return g->r->ops->oom_kills(g, n);
}
int cg_kill(struct cg *g)
{
	return g->r->ops->kill(g);
}
int cg_freeze(struct cg *g, bool frozen)
{
	return g->r->ops->freeze(g, frozen);
}

int cg_remove(struct cg *g)
{
	int rc = 0;
	for (unsigned i = 0; i < g->r->nh; i++) {
		if (!g->dir[i])
			continue;
		if (cg_sys->rmdir(g->dir[i]) < 0 && errno != ENOENT) {
			if (rc == 0 || errno == EBUSY)
				rc = -errno;
			continue;
		}
		free(g->dir[i]);
		g->dir[i] = NULL;
	}
	if (rc == 0)
		free(g);
	return rc;
}

void cg_free(struct cg *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < CG_MAX_HIER; i++)
		free(g->dir[i]);
	free(g);
}

static uint64_t cpu_quota_us(uint32_t millis)
{
	uint64_t q = (uint64_t)millis * CG_CPU_PERIOD_US / 1000;
	return q < CG_CPU_MIN_QUOTA_US ? CG_CPU_MIN_QUOTA_US : q;
}

void cg_lambda_limits(uint32_t memory_mb, struct cg_limits *l)
{
	uint64_t m = (uint64_t)memory_mb * 1000 / 1769;
	l->memory_mb = memory_mb;
	l->cpu_millis = m < 50 ? 50 : (uint32_t)m;
	l->pids_max = 1024;
	l->cpu_weight = memory_mb;
}

uint32_t cg_lambda_init_weight(uint32_t memory_mb)
{
	return memory_mb < 1769 ? 1769 : memory_mb;
}

/* w/CG_WEIGHT_MAX_MB of hi, at least lo and at most hi. */
static uint32_t scale_weight(uint32_t w, uint32_t lo, uint32_t hi)
{
	uint64_t v = (uint64_t)w * hi / CG_WEIGHT_MAX_MB;
	return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

uint32_t cg_v2_weight(uint32_t cpu_weight)
{
	return cpu_weight ? scale_weight(cpu_weight, 1, CG_V2_WEIGHT_MAX) : CG_V2_WEIGHT_DEFAULT;
}

uint32_t cg_v1_shares(uint32_t cpu_weight)
{
	return cpu_weight ? scale_weight(cpu_weight, CG_V1_SHARES_MIN, CG_V1_SHARES_MAX)
	                  : CG_V1_SHARES_DEFAULT;
}

/* Kills what dir/cgroup.procs lists, frozen meanwhile through freeze_file (NULL: no
 * freezer) so that nothing forks between the passes. */
static int kill_frozen(const char *dir, const char *freeze_file, const char *on, const char *off)
{
	autofree char *ff = freeze_file ? xasprintf("%s/%s", dir, freeze_file) : NULL;
	bool frozen = ff && file_write(ff, on) == 0;
	int rc = kill_procs(dir);
	if (frozen)
		file_write(ff, off);
	return rc;
}

/* ---- cgroup v2 ---- */

static int v2_set_cpu_quota(struct cg *g, uint32_t cpu_millis, struct err *errp)
{
	char v[48];
	if (cpu_millis)
		snprintf(v, sizeof(v), "%" PRIu64 " %d", cpu_quota_us(cpu_millis), CG_CPU_PERIOD_US);
	else
		snprintf(v, sizeof(v), "max %d", CG_CPU_PERIOD_US);
	return set_file(errp, g->dir[0], "cpu.max", v);
}

static int v2_set_cpu_weight(struct cg *g, uint32_t cpu_weight, struct err *errp)
{
	char v[24];
	snprintf(v, sizeof(v), "%" PRIu32, cg_v2_weight(cpu_weight));
	return set_file(errp, g->dir[0], "cpu.weight", v);
}

static int v2_set_limits(struct cg *g, const struct cg_limits *l, struct err *errp)
{
	const char *d = g->dir[0];
	char v[48];
	int rc;
	if (l->memory_mb)
		snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)l->memory_mb << 20);
	else
		snprintf(v, sizeof(v), "max");
	if ((rc = set_file(errp, d, "memory.max", v)) < 0)
		return rc;
	/* memory.swap.max exists only when the kernel accounts swap. */
	autofree char *swap = xasprintf("%s/memory.swap.max", d);
	if (path_exists(swap) && (rc = set_file(errp, d, "memory.swap.max", l->memory_mb ? "0" : "max")) < 0)
		return rc;
	if ((rc = v2_set_cpu_weight(g, l->cpu_weight, errp)) < 0)
		return rc;
	if ((rc = v2_set_cpu_quota(g, l->cpu_millis, errp)) < 0)
		return rc;
	if (l->pids_max)
		snprintf(v, sizeof(v), "%" PRIu32, l->pids_max);
	else
		snprintf(v, sizeof(v), "max");
	return set_file(errp, d, "pids.max", v);
}

static int v2_peak_kb(struct cg *g, uint64_t *kb)
{
	autofree char *peak = xasprintf("%s/memory.peak", g->dir[0]);
	autofree char *cur = xasprintf("%s/memory.current", g->dir[0]);
	uint64_t b;
	int rc = file_read_u64(peak, &b);
	if (rc == -ENOENT)
		rc = file_read_u64(cur, &b);
	if (rc == 0)
		*kb = b / 1024;
	return rc;
}

static int v2_oom_kills(struct cg *g, uint64_t *n)
{
	autofree char *p = xasprintf("%s/memory.events", g->dir[0]);
	return file_read_key(p, "oom_kill", n);
}

static int v2_kill(struct cg *g)
{
	autofree char *k = xasprintf("%s/cgroup.kill", g->dir[0]);
	if (path_exists(k))
		return file_write(k, "1");
	autofree char *f = xasprintf("%s/cgroup.freeze", g->dir[0]);
	return kill_frozen(g->dir[0], path_exists(f) ? "cgroup.freeze" : NULL, "1", "0");
}

static int v2_freeze(struct cg *g, bool frozen)
{
	autofree char *f = xasprintf("%s/cgroup.freeze", g->dir[0]);
	int rc = file_write(f, frozen ? "1" : "0");
	return rc == -ENOENT ? -ENOTSUP : rc;
}

static const struct cg_ops v2_ops = {
    .kind = "v2",
    .set_limits = v2_set_limits,
    .set_cpu_quota = v2_set_cpu_quota,
    .set_cpu_weight = v2_set_cpu_weight,
    .peak_kb = v2_peak_kb,
    .oom_kills = v2_oom_kills,
    .kill = v2_kill,
    .freeze = v2_freeze,
};

/* ---- cgroup v1 ---- */

static int v1_set_cpu_quota(struct cg *g, uint32_t cpu_millis, struct err *errp)
{
	const char *cd = ctl_dir(g, CTL_CPU);
	char v[48];
	int rc;
	snprintf(v, sizeof(v), "%d", CG_CPU_PERIOD_US);
	if ((rc = set_file(errp, cd, "cpu.cfs_period_us", v)) < 0)
		return rc;
	if (cpu_millis)
		snprintf(v, sizeof(v), "%" PRIu64, cpu_quota_us(cpu_millis));
	else
		snprintf(v, sizeof(v), "-1");
	return set_file(errp, cd, "cpu.cfs_quota_us", v);
}

static int v1_set_cpu_weight(struct cg *g, uint32_t cpu_weight, struct err *errp)
{
	char v[24];
	snprintf(v, sizeof(v), "%" PRIu32, cg_v1_shares(cpu_weight));
	return set_file(errp, ctl_dir(g, CTL_CPU), "cpu.shares", v);
}

static int v1_set_limits(struct cg *g, const struct cg_limits *l, struct err *errp)
{
	const char *md = ctl_dir(g, CTL_MEMORY), *pd = ctl_dir(g, CTL_PIDS);
	char v[48];
	int rc;
	uint64_t bytes = l->memory_mb ? (uint64_t)l->memory_mb << 20 : UINT64_MAX;
	if (l->memory_mb)
		snprintf(v, sizeof(v), "%" PRIu64, bytes);
	else
		snprintf(v, sizeof(v), "-1");
	autofree char *memsw = xasprintf("%s/memory.memsw.limit_in_bytes", md);
	if (path_exists(memsw)) {
		/* memsw may never be below the memory limit: raise it first, lower it last. */
		bool up = bytes >= g->mem_limit;
		if (up && (rc = set_file(errp, md, "memory.memsw.limit_in_bytes", v)) < 0)
			return rc;
		if ((rc = set_file(errp, md, "memory.limit_in_bytes", v)) < 0)
			return rc;
		if (!up && (rc = set_file(errp, md, "memory.memsw.limit_in_bytes", v)) < 0)
			return rc;
	} else {
		if ((rc = set_file(errp, md, "memory.limit_in_bytes", v)) < 0)
			return rc;
		/* Without swap accounting the best v1 offers is never to swap. */
		if (l->memory_mb && (rc = set_file(errp, md, "memory.swappiness", "0")) < 0)
			return rc;
	}
	g->mem_limit = bytes;
	if ((rc = v1_set_cpu_weight(g, l->cpu_weight, errp)) < 0)
		return rc;
	if ((rc = v1_set_cpu_quota(g, l->cpu_millis, errp)) < 0)
		return rc;
	if (l->pids_max)
		snprintf(v, sizeof(v), "%" PRIu32, l->pids_max);
	else
		snprintf(v, sizeof(v), "max");
	return set_file(errp, pd, "pids.max", v);
}

static int v1_peak_kb(struct cg *g, uint64_t *kb)
{
	autofree char *p = xasprintf("%s/memory.max_usage_in_bytes", ctl_dir(g, CTL_MEMORY));
	uint64_t b;
	int rc = file_read_u64(p, &b);
	if (rc == 0)
		*kb = b / 1024;
	return rc;
}

static int v1_oom_kills(struct cg *g, uint64_t *n)
{
	autofree char *p = xasprintf("%s/memory.oom_control", ctl_dir(g, CTL_MEMORY));
	return file_read_key(p, "oom_kill", n);
}

static int v1_kill(struct cg *g)
{
	const char *fd = ctl_dir(g, CTL_FREEZER);
	autofree char *fs = fd ? xasprintf("%s/freezer.state", fd) : NULL;
	bool frozen = fs && file_write(fs, "FROZEN") == 0;
	int rc = 0;
	for (unsigned i = 0; i < g->r->nh; i++) {
		int r = kill_procs(g->dir[i]);
		if (r < 0 && rc == 0)
			rc = r;
	}
	/* v1 frozen tasks act on SIGKILL only once thawed. */
	if (frozen)
		file_write(fs, "THAWED");
	return rc;
}

static int v1_freeze(struct cg *g, bool frozen)
{
	const char *fd = ctl_dir(g, CTL_FREEZER);
	if (!fd)
		return -ENOTSUP;
	autofree char *fs = xasprintf("%s/freezer.state", fd);
	return file_write(fs, frozen ? "FROZEN" : "THAWED");
}

static const struct cg_ops v1_ops = {
    .kind = "v1",
    .set_limits = v1_set_limits,
    .set_cpu_quota = v1_set_cpu_quota,
    .set_cpu_weight = v1_set_cpu_weight,
    .peak_kb = v1_peak_kb,
    .oom_kills = v1_oom_kills,
    .kill = v1_kill,
    .freeze = v1_freeze,
};
