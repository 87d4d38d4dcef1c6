/* The cold-start floor: fork + exec of a bootstrap binary with AWS_LAMBDA_RUNTIME_API
 * pointing at a socket of ours, timed until the child has connected and its first
 * request (GET .../invocation/next) has arrived. Prints percentiles in microseconds.
 * usage: coldbase --bootstrap PATH [--count N] [--warmup N] [--samples FILE] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4, pipe2 */
#endif
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_http.h"

extern char **environ;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);
	return n == 0 ? 0 : v[k == 0 ? 0 : (k > n ? n - 1 : k - 1)];
}

int main(int argc, char **argv)
{
	const char *bootstrap = NULL, *samples = NULL;
	int count = 200, warmup = 10;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--bootstrap") == 0)
			bootstrap = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			count = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--warmup") == 0)
			warmup = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--samples") == 0)
			samples = argv[i + 1];
	}
	if (!bootstrap || count <= 0) {
		fprintf(stderr,
		        "usage: coldbase --bootstrap PATH [--count N] [--warmup N] [--samples FILE]\n");
		return 2;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		perror("coldbase: listen");
		return 1;
	}
	char api[64];
	snprintf(api, sizeof(api), "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", ntohs(a.sin_port));
	/* The child's environment is built before the clock starts, as a server would. */
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	char **envp = calloc(nenv + 2, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "AWS_LAMBDA_RUNTIME_API=", 23) != 0)
			envp[k++] = environ[i];
	envp[k++] = api;
	char *const cargv[] = {(char *)bootstrap, NULL};
	uint64_t *ns = calloc((size_t)count, sizeof(*ns));
	size_t n = 0, errors = 0;
	struct bh_buf b = {0};
	for (int i = -warmup; i < count; i++) {
		uint64_t t0 = bh_now_ns();
		pid_t pid = fork();
		if (pid == 0) {
			execve(bootstrap, cargv, envp);
			_exit(127);
		}
		if (pid < 0) {
			perror("coldbase: fork");
			return 1;
		}
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		struct bh_msg m;
		b.len = 0;
		int rc = fd < 0 ? -1 : bh_read_msg(fd, &b, &m);
		uint64_t t1 = bh_now_ns();
		if (rc < 0 || strncmp(b.p, "GET /2018-06-01/runtime/invocation/next", 39) != 0)
			errors += i >= 0;
		if (i >= 0)
			ns[n++] = t1 - t0;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (fd >= 0)
			close(fd);
	}
	if (samples) {
		FILE *f = fopen(samples, "w");
		for (size_t i = 0; f && i < n; i++)
			fprintf(f, "%.3f\n", (double)ns[i] / 1e3);
		if (f)
			fclose(f);
	}
	qsort(ns, n, sizeof(*ns), cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)ns[i];
	printf(
	    "{\"mode\":\"coldbase\",\"n\":%zu,\"errors\":%zu,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,"
	    "\"max_us\":%.2f,\"mean_us\":%.2f}\n",
	    n, errors, pct(ns, n, .5) / 1e3, pct(ns, n, .9) / 1e3, pct(ns, n, .99) / 1e3, ns[n - 1] / 1e3,
	    sum / (double)n / 1e3);
	free(ns);
	free(envp);
	free(b.p);
	close(lfd);
	return 0;
}
