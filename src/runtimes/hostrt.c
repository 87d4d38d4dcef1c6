/* Host interpreters for the managed runtimes. */
#include "runtimes/hostrt.h"

#include <lambdad/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/fn.h"
#include "svc/lambda/errors.h"

#define PYTHON "/usr/bin/python3"
#define NODE "/usr/bin/node"

static char python_version[32]; /* "3.11", or "" when missing */
static char node_version[32];   /* "20.20.2", or "" */

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

void hostrt_detect(void)
{
	if (access(PYTHON, X_OK) == 0)
		first_line(PYTHON " -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])' 2>/dev/null",
		           python_version, sizeof(python_version));
	if (access(NODE, X_OK) == 0)
		first_line(NODE " -p process.versions.node 2>/dev/null", node_version, sizeof(node_version));
	log_info("runtimes: python %s, node %s", python_version[0] ? python_version : "missing",
	         node_version[0] ? node_version : "missing");
}

void hostrt_set(const char *python, const char *node)
{
	snprintf(python_version, sizeof(python_version), "%s", python ? python : "");
	snprintf(node_version, sizeof(node_version), "%s", node ? node : "");
}

int hostrt_check(const char *runtime, struct err *errp)
{
	const char *family = fn_runtime_family(runtime);
	if (strcmp(family, "python") == 0) {
		int want_major = 0, want_minor = 0, have_major = 0, have_minor = 0;
		sscanf(runtime, "python%d.%d", &want_major, &want_minor);
		if (!python_version[0])
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "Runtime %s needs Python %d.%d or newer at " PYTHON
			               ", and this host has none: install it (Debian: apt install python3)",
			               runtime, want_major, want_minor);
		sscanf(python_version, "%d.%d", &have_major, &have_minor);
		if (have_major < want_major || (have_major == want_major && have_minor < want_minor))
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "Runtime %s needs Python %d.%d or newer at " PYTHON
			    ", and this host has Python %s: install Python %d.%d there, or use python%s",
			    runtime, want_major, want_minor, python_version, want_major, want_minor,
			    python_version);
		return 0;
	}
	if (strcmp(family, "node") == 0) {
		int want = 0, have = 0;
		sscanf(runtime, "nodejs%d", &want);
		if (!node_version[0])
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "Runtime %s needs Node.js %d or newer at " NODE
			               ", and this host has none: install it (Debian: apt install nodejs)",
			               runtime, want);
		have = atoi(node_version);
		if (have < want)
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "Runtime %s needs Node.js %d or newer at " NODE
			    ", and this host has Node.js %s: install Node.js %d there, or use nodejs%d.x",
			    runtime, want, node_version, want, have);
		return 0;
	}
	return 0;
}
