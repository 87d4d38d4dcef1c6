/* The function model (prefix fn_): configuration, scaling settings, validation of API
 * input, and their JSON forms. No SQL here, no table: registry/registry.h keeps the
 * current functions. */
#ifndef LAMBDAD_REGISTRY_FN_H
#define LAMBDAD_REGISTRY_FN_H

#include <jansson.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>

#define FN_NAME_MAX 64
/* A qualifier (a version or alias, 1-128 characters) with its NUL and one byte more, so
 * a qualifier one character too long is seen rather than cut. */
#define FN_QUAL_SIZE 130
#define FN_LATEST "$LATEST" /* the unpublished version every function has */
#define FN_TIMEOUT_DEFAULT_S 3
#define FN_MEMORY_DEFAULT_MB 128
#define FN_EPHEMERAL_DEFAULT_MB 512
#define FN_ENV_MAX_BYTES 4096

/* The validators report Lambda's own errors as service errors (err_svc, errp->svc one of
 * svc/lambda/errors.h): LAMBDA_ERR_INVALID_PARAMETER_VALUE (InvalidParameterValueException) or
 * LAMBDA_ERR_VALIDATION (ValidationException: outside the model's constraints), and
 * return -EINVAL. */

/* One function's configuration at one revision. Immutable once published to the
 * registry: an update makes a new fn_config. Shared by reference: the count is the
 * module's own (next to the struct, out of sight), so a holder that only reads keeps a
 * const pointer and one that keeps a reference keeps a plain one. Made only by
 * fn_config_new, fn_config_dup and fn_config_from_stored. */
struct fn_config {
	char *name;
	char *runtime;
	char *handler;
	char *role;
	char *description;
	uint32_t timeout_s;
	uint32_t memory_mb;
	uint32_t ephemeral_mb;
	json_t *env_vars;   /* object of string values, never NULL */
	char *tracing_mode; /* "PassThrough" or "Active" */
	char code_hex[65];  /* SHA-256 of the zip, hex: the blob's name in the store */
	char code_b64[45];  /* the same, base64: CodeSha256 as AWS shows it */
	uint64_t code_size; /* bytes of the zip */
	int64_t last_modified_ms;
	char revision_id[37];
	char *dlq_arn;    /* DeadLetterConfig.TargetArn (an SQS queue or SNS topic); NULL: none */
	char version[12]; /* a published version's number ("1", "2", ...); "": $LATEST */
	/* Layers, in order: [{"Arn", "CodeSize", "Sha" (the blob's hex), "Unzipped" (bytes)}],
	 * never NULL; resolved by the API (svc/lambda/layers.c). */
	json_t *layers;
	uint64_t code_unzipped; /* bytes of the extracted code; 0: not known (older data) */
};

struct fn_config *fn_config_new(void); /* owned (one reference), AWS defaults */
/* A deep copy, owned with one reference (the start of an update). */
struct fn_config *fn_config_dup(const struct fn_config *c);
/* Takes a reference: c must be one the caller may share (not a const borrow); returns c. */
struct fn_config *fn_config_ref(struct fn_config *c);
/* Drops a reference, freeing c with the last one. NULL is a no-op. */
void fn_config_unref(struct fn_config *c);
/* How many references c has (for tests and assertions). */
int fn_config_refs(const struct fn_config *c);

/* The version c is: its number, or FN_LATEST (borrowed from c or static). */
const char *fn_version(const struct fn_config *c);

/* What a qualifier names: $LATEST, a version number (1-2^32) or an alias name
 * (1-128 of [a-zA-Z0-9-_], not all digits); FN_QUAL_BAD for anything else. */
enum fn_qual_kind { FN_QUAL_BAD, FN_QUAL_LATEST, FN_QUAL_VERSION, FN_QUAL_ALIAS };
enum fn_qual_kind fn_qual_kind(const char *qual);

/* Validates a function name (1-64 of [a-zA-Z0-9-_]). */
bool fn_name_valid(const char *name);

/* Resolves the FunctionName path parameter: a name, a partial ARN
 * (123456789012:function:name) or a full ARN, each optionally with ":qualifier".
 * Writes the bare name to name_out and the qualifier (or "") to qual_out.
 * Returns 0 or -EINVAL with a service error (INVALID_PARAMETER_VALUE or VALIDATION) and a
 * message naming the field. */
int fn_parse_ref(const char *ref, char name_out[FN_NAME_MAX + 1], char qual_out[FN_QUAL_SIZE],
                 struct err *errp);

/* Applies the configuration fields of a CreateFunction (create = true) or
 * UpdateFunctionConfiguration request body to c, validating each; unknown
 * fields are ignored as AWS's SDKs never send them. On failure c may be half
 * changed: apply to a copy. Returns 0 or -EINVAL with a service error (see above). */
int fn_config_apply(struct fn_config *c, json_t *req, bool create, struct err *errp);

/* Whether a runtime identifier is one lambdad runs; *list gets the supported list. */
bool fn_runtime_supported(const char *runtime, const char **list);
/* Custom runtimes (provided*) need a "bootstrap" file at the zip's root. */
bool fn_runtime_needs_bootstrap(const char *runtime);
/* "provided", "python" or "node": which runtime starts the function. */
const char *fn_runtime_family(const char *runtime);

/* The FunctionConfiguration JSON that the API returns (owned). */
json_t *fn_config_to_api(const struct fn_config *c, const char *region, const char *account);
/* The function's ARN (owned). */
char *fn_arn(const char *name, const char *region, const char *account);
/* The function's ARN with ":qual" when qual is neither NULL nor "" (owned). */
char *fn_arn_qualified(const char *name, const char *qual, const char *region, const char *account);

/* The stored form (owned JSON text) and back; from_stored returns NULL with a
 * message when the text is not a stored configuration. */
char *fn_config_to_stored(const struct fn_config *c);
struct fn_config *fn_config_from_stored(const char *text, struct err *errp);

/* Scaling settings of a function, kept apart from its configuration: changing them
 * does not change its RevisionId, as on AWS. */
struct fn_scaling {
	int32_t reserved;                /* reserved concurrency; -1: none (the unreserved pool) */
	uint32_t provisioned;            /* provisioned concurrency: environments kept initialised */
	int64_t provisioned_modified_ms; /* when provisioned was last set (epoch ms) */
	int64_t keep_alive_ms;           /* idle environments live this long; -1: the server's */
};
#define FN_SCALING_DEFAULT ((struct fn_scaling){.reserved = -1, .provisioned = 0, .keep_alive_ms = -1})

/* Whether sc asks for nothing: no reservation, nothing provisioned, the server's
 * keep-alive (provisioned_modified_ms is not looked at). */
bool fn_scaling_is_default(const struct fn_scaling *sc);
/* The stored form of sc: an owned JSON text {"reserved", "provisioned",
 * "provisioned_modified_ms", "keep_alive_ms"} (the store's "scaling" collection). */
char *fn_scaling_to_stored(const struct fn_scaling *sc);
/* Parses the stored form; out-of-range or missing values read back as their defaults. */
struct fn_scaling fn_scaling_from_stored(const char *text);

#endif
