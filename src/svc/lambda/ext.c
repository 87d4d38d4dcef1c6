/* lambdad's own endpoints under /lambdad/v1: function logs and code downloads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svc/lambda/api_int.h"
#include "logs/logs.h"
#include "logs/logs_seek.h"

#define LOGS_CHUNK (1024 * 1024)
#define LOGS_TAIL_MAX 10000 /* records ?tail= may ask for */

/* Parses query parameter key as a count in [0, max]: returns 1 and *v, 0 if absent, or
 * -1 after replying with the error. */
static int logs_query(struct api_req *r, const char *key, long long max, long long *v)
{
	const char *s = front_req_query(r->req, key);
	if (!s)
		return 0;
	char *end = NULL;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (!*s || *end || errno || *v < 0 || *v > max) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "%s must be a number from 0 to %lld", key, max);
		return -1;
	}
	return 1;
}

/* GET /lambdad/v1/functions/{name}/logs?offset=N: the log text from byte N (at most
 * 1 MB) and X-Lambdad-Next-Offset. Instead of offset, since=MS (ms since the epoch)
 * starts at the first record written then or later, and tail=N at the N-th record from
 * the end (tail=0: at the end); with both, the later of the two. */
void api__ext_logs(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	long long offset = 0, since = 0, tail = 0;
	int has_off, has_since, has_tail;
	if ((has_off = logs_query(r, "offset", LLONG_MAX, &offset)) < 0 ||
	    (has_since = logs_query(r, "since", LLONG_MAX, &since)) < 0 ||
	    (has_tail = logs_query(r, "tail", LOGS_TAIL_MAX, &tail)) < 0)
		return;
	if (has_off && (has_since || has_tail))
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "offset cannot be combined with since or tail");
	sched_flush_logs(a->sched, name);
	autofree char *path = logs_file_path(a->logs_dir, name);
	struct evbuffer *b = evbuffer_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	long long next = offset;
	if (fd >= 0 && fstat(fd, &st) == 0) {
		/* The seeks read a few blocks (tail: back to the N-th record) of a file just
		 * written, from the page cache. */
		uint64_t at, from = 0;
		struct err e = {0};
		if (has_since && logs_seek_since(fd, (uint64_t)st.st_size, since, &at, &e) == 0)
			from = at;
		if (has_tail && e.code == 0 &&
		    logs_seek_last(fd, (uint64_t)st.st_size, (uint64_t)tail, &at, &e) == 0 && at > from)
			from = at;
		if (e.code) {
			close(fd);
			evbuffer_free(b);
			return api__reply_error(r->req, LAMBDA_ERR_SERVICE, NULL, "%s", e.msg);
		}
		if (has_since || has_tail)
			offset = (long long)from;
		if (offset > st.st_size)
			offset = 0; /* the file was rotated: start on the new one */
		long long n = st.st_size - offset;
		if (n > LOGS_CHUNK)
			n = LOGS_CHUNK;
		next = offset + n;
		if (n > 0)
			evbuffer_add_file(b, fd, offset, n); /* takes fd */
		else
			close(fd);
	} else if (fd >= 0) {
		close(fd);
	}
	char nb[32];
	snprintf(nb, sizeof(nb), "%lld", next);
	front_reply_header(r->req, "Content-Type", "text/plain; charset=utf-8");
	front_reply_header(r->req, "X-Lambdad-Next-Offset", nb);
	front_reply(r->req, 200, b);
	evbuffer_free(b);
}

/* GET /lambdad/v1/code/{sha256}.zip: the deployment package (GetFunction's Code.Location). */
void api__ext_code(struct api *a, struct api_req *r)
{
	const char *f = api__param(r, "File");
	char hex[65];
	if (strlen(f) != 68 || strcmp(f + 64, ".zip") != 0 || strspn(f, "0123456789abcdef") != 64)
		return api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL, "No such code package");
	memcpy(hex, f, 64);
	hex[64] = 0;
	if (!api__code_in_use(a, hex))
		return api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL, "No such code package");
	autofree char *path = store_code_zip(a->store, hex);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return api__reply_error(r->req, LAMBDA_ERR_SERVICE, NULL, "code package unreadable: %s",
		                        strerror(errno));
	}
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_file(b, fd, 0, st.st_size);
	front_reply_header(r->req, "Content-Type", "application/zip");
	front_reply(r->req, 200, b);
	evbuffer_free(b);
}
