#!/usr/bin/env bash
# Same-stretch comparison with llama.cpp: llama-bench and `bastion bench` alternately on each
# file, so both see the same host (this VM's speed moves by 25-30% between phases; only ratios
# taken in one run mean anything). docs/PERFORMANCE.md says how llama-bench was built here.
#
#   LLAMA_BENCH=/tmp/llamacpp/build/bin/llama-bench bench/compare_llama.sh /tmp/q4km.gguf /tmp/Q8_0.gguf
#   DEPTH=4096 ... bench/compare_llama.sh /tmp/q4km.gguf     # tg128 after a 4096-token context
#   ROUNDS=3 ... bench/compare_llama.sh /tmp/q4km.gguf       # alternate 3 times, median of the ratios
set -euo pipefail
llama=${LLAMA_BENCH:?set LLAMA_BENCH to a llama-bench binary}
bastion=${BASTION:-build/release/bastion}
reps=${REPS:-5}
depth=${DEPTH:-0}
rounds=${ROUNDS:-1}
[ $# -gt 0 ] || { echo "usage: LLAMA_BENCH=... $0 FILE.gguf..." >&2; exit 2; }

# t/s of test $1 from llama-bench's table on stdin (the last column, "mean ± sd": the mean).
llama_tps() { awk -F'|' -v t="$1" '$0 ~ t { split($(NF-1), v, " "); print v[1] }'; }
# t/s of test $1 from bastion bench's table on stdin (its median column).
bastion_tps() { awk -F'|' -v t="$1" '$2 ~ t { gsub(/ /, "", $4); print $4 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for f in "$@"; do
  echo "== $f"
  if [ "$depth" -eq 0 ]; then tests="pp512 tg128"; else tests="tg128"; fi
  declare -A ratios=()  # test -> "ratio ratio ...", reset per file
  for ((r = 1; r <= rounds; ++r)); do
    if [ "$depth" -eq 0 ]; then
      lout=$("$llama" -m "$f" -t 2 -p 512 -n 128 -r "$reps")
      bout=$("$bastion" bench -m "$f" -t 2 -r "$reps")
    else
      lout=$("$llama" -m "$f" -t 2 -p 0 -n 128 -d "$depth" -r "$reps")
      bout=$("$bastion" bench -m "$f" -t 2 -p 0 -n 128 -d "$depth" -r "$reps")
    fi
    echo "$lout" | grep -E "pp512|tg128"
    echo "$bout" | grep -E "pp512|tg128|limit|share"
    for t in $tests; do
      l=$(echo "$lout" | llama_tps "$t")
      b=$(echo "$bout" | bastion_tps "$t")
      ratio=$(awk -v b="$b" -v l="$l" 'BEGIN { printf "%.2f", b / l }')
      ratios[$t]+="$ratio "
      echo "round $r $t: llama.cpp $l, bastion $b -> ${ratio}x"
    done
  done
  if [ "$rounds" -gt 1 ]; then
    for t in $tests; do
      echo "$t ratio per round: ${ratios[$t]}-> median $(echo "${ratios[$t]}" | tr ' ' '\n' | grep . | median)x"
    done
  fi
done
