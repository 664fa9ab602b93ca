"""NAS-Bench-MR (`spaces.nbmr`): the padded, masked program against a literal float64 build of
the exact network on the same weights (branch growth and shrinkage, every block count, the
fewest modules), records round-tripping, bad records naming their index and field, CLI."""
import gzip
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax.nn import ops
from literal import f64, np_bn, np_conv, random_params, relu
from spaces import SpaceError, check_dataset, load_space
from conftest import NBMR_RECORDS, ROOT

REPO = ROOT








def np_bilinear(x, size):
    """PyTorch's F.interpolate(bilinear, align_corners=False), pixel by pixel."""
    n, h, w, c = x.shape
    out = np.zeros((n, size, size, c))
    for oy in range(size):
        for ox in range(size):
            sy = max((oy + 0.5) * h / size - 0.5, 0.0)
            sx = max((ox + 0.5) * w / size - 0.5, 0.0)
            y0, x0 = min(int(np.floor(sy)), h - 1), min(int(np.floor(sx)), w - 1)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            ly, lx = sy - y0, sx - x0
            out[:, oy, ox] = ((1 - ly) * ((1 - lx) * x[:, y0, x0] + lx * x[:, y0, x1])
                              + ly * ((1 - lx) * x[:, y1, x0] + lx * x[:, y1, x1]))
    return out




def literal(images, rec, p, modules, target):
    """MultiResolutionNet's forward at its exact widths, weights cut from the padded `p`."""
    c0, c1 = rec["input_channel"]
    x = relu(np_bn(np_conv(images, p["stem0"]["kernel"][..., :c0], 2), p["stem0_bn"], c0))
    x = relu(np_bn(np_conv(x, p["stem1"]["kernel"][..., :c0, :c1], 2), p["stem1_bn"], c1))
    xs, n_in, ch_in = [x], 1, [c1]
    setting = rec["inverted_residual_setting"]
    outs = []
    for k, (n, blocks, chans) in enumerate(setting):
        sp = jax.tree_util.tree_map(lambda a, s=modules - len(setting) + k: a[s], p["modules"]["slot"])
        ys = []
        for i in range(n):
            if i < min(n_in, n):
                acc = 0
                for j in (i - 1, i, i + 1):
                    if not 0 <= j < n_in:
                        continue
                    t = np_conv(xs[j], sp[f"f{i}{j}"]["kernel"][..., :ch_in[j], :chans[i]], 2 if j == i - 1 else 1)
                    t = relu(np_bn(t, sp[f"f{i}{j}_bn"], chans[i]))
                    if j == i + 1:
                        t = np_bilinear(t.repeat(2, 1).repeat(2, 2), xs[i].shape[1] if i < n_in else t.shape[1])
                    acc = acc + t
                ys.append(relu(acc))
            else:
                t = np_conv(ys[i - 1], sp[f"hr{i}"]["kernel"][..., :chans[i - 1], :chans[i]], 2)
                ys.append(relu(np_bn(t, sp[f"hr{i}_bn"], chans[i])))
        for i in range(n):
            y = ys[i]
            for b in range(blocks[i]):
                bp = jax.tree_util.tree_map(lambda a, b=b: a[b], sp[f"branch{i}"]["block"])
                a = relu(np_bn(np_conv(y, bp["a"]["kernel"][..., :chans[i], :chans[i]]), bp["a_bn"], chans[i]))
                y = relu(np_bn(np_conv(a, bp["b"]["kernel"][..., :chans[i], :chans[i]]), bp["b_bn"], chans[i]) + y)
            ys[i] = y
        xs, n_in, ch_in = ys, n, chans
        outs.append(xs)
    return xs, outs




RECORDS = NBMR_RECORDS


def test_masked_program_equals_the_literal_network():
    sp = load_space("nbmr", modules=6, max_programs=1, input_size=16, target_size=4)
    encs = np.stack([sp.parse(r) for r in RECORDS])
    b = sp.bucket_of(encs)
    assert b[0] == b[1]
    net = sp.module(b[0])
    W = net.widths
    images = np.random.default_rng(0).standard_normal((4, 16, 16, 3))
    jimg = jnp.asarray(images, jnp.float32)
    p = random_params(net, jimg, jnp.asarray(encs[0]))
    run = jax.jit(lambda p, e: net.apply({"params": p}, jimg, e))
    pf = f64(p)
    for rec, enc in zip(RECORDS, encs):
        last, outs = literal(images, rec, pf, 6, 4)
        got = [np.asarray(g) for g in run(p, jnp.asarray(enc))]
        assert [g.shape[-1] for g in got] == [net.last_w, sum(W), sum(W)]
        # the transform: final branches resized to branch 0's size, concatenated, 1x1 ConvBNReLU
        rows = np.concatenate([sum(W[:i]) + np.arange(c) for i, c in enumerate(rec["inverted_residual_setting"][-1][2])])
        cat = np.concatenate([np_bilinear(y, last[0].shape[1]) for y in last], -1)
        kern = pf["transform"]["kernel"][0, 0][rows][:, :rec["last_channel"]]
        t = relu(np_bn(cat @ kern, pf["transform_bn"], rec["last_channel"]))
        want = [np_bilinear(t, 4)]
        for entry in (outs[-2], outs[-3]):
            want.append(np.concatenate([np_bilinear(y, 4) for y in entry], -1))
        for g, w, chans in zip(got, want, [[rec["last_channel"]]] + [[y.shape[-1] for y in outs[k]] for k in (-2, -3)]):
            widths = [g.shape[-1]] if len(chans) == 1 else list(W)
            real = np.concatenate([sum(widths[:i]) + np.arange(c) for i, c in enumerate(chans)])
            np.testing.assert_allclose(g[..., real], w, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(w).max()))
            rest = np.ones(g.shape[-1], bool)
            rest[real] = False
            assert not g[..., rest].any()


def test_bilinear_matches_pytorch_formula():
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3))
    for size in (1, 2, 3, 8, 11):
        np.testing.assert_allclose(np.asarray(ops.resize_bilinear(jnp.asarray(x), size)), np_bilinear(x, size), atol=1e-5)


def test_records_round_trip_and_tasks():
    sp = load_space("nbmr")
    tables = {t: json.loads(gzip.open(REPO / f"spaces/data/nbmr_{t}.json.gz").read())
              for t in ("cls-10-1000", "cls-10c", "cls-50-100", "cls-50-1000", "seg")}
    recs = [r for r, _ in tables["seg"]]
    assert len(recs) == 2507 and all([r for r, _ in t] == recs for t in tables.values())
    encs = sp.encode_many(recs)
    assert [json.loads(sp.arch_id(e)) for e in encs] == recs
    sp.check_encodings(encs[:200])
    encs2, truth = sp.load_truth("cls-10c")
    np.testing.assert_array_equal(encs, encs2)
    assert truth.shape == (2507,) and np.isfinite(sp.macs(encs[:50])).all()
    b = sp.bucket_of(encs)
    assert len(set(b.tolist())) <= sp.max_programs
    for task in ("seg-4x", "3ddet", "video", "video-p"):
        with pytest.raises(SpaceError, match="--truth"):
            check_dataset("nbmr", task)


def test_bad_records_name_the_field():
    sp = load_space("nbmr")
    good = RECORDS[0]
    cases = [({k: v for k, v in good.items() if k != "last_channel"}, "last_channel"),
             (dict(good, input_channel=[4]), "input_channel"),
             (dict(good, inverted_residual_setting=good["inverted_residual_setting"][:2]), "inverted_residual_setting"),
             (dict(good, inverted_residual_setting=good["inverted_residual_setting"][:2] + [[2, [1], [4, 4]]]), "entry 2"),
             (dict(good, inverted_residual_setting=good["inverted_residual_setting"][:2] + [[5, [1] * 5, [4] * 5]]), "entry 2"),
             (dict(good, last_channel=0), "last_channel")]
    for rec, field in cases:
        with pytest.raises(SpaceError, match=field):
            sp.parse(rec)


def run(args, cwd):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "eproxy_jax", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)


def test_cli_truth_file_and_malformed_record(tmp_path):
    f = tmp_path / "video.json"
    f.write_text(json.dumps([[RECORDS[0], 50.0], [RECORDS[1], 60.0], [dict(RECORDS[0], last_channel=4), 40.0]]))
    r = run(["score", "nbmr", "--dataset", "video", "--truth", str(f), "--json", "--space-option", "modules=6",
             "--space-option", "input_size=16", "--space-option", "target_size=4"], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["n"] == 3 and res["programs"] >= 1 and res["spearman"] is not None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([[RECORDS[0], 1.0], [{"input_channel": [8, 8], "inverted_residual_setting": []}, 2.0]]))
    r = run(["score", "nbmr", "--dataset", "video", "--truth", str(bad)], tmp_path)
    assert r.returncode == 2 and "record #1" in r.stderr and "last_channel" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
