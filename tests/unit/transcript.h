/* What the transcript tests share: run a libevent loop until a conversation over
 * socketpairs has settled (everything written was read, and passes move nothing). */
#ifndef LAMBDAD_TESTS_TRANSCRIPT_H
#define LAMBDAD_TESTS_TRANSCRIPT_H

#include <event2/event.h>
#include <linux/sockios.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

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

#endif
