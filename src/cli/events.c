/* `lambdad events failed|replay|stats NAME`: the asynchronous events of a function
 * that lambdad kept after they failed, delivering them again, and the queue's stats. */
#include <getopt.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

static void events_usage(FILE *f)
{
	fprintf(f, "usage: lambdad events failed NAME [options]\n"
	           "       lambdad events replay NAME [REQUEST_ID...] [options]\n"
	           "       lambdad events stats NAME [options]\n"
	           "Asynchronous events (InvocationType Event) of a function:\n"
	           "  failed   the events that failed for good and that lambdad kept (reason, last error)\n"
	           "  replay   delivers kept events again (all of them, or those named)\n"
	           "  stats    queue depth, oldest event age, retries, throttles, dropped by age,\n"
	           "           dead-lettered, delivery latency\n\n"
	           "  --payload           failed: print each kept event's payload too\n"
	           "  --json              print the server's JSON answer as it is\n"
	           "  --endpoint URL      server (default $LAMBDAD_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ")\n"
	           "  --help              this help\n");
}

/* One line of s at most max bytes, newlines and tabs shown as spaces. Owned. */
static char *one_line(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *o = xstrndup(s, n > max ? max : n);
	for (char *p = o; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (n > max) {
		o = xrealloc(o, max + 4);
		strcpy(o + max, "...");
	}
	return o;
}

static void print_failed(json_t *o, bool payload)
{
	json_t *evs = json_object_get(o, "Events");
	if (json_array_size(evs) == 0) {
		printf("no failed events kept for %s\n",
		       json_string_value(json_object_get(o, "FunctionName")));
		return;
	}
	printf("%-36s  %-24s  %8s  %-16s  %s\n", "REQUEST_ID", "FAILED_AT", "ATTEMPTS", "CONDITION",
	       "REASON");
	size_t i;
	json_t *ev;
	json_array_foreach(evs, i, ev) {
		const char *le = json_string_value(json_object_get(ev, "LastError"));
		autofree char *err = one_line(le ? le : "-", 300);
		printf("%-36s  %-24s  %8lld  %-16s  %s\n",
		       json_string_value(json_object_get(ev, "RequestId")),
		       json_string_value(json_object_get(ev, "FailedAt")),
		       (long long)json_integer_value(json_object_get(ev, "ApproximateInvokeCount")),
		       json_string_value(json_object_get(ev, "Condition")),
		       json_string_value(json_object_get(ev, "Reason")));
		printf("%-36s  last error: %s\n", "", err);
		if (!payload)
			continue;
		const char *p = json_string_value(json_object_get(ev, "Payload"));
		const char *p64 = json_string_value(json_object_get(ev, "PayloadBase64"));
		if (p)
			printf("%-36s  payload: %s%s", "", p, *p && p[strlen(p) - 1] == '\n' ? "" : "\n");
		else if (p64)
			printf("%-36s  payload (base64): %s\n", "", p64);
		else
			printf("%-36s  payload: (replayed meanwhile)\n", "");
	}
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void print_stats(json_t *o)
{
	json_t *lat = json_object_get(o, "DeliveryLatencyMs");
	printf("function               %s\n", json_string_value(json_object_get(o, "FunctionName")));
	printf("queue depth            %lld\n", num(o, "QueueDepth"));
	printf("in flight              %lld\n", num(o, "InFlight"));
	printf("oldest event age       %.3f s\n",
	       json_number_value(json_object_get(o, "OldestEventAgeSeconds")));
	printf("accepted               %lld\n", num(o, "Accepted"));
	printf("delivered              %lld\n", num(o, "Delivered"));
	printf("retries                %lld\n", num(o, "Retries"));
	printf("throttles              %lld\n", num(o, "Throttles"));
	printf("dropped by age         %lld\n", num(o, "DroppedByAge"));
	printf("dead-lettered          %lld\n", num(o, "DeadLettered"));
	printf("kept by lambdad        %lld (lambdad events failed %s)\n", num(o, "FailedStored"),
	       json_string_value(json_object_get(o, "FunctionName")));
	printf("delivery latency       p50 %lld ms, p99 %lld ms (last %lld deliveries)\n", num(lat, "p50"),
	       num(lat, "p99"), num(lat, "n"));
}

static int print_replay(json_t *o)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(o, "Replayed"), i, v)
		printf("replayed %s\n", json_string_value(v));
	json_array_foreach(json_object_get(o, "NotFound"), i, v)
		fprintf(stderr, "lambdad: no kept event %s\n", json_string_value(v));
	if (json_array_size(json_object_get(o, "Replayed")) == 0 &&
	    json_array_size(json_object_get(o, "NotFound")) == 0)
		printf("no failed events to replay\n");
	return json_array_size(json_object_get(o, "NotFound")) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_events(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"endpoint", required_argument, NULL, 'E'},
	    {"json", no_argument, NULL, 'j'},
	    {"payload", no_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *endpoint = cli_default_endpoint();
	bool raw = false, payload = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'E':
			endpoint = optarg;
			break;
		case 'j':
			raw = true;
			break;
		case 'p':
			payload = true;
			break;
		case 'h':
			events_usage(stdout);
			return CLI_EXIT_OK;
		default:
			events_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "%s: %s\n", argv[0],
		        argc - optind < 1 ? "missing failed, replay or stats" : "missing NAME");
		events_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *op = argv[optind], *name = argv[optind + 1];
	bool replay = strcmp(op, "replay") == 0;
	if (!replay && strcmp(op, "failed") != 0 && strcmp(op, "stats") != 0) {
		fprintf(stderr, "%s: unknown action '%s' (failed, replay or stats)\n", argv[0], op);
		events_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!replay && argc - optind > 2) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind + 2]);
		events_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	autofree char *ename = cli_urlencode(name);
	if (payload && strcmp(op, "failed") != 0) {
		fprintf(stderr, "%s: --payload goes with failed\n", argv[0]);
		events_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	autofree char *path =
	    xasprintf("/lambdad/v1/functions/%s/events/%s%s", ename, op, payload ? "?payload=true" : "");
	autofree char *body = NULL;
	if (replay) {
		json_t *ids = json_array();
		for (int i = optind + 2; i < argc; i++)
			json_array_append_new(ids, json_string(argv[i]));
		json_t *o = json_pack("{s:o}", "RequestIds", ids);
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	struct cli_client *c = cli_client_new(endpoint);
	struct cli_resp resp = {0};
	struct err e = {0};
	int rc;
	if (cli_request(c, replay ? "POST" : "GET", path, replay ? "application/json" : NULL, body,
	                body ? strlen(body) : 0, NULL, 0, &resp, &e) < 0) {
		rc = cli_report_err(&e);
	} else if (resp.status != 200) {
		rc = cli_report_api_error(&resp);
	} else if (raw) {
		printf("%s\n", resp.body);
		rc = CLI_EXIT_OK;
	} else {
		json_error_t je;
		json_t *o = json_loadb(resp.body, resp.len, 0, &je);
		if (!json_is_object(o)) {
			fprintf(stderr, "lambdad: the server answered something other than a JSON object\n");
			rc = CLI_EXIT_FAIL;
		} else if (replay) {
			rc = print_replay(o);
		} else {
			if (strcmp(op, "failed") == 0)
				print_failed(o, payload);
			else
				print_stats(o);
			rc = CLI_EXIT_OK;
		}
		json_decref(o);
	}
	if (rc == CLI_EXIT_OK && fflush(stdout) != 0)
		rc = CLI_EXIT_FAIL;
	cli_resp_fini(&resp);
	cli_client_free(c);
	return rc;
}
