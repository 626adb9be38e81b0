#!/usr/bin/env bash
# A newcomer's first minute, measured: clone this repository's HEAD into a new directory, with
# empty package caches (uv's and pip's), then time `make run` to the first /health 200, report
# what it installed (the sizes of .venv and .venv-tools), and time a second `make run` (installed).
# With --test, then time `make test` in the same clone. Nothing here touches the work tree it is run from.
#
#   scripts/first-run.sh [--test] [--keep]     (PORT, default 18000, is where make run listens)
set -euo pipefail

test_too=0 keep=0
for arg in "$@"; do
    case "$arg" in
        --test) test_too=1 ;;
        --keep) keep=1 ;;
        *) echo "usage: scripts/first-run.sh [--test] [--keep]" >&2; exit 2 ;;
    esac
done
port=${PORT:-18000}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/short-cut-first-run.XXXXXX)
export UV_CACHE_DIR="$work/cache/uv" PIP_CACHE_DIR="$work/cache/pip" PORT="$port" HOST=127.0.0.1
clone="$work/short-cut"
git clone --quiet "$repo" "$clone"
echo "clone: $clone at $(git -C "$clone" rev-parse --short=12 HEAD); caches: $work/cache (empty)"

server=""
cleanup() {
    if [ -n "$server" ]; then kill -TERM -- "-$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ "$keep" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# serve: start make run in its own process group (set -m, so all of it can be stopped) and wait
# for the first /health 200; prints the seconds it took. serve LOG-NAME DESCRIPTION
serve() {
    local start ms
    start=$(date +%s%N)
    set -m
    (cd "$clone" && exec make run) >"$work/run-$1.log" 2>&1 &
    server=$!
    set +m
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do
        if ! kill -0 "$server" 2>/dev/null; then
            echo "make run exited before /health answered 200:" >&2
            tail -20 "$work/run-$1.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    ms=$((($(date +%s%N) - start) / 1000000))
    printf 'make run (%s): first /health 200 after %d.%03d s\n' "$2" $((ms / 1000)) $((ms % 1000))
    kill -TERM -- "-$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}

serve fresh "fresh clone, empty caches"
grep -E '^install into' "$work/run-fresh.log" || true
du -sh "$clone/.venv" "$clone/.venv-tools" | sed 's/^/installed: /'
echo "installed (both): $(du -sch "$clone/.venv" "$clone/.venv-tools" | tail -1 | cut -f1)"
# uv links its cache's files into the venv: counted with it, the cache adds only what it alone holds.
echo "installed with the caches: $(du -sch "$clone/.venv" "$clone/.venv-tools" "$work/cache" | tail -1 | cut -f1)"
serve again "again, installed"

if [ "$test_too" = 1 ]; then
    start=$(date +%s)
    if (cd "$clone" && make test) >"$work/test.log" 2>&1; then verdict=passed; else verdict=FAILED; fi
    elapsed=$(($(date +%s) - start))
    printf 'make test: %s after %d min %02d s (log: %s)\n' "$verdict" $((elapsed / 60)) $((elapsed % 60)) "$work/test.log"
    tail -3 "$work/test.log"
    keep=1
fi
