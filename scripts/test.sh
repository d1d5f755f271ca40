#!/bin/sh
# The whole test suite, as `make test` and CI run it:
#   1. style: clang-format --dry-run -Werror on every C file
#   2. a normal build: unit tests (ctest) and API tests (pytest against the real binary), then the
#      web UI's browser tests (node:test + playwright-core driving Debian's chromium, tests/web)
#   3. the store suite (tests/unit/test_store.c) and the API tests again on PostgreSQL: a
#      throwaway server (scripts/pg.sh) in a temporary directory on loopback, stopped afterwards
#   4. the unit and API tests again under AddressSanitizer + UndefinedBehaviorSanitizer
# Exits non-zero on the first failure. PYTEST_ARGS passes extra arguments to pytest; WEB_TEST_OUT
# is where the web tests save their screenshots (default tests/web/out).
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc)
PYTHON=/usr/bin/python3

step() { printf '\n=== %s ===\n' "$*"; }

step "style (clang-format)"
git ls-files -co --exclude-standard -- '*.c' '*.h' | xargs clang-format --dry-run -Werror
echo "style ok"

run_suite() { # $1 = build dir, $2 = label, $3.. = extra cmake args
    dir=$1; label=$2; shift 2
    step "build ($label)"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
    step "unit tests ($label)"
    (cd "$dir" && ctest --output-on-failure -j "$JOBS")
    step "API tests ($label)"
    CLOUDHANDS_BIN="$PWD/$dir/cloudhands" $PYTHON -m pytest -q tests/api ${PYTEST_ARGS:-}
}

web_tests() { # $1 = build dir
    step "web tests (release)"
    # playwright-core from the npm registry, as package-lock.json pins it; again when the lock
    # file changed since the last install.
    if [ ! -d tests/web/node_modules ] || [ tests/web/package-lock.json -nt tests/web/node_modules ]; then
        npm ci --prefix tests/web --no-audit --no-fund
        touch tests/web/node_modules
    fi
    CLOUDHANDS_BIN="$PWD/$1/cloudhands" node --test tests/web/*.test.js
}

pg_tests() { # $1 = build dir
    step "store + API tests (PostgreSQL)"
    PG_DIR=$(mktemp -d /tmp/cloudhands-pg.XXXXXX)
    trap 'scripts/pg.sh stop "$PG_DIR" >/dev/null 2>&1 || true' EXIT
    trap 'exit 130' INT TERM
    pg_url=$(scripts/pg.sh start "$PG_DIR")
    echo "PostgreSQL at $pg_url"
    (cd "$1" && CLOUDHANDS_TEST_DB="$pg_url" ctest --output-on-failure -R '^test_store$')
    CLOUDHANDS_BIN="$PWD/$1/cloudhands" CLOUDHANDS_TEST_PG="$pg_url" \
        $PYTHON -m pytest -q tests/api ${PYTEST_ARGS:-}
    scripts/pg.sh stop "$PG_DIR"
    trap - EXIT INT TERM
}

run_suite build "release"
web_tests build
pg_tests build

# Sanitizer reports go to stderr; the API tests fail a server whose stderr has one.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan "ASan+UBSan" -DCH_SANITIZE=ON
