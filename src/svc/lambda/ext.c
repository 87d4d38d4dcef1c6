/* lambdad's own endpoints under /lambdad/v1: function logs and code downloads. */
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svc/lambda/api_int.h"
#include "logs/logs.h"

#define LOGS_CHUNK (1024 * 1024)

/* GET /lambdad/v1/functions/{name}/logs?offset=N: the log text from byte N (at
 * most 1 MB) and X-Lambdad-Next-Offset. */
void api__ext_logs(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name))
		return;
	const char *off = front_req_query(r->req, "offset");
	char *end = NULL;
	long long offset = off ? strtoll(off, &end, 10) : 0;
	if (off && (!*off || *end || offset < 0))
		return api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                        "offset must be a byte count");
	sched_flush_logs(a->sched, name);
	autofree char *path = logs_file_path(a->logs_dir, name);
	struct evbuffer *b = evbuffer_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	long long next = offset;
	if (fd >= 0 && fstat(fd, &st) == 0) {
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
	if (!registry_code_in_use(a->reg, hex))
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
