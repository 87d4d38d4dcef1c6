/* Execution environments: Linux sandboxes (namespaces, a minimal read-only root,
 * cgroups, seccomp, a non-root uid) made ahead of demand, or plain process groups
 * where the kernel or privileges allow nothing better. LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_H
#define LAMBDAD_SANDBOX_H

#include <event2/event.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox;
struct reap;

enum sandbox_isolation {
	SANDBOX_AUTO,   /* the best the machine offers; says at start what is missing */
	SANDBOX_STRICT, /* namespaces, cgroups and seccomp, or refuse to start */
	SANDBOX_NONE,   /* process groups with rlimits (development only) */
};

enum sandbox_network {
	SANDBOX_NET_NONE,     /* loopback only */
	SANDBOX_NET_OUTBOUND, /* TCP and UDP out to the host's network (slirp4netns), not to its loopback */
};

/* How an environment's CPU is bounded (cgroups only; both in proportion to MemorySize). */
enum sandbox_cpu_limit {
	SANDBOX_CPU_WEIGHT, /* a weight (v1 cpu.shares, v2 cpu.weight): a share only under
	                     * contention, an idle machine's CPU is not withheld (default) */
	SANDBOX_CPU_QUOTA,  /* the weight, and Lambda's strict quota, MemorySize/1769 of a
	                     * CPU; both from the end of init on (sandbox_init_done) */
};

struct sandbox_options {
	enum sandbox_isolation isolation;
	enum sandbox_network network;
	enum sandbox_cpu_limit cpu_limit;
	const char *state_dir;   /* the server's data dir: a staging directory lives there */
	const char *runtime_dir; /* host directory shown at /var/runtime, or NULL */
	unsigned pool_size;      /* blank sandboxes kept ready */
	struct event_base *base; /* the loop every creation step runs on (borrowed) */
	struct reap *reap;       /* the process's SIGCHLD reaper (borrowed) */
	/* NULL-terminated host directories shown read-only at their own paths (the
	 * interpreters of --runtime-path), or NULL. */
	const char *const *ro_dirs;
	/* Ports of the host's loopback that 127.0.0.1:port inside each sandbox reaches (the
	 * server relays the connections); none of them 9001 or 4566. */
	const uint16_t *host_ports;
	unsigned nhost_ports;
};

/* Inside a sandbox, 127.0.0.1:4566 is lambdad's own API, and AWS_ENDPOINT_URL says so. */
#define SANDBOX_API_PORT 4566

/* Who serves lambdad's API to functions. */
struct sandbox_api {
	/* Serves the listening socket fd (taken, non-blocking) made inside a sandbox as the
	 * API's own port; returns a handle for unserve, or NULL with fd closed. */
	void *(*serve)(void *arg, int fd);
	/* Stops accepting on what serve returned (connections already open stay). */
	void (*unserve)(void *arg, void *handle);
	void *arg;
	/* AWS_ENDPOINT_URL of functions that run on the host (isolation none): the API's
	 * own address, e.g. "http://127.0.0.1:4566" (copied). */
	const char *host_url;
};
/* Sets who serves the API inside sandboxes made from now on (borrowed until
 * sandbox_fini); before it, their API listener is closed. */
void sandbox_set_api(const struct sandbox_api *api);

/* Decides what isolation this machine gives and prepares it (cgroup subtree, seccomp
 * program, root plan). Logs what is missing. Returns 0 or a negative errno (in
 * strict mode, when something is missing). */
int sandbox_init(const struct sandbox_options *o, struct err *errp);
/* Kills blank sandboxes, waits for every environment process, removes cgroups. */
void sandbox_fini(void);
/* A one-line description of the isolation in use ("namespaces, cgroup v1, seccomp"). */
const char *sandbox_describe(void);
/* Whether environments run in namespaces (the Runtime API is at 127.0.0.1:9001). */
bool sandbox_isolated(void);

#define SANDBOX_LAYERS_MAX 5 /* Lambda's limit of layers per function */

struct sandbox_spec {
	const char *code_dir; /* the function's extracted code on the host */
	/* NULL-terminated host directories of the function's layers, in the function's
	 * order, shown read-only at /opt with later ones over earlier ones (AWS extracts
	 * them in order); NULL or empty: no layers, /opt stays empty. Isolation none has no
	 * /opt: LAMBDAD_LAYERS lists them, last first, and PATH and LD_LIBRARY_PATH take
	 * their bin and lib. */
	const char *const *layer_dirs; /* at most SANDBOX_LAYERS_MAX */
	const char *exe;               /* the entry point, relative to the code ("bootstrap"), or */
	const char *exe_layer;         /* not NULL: exe is in this one of layer_dirs (a custom
	                                * runtime's /opt/bootstrap), not in the code; or */
	const char *runtime_exe;       /* relative to the runtime directory ("python/bootstrap") */
	const char *interp;            /* runs the entry point (argv: interp, entry point), or NULL */
	char *const *envp;             /* NULL-terminated, borrowed; the sandbox adds
	                                * AWS_LAMBDA_RUNTIME_API and LAMBDA_TASK_ROOT */
	uint32_t memory_mb;            /* the function's MemorySize: memory limit, CPU share */
	uint32_t ephemeral_mb;         /* size of /tmp */
	uint32_t nofile;               /* RLIMIT_NOFILE (Lambda: 1024) */
};

struct sandbox_stats {
	uint64_t max_rss_kb; /* peak memory of the environment */
};

/* What a sandbox's owner hears, on the loop. */
struct sandbox_cbs {
	/* Creation ended: rc 0, the runtime was exec'd and the accessors below work; or a
	 * negative errno with e (the failing step), nothing left running. Called once. */
	void (*ready_cb)(struct sandbox *sb, int rc, const struct err *e, void *arg);
	/* After a ready_cb with 0: the first process was reaped; status is the runtime's
	 * own wait status. Called at most once, never after sandbox_free. */
	void (*exit_cb)(struct sandbox *sb, int status, void *arg);
};

/* Starts making a sandbox for spec (borrowed for the call) from a blank of the pool.
 * Every step after this call is an event on the loop: none of it blocks. Returns 0 and
 * an owned *out at once (sandbox_free cancels a creation under way), with
 * cbs->ready_cb to come, never from inside this call; or a negative errno, nothing
 * started. */
int sandbox_new(const struct sandbox_spec *spec, const struct sandbox_cbs *cbs, void *arg,
                struct sandbox **out, struct err *errp);

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
/* The runtime finished its init (it asked for its first event): the function's own CPU
 * weight (init runs with at least one vCPU's) and, with --cpu-limit quota, the CPU
 * quota are written now, so the init phase is never throttled, as on Lambda. Once;
 * later calls do nothing. 0 or a negative errno with errp (the environment runs on
 * with its init's limits). */
int sandbox_init_done(struct sandbox *sb, struct err *errp);
/* Kills every process of the environment and frees sb, or stops its creation (its
 * exit is collected by the reaper; its cgroup goes once it is empty). No callback runs
 * after it. NULL is a no-op. */
void sandbox_free(struct sandbox *sb);

/* Describes a wait status as Lambda does ("exit status 1", "signal: killed"). */
void sandbox_describe_status(int status, char *out, size_t len);

#endif
