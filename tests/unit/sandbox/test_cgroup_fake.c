/* The cgroup backends against a fake kernel (no root needed): v1 and v2 layouts in a
 * temporary directory, exact limit values, stale-subtree cleanup, and every error path
 * of open, create and attach with a failure injected, leaving nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/cgroup.h"

#define SELF 4242 /* the fake server's pid */

/* ---- the fake kernel ---- */

static char root[64];                        /* the fake "/" */
static char *fd_path[1024];                  /* what each open fd names, fake-absolute */
static int nopen, ndirs;                     /* open descriptors and directory streams */
static int ncalls, fail_at = -1, fail_errno; /* fail mutating call number fail_at */
static const char *fail_op, *fail_sub;       /* or: fail op on a path containing fail_sub */
static int fail_left;
static pid_t alive[64];
static int nalive;
static pid_t killed[64];
static int nkilled;
static pid_t spawn[2][8]; /* killing spawn[0][i] makes spawn[1][i] appear beside it */
static int nspawn;
static bool v2_swap = true, v2_peak = true, v2_killfile = true, v2_freeze = true;
static char wlog[4096]; /* "file=value" of every write, in order */

static char *real(const char *p)
{
	return xasprintf("%s%s", root, p);
}

static void put(const char *p, const char *content)
{
	autofree char *r = real(p);
	for (char *s = strchr(r + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(r, 0755);
		*s = '/';
	}
	FILE *f = fopen(r, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

/* The content of fake path p; owned. NULL if absent. */
static char *get(const char *p)
{
	autofree char *r = real(p);
	FILE *f = fopen(r, "r");
	if (!f)
		return NULL;
	char *buf = xcalloc(1, 8192);
	size_t n = fread(buf, 1, 8191, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool there(const char *p)
{
	autofree char *r = real(p);
	return access(r, F_OK) == 0;
}

static bool injected(const char *op, const char *path)
{
	bool hit = false;
	if (fail_op && strcmp(op, fail_op) == 0 && (!fail_sub || strstr(path, fail_sub)) && fail_left > 0) {
		fail_left--;
		hit = true;
	}
	bool mutating = strcmp(op, "mkdir") == 0 || strcmp(op, "rmdir") == 0 || strcmp(op, "write") == 0;
	if (mutating && ncalls++ == fail_at)
		hit = true;
	if (hit)
		errno = fail_errno;
	return hit;
}

static void fail_on(const char *op, const char *sub, int e, int times)
{
	fail_op = op;
	fail_sub = sub;
	fail_errno = e;
	fail_left = times;
}

static bool is_alive(pid_t pid)
{
	for (int i = 0; i < nalive; i++)
		if (alive[i] == pid)
			return true;
	return false;
}

/* Removes or appends pids in a procs file (real path). */
static void procs_edit(const char *rpath, pid_t remove, pid_t add)
{
	FILE *f = fopen(rpath, "r");
	char out[4096] = "";
	if (f) {
		char line[64];
		while (fgets(line, sizeof(line), f))
			if (atoi(line) != remove)
				strcat(out, line);
		fclose(f);
	}
	if (add > 0)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%d\n", (int)add);
	f = fopen(rpath, "w");
	fputs(out, f);
	fclose(f);
}

static pid_t nftw_pid;
static int drop_pid_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *base = p + ftw->base;
	if (type == FTW_F && strcmp(base, "cgroup.procs") == 0)
		procs_edit(p, nftw_pid, 0);
	return 0;
}

/* Removes pid from every cgroup.procs under the real directory top. */
static void drop_pid(const char *top, pid_t pid)
{
	nftw_pid = pid;
	nftw(top, drop_pid_cb, 16, FTW_PHYS);
}

static bool v2_layout(void)
{
	autofree char *c = real("/sys/fs/cgroup/cgroup.controllers");
	return access(c, F_OK) == 0;
}

/* The real path of the hierarchy that holds real path rp. */
static char *hier_of(const char *rp)
{
	if (v2_layout())
		return xasprintf("%s/sys/fs/cgroup", root);
	const char *rel = rp + strlen(root) + strlen("/sys/fs/cgroup/");
	return xasprintf("%s/sys/fs/cgroup/%.*s", root, (int)strcspn(rel, "/"), rel);
}

static pid_t nftw_child;
static int spawn_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type != FTW_F || strcmp(p + ftw->base, "cgroup.procs") != 0)
		return 0;
	FILE *f = fopen(p, "r");
	char line[64];
	bool in = false;
	while (f && fgets(line, sizeof(line), f))
		in |= atoi(line) == nftw_pid;
	if (f)
		fclose(f);
	if (in)
		procs_edit(p, 0, nftw_child);
	return 0;
}

static void fake_sigkill(pid_t pid)
{
	killed[nkilled++] = pid;
	for (int i = 0; i < nalive; i++)
		if (alive[i] == pid)
			alive[i] = alive[--nalive];
	autofree char *top = xasprintf("%s/sys/fs/cgroup", root);
	/* The child it forked just before dying shows up in the same groups. */
	for (int i = 0; i < nspawn; i++) {
		if (spawn[0][i] != pid)
			continue;
		alive[nalive++] = spawn[1][i];
		nftw_pid = pid;
		nftw_child = spawn[1][i];
		nftw(top, spawn_cb, 16, FTW_PHYS);
	}
	drop_pid(top, pid);
}

static int f_open(const char *path, int flags, mode_t mode)
{
	if (injected("open", path))
		return -1;
	autofree char *r = real(path);
	int fd = open(r, (flags & O_ACCMODE) == O_WRONLY ? O_RDONLY | O_CLOEXEC : flags, mode);
	if (fd < 0)
		return -1;
	fd_path[fd] = xstrdup(path);
	nopen++;
	return fd;
}

static int f_close(int fd)
{
	free(fd_path[fd]);
	fd_path[fd] = NULL;
	nopen--;
	return close(fd);
}

static ssize_t f_read(int fd, void *buf, size_t len)
{
	if (injected("read", fd_path[fd]))
		return -1;
	return read(fd, buf, len);
}

static bool has(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = strstr(list, w); p; p = strstr(p + 1, w))
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

static long long num(const char *s)
{
	return strncmp(s, "-1", 2) == 0 || strncmp(s, "max", 3) == 0 ? -1 : atoll(s);
}

/* A write with the kernel's meaning for the files this module writes. */
static ssize_t f_write(int fd, const void *buf, size_t len)
{
	const char *path = fd_path[fd];
	if (injected("write", path))
		return -1;
	char val[256];
	snprintf(val, sizeof(val), "%.*s", (int)len, (const char *)buf);
	snprintf(wlog + strlen(wlog), sizeof(wlog) - strlen(wlog), "%s=%s\n", strrchr(path, '/') + 1, val);
	autofree char *rp = real(path);
	autofree char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	const char *base = strrchr(path, '/') + 1;
	if (strcmp(base, "cgroup.procs") == 0) {
		pid_t pid = atoi(val);
		autofree char *top = hier_of(rp);
		drop_pid(top, pid);
		procs_edit(rp, 0, pid);
		return (ssize_t)len;
	}
	if (strcmp(base, "cgroup.subtree_control") == 0) {
		autofree char *type = xasprintf("%s/cgroup.type", dir);
		autofree char *procs = xasprintf("%s/cgroup.procs", dir);
		autofree char *ctrl = xasprintf("%s/cgroup.controllers", dir);
		autofree char *p = get(procs), *avail = get(ctrl), *cur = get(path);
		if (there(type) && p && *p) {
			errno = EBUSY;
			return -1;
		}
		char next[256] = "";
		const char *names[] = {"cpu", "memory", "pids"};
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			char plus[16], minus[16];
			snprintf(plus, sizeof(plus), "+%s", names[i]);
			snprintf(minus, sizeof(minus), "-%s", names[i]);
			bool on = has(cur, names[i]);
			if (has(val, plus)) {
				if (!has(avail, names[i])) {
					errno = ENOENT;
					return -1;
				}
				on = true;
			}
			if (has(val, minus))
				on = false;
			if (on)
				snprintf(next + strlen(next), sizeof(next) - strlen(next), "%s%s",
				         *next ? " " : "", names[i]);
		}
		put(path, next);
		return (ssize_t)len;
	}
	if (strcmp(base, "cgroup.kill") == 0) {
		autofree char *procs = xasprintf("%s/cgroup.procs", dir);
		for (;;) {
			autofree char *p = get(procs);
			if (!p || !*p)
				break;
			fake_sigkill(atoi(p));
		}
		return (ssize_t)len;
	}
	if (strcmp(base, "memory.limit_in_bytes") == 0 || strcmp(base, "memory.memsw.limit_in_bytes") == 0) {
		bool sw = strcmp(base, "memory.memsw.limit_in_bytes") == 0;
		autofree char *other =
		    xasprintf("%s/%s", dir, sw ? "memory.limit_in_bytes" : "memory.memsw.limit_in_bytes");
		autofree char *o = get(other);
		long long mine = num(val), theirs = o ? num(o) : -1;
		if (o && ((sw && mine != -1 && (theirs == -1 || mine < theirs)) ||
		          (!sw && theirs != -1 && (mine == -1 || mine > theirs)))) {
			errno = EINVAL;
			return -1;
		}
	}
	put(path, val);
	return (ssize_t)len;
}

static int f_access(const char *path, int mode)
{
	if (injected("access", path))
		return -1;
	autofree char *r = real(path);
	return access(r, mode);
}

static void populate(const char *path)
{
	autofree char *parent = xstrdup(path);
	*strrchr(parent, '/') = '\0';
	autofree char *rparent = real(parent);
	char buf[512];
	if (v2_layout()) {
		snprintf(buf, sizeof(buf), "%s/cgroup.subtree_control", parent);
		autofree char *sc = get(buf);
		snprintf(buf, sizeof(buf), "%s/cgroup.controllers", path), put(buf, sc ? sc : "");
		snprintf(buf, sizeof(buf), "%s/cgroup.subtree_control", path), put(buf, "");
		snprintf(buf, sizeof(buf), "%s/cgroup.procs", path), put(buf, "");
		snprintf(buf, sizeof(buf), "%s/cgroup.type", path), put(buf, "domain\n");
		if (v2_killfile)
			snprintf(buf, sizeof(buf), "%s/cgroup.kill", path), put(buf, "");
		if (v2_freeze)
			snprintf(buf, sizeof(buf), "%s/cgroup.freeze", path), put(buf, "0\n");
		if (sc && has(sc, "memory")) {
			snprintf(buf, sizeof(buf), "%s/memory.max", path), put(buf, "max\n");
			snprintf(buf, sizeof(buf), "%s/memory.current", path), put(buf, "0\n");
			snprintf(buf, sizeof(buf), "%s/memory.events", path),
			    put(buf, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
			if (v2_swap)
				snprintf(buf, sizeof(buf), "%s/memory.swap.max", path), put(buf, "max\n");
			if (v2_peak)
				snprintf(buf, sizeof(buf), "%s/memory.peak", path), put(buf, "0\n");
		}
		if (sc && has(sc, "cpu")) {
			snprintf(buf, sizeof(buf), "%s/cpu.max", path), put(buf, "max 100000\n");
			snprintf(buf, sizeof(buf), "%s/cpu.weight", path), put(buf, "100\n");
		}
		if (sc && has(sc, "pids"))
			snprintf(buf, sizeof(buf), "%s/pids.max", path), put(buf, "max\n");
		return;
	}
	/* v1: the same files as the parent, with no processes. */
	DIR *d = opendir(rparent);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_REG)
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", parent, de->d_name);
		autofree char *c = strcmp(de->d_name, "cgroup.procs") == 0 ? xstrdup("") : get(buf);
		snprintf(buf, sizeof(buf), "%s/%s", path, de->d_name);
		put(buf, c);
	}
	closedir(d);
}

static int f_mkdir(const char *path, mode_t mode)
{
	if (injected("mkdir", path))
		return -1;
	autofree char *r = real(path);
	if (mkdir(r, mode) < 0)
		return -1;
	populate(path);
	return 0;
}

static int f_rmdir(const char *path)
{
	if (injected("rmdir", path))
		return -1;
	autofree char *r = real(path);
	DIR *d = opendir(r);
	if (!d)
		return -1;
	struct dirent *de;
	bool busy = false;
	while ((de = readdir(d)) != NULL)
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			busy = true;
	autofree char *procs = xasprintf("%s/cgroup.procs", path);
	autofree char *p = get(procs);
	if (busy || (p && *p)) {
		closedir(d);
		errno = EBUSY;
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_REG)
			continue;
		autofree char *f = xasprintf("%s/%s", r, de->d_name);
		unlink(f);
	}
	closedir(d);
	return rmdir(r);
}

static DIR *f_opendir(const char *path)
{
	if (injected("opendir", path))
		return NULL;
	autofree char *r = real(path);
	DIR *d = opendir(r);
	if (d)
		ndirs++;
	return d;
}

static int f_closedir(DIR *d)
{
	ndirs--;
	return closedir(d);
}

static int f_kill(pid_t pid, int sig)
{
	if (!is_alive(pid)) {
		errno = ESRCH;
		return -1;
	}
	if (sig == SIGKILL)
		fake_sigkill(pid);
	return 0;
}

static pid_t f_getpid(void)
{
	return SELF;
}
static int nsleeps;
static void f_sleep_ms(unsigned ms)
{
	nsleeps++;
}

static const struct cg_sys fake = {
    .open = f_open,
    .read = f_read,
    .write = f_write,
    .close = f_close,
    .access = f_access,
    .mkdir = f_mkdir,
    .rmdir = f_rmdir,
    .opendir = f_opendir,
    .readdir = readdir,
    .closedir = f_closedir,
    .kill = f_kill,
    .getpid = f_getpid,
    .sleep_ms = f_sleep_ms,
};

/* ---- layouts ---- */

/* cgroup v2 with the server in own ("/" = the root) together with the pids in other. */
static void layout_v2(const char *own, const char *other, const char *own_controllers)
{
	put("/proc/self/mountinfo", "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n");
	char line[256];
	snprintf(line, sizeof(line), "0::%s\n", own);
	put("/proc/self/cgroup", line);
	put("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n");
	put("/sys/fs/cgroup/cgroup.procs", "1\n");
	put("/sys/fs/cgroup/cgroup.subtree_control", "");
	if (strcmp(own, "/") == 0) {
		snprintf(line, sizeof(line), "1\n%d\n%s", SELF, other);
		put("/sys/fs/cgroup/cgroup.procs", line);
		return;
	}
	put("/sys/fs/cgroup/cgroup.subtree_control", "cpu memory pids");
	char path[256];
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.type", own), put(path, "domain\n");
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.controllers", own), put(path, own_controllers);
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.subtree_control", own), put(path, "");
	snprintf(line, sizeof(line), "%d\n%s", SELF, other);
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.procs", own), put(path, line);
}

/* A v1 hierarchy's directory with its controller files. */
static void v1_dir(const char *dir, const char *ctl, bool memsw, const char *procs)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir), put(p, procs);
	snprintf(p, sizeof(p), "%s/tasks", dir), put(p, procs);
	if (strcmp(ctl, "memory") == 0) {
		snprintf(p, sizeof(p), "%s/memory.limit_in_bytes", dir), put(p, "9223372036854771712\n");
		if (memsw)
			snprintf(p, sizeof(p), "%s/memory.memsw.limit_in_bytes", dir),
			    put(p, "9223372036854771712\n");
		snprintf(p, sizeof(p), "%s/memory.swappiness", dir), put(p, "60\n");
		snprintf(p, sizeof(p), "%s/memory.max_usage_in_bytes", dir), put(p, "0\n");
		snprintf(p, sizeof(p), "%s/memory.use_hierarchy", dir), put(p, "1\n");
		snprintf(p, sizeof(p), "%s/memory.oom_control", dir),
		    put(p, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
	} else if (strcmp(ctl, "cpu") == 0) {
		snprintf(p, sizeof(p), "%s/cpu.cfs_period_us", dir), put(p, "100000\n");
		snprintf(p, sizeof(p), "%s/cpu.cfs_quota_us", dir), put(p, "-1\n");
		snprintf(p, sizeof(p), "%s/cpu.shares", dir), put(p, "1024\n");
	} else if (strcmp(ctl, "pids") == 0) {
		snprintf(p, sizeof(p), "%s/pids.max", dir), put(p, "max\n");
	} else if (strcmp(ctl, "freezer") == 0) {
		snprintf(p, sizeof(p), "%s/freezer.state", dir), put(p, "THAWED\n");
	}
}

/* cgroup v1 as on a typical host: cpu,cpuacct co-mounted, the server's memory cgroup
 * nested (as a container manager would), a hybrid unified mount without controllers. */
static void layout_v1(bool with_pids, bool with_freezer, bool memsw)
{
	char mi[2048] =
	    "23 1 0:21 / / rw - ext4 /dev/vda rw\n"
	    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
	    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
	    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
	    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
	char self[512] = "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpu,cpuacct:/\n0::/\n";
	if (with_pids) {
		strcat(mi, "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n");
		strcat(self, "8:pids:/\n");
	}
	if (with_freezer) {
		strcat(mi, "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n");
		strcat(self, "6:freezer:/\n");
	}
	put("/proc/self/mountinfo", mi);
	put("/proc/self/cgroup", self);
	char procs[32];
	snprintf(procs, sizeof(procs), "1\n%d\n", SELF);
	v1_dir("/sys/fs/cgroup/memory", "memory", memsw, "1\n");
	v1_dir("/sys/fs/cgroup/memory/process_api", "memory", memsw, "");
	v1_dir("/sys/fs/cgroup/memory/process_api/abc", "memory", memsw, procs);
	v1_dir("/sys/fs/cgroup/cpu,cpuacct", "cpu", false, procs);
	if (with_pids)
		v1_dir("/sys/fs/cgroup/pids", "pids", false, procs);
	if (with_freezer)
		v1_dir("/sys/fs/cgroup/freezer", "freezer", false, procs);
	put("/sys/fs/cgroup/unified/cgroup.procs", procs);
}

#define MEM "/sys/fs/cgroup/memory/process_api/abc"
#define CPU "/sys/fs/cgroup/cpu,cpuacct"
#define PIDS "/sys/fs/cgroup/pids"
#define FRZ "/sys/fs/cgroup/freezer"
#define SVC "/sys/fs/cgroup/system.slice/lambdad.service"

/* Every path and file content under the fake root, sorted: what "nothing left behind"
 * compares. */
static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}
static char *snap_buf;
static size_t snap_len;
static int snap_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	FILE *f = type == FTW_F ? fopen(p, "r") : NULL;
	char c[512] = "";
	if (f) {
		size_t n = fread(c, 1, sizeof(c) - 1, f);
		c[n] = '\0';
		fclose(f);
	}
	if (strcmp(p + ftw->base, "cgroup.procs") == 0) {
		/* The order of pids in cgroup.procs means nothing. */
		int pids[64], n = 0;
		for (char *s = strtok(c, "\n"); s && n < 64; s = strtok(NULL, "\n"))
			pids[n++] = atoi(s);
		qsort(pids, (size_t)n, sizeof(int), cmp_int);
		c[0] = '\0';
		for (int i = 0; i < n; i++)
			snprintf(c + strlen(c), sizeof(c) - strlen(c), "%d\n", pids[i]);
	}
	for (char *s = c; *s; s++)
		if (*s == '\n')
			*s = ' ';
	autofree char *line = xasprintf("%s [%s]\n", p + strlen(root), c);
	snap_buf = xrealloc(snap_buf, snap_len + strlen(line) + 1);
	strcpy(snap_buf + snap_len, line);
	snap_len += strlen(line);
	return 0;
}
static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *snapshot(void)
{
	snap_buf = xstrdup("");
	snap_len = 0;
	autofree char *top = real("/sys");
	nftw(top, snap_cb, 16, FTW_PHYS);
	char *lines[512];
	size_t n = 0;
	for (char *s = strtok(snap_buf, "\n"); s && n < ARRAY_SIZE(lines); s = strtok(NULL, "\n"))
		lines[n++] = s;
	qsort(lines, n, sizeof(*lines), cmp_lines);
	char *out = xcalloc(1, snap_len + 2);
	for (size_t i = 0; i < n; i++)
		strcat(strcat(out, lines[i]), "\n");
	free(snap_buf);
	snap_buf = NULL;
	return out;
}

static int rm_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	strcpy(root, "/tmp/cgfake-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	cg_sys = &fake;
	nopen = ndirs = nkilled = nspawn = nsleeps = 0;
	ncalls = 0;
	fail_at = -1;
	fail_op = fail_sub = NULL;
	fail_left = 0;
	nalive = 0;
	alive[nalive++] = 1;
	alive[nalive++] = SELF;
	v2_swap = v2_peak = v2_killfile = v2_freeze = true;
	wlog[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	cg_sys = &cg_sys_libc;
	assert_int_equal(nopen, 0); /* no descriptor leaked */
	assert_int_equal(ndirs, 0);
	return nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct cg_root *open_ok(void)
{
	struct cg_root *r = NULL;
	struct err e = {0};
	int rc = cg_root_new("lambdad-4242", &r, &e);
	if (rc != 0)
		fail_msg("cg_root_new: %d %s", rc, e.msg);
	return r;
}

static struct cg *create_ok(struct cg_root *r, const char *id)
{
	struct cg *g = NULL;
	struct err e = {0};
	int rc = cg_new(r, id, &g, &e);
	if (rc != 0)
		fail_msg("cg_new: %d %s", rc, e.msg);
	return g;
}

static void assert_file(const char *path, const char *want)
{
	autofree char *c = get(path);
	if (!c)
		fail_msg("%s is missing", path);
	if (strcmp(c, want) != 0)
		fail_msg("%s: \"%s\", want \"%s\"", path, c, want);
}

static void assert_contains(const char *s, const char *sub)
{
	if (!strstr(s, sub))
		fail_msg("\"%s\" does not contain \"%s\"", s, sub);
}

/* ---- opening ---- */

static void test_v2_at_root(void **state)
{
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	assert_string_equal(cg_root_kind(r), "v2");
	assert_string_equal(cg_root_path(r, 0), "/sys/fs/cgroup/lambdad-4242");
	assert_null(cg_root_path(r, 1));
	assert_file("/sys/fs/cgroup/cgroup.subtree_control", "cpu memory pids");
	assert_file("/sys/fs/cgroup/lambdad-4242/cgroup.subtree_control", "cpu memory pids");
	assert_false(there("/sys/fs/cgroup/lambdad-4242-server"));
	cg_root_free(r);
	assert_false(there("/sys/fs/cgroup/lambdad-4242"));
}

static void test_v2_nested_moves_server(void **state)
{
	layout_v2("/system.slice/lambdad.service", "", "cpu memory pids");
	autofree char *before = snapshot();
	struct cg_root *r = open_ok();
	assert_string_equal(cg_root_path(r, 0), SVC "/lambdad-4242");
	assert_file(SVC "/lambdad-4242-server/cgroup.procs", "4242\n");
	assert_file(SVC "/cgroup.procs", "");
	assert_file(SVC "/cgroup.subtree_control", "cpu memory pids");
	assert_file(SVC "/lambdad-4242/cgroup.subtree_control", "cpu memory pids");
	struct cg *g = create_ok(r, "env-1");
	assert_true(there(SVC "/lambdad-4242/env-1/memory.max"));
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
	/* The server is back where it was, and nothing of lambdad remains. */
	autofree char *after = snapshot();
	assert_string_equal(before, after);
}

static void test_v2_nested_shared_refused(void **state)
{
	layout_v2("/system.slice/lambdad.service", "777\n", "cpu memory pids");
	autofree char *before = snapshot();
	struct cg_root *r = NULL;
	struct err e = {0};
	assert_int_equal(cg_root_new("lambdad-4242", &r, &e), -EBUSY);
	assert_null(r);
	assert_contains(e.msg, "another process shares lambdad's cgroup");
	autofree char *after = snapshot();
	assert_string_equal(before, after);
}

static void test_v2_missing_controller(void **state)
{
	layout_v2("/system.slice/lambdad.service", "", "cpu memory");
	autofree char *before = snapshot();
	struct cg_root *r = NULL;
	struct err e = {0};
	assert_int_equal(cg_root_new("lambdad-4242", &r, &e), -ENOTSUP);
	assert_contains(e.msg, "pids controller is not available");
	autofree char *after = snapshot();
	assert_string_equal(before, after);
}

static void test_v1_open(void **state)
{
	layout_v1(true, true, true);
	autofree char *before = snapshot();
	struct cg_root *r = open_ok();
	assert_string_equal(cg_root_kind(r), "v1");
	const char *want[] = {MEM "/lambdad-4242", CPU "/lambdad-4242", PIDS "/lambdad-4242",
	                      FRZ "/lambdad-4242"};
	for (unsigned i = 0; i < 4; i++) {
		assert_string_equal(cg_root_path(r, i), want[i]);
		assert_true(there(want[i]));
	}
	assert_null(cg_root_path(r, 4));
	cg_root_free(r);
	autofree char *after = snapshot();
	assert_string_equal(before, after);
}

static void test_v1_missing_pids(void **state)
{
	layout_v1(false, false, true);
	autofree char *before = snapshot();
	struct cg_root *r = NULL;
	struct err e = {0};
	assert_int_equal(cg_root_new("lambdad-4242", &r, &e), -ENOENT);
	assert_contains(e.msg, "the pids controller is not mounted");
	autofree char *after = snapshot();
	assert_string_equal(before, after);
}

static void test_no_cgroup_fs(void **state)
{
	put("/proc/self/mountinfo", "23 1 0:21 / / rw - ext4 /dev/vda rw\n");
	put("/proc/self/cgroup", "0::/\n");
	put("/sys/.keep", "");
	struct cg_root *r = NULL;
	struct err e = {0};
	assert_int_equal(cg_root_new("lambdad-4242", &r, &e), -ENOENT);
	assert_contains(e.msg, "no cgroup filesystem");
	assert_int_equal(cg_root_new("a/b", &r, &e), -EINVAL);
}

static void test_open_permission(void **state)
{
	layout_v1(true, false, true);
	fail_on("mkdir", PIDS, EACCES, 1);
	autofree char *before = snapshot();
	struct cg_root *r = NULL;
	struct err e = {0};
	assert_int_equal(cg_root_new("lambdad-4242", &r, &e), -EACCES);
	assert_contains(e.msg, "mkdir " PIDS "/lambdad-4242: Permission denied");
	assert_contains(e.msg, "run it as root or in a delegated cgroup");
	autofree char *after = snapshot();
	assert_string_equal(before, after); /* the memory and cpu directories went again */
}

/* Fails each mkdir, rmdir and write of a successful open in turn, with each errno:
 * open either fails with a message and leaves the tree as it was, or succeeds (the
 * write was best effort) and cg_root_free leaves the tree as it was. */
static void fail_each(void (*layout)(void))
{
	const int errs[] = {EACCES, ENOSPC, EBUSY, ENOENT};
	for (size_t k = 0; k < ARRAY_SIZE(errs); k++) {
		for (int n = 0;; n++) {
			nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
			mkdir(root, 0700);
			layout();
			autofree char *before = snapshot();
			ncalls = 0;
			fail_at = n;
			fail_errno = errs[k];
			struct cg_root *r = NULL;
			struct err e = {0};
			int rc = cg_root_new("lambdad-4242", &r, &e);
			int made = ncalls;
			fail_at = -1;
			if (rc < 0) {
				assert_null(r);
				assert_true(e.msg[0] != '\0');
				assert_non_null(
				    strstr(e.msg, strerror(-rc)) ? e.msg : strstr(e.msg, "another process"));
			} else {
				cg_root_free(r);
			}
			autofree char *after = snapshot();
			if (strcmp(before, after) != 0)
				fail_msg("errno %d at call %d (rc %d, %s) left:\n%s\nwas:\n%s", errs[k], n,
				         rc, e.msg, after, before);
			assert_int_equal(nopen, 0);
			assert_int_equal(ndirs, 0);
			if (n >= made)
				break;
		}
	}
}

static void lay_v2_nested(void)
{
	layout_v2("/system.slice/lambdad.service", "", "cpu memory pids");
}
static void lay_v1(void)
{
	layout_v1(true, true, false);
}

static void test_open_fail_each_v2(void **state)
{
	fail_each(lay_v2_nested);
}
static void test_open_fail_each_v1(void **state)
{
	fail_each(lay_v1);
}

/* ---- stale subtrees ---- */

static void test_stale_v2(void **state)
{
	layout_v2("/system.slice/lambdad.service", "", "cpu memory pids");
	put(SVC "/lambdad-999/env-a/cgroup.procs", "1001\n1002\n");
	put(SVC "/lambdad-999/cgroup.procs", "");
	put(SVC "/lambdad-999-server/cgroup.procs", "");
	put(SVC "/lambdad-test-998/cgroup.procs", "");
	put(SVC "/lambdad-4300/cgroup.procs", ""); /* a live server's */
	put(SVC "/lambdad-x/cgroup.procs", "");
	put(SVC "/other-1/cgroup.procs", "");
	alive[nalive++] = 1001;
	alive[nalive++] = 1002;
	alive[nalive++] = 4300;
	struct cg_root *r = open_ok();
	assert_false(there(SVC "/lambdad-999"));
	assert_false(there(SVC "/lambdad-999-server"));
	assert_false(there(SVC "/lambdad-test-998"));
	assert_true(there(SVC "/lambdad-4300"));
	assert_true(there(SVC "/lambdad-x"));
	assert_true(there(SVC "/other-1"));
	assert_int_equal(nkilled, 2);
	assert_int_equal(killed[0], 1001);
	assert_int_equal(killed[1], 1002);
	cg_root_free(r);
}

static void test_stale_v1(void **state)
{
	layout_v1(true, false, true);
	put(MEM "/lambdad-999/env-a/cgroup.procs", "1001\n");
	put(MEM "/lambdad-999/cgroup.procs", "");
	put(PIDS "/lambdad-999/env-a/cgroup.procs", "1001\n");
	put(PIDS "/lambdad-999/cgroup.procs", "");
	put(CPU "/lambdad-999/cgroup.procs", "");
	put(CPU "/lambdad-4300/cgroup.procs", "");
	alive[nalive++] = 1001;
	alive[nalive++] = 4300;
	struct cg_root *r = open_ok();
	assert_false(there(MEM "/lambdad-999"));
	assert_false(there(PIDS "/lambdad-999"));
	assert_false(there(CPU "/lambdad-999"));
	assert_true(there(CPU "/lambdad-4300"));
	assert_int_equal(nkilled, 1);
	assert_int_equal(killed[0], 1001);
	cg_root_free(r);
}

/* ---- limits ---- */

static void set_ok(struct cg *g, uint32_t mb)
{
	struct cg_limits l;
	cg_lambda_limits(mb, &l);
	struct err e = {0};
	int rc = cg_set_limits(g, &l, &e);
	if (rc != 0)
		fail_msg("cg_set_limits %u: %d %s", mb, rc, e.msg);
}

static void test_lambda_formula(void **state)
{
	struct cg_limits l;
	cg_lambda_limits(128, &l);
	assert_int_equal(l.cpu_millis, 72); /* 128/1769 of a CPU */
	assert_int_equal(l.pids_max, 1024);
	cg_lambda_limits(1769, &l);
	assert_int_equal(l.cpu_millis, 1000);
	cg_lambda_limits(10240, &l);
	assert_int_equal(l.cpu_millis, 5788);
	cg_lambda_limits(64, &l);
	assert_int_equal(l.cpu_millis, 50); /* the floor */
	assert_int_equal(l.cpu_weight, 64); /* the weight is the MemorySize itself */
}

/* The weight in each kernel's range, in proportion to MemorySize: Lambda's largest
 * MemorySize gets the largest weight; the ends are clamped; 0 is the default. */
static void test_weight_formula(void **state)
{
	assert_int_equal(cg_v2_weight(128), 125);
	assert_int_equal(cg_v2_weight(1769), 1727);
	assert_int_equal(cg_v2_weight(10240), 10000);
	assert_int_equal(cg_v2_weight(20000), 10000);
	assert_int_equal(cg_v2_weight(1), 1);
	assert_int_equal(cg_v2_weight(0), 100);
	assert_int_equal(cg_v1_shares(128), 3276);
	assert_int_equal(cg_v1_shares(1769), 45286);
	assert_int_equal(cg_v1_shares(10240), 262144);
	assert_int_equal(cg_v1_shares(20000), 262144);
	assert_int_equal(cg_v1_shares(0), 1024);
	assert_int_equal(cg_v1_shares(1), 25);
	/* The ratio between two sizes is kept (to the rounding). */
	assert_int_equal(cg_v1_shares(1024) / cg_v1_shares(128), 8);
	assert_int_equal(cg_v2_weight(1024) / cg_v2_weight(128), 8);
	/* While a runtime initialises: one vCPU's weight at least. */
	assert_int_equal(cg_lambda_init_weight(128), 1769);
	assert_int_equal(cg_lambda_init_weight(1769), 1769);
	assert_int_equal(cg_lambda_init_weight(4096), 4096);
}

#define ENV2 "/sys/fs/cgroup/lambdad-4242/env"

static void test_v2_limits(void **state)
{
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	set_ok(g, 128);
	assert_file(ENV2 "/memory.max", "134217728");
	assert_file(ENV2 "/memory.swap.max", "0");
	assert_file(ENV2 "/cpu.max", "7200 100000"); /* 72 thousandths: 7.2 ms per 100 ms */
	assert_file(ENV2 "/cpu.weight", "125");
	assert_file(ENV2 "/pids.max", "1024");
	set_ok(g, 1769);
	assert_file(ENV2 "/memory.max", "1854930944");
	assert_file(ENV2 "/cpu.max", "100000 100000"); /* one full CPU */
	set_ok(g, 10240);
	assert_file(ENV2 "/cpu.max", "578800 100000");
	struct cg_limits none = {0, 0, 0, 0};
	assert_int_equal(cg_set_limits(g, &none, NULL), 0);
	assert_file(ENV2 "/memory.max", "max");
	assert_file(ENV2 "/memory.swap.max", "max");
	assert_file(ENV2 "/cpu.max", "max 100000");
	assert_file(ENV2 "/cpu.weight", "100");
	assert_file(ENV2 "/pids.max", "max");
	struct cg_limits tiny = {16, 1, 1, 0};
	assert_int_equal(cg_set_limits(g, &tiny, NULL), 0);
	assert_file(ENV2 "/cpu.max", "1000 100000"); /* the kernel's minimum quota */
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_v2_limits_no_swap_accounting(void **state)
{
	v2_swap = false;
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	set_ok(g, 256);
	assert_file(ENV2 "/memory.max", "268435456");
	assert_false(there(ENV2 "/memory.swap.max"));
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_v1_limits(void **state)
{
	layout_v1(true, true, true);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	set_ok(g, 128);
	assert_file(MEM "/lambdad-4242/env/memory.limit_in_bytes", "134217728");
	assert_file(MEM "/lambdad-4242/env/memory.memsw.limit_in_bytes", "134217728");
	assert_file(CPU "/lambdad-4242/env/cpu.cfs_period_us", "100000");
	assert_file(CPU "/lambdad-4242/env/cpu.cfs_quota_us", "7200");
	assert_file(CPU "/lambdad-4242/env/cpu.shares", "3276");
	assert_file(PIDS "/lambdad-4242/env/pids.max", "1024");
	/* Raising and lowering keep memsw >= the memory limit at every step (the fake
	 * kernel refuses otherwise, as Linux does). */
	set_ok(g, 1769);
	assert_file(MEM "/lambdad-4242/env/memory.limit_in_bytes", "1854930944");
	assert_file(MEM "/lambdad-4242/env/memory.memsw.limit_in_bytes", "1854930944");
	assert_file(CPU "/lambdad-4242/env/cpu.cfs_quota_us", "100000");
	set_ok(g, 256);
	assert_file(MEM "/lambdad-4242/env/memory.limit_in_bytes", "268435456");
	assert_file(MEM "/lambdad-4242/env/memory.memsw.limit_in_bytes", "268435456");
	assert_file(MEM "/lambdad-4242/env/memory.swappiness", "60\n");
	struct cg_limits none = {0, 0, 0, 0};
	assert_int_equal(cg_set_limits(g, &none, NULL), 0);
	assert_file(CPU "/lambdad-4242/env/cpu.shares", "1024");
	assert_file(MEM "/lambdad-4242/env/memory.limit_in_bytes", "-1");
	assert_file(MEM "/lambdad-4242/env/memory.memsw.limit_in_bytes", "-1");
	assert_file(CPU "/lambdad-4242/env/cpu.cfs_quota_us", "-1");
	assert_file(PIDS "/lambdad-4242/env/pids.max", "max");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_v1_limits_no_memsw(void **state)
{
	layout_v1(true, false, false);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	set_ok(g, 128);
	assert_file(MEM "/lambdad-4242/env/memory.limit_in_bytes", "134217728");
	assert_false(there(MEM "/lambdad-4242/env/memory.memsw.limit_in_bytes"));
	assert_file(MEM "/lambdad-4242/env/memory.swappiness", "0");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

/* --cpu-limit: one vCPU's weight and no quota while the runtime initialises, then the
 * function's own weight and quota (only those files are written), in each kernel's. */
static void test_v2_quota_after_init(void **state)
{
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	struct cg_limits l;
	cg_lambda_limits(128, &l);
	l.cpu_millis = 0;
	l.cpu_weight = cg_lambda_init_weight(128);
	assert_int_equal(cg_set_limits(g, &l, NULL), 0);
	assert_file(ENV2 "/cpu.max", "max 100000");
	assert_file(ENV2 "/cpu.weight", "1727");
	wlog[0] = '\0';
	struct err e = {0};
	assert_int_equal(cg_set_cpu_weight(g, 128, &e), 0);
	assert_int_equal(cg_set_cpu_quota(g, 72, &e), 0);
	assert_string_equal(wlog, "cpu.weight=125\ncpu.max=7200 100000\n");
	assert_file(ENV2 "/cpu.weight", "125");
	assert_file(ENV2 "/memory.max", "134217728");
	assert_int_equal(cg_set_cpu_quota(g, 0, &e), 0);
	assert_file(ENV2 "/cpu.max", "max 100000");
	fail_on("write", "cpu.max", EINVAL, 1);
	assert_int_equal(cg_set_cpu_quota(g, 72, &e), -EINVAL);
	assert_string_equal(e.msg, "cgroup: writing \"7200 100000\" to " ENV2 "/cpu.max: Invalid argument");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_v1_quota_after_init(void **state)
{
	layout_v1(true, true, true);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	struct cg_limits l;
	cg_lambda_limits(128, &l);
	l.cpu_millis = 0;
	l.cpu_weight = cg_lambda_init_weight(128);
	assert_int_equal(cg_set_limits(g, &l, NULL), 0);
	assert_file(CPU "/lambdad-4242/env/cpu.cfs_quota_us", "-1");
	assert_file(CPU "/lambdad-4242/env/cpu.shares", "45286");
	wlog[0] = '\0';
	struct err e = {0};
	assert_int_equal(cg_set_cpu_weight(g, 128, &e), 0);
	assert_int_equal(cg_set_cpu_quota(g, 1000, &e), 0);
	assert_string_equal(wlog, "cpu.shares=3276\ncpu.cfs_period_us=100000\ncpu.cfs_quota_us=100000\n");
	assert_file(CPU "/lambdad-4242/env/cpu.shares", "3276");
	assert_int_equal(cg_set_cpu_quota(g, 0, &e), 0);
	assert_file(CPU "/lambdad-4242/env/cpu.cfs_quota_us", "-1");
	fail_on("open", "cpu.cfs_quota_us", EACCES, 1);
	assert_int_equal(cg_set_cpu_quota(g, 72, &e), -EACCES);
	assert_contains(e.msg, "cpu.cfs_quota_us: Permission denied");
	fail_on("write", "cpu.shares", EINVAL, 1);
	assert_int_equal(cg_set_cpu_weight(g, 128, &e), -EINVAL);
	assert_string_equal(e.msg, "cgroup: writing \"3276\" to " CPU
	                           "/lambdad-4242/env/cpu.shares: Invalid argument");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_set_limits_errors(void **state)
{
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	struct cg_limits l;
	cg_lambda_limits(128, &l);
	struct err e = {0};
	fail_on("write", "cpu.max", ENOSPC, 1);
	assert_int_equal(cg_set_limits(g, &l, &e), -ENOSPC);
	assert_string_equal(e.msg,
	                    "cgroup: writing \"7200 100000\" to " ENV2 "/cpu.max: No space left on device");
	fail_on("open", "pids.max", EACCES, 1);
	assert_int_equal(cg_set_limits(g, &l, &e), -EACCES);
	assert_contains(e.msg, "pids.max: Permission denied");
	fail_on("write", "cpu.weight", ERANGE, 1);
	assert_int_equal(cg_set_limits(g, &l, &e), -ERANGE);
	assert_contains(e.msg, "writing \"125\" to " ENV2 "/cpu.weight");
	fail_on("write", "memory.max", EBUSY, 1);
	assert_int_equal(cg_set_limits(g, &l, &e), -EBUSY);
	assert_contains(e.msg, "memory.max: Device or resource busy");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

/* ---- groups ---- */

static void test_create_errors(void **state)
{
	layout_v1(true, true, true);
	struct cg_root *r = open_ok();
	struct cg *g = NULL;
	struct err e = {0};
	assert_int_equal(cg_new(r, "../x", &g, &e), -EINVAL);
	assert_int_equal(cg_new(r, "", &g, &e), -EINVAL);
	fail_on("mkdir", FRZ, EACCES, 1);
	assert_int_equal(cg_new(r, "env", &g, &e), -EACCES);
	assert_null(g);
	assert_contains(e.msg, "mkdir " FRZ "/lambdad-4242/env: Permission denied");
	assert_false(there(MEM "/lambdad-4242/env"));
	assert_false(there(CPU "/lambdad-4242/env"));
	assert_false(there(PIDS "/lambdad-4242/env"));
	fail_on("mkdir", CPU, ENOSPC, 1);
	assert_int_equal(cg_new(r, "env", &g, &e), -ENOSPC);
	assert_false(there(MEM "/lambdad-4242/env"));
	g = create_ok(r, "env");
	struct cg *g2 = NULL;
	assert_int_equal(cg_new(r, "env", &g2, &e), -EEXIST);
	assert_null(g2);
	assert_true(there(MEM "/lambdad-4242/env")); /* the existing group is untouched */
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_attach_v2(void **state)
{
	layout_v2("/system.slice/lambdad.service", "", "cpu memory pids");
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	alive[nalive++] = 500;
	put(SVC "/lambdad-4242-server/cgroup.procs", "4242\n500\n");
	assert_int_equal(cg_attach(g, 500, NULL), 0);
	assert_file(SVC "/lambdad-4242/env/cgroup.procs", "500\n");
	assert_file(SVC "/lambdad-4242-server/cgroup.procs", "4242\n");
	struct err e = {0};
	assert_int_equal(cg_remove(g), -EBUSY);
	assert_true(there(SVC "/lambdad-4242/env"));
	assert_int_equal(cg_kill(g), 0);
	assert_int_equal(nkilled, 1);
	assert_int_equal(cg_remove(g), 0);
	assert_false(there(SVC "/lambdad-4242/env"));
	(void)e;
	cg_root_free(r);
}

static void test_attach_v1_partial(void **state)
{
	layout_v1(true, true, true);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	alive[nalive++] = 500;
	put(MEM "/cgroup.procs", "4242\n500\n");
	put(CPU "/cgroup.procs", "4242\n500\n");
	put(PIDS "/cgroup.procs", "4242\n500\n");
	struct err e = {0};
	fail_on("write", PIDS "/lambdad-4242/env/cgroup.procs", ENOSPC, 1);
	assert_int_equal(cg_attach(g, 500, &e), -ENOSPC);
	assert_contains(e.msg, PIDS "/lambdad-4242/env/cgroup.procs: No space left on device");
	/* Moved back where it had been moved already. */
	assert_file(MEM "/lambdad-4242/env/cgroup.procs", "");
	assert_file(CPU "/lambdad-4242/env/cgroup.procs", "");
	assert_file(MEM "/cgroup.procs", "4242\n500\n");
	assert_file(CPU "/cgroup.procs", "4242\n500\n");
	assert_int_equal(cg_attach(g, 500, &e), 0);
	assert_file(MEM "/lambdad-4242/env/cgroup.procs", "500\n");
	assert_file(CPU "/lambdad-4242/env/cgroup.procs", "500\n");
	assert_file(PIDS "/lambdad-4242/env/cgroup.procs", "500\n");
	assert_file(FRZ "/lambdad-4242/env/cgroup.procs", "500\n");
	assert_file(MEM "/cgroup.procs", "4242\n");
	assert_int_equal(cg_kill(g), 0);
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_destroy_v1_partial(void **state)
{
	layout_v1(true, false, true);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	fail_on("rmdir", CPU, EBUSY, 1);
	assert_int_equal(cg_remove(g), -EBUSY);
	assert_false(there(MEM "/lambdad-4242/env"));
	assert_true(there(CPU "/lambdad-4242/env"));
	assert_false(there(PIDS "/lambdad-4242/env"));
	fail_on("rmdir", CPU, EIO, 1);
	assert_int_equal(cg_remove(g), -EIO);
	assert_int_equal(cg_remove(g), 0);
	assert_false(there(CPU "/lambdad-4242/env"));
	cg_root_free(r);
}

static void test_root_free_removes_groups(void **state)
{
	layout_v1(true, true, true);
	struct cg_root *r = open_ok();
	struct cg *a = create_ok(r, "a"), *b = create_ok(r, "b");
	alive[nalive++] = 600;
	assert_int_equal(cg_attach(b, 600, NULL), 0);
	cg_root_free(r);
	cg_free(a);
	cg_free(b);
	cg_free(NULL);
	cg_root_free(NULL);
	assert_false(there(MEM "/lambdad-4242"));
	assert_false(there(CPU "/lambdad-4242"));
	assert_false(there(PIDS "/lambdad-4242"));
	assert_false(there(FRZ "/lambdad-4242"));
	assert_int_equal(nkilled, 1);
	assert_int_equal(killed[0], 600);
}

/* ---- usage, kill, freeze ---- */

static void test_usage_v2(void **state)
{
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	put(ENV2 "/memory.peak", "134217728\n");
	put(ENV2 "/memory.current", "4096\n");
	put(ENV2 "/memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 3\noom_group_kill 0\n");
	uint64_t v = 0;
	assert_int_equal(cg_peak_kb(g, &v), 0);
	assert_int_equal(v, 131072);
	assert_int_equal(cg_oom_kills(g, &v), 0);
	assert_int_equal(v, 3);
	autofree char *peak = real(ENV2 "/memory.peak");
	unlink(peak); /* before Linux 5.19 */
	assert_int_equal(cg_peak_kb(g, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_usage_v1(void **state)
{
	layout_v1(true, false, true);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	put(MEM "/lambdad-4242/env/memory.max_usage_in_bytes", "67108864\n");
	put(MEM "/lambdad-4242/env/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	uint64_t v = 0;
	assert_int_equal(cg_peak_kb(g, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(cg_oom_kills(g, &v), 0);
	assert_int_equal(v, 2);
	put(MEM "/lambdad-4242/env/memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\n"); /* before 4.13 */
	assert_int_equal(cg_oom_kills(g, &v), -ENOTSUP);
	fail_on("read", "max_usage", EIO, 1);
	assert_int_equal(cg_peak_kb(g, &v), -EIO);
	assert_int_equal(cg_freeze(g, true), -ENOTSUP); /* no freezer mounted */
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_kill_v2_cgroup_kill(void **state)
{
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	alive[nalive++] = 501;
	alive[nalive++] = 502;
	put(ENV2 "/cgroup.procs", "501\n502\n");
	wlog[0] = '\0';
	assert_int_equal(cg_kill(g), 0);
	assert_string_equal(wlog, "cgroup.kill=1\n");
	assert_int_equal(nkilled, 2);
	assert_file(ENV2 "/cgroup.procs", "");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

/* Without cgroup.kill: passes over cgroup.procs catch what forks while being killed. */
static void test_kill_fork_race(void **state)
{
	v2_killfile = false;
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	alive[nalive++] = 501;
	alive[nalive++] = 502;
	put(ENV2 "/cgroup.procs", "501\n502\n");
	spawn[0][0] = 501, spawn[1][0] = 503;
	spawn[0][1] = 503, spawn[1][1] = 504;
	nspawn = 2;
	/* The fake forks by adding the child to the group when the parent is killed. */
	wlog[0] = '\0';
	assert_int_equal(cg_kill(g), 0);
	assert_string_equal(wlog, "cgroup.freeze=1\ncgroup.freeze=0\n");
	assert_int_equal(nkilled, 4);
	assert_int_equal(killed[0], 501);
	assert_int_equal(killed[1], 502);
	assert_int_equal(killed[2], 503);
	assert_int_equal(killed[3], 504);
	assert_file(ENV2 "/cgroup.procs", "");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_kill_v1_freezer(void **state)
{
	layout_v1(true, true, true);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	alive[nalive++] = 501;
	alive[nalive++] = 502;
	assert_int_equal(cg_attach(g, 501, NULL), 0);
	assert_int_equal(cg_attach(g, 502, NULL), 0);
	wlog[0] = '\0';
	assert_int_equal(cg_kill(g), 0);
	assert_string_equal(wlog, "freezer.state=FROZEN\nfreezer.state=THAWED\n");
	assert_int_equal(nkilled, 2);
	assert_int_equal(cg_freeze(g, true), 0);
	assert_file(FRZ "/lambdad-4242/env/freezer.state", "FROZEN");
	assert_int_equal(cg_freeze(g, false), 0);
	assert_file(FRZ "/lambdad-4242/env/freezer.state", "THAWED");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

static void test_freeze_v2(void **state)
{
	v2_freeze = false;
	layout_v2("/", "", NULL);
	struct cg_root *r = open_ok();
	struct cg *g = create_ok(r, "env");
	assert_int_equal(cg_freeze(g, true), -ENOTSUP); /* before Linux 5.2 */
	put(ENV2 "/cgroup.freeze", "0\n");
	assert_int_equal(cg_freeze(g, true), 0);
	assert_file(ENV2 "/cgroup.freeze", "1");
	assert_int_equal(cg_remove(g), 0);
	cg_root_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_v2_at_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_nested_moves_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_nested_shared_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_missing_controller, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_missing_pids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_cgroup_fs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_permission, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_fail_each_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_fail_each_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_v1, setup, teardown),
	    cmocka_unit_test(test_lambda_formula),
	    cmocka_unit_test(test_weight_formula),
	    cmocka_unit_test_setup_teardown(test_v2_quota_after_init, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_quota_after_init, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_limits_no_swap_accounting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_limits_no_memsw, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_limits_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_v1_partial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_destroy_v1_partial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_free_removes_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_usage_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_usage_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill_v2_cgroup_kill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill_fork_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill_v1_freezer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_freeze_v2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
