/* The function configuration model: defaults, validation of API input, JSON forms. */
#include "registry/fn.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "svc/lambda/errors.h"
#include "base/codec.h"

static const char *const supported_runtimes[] = {
    "provided.al2023", "provided.al2", "provided",   "python3.9",  "python3.10", "python3.11",
    "python3.12",      "python3.13",   "nodejs18.x", "nodejs20.x", "nodejs22.x"};
static const char supported_list[] =
    "provided.al2023, provided.al2, provided, python3.9, python3.10, python3.11, "
    "python3.12, python3.13, nodejs18.x, nodejs20.x, nodejs22.x";

/* Keys a function may not set: the platform owns them (AWS's list). */
static const char *const reserved_env[] = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
};

/* A configuration with its reference count, which only this file sees: holders share
 * the configuration, never the count. */
struct fn_config_obj {
	int refs;
	struct fn_config c;
};

static struct fn_config_obj *obj_of(struct fn_config *c)
{
	return (struct fn_config_obj *)((char *)c - offsetof(struct fn_config_obj, c));
}

static struct fn_config *obj_new(void)
{
	struct fn_config_obj *o = xcalloc(1, sizeof(*o));
	o->refs = 1;
	return &o->c;
}

struct fn_config *fn_config_new(void)
{
	struct fn_config *c = obj_new();
	c->timeout_s = FN_TIMEOUT_DEFAULT_S;
	c->memory_mb = FN_MEMORY_DEFAULT_MB;
	c->ephemeral_mb = FN_EPHEMERAL_DEFAULT_MB;
	c->env_vars = json_object();
	c->description = xstrdup("");
	c->tracing_mode = xstrdup("PassThrough");
	c->layers = json_array();
	c->last_modified_ms = clock_wall_ms();
	uuid_v4(c->revision_id);
	return c;
}

struct fn_config *fn_config_dup(const struct fn_config *o)
{
	struct fn_config *c = obj_new();
	*c = *o;
	c->name = xstrdup(o->name);
	c->runtime = xstrdup(o->runtime);
	c->handler = xstrdup(o->handler);
	c->role = xstrdup(o->role);
	c->description = xstrdup(o->description);
	c->tracing_mode = xstrdup(o->tracing_mode);
	c->env_vars = json_deep_copy(o->env_vars);
	c->dlq_arn = xstrdup(o->dlq_arn);
	c->layers = json_deep_copy(o->layers);
	return c;
}

struct fn_config *fn_config_ref(struct fn_config *c)
{
	obj_of(c)->refs++;
	return c;
}

int fn_config_refs(const struct fn_config *c)
{
	const struct fn_config_obj *o =
	    (const struct fn_config_obj *)((const char *)c - offsetof(struct fn_config_obj, c));
	return o->refs;
}

void fn_config_unref(struct fn_config *c)
{
	if (!c || --obj_of(c)->refs > 0)
		return;
	free(c->name);
	free(c->runtime);
	free(c->handler);
	free(c->role);
	free(c->description);
	free(c->tracing_mode);
	json_decref(c->env_vars);
	free(c->dlq_arn);
	json_decref(c->layers);
	free(obj_of(c));
}

bool fn_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > FN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
			return false;
	return true;
}

static int bad_name(struct err *errp, const char *ref)
{
	return err_svc(errp, LAMBDA_ERR_VALIDATION,
	               "1 validation error detected: Value '%.200s' at 'functionName' failed to satisfy "
	               "constraint: Member must satisfy regular expression pattern: "
	               "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
	               "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
	               ref);
}

/* Whether s[0..n) is non-empty and all of [a-zA-Z0-9-_] (names and qualifiers). */
static bool word_valid(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static bool all_of(const char *s, size_t n, int (*cls)(int))
{
	for (size_t i = 0; i < n; i++)
		if (!cls((unsigned char)s[i]))
			return false;
	return true;
}

/* -[a-z]+-\d, exactly. */
static bool region_tail_valid(const char *s, size_t n)
{
	return n >= 4 && s[0] == '-' && s[n - 2] == '-' && isdigit((unsigned char)s[n - 1]) &&
	       all_of(s + 1, n - 3, islower);
}

/* [a-z]{2}(-gov)?-[a-z]+-\d, the region of an ARN. */
static bool region_valid(const char *s, size_t n)
{
	if (n < 2 || !all_of(s, 2, islower))
		return false;
	return region_tail_valid(s + 2, n - 2) ||
	       (n > 6 && strncmp(s + 2, "-gov", 4) == 0 && region_tail_valid(s + 6, n - 6));
}

/* The ':'-separated fields of a reference (empty ones kept): start and length. */
struct ref_field {
	const char *p;
	size_t n;
};

static bool field_is(const struct ref_field *f, const char *lit)
{
	return f->n == strlen(lit) && strncmp(f->p, lit, f->n) == 0;
}

/* arn:(aws[a-zA-Z-]*)?:lambda: in the first three fields. */
static bool arn_head_valid(const struct ref_field *f, size_t n)
{
	if (n < 3 || !field_is(&f[0], "arn") || !field_is(&f[2], "lambda"))
		return false;
	if (f[1].n == 0)
		return true;
	if (f[1].n < 3 || strncmp(f[1].p, "aws", 3) != 0)
		return false;
	for (size_t k = 3; k < f[1].n; k++)
		if (!isalpha((unsigned char)f[1].p[k]) && f[1].p[k] != '-')
			return false;
	return true;
}

int fn_parse_ref(const char *ref, char name_out[FN_NAME_MAX + 1], char qual_out[FN_QUAL_SIZE],
                 struct err *errp)
{
	/* AWS's pattern, matched as its regex engine would: the optional parts in front
	 * of the name are each tried present first, then absent (in that nested order),
	 * and the first way that leaves exactly "name" or "name:qualifier" wins. An
	 * "arn:" must be a whole function ARN, with region, account and "function:". */
	enum { ARN = 8, REGION = 4, ACCOUNT = 2, FUNCTION = 1 };
	struct ref_field f[9];
	size_t n = 0;
	if (strlen(ref) > 170)
		return bad_name(errp, ref);
	for (const char *p = ref;;) {
		const char *e = strchrnul(p, ':');
		if (n == sizeof(f) / sizeof(f[0]))
			return bad_name(errp, ref);
		f[n++] = (struct ref_field){p, (size_t)(e - p)};
		if (!*e)
			break;
		p = e + 1;
	}
	for (int mask = ARN | REGION | ACCOUNT | FUNCTION; mask >= 0; mask--) {
		size_t i = 0;
		if (mask & ARN) {
			if (mask != (ARN | REGION | ACCOUNT | FUNCTION) || !arn_head_valid(f, n))
				continue;
			i = 3;
		}
		if ((mask & REGION) && !(i < n && region_valid(f[i].p, f[i].n)))
			continue;
		i += (mask & REGION) ? 1 : 0;
		if ((mask & ACCOUNT) && !(i < n && f[i].n == 12 && all_of(f[i].p, 12, isdigit)))
			continue;
		i += (mask & ACCOUNT) ? 1 : 0;
		if ((mask & FUNCTION) && !(i < n && field_is(&f[i], "function")))
			continue;
		i += (mask & FUNCTION) ? 1 : 0;
		if (n - i != 1 && n - i != 2)
			continue;
		if (!word_valid(f[i].p, f[i].n))
			continue;
		if (n - i == 2 && !field_is(&f[i + 1], FN_LATEST) && !word_valid(f[i + 1].p, f[i + 1].n))
			continue;
		/* The pattern matched; the lengths are separate constraints. */
		if (f[i].n > FN_NAME_MAX || (n - i == 2 && f[i + 1].n > 128))
			return bad_name(errp, ref);
		snprintf(name_out, FN_NAME_MAX + 1, "%.*s", (int)f[i].n, f[i].p);
		snprintf(qual_out, FN_QUAL_SIZE, "%.*s", n - i == 2 ? (int)f[i + 1].n : 0,
		         n - i == 2 ? f[i + 1].p : "");
		return 0;
	}
	return bad_name(errp, ref);
}

bool fn_runtime_supported(const char *runtime, const char **list)
{
	if (list)
		*list = supported_list;
	for (size_t i = 0; i < sizeof(supported_runtimes) / sizeof(supported_runtimes[0]); i++)
		if (strcmp(runtime, supported_runtimes[i]) == 0)
			return true;
	return false;
}

bool fn_runtime_needs_bootstrap(const char *runtime)
{
	return strncmp(runtime, "provided", 8) == 0;
}

const char *fn_runtime_family(const char *runtime)
{
	if (strncmp(runtime, "python", 6) == 0)
		return "python";
	if (strncmp(runtime, "nodejs", 6) == 0)
		return "node";
	return "provided";
}

static int range_err(struct err *errp, const char *field, json_int_t v, const char *cmp, long bound)
{
	return err_svc(
	    errp, LAMBDA_ERR_VALIDATION,
	    "1 validation error detected: Value '%lld' at '%s' failed to satisfy constraint: Member "
	    "must have value %s %ld",
	    (long long)v, field, cmp, bound);
}

/* Reads an optional integer field within [lo, hi]. Returns 1 if present, 0 if absent, <0 on error. */
static int get_int(json_t *obj, const char *key, const char *field, long lo, long hi, uint32_t *out,
                   struct err *errp)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s must be an integer", key);
	json_int_t i = json_integer_value(v);
	if (i < lo)
		return range_err(errp, field, i, "greater than or equal to", lo);
	if (i > hi)
		return range_err(errp, field, i, "less than or equal to", hi);
	*out = (uint32_t)i;
	return 1;
}

/* Reads an optional string field; a non-string is an error. */
static int get_str(json_t *obj, const char *key, const char **out, struct err *errp)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s must be a string", key);
	*out = json_string_value(v);
	return 1;
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

static bool role_valid(const char *r)
{
	/* arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+ */
	if (strncmp(r, "arn:", 4) != 0)
		return false;
	const char *p = r + 4;
	if (strncmp(p, "aws", 3) == 0) {
		p += 3;
		while (isalpha((unsigned char)*p) || *p == '-')
			p++;
	}
	if (strncmp(p, ":iam::", 6) != 0)
		return false;
	p += 6;
	for (int i = 0; i < 12; i++, p++)
		if (!isdigit((unsigned char)*p))
			return false;
	if (strncmp(p, ":role", 5) != 0)
		return false;
	p += 5;
	if (*p == '/')
		p++;
	if (!*p)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_+=,.@-/", *p))
			return false;
	return strlen(r) <= 2048;
}

/* The length of UTF-8 text s as AWS counts it: in UTF-16 code units (Java's String
 * length), so a character outside the BMP counts twice. */
static size_t text_length(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xc0) != 0x80)
			n++;
		if (*p >= 0xf0)
			n++;
	}
	return n;
}

static bool env_key_valid(const char *k)
{
	if (!isalpha((unsigned char)k[0]) || !k[1])
		return false;
	for (const char *p = k + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

static int apply_env(struct fn_config *c, json_t *envobj, struct err *errp)
{
	if (json_is_null(envobj))
		return 0;
	if (!json_is_object(envobj))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Environment must be an object with Variables");
	json_t *vars = json_object_get(envobj, "Variables");
	if (!vars || json_is_null(vars)) {
		json_object_clear(c->env_vars);
		return 0;
	}
	if (!json_is_object(vars))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Environment.Variables must be a map of strings");
	char reserved[512] = "";
	const char *k;
	json_t *v;
	json_object_foreach(vars, k, v) {
		if (!json_is_string(v))
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "Environment.Variables value for '%s' must be a string", k);
		if (!env_key_valid(k))
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value at 'environment.variables' failed to "
			    "satisfy constraint: Map keys must satisfy constraint: [Member must satisfy "
			    "regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] (key '%.100s')",
			    k);
		for (size_t i = 0; i < sizeof(reserved_env) / sizeof(reserved_env[0]); i++)
			if (strcmp(k, reserved_env[i]) == 0) {
				size_t n = strlen(reserved);
				snprintf(reserved + n, sizeof(reserved) - n, "%s%s", n ? ", " : "", k);
			}
	}
	if (reserved[0])
		return err_svc(
		    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		    "Lambda was unable to configure your environment variables because the environment "
		    "variables you have provided contains reserved keys that are currently not supported "
		    "for modification. Reserved keys used in this request: %s",
		    reserved);
	/* AWS measures the map as JSON text, quotes, colons and commas included. */
	size_t total = json_dumpb(vars, NULL, 0, JSON_COMPACT);
	if (total > FN_ENV_MAX_BYTES)
		return err_svc(
		    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		    "Lambda was unable to configure your environment variables because the environment "
		    "variables you have provided exceeded the 4KB limit. String measured: %zu bytes",
		    total);
	json_decref(c->env_vars);
	c->env_vars = json_deep_copy(vars);
	return 0;
}

/* arn:aws[a-zA-Z-]*:(sqs|sns):REGION:ACCOUNT:NAME, as DeadLetterConfig.TargetArn must be. */
static bool dlq_arn_valid(const char *a)
{
	if (strncmp(a, "arn:aws", 7) != 0 || strlen(a) > 256)
		return false;
	const char *p = a + 7;
	while (isalpha((unsigned char)*p) || *p == '-')
		p++;
	if (strncmp(p, ":sqs:", 5) != 0 && strncmp(p, ":sns:", 5) != 0)
		return false;
	p += 5;
	size_t rn = strcspn(p, ":");
	if (!p[rn] || !region_valid(p, rn))
		return false;
	p += rn + 1;
	if (strcspn(p, ":") != 12 || !all_of(p, 12, isdigit) || p[12] != ':')
		return false;
	p += 13;
	if (!*p)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return false;
	return true;
}

static int apply_dlq(struct fn_config *c, json_t *dlc, struct err *errp)
{
	if (json_is_null(dlc))
		return 0;
	if (!json_is_object(dlc))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "DeadLetterConfig must be an object with TargetArn");
	const char *arn = NULL;
	int r = get_str(dlc, "TargetArn", &arn, errp);
	if (r < 0)
		return r;
	if (!arn || !arn[0]) {
		free(c->dlq_arn);
		c->dlq_arn = NULL;
		return 0;
	}
	if (!dlq_arn_valid(arn))
		return err_svc(
		    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		    "The provided DeadLetterConfig TargetArn %.300s is invalid: it must be the ARN of an "
		    "SQS queue or an SNS topic",
		    arn);
	set_str(&c->dlq_arn, arn);
	return 0;
}

int fn_config_apply(struct fn_config *c, json_t *req, bool create, struct err *errp)
{
	int r;
	const char *s;
	if (!json_is_object(req))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "request body must be a JSON object");
	if (create) {
		if ((r = get_str(req, "FunctionName", &s, errp)) < 0)
			return r;
		if (r == 0)
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value null at 'functionName' failed to satisfy "
			    "constraint: Member must not be null");
		char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
		if ((r = fn_parse_ref(s, name, qual, errp)) < 0)
			return r;
		if (qual[0])
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "FunctionName must not carry a qualifier: %s", s);
		set_str(&c->name, name);
		const char *pt = NULL;
		if ((r = get_str(req, "PackageType", &pt, errp)) < 0)
			return r;
		if (pt && strcmp(pt, "Zip") != 0)
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "PackageType %s is not supported by lambdad; use Zip", pt);
	}
	if ((r = get_str(req, "Runtime", &s, errp)) < 0)
		return r;
	if (r) {
		const char *list;
		if (!fn_runtime_supported(s, &list))
			return err_svc(
			    errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			    "Value %s at 'runtime' is not a runtime lambdad supports; supported: %s", s,
			    list);
		set_str(&c->runtime, s);
	} else if (create) {
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Runtime is required for a function of PackageType Zip");
	}
	if ((r = get_str(req, "Handler", &s, errp)) < 0)
		return r;
	if (r) {
		bool ok = strlen(s) <= 128 && s[0];
		for (const char *p = s; ok && *p; p++)
			ok = !isspace((unsigned char)*p);
		if (!ok)
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value '%.130s' at 'handler' failed to satisfy "
			    "constraint: Member must satisfy regular expression pattern: [^\\s]+ and have "
			    "length less than or equal to 128",
			    s);
		set_str(&c->handler, s);
	} else if (create) {
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
		               "Handler is required for a function of PackageType Zip");
	}
	if ((r = get_str(req, "Role", &s, errp)) < 0)
		return r;
	if (r) {
		if (!role_valid(s))
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value '%.200s' at 'role' failed to satisfy "
			    "constraint: Member must satisfy regular expression pattern: "
			    "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
			    s);
		set_str(&c->role, s);
	} else if (create) {
		return err_svc(
		    errp, LAMBDA_ERR_VALIDATION,
		    "1 validation error detected: Value null at 'role' failed to satisfy constraint: "
		    "Member must not be null");
	}
	if ((r = get_str(req, "Description", &s, errp)) < 0)
		return r;
	if (r) {
		if (text_length(s) > 256)
			return err_svc(
			    errp, LAMBDA_ERR_VALIDATION,
			    "1 validation error detected: Value at 'description' failed to satisfy "
			    "constraint: Member must have length less than or equal to 256");
		set_str(&c->description, s);
	}
	if ((r = get_int(req, "Timeout", "timeout", 1, 900, &c->timeout_s, errp)) < 0)
		return r;
	if ((r = get_int(req, "MemorySize", "memorySize", 128, 10240, &c->memory_mb, errp)) < 0)
		return r;
	json_t *eph = json_object_get(req, "EphemeralStorage");
	if (eph && !json_is_null(eph)) {
		if (!json_is_object(eph))
			return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
			               "EphemeralStorage must be an object with Size");
		uint32_t sz = c->ephemeral_mb;
		if ((r = get_int(eph, "Size", "ephemeralStorage.size", 512, 10240, &sz, errp)) < 0)
			return r;
		c->ephemeral_mb = sz;
	}
	json_t *env = json_object_get(req, "Environment");
	if (env && (r = apply_env(c, env, errp)) < 0)
		return r;
	json_t *dlc = json_object_get(req, "DeadLetterConfig");
	if (dlc && (r = apply_dlq(c, dlc, errp)) < 0)
		return r;
	json_t *tr = json_object_get(req, "TracingConfig");
	if (tr && json_is_object(tr)) {
		if ((r = get_str(tr, "Mode", &s, errp)) < 0)
			return r;
		if (r) {
			static const char *const modes[] = {"Active", "PassThrough", NULL};
			if (err_svc_enum(errp, LAMBDA_ERR_VALIDATION, "tracingConfig.mode", s, modes) < 0)
				return -EINVAL;
			set_str(&c->tracing_mode, s);
		}
	}
	/* Layers are resolved against the stored layer versions by the API (api__layers_apply). */
	json_t *arch = json_object_get(req, "Architectures");
	if (arch && json_is_array(arch)) {
		size_t i;
		json_t *a;
		json_array_foreach(arch, i, a) {
			if (!json_is_string(a) || strcmp(json_string_value(a), "x86_64") != 0)
				return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE,
				               "Architectures: only x86_64 is supported on this host");
		}
	}
	return 0;
}

char *fn_arn(const char *name, const char *region, const char *account)
{
	return xasprintf("arn:aws:lambda:%s:%s:function:%s", region, account, name);
}

char *fn_arn_qualified(const char *name, const char *qual, const char *region, const char *account)
{
	if (!qual || !qual[0])
		return fn_arn(name, region, account);
	return xasprintf("arn:aws:lambda:%s:%s:function:%s:%s", region, account, name, qual);
}

const char *fn_version(const struct fn_config *c)
{
	return c->version[0] ? c->version : FN_LATEST;
}

enum fn_qual_kind fn_qual_kind(const char *q)
{
	size_t n = strlen(q);
	if (strcmp(q, FN_LATEST) == 0)
		return FN_QUAL_LATEST;
	if (n == 0 || n > 128 || !word_valid(q, n))
		return FN_QUAL_BAD;
	if (!all_of(q, n, isdigit))
		return FN_QUAL_ALIAS;
	/* A version number: 1 to 4294967295 without leading zeros, as Lambda gives them. */
	if (q[0] == '0' || n > 10 || (n == 10 && strcmp(q, "4294967295") > 0))
		return FN_QUAL_BAD;
	return FN_QUAL_VERSION;
}

json_t *fn_config_to_api(const struct fn_config *c, const char *region, const char *account)
{
	char lastmod[32];
	clock_fmt_lastmod(c->last_modified_ms, lastmod);
	char *arn = fn_arn_qualified(c->name, c->version, region, account);
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:i, s:s, s:s, s:s, s:{s:s}, s:s, "
	    "s:s, s:s, s:s, s:[s], s:{s:i}, s:{s:s, s:s}, s:{s:s}}",
	    "FunctionName", c->name, "FunctionArn", arn, "Runtime", c->runtime, "Role", c->role, "Handler",
	    c->handler, "CodeSize", (json_int_t)c->code_size, "Description", c->description, "Timeout",
	    (int)c->timeout_s, "MemorySize", (int)c->memory_mb, "LastModified", lastmod, "CodeSha256",
	    c->code_b64, "Version", fn_version(c), "TracingConfig", "Mode", c->tracing_mode, "RevisionId",
	    c->revision_id, "State", "Active", "LastUpdateStatus", "Successful", "PackageType", "Zip",
	    "Architectures", "x86_64", "EphemeralStorage", "Size", (int)c->ephemeral_mb, "LoggingConfig",
	    "LogFormat", "Text", "LogGroup", "", "SnapStart", "ApplyOn", "None");
	free(arn);
	char *lg = xasprintf("/aws/lambda/%s", c->name);
	json_object_set_new(json_object_get(o, "LoggingConfig"), "LogGroup", json_string(lg));
	free(lg);
	if (json_object_size(c->env_vars) > 0)
		json_object_set_new(o, "Environment", json_pack("{s:O}", "Variables", c->env_vars));
	if (c->dlq_arn)
		json_object_set_new(o, "DeadLetterConfig", json_pack("{s:s}", "TargetArn", c->dlq_arn));
	if (json_array_size(c->layers) > 0) {
		json_t *l = json_array(), *v;
		size_t i;
		json_array_foreach(c->layers, i, v)
			json_array_append_new(l, json_pack("{s:O, s:O}", "Arn", json_object_get(v, "Arn"),
			                                   "CodeSize", json_object_get(v, "CodeSize")));
		json_object_set_new(o, "Layers", l);
	}
	return o;
}

char *fn_config_to_stored(const struct fn_config *c)
{
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:O, s:s, s:s, s:s, s:I, s:I, s:s}", "name",
	              c->name, "runtime", c->runtime, "handler", c->handler, "role", c->role, "description",
	              c->description, "timeout_s", (int)c->timeout_s, "memory_mb", (int)c->memory_mb,
	              "ephemeral_mb", (int)c->ephemeral_mb, "env", c->env_vars, "tracing", c->tracing_mode,
	              "code_hex", c->code_hex, "code_b64", c->code_b64, "code_size", (json_int_t)c->code_size,
	              "last_modified_ms", (json_int_t)c->last_modified_ms, "revision_id", c->revision_id);
	if (c->dlq_arn)
		json_object_set_new(o, "dlq_arn", json_string(c->dlq_arn));
	if (json_array_size(c->layers) > 0)
		json_object_set(o, "layers", c->layers);
	if (c->code_unzipped)
		json_object_set_new(o, "code_unzipped", json_integer((json_int_t)c->code_unzipped));
	if (c->version[0])
		json_object_set_new(o, "version", json_string(c->version));
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

struct fn_config *fn_config_from_stored(const char *text, struct err *errp)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	if (!o) {
		err_make(errp, EINVAL, "stored configuration is not JSON: %s", je.text);
		return NULL;
	}
	const char *name, *runtime, *handler, *role, *desc, *tracing, *hex, *b64, *rev;
	int timeout, memory, eph;
	json_int_t size, lastmod;
	json_t *env;
	if (json_unpack_ex(o, &je, 0,
	                   "{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:s, s:s, s:s, s:I, s:I, s:s}",
	                   "name", &name, "runtime", &runtime, "handler", &handler, "role", &role,
	                   "description", &desc, "timeout_s", &timeout, "memory_mb", &memory, "ephemeral_mb",
	                   &eph, "env", &env, "tracing", &tracing, "code_hex", &hex, "code_b64", &b64,
	                   "code_size", &size, "last_modified_ms", &lastmod, "revision_id", &rev) < 0 ||
	    strlen(hex) != 64 || strlen(b64) > 44 || strlen(rev) != 36 || !json_is_object(env)) {
		err_make(errp, EINVAL, "stored configuration is malformed: %s", je.text);
		json_decref(o);
		return NULL;
	}
	struct fn_config *c = fn_config_new();
	c->name = xstrdup(name);
	c->runtime = xstrdup(runtime);
	c->handler = xstrdup(handler);
	c->role = xstrdup(role);
	set_str(&c->description, desc);
	set_str(&c->tracing_mode, tracing);
	c->timeout_s = (uint32_t)timeout;
	c->memory_mb = (uint32_t)memory;
	c->ephemeral_mb = (uint32_t)eph;
	json_decref(c->env_vars);
	c->env_vars = json_deep_copy(env);
	memcpy(c->code_hex, hex, 65);
	snprintf(c->code_b64, sizeof(c->code_b64), "%s", b64);
	c->code_size = (uint64_t)size;
	c->last_modified_ms = lastmod;
	memcpy(c->revision_id, rev, 37);
	const char *dlq = json_string_value(json_object_get(o, "dlq_arn"));
	c->dlq_arn = dlq && dlq[0] ? xstrdup(dlq) : NULL;
	json_t *layers = json_object_get(o, "layers");
	if (json_is_array(layers)) {
		json_decref(c->layers);
		c->layers = json_deep_copy(layers);
	}
	c->code_unzipped = (uint64_t)json_integer_value(json_object_get(o, "code_unzipped"));
	const char *ver = json_string_value(json_object_get(o, "version"));
	if (ver && fn_qual_kind(ver) == FN_QUAL_VERSION)
		snprintf(c->version, sizeof(c->version), "%s", ver);
	json_decref(o);
	return c;
}

bool fn_scaling_is_default(const struct fn_scaling *sc)
{
	return sc->reserved < 0 && sc->provisioned == 0 && sc->keep_alive_ms < 0;
}

char *fn_scaling_to_stored(const struct fn_scaling *sc)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "reserved", (json_int_t)sc->reserved, "provisioned",
	                      (json_int_t)sc->provisioned, "provisioned_modified_ms",
	                      (json_int_t)sc->provisioned_modified_ms, "keep_alive_ms",
	                      (json_int_t)sc->keep_alive_ms);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

struct fn_scaling fn_scaling_from_stored(const char *text)
{
	struct fn_scaling sc = FN_SCALING_DEFAULT;
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	json_t *v;
	if ((v = json_object_get(o, "reserved")) && json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT32_MAX)
		sc.reserved = (int32_t)json_integer_value(v);
	if ((v = json_object_get(o, "provisioned")) && json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= UINT32_MAX)
		sc.provisioned = (uint32_t)json_integer_value(v);
	if ((v = json_object_get(o, "provisioned_modified_ms")) && json_is_integer(v))
		sc.provisioned_modified_ms = json_integer_value(v);
	if ((v = json_object_get(o, "keep_alive_ms")) && json_is_integer(v) && json_integer_value(v) >= 0)
		sc.keep_alive_ms = json_integer_value(v);
	json_decref(o);
	return sc;
}
