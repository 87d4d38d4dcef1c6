/* Minimal blocking HTTP/1.1 message reading for the bench tools: one growable buffer,
 * Content-Length or chunked bodies, the few headers the bench looks at. */
#ifndef BENCH_HTTP_H
#define BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; bytes past a message stay for the next one. */
struct bh_buf {
	char *p;
	size_t len;
	size_t cap;
};

/* One message read by bh_read_msg(); offsets are into the buffer it was read into. */
struct bh_msg {
	int status;           /* the status code of a response, 0 for a request */
	size_t body_off;      /* where the (de-chunked) body starts */
	size_t body_len;      /* its length in bytes */
	size_t total;         /* bytes of the buffer this message occupies */
	bool close;           /* "Connection: close" was sent */
	bool function_error;  /* an X-Amz-Function-Error header was present */
	char request_id[128]; /* Lambda-Runtime-Aws-Request-Id, "" if absent */
};

/* Monotonic clock in nanoseconds. */
uint64_t bh_now_ns(void);

/* Length of the value of header name in [h, end) (case-insensitive), or -1; *v
 * points at the value. */
long bh_find_header(const char *h, const char *end, const char *name, const char **v);

/* Makes room for at least want more bytes; exits on out-of-memory. */
void bh_reserve(struct bh_buf *b, size_t want);

/* Drops the first n bytes of the buffer (the message just handled). */
void bh_consume(struct bh_buf *b, size_t n);

/* Reads one whole HTTP/1.1 message (request or response) from the blocking socket fd,
 * appending to b. Returns 0 and fills m, or -1 on EOF, a read error or a malformed
 * message. The body stays in b until bh_consume(b, m->total). */
int bh_read_msg(int fd, struct bh_buf *b, struct bh_msg *m);

/* Writes all of the two pieces (either may be empty); returns 0 or -1. */
int bh_write2(int fd, const void *a, size_t alen, const void *c, size_t clen);

/* Connects a TCP socket with TCP_NODELAY to host:port; returns the fd or -1. */
int bh_connect(const char *host, int port);

/* Reads a whole file into a malloc'd buffer; returns NULL on failure. */
char *bh_read_file(const char *path, size_t *len);

/* Makes a JSON string value ("aaa...") of exactly size bytes (size >= 2), malloc'd. */
char *bh_json_of_size(size_t size);

#endif
