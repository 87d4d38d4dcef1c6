/* The bench's HTTP client. Two modes:
 *   lat   one keep-alive connection, requests one after another, per-request latency
 *         (with --paths FILE each line is a path requested once: cold starts; with
 *         --interval-us N request i is due N*i µs after the first and its latency counts
 *         from then, so a server that stalls is charged for every request it held up,
 *         not only for the one in flight);
 *   burst N connections opened first, then one request on each at once; time until
 *         all are answered.
 * Prints one JSON object on stdout; latencies in microseconds (lat) or ms (burst). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4, pipe2 */
#endif
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench_http.h"

static const char *host = "127.0.0.1";
static int port;
static const char *path = "/";
static char *body;
static size_t body_len;
static const char *extra_header = "";
static bool check = true;
static uint64_t interval_ns; /* lat: pace requests (0: back to back) */

_Noreturn static void usage(void)
{
	fprintf(stderr, "usage: client lat|burst --port P [--host H] [--path P | --paths FILE]\n"
	                "       [--body S | --body-file F | --json-size N] [--header 'K: V'] [--count N]\n"
	                "       [--warmup N] [--conns N] [--samples FILE] [--timeout-ms N] [--check 0|1]\n"
	                "       [--interval-us N]\n");
	exit(2);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q (0..1) of n sorted values. */
static uint64_t pct(const uint64_t *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t k = (size_t)ceil(q * (double)n);
	return v[k == 0 ? 0 : (k > n ? n - 1 : k - 1)];
}

static int make_request(char *out, size_t outsz, const char *p)
{
	return snprintf(
	    out, outsz,
	    "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n%s%sContent-Length: "
	    "%zu\r\n\r\n",
	    p, host, port, extra_header, *extra_header ? "\r\n" : "", body_len);
}

/* True if the response is a success: 200 or 204, no function error, and (with checking)
 * the body echoes the request. */
static bool good(const struct bh_buf *b, const struct bh_msg *m)
{
	if ((m->status != 200 && m->status != 204) || m->function_error)
		return false;
	return !check || (m->body_len == body_len && memcmp(b->p + m->body_off, body, body_len) == 0);
}

static void print_lat(const char *mode, uint64_t *ns, size_t n, size_t errors, uint64_t wall_ns,
                      const char *samples)
{
	if (samples) {
		FILE *f = fopen(samples, "w");
		if (f) {
			for (size_t i = 0; i < n; i++)
				fprintf(f, "%.3f\n", (double)ns[i] / 1e3);
			fclose(f);
		}
	}
	qsort(ns, n, sizeof(*ns), cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)ns[i];
	printf("{\"mode\":\"%s\",\"n\":%zu,\"errors\":%zu,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,"
	       "\"max_us\":%.2f,\"mean_us\":%.2f,\"wall_ms\":%.2f}\n",
	       mode, n, errors, pct(ns, n, .50) / 1e3, pct(ns, n, .90) / 1e3, pct(ns, n, .99) / 1e3,
	       n ? ns[n - 1] / 1e3 : 0.0, n ? sum / (double)n / 1e3 : 0.0, wall_ns / 1e6);
}

static int run_lat(int count, int warmup, const char *paths_file, const char *samples)
{
	char **paths = NULL;
	size_t npaths = 0;
	if (paths_file) {
		FILE *f = fopen(paths_file, "r");
		if (!f) {
			perror(paths_file);
			return 1;
		}
		char line[1024];
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\r\n")] = 0;
			if (!*line)
				continue;
			paths = realloc(paths, (npaths + 1) * sizeof(*paths));
			paths[npaths++] = strdup(line);
		}
		fclose(f);
		count = (int)npaths;
		warmup = 0;
	}
	char req[2048];
	int reqlen = make_request(req, sizeof(req), path);
	uint64_t *ns = calloc((size_t)count + 1, sizeof(*ns));
	struct bh_buf b = {0};
	struct bh_msg m;
	size_t errors = 0, n = 0;
	int fd = bh_connect(host, port);
	if (fd < 0) {
		fprintf(stderr, "client: connect %s:%d: %s\n", host, port, strerror(errno));
		return 1;
	}
	uint64_t wall0 = bh_now_ns();
	for (int i = -warmup; i < count; i++) {
		if (paths)
			reqlen = make_request(req, sizeof(req), paths[i]);
		uint64_t t0 = bh_now_ns();
		if (interval_ns && i > 0) {
			/* Due at wall0 + i * interval: wait until then; when late, the time since
			 * it was due is part of its latency. */
			uint64_t due = wall0 + (uint64_t)i * interval_ns;
			if (t0 < due) {
				struct timespec ts = {(time_t)((due - t0) / 1000000000u),
				                      (long)((due - t0) % 1000000000u)};
				nanosleep(&ts, NULL);
			}
			t0 = due;
		}
		int rc = bh_write2(fd, req, (size_t)reqlen, body, body_len);
		if (rc == 0)
			rc = bh_read_msg(fd, &b, &m);
		uint64_t t1 = bh_now_ns();
		if (i == 0)
			wall0 = t0;
		bool ok = rc == 0 && good(&b, &m);
		if (rc == 0)
			bh_consume(&b, m.total);
		if (i >= 0) {
			ns[n++] = t1 - t0;
			if (!ok)
				errors++;
		}
		if (rc < 0 || m.close) {
			if (!ok && errors <= 3)
				fprintf(stderr, "client: request %d failed (rc %d status %d)\n", i, rc,
				        rc ? 0 : m.status);
			close(fd);
			b.len = 0;
			fd = bh_connect(host, port);
			if (fd < 0) {
				fprintf(stderr, "client: reconnect: %s\n", strerror(errno));
				errors += (size_t)(count - i - 1);
				break;
			}
		} else if (!ok && errors <= 3) {
			fprintf(stderr, "client: request %d: status %d, %zu bytes\n", i, m.status,
			        m.body_len);
		}
	}
	print_lat(paths ? "cold" : "lat", ns, n, errors, bh_now_ns() - wall0, samples);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
	free(ns);
	free(b.p);
	return 0;
}

static int run_burst(int conns, int timeout_ms)
{
	int *fds = calloc((size_t)conns, sizeof(int));
	struct bh_buf *bufs = calloc((size_t)conns, sizeof(*bufs));
	uint64_t *ns = calloc((size_t)conns, sizeof(*ns));
	size_t errors = 0, connect_errors = 0, ok = 0, n = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < conns; i++) {
		fds[i] = bh_connect(host, port);
		if (fds[i] < 0) {
			connect_errors++;
			continue;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
	}
	char req[2048];
	int reqlen = make_request(req, sizeof(req), path);
	uint64_t *sent = calloc((size_t)conns, sizeof(*sent));
	uint64_t t0 = bh_now_ns();
	int pending = 0;
	for (int i = 0; i < conns; i++) {
		if (fds[i] < 0)
			continue;
		sent[i] = bh_now_ns();
		if (bh_write2(fds[i], req, (size_t)reqlen, body, body_len) < 0) {
			errors++;
			close(fds[i]);
			fds[i] = -1;
			continue;
		}
		pending++;
	}
	uint64_t last = t0;
	struct epoll_event evs[64];
	while (pending > 0) {
		uint64_t left_ms = (t0 + (uint64_t)timeout_ms * 1000000u - bh_now_ns()) / 1000000u;
		if ((int64_t)left_ms <= 0)
			break;
		int k = epoll_wait(ep, evs, 64, (int)left_ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32;
			struct bh_msg m;
			int rc = bh_read_msg(fds[i], &bufs[i], &m);
			uint64_t t = bh_now_ns();
			ns[n++] = t - sent[i];
			last = t;
			if (rc == 0 && good(&bufs[i], &m)) {
				ok++;
			} else {
				if (errors < 3)
					fprintf(stderr,
					        "client: burst request %d failed: rc %d status %d %.*s\n", i,
					        rc, rc ? 0 : m.status,
					        rc ? 0 : (int)(m.body_len > 200 ? 200 : m.body_len),
					        rc ? "" : bufs[i].p + m.body_off);
				errors++;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
			close(fds[i]);
			fds[i] = -1;
			pending--;
		}
	}
	size_t timeouts = (size_t)pending;
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("{\"mode\":\"burst\",\"conns\":%d,\"ok\":%zu,\"errors\":%zu,\"connect_errors\":%zu,"
	       "\"timeouts\":%zu,"
	       "\"total_ms\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}\n",
	       conns, ok, errors, connect_errors, timeouts, (last - t0) / 1e6, pct(ns, n, .5) / 1e6,
	       pct(ns, n, .99) / 1e6, n ? ns[n - 1] / 1e6 : 0.0);
	for (int i = 0; i < conns; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		free(bufs[i].p);
	}
	close(ep);
	free(fds);
	free(bufs);
	free(ns);
	free(sent);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *mode = argv[1], *paths_file = NULL, *samples = NULL;
	int count = 1000, warmup = 100, conns = 200, timeout_ms = 120000;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--port") == 0)
			port = atoi(v);
		else if (strcmp(a, "--path") == 0)
			path = v;
		else if (strcmp(a, "--paths") == 0)
			paths_file = v;
		else if (strcmp(a, "--body") == 0)
			body = strdup(v), body_len = strlen(v);
		else if (strcmp(a, "--body-file") == 0) {
			if (!(body = bh_read_file(v, &body_len))) {
				perror(v);
				return 1;
			}
		} else if (strcmp(a, "--json-size") == 0) {
			body_len = strtoull(v, NULL, 10);
			body = bh_json_of_size(body_len);
			body_len = strlen(body);
		} else if (strcmp(a, "--header") == 0)
			extra_header = v;
		else if (strcmp(a, "--count") == 0)
			count = atoi(v);
		else if (strcmp(a, "--warmup") == 0)
			warmup = atoi(v);
		else if (strcmp(a, "--conns") == 0)
			conns = atoi(v);
		else if (strcmp(a, "--samples") == 0)
			samples = v;
		else if (strcmp(a, "--timeout-ms") == 0)
			timeout_ms = atoi(v);
		else if (strcmp(a, "--check") == 0)
			check = strcmp(v, "0") != 0;
		else if (strcmp(a, "--interval-us") == 0)
			interval_ns = strtoull(v, NULL, 10) * 1000u;
		else
			usage();
	}
	if (!port)
		usage();
	if (!body)
		body = strdup("{}"), body_len = 2;
	int rc;
	if (strcmp(mode, "lat") == 0)
		rc = run_lat(count, warmup, paths_file, samples);
	else if (strcmp(mode, "burst") == 0)
		rc = run_burst(conns, timeout_ms);
	else
		usage();
	free(body);
	return rc;
}
