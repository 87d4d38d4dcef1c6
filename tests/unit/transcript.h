/* What the transcript tests share: run a libevent loop until a conversation over
 * socketpairs has settled (everything written was read, and passes move nothing). */
#ifndef LAMBDAD_TESTS_TRANSCRIPT_H
#define LAMBDAD_TESTS_TRANSCRIPT_H

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <linux/sockios.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Whether bytes written to fd still wait in its socket for the peer to read them. */
static inline bool transcript_unsent(int fd)
{
	int q = 0;
	return fd >= 0 && ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0;
}

/* Runs base's loop without blocking, calling collect after each pass, until three passes
 * in a row leave *progress unchanged and unread() is false. Returns false if that took
 * more than max_passes (the caller asserts it). */
static inline bool transcript_run(struct event_base *base, const uint64_t *progress, void (*collect)(void),
                                  bool (*unread)(void), int max_passes)
{
	int quiet = 0;
	for (int pass = 0; quiet < 3; pass++) {
		if (pass >= max_passes)
			return false;
		uint64_t before = *progress;
		event_base_loop(base, EVLOOP_NONBLOCK);
		collect();
		quiet = *progress == before && !unread() ? quiet + 1 : 0;
	}
	return true;
}

/* A client's side: reads what fd (non-blocking) has into in, adding the bytes to
 * *progress; *eof becomes true at the end of the stream or a reset. */
static inline void transcript_read(int fd, struct evbuffer *in, uint64_t *progress, bool *eof)
{
	char buf[65536];
	ssize_t n = -1;
	while (fd >= 0 && !*eof && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			*eof = errno == ECONNRESET;
			return;
		}
		evbuffer_add(in, buf, (size_t)n);
		*progress += (uint64_t)n;
	}
	if (fd >= 0 && n == 0)
		*eof = true;
}

/* Replaces every match of the extended regex pattern in s with with (no longer than the
 * match), in place. Aborts on a bad pattern (a broken test). */
static inline void transcript_mask(char *s, const char *pattern, const char *with)
{
	regex_t re;
	if (regcomp(&re, pattern, REG_EXTENDED) != 0)
		abort();
	size_t w = strlen(with);
	regmatch_t m;
	while (regexec(&re, s, 1, &m, 0) == 0) {
		memcpy(s + m.rm_so, with, w);
		memmove(s + m.rm_so + w, s + m.rm_eo, strlen(s + m.rm_eo) + 1);
	}
	regfree(&re);
}

/* Everything in 'in' as an owned string, taken out of it, with each Date header's value
 * (the time) made "D". */
static inline char *transcript_take(struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in);
	char *s = malloc(n + 1);
	if (!s)
		abort();
	evbuffer_remove(in, s, n);
	s[n] = 0;
	transcript_mask(s,
	                "Date: [A-Z][a-z][a-z], [0-9][0-9] [A-Z][a-z][a-z] [0-9]{4} "
	                "[0-9][0-9]:[0-9][0-9]:[0-9][0-9] GMT",
	                "Date: D");
	return s;
}

#endif
