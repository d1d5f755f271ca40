#!/bin/sh
# The whole test suite, as `make test` and CI run it:
#   1. style: clang-format --dry-run -Werror on every C file
#   2. a normal build: unit tests (ctest) and API tests (pytest against the real binary)
#   3. the same under AddressSanitizer + UndefinedBehaviorSanitizer
# Exits non-zero on the first failure. PYTEST_ARGS passes extra arguments to pytest.
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

run_suite build "release"

# Sanitizer reports go to stderr; the API tests fail a server whose stderr has one.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan "ASan+UBSan" -DCH_SANITIZE=ON
