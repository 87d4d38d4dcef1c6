/* The worker pool: a mutex-protected job queue served by pthreads, and a pipe whose
 * read end is an event of the loop, through which finished jobs come back. */
#include "loop/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

struct pool_job {
	pool_work_cb work;
	pool_done_cb done;
	void *arg;
	STAILQ_ENTRY(pool_job) link;
};
STAILQ_HEAD(pool_jobs, pool_job);

struct pool {
	struct event_base *base;
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* a job was queued, or stopping */
	pthread_cond_t idle_cv; /* a job finished */
	struct pool_jobs todo;  /* not started yet */
	struct pool_jobs done;  /* work returned, done callback not run yet */
	unsigned running;       /* jobs whose work is running now */
	unsigned pending;       /* submitted, done callback not run yet (loop thread only) */
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
	int wake[2]; /* workers write a byte on wake[1] when a job is done */
	struct event *wake_ev;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stopping && STAILQ_EMPTY(&p->todo))
			pthread_cond_wait(&p->work_cv, &p->mu);
		if (STAILQ_EMPTY(&p->todo))
			break; /* stopping, and nothing left to do */
		struct pool_job *j = STAILQ_FIRST(&p->todo);
		STAILQ_REMOVE_HEAD(&p->todo, link);
		p->running++;
		pthread_mutex_unlock(&p->mu);
		j->work(j->arg);
		pthread_mutex_lock(&p->mu);
		p->running--;
		bool was_empty = STAILQ_EMPTY(&p->done);
		STAILQ_INSERT_TAIL(&p->done, j, link);
		pthread_cond_broadcast(&p->idle_cv);
		/* One byte per batch: the loop takes every finished job when it wakes. Written
		 * after unlocking: the loop wakes at once and takes the mutex (run_done), and
		 * must not find it still held here. A job taken before its byte arrives leaves
		 * an empty wake-up, never a lost one (the byte follows the insertion). */
		if (was_empty) {
			pthread_mutex_unlock(&p->mu);
			char c = 1;
			while (write(p->wake[1], &c, 1) < 0 && errno == EINTR)
				;
			pthread_mutex_lock(&p->mu);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Runs the done callbacks of the jobs finished so far (loop thread). */
static void run_done(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	struct pool_jobs list = STAILQ_HEAD_INITIALIZER(list);
	STAILQ_CONCAT(&list, &p->done);
	char buf[64];
	while (read(p->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_unlock(&p->mu);
	struct pool_job *j;
	while ((j = STAILQ_FIRST(&list))) {
		STAILQ_REMOVE_HEAD(&list, link);
		p->pending--;
		if (j->done)
			j->done(j->arg);
		free(j);
	}
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	run_done(arg);
}

int pool_new(struct event_base *base, unsigned nthreads, struct pool **out, struct err *errp)
{
	struct pool *p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->wake[0] = p->wake[1] = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->idle_cv, NULL);
	STAILQ_INIT(&p->todo);
	STAILQ_INIT(&p->done);
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		int r = err_make(errp, errno, "pool: pipe: %s", strerror(errno));
		pool_free(p);
		return r;
	}
	p->wake_ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, wake_cb, p);
	event_add(p->wake_ev, NULL);
	if (nthreads == 0)
		nthreads = 1;
	p->threads = xcalloc(nthreads, sizeof(*p->threads));
	for (; p->nthreads < nthreads; p->nthreads++) {
		int e = pthread_create(&p->threads[p->nthreads], NULL, worker, p);
		if (e) {
			int r = err_make(errp, e, "pool: cannot start a thread: %s", strerror(e));
			pool_free(p);
			return r;
		}
	}
	*out = p;
	return 0;
}

void pool_submit(struct pool *p, pool_work_cb work, pool_done_cb done, void *arg)
{
	struct pool_job *j = xcalloc(1, sizeof(*j));
	j->work = work;
	j->done = done;
	j->arg = arg;
	p->pending++;
	pthread_mutex_lock(&p->mu);
	STAILQ_INSERT_TAIL(&p->todo, j, link);
	pthread_cond_signal(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
}

void pool_drain(struct pool *p)
{
	while (p->pending) {
		pthread_mutex_lock(&p->mu);
		while (STAILQ_EMPTY(&p->done))
			pthread_cond_wait(&p->idle_cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		run_done(p);
	}
}

unsigned pool_pending(const struct pool *p)
{
	return p->pending;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	if (p->nthreads)
		pool_drain(p);
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	if (p->wake_ev)
		event_free(p->wake_ev);
	if (p->wake[0] >= 0)
		close(p->wake[0]);
	if (p->wake[1] >= 0)
		close(p->wake[1]);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->idle_cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
