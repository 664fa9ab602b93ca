#!/usr/bin/env bash
# One device call for the open GPU figures: Table 1 on the H200 (issues 2, 5, 6, 7), the full
# DPS's speed and held-out quality (issue 3), the NB201 search report (issue 7).
#   bash experiments/gpu_run.sh [STAGE...]     stages: groups bench dps search cellgroups (default: all, in that order)
#                                               and nb101steps (only when named: NB101 rank quality vs training steps)
# $OUT is set by the device tool (default ./gpu_out). Every stage appends to files under $OUT and
# is resumable (bench --out, the DPS <out>.state, search_nb201's runs.jsonl), so a call cut short
# keeps what finished and a rerun continues. Each stage has its own time limit (GROUPS_S, BENCH_S,
# DPS_S, SEARCH_S, CELLGROUPS_S seconds); progress goes to $OUT/log.txt.
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 EPROXY_CACHE_DIR=$OUT/xla-cache
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
stages=${*:-groups bench dps search cellgroups}
log "device: $(python3 -c 'import jax; print(jax.devices())' 2>&1 | tail -1); stages: $stages"
for stage in $stages; do
  case $stage in
    groups) # NB201 whole-space speed: vmapped cells with every edge op computed vs op-grouped edges
      log "groups"
      timeout ${GROUPS_S:-200} python3 experiments/throughput.py --n ${GROUPS_N:-2048} --chunks 1024 --arch-vmap 256 \
          --edge-groups default,off --json "$OUT/groups.json" 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt" ;;
    bench)  # every space with bundled architectures, 256 each, its own process per space
      log "bench"
      timeout ${BENCH_S:-240} python3 -m eproxy_jax bench --n ${BENCH_N:-256} --nds-dir tests/data/nds \
          --out "$OUT/bench.jsonl" --json > "$OUT/bench.txt" 2>> "$OUT/log.txt"
      log "bench rc=$? ($(wc -l < "$OUT/bench.jsonl" 2>/dev/null || echo 0) spaces)"
      head -30 "$OUT/bench.txt" | tee -a "$OUT/log.txt" ;;
    dps)    # NB201, 20 train cells, 200 settings, uncapped genes; then the best and the default on 300 held-out
      log "dps"
      timeout ${DPS_S:-240} python3 experiments/dps_protocol.py --seeds ${DPS_SEEDS:-0} --eval-archs ${DPS_EVAL:-300} \
          --out-dir "$OUT/dps" 2>&1 | tr '\r' '\n' | tee -a "$OUT/log.txt" | tail -8 ;;
    search) # NB201: evolution vs random, 1,000 evaluations, 10 seeds, shared score file
      log "search"
      timeout ${SEARCH_S:-240} python3 experiments/search_nb201.py --out-dir "$OUT/search_nb201" 2>&1 \
          | tee -a "$OUT/log.txt" | tail -20 ;;
    cellgroups) # the DARTS-family (nb301), TransNAS micro and NB101 op choices: op-grouped vs every op, vmapped
      log "cellgroups"
      for sp in nb301 transnas-micro; do
        timeout ${CELLGROUPS_S:-150} python3 experiments/throughput.py --space $sp --n ${CELLGROUPS_N:-512} --chunks 256 \
            --arch-vmap 256 --edge-groups default,off --json "$OUT/groups_$sp.json" 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt"
      done
      # NB101 vertices are up to 512 channels wide: 64 cells per vmap
      timeout ${CELLGROUPS_S:-150} python3 experiments/throughput.py --space nb101 --n ${CELLGROUPS_N101:-256} --chunks 128 \
          --arch-vmap 64 --edge-groups default,off --json "$OUT/groups_nb101.json" 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt" ;;
    nb101steps) # NB101 at full size: Spearman of 10 / 30 / 60 / 100 training steps on the same cells
      log "nb101steps"
      timeout ${NB101STEPS_S:-300} python3 experiments/settings_screen.py nb101 --settings experiments/settings/nb101_steps.json \
          --limit ${NB101STEPS_N:-300} --out-dir "$OUT/nb101steps" --json "$OUT/nb101steps.json" -- --arch-vmap 64 --chunk 256 --seeds ${NB101STEPS_SEEDS:-1} \
          2>> "$OUT/log.txt" | tee -a "$OUT/log.txt" | tail -8 ;;
    *) log "unknown stage $stage (groups, bench, dps, search, cellgroups, nb101steps)"; exit 2 ;;
  esac
done
log "done"
