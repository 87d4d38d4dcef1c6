/* An environment's log: its output split into lines, platform lines, and the END and
 * REPORT lines of each invocation, to the function's log file and the caller's tail. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sched/sched_int.h"

void sched__env_log(struct env *e, const char *text, size_t len)
{
	logs_file_line(e->pool->log, e->stream, text, len);
	if (e->inv && e->inv->want_tail) {
		logs_tail_add(&e->inv->tail, text, len);
		logs_tail_add(&e->inv->tail, "\n", 1);
	}
}

void sched__env_logf(struct env *e, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sched__env_log(e, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Reads what the environment wrote so far and splits it into lines. */
void sched__env_drain_output(struct env *e)
{
	if (!e->created || !e->h)
		return;
	int fd = e->s->be.ops->log_fd(e->h);
	char buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 && e->log_ev)
				event_del(e->log_ev);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || e->line_len == sizeof(e->line)) {
				sched__env_log(e, e->line, e->line_len);
				e->line_len = 0;
				if (buf[i] == '\n')
					continue;
			}
			e->line[e->line_len++] = buf[i];
		}
	}
}

void sched__env_flush_partial_line(struct env *e)
{
	if (e->line_len) {
		sched__env_log(e, e->line, e->line_len);
		e->line_len = 0;
	}
}

void sched__log_read_cb(evutil_socket_t fd, short what, void *arg)
{
	sched__env_drain_output(arg);
}

void sched__flush_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	sched_flush_logs(arg, NULL);
}

void sched_flush_logs(struct sched *s, const char *name)
{
	struct fn_pool *p;
	MAP_FOREACH_VALUE(&s->pools, p)
		if (!name || strcmp(p->name, name) == 0)
			logs_file_flush(p->log);
}

/* END and REPORT, as Lambda writes them. */
void sched__report(struct env *e, const struct invocation *inv, double dur_ms)
{
	uint64_t kb = 0;
	if (e->created && e->h)
		e->s->be.ops->stats(e->h, &kb);
	unsigned long used_mb = (unsigned long)((kb + 1023) / 1024);
	sched__env_logf(e, "END RequestId: %s", inv->request_id);
	char init[64] = "";
	if (inv->cold)
		snprintf(init, sizeof(init), "\tInit Duration: %.2f ms", inv->init_ms);
	sched__env_logf(e,
	                "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\tMemory Size: %u "
	                "MB\tMax Memory Used: %lu MB%s\t",
	                inv->request_id, dur_ms, ceil(dur_ms < 1 ? 1 : dur_ms), inv->cfg->memory_mb, used_mb,
	                init);
}
