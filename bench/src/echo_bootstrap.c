/* The bench's C provided.al2023 runtime: echoes each event back over one keep-alive
 * connection to the Runtime API. An event {"sleep_ms":N} is held N ms before the echo,
 * so N concurrent invokes keep N environments busy at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4, pipe2 */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_http.h"

static char host[64];
static int port;

static int reconnect(int fd)
{
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 50; i++) {
		fd = bh_connect(host, port);
		if (fd >= 0)
			return fd;
		usleep(20000);
	}
	fprintf(stderr, "echo_bootstrap: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
	exit(1);
}

/* The N of a small event {"sleep_ms":N}, or 0. */
static long sleep_ms_of(const char *body, size_t len)
{
	if (len > 256)
		return 0;
	const char *k = memmem(body, len, "\"sleep_ms\"", 10);
	if (!k)
		return 0;
	const char *c = memchr(k, ':', len - (size_t)(k - body));
	return c ? strtol(c + 1, NULL, 10) : 0;
}

int main(void)
{
	const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
	if (!api) {
		fprintf(stderr, "echo_bootstrap: AWS_LAMBDA_RUNTIME_API is not set\n");
		return 1;
	}
	const char *colon = strrchr(api, ':');
	if (!colon || (size_t)(colon - api) >= sizeof(host)) {
		fprintf(stderr, "echo_bootstrap: bad AWS_LAMBDA_RUNTIME_API %s\n", api);
		return 1;
	}
	memcpy(host, api, (size_t)(colon - api));
	port = atoi(colon + 1);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");

	char next_req[256], hdr[512];
	int next_len = snprintf(next_req, sizeof(next_req),
	                        "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n", api);
	struct bh_buf b = {0};
	struct bh_msg m;
	int fd = reconnect(-1);
	for (;;) {
		if (bh_write2(fd, next_req, (size_t)next_len, NULL, 0) < 0 || bh_read_msg(fd, &b, &m) < 0) {
			b.len = 0;
			fd = reconnect(fd);
			continue;
		}
		const char *body = b.p + m.body_off;
		long ms = sleep_ms_of(body, m.body_len);
		if (ms > 0) {
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
			}
		}
		int hl = snprintf(hdr, sizeof(hdr),
		                  "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n"
		                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		                  m.request_id, api, m.body_len);
		bool close_after = m.close;
		int rc = bh_write2(fd, hdr, (size_t)hl, body, m.body_len);
		bh_consume(&b, m.total);
		if (rc < 0 || bh_read_msg(fd, &b, &m) < 0) {
			b.len = 0;
			fd = reconnect(fd);
			continue;
		}
		close_after = close_after || m.close;
		bh_consume(&b, m.total);
		if (close_after) {
			b.len = 0;
			fd = reconnect(fd);
		}
	}
}
