/* Record offsets in a function's log file: a binary search on the records' times for
 * --since, a backward scan counting records for -n. */
#include "logs/logs_seek.h"

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <string.h>
#include <unistd.h>

#define SEEK_BLOCK (64 * 1024) /* bytes read per pread */
#define SEEK_STAMP 25          /* "2026-11-28T10:00:00.000Z " */

static bool digits(const char *p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (p[i] - '0');
	}
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool logs_record_time(const char *p, size_t n, int64_t *ms)
{
	int y, mo, d, h, mi, s, f;
	if (n < SEEK_STAMP || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' ||
	    p[19] != '.' || p[23] != 'Z' || p[24] != ' ')
		return false;
	if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) || !digits(p + 11, 2, &h) ||
	    !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &s) || !digits(p + 20, 3, &f))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return false;
	*ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000 + f;
	return true;
}

/* Reads up to len bytes at off into buf; returns the count (short only at the end of the
 * file) or a negative errno with a message. */
static ssize_t read_at(int fd, char *buf, size_t len, uint64_t off, struct err *errp)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_make(errp, errno, "read log file: %s", strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Finds the first record starting at or after pos: sets *start and *ms, or *start to
 * size when there is none. */
static int next_record(int fd, uint64_t size, uint64_t pos, char *buf, uint64_t *start, int64_t *ms,
                       struct err *errp)
{
	/* Each block starts one byte early, to see whether its first byte starts a line, and
	 * overlaps the next by a stamp's length, so a stamp across the boundary is seen. */
	while (pos < size) {
		uint64_t from = pos > 0 ? pos - 1 : 0;
		ssize_t n = read_at(fd, buf, SEEK_BLOCK, from, errp);
		if (n < 0)
			return (int)n;
		for (uint64_t q = pos; q < from + (uint64_t)n; q++) {
			size_t i = (size_t)(q - from);
			if ((q == 0 || buf[i - 1] == '\n') && logs_record_time(buf + i, (size_t)n - i, ms)) {
				*start = q;
				return 0;
			}
			if ((size_t)n - i < SEEK_STAMP && from + (uint64_t)n < size) {
				pos = q; /* read again from here: the stamp may continue */
				goto next_block;
			}
		}
		pos = from + (uint64_t)n;
	next_block:;
	}
	*start = size;
	return 0;
}

int logs_seek_since(int fd, uint64_t size, int64_t since_ms, uint64_t *off, struct err *errp)
{
	autofree char *buf = xmalloc(SEEK_BLOCK);
	/* The smallest pos whose next record is at or after since_ms (or absent): that
	 * predicate only turns from false to true as pos grows. */
	uint64_t lo = 0, hi = size, r;
	int64_t t;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int rc = next_record(fd, size, mid, buf, &r, &t, errp);
		if (rc < 0)
			return rc;
		if (r == size || t >= since_ms)
			hi = mid;
		else
			lo = r + 1; /* every pos in [mid, r] has the record r */
	}
	int rc = next_record(fd, size, lo, buf, &r, &t, errp);
	if (rc < 0)
		return rc;
	*off = r;
	return 0;
}

int logs_seek_last(int fd, uint64_t size, uint64_t n, uint64_t *off, struct err *errp)
{
	if (n == 0) {
		*off = size;
		return 0;
	}
	autofree char *buf = xmalloc(SEEK_BLOCK + SEEK_STAMP + 1);
	uint64_t end = size, seen = 0;
	while (end > 0) {
		uint64_t start = end > SEEK_BLOCK ? end - SEEK_BLOCK : 0;
		/* One byte before the block (the previous line's end) and a stamp after it. */
		uint64_t from = start > 0 ? start - 1 : 0;
		uint64_t to = end + SEEK_STAMP < size ? end + SEEK_STAMP : size;
		ssize_t got = read_at(fd, buf, (size_t)(to - from), from, errp);
		if (got < 0)
			return (int)got;
		for (uint64_t q = end; q-- > start;) {
			size_t i = (size_t)(q - from);
			if (i >= (size_t)got)
				continue; /* the file shrank under us */
			int64_t ms;
			if ((q == 0 || buf[i - 1] == '\n') &&
			    logs_record_time(buf + i, (size_t)got - i, &ms) && ++seen == n) {
				*off = q;
				return 0;
			}
		}
		end = start;
	}
	*off = 0;
	return 0;
}
