/* lambda_runtime.h: a small C client of the Lambda Runtime API, for functions that
 * ship a `bootstrap` (runtime provided, provided.al2, provided.al2023).
 * Dependency-free: libc and POSIX sockets only. */
#ifndef LAMBDA_RUNTIME_H
#define LAMBDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LAMBDA_RUNTIME_EXPORT __attribute__((visibility("default")))
#else
#define LAMBDA_RUNTIME_EXPORT
#endif

/* What Lambda tells the handler about one invocation. Every string is borrowed and
 * valid only during the handler call; absent optional ones are NULL. */
struct lambda_context {
	const char *request_id;           /* Lambda-Runtime-Aws-Request-Id */
	int64_t deadline_ms;              /* Unix epoch milliseconds */
	const char *invoked_function_arn; /* Lambda-Runtime-Invoked-Function-Arn, or "" */
	const char *function_name;        /* $AWS_LAMBDA_FUNCTION_NAME, or "" */
	const char *function_version;     /* $AWS_LAMBDA_FUNCTION_VERSION, or "" */
	int memory_mb;                    /* $AWS_LAMBDA_FUNCTION_MEMORY_SIZE, or 0 */
	const char *log_group_name;       /* $AWS_LAMBDA_LOG_GROUP_NAME, or "" */
	const char *log_stream_name;      /* $AWS_LAMBDA_LOG_STREAM_NAME, or "" */
	const char *trace_id;             /* Lambda-Runtime-Trace-Id, or NULL */
	const char *client_context;       /* Lambda-Runtime-Client-Context (JSON), or NULL */
	const char *cognito_identity;     /* Lambda-Runtime-Cognito-Identity (JSON), or NULL */
};

/* One invocation: the payload bytes exactly as sent (payload[payload_len] is a NUL
 * added for convenience, not part of the payload) and its context. */
struct lambda_event {
	const char *payload;
	size_t payload_len;
	struct lambda_context ctx;
};

/* The handler's answer; opaque, filled with the helpers below. */
struct lambda_response;

/* Handles one invocation. Returns 0 on success, the response being what
 * lambda_response_set() stored (empty if nothing was stored). A non-zero return, or
 * a call to lambda_response_error(), reports an invocation error instead; without
 * lambda_response_error() its type is "HandlerError". */
typedef int (*lambda_handler_fn)(const struct lambda_event *ev, struct lambda_response *out, void *user);

/* Runs the Runtime API loop against $AWS_LAMBDA_RUNTIME_API ("host:port", host being
 * an IPv4 or [IPv6] literal or "localhost"): fetches each invocation, calls handler
 * with user, posts its response or error. Uses one keep-alive connection and
 * reconnects when it breaks. Returns only when the Runtime API can no longer be
 * reached or refuses the runtime: -1, with a message on stderr. */
LAMBDA_RUNTIME_EXPORT int lambda_runtime_run(lambda_handler_fn handler, void *user);

/* Milliseconds left before the invocation's deadline (negative once it is past). */
LAMBDA_RUNTIME_EXPORT int64_t lambda_remaining_ms(const struct lambda_event *ev);

/* Stores a copy of len bytes of data as the response, replacing any earlier one.
 * Returns 0, or -1 if memory runs out (the response is then left unchanged). */
LAMBDA_RUNTIME_EXPORT int lambda_response_set(struct lambda_response *out, const void *data, size_t len);

/* Makes the invocation fail with errorType type and errorMessage msg (copied; NULL
 * means ""). Returns 0, or -1 if memory runs out. */
LAMBDA_RUNTIME_EXPORT int lambda_response_error(struct lambda_response *out, const char *type,
                                                const char *msg);

/* ---- Response streaming (a function URL with InvokeMode RESPONSE_STREAM) ----
 *
 * Instead of lambda_response_set(), a handler may stream its response: the first
 * lambda_stream_write() (or lambda_stream_http_prelude()) opens the response towards
 * the Runtime API with Lambda-Runtime-Function-Response-Mode: streaming and chunked
 * encoding, and each write is sent at once as one chunk, so the caller receives it while
 * the handler goes on. When the handler returns 0 the stream ends normally; when it
 * returns non-zero or calls lambda_response_error() after streaming began, the stream
 * ends with the error in the Lambda-Runtime-Function-Error-Type and -Error-Body
 * (base64 JSON) trailers, and the caller keeps what was sent so far.
 * lambda_response_set() is refused (-1) once streaming began. An ordinary Invoke of a
 * streaming function gets the whole stream as its response (up to 6 MB). */

/* Sends len bytes of data as the next piece of the streamed response (len 0 sends
 * nothing but opens the stream). Returns 0, or -1 if the Runtime API connection
 * failed (the response is then lost; later writes fail too). */
LAMBDA_RUNTIME_EXPORT int lambda_stream_write(struct lambda_response *out, const void *data, size_t len);

/* Sets the Content-Type of the streamed response (default application/octet-stream;
 * a function URL passes it on). Only before the first write: returns 0, or -1 when the
 * stream is already open or memory runs out. */
LAMBDA_RUNTIME_EXPORT int lambda_stream_set_content_type(struct lambda_response *out, const char *type);

/* Opens the stream as an HTTP response for a function URL, as Node.js's
 * awslambda.HttpResponseStream.from() does: the content type
 * application/vnd.awslambda.http-integration-response, then the prelude
 * {"statusCode":status,"headers":headers_json,"cookies":cookies_json} and 8 NUL bytes;
 * what is written next is the body. headers_json is the text of a JSON object of
 * strings and cookies_json of a JSON array of Set-Cookie strings, each NULL for none.
 * Must be the first write. Returns 0, or -1 as lambda_stream_write(). */
LAMBDA_RUNTIME_EXPORT int lambda_stream_http_prelude(struct lambda_response *out, int status,
                                                     const char *headers_json, const char *cookies_json);

/* Reports a failure to initialise (POST /runtime/init/error) with errorType type and
 * errorMessage msg. Call it before lambda_runtime_run(), then exit non-zero, as
 * Lambda expects. Failures to report are written to stderr. */
LAMBDA_RUNTIME_EXPORT void lambda_runtime_init_error(const char *type, const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* LAMBDA_RUNTIME_H */
