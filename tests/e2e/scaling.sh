#!/usr/bin/env bash
# Concurrency and scaling: account and reserved limits with exact throttle counts,
# bursts, the scaling rate, keep-alive (server, per function, hot functions),
# pre-warming, provisioned concurrency and --max-memory eviction. Parallel clients
# are python threads (parallel.py); the control plane is driven with the AWS CLI (in
# the driver).
source "$(dirname "$0")/lib.sh"
PAR="python3 $(dirname "$0")/parallel.py"
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
zip=$(fixture_zip scaling-py)
deploy() { # deploy NAME [MEMORY]
	awsl create-function --function-name "$1" --runtime "python$PYV" --handler app.handler --timeout 30 \
		--memory-size "${2:-128}" --role arn:aws:iam::000000000000:role/r --zip-file "fileb://$zip" >/dev/null
}
par() { $PAR "$ENDPOINT" "$@" | tee "$WORK/par.json"; }
pj() { pyx "$1" "$WORK/par.json"; } # a Python expression on d, in the driver
one() { # one NAME [EVENT]: a sequential invoke; prints "cold|warm ENV"
	local ev=${2:-'{}'}
	curl -s -o "$WORK/one" -D "$WORK/one.h" -H 'X-Amz-Log-Type: Tail' -X POST --data "$ev" \
		"$ENDPOINT/2015-03-31/functions/$1/invocations"
	local tail; tail=$(grep -i '^x-amz-log-result:' "$WORK/one.h" | cut -d' ' -f2 | tr -d '\r' | base64 -d)
	case "$tail" in *"Init Duration"*) printf 'cold ' ;; *) printf 'warm ' ;; esac
	jq -r .env "$WORK/one"
}

start_server --keep-alive 1s

# A burst of cold invokes: one environment each, nothing throttled.
deploy burst
t0=$(date +%s%N)
par burst 40 '{"s":0.5}' >/dev/null
t1=$(date +%s%N)
check "burst: 40 parallel cold invokes all answered" "40 0" "$(pj 'd["ok"], d["throttled"]' | tr -d '(),')"
check "burst: 40 environments, 40 cold starts" "40 40" "$(pj 'd["envs"], d["cold"]' | tr -d '(),')"
echo "figure: burst of 40 parallel cold invokes (0.5 s each) answered in $(((t1 - t0) / 1000000)) ms"

# Reserved concurrency: exactly that many run, the rest are throttled at once.
deploy res
awsl put-function-concurrency --function-name res --reserved-concurrent-executions 3 >/dev/null
par res 8 '{"s":1}' >/dev/null
check "reserved 3: 3 of 8 parallel invokes run" "3 5" "$(pj 'd["ok"], d["throttled"]' | tr -d '(),')"
check "reserved 3: the throttles say why, with Retry-After" "['ReservedFunctionConcurrentInvocationLimitExceeded'] ['1']" \
	"$(pj 'd["reasons"], d["retry_after"]' | tr -d '(),')"
awsl put-function-concurrency --function-name res --reserved-concurrent-executions 0 >/dev/null
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w "%{http_code}" -X POST --data "{}" "$ENDPOINT/2015-03-31/functions/res/invocations")
check "reserved 0: the function is disabled (429)" "429 TooManyRequestsException ReservedFunctionConcurrentInvocationLimitExceeded" \
	"$code $(grep -i '^x-amzn-errortype:' "$WORK/h" | cut -d' ' -f2 | tr -d '\r') $(jq -r .Reason "$WORK/b")"
check_contains "reserved 0: Retry-After" "Retry-After: 1" "$(cat "$WORK/h")"
awsl delete-function-concurrency --function-name res >/dev/null
par res 8 '{"s":0.2}' >/dev/null
check "no reservation: all 8 run again" "8 0" "$(pj 'd["ok"], d["throttled"]' | tr -d '(),')"

# The server's keep-alive reaps idle environments; a function invoked often keeps one.
deploy hot; deploy cold
for _ in $(seq 12); do one hot >/dev/null; done
first=$(one hot | cut -d' ' -f2)
one cold >/dev/null
# Until the rarely invoked one is reaped (it was invoked after the hot one's last call).
wait_for 15 no_envs cold || true
check "a hot function keeps its environment past the keep-alive" "warm $first" "$(one hot)"
check "a rarely invoked function's environment is reaped after the keep-alive" cold "$(one cold | cut -d' ' -f1)"

# Per-function keep-alive (lambdad's extension), through the API and the CLI.
deploy ka0; deploy ka60
curl -s -o /dev/null -X PUT --data '{"KeepAliveSeconds":0}' "$ENDPOINT/lambdad/v1/functions/ka0/keep-alive"
"$LAMBDAD" warm ka60 --keep-alive 60 --endpoint "$ENDPOINT" >/dev/null
a=$(one ka0); b=$(one ka0)
check "keep-alive 0: every invoke is a cold start in a new environment" "cold cold different" \
	"${a%% *} ${b%% *} $([ "${a#* }" != "${b#* }" ] && echo different)"
a=$(one ka60); one cold >/dev/null
wait_for 15 no_envs cold || true # the server's keep-alive has passed since
check "keep-alive 60 s outlives the server's 1 s" "warm ${a#* }" "$(one ka60)"

# Pre-warming: the environments are ready before the invokes come.
deploy pre
# (with a keep-alive of its own: the server's 1 s would let a slow client find them reaped)
"$LAMBDAD" warm pre --count 3 --keep-alive 60 --endpoint "$ENDPOINT" >/dev/null
wait_for 60 eval '[ "$(envs pre idle)" = 3 ]' || true # until all three are initialised and idle
par pre 3 '{"s":0.3}' >/dev/null
check "pre-warm 3: three parallel invokes find three warm environments" "3 3 0" "$(pj 'd["ok"], d["envs"], d["cold"]' | tr -d '(),')"

# Provisioned concurrency (on a version, as AWS has it): initialised ahead, never reaped,
# marked as such.
deploy prov
awsl publish-version --function-name prov >/dev/null
awsl put-provisioned-concurrency-config --function-name prov --qualifier 1 \
	--provisioned-concurrent-executions 2 >/dev/null
for _ in $(seq 300); do
	st=$(awsl get-provisioned-concurrency-config --function-name prov --qualifier 1 --query Status --output text)
	[ "$st" = READY ] && break
	sleep 0.1
done
check "provisioned 2: READY" READY "$st"
one cold >/dev/null
wait_for 15 no_envs cold || true # the server's keep-alive has passed since
par prov:1 2 '{"s":0.3}' >/dev/null
check "provisioned: two parallel invokes, warm, past the keep-alive" "2 2 0" "$(pj 'd["ok"], d["envs"], d["cold"]' | tr -d '(),')"
check "provisioned: AWS_LAMBDA_INITIALIZATION_TYPE" "['provisioned-concurrency']" "$(pj 'd["init_types"]')"
awsl delete-provisioned-concurrency-config --function-name prov --qualifier 1 >/dev/null
wait_for 15 no_envs prov:1 || true
check "provisioned deleted: its environments are reaped like others" cold "$(one prov:1 | cut -d' ' -f1)"
stop_server

# The account limit.
start_server --account-concurrency 4
par burst 7 '{"s":1}' >/dev/null
check "account limit 4: 4 of 7 run" "4 3" "$(pj 'd["ok"], d["throttled"]' | tr -d '(),')"
check "account limit: the Reason" "['ConcurrentInvocationLimitExceeded']" "$(pj 'd["reasons"]')"
stop_server

# The scaling rate: past it, requests wait for a warm environment instead of failing.
start_server --scaling-rate 1
deploy rate
par rate 4 '{"s":0.3}' >/dev/null
check "scaling rate 1 per 10 s: 4 parallel invokes all answered by one environment" "4 0 1 1" \
	"$(pj 'd["ok"], d["throttled"], d["envs"], d["cold"]' | tr -d '(),')"
stop_server

# --max-memory: idle environments are evicted, oldest first, before anything is throttled.
start_server --max-memory 512
deploy m1 256; deploy m2 256; deploy m3 256; deploy big 512
one m1 >/dev/null; one m2 >/dev/null
check "max-memory: a third function fits by evicting the oldest idle one" cold "$(one m3 | cut -d' ' -f1)"
check "max-memory: the newer idle one was kept" warm "$(one m2 | cut -d' ' -f1)"
check "max-memory: the evicted one starts cold" cold "$(one m1 | cut -d' ' -f1)"
curl -s -o /dev/null -X POST --data '{"s":3}' "$ENDPOINT/2015-03-31/functions/big/invocations" &
bigpid=$!
wait_for 15 eval '[ "$(envs big busy)" = 1 ]' || true
code=$(curl -s -o "$WORK/b" -w "%{http_code}" -X POST --data "{}" "$ENDPOINT/2015-03-31/functions/m2/invocations")
check "max-memory: no room left while a 512 MB function runs: 429" "429 ConcurrentInvocationLimitExceeded" \
	"$code $(jq -r .Reason "$WORK/b")"
wait $bigpid
check "max-memory: room again once it is idle" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{}' "$ENDPOINT/2015-03-31/functions/m2/invocations")"
stop_server
