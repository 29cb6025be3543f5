#!/usr/bin/env bash
# Build the Linux bundle (CPU torch) and run its --self-test offscreen, from the unpacked .tar.gz.
# Usage: packaging/ci_build_and_selftest.sh   (after .ci/run has made .venv with the project installed)
# Env: FACET_MODELS_DIR to test against other bundles; PYTHON to pick the interpreter (default .venv/bin/python).
# Prints the build time, the unpacked size and the archive size; exit status is the self-test's.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pip install -q "pyinstaller>=6.0"

start=$(date +%s)
"$PY" packaging/build.py --variant cpu
built=$(( $(date +%s) - start ))

# Test what users get: unpack the archive somewhere else, then run the launcher from there.
archive=$("$PY" -c 'import json; print(json.load(open("dist/build-info.json"))["archive"])')
unpack=$(mktemp -d)
trap 'rm -rf "$unpack"' EXIT
tar -xzf "$archive" -C "$unpack"
launcher=$(find "$unpack" -mindepth 2 -maxdepth 2 -name facet-studio -type f)
export QT_QPA_PLATFORM=offscreen
set +e
(cd "$unpack" && "$launcher" --self-test)
rc=$?
set -e
echo "bundle: built in ${built} s; unpacked $(du -sh "$unpack" | cut -f1); archive $(du -h "$archive" | cut -f1)"
"$PY" bench/bundle_size.py --dry-run || true
exit $rc
