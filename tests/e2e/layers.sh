#!/usr/bin/env bash
# Lambda layers with the AWS CLI (in the driver), boto3 and curl (for what the clients
# refuse before sending): every layer operation and its errors, version numbers never
# reused, the layer permissions, then functions with two layers: Python importing a module
# from each and Node.js requiring a package from each, the later layer's file over the
# earlier one's, /opt read-only, a custom runtime's /opt/bootstrap, the 250 MB limit of
# code plus layers, all of it surviving a restart, and the same /opt under --isolation
# none (LAMBDAD_LAYERS) and rootless (an overlay in a user namespace).
source "$(dirname "$0")/lib.sh"
start_server

PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NODEV=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo "")
LARN=arn:aws:lambda:us-east-1:000000000000:layer
py() { pyx "$1"; }

# --- The layers' content: each has a Python module, a Node.js package, a file both
# carry (the later layer's wins), and a program in bin/.
L1="$WORK/l1" L2="$WORK/l2"
mkdir -p "$L1/python" "$L1/nodejs/node_modules/pkg-one" "$L1/bin" "$L1/nodejs/node_modules/shared"
mkdir -p "$L2/python/lib/python$PYV/site-packages" "$L2/nodejs/node$NODEV/node_modules/pkg-two" "$L2/nodejs/node_modules/shared"
echo 'WHO = "layer one"' >"$L1/python/mod_one.py"
echo 'WHO = "one"' >"$L1/python/shared_mod.py"
echo 'WHO = "layer two"' >"$L2/python/lib/python$PYV/site-packages/mod_two.py"
mkdir -p "$L2/python"
echo 'WHO = "two"' >"$L2/python/shared_mod.py"
echo 'module.exports = "pkg one";' >"$L1/nodejs/node_modules/pkg-one/index.js"
echo 'module.exports = "pkg two";' >"$L2/nodejs/node$NODEV/node_modules/pkg-two/index.js"
echo 'module.exports = "shared from one";' >"$L1/nodejs/node_modules/shared/index.js"
echo 'module.exports = "shared from two";' >"$L2/nodejs/node_modules/shared/index.js"
printf '#!/bin/sh\necho tool one\n' >"$L1/bin/layer-tool"
chmod 755 "$L1/bin/layer-tool"
Z1=$(make_zip l1 "$L1")
Z2=$(make_zip l2 "$L2")

# --- PublishLayerVersion
out=$(awsl publish-layer-version --layer-name one --description "first" --zip-file "fileb://$Z1" \
	--compatible-runtimes "python$PYV" "nodejs$NODEV.x" --compatible-architectures x86_64 --license-info MIT)
check "PublishLayerVersion answers version 1 with its ARNs" "1 $LARN:one $LARN:one:1" \
	"$(echo "$out" | py 'd["Version"], d["LayerArn"], d["LayerVersionArn"]' | tr -d "(),'")"
want_sha=$(python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode())' "$Z1")
check "CodeSha256 and CodeSize are the zip's" "$want_sha $(stat -c %s "$Z1")" \
	"$(echo "$out" | py 'd["Content"]["CodeSha256"] + " " + str(d["Content"]["CodeSize"])')"
check "Description, runtimes, architectures and license are kept" "first python$PYV,nodejs$NODEV.x x86_64 MIT" \
	"$(echo "$out" | py 'd["Description"] + " " + ",".join(d["CompatibleRuntimes"]) + " " + ",".join(d["CompatibleArchitectures"]) + " " + d["LicenseInfo"]')"
check "CreatedDate is AWS's ISO 8601 form" True \
	"$(echo "$out" | py '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", d["CreatedDate"]) is not None')"
curl -s -o "$WORK/dl.zip" "$(echo "$out" | py 'd["Content"]["Location"]')"
check "Content.Location downloads the layer's zip" "$(sha256sum <"$Z1")" "$(sha256sum <"$WORK/dl.zip")"
b3 lambda publish_layer_version "{\"LayerName\":\"one\",\"Content\":{\"ZipFile\":\"fileb://$Z1\"},\"CompatibleRuntimes\":[\"java21\"]}" >/dev/null
check "boto3 publishes version 2 of the same layer" 2 "$(py 'd["result"]["Version"]' <<<"$DRV_ANSWER")"
awsl publish-layer-version --layer-name two --zip-file "fileb://$Z2" --compatible-runtimes "python$PYV" >/dev/null
check "a layer named by its ARN publishes too" 3 \
	"$(awsl publish-layer-version --layer-name "$LARN:one" --zip-file "fileb://$Z1" | py 'd["Version"]')"

# --- Its errors
check "Content from S3 is refused naming the field" 400 \
	"$(raw POST /2018-10-31/layers/one/versions '{"Content":{"S3Bucket":"b","S3Key":"k"}}')"
check_contains "... InvalidParameterValueException naming Content.S3Bucket" \
	"InvalidParameterValueException Content.S3Bucket: lambdad has no S3 service yet" "$(hdr X-Amzn-ErrorType) $(jq_ 'd["message"]')"
check "no Content is a ValidationException naming content" \
	"Value null at 'content' failed to satisfy constraint: Member must not be null" \
	"$(raw POST /2018-10-31/layers/one/versions '{}' >/dev/null; jq_ 'd["message"].split(": ", 1)[1]')"
check "bytes that are not a zip are refused" "400 InvalidParameterValueException" \
	"$(raw POST /2018-10-31/layers/bad/versions "{\"Content\":{\"ZipFile\":\"$(echo 'not a zip' | base64 -w0)\"}}") $(hdr X-Amzn-ErrorType)"
check "... and leave no layer behind" 404 "$(raw GET /2018-10-31/layers/bad/versions/1)"
check "a bad layer name is refused" 400 "$(raw POST '/2018-10-31/layers/no%20spaces/versions' '{"Content":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}')"
check_contains "... naming layerName" "at 'layerName' failed to satisfy constraint" "$(jq_ 'd["message"]')"
out=$(aws_err publish-layer-version --layer-name bad --zip-file "fileb://$Z1" --compatible-runtimes python9)
check_contains "an unknown runtime is a ValidationException naming it" \
	"(ValidationException) when calling the PublishLayerVersion operation: 1 validation error detected: Value 'python9' at 'compatibleRuntimes.1.member' failed to satisfy constraint: Member must satisfy enum value set" "$out"
out=$(aws_err publish-layer-version --layer-name bad --zip-file "fileb://$Z1" --compatible-architectures sparc)
check_contains "an unknown architecture is refused" "Value 'sparc' at 'compatibleArchitectures.1.member'" "$out"

# --- GetLayerVersion, GetLayerVersionByArn
check "GetLayerVersion" "$LARN:one:2 java21" \
	"$(awsl get-layer-version --layer-name one --version-number 2 | py 'd["LayerVersionArn"] + " " + d["CompatibleRuntimes"][0]')"
check "GetLayerVersionByArn" "first $want_sha" \
	"$(awsl get-layer-version-by-arn --arn "$LARN:one:1" | py 'd["Description"] + " " + d["Content"]["CodeSha256"]')"
check "GetLayerVersionByArn with boto3" 1 \
	"$(b3 lambda get_layer_version_by_arn "{\"Arn\":\"$LARN:one:1\"}" | py 'd["result"]["Version"]')"
out=$(aws_err get-layer-version --layer-name one --version-number 9)
check_contains "an unknown version is ResourceNotFoundException" \
	"(ResourceNotFoundException) when calling the GetLayerVersion operation: The resource you requested does not exist." "$out"
out=$(aws_err get-layer-version-by-arn --arn "arn:aws:lambda:us-east-1:000000000000:layer:one")
check_contains "GetLayerVersionByArn without a version is a ValidationException naming arn" "(ValidationException)" "$out"
out=$(aws_err get-layer-version-by-arn --arn "arn:aws:lambda:eu-west-1:000000000000:layer:one:1")
check_contains "another region's layer is not found" "(ResourceNotFoundException)" "$out"

# --- ListLayers, ListLayerVersions: filters and pages
check "ListLayers: each layer with its newest version" "one:3 two:1" \
	"$(awsl list-layers | py '" ".join("%s:%d" % (l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in d["Layers"])')"
check "ListLayers by CompatibleRuntime: the newest matching version" "one:1 two:1" \
	"$(awsl list-layers --compatible-runtime "python$PYV" | py '" ".join("%s:%d" % (l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in d["Layers"])')"
check "ListLayers by CompatibleArchitecture" "one:1" \
	"$(awsl list-layers --compatible-architecture x86_64 | py '" ".join("%s:%d" % (l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in d["Layers"])')"
p1=$(b3 lambda list_layers '{"MaxItems":1}' | py '" ".join(l["LayerName"] for l in d["result"]["Layers"]) + " NextMarker=" + d["result"]["NextMarker"]')
p2=$(b3 lambda list_layers '{"MaxItems":1,"Marker":"one"}' | py '" ".join(l["LayerName"] for l in d["result"]["Layers"]) + ("" if "NextMarker" not in d["result"] else " more")')
check "ListLayers pages with MaxItems and Marker" "one NextMarker=one; two" "$p1; $p2"
awsl publish-layer-version --layer-name one-b --zip-file "fileb://$Z2" >/dev/null
check "the CLI's own paging walks every layer, one-b before one (key order) too" "one-b one two" \
	"$(awsl list-layers --page-size 1 | py '" ".join(l["LayerName"] for l in d["Layers"])')"
awsl delete-layer-version --layer-name one-b --version-number 1
check "ListLayerVersions: newest first" "3 2 1" \
	"$(awsl list-layer-versions --layer-name one | py '" ".join(str(v["Version"]) for v in d["LayerVersions"])')"
check "ListLayerVersions by CompatibleRuntime" "2" \
	"$(awsl list-layer-versions --layer-name one --compatible-runtime java21 | py '" ".join(str(v["Version"]) for v in d["LayerVersions"])')"
p1=$(b3 lambda list_layer_versions '{"LayerName":"one","MaxItems":2}' | py '" ".join(str(v["Version"]) for v in d["result"]["LayerVersions"]) + " next=" + d["result"]["NextMarker"]')
p2=$(b3 lambda list_layer_versions '{"LayerName":"one","MaxItems":2,"Marker":"2"}' | py '" ".join(str(v["Version"]) for v in d["result"]["LayerVersions"]) + (" end" if "NextMarker" not in d["result"] else " more")')
check "ListLayerVersions pages" "3 2 next=2; 1 end" "$p1; $p2"
check "the CLI's own paging walks every version" "3 2 1" \
	"$(awsl list-layer-versions --layer-name one --page-size 1 | py '" ".join(str(v["Version"]) for v in d["LayerVersions"])')"
check "MaxItems out of range is refused" 400 "$(raw GET '/2018-10-31/layers?MaxItems=51')"
check_contains "... naming maxItems" "at 'maxItems' failed to satisfy constraint" "$(jq_ 'd["message"]')"
check "an unknown CompatibleRuntime filter is refused" 400 "$(raw GET '/2018-10-31/layers/one/versions?CompatibleRuntime=cobol')"

# --- DeleteLayerVersion: numbers are never reused
awsl delete-layer-version --layer-name one --version-number 3
out=$(aws_err get-layer-version --layer-name one --version-number 3)
check_contains "a deleted version is gone" "(ResourceNotFoundException)" "$out"
check "deleting it again succeeds, as on AWS" 204 "$(raw DELETE /2018-10-31/layers/one/versions/3)"
check "the next version after a delete is a new number" 4 \
	"$(awsl publish-layer-version --layer-name one --zip-file "fileb://$Z1" | py 'd["Version"]')"
awsl delete-layer-version --layer-name one --version-number 4

# --- Layer version permissions
st=$(awsl add-layer-version-permission --layer-name one --version-number 1 --statement-id acct \
	--action lambda:GetLayerVersion --principal 123456789012)
check "AddLayerVersionPermission: the statement AWS writes" \
	"{\"Action\": \"lambda:GetLayerVersion\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"arn:aws:iam::123456789012:root\"}, \"Resource\": \"$LARN:one:1\", \"Sid\": \"acct\"}" \
	"$(echo "$st" | py 'json.dumps(json.loads(d["Statement"]), sort_keys=True)')"
rev=$(echo "$st" | py 'd["RevisionId"]')
check "... and a RevisionId, the policy's" "$rev" "$(awsl get-layer-version-policy --layer-name one --version-number 1 | py 'd["RevisionId"]')"
st=$(b3 lambda add_layer_version_permission '{"LayerName":"one","VersionNumber":1,"StatementId":"org","Action":"lambda:GetLayerVersion","Principal":"*","OrganizationId":"o-abcdefghij"}' | py 'json.dumps(json.loads(d["result"]["Statement"]), sort_keys=True)')
check "Principal * with OrganizationId (boto3)" \
	"{\"Action\": \"lambda:GetLayerVersion\", \"Condition\": {\"StringEquals\": {\"aws:PrincipalOrgID\": \"o-abcdefghij\"}}, \"Effect\": \"Allow\", \"Principal\": \"*\", \"Resource\": \"$LARN:one:1\", \"Sid\": \"org\"}" "$st"
check "GetLayerVersionPolicy: the document with both" "default acct,org" \
	"$(awsl get-layer-version-policy --layer-name one --version-number 1 | py 'json.loads(d["Policy"])["Id"] + " " + ",".join(s["Sid"] for s in json.loads(d["Policy"])["Statement"])')"
out=$(aws_err add-layer-version-permission --layer-name one --version-number 1 --statement-id acct --action lambda:GetLayerVersion --principal '*')
check_contains "a duplicate StatementId is ResourceConflictException" \
	"(ResourceConflictException) when calling the AddLayerVersionPermission operation: The statement id (acct) provided already exists." "$out"
out=$(aws_err add-layer-version-permission --layer-name one --version-number 1 --statement-id x --action lambda:InvokeFunction --principal '*')
check_contains "another Action is a ValidationException naming action" "Value 'lambda:InvokeFunction' at 'action'" "$out"
out=$(aws_err add-layer-version-permission --layer-name one --version-number 1 --statement-id x --action lambda:GetLayerVersion --principal sns.amazonaws.com)
check_contains "a service principal is refused naming principal" "at 'principal' failed to satisfy constraint" "$out"
out=$(aws_err add-layer-version-permission --layer-name one --version-number 1 --statement-id x --action lambda:GetLayerVersion --principal 123456789012 --organization-id o-abcdefghij)
check_contains "OrganizationId needs the principal *" "(InvalidParameterValueException)" "$out"
out=$(aws_err add-layer-version-permission --layer-name one --version-number 1 --statement-id x --action lambda:GetLayerVersion --principal '*' --revision-id 00000000-0000-0000-0000-000000000000)
check_contains "a stale RevisionId is PreconditionFailedException" "(PreconditionFailedException)" "$out"
out=$(aws_err add-layer-version-permission --layer-name one --version-number 7 --statement-id x --action lambda:GetLayerVersion --principal '*')
check_contains "a permission on an unknown version is ResourceNotFoundException" "(ResourceNotFoundException)" "$out"
out=$(aws_err get-layer-version-policy --layer-name two --version-number 1)
check_contains "no policy is ResourceNotFoundException" "(ResourceNotFoundException) when calling the GetLayerVersionPolicy operation: No policy is associated with the given resource." "$out"
awsl remove-layer-version-permission --layer-name one --version-number 1 --statement-id org
check "RemoveLayerVersionPermission takes the statement out" "acct" \
	"$(awsl get-layer-version-policy --layer-name one --version-number 1 | py '",".join(s["Sid"] for s in json.loads(d["Policy"])["Statement"])')"
out=$(aws_err remove-layer-version-permission --layer-name one --version-number 1 --statement-id org)
check_contains "removing it again is ResourceNotFoundException" "(ResourceNotFoundException)" "$out"

# --- A Python function with two layers
mkdir -p "$WORK/pyfn"
cat >"$WORK/pyfn/app.py" <<'EOF'
import os, subprocess, sys
import mod_one, mod_two, shared_mod

def handler(event, context):
    try:
        open("/opt/written", "w")
        wrote = "yes"
    except OSError as e:
        wrote = e.strerror
    tool = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()
    return {"one": mod_one.WHO, "two": mod_two.WHO, "shared": shared_mod.WHO, "wrote": wrote, "tool": tool,
            "opt": sorted(os.listdir("/opt/python"))}
EOF
out=$(awsl create-function --function-name pyl --runtime "python$PYV" --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip pyfn "$WORK/pyfn")" \
	--layers "$LARN:one:1" "$LARN:two:1")
check "CreateFunction shows Layers as [{Arn, CodeSize}]" "$LARN:one:1 $(stat -c %s "$Z1") $LARN:two:1 $(stat -c %s "$Z2")" \
	"$(echo "$out" | py '" ".join("%s %d" % (l["Arn"], l["CodeSize"]) for l in d["Layers"])')"
check "GetFunctionConfiguration shows them too" "$LARN:one:1,$LARN:two:1" \
	"$(awsl get-function-configuration --function-name pyl | py '",".join(l["Arn"] for l in d["Layers"])')"
check "python: invoke with two layers" 200 "$(inv pyl '{}')"
check "python: a module from each layer" "layer one|layer two" "$(jq_ 'd["one"] + "|" + d["two"]')"
check "python: the later layer's file wins" "two" "$(jq_ 'd["shared"]')"
check "python: /opt is read-only" "Read-only file system" "$(jq_ 'd["wrote"]')"
check "python: /opt/bin is on PATH" "tool one" "$(jq_ 'd["tool"]')"
check "python: /opt holds both layers merged" "['lib', 'mod_one.py', 'shared_mod.py']" "$(jq_ 'd["opt"]')"

# --- A Node.js function with the same two layers
mkdir -p "$WORK/nodefn"
cat >"$WORK/nodefn/index.js" <<'EOF'
const fs = require("fs");
exports.handler = async () => {
  let wrote = "yes";
  try { fs.writeFileSync("/opt/written", "x"); } catch (e) { wrote = e.code; }
  return { one: require("pkg-one"), two: require("pkg-two"), shared: require("shared"), wrote };
};
EOF
awsl create-function --function-name nodel --runtime "nodejs$NODEV.x" --handler index.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip nodefn "$WORK/nodefn")" \
	--layers "$LARN:one:1" "$LARN:two:1" >/dev/null
check "node: invoke with two layers" 200 "$(inv nodel '{}')"
check "node: a package from each layer (nodejs/node_modules, nodejs/node$NODEV/node_modules)" "pkg one|pkg two" "$(jq_ 'd["one"] + "|" + d["two"]')"
check "node: the later layer's file wins" "shared from two" "$(jq_ 'd["shared"]')"
check "node: /opt is read-only" "EROFS" "$(jq_ 'd["wrote"]')"

# --- Two layers of the same content: one directory at /opt.
awsl publish-layer-version --layer-name dup --zip-file "fileb://$Z1" >/dev/null
mkdir -p "$WORK/dupfn"
printf 'import mod_one\ndef handler(e, c):\n    return mod_one.WHO\n' >"$WORK/dupfn/app.py"
awsl create-function --function-name dupfn --runtime "python$PYV" --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip dupfn "$WORK/dupfn")" \
	--layers "$LARN:one:1" "$LARN:dup:1" >/dev/null
check "two layers of the same content work" '200 "layer one"' "$(inv dupfn '{}') $(cat "$WORK/b")"

# --- A custom runtime from a layer: provided.al2023 code without bootstrap runs the
# layer's /opt/bootstrap.
mkdir -p "$WORK/rt" "$WORK/noboot"
cp "$FIXTURES/echo/bootstrap" "$WORK/rt/bootstrap"
echo "just data" >"$WORK/noboot/README"
awsl publish-layer-version --layer-name rt --zip-file "fileb://$(make_zip rt "$WORK/rt")" >/dev/null
awsl create-function --function-name optboot --runtime provided.al2023 --handler x \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip noboot "$WORK/noboot")" \
	--layers "$LARN:rt:1" >/dev/null
check "provided.al2023 without bootstrap runs the layer's /opt/bootstrap" '200 {"from":"opt"}' \
	"$(inv optboot '{"from":"opt"}') $(cat "$WORK/b")"
b3 lambda update_function_configuration '{"FunctionName":"optboot","Layers":[]}' >/dev/null || true
check_contains "taking that layer away is refused, naming /opt/bootstrap" \
	"nor has any of its layers; runtime provided.al2023 starts /var/task/bootstrap or /opt/bootstrap" "$DRV_ANSWER"

# --- The Layers field's errors
out=$(aws_err update-function-configuration --function-name pyl --layers "$LARN:one:3")
check_contains "a deleted layer version is refused, naming it" \
	"(InvalidParameterValueException) when calling the UpdateFunctionConfiguration operation: Layer version $LARN:one:3 does not exist." "$out"
out=$(aws_err update-function-configuration --function-name pyl --layers "$LARN:one:1" "$LARN:one:2")
check_contains "two versions of one layer are refused" "Two different versions of the same layer are not allowed" "$out"
out=$(aws_err update-function-configuration --function-name pyl --layers "$LARN:a:1" "$LARN:b:1" "$LARN:c:1" "$LARN:d:1" "$LARN:e:1" "$LARN:f:1")
check_contains "more than 5 layers are refused" "(InvalidParameterValueException) when calling the UpdateFunctionConfiguration operation: Cannot reference more than 5 layers." "$out"
out=$(aws_err update-function-configuration --function-name pyl --layers "not-an-arn")
check_contains "a malformed layer ARN is a ValidationException naming layers" "at 'layers' failed to satisfy constraint" "$out"
check "the function is unchanged by the refusals" "$LARN:one:1,$LARN:two:1" \
	"$(awsl get-function-configuration --function-name pyl | py '",".join(l["Arn"] for l in d["Layers"])')"

# --- The 250 MB limit of code and layers unzipped: two layers of 130 MB each (zeros,
# a small zip; the same zip twice, so the second is the stored blob found again).
mkdir -p "$WORK/big"
head -c 136314880 /dev/zero >"$WORK/big/zeros"
ZB=$(make_zip big "$WORK/big")
rm -rf "$WORK/big"
awsl publish-layer-version --layer-name big1 --zip-file "fileb://$ZB" >/dev/null
awsl publish-layer-version --layer-name big2 --zip-file "fileb://$ZB" >/dev/null
out=$(aws_err update-function-configuration --function-name pyl --layers "$LARN:big1:1" "$LARN:big2:1")
check_contains "code plus layers over 250 MB unzipped is refused with AWS's message" \
	"(InvalidParameterValueException) when calling the UpdateFunctionConfiguration operation: Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is" "$out"
check "one of them fits" "$LARN:big1:1" \
	"$(awsl update-function-configuration --function-name pyl --layers "$LARN:big1:1" | py '",".join(l["Arn"] for l in d["Layers"])')"
awsl delete-layer-version --layer-name big1 --version-number 1
awsl delete-layer-version --layer-name big2 --version-number 1

# --- Layers are replaced as a list; a deleted version keeps working for its users, and
# its blob goes once nothing uses it.
BIGHEX=$(sha256sum <"$ZB" | cut -d' ' -f1)
check "a deleted layer version's blob stays while a function uses it" present \
	"$([ -e "$DATA/code/$BIGHEX.zip" ] && echo present || echo absent)"
awsl update-function-configuration --function-name pyl --layers "$LARN:one:1" "$LARN:two:1" >/dev/null
gone() { [ ! -e "$DATA/code/$BIGHEX.zip" ] && [ ! -e "$DATA/code/$BIGHEX" ]; }
wait_for 60 gone || true
check "... and goes once none does" absent "$([ -e "$DATA/code/$BIGHEX.zip" ] || [ -e "$DATA/code/$BIGHEX" ] && echo present || echo absent)"
awsl publish-layer-version --layer-name gone --zip-file "fileb://$Z2" >/dev/null
mkdir -p "$WORK/gonefn"
printf 'import mod_two\ndef handler(e, c):\n    return mod_two.WHO\n' >"$WORK/gonefn/app.py"
awsl create-function --function-name gonefn --runtime "python$PYV" --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip gonefn "$WORK/gonefn")" \
	--layers "$LARN:gone:1" >/dev/null
awsl delete-layer-version --layer-name gone --version-number 1
check "a function keeps a layer version deleted after it was added" '200 "layer two"' "$(inv gonefn '{}') $(cat "$WORK/b")"

# --- Everything survives a restart.
stop_server
start_server
check "layer versions survive a restart" "1 2" \
	"$(awsl list-layer-versions --layer-name one | py '" ".join(str(v["Version"]) for v in reversed(d["LayerVersions"]))')"
check "the policy survives a restart" "acct" \
	"$(awsl get-layer-version-policy --layer-name one --version-number 1 | py '",".join(s["Sid"] for s in json.loads(d["Policy"])["Statement"])')"
check "numbers are not reused after a restart" 5 \
	"$(awsl publish-layer-version --layer-name one --zip-file "fileb://$Z1" | py 'd["Version"]')"
check "python: the layers after a restart" 200 "$(inv pyl '{}')"
check "python: ... both modules, the later file" "layer one|layer two|two" "$(jq_ 'd["one"] + "|" + d["two"] + "|" + d["shared"]')"
check "node: the layers after a restart" "200 pkg one|pkg two|shared from two" "$(inv nodel '{}') $(jq_ 'd["one"] + "|" + d["two"] + "|" + d["shared"]')"
check "the deleted layer's user after a restart" '200 "layer two"' "$(inv gonefn '{}') $(cat "$WORK/b")"

# --- Isolation none: no mount namespace, so no /opt of the function's own; our runtimes
# find the layers' directories from LAMBDAD_LAYERS, and PATH has their bin.
mkdir -p "$WORK/pynone" "$WORK/nodenone"
cat >"$WORK/pynone/app.py" <<'EOF'
import subprocess
import mod_one, mod_two, shared_mod

def handler(event, context):
    tool = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()
    return mod_one.WHO + "|" + mod_two.WHO + "|" + shared_mod.WHO + "|" + tool
EOF
cat >"$WORK/nodenone/index.js" <<'EOF'
exports.handler = async () => [require("pkg-one"), require("pkg-two"), require("shared")].join("|");
EOF
awsl create-function --function-name pynone --runtime "python$PYV" --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip pynone "$WORK/pynone")" \
	--layers "$LARN:one:1" "$LARN:two:1" >/dev/null
awsl create-function --function-name nodenone --runtime "nodejs$NODEV.x" --handler index.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip nodenone "$WORK/nodenone")" \
	--layers "$LARN:one:1" "$LARN:two:1" >/dev/null
stop_server
start_server --isolation none
check "isolation none, python: a module from each layer, the later file, bin on PATH" \
	'200 "layer one|layer two|two|tool one"' "$(inv pynone '{}') $(cat "$WORK/b")"
check "isolation none, node: a package from each layer, the later file" \
	'200 "pkg one|pkg two|shared from two"' "$(inv nodenone '{}') $(cat "$WORK/b")"
check "isolation none: a custom runtime's bootstrap from its layer" '200 {"from":"none"}' \
	"$(inv optboot '{"from":"none"}') $(cat "$WORK/b")"
stop_server
start_server

# --- Rootless (a user namespace): the same /opt, from the same data directory.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
	setpriv --reuid 65534 --regid 65534 --clear-groups unshare --user --map-root-user --mount true 2>/dev/null &&
	setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$LAMBDAD"; then
	stop_server
	chmod 755 "$WORK"
	mkdir -p "$WORK/run"
	chown -R 65534:65534 "$DATA" "$WORK/run"
	PORT_FILE="$WORK/run/port"
	LAMBDAD_WRAP="setpriv --reuid 65534 --regid 65534 --clear-groups"
	start_server
	check_contains "rootless: a user namespace is in use" "uts, user)" "$(cat "$WORK/server.log")"
	check "rootless python: both layers, the later file, /opt read-only" "200 layer one|layer two|two|Read-only file system" \
		"$(inv pyl '{}') $(jq_ 'd["one"] + "|" + d["two"] + "|" + d["shared"] + "|" + d["wrote"]')"
	check "rootless node: both layers, the later file" "200 pkg one|pkg two|shared from two" \
		"$(inv nodel '{}') $(jq_ 'd["one"] + "|" + d["two"] + "|" + d["shared"]')"
else
	echo "# rootless part skipped: not root, or no setpriv or user namespaces, or the binary is not reachable by uid 65534"
fi

b3 lambda update_function_configuration '{"FunctionName":"pyl","Layers":[]}' >/dev/null
check "an empty Layers list takes them away" "None" "$(awsl get-function-configuration --function-name pyl | py 'd.get("Layers")')"

finish
