#!/usr/bin/env bash
# The Python hook's tests (pytest), run by the project's test command through Bazel: the
# unit tests against a fake agent, and the end-to-end test against the binaries Bazel
# built (found under the runfiles directory, the working directory of a Bazel test).
# Debian's python3 (/usr/bin/python3) is the one with the Debian-packaged requests and
# pytest, whatever else is first on PATH.
set -euo pipefail
export MP_BIN_DIR="$PWD"
# The fast path's C library, so both of the hook's paths are tested.
export MP_CLIENT_LIBRARY="$PWD/clients/cpp/fastpath/libmiddlepipe_client.so"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider clients/python/tests \
  --junitxml="${XML_OUTPUT_FILE:-/dev/null}"
