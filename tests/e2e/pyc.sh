#!/usr/bin/env bash
# Code as it was zipped: a package's files keep the zip's modification times (and execute
# bits), so the timestamp-based .pyc files that `pip install -t` writes stay valid and
# Python imports them instead of compiling the sources again (it cannot write /var/task).
source "$(dirname "$0")/lib.sh"
start_server
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# The package as pip leaves it: sources, and __pycache__ compiled against the sources'
# mtimes (an even second, which a zip's DOS time holds exactly).
PKG="$WORK/pkg"
mkdir -p "$PKG/mylib" "$PKG/bin"
cat >"$PKG/lambda_function.py" <<'EOF'
import importlib.machinery
import os
import stat
import sys

# Every compilation from source goes through SourceFileLoader.source_to_code; a valid
# .pyc is loaded without it.
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code


def _spy(self, data, path, *args, **kwargs):
    compiled.append(os.path.relpath(path, os.environ.get("LAMBDA_TASK_ROOT", "/var/task")))
    return _source_to_code(self, data, path, *args, **kwargs)


importlib.machinery.SourceFileLoader.source_to_code = _spy


def handler(event, context):
    import mylib.heavy as heavy

    src = os.stat(heavy.__file__)
    with open(heavy.__cached__, "rb") as f:
        head = f.read(16)
    root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    return {
        "value": heavy.VALUE,
        "compiled": compiled,
        "cached": os.path.relpath(heavy.__cached__, root),
        "pyc_flags": int.from_bytes(head[4:8], "little"),
        "pyc_source_mtime": int.from_bytes(head[8:12], "little"),
        "source_mtime": src.st_mtime,
        "tool_mode": oct(stat.S_IMODE(os.stat(os.path.join(root, "bin/tool")).st_mode)),
        "data_mode": oct(stat.S_IMODE(os.stat(os.path.join(root, "bin/data.txt")).st_mode)),
        "pycache_prefix": sys.pycache_prefix,
    }
EOF
echo "" >"$PKG/mylib/__init__.py"
python3 -c 'print("VALUE = sum(range(10))\n" + "\n".join("def f%d(x):\n    return x + %d" % (i, i) for i in range(200)))' >"$PKG/mylib/heavy.py"
printf '#!/bin/sh\necho tool\n' >"$PKG/bin/tool"
chmod 0750 "$PKG/bin/tool"
echo data >"$PKG/bin/data.txt"
chmod 0600 "$PKG/bin/data.txt"
T=1700000000
find "$PKG" -name '*.py' -exec touch -d "@$T" {} +
python3 -m compileall -q --invalidation-mode timestamp "$PKG" >/dev/null
check "the package has a timestamp pyc for mylib/heavy.py" 1 \
	"$(ls "$PKG/mylib/__pycache__/" | grep -c "^heavy\.cpython-.*\.pyc$")"
# What Python will check: the source mtime recorded in the pyc is the source's.
check "the pyc records the source's mtime" "$T" \
	"$(python3 -c 'import glob,sys; print(int.from_bytes(open(glob.glob(sys.argv[1] + "/mylib/__pycache__/heavy.*.pyc")[0], "rb").read()[8:12], "little"))' "$PKG")"
ZIP=$(make_zip pyc "$PKG")
ZIP_TIME=$(python3 -c 'import sys, time, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(int(time.mktime(z.getinfo("mylib/heavy.py").date_time + (0, 0, -1))))' "$ZIP")
check "the zip holds the source's time" "$T" "$ZIP_TIME"

awsl create-function --function-name pyc --runtime "python$PYV" --handler lambda_function.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$ZIP" >/dev/null
check "invoke: 200" 200 "$(inv pyc '{}')"
check "the module ran" 45 "$(jq_ 'd["value"]')"
check "no pycache prefix hides the shipped pycs" None "$(jq_ 'd["pycache_prefix"]')"
check "the import used the shipped pyc" "mylib/__pycache__/heavy.cpython-$(python3 -c 'import sys; print("%d%d" % sys.version_info[:2])').pyc" "$(jq_ 'd["cached"]')"
check "it is timestamp-based (flags 0)" 0 "$(jq_ 'd["pyc_flags"]')"
check "inside the sandbox the source's mtime is the zip's entry time" "$ZIP_TIME" "$(jq_ 'int(d["source_mtime"])')"
check "so the pyc is valid against it" "$ZIP_TIME" "$(jq_ 'd["pyc_source_mtime"]')"
check "and Python compiled nothing from source" "[]" "$(jq_ 'd["compiled"]')"
check "executable by all if the zip makes it executable (0750 -> 0755)" 0o755 "$(jq_ 'd["tool_mode"]')"
check "every file is readable (0600 -> 0644)" 0o644 "$(jq_ 'd["data_mode"]')"

# The same code deployed again through UpdateFunctionCode: a new cold start, same answer.
touch -d "@$((T + 2))" "$PKG/bin/data.txt"
ZIP2=$(make_zip pyc2 "$PKG")
awsl update-function-code --function-name pyc --zip-file "fileb://$ZIP2" >/dev/null
check "after UpdateFunctionCode: 200" 200 "$(inv pyc '{}')"
check "after UpdateFunctionCode: nothing compiled from source" "[]" "$(jq_ 'd["compiled"]')"
