/* The sandbox plan: built by the parent, run step by step in the child with no
 * allocation between clone and exec. LINUX ONLY. */
#include "sandbox/steps.h"

#include "sandbox/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <lambdad/xmalloc.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STACK_REUSED(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define STACK_REUSED(p, n) ((void)(p), (void)(n))
#endif

#define MAX_STRS 4096 /* strings in one step: an exec's argv and envp */

static int sys_pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

const struct sbx_sys sbx_sys_default = {
    .mount = mount,
    .umount2 = umount2,
    .mkdir = mkdir,
    .rmdir = rmdir,
    .symlink = symlink,
    .open = (int (*)(const char *, int, mode_t))open,
    .pivot_root = sys_pivot_root,
    .chdir = chdir,
    .sethostname = sethostname,
};
const struct sbx_sys *sbx_sys = &sbx_sys_default;

void sbx_plan_init(struct sbx_plan *p)
{
	memset(p, 0, sizeof(*p));
}

void sbx_plan_fini(struct sbx_plan *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

static void put(struct sbx_plan *p, const void *data, size_t n)
{
	if (p->len + n > p->cap) {
		p->cap = (p->len + n) * 2 + 256;
		p->buf = xrealloc(p->buf, p->cap);
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
}

static void put_str(struct sbx_plan *p, const char *s)
{
	uint32_t n = (uint32_t)strlen(s);
	put(p, &n, sizeof(n));
	put(p, s, n + 1);
}

static void put_head(struct sbx_plan *p, enum sbx_op op, uint64_t n, uint64_t m, uint16_t nstr)
{
	uint8_t o = (uint8_t)op;
	put(p, &o, 1);
	put(p, &n, sizeof(n));
	put(p, &m, sizeof(m));
	put(p, &nstr, sizeof(nstr));
	p->count++;
}

void sbx_plan_add(struct sbx_plan *p, enum sbx_op op, uint64_t n, uint64_t m, const char *a, const char *b,
                  const char *c, const char *d)
{
	const char *s[4] = {a ? a : "", b ? b : "", c ? c : "", d ? d : ""};
	put_head(p, op, n, m, 4);
	for (int i = 0; i < 4; i++)
		put_str(p, s[i]);
}

void sbx_plan_exec(struct sbx_plan *p, const char *path, char *const *argv, char *const *envp)
{
	size_t na = 0, ne = 0;
	while (argv[na])
		na++;
	while (envp[ne])
		ne++;
	put_head(p, SBX_EXEC, na, ne, (uint16_t)(1 + na + ne));
	put_str(p, path);
	for (size_t i = 0; i < na; i++)
		put_str(p, argv[i]);
	for (size_t i = 0; i < ne; i++)
		put_str(p, envp[i]);
}

/* One decoded step; strings point into the plan's bytes. */
struct step {
	enum sbx_op op;
	uint64_t n, m;
	unsigned nstr;
	const char *s0, *s1, *s2, *s3;
	const unsigned char *strs; /* first string record, for exec */
};

/* Decodes the step at *off; returns false at the end or on malformed bytes. */
static bool next_step(const unsigned char *buf, size_t len, size_t *off, struct step *st)
{
	size_t o = *off;
	if (o + 1 + 8 + 8 + 2 > len)
		return false;
	st->op = (enum sbx_op)buf[o];
	memcpy(&st->n, buf + o + 1, 8);
	memcpy(&st->m, buf + o + 9, 8);
	uint16_t nstr;
	memcpy(&nstr, buf + o + 17, 2);
	st->nstr = nstr;
	o += 19;
	st->strs = buf + o;
	const char **slots[4] = {&st->s0, &st->s1, &st->s2, &st->s3};
	for (unsigned i = 0; i < 4; i++)
		*slots[i] = "";
	for (unsigned i = 0; i < nstr; i++) {
		uint32_t n;
		if (o + 4 > len)
			return false;
		memcpy(&n, buf + o, 4);
		if (o + 4 + n + 1 > len || buf[o + 4 + n] != 0)
			return false;
		if (i < 4)
			*slots[i] = (const char *)buf + o + 4;
		o += 4 + n + 1;
	}
	*off = o;
	return true;
}

void sbx_plan_describe(const unsigned char *buf, size_t len, unsigned index, char *out, size_t outlen)
{
	static const char *const names[] = {
	    [SBX_MOUNT] = "mount",
	    [SBX_REMOUNT_RO] = "remount read-only",
	    [SBX_MKDIR] = "mkdir",
	    [SBX_MKDIR_OPT] = "mkdir",
	    [SBX_TOUCH] = "create",
	    [SBX_SYMLINK] = "symlink",
	    [SBX_WRITE_FILE] = "write",
	    [SBX_PIVOT_ROOT] = "pivot_root",
	    [SBX_UMOUNT_DETACH] = "umount",
	    [SBX_RMDIR] = "rmdir",
	    [SBX_CHDIR] = "chdir",
	    [SBX_HOSTNAME] = "sethostname",
	    [SBX_LOOPBACK_UP] = "loopback up",
	    [SBX_RTAPI_LISTEN] = "runtime API listen",
	    [SBX_RLIMIT] = "setrlimit",
	    [SBX_STDIO] = "stdio",
	    [SBX_DROP_CAPS] = "drop capabilities",
	    [SBX_SETID] = "setuid/setgid",
	    [SBX_SECCOMP] = "seccomp",
	    [SBX_DEATHSIG] = "death signal",
	    [SBX_EXEC] = "execve",
	    [SBX_INIT] = "fork the runtime",
	    [SBX_EXTENSION] = "start the extension",
	};
	size_t off = 0;
	struct step st;
	for (unsigned i = 0; next_step(buf, len, &off, &st); i++) {
		if (i != index)
			continue;
		const char *name = st.op > 0 && st.op <= SBX_EXTENSION ? names[st.op] : "?";
		if (st.op == SBX_MOUNT && st.s0[0])
			snprintf(out, outlen, "step %u: mount %s on %s", i, st.s0, st.s1);
		else
			snprintf(out, outlen, "step %u: %s %s%s%s", i, name, st.s0,
			         st.s0[0] && st.s1[0] ? " " : "", st.s1);
		return;
	}
	snprintf(out, outlen, "step %u", index);
}

static int loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Listens on 127.0.0.1:port inside the namespace and hands the socket to the server,
 * tagged (which listener it is) and with its port. */
static int rtapi_listen(int ctl_fd, uint16_t port, char tag)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* In a reused network namespace the ended environment's listener may still be
	 * closing in the server (it goes on the server's next loop turn): wait for it. */
	struct timespec ms = {0, 1000000};
	int r;
	for (int i = 0;
	     (r = bind(fd, (struct sockaddr *)&a, sizeof(a))) < 0 && errno == EADDRINUSE && i < 500; i++)
		nanosleep(&ms, NULL);
	if (r < 0 || listen(fd, 64) < 0)
		goto fail;
	unsigned char head[3] = {(unsigned char)tag, (unsigned char)(port & 0xff),
	                         (unsigned char)(port >> 8)};
	struct iovec iov = {.iov_base = head, .iov_len = sizeof(head)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(ctl_fd, &msg, MSG_NOSIGNAL) < 0)
		goto fail;
	close(fd);
	return 0;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Sends fd to the server with a 3-byte head {tag, 0, 0}. */
static int send_fd(int ctl_fd, char tag, int fd)
{
	unsigned char head[3] = {(unsigned char)tag, 0, 0};
	struct iovec iov = {.iov_base = head, .iov_len = sizeof(head)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(ctl_fd, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int drop_caps(void)
{
	/* Up to the last capability this kernel knows: PR_CAPBSET_READ says EINVAL past it. */
	for (int cap = 0; cap <= 63 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -1;
	return 0;
}

static int run_exec(const struct step *st, const struct sbx_child_ctx *ctx)
{
	/* argv and envp pointer arrays on the stack: the child may not allocate. */
	const char *ptrs[MAX_STRS + 2];
	size_t na = (size_t)st->n, ne = (size_t)st->m;
	if (na + ne + 2 > MAX_STRS + 2 || na == 0) {
		errno = E2BIG;
		return -1;
	}
	const unsigned char *p = st->strs;
	const char *path = NULL;
	size_t k = 0;
	for (size_t i = 0; i < 1 + na + ne; i++) {
		uint32_t n;
		memcpy(&n, p, 4);
		const char *s = (const char *)p + 4;
		p += 4 + n + 1;
		if (i == 0)
			path = s;
		else
			ptrs[k++] = s;
		if (i == na)
			ptrs[k++] = NULL; /* end of argv */
	}
	ptrs[k] = NULL;
	char *const *argv = (char *const *)ptrs;
	char *const *envp = (char *const *)(ptrs + na + 1);
	if (ctx->exec_path) {
		/* An extension: its own path, alone in its argv, in the runtime's environment. */
		const char *xargv[] = {ctx->exec_path, NULL};
		execve(ctx->exec_path, (char *const *)xargv, envp);
		return -1;
	}
	execve(path, argv, envp);
	return -1;
}

static void send_msg(int fd, int kind, int value, unsigned step, int phase)
{
	struct sbx_msg m = {kind, value, step, phase};
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) < 0) {
	}
}

static int run_range(const unsigned char *buf, size_t len, size_t off, unsigned i, struct sbx_child_ctx *ctx,
                     unsigned *failed);

/* What the runtime's process gets from the init that starts it. */
struct init_args {
	const unsigned char *buf;
	size_t len, off; /* the steps after SBX_INIT */
	unsigned first;  /* their index */
	struct sbx_child_ctx ctx;
	int err; /* set when a step failed (the exec did not happen) */
	unsigned failed;
};

/* The runtime's own stack until its exec (it shares the init's memory, vfork style). */
static char runtime_stack[256 * 1024] __attribute__((aligned(64)));

static int runtime_main(void *p)
{
	struct init_args *a = p;
	unsigned failed = 0;
	if (a->ctx.unblock_sigchld) {
		/* The init blocks SIGCHLD for its signalfd. A raw system call: this task shares
		 * the init's memory, and a sanitizer's interceptor would take it for the init. */
		uint64_t none = 0;
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
	}
	if (a->ctx.exec_path && (dup2(a->ctx.ext_out_fd, 1) < 0 || dup2(a->ctx.ext_out_fd, 2) < 0)) {
		a->err = errno;
		_exit(127);
	}
	int r = run_range(a->buf, a->len, a->off, a->first, &a->ctx, &failed);
	a->err = r < 0 ? -r : ENOEXEC; /* an exec step does not return on success */
	a->failed = failed;
	_exit(127);
}

/* The init of an environment with extensions: reaps its children as SIGCHLD comes
 * (signalfd sfd), and answers each 'S' the server sends on ctl with a new socket of the
 * namespace. Returns only when the server's end is closed (then the caller just
 * reaps); exits when the runtime (pid) does, as the plain init. */
#define INIT_EXT_MAX 16
static pid_t init_ext_pids[INIT_EXT_MAX]; /* the extensions this init started, in order */
static unsigned init_n_ext;

static void serve_init(int ctl, int sfd, pid_t pid)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = ctl, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0) {
			}
			int status;
			pid_t w;
			while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
				if (w == pid) {
					send_msg(ctl, SBX_MSG_EXITED, status, 0, 1);
					_exit(0);
				}
				for (unsigned k = 0; k < init_n_ext; k++)
					if (init_ext_pids[k] == w)
						send_msg(ctl, SBX_MSG_EXT_EXITED, status, k, 1);
			}
		}
		if (p[1].revents & (POLLHUP | POLLERR))
			return;
		if (p[1].revents & POLLIN) {
			char c;
			ssize_t n = recv(ctl, &c, 1, MSG_DONTWAIT);
			if (n == 0)
				return;
			if (n == 1 && c == SBX_SOCKET) {
				int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
				if (fd >= 0) {
					send_fd(ctl, SBX_SOCKET, fd);
					close(fd);
				} else {
					/* No descriptor: the server hears the failure as a bare head. */
					unsigned char head[3] = {SBX_SOCKET, 1, 0};
					if (send(ctl, head, sizeof(head), MSG_NOSIGNAL) < 0) {
					}
				}
			}
		}
	}
}

/* Starts the runtime's process with the rest of the plan, vfork style (no copy of the
 * address space; this process waits until the exec). This process stays behind as the
 * PID namespace's init: it tells the server whether the exec happened, reaps orphans,
 * and reports the runtime's exit status before it exits (which ends the namespace).
 * Returns only on failure to start the process. */
static int become_init(const unsigned char *buf, size_t len, size_t off, unsigned first,
                       struct sbx_child_ctx *ctx)
{
	/* The extensions first (SBX_EXTENSION steps), each as the runtime will be: same
	 * steps, its own exec. Each one's exec is waited for, as the runtime's is. */
	size_t o = off;
	struct step st;
	int xout[2] = {-1, -1}, sfd = -1;
	for (unsigned idx = first; next_step(buf, len, &o, &st); idx++) {
		if (st.op != SBX_EXTENSION)
			continue;
		if (xout[0] < 0) {
			/* Their output apart from the runtime's, and SIGCHLD as a descriptor: this
			 * init serves socket requests too from now on. */
			sigset_t chld;
			sigemptyset(&chld);
			sigaddset(&chld, SIGCHLD);
			if (pipe2(xout, O_CLOEXEC) < 0 || send_fd(ctx->ctl_fd, SBX_EXT_OUTPUT, xout[0]) < 0 ||
			    sigprocmask(SIG_BLOCK, &chld, NULL) < 0 ||
			    (sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
				return -1;
			close(xout[0]);
		}
		struct init_args x = {
		    .buf = buf, .len = len, .off = off, .first = first, .ctx = *ctx, .err = 0};
		x.ctx.exec_path = st.s0;
		x.ctx.ext_out_fd = xout[1];
		x.ctx.unblock_sigchld = true;
		pid_t xp = clone(runtime_main, runtime_stack + sizeof(runtime_stack),
		                 CLONE_VM | CLONE_VFORK | SIGCHLD, &x);
		if (xp < 0)
			return -1;
		if (init_n_ext < INIT_EXT_MAX)
			init_ext_pids[init_n_ext++] = xp;
		/* The next child runs on the same stack: the frames this one left behind (it
		 * exec'd, they never returned) are nothing to a sanitizer now. */
		STACK_REUSED(runtime_stack, sizeof(runtime_stack));
		if (x.err) {
			/* Its exec (past its own step) is reported as its step. */
			send_msg(ctx->ctl_fd, SBX_MSG_FAILED, x.err, x.failed >= idx ? idx : x.failed, 1);
			_exit(127);
		}
	}
	struct init_args a = {.buf = buf, .len = len, .off = off, .first = first, .ctx = *ctx, .err = 0};
	a.ctx.unblock_sigchld = sfd >= 0;
	pid_t pid =
	    clone(runtime_main, runtime_stack + sizeof(runtime_stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	if (pid < 0)
		return -1;
	if (a.err) {
		send_msg(ctx->ctl_fd, SBX_MSG_FAILED, a.err, a.failed, 1);
		_exit(127);
	}
	if (xout[1] >= 0)
		close(xout[1]);
	send_msg(ctx->ctl_fd, SBX_MSG_EXECED, 0, 0, 1);
	if (sfd >= 0)
		serve_init(ctx->ctl_fd, sfd, pid);
	for (;;) {
		int status;
		pid_t w = waitpid(-1, &status, 0);
		if (w == pid) {
			send_msg(ctx->ctl_fd, SBX_MSG_EXITED, status, 0, 1);
			_exit(0);
		}
		if (w < 0 && errno != EINTR)
			_exit(0);
	}
}

static int run_step(const struct step *st, struct sbx_child_ctx *ctx)
{
	const struct sbx_sys *sys = sbx_sys;
	switch (st->op) {
	case SBX_MOUNT:
		return sys->mount(st->s0[0] ? st->s0 : NULL, st->s1, st->s2[0] ? st->s2 : NULL,
		                  (unsigned long)st->n, st->s3[0] ? st->s3 : NULL);
	case SBX_REMOUNT_RO:
		return sys->mount(
		    NULL, st->s1, NULL,
		    MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | (unsigned long)st->n, NULL);
	case SBX_MKDIR:
		return sys->mkdir(st->s1, (mode_t)st->n);
	case SBX_MKDIR_OPT:
		return sys->mkdir(st->s1, (mode_t)st->n) < 0 && errno != EEXIST ? -1 : 0;
	case SBX_TOUCH: {
		int fd = sys->open(st->s1, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		close(fd);
		return 0;
	}
	case SBX_SYMLINK:
		return sys->symlink(st->s0, st->s1);
	case SBX_WRITE_FILE: {
		int fd = sys->open(st->s1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)st->n);
		if (fd < 0)
			return -1;
		size_t len = strlen(st->s0);
		ssize_t w = write(fd, st->s0, len);
		int e = errno;
		close(fd);
		errno = e;
		return w == (ssize_t)len ? 0 : -1;
	}
	case SBX_PIVOT_ROOT:
		if (sys->chdir(st->s0) < 0 || sys->pivot_root(".", st->s1) < 0)
			return -1;
		return sys->chdir("/");
	case SBX_UMOUNT_DETACH:
		return sys->umount2(st->s1, MNT_DETACH);
	case SBX_RMDIR:
		return sys->rmdir(st->s1);
	case SBX_CHDIR:
		return sys->chdir(st->s1);
	case SBX_HOSTNAME:
		return sys->sethostname(st->s0, strlen(st->s0));
	case SBX_LOOPBACK_UP:
		return loopback_up();
	case SBX_RTAPI_LISTEN:
		return rtapi_listen(ctx->ctl_fd, (uint16_t)st->n, st->m ? (char)st->m : SBX_LISTEN_RTAPI);
	case SBX_RLIMIT: {
		struct rlimit rl = {(rlim_t)st->m, (rlim_t)st->m};
		return setrlimit((int)st->n, &rl);
	}
	case SBX_STDIO: {
		int fd = sys->open(st->s1, O_RDONLY | O_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		int r = dup2(fd, 0) < 0 || dup2(ctx->out_fd, 1) < 0 || dup2(ctx->out_fd, 2) < 0 ? -1 : 0;
		int e = errno;
		close(fd);
		errno = e;
		return r;
	}
	case SBX_DROP_CAPS:
		return drop_caps();
	case SBX_SETID: {
		/* Raw system calls: this task's credentials only. glibc's wrappers would try
		 * to change every thread it remembers, threads that exist only in the server. */
		gid_t gid = (gid_t)st->m;
		uid_t uid = (uid_t)st->n;
		if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM)
			return -1;
		if (syscall(SYS_setresgid, gid, gid, gid) < 0 || syscall(SYS_setresuid, uid, uid, uid) < 0)
			return -1;
		return 0;
	}
	case SBX_SECCOMP: {
		if (!ctx->seccomp)
			return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int r = sbx_seccomp_install(ctx->seccomp);
		if (r < 0)
			errno = -r;
		return r < 0 ? -1 : 0;
	}
	case SBX_DEATHSIG:
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			return -1;
		if (ctx->server_pid && getppid() != ctx->server_pid)
			_exit(1); /* the server is gone already */
		if (!ctx->server_pid) {
			/* A namespace's init has no visible parent: the server is gone when
			 * its end of the control socket is. */
			struct pollfd pfd = {.fd = ctx->ctl_fd, .events = POLLRDHUP};
			if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR)))
				_exit(1);
		}
		return 0;
	case SBX_EXEC:
		return run_exec(st, ctx);
	case SBX_EXTENSION:
		return 0; /* the init starts it (become_init) */
	case SBX_INIT:
		break; /* run_range handles it: it needs the rest of the plan */
	}
	errno = EINVAL;
	return -1;
}

static int run_range(const unsigned char *buf, size_t len, size_t off, unsigned i, struct sbx_child_ctx *ctx,
                     unsigned *failed)
{
	struct step st;
	while (off < len) {
		if (!next_step(buf, len, &off, &st)) {
			*failed = i;
			return -EINVAL;
		}
		if (st.op == SBX_INIT) {
			become_init(buf, len, off, i + 1, ctx);
			*failed = i;
			return errno ? -errno : -EIO;
		}
		if (run_step(&st, ctx) < 0) {
			*failed = i;
			return errno ? -errno : -EIO;
		}
		i++;
	}
	return 0;
}

int sbx_plan_run(const unsigned char *buf, size_t len, struct sbx_child_ctx *ctx, unsigned *failed)
{
	return run_range(buf, len, 0, 0, ctx, failed);
}
