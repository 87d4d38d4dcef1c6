/* Process-group execution environments: vfork + exec with rlimits and an output pipe. LINUX ONLY. */
#include "sandbox/sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct sandbox {
	pid_t pid;	/* also the process group id */
	int log_fd;
};

int sandbox_rtapi_listener(uint16_t *port, struct err *errp)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_make(errp, errno, "socket: %s", strerror(errno));
	int one = 1;
	/* Accepted sockets inherit TCP_NODELAY from the listener on Linux. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		int e = errno;
		close(fd);
		return err_make(errp, e, "runtime API listener: %s", strerror(e));
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Steps the child runs between vfork and exec; a failure is reported as {errno, step}. */
enum child_step { STEP_SETSID = 1, STEP_DUP, STEP_CHDIR, STEP_RLIMIT, STEP_SIGNALS, STEP_EXEC };
static const char *const step_names[] = {"", "setsid", "dup2", "chdir", "setrlimit", "signals", "execve"};

struct child_report {
	int err;
	int step;
};

int sandbox_create(const struct sandbox_spec *spec, struct sandbox **out, struct err *errp)
{
	int outp[2], errpipe[2];
	if (pipe2(outp, O_CLOEXEC) < 0)
		return err_make(errp, errno, "pipe: %s", strerror(errno));
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		int e = errno;
		close(outp[0]);
		close(outp[1]);
		return err_make(errp, e, "pipe: %s", strerror(e));
	}
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct rlimit nofile = {spec->nofile ? spec->nofile : 1024, spec->nofile ? spec->nofile : 1024};
	struct rlimit nocore = {0, 0};
	char *const argv[] = {(char *)spec->exe, NULL};
	sigset_t all, old;
	sigfillset(&all);
	/* No signal handler of ours may run in the child that shares our memory. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = vfork();
	if (pid == 0) {
		struct child_report rep = {0, STEP_SETSID};
		if (setsid() < 0)
			goto fail;
		rep.step = STEP_DUP;
		if (dup2(devnull, 0) < 0 || dup2(outp[1], 1) < 0 || dup2(outp[1], 2) < 0)
			goto fail;
		rep.step = STEP_CHDIR;
		if (chdir(spec->cwd) < 0)
			goto fail;
		rep.step = STEP_RLIMIT;
		if (setrlimit(RLIMIT_NOFILE, &nofile) < 0 || setrlimit(RLIMIT_CORE, &nocore) < 0)
			goto fail;
		rep.step = STEP_SIGNALS;
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
			goto fail;
		/* Nothing of the server's may leak into the function. */
		syscall(__NR_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
		rep.step = STEP_EXEC;
		execve(spec->exe, argv, spec->envp);
	fail:
		rep.err = errno;
		if (write(errpipe[1], &rep, sizeof(rep)) < 0) {
		}
		_exit(127);
	}
	int vfork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(outp[1]);
	close(errpipe[1]);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		close(outp[0]);
		close(errpipe[0]);
		return err_make(errp, vfork_errno, "vfork: %s", strerror(vfork_errno));
	}
	struct child_report rep = {0, 0};
	ssize_t n;
	do
		n = read(errpipe[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(rep)) {
		/* The child failed before exec and exits; reap it here. */
		waitpid(pid, NULL, 0);
		close(outp[0]);
		return err_make(errp, rep.err, "starting %s: %s: %s", spec->exe,
				rep.step > 0 && rep.step < (int)ARRAY_SIZE(step_names) ? step_names[rep.step] : "?",
				strerror(rep.err));
	}
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	sb->pid = pid;
	sb->log_fd = outp[0];
	*out = sb;
	return 0;
}

pid_t sandbox_pid(const struct sandbox *sb) { return sb->pid; }
int sandbox_log_fd(const struct sandbox *sb) { return sb->log_fd; }

int sandbox_signal(struct sandbox *sb, int sig)
{
	if (kill(-sb->pid, sig) < 0 && kill(sb->pid, sig) < 0)
		return -errno;
	return 0;
}

int sandbox_stats(struct sandbox *sb, struct sandbox_stats *st)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)sb->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[256];
	st->max_rss_kb = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			st->max_rss_kb = kb;
	}
	fclose(f);
	return 0;
}

void sandbox_destroy(struct sandbox *sb)
{
	if (!sb)
		return;
	sandbox_signal(sb, SIGKILL);
	close(sb->log_fd);
	free(sb);
}

pid_t sandbox_reap(int *status)
{
	pid_t pid;
	do
		pid = waitpid(-1, status, WNOHANG);
	while (pid < 0 && errno == EINTR);
	if (pid < 0)
		return errno == ECHILD ? 0 : -errno;
	return pid;
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
