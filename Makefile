# Thin wrapper over CMake. The two commands a newcomer needs: `make run` and `make test`.
#   make run      install missing Debian packages, build, serve on 127.0.0.1:3000 (data in ./data)
#   make test     the whole suite: format check, unit, API and browser tests, then unit and API tests
#                 again under ASan+UBSan
#   make bench    benchmarks against a baseline measured in the same run (bench/README.md)
#   make build    just build (build/cloudhands)
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3
RUN_ARGS   ?=

.PHONY: all build run deps test-deps test unit api format-check asan bench clean

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

run: deps
	@$(MAKE) --no-print-directory build
	./$(BUILD)/cloudhands serve $(RUN_ARGS)

test: test-deps
	@scripts/test.sh

bench: test-deps build
	@bench/run.sh && bench/agent.sh && /usr/bin/python3 bench/clone.py && /usr/bin/python3 bench/multinode.py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
