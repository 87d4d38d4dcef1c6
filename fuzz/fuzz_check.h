/* What every libFuzzer target here checks with: an invariant that fails aborts with
 * where and what, so libFuzzer keeps the input that broke it. */
#ifndef LAMBDAD_FUZZ_CHECK_H
#define LAMBDAD_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);         \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

#endif
