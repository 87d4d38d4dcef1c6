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

void logs_file_record(struct logs_file *l, int64_t ts_ms, const char *stream, const char *text, size_t len)
{
	char ts[32];
	clock_fmt_iso(ts_ms > 0 ? ts_ms : clock_wall_ms(), ts);
	if (l->size >= logs_file_max_bytes)
		rotate(l);
	int n = fprintf(l->f, "%s %s ", ts, stream);
	l->size += (uint64_t)(n > 0 ? n : 0);
	/* Each further line of the record after a tab: the record stays one. */
	for (;;) {
		const char *nl = memchr(text, '\n', len);
		size_t k = nl ? (size_t)(nl - text) : len;
		fwrite(text, 1, k, l->f);
		fputc('\n', l->f);
		l->size += k + 1;
		if (!nl)
			break;
		fputc('\t', l->f);
		l->size++;
		text += k + 1;
		len -= k + 1;
	}
}

void logs_file_line(struct logs_file *l, const char *stream, const char *text, size_t len)
{
	logs_file_record(l, 0, stream, text, len);
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

/* ---- the splitter ---- */

#define FRAME_MAGIC0 0xa5
#define FRAME_MAGIC1 0x5a
#define FRAME_TS_SLACK_MS (24LL * 3600 * 1000)

void logs_split_init(struct logs_split *s)
{
	memset(s, 0, sizeof(*s));
}

void logs_split_fini(struct logs_split *s)
{
	free(s->frame);
	memset(s, 0, sizeof(*s));
}

static void text_byte(struct logs_split *s, char c, logs_record_cb cb, void *arg)
{
	if (c == '\n' || s->line_len == sizeof(s->line)) {
		cb(arg, 0, s->line, s->line_len);
		s->line_len = 0;
		if (c == '\n')
			return;
	}
	s->line[s->line_len++] = c;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Whether the header bytes read so far can still be a frame's. */
static bool hdr_plausible(const struct logs_split *s, int64_t now_ms)
{
	if (s->hdr_len > 1 && s->hdr[1] != FRAME_MAGIC1)
		return false;
	if (s->hdr_len > 2 && s->hdr[2] != 0x00)
		return false;
	if (s->hdr_len > 3 && (s->hdr[3] & 0xe2) != 0x02)
		return false;
	if (s->hdr_len == 16) {
		int64_t ts_ms = (int64_t)(be(s->hdr + 8, 8) / 1000);
		if (ts_ms < now_ms - FRAME_TS_SLACK_MS || ts_ms > now_ms + FRAME_TS_SLACK_MS)
			return false;
	}
	return true;
}

static void frame_end(struct logs_split *s, logs_record_cb cb, void *arg)
{
	size_t len = s->frame_len;
	while (len && (s->frame[len - 1] == '\n' || s->frame[len - 1] == '\r'))
		len--;
	if (len)
		cb(arg, s->frame_ts_ms, s->frame, len);
	s->in_frame = false;
	s->frame_len = 0;
}

static void feed_byte(struct logs_split *s, unsigned char c, int64_t now_ms, logs_record_cb cb, void *arg)
{
	if (s->hdr_len == 0 && c != FRAME_MAGIC0) {
		text_byte(s, (char)c, cb, arg);
		return;
	}
	s->hdr[s->hdr_len++] = c;
	if (!hdr_plausible(s, now_ms)) {
		/* Text after all: its first byte is text, the rest is looked at again. */
		unsigned char again[16];
		size_t n = s->hdr_len;
		memcpy(again, s->hdr, n);
		s->hdr_len = 0;
		text_byte(s, (char)again[0], cb, arg);
		for (size_t i = 1; i < n; i++)
			feed_byte(s, again[i], now_ms, cb, arg);
		return;
	}
	if (s->hdr_len < 16)
		return;
	s->hdr_len = 0;
	s->in_frame = true;
	s->frame_left = (size_t)be(s->hdr + 4, 4);
	s->frame_ts_ms = (int64_t)(be(s->hdr + 8, 8) / 1000);
	s->frame_len = 0;
	if (s->frame_left == 0)
		frame_end(s, cb, arg);
}

void logs_split_feed(struct logs_split *s, const char *buf, size_t n, int64_t now_ms, logs_record_cb cb,
                     void *arg)
{
	size_t i = 0;
	while (i < n) {
		if (!s->in_frame) {
			feed_byte(s, (unsigned char)buf[i++], now_ms, cb, arg);
			continue;
		}
		size_t k = n - i < s->frame_left ? n - i : s->frame_left;
		size_t keep = s->frame_len < LOGS_EVENT_MAX ? LOGS_EVENT_MAX - s->frame_len : 0;
		if (keep > k)
			keep = k;
		if (keep) {
			if (s->frame_len + keep > s->frame_cap) {
				size_t cap = s->frame_cap ? s->frame_cap : 4096;
				while (cap < s->frame_len + keep)
					cap *= 2;
				s->frame = xrealloc(s->frame, cap);
				s->frame_cap = cap;
			}
			memcpy(s->frame + s->frame_len, buf + i, keep);
			s->frame_len += keep;
		}
		i += k;
		s->frame_left -= k;
		if (s->frame_left == 0)
			frame_end(s, cb, arg);
	}
}

void logs_split_flush(struct logs_split *s, logs_record_cb cb, void *arg)
{
	/* A frame (or its header) half read goes on with the next bytes. */
	if (s->line_len) {
		cb(arg, 0, s->line, s->line_len);
		s->line_len = 0;
	}
}
