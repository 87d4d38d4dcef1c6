/* `lambdad logs`: prints a function's log (all of it, what came since a time, or the
 * last N records), and with --follow keeps printing what is added until SIGINT or
 * SIGTERM, starting at the end as `aws logs tail --follow` does. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_int.h"

#define LOGS_POLL_MS 300
#define LOGS_REQUEST_TIMEOUT_S 60L
#define LOGS_LINES_MAX 10000 /* what -n may ask for (the server's limit) */

static void logs_usage(FILE *f)
{
	fprintf(f, "usage: lambdad logs NAME [options]\n"
	           "Prints the function's log (START/END/REPORT lines and what it wrote): all of it,\n"
	           "or what --since and -n select.\n\n"
	           "  --since WHEN        from WHEN on: 30s, 10m, 2h, 1d (ago; also w), or a UTC time\n"
	           "                      2026-12-04T18:30:00Z (a date alone, seconds, a fraction and\n"
	           "                      an offset such as +01:00 are optional; no zone is UTC)\n"
	           "  -n N, --lines N     only the last N records (at most 10000)\n"
	           "  --follow, -f        keep printing new records until interrupted; starts at the\n"
	           "                      end unless --since or -n says where\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

/* Waits up to ms for SIGINT or SIGTERM (blocked by the caller); returns true if one came. */
static bool logs_wait_stop(const sigset_t *stop, long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	for (;;) {
		if (sigtimedwait(stop, NULL, &ts) >= 0)
			return true;
		if (errno != EINTR)
			return false; /* EAGAIN: the time is up */
	}
}

/* Parses --since: a duration ago (a number and s, m, h, d or w) or an ISO 8601 time.
 * Returns false if s is neither. */
static bool logs_parse_since(const char *s, int64_t now_ms, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (isdigit((unsigned char)s[0]) && !errno && end != s && end[0] && !end[1] && v >= 0) {
		static const struct {
			char unit;
			double ms;
		} units[] = {{'s', 1e3}, {'m', 6e4}, {'h', 3.6e6}, {'d', 8.64e7}, {'w', 6.048e8}};
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].unit && v * units[i].ms < 1e15) {
				*out = now_ms - (int64_t)(v * units[i].ms);
				return true;
			}
		return false;
	}
	struct tm tm = {0};
	int n = 0, ms = 0, off_min = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
		return false;
	const char *p = s + 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &n) != 2 || n != 5)
			return false;
		p += 6;
		if (*p == ':') {
			if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
				return false;
			tm.tm_sec = (p[1] - '0') * 10 + (p[2] - '0');
			p += 3;
			if (*p == '.' || *p == ',') {
				int scale = 100;
				for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
					ms += (*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, hh = 0, mm = 0;
		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
			return false;
		hh = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])) {
			mm = (p[0] - '0') * 10 + (p[1] - '0');
			p += 2;
		}
		off_min = sign * (hh * 60 + mm);
	}
	if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	*out = ((int64_t)t - (int64_t)off_min * 60) * 1000 + ms;
	return true;
}

struct logs_args {
	const char *endpoint;
	const char *name;
	bool follow;
	bool has_since;
	int64_t since_ms; /* ms since the epoch */
	long lines;       /* -n, or -1 */
};

static int logs_run(const struct logs_args *a)
{
	const char *endpoint = a->endpoint, *name = a->name;
	bool follow = a->follow;
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	/* Blocked, the signals wait for sigtimedwait between polls: no handler, no global flag. */
	if (follow)
		sigprocmask(SIG_BLOCK, &stop, &old);
	autofree char *ename = cli_urlencode(name);
	struct cli_client *c = cli_client_new(endpoint);
	struct cli_resp resp = {0};
	struct err e = {0};
	long long offset = 0;
	int rc = CLI_EXIT_FAIL;
	/* The first request says where to start: the server finds the offset. */
	autofree char *start = NULL;
	if (a->has_since || a->lines >= 0 || follow) {
		long tail = a->lines >= 0 ? a->lines : a->has_since ? -1 : 0; /* --follow alone: at the end */
		autofree char *t = tail >= 0 ? xasprintf("tail=%ld", tail) : NULL;
		autofree char *sn =
		    a->has_since ? xasprintf("since=%lld", (long long)(a->since_ms > 0 ? a->since_ms : 0))
		                 : NULL;
		start = xasprintf("%s%s%s", sn ? sn : "", sn && t ? "&" : "", t ? t : "");
	}
	for (bool first = true;; first = false) {
		autofree char *path =
		    first && start ? xasprintf("/lambdad/v1/functions/%s/logs?%s", ename, start)
		                   : xasprintf("/lambdad/v1/functions/%s/logs?offset=%lld", ename, offset);
		if (cli_request(c, "GET", path, NULL, NULL, 0, NULL, LOGS_REQUEST_TIMEOUT_S, &resp, &e) < 0) {
			cli_report_err(&e);
			break;
		}
		if (resp.status != 200) {
			rc = cli_report_api_error(&resp);
			break;
		}
		const char *nx = cli_resp_header(&resp, "X-Lambdad-Next-Offset");
		char *end = NULL;
		long long next = nx ? strtoll(nx, &end, 10) : -1;
		if (!nx || !*nx || *end || next < 0) {
			fprintf(stderr, "lambdad: the server's answer has no valid X-Lambdad-Next-Offset\n");
			break;
		}
		if (fwrite(resp.body, 1, resp.len, stdout) != resp.len || fflush(stdout) != 0) {
			fprintf(stderr, "lambdad: write stdout: %s\n", strerror(errno));
			break;
		}
		bool more = next > offset;
		if (first && start) {
			more = resp.len > 0; /* the answer started where the server found */
		} else if (next < offset) {
			/* The log is shorter than what we read: it was started over (the function was
			 * deleted and created again). Read the new one from its start. */
			next = 0;
			more = true;
		}
		offset = next;
		if (!follow && !more) {
			rc = CLI_EXIT_OK;
			break;
		}
		if (follow && logs_wait_stop(&stop, more ? 0 : LOGS_POLL_MS)) {
			rc = CLI_EXIT_OK;
			break;
		}
	}
	cli_resp_fini(&resp);
	cli_client_free(c);
	if (follow)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int cli_logs(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"follow", no_argument, NULL, 'f'},      {"since", required_argument, NULL, 's'},
	    {"lines", required_argument, NULL, 'n'}, {"endpoint", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct logs_args a = {.endpoint = cli_default_endpoint(), .lines = -1};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	int ch;
	while ((ch = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			a.follow = true;
			break;
		case 's':
			if (!logs_parse_since(optarg, now_ms, &a.since_ms)) {
				fprintf(stderr,
				        "%s: --since takes a duration (30s, 10m, 2h, 1d) or a time "
				        "(2026-12-04T18:30:00Z), not '%s'\n",
				        argv[0], optarg);
				logs_usage(stderr);
				return CLI_EXIT_USAGE;
			}
			a.has_since = true;
			break;
		case 'n':
			if (!cli_parse_long(optarg, 0, LOGS_LINES_MAX, &a.lines)) {
				fprintf(stderr, "%s: -n takes a number of records from 0 to %d, not '%s'\n",
				        argv[0], LOGS_LINES_MAX, optarg);
				logs_usage(stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'E':
			a.endpoint = optarg;
			break;
		case 'h':
			logs_usage(stdout);
			return CLI_EXIT_OK;
		default:
			logs_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s\n", argv[0],
		        argc - optind < 1 ? "missing NAME" : "too many arguments");
		logs_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	a.name = argv[optind];
	return logs_run(&a);
}
