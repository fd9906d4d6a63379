#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the other, starting
# from its committed corpus (fuzz/corpus/<target>, which holds the regression inputs too).
# Stops at the first crash, panic, hang (>10 s for one input) or runaway allocation, leaving
# the input in fuzz/artifacts/<target>/. Usage: fuzz/run.sh SECONDS [target…]
#
# Built with the default toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags to a
# stable compiler, so no nightly is needed. No sanitizer (our crates forbid unsafe code);
# debug assertions on, so integer overflows panic as they do in debug builds.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [target…]}
shift
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
export RUSTC_BOOTSTRAP=1
flags=(-O -a -s none)
cargo fuzz build "${flags[@]}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "fuzz: $t for ${secs}s"
    rc=0
    cargo fuzz run "${flags[@]}" "$t" -- -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 >"$log" 2>&1 || rc=$?
    grep -E "DONE|panicked|SUMMARY|Test unit written|ERROR" "$log" | tail -n 5 || true
    if [ "$rc" != 0 ]; then
        tail -n 40 "$log"
        echo "fuzz: $t failed (the input is in fuzz/artifacts/$t)"
        exit 1
    fi
done
