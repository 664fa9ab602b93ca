"""`eproxy merge`: combine results files of one run (e.g. `score --shard` slices), each
architecture once, and report the merged file's rank metrics."""
from __future__ import annotations

import json
from pathlib import Path

from .. import runlock
from .args import UsageError
from .common import check_out_file, rank_fields, top_text


def add_parser(sub):
    m = sub.add_parser("merge", help="combine results files of one run (e.g. --shard slices), each architecture once")
    m.add_argument("out", help="merged results CSV (created, or extended if it holds the same run)")
    m.add_argument("inputs", nargs="+", help="results CSVs of the same run")
    m.add_argument("--lower-is-better", action="store_true", help="the stored truth values are losses")
    m.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    return m


def run(args) -> int:
    """`eproxy merge`: check every input and the output first, then merge under the output's lock."""
    import numpy as np

    from .. import metrics
    from ..store import merge

    for p in args.inputs:
        if not Path(p).is_file():
            raise UsageError(f"{p}: file not found")
    if any(Path(p).resolve() == Path(args.out).resolve() for p in args.inputs):
        raise UsageError(f"{args.out}: the output must not be one of the inputs")
    check_out_file("out", args.out, parent_must_exist=False)
    with runlock.hold(args.out):
        r = merge(args.inputs, args.out)
    rows = r["records"]
    result = {k: v for k, v in r.items() if k not in ("meta", "records")}
    result["space"] = r["meta"].get("space")
    score = [float(x["score"]) for x in rows]
    truth = [x["truth"] for x in rows]
    result.update(dict.fromkeys(("spearman", "kendall", "top10_precision") + metrics.TOP_KEYS))
    lower = merged_lower_is_better(r["meta"], args.lower_is_better)
    if rows and all(t not in (None, "") for t in truth) and len(rows) >= 2:
        t = np.asarray([float(x) for x in truth]) * (-1.0 if lower else 1.0)
        result.update(rank_fields(np.asarray(score), t))
    for f in result["inputs"]:
        print(f"{f['file']}: {f['rows']} rows, {f['new']} new")
    corr = "" if result["spearman"] is None else (f"; spearman {result['spearman']}, kendall {result['kendall']}; "
                                                   + top_text(result))
    print(f"merged into {result['out']}: {result['rows']} architectures ({result['added']} added){corr}")
    if args.json:
        print(json.dumps(result, allow_nan=False))
    return 0


def merged_lower_is_better(meta: dict, flag: bool) -> bool:
    """The truth direction of merged files: recorded in their run identity (files from before it
    was recorded: --lower-is-better)."""
    truth = meta.get("truth", ...)
    if truth is ...:
        return flag
    lower = bool(truth and truth.get("lower_is_better"))
    if flag and not lower:
        raise UsageError("--lower-is-better: the merged files record higher-is-better truth")
    return lower
