#!/usr/bin/env bash
# The local platform's end-to-end tests (pytest), through Bazel: real network namespaces
# (so root, and no sandbox), the binaries Bazel built under the runfiles directory.
set -euo pipefail
export MP_BIN_DIR="$PWD"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" \
  --junitxml="${XML_OUTPUT_FILE:-/dev/null}"
