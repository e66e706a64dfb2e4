#!/usr/bin/env bash
# Run every fuzz target for <seconds-per-target> seconds, one after another on one core, each seeded with
# the platform payloads in tests/fixtures; print executions and crashes per target and in total; exit
# non-zero when any target crashed (the failing input is kept in fuzz/artifacts/<target>/).
#
#   fuzz/run.sh 60                 # a minute per target
#   FUZZ_SANITIZER=address fuzz/run.sh 60
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly --profile minimal`,
# `cargo install cargo-fuzz`). The core has no unsafe code, so the default builds without a sanitizer,
# which runs about twice as many inputs; FUZZ_SANITIZER=address checks the dependencies' unsafe code too.
set -euo pipefail

seconds=${1:?usage: fuzz/run.sh <seconds-per-target>}
sanitizer=${FUZZ_SANITIZER:-none}
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
fixtures="$fuzz_dir/../tests/fixtures"

# target → the fixtures whose verbatim payload seeds it (none: the target starts from scratch).
declare -A seeds=(
  [webhook_telegram]="telegram/update_*"
  [webhook_whatsapp]="whatsapp/webhook_*"
  [webhook_viber]="viber/callback_*"
  [webhook_messenger]="messenger/webhook_*"
  [meta_webhook]=""
  [template_markup]=""
  [template_render]=""
)
targets=(webhook_telegram webhook_whatsapp webhook_viber webhook_messenger meta_webhook
  template_markup template_render)
# Template syntax and markup tokens, for the targets that read template text.
declare -A dictionaries=([template_markup]=template.dict [template_render]=template.dict)

cd "$fuzz_dir"
unset CARGO_TARGET_DIR # cargo-fuzz builds into fuzz/target
cargo +nightly fuzz build --sanitizer "$sanitizer" >&2
bin_dir="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

total_runs=0
total_crashes=0
report=()
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  artifacts="artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  for pattern in ${seeds[$target]}; do
    for fixture in "$fixtures"/$pattern.json; do
      jq -j '.payload_raw' "$fixture" >"$corpus/fixture-$(basename "$fixture" .json)"
    done
  done
  options=(-max_total_time="$seconds" -jobs=1 -timeout=10 -print_final_stats=1
    -artifact_prefix="$artifacts/")
  if [[ -n ${dictionaries[$target]:-} ]]; then
    options+=(-dict="${dictionaries[$target]}")
  fi
  log="artifacts/$target.log"
  before=$(find "$artifacts" -type f | wc -l)
  echo "== $target (${seconds}s)" >&2
  # -jobs=1 runs one worker process, logging to fuzz-0.log.
  "$bin_dir/$target" "${options[@]}" "$corpus" >"$log" 2>&1 || true
  cat fuzz-0.log >>"$log" 2>/dev/null && rm -f fuzz-0.log
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  crashes=$(($(find "$artifacts" -type f | wc -l) - before))
  runs=${runs:-0}
  total_runs=$((total_runs + runs))
  total_crashes=$((total_crashes + crashes))
  report+=("$(printf '%-20s %14s %8s' "$target" "$runs" "$crashes")")
done

printf '%-20s %14s %8s\n' target executions crashes
printf '%s\n' "${report[@]}"
printf '%-20s %14s %8s\n' total "$total_runs" "$total_crashes"
if ((total_crashes > 0)); then
  echo "crashing inputs are in fuzz/artifacts/<target>/; logs in fuzz/artifacts/<target>.log" >&2
  exit 1
fi
