#!/usr/bin/env bash
# Wheels a GPU machine's image lacks for `make gpu-check` (it has torch, transformers, sentence-transformers, typer
# and nvidia-ml-py): pydantic and its parts, bm25s and PyStemmer, for CPython 3.12 on x86-64 Linux. Run here,
# where pip reaches the registry; carry .whl/ to the device and install with
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl \
    "pydantic==${PYDANTIC:-2.14.4}" "pydantic-core==${PYDANTIC_CORE:-2.50.5}" annotated-types typing-inspection \
    bm25s PyStemmer
ls -la .whl
