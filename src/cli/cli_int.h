/* What the CLI's verbs share: the HTTP client, error reporting, argument helpers, the zipper. */
#ifndef LAMBDAD_CLI_INT_H
#define LAMBDAD_CLI_INT_H

#include <lambdad/err.h>
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
/* Frees the client and its connections; NULL is a no-op. */
void cli_client_free(struct cli_client *c);

/* Sends `method path` (path starts with '/' and is already URL-encoded, query included)
 * with an optional body (content_type names it, NULL for none) and extra header lines
 * ("Name: value", NULL-terminated, may be NULL). timeout_s 0 waits forever. Fills *resp
 * (which must be zeroed or finished) whatever the status; returns 0 when an HTTP answer
 * arrived, or a negative errno with a message when the server could not be reached. */
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

/* Zips the contents of directory dir into memory: entry names relative to dir (no
 * leading "./" or "/"), sorted, directories included (so empty ones survive), unix
 * modes kept (the executable bit with them), symbolic links stored as links. Skips
 * nothing. Refuses a symbolic link whose target is absolute or leaves dir (-EPERM),
 * and sockets, FIFOs and devices (-EINVAL). On success returns 0 and an owned buffer
 * in *out of *outlen bytes; on failure returns a negative errno with a message naming
 * the file, and *out is left untouched. */
int cli_zip_dir(const char *dir, unsigned char **out, size_t *outlen, struct err *errp);

#endif
