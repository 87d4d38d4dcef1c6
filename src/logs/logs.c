/* Function log files and per-invocation tails. */
#include "logs/logs.h"

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"

uint64_t logs_file_max_bytes = 64ull << 20;

struct logs_file {
	FILE *f;
	char *vbuf;
	char *path;
	uint64_t size; /* bytes in the current file */
};

char *logs_file_path(const char *logs_dir, const char *fn_name)
{
	return xasprintf("%s/%s.log", logs_dir, fn_name);
}

struct logs_file *logs_file_new(const char *logs_dir, const char *fn_name, struct err *errp)
{
	mkdir(logs_dir, 0755);
	char *path = logs_file_path(logs_dir, fn_name);
	FILE *f = fopen(path, "ae");
	if (!f) {
		err_make(errp, errno, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	struct logs_file *l = xcalloc(1, sizeof(*l));
	l->f = f;
	l->path = path;
	struct stat st;
	l->size = fstat(fileno(f), &st) == 0 ? (uint64_t)st.st_size : 0;
	l->vbuf = xmalloc(64 * 1024);
	setvbuf(f, l->vbuf, _IOFBF, 64 * 1024);
	return l;
}

/* The file went past logs_file_max_bytes: it becomes <fn>.log.1 (replacing the one before)
 * and a new one starts, so a function's logs take at most about twice the cap. */
static void rotate(struct logs_file *l)
{
	fflush(l->f);
	autofree char *old = xasprintf("%s.1", l->path);
	if (rename(l->path, old) < 0)
		return; /* keep appending: better a big file than lost lines */
	FILE *f = fopen(l->path, "ae");
	if (!f) {
		rename(old, l->path);
		return;
	}
	fclose(l->f);
	l->f = f;
	setvbuf(f, l->vbuf, _IOFBF, 64 * 1024);
	l->size = 0;
}

void logs_file_free(struct logs_file *l)
{
	if (!l)
		return;
	fclose(l->f);
	free(l->vbuf);
	free(l->path);
	free(l);
}

void logs_file_line(struct logs_file *l, const char *stream, const char *text, size_t len)
{
	char ts[32];
	clock_fmt_iso(clock_wall_ms(), ts);
	if (l->size >= logs_file_max_bytes)
		rotate(l);
	int n = fprintf(l->f, "%s %s ", ts, stream);
	fwrite(text, 1, len, l->f);
	fputc('\n', l->f);
	l->size += (uint64_t)(n > 0 ? n : 0) + len + 1;
}

void logs_file_flush(struct logs_file *l)
{
	fflush(l->f);
}

void logs_tail_init(struct logs_tail *t)
{
	memset(t, 0, sizeof(*t));
}
void logs_tail_fini(struct logs_tail *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

void logs_tail_add(struct logs_tail *t, const char *text, size_t len)
{
	if (len >= LOGS_TAIL_BYTES) {
		text += len - LOGS_TAIL_BYTES;
		len = LOGS_TAIL_BYTES;
	}
	if (!t->buf) {
		t->cap = 2 * LOGS_TAIL_BYTES;
		t->buf = xmalloc(t->cap);
	}
	if (t->len + len > t->cap) {
		/* Keep only what can still be in the last LOGS_TAIL_BYTES. */
		size_t keep = LOGS_TAIL_BYTES - len;
		if (keep > t->len)
			keep = t->len;
		memmove(t->buf, t->buf + t->len - keep, keep);
		t->len = keep;
	}
	memcpy(t->buf + t->len, text, len);
	t->len += len;
}

const char *logs_tail_get(const struct logs_tail *t, size_t *len)
{
	if (t->len <= LOGS_TAIL_BYTES) {
		*len = t->len;
		return t->buf ? t->buf : "";
	}
	*len = LOGS_TAIL_BYTES;
	return t->buf + t->len - LOGS_TAIL_BYTES;
}
