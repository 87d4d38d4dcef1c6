/* The real backend: an environment is a sandbox (sandbox_new, every step an event)
 * running the function's code from the store, and its Runtime API is served by rtapi on
 * the sandbox's listening socket. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtimes/hostrt.h"
#include "sandbox/sandbox.h"
#include "sched/backend.h"

struct sbe {
	struct event_base *base;
	struct store *store; /* borrowed */
};

struct sched_benv {
	struct sbe *be;
	struct sandbox *sb;
	struct sched_benv_cbs cbs;
	void *arg;
};

static void sb_ready(struct sandbox *sb, int rc, const struct err *e, void *arg)
{
	struct sched_benv *h = arg;
	h->cbs.ready_cb(h->arg, rc, e);
}

static void sb_exit(struct sandbox *sb, int status, void *arg)
{
	struct sched_benv *h = arg;
	h->cbs.exit_cb(h->arg, status, sandbox_oom_killed(sb));
}

static const struct sandbox_cbs sb_cbs = {.ready_cb = sb_ready, .exit_cb = sb_exit};

static int sbe_env_new(void *bep, const struct sched_env_spec *spec, const struct sched_benv_cbs *cbs,
                       void *arg, struct sched_benv **out, struct err *errp)
{
	struct sbe *be = bep;
	const struct fn_config *cfg = spec->cfg;
	int r;
	if ((r = store_ensure_code(be->store, cfg->code_hex, errp)) < 0)
		return r;
	autofree char *code_dir = store_code_dir(be->store, cfg->code_hex);
	/* The layers' extracted content, each once per sha as code is. */
	size_t nl = json_array_size(cfg->layers);
	autofree char **layer_dirs = nl ? xcalloc(nl + 1, sizeof(char *)) : NULL;
	for (size_t i = 0; i < nl && r >= 0; i++) {
		const char *hex = json_string_value(json_object_get(json_array_get(cfg->layers, i), "Sha"));
		if (!hex || strlen(hex) != 64)
			r = err_make(errp, EINVAL, "function %s: layer %zu has no content", cfg->name, i + 1);
		else if ((r = store_ensure_code(be->store, hex, errp)) >= 0)
			layer_dirs[i] = store_code_dir(be->store, hex);
		/* More than one are an overlay's lowerdir list, which these characters split. */
		if (r >= 0 && nl > 1 && strpbrk(layer_dirs[i], ":,\\"))
			r = err_make(errp, EINVAL,
			             "function %s: layers cannot be merged from %s (a ':', ',' or '\\' in "
			             "the data directory's path)",
			             cfg->name, layer_dirs[i]);
	}
	if (r < 0) {
		for (size_t i = 0; i < nl; i++)
			free(layer_dirs[i]);
		return r;
	}
	/* provided*: the zip's bootstrap; python and node: the project's runtime. */
	const char *family = fn_runtime_family(cfg->runtime);
	autofree char *runtime_exe = strcmp(family, "provided") ? xasprintf("%s/bootstrap", family) : NULL;
	/* Python's bootstrap runs on the runtime's interpreter (--runtime-path); Node's is a
	 * shell script that finds it in LAMBDAD_NODE. */
	struct hostrt_info hi;
	bool python = hostrt_lookup(cfg->runtime, &hi) && strcmp(family, "python") == 0;
	/* provided*: a code without bootstrap runs the one its layers give at /opt (the
	 * last layer that has one is on top). A stat only for functions with layers. */
	const char *exe_layer = NULL;
	if (nl && strcmp(family, "provided") == 0) {
		autofree char *boot = xasprintf("%s/bootstrap", code_dir);
		struct stat st;
		for (size_t i = nl; stat(boot, &st) < 0 && i-- > 0;) {
			autofree char *lb = xasprintf("%s/bootstrap", layer_dirs[i]);
			if (stat(lb, &st) == 0 && S_ISREG(st.st_mode)) {
				exe_layer = layer_dirs[i];
				break;
			}
		}
	}
	struct sandbox_spec sspec = {.code_dir = code_dir,
	                             .exe_layer = exe_layer,
	                             .layer_dirs = (const char *const *)layer_dirs,
	                             .exe = "bootstrap",
	                             .runtime_exe = runtime_exe,
	                             .interp = python ? hi.path : NULL,
	                             .envp = spec->envp,
	                             .memory_mb = cfg->memory_mb,
	                             .ephemeral_mb = cfg->ephemeral_mb,
	                             .nofile = 1024};
	struct sched_benv *h = xcalloc(1, sizeof(*h));
	h->be = be;
	h->cbs = *cbs;
	h->arg = arg;
	r = sandbox_new(&sspec, &sb_cbs, h, &h->sb, errp);
	for (size_t i = 0; i < nl; i++)
		free(layer_dirs[i]);
	if (r < 0) {
		free(h);
		return r;
	}
	*out = h;
	return 0;
}

static int sbe_log_fd(struct sched_benv *h)
{
	return sandbox_log_fd(h->sb);
}

static int sbe_serve(struct sched_benv *h, const struct rtapi_ops *ops, void *arg, struct rtapi **out,
                     struct err *errp)
{
	int lfd = sandbox_take_rtapi_fd(h->sb);
	int r = rtapi_new(h->be->base, lfd, ops, arg, out, errp);
	if (r < 0 && lfd >= 0)
		close(lfd);
	return r;
}

static int sbe_signal(struct sched_benv *h, int sig)
{
	return sandbox_signal(h->sb, sig);
}

static bool sbe_can_freeze(struct sched_benv *h)
{
	return sandbox_can_freeze(h->sb);
}

static int sbe_freeze(struct sched_benv *h, bool frozen)
{
	return sandbox_freeze(h->sb, frozen);
}

static int sbe_stats(struct sched_benv *h, uint64_t *max_rss_kb)
{
	struct sandbox_stats st = {0};
	int r = sandbox_stats(h->sb, &st);
	*max_rss_kb = st.max_rss_kb;
	return r;
}

static int sbe_init_done(struct sched_benv *h)
{
	struct err e = {0};
	int r = sandbox_init_done(h->sb, &e);
	if (r < 0)
		log_warn("sandbox: the CPU limits after init: %s", e.msg);
	return r;
}

static void sbe_env_free(struct sched_benv *h)
{
	if (!h)
		return;
	sandbox_free(h->sb);
	free(h);
}

static void sbe_free(void *be)
{
	free(be);
}

static const struct sched_backend_ops sbe_ops = {
    .env_new = sbe_env_new,
    .log_fd = sbe_log_fd,
    .serve = sbe_serve,
    .signal = sbe_signal,
    .can_freeze = sbe_can_freeze,
    .freeze = sbe_freeze,
    .stats = sbe_stats,
    .init_done = sbe_init_done,
    .env_free = sbe_env_free,
    .free = sbe_free,
};

int sched_backend_sandbox_new(struct event_base *base, struct store *store, struct sched_backend *out,
                              struct err *errp)
{
	struct sbe *be = xcalloc(1, sizeof(*be));
	be->base = base;
	be->store = store;
	out->ops = &sbe_ops;
	out->be = be;
	return 0;
}
