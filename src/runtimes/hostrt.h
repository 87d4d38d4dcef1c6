/* The managed runtimes (python3.x, nodejsNN.x) run on the host's interpreters: which
 * interpreter serves each runtime identifier (a table: /usr/bin/python3 and /usr/bin/node
 * unless `--runtime-path ID=PATH` names another), their versions, and whether a runtime
 * identifier can run here. */
#ifndef LAMBDAD_RUNTIMES_HOSTRT_H
#define LAMBDAD_RUNTIMES_HOSTRT_H

#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>

#define HOSTRT_DEFAULT_PYTHON "/usr/bin/python3"
#define HOSTRT_DEFAULT_NODE "/usr/bin/node"

/* Maps a managed runtime identifier to an interpreter: spec is "python3.12=/opt/py312/bin/python3"
 * (an absolute path; a later mapping of the same identifier replaces the earlier one).
 * 0, or -EINVAL with a message naming what is wrong. */
int hostrt_map(const char *spec, struct err *errp);
/* hostrt_map for each line of file: "ID=PATH", blank lines and "#" comments skipped.
 * 0, or a negative errno with the file and line in the message. */
int hostrt_map_file(const char *file, struct err *errp);
/* Runs each interpreter of the table (the defaults and the mapped ones) once for its
 * version; logs what serves each runtime. A default that is missing is only logged; a
 * mapped interpreter that does not run, or is not of its identifier's language, is an
 * error (-ENOEXEC with a message). Start-up only: it blocks. */
int hostrt_detect(struct err *errp);

/* 0 if runtime can run on this host, or -EINVAL (InvalidParameterValue) with a message
 * naming what to install. When the interpreter is newer than the identifier (python3.9 on
 * Python 3.11), 0 with a warning in warn (size warn_len; "" otherwise; warn may be NULL).
 * provided* always can. */
int hostrt_check(const char *runtime, char *warn, size_t warn_len, struct err *errp);

/* What serves a managed runtime identifier. */
struct hostrt_info {
	char path[512];              /* the interpreter ("/usr/bin/python3") */
	char version[32];            /* its version ("3.11.2"), "" when unknown */
	char runtime_version[64];    /* INIT_START's Runtime Version ("python:3.11.2") */
	char runtime_version_id[65]; /* hex SHA-256 of the version and the path: its ARN's id */
};
/* Fills out for runtime; false for provided* (no interpreter of ours), which still gets
 * runtime_version ("provided:al2023") and runtime_version_id. */
bool hostrt_lookup(const char *runtime, struct hostrt_info *out);

/* The directories outside the sandbox's system paths (/usr, /bin, /lib...) that mapped
 * interpreters need (their installation prefix, e.g. /opt/py312 for /opt/py312/bin/python3):
 * up to max of them into out (borrowed until the next hostrt_map or hostrt_reset); the
 * count. */
size_t hostrt_extra_dirs(const char **out, size_t max);

/* For tests: the default interpreters have these versions ("3.11", "20.20.2"; NULL =
 * missing), mapped ones forgotten. */
void hostrt_set(const char *python, const char *node);
/* For tests: the version of a mapped path, as hostrt_detect would find it. */
void hostrt_set_version(const char *path, const char *version);

#endif
