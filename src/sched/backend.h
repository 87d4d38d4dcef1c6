/* The seam between the scheduler and what runs its environments: the real backend over
 * sandbox/ and rtapi/ (sched_backend_sandbox_new), or a test's fake. Every call is on the
 * loop, and no call blocks: creation reports through ready_cb. */
#ifndef LAMBDAD_SCHED_BACKEND_H
#define LAMBDAD_SCHED_BACKEND_H

#include <event2/event.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/fn.h"
#include "rtapi/rtapi.h"
#include "sched/sched.h"
#include "store/store.h"

struct sched_benv; /* one environment of a backend; opaque to the scheduler */

/* What a backend tells the scheduler of one environment, on the loop, never from inside
 * the call that created it. */
struct sched_benv_cbs {
	/* Creation ended: rc 0, it runs (log_fd and serve work now), or a negative errno
	 * with e, nothing left running. Called once. */
	void (*ready_cb)(void *arg, int rc, const struct err *e);
	/* After a ready_cb with 0: its first process ended with the runtime's wait status;
	 * oom tells that the kernel killed something of it for lack of memory. Called at
	 * most once, never after env_free. */
	void (*exit_cb)(void *arg, int status, bool oom);
	/* After a ready_cb with 0: the extension started from a file named name ended.
	 * NULL ok. */
	void (*ext_exit_cb)(void *arg, const char *name);
};

/* One environment to make. */
struct sched_env_spec {
	const struct fn_config *cfg; /* borrowed: code, runtime, handler, memory */
	char *const *envp;           /* borrowed, NULL-terminated: the function's environment */
};

struct sched_backend_ops {
	/* Starts making an environment. Returns 0 and *out (owned until env_free) with
	 * cbs->ready_cb(arg, ...) to come, or a negative errno with errp (nothing started). */
	int (*env_new)(void *be, const struct sched_env_spec *spec, const struct sched_benv_cbs *cbs,
	               void *arg, struct sched_benv **out, struct err *errp);
	/* The read end of the environment's stdout and stderr, non-blocking; borrowed. */
	int (*log_fd)(struct sched_benv *h);
	/* The same of its extensions, or -1 (none, or their output is in log_fd's); NULL ok. */
	int (*ext_log_fd)(struct sched_benv *h);
	/* Serves the Runtime API to the environment with ops/arg: 0 and an owned *out
	 * (free it with rtapi_free before env_free), or a negative errno. Once per env. */
	int (*serve)(struct sched_benv *h, const struct rtapi_ops *ops, void *arg, struct rtapi **out,
	             struct err *errp);
	/* Sends sig to every process of the environment; 0 or a negative errno. */
	int (*signal)(struct sched_benv *h, int sig);
	bool (*can_freeze)(struct sched_benv *h);
	/* Freezes or thaws every process; 0 or a negative errno. */
	int (*freeze)(struct sched_benv *h, bool frozen);
	/* Peak memory of the environment (KiB); 0 or a negative errno. */
	int (*stats)(struct sched_benv *h, uint64_t *max_rss_kb);
	/* The runtime asked for its first event: its init is over, and what the backend
	 * holds back during init applies from now on (the function's CPU weight, and with
	 * --cpu-limit quota its CPU quota).
	 * Called once per environment, before its first event is delivered. 0 or a
	 * negative errno (the environment is used all the same). NULL: nothing held back. */
	int (*init_done)(struct sched_benv *h);
	/* Kills the environment (or stops its creation) and frees h; no callback of it
	 * runs afterwards. NULL is a no-op. */
	void (*env_free)(struct sched_benv *h);
	/* Frees the backend itself (every environment freed with env_free already); NULL ok. */
	void (*free)(void *be);
};

struct sched_backend {
	const struct sched_backend_ops *ops;
	void *be; /* the backend's state, handed to create and free */
};

/* The real backend: environments are sandboxes (sandbox_new; sandbox_init done) of
 * the code in store (borrowed), served by rtapi on base. Fills *out; 0. */
int sched_backend_sandbox_new(struct event_base *base, struct store *store, struct sched_backend *out,
                              struct err *errp);

/* sched_new with backend (stolen: its free runs in sched_free, and on failure). */
int sched_new_with(struct event_base *base, const struct sched_config *cfg, struct sched_backend backend,
                   struct sched **out, struct err *errp);

#endif
