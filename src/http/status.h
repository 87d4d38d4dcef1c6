/* HTTP status codes' reason phrases, for every reply lambdad writes. */
#ifndef LAMBDAD_HTTP_STATUS_H
#define LAMBDAD_HTTP_STATUS_H

/* The standard phrase of status, or a generic one for its class ("Client Error"). */
const char *http_reason(int status);

#endif
