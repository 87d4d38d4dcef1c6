/* Process-group execution environments (isolation "none"): vfork + exec with rlimits
 * and an output pipe. LINUX ONLY. */
#include "sandbox/sandbox_int.h"

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

/* A listening TCP socket on 127.0.0.1 with an ephemeral port; *port gets it. */
static int rtapi_listener(uint16_t *port, struct err *errp)
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

static int spawn(const struct sandbox_spec *spec, const char *exe, char *const *envp, struct sandbox *sb,
                 struct err *errp);

char **sandbox_envp_with(char *const *envp, const char *rtapi_addr, const char *task_root,
                         const char *endpoint)
{
	size_t n = 0;
	while (envp[n])
		n++;
	char **out = xcalloc(n + 4, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(envp[i], "AWS_ENDPOINT_URL=", 17) == 0)
			endpoint = NULL; /* the function's own setting wins */
		if (strncmp(envp[i], "AWS_LAMBDA_RUNTIME_API=", 23) != 0 &&
		    strncmp(envp[i], "LAMBDA_TASK_ROOT=", 17) != 0)
			out[k++] = xstrdup(envp[i]);
	}
	out[k++] = xasprintf("AWS_LAMBDA_RUNTIME_API=%s", rtapi_addr);
	out[k++] = xasprintf("LAMBDA_TASK_ROOT=%s", task_root);
	if (endpoint)
		out[k++] = xasprintf("AWS_ENDPOINT_URL=%s", endpoint);
	return out;
}

void sandbox_free_envp(char **envp)
{
	for (char **p = envp; p && *p; p++)
		free(*p);
	free(envp);
}

/* Sets *envp's variable key (its "KEY=" prefix) to value, replacing what it had. */
static void envp_set(char ***envp, const char *key, char *value)
{
	size_t n = 0, klen = strlen(key);
	for (; (*envp)[n]; n++)
		if (strncmp((*envp)[n], key, klen) == 0) {
			free((*envp)[n]);
			(*envp)[n] = value;
			return;
		}
	*envp = xrealloc(*envp, (n + 2) * sizeof(char *));
	(*envp)[n] = value;
	(*envp)[n + 1] = NULL;
}

static const char *envp_get(char **envp, const char *key)
{
	size_t klen = strlen(key);
	for (; *envp; envp++)
		if (strncmp(*envp, key, klen) == 0)
			return *envp + klen;
	return NULL;
}

/* Without a mount namespace there is no /opt of the function's own: the layers' host
 * directories, the last first (it wins, as on top of /opt), go in LAMBDAD_LAYERS for
 * our runtimes to search, and their bin and lib directories ahead of PATH's and
 * LD_LIBRARY_PATH's entries. A layer's file can only override another's through those
 * search paths, not file by file. */
static void envp_add_layers(char ***envp, const char *const *dirs)
{
	size_t n = 0;
	while (dirs && dirs[n])
		n++;
	if (n == 0)
		return;
	char *layers = xstrdup(""), *bins = xstrdup(""), *libs = xstrdup("");
	for (size_t i = n; i-- > 0;) {
		char *l = xasprintf("%s%s%s", layers, layers[0] ? ":" : "", dirs[i]);
		char *b = xasprintf("%s%s/bin:", bins, dirs[i]);
		char *li = xasprintf("%s%s/lib:", libs, dirs[i]);
		free(layers);
		free(bins);
		free(libs);
		layers = l;
		bins = b;
		libs = li;
	}
	const char *path = envp_get(*envp, "PATH=");
	const char *ld = envp_get(*envp, "LD_LIBRARY_PATH=");
	envp_set(envp, "PATH=", xasprintf("PATH=%s%s", bins, path ? path : "/usr/bin:/bin"));
	envp_set(envp, "LD_LIBRARY_PATH=", xasprintf("LD_LIBRARY_PATH=%s%s", libs, ld ? ld : ""));
	envp_set(envp, "LAMBDAD_LAYERS=", xasprintf("LAMBDAD_LAYERS=%s", layers));
	free(layers);
	free(bins);
	free(libs);
}

int sandbox__proc_create(const struct sandbox_spec *spec, struct sandbox *sb, const char *runtime_dir,
                         const char *endpoint, struct err *errp)
{
	uint16_t port = 0;
	int lfd = rtapi_listener(&port, errp);
	if (lfd < 0)
		return lfd;
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	autofree char *exe = spec->runtime_exe ? xasprintf("%s/%s", runtime_dir, spec->runtime_exe)
	                     : spec->exe_layer ? xasprintf("%s/%s", spec->exe_layer, spec->exe)
	                                       : xasprintf("%s/%s", spec->code_dir, spec->exe);
	char **envp = sandbox_envp_with(spec->envp, addr, spec->code_dir, endpoint);
	envp_add_layers(&envp, spec->layer_dirs);
	int r = spawn(spec, exe, envp, sb, errp);
	sandbox_free_envp(envp);
	if (r < 0) {
		close(lfd);
		return r;
	}
	sb->rtapi_fd = lfd;
	return 0;
}

static int spawn(const struct sandbox_spec *spec, const char *exe, char *const *envp, struct sandbox *sb,
                 struct err *errp)
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
	char *const argv[] = {(char *)exe, NULL};
	char *const iargv[] = {(char *)spec->interp, (char *)exe, NULL};
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
		if (chdir(spec->code_dir) < 0)
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
		execve(spec->interp ? spec->interp : exe, spec->interp ? iargv : argv, envp);
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
		return err_make(errp, rep.err, "starting %s: %s: %s", exe,
		                rep.step > 0 && rep.step < (int)ARRAY_SIZE(step_names) ? step_names[rep.step]
		                                                                       : "?",
		                strerror(rep.err));
	}
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	sb->pid = pid;
	sb->log_fd = outp[0];
	return 0;
}
