# The front door: `make demo` and `make test` do everything, including
# installing what is missing. The real build is CMake, in build/.

BUILD      ?= build
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# CI turns warnings into errors.
ifneq ($(CI),)
CMAKE_ARGS += -DLIFELINE_WERROR=ON
endif

.PHONY: all build deps demo demo-down test bench install clean sanitize

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Same build with AddressSanitizer and UndefinedBehaviorSanitizer, in its own folder.
sanitize: deps
	cmake -S . -B $(BUILD)-asan -DLIFELINE_SANITIZE=ON -DLIFELINE_WERROR=ON
	cmake --build $(BUILD)-asan -j $(JOBS)
	sh scripts/run-tests.sh $(BUILD)-asan

test: build
	sh scripts/run-tests.sh $(BUILD)

demo: build
	sh scripts/demo.sh $(BUILD)

demo-down:
	@if [ -x $(BUILD)/bin/lifeline ]; then $(BUILD)/bin/lifeline lab down; \
	else echo "nothing to take down: $(BUILD)/bin/lifeline is not built"; fi

bench: build
	@set -e; for b in bench/*; do \
		[ -x "$$b" ] || continue; echo "== $$b"; "$$b" $(BUILD); done

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan
