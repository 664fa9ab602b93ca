"""Append-only, resumable results file (CSV).

Layout:
    # eproxy-jax results v1
    # run_hash=<sha256 of the meta below: the run's identity>
    # meta=<one-line JSON of the same>
    arch,score_s<seed>...,score,diverged,truth
    <one row per architecture>

The run hash is the run's identity: everything that moves a score or the truth column (space,
options, setting, seeds, images, the scoring version `SCORING_VERSION` as `proxy`, and the
truth source: a dataset name or a truth file's content hash, with the lower-is-better flag).
The file is created with its first rows (atomically), then rows are appended and flushed
(fsync) chunk by chunk, so a killed run loses at most the chunk in flight; a half-written last
line is dropped on resume. Resuming into a file of another run raises `StoreError` naming what
differs instead of mixing scores; a damaged row raises `StoreError` naming its line.
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

from . import runguard

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


# what each top-level meta key is called when two runs differ; the truth source and the
# scoring version are shown with both values, since those are the ones a user mixes up
_LABELS = {"proxy": "scoring version", "truth": "truth source", "truth_source": "truth source",
           "train_truth_source": "train truth source", "space": "space", "space_config": "space options",
           "setting": "setting", "seeds": "seeds", "images": "images", "image_seed": "images", "images_sha": "images"}
_SHOWN = ("proxy", "truth", "truth_source", "train_truth_source")


def _show(meta: dict, key: str) -> str:
    if key not in meta:
        return "not recorded"
    v = meta[key]
    if isinstance(v, dict) and "source" in v:
        return v["source"] + (" (lower is better)" if v.get("lower_is_better") else "")
    return "none" if v is None else str(v)


def difference(theirs: dict, ours: dict, their_name="file", our_name="this run", labels=None) -> str:
    """What differs between two runs' metas, in words (one line); `labels` renames keys."""
    parts, labels = [], labels or {}
    for k in dict.fromkeys(list(ours) + list(theirs)):
        if theirs.get(k, ...) == ours.get(k, ...):
            continue
        label = labels.get(k) or _LABELS.get(k, k)
        if k in _SHOWN and k not in labels:
            label = f"{label}: {their_name} {_show(theirs, k)}, {our_name} {_show(ours, k)}"
        if label not in parts:
            parts.append(label)
    return "; ".join(parts) if parts else "its run hash does not match its header (the file was edited)"


def header_text(meta: dict, columns) -> str:
    """The first lines of a results file of the run `meta`."""
    return (f"{FORMAT_LINE}\n# run_hash={run_hash(meta)}\n# meta={json.dumps(meta, sort_keys=True)}\n"
            + ",".join(columns) + "\n")


_START_OVER = "delete that line (or the file) to start over"


def _check_row(path, lineno: int, columns, rec) -> None:
    """A damaged row (a score that is no number) is named with its line, never read as data."""
    for c, v in zip(columns, rec):
        if c == "diverged" and v not in ("0", "1"):
            raise StoreError(f"{path} line {lineno}: diverged {v[:40]!r} is not 0 or 1; {_START_OVER}")
        if c.startswith("score") or (c == "truth" and v != ""):
            try:
                float(v)
            except ValueError:
                raise StoreError(f"{path} line {lineno}: {c} {v[:40]!r} is not a number; {_START_OVER}") from None


class Parsed:
    """A results file's text, checked: header, columns, rows with their line numbers, and
    whether its last line was cut by an interrupt (dropped)."""

    def __init__(self, path, text: str, advice: str = ""):
        lines = text.split("\n")
        if lines[0] != FORMAT_LINE:
            raise StoreError(f"{path} is not an eproxy-jax results file{advice}")
        self.head = [ln for ln in lines[:3] if ln.startswith("# ")]
        head = {ln.split("=", 1)[0]: ln.split("=", 1)[1] for ln in self.head if "=" in ln}
        try:
            self.hash, self.meta = head["# run_hash"], json.loads(head["# meta"])
        except (KeyError, json.JSONDecodeError):
            raise StoreError(f"{path}: damaged header; delete the file to start over") from None
        if not isinstance(self.meta, dict):
            raise StoreError(f"{path}: damaged header; delete the file to start over")
        body = [(i + 1, ln) for i, ln in enumerate(lines) if ln and not ln.startswith("#")]
        if not body:
            raise StoreError(f"{path}: no column header; delete the file to start over")
        self.columns = body[0][1].split(",")
        self.rows, self.cut = [], not text.endswith("\n")
        for k, (lineno, ln) in enumerate(body[1:], start=2):
            rec = next(csv.reader([ln]))
            if k == len(body) and (self.cut or len(rec) != len(self.columns)):
                self.cut = True      # a line cut by an interrupt: dropped, scored again
                continue
            if len(rec) != len(self.columns):
                raise StoreError(f"{path} line {lineno}: {len(rec)} fields, expected {len(self.columns)}; "
                                 f"{_START_OVER}")
            _check_row(path, lineno, self.columns, rec)
            self.rows.append(rec)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_error(path, e: OSError) -> StoreError:
    return StoreError(f"cannot write {path}: {e.strerror or e}; the rows saved before are kept, "
                      "rerun the same command to continue once fixed")


class ResultStore:
    """The results file of one run, created with its first rows (a run that fails before
    them leaves no file). Callers hold its lock (`runlock.hold`) while they write."""

    def __init__(self, path, meta: dict, seeds):
        self.path = Path(path)
        self.meta = meta
        self.hash = run_hash(meta)
        self.seeds = list(seeds)
        self.columns = ["arch"] + [f"score_s{s}" for s in self.seeds] + ["score", "diverged", "truth"]
        self.rows: dict[str, dict] = {}
        self._exists = False   # the file holds a header (appended to), or is still to be created
        try:
            if self.path.exists() and self.path.stat().st_size > 0:
                self._load()
                self._exists = True
        except UnicodeDecodeError:
            raise StoreError(f"{self.path} exists and is not an eproxy-jax results file; choose another --out") from None
        except OSError as e:
            raise StoreError(f"cannot use {self.path}: {e.strerror or e}") from None

    def _load(self):
        p = Parsed(self.path, self.path.read_text(), "; choose another --out")
        if p.hash != self.hash:
            raise StoreError(f"{self.path} holds results of a different run ({difference(p.meta, self.meta)}); "
                             "use another --out or delete it")
        if p.columns != self.columns:
            raise StoreError(f"{self.path}: unexpected column header; delete the file to start over")
        for rec in p.rows:
            self.rows[rec[0]] = dict(zip(self.columns, rec))
        if p.cut:   # rewrite without the cut line, atomically: an interrupt now must not lose the rows
            with runguard.critical():
                _write_atomic(self.path, "\n".join(p.head + [",".join(p.columns)] + [_csv_line(r) for r in p.rows])
                              + "\n")

    def done(self, arch_id: str) -> bool:
        return arch_id in self.rows

    def append(self, arch_ids, per_seed_scores, truths=None):
        """Append rows; `per_seed_scores` is [n, n_seeds]. A failed write raises StoreError
        and leaves the rows saved before intact."""
        if len(arch_ids) == 0:
            return
        per = np.asarray(per_seed_scores, np.float64).reshape(len(arch_ids), -1)
        means = seed_mean(per)
        new = {}
        for i, a in enumerate(arch_ids):
            mean = float(means[i])
            t = "" if truths is None or truths[i] is None or (isinstance(truths[i], float) and math.isnan(truths[i])) \
                else repr(float(truths[i]))
            new[a] = [a] + [_fmt(float(x)) for x in per[i]] + [_fmt(mean), str(int(math.isnan(mean))), t]
        text = "".join(_csv_line(r) + "\n" for r in new.values())
        with runguard.critical():
            try:
                if self._exists:
                    with open(self.path, "a", newline="") as f:
                        f.write(text)
                        f.flush()
                        os.fsync(f.fileno())
                else:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    _write_atomic(self.path, header_text(self.meta, self.columns) + text)
                    self._exists = True
            except OSError as e:
                raise _write_error(self.path, e) from None
        self.rows.update((a, dict(zip(self.columns, r))) for a, r in new.items())

    def scores(self, arch_ids):
        """(mean scores [n], per-seed scores [n, n_seeds], diverged [n]) for stored archs."""
        mean, per, div = [], [], []
        for a in arch_ids:
            r = self.rows[a]
            mean.append(float(r["score"]))
            per.append([float(r[f"score_s{s}"]) for s in self.seeds])
            div.append(r["diverged"] == "1")
        return mean, per, div


def _csv_line(rec) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(rec)
    return buf.getvalue()


def _read_text(path: Path) -> str:
    try:
        return gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    except FileNotFoundError:
        raise StoreError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, EOFError):   # gzip.BadGzipFile is an OSError
        raise StoreError(f"{path} is not an eproxy-jax results file") from None


def read_results(path):
    """(run_hash, meta, columns, rows) of a results file (or its gzip, `.gz`), read-only; a
    line cut by an interrupt is skipped. Raises StoreError for anything that is not a results
    file, and for a damaged row (naming its line)."""
    path = Path(path)
    p = Parsed(path, _read_text(path))
    return p.hash, p.meta, p.columns, p.rows


def _merge_input(path):
    """A merge input, read and checked (`Parsed`)."""
    p = Parsed(path, _read_text(Path(path)))
    seeds = p.meta.get("seeds")
    if not isinstance(seeds, list):
        raise StoreError(f"{path}: its header meta lacks 'seeds' (not a file of eproxy score); leave it out "
                         "or score it again")
    if run_hash(p.meta) != p.hash:
        raise StoreError(f"{path}: its run hash does not match its header; the file was edited")
    return p


def _same_value(x: str, y: str) -> bool:
    """Two stored values agree: the same text or the same number (NaN equal to NaN)."""
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        return False
    return fx == fy or (math.isnan(fx) and math.isnan(fy))


def _conflict(columns, a, b):
    """The first column where two rows of one architecture disagree, or None."""
    return next((c for c, x, y in zip(columns, a, b) if not _same_value(x, y)), None)


def merge(inputs, out) -> dict:
    """Combine results files of one run (e.g. the shards of `eproxy score --shard I/N`) into
    `out` (created, or extended if it holds the same run), each architecture once. Every input
    (and an existing `out`) is checked before anything is written: one run (the same truth
    source and scoring version), no damaged rows, no architecture with two different scores or
    truths. `out` is then written whole and renamed into place, so a refusal or a crash leaves
    it as it was. Returns counts, the run's meta and every row of `out` (`records`: column ->
    value). Callers hold `out`'s lock."""
    if not inputs:
        raise StoreError("nothing to merge")
    read = [(str(p), _merge_input(p)) for p in inputs]
    name0, first = read[0]
    for name, p in read[1:]:
        if p.hash != first.hash or p.columns != first.columns:
            raise StoreError(f"{name} holds results of a different run than {name0} "
                             f"({difference(p.meta, first.meta, 'it', name0)})")
    out = Path(out)
    rows: dict[str, list] = {}
    if out.exists() and out.stat().st_size > 0:
        have = _merge_input(out)
        if have.hash != first.hash or have.columns != first.columns:
            raise StoreError(f"{out} holds results of a different run than {name0} "
                             f"({difference(have.meta, first.meta, 'it', name0)}); choose another output")
        rows = {rec[0]: rec for rec in have.rows}
    before, per_file = len(rows), []
    for name, p in read:
        new = 0
        for rec in p.rows:
            if rec[0] in rows:
                col = _conflict(p.columns, rows[rec[0]], rec)
                if col is not None:
                    k = p.columns.index(col)
                    raise StoreError(f"{name}: conflicting {'truth' if col == 'truth' else 'scores'} for "
                                     f"architecture {rec[0][:60]} ({col} {rows[rec[0]][k]} vs {rec[k]}); "
                                     "merge only one of the files that hold it")
                continue
            rows[rec[0]] = rec
            new += 1
        per_file.append({"file": name, "rows": len(p.rows), "new": new})
    text = header_text(first.meta, first.columns) + "".join(_csv_line(r) + "\n" for r in rows.values())
    with runguard.critical():
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(out, text)
        except OSError as e:
            raise StoreError(f"cannot write {out}: {e.strerror or e}; it is as it was before the merge") from None
    return {"out": str(out), "rows": len(rows), "added": len(rows) - before, "already": before, "inputs": per_file,
            "meta": first.meta, "records": [dict(zip(first.columns, r)) for r in rows.values()]}
