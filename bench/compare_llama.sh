#!/usr/bin/env bash
# Same-stretch comparison with llama.cpp: llama-bench and `bastion bench` alternately on each
# file, so both see the same host (this VM's speed moves by 25-30% between phases; only ratios
# taken in one run mean anything). docs/PERFORMANCE.md says how llama-bench was built here.
#
#   LLAMA_BENCH=/tmp/llamacpp/build/bin/llama-bench bench/compare_llama.sh /tmp/q4km.gguf /tmp/Q8_0.gguf
#   DEPTH=4096 ... bench/compare_llama.sh /tmp/q4km.gguf     # tg128 after a 4096-token context
set -euo pipefail
llama=${LLAMA_BENCH:?set LLAMA_BENCH to a llama-bench binary}
bastion=${BASTION:-build/release/bastion}
reps=${REPS:-5}
depth=${DEPTH:-0}
[ $# -gt 0 ] || { echo "usage: LLAMA_BENCH=... $0 FILE.gguf..." >&2; exit 2; }
for f in "$@"; do
  echo "== $f"
  if [ "$depth" -eq 0 ]; then
    "$llama" -m "$f" -t 2 -p 512 -n 128 -r "$reps" | grep -E "pp512|tg128"
    "$bastion" bench -m "$f" -t 2 -r "$reps" | grep -E "pp512|tg128|limit"
  else
    "$llama" -m "$f" -t 2 -p 0 -n 128 -d "$depth" -r "$reps" | grep -E "tg128"
    "$bastion" bench -m "$f" -t 2 -p 0 -n 128 -d "$depth" -r "$reps" | grep -E "tg128"
  fi
done
