#!/usr/bin/env bash
# GET /metrics: a strict parse of the Prometheus text format, exact counts after a known
# sequence of invocations, monotonic counters, and throttles under --account-concurrency 1.
source "$(dirname "$0")/lib.sh"

# scrape NAME: GET /metrics into $WORK/NAME.prom (headers in $WORK/NAME.h); prints the status.
scrape() { curl -s -o "$WORK/$1.prom" -D "$WORK/$1.h" -w '%{http_code}' "$ENDPOINT/metrics"; }

# val NAME SERIES: the value of the series written exactly as SERIES (labels in the
# server's order), or "missing".
val() { awk -v s="$2" 'index($0, s " ") == 1 { print $NF; found = 1 } END { if (!found) print "missing" }' "$WORK/$1.prom"; }

# validate NAME: parses every line of $WORK/NAME.prom strictly; prints "ok" or the problems.
# Checks: each family has one # HELP and one # TYPE before its samples and its samples are
# contiguous; names and label syntax (escapes included) are valid; values are numbers;
# no series twice; counters end in _total; histograms have only _bucket/_sum/_count with
# increasing le ending in +Inf, cumulative counts, and _count equal to the +Inf bucket;
# every unlabelled total (or state-only total) equals the sum over its functions.
validate() {
	python3 - "$WORK/$1.prom" <<'PY'
import math, re, sys
from collections import defaultdict
text = open(sys.argv[1], encoding="utf-8").read()
probs = []
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LVAL = r'"(?:[^"\\\n]|\\["\\n])*"'
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*=" + LVAL
SAMPLE = re.compile(r"^(" + NAME + r")(?:\{(" + LABEL + r"(?:," + LABEL + r")*)?\})? (\S+)$")
HELP = re.compile(r"^# HELP (" + NAME + r") (.*)$")
TYPE = re.compile(r"^# TYPE (" + NAME + r") (counter|gauge|histogram|summary|untyped)$")
NUM = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$")
def unescape(v):
    return re.sub(r'\\(["\\n])', lambda m: "\n" if m.group(1) == "n" else m.group(1), v[1:-1])
if not text.endswith("\n"):
    probs.append("no final newline")
helps, types, closed = {}, {}, set()
cur = None
series = {}
samples = defaultdict(list)   # family -> [(name, labels dict, value)]
for n, line in enumerate(text.split("\n")[:-1], 1):
    m = HELP.match(line)
    if m:
        fam = m.group(1)
        if fam in helps: probs.append("line %d: second HELP for %s" % (n, fam))
        if cur and cur != fam: closed.add(cur)
        if fam in closed: probs.append("line %d: family %s is not contiguous" % (n, fam))
        helps[fam] = m.group(2); cur = fam
        continue
    m = TYPE.match(line)
    if m:
        fam = m.group(1)
        if fam in types: probs.append("line %d: second TYPE for %s" % (n, fam))
        if fam != cur: probs.append("line %d: TYPE %s not right after its HELP" % (n, fam))
        if samples[fam]: probs.append("line %d: TYPE %s after its samples" % (n, fam))
        types[fam] = m.group(2)
        continue
    m = SAMPLE.match(line)
    if not m:
        probs.append("line %d: not a valid line: %r" % (n, line)); continue
    name, lstr, v = m.groups()
    if not NUM.match(v):
        probs.append("line %d: bad value %r" % (n, v)); continue
    labels = {}
    for lm in re.finditer(r"([a-zA-Z_][a-zA-Z0-9_]*)=(" + LVAL + ")", lstr or ""):
        if lm.group(1) in labels: probs.append("line %d: label %s twice" % (n, lm.group(1)))
        labels[lm.group(1)] = unescape(lm.group(2))
    fam = name
    if cur and types.get(cur) == "histogram" and name in (cur + "_bucket", cur + "_sum", cur + "_count"):
        fam = cur
    if fam != cur or fam not in types:
        probs.append("line %d: sample %s outside its family (current %s)" % (n, name, cur)); continue
    key = (name, tuple(sorted(labels.items())))
    if key in series: probs.append("line %d: series twice: %s" % (n, line))
    series[key] = float(v)
    samples[fam].append((name, labels, float(v)))
for fam, t in types.items():
    if not fam.startswith("lambdad_"): probs.append("%s: not prefixed lambdad_" % fam)
    if fam not in helps: probs.append("%s: no HELP" % fam)
    if t == "counter" and not fam.endswith("_total"): probs.append("%s: counter not ending in _total" % fam)
    if t != "counter" and fam.endswith("_total"): probs.append("%s: %s ending in _total" % (fam, t))
    for name, labels, v in samples[fam]:
        if v < 0 or math.isnan(v): probs.append("%s%s: negative or NaN" % (name, labels))
    if t == "histogram":
        if not fam.endswith("_seconds"): probs.append("%s: histogram not in seconds" % fam)
        groups = defaultdict(lambda: {"buckets": [], "sum": None, "count": None})
        for name, labels, v in samples[fam]:
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            g = groups[rest]
            if name.endswith("_bucket"):
                if "le" not in labels: probs.append("%s: bucket without le" % fam); continue
                g["buckets"].append((labels["le"], v))
            elif "le" in labels: probs.append("%s: le on %s" % (fam, name))
            elif name.endswith("_sum"): g["sum"] = v
            else: g["count"] = v
        for rest, g in groups.items():
            b = g["buckets"]
            if not b or b[-1][0] != "+Inf": probs.append("%s%s: last bucket is not +Inf" % (fam, rest)); continue
            bounds = [float(le) for le, _ in b]
            if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                probs.append("%s%s: le not increasing" % (fam, rest))
            counts = [v for _, v in b]
            if counts != sorted(counts): probs.append("%s%s: buckets not cumulative: %s" % (fam, rest, counts))
            if g["count"] is None or g["sum"] is None: probs.append("%s%s: no _sum or _count" % (fam, rest))
            elif g["count"] != counts[-1]:
                probs.append("%s%s: _count %s != +Inf bucket %s" % (fam, rest, g["count"], counts[-1]))
    else:
        # The series without a function label are the totals of those with one.
        totals, sums = {}, defaultdict(float)
        for name, labels, v in samples[fam]:
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "function"))
            if "function" in labels: sums[rest] += v
            else: totals[rest] = v
        for rest, s in sums.items():
            if rest not in totals: probs.append("%s%s: per-function series but no total" % (fam, rest))
            elif totals[rest] != s: probs.append("%s%s: total %s != sum %s" % (fam, rest, totals[rest], s))
    if t != "histogram" and not samples[fam]: probs.append("%s: no samples" % fam)
print("ok" if not probs else "; ".join(probs[:10]))
PY
}

# monotonic OLD NEW: every counter and histogram series of OLD is in NEW and not lower.
monotonic() {
	python3 - "$WORK/$1.prom" "$WORK/$2.prom" <<'PY'
import sys
def load(p):
    d, types = {}, {}
    for line in open(p, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("# TYPE "):
            _, _, fam, t = line.split(" ")
            types[fam] = t
        elif line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            d[k] = float(v)
    return d, types
old, types = load(sys.argv[1])
new, _ = load(sys.argv[2])
probs = []
for k, v in old.items():
    name = k.split("{")[0]
    fam = next((f for f in types if name == f or name in (f + "_bucket", f + "_sum", f + "_count")), None)
    if types.get(fam) not in ("counter", "histogram"): continue
    if k not in new: probs.append("%s vanished" % k)
    elif new[k] < v: probs.append("%s went down %s -> %s" % (k, v, new[k]))
print("ok" if not probs else "; ".join(probs[:10]))
PY
}

# --- The format itself: the parser must reject what the server must never send.
cat >"$WORK/bad1.prom" <<'EOF'
# HELP lambdad_x_total x
# TYPE lambdad_x_total counter
lambdad_x_total{function="a\q"} 1
EOF
check_contains "validator rejects a bad escape" "not a valid line" "$(validate bad1)"
cat >"$WORK/bad2.prom" <<'EOF'
# HELP lambdad_h_seconds h
# TYPE lambdad_h_seconds histogram
lambdad_h_seconds_bucket{function="a",le="0.1"} 2
lambdad_h_seconds_bucket{function="a",le="+Inf"} 1
lambdad_h_seconds_sum{function="a"} 1
lambdad_h_seconds_count{function="a"} 2
EOF
check_contains "validator rejects non-cumulative buckets" "not cumulative" "$(validate bad2)"
check_contains "validator rejects _count != +Inf" "_count 2.0 != +Inf bucket 1.0" "$(validate bad2)"
cat >"$WORK/bad3.prom" <<'EOF'
# HELP lambdad_g g
# TYPE lambdad_g gauge
lambdad_g 3
lambdad_g{function="a"} 1
lambdad_g{function="b"} 1
EOF
check_contains "validator rejects a total that is not the sum" "total 3.0 != sum 2.0" "$(validate bad3)"

# --- An empty server: every family is there, with zero totals.
start_server --account-concurrency 20
code=$(scrape s0)
check "GET /metrics is 200" 200 "$code"
check_contains "content type of the text format" "Content-Type: text/plain; version=0.0.4; charset=utf-8" "$(cat "$WORK/s0.h")"
check_contains "x-amzn-RequestId like every reply" "x-amzn-RequestId:" "$(cat "$WORK/s0.h")"
check "empty server: valid exposition" ok "$(validate s0)"
check "empty server: no invocations" 0 "$(val s0 lambdad_invocations_total)"
check "account concurrency limit is the flag's" 20 "$(val s0 lambdad_account_concurrency_limit)"
check "empty server: no environments idle" 0 "$(val s0 'lambdad_environments{state="idle"}')"
check "empty server: histogram families without series" 0 "$(grep -c '^lambdad_invocation_duration_seconds_' "$WORK/s0.prom")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$ENDPOINT/metrics")
check "POST /metrics is not an operation" 404 "$code"

# --- A known sequence: 3 successes, 1 function error, 1 timeout on m1.
create_fn m1 tool --timeout 1 --memory-size 256 >/dev/null
create_fn m2 echo >/dev/null
check "m1 #1 (cold)" 200 "$(inv m1 '{"op":"count"}')"
env1=$(jq_ 'd["env_id"]')
check "m1 #2 (warm)" 200 "$(inv m1 '{"op":"count"}')"
check "m1 #2 ran in the first environment" "$env1" "$(jq_ 'd["env_id"]')"
inv m1 '{"op":"error","message":"boom"}' >/dev/null
check "m1 #3 is a function error" Unhandled "$(hdr X-Amz-Function-Error)"
inv m1 '{"op":"sleep","seconds":5}' >/dev/null
check "m1 #4 times out" Sandbox.Timedout "$(jq_ 'd["errorType"]')"
# The timeout kills its environment, so the next invocation is a second cold start.
check "m1 #5" 200 "$(inv m1 '{"op":"count"}')"
check "m1 #5 ran in a new environment (first event there)" 1 "$(jq_ 'd["count"]')"
if [ "$(jq_ 'd["env_id"]')" != "$env1" ]; then pass "m1 #5 environment differs"; else fail "m1 #5 reused $env1"; fi
check "m2 #1" 200 "$(inv m2 '{"a":1}')"
check "m2 #2" 200 "$(inv m2 '{"a":2}')"

code=$(scrape s1)
check "scrape 1 is 200" 200 "$code"
check "scrape 1: valid exposition" ok "$(validate s1)"
f='{function="m1"}'
check "m1 invocations" 5 "$(val s1 "lambdad_invocations_total$f")"
check "m1 errors (the timeout counts as one)" 2 "$(val s1 "lambdad_errors_total$f")"
check "m1 timeouts" 1 "$(val s1 "lambdad_timeouts_total$f")"
check "m1 cold starts" 2 "$(val s1 "lambdad_cold_starts_total$f")"
check "m1 throttles" 0 "$(val s1 "lambdad_throttles_total$f")"
check "m1 duration histogram counts every invocation" 5 "$(val s1 "lambdad_invocation_duration_seconds_count$f")"
check "m1 init histogram counts every cold start" 2 "$(val s1 "lambdad_init_duration_seconds_count$f")"
# The timeout (1 s) ran at least 0.9 s; the other four took well under the 10 s bucket.
check "m1 durations under 10 s" 5 "$(val s1 'lambdad_invocation_duration_seconds_bucket{function="m1",le="10"}')"
sum=$(val s1 "lambdad_invocation_duration_seconds_sum$f")
if python3 -c "import sys; sys.exit(0 if 0.9 <= float('$sum') < 10 else 1)" 2>/dev/null; then
	pass "m1 duration sum in seconds covers the 1 s timeout ($sum)"
else fail "m1 duration sum in seconds: $sum"; fi
check "m1 le=0.001 bucket label" 1 "$(grep -c '^lambdad_invocation_duration_seconds_bucket{function="m1",le="0.001"} ' "$WORK/s1.prom")"
check "m1 one environment idle" 1 "$(val s1 'lambdad_environments{function="m1",state="idle"}')"
check "m1 none busy" 0 "$(val s1 'lambdad_environments{function="m1",state="busy"}')"
check "m1 none starting" 0 "$(val s1 'lambdad_environments{function="m1",state="starting"}')"
check "m1 nothing in flight" 0 "$(val s1 "lambdad_concurrent_executions$f")"
check "m1 no provisioned environments" 0 "$(val s1 "lambdad_provisioned_ready$f")"
check "m2 invocations" 2 "$(val s1 'lambdad_invocations_total{function="m2"}')"
check "m2 one cold start" 1 "$(val s1 'lambdad_cold_starts_total{function="m2"}')"
check "m2 no errors" 0 "$(val s1 'lambdad_errors_total{function="m2"}')"
check "total invocations" 7 "$(val s1 lambdad_invocations_total)"
check "total errors" 2 "$(val s1 lambdad_errors_total)"
check "total timeouts" 1 "$(val s1 lambdad_timeouts_total)"
check "total cold starts" 3 "$(val s1 lambdad_cold_starts_total)"
check "total warm starts" 4 "$(val s1 lambdad_warm_starts_total)"
check "total throttles" 0 "$(val s1 lambdad_throttles_total)"
check "total idle environments" 2 "$(val s1 'lambdad_environments{state="idle"}')"
check "memory of live environments (256 + 128 MB)" 384 "$(val s1 lambdad_environment_memory_mb)"
check "no evictions" 0 "$(val s1 lambdad_evictions_total)"

# --- More invocations: counters only grow.
inv m1 '{"op":"count"}' >/dev/null
inv m1 '{"op":"error"}' >/dev/null
inv m2 '{}' >/dev/null
code=$(scrape s2)
check "scrape 2: valid exposition" ok "$(validate s2)"
check "scrape 2: counters monotonic" ok "$(monotonic s1 s2)"
check "m1 invocations grew by 2" 7 "$(val s2 "lambdad_invocations_total$f")"
check "m1 errors grew by 1" 3 "$(val s2 "lambdad_errors_total$f")"
check "m1 no new cold start" 2 "$(val s2 "lambdad_cold_starts_total$f")"
check "total invocations grew by 3" 10 "$(val s2 lambdad_invocations_total)"
check "a scrape changes no counter" "$(val s2 lambdad_invocations_total)" \
	"$(scrape s3 >/dev/null; val s3 lambdad_invocations_total)"
stop_server

# --- Throttles: one invocation in flight fills --account-concurrency 1.
start_server --account-concurrency 1
create_fn t1 tool --timeout 10 >/dev/null
(curl -s -o "$WORK/bg" -w '%{http_code}' -X POST --data-binary '{"op":"sleep","seconds":3}' \
	"$ENDPOINT/2015-03-31/functions/t1/invocations" >"$WORK/bg.code") &
bg=$!
for _ in $(seq 1 100); do
	scrape s4 >/dev/null
	[ "$(val s4 'lambdad_concurrent_executions{function="t1"}')" = 1 ] && break
	sleep 0.05
done
check "in flight: one concurrent execution" 1 "$(val s4 'lambdad_concurrent_executions{function="t1"}')"
check "in flight: total concurrent executions" 1 "$(val s4 lambdad_concurrent_executions)"
check "in flight: valid exposition" ok "$(validate s4)"
st=$(val s4 'lambdad_environments{function="t1",state="starting"}')
bz=$(val s4 'lambdad_environments{function="t1",state="busy"}')
check "in flight: one environment starting or busy" 1 "$((st + bz))"
check "account concurrency limit 1" 1 "$(val s4 lambdad_account_concurrency_limit)"
code=$(inv t1 '{"op":"count"}')
check "second invocation is throttled" 429 "$code"
check "throttle error type" TooManyRequestsException "$(hdr X-Amzn-ErrorType)"
wait "$bg"
check "background invocation finished" 200 "$(cat "$WORK/bg.code")"
scrape s5 >/dev/null
check "after: valid exposition" ok "$(validate s5)"
check "t1 throttles" 1 "$(val s5 'lambdad_throttles_total{function="t1"}')"
check "total throttles" 1 "$(val s5 lambdad_throttles_total)"
check "the throttled call is no invocation" 1 "$(val s5 'lambdad_invocations_total{function="t1"}')"
check "nothing in flight after" 0 "$(val s5 lambdad_concurrent_executions)"
check "t1 idle after" 1 "$(val s5 'lambdad_environments{function="t1",state="idle"}')"
