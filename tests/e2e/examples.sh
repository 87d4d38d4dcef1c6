#!/usr/bin/env bash
# The examples deploy and answer with the commands examples/README.md gives, against a
# server started the way `make run` starts it (--data ./data, relative).
source "$(dirname "$0")/lib.sh"
EX=$(cd "$(dirname "$0")/../../examples" && pwd)
# As `make run` starts it: a data directory relative to the working directory.
LAMBDAD=$(realpath "$LAMBDAD")
cd "$WORK"
start_server --data ./data
export LAMBDAD_ENDPOINT=$ENDPOINT
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NODEV=$(node -p 'process.versions.node.split(".")[0]')
nrt=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })
"$LAMBDAD" deploy "$EX/hello-python" --name hello-py --runtime "python$PYV" --handler app.handler >/dev/null
check_contains "python hello" '"Hello, you!"' "$("$LAMBDAD" invoke hello-py '{"name":"you"}')"
"$LAMBDAD" deploy "$EX/hello-node" --name hello-node --runtime "$nrt" --handler index.handler >/dev/null
check_contains "node hello" '"Hello, you!"' "$("$LAMBDAD" invoke hello-node '{"name":"you"}')"
"$LAMBDAD" deploy "$EX/hello-shell" --name hello-sh --runtime provided.al2023 --handler x >/dev/null
check_contains "shell hello" '"Hello from sh"' "$("$LAMBDAD" invoke hello-sh '{"name":"you"}')"

# C: build and install the runtime library, link the example statically, deploy the binary.
make -s -C "$EX/../runtimes/c" BUILDDIR="$WORK/crt" >/dev/null
make -s -C "$EX/../runtimes/c" BUILDDIR="$WORK/crt" install PREFIX="$WORK/prefix" >/dev/null
mkdir -p "$WORK/hello-c"
cc "$EX/hello-c/hello.c" $(PKG_CONFIG_PATH="$WORK/prefix/lib/pkgconfig" pkg-config --static --cflags --libs lambda-runtime) \
	-static -o "$WORK/hello-c/bootstrap"
"$LAMBDAD" deploy "$WORK/hello-c" --name hello-c --runtime provided.al2023 --handler x >/dev/null
check_contains "C hello" '"Hello from C"' "$("$LAMBDAD" invoke hello-c '{}')"
