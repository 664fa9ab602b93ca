"""Screen hand-picked proxy settings on the same architectures of any space: one resumable
`eproxy score` run per setting, then a table of Spearman / Kendall / top-10% precision per
setting, the Spearman a MACs weight (alpha) would have given, and a paired bootstrap of each
setting's Spearman minus the first setting's (same architectures, same resamples).

    python experiments/settings_screen.py nb101 --settings SETTINGS.json --out-dir DIR \\
        --limit 100 -- --space-option stem_channels=32 --chunk 10

SETTINGS.json: `{"name": {setting fields...}, ...}` (`{}` = the default); the first entry is
the reference of the bootstrap. Arguments after `--` go to every `eproxy score` call. Each
setting writes `DIR/NAME.csv` (the results file; an interrupted screen continues where it
stopped) and `DIR/NAME.json` (the run's JSON line: ms/arch, compile time). `--report-only`
only reads what is there (`NAME.csv` or a compressed `NAME.csv.gz`). Interrupted (Ctrl-C,
SIGTERM from `timeout`), the screen stops its scoring run, reports the cells every setting has
so far and exits 130. The alpha columns rescale the stored score as the engine does,
`score * (1 - alpha * MACs / MACs_max_of_space)`; they are shown for settings run with alpha 0.
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALPHAS = (0.1, 0.2, 0.3)
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ScreenError(ValueError):
    """A user mistake: one line, exit 2."""


def load_run(path: Path) -> dict:
    """A results file as `{arch: (score, truth, macs_frac)}` plus its setting."""
    from eproxy_jax.api import load_results

    t = load_results(path)
    if not t.has_truth_column:
        raise ScreenError(f"{path}: no truth column (score with a truth table)")
    if not len(t):
        return {"table": {}, "setting": t.setting}
    if t.truth is None:
        raise ScreenError(f"{path}: some rows have no truth value")
    frac = t.macs() / float(t.space.max_macs)
    table = {a: (float(s), float(y), m) for a, s, y, m in zip(t.archs, t.score, t.truth, frac)}
    return {"table": table, "setting": t.setting}


def results_file(out: Path, name: str):
    """`NAME.csv`, else `NAME.csv.gz` (a screen kept compressed), else None."""
    for f in (out / f"{name}.csv", out / f"{name}.csv.gz"):
        if f.exists():
            return f
    return None


def paired_bootstrap(scores: dict, truth, ref: str, n_boot: int = 2000, seed: int = 0) -> dict:
    """Per setting: the 2.5 / 97.5 percentiles of Spearman(setting) - Spearman(ref) over
    bootstrap resamples of the architectures (the same resamples for every setting)."""
    from eproxy_jax import metrics

    rng = np.random.default_rng(seed)
    n = len(truth)
    idx = rng.integers(0, n, size=(n_boot, n))
    truth = np.asarray(truth)
    ref_rho = np.array([metrics.spearman(scores[ref][i], truth[i]) for i in idx])
    out = {}
    for name, s in scores.items():
        if name == ref:
            continue
        d = np.array([metrics.spearman(s[i], truth[i]) for i in idx]) - ref_rho
        d = d[np.isfinite(d)]
        out[name] = (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))) if len(d) else (float("nan"),) * 2
    return out


def summarise(runs: dict, n_boot: int = 2000) -> list:
    """Rows of the screen over the architectures every run scored."""
    from eproxy_jax import metrics

    common = sorted(set.intersection(*(set(r["table"]) for r in runs.values())))
    if len(common) < 3:
        raise ScreenError(f"only {len(common)} architectures are common to every run: nothing to compare")
    names = list(runs)
    truth = [runs[names[0]]["table"][a][1] for a in common]
    scores = {k: np.array([runs[k]["table"][a][0] for a in common]) for k in names}
    frac = np.array([runs[names[0]]["table"][a][2] for a in common])
    boot = paired_bootstrap(scores, truth, names[0], n_boot=n_boot) if len(names) > 1 else {}
    rows = []
    for k in names:
        s = scores[k]
        row = {"setting": k, "n": len(common), "spearman": metrics.spearman(s, truth),
               "kendall": metrics.kendall(s, truth), "top10": metrics.top_k_precision(s, truth)}
        if float(runs[k]["setting"].get("alpha", 0.0)) == 0.0:
            for a in ALPHAS:
                row[f"alpha{a}"] = metrics.spearman(s * (1.0 - a * frac), truth)
        if k in boot:
            row["delta_ci95"] = boot[k]
        rows.append(row)
    return rows


def run_scoring(cmd):
    """Run one `eproxy score`: (exit code, its JSON line), or (None, None) when this script is
    interrupted (Ctrl-C or SIGTERM, e.g. a `timeout`); the scoring process is then stopped
    too, so nothing is left running (its results file keeps every finished chunk)."""
    from eproxy_jax.cli import checkout_env

    def term(*_):
        raise KeyboardInterrupt
    env = checkout_env()
    previous = signal.signal(signal.SIGTERM, term)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        stdout, _ = proc.communicate()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        return None, None
    finally:
        signal.signal(signal.SIGTERM, previous)
    lines = stdout.strip().splitlines()
    return proc.returncode, (lines[-1] if lines else "")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("space")
    ap.add_argument("--settings", required=True, help="JSON file {name: setting}")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--json", help="write the table here as JSON")
    args = ap.parse_args(argv)
    try:
        settings = json.loads(Path(args.settings).read_text())
    except (OSError, json.JSONDecodeError) as e:
        print(f"error: --settings {args.settings}: {e}", file=sys.stderr)
        return 2
    if not isinstance(settings, dict) or not settings or not all(isinstance(v, dict) for v in settings.values()):
        print("error: --settings must be a non-empty JSON object {name: {setting fields}}", file=sys.stderr)
        return 2
    bad = [k for k in settings if not NAME.match(k)]
    if bad:
        print(f"error: setting name {bad[0]!r}: use letters, digits, '_', '.', '-' (it names files)", file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stopped = False
    for name, setting in ([] if args.report_only else settings.items()):
        cmd = [sys.executable, "-m", "eproxy_jax", "score", args.space, "--limit", str(args.limit),
               "--sample-seed", str(args.sample_seed), "--setting", json.dumps(setting),
               "--out", str(out / f"{name}.csv"), "--json", "--quiet", *extra]
        print(f"[{name}] {' '.join(cmd[1:])}", flush=True)
        code, line = run_scoring(cmd)
        if code is None:          # interrupted: report what the results files hold so far
            print(f"[{name}] interrupted: reporting the rows scored so far", file=sys.stderr, flush=True)
            stopped = True
            break
        if code:
            print(f"error: setting {name!r}: eproxy score exited {code}", file=sys.stderr)
            return code
        try:
            scored = json.loads(line).get("scored", 1)
        except (json.JSONDecodeError, AttributeError):
            scored = 0
        if scored:            # a fully resumed run keeps the JSON line (timing) of the run that scored
            (out / f"{name}.json").write_text(line + "\n")
    from eproxy_jax.store import StoreError
    try:
        runs = {k: load_run(f) for k in settings if (f := results_file(out, k))}
        for k in [k for k, r in runs.items() if not r["table"]]:
            print(f"[{k}] no rows scored yet: left out", file=sys.stderr)
            del runs[k]
        if not runs:
            raise ScreenError(f"no results in {out} for the settings of {args.settings}")
        rows = summarise(runs, n_boot=args.n_boot)
    except (ScreenError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 130 if stopped else 2
    for r in rows:
        jf = out / f"{r['setting']}.json"
        if jf.exists():
            d = json.loads(jf.read_text())
            r["ms_per_arch"], r["compile_s"] = d.get("ms_per_arch"), d.get("compile_s")
    ref = rows[0]["setting"]
    print("\n| setting | n | spearman | kendall | top-10% | " + " | ".join(f"alpha {a}" for a in ALPHAS)
          + f" | spearman - {ref}, 95% CI | ms/arch |")
    print("|---" * (7 + len(ALPHAS)) + "|")
    for r in rows:
        al = " | ".join(f"{r[f'alpha{a}']:.3f}" if f"alpha{a}" in r else "-" for a in ALPHAS)
        ci = f"[{r['delta_ci95'][0]:+.3f}, {r['delta_ci95'][1]:+.3f}]" if "delta_ci95" in r else "-"
        ms = f"{r['ms_per_arch']:.0f}" if r.get("ms_per_arch") else "-"
        print(f"| {r['setting']} | {r['n']} | {r['spearman']:.3f} | {r['kendall']:.3f} | {r['top10']:.2f} | {al} | {ci} | {ms} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"space": args.space, "settings": settings, "rows": rows}, indent=1))
    return 130 if stopped else 0


if __name__ == "__main__":
    sys.exit(main())
