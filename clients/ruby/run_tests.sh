#!/usr/bin/env bash
# The Ruby hook's tests (minitest), run by the project's test command through Bazel: the
# unit tests against a fake agent, the gem build, and the end-to-end test against the
# binaries Bazel built (under the runfiles directory, a Bazel test's working directory).
set -euo pipefail
export MP_BIN_DIR="$PWD"
# The fast path's C library, so both of the hook's paths are tested.
export MP_CLIENT_LIBRARY="$PWD/clients/cpp/fastpath/libmiddlepipe_client.so"
export HOME="${TEST_TMPDIR:-${HOME:-/tmp}}"  # gem writes its caches under HOME
exec /usr/bin/ruby -Iclients/ruby/lib -Iclients/ruby/test \
  -e 'ARGV.each { |file| require File.expand_path(file) }' clients/ruby/test/test_*.rb
