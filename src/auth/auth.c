/* The access-key table, the root key of first start, and the front's SigV4 check
 * (auth.h). A secret never goes into a log line: refusals log the key id only. */
#include "auth/auth.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"

#define AUTH_COLL "auth.access_keys"
#define AUTH_KEYS_CACHED 32
/* Bodies up to this are hashed on the loop (tens of microseconds); larger ones on the
 * worker pool. */
#define AUTH_INLINE_HASH_MAX (64 * 1024)
#define AUTH_HEADERS_MAX 128

struct access_key {
	char *akid, *secret, *arn;
	bool root;
};

struct cached_key {
	char scope[256]; /* akid/date/region/service */
	uint8_t key[32];
};

struct auth {
	struct store *store;
	struct pool *pool;
	enum auth_mode mode;
	bool test_credentials;
	int64_t skew_s;
	char *account;
	struct access_key *keys;
	size_t nkeys;
	const struct access_key *root;
	char *root_file;
	struct cached_key cache[AUTH_KEYS_CACHED];
	size_t cache_next;
	uint64_t counts[SIGV4_BAD_PAYLOAD + 1];
};

/* ---------------------------------------------------------------- the key table */

static void add_key(struct auth *au, const char *akid, const char *secret, const char *arn, bool root)
{
	au->keys = xrealloc(au->keys, (au->nkeys + 1) * sizeof(*au->keys));
	au->keys[au->nkeys++] = (struct access_key){
	    .akid = xstrdup(akid), .secret = xstrdup(secret), .arn = xstrdup(arn), .root = root};
}

static int load_cb(const struct store_item *it, void *arg)
{
	struct auth *au = arg;
	json_t *o = json_loadb(it->value, it->len, 0, NULL);
	const char *secret = json_string_value(json_object_get(o, "SecretAccessKey"));
	const char *arn = json_string_value(json_object_get(o, "Arn"));
	if (secret && arn)
		add_key(au, it->key, secret, arn, json_is_true(json_object_get(o, "Root")));
	else
		log_warn("auth: access key %s in the store is malformed, ignored", it->key);
	json_decref(o);
	return 0;
}

/* n random characters of alphabet into out (NUL-terminated). */
static int random_chars(char *out, size_t n, const char *alphabet, struct err *errp)
{
	unsigned char r[64];
	size_t an = strlen(alphabet);
	if (n > sizeof(r) || getrandom(r, n, 0) != (ssize_t)n)
		return err_make(errp, errno ? errno : EIO, "auth: cannot read random bytes: %s",
		                strerror(errno));
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[r[i] % an];
	out[n] = 0;
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

/* Makes the root access key: stored (committed), written to au->root_file (0600) and
 * printed once. */
static int make_root(struct auth *au, struct err *errp)
{
	char akid[21], secret[41];
	memcpy(akid, "AKIA", 4);
	int r = random_chars(akid + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", errp);
	if (r < 0 ||
	    (r = random_chars(secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
	                      errp)) < 0)
		return r;
	autofree char *arn = xasprintf("arn:aws:iam::%s:root", au->account);
	char created[32];
	clock_fmt_iso(clock_wall_ms(), created);
	json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "SecretAccessKey", secret, "Arn", arn, "CreateDate",
	                      created, "Root", 1);
	char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	r = store_put(au->store, AUTH_COLL, akid, txt, strlen(txt), 0, NULL, errp);
	OPENSSL_cleanse(txt, strlen(txt));
	free(txt);
	if (r < 0 || (r = store_commit(au->store, errp)) < 0)
		return r;
	autofree char *tmp = xasprintf("%s.tmp", au->root_file);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_make(errp, errno, "auth: cannot create %s: %s", tmp, strerror(errno));
	autofree char *ini =
	    xasprintf("[lambdad]\naws_access_key_id = %s\naws_secret_access_key = %s\n", akid, secret);
	bool ok = write(fd, ini, strlen(ini)) == (ssize_t)strlen(ini) && fsync(fd) == 0;
	OPENSSL_cleanse(ini, strlen(ini));
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, au->root_file) < 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return err_make(errp, e, "auth: cannot write %s: %s", au->root_file, strerror(e));
	}
	add_key(au, akid, secret, arn, true);
	/* Once, on stdout and not in the log: the only time the secret is shown. */
	printf("lambdad: created the root access key (kept in %s, profile lambdad):\n"
	       "  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n",
	       au->root_file, akid, secret);
	fflush(stdout);
	OPENSSL_cleanse(secret, sizeof(secret));
	return 0;
}

int auth_new(struct store *st, struct pool *pool, const struct auth_config *cfg, struct auth **out,
             struct err *errp)
{
	struct auth *au = xcalloc(1, sizeof(*au));
	au->store = st;
	au->pool = pool;
	au->mode = cfg->mode;
	au->test_credentials = cfg->test_credentials;
	au->skew_s = cfg->skew_s > 0 ? cfg->skew_s : 15 * 60;
	au->account = xstrdup(cfg->account ? cfg->account : "000000000000");
	au->root_file = xasprintf("%s/credentials", store_data_dir(st));
	/* The store's database (store_sqlite.c: DATA/lambdad.db, WAL) holds the secrets of
	 * the key table: readable by its owner only, as DATA/credentials is. SQLite gives a
	 * new -wal and -shm the database's mode. */
	static const char *const db_files[] = {"lambdad.db", "lambdad.db-wal", "lambdad.db-shm"};
	for (size_t i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++) {
		autofree char *p = xasprintf("%s/%s", store_data_dir(st), db_files[i]);
		if (chmod(p, 0600) < 0 && errno != ENOENT) {
			int e = errno;
			auth_free(au);
			return err_make(errp, e, "auth: cannot make %s private (chmod 0600): %s", p,
			                strerror(e));
		}
	}
	int r = store_scan(st, AUTH_COLL, NULL, NULL, 0, load_cb, au, errp);
	if (r < 0) {
		auth_free(au);
		return r;
	}
	if (au->nkeys == 0 && (r = make_root(au, errp)) < 0) {
		auth_free(au);
		return r;
	}
	if (au->test_credentials)
		add_key(au, "test", "test", "", false);
	/* After every add_key: it may move the table. */
	au->root = &au->keys[0];
	for (size_t i = 0; i < au->nkeys; i++)
		if (au->keys[i].root)
			au->root = &au->keys[i];
	if (access(au->root_file, F_OK) < 0)
		log_warn("auth: %s is missing: the root access key %s is still valid, its secret only in the "
		         "store",
		         au->root_file, au->root->akid);
	if (au->test_credentials) {
		free(au->keys[au->nkeys - 1].arn);
		au->keys[au->nkeys - 1].arn = xstrdup(au->root->arn);
	}
	*out = au;
	return 0;
}

void auth_free(struct auth *au)
{
	if (!au)
		return;
	for (size_t i = 0; i < au->nkeys; i++) {
		OPENSSL_cleanse(au->keys[i].secret, strlen(au->keys[i].secret));
		free(au->keys[i].akid);
		free(au->keys[i].secret);
		free(au->keys[i].arn);
	}
	OPENSSL_cleanse(au->cache, sizeof(au->cache));
	free(au->keys);
	free(au->account);
	free(au->root_file);
	free(au);
}

const char *auth_root_key_id(const struct auth *au)
{
	return au->root->akid;
}

const char *auth_root_secret(const struct auth *au)
{
	return au->root->secret;
}

const char *auth_root_file(const struct auth *au)
{
	return au->root_file;
}

const char *auth_lookup(const struct auth *au, const char *akid, const char **arn)
{
	for (size_t i = 0; i < au->nkeys; i++) {
		if (strcmp(au->keys[i].akid, akid) == 0) {
			if (arn)
				*arn = au->keys[i].arn;
			return au->keys[i].secret;
		}
	}
	return NULL;
}

uint64_t auth_count(const struct auth *au, enum sigv4_status st)
{
	return (size_t)st < sizeof(au->counts) / sizeof(au->counts[0]) ? au->counts[st] : 0;
}

/* The signing key of a's scope with secret, from the cache or derived into it. */
static const uint8_t *signing_key(struct auth *au, const struct sigv4_auth *a, const char *secret)
{
	char scope[256];
	snprintf(scope, sizeof(scope), "%s/%s/%s/%s", a->akid, a->date, a->region, a->service);
	for (size_t i = 0; i < AUTH_KEYS_CACHED; i++)
		if (strcmp(au->cache[i].scope, scope) == 0)
			return au->cache[i].key;
	struct cached_key *c = &au->cache[au->cache_next];
	au->cache_next = (au->cache_next + 1) % AUTH_KEYS_CACHED;
	snprintf(c->scope, sizeof(c->scope), "%s", scope);
	sigv4_signing_key(secret, a->date, a->region, a->service, c->key);
	return c->key;
}

/* ---------------------------------------------------------------- the front's check */

static bool is_hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static void sha256_evbuffer(struct evbuffer *b, char out[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, sigv4_md(), NULL);
	/* evbuffer_peek fills at most 16 extents a call (whatever it says it needs), so
	 * walk by offset until the whole length is hashed. */
	size_t total = evbuffer_get_length(b), done = 0;
	struct evbuffer_iovec v[16];
	while (done < total) {
		struct evbuffer_ptr pos;
		if (evbuffer_ptr_set(b, &pos, done, EVBUFFER_PTR_SET) < 0)
			break;
		int n = evbuffer_peek(b, (ev_ssize_t)(total - done), &pos, v, 16);
		size_t got = 0;
		for (int i = 0; i < n && i < 16; i++) {
			size_t l = v[i].iov_len;
			if (got + l > total - done)
				l = total - done - got;
			EVP_DigestUpdate(ctx, v[i].iov_base, l);
			got += l;
		}
		if (got == 0)
			break;
		done += got;
	}
	unsigned char d[32];
	unsigned int dl = 32;
	EVP_DigestFinal_ex(ctx, d, &dl);
	EVP_MD_CTX_free(ctx);
	static const char hexd[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hexd[d[i] >> 4];
		out[2 * i + 1] = hexd[d[i] & 15];
	}
	out[64] = 0;
}

/* A body hashed on the pool: the body's bytes are moved into job->body (no copy) for the
 * worker, and back into the request on the loop. */
struct hash_job {
	struct auth *au;
	struct front_req *rq;
	const struct svc *s;
	front_verified_cb done;
	void *done_arg;
	struct evbuffer *body;
	char hex[65];
};

static void check(struct auth *au, struct front_req *rq, const struct svc *s, front_verified_cb done,
                  void *done_arg, const char *body_hex);

static void hash_work_cb(void *arg)
{
	struct hash_job *j = arg;
	sha256_evbuffer(j->body, j->hex);
}

static void hash_done_cb(void *arg)
{
	struct hash_job *j = arg;
	if (front_req_gone(j->rq)) {
		/* The client went away: its body is no longer ours to give back, and the answer
		 * is dropped whatever it says. */
		svc_reply_error(j->rq, j->s, 0, NULL, "the client went away");
	} else {
		evbuffer_add_buffer(front_req_body(j->rq), j->body);
		check(j->au, j->rq, j->s, j->done, j->done_arg, j->hex);
	}
	evbuffer_free(j->body);
	free(j);
}

static void refuse(struct auth *au, struct front_req *rq, const struct svc *s, enum sigv4_status st,
                   const struct sigv4_auth *a, const char *msg)
{
	au->counts[st]++;
	const char *peer = front_req_peer(rq);
	log_info("auth: refused %s %s from %s (%s, access key %s): %s", front_req_method_name(rq),
	         front_req_path(rq) ? front_req_path(rq) : "?", peer ? peer : "?", s->name,
	         a && a->akid[0] ? a->akid : "none", msg);
	if (s->auth_error)
		s->auth_error(rq, s, st, msg);
	else
		front_auth_error(rq, s, st, msg);
}

/* The request's headers as sigv4 wants them, into v (cap entries); their count. */
static size_t collect_headers(const struct front_req *rq, struct sigv4_hdr *v, size_t cap)
{
	size_t n = 0;
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, front_req_headers(rq), next) {
		if (n == cap)
			break;
		v[n].name = kv->key;
		v[n++].value = kv->value;
	}
	return n;
}

/* Verifies rq; body_hex is its body's SHA-256 once known (NULL: not computed yet). */
static void check(struct auth *au, struct front_req *rq, const struct svc *s, front_verified_cb done,
                  void *done_arg, const char *body_hex)
{
	struct sigv4_hdr hv[AUTH_HEADERS_MAX];
	struct sigv4_msg m = {.method = front_req_method_name(rq),
	                      .path = front_req_path(rq),
	                      .query = front_req_query_string(rq),
	                      .headers = hv,
	                      .nheaders = collect_headers(rq, hv, AUTH_HEADERS_MAX),
	                      .s3 = strcmp(s->name, "s3") == 0};
	struct sigv4_auth a;
	char why[1024];
	enum sigv4_status st = sigv4_parse(&m, &a, why, sizeof(why));
	if (st)
		return refuse(au, rq, s, st, NULL, why);
	const char *arn = NULL;
	const char *secret = auth_lookup(au, a.akid, &arn);
	/* lambdad hands out no session tokens (yet): one sent is not ours, as AWS answers. */
	if (!secret || a.has_token)
		return refuse(au, rq, s, SIGV4_UNKNOWN_KEY, &a,
		              "The security token included in the request is invalid.");
	if ((st = sigv4_check_time(&a, clock_wall_ms() / 1000, au->skew_s, why, sizeof(why))))
		return refuse(au, rq, s, st, &a, why);
	const char *sent = front_req_header(rq, "X-Amz-Content-SHA256");
	bool streamed = front_req_streamed(rq);
	bool presigned_unsigned = m.s3 && a.presigned;
	bool need_body = !streamed && ((!sent && !presigned_unsigned) || (sent && is_hex64(sent)));
	char hex[65];
	if (need_body && !body_hex) {
		struct evbuffer *b = front_req_body(rq);
		if (evbuffer_get_length(b) <= AUTH_INLINE_HASH_MAX || !au->pool) {
			sha256_evbuffer(b, hex);
			body_hex = hex;
		} else {
			struct hash_job *j = xcalloc(1, sizeof(*j));
			*j = (struct hash_job){.au = au,
			                       .rq = rq,
			                       .s = s,
			                       .done = done,
			                       .done_arg = done_arg,
			                       .body = evbuffer_new()};
			evbuffer_add_buffer(j->body, b);
			pool_submit(au->pool, hash_work_cb, hash_done_cb, j);
			return;
		}
	}
	const char *payload = sent ? sent : presigned_unsigned ? "UNSIGNED-PAYLOAD" : body_hex;
	if (!payload)
		payload = SIGV4_EMPTY_SHA256;
	if ((st = sigv4_verify(&m, &a, signing_key(au, &a, secret), payload, NULL, why, sizeof(why))))
		return refuse(au, rq, s, st, &a, why);
	if (sent && body_hex && strcmp(sent, body_hex) != 0)
		return refuse(au, rq, s, SIGV4_BAD_PAYLOAD, &a,
		              "The provided 'x-amz-content-sha256' header does not match what was computed.");
	au->counts[SIGV4_OK]++;
	done(rq, done_arg);
}

void auth_front_verify(void *arg, struct front_req *rq, const struct svc *s, front_verified_cb done,
                       void *done_arg)
{
	struct auth *au = arg;
	if (!au || au->mode == AUTH_NONE)
		return done(rq, done_arg);
	check(au, rq, s, done, done_arg, NULL);
}
