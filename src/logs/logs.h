/* Function logs: one append-only file per function, each line tagged with its
 * environment's log stream, written through a buffer flushed on a timer; and the
 * per-invocation tail (last 4 KB) that Invoke returns with LogType Tail. */
#ifndef LAMBDAD_LOGS_H
#define LAMBDAD_LOGS_H

#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

#define LOGS_TAIL_BYTES 4096

struct fnlog;

/* A function's log file is rotated to <fn>.log.1 when it passes this (64 MiB), so
 * a function that prints without end costs at most about twice it on disk. */
extern uint64_t fnlog_max_bytes;

/* Opens (appending) logs_dir/<fn>.log. Returns NULL with a message on failure. */
struct fnlog *fnlog_open(const char *logs_dir, const char *fn_name, struct err *errp);
void fnlog_free(struct fnlog *l); /* flushes; NULL is a no-op */
/* Appends "<ISO time> <stream> <text>\n" (text without its newline). */
void fnlog_line(struct fnlog *l, const char *stream, const char *text, size_t len);
/* Writes buffered lines to the file (no fsync). */
void fnlog_flush(struct fnlog *l);
/* The path of a function's log file (owned). */
char *fnlog_path(const char *logs_dir, const char *fn_name);

/* The last LOGS_TAIL_BYTES of one invocation's log. */
struct logtail {
	char *buf;
	size_t len;
	size_t cap;
};
void logtail_init(struct logtail *t);
void logtail_fini(struct logtail *t);
void logtail_add(struct logtail *t, const char *text, size_t len);
/* The kept bytes (borrowed) and their count: at most LOGS_TAIL_BYTES. */
const char *logtail_get(const struct logtail *t, size_t *len);

#endif
