/* Namespace sandboxes made ahead of demand: a blank sandbox is a child in new mount,
 * PID, network, IPC and UTS namespaces (and a user namespace when not root) that has
 * built its minimal root and Runtime API socket and waits for a function; a cold
 * start sends it the rest of its plan and it execs. LINUX ONLY. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop/reap.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox_int.h"
#include "sandbox/seccomp.h"
#include "sandbox/steps.h"

#define RTAPI_PORT 9001
#define SBX_UID 993 /* Lambda's sbx_user1051 */
#define SBX_GID 990
#define MAX_GO_PLAN (256 * 1024)
#define BLANK_MAX 64
#define SPARE_NET_MAX 64 /* network namespaces kept from ended environments */

/* A sandbox made ahead of demand, waiting for its function. */
struct blank {
	pid_t pid;
	int ctl;
	int out_r;
	struct cg *cg;
	struct sbx_net net;
};

/* A cgroup whose processes were killed; removed once they are gone. */
struct grave {
	struct cg *cg;
	pid_t pid;
	struct grave *next;
};

static struct {
	bool ready;
	bool isolated;
	bool userns;
	bool outbound;
	bool can_freeze;
	enum sandbox_cpu_limit cpu_limit;
	char *runtime_dir;                       /* host path of /var/runtime, or NULL */
	uint16_t host_ports[SBX_HOST_PORTS_MAX]; /* --function-host-port */
	unsigned nhost_ports;
	struct sandbox_api api; /* who serves the API inside (serve NULL: nobody yet) */
	char *api_host_url;     /* AWS_ENDPOINT_URL of functions on the host, or NULL */
	char describe[160];
	struct sbx_plan blank_plan;
	struct sock_fprog seccomp;
	bool have_seccomp;
	struct cg_root *cgroot;
	unsigned pool_size;
	struct blank pool[BLANK_MAX];
	unsigned npool;
	unsigned long serial;
	struct grave *graves;
	pid_t self;
	/* The pool is filled by a worker thread: making a blank (clone with a new network
	 * namespace, cgroup directories, the move into them) takes a millisecond or more
	 * that the event loop must not wait for. The lock covers pool, npool, serial and
	 * graves. */
	int spare_net[SPARE_NET_MAX]; /* namespaces to reuse (root, network none) */
	unsigned nspare;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t worker;
	bool worker_running;
	bool worker_failed; /* the last blank it made failed: cold starts make their own */
	bool bury_pending;  /* graves to dig: the worker removes their cgroups */
	int notify_fd;      /* eventfd: a blank was added to the pool */
	bool stopping;
	/* The loop's side: creation steps are events of base. */
	struct event_base *base;
	struct reap *reap;
	struct event *notify_ev; /* notify_fd is readable: serve the waiting sandboxes */
	struct event *refill_ev; /* wakes the pool thread after this loop pass */
} S;

/* The go plan arrives here in the child: never touched by the server itself. */
static unsigned char go_buf[MAX_GO_PLAN];

/* ---- the root ---- */

static void add_ro_bind(struct sbx_plan *p, const char *src, const char *dst, bool dir)
{
	sbx_plan_add(p, dir ? SBX_MKDIR_OPT : SBX_TOUCH, 0755, 0, NULL, dst, NULL, NULL);
	sbx_plan_add(p, SBX_MOUNT, MS_BIND | MS_REC, 0, src, dst, NULL, NULL);
	sbx_plan_add(p, SBX_REMOUNT_RO, 0, 0, NULL, dst, NULL, NULL);
}

/* A top-level system path: a symlink is copied (merged /usr), a directory bound read-only. */
static void add_system_path(struct sbx_plan *p, const char *root, const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return;
	autofree char *dst = xasprintf("%s%s", root, path);
	if (S_ISLNK(sb.st_mode)) {
		char target[256];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			sbx_plan_add(p, SBX_SYMLINK, 0, 0, target, dst, NULL, NULL);
		}
	} else if (S_ISDIR(sb.st_mode)) {
		add_ro_bind(p, path, dst, true);
	}
}

/* The steps every blank sandbox runs: namespaces' insides, then a minimal root with
 * the system read-only, /proc, a small /dev, and pivot_root into it. */
static void build_blank_plan(struct sbx_plan *p, const char *root, const char *runtime_dir,
                             const char *const *ro_dirs)
{
	sbx_plan_add(p, SBX_DEATHSIG, 0, 0, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_MOUNT, MS_REC | MS_PRIVATE, 0, NULL, "/", NULL, NULL);
	sbx_plan_add(p, SBX_LOOPBACK_UP, 0, 0, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_RTAPI_LISTEN, RTAPI_PORT, SBX_LISTEN_RTAPI, NULL, NULL, NULL, NULL);
	/* lambdad's API and the host ports, made here too: a cold start waits for none. */
	sbx_plan_add(p, SBX_RTAPI_LISTEN, SANDBOX_API_PORT, SBX_LISTEN_API, NULL, NULL, NULL, NULL);
	for (unsigned i = 0; i < S.nhost_ports; i++)
		sbx_plan_add(p, SBX_RTAPI_LISTEN, S.host_ports[i], SBX_LISTEN_HOST, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_MOUNT, MS_NOSUID | MS_NODEV, 0, "tmpfs", root, "tmpfs", "mode=0755,size=1m");
	static const char *const sys_paths[] = {"/usr",   "/bin",   "/sbin",  "/lib",
	                                        "/lib64", "/lib32", "/libx32"};
	for (size_t i = 0; i < ARRAY_SIZE(sys_paths); i++)
		add_system_path(p, root, sys_paths[i]);

	/* /etc: what programs need to load libraries, resolve names and check certificates;
	 * nothing of the host's accounts. */
	autofree char *etc = xasprintf("%s/etc", root);
	sbx_plan_add(p, SBX_MKDIR, 0755, 0, NULL, etc, NULL, NULL);
	static const char *const etc_files[] = {
	    "ld.so.cache", "ld.so.conf",      "ld.so.conf.d", "nsswitch.conf", "host.conf",
	    "ssl",         "ca-certificates", "alternatives", "localtime",     "protocols",
	    "services",    "mime.types",      "os-release"};
	for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
		autofree char *src = xasprintf("/etc/%s", etc_files[i]);
		autofree char *dst = xasprintf("%s/%s", etc, etc_files[i]);
		struct stat sb;
		if (stat(src, &sb) == 0 && (S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode)))
			add_ro_bind(p, src, dst, S_ISDIR(sb.st_mode));
	}
	if (S.outbound) {
		autofree char *resolv = xasprintf("%s/resolv.conf", etc);
		sbx_plan_add(p, SBX_WRITE_FILE, 0644, 0, "nameserver 10.0.2.3\n", resolv, NULL, NULL);
	}
	autofree char *passwd = xasprintf("%s/passwd", etc);
	autofree char *group = xasprintf("%s/group", etc);
	autofree char *hosts = xasprintf("%s/hosts", etc);
	sbx_plan_add(p, SBX_WRITE_FILE, 0644, 0,
	             "root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:993:990::/tmp:/sbin/nologin\n",
	             passwd, NULL, NULL);
	sbx_plan_add(p, SBX_WRITE_FILE, 0644, 0, "root:x:0:\nsbx_user1051:x:990:\n", group, NULL, NULL);
	sbx_plan_add(p, SBX_WRITE_FILE, 0644, 0, "127.0.0.1 localhost\n::1 localhost\n", hosts, NULL, NULL);

	static const char *const dirs[] = {"/var", "/var/task", "/var/runtime", "/opt",
	                                   "/tmp", "/proc",     "/dev",         "/.host"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		autofree char *d = xasprintf("%s%s", root, dirs[i]);
		sbx_plan_add(p, SBX_MKDIR, 0755, 0, NULL, d, NULL, NULL);
	}
	if (runtime_dir) {
		autofree char *d = xasprintf("%s/var/runtime", root);
		sbx_plan_add(p, SBX_MOUNT, MS_BIND | MS_REC, 0, runtime_dir, d, NULL, NULL);
		sbx_plan_add(p, SBX_REMOUNT_RO, 0, 0, NULL, d, NULL, NULL);
		/* The runtime's AWS SDK for ES modules too: an import resolves through the
		 * node_modules of the importing file's directory and its parents, never
		 * NODE_PATH, so /var/node_modules leads there (after /var/task/node_modules: a
		 * function's own copy wins), as AWS's runtimes find theirs from NODE_PATH. */
		autofree char *nm = xasprintf("%s/node_modules", runtime_dir);
		autofree char *link = xasprintf("%s/var/node_modules", root);
		struct stat st;
		if (stat(nm, &st) == 0 && S_ISDIR(st.st_mode))
			sbx_plan_add(p, SBX_SYMLINK, 0, 0, "/var/runtime/node_modules", link, NULL, NULL);
	}
	/* Interpreters outside the system paths (--runtime-path), at their own paths. */
	for (size_t i = 0; ro_dirs && ro_dirs[i]; i++) {
		autofree char *d = xasprintf("%s%s", root, ro_dirs[i]);
		for (char *q = d + strlen(root) + 1; (q = strchr(q, '/')); *q++ = '/') {
			*q = 0;
			sbx_plan_add(p, SBX_MKDIR_OPT, 0755, 0, NULL, d, NULL, NULL);
		}
		add_ro_bind(p, ro_dirs[i], d, true);
	}
	autofree char *proc = xasprintf("%s/proc", root);
	sbx_plan_add(p, SBX_MOUNT, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, "proc", proc, "proc", NULL);

	autofree char *dev = xasprintf("%s/dev", root);
	sbx_plan_add(p, SBX_MOUNT, MS_NOSUID | MS_NOEXEC, 0, "tmpfs", dev, "tmpfs", "mode=0755,size=64k");
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom"};
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		autofree char *src = xasprintf("/dev/%s", nodes[i]);
		autofree char *dst = xasprintf("%s/%s", dev, nodes[i]);
		sbx_plan_add(p, SBX_TOUCH, 0, 0, NULL, dst, NULL, NULL);
		sbx_plan_add(p, SBX_MOUNT, MS_BIND, 0, src, dst, NULL, NULL);
	}
	static const char *const links[][2] = {{"/proc/self/fd", "fd"},
	                                       {"/proc/self/fd/0", "stdin"},
	                                       {"/proc/self/fd/1", "stdout"},
	                                       {"/proc/self/fd/2", "stderr"}};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		autofree char *dst = xasprintf("%s/%s", dev, links[i][1]);
		sbx_plan_add(p, SBX_SYMLINK, 0, 0, links[i][0], dst, NULL, NULL);
	}
	sbx_plan_add(p, SBX_MOUNT, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, 0, NULL, dev, NULL, NULL);
	sbx_plan_add(p, SBX_PIVOT_ROOT, 0, 0, root, ".host", NULL, NULL);
}

/* The function's layers at /opt: one is bound read-only; more are the lower layers of a
 * read-only overlay, the last of the list on top, so a later layer's file hides an
 * earlier one's. Overlayfs needs no upper directory for that, and mounts in a user
 * namespace since Linux 5.11 (rootless mode). None: /opt stays the root's empty one, and
 * the plan is what it was (no cost to a cold start without layers). */
static void add_layers(struct sbx_plan *p, const char *const *dirs)
{
	/* Layers of the same content are one directory: overlayfs refuses a lower
	 * directory twice (ELOOP), and the later copy is the one on top anyway. */
	const char *keep[SANDBOX_LAYERS_MAX];
	size_t n = 0;
	for (size_t i = 0; dirs && dirs[i] && n < SANDBOX_LAYERS_MAX; i++) {
		bool later = false;
		for (size_t j = i + 1; dirs[j]; j++)
			later = later || strcmp(dirs[i], dirs[j]) == 0;
		if (!later)
			keep[n++] = dirs[i];
	}
	if (n == 0)
		return;
	if (n == 1) {
		autofree char *src = xasprintf("/.host%s", keep[0]);
		sbx_plan_add(p, SBX_MOUNT, MS_BIND | MS_REC, 0, src, "/opt", NULL, NULL);
		sbx_plan_add(p, SBX_REMOUNT_RO, 0, 0, NULL, "/opt", NULL, NULL);
		return;
	}
	size_t len = strlen("lowerdir=");
	for (size_t i = 0; i < n; i++)
		len += strlen("/.host") + strlen(keep[i]) + 1;
	autofree char *opts = xmalloc(len + 1);
	char *q = stpcpy(opts, "lowerdir=");
	for (size_t i = n; i-- > 0;)
		q += sprintf(q, "%s/.host%s", i + 1 < n ? ":" : "", keep[i]);
	sbx_plan_add(p, SBX_MOUNT, MS_RDONLY | MS_NOSUID | MS_NODEV, 0, "overlay", "/opt", "overlay", opts);
}

/* The function's part: /tmp, its code, the host's tree gone, limits, identity, exec. */
static void build_go_plan(struct sbx_plan *p, const struct sandbox_spec *spec, char *const *envp)
{
	char data[64];
	snprintf(data, sizeof(data), "mode=1777,size=%um", spec->ephemeral_mb ? spec->ephemeral_mb : 512);
	sbx_plan_add(p, SBX_MOUNT, MS_NOSUID | MS_NODEV, 0, "tmpfs", "/tmp", "tmpfs", data);
	autofree char *code = xasprintf("/.host%s", spec->code_dir);
	sbx_plan_add(p, SBX_MOUNT, MS_BIND | MS_REC, 0, code, "/var/task", NULL, NULL);
	sbx_plan_add(p, SBX_REMOUNT_RO, 0, 0, NULL, "/var/task", NULL, NULL);
	add_layers(p, spec->layer_dirs);
	sbx_plan_add(p, SBX_UMOUNT_DETACH, 0, 0, NULL, "/.host", NULL, NULL);
	sbx_plan_add(p, SBX_RMDIR, 0, 0, NULL, "/.host", NULL, NULL);
	sbx_plan_add(p, SBX_REMOUNT_RO, 0, 0, NULL, "/", NULL, NULL);
	sbx_plan_add(p, SBX_HOSTNAME, 0, 0, "lambdad", NULL, NULL, NULL);
	sbx_plan_add(p, SBX_STDIO, 0, 0, NULL, "/dev/null", NULL, NULL);
	sbx_plan_add(p, SBX_CHDIR, 0, 0, NULL, "/var/task", NULL, NULL);
	sbx_plan_add(p, SBX_RLIMIT, RLIMIT_NOFILE, spec->nofile ? spec->nofile : 1024, NULL, NULL, NULL,
	             NULL);
	sbx_plan_add(p, SBX_RLIMIT, RLIMIT_CORE, 0, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_INIT, 0, 0, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_DROP_CAPS, 0, 0, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_SETID, SBX_UID, SBX_GID, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_DEATHSIG, 0, 0, NULL, NULL, NULL, NULL);
	sbx_plan_add(p, SBX_SECCOMP, 0, 0, NULL, NULL, NULL, NULL);
	autofree char *exe = spec->runtime_exe ? xasprintf("/var/runtime/%s", spec->runtime_exe)
	                     : spec->exe_layer ? xasprintf("/opt/%s", spec->exe)
	                                       : xasprintf("/var/task/%s", spec->exe);
	char *const argv[] = {exe, NULL};
	char *const iargv[] = {(char *)spec->interp, exe, NULL};
	sbx_plan_exec(p, spec->interp ? spec->interp : exe, spec->interp ? iargv : argv, envp);
}

/* ---- the child ---- */

static void child_report(int fd, int kind, int value, unsigned step, int phase)
{
	struct sbx_msg m = {kind, value, step, phase};
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 && write(fd, &m, sizeof(m)) < 0) {
	}
}

/* Runs in the cloned child: never returns. ctl is fd 3, the output pipe fd 4. */
static __attribute__((noreturn)) void child_main(int ctl, int out_w, int netns)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (netns >= 0) {
		/* A network namespace an ended environment left: its loopback is up, and
		 * nothing of the old function can be in it (no capabilities, processes gone).
		 * Entered before the dup3s below, which may reuse its descriptor number. */
		if (setns(netns, CLONE_NEWNET) < 0) {
			child_report(ctl, SBX_MSG_FAILED, errno, 0, 0);
			_exit(127);
		}
	}
	if (dup3(ctl, 3, O_CLOEXEC) < 0 || dup3(out_w, 4, O_CLOEXEC) < 0)
		_exit(126);
	prctl(PR_SET_NAME, "lambdad-sbx", 0, 0, 0); /* ps tells it from the server */
	syscall(SYS_close_range, 5, ~0U, 0);
	struct sbx_child_ctx ctx = {.ctl_fd = 3,
	                            .report_fd = 3,
	                            .out_fd = 4,
	                            .server_pid = 0,
	                            .seccomp = S.have_seccomp ? &S.seccomp : NULL};
	if (S.userns) {
		char go;
		if (recv(3, &go, 1, 0) != 1)
			_exit(0);
	}
	unsigned failed = 0;
	int r = sbx_plan_run(S.blank_plan.buf, S.blank_plan.len, &ctx, &failed);
	if (r < 0) {
		child_report(3, SBX_MSG_FAILED, -r, failed, 0);
		_exit(127);
	}
	child_report(3, SBX_MSG_READY, 0, 0, 0);
	ssize_t n;
	do
		n = recv(3, go_buf, sizeof(go_buf), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(0); /* the server let this blank go */
	r = sbx_plan_run(go_buf, (size_t)n, &ctx, &failed);
	/* Only a failure comes back here (in the runtime's process after SBX_INIT). */
	child_report(ctx.report_fd, SBX_MSG_FAILED, r < 0 ? -r : ENOEXEC, failed, 1);
	_exit(127);
}

/* ---- the parent ---- */

static int write_file(const char *path, const char *text)
{
	autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	return n == (ssize_t)strlen(text) ? 0 : -errno;
}

static int clone_flags(void)
{
	return CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
	       (S.userns ? CLONE_NEWUSER : 0);
}

/* Network namespaces are the expensive part of a sandbox (the kernel makes them one
 * at a time): keep those of ended environments to reuse. Not with a user namespace
 * (a new one could not enter it) nor with outbound networking (its helper is gone). */
static bool reuse_netns(void)
{
	return !S.userns && !S.outbound;
}

static int take_spare_net(void)
{
	int fd = -1;
	pthread_mutex_lock(&S.lock);
	if (S.nspare > 0)
		fd = S.spare_net[--S.nspare];
	pthread_mutex_unlock(&S.lock);
	return fd;
}

/* The network namespace of the live process pid, to keep for reuse (-1 if not). */
static int net_of(pid_t pid)
{
	if (!reuse_netns())
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Offers an ended environment's network namespace for reuse (takes fd). */
static void spare_net(int netns)
{
	autoclose int fd = netns; /* closed unless the spares take it */
	if (fd < 0)
		return;
	pthread_mutex_lock(&S.lock);
	if (S.nspare < SPARE_NET_MAX)
		S.spare_net[S.nspare++] = steal_fd(&fd);
	pthread_mutex_unlock(&S.lock);
}

static void blank_drop(struct blank *b);

static int blank_new(struct blank *b, struct err *errp)
{
	int sv[2], outp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_make(errp, errno, "socketpair: %s", strerror(errno));
	/* Ours until they are handed to b. The child's ends are closed as soon as it has
	 * them, so that the parent sees the child go (EPIPE on ctl, EOF on out_r). */
	autoclose int ctl = sv[0];
	autoclose int child_ctl = sv[1];
	if (pipe2(outp, O_CLOEXEC) < 0)
		return err_make(errp, errno, "pipe: %s", strerror(errno));
	autoclose int out_r = outp[0];
	autoclose int child_out = outp[1];
	int buf = MAX_GO_PLAN + 4096;
	setsockopt(ctl, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	b->cg = NULL;
	if (S.cgroot) {
		char id[48];
		snprintf(id, sizeof(id), "env-%lu", __atomic_add_fetch(&S.serial, 1, __ATOMIC_RELAXED));
		int r = cg_new(S.cgroot, id, &b->cg, errp);
		if (r < 0)
			return r;
	}
	autoclose int netns = reuse_netns() ? take_spare_net() : -1;
	unsigned long flags = (unsigned long)clone_flags() | SIGCHLD;
	if (netns >= 0)
		flags &= ~(unsigned long)CLONE_NEWNET;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	if (pid == 0)
		child_main(child_ctl, child_out, netns);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (netns >= 0)
		close(steal_fd(&netns));
	close(steal_fd(&child_ctl));
	close(steal_fd(&child_out));
	if (pid < 0) {
		if (b->cg)
			cg_remove(b->cg);
		return err_make(errp, e, "clone: %s", strerror(e));
	}
	b->pid = pid;
	if (S.userns) {
		char path[64], map[64];
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		write_file(path, "deny");
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		snprintf(map, sizeof(map), "%d %d 1\n", SBX_UID, (int)geteuid());
		int r = write_file(path, map);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		snprintf(map, sizeof(map), "%d %d 1\n", SBX_GID, (int)getegid());
		if (r == 0)
			r = write_file(path, map);
		if (r < 0 || send(ctl, "M", 1, MSG_NOSIGNAL) != 1) {
			kill(pid, SIGKILL);
			if (b->cg)
				cg_remove(b->cg);
			return err_make(errp, r < 0 ? -r : EPIPE, "user namespace map: %s",
			                strerror(r < 0 ? -r : EPIPE));
		}
	}
	b->ctl = steal_fd(&ctl);
	b->out_r = steal_fd(&out_r);
	memset(&b->net, 0, sizeof(b->net));
	/* Into its cgroup now, off the invoke path: moving a task between cgroups can wait
	 * for an RCU grace period. The function's limits are written when it comes. */
	if (b->cg) {
		int r = cg_attach(b->cg, pid, errp);
		if (r < 0) {
			blank_drop(b);
			return r;
		}
	}
	if (S.outbound) {
		int r = sandbox__net_start(pid, &b->net, errp);
		if (r < 0) {
			b->net.pid = 0;
			blank_drop(b);
			return r;
		}
	}
	return 0;
}

/* Remembers a killed environment's cgroup until it can be removed. */
static void add_grave(struct cg *cg, pid_t pid)
{
	struct grave *g = xcalloc(1, sizeof(*g));
	g->cg = cg;
	g->pid = pid;
	pthread_mutex_lock(&S.lock);
	g->next = S.graves;
	S.graves = g;
	pthread_mutex_unlock(&S.lock);
}

/* Lets a blank go (it exits when its control socket closes; killed to be sure). */
static void blank_drop(struct blank *b)
{
	sandbox__net_stop(&b->net);
	kill(b->pid, SIGKILL);
	close(b->ctl);
	close(b->out_r);
	if (b->cg)
		add_grave(b->cg, b->pid);
}

/* Receives one message from a child; *fd gets a passed descriptor or -1. With
 * MSG_DONTWAIT (the loop's calls) it returns -1 with EAGAIN when none is there. */
static ssize_t ctl_recv_head(int ctl, struct sbx_msg *r, int *fd, unsigned char head[3], int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char data[sizeof(struct sbx_msg)] = {0};
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	*fd = -1;
	/* Only a message received has control data: after a failure (EAGAIN) u.buf is
	 * whatever the stack held, maybe an older message's descriptor. */
	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n == (ssize_t)sizeof(struct sbx_msg))
		memcpy(r, data, sizeof(*r));
	else
		r->kind = 0;
	if (head)
		memcpy(head, data, 3);
	return n;
}

static ssize_t ctl_recv(int ctl, struct sbx_msg *r, int *fd, int flags)
{
	return ctl_recv_head(ctl, r, fd, NULL, flags);
}

static int child_error(struct err *errp, const struct sbx_msg *r, const unsigned char *plan, size_t len)
{
	char what[200];
	sbx_plan_describe(plan, len, r->step, what, sizeof(what));
	return err_make(errp, r->value, "sandbox setup failed at %s: %s", what, strerror(r->value));
}

/* ---- creation, one event at a time ---- */

static void bury(bool wait);
static void bury_soon(void);
static void sandbox_pool_fill(void);
static void sb_ctl_cb(evutil_socket_t fd, short what, void *arg);
static void sb_close_listeners(struct sandbox *sb);
static void sb_serve_listeners(struct sandbox *sb);
static void sb_net_cb(evutil_socket_t fd, short what, void *arg);
static void serve_waiting(void);
static void sb_exit_status(struct sandbox *sb, int *status);
static void sb_reaped(pid_t pid, int status, void *arg);

/* Watches fd for the next step of sb's creation (timeout_ms 0: none). */
static void sb_watch(struct sandbox *sb, int fd, event_callback_fn cb, int timeout_ms)
{
	if (sb->ev)
		event_free(sb->ev);
	sb->ev = event_new(S.base, fd, EV_READ | EV_PERSIST, cb, sb);
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	event_add(sb->ev, timeout_ms ? &tv : NULL);
}

/* The runtime ended before its owner heard it was running: told right after. */
static void sb_exit_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sandbox *sb = arg;
	event_free(sb->ev);
	sb->ev = NULL;
	int status = sb->status;
	sb_exit_status(sb, &status);
	sb->cbs.exit_cb(sb, status, sb->arg);
}

static void sb_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sandbox *sb = arg;
	event_free(sb->ev);
	sb->ev = NULL;
	if (sb->phase == SB_RUNNING && sb->reaped) {
		/* Freed with sb should the owner destroy it in ready_cb. */
		sb->ev = event_new(S.base, -1, 0, sb_exit_later_cb, sb);
		event_active(sb->ev, EV_TIMEOUT, 0);
	}
	sb->cbs.ready_cb(sb, sb->phase == SB_RUNNING ? 0 : -sb->err.code,
	                 sb->phase == SB_RUNNING ? NULL : &sb->err, sb->arg);
}

/* Calls ready_cb on the next loop turn (never from inside sandbox_new). */
static void sb_ready_soon(struct sandbox *sb)
{
	if (sb->ev)
		event_free(sb->ev);
	sb->ev = event_new(S.base, -1, 0, sb_ready_cb, sb);
	event_active(sb->ev, EV_TIMEOUT, 0);
}

/* The creation failed (sb->err says why): nothing of it is left running. */
static void sb_fail(struct sandbox *sb, int rc)
{
	LD_ASSERT(rc < 0 && sb->err.code);
	sbx_plan_fini(&sb->go);
	if (sb->rtapi_fd >= 0)
		close(sb->rtapi_fd);
	sb->rtapi_fd = -1;
	sb_close_listeners(sb);
	if (sb->phase != SB_WAIT_BLANK) {
		struct blank b = {
		    .pid = sb->pid, .ctl = sb->ctl, .out_r = sb->log_fd, .cg = sb->cg, .net = sb->net};
		blank_drop(&b);
		sb->ctl = sb->log_fd = -1;
		sb->cg = NULL;
		memset(&sb->net, 0, sizeof(sb->net));
		if (S.reap && !sb->reaped)
			reap_watch(S.reap, sb->pid, sb_reaped, NULL);
	}
	sb->phase = SB_FAILED;
	sb_ready_soon(sb);
}

static void sb_running(struct sandbox *sb)
{
	sbx_plan_fini(&sb->go);
	fcntl(sb->ctl, F_SETFL, O_NONBLOCK);
	fcntl(sb->log_fd, F_SETFL, O_NONBLOCK);
	fcntl(sb->rtapi_fd, F_SETFL, O_NONBLOCK);
	sb_serve_listeners(sb);
	sb->netns = net_of(sb->pid);
	sb->isolated = true;
	sb->phase = SB_RUNNING;
	sb_ready_soon(sb);
}

/* READY (and the network) are there: the function's limits and its plan. */
static void sb_send_plan(struct sandbox *sb)
{
	int r;
	if (sb->cg) {
		struct cg_limits lim;
		cg_lambda_limits(sb->memory_mb, &lim);
		/* Init is spared in either mode: no quota, and at least one vCPU's weight;
		 * sandbox_init_done writes the function's own. */
		lim.cpu_millis = 0;
		lim.cpu_weight = cg_lambda_init_weight(sb->memory_mb);
		if ((r = cg_set_limits(sb->cg, &lim, &sb->err)) < 0) {
			sb_fail(sb, r);
			return;
		}
	}
	/* One datagram within the socket's buffer (sized for MAX_GO_PLAN): never blocks. */
	ssize_t n = send(sb->ctl, sb->go.buf, sb->go.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)sb->go.len) {
		int e = n < 0 ? errno : EIO;
		sb_fail(sb, err_make(&sb->err, e, "sandbox: sending the plan: %s", strerror(e)));
		return;
	}
	sb->phase = SB_WAIT_EXEC;
	sb_watch(sb, sb->ctl, sb_ctl_cb, 0);
}

static void sb_net_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sandbox *sb = arg;
	char c;
	ssize_t n = (what & EV_READ) ? read(fd, &c, 1) : -1;
	if (n < 0 && (what & EV_READ) && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != 1) {
		sb_fail(sb, err_make(&sb->err, EIO, "slirp4netns did not set up the sandbox's network"));
		return;
	}
	close(sb->net.ready_r);
	sb->net.ready_r = -1;
	sb_send_plan(sb);
}

/* SB_WAIT_READY: one message m (n bytes) after the Runtime API socket. */
static void sb_on_ready_msg(struct sandbox *sb, ssize_t n, const struct sbx_msg *m)
{
	if (sb->got_rtapi && n > 0 && m->kind == SBX_MSG_READY) {
		if (sb->net.pid > 0 && sb->net.ready_r >= 0) {
			sb->phase = SB_WAIT_NET;
			fcntl(sb->net.ready_r, F_SETFL, O_NONBLOCK);
			sb_watch(sb, sb->net.ready_r, sb_net_cb, 5000);
		} else {
			sb_send_plan(sb);
		}
	} else if (n > 0 && m->kind == SBX_MSG_FAILED) {
		sb_fail(sb, child_error(&sb->err, m, S.blank_plan.buf, S.blank_plan.len));
	} else {
		sb_fail(sb, err_make(&sb->err, EIO, "sandbox setup: the child ended before it was ready"));
	}
}

/* SB_WAIT_EXEC: the init reports the exec, or the step that failed. */
static void sb_on_exec_msg(struct sandbox *sb, ssize_t n, const struct sbx_msg *m)
{
	if (n > 0 && m->kind == SBX_MSG_EXECED)
		sb_running(sb);
	else if (n > 0 && m->kind == SBX_MSG_FAILED)
		sb_fail(sb, child_error(&sb->err, m, sb->go.buf, sb->go.len));
	else
		sb_fail(sb, err_make(&sb->err, EIO, "sandbox: the child ended before exec"));
}

/* A listening socket the blank made (head: its tag and port): whether sb took it. */
static bool sb_take_listener(struct sandbox *sb, const unsigned char head[3], int fd)
{
	uint16_t port = (uint16_t)(head[1] | head[2] << 8);
	if (head[0] == SBX_LISTEN_RTAPI && !sb->got_rtapi) {
		sb->rtapi_fd = fd;
		sb->got_rtapi = true;
		return true;
	}
	if (head[0] == SBX_LISTEN_API && sb->api_fd < 0) {
		sb->api_fd = fd;
		return true;
	}
	if (head[0] == SBX_LISTEN_HOST && sb->nhost < SBX_HOST_PORTS_MAX) {
		sb->host_fd[sb->nhost] = fd;
		sb->host_port[sb->nhost++] = port;
		return true;
	}
	return false;
}

/* Closes the listeners not handed on yet, and stops those that were. */
static void sb_close_listeners(struct sandbox *sb)
{
	if (sb->api_fd >= 0)
		close(sb->api_fd);
	sb->api_fd = -1;
	if (sb->api_handle && S.api.unserve)
		S.api.unserve(S.api.arg, sb->api_handle);
	sb->api_handle = NULL;
	for (unsigned i = 0; i < sb->nhost; i++) {
		if (sb->host_fd[i] >= 0)
			close(sb->host_fd[i]);
		relay_listener_free(sb->relay[i]);
		sb->relay[i] = NULL;
	}
	sb->nhost = 0;
}

/* The runtime runs: 127.0.0.1:4566 inside is served as the API's own port, and each host
 * port relayed to the host. */
static void sb_serve_listeners(struct sandbox *sb)
{
	if (sb->api_fd >= 0 && S.api.serve) {
		fcntl(sb->api_fd, F_SETFL, O_NONBLOCK);
		sb->api_handle = S.api.serve(S.api.arg, sb->api_fd);
		sb->api_fd = -1;
	}
	for (unsigned i = 0; i < sb->nhost; i++) {
		sb->relay[i] = relay_listener_new(S.base, sb->host_fd[i], sb->host_port[i]);
		sb->host_fd[i] = -1;
	}
}

/* The blank's messages: its listening sockets, READY, then EXECED after the plan. */
static void sb_ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sandbox *sb = arg;
	for (;;) {
		struct sbx_msg m;
		autoclose int pfd = -1; /* a descriptor passed with the message, if any */
		unsigned char head[3];
		ssize_t n = ctl_recv_head(sb->ctl, &m, &pfd, head, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (sb->phase == SB_WAIT_READY && n == 3 && pfd >= 0 && sb_take_listener(sb, head, pfd)) {
			pfd = -1; /* sb has it */
			continue;
		}
		/* Each message moves the creation on (or ends it): the next comes as an event. */
		if (sb->phase == SB_WAIT_READY)
			sb_on_ready_msg(sb, n, &m);
		else
			sb_on_exec_msg(sb, n, &m);
		return;
	}
}

/* The first process of a sandbox (arg), or of one already destroyed (NULL), was
 * reaped; its cgroup may go now. */
static void sb_reaped(pid_t pid, int status, void *arg)
{
	struct sandbox *sb = arg;
	if (sb) {
		sb->reaped = true;
		sb->status = status;
		/* Before ready_cb, creation fails on the closed ctl, or sb_ready_cb tells. */
		if (sb->phase == SB_RUNNING && !sb->ev) {
			sb_exit_status(sb, &status);
			sb->cbs.exit_cb(sb, status, sb->arg);
		}
	}
	bury_soon();
}

/* A blank for sb: its processes are sb's from now on. */
static void sb_take_blank(struct sandbox *sb, struct blank *b)
{
	sb->pid = b->pid;
	sb->ctl = b->ctl;
	sb->log_fd = b->out_r;
	sb->cg = b->cg;
	sb->net = b->net;
	sb->isolated = true;
	sb->phase = SB_WAIT_READY;
	if (S.reap)
		reap_watch(S.reap, sb->pid, sb_reaped, sb);
	sb_watch(sb, sb->ctl, sb_ctl_cb, 0);
}

static TAILQ_HEAD(, sandbox) waiting = TAILQ_HEAD_INITIALIZER(waiting);

static void refill_cb(evutil_socket_t fd, short what, void *arg)
{
	sandbox_pool_fill();
}

/* Blanks are made after the replies of this loop pass have gone out, so a cold start
 * never waits for its successor's namespaces. */
static void refill_soon(void)
{
	struct timeval tv = {0, 1000};
	if (S.refill_ev && !evtimer_pending(S.refill_ev, NULL))
		evtimer_add(S.refill_ev, &tv);
}

/* Gives the waiting sandboxes blanks, in arrival order: from the pool, or made here
 * when the pool thread cannot make them. */
static void serve_waiting(void)
{
	struct sandbox *sb;
	while ((sb = TAILQ_FIRST(&waiting))) {
		struct blank b;
		bool have = false, wait = false;
		pthread_mutex_lock(&S.lock);
		if (S.npool > 0) {
			b = S.pool[--S.npool];
			have = true;
		} else if (S.worker_running && !S.worker_failed) {
			/* Namespaces are made by the pool thread, never on the invoke path. */
			wait = true;
			pthread_cond_signal(&S.wake);
		}
		pthread_mutex_unlock(&S.lock);
		if (wait)
			break;
		TAILQ_REMOVE(&waiting, sb, wait_link);
		int r;
		if (!have && (r = blank_new(&b, &sb->err)) < 0) {
			sb_fail(sb, r);
			continue;
		}
		sb_take_blank(sb, &b);
	}
	refill_soon();
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0) {
	}
	serve_waiting();
}

static int ns_start(const struct sandbox_spec *spec, struct sandbox *sb, struct err *errp)
{
	sbx_plan_init(&sb->go);
	char **envp = sandbox_envp_with(spec->envp, "127.0.0.1:9001", "/var/task", "http://127.0.0.1:4566");
	build_go_plan(&sb->go, spec, envp);
	sandbox_free_envp(envp);
	if (sb->go.len > MAX_GO_PLAN) {
		sbx_plan_fini(&sb->go);
		return err_make(errp, E2BIG, "the environment is too large for a sandbox");
	}
	sb->memory_mb = spec->memory_mb;
	sb->phase = SB_WAIT_BLANK;
	TAILQ_INSERT_TAIL(&waiting, sb, wait_link);
	/* Served on the next loop turn, after this pass's replies. */
	if (S.notify_ev)
		event_active(S.notify_ev, EV_READ, 0);
	else
		serve_waiting();
	return 0;
}

/* ---- the interface ---- */

/* Whether this kernel lets us make the namespaces (a child that exits at once). */
static int probe_namespaces(void)
{
	pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)clone_flags() | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return -errno;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	return 0;
}

int sandbox_init(const struct sandbox_options *o, struct err *errp)
{
	memset(&S, 0, sizeof(S));
	S.notify_fd = -1;
	S.base = o->base;
	S.reap = o->reap;
	pthread_mutex_init(&S.lock, NULL);
	pthread_cond_init(&S.wake, NULL);
	S.self = getpid();
	S.pool_size = o->pool_size > BLANK_MAX ? BLANK_MAX : o->pool_size;
	S.runtime_dir = o->runtime_dir ? realpath(o->runtime_dir, NULL) : NULL;
	if (o->nhost_ports > SBX_HOST_PORTS_MAX)
		return err_make(errp, E2BIG, "--function-host-port: at most %d ports", SBX_HOST_PORTS_MAX);
	for (unsigned i = 0; i < o->nhost_ports; i++)
		S.host_ports[i] = o->host_ports[i];
	S.nhost_ports = o->nhost_ports;
	sbx_plan_init(&S.blank_plan);
	if (o->isolation == SANDBOX_NONE) {
		snprintf(S.describe, sizeof(S.describe), "process groups (isolation none)");
		S.ready = true;
		return 0;
	}
	bool strict = o->isolation == SANDBOX_STRICT;
	S.outbound = o->network == SANDBOX_NET_OUTBOUND;
	S.cpu_limit = o->cpu_limit;
	if (S.outbound && !sandbox__net_helper())
		return err_make(errp, ENOENT,
		                "--function-network outbound needs slirp4netns (apt install slirp4netns)");
	S.userns = geteuid() != 0;
	int r = probe_namespaces();
	if (r < 0) {
		if (strict)
			return err_make(errp, -r, "--isolation strict: cannot create namespaces: %s",
			                strerror(-r));
		log_warn("sandbox: cannot create namespaces (%s): functions run as plain process groups",
		         strerror(-r));
		snprintf(S.describe, sizeof(S.describe), "process groups (no namespaces: %s)", strerror(-r));
		S.ready = true;
		return 0;
	}
	struct err e = {0};
	if ((r = sbx_seccomp_build(&S.seccomp, &e)) < 0) {
		if (strict)
			return err_make(errp, -r, "--isolation strict: seccomp: %s", e.msg);
		log_warn("sandbox: no seccomp filter: %s", e.msg);
	} else {
		S.have_seccomp = true;
	}
	char name[48];
	snprintf(name, sizeof(name), "lambdad-%d", (int)S.self);
	if ((r = cg_root_new(name, &S.cgroot, &e)) < 0) {
		S.cgroot = NULL;
		if (strict) {
			sandbox_fini();
			return err_make(errp, -r, "--isolation strict: cgroups: %s", e.msg);
		}
		log_warn("sandbox: no cgroups, so no memory, CPU or process limits: %s", e.msg);
	}
	S.notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	S.can_freeze = S.cgroot != NULL; /* cg_freeze says -ENOTSUP where there is no freezer */
	autofree char *stage = xasprintf("%s/sandbox-root", o->state_dir);
	if (mkdir(stage, 0700) < 0 && errno != EEXIST) {
		int en = errno;
		sandbox_fini();
		return err_make(errp, en, "cannot create %s: %s", stage, strerror(en));
	}
	autofree char *abs_stage = realpath(stage, NULL);
	autofree char *abs_rt = o->runtime_dir ? realpath(o->runtime_dir, NULL) : NULL;
	build_blank_plan(&S.blank_plan, abs_stage ? abs_stage : stage, abs_rt, o->ro_dirs);
	S.isolated = true;
	snprintf(S.describe, sizeof(S.describe),
	         "namespaces (mount, pid, net, ipc, uts%s), %s%s%s, %s, network %s", S.userns ? ", user" : "",
	         S.cgroot ? "cgroup " : "no cgroups", S.cgroot ? cg_root_kind(S.cgroot) : "",
	         !S.cgroot                          ? ""
	         : S.cpu_limit == SANDBOX_CPU_QUOTA ? " (CPU quota after init)"
	                                            : " (CPU weight)",
	         S.have_seccomp ? "seccomp" : "no seccomp",
	         S.outbound ? "outbound (slirp4netns)" : "none (loopback only)");
	if (S.base && S.notify_fd >= 0) {
		S.notify_ev = event_new(S.base, S.notify_fd, EV_READ | EV_PERSIST, notify_cb, NULL);
		event_add(S.notify_ev, NULL);
	}
	if (S.base) {
		S.refill_ev = evtimer_new(S.base, refill_cb, NULL);
		refill_soon();
	}
	S.ready = true;
	return 0;
}

void sandbox_set_api(const struct sandbox_api *api)
{
	S.api = *api;
	S.api.host_url = NULL;
	free(S.api_host_url);
	S.api_host_url = api->host_url ? xstrdup(api->host_url) : NULL;
}

const char *sandbox_describe(void)
{
	return S.describe;
}
bool sandbox_isolated(void)
{
	return S.isolated;
}

/* Removes the cgroups whose processes are gone. At shutdown (wait) it kills and waits
 * for them first, and abandons what still cannot go to cg_root_free. */
static void bury(bool wait)
{
	pthread_mutex_lock(&S.lock);
	struct grave *list = S.graves;
	S.graves = NULL;
	pthread_mutex_unlock(&S.lock);
	struct grave *keep = NULL;
	while (list) {
		struct grave *g = list;
		list = g->next;
		if (wait && g->pid > 0) {
			cg_kill(g->cg);
			struct timespec ts = {0, 1000000};
			for (int i = 0; i < 2000 && waitpid(g->pid, NULL, WNOHANG) == 0; i++)
				nanosleep(&ts, NULL);
		}
		int r = cg_remove(g->cg);
		if (r < 0 && !wait) {
			g->next = keep;
			keep = g;
			continue;
		}
		if (r < 0)
			cg_free(g->cg);
		free(g);
	}
	if (keep) {
		pthread_mutex_lock(&S.lock);
		struct grave **tail = &keep;
		while (*tail)
			tail = &(*tail)->next;
		*tail = S.graves;
		S.graves = keep;
		pthread_mutex_unlock(&S.lock);
	}
}

void sandbox_fini(void)
{
	if (!S.ready && !S.cgroot && !S.have_seccomp)
		return;
	if (S.worker_running) {
		pthread_mutex_lock(&S.lock);
		S.stopping = true;
		pthread_cond_signal(&S.wake);
		pthread_mutex_unlock(&S.lock);
		pthread_join(S.worker, NULL);
		S.worker_running = false;
	}
	while (S.npool > 0)
		blank_drop(&S.pool[--S.npool]);
	while (S.nspare > 0)
		close(S.spare_net[--S.nspare]);
	bury(true);
	if (S.cgroot)
		cg_root_free(S.cgroot);
	S.cgroot = NULL;
	if (S.have_seccomp)
		sbx_seccomp_free(&S.seccomp);
	S.have_seccomp = false;
	sbx_plan_fini(&S.blank_plan);
	free(S.runtime_dir);
	S.runtime_dir = NULL;
	relay_shutdown();
	free(S.api_host_url);
	S.api_host_url = NULL;
	memset(&S.api, 0, sizeof(S.api));
	if (S.notify_ev)
		event_free(S.notify_ev);
	S.notify_ev = NULL;
	if (S.refill_ev)
		event_free(S.refill_ev);
	S.refill_ev = NULL;
	if (S.notify_fd >= 0)
		close(S.notify_fd);
	S.notify_fd = -1;
	S.ready = false;
}

/* Removes the cgroups whose processes are gone, off the loop when the pool thread
 * runs: an rmdir in cgroupfs can wait for the kernel to let the group go. */
static void bury_soon(void)
{
	if (!S.worker_running) {
		bury(false);
		return;
	}
	pthread_mutex_lock(&S.lock);
	S.bury_pending = true;
	pthread_cond_signal(&S.wake);
	pthread_mutex_unlock(&S.lock);
}

/* Tells the event loop that the pool changed (a blank is ready, or making one failed). */
static void notify(void)
{
	uint64_t one = 1;
	if (S.notify_fd >= 0 && write(S.notify_fd, &one, sizeof(one)) < 0) {
	}
}

int sandbox_notify_fd(void)
{
	return S.notify_fd;
}

/* The worker: keeps the pool full until shutdown. */
static void *pool_worker(void *arg)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	pthread_mutex_lock(&S.lock);
	while (!S.stopping) {
		/* Blanks first: a cold start may be waiting for one; graves when the pool is full. */
		if (S.bury_pending && (S.npool >= S.pool_size || S.worker_failed)) {
			S.bury_pending = false;
			pthread_mutex_unlock(&S.lock);
			bury(false);
			pthread_mutex_lock(&S.lock);
			continue;
		}
		if (S.npool >= S.pool_size) {
			pthread_cond_wait(&S.wake, &S.lock);
			continue;
		}
		pthread_mutex_unlock(&S.lock);
		struct blank b;
		struct err e = {0};
		int r = blank_new(&b, &e);
		pthread_mutex_lock(&S.lock);
		if (r < 0) {
			log_warn("sandbox: cannot make a blank sandbox: %s", e.msg);
			S.worker_failed = true;
			notify();
			/* Try again when asked, not in a tight loop. */
			pthread_cond_wait(&S.wake, &S.lock);
			continue;
		}
		S.worker_failed = false;
		if (S.stopping || S.npool >= S.pool_size) {
			pthread_mutex_unlock(&S.lock);
			blank_drop(&b);
			pthread_mutex_lock(&S.lock);
			continue;
		}
		S.pool[S.npool++] = b;
		notify();
	}
	pthread_mutex_unlock(&S.lock);
	return NULL;
}

/* Tops up the pool of blank sandboxes; cheap when it is full. */
static void sandbox_pool_fill(void)
{
	if (!S.isolated || S.pool_size == 0)
		return;
	if (!S.worker_running) {
		if (pthread_create(&S.worker, NULL, pool_worker, NULL) != 0) {
			log_warn("sandbox: cannot start the pool thread: blank sandboxes are made on demand");
			S.pool_size = 0;
			return;
		}
		S.worker_running = true;
	}
	pthread_mutex_lock(&S.lock);
	pthread_cond_signal(&S.wake);
	pthread_mutex_unlock(&S.lock);
}

int sandbox_new(const struct sandbox_spec *spec, const struct sandbox_cbs *cbs, void *arg,
                struct sandbox **out, struct err *errp)
{
	LD_ASSERT(S.base);
	if (spec->runtime_exe && !S.runtime_dir)
		return err_make(errp, ENOENT, "no runtime directory (--runtime-dir) for %s",
		                spec->runtime_exe);
	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	sb->cbs = *cbs;
	sb->arg = arg;
	sb->rtapi_fd = -1;
	sb->ctl = -1;
	sb->log_fd = -1;
	sb->netns = -1;
	sb->api_fd = -1;
	int r;
	if (S.isolated) {
		r = ns_start(spec, sb, errp);
	} else if ((r = sandbox__proc_create(spec, sb, S.runtime_dir, S.api_host_url, errp)) == 0) {
		sb->phase = SB_RUNNING;
		if (S.reap)
			reap_watch(S.reap, sb->pid, sb_reaped, sb);
		sb_ready_soon(sb);
	}
	if (r < 0) {
		free(sb);
		return r;
	}
	*out = sb;
	return 0;
}

pid_t sandbox_pid(const struct sandbox *sb)
{
	return sb->pid;
}
int sandbox_log_fd(const struct sandbox *sb)
{
	return sb->log_fd;
}

int sandbox_take_rtapi_fd(struct sandbox *sb)
{
	int fd = sb->rtapi_fd;
	sb->rtapi_fd = -1;
	return fd;
}

int sandbox_signal(struct sandbox *sb, int sig)
{
	if (sb->isolated) {
		/* The init of a PID namespace: when it dies, the kernel kills the rest. A
		 * process needs CPU to die: lift the CPU quota first, or a thousand
		 * throttled processes of a fork bomb take seconds to go. */
		if (sig == SIGKILL && sb->cg) {
			if (sb->cpu_quota_on)
				cg_set_cpu_quota(sb->cg, 0, NULL);
			cg_kill(sb->cg);
			cg_freeze(sb->cg, false); /* frozen processes die only once thawed */
		}
		return kill(sb->pid, sig) < 0 ? -errno : 0;
	}
	if (kill(-sb->pid, sig) < 0 && kill(sb->pid, sig) < 0)
		return -errno;
	return 0;
}

int sandbox_stats(struct sandbox *sb, struct sandbox_stats *st)
{
	st->max_rss_kb = 0;
	if (sb->cg) {
		uint64_t kb;
		if (cg_peak_kb(sb->cg, &kb) == 0) {
			st->max_rss_kb = kb;
			return 0;
		}
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)sb->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			st->max_rss_kb = kb;
	}
	fclose(f);
	return 0;
}

bool sandbox_can_freeze(const struct sandbox *sb)
{
	return sb->cg && S.can_freeze;
}

int sandbox_freeze(struct sandbox *sb, bool frozen)
{
	if (!sb->cg)
		return -ENOTSUP;
	return cg_freeze(sb->cg, frozen);
}

int sandbox_init_done(struct sandbox *sb, struct err *errp)
{
	if (!sb->cg || sb->init_done)
		return 0;
	sb->init_done = true;
	struct cg_limits lim;
	cg_lambda_limits(sb->memory_mb, &lim);
	int r = 0;
	if (lim.cpu_weight != cg_lambda_init_weight(sb->memory_mb))
		r = cg_set_cpu_weight(sb->cg, lim.cpu_weight, errp);
	if (r == 0 && S.cpu_limit == SANDBOX_CPU_QUOTA &&
	    (r = cg_set_cpu_quota(sb->cg, lim.cpu_millis, errp)) == 0)
		sb->cpu_quota_on = true;
	return r;
}

bool sandbox_oom_killed(struct sandbox *sb)
{
	uint64_t n = 0;
	return sb->cg && cg_oom_kills(sb->cg, &n) == 0 && n > 0;
}

static void sb_exit_status(struct sandbox *sb, int *status)
{
	if (!sb->isolated || sb->ctl < 0)
		return;
	struct sbx_msg m;
	for (;;) {
		autoclose int fd = -1; /* nothing passed now is wanted */
		if (ctl_recv(sb->ctl, &m, &fd, MSG_DONTWAIT) <= 0)
			return;
		if (m.kind == SBX_MSG_EXITED)
			*status = m.value;
	}
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	if (sb->ev)
		event_free(sb->ev);
	sbx_plan_fini(&sb->go);
	if (sb->phase == SB_WAIT_BLANK)
		TAILQ_REMOVE(&waiting, sb, wait_link);
	if (sb->phase == SB_WAIT_BLANK || sb->phase == SB_FAILED) {
		free(sb); /* nothing runs: a failed creation dropped its blank */
		return;
	}
	/* Its exit is still collected, to bury its cgroup. */
	if (S.reap && !sb->reaped)
		reap_watch(S.reap, sb->pid, sb_reaped, NULL);
	sandbox_signal(sb, SIGKILL);
	spare_net(sb->netns);
	sandbox__net_stop(&sb->net);
	close(sb->log_fd);
	if (sb->ctl >= 0)
		close(sb->ctl);
	if (sb->rtapi_fd >= 0)
		close(sb->rtapi_fd);
	sb_close_listeners(sb);
	if (sb->cg) {
		add_grave(sb->cg, sb->pid);
		bury_soon();
	}
	free(sb);
}

void sandbox_describe_status(int status, char *out, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(out, len, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		char name[64];
		snprintf(name, sizeof(name), "%s", strsignal(WTERMSIG(status)));
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		snprintf(out, len, "signal: %s", name);
	} else {
		snprintf(out, len, "status %d", status);
	}
}
