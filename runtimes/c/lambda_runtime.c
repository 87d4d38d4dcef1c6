/* lambda_runtime.c: the Runtime API loop over one keep-alive HTTP/1.1 connection,
 * with a minimal client (Content-Length, chunked and close-delimited bodies) and the
 * JSON error documents Lambda expects. libc and POSIX sockets only. */
#define _POSIX_C_SOURCE 200809L

#include "lambda_runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define RT_PREFIX "/2018-06-01/runtime"
#define RT_MAX_HEADERS (1024 * 1024) /* bytes of one response's header block */
#define RT_NEXT_RETRIES 5            /* failed /next in a row before giving up */

struct rt_conn;

struct lambda_response {
	char *data;
	size_t len;
	int is_error;
	char *err_type;
	char *err_msg;
	/* streaming */
	struct rt_conn *conn; /* the Runtime API connection, during the handler call */
	const char *path;     /* the invocation's /response path, during the handler call */
	char *ctype;          /* Content-Type of the stream, or NULL for the default */
	int streaming;        /* the streamed POST is open */
	int stream_broken;    /* a write of it failed */
};

/* The connection to the Runtime API and its read buffer. */
struct rt_conn {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[300]; /* the Host header value */
	int fd;         /* -1 when not connected */
	char *rbuf;
	size_t roff, rlen, rcap;
};

/* One HTTP response; body is owned and NUL-terminated, head is the raw header block. */
struct rt_resp {
	int status;
	char *head;
	char *body;
	size_t body_len;
};

static void rt_log(const char *fmt, ...)
{
	va_list ap;

	fputs("lambda-runtime: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void rt_resp_fini(struct rt_resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* Parses $AWS_LAMBDA_RUNTIME_API into c. Returns 0 or -1 with a message logged. */
static int rt_conn_init(struct rt_conn *c)
{
	const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
	char host[256];
	const char *colon;
	size_t hl;
	long port;
	char *end;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (api == NULL || *api == '\0') {
		rt_log("AWS_LAMBDA_RUNTIME_API is not set");
		return -1;
	}
	if (api[0] == '[') {
		const char *rb = strchr(api, ']');
		if (rb == NULL || rb[1] != ':')
			goto bad;
		hl = (size_t)(rb - api - 1);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, api + 1, hl);
		colon = rb + 1;
	} else {
		colon = strrchr(api, ':');
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - api);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, api, hl);
	}
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port <= 0 || port > 65535)
		goto bad;
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");

	struct sockaddr_in *sin = (struct sockaddr_in *)&c->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->addr;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		c->addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		c->addrlen = sizeof(*sin6);
	} else {
		goto bad;
	}
	snprintf(c->host, sizeof(c->host), "%s", api);
	return 0;
bad:
	rt_log("AWS_LAMBDA_RUNTIME_API=%s: expected an IP literal or localhost and a port", api);
	return -1;
}

static void rt_conn_close(struct rt_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->roff = c->rlen = 0;
}

static void rt_conn_fini(struct rt_conn *c)
{
	rt_conn_close(c);
	free(c->rbuf);
	c->rbuf = NULL;
	c->rcap = 0;
}

static int rt_conn_open(struct rt_conn *c)
{
	int one = 1;

	c->fd = socket(c->addr.ss_family, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	/* The function's own children must not inherit the Runtime API socket. */
	fcntl(c->fd, F_SETFD, FD_CLOEXEC);
	while (connect(c->fd, (struct sockaddr *)&c->addr, c->addrlen) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		rt_conn_close(c);
		errno = e;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->roff = c->rlen = 0;
	return 0;
}

static int rt_send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more bytes into the buffer. Returns the count, 0 at EOF, -1 on error. */
static ssize_t rt_fill(struct rt_conn *c)
{
	if (c->roff > 0 && c->roff == c->rlen)
		c->roff = c->rlen = 0;
	if (c->rlen == c->rcap) {
		if (c->roff > 0) {
			memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
			c->rlen -= c->roff;
			c->roff = 0;
		} else {
			size_t ncap = c->rcap ? c->rcap * 2 : 16384;
			char *nb = realloc(c->rbuf, ncap);
			if (nb == NULL)
				return -1;
			c->rbuf = nb;
			c->rcap = ncap;
		}
	}
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0)
			c->rlen += (size_t)r;
		return r;
	}
}

/* Takes up to n buffered-or-received bytes into dst. Returns 0, or -1 on EOF/error. */
static int rt_read_exact(struct rt_conn *c, char *dst, size_t n)
{
	while (n > 0) {
		if (c->roff == c->rlen && rt_fill(c) <= 0)
			return -1;
		size_t k = c->rlen - c->roff;
		if (k > n)
			k = n;
		memcpy(dst, c->rbuf + c->roff, k);
		c->roff += k;
		dst += k;
		n -= k;
	}
	return 0;
}

/* Reads one CRLF- (or LF-) terminated line into a malloc'd string without the
 * terminator. Returns it, or NULL on EOF/error/overlong line. */
static char *rt_read_line(struct rt_conn *c, size_t max)
{
	for (;;) {
		char *s = c->rbuf ? memchr(c->rbuf + c->roff, '\n', c->rlen - c->roff) : NULL;
		if (s != NULL) {
			size_t n = (size_t)(s - (c->rbuf + c->roff));
			char *line = malloc(n + 1);
			if (line == NULL)
				return NULL;
			memcpy(line, c->rbuf + c->roff, n);
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			c->roff = (size_t)(s - c->rbuf) + 1;
			return line;
		}
		if (c->rlen - c->roff > max)
			return NULL;
		if (rt_fill(c) <= 0)
			return NULL;
	}
}

/* Finds header name in a raw header block; returns a malloc'd trimmed value or NULL. */
static char *rt_header(const char *head, const char *name)
{
	size_t nl = strlen(name);
	const char *p = head;

	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			const char *e = p + ll;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
				e--;
			char *out = malloc((size_t)(e - v) + 1);
			if (out == NULL)
				return NULL;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return out;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* Appends n bytes to a growing body. Returns 0 or -1. */
static int rt_body_append(struct rt_resp *r, size_t *cap, struct rt_conn *c, size_t n)
{
	if (r->body_len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		while (ncap < r->body_len + n + 1)
			ncap *= 2;
		char *nb = realloc(r->body, ncap);
		if (nb == NULL)
			return -1;
		r->body = nb;
		*cap = ncap;
	}
	if (rt_read_exact(c, r->body + r->body_len, n) < 0)
		return -1;
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

/* Reads one response (skipping 1xx). Sets *keep to whether the connection may be
 * reused and *got_any to whether any byte arrived. Returns 0 or -1. */
static int rt_read_resp(struct rt_conn *c, struct rt_resp *r, int *keep, int *got_any)
{
	char *line;
	size_t cap = 0;

	memset(r, 0, sizeof(*r));
	*got_any = 0;
	for (;;) {
		line = rt_read_line(c, 8192);
		if (line == NULL) {
			*got_any = c->rlen > 0;
			return -1;
		}
		*got_any = 1;
		int minor = 1, status = 0;
		if (sscanf(line, "HTTP/1.%d %d", &minor, &status) != 2 || status < 100) {
			free(line);
			return -1;
		}
		free(line);
		size_t hcap = 256, hlen = 0;
		char *head = malloc(hcap);
		if (head == NULL)
			return -1;
		head[0] = '\0';
		for (;;) {
			line = rt_read_line(c, RT_MAX_HEADERS);
			if (line == NULL) {
				free(head);
				return -1;
			}
			size_t ll = strlen(line);
			if (ll == 0) {
				free(line);
				break;
			}
			if (hlen + ll + 2 > RT_MAX_HEADERS) {
				free(line);
				free(head);
				return -1;
			}
			if (hlen + ll + 2 > hcap) {
				while (hlen + ll + 2 > hcap)
					hcap *= 2;
				char *nh = realloc(head, hcap);
				if (nh == NULL) {
					free(line);
					free(head);
					return -1;
				}
				head = nh;
			}
			memcpy(head + hlen, line, ll);
			hlen += ll;
			head[hlen++] = '\n';
			head[hlen] = '\0';
			free(line);
		}
		if (status >= 100 && status < 200) {
			free(head);
			continue;
		}
		r->status = status;
		r->head = head;
		*keep = minor >= 1;
		break;
	}

	char *conn = rt_header(r->head, "Connection");
	if (conn != NULL) {
		if (strcasecmp(conn, "close") == 0)
			*keep = 0;
		else if (strcasecmp(conn, "keep-alive") == 0)
			*keep = 1;
		free(conn);
	}
	char *te = rt_header(r->head, "Transfer-Encoding");
	char *cl = rt_header(r->head, "Content-Length");
	int rc = 0;
	r->body = malloc(1);
	if (r->body == NULL) {
		rc = -1;
		goto out;
	}
	r->body[0] = '\0';
	cap = 1;
	if (r->status == 204 || r->status == 304) {
		/* no body */
	} else if (te != NULL && strcasecmp(te, "identity") != 0) {
		for (;;) {
			line = rt_read_line(c, 8192);
			if (line == NULL) {
				rc = -1;
				goto out;
			}
			char *end;
			errno = 0;
			unsigned long long n = strtoull(line, &end, 16);
			int bad = end == line || errno != 0 || n > (1ULL << 40);
			free(line);
			if (bad) {
				rc = -1;
				goto out;
			}
			if (n == 0)
				break;
			char crlf[2];
			if (rt_body_append(r, &cap, c, (size_t)n) < 0 || rt_read_exact(c, crlf, 2) < 0) {
				rc = -1;
				goto out;
			}
		}
		for (;;) { /* trailers */
			line = rt_read_line(c, RT_MAX_HEADERS);
			if (line == NULL) {
				rc = -1;
				goto out;
			}
			int empty = line[0] == '\0';
			free(line);
			if (empty)
				break;
		}
	} else if (cl != NULL) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (end == cl || *end != '\0' || errno != 0 || n > (1ULL << 40) ||
		    rt_body_append(r, &cap, c, (size_t)n) < 0)
			rc = -1;
	} else {
		/* Delimited by the end of the connection. */
		*keep = 0;
		for (;;) {
			if (c->roff < c->rlen) {
				if (rt_body_append(r, &cap, c, c->rlen - c->roff) < 0) {
					rc = -1;
					break;
				}
				continue;
			}
			ssize_t got = rt_fill(c);
			if (got == 0)
				break;
			if (got < 0) {
				rc = -1;
				break;
			}
		}
	}
out:
	free(te);
	free(cl);
	if (rc < 0)
		rt_resp_fini(r);
	return rc;
}

/* Sends one request and reads its response, reconnecting once if a reused
 * connection turns out to be dead before any response byte arrived. Returns 0 with
 * *r filled (the caller finishes it), or -1 with the reason logged. */
static int rt_request(struct rt_conn *c, const char *method, const char *path, const char *extra_headers,
                      const char *body, size_t body_len, struct rt_resp *r)
{
	char *hdr;
	int n;

	n = snprintf(NULL, 0,
	             "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lambdad-c-runtime/1\r\n"
	             "%sContent-Length: %zu\r\n\r\n",
	             method, path, c->host, extra_headers ? extra_headers : "", body_len);
	if (n < 0 || (hdr = malloc((size_t)n + 1)) == NULL)
		return -1;
	snprintf(hdr, (size_t)n + 1,
	         "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lambdad-c-runtime/1\r\n"
	         "%sContent-Length: %zu\r\n\r\n",
	         method, path, c->host, extra_headers ? extra_headers : "", body_len);

	for (int attempt = 0; attempt < 2; attempt++) {
		int reused = c->fd >= 0, keep = 1, got_any = 0;
		if (!reused && rt_conn_open(c) < 0) {
			rt_log("connect to %s: %s", c->host, strerror(errno));
			break;
		}
		if (rt_send_all(c->fd, hdr, (size_t)n) == 0 &&
		    (body_len == 0 || rt_send_all(c->fd, body, body_len) == 0) &&
		    rt_read_resp(c, r, &keep, &got_any) == 0) {
			if (!keep)
				rt_conn_close(c);
			free(hdr);
			return 0;
		}
		int e = errno;
		rt_conn_close(c);
		if (reused && !got_any)
			continue;
		rt_log("%s %s: %s", method, path, e ? strerror(e) : "bad response");
		break;
	}
	free(hdr);
	return -1;
}

/* Appends s to a JSON string being built in *buf. Returns 0 or -1. */
static int rt_json_str(char **buf, size_t *len, size_t *cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0'; s++) {
		char esc[7];
		size_t el = 0;
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '"':
			memcpy(esc, "\\\"", 2);
			el = 2;
			break;
		case '\\':
			memcpy(esc, "\\\\", 2);
			el = 2;
			break;
		case '\b':
			memcpy(esc, "\\b", 2);
			el = 2;
			break;
		case '\f':
			memcpy(esc, "\\f", 2);
			el = 2;
			break;
		case '\n':
			memcpy(esc, "\\n", 2);
			el = 2;
			break;
		case '\r':
			memcpy(esc, "\\r", 2);
			el = 2;
			break;
		case '\t':
			memcpy(esc, "\\t", 2);
			el = 2;
			break;
		default:
			if (ch < 0x20 || ch == 0x7f) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[ch >> 4];
				esc[5] = hex[ch & 15];
				el = 6;
			} else {
				esc[0] = (char)ch;
				el = 1;
			}
		}
		if (*len + el + 1 > *cap) {
			size_t ncap = *cap * 2 + el + 64;
			char *nb = realloc(*buf, ncap);
			if (nb == NULL)
				return -1;
			*buf = nb;
			*cap = ncap;
		}
		memcpy(*buf + *len, esc, el);
		*len += el;
		(*buf)[*len] = '\0';
	}
	return 0;
}

static int rt_json_raw(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t sl = strlen(s);

	if (*len + sl + 1 > *cap) {
		size_t ncap = *cap * 2 + sl + 64;
		char *nb = realloc(*buf, ncap);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, sl + 1);
	*len += sl;
	return 0;
}

/* Builds {"errorMessage":msg,"errorType":type} (owned) or returns NULL. */
static char *rt_error_doc(const char *type, const char *msg, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (rt_json_raw(&buf, &len, &cap, "{\"errorMessage\":\"") < 0 ||
	    rt_json_str(&buf, &len, &cap, msg) < 0 ||
	    rt_json_raw(&buf, &len, &cap, "\",\"errorType\":\"") < 0 ||
	    rt_json_str(&buf, &len, &cap, type) < 0 ||
	    rt_json_raw(&buf, &len, &cap, "\",\"stackTrace\":[]}") < 0) {
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
}

/* Builds the error-type header line (owned), with bytes unsafe in a header replaced. */
static char *rt_error_header(const char *type)
{
	static const char name[] = "Lambda-Runtime-Function-Error-Type: ";
	size_t tl = strlen(type);
	char *h = malloc(sizeof(name) + tl + 2);

	if (h == NULL)
		return NULL;
	memcpy(h, name, sizeof(name) - 1);
	char *p = h + sizeof(name) - 1;
	for (size_t i = 0; i < tl; i++) {
		unsigned char ch = (unsigned char)type[i];
		*p++ = ch < 0x20 || ch == 0x7f ? '_' : (char)ch;
	}
	memcpy(p, "\r\n", 3);
	return h;
}

/* Posts an error document to path. Returns 0 if the Runtime API accepted it. */
static int rt_post_error(struct rt_conn *c, const char *path, const char *type, const char *msg)
{
	size_t dl = 0;
	char *doc, *hdr;
	struct rt_resp r;
	int rc = -1;

	if (type == NULL || *type == '\0')
		type = "Runtime.Unknown";
	if (msg == NULL)
		msg = "";
	doc = rt_error_doc(type, msg, &dl);
	hdr = rt_error_header(type);
	if (doc != NULL && hdr != NULL && rt_request(c, "POST", path, hdr, doc, dl, &r) == 0) {
		if (r.status >= 200 && r.status < 300)
			rc = 0;
		else
			rt_log("POST %s: HTTP %d: %s", path, r.status, r.body);
		rt_resp_fini(&r);
	}
	free(doc);
	free(hdr);
	return rc;
}

int64_t lambda_remaining_ms(const struct lambda_event *ev)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ev->ctx.deadline_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int lambda_response_set(struct lambda_response *out, const void *data, size_t len)
{
	if (out->streaming || out->stream_broken)
		return -1;
	char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return -1;
	if (len)
		memcpy(copy, data, len);
	free(out->data);
	out->data = copy;
	out->len = len;
	return 0;
}

static char *rt_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

int lambda_response_error(struct lambda_response *out, const char *type, const char *msg)
{
	char *t = rt_strdup(type && *type ? type : "HandlerError");
	char *m = rt_strdup(msg ? msg : "");

	if (t == NULL || m == NULL) {
		free(t);
		free(m);
		return -1;
	}
	free(out->err_type);
	free(out->err_msg);
	out->err_type = t;
	out->err_msg = m;
	out->is_error = 1;
	return 0;
}

void lambda_runtime_init_error(const char *type, const char *msg)
{
	struct rt_conn c;

	if (rt_conn_init(&c) < 0)
		return;
	if (rt_post_error(&c, RT_PREFIX "/init/error", type, msg) < 0)
		rt_log("could not report init error %s: %s", type ? type : "", msg ? msg : "");
	rt_conn_fini(&c);
}

/* ---- streaming ---- */

/* Sends the n buffers of iov whole. Returns 0 or -1. */
static int rt_sendv(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr m;
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)n;
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Opens the streamed POST of out's invocation (once). Returns 0 or -1. */
static int rt_stream_open(struct lambda_response *out)
{
	struct rt_conn *c = out->conn;
	char *hdr;
	int n;

	if (out->stream_broken)
		return -1;
	if (out->streaming)
		return 0;
	if (c == NULL || out->path == NULL) {
		rt_log("lambda_stream_*: called outside a handler");
		return -1;
	}
	/* A stream cannot be sent twice, so a kept-alive connection that the server has
	 * closed meanwhile is replaced before the first byte rather than after. */
	if (c->fd >= 0) {
		char b;
		ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			rt_conn_close(c);
	}
	if (c->fd < 0 && rt_conn_open(c) < 0) {
		rt_log("connect to %s: %s", c->host, strerror(errno));
		out->stream_broken = 1;
		return -1;
	}
	const char *fmt =
	    "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lambdad-c-runtime/1\r\n"
	    "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
	    "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
	    "Content-Type: %s\r\n\r\n";
	const char *ct = out->ctype ? out->ctype : "application/octet-stream";
	n = snprintf(NULL, 0, fmt, out->path, c->host, ct);
	if (n < 0 || (hdr = malloc((size_t)n + 1)) == NULL)
		return -1;
	snprintf(hdr, (size_t)n + 1, fmt, out->path, c->host, ct);
	int rc = rt_send_all(c->fd, hdr, (size_t)n);
	free(hdr);
	if (rc < 0) {
		rt_log("POST %s: %s", out->path, strerror(errno));
		rt_conn_close(c);
		out->stream_broken = 1;
		return -1;
	}
	out->streaming = 1;
	return 0;
}

int lambda_stream_write(struct lambda_response *out, const void *data, size_t len)
{
	char size[32];
	struct iovec iov[3];

	if (rt_stream_open(out) < 0)
		return -1;
	if (len == 0)
		return 0;
	iov[0].iov_base = size;
	iov[0].iov_len = (size_t)snprintf(size, sizeof(size), "%zx\r\n", len);
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)"\r\n";
	iov[2].iov_len = 2;
	if (rt_sendv(out->conn->fd, iov, 3) < 0) {
		rt_log("POST %s: %s", out->path, strerror(errno));
		rt_conn_close(out->conn);
		out->stream_broken = 1;
		return -1;
	}
	return 0;
}

int lambda_stream_set_content_type(struct lambda_response *out, const char *type)
{
	if (out->streaming || out->stream_broken || type == NULL || strpbrk(type, "\r\n") != NULL)
		return -1;
	size_t n = strlen(type) + 1;
	char *t = malloc(n);
	if (t == NULL)
		return -1;
	memcpy(t, type, n);
	free(out->ctype);
	out->ctype = t;
	return 0;
}

int lambda_stream_http_prelude(struct lambda_response *out, int status, const char *headers_json,
                               const char *cookies_json)
{
	static const char zeros[8];
	char head[64];

	if (out->streaming || out->stream_broken ||
	    lambda_stream_set_content_type(out, "application/vnd.awslambda.http-integration-response") < 0)
		return -1;
	snprintf(head, sizeof(head), "{\"statusCode\":%d,\"headers\":", status);
	const char *h = headers_json && *headers_json ? headers_json : "{}";
	const char *k = cookies_json && *cookies_json ? cookies_json : "[]";
	size_t n = strlen(head) + strlen(h) + strlen(",\"cookies\":") + strlen(k) + 1 + sizeof(zeros);
	char *p = malloc(n);
	if (p == NULL)
		return -1;
	size_t off = (size_t)sprintf(p, "%s%s,\"cookies\":%s}", head, h, k);
	memcpy(p + off, zeros, sizeof(zeros));
	int rc = lambda_stream_write(out, p, off + sizeof(zeros));
	free(p);
	return rc;
}

/* Standard base64 of n bytes (owned, NUL-terminated) or NULL. */
static char *rt_base64(const char *s, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		*w++ = t[v >> 18 & 63];
		*w++ = t[v >> 12 & 63];
		*w++ = i + 1 < n ? t[v >> 6 & 63] : '=';
		*w++ = i + 2 < n ? t[v & 63] : '=';
	}
	*w = '\0';
	return o;
}

/* Ends the open stream of out (with the error trailers when out is an error) and
 * reads the Runtime API's answer. Returns 0 if it accepted the response. */
static int rt_stream_close(struct lambda_response *out)
{
	struct rt_conn *c = out->conn;
	char *tr = NULL, *b64 = NULL, *doc = NULL, *eh = NULL;
	size_t dl = 0;
	struct rt_resp r;
	int keep = 1, got_any = 0, rc = -1;

	if (out->is_error) {
		const char *type = out->err_type && *out->err_type ? out->err_type : "HandlerError";
		doc = rt_error_doc(type, out->err_msg ? out->err_msg : "", &dl);
		eh = rt_error_header(type);
		b64 = doc ? rt_base64(doc, dl) : NULL;
		if (eh == NULL || b64 == NULL)
			goto out;
		size_t n = strlen(eh) + strlen(b64) + 64;
		if ((tr = malloc(n)) == NULL)
			goto out;
		snprintf(tr, n, "0\r\n%sLambda-Runtime-Function-Error-Body: %s\r\n\r\n", eh, b64);
	}
	if (rt_send_all(c->fd, tr ? tr : "0\r\n\r\n", strlen(tr ? tr : "0\r\n\r\n")) < 0 ||
	    rt_read_resp(c, &r, &keep, &got_any) < 0) {
		rt_log("POST %s: %s", out->path, errno ? strerror(errno) : "bad response");
		rt_conn_close(c);
		goto out;
	}
	if (!keep)
		rt_conn_close(c);
	if (r.status >= 200 && r.status < 300)
		rc = 0;
	else
		rt_log("POST %s: HTTP %d: %s", out->path, r.status, r.body);
	rt_resp_fini(&r);
out:
	free(tr);
	free(b64);
	free(doc);
	free(eh);
	return rc;
}

/* Writes the request id into path after prefix, percent-encoding anything outside
 * the URL-safe set so that no id can change the request line. */
static char *rt_invocation_path(const char *id, const char *suffix)
{
	static const char pre[] = RT_PREFIX "/invocation/";
	static const char hex[] = "0123456789ABCDEF";
	size_t il = strlen(id);
	char *p = malloc(sizeof(pre) + il * 3 + strlen(suffix) + 1);

	if (p == NULL)
		return NULL;
	char *w = p + sizeof(pre) - 1;
	memcpy(p, pre, sizeof(pre) - 1);
	for (size_t i = 0; i < il; i++) {
		unsigned char ch = (unsigned char)id[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			*w++ = (char)ch;
		} else {
			*w++ = '%';
			*w++ = hex[ch >> 4];
			*w++ = hex[ch & 15];
		}
	}
	strcpy(w, suffix);
	return p;
}

static const char *env_or_empty(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

/* Runs one invocation from a /next response and posts its outcome. Returns 0, or -1
 * if the outcome could not be delivered. */
static int rt_invoke(struct rt_conn *c, struct rt_resp *next, lambda_handler_fn handler, void *user)
{
	struct lambda_event ev;
	struct lambda_response out;
	char *id = rt_header(next->head, "Lambda-Runtime-Aws-Request-Id");
	char *deadline = rt_header(next->head, "Lambda-Runtime-Deadline-Ms");
	char *arn = rt_header(next->head, "Lambda-Runtime-Invoked-Function-Arn");
	char *trace = rt_header(next->head, "Lambda-Runtime-Trace-Id");
	char *cc = rt_header(next->head, "Lambda-Runtime-Client-Context");
	char *ci = rt_header(next->head, "Lambda-Runtime-Cognito-Identity");
	const char *mem = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
	int rc = -1;

	memset(&out, 0, sizeof(out));
	if (id == NULL || *id == '\0') {
		rt_log("/next answered without Lambda-Runtime-Aws-Request-Id");
		goto done;
	}
	if (trace != NULL)
		setenv("_X_AMZN_TRACE_ID", trace, 1);
	else
		unsetenv("_X_AMZN_TRACE_ID");

	memset(&ev, 0, sizeof(ev));
	ev.payload = next->body;
	ev.payload_len = next->body_len;
	ev.ctx.request_id = id;
	ev.ctx.deadline_ms = deadline ? strtoll(deadline, NULL, 10) : 0;
	ev.ctx.invoked_function_arn = arn ? arn : "";
	ev.ctx.function_name = env_or_empty("AWS_LAMBDA_FUNCTION_NAME");
	ev.ctx.function_version = env_or_empty("AWS_LAMBDA_FUNCTION_VERSION");
	ev.ctx.memory_mb = mem ? atoi(mem) : 0;
	ev.ctx.log_group_name = env_or_empty("AWS_LAMBDA_LOG_GROUP_NAME");
	ev.ctx.log_stream_name = env_or_empty("AWS_LAMBDA_LOG_STREAM_NAME");
	ev.ctx.trace_id = trace;
	ev.ctx.client_context = cc;
	ev.ctx.cognito_identity = ci;

	char *rpath = rt_invocation_path(id, "/response");
	if (rpath == NULL)
		goto done;
	out.conn = c;
	out.path = rpath;
	int hr = handler(&ev, &out, user);
	fflush(stdout);
	fflush(stderr);

	if (hr != 0 && !out.is_error) {
		char msg[64];
		snprintf(msg, sizeof(msg), "handler returned %d", hr);
		if (lambda_response_error(&out, "HandlerError", msg) < 0) {
			free(rpath);
			goto done;
		}
	}
	if (out.streaming) {
		rc = rt_stream_close(&out);
		free(rpath);
		goto done;
	}
	free(rpath);
	if (out.stream_broken && !out.is_error)
		lambda_response_error(&out, "Runtime.StreamBroken",
		                      "the streamed response could not be sent");
	if (out.is_error) {
		char *path = rt_invocation_path(id, "/error");
		if (path != NULL)
			rc = rt_post_error(c, path, out.err_type, out.err_msg);
		free(path);
	} else {
		char *path = rt_invocation_path(id, "/response");
		struct rt_resp r;
		int status = 0;
		if (path != NULL &&
		    rt_request(c, "POST", path, NULL, out.data ? out.data : "", out.len, &r) == 0) {
			status = r.status;
			if (status < 200 || status >= 300)
				rt_log("POST %s: HTTP %d: %s", path, r.status, r.body);
			rt_resp_fini(&r);
		}
		free(path);
		if (status >= 200 && status < 300) {
			rc = 0;
		} else if (status != 0) {
			/* 413 and the like: report that the response could not be delivered. */
			path = rt_invocation_path(id, "/error");
			if (path != NULL)
				rc = rt_post_error(c, path, "Runtime.ResponseRejected",
				                   "the Runtime API refused the response");
			free(path);
		}
	}
done:
	free(out.data);
	free(out.ctype);
	free(out.err_type);
	free(out.err_msg);
	free(id);
	free(deadline);
	free(arn);
	free(trace);
	free(cc);
	free(ci);
	return rc;
}

int lambda_runtime_run(lambda_handler_fn handler, void *user)
{
	struct rt_conn c;
	int failures = 0;

	if (handler == NULL || rt_conn_init(&c) < 0)
		return -1;
	for (;;) {
		struct rt_resp next;
		if (rt_request(&c, "GET", RT_PREFIX "/invocation/next", NULL, NULL, 0, &next) < 0) {
			if (++failures >= RT_NEXT_RETRIES)
				break;
			struct timespec ts = {0, 100000000L * failures};
			nanosleep(&ts, NULL);
			continue;
		}
		if (next.status != 200) {
			rt_log("GET /invocation/next: HTTP %d: %s", next.status, next.body);
			rt_resp_fini(&next);
			if (++failures >= RT_NEXT_RETRIES)
				break;
			continue;
		}
		failures = 0;
		rt_invoke(&c, &next, handler, user);
		rt_resp_fini(&next);
	}
	rt_log("giving up on the Runtime API at %s", c.host);
	rt_conn_fini(&c);
	return -1;
}
