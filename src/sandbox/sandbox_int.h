/* What the sandbox's own files share. LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_INT_H
#define LAMBDAD_SANDBOX_INT_H

#include "sandbox/sandbox.h"

struct cg;

/* A sandbox's outbound network helper (slirp4netns), or pid 0 for none. */
struct sbx_net {
	pid_t pid;
	int exit_w;  /* closing it makes the helper exit */
	int ready_r; /* readable once the tap device is configured */
};

struct sandbox {
	pid_t pid;          /* the environment's first process (a namespace's init) */
	int log_fd;         /* read end of stdout + stderr */
	int rtapi_fd;       /* Runtime API listener until taken */
	int ctl;            /* control socket to the namespace's init, or -1 */
	int netns;          /* its network namespace, kept for reuse after it ends, or -1 */
	struct cg *cg;      /* NULL without cgroups */
	bool isolated;      /* namespaces (pid is the init of its pid namespace) */
	uint32_t memory_mb; /* the cgroup's memory limit */
	struct sbx_net net;
};

/* The process-group backend: vfork + exec, rlimits, a listener on an ephemeral
 * loopback port. Fills sb. */
int proc_create(const struct sandbox_spec *spec, struct sandbox *sb, const char *runtime_dir,
                struct err *errp);

/* net.c: the path of slirp4netns or NULL; start it for the network namespace of
 * ns_pid; wait until it is ready; stop it. */
const char *net_outbound_helper(void);
int net_outbound_start(pid_t ns_pid, struct sbx_net *n, struct err *errp);
int net_outbound_wait(struct sbx_net *n, int timeout_ms, struct err *errp);
void net_outbound_stop(struct sbx_net *n);

/* envp plus AWS_LAMBDA_RUNTIME_API and LAMBDA_TASK_ROOT (owned, free with
 * sandbox_free_envp). */
char **sandbox_envp_with(char *const *envp, const char *rtapi_addr, const char *task_root);
void sandbox_free_envp(char **envp);

#endif
