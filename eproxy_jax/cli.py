"""`eproxy` command line.

    eproxy score SPACE [--dataset NAME] [--truth FILE] [--limit N] [--sample-seed S]
                 [--seeds K] [--setting NAME|FILE.json|JSON] [--images SPEC] [--chunk N]
                 [--archs FILE] [--lower-is-better] [--out PATH] [--json] ...
    eproxy settings [--json]

User mistakes exit 2 with one line on stderr. Everything that can be checked without jax
is checked before jax (or tensorflow) is imported, so no import-time log line comes first.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from .cli_args import (EXIT_USAGE, ArgError, Parser, UsageError, int_at_least, nonneg,  # noqa: F401
                       positive, space_option)
from . import runguard, runlock
from .version import SCORING_VERSION, __version__


def check_out_file(flag: str, path, *, parent_must_exist: bool = True) -> Path:
    """One check for every output file flag: not a folder, a folder to write it in, writable.

    With parent_must_exist=False the missing folders will be created by the writer, so the
    nearest existing ancestor must be a writable folder instead.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory; give a file path")
    parent = path.parent
    if not parent.is_dir():
        if parent_must_exist and not parent.exists():
            raise UsageError(f"{flag} {path}: directory {parent} does not exist")
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise UsageError(f"{flag} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")
    return path


def _add_truth(p, what="truth table of the space (nb201: cifar10, cifar100, imagenet16-120)"):
    p.add_argument("space", help="search space, e.g. nb201")
    p.add_argument("--dataset", help=what)
    p.add_argument("--truth", help="truth file: JSON list of [architecture, value] (.json or .json.gz), or the "
                   "space's own format (an NDS file, NASLib's NB301 table)")
    p.add_argument("--lower-is-better", action="store_true", help="truth values are losses (lower = better)")


def _add_images(p):
    p.add_argument("--images", default="bundled", help="'bundled' (default), 'tfds:NAME[:SPLIT]' or a folder of PNG/JPEG")
    p.add_argument("--image-seed", type=nonneg("--image-seed"), default=0, help="which images of the source (default 0)")
    p.add_argument("--tfds-data-dir", help="tensorflow-datasets data_dir for --images tfds:... (default $TFDS_DATA_DIR)")


def _add_run(p):
    p.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                   help="network override, e.g. channels=8, cells_per_stage=1, input_size=16, skeleton=imagenet")
    p.add_argument("--cache-dir", help="persistent XLA compilation cache ('off' to disable; default ~/.cache/eproxy_jax/xla)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _add_sample(p):
    p.add_argument("--limit", type=positive("--limit"), help="score N architectures drawn at random from the truth table")
    p.add_argument("--sample-seed", type=nonneg("--sample-seed"), default=0, help="seed of the --limit draw (default 0)")


def _add_engine(p):
    p.add_argument("--chunk", type=positive("--chunk"), default=16, help="architectures per compiled call (default 16)")
    p.add_argument("--arch-vmap", type=positive("--arch-vmap"), default=None,
                   help="architectures vmapped together inside a chunk (default: 1 on CPU, 256 on GPU)")
    p.add_argument("--conv-impl", choices=("custom", "xla", "im2col"), default=None,
                   help="how convolutions lower (default: custom on CPU; on GPU im2col when arch-vmap > 1, else xla)")
    p.add_argument("--devices", type=positive("--devices"), default=None,
                   help="local accelerators each chunk is split over (jax.sharding; default: all of them)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="eproxy", description="Eproxy / DPS zero-training NAS proxy in JAX")
    p.add_argument("--version", action="version", version=f"eproxy-jax {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    s = sub.add_parser("score", help="score architectures of a space with Eproxy")
    _add_truth(s)
    s.add_argument("--archs", help="JSON list of architectures to score (no truth, no correlation)")
    _add_sample(s)
    s.add_argument("--seeds", type=positive("--seeds"), default=1, help="proxy seeds 0..K-1, scores averaged (default 1)")
    s.add_argument("--first-seed", type=nonneg("--first-seed"), default=0,
                   help="seeds run from here: --first-seed 5 --seeds 5 uses seeds 5..9 (default 0)")
    s.add_argument("--setting", help="proxy setting: a name from `eproxy settings` (e.g. authors, paper), a JSON file "
                   "(e.g. the output of eproxy dps) or an inline JSON object such as '{\"lr\": 1.2}'; default: the "
                   "space's default setting")
    _add_images(s)
    _add_engine(s)
    s.add_argument("--seed-batching", choices=("vmap", "map"), default=None,
                   help="seeds vmapped together or run one after another (default: map)")
    s.add_argument("--out", help="results CSV (appended, resumable); default eproxy-results/<space>_<dataset>_<hash>.csv")
    s.add_argument("--shard", type=_shard, metavar="I/N",
                   help="score only the I-th (0-based) of N disjoint slices of the architectures (many hosts; "
                   "combine with eproxy merge)")
    _add_run(s)

    d = sub.add_parser("dps", help="Discrete Proxy Search: fit the proxy's settings on a few benchmarked archs")
    _add_truth(d, "truth table the train/eval architectures come from (default: the space's)")
    d.add_argument("--train-truth", help="the user's own benchmarked train architectures [[arch, value], ...]")
    d.add_argument("--train-archs", type=int_at_least("--train-archs", 3), default=20,
                   help="train architectures drawn from the truth table (default 20)")
    d.add_argument("--eval-archs", type=nonneg("--eval-archs"), default=1000,
                   help="held-out architectures for the final comparison (default 1000; 0 skips)")
    d.add_argument("--cycles", type=positive("--cycles"), default=200, help="settings evaluated in all (default 200)")
    d.add_argument("--population", type=int_at_least("--population", 2), default=40, help="default 40")
    d.add_argument("--sample", type=positive("--sample"), default=10, help="tournament size (default 10)")
    d.add_argument("--mutation", type=_probability, default=0.2, help="per-gene resampling probability (default 0.2)")
    d.add_argument("--batch", type=positive("--batch"), default=None,
                   help="settings asked and scored together (default: the population)")
    d.add_argument("--seed", type=nonneg("--seed"), default=0, help="evolution and train/eval draw seed (default 0)")
    d.add_argument("--proxy-seed", type=nonneg("--proxy-seed"), default=0, help="proxy seed of every score (default 0)")
    d.add_argument("--max-channels", type=positive("--max-channels"), default=512,
                   help="cap the c_out/c_last genes (default 512: the full grid)")
    d.add_argument("--max-kernel", type=int, choices=(1, 3, 7), default=7, help="cap the kernel genes (default 7)")
    d.add_argument("--keep-default", action="store_true",
                   help="return the paper's default setting when no searched setting fits the train archs better "
                        "(not in the paper, whose DPS returns the best searched setting)")
    _add_images(d)
    d.add_argument("--out", help="best setting JSON (default dps-<space>-<dataset>-s<seed>.json); state in <out>.state")
    d.add_argument("--plot", help="PNG of fitness over the run")
    _add_run(d)

    c = sub.add_parser("compare", help="score the same architectures with Eproxy and the peer zero-cost proxies")
    _add_truth(c)
    c.add_argument("--proxies", default="eproxy,naswot,synflow,jacob_cov,snip,grad_norm,fisher,params,flops",
                   help="comma-separated proxies (default: all of them)")
    _add_sample(c)
    c.add_argument("--batch-size", type=positive("--batch-size"), default=20,
                   help="images for the data-dependent baselines (default 20: all bundled images; Eproxy uses 16)")
    c.add_argument("--num-classes", type=positive("--num-classes"), default=None,
                   help="classifier outputs of the baselines (default: the dataset's classes, 10 for a --truth file)")
    c.add_argument("--seed", type=nonneg("--seed"), default=0, help="weight-init seed of every proxy (default 0)")
    c.add_argument("--setting", help="Eproxy's setting: a name from `eproxy settings`, a JSON file (e.g. the output of "
                   "eproxy dps) or an inline JSON object; default: the space's default setting")
    _add_images(c)
    _add_engine(c)
    c.add_argument("--out", help="output folder (default compare-<space>-<dataset>-n<N>-s<sample seed>)")
    _add_run(c)

    from . import cli_search
    cli_search.add_parser(sub, _add_truth, _add_images, _add_engine, _add_run)

    b = sub.add_parser("bench", help="Table 1: ms per architecture of each space, beside the paper's A6000 figures")
    b.add_argument("--space", action="append", default=[], help="a space to time (repeatable; default: every "
                   "space with architectures: the bundled tables, and the NDS spaces whose file is in --nds-dir)")
    b.add_argument("--n", type=positive("--n"), default=256, help="architectures per space (default 256)")
    b.add_argument("--nds-dir", help="folder with the NDS release's files (DARTS.json, ...)")
    b.add_argument("--chunk", type=positive("--chunk"), default=None, help="architectures per call (default 16 on CPU, 256 on GPU)")
    b.add_argument("--arch-vmap", type=positive("--arch-vmap"), default=None)
    b.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                   help="network override applied to every space timed (tests, quick looks)")
    b.add_argument("--out", help="JSON lines of finished spaces: rerunning skips them (resume)")
    b.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    b.add_argument("--quiet", action="store_true")

    m = sub.add_parser("merge", help="combine results files of one run (e.g. --shard slices), each architecture once")
    m.add_argument("out", help="merged results CSV (created, or extended if it holds the same run)")
    m.add_argument("inputs", nargs="+", help="results CSVs of the same run")
    m.add_argument("--lower-is-better", action="store_true", help="the stored truth values are losses")
    m.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")

    t = sub.add_parser("settings", help="list the named proxy settings (for --setting NAME) and each space's default")
    t.add_argument("--json", action="store_true", help="print one JSON object: every setting resolved in full")

    w = sub.add_parser("draw", help="draw an architecture's cells as DAGs (PNG, SVG or PDF)")
    w.add_argument("space", help="nb201, nb101, nb301, an NDS cell space, transnas-micro or transnas-macro")
    w.add_argument("arch", help="the architecture in the benchmark's own encoding, e.g. '[[3],[3,1],[2,4,3]]' "
                   "or an NB201 string (JSON, or a plain string)")
    w.add_argument("--out", required=True, help="output file: .png, .svg or .pdf")
    w.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE")
    return p


def cmd_draw(args) -> int:
    import spaces
    from . import draw

    spaces.info(args.space)
    out = Path(args.out)
    if out.suffix.lower() not in draw.FORMATS:
        raise UsageError(f"--out {out}: must end in {', '.join(draw.FORMATS)}")
    check_out_file("--out", out)
    from spaces.base import arch_from_text
    space, _ = load_space_arg(args)
    graphs = space.graphs(space.parse(arch_from_text(args.arch)))
    draw.render(graphs, out)
    print(f"drew {len(graphs)} cell(s) of {args.space}: {out}")
    return 0


def cmd_settings(args) -> int:
    """`eproxy settings`: every named setting (name, description) and the spaces it is the
    default of; `--json`: each resolved in full, with its origin."""
    from . import setting_spec
    import spaces

    named = setting_spec.named_settings()
    defaults = {sp: setting_spec.space_default(sp) for sp in sorted(spaces.REGISTRY)}
    width = max(map(len, named))
    for name, f in named.items():
        print(f"{name:<{width}}  {f['description']}")
    for name in named:
        users = [sp for sp, n in defaults.items() if n == name]
        if users:
            print(f"{name} is the default setting of: {', '.join(users)}")
    if args.json:
        rows = [{"name": n, "description": f["description"], "origin": f["origin"],
                 "setting": setting_spec.validate(f["setting"])} for n, f in named.items()]
        print(json.dumps({"settings": rows, "space_defaults": defaults}))
    return 0


def _shard(v):
    i, sep, n = v.partition("/")
    try:
        i, n = int(i), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N (e.g. 0/8), got {v!r}") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N, got {v!r}")
    return i, n


def cmd_bench(args) -> int:
    import spaces
    from . import cli_bench as bench

    names = args.space or bench.default_spaces(args.nds_dir)
    files = bench.nds_files()
    for name in names:
        spaces.info(name)
        if name in files and bench.nds_path(name, args.nds_dir) is None:
            raise UsageError(f"{name}: needs the NDS file {files[name]} in --nds-dir")
    if args.out:  # checked before the first space's minutes of work, not after
        check_out_file("--out", args.out)
        with runlock.hold(args.out):   # one writer per --out
            return _bench(args, names)
    return _bench(args, names)


def _bench(args, names) -> int:
    """Time each space of `names` in a worker process; finished spaces are kept in --out."""
    import subprocess

    from . import cli_bench as bench

    options = dict(args.space_option)
    done = {}
    if args.out and Path(args.out).is_file():
        for ln in Path(args.out).read_text().splitlines():
            try:
                r = json.loads(ln)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupt
            if isinstance(r, dict) and r.get("n_asked") == args.n and r.get("options") == options and "error" not in r:
                done[r["space"]] = r
    rows = []
    for k, name in enumerate(names):
        if name in done:
            rows.append(done[name])
            continue
        if not args.quiet:
            print(f"bench {name} ({k + 1}/{len(names)}): {args.n} architectures...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "eproxy_jax.cli_bench", name, "--n", str(args.n), "--options", json.dumps(options)]
        for flag, v in (("--nds-dir", args.nds_dir), ("--chunk", args.chunk), ("--arch-vmap", args.arch_vmap)):
            if v is not None:
                cmd += [flag, str(v)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                           os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        try:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            r = {"space": name, "error": f"worker exited {proc.returncode}: {tail[:200]}"}
        r["n_asked"] = args.n
        rows.append(r)
        if not args.quiet and "error" not in r:
            print(f"  {r['ms_mean']:,.1f} ms/arch (median {r['ms_median']:,.1f}), compile {r['compile_s']:.1f} s, "
                  f"{r['programs']} program(s)", file=sys.stderr, flush=True)
        if args.out and "error" not in r:
            with runguard.critical(), open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
    print(bench.table(rows))
    if args.json:
        print(json.dumps({"rows": rows, "paper_a6000": {k: {"ms": v[0], "mb": v[1]} for k, v in bench.PAPER_A6000.items()}}))
    return 1 if any("error" in r for r in rows) else 0


def cmd_merge(args) -> int:
    import numpy as np

    from . import metrics
    from .store import merge

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


def _probability(v):
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--mutation must be a number, got {v!r}") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"--mutation must be in [0, 1], got {x}")
    return x


def _read_json_list(path: str, what: str) -> list:
    from spaces.base import read_json

    data = read_json(path)
    if not isinstance(data, list) or not data:
        raise UsageError(f"{what} {path}: expected a non-empty JSON list")
    return data


def check_truth_file(path: str):
    """A --truth file: a list of [arch, value] pairs or a space's own layout (NDS records or
    top/mid, NASLib's NB301 dict); the space's loader checks the records."""
    from spaces.base import read_json

    data = read_json(path)
    if not isinstance(data, (list, dict)) or not data:
        raise UsageError(f"--truth {path}: expected a non-empty JSON list or object")


def _validate(args) -> dict:
    """Checks that need no jax; returns what later steps reuse."""
    import spaces
    from . import images, setting_spec

    spaces.info(args.space)
    if args.truth and not Path(args.truth).is_file():
        raise UsageError(f"--truth {args.truth}: file not found")
    if args.archs and not Path(args.archs).is_file():
        raise UsageError(f"--archs {args.archs}: file not found")
    if args.archs and args.truth:
        raise UsageError("--archs and --truth exclude each other (--archs scores architectures without truth)")
    if args.archs and getattr(args, "limit", None):  # `search` has no --limit
        raise UsageError("--limit draws from a truth table; with --archs, trim the file instead")
    if args.lower_is_better and not args.truth:
        raise UsageError("--lower-is-better applies to a --truth file")
    if args.truth:  # the user's own table: --dataset is just its label
        dataset = args.dataset or Path(args.truth).name
    else:
        dataset = spaces.check_dataset(args.space, args.dataset, have_truth_file=bool(args.archs))
    setting_name, setting = setting_spec.resolve(args.setting, args.space)
    images.check_spec(args.images)
    archs = _read_json_list(args.archs, "--archs") if args.archs else None
    if args.truth:
        check_truth_file(args.truth)
    if args.out:
        check_out_file("--out", args.out, parent_must_exist=False)  # the results store creates folders
    return {"dataset": dataset, "setting": setting, "setting_name": setting_name, "archs": archs}


def image_kind(spec: str) -> str:
    """The image source's kind for run hashes: './imgs' and 'imgs' are the same run."""
    return spec if spec == "bundled" or spec.startswith("tfds:") else "folder"


def truth_identity(truth_file, dataset, lower_is_better=False):
    """The truth source of a run, for its identity: the truth file's content hash (its name and
    the --dataset label do not matter) or the space's table (`dataset`), with the
    lower-is-better flag; None for a run without truth (--archs)."""
    import hashlib
    if truth_file:
        try:
            sha = hashlib.sha256(Path(truth_file).read_bytes()).hexdigest()[:16]
        except OSError as e:
            raise UsageError(f"--truth {truth_file}: {e.strerror or e}") from None
        return {"source": f"file-sha256:{sha}", "lower_is_better": bool(lower_is_better)}
    if dataset is None:
        return None
    return {"source": f"dataset:{dataset}", "lower_is_better": False}


def score_meta(space: str, config: dict, setting, seeds, images: str, image_seed: int, raw_images, *,
               truth, setting_name: str | None = None) -> dict:
    """What an Eproxy results file's run hash covers (`truth`: `truth_identity`): among it
    the full resolved setting and its name (`--setting NAME`, a file's path, "inline";
    without one, the named setting it equals, or "custom")."""
    import hashlib

    from . import setting_spec
    d = setting.to_dict()
    return {
        # the scores' version: bumped whenever the same arguments score differently
        # (2: GenNAS-style waves and nested draws; 3: weight decay on kernels only, and
        # every setting field in the meta), so old files are never resumed into
        "proxy": f"eproxy-jax/{SCORING_VERSION}", "space": space, "space_config": config, "setting": d,
        "setting_name": setting_name or setting_spec.name_of(d),
        "seeds": list(seeds), "images": image_kind(images), "image_seed": image_seed,
        "images_sha": hashlib.sha256(raw_images.tobytes()).hexdigest()[:16], "truth": truth,
    }


def load_space_arg(args):
    """(space, its --space-option config) or a UsageError."""
    import spaces
    config = dict(args.space_option)
    try:
        return spaces.load_space(args.space, **config), config
    except TypeError as e:
        raise UsageError(f"--space-option: {e}") from None


def draw_limit(encs, truth, limit, sample_seed):
    """`--limit N`: N architectures drawn uniformly (seeded) from a truth table, in table order."""
    import numpy as np
    if limit and limit > len(encs):
        print(f"note: --limit {limit} exceeds the {len(encs)} architectures of the truth table; scoring all of them",
              file=sys.stderr)
    if limit and limit < len(encs):
        idx = np.sort(np.random.default_rng(sample_seed).choice(len(encs), limit, replace=False))
        return encs[idx], truth[idx]
    return encs, truth


def pending(store, ids) -> list:
    """Indices of `ids` a results store has not scored yet (each architecture once)."""
    todo, seen = [], set()
    for i, a in enumerate(ids):
        if not store.done(a) and a not in seen:
            todo.append(i)
            seen.add(a)
    return todo


def checkout_env() -> dict:
    """The environment for a script of this checkout that runs `python -m eproxy_jax` as a
    child process: this checkout first on PYTHONPATH, so the child runs the same code whether
    or not the package is installed, in the caller's working directory, where the relative
    paths in its arguments (`--out`, `--truth`, `--images DIR`) were meant."""
    root = str(Path(__file__).resolve().parents[1])
    path = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def enable_cache(args):
    """The persistent compilation cache of a run (`--cache-dir`): its directory, or UsageError."""
    from . import engine as engine_mod
    try:
        return engine_mod.enable_compilation_cache(args.cache_dir)
    except OSError as e:
        raise UsageError(f"--cache-dir: cannot use {args.cache_dir or engine_mod.DEFAULT_CACHE_DIR}: "
                         f"{e.strerror or e}") from None


RESULTS_DIR = Path("eproxy-results")


def results_dir() -> Path:
    """The default results folder in the working directory. Created with a `.gitignore` of
    `*` inside (as pytest marks its cache), so a git checkout it lands in ignores it."""
    if not RESULTS_DIR.is_dir():
        try:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / ".gitignore").write_text("# created by eproxy-jax: results stay out of git\n*\n")
        except OSError as e:
            raise UsageError(f"cannot create {RESULTS_DIR}/ in {Path.cwd()}: {e.strerror or e}; "
                             "give --out") from None
    return RESULTS_DIR


def default_results_path(space: str, dataset, meta: dict, suffix: str = "") -> Path:
    """Where a scoring run's results go without --out: one file per run hash, so `score`
    and `search` runs of the same proxy configuration share (and resume) it."""
    from .store import run_hash
    return results_dir() / f"{space}_{dataset or 'archs'}_{run_hash(meta)[:8]}{suffix}.csv"


def make_engine(engine_mod, args, space, setting, seeds, images, **kw):
    """The engine of a CLI run (`--chunk`, `--arch-vmap`, `--conv-impl`, `--devices`)."""
    import jax
    n_local = len(jax.local_devices())
    if args.devices is not None and args.devices > n_local:
        raise UsageError(f"--devices {args.devices}: this host has {n_local} {jax.default_backend()} device(s)")
    return engine_mod.Engine(space, setting, seeds, images, chunk=args.chunk, arch_vmap=args.arch_vmap,
                             conv_impl=args.conv_impl, devices=args.devices, **kw)


def cmd_score(args, pre: dict) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    import numpy as np

    from . import images as images_mod
    from .setting import ProxySetting
    from .store import ResultStore

    space, config = load_space_arg(args)
    setting = ProxySetting.from_dict(pre["setting"], max_branches=len(space.feature_channels))

    # which architectures
    truth = reference = None   # reference: the whole truth table (percentiles are read in it)
    dataset = pre["dataset"]
    if pre["archs"] is not None:
        encs = space.encode_many(pre["archs"])
        dataset = None
    else:
        encs, reference = space.load_truth(dataset, args.truth, args.lower_is_better)
        encs, truth = draw_limit(encs, reference, args.limit, args.sample_seed)
    if args.shard:  # the I-th of N interleaved slices: disjoint, together everything, same sizes +-1
        keep = np.arange(len(encs)) % args.shard[1] == args.shard[0]
        encs, truth = encs[keep], (truth[keep] if truth is not None else None)
    ids = [space.arch_id(e) for e in encs]

    raw_images = images_mod.load_raw(args.images, n=16, seed=args.image_seed, size=space.input_size,
                                     tfds_data_dir=args.tfds_data_dir)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    meta = score_meta(args.space, config, setting, seeds, args.images, args.image_seed, raw_images,
                      truth=truth_identity(args.truth, dataset, args.lower_is_better), setting_name=pre["setting_name"])
    shard = f"_shard{args.shard[0]}of{args.shard[1]}" if args.shard else ""
    out = Path(args.out) if args.out else default_results_path(args.space, dataset, meta, shard)
    with runlock.hold(out):
        return _score_locked(args, ResultStore(out, meta, seeds), space, setting, encs, (truth, reference), ids,
                             dataset, raw_images, t0)


def _score_locked(args, store, space, setting, encs, truths, ids, dataset, raw_images, t0) -> int:
    """`eproxy score` with its results file locked: score what it lacks, report. `truths`:
    (the scored architectures' truth, the whole table's, in which percentiles are read)."""
    import numpy as np

    from . import engine as engine_mod
    from . import images as images_mod
    from . import metrics
    seeds, out = store.seeds, store.path
    truth, reference = truths

    todo = pending(store, ids)
    resumed = len(set(ids)) - len(todo)

    cache = enable_cache(args)
    import jax
    runguard.check()   # a signal whose exception a gc callback swallowed while jax loaded
    device = f"{jax.default_backend()}:{jax.devices()[0].device_kind}"
    score_s, compile_s, prepare_s, programs, n_dev = 0.0, 0.0, 0.0, 0, None
    engine_mod.CompileCounter.install()
    compiles0, hits0 = engine_mod.CompileCounter.compiles, engine_mod.CompileCounter.cache_hits
    if todo:
        eng = make_engine(engine_mod, args, space, setting, seeds, images_mod.normalise(raw_images),
                          seed_batching=args.seed_batching)
        sub_ids = [ids[i] for i in todo]
        sign = -1.0 if args.lower_is_better else 1.0  # the file keeps the metric as given
        sub_truth = [sign * float(truth[i]) for i in todo] if truth is not None else None

        def save(idx, scores):
            store.append([sub_ids[i] for i in idx], scores, [sub_truth[i] for i in idx] if sub_truth else None)

        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc=f"eproxy {args.space}", unit="arch", file=sys.stderr,
                   disable=args.quiet, dynamic_ncols=True)
        try:
            eng.score(encs[todo], on_chunk=save, progress=bar)
        finally:
            bar.close()
        # programs compile (and contexts prepare) inside score, one per shape bucket used;
        # prepare is a compile of its own plus a tiny run
        prepare_s, programs, score_s, n_dev = eng.prepare_s, eng.programs, eng.score_s, eng.devices
        compile_s = eng.compile_s + eng.prepare_s

    mean, per_seed, diverged = store.scores(ids)
    mean = np.asarray(mean)
    result = {
        "space": args.space, "dataset": dataset, "n": len(ids), "spearman": None, "kendall": None,
        "top10_precision": None, "spearman_per_seed": None,
        "wall_s": round(time.perf_counter() - t0, 3), "compile_s": round(compile_s, 3),
        "prepare_s": round(prepare_s, 3),
        "ms_per_arch": round(1000 * score_s / len(todo), 2) if todo else None,
        "device": device, "diverged": int(sum(diverged)), "dead": int(np.isposinf(mean).sum()),
        "seeds": len(seeds), "scored": len(todo),
        "resumed": resumed, "out": str(out), "cache_dir": cache, "setting": setting.to_dict(),
        "setting_name": store.meta["setting_name"],
        # scoring programs (one per shape bucket used) and all XLA compilations of this run
        # (persistent-cache hits are counted apart)
        "programs": programs, "devices": n_dev, "compiles": engine_mod.CompileCounter.compiles - compiles0,
        "cache_hits": engine_mod.CompileCounter.cache_hits - hits0,
    }
    result.update(dict.fromkeys(metrics.TOP_KEYS))
    if truth is not None and len(ids) >= 2:
        per = np.asarray(per_seed)
        result.update(rank_fields(mean, truth, reference))
        result["top10_precision"] = _finite(metrics.top_k_precision(mean, truth))
        result["spearman_per_seed"] = [_finite(metrics.spearman(per[:, k], truth)) for k in range(per.shape[1])]
    _report(result)
    if args.json:
        print(json.dumps(result, allow_nan=False))
    return 0


def _finite(x, digits=4):
    """A metric for JSON: rounded, or None where undefined (constant scores or truth)."""
    return round(float(x), digits) if math.isfinite(x) else None


def rank_fields(scores, truth, reference=None) -> dict:
    """`metrics.report` for JSON: spearman, kendall, top10_precision (3 digits), the truth
    percentiles top1/top10 (2 digits) and spearman_top10pct; None where undefined."""
    from . import metrics
    r = metrics.report(scores, truth, reference)
    digits = {"top10_precision": 3, "top1_percentile": 2, "top10_percentile": 2}
    return {k: _finite(v, digits.get(k, 4)) for k, v in r.items()}


def top_text(r: dict) -> str:
    """The top-end metrics of a `rank_fields` dict as one line of text."""
    fmt = lambda x, d: "undefined" if x is None else f"{x:.{d}f}"  # noqa: E731
    return (f"best-scored at truth percentile {fmt(r['top1_percentile'], 1)}, top-10 mean "
            f"{fmt(r['top10_percentile'], 1)}, spearman within the truly best 10% {fmt(r['spearman_top10pct'], 4)}")


def _report(r: dict):
    lines = [f"space {r['space']}  dataset {r['dataset']}  n {r['n']}  seeds {r['seeds']}  device {r['device']}"]
    if r["spearman_per_seed"] is not None:
        fmt = lambda x, d=4: "undefined" if x is None else f"{x:.{d}f}"  # noqa: E731
        ps = [x for x in r["spearman_per_seed"] if x is not None]
        extra = ""
        if len(ps) > 1:
            m = sum(ps) / len(ps)
            sd = math.sqrt(sum((x - m) ** 2 for x in ps) / (len(ps) - 1))
            extra = f"  (per seed {m:.4f} +- {sd:.4f})"
        lines.append(f"spearman {fmt(r['spearman'])}  kendall {fmt(r['kendall'])}  top-10% precision "
                     f"{fmt(r['top10_precision'], 3)}{extra}")
        lines.append(top_text(r))
    ms = f"{r['ms_per_arch']:.1f} ms/arch" if r["ms_per_arch"] is not None else "nothing new to score"
    lines.append(f"scored {r['scored']} (resumed {r['resumed']}), {ms}, compile {r['compile_s']:.1f} s, "
                 f"wall {r['wall_s']:.1f} s, diverged {r['diverged']}, dead (ignore the input, ranked last) {r['dead']}")
    lines.append(f"results: {r['out']}")
    print("\n".join(lines))


def main(argv=None) -> int:
    saved = runguard.install()   # first: a signal at any later moment ends the run with one line
    ctx = {"prog": "eproxy"}   # error lines start with the command, as argparse's own do
    try:
        code = _dispatch(argv, ctx)
        runguard.check()
        return code
    except runguard.Interrupted as e:
        print(runguard.stopped_line(ctx["prog"], e), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:   # handlers could not be installed (not the main thread)
        print("eproxy: interrupted; finished results are kept, rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        runguard.restore(saved)


def _dispatch(argv, ctx) -> int:
    parser = build_parser()
    prog = ctx["prog"]
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("missing command (try: eproxy score nb201 --limit 200)")
        prog = ctx["prog"] = f"eproxy {args.command}"
        if args.command == "dps":
            from . import cli_dps
            return cli_dps.cmd_dps(args, cli_dps.validate(args))
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "merge":
            return cmd_merge(args)
        if args.command == "draw":
            return cmd_draw(args)
        if args.command == "settings":
            return cmd_settings(args)
        if args.command == "search":
            from . import cli_search
            return cli_search.cmd_search(args, cli_search.validate(args))
        if args.command == "compare":
            from . import cli_compare
            return cli_compare.cmd_compare(args, cli_compare.validate(args))
        pre = _validate(args)
        return cmd_score(args, pre)
    except UsageError as e:
        line = str(e).splitlines()[0]
        print(line if isinstance(e, ArgError) else f"{prog}: {line}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:
        # SpaceError, SettingError, ImageError, StoreError: user-facing, one line
        from .baselines import BaselineError, ProxyNameError
        from .images import ImageError
        from .memory import MemoryNeedError
        from .setting_spec import SettingError
        from .store import StoreError
        from spaces import SpaceError
        if isinstance(e, (SpaceError, SettingError, ImageError, StoreError, ProxyNameError, BaselineError,
                          MemoryNeedError)):
            print(f"{prog}: {str(e).splitlines()[0]}", file=sys.stderr)
            return EXIT_USAGE
        raise
    except OSError as e:
        if e.filename is None:   # not a file's problem: a bug, with its traceback
            raise
        # a file that cannot be written or read (disk full, permissions) where no writer said
        # more: one line naming it; the resumable files are kept by their writers
        print(f"{prog}: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
