#!/usr/bin/env bash
# CI's fuzzing step: builds every libFuzzer target with the `fuzz` preset (clang-14, ASan + UBSan)
# and runs each for a bounded time from its committed seeds, two at a time (CI has two cores).
# A crash, a sanitizer report, a leak or a timeout fails the step and leaves the reproducer in
# build/fuzz/artifacts/<target>/ (fuzz/README.md says how to replay it).
#
#   scripts/fuzz-smoke.sh              # every target, FUZZ_SECONDS each (default 60)
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh http_request_fuzz key_store_fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # The target names, from fuzz/CMakeLists.txt's list (one source of truth).
  mapfile -t targets < <(sed -n 's/^ *"\([a-z_]*_fuzz\)\\;.*/\1/p' fuzz/CMakeLists.txt)
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz-smoke: no targets found" >&2; exit 1; }

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]}"

out=build/fuzz/smoke
rm -rf "$out"
mkdir -p "$out"
run_one() {  # target
  local t=$1 seeds=fuzz/corpus/$1
  # Older targets keep their seeds under a shorter directory name.
  [ -d "$seeds" ] || seeds=fuzz/corpus/${1%_fuzz}
  mkdir -p "$out/$t/corpus" "build/fuzz/artifacts/$t"
  # The committed seeds stay read-only: libFuzzer writes new inputs to the first directory.
  if build/fuzz/fuzz/"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build/fuzz/artifacts/$t/" "$out/$t/corpus" "$seeds" >"$out/$t.log" 2>&1; then
    echo "fuzz-smoke: $t: $(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log") runs in ${seconds} s, clean"
  else
    echo "fuzz-smoke: $t FAILED; the end of its log:" >&2
    tail -n 60 "$out/$t.log" >&2
    return 1
  fi
}
export -f run_one
export out seconds
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
echo "fuzz-smoke: ${#targets[@]} targets ran ${seconds} s each without a finding"
