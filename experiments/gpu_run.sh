#!/usr/bin/env bash
# One device call for the open GPU figures: Table 1 on the H200 (issues 2, 5, 6, 7), the full
# DPS's speed and held-out quality (issue 3), the NB201 search report (issue 7).
#   bash experiments/gpu_run.sh [STAGE...]     stages: groups bench dps search cellgroups (default: all, in that order)
#                                               and, only when named, nb101steps (NB101 rank quality vs training
#                                               steps) and quality (NB201: per-image waves and the authors' setting
#                                               against the default, 1,000 cells, then the best on a second draw)
# $OUT is set by the device tool (default ./gpu_out). Every stage appends to files under $OUT and
# is resumable (bench --out, the DPS <out>.state, search_nb201's runs.jsonl), so a call cut short
# keeps what finished and a rerun continues. Each stage has its own time limit (GROUPS_S, BENCH_S,
# DPS_S, SEARCH_S, CELLGROUPS_S, QUALITY_S seconds); progress goes to $OUT/log.txt. The device tool
# returns at most 8 files from $OUT, so the stages' many files go under $RAW and are packed into
# $OUT/raw.tgz after every stage; the XLA cache stays on the machine.
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
RAW=${RAW:-/tmp/gpu_raw}
mkdir -p "$RAW"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 EPROXY_CACHE_DIR=${EPROXY_CACHE_DIR:-/tmp/xla-cache}
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
pack() { tar czf "$OUT/raw.tgz" -C "$RAW" . 2>> "$OUT/log.txt"; }
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
          --out-dir "$RAW/dps" 2>&1 | tr '\r' '\n' | tee -a "$OUT/log.txt" | tail -8 ;;
    search) # NB201: evolution vs random, 1,000 evaluations, 10 seeds, shared score file
      log "search"
      timeout ${SEARCH_S:-240} python3 experiments/search_nb201.py --out-dir "$RAW/search_nb201" 2>&1 \
          | tee -a "$OUT/log.txt" | tail -20 ;;
    cellgroups) # the DARTS-family (nb301), TransNAS micro and NB101 op choices: op-grouped vs every op, vmapped
      log "cellgroups"
      for sp in nb301 transnas-micro; do
        timeout ${CELLGROUPS_S:-150} python3 experiments/throughput.py --space $sp --n ${CELLGROUPS_N:-512} --chunks 256 \
            --arch-vmap 256 --edge-groups default,off --json "$RAW/groups_$sp.json" 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt"
      done
      # NB101 vertices are up to 512 channels wide: 64 cells per vmap
      timeout ${CELLGROUPS_S:-150} python3 experiments/throughput.py --space nb101 --n ${CELLGROUPS_N101:-256} --chunks 128 \
          --arch-vmap 64 --edge-groups default,off --json "$RAW/groups_nb101.json" 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt" ;;
    nb101steps) # NB101 at full size: Spearman of 10 / 30 / 60 / 100 training steps on the same cells
      log "nb101steps"
      timeout ${NB101STEPS_S:-300} python3 experiments/settings_screen.py nb101 --settings experiments/settings/nb101_steps.json \
          --limit ${NB101STEPS_N:-300} --out-dir "$RAW/nb101steps" --json "$RAW/nb101steps.json" -- --arch-vmap 64 --chunk 256 --seeds ${NB101STEPS_SEEDS:-1} \
          2>> "$OUT/log.txt" | tee -a "$OUT/log.txt" | tail -8 ;;
    quality) # NB201 rank quality (issue 28): the default, per-image waves (phase / all) and the authors'
      # setting on 1,000 cells (sample seed 0, the alpha study's tuning draw), proxy seeds 0-1 averaged;
      # then the default and the best other setting of that screen (by Spearman) on sample seed 1
      log "quality"
      timeout ${QUALITY_S:-330} python3 experiments/settings_screen.py nb201 --settings experiments/settings/nb201_waves.json \
          --limit ${QUALITY_N:-1000} --sample-seed 0 --out-dir "$RAW/quality_ss0" --json "$OUT/quality_ss0.json" \
          -- --seeds 2 --chunk 512 --arch-vmap 256 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt" | tail -12
      pack
      python3 - "$OUT/quality_ss0.json" "$RAW/nb201_confirm.json" <<'PY' 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt"
import json, sys
t = json.load(open(sys.argv[1]))
rows = {r["setting"]: r for r in t["rows"]}
best = max((k for k in rows if k != "default"), key=lambda k: rows[k]["spearman"])
print("best other setting on sample seed 0:", best, rows[best]["spearman"], "default", rows["default"]["spearman"])
json.dump({"default": t["settings"]["default"], best: t["settings"][best]}, open(sys.argv[2], "w"))
PY
      [ -f "$RAW/nb201_confirm.json" ] && timeout ${QUALITY2_S:-200} python3 experiments/settings_screen.py nb201 \
          --settings "$RAW/nb201_confirm.json" --limit ${QUALITY_N:-1000} --sample-seed 1 --out-dir "$RAW/quality_ss1" \
          --json "$OUT/quality_ss1.json" -- --seeds 2 --chunk 512 --arch-vmap 256 2>> "$OUT/log.txt" | tee -a "$OUT/log.txt" | tail -8 ;;
    *) log "unknown stage $stage (groups, bench, dps, search, cellgroups, nb101steps, quality)"; exit 2 ;;
  esac
  pack
done
log "done"
