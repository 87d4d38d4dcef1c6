/* CORS as function URLs (Lambda's Cors) and HTTP APIs (API Gateway's corsConfiguration)
 * configure it: the configuration parsed and validated from either API's JSON, the
 * answer to a preflight, and the headers of every other answer. No I/O. */
#ifndef LAMBDAD_INTEG_CORS_H
#define LAMBDAD_INTEG_CORS_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <lambdad/err.h>
#include <stdbool.h>

/* A parsed configuration; immutable once made. */
struct cors;

/* Parses a function URL's Cors object (AllowOrigins, AllowMethods, AllowHeaders,
 * ExposeHeaders, MaxAge, AllowCredentials), validated as Lambda does. in is borrowed;
 * absent (NULL) or JSON null gives *out NULL. Returns 0 with *out (owned), or -EINVAL
 * with the whole ValidationException message in errp, naming the field as Lambda does
 * ("cors.maxAge"), and *out NULL. An AllowOrigins "*" with AllowCredentials answers
 * with the request's origin. */
int cors_from_furl(json_t *in, struct cors **out, struct err *errp);

/* The same for an HTTP API's corsConfiguration (allowOrigins, allowMethods,
 * allowHeaders, exposeHeaders, maxAge -1..86400, allowCredentials), validated as API
 * Gateway does; the message (a BadRequestException's) names the field
 * ("corsConfiguration.maxAge"). allowCredentials with a "*" origin is refused, as AWS
 * does. An origin is "*", exact, or a scheme's wildcard: "https://" or "http://"
 * followed by "*", any origin of that scheme. */
int cors_from_apigw(json_t *in, struct cors **out, struct err *errp);

void cors_free(struct cors *c); /* NULL is a no-op */

/* The configuration as the API shows it: the known fields, as given (borrowed, lives
 * as long as c). */
json_t *cors_json(const struct cors *c);

/* If a request (its method, "OPTIONS", ..., and headers, borrowed) is a CORS preflight that c answers
 * (c not NULL; OPTIONS with Origin and Access-Control-Request-Method), adds the
 * answer's headers to out and returns its status: 200 for a function URL, 204 for an
 * HTTP API. An origin that is not allowed gets the status without any CORS header (the
 * browser then refuses the real request). Otherwise returns 0 and adds nothing. */
int cors_preflight(const struct cors *c, const char *method, const struct evkeyvalq *in,
                   struct evkeyvalq *out);

/* Adds to out the CORS headers of a non-preflight answer to a request with headers in:
 * Access-Control-Allow-Origin, -Allow-Credentials, -Expose-Headers and Vary, when c is
 * not NULL and the request's Origin is allowed; nothing otherwise. */
void cors_headers(const struct cors *c, const struct evkeyvalq *in, struct evkeyvalq *out);

/* Removes every Access-Control-* header from h: a function's own, which API Gateway
 * ignores when the API has a CORS configuration. */
void cors_strip(struct evkeyvalq *h);

#endif
