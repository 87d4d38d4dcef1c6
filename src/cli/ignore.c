/* .lambdadignore for `lambdad deploy`: gitignore-like patterns that keep files out of
 * the zip, after lambdad's defaults (the top-level tooling directories). */
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_int.h"

#define IGNORE_FILE_MAX (1024 * 1024) /* bytes of .lambdadignore read */

struct ignore_pat {
	char *glob;    /* without the leading '!', the leading '/' and the trailing '/' */
	bool negate;   /* "!": includes again what an earlier pattern excluded */
	bool dir_only; /* trailing '/': matches directories only */
	bool anchored; /* a '/' before the end: matched against the whole path from DIR */
};

struct cli_ignore {
	struct ignore_pat *v;
	size_t n, cap;
};

/* What is left out of every zip unless a pattern includes it again (see cli_int.h). */
static const char *const ignore_defaults[] = {"/.git", "/.venv/", "/__pycache__/", ("/" CLI_IGNORE_FILE)};

struct cli_ignore *cli_ignore_new(bool defaults)
{
	struct cli_ignore *ig = xcalloc(1, sizeof(*ig));
	for (size_t i = 0; defaults && i < ARRAY_SIZE(ignore_defaults); i++)
		cli_ignore_add(ig, ignore_defaults[i], strlen(ignore_defaults[i]));
	return ig;
}

void cli_ignore_free(struct cli_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++)
		free(ig->v[i].glob);
	free(ig->v);
	free(ig);
}

void cli_ignore_add(struct cli_ignore *ig, const char *line, size_t len)
{
	if (len && line[len - 1] == '\r')
		len--;
	/* Trailing blanks go, unless the last is escaped with a backslash. */
	while (len && line[len - 1] == ' ' && !(len >= 2 && line[len - 2] == '\\'))
		len--;
	if (len == 0 || line[0] == '#')
		return;
	struct ignore_pat p = {0};
	if (line[0] == '!') {
		p.negate = true;
		line++;
		len--;
	}
	if (len && line[len - 1] == '/' && !(len >= 2 && line[len - 2] == '\\')) {
		p.dir_only = true;
		len--;
	}
	if (len && line[0] == '/') {
		p.anchored = true;
		line++;
		len--;
	}
	if (len == 0)
		return;
	if (memchr(line, '/', len))
		p.anchored = true;
	p.glob = xstrndup(line, len);
	if (ig->n == ig->cap) {
		ig->cap = ig->cap ? 2 * ig->cap : 8;
		ig->v = xrealloc(ig->v, ig->cap * sizeof(*ig->v));
	}
	ig->v[ig->n++] = p;
}

int cli_ignore_load(int dirfd, const char *dir, bool defaults, struct cli_ignore **out, struct err *errp)
{
	struct cli_ignore *ig = cli_ignore_new(defaults);
	autoclose int fd = openat(dirfd, CLI_IGNORE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT) {
		int e = errno;
		cli_ignore_free(ig);
		return err_make(errp, e, "%s/%s: %s", dir, CLI_IGNORE_FILE, strerror(e));
	}
	if (fd >= 0) {
		autofree char *buf = xmalloc(IGNORE_FILE_MAX);
		size_t n = 0;
		for (;;) {
			ssize_t r = read(fd, buf + n, IGNORE_FILE_MAX - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				int e = errno;
				cli_ignore_free(ig);
				return err_make(errp, e, "%s/%s: %s", dir, CLI_IGNORE_FILE, strerror(e));
			}
			if (r == 0)
				break;
			n += (size_t)r;
			if (n == IGNORE_FILE_MAX) {
				cli_ignore_free(ig);
				return err_make(errp, EFBIG, "%s/%s: larger than %d bytes", dir,
				                CLI_IGNORE_FILE, IGNORE_FILE_MAX);
			}
		}
		for (size_t i = 0; i < n;) {
			const char *nl = memchr(buf + i, '\n', n - i);
			size_t e = nl ? (size_t)(nl - buf) : n;
			cli_ignore_add(ig, buf + i, e - i);
			i = e + 1;
		}
	}
	*out = ig;
	return 0;
}

/* Matches a bracket expression at *pp ("[...]", with ranges and a leading '!' or '^')
 * against ch; advances *pp past it. Returns -1 if the '[' has no ']' (then it is a
 * literal '['), else whether ch is in the set. */
static int match_class(const char **pp, char ch)
{
	const char *p = *pp + 1;
	bool neg = *p == '!' || *p == '^', in = false;
	if (neg)
		p++;
	const char *first = p;
	while (*p && (*p != ']' || p == first)) {
		char lo = *p == '\\' && p[1] ? *++p : *p;
		char hi = lo;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			p += 2;
			hi = *p == '\\' && p[1] ? *++p : *p;
		}
		if ((unsigned char)ch >= (unsigned char)lo && (unsigned char)ch <= (unsigned char)hi)
			in = true;
		p++;
	}
	if (*p != ']')
		return -1;
	*pp = p + 1;
	return in != neg && ch != '/';
}

/* Matches glob p (the rest of pattern pat) against all of s: '*' and '?' do not match
 * '/'; "**" as a whole path segment matches any number of directories ("**" + "/"), or
 * everything below at the end ("dir/" + "**"). */
static bool glob_match(const char *pat, const char *p, const char *s)
{
	while (*p) {
		if (p[0] == '*' && p[1] == '*' && (p == pat || p[-1] == '/')) {
			if (p[2] == '\0')
				return true;
			if (p[2] == '/') {
				const char *rest = p + 3;
				for (const char *t = s;; t++) {
					if ((t == s || t[-1] == '/') && glob_match(pat, rest, t))
						return true;
					if (!*t)
						return false;
				}
			}
		}
		while (p[0] == '*' && p[1] == '*')
			p++; /* elsewhere "**" is a '*' */
		switch (*p) {
		case '*':
			for (const char *t = s;; t++) {
				if (glob_match(pat, p + 1, t))
					return true;
				if (!*t || *t == '/')
					return false;
			}
		case '?':
			if (!*s || *s == '/')
				return false;
			p++;
			s++;
			break;
		case '[': {
			const char *q = p;
			int m = *s ? match_class(&q, *s) : 0;
			if (m < 0) {
				if (*s != '[')
					return false;
				p++;
				s++;
				break;
			}
			if (!m)
				return false;
			p = q;
			s++;
			break;
		}
		case '\\':
			if (p[1])
				p++;
			/* fall through */
		default:
			if (*p != *s)
				return false;
			p++;
			s++;
		}
	}
	return *s == '\0';
}

bool cli_ignore_match(const struct cli_ignore *ig, const char *rel, bool is_dir)
{
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	for (size_t i = ig ? ig->n : 0; i-- > 0;) {
		const struct ignore_pat *p = &ig->v[i];
		if (p->dir_only && !is_dir)
			continue;
		if (glob_match(p->glob, p->glob, p->anchored ? rel : base))
			return !p->negate;
	}
	return false;
}
