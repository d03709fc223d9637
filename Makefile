# bastion's front door. `make test` and `make serve` work on a fresh Debian 12 machine.
#   make test            install packages, build, run every test
#   make serve [MODEL=FILE|NAME] [PORT=N]  build and serve MODEL on 127.0.0.1:PORT (11434, Ollama's
#                        port); without MODEL the default qwen2.5:0.5b, pulled into the store on
#                        first run; MODEL=synth serves a synthetic (random-weight) Qwen2.5-0.5B
#   make bench [MODEL=FILE]  pp512/tg128 benchmark
#   make bench-serve [MODEL=FILE]  TTFT and tokens/s through `bastion serve`, 1/4/8 streams
#   make fuzz            build the libFuzzer targets with clang-14 (build/fuzz/fuzz/)
#   make fuzz-smoke      build them and run each for FUZZ_SECONDS (60) with ASan/UBSan (CI does)
PRESET ?= release
BUILD_DIR := build/$(PRESET)
BASTION := $(BUILD_DIR)/bastion
BASTION_HOME ?= $(HOME)/.bastion
SYNTH_MODEL := $(BASTION_HOME)/models/synth-qwen2.5-0.5b-q4_k_m.gguf
PORT ?= 11434
SERVE_FLAGS := --host 127.0.0.1 --port $(PORT) --state-dir $(BASTION_HOME)

.PHONY: all deps build test serve bench bench-serve fuzz fuzz-smoke clean

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
serve: build
	$(BASTION) serve $(SERVE_FLAGS)
else ifeq ($(MODEL),synth)
serve: build $(SYNTH_MODEL)
	@echo "Serving the synthetic (random-weight) model $(SYNTH_MODEL)."
	$(BASTION) serve -m $(SYNTH_MODEL) --alias synth-qwen2.5:0.5b $(SERVE_FLAGS)
endif

ifeq ($(MODEL),)
bench: build $(SYNTH_MODEL)
	$(BASTION) bench -m $(SYNTH_MODEL)
bench-serve: build $(SYNTH_MODEL)
	node bench/serve_bench.mjs --bin $(BASTION) --model $(SYNTH_MODEL) --parallel 8 --reps 3
else
ifneq ($(MODEL),synth)
serve: build
	$(BASTION) serve -m $(MODEL) $(SERVE_FLAGS)
endif
bench: build
	$(BASTION) bench -m $(MODEL)
bench-serve: build
	node bench/serve_bench.mjs --bin $(BASTION) --model $(MODEL) --parallel 8 --reps 3
endif

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz

fuzz-smoke: deps
	@scripts/fuzz-smoke.sh

clean:
	rm -rf build
