/* What the CLI's verbs share: the HTTP client, error reporting, argument helpers, the zipper. */
#ifndef LAMBDAD_CLI_INT_H
#define LAMBDAD_CLI_INT_H

#include <lambdad/err.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

#define CLI_DEFAULT_ENDPOINT "http://127.0.0.1:4566"

/* One verb: argv[0] is "lambdad VERB" (for getopt's messages); returns the exit status. */
int cli_deploy(int argc, char **argv);
int cli_events(int argc, char **argv);
int cli_invoke(int argc, char **argv);
int cli_logs(int argc, char **argv);
int cli_ls(int argc, char **argv);
int cli_rm(int argc, char **argv);
int cli_warm(int argc, char **argv);

/* The credentials requests are signed with (SigV4 through libcurl's CURLOPT_AWS_SIGV4). */
struct cli_creds {
	char akid[129]; /* empty: none, requests go unsigned */
	char secret[256];
	char region[64]; /* the scope's region (us-east-1 when none is set) */
};
/* Finds the credentials as the AWS CLI does (cli/creds.c); profile is --profile's or
 * NULL. 0, or a negative errno with a message (--profile names no profile). */
int cli_creds_load(const char *profile, struct cli_creds *c, struct err *errp);
/* The --profile given before or after the verb (cli_main takes it out of argv), or NULL. */
extern const char *cli_profile;

/* The endpoint to use when --endpoint is absent: $LAMBDAD_ENDPOINT if set and not
 * empty, else CLI_DEFAULT_ENDPOINT. Borrowed. */
const char *cli_default_endpoint(void);
/* Parses the options of a verb that takes only --endpoint and --help: returns -1 to go
 * on with *endpoint set (operands from optind), or the exit status to return. */
int cli_parse_endpoint_only(int argc, char **argv, void (*usage)(FILE *), const char **endpoint);

/* A finished HTTP exchange. Initialize with {0}; release with cli_resp_fini. */
struct cli_resp {
	long status; /* HTTP status code */
	char *body;  /* owned, always NUL-terminated (the NUL is not counted in len) */
	size_t len;
	char **hdr_names;  /* owned, of the final response only */
	char **hdr_values; /* owned, trimmed */
	size_t nhdrs;
	size_t hdrs_cap;
};

/* Frees what r owns and leaves it ready for reuse; r may be all zero. */
void cli_resp_fini(struct cli_resp *r);

/* The value of response header `name` (case-insensitive), borrowed from r, or NULL. */
const char *cli_resp_header(const struct cli_resp *r, const char *name);

struct cli_client;

/* Makes a client for endpoint (e.g. http://127.0.0.1:4566; a trailing '/' is ignored).
 * Expects curl_global_init to have run. Returns an owned client; never NULL. */
struct cli_client *cli_client_new(const char *endpoint);
/* Makes every later request return -EINTR soon after a signal of set is pending (the
 * caller keeps those blocked, and they stay pending for it). set is borrowed; NULL turns
 * this off. */
void cli_client_set_interrupt(struct cli_client *c, const sigset_t *set);
/* Makes every later request whose body has at least min_bytes show its upload on
 * stderr as "lambdad: WHAT: sent X of Y MB" (redrawn on a terminal) and end with one
 * line "lambdad: WHAT: sent Y MB in S s". what is borrowed; min_bytes 0 turns it off. */
void cli_client_set_progress(struct cli_client *c, size_t min_bytes, const char *what);
/* Frees the client and its connections; NULL is a no-op. */
void cli_client_free(struct cli_client *c);

/* Sends `method path` (path starts with '/' and is already URL-encoded, query included)
 * with an optional body (content_type names it, NULL for none) and extra header lines
 * ("Name: value", NULL-terminated, may be NULL). timeout_s 0 waits forever. Fills *resp
 * (which must be zeroed or finished) whatever the status; returns 0 when an HTTP answer
 * arrived, or a negative errno with a message when the server could not be reached
 * (-ECONNREFUSED: "cannot reach lambdad at URL: is `lambdad serve` running? (why)"),
 * failed on the way (-EIO, -ETIMEDOUT), or a stop signal came (-EINTR). */
int cli_request(struct cli_client *c, const char *method, const char *path, const char *content_type,
                const void *body, size_t len, const char *const *headers, long timeout_s,
                struct cli_resp *resp, struct err *errp);

/* Prints an API error response as "lambdad: <ErrorType>: <message>" on stderr, taking
 * the type from X-Amzn-ErrorType (or the body's __type/code/Type) and the message from
 * the body's "message" or "Message". Returns CLI_EXIT_FAIL. */
int cli_report_api_error(const struct cli_resp *r);
/* Prints "lambdad: <message>" on stderr; returns CLI_EXIT_FAIL. */
int cli_report_err(const struct err *e);

/* Percent-encodes s for a URL path segment or a query value (only A-Z a-z 0-9 - _ . ~
 * stay as they are). Returns an owned string. */
char *cli_urlencode(const char *s);

/* Reads all of f into an owned buffer (NUL-terminated, the NUL not counted in *len).
 * Returns 0, or a negative errno with a message naming `what`. */
int cli_read_stream(FILE *f, const char *what, unsigned char **out, size_t *len, struct err *errp);
/* Reads the file at path the same way. */
int cli_read_file(const char *path, unsigned char **out, size_t *len, struct err *errp);

/* Parses a decimal integer in [min, max]; returns false if s is anything else. */
bool cli_parse_long(const char *s, long min, long max, long *out);

/* ---- .lambdadignore (ignore.c) ----
 * Patterns, one a line, as gitignore's: blank lines and lines starting with '#' are
 * skipped; '*' matches anything but '/', '?' one character but '/', [a-z] a set (with
 * '!' or '^' to negate it), "**" as a whole segment any number of directories; a leading
 * '!' includes again what an earlier pattern excluded; a trailing '/' matches directories
 * only; a pattern with a '/' before its end is matched against the whole path from DIR
 * (a leading '/' anchors it there), one without against the name at any depth; '\'
 * escapes the next character. The last pattern that matches decides. An excluded
 * directory is not read, so nothing below it can be included again. One file, at the
 * top of DIR; not read from subdirectories. */
#define CLI_IGNORE_FILE ".lambdadignore"

struct cli_ignore;

/* Makes a set of patterns: empty, or (defaults) lambdad's: "/.git", "/.venv/",
 * "/__pycache__/" and "/.lambdadignore" (the top-level tooling only: __pycache__ below
 * the top, as pip install -t writes it, holds valid compiled code). Owned. */
struct cli_ignore *cli_ignore_new(bool defaults);
/* Adds one pattern line (len bytes, no newline; blank and comment lines add nothing). */
void cli_ignore_add(struct cli_ignore *ig, const char *line, size_t len);
/* Makes the set for directory dirfd (named dir in messages): the defaults if asked, then
 * the lines of its .lambdadignore if there is one. Returns 0 and an owned *out, or a
 * negative errno with a message naming the file. */
int cli_ignore_load(int dirfd, const char *dir, bool defaults, struct cli_ignore **out, struct err *errp);
/* Tells whether rel (a path below DIR, no leading or trailing '/') is excluded. ig may be NULL. */
bool cli_ignore_match(const struct cli_ignore *ig, const char *rel, bool is_dir);
void cli_ignore_free(struct cli_ignore *ig); /* NULL is a no-op */

/* Zips the contents of directory dir into memory: entry names relative to dir (no
 * leading "./" or "/"), sorted, directories included (so empty ones survive), unix
 * modes and mtimes kept (the executable bit with them), symbolic links stored as links.
 * Leaves out what ig excludes (NULL: nothing). Refuses a symbolic link whose target is
 * absolute or leaves dir (-EPERM), and sockets, FIFOs and devices (-EINVAL). On success
 * returns 0 and an owned buffer in *out of *outlen bytes; on failure returns a negative
 * errno with a message naming the file, and *out is left untouched. */
int cli_zip_dir(const char *dir, const struct cli_ignore *ig, unsigned char **out, size_t *outlen,
                struct err *errp);

/* ---- deploy --watch (watch.c) ---- */

struct cli_watch;

/* Watches every directory below dir (inotify) that ig does not exclude, for files
 * created, written, moved, deleted or changed in mode. Returns 0 and an owned *out, or a
 * negative errno with a message (-ENOSPC: the inotify watch limit). */
int cli_watch_new(const char *dir, const struct cli_ignore *ig, struct cli_watch **out, struct err *errp);
/* Waits for a change that ig does not exclude, then until debounce_ms pass without one.
 * Returns 1 after a change, 0 when a signal of stop (blocked by the caller) came (it is
 * taken), or a negative errno with a message. */
int cli_watch_wait(struct cli_watch *w, const sigset_t *stop, long debounce_ms, struct err *errp);
/* Takes the events queued now, without waiting: returns 1 if one of them is a change
 * that ig does not exclude (or a change to .lambdadignore), 0 if none is, or a negative
 * errno with a message. A new directory is watched from then on. */
int cli_watch_take(struct cli_watch *w, struct err *errp);
void cli_watch_free(struct cli_watch *w); /* NULL is a no-op */

#endif
