"""Faults injected into runs: nothing lost, nothing mixed.

Kill -9, SIGINT (early and late), SIGTERM, a truncated file, a full disk, a second writer,
damaged DPS states and rows, merge refusals, and resuming with another truth source or
scoring version. Each fault ends in its exit code and exactly one stderr line; the rows
finished before it stay, and a rerun completes them. Only the chained run at the top scores
anything (6 tiny architectures, chunks of 2); the rest stops before anything compiles.
"""
import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from conftest import ROOT, TINY_CLI, TINY_SETTING
from eproxy_jax import cli, runlock, store
from eproxy_jax.store import ResultStore
from eproxy_jax.version import SCORING_VERSION

BASE = ["score", "nb201", "--limit", "6", "--sample-seed", "1", "--chunk", "2", "--quiet",
        "--setting", json.dumps(TINY_SETTING), *TINY_CLI]


def one_line(code, err, want_code, needle):
    lines = err.strip().splitlines()
    assert code == want_code, (code, err)
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert lines[0].startswith("eproxy"), lines[0]


def main(argv, capsys):
    """`eproxy ARGV` in this process: (exit code, stderr)."""
    capsys.readouterr()
    code = cli.main(argv)
    return code, capsys.readouterr().err


def start(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "eproxy_jax", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, proc, timeout=600):
    deadline = time.time() + timeout
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def handlers_installed(proc) -> bool:
    """The child catches SIGTERM (so `runguard.install` ran: SIGINT is handled too)."""
    with open(f"/proc/{proc.pid}/status") as f:
        mask = next(int(ln.split()[1], 16) for ln in f if ln.startswith("SigCgt:"))
    return bool(mask >> (signal.SIGTERM - 1) & 1)


def rows(path) -> dict:
    with open(path) as f:
        return {r["arch"]: r for r in csv.DictReader(ln for ln in f if ln and not ln.startswith("#"))}


def test_interrupts_kill_truncation_and_full_disk_lose_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.csv"
    args = [*BASE, "--out", str(out)]
    # SIGINT late: after the first chunk's rows
    p = start(args, tmp_path)
    wait_for(lambda: out.exists() and len(rows(out)) >= 2, p)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=600)
    one_line(p.returncode, err, 130, "stopped by SIGINT")
    first = rows(out)
    assert 2 <= len(first) < 6 and len(first) % 2 == 0
    assert not runlock.lock_path(out).exists()

    # kill -9 in the middle of the next run: its lock file stays behind, unlocked
    p = start(args, tmp_path)
    wait_for(lambda: runlock.lock_path(out).exists(), p)
    time.sleep(1.0)
    p.kill()
    p.communicate()
    assert runlock.lock_path(out).exists() and rows(out).items() >= first.items()

    # a truncated file: the cut row is dropped and scored again
    text = out.read_text()
    out.write_text(text[: len(text) - 9])
    kept = rows(out)
    kept.pop(list(kept)[-1])

    # a full disk at the second write: exit 2 naming the file; the first write stays
    real_open, writes = open, []

    def full_disk(path, mode="r", *a, **k):
        if "a" in mode and writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        if "a" in mode:
            writes.append(path)
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(store, "open", full_disk, raising=False)
    code, err = main(args, capsys)
    one_line(code, err, 2, f"cannot write {out}: No space left on device")
    monkeypatch.undo()
    assert len(writes) == 1
    after = rows(out)
    assert after.items() >= kept.items() and len(after) < 6

    # the rerun completes every architecture once; rows scored before are unchanged
    code, err = main(args, capsys)
    assert code == 0, err
    final = rows(out)
    body = [ln for ln in out.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(final) == 6 and len(body) == 7
    assert final.items() >= first.items()     # the cut row, scored again, has the same score


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_right_after_start(tmp_path, sig, code):
    out = tmp_path / "r.csv"
    p = start([*BASE, "--out", str(out)], tmp_path)
    wait_for(lambda: handlers_installed(p), p)
    p.send_signal(sig)
    _, err = p.communicate(timeout=600)
    one_line(p.returncode, err, code, f"stopped by {signal.Signals(sig).name}")
    assert sorted(os.listdir(tmp_path)) == []      # no results file, no lock file


def test_second_writer_exits_2_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "r.csv"
    a = _results_file(tmp_path / "a.csv")
    tiny = ["--setting", json.dumps(TINY_SETTING), *TINY_CLI, "--quiet"]
    for argv, locked in [
        ([*BASE, "--out", str(out)], out),
        (["search", "nb201", "--budget", "4", *tiny, "--out", str(out)], out),
        (["compare", "nb201", "--limit", "4", "--proxies", "eproxy", *tiny, "--out", str(tmp_path / "cmp")],
         tmp_path / "cmp"),
        (["dps", "nb201", "--cycles", "2", "--population", "2", "--sample", "1", *TINY_CLI,
          "--out", str(tmp_path / "d.json")], tmp_path / "d.json.state"),
        (["merge", str(out), str(a)], out),
        (["bench", "--space", "nb201", "--n", "2", "--out", str(out)], out),
    ]:
        with runlock.hold(locked):
            code, err = main(argv, capsys)
            one_line(code, err, 2, f"in use by another eproxy run (PID {os.getpid()})")
            assert runlock.lock_path(locked).read_text().strip() == str(os.getpid())   # still the holder's
        assert not out.exists() and not runlock.lock_path(locked).exists()


def test_failure_before_the_first_row_leaves_no_file(tmp_path, capsys):
    out = tmp_path / "sub" / "r.csv"
    code, err = main([*BASE, "--devices", "64", "--out", str(out)], capsys)
    one_line(code, err, 2, "--devices 64")
    assert sorted(os.listdir(tmp_path)) == []


def _results_file(path, **override):
    """A results file as `BASE` would write it (one row), its meta changed by `override`."""
    from eproxy_jax import images, setting_spec
    from eproxy_jax.setting import ProxySetting
    raw = images.load_raw("bundled", n=16, seed=0, size=16)
    name, setting = setting_spec.resolve(json.dumps(TINY_SETTING), "nb201")   # as BASE's --setting resolves
    meta = cli.score_meta("nb201", {"channels": 4, "cells_per_stage": 1, "input_size": 16},
                          ProxySetting.from_dict(setting), [0], "bundled", 0, raw,
                          truth=cli.truth_identity(None, "cifar10"), setting_name=name)
    meta.update(override)
    ResultStore(path, meta, [0]).append(["x"], [[1.0]], [90.0])
    return path


@pytest.mark.parametrize("extra, override, needle", [
    (["--dataset", "cifar100"], {}, "truth source: file dataset:cifar10, this run dataset:cifar100"),
    ([], {"proxy": "eproxy-jax/1"}, f"scoring version: file eproxy-jax/1, this run eproxy-jax/{SCORING_VERSION}"),
    ([], {"truth": None}, "truth source: file none, this run dataset:cifar10"),
])
def test_resume_refuses_other_truth_source_or_scoring_version(tmp_path, capsys, extra, override, needle):
    out = _results_file(tmp_path / "r.csv", **override)
    before = out.read_text()
    code, err = main([*BASE, *extra, "--out", str(out)], capsys)
    one_line(code, err, 2, needle)
    assert out.read_text() == before


def test_truth_file_identity_is_its_content_and_direction(tmp_path):
    t = tmp_path / "t.json"
    t.write_text('[["a", 1.0]]')
    a = cli.truth_identity(str(t), "label")
    assert a == cli.truth_identity(str(t), "other label") != cli.truth_identity(str(t), "label", True)
    t.write_text('[["a", 2.0]]')
    assert cli.truth_identity(str(t), "label") != a


@pytest.mark.parametrize("line, needle", [
    ("y,abc,abc,0,90.0", "line 6: score_s0 'abc' is not a number"),
    ("y,1.0,1.0,2,90.0", "line 6: diverged '2' is not 0 or 1"),
    ("y,1.0", "line 6: 2 fields, expected 5"),
])
def test_damaged_row_exits_2_naming_file_and_line(tmp_path, capsys, line, needle):
    out = _results_file(tmp_path / "r.csv")
    with open(out, "a") as f:
        f.write(line + "\nz,1.0,1.0,0,80.0\n")     # not the last line: not an interrupted write
    code, err = main([*BASE, "--out", str(out)], capsys)
    one_line(code, err, 2, f"{out} {needle}")
    assert "delete that line (or the file) to start over" in err


def _damage(state, how):
    if how == "empty":
        state.write_bytes(b"")
    elif how == "truncated":
        state.write_bytes(state.read_bytes()[:300])
    elif how == "bit-flipped":    # the last byte of an array's data: only the CRC notices
        data = bytearray(state.read_bytes())
        with zipfile.ZipFile(state) as z:
            info = z.getinfo("history_genomes.npy")
        extra = int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
        data[info.header_offset + 30 + len(info.filename) + extra + info.compress_size - 1] ^= 0x10
        state.write_bytes(bytes(data))
    else:
        with open(state, "wb") as f:
            np.save(f, np.arange(3))


@pytest.mark.parametrize("how, kind", [("empty", "EOFError"), ("truncated", "BadZipFile"),
                                       ("bit-flipped", "BadZipFile"),
                                       ("foreign", "an array, not a DPS state")])
def test_damaged_dps_state_exits_2(tmp_path, capsys, how, kind):
    from eproxy_jax import dps, dps_run
    out = tmp_path / "dps.json"
    state = tmp_path / "dps.json.state"
    s = dps.init(None, population=2, sample=1, mutation=0.2, max_evals=2)
    dps_run._save_state(state, s, "h", 0, 0.5, meta_json="{}")
    assert dps_run._load_state(state, s, "h")[1] == 0          # the written state reads back
    _damage(state, how)
    code, err = main(["dps", "nb201", "--train-archs", "3", "--eval-archs", "0", "--cycles", "2",
                      "--population", "2", "--sample", "1", "--quiet", "--out", str(out), *TINY_CLI], capsys)
    one_line(code, err, 2, f"resume state {state} is damaged ({kind}); delete it to start over")
    assert not out.exists() and not (tmp_path / "dps.json.state.lock").exists()


def test_dps_state_of_another_run_says_what_differs(tmp_path):
    from eproxy_jax import dps, dps_run
    state = tmp_path / "s.state"
    s = dps.init(None, population=2, sample=1, mutation=0.2, max_evals=2)
    dps_run._save_state(state, s, "h1", 0, 0.5, meta_json=json.dumps({"proxy": "eproxy-jax/1", "seed": 0}))
    with pytest.raises(store.StateError, match="scoring version: state eproxy-jax/1, this run eproxy-jax/2"):
        dps_run._load_state(state, s, "h2", json.dumps({"proxy": "eproxy-jax/2", "seed": 0}))
    assert not list(tmp_path.glob("*.tmp*"))


def _merge_inputs(tmp_path):
    a = _results_file(tmp_path / "a.csv")
    b = tmp_path / "b.csv"
    b.write_text(a.read_text().replace("x,1.0,1.0,0,90.0", "y,2.0,2.0,0,80.0"))
    return a, b


def test_merge_refusals_leave_no_out(tmp_path, capsys):
    a, b = _merge_inputs(tmp_path)
    out = tmp_path / "m.csv"
    other_truth = _results_file(tmp_path / "c.csv", truth=cli.truth_identity(None, "cifar100"))
    conflict = tmp_path / "d.csv"
    conflict.write_text(a.read_text().replace("x,1.0,1.0,0,90.0", "x,1.5,1.5,0,90.0"))
    truth_conflict = tmp_path / "e.csv"
    truth_conflict.write_text(a.read_text().replace("x,1.0,1.0,0,90.0", "x,1.0,1.0,0,70.0"))
    damaged = tmp_path / "f.csv"
    damaged.write_text(b.read_text() + "z,oops,1.0,0,1.0\nw,1.0,1.0,0,1.0\n")
    no_seeds = tmp_path / "g.csv"
    meta = {"space": "nb201"}
    no_seeds.write_text(store.header_text(meta, ["arch", "score", "diverged", "truth"]))
    for inputs, needle in [
        ([a, other_truth], "truth source: it dataset:cifar100"),
        ([a, b, conflict], "conflicting scores for architecture x (score_s0 1.0 vs 1.5)"),
        ([a, truth_conflict], "conflicting truth for architecture x (truth 90.0 vs 70.0)"),
        ([a, damaged], f"{damaged} line 6: score_s0 'oops' is not a number"),
        ([no_seeds, a], f"{no_seeds}: its header meta lacks 'seeds'"),
    ]:
        code, err = main(["merge", str(out), *map(str, inputs)], capsys)
        one_line(code, err, 2, needle)
        assert not out.exists() and not list(tmp_path.glob("m.csv*"))


def test_merge_refusal_leaves_existing_out_as_it_was(tmp_path, capsys):
    a, b = _merge_inputs(tmp_path)
    out = tmp_path / "m.csv"
    code, err = main(["merge", str(out), str(a), str(b)], capsys)
    assert code == 0, err
    before = out.read_text()
    assert set(rows(out)) == {"x", "y"}
    conflict = tmp_path / "d.csv"
    conflict.write_text(b.read_text().replace("y,2.0,2.0,0,80.0", "y,2.5,2.5,0,80.0"))
    code, err = main(["merge", str(out), str(conflict)], capsys)
    one_line(code, err, 2, "conflicting scores for architecture y")
    assert out.read_text() == before


def test_signal_swallowed_by_a_gc_callback_is_not_lost(capsys):
    """What jax's `_xla_gc_callback` did to KeyboardInterrupt: the exception raised inside a gc
    callback is only reported as 'Exception ignored'. Here the report is silent and the next
    check raises it; inside a critical section the signal waits for the section's end."""
    import gc

    from eproxy_jax import runguard
    saved = runguard.install()
    try:
        def cb(phase, info):
            if phase == "start":
                signal.raise_signal(signal.SIGINT)
        gc.callbacks.append(cb)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(cb)
        assert capsys.readouterr().err == ""
        with pytest.raises(runguard.Interrupted) as e:
            runguard.check()
        assert e.value.exit_code == 130
        runguard.restore(saved)
        saved = runguard.install()                      # a fresh start forgets it
        runguard.check()
        steps = []
        with pytest.raises(runguard.Interrupted) as e:
            with runguard.critical():
                signal.raise_signal(signal.SIGTERM)
                steps.append("finished")                # not cut by the signal
        assert steps == ["finished"] and e.value.exit_code == 143
    finally:
        runguard.restore(saved)
    assert signal.getsignal(signal.SIGINT) is not runguard._handler
