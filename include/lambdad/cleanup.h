/* Scope-bound cleanup: ownership shows in the declaration. */
#ifndef LAMBDAD_CLEANUP_H
#define LAMBDAD_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_free(void *p)
{
	free(*(void **)p);
}
static inline void cleanup_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define autofree __attribute__((cleanup(cleanup_free)))
#define autoclose __attribute__((cleanup(cleanup_close)))

/* Hands the value on: returns it and leaves NULL (or -1) behind. */
#define steal_ptr(pp)                                                                                        \
	({                                                                                                   \
		__typeof__(*(pp)) steal_tmp_ = *(pp);                                                        \
		*(pp) = NULL;                                                                                \
		steal_tmp_;                                                                                  \
	})
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
