/* Lambda layers: PublishLayerVersion, Get/List/DeleteLayerVersion(s), ListLayers, the layer
 * version permissions, and a function's Layers list. A layer version's archive is a code
 * blob of the store (content-addressed, extracted once, as function code is); its record
 * lives in the store's "layers.versions" collection, and version numbers in "layers.names"
 * grow without reuse. */
#include <errno.h>
#include <inttypes.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "svc/lambda/api_int.h"
#include "base/clock.h"
#include "base/codec.h"

#define VERSIONS_COLL "layers.versions" /* "<name>:<version, 12 digits>" -> the version */
#define NAMES_COLL "layers.names"       /* "<name>" -> {"last": the highest number given} */
#define POLICY_COLL "layers.policies"   /* the version's key -> {"RevisionId", "Policy"} */
#define MAX_ZIP_BYTES 52428800u         /* 50 MB: Lambda's direct upload limit */
#define RUNTIMES_MAX 15
#define ARCHS_MAX 2
#define LICENSE_MAX 512
#define DESCRIPTION_MAX 256
#define LIST_MAX 50

/* The model's Runtime enum (botocore 1.43): a layer may name runtimes lambdad does not run. */
static const char *const runtimes[] = {"nodejs",
                                       "nodejs4.3",
                                       "nodejs6.10",
                                       "nodejs8.10",
                                       "nodejs10.x",
                                       "nodejs12.x",
                                       "nodejs14.x",
                                       "nodejs16.x",
                                       "java8",
                                       "java8.al2",
                                       "java11",
                                       "python2.7",
                                       "python3.6",
                                       "python3.7",
                                       "python3.8",
                                       "python3.9",
                                       "dotnetcore1.0",
                                       "dotnetcore2.0",
                                       "dotnetcore2.1",
                                       "dotnetcore3.1",
                                       "dotnet6",
                                       "dotnet8",
                                       "nodejs4.3-edge",
                                       "go1.x",
                                       "ruby2.5",
                                       "ruby2.7",
                                       "provided",
                                       "provided.al2",
                                       "nodejs18.x",
                                       "python3.10",
                                       "java17",
                                       "ruby3.2",
                                       "ruby3.3",
                                       "ruby3.4",
                                       "python3.11",
                                       "nodejs20.x",
                                       "provided.al2023",
                                       "python3.12",
                                       "java21",
                                       "python3.13",
                                       "nodejs22.x",
                                       "nodejs24.x",
                                       "python3.14",
                                       "java25",
                                       "dotnet10",
                                       "ruby4.0",
                                       NULL};
static const char *const archs[] = {"x86_64", "arm64", NULL};

/* ---- parsing (pure: unit tests and fuzz_layers call these) ---- */

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

static bool name_ok(const char *s, size_t n)
{
	if (n < 1 || n > API_LAYER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

static bool digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* [a-zA-Z0-9-]+ */
static bool word_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]) || s[i] == '_')
			return false;
	return true;
}

/* arn:P:lambda:R:A:layer:NAME[:VERSION] into ref; with_version says which. */
static bool parse_arn(const char *s, bool with_version, struct api_layer_ref *ref)
{
	const char *f[8];
	size_t len[8];
	unsigned n = 0;
	const char *p = s;
	for (;;) {
		const char *c = strchr(p, ':');
		if (n == 8)
			return false;
		f[n] = p;
		len[n] = c ? (size_t)(c - p) : strlen(p);
		n++;
		if (!c)
			break;
		p = c + 1;
	}
	if (n != (with_version ? 8u : 7u))
		return false;
	if (len[0] != 3 || memcmp(f[0], "arn", 3) != 0 || !word_ok(f[1], len[1]) || len[2] != 6 ||
	    memcmp(f[2], "lambda", 6) != 0 || !word_ok(f[3], len[3]) || len[3] >= sizeof(ref->region) ||
	    len[4] != 12 || !digits(f[4], 12) || len[5] != 5 || memcmp(f[5], "layer", 5) != 0 ||
	    !name_ok(f[6], len[6]))
		return false;
	memset(ref, 0, sizeof(*ref));
	memcpy(ref->region, f[3], len[3]);
	memcpy(ref->account, f[4], 12);
	memcpy(ref->name, f[6], len[6]);
	if (with_version) {
		if (!digits(f[7], len[7]) || len[7] > 15)
			return false;
		ref->version = strtoull(f[7], NULL, 10);
	}
	return true;
}

int api__layer_parse_version_arn(const char *arn, struct api_layer_ref *ref, struct err *errp)
{
	size_t n = strlen(arn);
	if (n < 1 || n > 140 || !parse_arn(arn, true, ref))
		return err_svc(errp, LAMBDA_ERR_VALIDATION,
		               "1 validation error detected: Value '%.160s' at 'arn' failed to satisfy "
		               "constraint: Member must satisfy regular expression pattern: "
		               "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+",
		               arn);
	return 0;
}

int api__layer_parse_name(const char *s, struct api_layer_ref *ref, struct err *errp)
{
	size_t n = strlen(s);
	memset(ref, 0, sizeof(*ref));
	if (n >= 1 && n <= 140 && name_ok(s, n)) {
		memcpy(ref->name, s, n);
		return 0;
	}
	if (n >= 1 && n <= 140 && strncmp(s, "arn:", 4) == 0 && parse_arn(s, false, ref))
		return 0;
	return err_svc(errp, LAMBDA_ERR_VALIDATION,
	               "1 validation error detected: Value '%.160s' at 'layerName' failed to satisfy "
	               "constraint: Member must satisfy regular expression pattern: "
	               "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+",
	               s);
}

int api__layers_check(json_t *list, struct api_layer_ref refs[API_LAYERS_MAX], size_t *count,
                      struct err *errp)
{
	size_t i;
	json_t *v;
	*count = 0;
	if (!json_is_array(list))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Layers must be a list of layer version ARNs");
	if (json_array_size(list) > API_LAYERS_MAX)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Cannot reference more than %d layers.", API_LAYERS_MAX);
	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "Layers[%zu] must be a layer version ARN (a string)", i);
		const char *arn = json_string_value(v);
		size_t n = strlen(arn);
		if (n < 1 || n > 140 || !parse_arn(arn, true, &refs[i]))
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value '[%.160s]' at 'layers' failed to "
			    "satisfy constraint: Member must satisfy constraint: [Member must have "
			    "length less than or equal to 140, Member must have length greater than "
			    "or equal to 1, Member must satisfy regular expression pattern: "
			    "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+]",
			    arn);
		for (size_t j = 0; j < i; j++)
			if (strcmp(refs[j].name, refs[i].name) == 0 &&
			    strcmp(refs[j].account, refs[i].account) == 0 &&
			    strcmp(refs[j].region, refs[i].region) == 0)
				return err_svc(
				    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
				    "Two different versions of the same layer are not allowed to be "
				    "referenced in the same function. %s and %s are versions of the "
				    "same layer.",
				    json_string_value(json_array_get(list, j)), arn);
	}
	*count = i;
	return 0;
}

static int pattern_err(struct err *errp, const char *s, const char *field, const char *pattern)
{
	return err_svc(errp, LAMBDA_ERR_VALIDATION,
	               "1 validation error detected: Value '%.160s' at '%s' failed to satisfy constraint: "
	               "Member must satisfy regular expression pattern: %s",
	               s, field, pattern);
}

json_t *api__layer_statement(json_t *body, const char *resource, struct err *errp)
{
	const char *sid, *action, *principal, *org;
	if (!json_is_object(body)) {
		err_svc(errp, LAMBDA_ERR_INVALID_REQUEST_CONTENT, "The request body must be a JSON object");
		return NULL;
	}
	if (api__str_member(body, "Action", "action", true, &action, errp) < 0 ||
	    api__str_member(body, "Principal", "principal", true, &principal, errp) < 0 ||
	    api__str_member(body, "StatementId", "statementId", true, &sid, errp) < 0 ||
	    api__str_member(body, "OrganizationId", "organizationId", false, &org, errp) < 0)
		return NULL;
	size_t n = strlen(sid);
	if (n < 1 || n > 100) {
		err_svc(errp, LAMBDA_ERR_VALIDATION,
		        "1 validation error detected: Value '%.160s' at 'statementId' failed to satisfy "
		        "constraint: Member must have length %s",
		        sid, n < 1 ? "greater than or equal to 1" : "less than or equal to 100");
		return NULL;
	}
	if (!api__full_match(sid, "[a-zA-Z0-9_-]+")) {
		pattern_err(errp, sid, "statementId", "([a-zA-Z0-9-_]+)");
		return NULL;
	}
	if (strcmp(action, "lambda:GetLayerVersion") != 0) {
		pattern_err(errp, action, "action", "lambda:GetLayerVersion");
		return NULL;
	}
	json_t *p;
	if (strcmp(principal, "*") == 0) {
		p = json_string("*");
	} else if (api__full_match(principal, "[0-9]{12}")) {
		autofree char *arn = xasprintf("arn:aws:iam::%s:root", principal);
		p = json_pack("{s:s}", "AWS", arn);
	} else if (api__full_match(principal, "arn:(aws[a-zA-Z-]*):iam::[0-9]{12}:root")) {
		p = json_pack("{s:s}", "AWS", principal);
	} else {
		pattern_err(errp, principal, "principal",
		            "\\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root");
		return NULL;
	}
	if (org) {
		if (strlen(org) > 34 || !api__full_match(org, "o-[a-z0-9]{10,32}")) {
			json_decref(p);
			pattern_err(errp, org, "organizationId", "o-[a-z0-9]{10,32}");
			return NULL;
		}
		if (!json_is_string(p)) {
			json_decref(p);
			err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			        "OrganizationId can only be specified with the principal *");
			return NULL;
		}
	}
	json_t *st = json_pack("{s:s, s:s, s:o, s:s, s:s}", "Sid", sid, "Effect", "Allow", "Principal", p,
	                       "Action", action, "Resource", resource);
	if (org)
		json_object_set_new(st, "Condition",
		                    json_pack("{s:{s:s}}", "StringEquals", "aws:PrincipalOrgID", org));
	return st;
}

/* ---- the stored versions ---- */

static char *version_key(const char *name, uint64_t version)
{
	return xasprintf("%s:%012" PRIu64, name, version);
}

static char *layer_arn(struct api *a, const char *name)
{
	return xasprintf("arn:aws:lambda:%s:%s:layer:%s", a->region, a->account, name);
}

/* The stored version of name (owned), NULL when there is none; a store error is logged
 * and reads as none. */
static json_t *version_get(struct api *a, const char *name, uint64_t version)
{
	autofree char *key = version_key(name, version);
	autofree char *txt = NULL;
	struct err e = {0};
	int r = store_get(a->store, VERSIONS_COLL, key, &txt, NULL, NULL, &e);
	if (r < 0) {
		if (r != -ENOENT)
			log_error("api: layer %s: %s", key, e.msg);
		return NULL;
	}
	json_t *o = json_loads(txt, 0, NULL);
	if (!json_is_object(o)) {
		log_error("api: layer %s: unreadable record", key);
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool is_ours(struct api *a, const struct api_layer_ref *ref)
{
	return (!ref->region[0] || strcmp(ref->region, a->region) == 0) &&
	       (!ref->account[0] || strcmp(ref->account, a->account) == 0);
}

static json_t *strings_or_empty(json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);
	return json_is_array(v) ? json_incref(v) : json_array();
}

/* The LayerVersionsListItem of rec (owned); full adds Content, LayerArn (GetLayerVersion). */
static json_t *version_json(struct api *a, struct front_req *req, json_t *rec, bool full)
{
	const char *name = json_string_value(json_object_get(rec, "name"));
	uint64_t version = (uint64_t)json_integer_value(json_object_get(rec, "version"));
	char created[32];
	clock_fmt_lastmod(json_integer_value(json_object_get(rec, "created_ms")), created);
	autofree char *arn = layer_arn(a, name);
	autofree char *varn = xasprintf("%s:%" PRIu64, arn, version);
	json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "LayerVersionArn", varn, "Version", (json_int_t)version,
	                      "Description", json_string_value(json_object_get(rec, "description")),
	                      "CreatedDate", created);
	json_t *rt = strings_or_empty(rec, "runtimes"), *ar = strings_or_empty(rec, "archs");
	if (json_array_size(rt))
		json_object_set(o, "CompatibleRuntimes", rt);
	if (json_array_size(ar))
		json_object_set(o, "CompatibleArchitectures", ar);
	json_decref(rt);
	json_decref(ar);
	json_t *lic = json_object_get(rec, "license");
	if (json_is_string(lic))
		json_object_set(o, "LicenseInfo", lic);
	if (full) {
		const char *host = front_req_header(req, "Host");
		autofree char *loc = xasprintf("http://%s/lambdad/v1/code/%s.zip", host ? host : "127.0.0.1",
		                               json_string_value(json_object_get(rec, "hex")));
		json_object_set_new(o, "Content",
		                    json_pack("{s:s, s:O, s:O}", "Location", loc, "CodeSha256",
		                              json_object_get(rec, "b64"), "CodeSize",
		                              json_object_get(rec, "size")));
		json_object_set_new(o, "LayerArn", json_string(arn));
	}
	return o;
}

static void not_found(struct front_req *req)
{
	api__reply_error(req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
	                 "The resource you requested does not exist.");
}

/* The {LayerName} and {VersionNumber} of r into ref; replies and returns -1 when malformed. */
static int path_ref(struct api *a, struct api_req *r, bool with_version, struct api_layer_ref *ref)
{
	struct err e = {0};
	const char *name = api__param(r, "LayerName");
	if (!name || api__layer_parse_name(name, ref, &e) < 0) {
		if (!name)
			err_svc(&e, LAMBDA_ERR_VALIDATION, "LayerName is required");
		api__reply_err(r->req, &e);
		return -1;
	}
	if (!with_version)
		return 0;
	const char *v = api__param(r, "VersionNumber");
	if (!v || !digits(v, strlen(v)) || strlen(v) > 15) {
		api__reply_error(r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		                 "VersionNumber must be a positive integer, not '%.32s'", v ? v : "");
		return -1;
	}
	ref->version = strtoull(v, NULL, 10);
	return 0;
}

/* The version ref names, or NULL after replying 404. */
static json_t *lookup(struct api *a, struct api_req *r, const struct api_layer_ref *ref)
{
	json_t *rec = is_ours(a, ref) && ref->version ? version_get(a, ref->name, ref->version) : NULL;
	if (!rec)
		not_found(r->req);
	return rec;
}

static void get_layer_version(struct api *a, struct api_req *r)
{
	struct api_layer_ref ref;
	if (path_ref(a, r, true, &ref) < 0)
		return;
	json_t *rec = lookup(a, r, &ref);
	if (!rec)
		return;
	api__reply_json(r->req, 200, version_json(a, r->req, rec, true));
	json_decref(rec);
}

static void get_layer_version_by_arn(struct api *a, struct api_req *r)
{
	const char *arn = front_req_query(r->req, "Arn");
	struct api_layer_ref ref;
	struct err e = {0};
	if (!arn)
		return api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
		                        "1 validation error detected: Value null at 'arn' failed to satisfy "
		                        "constraint: Member must not be null");
	if (api__layer_parse_version_arn(arn, &ref, &e) < 0)
		return api__reply_err(r->req, &e);
	json_t *rec = lookup(a, r, &ref);
	if (!rec)
		return;
	api__reply_json(r->req, 200, version_json(a, r->req, rec, true));
	json_decref(rec);
}

/* Whether rec matches the CompatibleRuntime and CompatibleArchitecture filters (NULL: any). */
static bool matches_filters(json_t *rec, const char *rt, const char *arch)
{
	size_t i;
	json_t *v;
	bool ok = !rt;
	json_array_foreach(json_object_get(rec, "runtimes"), i, v)
		if (rt && strcmp(json_string_value(v), rt) == 0)
			ok = true;
	if (!ok)
		return false;
	ok = !arch;
	json_array_foreach(json_object_get(rec, "archs"), i, v)
		if (arch && strcmp(json_string_value(v), arch) == 0)
			ok = true;
	return ok;
}

/* The list filters and page size of r; replies and returns -1 when one is malformed. */
static int list_args(struct api_req *r, const char **rt, const char **arch, long *max)
{
	struct err e = {0};
	*rt = front_req_query(r->req, "CompatibleRuntime");
	*arch = front_req_query(r->req, "CompatibleArchitecture");
	const char *m = front_req_query(r->req, "MaxItems");
	if ((*rt && err_svc_enum(&e, LAMBDA_ERR_VALIDATION, "compatibleRuntime", *rt, runtimes) < 0) ||
	    (*arch && err_svc_enum(&e, LAMBDA_ERR_VALIDATION, "compatibleArchitecture", *arch, archs) < 0)) {
		api__reply_err(r->req, &e);
		return -1;
	}
	*max = LIST_MAX;
	if (m) {
		char *end;
		*max = strtol(m, &end, 10);
		if (!*m || *end || *max < 1 || *max > LIST_MAX) {
			api__reply_error(
			    r->req, LAMBDA_ERR_VALIDATION, NULL,
			    "1 validation error detected: Value '%.20s' at 'maxItems' failed to "
			    "satisfy constraint: Member must have value %s",
			    m, *max < 1 ? "greater than or equal to 1" : "less than or equal to 50");
			return -1;
		}
	}
	return 0;
}

/* A scan's collected versions. */
struct scan {
	json_t *recs; /* array of the stored records, in key order */
};

static int collect_cb(const struct store_item *it, void *arg)
{
	struct scan *s = arg;
	json_t *o = json_loads(it->value, 0, NULL);
	if (json_is_object(o))
		json_array_append_new(s->recs, o);
	else
		json_decref(o);
	return 0;
}

/* Every stored version of name ("": of every layer), oldest first per layer (owned). */
static json_t *scan_versions(struct api *a, const char *name)
{
	struct scan s = {.recs = json_array()};
	struct err e = {0};
	autofree char *prefix = name[0] ? xasprintf("%s:", name) : xstrdup("");
	if (store_scan(a->store, VERSIONS_COLL, prefix, NULL, 0, collect_cb, &s, &e) < 0)
		log_error("api: layers: %s", e.msg);
	return s.recs;
}

/* GET /2018-10-31/layers/{LayerName}/versions: newest first, Marker a version number. */
static void list_layer_versions(struct api *a, struct api_req *r)
{
	struct api_layer_ref ref;
	const char *rt, *arch;
	long max;
	if (path_ref(a, r, false, &ref) < 0 || list_args(r, &rt, &arch, &max) < 0)
		return;
	const char *marker = front_req_query(r->req, "Marker");
	uint64_t below = marker && digits(marker, strlen(marker)) ? strtoull(marker, NULL, 10) : UINT64_MAX;
	json_t *recs = is_ours(a, &ref) ? scan_versions(a, ref.name) : json_array();
	json_t *list = json_array();
	json_t *o = json_object();
	for (size_t i = json_array_size(recs); i-- > 0;) {
		json_t *rec = json_array_get(recs, i);
		uint64_t v = (uint64_t)json_integer_value(json_object_get(rec, "version"));
		if (v >= below || !matches_filters(rec, rt, arch))
			continue;
		if ((long)json_array_size(list) == max) {
			char next[24];
			snprintf(next, sizeof(next), "%" PRIu64,
			         (uint64_t)json_integer_value(json_object_get(
			             json_array_get(list, json_array_size(list) - 1), "Version")));
			json_object_set_new(o, "NextMarker", json_string(next));
			break;
		}
		json_array_append_new(list, version_json(a, r->req, rec, false));
	}
	json_object_set_new(o, "LayerVersions", list);
	json_decref(recs);
	api__reply_json(r->req, 200, o);
}

/* Whether layer name comes after marker in the store's key order ("<name>:..."), the
 * order ListLayers walks: "a-b" comes before "a" there, as '-' sorts before ':'. */
static bool name_after(const char *name, const char *marker)
{
	autofree char *k1 = xasprintf("%s:", name);
	autofree char *k2 = xasprintf("%s:", marker);
	return strcmp(k1, k2) > 0;
}

/* GET /2018-10-31/layers: each layer with its newest version matching the filters, in
 * the store's key order; Marker is the last name of the previous page. */
static void list_layers(struct api *a, struct api_req *r)
{
	const char *rt, *arch;
	long max;
	if (list_args(r, &rt, &arch, &max) < 0)
		return;
	const char *marker = front_req_query(r->req, "Marker");
	json_t *recs = scan_versions(a, "");
	json_t *list = json_array();
	json_t *o = json_object();
	size_t n = json_array_size(recs);
	for (size_t i = 0; i < n;) {
		const char *name = json_string_value(json_object_get(json_array_get(recs, i), "name"));
		size_t end = i;
		json_t *latest = NULL;
		while (end < n &&
		       strcmp(json_string_value(json_object_get(json_array_get(recs, end), "name")), name) ==
		           0) {
			if (matches_filters(json_array_get(recs, end), rt, arch))
				latest = json_array_get(recs, end);
			end++;
		}
		if (latest && (!marker || name_after(name, marker))) {
			if ((long)json_array_size(list) == max) {
				json_object_set(
				    o, "NextMarker",
				    json_object_get(json_array_get(list, json_array_size(list) - 1),
				                    "LayerName"));
				break;
			}
			autofree char *arn = layer_arn(a, name);
			json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "LayerName", name,
			                                      "LayerArn", arn, "LatestMatchingVersion",
			                                      version_json(a, r->req, latest, false)));
		}
		i = end;
	}
	json_object_set_new(o, "Layers", list);
	json_decref(recs);
	api__reply_json(r->req, 200, o);
}

/* ---- code blobs in use ---- */

static int uses_hex_cb(const struct store_item *it, void *arg)
{
	json_t *o = json_loads(it->value, 0, NULL);
	const char *hex = json_string_value(json_object_get(o, "hex"));
	int found = hex && strcmp(hex, arg) == 0;
	json_decref(o);
	return found;
}

bool api__code_in_use(struct api *a, const char *hex)
{
	if (registry_code_in_use(a->reg, hex))
		return true;
	size_t n = registry_count(a->reg);
	for (size_t i = 0; i < n; i++) {
		const struct fn_config *c = registry_at(a->reg, i);
		/* $LATEST's layers, then each published version's (versions keep theirs). */
		for (size_t k = 0, nv = registry_version_count(a->reg, c->name); c;
		     c = k < nv ? registry_version_at(a->reg, registry_at(a->reg, i)->name, k++) : NULL) {
			size_t j;
			json_t *l;
			json_array_foreach(c->layers, j, l) {
				const char *h = json_string_value(json_object_get(l, "Sha"));
				if (h && strcmp(h, hex) == 0)
					return true;
			}
		}
	}
	struct err e = {0};
	int r = store_scan(a->store, VERSIONS_COLL, NULL, NULL, 0, uses_hex_cb, (void *)hex, &e);
	/* A store error keeps the blob: removing one still in use would break a function. */
	return r != 0;
}

/* ---- PublishLayerVersion: the body parsed, decoded, hashed, checked and stored on the
 * code pool (api__code_job), the record written on the loop ---- */

struct publish {
	struct api *a;
	struct front_req *req;
	struct store *store;
	struct api_layer_ref ref;
	struct evbuffer *body; /* in: the worker's alone */
	json_t *json;          /* out: the parsed body, NULL when it did not parse */
	char parse_err[512];
	int code_rc;
	struct err code_err;
	struct codezip_info info;
	char hex[65], b64[45];
	uint64_t zlen;
};

static int check_list(json_t *v, const char *key, const char *field, size_t max, const char *const *allowed,
                      struct err *errp)
{
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s must be a list of strings", key);
	if (json_array_size(v) > max)
		return err_svc(errp, LAMBDA_ERR_VALIDATION,
		               "1 validation error detected: Value at '%s' failed to satisfy constraint: "
		               "Member must have length less than or equal to %zu",
		               field, max);
	size_t i;
	json_t *s;
	json_array_foreach(v, i, s) {
		if (!json_is_string(s))
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s[%zu] must be a string",
			               key, i);
		char f[64];
		snprintf(f, sizeof(f), "%s.%zu.member", field, i + 1);
		if (err_svc_enum(errp, LAMBDA_ERR_VALIDATION, f, json_string_value(s), allowed) < 0)
			return -EINVAL;
	}
	return 0;
}

/* The body's fields other than Content, checked as AWS checks them. */
static int check_publish(json_t *body, struct err *errp)
{
	const char *desc, *lic;
	if (api__str_member(body, "Description", "description", false, &desc, errp) < 0 ||
	    api__str_member(body, "LicenseInfo", "licenseInfo", false, &lic, errp) < 0)
		return -EINVAL;
	if (desc && strlen(desc) > DESCRIPTION_MAX)
		return err_svc(errp, LAMBDA_ERR_VALIDATION,
		               "1 validation error detected: Value at 'description' failed to satisfy "
		               "constraint: Member must have length less than or equal to %d",
		               DESCRIPTION_MAX);
	if (lic && strlen(lic) > LICENSE_MAX)
		return err_svc(errp, LAMBDA_ERR_VALIDATION,
		               "1 validation error detected: Value at 'licenseInfo' failed to satisfy "
		               "constraint: Member must have length less than or equal to %d",
		               LICENSE_MAX);
	if (check_list(json_object_get(body, "CompatibleRuntimes"), "CompatibleRuntimes",
	               "compatibleRuntimes", RUNTIMES_MAX, runtimes, errp) < 0 ||
	    check_list(json_object_get(body, "CompatibleArchitectures"), "CompatibleArchitectures",
	               "compatibleArchitectures", ARCHS_MAX, archs, errp) < 0)
		return -EINVAL;
	return 0;
}

/* Worker: Content.ZipFile decoded, hashed, checked, stored and extracted. */
static int take_content(struct publish *p, json_t *content, struct err *errp)
{
	if (!content || json_is_null(content))
		return err_svc(errp, LAMBDA_ERR_VALIDATION,
		               "1 validation error detected: Value null at 'content' failed to satisfy "
		               "constraint: Member must not be null");
	if (!json_is_object(content))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Content must be an object with ZipFile");
	json_t *zf = json_object_get(content, "ZipFile");
	if (!json_is_string(zf)) {
		const char *s3 = json_object_get(content, "S3Bucket")          ? "Content.S3Bucket"
		                 : json_object_get(content, "S3Key")           ? "Content.S3Key"
		                 : json_object_get(content, "S3ObjectVersion") ? "Content.S3ObjectVersion"
		                                                               : NULL;
		if (s3)
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "%s: lambdad has no S3 service yet, so a layer's content cannot come from "
			    "S3; send Content.ZipFile",
			    s3);
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Content.ZipFile is required (the layer archive, a base64 zip)");
	}
	size_t zlen;
	autofree unsigned char *zip = b64_decode(json_string_value(zf), json_string_length(zf), &zlen);
	json_object_del(content, "ZipFile");
	if (!zip)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Content.ZipFile is not valid base64");
	if (zlen > MAX_ZIP_BYTES)
		return err_svc(errp, LAMBDA_ERR_REQUEST_ENTITY_TOO_LARGE,
		               "Zipped size must be smaller than %u bytes", MAX_ZIP_BYTES);
	unsigned char digest[32];
	sha256(zip, zlen, digest);
	hex_encode(digest, 32, p->hex);
	autofree char *b64 = b64_encode(digest, 32);
	snprintf(p->b64, sizeof(p->b64), "%s", b64);
	int r = store_put_code(p->store, p->hex, zip, zlen, &p->info, errp);
	if (r < 0) {
		p->hex[0] = 0;
		return r;
	}
	p->zlen = zlen;
	return 0;
}

static void publish_work(void *arg)
{
	struct publish *p = arg;
	json_t *o = api__parse_body(&p->body, p->parse_err, sizeof(p->parse_err));
	if (!o)
		return;
	p->json = o;
	if (check_publish(o, &p->code_err) < 0) {
		p->code_rc = -EINVAL;
		return;
	}
	p->code_rc = take_content(p, json_object_get(o, "Content"), &p->code_err);
}

static json_t *strings_copy(json_t *v)
{
	return json_is_array(v) ? json_deep_copy(v) : json_array();
}

/* Loop: the next number of p's layer, its record and the counter written and committed.
 * Returns the record (owned), or NULL with *errp. */
static json_t *publish_commit(struct publish *p, struct err *errp)
{
	struct api *a = p->a;
	autofree char *ntxt = NULL;
	uint64_t nrev = 0, last = 0;
	int r = store_get(a->store, NAMES_COLL, p->ref.name, &ntxt, NULL, &nrev, errp);
	if (r < 0 && r != -ENOENT)
		return NULL;
	if (r == 0) {
		json_t *n = json_loads(ntxt, 0, NULL);
		last = (uint64_t)json_integer_value(json_object_get(n, "last"));
		json_decref(n);
	}
	uint64_t version = last + 1;
	json_t *desc = json_object_get(p->json, "Description");
	json_t *lic = json_object_get(p->json, "LicenseInfo");
	json_t *rec =
	    json_pack("{s:s, s:I, s:s, s:I, s:o, s:o, s:s, s:s, s:I, s:I}", "name", p->ref.name, "version",
	              (json_int_t)version, "description", json_is_string(desc) ? json_string_value(desc) : "",
	              "created_ms", (json_int_t)clock_wall_ms(), "runtimes",
	              strings_copy(json_object_get(p->json, "CompatibleRuntimes")), "archs",
	              strings_copy(json_object_get(p->json, "CompatibleArchitectures")), "hex", p->hex, "b64",
	              p->b64, "size", (json_int_t)p->zlen, "unzipped", (json_int_t)p->info.unzipped_bytes);
	if (json_is_string(lic))
		json_object_set(rec, "license", lic);
	autofree char *txt = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	autofree char *key = version_key(p->ref.name, version);
	char counter[48];
	snprintf(counter, sizeof(counter), "{\"last\":%" PRIu64 "}", version);
	if (store_put(a->store, VERSIONS_COLL, key, txt, strlen(txt), 0, NULL, errp) < 0 ||
	    store_put(a->store, NAMES_COLL, p->ref.name, counter, strlen(counter), nrev, NULL, errp) < 0 ||
	    store_commit(a->store, errp) < 0) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

/* Loop, once the worker is done: the answer, and the blob dropped when it went unused. */
static void publish_done(void *arg)
{
	struct publish *p = arg;
	struct api *a = p->a;
	struct err e = {0};
	json_t *rec = NULL;
	if (api__code_stopping(a)) {
		/* As the deploys: nothing half-done is committed while the server stops. */
		api__reply_error(p->req, LAMBDA_ERR_SERVICE, NULL, "lambdad is shutting down");
	} else if (!p->json) {
		api__reply_error(p->req, LAMBDA_ERR_INVALID_REQUEST_CONTENT, NULL,
		                 "Could not parse request body into json: %s", p->parse_err);
	} else if (p->code_rc < 0) {
		api__reply_err(p->req, &p->code_err);
	} else if (!(rec = publish_commit(p, &e))) {
		api__reply_err(p->req, &e);
	} else {
		log_info("api: published layer %s version %" PRId64 " (code %.12s, %" PRIu64 " bytes)",
		         p->ref.name, (int64_t)json_integer_value(json_object_get(rec, "version")), p->hex,
		         p->zlen);
		p->hex[0] = 0; /* in use now */
		api__reply_json(p->req, 201, version_json(a, p->req, rec, true));
	}
	if (p->hex[0])
		api__code_drop_unused(a, p->hex);
	json_decref(rec);
	json_decref(p->json);
	free(p);
}

static void publish_layer_version(struct api *a, struct api_req *r)
{
	struct api_layer_ref ref;
	if (path_ref(a, r, false, &ref) < 0)
		return;
	if (!is_ours(a, &ref))
		return api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "LayerName: a layer ARN of region %s and account %s, not this server's "
		    "(%s, %s)",
		    ref.region, ref.account, a->region, a->account);
	struct publish *p = xcalloc(1, sizeof(*p));
	p->a = a;
	p->req = r->req;
	p->store = a->store;
	p->ref = ref;
	p->body = evbuffer_new();
	evbuffer_add_buffer(p->body, front_req_body(r->req));
	api__code_job(a, publish_work, publish_done, p);
}

static void delete_layer_version(struct api *a, struct api_req *r)
{
	struct api_layer_ref ref;
	if (path_ref(a, r, true, &ref) < 0)
		return;
	json_t *rec = is_ours(a, &ref) ? version_get(a, ref.name, ref.version) : NULL;
	/* As on AWS, deleting a version that is not there (any more) succeeds. */
	if (!rec)
		return api__reply_json(r->req, 204, NULL);
	struct err e = {0};
	autofree char *key = version_key(ref.name, ref.version);
	if (store_del(a->store, VERSIONS_COLL, key, STORE_REV_ANY, &e) < 0 ||
	    store_del(a->store, POLICY_COLL, key, STORE_REV_ANY, &e) < 0 || store_commit(a->store, &e) < 0) {
		json_decref(rec);
		return api__reply_err(r->req, &e);
	}
	/* Functions that use it keep their copy of its content; none can add it now. */
	char hex[65];
	snprintf(hex, sizeof(hex), "%s", json_string_value(json_object_get(rec, "hex")));
	json_decref(rec);
	api__code_drop_unused(a, hex);
	log_info("api: deleted layer %s version %" PRIu64, ref.name, ref.version);
	api__reply_json(r->req, 204, NULL);
}

/* ---- permissions: {"RevisionId", "Policy": {"Version", "Id", "Statement": [...]}} ---- */

static json_t *policy_load(struct api *a, const char *key, uint64_t *rev)
{
	autofree char *txt = NULL;
	struct err e = {0};
	if (store_get(a->store, POLICY_COLL, key, &txt, NULL, rev, &e) < 0) {
		*rev = 0;
		return NULL;
	}
	json_t *o = json_loads(txt, 0, NULL);
	if (!json_is_object(json_object_get(o, "Policy")) ||
	    !json_is_string(json_object_get(o, "RevisionId"))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int policy_save(struct api *a, const char *key, json_t *rec, uint64_t rev, struct err *errp)
{
	int r;
	if (json_array_size(json_object_get(json_object_get(rec, "Policy"), "Statement")) == 0) {
		r = store_del(a->store, POLICY_COLL, key, rev, errp);
	} else {
		char id[37];
		uuid_v4(id);
		json_object_set_new(rec, "RevisionId", json_string(id));
		autofree char *txt = json_dumps(rec, JSON_COMPACT);
		r = store_put(a->store, POLICY_COLL, key, txt, strlen(txt), rev, NULL, errp);
	}
	if (r == 0)
		r = store_commit(a->store, errp);
	return r;
}

static void precondition_failed(struct front_req *req)
{
	api__reply_error(req, LAMBDA_ERR_PRECONDITION_FAILED, NULL,
	                 "The Revision Id provided does not match the latest Revision Id. Call the "
	                 "GetLayerVersionPolicy API to retrieve the latest Revision Id");
}

static void add_permission(struct api *a, struct api_req *r)
{
	struct api_layer_ref ref;
	if (path_ref(a, r, true, &ref) < 0)
		return;
	json_t *ver = lookup(a, r, &ref);
	if (!ver)
		return;
	json_decref(ver);
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	struct err e = {0};
	autofree char *arn = layer_arn(a, ref.name);
	autofree char *varn = xasprintf("%s:%" PRIu64, arn, ref.version);
	autofree char *key = version_key(ref.name, ref.version);
	json_t *st = api__layer_statement(body, varn, &e);
	json_decref(body);
	if (!st)
		return api__reply_err(r->req, &e);
	uint64_t rev;
	json_t *rec = policy_load(a, key, &rev);
	const char *want = front_req_query(r->req, "RevisionId");
	if (want && (!rec || strcmp(want, json_string_value(json_object_get(rec, "RevisionId"))) != 0)) {
		json_decref(st);
		json_decref(rec);
		return precondition_failed(r->req);
	}
	if (!rec)
		rec = json_pack("{s:s, s:{s:s, s:s, s:[]}}", "RevisionId", "", "Policy", "Version",
		                "2012-10-17", "Id", "default", "Statement");
	json_incref(st);
	if (api__policy_add(json_object_get(rec, "Policy"), st, &e) < 0 ||
	    policy_save(a, key, rec, rev, &e) < 0) {
		json_decref(st);
		json_decref(rec);
		return api__reply_err(r->req, &e);
	}
	autofree char *txt = json_dumps(st, JSON_COMPACT);
	api__reply_json(
	    r->req, 201,
	    json_pack("{s:s, s:O}", "Statement", txt, "RevisionId", json_object_get(rec, "RevisionId")));
	json_decref(st);
	json_decref(rec);
}

/* The policy record of the layer version the path names (owned), its store key (*key,
 * owned) and revision (*rev); NULL after replying when there is no such version or it
 * has no policy (GetLayerVersionPolicy and RemoveLayerVersionPermission alike). */
static json_t *path_policy(struct api *a, struct api_req *r, char **key, uint64_t *rev)
{
	struct api_layer_ref ref;
	*key = NULL;
	if (path_ref(a, r, true, &ref) < 0)
		return NULL;
	json_t *ver = lookup(a, r, &ref);
	if (!ver)
		return NULL;
	json_decref(ver);
	*key = version_key(ref.name, ref.version);
	json_t *rec = policy_load(a, *key, rev);
	if (!rec)
		api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
		                 "No policy is associated with the given resource.");
	return rec;
}

static void get_policy(struct api *a, struct api_req *r)
{
	autofree char *key = NULL;
	uint64_t rev;
	json_t *rec = path_policy(a, r, &key, &rev);
	if (!rec)
		return;
	api__reply_policy(r->req, rec);
}

static void remove_permission(struct api *a, struct api_req *r)
{
	autofree char *key = NULL;
	uint64_t rev;
	json_t *rec = path_policy(a, r, &key, &rev);
	if (!rec)
		return;
	const char *sid = api__param(r, "StatementId");
	struct err e = {0};
	const char *want = front_req_query(r->req, "RevisionId");
	if (want && strcmp(want, json_string_value(json_object_get(rec, "RevisionId"))) != 0)
		precondition_failed(r->req);
	else if (api__policy_remove(json_object_get(rec, "Policy"), sid ? sid : "", &e) < 0 ||
	         policy_save(a, key, rec, rev, &e) < 0)
		api__reply_err(r->req, &e);
	else
		api__reply_json(r->req, 204, NULL);
	json_decref(rec);
}

void api__layers(struct api *a, struct api_req *r, enum api_layer_op op)
{
	switch (op) {
	case API_LAYER_PUBLISH:
		return publish_layer_version(a, r);
	case API_LAYER_GET:
		return get_layer_version(a, r);
	case API_LAYER_GET_BY_ARN:
		return get_layer_version_by_arn(a, r);
	case API_LAYER_LIST:
		/* ListLayers and GetLayerVersionByArn share the path; find= tells them apart. */
		if (front_req_query(r->req, "find"))
			return get_layer_version_by_arn(a, r);
		return list_layers(a, r);
	case API_LAYER_LIST_VERSIONS:
		return list_layer_versions(a, r);
	case API_LAYER_DELETE:
		return delete_layer_version(a, r);
	case API_LAYER_ADD_PERMISSION:
		return add_permission(a, r);
	case API_LAYER_GET_POLICY:
		return get_policy(a, r);
	case API_LAYER_REMOVE_PERMISSION:
		return remove_permission(a, r);
	}
}

/* ---- a function's Layers ---- */

int api__layers_apply(struct api *a, struct fn_config *c, json_t *list, struct err *errp)
{
	struct api_layer_ref refs[API_LAYERS_MAX];
	size_t n;
	int r = api__layers_check(list, refs, &n, errp);
	if (r < 0)
		return r;
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *arn = json_string_value(json_array_get(list, i));
		json_t *rec = is_ours(a, &refs[i]) && refs[i].version
		                  ? version_get(a, refs[i].name, refs[i].version)
		                  : NULL;
		if (!rec) {
			json_decref(out);
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "Layer version %s does not exist.", arn);
		}
		json_array_append_new(out, json_pack("{s:s, s:O, s:O, s:O}", "Arn", arn, "CodeSize",
		                                     json_object_get(rec, "size"), "Sha",
		                                     json_object_get(rec, "hex"), "Unzipped",
		                                     json_object_get(rec, "unzipped")));
		json_decref(rec);
	}
	json_t *old = c->layers;
	c->layers = out;
	if ((r = api__layers_size_check(c, errp)) < 0) {
		c->layers = old;
		json_decref(out);
		return r;
	}
	json_decref(old);
	return 0;
}

bool api__layers_have_bootstrap(struct api *a, const struct fn_config *c)
{
	size_t i;
	json_t *l;
	json_array_foreach(c->layers, i, l) {
		const char *hex = json_string_value(json_object_get(l, "Sha"));
		if (!hex)
			continue;
		autofree char *dir = store_code_dir(a->store, hex);
		autofree char *boot = xasprintf("%s/bootstrap", dir);
		struct stat st;
		if (stat(boot, &st) == 0 && S_ISREG(st.st_mode))
			return true;
	}
	return false;
}

int api__layers_size_check(const struct fn_config *c, struct err *errp)
{
	uint64_t total = c->code_unzipped;
	size_t i;
	json_t *l;
	json_array_foreach(c->layers, i, l)
		total += (uint64_t)json_integer_value(json_object_get(l, "Unzipped"));
	if (total > CODEZIP_MAX_UNZIPPED)
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Function code combined with layers exceeds the maximum allowed size of %llu "
		               "bytes. The actual size is %" PRIu64 " bytes.",
		               (unsigned long long)CODEZIP_MAX_UNZIPPED, total);
	return 0;
}
