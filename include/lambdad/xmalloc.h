/* Allocation that never returns NULL: out of memory is the one fatal condition. */
#ifndef LAMBDAD_XMALLOC_H
#define LAMBDAD_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);                  /* owned */
void *xcalloc(size_t nmemb, size_t size); /* owned, zeroed */
void *xrealloc(void *p, size_t n);        /* owned */
char *xstrdup(const char *s);             /* owned; xstrdup(NULL) is NULL */
char *xstrndup(const char *s, size_t n);  /* owned */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* owned */

#endif
