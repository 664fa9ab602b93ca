"""Append-only, resumable results file (CSV).

Layout:
    # eproxy-jax results v1
    # run_hash=<sha256 of space config, setting, seeds, images, proxy version>
    # meta=<one-line JSON of the same>
    arch,score_s<seed>...,score,diverged,truth
    <one row per architecture>

Rows are appended and flushed (fsync) chunk by chunk, so a killed run loses at most the
chunk in flight; a half-written last line is dropped on resume. Resuming into a file whose
run_hash differs raises `StoreError` instead of mixing scores of different runs.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np

FORMAT_LINE = "# eproxy-jax results v1"


class StoreError(ValueError):
    """The results file cannot be used (one-line message)."""


class StateError(StoreError):
    """A DPS resume state that does not belong to this run (one-line message)."""


def run_hash(meta: dict) -> str:
    blob = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fmt(v: float) -> str:
    return repr(float(v)) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))


def seed_mean(per) -> np.ndarray:
    """Mean over proxy seeds of scores `[n, n_seeds]` -> `[n]`: NaN where training diverged
    under any seed (counted as diverged), +inf for a network that ignores its input
    (`ProxySetting.dead_last`, the same under every seed); both rank last."""
    per = np.asarray(per, np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(per).any(1), np.nan, per.mean(1))


class ResultStore:
    def __init__(self, path, meta: dict, seeds):
        self.path = Path(path)
        self.meta = meta
        self.hash = run_hash(meta)
        self.seeds = list(seeds)
        self.columns = ["arch"] + [f"score_s{s}" for s in self.seeds] + ["score", "diverged", "truth"]
        self.rows: dict[str, dict] = {}
        try:
            if self.path.exists() and self.path.stat().st_size > 0:
                self._load()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "w", newline="") as f:
                    f.write(f"{FORMAT_LINE}\n# run_hash={self.hash}\n# meta={json.dumps(meta, sort_keys=True)}\n")
                    f.write(",".join(self.columns) + "\n")
        except UnicodeDecodeError:
            raise StoreError(f"{self.path} exists and is not an eproxy-jax results file; choose another --out") from None
        except OSError as e:
            raise StoreError(f"cannot write results to {self.path}: {e.strerror or e}") from None

    def _load(self):
        text = self.path.read_text()
        lines = text.split("\n")
        if not lines or lines[0] != FORMAT_LINE:
            raise StoreError(f"{self.path} exists and is not an eproxy-jax results file; choose another --out")
        found = next((ln.split("=", 1)[1] for ln in lines[:3] if ln.startswith("# run_hash=")), None)
        if found != self.hash:
            raise StoreError(f"{self.path} holds results of a different run (space, setting, seeds or images differ); "
                             "use another --out or delete it")
        body = [ln for ln in lines if ln and not ln.startswith("#")]
        complete = text.endswith("\n")
        if not body or body[0].split(",") != self.columns:
            raise StoreError(f"{self.path}: unexpected column header")
        keep = [body[0]]
        for i, ln in enumerate(body[1:], start=1):
            last = i == len(body) - 1
            rec = next(csv.reader([ln]))
            if len(rec) != len(self.columns) or (last and not complete):
                continue  # a line cut by an interrupt: drop it, it will be scored again
            row = dict(zip(self.columns, rec))
            self.rows[row["arch"]] = row
            keep.append(ln)
        if len(keep) - 1 != len(body) - 1 or not complete:
            # rewrite without the cut line atomically: an interrupt now must not lose the rows
            header = [ln for ln in lines[:3] if ln.startswith("#")]
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", newline="") as f:
                f.write("\n".join(header + keep) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

    def done(self, arch_id: str) -> bool:
        return arch_id in self.rows

    def append(self, arch_ids, per_seed_scores, truths=None):
        """Append rows; `per_seed_scores` is [n, n_seeds]."""
        if len(arch_ids) == 0:
            return
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        per = np.asarray(per_seed_scores, np.float64).reshape(len(arch_ids), -1)
        means = seed_mean(per)
        for i, a in enumerate(arch_ids):
            ss = [float(x) for x in per[i]]
            mean = float(means[i])
            diverged = math.isnan(mean)
            t = "" if truths is None or truths[i] is None or (isinstance(truths[i], float) and math.isnan(truths[i])) \
                else repr(float(truths[i]))
            rec = [a] + [_fmt(x) for x in ss] + [_fmt(mean), str(int(diverged)), t]
            w.writerow(rec)
            self.rows[a] = dict(zip(self.columns, rec))
        with open(self.path, "a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def scores(self, arch_ids):
        """(mean scores [n], per-seed scores [n, n_seeds], diverged [n]) for stored archs."""
        mean, per, div = [], [], []
        for a in arch_ids:
            r = self.rows[a]
            mean.append(float(r["score"]))
            per.append([float(r[f"score_s{s}"]) for s in self.seeds])
            div.append(r["diverged"] == "1")
        return mean, per, div


def read_results(path):
    """(run_hash, meta, columns, rows) of a results file (or its gzip, `.gz`), read-only; a
    line cut by an interrupt is skipped. Raises StoreError for anything that is not a results
    file."""
    path = Path(path)
    try:
        text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    except FileNotFoundError:
        raise StoreError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, EOFError):   # gzip.BadGzipFile is an OSError
        raise StoreError(f"{path} is not an eproxy-jax results file") from None
    lines = text.split("\n")
    if lines[0] != FORMAT_LINE:
        raise StoreError(f"{path} is not an eproxy-jax results file")
    head = {ln.split("=", 1)[0]: ln.split("=", 1)[1] for ln in lines[:3] if ln.startswith("# ") and "=" in ln}
    try:
        h, meta = head["# run_hash"], json.loads(head["# meta"])
    except (KeyError, json.JSONDecodeError):
        raise StoreError(f"{path}: damaged header") from None
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body:
        raise StoreError(f"{path}: no column header")
    columns = body[0].split(",")
    rows = []
    for i, ln in enumerate(body[1:], start=1):
        rec = next(csv.reader([ln]))
        if len(rec) != len(columns) or (i == len(body) - 1 and not text.endswith("\n")):
            continue
        rows.append(rec)
    return h, meta, columns, rows


class ResultsTable:
    """A results file read together with its space: the columns analysis scripts need as
    arrays, the architectures parsed by the space the file was scored in (same options; the
    space is built on first use of `space`, `encodings` or `macs`)."""

    def __init__(self, path, meta, columns, rows):
        self.path, self.meta = Path(path), meta
        col = {c: i for i, c in enumerate(columns)}
        self.archs = [r[col["arch"]] for r in rows]
        self.score = np.asarray([float(r[col["score"]]) for r in rows], np.float64)
        has_truth = "truth" in col and all(r[col["truth"]] != "" for r in rows)
        self.truth = np.asarray([float(r[col["truth"]]) for r in rows], np.float64) if has_truth else None
        self.has_truth_column = "truth" in col
        self.setting = meta.get("setting", {})
        self._space = self._enc = None

    def __len__(self):
        return len(self.archs)

    @property
    def space(self):
        if self._space is None:
            from spaces import load_space
            self._space = load_space(self.meta["space"], **self.meta.get("space_config", {}))
        return self._space

    @property
    def encodings(self):
        """The architectures in the space's encoding (one list entry per row)."""
        if self._enc is None:
            from spaces.base import arch_from_text
            self._enc = [self.space.parse(arch_from_text(a)) for a in self.archs]
        return self._enc

    def macs(self) -> np.ndarray:
        """MACs per row, computed by the space (float64)."""
        if not self.archs:
            return np.zeros(0)
        return np.asarray(self.space.macs(np.stack(self.encodings)), np.float64)


def load_results(path) -> ResultsTable:
    """`read_results` plus the space: a `ResultsTable`. Raises StoreError (not a results file)
    or spaces.SpaceError (its space cannot be built here)."""
    _, meta, columns, rows = read_results(path)
    for need in ("arch", "score"):
        if need not in columns:
            raise StoreError(f"{path}: no {need} column")
    return ResultsTable(path, meta, columns, rows)


def merge(inputs, out) -> dict:
    """Combine results files of one run (e.g. the shards of `eproxy score --shard I/N`) into
    `out` (created, or extended if it holds the same run), each architecture once. Returns
    counts, the run's meta and every row of `out` (`records`: column -> value). Files of different runs are refused (StoreError)."""
    if not inputs:
        raise StoreError("nothing to merge")
    read = [(p, *read_results(p)) for p in inputs]
    p0, h0, meta, cols0, _ = read[0]
    for p, h, _, cols, _ in read[1:]:
        if h != h0 or cols != cols0:
            raise StoreError(f"{p} holds results of a different run than {p0} (space, setting, seeds or images differ)")
    store = ResultStore(out, meta, meta["seeds"])
    if store.hash != h0:
        raise StoreError(f"{p0}: its run hash does not match its header; the file was edited")
    before = len(store.rows)
    per_file, buf = [], io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for p, _, _, _, rows in read:
        new = 0
        for rec in rows:
            if rec[0] not in store.rows:
                store.rows[rec[0]] = dict(zip(store.columns, rec))
                w.writerow(rec)
                new += 1
        per_file.append({"file": str(p), "rows": len(rows), "new": new})
    with open(store.path, "a", newline="") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    return {"out": str(store.path), "rows": len(store.rows), "added": len(store.rows) - before,
            "already": before, "inputs": per_file, "meta": meta, "records": list(store.rows.values())}
