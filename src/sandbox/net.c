/* Outbound network for sandboxes (--function-network outbound): slirp4netns gives a
 * sandbox's network namespace a tap device with NAT to the host's network, in user
 * space, with the host's loopback (and so lambdad's API on it) out of reach. LINUX ONLY. */
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

static const char *const slirp_paths[] = {"/usr/bin/slirp4netns", "/usr/local/bin/slirp4netns"};

const char *sandbox__net_helper(void)
{
	for (size_t i = 0; i < sizeof(slirp_paths) / sizeof(slirp_paths[0]); i++)
		if (access(slirp_paths[i], X_OK) == 0)
			return slirp_paths[i];
	return NULL;
}

int sandbox__net_start(pid_t ns_pid, struct sbx_net *n, struct err *errp)
{
	const char *const exe = sandbox__net_helper();
	if (!exe)
		return err_make(errp, ENOENT,
		                "--function-network outbound needs slirp4netns (apt install slirp4netns)");
	int exitp[2], readyp[2];
	if (pipe2(exitp, O_CLOEXEC) < 0)
		return err_make(errp, errno, "pipe: %s", strerror(errno));
	if (pipe2(readyp, O_CLOEXEC) < 0) {
		int e = errno;
		close(exitp[0]);
		close(exitp[1]);
		return err_make(errp, e, "pipe: %s", strerror(e));
	}
	char pidbuf[16];
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)ns_pid);
	char *const argv[] = {(char *)exe,   "--configure",  "--mtu=65520", "--disable-host-loopback",
	                      "--exit-fd=3", "--ready-fd=4", pidbuf,        "tap0",
	                      NULL};
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	const char *volatile path = exe; /* read after vfork returns in the child */
	pid_t pid = vfork();
	if (pid == 0) {
		/* Its own process group: the server's terminal signals are not its business. */
		setpgid(0, 0);
		if (dup2(exitp[0], 3) < 0 || dup2(readyp[1], 4) < 0 || dup2(devnull, 0) < 0 ||
		    dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 5, ~0U, 0);
		execv((const char *)path, argv);
		_exit(127);
	}
	int e = errno;
	close(exitp[0]);
	close(readyp[1]);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		close(exitp[1]);
		close(readyp[0]);
		return err_make(errp, e, "vfork: %s", strerror(e));
	}
	n->pid = pid;
	n->exit_w = exitp[1];
	n->ready_r = readyp[0];
	return 0;
}

void sandbox__net_stop(struct sbx_net *n)
{
	if (n->pid <= 0)
		return;
	close(n->exit_w); /* slirp4netns exits when this closes */
	if (n->ready_r >= 0)
		close(n->ready_r);
	kill(n->pid, SIGKILL);
	n->pid = 0;
	n->exit_w = n->ready_r = -1;
}
