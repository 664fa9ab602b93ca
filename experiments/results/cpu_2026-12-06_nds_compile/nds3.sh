#!/bin/bash
# (as run, 2026-12-06) the three slowest-compiling NDS spaces of the 2026-11-29 smoke run, the smoke script's command lines
cd /work/main && . .venv/bin/activate
OUT=/work/main/experiments/results/cpu_2026-12-06_nds_compile; mkdir -p $OUT
S='{"c_out": [8, 8, 8], "c_last": [8, 8, 8]}'
echo "$S" > /tmp/nds3_s.json
for pair in nds-amoeba:Amoeba nds-pnas:PNAS nds-nasnet-in:NASNet_in; do
  sp=${pair%%:*}; f=${pair##*:}
  rm -rf /tmp/nds3_cache; t0=$(date +%s)
  EPROXY_CACHE_DIR=/tmp/nds3_cache eproxy score $sp --truth tests/data/nds/$f.json --limit 8 --setting /tmp/nds3_s.json --space-option input_size=16 --json --quiet --out /tmp/nds3_$sp.csv > /tmp/nds3_$sp.out 2>&1
  rc=$?; t1=$(date +%s)
  echo "$sp rc=$rc $(tail -1 /tmp/nds3_$sp.out | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["n"], d["programs"], d["spearman"], d["diverged"], round(d["compile_s"]), d["ms_per_arch"])' 2>&1) wall $((t1-t0)) s" | tee -a $OUT/smoke3.txt
done
