/* Function logs: one append-only file per function, each record tagged with its
 * environment's log stream, written through a buffer flushed on a timer; the
 * per-invocation tail (last 4 KB) that Invoke returns with LogType Tail; and the splitter
 * that cuts an environment's output into records (log events).
 *
 * The file: a record is "<ISO time> <stream> <text>\n"; a record of several lines (a
 * framed one: a Python logging record with its traceback, a console.log of a multi-line
 * string) goes on with each further line after a tab, "\t<line>\n". Every record's first
 * line begins with its time, never with a tab, so a reader counts records by the lines
 * that do not begin with a tab. */
#ifndef LAMBDAD_LOGS_H
#define LAMBDAD_LOGS_H

#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGS_TAIL_BYTES 4096

struct logs_file;

/* A function's log file is rotated to <fn>.log.1 when it passes this (64 MiB), so
 * a function that prints without end costs at most about twice it on disk. */
extern uint64_t logs_file_max_bytes;

/* Opens (appending) logs_dir/<fn>.log. Returns NULL with a message on failure. */
struct logs_file *logs_file_new(const char *logs_dir, const char *fn_name, struct err *errp);
void logs_file_free(struct logs_file *l); /* flushes; NULL is a no-op */
/* Appends "<ISO time> <stream> <text>\n" (text without its newline) at the time now. */
void logs_file_line(struct logs_file *l, const char *stream, const char *text, size_t len);
/* Appends the record text (newlines inside it continue it, as above) at ts_ms (epoch ms;
 * 0: now). */
void logs_file_record(struct logs_file *l, int64_t ts_ms, const char *stream, const char *text, size_t len);
/* Writes buffered lines to the file (no fsync). */
void logs_file_flush(struct logs_file *l);
/* The path of a function's log file (owned). */
char *logs_file_path(const char *logs_dir, const char *fn_name);

/* The last LOGS_TAIL_BYTES of one invocation's log. */
struct logs_tail {
	char *buf;
	size_t len;
	size_t cap;
};
void logs_tail_init(struct logs_tail *t);
void logs_tail_fini(struct logs_tail *t);
void logs_tail_add(struct logs_tail *t, const char *text, size_t len);
/* The kept bytes (borrowed) and their count: at most LOGS_TAIL_BYTES. */
const char *logs_tail_get(const struct logs_tail *t, size_t *len);

/* The splitter: plain output becomes one record a line (cut at LOGS_LINE_MAX), and each
 * frame of AWS's telemetry log format one record however many lines it holds: a 4-byte
 * type 0xa55a00TT (TT: 0x03 text, 0x02 JSON, with level bits 0x04-0x1c), a 4-byte length,
 * an 8-byte timestamp in µs, all big-endian, then the message (kept up to LOGS_EVENT_MAX
 * bytes, as CloudWatch keeps 256 KB of an event). A frame may start anywhere, even inside
 * a line (which then goes on after it); bytes that only look like a header (a type or a
 * timestamp off by more than a day) are text. */
#define LOGS_LINE_MAX 8192
#define LOGS_EVENT_MAX (256 * 1024)

/* A record: its time (epoch ms; 0: when it was read) and text (borrowed for the call,
 * without a trailing newline). */
typedef void (*logs_record_cb)(void *arg, int64_t ts_ms, const char *text, size_t len);

struct logs_split {
	char line[LOGS_LINE_MAX];
	size_t line_len;
	unsigned char hdr[16]; /* the header of a frame being read */
	size_t hdr_len;
	bool in_frame;
	int64_t frame_ts_ms;
	size_t frame_left; /* message bytes still to read */
	char *frame;       /* the message kept so far (at most LOGS_EVENT_MAX) */
	size_t frame_len, frame_cap;
};
void logs_split_init(struct logs_split *s);
void logs_split_fini(struct logs_split *s); /* drops what is incomplete */
/* Feeds n bytes of output read at now_ms (epoch ms); cb gets each record completed. */
void logs_split_feed(struct logs_split *s, const char *buf, size_t n, int64_t now_ms, logs_record_cb cb,
                     void *arg);
/* Ends a line left unterminated (the invocation is over); a frame in progress goes on. */
void logs_split_flush(struct logs_split *s, logs_record_cb cb, void *arg);

#endif
