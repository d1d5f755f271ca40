#!/bin/sh
# Installs the Debian 12 packages cloudhands needs to build, run and test.
# Idempotent: packages already present are skipped, so `make run` may call it every time.
# Usage: scripts/install-deps.sh [--test]   (--test adds what `make test` and `make bench` need)
# npm is needed to build: the build installs swagger-ui-dist (the Swagger UI of /swagger-ui/) with
# npm ci (cmake/npm-ci.cmake). The web tests (tests/web) drive Debian's chromium with
# playwright-core from npm, run by the machine's Node.js (>= 18). Where node or npm is missing,
# Debian's nodejs and npm.
set -eu

BUILD_PKGS="gcc make cmake pkg-config git libmicrohttpd-dev libjansson-dev libsqlite3-dev \
libsodium-dev libcurl4-openssl-dev zlib1g-dev libpq-dev bubblewrap ca-certificates"
TEST_PKGS="libcmocka-dev python3 python3-pytest python3-requests python3-prometheus-client \
python3-jsonschema curl wrk clang-format chromium postgresql"

want="$BUILD_PKGS"
# Node.js and npm, for the build (npm ci of swagger-ui-dist) and the tests: a Node.js that is
# already there (such as one that bundles npm, which then conflicts with Debian's npm package) is
# kept; only a missing one comes from Debian.
[ -x /usr/bin/node ] || want="$want nodejs" # tests/api/test_seed.py runs /usr/bin/node
command -v npm >/dev/null 2>&1 || want="$want npm"
[ "${1:-}" = "--test" ] && want="$want $TEST_PKGS"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "cloudhands: installing missing Debian packages:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >&2
