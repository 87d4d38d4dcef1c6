/* The real backend: an environment is a sandbox (sandbox_new, every step an event)
 * running the function's code from the store, and its Runtime API is served by rtapi on
 * the sandbox's listening socket. */
#include <dirent.h>
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
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
	unsigned n_ext;                 /* extensions started: init waits for each to register */
	char *ext_names[RTAPI_EXT_MAX]; /* their file names, in the order started */
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The external extensions of a function whose /opt is made of layer_dirs (host
 * directories, NULL-terminated, in order; a later layer's file of the same name wins):
 * the regular files of each one's extensions/ folder, by name. Returns the paths to
 * start (owned, NULL-terminated, NULL when there are none): /opt/extensions/NAME in a
 * sandbox, the host file with isolation none. *n gets their count (at most RTAPI_EXT_MAX). */
static char **ext_list(const char *const *layer_dirs, bool isolated, unsigned *n)
{
	char *names[RTAPI_EXT_MAX + 1];
	char *paths[RTAPI_EXT_MAX + 1];
	unsigned k = 0;
	*n = 0;
	for (size_t i = 0; layer_dirs && layer_dirs[i]; i++) {
		autofree char *dir = xasprintf("%s/extensions", layer_dirs[i]);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d))) {
			struct stat st;
			autofree char *path = xasprintf("%s/%s", dir, de->d_name);
			if (de->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			unsigned j = 0;
			while (j < k && strcmp(names[j], de->d_name) != 0)
				j++;
			if (j == k) {
				if (k == RTAPI_EXT_MAX) {
					log_warn(
					    "sched: more than %d extensions in %s: the rest are not started",
					    RTAPI_EXT_MAX, dir);
					continue;
				}
				names[k] = xstrdup(de->d_name);
				paths[k++] = NULL;
			}
			free(paths[j]);
			paths[j] = isolated ? xasprintf("/opt/extensions/%s", de->d_name) : steal_ptr(&path);
		}
		closedir(d);
	}
	if (k == 0)
		return NULL;
	qsort(paths, k, sizeof(char *), cmp_str);
	char **out = xcalloc(k + 1, sizeof(char *));
	for (unsigned j = 0; j < k; j++) {
		out[j] = paths[j];
		free(names[j]);
	}
	*n = k;
	return out;
}

static void ext_list_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

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

static void sb_ext_exit(struct sandbox *sb, unsigned index, int status, void *arg)
{
	struct sched_benv *h = arg;
	if (index < h->n_ext && h->cbs.ext_exit_cb)
		h->cbs.ext_exit_cb(h->arg, h->ext_names[index]);
}

static const struct sandbox_cbs sb_cbs = {
    .ready_cb = sb_ready, .exit_cb = sb_exit, .ext_exit_cb = sb_ext_exit};

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
	/* The layers' extensions: none means nothing new on the cold start's path. */
	unsigned n_ext = 0;
	char **exts = ext_list((const char *const *)layer_dirs, sandbox_isolated(), &n_ext);
	struct sandbox_spec sspec = {.code_dir = code_dir,
	                             .exe_layer = exe_layer,
	                             .layer_dirs = (const char *const *)layer_dirs,
	                             .exe = "bootstrap",
	                             .runtime_exe = runtime_exe,
	                             .interp = python ? hi.path : NULL,
	                             .envp = spec->envp,
	                             .memory_mb = cfg->memory_mb,
	                             .ephemeral_mb = cfg->ephemeral_mb,
	                             .nofile = 1024,
	                             .extensions = (const char *const *)exts};
	struct sched_benv *h = xcalloc(1, sizeof(*h));
	h->be = be;
	h->cbs = *cbs;
	h->arg = arg;
	h->n_ext = n_ext;
	for (unsigned i = 0; i < n_ext; i++) {
		const char *slash = strrchr(exts[i], '/');
		h->ext_names[i] = xstrdup(slash ? slash + 1 : exts[i]);
	}
	r = sandbox_new(&sspec, &sb_cbs, h, &h->sb, errp);
	ext_list_free(exts);
	for (size_t i = 0; i < nl; i++)
		free(layer_dirs[i]);
	if (r < 0) {
		for (unsigned i = 0; i < n_ext; i++)
			free(h->ext_names[i]);
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

static int sbe_ext_log_fd(struct sched_benv *h)
{
	return sandbox_ext_log_fd(h->sb);
}

/* The Telemetry API's sockets: made in the sandbox's network namespace. */
static int sbe_socket(void *arg, void (*cb)(void *cb_arg, int fd), void *cb_arg)
{
	struct sched_benv *h = arg;
	return sandbox_socket(h->sb, cb, cb_arg);
}

static int sbe_serve(struct sched_benv *h, const struct rtapi_ops *ops, void *arg, struct rtapi **out,
                     struct err *errp)
{
	int lfd = sandbox_take_rtapi_fd(h->sb);
	int r = rtapi_new(h->be->base, lfd, ops, arg, out, errp);
	if (r < 0 && lfd >= 0)
		close(lfd);
	if (r == 0 && h->n_ext) {
		rtapi_expect_extensions(*out, h->n_ext);
		rtapi_set_socket_fn(*out, sbe_socket, h);
	}
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
	for (unsigned i = 0; i < h->n_ext; i++)
		free(h->ext_names[i]);
	free(h);
}

static void sbe_free(void *be)
{
	free(be);
}

static const struct sched_backend_ops sbe_ops = {
    .env_new = sbe_env_new,
    .log_fd = sbe_log_fd,
    .ext_log_fd = sbe_ext_log_fd,
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
