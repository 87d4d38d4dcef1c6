/* AWS's event-stream framing (application/vnd.amazon.eventstream), the encoding side:
 * the binary messages InvokeWithResponseStream's answer is made of, which the AWS SDKs
 * decode (botocore's eventstream.py, @smithy/eventstream-codec). */
#ifndef LAMBDAD_PROTO_EVENTSTREAM_H
#define LAMBDAD_PROTO_EVENTSTREAM_H

#include <event2/buffer.h>
#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

/* The content type of a body made of event-stream messages. */
#define EVENTSTREAM_CONTENT_TYPE "application/vnd.amazon.eventstream"
/* The largest payload of one message (the SDKs refuse a larger one: botocore's
 * _MAX_PAYLOAD_LENGTH, 16 MiB) and the largest headers section (128 KiB). */
#define EVENTSTREAM_PAYLOAD_MAX (16u * 1024 * 1024)
#define EVENTSTREAM_HEADERS_MAX (128u * 1024)

/* One header of a message; only string values (type 7) are written. */
struct eventstream_header {
	const char *name;  /* 1-255 bytes */
	const char *value; /* 0-32767 bytes */
};

/* CRC-32 (ISO-HDLC: polynomial 0x04C11DB7 reflected, init and final xor 0xFFFFFFFF, as
 * zlib's crc32 and Python's binascii.crc32) of len bytes, continuing crc (0 to start). */
uint32_t eventstream_crc32(uint32_t crc, const void *data, size_t len);

/* Appends one message to out: the prelude (total length, headers length, both 32-bit
 * big-endian, and the CRC-32 of those 8 bytes), the nh headers in order (name length in
 * one byte, name, type 7, value length in two bytes big-endian, value), len bytes of
 * payload (may be NULL when len is 0), and the CRC-32 of all that. Returns 0, or -EINVAL
 * (a header name or value too long or empty) or -EMSGSIZE (payload or headers past their
 * limit) with out unchanged. */
int eventstream_message(struct evbuffer *out, const struct eventstream_header *h, size_t nh,
                        const void *payload, size_t len, struct err *errp);

/* An event message: headers :event-type event_type, :content-type content_type and
 * :message-type event, then the payload. Same returns as eventstream_message. */
int eventstream_event(struct evbuffer *out, const char *event_type, const char *content_type,
                      const void *payload, size_t len, struct err *errp);

#endif
