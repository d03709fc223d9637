# bastion's front door. `make test` and `make serve` work on a fresh Debian 12 machine.
#   make test            install packages, build, run every test
#   make serve [MODEL=FILE]  build and chat with MODEL (or a synthetic Qwen2.5-0.5B model)
#   make bench [MODEL=FILE]  pp512/tg128 benchmark
#   make fuzz            build the libFuzzer targets with clang-14 (build/fuzz/fuzz/)
PRESET ?= release
BUILD_DIR := build/$(PRESET)
BASTION := $(BUILD_DIR)/bastion
BASTION_HOME ?= $(HOME)/.bastion
SYNTH_MODEL := $(BASTION_HOME)/models/synth-qwen2.5-0.5b-q4_k_m.gguf

.PHONY: all deps build test serve bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET)

test: build
	@ctest --preset $(PRESET) -j 2

$(SYNTH_MODEL): | build
	@mkdir -p $(dir $@)
	$(BASTION) synth --preset qwen2.5-0.5b --type Q4_K_M -o $@

ifeq ($(MODEL),)
serve: build $(SYNTH_MODEL)
	@echo "No MODEL=FILE given: using the synthetic (random-weight) model $(SYNTH_MODEL)."
	$(BASTION) run -m $(SYNTH_MODEL)
bench: build $(SYNTH_MODEL)
	$(BASTION) bench -m $(SYNTH_MODEL)
else
serve: build
	$(BASTION) run -m $(MODEL)
bench: build
	$(BASTION) bench -m $(MODEL)
endif

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz

clean:
	rm -rf build
