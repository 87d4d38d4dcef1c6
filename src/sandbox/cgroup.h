/* Per-environment cgroups: memory, CPU and pids limits, peak memory, OOM kills and
 * kill-everything, with the cgroup v1 and v2 backends behind one table chosen when
 * the root is opened. LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_CGROUP_H
#define LAMBDAD_SANDBOX_CGROUP_H

#include <dirent.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cg_root; /* this server's subtree, one directory per hierarchy */
struct cg;      /* one environment's group */

/* A field that is 0 is left unlimited (cpu_weight: the kernel's default weight). */
struct cg_limits {
	uint32_t memory_mb;  /* hard limit in MiB, and no swap */
	uint32_t cpu_millis; /* CPU quota in thousandths of a CPU (1000 = one full CPU) */
	uint32_t pids_max;   /* processes and threads */
	uint32_t cpu_weight; /* share of the CPU under contention, in proportion to other
	                      * groups' (a MemorySize in MB; see CG_WEIGHT_MAX_MB) */
};

/* The cpu_weight given the kernel's largest weight (v2 cpu.weight 10000, v1 cpu.shares
 * 262144): Lambda's largest MemorySize. Weights scale linearly below it. */
#define CG_WEIGHT_MAX_MB 10240

/* Lambda's limits for a MemorySize: CPU in proportion to memory (1769 MB = one
 * vCPU, at least 50 thousandths) as a quota, the same proportion as a weight
 * (cpu_weight = memory_mb), and 1024 pids. */
void cg_lambda_limits(uint32_t memory_mb, struct cg_limits *l);

/* The cpu_weight of an environment while its runtime initialises: that of one full vCPU
 * (1769 MB) at least, so that a small function's init is not slowed down, as Lambda's
 * init is not throttled. */
uint32_t cg_lambda_init_weight(uint32_t memory_mb);

/* The values cg_set_limits writes for a cpu_weight: v2 cpu.weight (1..10000, 0 gives
 * the default 100) and v1 cpu.shares (2..262144, 0 gives the default 1024). */
uint32_t cg_v2_weight(uint32_t cpu_weight);
uint32_t cg_v1_shares(uint32_t cpu_weight);

/* Finds the hierarchy: v2 if /sys/fs/cgroup/cgroup.controllers exists, else v1 with
 * the memory, cpu and pids controllers (freezer is used when mounted). Creates the
 * subtree `name` below the cgroup the server is in for each controller (from
 * /proc/self/cgroup), so outer limits still apply.
 *
 * cgroup v2, when the server's own cgroup O is not the root: the no-internal-
 * processes rule forbids enabling controllers in O while the server is in it. So the
 * server moves itself into the leaf O/<name>-server, enables +memory +cpu +pids in
 * O/cgroup.subtree_control and creates O/<name> beside the leaf. If another process
 * also lives in O this fails with -EBUSY and everything is put back (run lambdad in
 * a cgroup of its own, e.g. a systemd unit with Delegate=yes). cg_root_free undoes
 * the move.
 *
 * First removes stale subtrees "lambdad-...-<pid>" (and "...-<pid>-server") whose pid
 * is no longer alive, killing their processes. Returns 0 and an owned *out, or a
 * negative errno with a message that says what is missing (no cgroup filesystem, a
 * controller, permission); nothing is left behind on failure. */
int cg_root_new(const char *name, struct cg_root **out, struct err *errp);

/* "v1" or "v2". */
const char *cg_root_kind(const struct cg_root *r);

/* The subtree's directory in hierarchy i (v2: only i = 0), or NULL past the last;
 * borrowed. */
const char *cg_root_path(const struct cg_root *r, unsigned i);

/* Kills every process left in the subtree, removes it (waiting up to about a second
 * for killed processes to leave, so call it at shutdown only), undoes the v2 move of
 * the server and frees r. NULL is a no-op. Groups not yet destroyed must not be used
 * afterwards; they must still be released with cg_free. */
void cg_root_free(struct cg_root *r);

/* Creates the child group `id` (a single path component) in every hierarchy.
 * Returns 0 and an owned *out, or a negative errno (-EEXIST if it exists); nothing
 * is left behind on failure. */
int cg_new(struct cg_root *r, const char *id, struct cg **out, struct err *errp);

/* Writes the limits. v2: memory.max, memory.swap.max=0 (when swap is accounted),
 * cpu.weight, cpu.max "quota period", pids.max. v1: memory.limit_in_bytes and
 * memory.memsw.limit_in_bytes when present (else memory.swappiness 0), cpu.shares,
 * cpu.cfs_period_us and cpu.cfs_quota_us, pids.max. The CPU period is 100 ms.
 * Returns 0 or a negative errno naming the file; after a failure the limits are
 * partly applied and the group should be destroyed. */
int cg_set_limits(struct cg *g, const struct cg_limits *l, struct err *errp);

/* Writes the CPU quota alone (cpu_millis as in struct cg_limits, 0 = none): v2 cpu.max,
 * v1 cpu.cfs_period_us and cpu.cfs_quota_us. 0 or a negative errno naming the file. */
int cg_set_cpu_quota(struct cg *g, uint32_t cpu_millis, struct err *errp);

/* Writes the CPU weight alone (cpu_weight as in struct cg_limits): v2 cpu.weight, v1
 * cpu.shares. 0 or a negative errno naming the file. */
int cg_set_cpu_weight(struct cg *g, uint32_t cpu_weight, struct err *errp);

/* Moves the process pid (all its threads) into the group, in every hierarchy for
 * v1. Returns 0 or a negative errno; on failure pid is moved back to the server's
 * own cgroups where it had already been moved. */
int cg_attach(struct cg *g, pid_t pid, struct err *errp);

/* Peak memory use in KiB: v2 memory.peak (memory.current before Linux 5.19), v1
 * memory.max_usage_in_bytes. 0 or a negative errno. */
int cg_peak_kb(struct cg *g, uint64_t *kb);

/* Processes killed by the OOM killer in the group: v2 memory.events oom_kill, v1
 * memory.oom_control oom_kill (Linux 4.13+). 0 or a negative errno. */
int cg_oom_kills(struct cg *g, uint64_t *n);

/* Sends SIGKILL to every process of the group without waiting for them to exit: v2
 * cgroup.kill (Linux 5.14+), else passes over cgroup.procs (v1: frozen meanwhile
 * when the freezer is mounted) until a pass finds no process it has not signalled.
 * Returns 0 or a negative errno. */
int cg_kill(struct cg *g);

/* Freezes or thaws the group: v2 cgroup.freeze (Linux 5.2+), v1 freezer.state.
 * Does not wait for the freeze to complete. 0, -ENOTSUP when unavailable, or a
 * negative errno. */
int cg_freeze(struct cg *g, bool frozen);

/* Removes the group's directories (not a lifecycle verb: it can fail, and frees g only
 * when it succeeds). Returns 0 and frees g, or -EBUSY while processes remain (the
 * caller retries after reaping; g stays valid and what was removed stays removed), or
 * another negative errno (g stays valid). A group that cannot be removed now is
 * released with cg_free. */
int cg_remove(struct cg *g);

/* Frees g without touching the filesystem: cg_root_free removes what is left. NULL is
 * a no-op; never fails. */
void cg_free(struct cg *g);

/* The system calls this module makes, replaceable by tests to inject failures or to
 * run against a fake hierarchy. Each follows its libc namesake (-1 and errno). */
struct cg_sys {
	int (*open)(const char *path, int flags, mode_t mode);
	ssize_t (*read)(int fd, void *buf, size_t len);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	int (*close)(int fd);
	int (*access)(const char *path, int mode);
	int (*mkdir)(const char *path, mode_t mode);
	int (*rmdir)(const char *path);
	DIR *(*opendir)(const char *path);
	struct dirent *(*readdir)(DIR *d);
	int (*closedir)(DIR *d);
	int (*kill)(pid_t pid, int sig);
	pid_t (*getpid)(void);
	void (*sleep_ms)(unsigned ms);
};

/* The libc table, and the one in use (never NULL; tests point it at their own). */
extern const struct cg_sys cg_sys_libc;
extern const struct cg_sys *cg_sys;

#endif
