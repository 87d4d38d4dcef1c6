/* AWS Signature Version 4, the verifier's side: parsing the Authorization header or a
 * presigned query string, rebuilding the canonical request from the request as received,
 * the string to sign, the signing key, and the constant-time comparison. Pure functions
 * over a transport-neutral view of the request (struct sigv4_msg), so the unit tests run
 * AWS's published test suite without a server. */
#ifndef LAMBDAD_AUTH_SIGV4_H
#define LAMBDAD_AUTH_SIGV4_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a verification decided; each maps to one error of the service's shape. */
enum sigv4_status {
	SIGV4_OK = 0,
	SIGV4_MISSING,     /* neither an Authorization header nor X-Amz-Algorithm */
	SIGV4_INCOMPLETE,  /* the header or query is malformed (IncompleteSignature) */
	SIGV4_UNKNOWN_KEY, /* the access key id is not one of ours */
	SIGV4_MISMATCH,    /* the signature differs */
	SIGV4_SKEWED,      /* X-Amz-Date is outside the clock-skew window */
	SIGV4_EXPIRED,     /* a presigned request past its X-Amz-Expires */
	SIGV4_BAD_PAYLOAD, /* x-amz-content-sha256 is not the body's SHA-256 */
};

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_SIGNED_HEADERS_MAX 64

/* One request header as received (name in any case, value untrimmed); borrowed. */
struct sigv4_hdr {
	const char *name;
	const char *value;
};

/* The request as received. Everything is borrowed. */
struct sigv4_msg {
	const char *method; /* "GET" */
	const char *path;   /* the target's path as sent, not decoded */
	const char *query;  /* the raw query after '?', or NULL */
	const struct sigv4_hdr *headers;
	size_t nheaders;
	/* S3's rules: the path is neither normalized nor encoded twice, and a presigned
	 * request's payload is UNSIGNED-PAYLOAD. */
	bool s3;
};

/* What the client says it signed, from its Authorization header or its query. */
struct sigv4_auth {
	bool presigned;
	char akid[129];
	char date[9]; /* the scope's YYYYMMDD */
	char region[64];
	char service[64];
	char amz_date[17]; /* X-Amz-Date, YYYYMMDDTHHMMSSZ */
	char signature[65];
	char signed_headers[1024]; /* "host;x-amz-date", as sent */
	int64_t expires_s;         /* presigned: X-Amz-Expires (1..604800); else 0 */
	bool has_token;            /* X-Amz-Security-Token was sent */
};

/* The first header of m named name (case-insensitive), or NULL. */
const char *sigv4_header(const struct sigv4_msg *m, const char *name);

/* Parses an Authorization header value ("AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
 * SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex") into *a (amz_date is left
 * empty). Returns SIGV4_OK or SIGV4_INCOMPLETE with AWS's wording in why. */
enum sigv4_status sigv4_parse_authorization(const char *value, struct sigv4_auth *a, char *why,
                                            size_t whylen);

/* Reads m's signature: its Authorization header, else its presigned query (X-Amz-*),
 * and its X-Amz-Date (or Date, header case). SIGV4_MISSING when m carries neither;
 * SIGV4_INCOMPLETE with why. */
enum sigv4_status sigv4_parse(const struct sigv4_msg *m, struct sigv4_auth *a, char *why, size_t whylen);

/* The canonical request of m for a's signed headers, with payload_hash (lower hex, or
 * "UNSIGNED-PAYLOAD") as its last line; owned by the caller. NULL with why when the path
 * or query holds a malformed escape or a signed header is absent. */
char *sigv4_canonical_request(const struct sigv4_msg *m, const struct sigv4_auth *a, const char *payload_hash,
                              char *why, size_t whylen);

/* The string to sign for a's scope and creq; owned by the caller. */
char *sigv4_string_to_sign(const struct sigv4_auth *a, const char *creq);

/* kSigning of secret for date (YYYYMMDD), region and service, into key. */
void sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
                       uint8_t key[32]);

/* Lower-hex HMAC-SHA256(key, sts) into out (65 bytes with the NUL). */
void sigv4_sign(const uint8_t key[32], const char *sts, char out[65]);

/* Whether signature (as sent) is hex's, in time independent of where they differ. */
bool sigv4_signature_equal(const char *sent, const char hex[65]);

/* Verifies m against a with the signing key of a's scope: builds the canonical request
 * and compares. payload_hash as sigv4_canonical_request's. SIGV4_OK, SIGV4_MISMATCH or
 * SIGV4_INCOMPLETE (why). *creq, if not NULL, gets the canonical request (owned). */
enum sigv4_status sigv4_verify(const struct sigv4_msg *m, const struct sigv4_auth *a, const uint8_t key[32],
                               const char *payload_hash, char **creq, char *why, size_t whylen);

/* Checks a's time against now_s (seconds since the epoch): the header window of
 * window_s seconds either side ("Signature expired: ... is now earlier than ..." /
 * "Signature not yet current: ..."), or a presigned request's expiry. SIGV4_OK,
 * SIGV4_SKEWED, SIGV4_EXPIRED or SIGV4_INCOMPLETE (a malformed date), with why. */
enum sigv4_status sigv4_check_time(const struct sigv4_auth *a, int64_t now_s, int64_t window_s, char *why,
                                   size_t whylen);

/* SHA-256, fetched once (thread-safe); borrowed, never freed. */
const EVP_MD *sigv4_md(void);

/* Seconds since the epoch of "YYYYMMDDTHHMMSSZ", or -1 when malformed. */
int64_t sigv4_parse_amz_date(const char *s);
/* "YYYYMMDDTHHMMSSZ" of t (seconds since the epoch) into out. */
void sigv4_fmt_amz_date(int64_t t, char out[17]);

#endif
