/* An environment's log: its output cut into records (lines, and the frames of our
 * runtimes), platform lines, INIT_START, and the END and REPORT lines of each invocation,
 * to the function's log file and the caller's tail. */
#include <errno.h>
#include <lambdad/xmalloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/utf8.h"
#include "rtapi/telemetry.h"
#include "runtimes/hostrt.h"
#include "sched/sched_int.h"

void sched__env_log(struct env *e, int64_t ts_ms, const char *text, size_t len)
{
	logs_file_record(e->pool->log, ts_ms, e->stream, text, len);
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
	sched__env_log(e, 0, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A log record as a JSON string: its bytes that are not UTF-8 become '?'. */
static json_t *record_string(const char *text, size_t len)
{
	json_t *j = json_stringn(text, len);
	if (j)
		return j;
	char *copy = xstrndup(text, len);
	for (size_t i = 0; i < len; i++)
		if (!copy[i])
			copy[i] = '?'; /* an embedded NUL would cut the record */
	utf8_sanitize(copy);
	j = json_string(copy);
	free(copy);
	return j;
}

static void record_cb(void *arg, int64_t ts_ms, const char *text, size_t len)
{
	struct env *e = arg;
	sched__env_log(e, ts_ms, text, len);
	if (e->rt && rtapi_telemetry_wanted(e->rt))
		rtapi_telemetry(e->rt, TELEM_FUNCTION, "function", record_string(text, len));
}

static void ext_record_cb(void *arg, int64_t ts_ms, const char *text, size_t len)
{
	struct env *e = arg;
	sched__env_log(e, ts_ms, text, len);
	if (e->rt && rtapi_telemetry_wanted(e->rt))
		rtapi_telemetry(e->rt, TELEM_EXTENSION, "extension", record_string(text, len));
}

void sched__telemetry(struct env *e, const char *type, json_t *record)
{
	if (e->rt && rtapi_telemetry_wanted(e->rt))
		rtapi_telemetry(e->rt, TELEM_PLATFORM, type, record);
	else
		json_decref(record);
}

void sched__env_drain_ext_output(struct env *e)
{
	int fd = e->created && e->h && e->s->be.ops->ext_log_fd ? e->s->be.ops->ext_log_fd(e->h) : -1;
	if (fd < 0)
		return;
	char buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 && e->ext_log_ev)
				event_del(e->ext_log_ev);
			if (n == 0)
				logs_split_flush(&e->ext_split, ext_record_cb, e);
			return;
		}
		logs_split_feed(&e->ext_split, buf, (size_t)n, clock_wall_ms(), ext_record_cb, e);
	}
}

void sched__ext_log_read_cb(evutil_socket_t fd, short what, void *arg)
{
	sched__env_drain_ext_output(arg);
}

/* Reads what the environment wrote so far and cuts it into records. */
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
		logs_split_feed(&e->split, buf, (size_t)n, clock_wall_ms(), record_cb, e);
	}
}

void sched__env_flush_partial_line(struct env *e)
{
	logs_split_flush(&e->split, record_cb, e);
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

/* INIT_START, as Lambda writes it when an environment's init begins: to the function's
 * log only (the tail of an invocation does not carry it). The version is the
 * interpreter's own ("python:3.11.2"), the ARN's id a hash of it and its path, so both
 * change when the interpreter does. */
void sched__report_init_start(struct env *e)
{
	struct hostrt_info hi;
	hostrt_lookup(e->cfg->runtime, &hi);
	char line[256];
	snprintf(line, sizeof(line),
	         "INIT_START Runtime Version: %s\tRuntime Version ARN: arn:aws:lambda:%s::runtime:%s",
	         hi.runtime_version, e->s->region, hi.runtime_version_id);
	logs_file_record(e->pool->log, 0, e->stream, line, strlen(line));
}

/* END and REPORT, as Lambda writes them: "Status: timeout" when the invocation ran out of
 * time, "Status: error" with the error type when the platform ended it (the runtime
 * exited, ran out of memory, failed its init), else a trailing tab. */
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
	char status[96] = "\t";
	if (inv->timed_out)
		snprintf(status, sizeof(status), "\tStatus: timeout");
	else if (inv->report_error[0])
		snprintf(status, sizeof(status), "\tStatus: error\tError Type: %s", inv->report_error);
	json_t *metrics = json_pack("{s:f, s:I, s:I, s:I}", "durationMs", dur_ms, "billedDurationMs",
	                            (json_int_t)ceil(dur_ms < 1 ? 1 : dur_ms), "memorySizeMB",
	                            (json_int_t)inv->cfg->memory_mb, "maxMemoryUsedMB", (json_int_t)used_mb);
	if (inv->cold)
		json_object_set_new(metrics, "initDurationMs", json_real(inv->init_ms));
	sched__telemetry(e, "platform.report",
	                 json_pack("{s:s, s:s, s:o}", "requestId", inv->request_id, "status",
	                           inv->timed_out         ? "timeout"
	                           : inv->report_error[0] ? "error"
	                                                  : "success",
	                           "metrics", metrics));
	sched__env_logf(e,
	                "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\tMemory Size: %u "
	                "MB\tMax Memory Used: %lu MB%s%s",
	                inv->request_id, dur_ms, ceil(dur_ms < 1 ? 1 : dur_ms), inv->cfg->memory_mb, used_mb,
	                init, status);
}
