#!/bin/bash
# `eproxy score SPACE --truth tests/data/nds/FILE --limit 8 --json` for all 19 NDS spaces on their hand-made
# fixtures (tiny heads, 16 px), one line each: space, rc, n, programs, spearman, diverged, compile s, ms/arch
cd "$(dirname "$0")/.." && mkdir -p "${OUT:-/tmp/nds-smoke}"
S='{"c_out": [8, 8, 8], "c_last": [8, 8, 8]}'
echo "$S" > ${OUT:-/tmp/nds-smoke}/s.json
for pair in nds-darts:DARTS nds-darts-fix-w-d:DARTS_fix-w-d nds-enas:ENAS nds-enas-fix-w-d:ENAS_fix-w-d nds-amoeba:Amoeba nds-nasnet:NASNet nds-pnas:PNAS nds-pnas-fix-w-d:PNAS_fix-w-d nds-darts-in:DARTS_in nds-darts-fix-w-d-in:DARTS_fix-w-d_in nds-enas-in:ENAS_in nds-amoeba-in:Amoeba_in nds-nasnet-in:NASNet_in nds-pnas-in:PNAS_in nds-resnet:ResNet nds-resnext-a:ResNeXt-A nds-resnext-b:ResNeXt-B nds-resnext-a-in:ResNeXt-A_in nds-resnext-b-in:ResNeXt-B_in; do
  sp=${pair%%:*}; f=${pair##*:}
  eproxy score $sp --truth tests/data/nds/$f.json --limit 8 --setting ${OUT:-/tmp/nds-smoke}/s.json --space-option input_size=16 --json --quiet --out ${OUT:-/tmp/nds-smoke}/$sp.csv > ${OUT:-/tmp/nds-smoke}/$sp.out 2>&1
  echo "$sp rc=$? $(tail -1 ${OUT:-/tmp/nds-smoke}/$sp.out | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["n"], d["programs"], d["spearman"], d["diverged"], round(d["compile_s"]), d["ms_per_arch"])' 2>&1)"
done
