/* What the sandbox's own files share. LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_INT_H
#define LAMBDAD_SANDBOX_INT_H

#include "sandbox/sandbox.h"

struct cg;

struct sandbox {
	pid_t pid;	/* the environment's first process (a namespace's init) */
	int log_fd;	/* read end of stdout + stderr */
	int rtapi_fd;	/* Runtime API listener until taken */
	int ctl;	/* control socket to the namespace's init, or -1 */
	struct cg *cg;	/* NULL without cgroups */
	bool isolated;	/* namespaces (pid is the init of its pid namespace) */
	uint32_t memory_mb; /* the cgroup's memory limit */
};

/* The process-group backend: vfork + exec, rlimits, a listener on an ephemeral
 * loopback port. Fills sb. */
int proc_create(const struct sandbox_spec *spec, struct sandbox *sb, struct err *errp);

/* envp plus AWS_LAMBDA_RUNTIME_API and LAMBDA_TASK_ROOT (owned, free with
 * sandbox_free_envp). */
char **sandbox_envp_with(char *const *envp, const char *rtapi_addr, const char *task_root);
void sandbox_free_envp(char **envp);

#endif
