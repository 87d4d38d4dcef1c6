/* Host interpreters for the managed runtimes: a table from runtime identifier to
 * interpreter (the defaults, then what --runtime-path names), each interpreter's version,
 * and the checks CreateFunction makes with them. */
#include "runtimes/hostrt.h"

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/codec.h"
#include "registry/fn.h"
#include "svc/lambda/errors.h"

#define HOSTRT_MAX 32

/* An identifier named by --runtime-path. */
struct mapping {
	char id[32];         /* "python3.12" */
	char path[512];      /* as given: what the runtime runs */
	char prefix[2][512]; /* the directories the sandbox must show (of the path as given, and
	                      * of the file it resolves to), or "" */
};

/* What running an interpreter told: its version, "" when it did not run. */
struct probe {
	char path[512];
	char version[32];
};

static struct {
	struct mapping map[HOSTRT_MAX];
	size_t nmap;
	struct probe probe[HOSTRT_MAX + 2];
	size_t nprobe;
} H;

static const char *const system_dirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};
/* Where a sandbox has its own things: an interpreter there (or in a directory above one)
 * cannot be shown. */
static const char *const refused_dirs[] = {"/proc", "/dev", "/tmp", "/var/task", "/var/runtime", "/.host"};

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

static const char *family_name(const char *family)
{
	return strcmp(family, "python") == 0 ? "Python" : "Node.js";
}

static const char *default_path(const char *family)
{
	return strcmp(family, "python") == 0 ? HOSTRT_DEFAULT_PYTHON : HOSTRT_DEFAULT_NODE;
}

static struct mapping *find_mapping(const char *id)
{
	for (size_t i = 0; i < H.nmap; i++)
		if (strcmp(H.map[i].id, id) == 0)
			return &H.map[i];
	return NULL;
}

static struct probe *find_probe(const char *path)
{
	for (size_t i = 0; i < H.nprobe; i++)
		if (strcmp(H.probe[i].path, path) == 0)
			return &H.probe[i];
	return NULL;
}

static void set_probe(const char *path, const char *version)
{
	struct probe *p = find_probe(path);
	if (!p) {
		if (H.nprobe == sizeof(H.probe) / sizeof(H.probe[0]))
			return;
		p = &H.probe[H.nprobe++];
		snprintf(p->path, sizeof(p->path), "%s", path);
	}
	snprintf(p->version, sizeof(p->version), "%s", version ? version : "");
}

/* The interpreter of runtime (a managed one) and whether --runtime-path named it. */
static const char *interpreter(const char *runtime, bool *mapped)
{
	const struct mapping *m = find_mapping(runtime);
	*mapped = m != NULL;
	return m ? m->path : default_path(fn_runtime_family(runtime));
}

/* The installation prefix of an interpreter: the directory above its bin/, or its own. */
static void install_prefix(const char *real, char *out, size_t len)
{
	snprintf(out, len, "%s", real);
	char *slash = strrchr(out, '/');
	if (slash && slash != out)
		*slash = 0;
	slash = strrchr(out, '/');
	if (slash && strcmp(slash, "/bin") == 0 && slash != out)
		*slash = 0;
}

int hostrt_map(const char *spec, struct err *errp)
{
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return err_make(
		    errp, EINVAL,
		    "--runtime-path '%s': expected ID=PATH, e.g. python3.12=/opt/py312/bin/python3", spec);
	char id[32];
	if ((size_t)(eq - spec) >= sizeof(id))
		return err_make(errp, EINVAL,
		                "--runtime-path '%s': '%.*s' is not a managed runtime identifier", spec,
		                (int)(eq - spec), spec);
	snprintf(id, sizeof(id), "%.*s", (int)(eq - spec), spec);
	const char *path = eq + 1;
	const char *list;
	if (!fn_runtime_supported(id, &list) || strcmp(fn_runtime_family(id), "provided") == 0)
		return err_make(errp, EINVAL,
		                "--runtime-path '%s': '%s' is not a managed runtime identifier (python3.9 to "
		                "python3.13, nodejs18.x to nodejs22.x)",
		                spec, id);
	if (path[0] != '/' || strlen(path) >= sizeof(H.map[0].path) || strchr(path, '\''))
		return err_make(errp, EINVAL, "--runtime-path '%s': the interpreter must be an absolute path",
		                spec);
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(path, real) || stat(real, &st) < 0 || !S_ISREG(st.st_mode) || access(real, X_OK) < 0)
		return err_make(errp, EINVAL, "--runtime-path '%s': %s is not an executable file", spec,
		                path);
	/* The sandbox shows the installation around the path as given and around the file
	 * it resolves to (a symlink into another tree), unless the system paths hold it. */
	char prefix[2][512];
	install_prefix(path, prefix[0], sizeof(prefix[0]));
	install_prefix(real, prefix[1], sizeof(prefix[1]));
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < sizeof(refused_dirs) / sizeof(refused_dirs[0]); i++)
			if (under(prefix[k], refused_dirs[i]) || under(refused_dirs[i], prefix[k]) ||
			    strcmp(prefix[k], "/") == 0)
				return err_make(
				    errp, EINVAL,
				    "--runtime-path '%s': %s cannot be shown in the sandbox, which has "
				    "its own %s",
				    spec, prefix[k], refused_dirs[i]);
		for (size_t i = 0; i < sizeof(system_dirs) / sizeof(system_dirs[0]); i++)
			if (under(prefix[k], system_dirs[i]))
				prefix[k][0] = 0;
	}
	if (strcmp(prefix[0], prefix[1]) == 0)
		prefix[1][0] = 0;
	/* The sandbox's user (not the server's) must reach it: every directory from the
	 * prefix down, and the file itself, open to others. */
	for (int k = 0; k < 2; k++) {
		if (!prefix[k][0])
			continue;
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s", k == 0 ? path : real);
		for (char *slash; (slash = strrchr(d, '/')) && strlen(d) > strlen(prefix[k]);) {
			*slash = 0;
			if (stat(d, &st) < 0 || !(st.st_mode & S_IXOTH))
				return err_make(
				    errp, EINVAL,
				    "--runtime-path '%s': %s is closed to the functions' user (chmod "
				    "o+rx it)",
				    spec, d);
		}
	}
	if (stat(real, &st) < 0 || !(st.st_mode & S_IXOTH))
		return err_make(errp, EINVAL,
		                "--runtime-path '%s': %s is not executable by others (chmod o+rx it)", spec,
		                real);
	struct mapping *m = find_mapping(id);
	if (!m) {
		if (H.nmap == HOSTRT_MAX)
			return err_make(errp, EINVAL, "--runtime-path: more than %d mappings", HOSTRT_MAX);
		m = &H.map[H.nmap++];
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->path, sizeof(m->path), "%s", path);
	for (int k = 0; k < 2; k++)
		snprintf(m->prefix[k], sizeof(m->prefix[k]), "%s", prefix[k]);
	return 0;
}

int hostrt_map_file(const char *file, struct err *errp)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return err_make(errp, errno, "--runtime-paths %s: %s", file, strerror(errno));
	char line[1024];
	for (unsigned n = 1; fgets(line, sizeof(line), f); n++) {
		line[strcspn(line, "\r\n")] = 0;
		char *p = line + strspn(line, " \t");
		char *end = p + strlen(p);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		if (!*p || *p == '#')
			continue;
		struct err le = {0};
		if (hostrt_map(p, &le) < 0) {
			fclose(f);
			return err_make(errp, EINVAL, "%s:%u: %s", file, n, le.msg);
		}
	}
	fclose(f);
	return 0;
}

/* The first line a command prints, or "" (start-up only: it blocks). */
static void first_line(const char *cmd, char *out, size_t len)
{
	out[0] = 0;
	FILE *f = popen(cmd, "r");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\r\n")] = 0;
	else
		out[0] = 0;
	if (pclose(f) != 0)
		out[0] = 0;
}

static void probe_path(const char *family, const char *path)
{
	if (find_probe(path))
		return;
	char version[32] = "", cmd[1024];
	if (strcmp(family, "python") == 0)
		snprintf(
		    cmd, sizeof(cmd),
		    "'%s' -E -S -c 'import sys; print(\"%%d.%%d.%%d\" %% sys.version_info[:3])' 2>/dev/null",
		    path);
	else
		snprintf(cmd, sizeof(cmd), "'%s' -p process.versions.node 2>/dev/null", path);
	if (access(path, X_OK) == 0)
		first_line(cmd, version, sizeof(version));
	/* What else answers is not the language's interpreter. */
	if (strspn(version, "0123456789.") != strlen(version) || !strchr(version, '.'))
		version[0] = 0;
	set_probe(path, version);
}

int hostrt_detect(struct err *errp)
{
	probe_path("python", HOSTRT_DEFAULT_PYTHON);
	probe_path("node", HOSTRT_DEFAULT_NODE);
	log_info("runtimes: python %s, node %s",
	         find_probe(HOSTRT_DEFAULT_PYTHON)->version[0] ? find_probe(HOSTRT_DEFAULT_PYTHON)->version
	                                                       : "missing",
	         find_probe(HOSTRT_DEFAULT_NODE)->version[0] ? find_probe(HOSTRT_DEFAULT_NODE)->version
	                                                     : "missing");
	for (size_t i = 0; i < H.nmap; i++) {
		const struct mapping *m = &H.map[i];
		const char *family = fn_runtime_family(m->id);
		probe_path(family, m->path);
		const struct probe *p = find_probe(m->path);
		if (!p || !p->version[0])
			return err_make(errp, ENOEXEC,
			                "--runtime-path %s=%s: it does not run as a %s interpreter", m->id,
			                m->path, family_name(family));
		log_info("runtimes: %s runs on %s %s at %s", m->id, family_name(family), p->version, m->path);
	}
	return 0;
}

bool hostrt_lookup(const char *runtime, struct hostrt_info *out)
{
	memset(out, 0, sizeof(*out));
	const char *family = fn_runtime_family(runtime);
	bool managed = strcmp(family, "provided") != 0, mapped;
	if (managed) {
		snprintf(out->path, sizeof(out->path), "%s", interpreter(runtime, &mapped));
		const struct probe *p = find_probe(out->path);
		snprintf(out->version, sizeof(out->version), "%s", p ? p->version : "");
		snprintf(out->runtime_version, sizeof(out->runtime_version), "%s:%s",
		         strcmp(family, "python") == 0 ? "python" : "nodejs",
		         out->version[0] ? out->version : "unknown");
	} else {
		/* provided.al2023 -> provided:al2023, as AWS names them (without its build number). */
		snprintf(out->runtime_version, sizeof(out->runtime_version), "%s", runtime);
		char *dot = strchr(out->runtime_version, '.');
		if (dot)
			*dot = ':';
	}
	char seed[sizeof(out->runtime_version) + sizeof(out->path) + 2];
	snprintf(seed, sizeof(seed), "%s %s", out->runtime_version,
	         managed ? out->path : "/var/task/bootstrap");
	unsigned char d[32];
	sha256(seed, strlen(seed), d);
	for (int i = 0; i < 32; i++)
		snprintf(out->runtime_version_id + 2 * i, 3, "%02x", d[i]);
	return managed;
}

int hostrt_check(const char *runtime, char *warn, size_t warn_len, struct err *errp)
{
	if (warn && warn_len)
		warn[0] = 0;
	const char *family = fn_runtime_family(runtime);
	if (strcmp(family, "provided") == 0)
		return 0;
	bool python = strcmp(family, "python") == 0, mapped;
	const char *lang = family_name(family);
	const char *path = interpreter(runtime, &mapped);
	struct hostrt_info info;
	hostrt_lookup(runtime, &info);
	int want_major = 0, want_minor = 0, have_major = 0, have_minor = 0;
	char want[16], have[16], use[24];
	if (python) {
		sscanf(runtime, "python%d.%d", &want_major, &want_minor);
		snprintf(want, sizeof(want), "%d.%d", want_major, want_minor);
	} else {
		sscanf(runtime, "nodejs%d", &want_major);
		snprintf(want, sizeof(want), "%d", want_major);
	}
	if (!info.version[0])
		return err_svc(
		    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		    "Runtime %s needs %s %s or newer at %s, and this host has none: install it "
		    "(Debian: apt install %s), or name one with `lambdad serve --runtime-path %s=PATH`",
		    runtime, lang, want, path, python ? "python3" : "nodejs", runtime);
	sscanf(info.version, "%d.%d", &have_major, &have_minor);
	if (python) {
		snprintf(have, sizeof(have), "%d.%d", have_major, have_minor);
		snprintf(use, sizeof(use), "python%d.%d", have_major, have_minor);
	} else {
		have_minor = want_minor = 0;
		snprintf(have, sizeof(have), "%d", have_major);
		snprintf(use, sizeof(use), "nodejs%d.x", have_major);
	}
	int cmp = have_major != want_major ? have_major - want_major : have_minor - want_minor;
	if (cmp < 0)
		return err_svc(
		    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		    "Runtime %s needs %s %s or newer at %s, and this host has %s %s: install %s %s "
		    "and name it with `lambdad serve --runtime-path %s=PATH`, or use %s",
		    runtime, lang, want, path, lang, info.version, lang, want, runtime, use);
	if (cmp > 0 && warn && warn_len)
		snprintf(warn, warn_len,
		         "Runtime %s runs on %s %s at %s on this server, newer than the %s %s of AWS's %s: "
		         "code that relies on %s %s may behave differently (name a %s %s with `lambdad serve "
		         "--runtime-path %s=PATH`)",
		         runtime, lang, info.version, path, lang, want, runtime, lang, want, lang, want,
		         runtime);
	return 0;
}

size_t hostrt_extra_dirs(const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < H.nmap; i++)
		for (int k = 0; k < 2 && n < max; k++) {
			const char *d = H.map[i].prefix[k];
			bool dup = !d[0];
			for (size_t j = 0; j < n && !dup; j++)
				dup = strcmp(out[j], d) == 0;
			if (!dup)
				out[n++] = d;
		}
	return n;
}

void hostrt_set(const char *python, const char *node)
{
	memset(&H, 0, sizeof(H));
	set_probe(HOSTRT_DEFAULT_PYTHON, python);
	set_probe(HOSTRT_DEFAULT_NODE, node);
}

void hostrt_set_version(const char *path, const char *version)
{
	set_probe(path, version);
}
