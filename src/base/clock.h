/* Wall and monotonic clocks, and the timestamp formats AWS uses. */
#ifndef LAMBDAD_BASE_CLOCK_H
#define LAMBDAD_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_wall_ms(void); /* milliseconds since the epoch */
int64_t clock_mono_us(void); /* monotonic microseconds */

/* Formats ms-since-epoch as Lambda's LastModified: 2026-11-28T10:00:00.000+0000. */
void clock_fmt_lastmod(int64_t wall_ms, char out[32]);
/* Formats as ISO 8601 UTC with milliseconds and Z: 2026-11-28T10:00:00.000Z. */
void clock_fmt_iso(int64_t wall_ms, char out[32]);

/* Parses the len bytes at s as a duration: "500ms", "30s", "10m", "2h" or a bare number
 * of seconds. Returns milliseconds, or -1 if malformed, negative or not finite. */
int64_t clock_parse_duration_ms(const char *s, size_t len);

#endif
