/* What the apigw module's files share: the in-memory APIs and their store collection. */
#ifndef LAMBDAD_APIGW_INT_H
#define LAMBDAD_APIGW_INT_H

#include <lambdad/map.h>
#include <stdbool.h>
#include <stddef.h>

#include "svc/apigw/apigw.h"
#include "svc/apigw/route.h"
#include "integ/cors.h"
#include "store/store.h"

/* One API. Its whole state is one JSON document, the stored form:
 * {"api":{GetApi's fields},"integrations":{id:{...}},"routes":{id:{...}},"stages":{name:{...}}},
 * children in creation order. A change builds a new document, commits it, then
 * replaces the old one. */
struct gw_api {
	char id[APIGW_API_ID_LEN + 1];
	int64_t created_ms;
	json_t *doc;
	/* The routes parsed for matching, in the order of doc.routes (rebuilt on change). */
	struct apigw_rkey *rkeys;
	char **rids; /* their routeIds (owned) */
	size_t nroutes;
	struct cors *cors; /* doc.api.corsConfiguration parsed (rebuilt on change), or NULL */
};

struct apigw {
	struct store *st; /* borrowed */
	char *account;    /* the account id in ARNs and messages (owned) */
	struct map apis;  /* struct gw_api (owned) by id, in creation order */
};

/* Calls cb for every stored API in creation order; a row cb refuses is skipped. */
int apigw__db_load(struct apigw *g,
                   int (*cb)(struct apigw *g, const char *id, int64_t created_ms, json_t *doc),
                   struct err *errp);
/* Commits doc (borrowed) as API id's state, or deletes it, durably before returning. */
int apigw__db_put(struct apigw *g, const char *id, int64_t created_ms, json_t *doc, struct err *errp);
int apigw__db_del(struct apigw *g, const char *id, struct err *errp);

#endif
