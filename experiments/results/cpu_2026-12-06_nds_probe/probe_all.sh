#!/bin/bash
# (as run) cold compile of every program of the three slowest NDS fixtures, one process per program, nothing else running
cd /work/main && . .venv/bin/activate && cd experiments/results/cpu_2026-12-06_nds_probe
for pair in nds-amoeba:Amoeba:3 nds-pnas:PNAS:3 nds-nasnet-in:NASNet_in:4; do
  IFS=: read sp f n <<< "$pair"
  for ((i=0; i<n; i++)); do
    echo -n "$sp which=$i " >> probe_all.txt
    python compile_probe.py $sp --truth ../../../tests/data/nds/$f.json --which $i 2>&1 | grep -v Warn | tr '\n' ' ' >> probe_all.txt
    echo >> probe_all.txt
  done
done
