/* The server's own diagnostic log (stderr), not function logs. */
#ifndef LAMBDAD_LOG_H
#define LAMBDAD_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Reports file and line of a broken invariant and aborts. */
#define LD_ASSERT(cond)                                                                                      \
	do {                                                                                                 \
		if (!(cond))                                                                                 \
			ld_assert_fail(#cond, __FILE__, __LINE__);                                           \
	} while (0)
__attribute__((noreturn)) void ld_assert_fail(const char *what, const char *file, int line);

#endif
