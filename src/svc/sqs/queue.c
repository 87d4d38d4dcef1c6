/* SQS's model: queues (their configuration in the collection sqs.queues) and messages
 * (each queue's items in the store queue sqs.messages.<name>), held in memory and written
 * through to the store; the recovery at start; receipt handles; the attribute MD5. */
#include <errno.h>
#include <inttypes.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/hash.h"
#include "svc/sqs/sqs_int.h"

/* ---------------------------------------------------------------- the MD5 of attributes */

static void put_len_bytes(EVP_MD_CTX *ctx, const void *p, size_t len)
{
	unsigned char l[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
	                      (unsigned char)(len >> 8), (unsigned char)len};
	EVP_DigestUpdate(ctx, l, 4);
	EVP_DigestUpdate(ctx, p, len);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sqs_md5_attrs(json_t *attrs, char out[33])
{
	size_t n = json_object_size(attrs), i = 0;
	const char **names = xcalloc(n ? n : 1, sizeof(*names));
	const char *k;
	json_t *v;
	json_object_foreach(attrs, k, v)
		names[i++] = k;
	qsort(names, n, sizeof(*names), cmp_str);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	int r = 0;
	for (i = 0; i < n && r == 0; i++) {
		json_t *a = json_object_get(attrs, names[i]);
		const char *type = json_string_value(json_object_get(a, "DataType"));
		if (!type) {
			r = -EINVAL;
			break;
		}
		put_len_bytes(ctx, names[i], strlen(names[i]));
		put_len_bytes(ctx, type, strlen(type));
		if (strncmp(type, "Binary", 6) == 0) {
			const char *b64 = json_string_value(json_object_get(a, "BinaryValue"));
			size_t blen = 0;
			unsigned char *raw = b64 ? b64_decode(b64, strlen(b64), &blen) : NULL;
			if (!raw) {
				r = -EINVAL;
				break;
			}
			EVP_DigestUpdate(ctx, "\x02", 1);
			put_len_bytes(ctx, raw, blen);
			free(raw);
		} else {
			const char *sv = json_string_value(json_object_get(a, "StringValue"));
			if (!sv) {
				r = -EINVAL;
				break;
			}
			EVP_DigestUpdate(ctx, "\x01", 1);
			put_len_bytes(ctx, sv, strlen(sv));
		}
	}
	unsigned char md[16];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	free(names);
	if (r == 0)
		hex_encode(md, 16, out);
	return r;
}

/* ---------------------------------------------------------------- queues */

void sqs__queue_arn(const struct sqs_queue *q, char *out, size_t outsz)
{
	snprintf(out, outsz, "arn:aws:sqs:%s:%s:%s", q->s->region, q->s->account, q->name);
}

int64_t sqs__queue_int(const struct sqs_queue *q, const char *name)
{
	const char *v = json_string_value(json_object_get(q->attrs, name));
	return v ? strtoll(v, NULL, 10) : 0;
}

static struct sqs_queue *queue_new(struct sqs *s, const char *name, json_t *attrs, json_t *tags)
{
	struct sqs_queue *q = xcalloc(1, sizeof(*q));
	q->s = s;
	q->name = xstrdup(name);
	q->qname = xasprintf("%s%s", SQS_QPREFIX, name);
	q->attrs = attrs;
	q->tags = tags ? tags : json_object();
	const char *fifo = json_string_value(json_object_get(attrs, "FifoQueue"));
	q->fifo = fifo && strcmp(fifo, "true") == 0;
	q->dedup = json_object();
	q->bits = 10;
	q->table = xcalloc((size_t)1 << q->bits, sizeof(*q->table));
	return q;
}

static void queue_free(struct sqs_queue *q)
{
	if (!q)
		return;
	sqs__waiters_end(q);
	for (struct sqs_msg *m = q->head, *n; m; m = n) {
		n = m->next;
		sqs__msg_free(m);
	}
	if (q->wake)
		event_free(q->wake);
	json_decref(q->attrs);
	json_decref(q->tags);
	json_decref(q->dedup);
	free(q->table);
	free(q->name);
	free(q->qname);
	free(q);
}

void sqs__queues_free(struct sqs *s)
{
	map_fini(&s->queues, (void (*)(void *))queue_free);
}

struct sqs_queue *sqs__queue_get(struct sqs *s, const char *name)
{
	return name ? map_get(&s->queues, name) : NULL;
}

int sqs__queue_save(struct sqs_queue *q, struct err *errp)
{
	json_t *o = json_pack("{s:O, s:O, s:I, s:I, s:I}", "attrs", q->attrs, "tags", q->tags, "created",
	                      (json_int_t)q->created_s, "modified", (json_int_t)q->modified_s, "purged",
	                      (json_int_t)q->purged_ms);
	char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	int r = store_put(q->s->st, SQS_COLL, q->name, txt, strlen(txt), STORE_REV_ANY, NULL, errp);
	free(txt);
	return r;
}

struct sqs_queue *sqs__queue_add(struct sqs *s, const char *name, json_t *attrs, json_t *tags,
                                 struct err *errp)
{
	struct sqs_queue *q = queue_new(s, name, attrs, tags);
	q->created_s = q->modified_s = clock_wall_ms() / 1000;
	if (sqs__queue_save(q, errp) < 0) {
		queue_free(q);
		return NULL;
	}
	map_put(&s->queues, name, q, NULL);
	return q;
}

int sqs__queue_purge(struct sqs_queue *q, struct err *errp)
{
	for (struct sqs_msg *m = q->head, *n; m; m = n) {
		n = m->next;
		int r = sqs__msg_del(q, m, errp);
		if (r < 0)
			return r;
	}
	json_object_clear(q->dedup);
	return 0;
}

int sqs__queue_del(struct sqs_queue *q, struct err *errp)
{
	int r = sqs__queue_purge(q, errp);
	if (r == 0)
		r = store_del(q->s->st, SQS_COLL, q->name, STORE_REV_ANY, errp);
	if (r < 0)
		return r;
	struct sqs_queue *gone = NULL;
	map_del(&q->s->queues, q->name, (void **)&gone);
	queue_free(gone);
	return 0;
}

/* ---------------------------------------------------------------- messages */

void sqs__msg_free(struct sqs_msg *m)
{
	if (!m)
		return;
	free(m->body);
	json_decref(m->mattrs);
	free(m->group);
	free(m->dedup);
	free(m->trace);
	free(m->dlq_source);
	free(m->sender);
	free(m);
}

static size_t slot(const struct sqs_queue *q, uint64_t seq)
{
	return hash_index(seq, q->bits);
}

static void table_grow(struct sqs_queue *q)
{
	if (q->nmsgs < ((size_t)1 << q->bits))
		return;
	q->bits++;
	free(q->table);
	q->table = xcalloc((size_t)1 << q->bits, sizeof(*q->table));
	for (struct sqs_msg *m = q->head; m; m = m->next) {
		size_t i = slot(q, m->seq);
		m->hnext = q->table[i];
		q->table[i] = m;
	}
}

/* Links m into q's list (at its place by seq: at the end when it is the newest) and table. */
static void link_msg(struct sqs_queue *q, struct sqs_msg *m)
{
	table_grow(q); /* first: it rehashes the messages of the list, which m is not in yet */
	struct sqs_msg *after = q->tail;
	while (after && after->seq > m->seq)
		after = after->prev;
	m->prev = after;
	m->next = after ? after->next : q->head;
	if (m->next)
		m->next->prev = m;
	else
		q->tail = m;
	if (after)
		after->next = m;
	else
		q->head = m;
	q->nmsgs++;
	size_t i = slot(q, m->seq);
	m->hnext = q->table[i];
	q->table[i] = m;
}

struct sqs_msg *sqs__msg_get(struct sqs_queue *q, uint64_t seq)
{
	for (struct sqs_msg *m = q->table[slot(q, seq)]; m; m = m->hnext)
		if (m->seq == seq)
			return m;
	return NULL;
}

/* The store attributes of m (owned text). */
static char *msg_attrs(const struct sqs_msg *m)
{
	json_t *o =
	    json_pack("{s:s, s:I, s:I, s:I, s:s}", "id", m->id, "sent", (json_int_t)m->sent_ms, "first",
	              (json_int_t)m->first_recv_ms, "rc", (json_int_t)m->recv_count, "mb", m->md5_body);
	if (m->mattrs) {
		json_object_set(o, "ma", m->mattrs);
		json_object_set_new(o, "mm", json_string(m->md5_attrs));
	}
	if (m->group)
		json_object_set_new(o, "g", json_string(m->group));
	if (m->dedup)
		json_object_set_new(o, "d", json_string(m->dedup));
	if (m->trace)
		json_object_set_new(o, "th", json_string(m->trace));
	if (m->dlq_source)
		json_object_set_new(o, "src", json_string(m->dlq_source));
	if (m->sender)
		json_object_set_new(o, "sid", json_string(m->sender));
	char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return txt;
}

int sqs__msg_add(struct sqs_queue *q, struct sqs_msg *m, struct err *errp)
{
	char *attrs = msg_attrs(m);
	struct store_receipt rc;
	int r = store_qappend(q->s->st, q->qname, m->body, m->body_len, attrs, m->visible_at_ms, &rc, errp);
	free(attrs);
	if (r < 0) {
		sqs__msg_free(m);
		return r;
	}
	m->seq = rc.seq;
	link_msg(q, m);
	return 0;
}

int sqs__msg_save(struct sqs_queue *q, struct sqs_msg *m, struct err *errp)
{
	char *attrs = msg_attrs(m);
	struct store_receipt rc = {.seq = m->seq, .lease = 0};
	int r = store_qchange(q->s->st, q->qname, &rc, m->visible_at_ms, attrs, errp);
	free(attrs);
	return r;
}

int sqs__msg_del(struct sqs_queue *q, struct sqs_msg *m, struct err *errp)
{
	struct store_receipt rc = {.seq = m->seq, .lease = 0};
	int r = store_qack(q->s->st, q->qname, &rc, errp);
	if (r < 0 && r != -ESTALE)
		return r;
	struct sqs_msg **pp = &q->table[slot(q, m->seq)];
	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	if (m->prev)
		m->prev->next = m->next;
	else
		q->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		q->tail = m->prev;
	q->nmsgs--;
	sqs__msg_free(m);
	return 0;
}

/* A receipt handle: the message's seq, its lease (receive count) and a check of the
 * queue's name, so a handle of another queue is told apart from a deleted message's. */
void sqs__receipt(const struct sqs_queue *q, const struct sqs_msg *m, char out[64])
{
	snprintf(out, 64, "%016" PRIx64 "-%08" PRIx32 "-%08" PRIx32, m->seq, m->recv_count,
	         (uint32_t)hash_str(q->name));
}

int sqs__receipt_parse(const struct sqs_queue *q, const char *h, uint64_t *seq, uint32_t *lease)
{
	if (!h || strlen(h) != 34 || h[16] != '-' || h[25] != '-' || strspn(h, "0123456789abcdef-") != 34)
		return -EINVAL;
	char buf[17];
	memcpy(buf, h, 16);
	buf[16] = 0;
	*seq = strtoull(buf, NULL, 16);
	memcpy(buf, h + 17, 8);
	buf[8] = 0;
	*lease = (uint32_t)strtoul(buf, NULL, 16);
	uint32_t check = (uint32_t)strtoul(h + 26, NULL, 16);
	return check == (uint32_t)hash_str(q->name) ? 0 : -EINVAL;
}

/* ---------------------------------------------------------------- recovery */

static char *dup_member(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? xstrdup(v) : NULL;
}

static int load_msg_cb(const struct store_qitem *it, void *arg)
{
	struct sqs_queue *q = arg;
	json_t *a = it->attrs ? json_loads(it->attrs, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(a, "id"));
	if (!id) {
		log_warn("sqs: queue %s: message %" PRIu64 " has no attributes; dropped", q->name,
		         it->receipt.seq);
		json_decref(a);
		return 0;
	}
	struct sqs_msg *m = xcalloc(1, sizeof(*m));
	m->seq = it->receipt.seq;
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->body = xmalloc(it->len + 1);
	memcpy(m->body, it->payload, it->len);
	m->body[it->len] = 0;
	m->body_len = it->len;
	m->visible_at_ms = it->visible_at_ms;
	m->sent_ms = json_integer_value(json_object_get(a, "sent"));
	m->first_recv_ms = json_integer_value(json_object_get(a, "first"));
	m->recv_count = (uint32_t)json_integer_value(json_object_get(a, "rc"));
	snprintf(m->md5_body, sizeof(m->md5_body), "%s", json_string_value(json_object_get(a, "mb")) ?: "");
	json_t *ma = json_object_get(a, "ma");
	if (json_is_object(ma)) {
		m->mattrs = json_incref(ma);
		snprintf(m->md5_attrs, sizeof(m->md5_attrs), "%s",
		         json_string_value(json_object_get(a, "mm")) ?: "");
	}
	m->group = dup_member(a, "g");
	m->dedup = dup_member(a, "d");
	m->trace = dup_member(a, "th");
	m->dlq_source = dup_member(a, "src");
	m->sender = dup_member(a, "sid");
	json_decref(a);
	link_msg(q, m);
	if (m->dedup && m->sent_ms + SQS_DEDUP_MS > clock_wall_ms()) {
		char sn[24];
		snprintf(sn, sizeof(sn), "%020" PRIu64, m->seq);
		json_object_set_new(
		    q->dedup, m->dedup,
		    json_pack("[I, s, s]", (json_int_t)(m->sent_ms + SQS_DEDUP_MS), m->id, sn));
	}
	return 0;
}

struct load_ctx {
	struct sqs *s;
	json_t *cfgs; /* {name: configuration} */
};

static int load_queue_cb(const struct store_item *it, void *arg)
{
	struct load_ctx *lc = arg;
	json_t *o = json_loadb(it->value, it->len, 0, NULL);
	if (!json_is_object(o) || !json_is_object(json_object_get(o, "attrs"))) {
		log_warn("sqs: queue %s: unreadable configuration; skipped", it->key);
		json_decref(o);
		return 0;
	}
	json_object_set_new(lc->cfgs, it->key, o);
	return 0;
}

int sqs__load(struct sqs *s, struct err *errp)
{
	struct load_ctx lc = {.s = s, .cfgs = json_object()};
	int r = store_scan(s->st, SQS_COLL, NULL, NULL, 0, load_queue_cb, &lc, errp);
	const char *name;
	json_t *o;
	json_object_foreach(lc.cfgs, name, o) {
		if (r < 0)
			break;
		json_t *tags = json_object_get(o, "tags");
		struct sqs_queue *q = queue_new(s, name, json_incref(json_object_get(o, "attrs")),
		                                json_is_object(tags) ? json_incref(tags) : NULL);
		q->created_s = json_integer_value(json_object_get(o, "created"));
		q->modified_s = json_integer_value(json_object_get(o, "modified"));
		q->purged_ms = json_integer_value(json_object_get(o, "purged"));
		map_put(&s->queues, name, q, NULL);
		r = store_qscan(s->st, q->qname, load_msg_cb, q, errp);
	}
	json_decref(lc.cfgs);
	return r < 0 ? r : 0;
}
