/* Sandbox setup as data: the parent builds an ordered list of steps, the child runs it
 * between clone and exec without allocating, and reports {errno, step} on failure.
 * LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_STEPS_H
#define LAMBDAD_SANDBOX_STEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/filter.h>

enum sbx_op {
	SBX_MOUNT = 1,     /* a: source, b: target, c: fstype, d: data; n: flags */
	SBX_REMOUNT_RO,    /* b: target (a bind mount made read-only, nosuid, nodev); n: extra flags */
	SBX_MKDIR,         /* b: path; n: mode */
	SBX_MKDIR_OPT,     /* b: path; n: mode; an existing one is fine */
	SBX_TOUCH,         /* b: path (an empty file, a bind target) */
	SBX_SYMLINK,       /* a: target, b: link path */
	SBX_WRITE_FILE,    /* b: path, a: content; n: mode */
	SBX_PIVOT_ROOT,    /* a: new root, b: put_old inside it */
	SBX_UMOUNT_DETACH, /* b: path */
	SBX_RMDIR,         /* b: path */
	SBX_CHDIR,         /* b: path */
	SBX_HOSTNAME,      /* a: name */
	SBX_LOOPBACK_UP,   /* brings up "lo" */
	SBX_RTAPI_LISTEN,  /* listens on 127.0.0.1:n and sends the socket over the control fd,
	                    * in a message of 3 bytes: tag m ('L' when 0), then n (u16) */
	SBX_RLIMIT,        /* n: resource, m: limit (soft = hard) */
	SBX_STDIO,         /* stdin from /dev/null (b), stdout and stderr to the output fd */
	SBX_DROP_CAPS,     /* empties the bounding set (for the exec'd program) */
	SBX_SETID,         /* n: uid, m: gid; supplementary groups dropped */
	SBX_SECCOMP,       /* no_new_privs, then the filter */
	SBX_DEATHSIG,      /* SIGKILL when the server dies; exits if it already has */
	SBX_INIT,          /* forks: the child runs the rest of the plan, this process stays the
	                    * namespace's init, reaps, and reports the runtime's exit */
	SBX_EXEC,          /* a: path; then argv strings; NULL; then envp strings */
	SBX_EXTENSION,     /* a: path. After SBX_INIT: the init starts it before the runtime,
	                    * running the runtime's steps (identity, limits, seccomp) and
	                    * its exec with path instead (argv: path; the same envp) */
};

/* The serialised plan: records of {op u8, n u64, m u64, nstr u16, strings (u32 len,
 * bytes, NUL)}. The same bytes travel in a message to a waiting child. */
struct sbx_plan {
	unsigned char *buf;
	size_t len, cap;
	unsigned count;
};

void sbx_plan_init(struct sbx_plan *p);
void sbx_plan_fini(struct sbx_plan *p);
/* Appends a step with up to 4 strings (NULL ends the list early). */
void sbx_plan_add(struct sbx_plan *p, enum sbx_op op, uint64_t n, uint64_t m, const char *a, const char *b,
                  const char *c, const char *d);
/* Appends an exec step: path, argv (NULL-terminated), envp (NULL-terminated). */
void sbx_plan_exec(struct sbx_plan *p, const char *path, char *const *argv, char *const *envp);
/* A readable name for step index i of the plan ("bind /usr on /var/...") into out. */
void sbx_plan_describe(const unsigned char *buf, size_t len, unsigned index, char *out, size_t outlen);

/* The tags of the listening sockets a blank sends (SBX_RTAPI_LISTEN's m). */
enum sbx_listen_tag {
	SBX_LISTEN_RTAPI = 'L', /* the Runtime API (9001) */
	SBX_LISTEN_API = 'A',   /* lambdad's own API, served by the front (4566) */
	SBX_LISTEN_HOST = 'H',  /* relayed to the same port on the host's loopback */
	/* With extensions, the init sends, before EXECED, the read end of their output
	 * pipe ('X'), and later answers each 'S' byte the server sends with a new TCP
	 * socket of the namespace ('S'), unconnected: the server connects it to the
	 * sandbox's loopback (the Telemetry API's listeners). */
	SBX_EXT_OUTPUT = 'X',
	SBX_SOCKET = 'S',
};

/* What a child tells the server on its control socket, one message each. */
enum sbx_msg_kind {
	SBX_MSG_READY = 1,  /* the blank part is done: waiting for the function's plan */
	SBX_MSG_FAILED,     /* value: errno; step: index; phase: 0 blank, 1 function */
	SBX_MSG_EXECED,     /* the runtime runs */
	SBX_MSG_EXITED,     /* value: the runtime's wait status */
	SBX_MSG_EXT_EXITED, /* value: an extension's wait status; step: which (0, 1, ... in
	                     * the order of the plan's SBX_EXTENSION steps) */
};
struct sbx_msg {
	int kind;
	int value;
	unsigned step;
	int phase;
};

/* What the child needs besides the plan. */
struct sbx_child_ctx {
	int ctl_fd;                       /* control socket to the server */
	int report_fd;                    /* where a failure goes (the init's pipe after SBX_INIT) */
	int out_fd;                       /* write end of the output pipe */
	pid_t server_pid;                 /* for the death signal check */
	const struct sock_fprog *seccomp; /* built once in the parent */
	const char *exec_path;            /* SBX_EXEC runs this instead (an extension), or NULL */
	int ext_out_fd;                   /* an extension's stdout and stderr (with exec_path) */
	bool unblock_sigchld;             /* the init blocked it: the child's exec must not inherit that */
};

/* Syscalls the runner makes, overridable by tests to inject failures. */
struct sbx_sys {
	int (*mount)(const char *src, const char *dst, const char *type, unsigned long flags,
	             const void *data);
	int (*umount2)(const char *path, int flags);
	int (*mkdir)(const char *path, mode_t mode);
	int (*rmdir)(const char *path);
	int (*symlink)(const char *target, const char *path);
	int (*open)(const char *path, int flags, mode_t mode);
	int (*pivot_root)(const char *new_root, const char *put_old);
	int (*chdir)(const char *path);
	int (*sethostname)(const char *name, size_t len);
};
extern const struct sbx_sys *sbx_sys; /* the one in use */
extern const struct sbx_sys sbx_sys_default;

/* Runs the plan's steps in order. Returns 0, or -errno with *failed set to the
 * index of the step that failed. Allocates nothing; an exec step does not return on
 * success. */
int sbx_plan_run(const unsigned char *buf, size_t len, struct sbx_child_ctx *ctx, unsigned *failed);

#endif
