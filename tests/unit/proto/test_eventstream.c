/* The event-stream encoder (proto/eventstream.c) against vectors derived outside it:
 * byte for byte, never through a decoder of ours that could share the encoder's bug. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/eventstream.h"

/* The vectors. vec_empty is the "empty_message" of AWS's own event-stream test suite
 * (aws-c-event-stream, encoded/positive/empty_message: no headers, no payload). The two
 * others were computed at test-writing time by a Python script that frames messages with
 * struct.pack and binascii.crc32 (zlib's CRC-32), written from AWS's description of the
 * format and not from this encoder; botocore 1.43.11's own parser
 * (botocore.eventstream.EventStreamBuffer, which checks both CRCs) decoded each of them
 * back to the headers and payload below:
 *   vec_chunk: :event-type PayloadChunk, :content-type application/octet-stream,
 *              :message-type event, payload "hello\n" (112 bytes);
 *   vec_complete: :event-type InvokeComplete, :content-type application/json,
 *              :message-type event, payload {"ErrorCode":"Error","ErrorDetails":"boom"}
 *              (143 bytes). */
static const unsigned char vec_empty[] = {
    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff,
};
static const unsigned char vec_chunk[] = {
    0x00, 0x00, 0x00, 0x70, 0x00, 0x00, 0x00, 0x5a, 0x17, 0x4e, 0x87, 0x4c, 0x0b, 0x3a, 0x65, 0x76,
    0x65, 0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x0c, 0x50, 0x61, 0x79, 0x6c, 0x6f,
    0x61, 0x64, 0x43, 0x68, 0x75, 0x6e, 0x6b, 0x0d, 0x3a, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74,
    0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x18, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x63, 0x61, 0x74,
    0x69, 0x6f, 0x6e, 0x2f, 0x6f, 0x63, 0x74, 0x65, 0x74, 0x2d, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d,
    0x0d, 0x3a, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00,
    0x05, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0xb6, 0xca, 0xd2, 0xd2,
};
static const unsigned char vec_complete[] = {
    0x00, 0x00, 0x00, 0x8f, 0x00, 0x00, 0x00, 0x54, 0x3a, 0x92, 0x6d, 0xc7, 0x0b, 0x3a, 0x65, 0x76,
    0x65, 0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x0e, 0x49, 0x6e, 0x76, 0x6f, 0x6b,
    0x65, 0x43, 0x6f, 0x6d, 0x70, 0x6c, 0x65, 0x74, 0x65, 0x0d, 0x3a, 0x63, 0x6f, 0x6e, 0x74, 0x65,
    0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x10, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x63,
    0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f, 0x6a, 0x73, 0x6f, 0x6e, 0x0d, 0x3a, 0x6d, 0x65, 0x73, 0x73,
    0x61, 0x67, 0x65, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x05, 0x65, 0x76, 0x65, 0x6e, 0x74,
    0x7b, 0x22, 0x45, 0x72, 0x72, 0x6f, 0x72, 0x43, 0x6f, 0x64, 0x65, 0x22, 0x3a, 0x22, 0x45, 0x72,
    0x72, 0x6f, 0x72, 0x22, 0x2c, 0x22, 0x45, 0x72, 0x72, 0x6f, 0x72, 0x44, 0x65, 0x74, 0x61, 0x69,
    0x6c, 0x73, 0x22, 0x3a, 0x22, 0x62, 0x6f, 0x6f, 0x6d, 0x22, 0x7d, 0xf7, 0xa7, 0xd3, 0xf5,
};

/* The encoder's output for one message (the buffer is emptied). */
static void expect_bytes(struct evbuffer *b, const unsigned char *want, size_t n)
{
	assert_int_equal(evbuffer_get_length(b), n);
	unsigned char *got = evbuffer_pullup(b, -1);
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, got[i], want[i]);
	evbuffer_drain(b, n);
}

static void test_crc32(void **state)
{
	/* The CRC-32 check value of "123456789" (the catalogue's, zlib's, binascii's). */
	assert_int_equal(eventstream_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(eventstream_crc32(0, "", 0), 0);
	/* Continued in pieces, the same. */
	assert_int_equal(eventstream_crc32(eventstream_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static void test_vectors(void **state)
{
	struct evbuffer *b = evbuffer_new();
	struct err e = {0};
	assert_int_equal(eventstream_message(b, NULL, 0, NULL, 0, &e), 0);
	expect_bytes(b, vec_empty, sizeof(vec_empty));
	assert_int_equal(eventstream_event(b, "PayloadChunk", "application/octet-stream", "hello\n", 6, &e),
	                 0);
	expect_bytes(b, vec_chunk, sizeof(vec_chunk));
	const char *json = "{\"ErrorCode\":\"Error\",\"ErrorDetails\":\"boom\"}";
	assert_int_equal(eventstream_event(b, "InvokeComplete", "application/json", json, strlen(json), &e),
	                 0);
	expect_bytes(b, vec_complete, sizeof(vec_complete));
	/* Messages follow each other in the buffer, each whole. */
	evbuffer_add(b, "x", 1);
	assert_int_equal(eventstream_event(b, "PayloadChunk", "application/octet-stream", "hello\n", 6, &e),
	                 0);
	assert_int_equal(evbuffer_get_length(b), 1 + sizeof(vec_chunk));
	evbuffer_drain(b, 1);
	expect_bytes(b, vec_chunk, sizeof(vec_chunk));
	evbuffer_free(b);
}

static void test_limits(void **state)
{
	struct evbuffer *b = evbuffer_new();
	struct err e = {0};
	struct eventstream_header h = {"", "v"};
	assert_int_equal(eventstream_message(b, &h, 1, NULL, 0, &e), -EINVAL);
	char *name = calloc(1, 257);
	memset(name, 'n', 256);
	h.name = name;
	assert_int_equal(eventstream_message(b, &h, 1, NULL, 0, &e), -EINVAL);
	name[255] = 0; /* 255 bytes: the longest name */
	assert_int_equal(eventstream_message(b, &h, 1, NULL, 0, &e), 0);
	assert_int_equal(evbuffer_get_length(b), 12 + 1 + 255 + 1 + 2 + 1 + 4);
	evbuffer_drain(b, evbuffer_get_length(b));
	char *value = calloc(1, 32769);
	memset(value, 'v', 32768);
	h.name = "n";
	h.value = value;
	assert_int_equal(eventstream_message(b, &h, 1, NULL, 0, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "32768"));
	/* A payload past 16 MiB is refused, and nothing is written. */
	assert_int_equal(eventstream_event(b, "PayloadChunk", "application/octet-stream", value,
	                                   EVENTSTREAM_PAYLOAD_MAX + 1, &e),
	                 -EMSGSIZE);
	assert_int_equal(evbuffer_get_length(b), 0);
	free(name);
	free(value);
	evbuffer_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32),
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
