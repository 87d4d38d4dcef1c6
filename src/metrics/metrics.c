/* The metrics registry and the Prometheus text renderer (see metrics.h): collectors
 * fill a scrape's families at scrape time, then the families are written in order. */
#include <inttypes.h>
#include <lambdad/xmalloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

struct collector {
	metrics_collect_fn *fn;
	void *arg; /* borrowed */
};

struct metrics {
	struct collector *c; /* owned, n of cap */
	size_t n, cap;
};

struct family {
	const char *name, *help; /* borrowed: the collector's constants */
	enum metrics_type type;
	struct evbuffer *samples; /* owned: its sample lines so far */
};

struct metrics_scrape {
	struct family *f; /* owned, n of cap, in the order first declared */
	size_t n, cap;
	struct family *cur; /* the current family, in f; NULL before the first */
};

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->c);
	free(m);
}

void metrics_register(struct metrics *m, metrics_collect_fn *fn, void *arg)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 8;
		m->c = xrealloc(m->c, m->cap * sizeof(*m->c));
	}
	m->c[m->n++] = (struct collector){fn, arg};
}

void metrics_unregister(struct metrics *m, metrics_collect_fn *fn, void *arg)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->c[i].fn == fn && m->c[i].arg == arg) {
			memmove(&m->c[i], &m->c[i + 1], (m->n - i - 1) * sizeof(*m->c));
			m->n--;
			return;
		}
}

/* Metric names [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without the colon. */
static bool valid_name(const char *s, bool colon)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

void metrics_family(struct metrics_scrape *s, const char *name, enum metrics_type type, const char *help)
{
	if (!valid_name(name, true) || strchr(help, '\n')) {
		fprintf(stderr, "metrics: bad family %s\n", name);
		abort();
	}
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->f[i].name, name) == 0) {
			if (s->f[i].type != type) {
				fprintf(stderr, "metrics: family %s declared with two types\n", name);
				abort();
			}
			s->cur = &s->f[i];
			return;
		}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->f = xrealloc(s->f, s->cap * sizeof(*s->f));
	}
	struct evbuffer *b = evbuffer_new();
	if (!b)
		abort();
	s->f[s->n] = (struct family){.name = name, .help = help, .type = type, .samples = b};
	s->cur = &s->f[s->n++];
}

/* The current family, which must be of one of the types a and b. */
static struct family *current(struct metrics_scrape *s, enum metrics_type a, enum metrics_type b)
{
	if (!s->cur || (s->cur->type != a && s->cur->type != b)) {
		fprintf(stderr, "metrics: sample outside a family of its type\n");
		abort();
	}
	return s->cur;
}

/* A label value with backslash, double quote and line feed escaped, as the format asks. */
static void put_label_value(struct evbuffer *out, const char *v)
{
	while (*v) {
		size_t n = strcspn(v, "\\\"\n");
		evbuffer_add(out, v, n);
		v += n;
		if (!*v)
			break;
		evbuffer_add(out, *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : "\\n", 2);
		v++;
	}
}

static void put_label(struct evbuffer *out, bool first, const char *name, const char *value)
{
	evbuffer_add_printf(out, "%s%s=\"", first ? "" : ",", name);
	put_label_value(out, value);
	evbuffer_add(out, "\"", 1);
}

/* Writes "name<suffix>{labels,le="le"} " (the braces only if there is a label); le may be
 * NULL. The caller writes the value and the newline. */
static void put_series(struct evbuffer *out, const char *name, const char *suffix,
                       const struct metrics_label *labels, size_t n, const char *le)
{
	evbuffer_add_printf(out, "%s%s", name, suffix);
	if (!n && !le) {
		evbuffer_add(out, " ", 1);
		return;
	}
	evbuffer_add(out, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (!valid_name(labels[i].name, false) || strcmp(labels[i].name, "le") == 0) {
			fprintf(stderr, "metrics: bad label name %s on %s\n", labels[i].name, name);
			abort();
		}
		put_label(out, i == 0, labels[i].name, labels[i].value);
	}
	if (le)
		put_label(out, n == 0, "le", le);
	evbuffer_add(out, "} ", 2);
}

void metrics_sample_u64(struct metrics_scrape *s, const struct metrics_label *labels, size_t n, uint64_t v)
{
	struct family *f = current(s, METRICS_COUNTER, METRICS_GAUGE);
	put_series(f->samples, f->name, "", labels, n, NULL);
	evbuffer_add_printf(f->samples, "%" PRIu64 "\n", v);
}

void metrics_sample_f(struct metrics_scrape *s, const struct metrics_label *labels, size_t n, double v)
{
	struct family *f = current(s, METRICS_COUNTER, METRICS_GAUGE);
	put_series(f->samples, f->name, "", labels, n, NULL);
	evbuffer_add_printf(f->samples, "%.17g\n", v);
}

void metrics_hist(struct metrics_scrape *s, const struct metrics_label *labels, size_t n,
                  const double *bounds, size_t nb, const uint64_t *counts, double sum)
{
	struct family *f = current(s, METRICS_HISTOGRAM, METRICS_HISTOGRAM);
	/* +Inf and _count are both the sum of every bucket, so the histogram stays
	 * consistent whatever total the source keeps on the side. */
	uint64_t cum = 0;
	char le[32];
	for (size_t i = 0; i <= nb; i++) {
		cum += counts[i];
		if (i < nb)
			snprintf(le, sizeof(le), "%.15g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_series(f->samples, f->name, "_bucket", labels, n, le);
		evbuffer_add_printf(f->samples, "%" PRIu64 "\n", cum);
	}
	put_series(f->samples, f->name, "_sum", labels, n, NULL);
	evbuffer_add_printf(f->samples, "%.15g\n", sum);
	put_series(f->samples, f->name, "_count", labels, n, NULL);
	evbuffer_add_printf(f->samples, "%" PRIu64 "\n", cum);
}

/* Writes the families of s to out (but empty counters and gauges) and frees them all. */
static void scrape_finish(struct metrics_scrape *s, struct evbuffer *out)
{
	for (size_t i = 0; i < s->n; i++) {
		struct family *f = &s->f[i];
		/* A counter or gauge with no series yet (no queue, no mapping) is left out: a
		 * scraper sees it with its first series. A histogram is declared even before its
		 * first observation, as its buckets are. */
		if (evbuffer_get_length(f->samples) > 0 || f->type == METRICS_HISTOGRAM) {
			evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
			                    type_names[f->type]);
			evbuffer_add_buffer(out, f->samples);
		}
		evbuffer_free(f->samples);
	}
	free(s->f);
}

void metrics_render(struct metrics *m, struct evbuffer *out)
{
	struct metrics_scrape s = {0};
	for (size_t i = 0; i < m->n; i++)
		m->c[i].fn(&s, m->c[i].arg);
	scrape_finish(&s, out);
}

void metrics_render_one(metrics_collect_fn *fn, void *arg, struct evbuffer *out)
{
	struct metrics_scrape s = {0};
	fn(&s, arg);
	scrape_finish(&s, out);
}
