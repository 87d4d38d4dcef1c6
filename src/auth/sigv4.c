/* SigV4 verification (sigv4.h): the canonical request rebuilt from the request as
 * received, the string to sign and the signing key (OpenSSL HMAC-SHA256), compared in
 * constant time (CRYPTO_memcmp). The rules are AWS's "Create a canonical request" and
 * the behaviour of its test suite (tests/unit/auth/sigv4_vectors). */
#include "auth/sigv4.h"
#include "base/codec.h"

#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

/* ---------------------------------------------------------------- small helpers */

/* A growing string. */
struct sb {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2 < 512 ? 512 : (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_ch(struct sb *b, char c)
{
	sb_add(b, &c, 1);
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.' || c == '~';
}

/* Appends s[0..n) URI-encoded as SigV4 wants (RFC 3986 unreserved kept, %XX upper case);
 * '/' kept when keep_slash. */
static void sb_uri_encode(struct sb *b, const char *s, size_t n, bool keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			sb_ch(b, (char)c);
		} else {
			char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
			sb_add(b, e, 3);
		}
	}
}

/* The decoder of this file is codec.h's pct_decode with '+' kept as '+': SDKs encode a
 * space as %20. */

static void hex_of(const unsigned char *d, size_t n, char *out)
{
	static const char hexd[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[d[i] >> 4];
		out[2 * i + 1] = hexd[d[i] & 15];
	}
	out[2 * n] = 0;
}

static EVP_MD *sha256_md;

static void fetch_md(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md)
		abort(); /* OpenSSL without SHA-256: nothing here can work */
}

const EVP_MD *sigv4_md(void)
{
	/* Fetched once: OpenSSL 3 looks an algorithm up on every call given EVP_sha256(),
	 * and HMAC() also fetches its MAC, which cost more than the hashing itself. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fetch_md);
	return sha256_md;
}

static void digest(const void *data, size_t len, unsigned char out[32])
{
	EVP_Digest(data, len, out, NULL, sigv4_md(), NULL);
}

/* HMAC-SHA256 (RFC 2104) over the fetched SHA-256. */
static void hmac(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
	unsigned char k[64] = {0}, pad[64], inner[32];
	if (keylen > 64)
		digest(key, keylen, k);
	else
		memcpy(k, key, keylen);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	EVP_DigestInit_ex(c, sigv4_md(), NULL);
	EVP_DigestUpdate(c, pad, 64);
	EVP_DigestUpdate(c, data, len);
	EVP_DigestFinal_ex(c, inner, NULL);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	EVP_DigestInit_ex(c, sigv4_md(), NULL);
	EVP_DigestUpdate(c, pad, 64);
	EVP_DigestUpdate(c, inner, 32);
	EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
}

static void setwhy(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setwhy(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || !whylen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- dates */

/* The number of n decimal digits at s (checked by the caller). */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int64_t sigv4_parse_amz_date(const char *s)
{
	if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -1;
	for (int i = 0; i < 15; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return -1;
	struct tm tm = {0};
	tm.tm_year = digits(s, 4) - 1900;
	tm.tm_mon = digits(s + 4, 2) - 1;
	tm.tm_mday = digits(s + 6, 2);
	tm.tm_hour = digits(s + 9, 2);
	tm.tm_min = digits(s + 11, 2);
	tm.tm_sec = digits(s + 13, 2);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	return (int64_t)timegm(&tm);
}

void sigv4_fmt_amz_date(int64_t t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* An HTTP Date ("Sun, 30 Aug 2015 12:36:00 GMT") as YYYYMMDDTHHMMSSZ, or false. */
static bool http_date_to_amz(const char *s, char out[17])
{
	struct tm tm = {0};
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return false;
	sigv4_fmt_amz_date((int64_t)timegm(&tm), out);
	return true;
}

/* ---------------------------------------------------------------- parsing */

const char *sigv4_header(const struct sigv4_msg *m, const char *name)
{
	for (size_t i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, name) == 0)
			return m->headers[i].value;
	return NULL;
}

/* Fills a's scope from "AKID/DATE/REGION/SERVICE/aws4_request" (len bytes). */
static enum sigv4_status parse_credential(const char *c, size_t len, struct sigv4_auth *a, char *why,
                                          size_t whylen)
{
	char buf[512];
	if (len >= sizeof(buf)) {
		setwhy(why, whylen, "Credential is too long");
		return SIGV4_INCOMPLETE;
	}
	memcpy(buf, c, len);
	buf[len] = 0;
	char *part[6] = {0};
	int n = 0;
	char *save = NULL;
	for (char *p = buf; n < 6; p = NULL) {
		char *t = strtok_r(p, "/", &save);
		if (!t)
			break;
		part[n++] = t;
	}
	if (n != 5 || buf[0] == '/' || strstr(buf, "//")) {
		setwhy(why, whylen,
		       "Credential should be of the form <AccessKeyId>/<YYYYMMDD>/<region>/<service>/"
		       "aws4_request, not '%s'.",
		       buf);
		return SIGV4_INCOMPLETE;
	}
	if (strcmp(part[4], "aws4_request") != 0) {
		setwhy(why, whylen,
		       "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.",
		       part[4]);
		return SIGV4_INCOMPLETE;
	}
	if (strlen(part[1]) != 8 || strspn(part[1], "0123456789") != 8) {
		setwhy(why, whylen, "Credential should be scoped to a valid date (YYYYMMDD), not '%s'.",
		       part[1]);
		return SIGV4_INCOMPLETE;
	}
	if (strlen(part[0]) >= sizeof(a->akid) || strlen(part[2]) >= sizeof(a->region) ||
	    strlen(part[3]) >= sizeof(a->service)) {
		setwhy(why, whylen, "Credential has a part that is too long: '%s'.", buf);
		return SIGV4_INCOMPLETE;
	}
	snprintf(a->akid, sizeof(a->akid), "%s", part[0]);
	snprintf(a->date, sizeof(a->date), "%s", part[1]);
	snprintf(a->region, sizeof(a->region), "%s", part[2]);
	snprintf(a->service, sizeof(a->service), "%s", part[3]);
	return SIGV4_OK;
}

/* Whether list ("a;b;c") is a sequence of lower-case header names and holds host. */
static enum sigv4_status check_signed_headers(const char *list, char *why, size_t whylen)
{
	bool host = false;
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ";");
		if (n == 0) {
			setwhy(why, whylen, "SignedHeaders holds an empty header name: '%s'.", list);
			return SIGV4_INCOMPLETE;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c <= ' ' || c >= 0x7f || c == ':' || (c >= 'A' && c <= 'Z')) {
				setwhy(why, whylen, "SignedHeaders must be lower-case header names: '%s'.",
				       list);
				return SIGV4_INCOMPLETE;
			}
		}
		if (n == 4 && memcmp(p, "host", 4) == 0)
			host = true;
		p += n;
		if (*p == ';')
			p++;
	}
	if (!host) {
		setwhy(why, whylen,
		       "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
		return SIGV4_INCOMPLETE;
	}
	return SIGV4_OK;
}

enum sigv4_status sigv4_parse_authorization(const char *value, struct sigv4_auth *a, char *why, size_t whylen)
{
	*a = (struct sigv4_auth){0};
	const char *p = value;
	while (*p == ' ')
		p++;
	bool alg = strncmp(p, ALGORITHM, strlen(ALGORITHM)) == 0 &&
	           (p[strlen(ALGORITHM)] == ' ' || p[strlen(ALGORITHM)] == 0);
	if (alg)
		p += strlen(ALGORITHM);
	bool have_cred = false, have_sh = false, have_sig = false;
	/* Pairs are separated by commas and spaces; every one must be key=value (checked
	 * first, as AWS reports that before what a pair holds). */
	for (const char *q = p; alg && *q;) {
		q += strspn(q, " ,");
		size_t n = strcspn(q, " ,");
		if (n && !memchr(q, '=', n)) {
			setwhy(
			    why, whylen,
			    "'%.*s' not a valid key=value pair (missing equal-sign) in Authorization header: "
			    "'%s'.",
			    (int)n, q, value);
			return SIGV4_INCOMPLETE;
		}
		q += n;
	}
	while (alg && *p) {
		p += strspn(p, " ,");
		if (!*p)
			break;
		size_t n = strcspn(p, " ,");
		const char *eq = memchr(p, '=', n);
		size_t kl = (size_t)(eq - p), vl = n - kl - 1;
		const char *v = eq + 1;
		if (kl == 10 && memcmp(p, "Credential", 10) == 0) {
			enum sigv4_status r = parse_credential(v, vl, a, why, whylen);
			if (r)
				return r;
			have_cred = true;
		} else if (kl == 13 && memcmp(p, "SignedHeaders", 13) == 0) {
			if (vl >= sizeof(a->signed_headers)) {
				setwhy(why, whylen, "SignedHeaders is too long");
				return SIGV4_INCOMPLETE;
			}
			memcpy(a->signed_headers, v, vl);
			a->signed_headers[vl] = 0;
			have_sh = vl > 0;
		} else if (kl == 9 && memcmp(p, "Signature", 9) == 0) {
			/* A signature of the wrong length is kept cut: it cannot compare equal. */
			snprintf(a->signature, sizeof(a->signature), "%.*s", (int)vl, v);
			if (vl != 64)
				a->signature[0] = vl ? '!' : 0;
			have_sig = vl > 0;
		}
		p += n;
	}
	if (!have_cred || !have_sh || !have_sig) {
		setwhy(why, whylen, "%s%s%sAuthorization=%s",
		       have_cred ? "" : "Authorization header requires 'Credential' parameter. ",
		       have_sig ? "" : "Authorization header requires 'Signature' parameter. ",
		       have_sh ? "" : "Authorization header requires 'SignedHeaders' parameter. ", value);
		return SIGV4_INCOMPLETE;
	}
	return check_signed_headers(a->signed_headers, why, whylen);
}

/* The first query parameter named name, decoded (owned), or NULL. */
static char *query_param(const char *q, const char *name)
{
	size_t nl = strlen(name);
	while (q && *q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;
		if (kl == nl && memcmp(q, name, nl) == 0) {
			size_t dl;
			return eq ? pct_decode(eq + 1, n - kl - 1, false, &dl) : xstrdup("");
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return NULL;
}

static enum sigv4_status parse_query(const struct sigv4_msg *m, struct sigv4_auth *a, char *why,
                                     size_t whylen)
{
	*a = (struct sigv4_auth){.presigned = true};
	autofree char *alg = query_param(m->query, "X-Amz-Algorithm");
	autofree char *cred = query_param(m->query, "X-Amz-Credential");
	autofree char *date = query_param(m->query, "X-Amz-Date");
	autofree char *exp = query_param(m->query, "X-Amz-Expires");
	autofree char *sh = query_param(m->query, "X-Amz-SignedHeaders");
	autofree char *sig = query_param(m->query, "X-Amz-Signature");
	autofree char *tok = query_param(m->query, "X-Amz-Security-Token");
	if (!alg || !cred || !date || !exp || !sh || !sig) {
		setwhy(
		    why, whylen,
		    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
		    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
		return SIGV4_INCOMPLETE;
	}
	if (strcmp(alg, ALGORITHM) != 0) {
		setwhy(why, whylen, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\", not \"%s\".", alg);
		return SIGV4_INCOMPLETE;
	}
	enum sigv4_status r = parse_credential(cred, strlen(cred), a, why, whylen);
	if (r)
		return r;
	a->presigned = true;
	char *end;
	long long e = strtoll(exp, &end, 10);
	if (!*exp || *end || e < 0) {
		setwhy(why, whylen, "X-Amz-Expires should be a number of seconds, not '%s'.", exp);
		return SIGV4_INCOMPLETE;
	}
	if (e > 604800) {
		setwhy(why, whylen, "X-Amz-Expires must be less than a week (in seconds) that is 604800");
		return SIGV4_INCOMPLETE;
	}
	a->expires_s = e;
	if (strlen(sh) >= sizeof(a->signed_headers)) {
		setwhy(why, whylen, "X-Amz-SignedHeaders is too long");
		return SIGV4_INCOMPLETE;
	}
	snprintf(a->signed_headers, sizeof(a->signed_headers), "%s", sh);
	snprintf(a->signature, sizeof(a->signature), "%s", sig);
	if (strlen(sig) != 64)
		a->signature[0] = '!';
	if (strlen(date) != 16) {
		setwhy(why, whylen, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
		return SIGV4_INCOMPLETE;
	}
	snprintf(a->amz_date, sizeof(a->amz_date), "%s", date);
	a->has_token = tok != NULL;
	return check_signed_headers(a->signed_headers, why, whylen);
}

enum sigv4_status sigv4_parse(const struct sigv4_msg *m, struct sigv4_auth *a, char *why, size_t whylen)
{
	const char *authz = sigv4_header(m, "Authorization");
	enum sigv4_status r;
	if (authz) {
		if ((r = sigv4_parse_authorization(authz, a, why, whylen)))
			return r;
		const char *xd = sigv4_header(m, "X-Amz-Date");
		const char *d = sigv4_header(m, "Date");
		if (xd) {
			if (sigv4_parse_amz_date(xd) < 0) {
				setwhy(why, whylen,
				       "Date must be in ISO-8601 'basic format'. Got '%s'. See "
				       "http://en.wikipedia.org/wiki/ISO_8601",
				       xd);
				return SIGV4_INCOMPLETE;
			}
			snprintf(a->amz_date, sizeof(a->amz_date), "%s", xd);
		} else if (!d || !http_date_to_amz(d, a->amz_date)) {
			setwhy(why, whylen,
			       "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
			       "header. Authorization=%s",
			       authz);
			return SIGV4_INCOMPLETE;
		}
		a->has_token = sigv4_header(m, "X-Amz-Security-Token") != NULL;
	} else if (m->query && (strncmp(m->query, "X-Amz-Algorithm=", 16) == 0 ||
	                        strstr(m->query, "&X-Amz-Algorithm="))) {
		if ((r = parse_query(m, a, why, whylen)))
			return r;
		if (sigv4_parse_amz_date(a->amz_date) < 0) {
			setwhy(why, whylen,
			       "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
			return SIGV4_INCOMPLETE;
		}
	} else {
		setwhy(why, whylen, "Missing Authentication Token");
		return SIGV4_MISSING;
	}
	if (strncmp(a->amz_date, a->date, 8) != 0) {
		setwhy(why, whylen,
		       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
		       "HTTP: '%s' != '%.8s', from '%s'.",
		       a->date, a->amz_date, a->amz_date);
		return SIGV4_INCOMPLETE;
	}
	return SIGV4_OK;
}

/* ---------------------------------------------------------------- canonical request */

/* The path without dot segments and repeated slashes; a trailing slash kept. */
static char *normalize_path(const char *path)
{
	size_t n = strlen(path);
	/* Segment starts and lengths, a stack popped by "..". */
	size_t cap = n / 2 + 2, k = 0;
	const char **seg = xmalloc(cap * sizeof(*seg));
	size_t *len = xmalloc(cap * sizeof(*len));
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t l = strcspn(p, "/");
		if (l == 1 && p[0] == '.') {
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (k > 0)
				k--;
		} else {
			seg[k] = p;
			len[k++] = l;
		}
		p += l;
	}
	struct sb b = {0};
	for (size_t i = 0; i < k; i++) {
		sb_ch(&b, '/');
		sb_add(&b, seg[i], len[i]);
	}
	if (k == 0 || (n > 0 && path[n - 1] == '/'))
		sb_ch(&b, '/');
	free(seg);
	free(len);
	return b.p;
}

struct qpair {
	char *name, *value; /* encoded */
};

static int qpair_cmp(const void *x, const void *y)
{
	const struct qpair *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->value, b->value);
}

/* The canonical query of q into b; false when an escape is malformed. */
static bool canonical_query(struct sb *b, const char *q, bool presigned, bool skip_token)
{
	size_t cap = 0, n = 0;
	struct qpair *v = NULL;
	bool ok = true;
	while (q && *q) {
		size_t l = strcspn(q, "&");
		if (l > 0) {
			const char *eq = memchr(q, '=', l);
			size_t kl = eq ? (size_t)(eq - q) : l;
			size_t dkl, dvl;
			char *k = pct_decode(q, kl, false, &dkl);
			char *val = eq ? pct_decode(eq + 1, l - kl - 1, false, &dvl) : (dvl = 0, xstrdup(""));
			if (!k || !val) {
				free(k);
				free(val);
				ok = false;
				break;
			}
			if ((presigned && strcmp(k, "X-Amz-Signature") == 0) ||
			    (skip_token && strcmp(k, "X-Amz-Security-Token") == 0)) {
				free(k);
				free(val);
			} else {
				if (n == cap) {
					cap = cap ? cap * 2 : 8;
					v = xrealloc(v, cap * sizeof(*v));
				}
				struct sb kb = {0}, vb = {0};
				sb_str(&kb, "");
				sb_str(&vb, "");
				sb_uri_encode(&kb, k, dkl, false);
				sb_uri_encode(&vb, val, dvl, false);
				v[n].name = kb.p;
				v[n++].value = vb.p;
				free(k);
				free(val);
			}
		}
		q += l;
		if (*q == '&')
			q++;
	}
	if (ok) {
		if (n > 1)
			qsort(v, n, sizeof(*v), qpair_cmp);
		for (size_t i = 0; i < n; i++) {
			if (i)
				sb_ch(b, '&');
			sb_str(b, v[i].name);
			sb_ch(b, '=');
			sb_str(b, v[i].value);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return ok;
}

/* Appends value trimmed, inner runs of whitespace (folded lines included) made one space. */
static void sb_header_value(struct sb *b, const char *v)
{
	bool space = false, any = false;
	for (const char *p = v; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			space = true;
			continue;
		}
		if (space && any)
			sb_ch(b, ' ');
		space = false;
		any = true;
		sb_ch(b, *p);
	}
}

/* The canonical request; skip_token leaves X-Amz-Security-Token out of the query. */
static char *canonical_request(const struct sigv4_msg *m, const struct sigv4_auth *a,
                               const char *payload_hash, bool skip_token, char *why, size_t whylen)
{
	struct sb b = {0};
	sb_str(&b, m->method);
	sb_ch(&b, '\n');
	/* The URI: S3 encodes the decoded path once; the others normalize the path as sent
	 * and encode it again (so "%3A" becomes "%253A"). */
	const char *path = m->path && *m->path ? m->path : "/";
	if (m->s3) {
		size_t dl;
		autofree char *dec = pct_decode(path, strlen(path), false, &dl);
		if (!dec) {
			free(b.p);
			setwhy(why, whylen, "the request path holds a malformed escape");
			return NULL;
		}
		sb_uri_encode(&b, dec, dl, true);
	} else {
		autofree char *norm = normalize_path(path);
		sb_uri_encode(&b, norm, strlen(norm), true);
	}
	sb_ch(&b, '\n');
	if (!canonical_query(&b, m->query, a->presigned, skip_token)) {
		free(b.p);
		setwhy(why, whylen, "the query string holds a malformed escape");
		return NULL;
	}
	sb_ch(&b, '\n');
	/* The signed headers, in the order the client listed them. */
	const char *p = a->signed_headers;
	while (*p) {
		size_t n = strcspn(p, ";");
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), p);
		sb_str(&b, name);
		sb_ch(&b, ':');
		bool first = true;
		for (size_t i = 0; i < m->nheaders; i++) {
			if (strcasecmp(m->headers[i].name, name) != 0)
				continue;
			if (!first)
				sb_ch(&b, ',');
			first = false;
			sb_header_value(&b, m->headers[i].value);
		}
		sb_ch(&b, '\n');
		p += n;
		if (*p == ';')
			p++;
	}
	sb_ch(&b, '\n');
	sb_str(&b, a->signed_headers);
	sb_ch(&b, '\n');
	sb_str(&b, payload_hash);
	return b.p;
}

char *sigv4_canonical_request(const struct sigv4_msg *m, const struct sigv4_auth *a, const char *payload_hash,
                              char *why, size_t whylen)
{
	return canonical_request(m, a, payload_hash, false, why, whylen);
}

char *sigv4_string_to_sign(const struct sigv4_auth *a, const char *creq)
{
	unsigned char h[32];
	char hex[65];
	digest(creq, strlen(creq), h);
	hex_of(h, 32, hex);
	return xasprintf(ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", a->amz_date, a->date, a->region,
	                 a->service, hex);
}

void sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
                       uint8_t key[32])
{
	size_t sl = strlen(secret);
	char *k = xmalloc(sl + 5);
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, sl + 1);
	unsigned char a[32], b[32];
	hmac(k, sl + 4, date, strlen(date), a);
	OPENSSL_cleanse(k, sl + 4);
	free(k);
	hmac(a, 32, region, strlen(region), b);
	hmac(b, 32, service, strlen(service), a);
	hmac(a, 32, "aws4_request", 12, key);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
}

void sigv4_sign(const uint8_t key[32], const char *sts, char out[65])
{
	unsigned char sig[32];
	hmac(key, 32, sts, strlen(sts), sig);
	hex_of(sig, 32, out);
}

bool sigv4_signature_equal(const char *sent, const char hex[65])
{
	if (strlen(sent) != 64)
		return false;
	return CRYPTO_memcmp(sent, hex, 64) == 0;
}

/* Whether creq's signature with key is a's. */
static bool signed_by(const struct sigv4_auth *a, const char *creq, const uint8_t key[32])
{
	autofree char *sts = sigv4_string_to_sign(a, creq);
	char hex[65];
	sigv4_sign(key, sts, hex);
	return sigv4_signature_equal(a->signature, hex);
}

enum sigv4_status sigv4_verify(const struct sigv4_msg *m, const struct sigv4_auth *a, const uint8_t key[32],
                               const char *payload_hash, char **creq_out, char *why, size_t whylen)
{
	char *creq = canonical_request(m, a, payload_hash, false, why, whylen);
	if (!creq)
		return SIGV4_INCOMPLETE;
	bool ok = signed_by(a, creq, key);
	/* A presigned URL may carry its session token added after signing (the suite's
	 * post-sts-header-after): then the token is not part of what was signed. */
	if (!ok && a->presigned && a->has_token) {
		char *alt = canonical_request(m, a, payload_hash, true, why, whylen);
		if (alt && signed_by(a, alt, key)) {
			free(creq);
			creq = alt;
			ok = true;
		} else {
			free(alt);
		}
	}
	/* Signers that encode the path once and keep it as it is (libcurl's CURLOPT_AWS_SIGV4,
	 * curl --aws-sigv4) sign with S3's rules for every service: the same request, the
	 * same secret, so that signature is accepted too. */
	if (!ok && !m->s3 && m->path &&
	    (strchr(m->path, '%') || strstr(m->path, "//") || strstr(m->path, "/."))) {
		struct sigv4_msg once = *m;
		once.s3 = true;
		char *alt = canonical_request(&once, a, payload_hash, false, NULL, 0);
		if (alt && signed_by(a, alt, key)) {
			free(creq);
			creq = alt;
			ok = true;
		} else {
			free(alt);
		}
	}
	if (creq_out)
		*creq_out = creq;
	else
		free(creq);
	if (!ok) {
		setwhy(why, whylen,
		       "The request signature we calculated does not match the signature you provided. Check "
		       "your AWS Secret Access Key and signing method. Consult the service documentation for "
		       "details.");
		return SIGV4_MISMATCH;
	}
	return SIGV4_OK;
}

enum sigv4_status sigv4_check_time(const struct sigv4_auth *a, int64_t now_s, int64_t window_s, char *why,
                                   size_t whylen)
{
	int64_t t = sigv4_parse_amz_date(a->amz_date);
	if (t < 0) {
		setwhy(why, whylen, "Date must be in ISO-8601 'basic format'. Got '%s'.", a->amz_date);
		return SIGV4_INCOMPLETE;
	}
	char now[17], edge[17];
	sigv4_fmt_amz_date(now_s, now);
	long long min = (long long)(window_s / 60);
	if (a->presigned) {
		if (now_s > t + a->expires_s) {
			setwhy(why, whylen, "Request has expired");
			return SIGV4_EXPIRED;
		}
		if (t > now_s + window_s) {
			setwhy(why, whylen, "Request is not valid yet");
			return SIGV4_SKEWED;
		}
		return SIGV4_OK;
	}
	if (t < now_s - window_s) {
		sigv4_fmt_amz_date(now_s - window_s, edge);
		setwhy(why, whylen, "Signature expired: %s is now earlier than %s (%s - %lld min.)",
		       a->amz_date, edge, now, min);
		return SIGV4_SKEWED;
	}
	if (t > now_s + window_s) {
		sigv4_fmt_amz_date(now_s + window_s, edge);
		setwhy(why, whylen, "Signature not yet current: %s is still later than %s (%s + %lld min.)",
		       a->amz_date, edge, now, min);
		return SIGV4_SKEWED;
	}
	return SIGV4_OK;
}
