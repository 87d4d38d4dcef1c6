/* Where `lambdad logs --since` and `-n` start reading a function's log file: the byte
 * offsets of records by time and by count, found with a few reads. */
#ifndef LAMBDAD_LOGS_SEEK_H
#define LAMBDAD_LOGS_SEEK_H

#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A record starts at a line that begins with its ISO time and a blank
 * ("2026-11-28T10:00:00.000Z "); a line that does not (the rest of a multi-line record)
 * belongs to the record above it. Records are assumed in time order, as they are written.
 * The functions read fd (size bytes long) with pread and do not move its offset. */

/* Sets *off to the offset of the first record written at or after since_ms (ms since
 * the epoch), or to size if there is none. Returns 0, or a negative errno with a message. */
int logs_seek_since(int fd, uint64_t size, int64_t since_ms, uint64_t *off, struct err *errp);

/* Sets *off to the offset of the n-th record from the end: 0 if there are fewer than n,
 * size if n is 0. Returns 0, or a negative errno with a message. */
int logs_seek_last(int fd, uint64_t size, uint64_t n, uint64_t *off, struct err *errp);

/* Parses the record time at the start of p (n bytes): returns true and the time in
 * *ms if p starts with "YYYY-MM-DDTHH:MM:SS.mmmZ ". */
bool logs_record_time(const char *p, size_t n, int64_t *ms);

#endif
