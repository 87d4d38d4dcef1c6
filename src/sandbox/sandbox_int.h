/* What the sandbox's own files share. LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_INT_H
#define LAMBDAD_SANDBOX_INT_H

#include <event2/event.h>
#include <sys/queue.h>

#include "sandbox/sandbox.h"
#include "sandbox/steps.h"

struct cg;
struct relay_listener;

#define SBX_HOST_PORTS_MAX 16
#define SBX_EXT_PIDS_MAX 16 /* --function-host-port at most this many times */

/* A sandbox's outbound network helper (slirp4netns), or pid 0 for none. */
struct sbx_net {
	pid_t pid;
	int exit_w;  /* closing it makes the helper exit */
	int ready_r; /* readable once the tap device is configured */
};

/* Where a sandbox's creation stands; every step after SB_WAIT_BLANK is an event. */
enum sb_phase {
	SB_WAIT_BLANK, /* in the queue for a blank from the pool */
	SB_WAIT_READY, /* the blank's Runtime API socket and READY, on ctl */
	SB_WAIT_NET,   /* slirp4netns's ready byte (outbound networking), on net.ready_r */
	SB_WAIT_EXEC,  /* the plan was sent: EXECED or FAILED, on ctl */
	SB_RUNNING,    /* the runtime runs; ready_cb was called with 0 */
	SB_FAILED,     /* ready_cb was called with an error; nothing is left running */
};

struct sandbox {
	struct sandbox_cbs cbs; /* the owner's callbacks and their arg */
	void *arg;
	enum sb_phase phase;
	bool reaped;                    /* the first process was collected */
	bool got_rtapi;                 /* SB_WAIT_READY: the Runtime API socket arrived */
	struct sbx_plan go;             /* the function's part, sent after READY */
	struct event *ev;               /* the fd of the phase, or the deferred ready_cb */
	int status;                     /* wait status, once reaped */
	struct err err;                 /* why creation failed (SB_FAILED) */
	TAILQ_ENTRY(sandbox) wait_link; /* SB_WAIT_BLANK */
	pid_t pid;                      /* the environment's first process (a namespace's init) */
	int log_fd;                     /* read end of stdout + stderr */
	int rtapi_fd;                   /* Runtime API listener until taken */
	int ctl;                        /* control socket to the namespace's init, or -1 */
	int netns;                      /* its network namespace, kept for reuse after it ends, or -1 */
	struct cg *cg;                  /* NULL without cgroups */
	bool isolated;                  /* namespaces (pid is the init of its pid namespace) */
	uint32_t memory_mb;             /* the cgroup's memory limit */
	bool init_done;                 /* sandbox_init_done ran: the function's own CPU limits */
	bool cpu_quota_on;              /* --cpu-limit quota: written at the end of init */
	struct sbx_net net;
	int api_fd;                      /* lambdad's API listener inside (4566) until served, or -1 */
	void *api_handle;                /* what sandbox_api's serve returned for it */
	int host_fd[SBX_HOST_PORTS_MAX]; /* host-port listeners until relayed, or -1 */
	uint16_t host_port[SBX_HOST_PORTS_MAX];
	unsigned nhost;
	struct relay_listener *relay[SBX_HOST_PORTS_MAX];
	/* With extensions: their output pipe, and sockets asked of the init (sandbox_socket)
	 * whose answers ctl_ev reads, in order; the runtime's exit status if it read it. */
	int ext_log_fd;
	struct event *ctl_ev;
	struct sb_sock_wait *sock_head, **sock_tail;
	bool got_exited;
	int exited_status;
	/* Isolation none: the extensions' process groups (each in a session of its own, as
	 * the runtime is), signalled with the runtime's. */
	pid_t ext_pid[SBX_EXT_PIDS_MAX];
	unsigned n_ext_pid;
};

struct sb_sock_wait {
	void (*cb)(void *arg, int fd);
	void *arg;
	struct sb_sock_wait *next;
};

/* The process-group backend: vfork + exec, rlimits, a listener on an ephemeral
 * loopback port; endpoint (or NULL) is the functions' AWS_ENDPOINT_URL. Fills sb. */
int sandbox__proc_create(const struct sandbox_spec *spec, struct sandbox *sb, const char *runtime_dir,
                         const char *endpoint, struct err *errp);

/* net.c: the path of slirp4netns or NULL; start it for the network namespace of
 * ns_pid (n->ready_r becomes readable once it is ready: an event waits for it); stop it. */
const char *sandbox__net_helper(void);
int sandbox__net_start(pid_t ns_pid, struct sbx_net *n, struct err *errp);
void sandbox__net_stop(struct sbx_net *n);

/* envp plus AWS_LAMBDA_RUNTIME_API and LAMBDA_TASK_ROOT, and AWS_ENDPOINT_URL=endpoint
 * unless envp has one or endpoint is NULL (owned, free with sandbox_free_envp). */
char **sandbox_envp_with(char *const *envp, const char *rtapi_addr, const char *task_root,
                         const char *endpoint);

/* relay.c: relays the connections accepted on lfd (a listening socket, taken) to
 * 127.0.0.1:port on the host; NULL (lfd closed) when libevent refuses it. Freeing the
 * listener leaves its connections open; relay_shutdown closes every one. */
struct relay_listener *relay_listener_new(struct event_base *base, int lfd, uint16_t port);
void relay_listener_free(struct relay_listener *rl);
void relay_shutdown(void);
void sandbox_free_envp(char **envp);

#endif
