/* Minimal blocking HTTP/1.1 message reading shared by the bench's client and C bootstrap. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4, pipe2 */
#endif
#include "bench_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

uint64_t bh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bh_reserve(struct bh_buf *b, size_t want)
{
	if (b->cap - b->len >= want)
		return;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap - b->len < want)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	b->p = p;
	b->cap = cap;
}

void bh_consume(struct bh_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Reads more bytes into b; returns the count, 0 on EOF, -1 on error. */
static ssize_t fill(int fd, struct bh_buf *b, size_t hint)
{
	bh_reserve(b, hint < 16384 ? 16384 : hint);
	ssize_t n;
	do
		n = read(fd, b->p + b->len, b->cap - b->len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		b->len += (size_t)n;
	return n;
}

long bh_find_header(const char *h, const char *end, const char *name, const char **v)
{
	size_t nl = strlen(name);
	for (const char *line = h; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
			const char *s = line + nl + 1;
			while (s < eol && (*s == ' ' || *s == '\t'))
				s++;
			const char *e = eol;
			while (e > s && (e[-1] == '\r' || e[-1] == ' '))
				e--;
			*v = s;
			return e - s;
		}
		line = eol + 1;
	}
	return -1;
}

/* Value of header name in [h, end) (case-insensitive), copied into out; false if absent. */
static bool header(const char *h, const char *end, const char *name, char *out, size_t outsz)
{
	const char *v;
	long n = bh_find_header(h, end, name, &v);
	if (n < 0)
		return false;
	if ((size_t)n >= outsz)
		n = (long)outsz - 1;
	memcpy(out, v, (size_t)n);
	out[n] = 0;
	return true;
}

/* De-chunks a chunked body that starts at off, reading more as needed; the decoded body
 * is moved to start at off. Returns 0 and sets *blen and *total, or -1. */
static int read_chunked(int fd, struct bh_buf *b, size_t off, size_t *blen, size_t *total)
{
	size_t out = off, pos = off;
	for (;;) {
		char *eol;
		while (!(eol = memmem(b->p + pos, b->len - pos, "\r\n", 2)))
			if (fill(fd, b, 0) <= 0)
				return -1;
		size_t sz = strtoul(b->p + pos, NULL, 16);
		pos = (size_t)(eol - b->p) + 2;
		while (b->len - pos < sz + 2)
			if (fill(fd, b, sz + 2 - (b->len - pos)) <= 0)
				return -1;
		if (sz == 0) {
			/* No trailers expected: the last chunk is followed by CRLF. */
			*blen = out - off;
			*total = pos + 2;
			return 0;
		}
		memmove(b->p + out, b->p + pos, sz);
		out += sz;
		pos += sz + 2;
	}
}

int bh_read_msg(int fd, struct bh_buf *b, struct bh_msg *m)
{
	memset(m, 0, sizeof(*m));
	bh_reserve(b, 1); /* never search a NULL buffer */
	char *hend;
	size_t scanned = 0;
	while (!(hend = memmem(b->p + scanned, b->len - scanned, "\r\n\r\n", 4))) {
		scanned = b->len > 3 ? b->len - 3 : 0;
		if (fill(fd, b, 0) <= 0)
			return -1;
	}
	size_t hlen = (size_t)(hend - b->p) + 4;
	const char *h = b->p;
	const char *first_eol = memchr(h, '\n', hlen);
	if (strncmp(h, "HTTP/1.", 7) == 0 && hlen > 12)
		m->status = atoi(h + 9);
	const char *hs = first_eol + 1, *he = b->p + hlen;
	char v[160];
	m->close = header(hs, he, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0;
	m->function_error = header(hs, he, "X-Amz-Function-Error", v, sizeof(v));
	header(hs, he, "Lambda-Runtime-Aws-Request-Id", m->request_id, sizeof(m->request_id));
	m->body_off = hlen;
	if (header(hs, he, "Transfer-Encoding", v, sizeof(v)) && strcasecmp(v, "chunked") == 0)
		return read_chunked(fd, b, hlen, &m->body_len, &m->total);
	size_t clen = 0;
	if (header(hs, he, "Content-Length", v, sizeof(v)))
		clen = strtoull(v, NULL, 10);
	while (b->len - hlen < clen)
		if (fill(fd, b, clen - (b->len - hlen)) <= 0)
			return -1;
	m->body_len = clen;
	m->total = hlen + clen;
	return 0;
}

int bh_write2(int fd, const void *a, size_t alen, const void *c, size_t clen)
{
	struct iovec iov[2] = {{(void *)a, alen}, {(void *)c, clen}};
	int i = 0;
	while (i < 2) {
		if (iov[i].iov_len == 0) {
			i++;
			continue;
		}
		ssize_t n = writev(fd, iov + i, 2 - i);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t left = (size_t)n;
		while (i < 2 && left >= iov[i].iov_len) {
			left -= iov[i].iov_len;
			iov[i].iov_len = 0;
			i++;
		}
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + left;
			iov[i].iov_len -= left;
		}
	}
	return 0;
}

int bh_connect(const char *host, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

char *bh_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	char *p = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (p && got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n <= 0) {
			free(p);
			p = NULL;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (p) {
		p[got] = 0;
		*len = got;
	}
	return p;
}

char *bh_json_of_size(size_t size)
{
	if (size < 2)
		size = 2;
	char *p = malloc(size + 1);
	if (!p)
		return NULL;
	memset(p, 'a', size);
	p[0] = '"';
	p[size - 1] = '"';
	p[size] = 0;
	return p;
}
