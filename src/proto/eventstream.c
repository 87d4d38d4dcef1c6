/* The event-stream encoder: prelude, string headers, payload and the two CRC-32s of
 * AWS's application/vnd.amazon.eventstream messages. */
#include <errno.h>
#include <lambdad/xmalloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proto/eventstream.h"

#define PRELUDE_LEN 12u /* total length, headers length, prelude CRC */
#define CRC_LEN 4u
#define HEADER_TYPE_STRING 7
#define HEADER_NAME_MAX 255u
#define HEADER_VALUE_MAX 32767u

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t eventstream_crc32(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_table_init);
	const unsigned char *p = data;
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

int eventstream_message(struct evbuffer *out, const struct eventstream_header *h, size_t nh,
                        const void *payload, size_t len, struct err *errp)
{
	size_t hlen = 0;
	for (size_t i = 0; i < nh; i++) {
		size_t n = strlen(h[i].name), v = strlen(h[i].value);
		if (n == 0 || n > HEADER_NAME_MAX)
			return err_make(errp, EINVAL, "event-stream header name '%.64s' must be 1-%u bytes",
			                h[i].name, HEADER_NAME_MAX);
		if (v > HEADER_VALUE_MAX)
			return err_make(errp, EINVAL, "event-stream header %s: value of %zu bytes is over %u",
			                h[i].name, v, HEADER_VALUE_MAX);
		hlen += 1 + n + 1 + 2 + v;
	}
	if (hlen > EVENTSTREAM_HEADERS_MAX)
		return err_make(errp, EMSGSIZE, "event-stream headers of %zu bytes are over %u", hlen,
		                EVENTSTREAM_HEADERS_MAX);
	if (len > EVENTSTREAM_PAYLOAD_MAX)
		return err_make(errp, EMSGSIZE, "event-stream payload of %zu bytes is over %u", len,
		                EVENTSTREAM_PAYLOAD_MAX);
	/* The prelude and headers in one piece; the payload is added as it is. */
	unsigned char *head = xmalloc(PRELUDE_LEN + hlen);
	put_be32(head, (uint32_t)(PRELUDE_LEN + hlen + len + CRC_LEN));
	put_be32(head + 4, (uint32_t)hlen);
	put_be32(head + 8, eventstream_crc32(0, head, 8));
	unsigned char *p = head + PRELUDE_LEN;
	for (size_t i = 0; i < nh; i++) {
		size_t n = strlen(h[i].name), v = strlen(h[i].value);
		*p++ = (unsigned char)n;
		memcpy(p, h[i].name, n);
		p += n;
		*p++ = HEADER_TYPE_STRING;
		*p++ = (unsigned char)(v >> 8);
		*p++ = (unsigned char)v;
		memcpy(p, h[i].value, v);
		p += v;
	}
	uint32_t crc = eventstream_crc32(0, head, PRELUDE_LEN + hlen);
	if (len)
		crc = eventstream_crc32(crc, payload, len);
	unsigned char tail[CRC_LEN];
	put_be32(tail, crc);
	/* evbuffer_add fails only when memory is out, which ends lambdad (xmalloc's rule). */
	evbuffer_add(out, head, PRELUDE_LEN + hlen);
	if (len)
		evbuffer_add(out, payload, len);
	evbuffer_add(out, tail, CRC_LEN);
	free(head);
	return 0;
}

int eventstream_event(struct evbuffer *out, const char *event_type, const char *content_type,
                      const void *payload, size_t len, struct err *errp)
{
	const struct eventstream_header h[] = {
	    {":event-type", event_type},
	    {":content-type", content_type},
	    {":message-type", "event"},
	};
	return eventstream_message(out, h, sizeof(h) / sizeof(h[0]), payload, len, errp);
}
