#!/usr/bin/env bash
# Durability: what the API acknowledged survives a restart and kill -9, nothing half-made
# is left behind, and the store's code blobs match the functions exactly.
source "$(dirname "$0")/lib.sh"
start_server

jq_() { pyx "$1"; } # a Python expression on d (stdin's JSON), in the driver
invoke_body() {
	curl -s -X POST --data-binary "$2" "$ENDPOINT/2015-03-31/functions/$1/invocations"
}
# The code blobs on disk: every extracted dir and zip, by name (sorted).
blobs() { (cd "$DATA/code" && ls -A) | sort | tr '\n' ' '; }
# What the functions refer to: each CodeSha256 as hex, as dir and zip names (sorted).
expected_blobs() {
	curl -s "$ENDPOINT/2015-03-31/functions/?MaxItems=10000" | python3 -c '
import base64, json, sys
names = set()
for f in json.load(sys.stdin)["Functions"]:
    h = base64.b64decode(f["CodeSha256"]).hex()
    names.update([h, h + ".zip"])
print(" ".join(sorted(names)) + (" " if names else ""))'
}
fn_names() {
	curl -s "$ENDPOINT/2015-03-31/functions/?MaxItems=10000" | python3 -c '
import json, sys; print(" ".join(sorted(f["FunctionName"] for f in json.load(sys.stdin)["Functions"])))'
}

# --- A clean restart keeps every function, its configuration and its code.
create_fn keep echo --environment 'Variables={AA=1}' >/dev/null
create_fn changed echo >/dev/null
create_fn recoded echo >/dev/null
create_fn gone echo >/dev/null
awsl update-function-configuration --function-name changed --timeout 9 --memory-size 256 \
	--environment 'Variables={BB=2}' --description "after" >/dev/null
awsl update-function-code --function-name recoded --zip-file "fileb://$(fixture_zip tool)" >/dev/null
awsl delete-function --function-name gone
before=$(for f in keep changed recoded; do awsl get-function-configuration --function-name $f; done)
stop_server
start_server
after=$(for f in keep changed recoded; do awsl get-function-configuration --function-name $f; done)
check "configurations identical after restart" "$before" "$after"
check "deleted function stays deleted" "changed keep recoded" "$(fn_names)"
check "echo function runs after restart" '{"x":1}' "$(invoke_body keep '{"x":1}')"
check "updated code runs after restart" 1 "$(invoke_body recoded '{"op":"count"}' | jq_ 'd["count"]')"
check "code blobs are exactly the functions' code" "$(expected_blobs)" "$(blobs)"

# --- Orphans from a crash are removed at start-up: a blob no function uses, a temporary.
mkdir "$DATA/code/$(printf 'ab%.0s' $(seq 1 32))"
touch "$DATA/code/$(printf 'cd%.0s' $(seq 1 32)).zip" "$DATA/code/$(printf 'ef%.0s' $(seq 1 32)).zip.tmp-123456"
mkdir "$DATA/code/$(printf '01%.0s' $(seq 1 32)).tmp-abcdef"
stop_server
start_server
check "orphan blobs and temporaries removed at start" "$(expected_blobs)" "$(blobs)"

# --- kill -9 during concurrent deploys: every acknowledged create survives and runs.
# Each function has its own 1 MB of random bytes so each write and extraction takes time.
mkdir -p "$WORK/bodies"
python3 - "$FIXTURES/echo/bootstrap" "$WORK/bodies" <<'EOF'
import base64, io, json, os, sys, zipfile
boot, out = sys.argv[1], sys.argv[2]
for i in range(24):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap"); info.external_attr = 0o755 << 16
        z.writestr(info, open(boot, "rb").read())
        z.writestr("noise.bin", os.urandom(1 << 20))
    body = {"FunctionName": f"burst-{i}", "Runtime": "provided.al2023", "Handler": "x",
            "Role": "arn:aws:iam::000000000000:role/r",
            "Code": {"ZipFile": base64.b64encode(buf.getvalue()).decode()}}
    json.dump(body, open(f"{out}/burst-{i}.json", "w"))
EOF
for round in 1 2 3; do
	rm -f "$WORK"/ack-*
	clients=()
	for i in $(seq 0 23); do
		(code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
			--data-binary @"$WORK/bodies/burst-$i.json" "$ENDPOINT/2015-03-31/functions")
		 [ "$code" = 201 ] && touch "$WORK/ack-burst-$i") &
		clients+=($!)
	done
	sleep "0.$((round * 2))"
	stop_server KILL
	wait "${clients[@]}" 2>/dev/null || true
	acked=$(cd "$WORK" && { ls ack-* 2>/dev/null || true; } | sed 's/^ack-//' | sort | tr '\n' ' ')
	start_server
	present=" $(fn_names) "
	missing=""
	for f in $acked; do [[ "$present" == *" $f "* ]] || missing="$missing $f"; done
	check "round $round: every acknowledged create survived kill -9 ($(echo $acked | wc -w) acknowledged)" "" "$missing"
	check "round $round: code blobs are exactly the functions' code" "$(expected_blobs)" "$(blobs)"
	bad=""
	for f in $present; do
		[[ "$f" == burst-* ]] || continue
		[ "$(invoke_body "$f" '{"n":1}')" = '{"n":1}' ] || bad="$bad $f"
	done
	check "round $round: every function present after the crash runs" "" "$bad"
	for f in $present; do
		if [[ "$f" == burst-* ]]; then curl -s -o /dev/null -X DELETE "$ENDPOINT/2015-03-31/functions/$f"; fi
	done
done

# --- kill -9 right after an acknowledged update: the update is what comes back.
awsl update-function-configuration --function-name keep --timeout 17 >/dev/null
stop_server KILL
start_server
check "acknowledged update survives kill -9" 17 "$(awsl get-function-configuration --function-name keep | jq_ 'd["Timeout"]')"
