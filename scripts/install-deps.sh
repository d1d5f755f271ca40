#!/bin/sh
# Installs the Debian 12 packages cloudhands needs to build, run and test.
# Idempotent: packages already present are skipped, so `make run` may call it every time.
# Usage: scripts/install-deps.sh [--test]   (--test adds what `make test` and `make bench` need)
set -eu

BUILD_PKGS="gcc make cmake pkg-config git libmicrohttpd-dev libjansson-dev libsqlite3-dev \
libsodium-dev libcurl4-openssl-dev zlib1g-dev bubblewrap ca-certificates"
TEST_PKGS="libcmocka-dev python3 python3-pytest python3-requests curl nodejs wrk clang-format"

want="$BUILD_PKGS"
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
