"""TransNAS-Bench-101 micro and macro (`spaces.transnas`): the data-driven networks against a
literal float64 build with fixed ops / exact widths on the same weights (every op, every skeleton
digit), encodings round-tripping to the benchmark's strings, truth files, CLI."""
import gzip
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax.nn import initializers
from literal import f64, np_bn, np_conv, random_params, relu
from spaces import SpaceError, check_dataset, load_space, transnas
from conftest import ROOT

REPO = ROOT


# ------------------------------------------------------------------ a literal float64 build







def nearest(x, size):
    idx = np.floor(np.arange(size) * (x.shape[1] / size)).astype(int)
    return x[:, idx][:, :, idx]






def lit_stem(x, p):
    x = np_bn(np_conv(x, p["conv0"]["kernel"], 2), p["bn0"])
    return np_bn(np_conv(relu(x), p["conv1"]["kernel"], 2), p["bn1"])


def lit_edge(x, op, p, ci, co, s):
    if op == 0:
        return np.zeros((x.shape[0], -(-x.shape[1] // s), -(-x.shape[2] // s), co))
    if op == 1:
        if s == 1 and ci == co:
            return x
        r = relu(x)
        sh = np.pad(r, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:]
        y = np.concatenate([np_conv(r, p["fr_a"]["kernel"], s, 0), np_conv(sh, p["fr_b"]["kernel"], s, 0)], -1)
        return np_bn(y, p["fr_bn"])
    if op == 2:
        return np_bn(np_conv(relu(x), p["conv1x1"]["kernel"], s, 0), p["bn1x1"])
    return np_bn(np_conv(relu(x), p["conv3x3"]["kernel"], s, 1), p["bn3x3"])


def lit_cell(x, enc, p, ci, co, s):
    nodes = [x]
    for j in (1, 2, 3):
        acc = 0
        for e, (to, frm) in enumerate(transnas.EDGES):
            if to == j:
                c_in, st = (ci, s) if frm == 0 else (co, 1)
                acc = acc + lit_edge(nodes[frm], enc[e], p[f"edge{e}"], c_in, co, st)
        nodes.append(acc)
    return nodes[3]


def cells_of(params):
    """The per-cell parameter dicts in network order (runs of scanned cells unstacked)."""
    out = []
    for k in range(len(params)):
        run = params.get(f"run{k}")
        if run is None:
            continue
        if "cell" in run:
            n = jax.tree_util.tree_leaves(run)[0].shape[0]
            out += [jax.tree_util.tree_map(lambda a, i=i: a[i], run["cell"]) for i in range(n)]
        else:
            out.append(run)
    return out


@pytest.mark.parametrize("skeleton", ["41412", "2314"])
def test_micro_every_op_equals_the_literal_build(skeleton):
    sp = load_space("transnas-micro", base=8, skeleton=skeleton, input_size=16, target_size=4)
    images = jnp.asarray(np.random.default_rng(0).standard_normal((4, 16, 16, 3)), jnp.float32)
    net = sp.module()
    cells = ["1_23_013", "3_12_230", "2_31_102", "0_10_321"]   # every op on every edge kind
    encs = [sp.parse(f"64-41414-{c}") for c in cells]
    assert {int(v) for e in encs for v in e} == {0, 1, 2, 3}
    p = random_params(net, images, jnp.asarray(encs[0]))
    run = jax.jit(lambda p, e: net.apply({"params": p}, images, e))
    plan = []
    c = 8
    for d in skeleton:
        co = c * 2 if int(d) % 2 == 0 else c
        plan.append((c, co, 2 if int(d) > 2 else 1))
        c = co
    cp = cells_of(f64(p))
    assert len(cp) == 2 * len(plan)
    for enc in encs:
        x = lit_stem(np.asarray(images, np.float64), f64(p["stem"]))
        feats = []
        for li, (ci, co, s) in enumerate(plan):
            x = lit_cell(x, enc, cp[2 * li], ci, co, s)
            x = lit_cell(x, enc, cp[2 * li + 1], co, co, 1)
            feats.append(x)
        want = [nearest(f, 4) for f in reversed(feats[-3:])]
        got = run(p, jnp.asarray(enc))
        assert [g.shape[-1] for g in got] == list(sp.feature_channels)
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(w).max()))


def lit_macro(images, digits, p, base):
    """The exact-width macro network with weights cut from the padded program's `p`."""
    x = lit_stem(images, p["stem"])
    c, lvl, start, feats = base, 0, 0, []
    for li, d in enumerate(digits):
        d = int(d)
        co, s = (c * 2 if d % 2 == 0 else c), (2 if d > 2 else 1)
        if s == 2:
            lvl += 1
            start = li + 1
            lp = p[f"down{lvl}"]
        else:
            lp = jax.tree_util.tree_map(lambda a, i=li - start: a[i], p[f"run{lvl}"]["layer"])

        def k(name, ci, co):
            return lp[name]["kernel"][..., :ci, :co]

        def bn(name, co):
            return {"scale": lp[name]["scale"][:co], "bias": lp[name]["bias"][:co]}

        for b in range(2):
            cin, st = (c, s) if b == 0 else (co, 1)
            a = np_bn(np_conv(relu(x), k(f"b{b}_a", cin, co), st), bn(f"b{b}_a_bn", co))
            f = np_bn(np_conv(relu(a), k(f"b{b}_b", co, co)), bn(f"b{b}_b_bn", co))
            short = x
            if b == 0 and (st != 1 or cin != co):
                short = np_bn(np_conv(x, k("proj", cin, co), st, 0), bn("proj_bn", co))
            x = short + f
        feats.append(x)
        c = co
    return feats


def test_macro_every_digit_masked_equals_the_exact_network():
    """Codes of every digit and every stride count, each inside a program padded for all codes
    of its stride count, equal the exact-width build on the same weights (padded channels 0)."""
    sp = load_space("transnas-macro", base=4, input_size=16, target_size=4, max_programs=1)
    codes = ["1311", "2312", "4111", "1224", "3111", "2241", "13141", "211323", "142312", "4343"]
    assert {d for c in codes for d in c} == set("1234")
    encs = np.stack([sp.parse(f"64-{c}-basic") for c in codes])
    buckets = sp.bucket_of(encs)
    assert len(set(buckets.tolist())) == len({sum(d in "34" for d in c) for c in codes})
    images = np.random.default_rng(0).standard_normal((4, 16, 16, 3))
    jimg = jnp.asarray(images, jnp.float32)
    for b in sorted(set(buckets.tolist())):
        net = sp.module(b)
        members = [i for i in range(len(codes)) if buckets[i] == b]
        p = random_params(net, jimg, jnp.asarray(encs[members[0]]))
        run = jax.jit(lambda p, e, net=net: net.apply({"params": p}, jimg, e))
        for i in members:
            feats = lit_macro(images, codes[i], f64(p), 4)
            got = run(p, jnp.asarray(encs[i]))
            for g, w in zip(got, reversed(feats[-3:])):
                w = nearest(w, 4)
                g = np.asarray(g)
                np.testing.assert_allclose(g[..., :w.shape[-1]], w, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(w).max()))
                assert not g[..., w.shape[-1]:].any()


def test_macro_init_rescaled_to_real_fans():
    sp = load_space("transnas-macro", base=4, input_size=16, max_programs=1)
    encs = np.stack([sp.parse(c) for c in ("1111", "2222")])
    b = sp.bucket_of(encs)
    assert b[0] == b[1]
    net = sp.module(b[0])
    img = jnp.zeros((2, 16, 16, 3))
    p = initializers.init_tree(jax.random.PRNGKey(0), net.init(jax.random.PRNGKey(0), img, jnp.asarray(encs[0]))["params"],
                               initializers.INIT_NAMES.index("kaiming_normal"))
    q = net.adapt_params(p, jnp.asarray(encs[0]), initializers.INIT_NAMES.index("kaiming_normal"))
    k0, k1 = p["run0"]["layer"]["b0_a"]["kernel"], q["run0"]["layer"]["b0_a"]["kernel"]
    pad_out = k0.shape[-1]
    # kaiming_normal (fan_out): std sqrt(2 / (9 * c_out)); real c_out 4 of the padded 32
    np.testing.assert_allclose(np.asarray(k1 / k0)[0, 0, 0, 0, 0], np.sqrt(pad_out / 4), rtol=1e-5)


def test_encodings_round_trip_every_bundled_architecture():
    for kind, n in (("micro", 4096), ("macro", 3255)):
        sp = load_space(f"transnas-{kind}")
        tables = {t: json.loads(gzip.open(REPO / f"spaces/data/transnas_{kind}_{t}.json.gz").read())
                  for t in transnas.BUNDLED}
        archs = [a for a, _ in tables["class_scene"]]
        assert len(archs) == len(set(archs)) == n
        for t in transnas.BUNDLED:
            assert sorted(a for a, _ in tables[t]) == sorted(archs)
        encs = sp.encode_many(archs)
        assert [sp.arch_id(e) for e in encs] == archs
        sp.check_encodings(encs)
    micro = load_space("transnas-micro")
    assert np.array_equal(micro.parse("1_23_013"), micro.parse([[1], [2, 3], [0, 1, 3]]))
    assert len({micro.arch_id(e) for e in micro.all_encodings()}) == 4096


def test_bad_architectures_and_options():
    micro, macro = load_space("transnas-micro"), load_space("transnas-macro")
    for bad in ("64-41414-1_23_01", "64-41414-4_23_013", "64-4141-1_23_013", [1, 2, 3]):
        with pytest.raises(SpaceError):
            micro.parse(bad)
    for bad in ("64-41-basic", "64-5111-basic", "64-1234567-basic", "64-33333-basic", "x"):
        with pytest.raises(SpaceError):
            macro.parse(bad)
    with pytest.raises(SpaceError, match="skeleton"):
        load_space("transnas-micro", skeleton="4150")
    with pytest.raises(SpaceError, match="base"):
        load_space("transnas-macro", base=6)
    e = macro.parse("64-1234-basic")
    e[8] += 1   # a width that does not follow from the digits
    with pytest.raises(SpaceError, match="invalid encoding"):
        macro.check_encodings(e[None])
    # the three tasks without a bundled table ask for --truth
    for task in ("jigsaw", "room_layout", "segmentsemantic"):
        with pytest.raises(SpaceError, match="--truth"):
            check_dataset("transnas-micro", task)
        assert check_dataset("transnas-macro", task, have_truth_file=True) == task


def test_macro_program_budget_on_the_whole_space():
    sp = load_space("transnas-macro")
    encs, _ = sp.load_truth("normal")
    b = sp.bucket_of(encs)
    assert len(set(b.tolist())) <= 4 * sp.max_programs
    for i in np.random.default_rng(0).choice(len(encs), 50, replace=False):   # each fits its program
        runs, widths = sp.signature(encs[i])
        net = sp.module(b[i])
        assert len(net.runs) == len(runs) and all(r <= m for r, m in zip(runs, net.runs))
        assert all(w <= m for w, m in zip(widths, net.widths))


# ------------------------------------------------------------------ CLI

def run(args, cwd):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "eproxy_jax", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)


def test_cli_truth_files_and_errors(tmp_path):
    good = [["64-41414-1_23_013", 0.5], ["64-41414-3_33_333", 0.7], ["64-41414-0_00_000", 0.1]]
    (tmp_path / "jig.json").write_text(json.dumps(good))
    r = run(["score", "transnas-micro", "--dataset", "jigsaw", "--truth", str(tmp_path / "jig.json"), "--json",
             "--space-option", "base=4", "--space-option", "input_size=16", "--space-option", "target_size=4"], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["space"] == "transnas-micro" and res["n"] == 3 and res["programs"] == 1
    bad = good + [["64-41414-1_23", 0.3]]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r = run(["score", "transnas-micro", "--dataset", "jigsaw", "--truth", str(tmp_path / "bad.json")], tmp_path)
    assert r.returncode == 2 and "#3" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run(["score", "transnas-macro", "--dataset", "room_layout", "--limit", "4"], tmp_path)
    assert r.returncode == 2 and "--truth" in r.stderr and "Traceback" not in r.stderr


def test_cli_macro_bundled_task(tmp_path):
    # max_programs=1: one program per stride count (the 3 drawn networks have two), for the compile time
    r = run(["score", "transnas-macro", "--dataset", "autoencoder", "--limit", "3", "--json",
             "--setting", '{"c_out": [8, 8, 8], "c_last": [8, 8, 8]}', "--space-option", "max_programs=1",
             "--space-option", "base=4", "--space-option", "input_size=16", "--space-option", "target_size=4"], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    sp = load_space("transnas-macro", base=4, input_size=16, target_size=4, max_programs=1)
    from eproxy_jax.cli.common import draw_limit
    drawn, _ = draw_limit(*sp.load_truth("autoencoder"), 3, 0)   # the CLI's --limit 3 draw
    strides = {len(sp.signature(e)[0]) for e in drawn}
    assert res["n"] == 3 and res["programs"] == len(strides) == 2 and np.isfinite(res["spearman"])
