/* The alias model: the weighted choice of a version, and the alias's API and stored
 * JSON forms. */
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

void fn_alias_free(struct fn_alias *a)
{
	if (!a)
		return;
	free(a->description);
	free(a);
}

const char *fn_alias_pick(const struct fn_alias *a, double u)
{
	if (a->extra_version[0] && u < a->extra_weight)
		return a->extra_version;
	return a->version;
}

json_t *fn_alias_to_api(const struct fn_alias *a, const char *fn_name, const char *region,
                        const char *account)
{
	char *arn = fn_arn_qualified(fn_name, a->name, region, account);
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "AliasArn", arn, "Name", a->name, "FunctionVersion",
	              a->version, "Description", a->description, "RevisionId", a->revision_id);
	free(arn);
	if (a->extra_version[0])
		json_object_set_new(
		    o, "RoutingConfig",
		    json_pack("{s:{s:f}}", "AdditionalVersionWeights", a->extra_version, a->extra_weight));
	return o;
}

char *fn_alias_to_stored(const struct fn_alias *a)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f}", "name", a->name, "version", a->version,
	                      "description", a->description, "revision_id", a->revision_id, "extra_version",
	                      a->extra_version, "extra_weight", a->extra_weight);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

struct fn_alias *fn_alias_from_stored(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	const char *name, *ver, *desc, *rev, *xver;
	double w;
	if (!o ||
	    json_unpack(o, "{s:s, s:s, s:s, s:s, s:s, s:F}", "name", &name, "version", &ver, "description",
	                &desc, "revision_id", &rev, "extra_version", &xver, "extra_weight", &w) < 0 ||
	    fn_qual_kind(name) != FN_QUAL_ALIAS || fn_qual_kind(ver) == FN_QUAL_BAD ||
	    fn_qual_kind(ver) == FN_QUAL_ALIAS || strlen(rev) != 36 ||
	    (xver[0] && fn_qual_kind(xver) != FN_QUAL_VERSION) || w < 0.0 || w > 1.0) {
		json_decref(o);
		return NULL;
	}
	struct fn_alias *a = xcalloc(1, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->version, sizeof(a->version), "%s", ver);
	snprintf(a->extra_version, sizeof(a->extra_version), "%s", xver);
	a->extra_weight = w;
	a->description = xstrdup(desc);
	memcpy(a->revision_id, rev, 37);
	json_decref(o);
	return a;
}
