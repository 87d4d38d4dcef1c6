/* The one SIGCHLD reaper: a signal event on the loop collects every exited child with
 * waitpid(-1, WNOHANG) and hands each status to the callback registered for its pid. */
#ifndef LAMBDAD_LOOP_REAP_H
#define LAMBDAD_LOOP_REAP_H

#include <event2/event.h>
#include <lambdad/err.h>
#include <sys/types.h>

struct reap;

/* Runs on the loop once the child pid was reaped, with its wait status. The watch is
 * gone when it runs (it may watch another pid, or pid again should it be reused). */
typedef void (*reap_cb)(pid_t pid, int status, void *arg);

/* Starts reaping on base (SIGCHLD becomes an event of it). Returns 0 and an owned *out,
 * or a negative errno. One per process: it collects every child of the process. */
int reap_new(struct event_base *base, struct reap **out, struct err *errp);
/* Stops reaping; watches not yet fired are dropped (their callbacks never run). NULL is
 * a no-op. */
void reap_free(struct reap *r);

/* Calls cb(pid, status, arg) on the loop when pid is reaped; replaces an earlier watch of
 * pid. A child that exited before the watch is set up is still reported: its status is
 * kept (for a while, up to a bound) until a watch claims it. */
void reap_watch(struct reap *r, pid_t pid, reap_cb cb, void *arg);
/* Removes the watch of pid (no-op when there is none): the child is still reaped, its
 * status dropped. */
void reap_unwatch(struct reap *r, pid_t pid);
/* Collects what has exited now, as the signal would (for a caller that must not wait
 * for the next loop pass). */
void reap_now(struct reap *r);

#endif
