/* Execution environments: Linux sandboxes (namespaces, a minimal read-only root,
 * cgroups, seccomp, a non-root uid) made ahead of demand, or plain process groups
 * where the kernel or privileges allow nothing better. LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_H
#define LAMBDAD_SANDBOX_H

#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox;

enum sandbox_isolation {
	SANDBOX_AUTO,   /* the best the machine offers; says at start what is missing */
	SANDBOX_STRICT, /* namespaces, cgroups and seccomp, or refuse to start */
	SANDBOX_NONE,   /* process groups with rlimits (development only) */
};

enum sandbox_network {
	SANDBOX_NET_NONE,     /* loopback only */
	SANDBOX_NET_OUTBOUND, /* TCP and UDP out to the host's network (slirp4netns), not to its loopback */
};

struct sandbox_options {
	enum sandbox_isolation isolation;
	enum sandbox_network network;
	const char *state_dir;   /* the server's data dir: a staging directory lives there */
	const char *runtime_dir; /* host directory shown at /var/runtime, or NULL */
	unsigned pool_size;      /* blank sandboxes kept ready */
};

/* Decides what isolation this machine gives and prepares it (cgroup subtree, seccomp
 * program, root plan). Logs what is missing. Returns 0 or a negative errno (in
 * strict mode, when something is missing). */
int sandbox_init(const struct sandbox_options *o, struct err *errp);
/* Kills blank sandboxes, waits for every environment process, removes cgroups. */
void sandbox_shutdown(void);
/* A one-line description of the isolation in use ("namespaces, cgroup v1, seccomp"). */
const char *sandbox_describe(void);
/* Whether environments run in namespaces (the Runtime API is at 127.0.0.1:9001). */
bool sandbox_isolated(void);
/* Tops up the pool of blank sandboxes; cheap when it is full. Call off the invoke path. */
void sandbox_pool_fill(void);
/* Readable (an eventfd: read 8 bytes to clear it) when a blank sandbox became ready
 * or making one failed: then retry the sandbox_create calls that said EWOULDBLOCK.
 * -1 without sandboxes. */
int sandbox_notify_fd(void);

struct sandbox_spec {
	const char *code_dir;    /* the function's extracted code on the host */
	const char *exe;         /* the entry point, relative to the code ("bootstrap"), or */
	const char *runtime_exe; /* relative to the runtime directory ("python/bootstrap") */
	char *const *envp;       /* NULL-terminated, borrowed; the sandbox adds
	                          * AWS_LAMBDA_RUNTIME_API and LAMBDA_TASK_ROOT */
	uint32_t memory_mb;      /* the function's MemorySize: memory limit, CPU share */
	uint32_t ephemeral_mb;   /* size of /tmp */
	uint32_t nofile;         /* RLIMIT_NOFILE (Lambda: 1024) */
};

struct sandbox_stats {
	uint64_t max_rss_kb; /* peak memory of the environment */
};

/* Starts the function's runtime in a sandbox (a blank one from the pool). Returns 0
 * and an owned *out, -EWOULDBLOCK when no blank is ready yet (retry once
 * sandbox_notify_fd is readable), or another negative errno with the failing step;
 * nothing is left running on failure. */
int sandbox_create(const struct sandbox_spec *spec, struct sandbox **out, struct err *errp);

pid_t sandbox_pid(const struct sandbox *sb);
/* The read end of the output pipe (stdout and stderr), non-blocking; owned by sb. */
int sandbox_log_fd(const struct sandbox *sb);
/* The Runtime API listening socket, non-blocking; the caller owns it after this
 * call (a second call returns -1). */
int sandbox_take_rtapi_fd(struct sandbox *sb);
/* Sends sig to every process of the environment. */
int sandbox_signal(struct sandbox *sb, int sig);
/* Reads usage figures; 0 or a negative errno. */
int sandbox_stats(struct sandbox *sb, struct sandbox_stats *st);
/* Whether the environment can be frozen (a cgroup with a freezer). */
bool sandbox_can_freeze(const struct sandbox *sb);
/* Freezes or thaws every process of the environment; 0 or a negative errno. */
int sandbox_freeze(struct sandbox *sb, bool frozen);
/* Whether the kernel killed something of the environment for lack of memory. */
bool sandbox_oom_killed(struct sandbox *sb);
/* When the environment's first process was reaped with *status: replaces it with
 * the runtime's own exit status (in a sandbox, the first process is an init that
 * outlives the runtime by a moment and reports how it ended). */
void sandbox_exit_status(struct sandbox *sb, int *status);
/* Kills every process of the environment and frees sb (its exit status is collected
 * by sandbox_reap; its cgroup goes once it is empty). NULL is a no-op. */
void sandbox_destroy(struct sandbox *sb);

/* Collects one exited child without blocking: returns its pid and fills *status,
 * 0 when none is left, or a negative errno. */
pid_t sandbox_reap(int *status);
/* Describes a wait status as Lambda does ("exit status 1", "signal: killed"). */
void sandbox_describe_status(int status, char *out, size_t len);

#endif
