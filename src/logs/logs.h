/* Function logs: one append-only file per function, each line tagged with its
 * environment's log stream, written through a buffer flushed on a timer; and the
 * per-invocation tail (last 4 KB) that Invoke returns with LogType Tail. */
#ifndef LAMBDAD_LOGS_H
#define LAMBDAD_LOGS_H

#include <lambdad/err.h>
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
/* Appends "<ISO time> <stream> <text>\n" (text without its newline). */
void logs_file_line(struct logs_file *l, const char *stream, const char *text, size_t len);
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

#endif
