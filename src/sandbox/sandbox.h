/* Execution environments' processes. LINUX ONLY. This backend is a process group
 * with rlimits; the namespace sandbox replaces it behind the same interface. */
#ifndef LAMBDAD_SANDBOX_H
#define LAMBDAD_SANDBOX_H

#include <lambdad/err.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox;

struct sandbox_spec {
	const char *exe;	/* absolute path of the runtime's entry (bootstrap) */
	const char *cwd;	/* the function's code directory */
	char *const *envp;	/* NULL-terminated environment, borrowed */
	uint32_t memory_mb;	/* the function's MemorySize */
	uint32_t nofile;	/* RLIMIT_NOFILE (Lambda: 1024) */
};

struct sandbox_stats {
	uint64_t max_rss_kb;	/* peak resident memory of the environment */
};

/* Creates a listening TCP socket on 127.0.0.1 with an ephemeral port for an
 * environment's Runtime API; *port gets the port. Returns the fd (owned) or a
 * negative errno. */
int sandbox_rtapi_listener(uint16_t *port, struct err *errp);

/* Starts spec->exe in a new session/process group with its stdout and stderr on a
 * pipe (read end: sandbox_log_fd) and stdin on /dev/null. Returns 0 and an owned
 * *out, or a negative errno with the failing step (nothing is left running). */
int sandbox_create(const struct sandbox_spec *spec, struct sandbox **out, struct err *errp);

pid_t sandbox_pid(const struct sandbox *sb);
/* The read end of the output pipe, non-blocking; owned by the sandbox. */
int sandbox_log_fd(const struct sandbox *sb);
/* Sends sig to every process of the environment. */
int sandbox_signal(struct sandbox *sb, int sig);
/* Reads usage figures; 0 or a negative errno. */
int sandbox_stats(struct sandbox *sb, struct sandbox_stats *st);
/* Kills every process of the environment and frees sb (the exit status is
 * collected by sandbox_reap). NULL is a no-op. */
void sandbox_destroy(struct sandbox *sb);

/* Collects one exited child without blocking: returns its pid and fills *status,
 * 0 when none is left, or a negative errno. */
pid_t sandbox_reap(int *status);
/* Describes a wait status as Lambda does ("exit status 1", "signal: killed"). */
void sandbox_describe_status(int status, char *out, size_t len);

#endif
