"""A whole DPS run: aging evolution (`dps`) over settings scored by `dps_eval.Evaluator`,
resumable, then the best and the default setting scored on held-out architectures.

The loop asks `batch` genomes at a time (the random phase first, then tournament children),
scores them on the train architectures, and tells their fitness (Spearman rho of -score vs
truth). After each batch the state goes to `<out>.state` (an .npz with a hash of the run's
arguments), so an interrupted run continues where it stopped; a state from other arguments
is refused. Keys are built from integers without eager JAX ops, so the whole run compiles
init, ask, tell and one program per shape bucket used - nothing per candidate.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import dps, metrics
from .dps_eval import PER_BRANCH_REAL, Evaluator, bucket_of, buckets_for_limits
from .setting_spec import validate
from . import runguard
from .store import StateError, difference


def _key(*ints) -> np.ndarray:
    """A raw threefry key (uint32[2]) hashed from integers, built without an eager JAX op."""
    h = hashlib.sha256(repr(ints).encode()).digest()
    return np.frombuffer(h[:8], np.uint32).copy()


class ScoreCache:
    """Train-architecture scores of settings already scored, kept in a JSON file.

    DPS runs that differ only in the truth they rank against (the tasks of one space: same
    train architectures, images, proxy seed and shape buckets) ask the same random settings
    first and often meet again later; with one cache file they score each setting once. An
    entry's key hashes `context` (the caller's description of everything but the setting:
    space, options, train architectures, images, proxy seed), the buckets and batch of the
    program, and the validated setting, so a cache from another context is never read. A
    setting runs alone inside `lax.map` under the evaluator's fixed key, so a cached row is
    the score the run would compute."""

    def __init__(self, path, context: str):
        self.path = Path(path)
        self.context = context
        self.hits = 0
        try:
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
        except (OSError, ValueError) as e:
            raise StateError(f"score cache {self.path} is unreadable ({type(e).__name__}); delete it") from None

    def key(self, setting: dict) -> str:
        return hashlib.sha256((self.context + json.dumps(setting, sort_keys=True)).encode()).hexdigest()[:32]

    def get(self, setting: dict):
        row = self.data.get(self.key(setting))
        if row is not None:
            self.hits += 1
            return np.asarray([np.nan if v is None else v for v in row], np.float32)
        return None

    def put(self, settings, rows) -> None:
        for s, r in zip(settings, rows):
            self.data[self.key(s)] = [None if np.isnan(v) else float(v) for v in r]   # +inf (dead) stays
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def _fitness(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.asarray([metrics.spearman(row, truth) for row in scores], np.float32)


_FIELDS = ("genomes", "fitness", "told", "best_genome", "best_fitness", "history_genomes", "history_fitness")
# what a damaged state file raises inside numpy: empty (EOFError), truncated or bit-flipped zip
# (BadZipFile, zlib.error), missing keys (KeyError)
_DAMAGED = (OSError, EOFError, KeyError, ValueError, IndexError, TypeError, zipfile.BadZipFile, zlib.error)


def _save_state(path: Path, state, meta_hash: str, batches: int, default_fitness: float, pending=None,
                meta_json: str = ""):
    """Written to a temporary file, then renamed over the state: a kill leaves the old state or
    the new one, never a mix. `pending`: (genomes, fitness, scored mask) of the batch being
    scored, so an interrupt loses at most one evaluator call, not the whole batch. `meta_json`:
    the run's arguments, so a refused resume can say what differs."""
    arrays = {f: np.asarray(getattr(state, f)) for f in _FIELDS}
    if pending is not None:
        arrays.update(pending_genomes=pending[0], pending_fitness=pending[1], pending_scored=pending[2])
    tmp = path.with_name(path.name + ".tmp.npz")
    with runguard.critical():
        try:
            with open(tmp, "wb") as f:
                np.savez(f, meta_hash=np.asarray(meta_hash), meta_json=np.asarray(meta_json),
                         batches=np.asarray(batches), default_fitness=np.asarray(default_fitness, np.float32),
                         **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StateError(f"cannot write the resume state {path}: {e.strerror or e}; the state saved before "
                             "is kept, rerun the same command to continue once fixed") from None


def _other_run(path: Path, arrays: dict, meta_json: str) -> StateError:
    what = ""
    if "meta_json" in arrays and meta_json:
        what = " (" + difference(json.loads(str(arrays["meta_json"])), json.loads(meta_json), "state", "this run",
                                 labels={"truth": "train truth values"}) + ")"
    return StateError(f"resume state {path} belongs to a run with other arguments{what}; delete it or choose "
                      "another --out")


def _load_state(path: Path, state, meta_hash: str, meta_json: str = ""):
    try:
        z = np.load(path)
        try:
            return _state_from(path, z, state, meta_hash, meta_json)
        finally:
            if hasattr(z, "close"):   # an .npz archive (another .npy is an array)
                z.close()
    except StateError:
        raise
    except _DAMAGED as e:
        raise StateError(f"resume state {path} is damaged ({type(e).__name__}); delete it to start over") from None


def _state_from(path: Path, z, state, meta_hash: str, meta_json: str):
    if not hasattr(z, "files"):   # np.load of another .npy gives an array
        raise StateError(f"resume state {path} is damaged (an array, not a DPS state); delete it to start over")
    arrays = {k: z[k] for k in z.files}   # every member read (and CRC-checked) before any is trusted
    if str(z["meta_hash"]) != meta_hash:
        raise _other_run(path, arrays, meta_json)
    fields = {f: arrays[f] for f in _FIELDS}
    if fields["history_fitness"].shape != np.asarray(state.history_fitness).shape:
        raise StateError(f"resume state {path} has another number of cycles")
    pending = None
    if "pending_genomes" in arrays:
        pending = (arrays["pending_genomes"], arrays["pending_fitness"], arrays["pending_scored"])
    return state.replace(**fields), int(arrays["batches"]), float(arrays["default_fitness"]), pending


def run(space, train_encs, train_truth, eval_encs=None, eval_truth=None, *, cycles=200, population=40, sample=10,
        mutation=0.2, seed=0, batch=None, images=None, proxy_seed=0, max_channels=512, max_kernel=7,
        state_path=None, meta=None, progress=None, eval_batch=None, score_cache=None, cache_context=None,
        default_eval_scores=None, keep_default=False, eval_reference=None) -> dict:
    """Run DPS; returns a dict with the best setting, fitness history and eval correlations.

    Each asked batch is scored `eval_batch` settings per evaluator call (default: the whole
    batch on an accelerator, 4 on the CPU, where 40 settings x 20 architectures take ~20 min);
    `progress(event: dict)` is called after each call (`scored` of `batch_size` settings of
    the current batch; `scored == batch_size` at the end of a batch), and the partly scored
    batch is kept in the state, so a resumed run rescores at most one call's settings.

    `score_cache` (a path) with `cache_context` (a string naming the space, its options, the
    train architectures, images and proxy seed): settings already scored there are read, not
    rescored (`ScoreCache`); `default_eval_scores`: the default setting's scores of the eval
    architectures, already computed elsewhere, so only the best setting is scored on them.

    `keep_default` (not in the paper, whose DPS returns the best searched setting even where the
    default fits the train architectures better): return the paper's default setting where
    `keeps_default(best, default fitness)`. `setting` is the one returned (`searched_setting`
    the search's best, `kept_default` which it is); the eval correlations are the returned one's."""
    from .engine import CompileCounter

    default_eval_scores = _checked_default_eval(default_eval_scores, eval_encs)
    CompileCounter.install()
    c0, h0 = CompileCounter.compiles, CompileCounter.cache_hits
    t0 = time.perf_counter()
    batch = int(batch or population)
    plan = _plan(space, train_encs, eval_encs, batch, max_channels, max_kernel, eval_batch)
    ev = Evaluator(space, train_encs, images, seed=proxy_seed, buckets=plan["buckets"], batch=plan["eval_batch"],
                   arch_bucket=plan["arch_bucket"])
    cache = None
    if score_cache is not None:
        if not cache_context:
            raise ValueError("score_cache needs cache_context (what the cached scores depend on)")
        cache = ScoreCache(score_cache, json.dumps({"context": cache_context, "buckets": plan["buckets"],
                                                    "batch": plan["eval_batch"], "proxy_seed": proxy_seed,
                                                    "n_train": len(train_encs)}))
    score = _scorer(ev, cache, plan["n_branches"])
    checkpoint = _Checkpoint(state_path, meta)
    state = dps.init(None, population=population, sample=sample, mutation=mutation, max_evals=cycles)
    state, batches, default_fitness, pending = checkpoint.load(state)
    if default_fitness is None:
        default_fitness = float(_fitness(score([{}]), train_truth)[0])
    search = _Search(score, train_truth, plan, cycles, batch, seed, max_channels, max_kernel, checkpoint, progress)
    state = search.loop(state, batches, default_fitness, pending)
    search_s = time.perf_counter() - t0   # this process's part (a resumed run: since the resume)
    best = dps.decode(np.asarray(state.best_genome), plan["n_branches"], max_channels, max_kernel)
    kept = bool(keep_default) and keeps_default(float(state.best_fitness), default_fitness)
    out = _result(state, default_fitness, best, kept, plan["n_branches"])
    if eval_encs is not None and len(eval_encs):
        out.update(_evaluate(ev.on(eval_encs), eval_truth, best, kept, default_eval_scores, eval_reference))
    out["compiles"] = CompileCounter.compiles - c0
    out["cache_hits"] = CompileCounter.cache_hits - h0
    out["settings_from_cache"] = 0 if cache is None else cache.hits
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    out["search_s"] = round(search_s, 2)                      # the DPS itself, compiles included
    out["eval_s"] = round(out["wall_s"] - search_s, 2)        # scoring the held-out architectures
    return out


def _checked_default_eval(default_eval_scores, eval_encs):
    if default_eval_scores is None:
        return None
    n_eval = 0 if eval_encs is None else len(eval_encs)
    default_eval_scores = np.asarray(default_eval_scores, np.float32).reshape(-1)
    if len(default_eval_scores) != n_eval:
        raise ValueError(f"default_eval_scores has {len(default_eval_scores)} scores for {n_eval} eval architectures")
    return default_eval_scores


def _result(state, default_fitness, best, kept, n_branches) -> dict:
    """The run's answer before the held-out evaluation (its fields None until then)."""
    return {"best_fitness": float(state.best_fitness), "default_fitness": default_fitness,
            "setting": validate({}, n_branches) if kept else best,
            "searched_setting": best, "kept_default": kept,
            "fitness": default_fitness if kept else float(state.best_fitness),
            "history_fitness": [None if not np.isfinite(x) else float(x) for x in np.asarray(state.history_fitness)],
            "eval_spearman": None, "default_eval_spearman": None, "eval_kendall": None, "default_eval_kendall": None,
            **{f"{w}eval_{k}": None for w in ("", "default_") for k in metrics.TOP_KEYS}}


def _plan(space, train_encs, eval_encs, batch: int, max_channels: int, max_kernel: int, eval_batch) -> dict:
    """The run's static plan: the setting shape buckets under the capped genes, the branches,
    the architectures' shared network shape (if any) and the settings per evaluator call."""
    import jax

    buckets = buckets_for_limits(max_channels, max_kernel)
    n_branches = min(3, len(space.feature_channels))
    if not _fits({}, n_branches, buckets):   # capped genes: the paper's default needs its own bucket
        d = validate({}, n_branches)
        buckets = buckets + (tuple(max(d[f]) for f in PER_BRANCH_REAL),)
    arch_bucket = None
    if not space.module_fits_all:   # one program for train and eval architectures where they share a shape
        both = train_encs if eval_encs is None else np.concatenate([train_encs, eval_encs])
        shapes = set(np.asarray(space.bucket_of(both)).tolist())
        arch_bucket = shapes.pop() if len(shapes) == 1 else None
    if eval_batch is None:
        eval_batch = min(batch, 4) if jax.default_backend() == "cpu" else batch
    return {"buckets": buckets, "n_branches": n_branches, "arch_bucket": arch_bucket,
            "eval_batch": max(1, min(int(eval_batch), batch))}


def _scorer(ev, cache, n_branches: int):
    """settings -> train scores `[n, archs]`, through the score cache where there is one."""
    if cache is None:
        return ev.scores

    def score(settings):
        settings = [validate(s, n_branches) for s in settings]
        rows = [cache.get(s) for s in settings]
        miss = [i for i, r in enumerate(rows) if r is None]
        if miss:
            new = ev.scores([settings[i] for i in miss])
            cache.put([settings[i] for i in miss], new)
            for i, r in zip(miss, new):
                rows[i] = r
        return np.stack(rows)
    return score


class _Checkpoint:
    """`<out>.state` of a run (None: no checkpoint): its arguments' hash, load and save."""

    def __init__(self, path, meta):
        self.path = None if path is None else Path(path)
        self.meta_json = json.dumps(meta or {}, sort_keys=True, default=str)
        self.meta_hash = hashlib.sha256(self.meta_json.encode()).hexdigest()[:16]

    def load(self, state):
        """(state, batches told, default fitness or None, pending batch or None)."""
        if self.path is None or not self.path.exists():
            return state, 0, None, None
        return _load_state(self.path, state, self.meta_hash, self.meta_json)

    def save(self, state, batches: int, default_fitness: float, pending=None):
        if self.path is not None:
            _save_state(self.path, state, self.meta_hash, batches, default_fitness, pending, meta_json=self.meta_json)


class _Search:
    """The evolution loop: ask a batch, score it (one evaluator call per `eval_batch`
    settings, those of one shape bucket together), tell, checkpoint."""

    def __init__(self, score, train_truth, plan, cycles, batch, seed, max_channels, max_kernel, checkpoint, progress):
        self.score, self.truth, self.plan = score, train_truth, plan
        self.cycles, self.batch, self.seed = cycles, batch, seed
        self.max_channels, self.max_kernel = max_channels, max_kernel
        self.checkpoint, self.progress = checkpoint, progress

    def loop(self, state, batches: int, default_fitness: float, pending):
        while int(state.told) < self.cycles:
            n_valid = min(self.batch, self.cycles - int(state.told))
            genomes = np.asarray(dps.ask(_key(self.seed, batches), state, n=self.batch))
            fit = np.full(self.batch, np.nan, np.float32)
            scored = np.zeros(self.batch, bool)
            if pending is not None and np.array_equal(pending[0], genomes):   # the batch an interrupt cut short
                fit, scored = pending[1].astype(np.float32), pending[2].astype(bool)
            pending = None
            self._score_batch(state, batches, default_fitness, genomes, fit, scored, n_valid)
            state = dps.tell(state, genomes, fit, np.int32(n_valid))
            batches += 1
            self.checkpoint.save(state, batches, default_fitness)
            self._report(state, fit, scored, n_valid)
        return state

    def _score_batch(self, state, batches, default_fitness, genomes, fit, scored, n_valid):
        nb, ev_batch = self.plan["n_branches"], self.plan["eval_batch"]
        settings = [dps.decode(g, nb, self.max_channels, self.max_kernel) for g in genomes[:n_valid]]
        todo = sorted((i for i in range(n_valid) if not scored[i]),
                      key=lambda i: bucket_of(validate(settings[i], nb), self.plan["buckets"]))
        for k in range(0, len(todo), ev_batch):
            sel = todo[k:k + ev_batch]
            fit[sel] = _fitness(self.score([settings[i] for i in sel]), self.truth)
            scored[sel] = True
            if k + ev_batch < len(todo):
                self.checkpoint.save(state, batches, default_fitness, (genomes, fit, scored))
                self._report(state, fit, scored, n_valid)

    def _report(self, state, fit, scored, n_valid):
        if self.progress is not None:
            done = fit[:n_valid][scored[:n_valid]]
            self.progress({"told": int(state.told), "cycles": self.cycles, "best_fitness": float(state.best_fitness),
                           "batch_best": float(np.nanmax(done)) if np.isfinite(done).any() else None,
                           "scored": int(scored[:n_valid].sum()), "batch_size": n_valid})


def _evaluate(ev, eval_truth, best, kept, default_eval_scores, eval_reference) -> dict:
    """The returned and the default setting on the held-out architectures (`ev` evaluates
    them). Only what is not known is scored: the default's row may be given, and a kept
    default is both rows."""
    todo = ([] if kept else [best]) + ([{}] if default_eval_scores is None else [])
    rows = list(ev.scores(todo)) if todo else []
    default_row = default_eval_scores if default_eval_scores is not None else rows[-1]   # checked by run
    chosen_row = default_row if kept else rows[0]
    out = {"eval_spearman": float(metrics.spearman(chosen_row, eval_truth)),
           "eval_kendall": float(metrics.kendall(chosen_row, eval_truth)),
           "default_eval_spearman": float(metrics.spearman(default_row, eval_truth)),
           "default_eval_kendall": float(metrics.kendall(default_row, eval_truth))}
    for w, row in (("", chosen_row), ("default_", default_row)):   # percentiles in `eval_reference`
        rep = metrics.report(row, eval_truth, eval_reference)
        out.update({f"{w}eval_{k}": float(rep[k]) for k in metrics.TOP_KEYS})
    return out


def keeps_default(best_fitness, default_fitness) -> bool:
    """The `keep_default` rule: the default stays where its train fitness is defined and no searched
    setting beat it (an undefined default, from constant scores, never stays; an undefined best
    never beats it)."""
    best = np.nan if best_fitness is None else float(best_fitness)
    default = np.nan if default_fitness is None else float(default_fitness)
    return bool(np.isfinite(default) and not best > default)


def _fits(setting, n_branches, buckets) -> bool:
    try:
        bucket_of(validate(setting, n_branches), buckets)
        return True
    except ValueError:
        return False


def plot(history, default_fitness, path, title=""):
    """Current and best-so-far fitness per evaluated setting, with the default's as a line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = np.asarray([np.nan if x is None else x for x in history], np.float64)
    best = np.fmax.accumulate(np.where(np.isfinite(h), h, -np.inf))
    best = np.where(np.isfinite(best), best, np.nan)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(h) + 1), h, ".", alpha=0.5, label="evaluated setting")
    ax.plot(np.arange(1, len(h) + 1), best, "-", label="best so far")
    if default_fitness is not None and np.isfinite(default_fitness):
        ax.axhline(default_fitness, color="gray", ls="--", label=f"default setting ({default_fitness:.3f})")
    ax.set_xlabel("settings evaluated")
    ax.set_ylabel("fitness (Spearman rho on train archs)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
