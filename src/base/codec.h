/* Encodings and digests: base64, hex, SHA-256, random UUIDs. */
#ifndef LAMBDAD_BASE_CODEC_H
#define LAMBDAD_BASE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns an owned NUL-terminated base64 string of len bytes. */
char *b64_encode(const void *data, size_t len);
/* Decodes standard base64 (padding optional, whitespace refused) into an owned
 * buffer; *outlen gets its length. Returns NULL on malformed input. */
unsigned char *b64_decode(const char *s, size_t slen, size_t *outlen);

void hex_encode(const unsigned char *data, size_t len, char *out); /* out: 2*len+1 */
/* The value of the hex digit c (either case), or -1 when c is not one. */
int hex_digit(char c);
/* s[0..n) percent-decoded (owned, NUL-terminated; *outlen, which may be NULL, gets its
 * length), or NULL when an escape is malformed or decodes to NUL, or s holds a NUL.
 * plus_space: '+' decodes to ' ' (form encoding); else '+' stays '+'. */
char *pct_decode(const char *s, size_t n, bool plus_space, size_t *outlen);

struct sha256_ctx;
/* One-shot SHA-256 of a buffer. */
void sha256(const void *data, size_t len, unsigned char out[32]);

/* A random RFC 4122 version 4 UUID, lower-case, 36 chars + NUL. */
void uuid_v4(char out[37]);
/* 32 random lower-case hex digits + NUL. */
void random_hex32(char out[33]);

#endif
