#!/usr/bin/env bash
# Build the Linux bundle (CPU torch) and run its --self-test offscreen, from the unpacked .tar.gz.
#   packaging/ci_build_and_selftest.sh                # build, unpack elsewhere, self-test with the shipped models
#   packaging/ci_build_and_selftest.sh --tiny-models  # self-test against random tiny cgan/elegant bundles (+ the
#                                                     # shipped mtcnn): checks the bundle's plumbing before trained
#                                                     # default models exist in resources/models
#   packaging/ci_build_and_selftest.sh --no-build     # re-test the last build (dist/build-info.json)
# Run after .ci/run has made .venv with the project installed (PYTHON overrides .venv/bin/python).
# Prints the build time, the unpacked size and the archive size; the exit status is the self-test's.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
build=1 tiny=0
for arg in "$@"; do
    case $arg in
        --no-build) build=0 ;;
        --tiny-models) tiny=1 ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $build = 1 ]; then
    "$PY" -m pip install -q "pyinstaller>=6.0"
    start=$(date +%s)
    "$PY" packaging/build.py --variant cpu
    echo "bundle: build.py took $(( $(date +%s) - start )) s"
fi

if [ $tiny = 1 ]; then
    "$PY" - "$work/models" <<'PY'
import shutil, sys
from pathlib import Path
from tests.engine.test_session import make_cgan_bundle, make_elegant_bundle
out = Path(sys.argv[1])
make_cgan_bundle(out / "cgan"); make_elegant_bundle(out / "elegant")
shutil.copytree("resources/models/mtcnn", out / "mtcnn")
PY
    export FACET_MODELS_DIR="$work/models"
fi

# Test what users get: unpack the archive somewhere else and run its launcher from there.
archive=$("$PY" -c 'import json; print(json.load(open("dist/build-info.json"))["archive"])')
mkdir "$work/unpack"
tar -xzf "$archive" -C "$work/unpack"
launcher=$(find "$work/unpack" -mindepth 2 -maxdepth 2 -name facet-studio -type f)
export QT_QPA_PLATFORM=offscreen
set +e
(cd "$work" && "$launcher" --self-test)
rc=$?
set -e
echo "bundle: unpacked $(du -sh "$work/unpack" | cut -f1); archive $(du -h "$archive" | cut -f1)"
"$PY" bench/bundle_size.py --dry-run >/dev/null || echo "bundle: OVER the size target (python bench/bundle_size.py --dry-run)"
exit $rc
