/* The one SIGCHLD reaper: a signal event, a waitpid(-1, WNOHANG) loop, and callbacks
 * keyed by pid in a small hash table. Statuses nobody watched yet are kept a while,
 * so a child that dies before its owner watches it is still reported. */
#include "loop/reap.h"

#include <errno.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define REAP_BUCKETS 256
#define REAP_ORPHANS 64 /* statuses of unwatched children kept, oldest dropped first */

struct watch {
	pid_t pid;
	reap_cb cb;
	void *arg;
	bool fired; /* reaped: its callback runs on the next pass of fire_ev */
	int status; /* wait status, when fired */
	struct watch *next;
};

struct orphan {
	pid_t pid; /* 0: free slot */
	int status;
};

struct reap {
	struct event_base *base;
	struct event *sig_ev;
	struct event *fire_ev; /* runs the callbacks of watches that found a kept status */
	struct watch *buckets[REAP_BUCKETS];
	struct orphan orphans[REAP_ORPHANS];
	unsigned next_orphan; /* slot the next kept status overwrites */
};

static unsigned bucket(pid_t pid)
{
	return (unsigned)pid % REAP_BUCKETS;
}

static struct watch **find(struct reap *r, pid_t pid)
{
	struct watch **w = &r->buckets[bucket(pid)];
	while (*w && (*w)->pid != pid)
		w = &(*w)->next;
	return w;
}

static void keep_orphan(struct reap *r, pid_t pid, int status)
{
	r->orphans[r->next_orphan] = (struct orphan){pid, status};
	r->next_orphan = (r->next_orphan + 1) % REAP_ORPHANS;
}

/* Runs one reaped child's callback: the watch is unlinked and freed first, so the
 * callback may watch or unwatch anything. */
static void deliver(struct reap *r, pid_t pid, int status)
{
	struct watch **wp = find(r, pid);
	struct watch *w = *wp;
	if (!w) {
		keep_orphan(r, pid, status);
		return;
	}
	*wp = w->next;
	reap_cb cb = w->cb;
	void *arg = w->arg;
	free(w);
	cb(pid, status, arg);
}

void reap_now(struct reap *r)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		deliver(r, pid, status);
	}
}

static void sig_cb(evutil_socket_t fd, short what, void *arg)
{
	reap_now(arg);
}

static void fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reap *r = arg;
	for (unsigned b = 0; b < REAP_BUCKETS; b++) {
		struct watch **wp = &r->buckets[b];
		while (*wp) {
			struct watch *w = *wp;
			if (!w->fired) {
				wp = &w->next;
				continue;
			}
			*wp = w->next;
			reap_cb cb = w->cb;
			void *warg = w->arg;
			pid_t pid = w->pid;
			int status = w->status;
			free(w);
			cb(pid, status, warg);
			wp = &r->buckets[b]; /* the callback may have changed this chain */
		}
	}
}

int reap_new(struct event_base *base, struct reap **out, struct err *errp)
{
	struct reap *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->sig_ev = evsignal_new(base, SIGCHLD, sig_cb, r);
	r->fire_ev = event_new(base, -1, 0, fire_cb, r);
	if (!r->sig_ev || !r->fire_ev || evsignal_add(r->sig_ev, NULL) < 0) {
		reap_free(r);
		return err_make(errp, ENOMEM, "cannot watch SIGCHLD");
	}
	*out = r;
	return 0;
}

void reap_free(struct reap *r)
{
	if (!r)
		return;
	if (r->sig_ev)
		event_free(r->sig_ev);
	if (r->fire_ev)
		event_free(r->fire_ev);
	for (unsigned b = 0; b < REAP_BUCKETS; b++)
		while (r->buckets[b]) {
			struct watch *w = r->buckets[b];
			r->buckets[b] = w->next;
			free(w);
		}
	free(r);
}

void reap_watch(struct reap *r, pid_t pid, reap_cb cb, void *arg)
{
	struct watch **wp = find(r, pid);
	struct watch *w = *wp;
	if (!w) {
		w = xcalloc(1, sizeof(*w));
		w->pid = pid;
		w->next = r->buckets[bucket(pid)];
		r->buckets[bucket(pid)] = w;
	}
	w->cb = cb;
	w->arg = arg;
	for (unsigned i = 0; i < REAP_ORPHANS; i++)
		if (r->orphans[i].pid == pid) {
			w->fired = true;
			w->status = r->orphans[i].status;
			r->orphans[i].pid = 0;
			event_active(r->fire_ev, EV_TIMEOUT, 0);
			break;
		}
}

void reap_unwatch(struct reap *r, pid_t pid)
{
	struct watch **wp = find(r, pid);
	struct watch *w = *wp;
	if (w) {
		*wp = w->next;
		free(w);
	}
}
