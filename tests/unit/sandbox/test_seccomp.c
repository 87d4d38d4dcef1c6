/* Tests for the seccomp filter: installed in forked children, it refuses the calls a
 * default container profile refuses, even to root, while fork, threads, exec, sockets,
 * files and memory work as before, as root and as an unprivileged uid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sandbox/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lambdad/cleanup.h>
#include <lambdad/err.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>

#define NOBODY 65534
#define KILLED(sig) (1000 + (sig)) /* a probe's result when a signal ended it */

extern char **environ;

static struct sock_fprog PROG;
static char TMPDIR[64];

/* ---- probes: one system call each, run in a grandchild of the test ---- */

#define RET(call)                                                                                            \
	({                                                                                                   \
		long r_ = (long)(call);                                                                      \
		r_ < 0 ? -(long)errno : 0L;                                                                  \
	})

static long raw_clone(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(0);
	int st;
	waitpid((pid_t)pid, &st, 0);
	return 0;
}

static long p_mount(void)
{
	return RET(mount("none", TMPDIR, "tmpfs", 0, "size=1m"));
}
static long p_umount2(void)
{
	return RET(umount2("/nonexistent-lambdad", 0));
}
static long p_pivot_root(void)
{
	return RET(syscall(SYS_pivot_root, "/nonexistent-lambdad", "/nonexistent-lambdad"));
}
static long p_chroot(void)
{
	return RET(chroot("/nonexistent-lambdad"));
}
static long p_fsopen(void)
{
	return RET(syscall(SYS_fsopen, "tmpfs", 0));
}
static long p_fsconfig(void)
{
	return RET(syscall(SYS_fsconfig, -1, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
}
static long p_fsmount(void)
{
	return RET(syscall(SYS_fsmount, -1, 0, 0));
}
static long p_fspick(void)
{
	return RET(syscall(SYS_fspick, AT_FDCWD, "/nonexistent-lambdad", 0));
}
static long p_move_mount(void)
{
	return RET(syscall(SYS_move_mount, -1, "", -1, "", 0));
}
static long p_open_tree(void)
{
	return RET(syscall(SYS_open_tree, AT_FDCWD, "/nonexistent-lambdad", 0));
}
static long p_mount_setattr(void)
{
	return RET(syscall(SYS_mount_setattr, -1, "", 0, NULL, 0));
}
static long p_unshare_ns(void)
{
	return RET(unshare(CLONE_NEWNS));
}
static long p_unshare_user(void)
{
	return RET(unshare(CLONE_NEWUSER));
}
static long p_setns(void)
{
	int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1000;
	return RET(setns(fd, CLONE_NEWUTS));
}
static long p_clone_newns(void)
{
	return raw_clone(CLONE_NEWNS);
}
static long p_clone_newcgroup(void)
{
	return raw_clone(CLONE_NEWCGROUP);
}
static long p_clone_newuts(void)
{
	return raw_clone(CLONE_NEWUTS);
}
static long p_clone_newipc(void)
{
	return raw_clone(CLONE_NEWIPC);
}
static long p_clone_newuser(void)
{
	return raw_clone(CLONE_NEWUSER);
}
static long p_clone_newpid(void)
{
	return raw_clone(CLONE_NEWPID);
}
static long p_clone_newnet(void)
{
	return raw_clone(CLONE_NEWNET);
}
static long p_clone3(void)
{
	return RET(syscall(SYS_clone3, NULL, 0));
}
static long p_ptrace(void)
{
	return RET(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
}
static long p_process_vm_readv(void)
{
	char src[8] = "abcdefg", dst[8];
	struct iovec l = {dst, sizeof(dst)}, r = {src, sizeof(src)};
	return RET(process_vm_readv(getpid(), &l, 1, &r, 1, 0));
}
static long p_process_vm_writev(void)
{
	char src[8] = "abcdefg", dst[8];
	struct iovec l = {src, sizeof(src)}, r = {dst, sizeof(dst)};
	return RET(process_vm_writev(getpid(), &l, 1, &r, 1, 0));
}
static long p_process_madvise(void)
{
	return RET(syscall(SYS_process_madvise, -1, NULL, 0, 0, 0));
}
static long p_pidfd_getfd(void)
{
	return RET(syscall(SYS_pidfd_getfd, -1, 0, 0));
}
static long p_kcmp(void)
{
	return RET(syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0));
}
static long p_kexec_load(void)
{
	return RET(syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL));
}
static long p_kexec_file_load(void)
{
	return RET(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xdead0000UL));
}
static long p_init_module(void)
{
	return RET(syscall(SYS_init_module, NULL, 0, ""));
}
static long p_finit_module(void)
{
	return RET(syscall(SYS_finit_module, -1, "", 0));
}
static long p_delete_module(void)
{
	return RET(syscall(SYS_delete_module, "lambdad_no_such_module", O_NONBLOCK));
}
static long p_reboot(void)
{
	return RET(syscall(SYS_reboot, 0, 0, 0, NULL)); /* bad magic */
}
static long p_bpf(void)
{
	return RET(syscall(SYS_bpf, 1000, NULL, 0));
}
static long p_perf_event_open(void)
{
	return RET(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
}
static long p_keyctl(void)
{
	return RET(syscall(SYS_keyctl, 1000, 0, 0, 0, 0));
}
static long p_add_key(void)
{
	return RET(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0));
}
static long p_request_key(void)
{
	return RET(syscall(SYS_request_key, NULL, NULL, NULL, 0));
}
static long p_io_uring_setup(void)
{
	return RET(syscall(SYS_io_uring_setup, 0, NULL));
}
static long p_io_uring_enter(void)
{
	return RET(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
}
static long p_io_uring_register(void)
{
	return RET(syscall(SYS_io_uring_register, -1, 0, NULL, 0));
}
static long p_userfaultfd(void)
{
	return RET(syscall(SYS_userfaultfd, O_CLOEXEC));
}
static long p_swapon(void)
{
	return RET(syscall(SYS_swapon, NULL, 0));
}
static long p_swapoff(void)
{
	return RET(syscall(SYS_swapoff, NULL));
}
static long p_acct(void)
{
	return RET(syscall(SYS_acct, "/nonexistent-lambdad/acct"));
}
static long p_quotactl(void)
{
	return RET(syscall(SYS_quotactl, 0x800004 /* Q_GETFMT, USRQUOTA */, "/nonexistent-lambdad", 0, NULL));
}
static long p_quotactl_fd(void)
{
	return RET(syscall(SYS_quotactl_fd, -1, 0x800004, 0, NULL));
}
static long p_settimeofday(void)
{
	return RET(syscall(SYS_settimeofday, NULL, NULL)); /* changes nothing */
}
static long p_clock_settime(void)
{
	struct timespec ts = {1, 0};
	return RET(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
}
static long p_adjtimex(void)
{
	struct timex tx = {.modes = 0};
	return RET(syscall(SYS_adjtimex, &tx));
}
static long p_clock_adjtime(void)
{
	struct timex tx = {.modes = 0};
	return RET(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
}
static long p_syslog(void)
{
	return RET(syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
}
static long p_vhangup(void)
{
	return RET(vhangup()); /* the probe has no terminal: setsid */
}
static long p_sethostname(void)
{
	return RET(sethostname("lambdad-test", 12));
}
static long p_setdomainname(void)
{
	return RET(setdomainname("lambdad-test", 12));
}
static long p_open_by_handle_at(void)
{
	return RET(syscall(SYS_open_by_handle_at, -1, NULL, 0));
}
static long p_name_to_handle_at(void)
{
	int mount_id;
	return RET(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, &mount_id, 0));
}
static long p_fanotify_init(void)
{
	return RET(syscall(SYS_fanotify_init, 0, 0));
}
static long p_mbind(void)
{
	return RET(syscall(SYS_mbind, NULL, 0, 0, NULL, 0, 0));
}
static long p_set_mempolicy(void)
{
	return RET(syscall(SYS_set_mempolicy, 0, NULL, 0));
}
static long p_get_mempolicy(void)
{
	return RET(syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0));
}
static long p_move_pages(void)
{
	return RET(syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0));
}
static long p_migrate_pages(void)
{
	return RET(syscall(SYS_migrate_pages, 0, 0, NULL, NULL));
}
static long p_sysfs(void)
{
	return RET(syscall(SYS_sysfs, 3));
}
static long p_uselib(void)
{
	return RET(syscall(SYS_uselib, "/nonexistent-lambdad"));
}
static long p_personality_norandom(void)
{
	return RET(personality(ADDR_NO_RANDOMIZE));
}
static long p_personality_readexec(void)
{
	return RET(personality(READ_IMPLIES_EXEC));
}
static long p_personality_bsd(void)
{
	return RET(personality(PER_BSD));
}
static long p_personality_high(void)
{
	return RET(syscall(SYS_personality, 0x80000000UL));
}
static long p_personality_almost_query(void)
{
	return RET(syscall(SYS_personality, 0xfffffffeUL));
}
static long p_personality_linux(void)
{
	return RET(personality(PER_LINUX));
}
static long p_personality_linux32(void)
{
	return RET(personality(PER_LINUX32));
}
static long p_personality_uname26(void)
{
	return RET(personality(UNAME26 | PER_LINUX32));
}
static long p_personality_query(void)
{
	return RET(personality(0xffffffff));
}
static long p_personality_junk(void)
{
	return RET(syscall(SYS_personality, (1UL << 32) | PER_LINUX32));
}
static long p_socket_alg(void)
{
	return RET(socket(38 /* AF_ALG */, SOCK_SEQPACKET, 0));
}
static long p_socket_vsock(void)
{
	return RET(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
}
static long p_socket_unknown(void)
{
	return RET(socket(100, SOCK_STREAM, 0));
}
static long p_socket_alg_junk(void)
{
	return RET(syscall(SYS_socket, (1UL << 32) | 38, SOCK_SEQPACKET, 0));
}
static long p_socket_inet(void)
{
	return RET(socket(AF_INET, SOCK_STREAM, 0));
}
static long p_socket_inet6(void)
{
	return RET(socket(AF_INET6, SOCK_DGRAM, 0));
}
static long p_socket_unix(void)
{
	return RET(socket(AF_UNIX, SOCK_STREAM, 0));
}
static long p_socket_netlink(void)
{
	return RET(socket(AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */));
}
static long p_tiocsti(void)
{
	char c = 'x';
	return RET(ioctl(0, TIOCSTI, &c));
}
static long p_tiocsti_junk(void)
{
	char c = 'x';
	return RET(syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, &c));
}
static long p_tioclinux(void)
{
	char c = 0;
	return RET(ioctl(0, TIOCLINUX, &c));
}
static long p_fionread(void)
{
	int fds[2], n = -1;
	if (pipe(fds) < 0)
		return -1000;
	return RET(ioctl(fds[0], FIONREAD, &n));
}
static long p_fork(void)
{
	return raw_clone(0);
}
static long p_vfork_spawn(void)
{
	pid_t pid;
	char *argv[] = {"/bin/true", NULL};
	int r = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
	if (r != 0)
		return -r;
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1000;
}
static void *thread_fn(void *arg)
{
	return arg;
}
static long p_pthread(void)
{
	pthread_t t;
	void *out = NULL;
	int r = pthread_create(&t, NULL, thread_fn, (void *)0x1234);
	if (r != 0)
		return -r;
	pthread_join(t, &out);
	return out == (void *)0x1234 ? 0 : -1000;
}
#ifdef __x86_64__
static long p_iopl(void)
{
	return RET(syscall(SYS_iopl, 0));
}
static long p_ioperm(void)
{
	return RET(syscall(SYS_ioperm, 0, 0, 0));
}
static long p_sysctl(void)
{
	return RET(syscall(SYS__sysctl, NULL));
}
static long p_ustat(void)
{
	return RET(syscall(SYS_ustat, 0, NULL));
}
static long p_lookup_dcookie(void)
{
	return RET(syscall(SYS_lookup_dcookie, 0, NULL, 0));
}
static long p_nfsservctl(void)
{
	return RET(syscall(SYS_nfsservctl, 0, NULL, NULL));
}
static long p_create_module(void)
{
	return RET(syscall(SYS_create_module, NULL, 0));
}
static long p_query_module(void)
{
	return RET(syscall(SYS_query_module, NULL, 0, NULL, 0, NULL));
}
static long p_get_kernel_syms(void)
{
	return RET(syscall(SYS_get_kernel_syms, NULL));
}
static long p_set_mempolicy_home_node(void)
{
	return RET(syscall(SYS_set_mempolicy_home_node, 0, 0, 0, 0));
}
static long p_lsm_list_modules(void)
{
	uint32_t size = 0;
	return RET(syscall(461 /* lsm_list_modules */, NULL, &size, 0));
}
/* The x32 ABI: the native architecture word with bit 30 set in the number. */
static long p_x32_getpid(void)
{
	return RET(syscall(0x40000000 | SYS_getpid));
}
/* The i386 ABI through int 0x80 (getpid is 20 there). */
static long p_i386_getpid(void)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	return ret < 0 ? ret : 0;
}
#endif

struct probe {
	const char *name;
	long (*fn)(void); /* 0 on success or -errno */
	int want;         /* under the filter: 0, an errno or KILLED(sig) */
	bool env;         /* root may be refused without the filter too (kernel settings) */
};

#define PROBE(n, w)                                                                                          \
	{                                                                                                    \
#n, p_##n, (w), false                                                                        \
	}
#define PROBE_ENV(n, w)                                                                                      \
	{                                                                                                    \
#n, p_##n, (w), true                                                                         \
	}

static const struct probe PROBES[] = {
    PROBE(mount, EPERM),
    PROBE(umount2, EPERM),
    PROBE(pivot_root, EPERM),
    PROBE(chroot, EPERM),
    PROBE(fsopen, EPERM),
    PROBE(fsconfig, EPERM),
    PROBE(fsmount, EPERM),
    PROBE(fspick, EPERM),
    PROBE(move_mount, EPERM),
    PROBE(open_tree, EPERM),
    PROBE(mount_setattr, EPERM),
    PROBE(unshare_ns, EPERM),
    PROBE(unshare_user, EPERM),
    PROBE(setns, EPERM),
    PROBE(clone_newns, EPERM),
    PROBE(clone_newcgroup, EPERM),
    PROBE(clone_newuts, EPERM),
    PROBE(clone_newipc, EPERM),
    PROBE(clone_newuser, EPERM),
    PROBE(clone_newpid, EPERM),
    PROBE(clone_newnet, EPERM),
    PROBE(clone3, ENOSYS),
    PROBE(ptrace, EPERM),
    PROBE(process_vm_readv, EPERM),
    PROBE(process_vm_writev, EPERM),
    PROBE(process_madvise, EPERM),
    PROBE(pidfd_getfd, EPERM),
    PROBE_ENV(kcmp, EPERM),
    PROBE_ENV(kexec_load, EPERM),
    PROBE_ENV(kexec_file_load, EPERM),
    PROBE_ENV(init_module, EPERM),
    PROBE_ENV(finit_module, EPERM),
    PROBE_ENV(delete_module, EPERM),
    PROBE(reboot, EPERM),
    PROBE(bpf, EPERM),
    PROBE(perf_event_open, EPERM),
    PROBE(keyctl, EPERM),
    PROBE(add_key, EPERM),
    PROBE(request_key, EPERM),
    PROBE_ENV(io_uring_setup, EPERM),
    PROBE_ENV(io_uring_enter, EPERM),
    PROBE_ENV(io_uring_register, EPERM),
    PROBE(userfaultfd, EPERM),
    PROBE(swapon, EPERM),
    PROBE(swapoff, EPERM),
    PROBE(acct, EPERM),
    PROBE(quotactl, EPERM),
    PROBE(quotactl_fd, EPERM),
    PROBE(settimeofday, EPERM),
    PROBE(clock_settime, EPERM),
    PROBE(adjtimex, EPERM),
    PROBE(clock_adjtime, EPERM),
    PROBE(syslog, EPERM),
    PROBE(vhangup, EPERM),
    PROBE(sethostname, EPERM),
    PROBE(setdomainname, EPERM),
    PROBE(open_by_handle_at, EPERM),
    PROBE(name_to_handle_at, EPERM),
    PROBE(fanotify_init, EPERM),
    PROBE(mbind, EPERM),
    PROBE(set_mempolicy, EPERM),
    PROBE(get_mempolicy, EPERM),
    PROBE(move_pages, EPERM),
    PROBE(migrate_pages, EPERM),
    PROBE(sysfs, EPERM),
    PROBE(uselib, EPERM),
    PROBE(personality_norandom, EPERM),
    PROBE(personality_readexec, EPERM),
    PROBE(personality_bsd, EPERM),
    PROBE(personality_high, EPERM),
    PROBE(personality_almost_query, EPERM),
    PROBE(personality_linux, 0),
    PROBE(personality_linux32, 0),
    PROBE(personality_uname26, 0),
    PROBE(personality_query, 0),
    PROBE(personality_junk, 0),
    PROBE(socket_alg, EPERM),
    PROBE(socket_vsock, EPERM),
    PROBE(socket_unknown, EPERM),
    PROBE(socket_alg_junk, EPERM),
    PROBE(socket_inet, 0),
    PROBE(socket_inet6, 0),
    PROBE(socket_unix, 0),
    PROBE(socket_netlink, 0),
    PROBE(tiocsti, EPERM),
    PROBE(tiocsti_junk, EPERM),
    PROBE(tioclinux, EPERM),
    PROBE(fionread, 0),
    PROBE(fork, 0),
    PROBE(vfork_spawn, 0),
    PROBE(pthread, 0),
#ifdef __x86_64__
    PROBE(iopl, EPERM),
    PROBE(ioperm, EPERM),
    PROBE(sysctl, EPERM),
    PROBE(ustat, EPERM),
    PROBE(lookup_dcookie, EPERM),
    PROBE(nfsservctl, EPERM),
    PROBE(create_module, EPERM),
    PROBE(query_module, EPERM),
    PROBE(get_kernel_syms, EPERM),
    PROBE(set_mempolicy_home_node, EPERM),
    PROBE(lsm_list_modules, EPERM),
    PROBE(x32_getpid, KILLED(SIGSYS)),
    PROBE(i386_getpid, KILLED(SIGSYS)),
#endif
};
#define NPROBES ARRAY_SIZE(PROBES)

/* ---- children ---- */

enum who { AS_ROOT, AS_NOBODY };

/* Runs one probe in a fresh process (its side effects die with it) and returns its
 * result: 0, an errno, or KILLED(sig). */
static int run_probe(const struct probe *p)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid();
		long r = p->fn();
		_exit(r < 0 ? (int)(-r > 255 ? 255 : -r) : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFSIGNALED(st) ? KILLED(WTERMSIG(st)) : WEXITSTATUS(st);
}

/* In a forked child: gives root private mount, UTS and IPC namespaces (so that a call
 * the filter fails to refuse changes nothing outside), installs the filter if asked,
 * becomes `who`. Returns 0 or -errno; the child must then only _exit. */
static int child_setup(bool filter, enum who who)
{
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core); /* SIGSYS dumps core */
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC) < 0)
			return -errno;
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			return -errno;
	}
	if (filter) {
		int r = sbx_seccomp_install(&PROG);
		if (r < 0)
			return r;
	}
	if (who == AS_NOBODY) {
		if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			return -errno;
	}
	return 0;
}

/* Runs every probe in a child set up by child_setup() and fills results[NPROBES]. */
static void run_probes(bool filter, enum who who, int *results)
{
	int fds[2];
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		int r = child_setup(filter, who);
		if (r < 0) {
			dprintf(2, "child setup: %s\n", strerror(-r));
			_exit(2);
		}
		int res[NPROBES];
		for (size_t i = 0; i < NPROBES; i++)
			res[i] = run_probe(&PROBES[i]);
		_exit(write(fds[1], res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 3);
	}
	close(fds[1]);
	size_t got = 0;
	while (got < NPROBES * sizeof(int)) {
		ssize_t n = read(fds[0], (char *)results + got, NPROBES * sizeof(int) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(got, NPROBES * sizeof(int));
}

static const char *result_str(int r, char *buf, size_t n)
{
	if (r == 0)
		snprintf(buf, n, "ok");
	else if (r >= KILLED(0))
		snprintf(buf, n, "killed by signal %d", r - KILLED(0));
	else
		snprintf(buf, n, "%s", strerror(r));
	return buf;
}

/* Every probe's result under the filter is what the table wants; prints all the
 * differences before failing. */
static void check_filtered(const int *res, const char *who)
{
	int bad = 0;
	for (size_t i = 0; i < NPROBES; i++) {
		if (res[i] == PROBES[i].want)
			continue;
		char a[64], b[64];
		print_error("%s, filtered: %s gave %s, want %s\n", who, PROBES[i].name,
		            result_str(res[i], a, sizeof(a)), result_str(PROBES[i].want, b, sizeof(b)));
		bad++;
	}
	assert_int_equal(bad, 0);
}

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		print_message("needs root: skipped\n");
		skip();
	}
}

/* A child that runs `body` after child_setup() and exits with its result. */
static void run_child(bool filter, enum who who, int (*body)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r = child_setup(filter, who);
		if (r < 0) {
			dprintf(2, "child setup: %s\n", strerror(-r));
			_exit(2);
		}
		_exit(body());
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("child killed by signal %d", WTERMSIG(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

#define CHILD_EXPECT(cond)                                                                                   \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			dprintf(2, "%s:%d: %s failed (errno %d %s)\n", __FILE__, __LINE__, #cond, errno,     \
			        strerror(errno));                                                            \
			return 1;                                                                            \
		}                                                                                            \
	} while (0)

/* ---- tests ---- */

static void test_build_program(void **state)
{
	assert_non_null(PROG.filter);
	assert_true(PROG.len > 0 && PROG.len <= BPF_MAXINSNS);
	/* libseccomp's programs start by loading the architecture word. */
	assert_int_equal(PROG.filter[0].code, BPF_LD | BPF_W | BPF_ABS);
	assert_int_equal(PROG.filter[0].k, offsetof(struct seccomp_data, arch));

	/* The same policy every time. */
	struct sock_fprog again;
	struct err e = {0};
	assert_int_equal(sbx_seccomp_build(&again, &e), 0);
	assert_int_equal(again.len, PROG.len);
	assert_memory_equal(again.filter, PROG.filter, PROG.len * sizeof(struct sock_filter));
	sbx_seccomp_free(&again);
	assert_null(again.filter);
	assert_int_equal(again.len, 0);
	sbx_seccomp_free(&again);
	sbx_seccomp_free(NULL);
}

static int body_bad_program(void)
{
	struct sock_fprog empty = {0, NULL};
	return sbx_seccomp_install(&empty) == -EINVAL ? 0 : 1;
}

static void test_install_refuses_bad_program(void **state)
{
	run_child(false, AS_ROOT, body_bad_program);
}

/* Without the filter, root gets something other than the filter's answer from every
 * refused call: what the filtered runs see comes from the filter. */
static void test_refusals_come_from_the_filter(void **state)
{
	skip_unless_root();
	int plain[NPROBES], filtered[NPROBES];
	run_probes(false, AS_ROOT, plain);
	run_probes(true, AS_ROOT, filtered);
	check_filtered(filtered, "root");
	int same = 0;
	for (size_t i = 0; i < NPROBES; i++) {
		char a[64];
		if (PROBES[i].want == 0 || plain[i] != PROBES[i].want)
			continue;
		if (PROBES[i].env) {
			print_message("note: %s is refused to root without the filter too (%s)\n",
			              PROBES[i].name, result_str(plain[i], a, sizeof(a)));
			continue;
		}
		print_error("unfiltered root: %s gave %s, the filter's answer\n", PROBES[i].name,
		            result_str(plain[i], a, sizeof(a)));
		same++;
	}
	assert_int_equal(same, 0);
}

static void test_refusals_as_nobody(void **state)
{
	skip_unless_root();
	int filtered[NPROBES];
	run_probes(true, AS_NOBODY, filtered);
	check_filtered(filtered, "nobody");
}

static int read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* What a function does all day: all of it must work under the filter. */
static int body_ordinary_work(void)
{
	CHILD_EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	CHILD_EXPECT(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == SECCOMP_MODE_FILTER);

	/* fork and wait */
	pid_t pid = fork();
	CHILD_EXPECT(pid >= 0);
	if (pid == 0)
		_exit(7);
	int st;
	CHILD_EXPECT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7);

	/* threads (glibc tries clone3 first and falls back to clone on ENOSYS) */
	pthread_t t;
	void *out = NULL;
	CHILD_EXPECT(pthread_create(&t, NULL, thread_fn, (void *)0x42) == 0);
	CHILD_EXPECT(pthread_join(t, &out) == 0 && out == (void *)0x42);

	/* execve */
	pid = fork();
	CHILD_EXPECT(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"/bin/true", NULL};
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	CHILD_EXPECT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* TCP on loopback */
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHILD_EXPECT(l >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	CHILD_EXPECT(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0);
	CHILD_EXPECT(getsockname(l, (struct sockaddr *)&a, &alen) == 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHILD_EXPECT(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHILD_EXPECT(s >= 0);
	char buf[8] = {0};
	CHILD_EXPECT(write(c, "ping", 4) == 4 && read_all(s, buf, 4) == 0 && memcmp(buf, "ping", 4) == 0);
	close(s);
	close(c);
	close(l);

	/* files and memory */
	char path[128];
	snprintf(path, sizeof(path), "%s/file-%d", TMPDIR, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHILD_EXPECT(fd >= 0);
	CHILD_EXPECT(write(fd, "hello", 5) == 5 && pread(fd, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0);
	char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	CHILD_EXPECT(m != MAP_FAILED && memcmp(m, "hello", 5) == 0);
	munmap(m, 4096);
	close(fd);
	CHILD_EXPECT(unlink(path) == 0);
	char *anon = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_EXPECT(anon != MAP_FAILED);
	memset(anon, 0xab, 1 << 20);
	CHILD_EXPECT(mprotect(anon, 4096, PROT_READ) == 0 && munmap(anon, 1 << 20) == 0);
	return 0;
}

static void test_ordinary_work_as_root(void **state)
{
	run_child(true, AS_ROOT, body_ordinary_work);
}

static void test_ordinary_work_as_nobody(void **state)
{
	skip_unless_root();
	run_child(true, AS_NOBODY, body_ordinary_work);
}

/* A real runtime: Python starts, makes a thread and a subprocess, and is refused
 * unshare and mount through libc. */
static const char PY[] =
    "import ctypes, subprocess, sys, threading\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.unshare(0x00020000) != -1 or ctypes.get_errno() != 1: sys.exit(10)\n"
    "if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) != -1 or ctypes.get_errno() != 1:"
    " sys.exit(11)\n"
    "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
    "if subprocess.run(['/bin/true']).returncode != 0: sys.exit(12)\n"
    "sys.exit(0)\n";

static int body_python(void)
{
	char *argv[] = {"python3", "-I", "-c", (char *)PY, NULL};
	char *envp[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};
	execve("/usr/bin/python3", argv, envp);
	return 127;
}

static void test_python_under_filter(void **state)
{
	skip_unless_root();
	if (access("/usr/bin/python3", X_OK) != 0) {
		print_message("no /usr/bin/python3: skipped\n");
		skip();
	}
	run_child(true, AS_NOBODY, body_python);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	struct err e = {0};
	if (sbx_seccomp_build(&PROG, &e) < 0) {
		print_error("sbx_seccomp_build: %s\n", e.msg);
		return -1;
	}
	strcpy(TMPDIR, "/tmp/seccomp-test-XXXXXX");
	if (!mkdtemp(TMPDIR) || chmod(TMPDIR, 01777) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	sbx_seccomp_free(&PROG);
	return rmdir(TMPDIR);
}

/* Whether this kernel installs seccomp filters: an allow-everything filter in a child. */
static bool kernel_has_filters(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog p = {1, &allow};
	pid_t pid = fork();
	if (pid == 0)
		_exit(-sbx_seccomp_install(&p));
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return true; /* let the tests say what is wrong */
	return WEXITSTATUS(st) != EINVAL && WEXITSTATUS(st) != ENOSYS;
}

int main(void)
{
	if (!kernel_has_filters()) {
		printf("skipped: this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_program),
	    cmocka_unit_test(test_install_refuses_bad_program),
	    cmocka_unit_test(test_refusals_come_from_the_filter),
	    cmocka_unit_test(test_refusals_as_nobody),
	    cmocka_unit_test(test_ordinary_work_as_root),
	    cmocka_unit_test(test_ordinary_work_as_nobody),
	    cmocka_unit_test(test_python_under_filter),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
