/* The CLI's AWS credentials, found as the AWS CLI finds them: --profile NAME in the shared
 * credentials file; else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; else the file's
 * AWS_PROFILE (or "default") profile. The file is $AWS_SHARED_CREDENTIALS_FILE, else
 * ~/.aws/credentials. No credentials: requests go unsigned (a server in --auth none). */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/* Reads profile's keys from path into c; 0, -ENOENT (no file or no such profile). */
static int read_profile(const char *path, const char *profile, struct cli_creds *c)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -ENOENT;
	char line[1024];
	bool in = false, found = false;
	while (fgets(line, sizeof(line), f)) {
		char *l = trim(line);
		if (*l == '#' || *l == ';' || !*l)
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');
			if (end)
				*end = 0;
			in = strcmp(trim(l + 1), profile) == 0;
			found = found || in;
			continue;
		}
		char *eq = strchr(l, '=');
		if (!in || !eq)
			continue;
		*eq = 0;
		char *k = trim(l), *v = trim(eq + 1);
		if (strcmp(k, "aws_access_key_id") == 0)
			snprintf(c->akid, sizeof(c->akid), "%s", v);
		else if (strcmp(k, "aws_secret_access_key") == 0)
			snprintf(c->secret, sizeof(c->secret), "%s", v);
		else if (strcmp(k, "region") == 0)
			snprintf(c->region, sizeof(c->region), "%s", v);
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

int cli_creds_load(const char *profile, struct cli_creds *c, struct err *errp)
{
	*c = (struct cli_creds){0};
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *home = getenv("HOME");
	autofree char *def = home ? xasprintf("%s/.aws/credentials", home) : NULL;
	const char *path = file && *file ? file : def;
	const char *r = getenv("AWS_REGION");
	if (!r || !*r)
		r = getenv("AWS_DEFAULT_REGION");
	if (profile) {
		if (!path || read_profile(path, profile, c) < 0)
			return err_make(errp, ENOENT, "--profile %s: no such profile in %s", profile,
			                path ? path : "~/.aws/credentials");
	} else {
		const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
		if (ak && *ak && sk && *sk) {
			snprintf(c->akid, sizeof(c->akid), "%s", ak);
			snprintf(c->secret, sizeof(c->secret), "%s", sk);
		} else if (path) {
			const char *p = getenv("AWS_PROFILE");
			read_profile(path, p && *p ? p : "default", c);
		}
	}
	if (r && *r)
		snprintf(c->region, sizeof(c->region), "%s", r);
	if (!c->region[0])
		snprintf(c->region, sizeof(c->region), "us-east-1");
	if (c->akid[0] && !c->secret[0])
		return err_make(errp, EINVAL, "access key %s has no aws_secret_access_key", c->akid);
	return 0;
}
