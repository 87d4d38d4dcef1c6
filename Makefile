# The two commands: `make run` and `make test`. Everything else is CMake's.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:4566
DATA ?= ./data

.PHONY: all deps build build-asan run test test-plain test-asan fuzz format format-check clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLAMBDAD_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	@echo "lambdad on http://$(LISTEN) (data in $(DATA)). In another terminal, e.g.:"
	@echo "  $(BUILD)/lambdad deploy examples/hello-python --name hello --runtime python3.11 --handler app.handler"
	@echo "  $(BUILD)/lambdad invoke hello '{\"name\":\"you\"}'"
	@echo "More in examples/README.md; the AWS CLI works with --endpoint-url http://$(LISTEN)."
	$(BUILD)/lambdad serve --listen $(LISTEN) --data $(DATA)

# `make test` runs each test once: the unit and runtime tests in the plain build (fast,
# no sanitizers), then everything else (unit, e2e, bench smoke) in the ASan+UBSan build.
# The e2e scripts spend their time in clients, not in the server, so a second plain pass
# would double that and add no coverage; `cd build && ctest -L e2e` runs them plain.
# CTEST_ARGS narrows either pass, e.g. make test-asan CTEST_ARGS='-L e2e -R api'.
CTEST_ARGS ?=
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|runtime' $(CTEST_ARGS)

test-asan: build-asan
	cd $(ASAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) -LE runtime $(CTEST_ARGS)

test: format-check test-plain test-asan

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLAMBDAD_FUZZ=ON -DLAMBDAD_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Every tracked C file as .clang-format says (part of make test, so of CI).
format-check: deps
	@scripts/format-check

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
