/* The bench's floor: a minimal single-threaded epoll HTTP/1.1 keep-alive server that
 * answers every request with 200 and the request's own body (GET: "{}").
 * usage: baseline_server [--port P] (0 or absent: any free port, printed on stdout). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4, pipe2 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench_http.h"

struct conn {
	int fd;
	char *in; /* request bytes received */
	size_t in_len, in_cap;
	char *out; /* response bytes not yet written */
	size_t out_len, out_off, out_cap;
	bool close_after;
	bool armed_out; /* EPOLLOUT is in the interest set */
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "baseline_server: out of memory\n");
		exit(2);
	}
	return p;
}

static void conn_free(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void out_append(struct conn *c, const void *p, size_t n)
{
	if (c->out_cap - c->out_len < n) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap - c->out_len < n)
			cap *= 2;
		c->out = xrealloc(c->out, cap);
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* Answers every complete request in c->in; returns false if the connection must close. */
static bool handle_input(struct conn *c)
{
	size_t pos = 0;
	for (;;) {
		char *hend = memmem(c->in + pos, c->in_len - pos, "\r\n\r\n", 4);
		if (!hend)
			break;
		size_t hlen = (size_t)(hend - (c->in + pos)) + 4;
		const char *h = c->in + pos, *v;
		size_t clen = 0;
		long vl = bh_find_header(h, h + hlen, "Content-Length", &v);
		if (vl > 0)
			clen = strtoull(v, NULL, 10);
		vl = bh_find_header(h, h + hlen, "Connection", &v);
		if (vl == 5 && strncasecmp(v, "close", 5) == 0)
			c->close_after = true;
		if (c->in_len - pos < hlen + clen) {
			/* Make room for the whole body at once. */
			size_t need = pos + hlen + clen;
			if (c->in_cap < need) {
				c->in = xrealloc(c->in, need);
				c->in_cap = need;
			}
			break;
		}
		const char *body = clen ? h + hlen : "{}";
		size_t blen = clen ? clen : 2;
		char hdr[160];
		int n = snprintf(
		    hdr, sizeof(hdr),
		    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
		    blen, c->close_after ? "Connection: close\r\n" : "");
		if (c->out_len == c->out_off) {
			/* Nothing queued: write straight from the input buffer. */
			struct iovec iov[2] = {{hdr, (size_t)n}, {(void *)body, blen}};
			ssize_t w = writev(c->fd, iov, 2);
			if (w < 0 && errno != EAGAIN)
				return false;
			size_t done = w < 0 ? 0 : (size_t)w;
			c->out_len = c->out_off = 0;
			if (done < (size_t)n) {
				out_append(c, hdr + done, (size_t)n - done);
				out_append(c, body, blen);
			} else if (done < (size_t)n + blen) {
				out_append(c, body + (done - (size_t)n), blen - (done - (size_t)n));
			}
		} else {
			out_append(c, hdr, (size_t)n);
			out_append(c, body, blen);
		}
		pos += hlen + clen;
		if (c->close_after)
			break;
	}
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	return true;
}

static bool flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0)
			return errno == EAGAIN;
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	return true;
}

int main(int argc, char **argv)
{
	int port = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			port = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: baseline_server [--port P]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		perror("baseline_server: listen");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct conn *nc = calloc(1, sizeof(*nc));
					if (!nc) {
						close(fd);
						continue;
					}
					nc->fd = fd;
					struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				}
				continue;
			}
			bool ok = true;
			if (evs[i].events & EPOLLOUT)
				ok = flush_out(c);
			if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
				for (;;) {
					if (c->in_cap - c->in_len < 16384) {
						c->in_cap = c->in_cap ? c->in_cap * 2 : 65536;
						c->in = xrealloc(c->in, c->in_cap);
					}
					ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
					if (r > 0) {
						c->in_len += (size_t)r;
						continue;
					}
					if (r == 0 || errno != EAGAIN)
						ok = false;
					break;
				}
				/* Answer what arrived even if the peer half-closed after sending it. */
				if (!handle_input(c))
					ok = false;
			}
			if (ok && c->out_off < c->out_len && !flush_out(c))
				ok = false;
			bool pending = c->out_off < c->out_len;
			if (!ok || (c->close_after && !pending)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				conn_free(c);
				continue;
			}
			if (pending != c->armed_out) {
				struct epoll_event cev = {.events = EPOLLIN | (pending ? EPOLLOUT : 0),
				                          .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
				c->armed_out = pending;
			}
		}
	}
}
