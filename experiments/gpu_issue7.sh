#!/usr/bin/env bash
# One device call for issue 7's GPU figures (Table 1 on the H200, the NB201 search report).
#   run: bash experiments/gpu_issue7.sh            ($OUT set by the device tool; default ./gpu_out)
# Every stage appends to files under $OUT and is resumable (bench --out, search_nb201 runs.jsonl),
# so a call cut short keeps what finished; rerunning continues. Progress goes to $OUT/log.txt.
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 EPROXY_CACHE_DIR=$OUT/xla-cache
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
log "device: $(python3 -c 'import jax; print(jax.devices())' 2>&1 | tail -1)"
# 1. Table 1: every space with bundled architectures, 256 each, its own process per space
log "bench"
timeout ${BENCH_S:-300} python3 -m eproxy_jax bench --n ${BENCH_N:-256} --nds-dir tests/data/nds \
    --out "$OUT/bench.jsonl" --json > "$OUT/bench.txt" 2>> "$OUT/log.txt"
log "bench rc=$? ($(wc -l < "$OUT/bench.jsonl" 2>/dev/null || echo 0) spaces)"
cat "$OUT/bench.txt" | tee -a "$OUT/log.txt" | head -30
# 2. NB201 search: evolution vs random, 1,000 evaluations, 10 seeds, shared score cache
log "search"
timeout ${SEARCH_S:-240} python3 experiments/search_nb201.py --out-dir "$OUT/search_nb201" 2>&1 | tee -a "$OUT/log.txt" | tail -20
log "done"
