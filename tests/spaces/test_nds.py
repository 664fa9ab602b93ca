"""NDS cell spaces: reading the release's JSON (list or top/mid), every op of every op set from
the hand-made fixtures (tests/data/nds, written by make_fixtures.py), one program per
(width, depth), the missing-truth hint, and `eproxy score` end to end."""
import json

import numpy as np
import pytest

import spaces
from spaces import SpaceError, load_space
from spaces.nds import FAMILIES
from conftest import DATA

NDS = DATA / "nds"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fixture_reads_round_trips_and_covers_every_op(name):
    ops, n_nodes, file = FAMILIES[name]
    sp = load_space(name)
    enc, acc = sp.load_truth(path=NDS / file)
    raw = json.loads((NDS / file).read_text())
    records = raw if isinstance(raw, list) else raw["top"] + raw["mid"]
    assert enc.shape == (len(records), 10 * n_nodes + 2)
    np.testing.assert_allclose(acc, [100 - r["test_ep_top1"][-1] for r in records])
    used = set()
    for e, rec in zip(enc, records):
        g = sp.genotype(e)
        want = rec["net"]["genotype"]
        assert g["normal"] == want["normal"] and g["reduce"] == want["reduce"]
        assert g["normal_concat"] == sorted(want["normal_concat"]) and g["reduce_concat"] == sorted(want["reduce_concat"])
        assert (g["width"], g["depth"]) == (rec["net"]["width"], rec["net"]["depth"])
        np.testing.assert_array_equal(sp.parse(sp.arch_id(e)), e)
        np.testing.assert_array_equal(sp.parse(rec["net"]), e)
        used |= {op for op, _ in g["normal"] + g["reduce"]}
    assert used == set(ops)
    sp.check_encodings(enc)
    buckets = sp.bucket_of(enc)
    assert set(buckets.tolist()) == {sp.bucket_key(w, d) for w, d in sp.sizes(enc)}   # depths < 6: exact
    assert (sp.macs(enc) > 0).all()


def test_missing_truth_says_where_to_get_it():
    with pytest.raises(SpaceError, match="facebookresearch/nds.*--truth PATH/DARTS.json"):
        spaces.check_dataset("nds-darts", None)
    with pytest.raises(SpaceError, match="--truth PATH/PNAS_in.json"):
        load_space("nds-pnas-in").load_truth()
    assert spaces.check_dataset("nds-darts", None, have_truth_file=True) == "cifar10"
    assert spaces.info("nds-amoeba-in").default_dataset == "imagenet"


@pytest.mark.parametrize("bad, match", [
    ({"net": {"genotype": {"normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["bogus_op", 0]] * 8},
              "width": 4, "depth": 3}}, "bogus_op"),
    ({"net": {"genotype": {"normal": [["sep_conv_3x3", 0]] * 7, "reduce": [["sep_conv_3x3", 0]] * 8},
              "width": 4, "depth": 3}}, "8 \\(op, input\\) pairs"),
    ({"net": {"genotype": {"normal": [["sep_conv_3x3", 3]] * 8, "reduce": [["sep_conv_3x3", 0]] * 8},
              "width": 4, "depth": 3}}, "must read a state"),
    ({"net": {"genotype": {"normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["sep_conv_3x3", 0]] * 8},
              "width": 5, "depth": 3}}, "even"),
    ({"net": {"genotype": {"normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["sep_conv_3x3", 0]] * 8,
                           "normal_concat": [0, 2]}, "width": 4, "depth": 3}}, "intermediate nodes"),
    ({"net": {"width": 4}}, "no genotype"),
    ("[1, 2", "JSON expected"),
])
def test_bad_records(bad, match):
    with pytest.raises(SpaceError, match=match):
        load_space("nds-darts").parse(bad)


def test_file_errors(tmp_path):
    sp = load_space("nds-darts")
    for content, match in (("{}", "expected"), ("[]", "non-empty"), ('[{"net": 1}]', "test_ep_top1"),
                           ('[{"foo": 1, "test_ep_top1": [3]}]', "no 'net'")):
        f = tmp_path / "x.json"
        f.write_text(content)
        with pytest.raises(SpaceError, match=match):
            sp.load_truth(path=f)


@pytest.mark.slow
def test_cli_scores_an_nds_space(tmp_path):
    """`eproxy score` on an NDS file (the fix-w-d fixture: one size, so one program; spaces
    with several sizes run one program per size, see `bucket_of` above and the engine's
    bucket tests on NB101)."""
    from conftest import run_cli as run
    setting = tmp_path / "s.json"
    setting.write_text(json.dumps({"c_out": [8, 8, 8], "c_last": [8, 8, 8]}))
    out = tmp_path / "r.csv"
    r = run(["score", "nds-enas-fix-w-d", "--truth", str(NDS / "ENAS_fix-w-d.json"), "--limit", "8", "--chunk", "2", "--setting",
             str(setting), "--space-option", "input_size=16", "--json", "--quiet", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["space"] == "nds-enas-fix-w-d" and res["n"] == 6 and res["diverged"] == 0
    assert res["programs"] == 1 and isinstance(res["spearman"], float)
    # without the file: one line saying where to get it, exit 2
    r = run(["score", "nds-pnas", "--limit", "8"], tmp_path)
    assert r.returncode == 2 and "facebookresearch/nds" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_dps_runs_over_several_network_shapes():
    """DPS settings on architectures of several network shapes: one program per shape, each
    architecture scored as the engine scores it (the shape's program, the same proxy seed)."""
    from eproxy_jax.dps_eval import Evaluator
    from eproxy_jax.engine import Engine
    sp = load_space("nds-resnet", input_size=16, max_programs=2)
    enc, _ = sp.load_truth(path=NDS / "ResNet.json")
    enc = enc[[0, 1]]
    shapes = set(sp.bucket_of(enc).tolist())
    assert len(shapes) > 1
    images = np.random.default_rng(0).standard_normal((16, 16, 16, 3)).astype(np.float32)
    ev = Evaluator(sp, enc, images, seed=0, buckets=((3, 3, 16, 16),), batch=1)
    assert ev.parts is not None and len(ev.parts) == len(shapes)
    setting = {"c_out": [16, 16, 16], "c_last": [16, 16, 16]}
    got = ev.scores([setting])[0]
    from eproxy_jax.setting import ProxySetting
    want = Engine(sp, ProxySetting.from_dict(setting), [0], images, chunk=1).score(enc)[:, 0]
    np.testing.assert_allclose(got, want, rtol=2e-3)
    assert not sp.module_fits_all and load_space("nb101").module_fits_all


def test_program_budget_over_widths_and_depths():
    sp = load_space("nds-darts", max_programs=2)
    base = json.loads((NDS / "DARTS.json").read_text())[0]["net"]
    sizes = ((4, 6), (4, 7), (6, 9), (8, 20), (8, 19), (8, 18), (6, 4), (4, 4))
    enc = np.stack([sp.parse(dict(base, width=w, depth=d)) for w, d in sizes])
    shapes = [sp.bucket_shape(k) for k in sp.bucket_of(enc)]
    assert shapes[:3] == [(6, 9, True, True)] * 3 and shapes[3:6] == [(8, 20, True, False)] * 3
    assert shapes[6:] == [(6, 4, False, False), (4, 4, False, False)]   # depth < 6: exact
    for (w, d), (W, D, md, mw) in zip(sizes, shapes):
        assert w <= W and d <= D and (md or d == D) and (mw or w == W)
    one = load_space("nds-darts", max_programs=1)
    assert len(set(one.bucket_of(enc[:6]).tolist())) == 1


def _mapped_params(padded, padded_net, exact_net, w):
    """The exact network's parameters cut from the padded (wider, deeper) network's: cells
    matched by (stage, index in stage), channels by position (cell outputs slot by slot)."""
    import jax
    from spaces.cellnet import stage_slots
    W = padded_net.width
    where = {slot: i for i, slot in enumerate(stage_slots(padded_net.depth))}
    plan = exact_net.plan()

    def cut(a, name, cell=None):
        a = np.asarray(a)
        if name in ("scale", "bias"):
            return a[..., : a.shape[-1] * w // W]
        cin, cout = a.shape[-2:]
        a = a[..., : cout * w // W]
        if cell is not None and name in ("pre0", "pre1", "pre0_fr1", "pre0_fr2"):
            cc, red, red_prev, pp, p = plan[cell]
            producer = p if name.startswith("pre1") else pp
            if producer >= 0:   # reads a cell output: n slots of (padded) width
                slot = exact_net.plan()[producer][0]
                pad_slot = slot * W // w
                idx = np.concatenate([np.arange(k * pad_slot, k * pad_slot + slot) for k in range(exact_net.n_nodes)])
                return a[..., idx, :]
        if name in ("stem", "stem0a") or name.endswith(("_dw", "_dw1", "_dw2")):   # image / depthwise inputs
            return a
        return a[..., : cin * w // W, :]

    out = {}
    for k, v in padded.items():
        if not k.startswith("cell"):
            out[k] = {n: cut(a, k if n == "kernel" else n) for n, a in v.items()}
    for i, slot in enumerate(stage_slots(exact_net.depth)):
        src = padded[f"cell{where[slot]}"]
        cell = {}
        for k, v in src.items():
            if k in ("ops", "ops_s2"):
                cell[k] = {op: {n: cut(a, op if n == "kernel" else n) for n, a in part.items()} for op, part in v.items()}
            else:
                cell[k] = {n: cut(a, k if n == "kernel" else n, i) for n, a in v.items()}
        out[f"cell{i}"] = cell
    return jax.tree_util.tree_map(np.asarray, out)


def _real_channels(feat, exact_channels, W, w, n_nodes):
    slot = exact_channels // n_nodes
    pad_slot = slot * W // w
    idx = np.concatenate([np.arange(k * pad_slot, k * pad_slot + slot) for k in range(n_nodes)])
    return np.asarray(feat)[..., idx], np.delete(np.asarray(feat), idx, axis=-1)


@pytest.mark.parametrize("skeleton", ["cifar", "imagenet"])
@pytest.mark.slow
def test_masked_width_and_depth_equal_the_exact_network(skeleton):
    """A width-8, depth-9 program with channels masked and cells skipped computes the
    narrower/shallower networks on the same weights (cut channel by channel, cell by cell),
    and its init rescaling matches theirs."""
    import jax
    import jax.numpy as jnp
    from eproxy_jax.nn import initializers
    sp = load_space("nds-amoeba", input_size=16, skeleton=skeleton)
    base = json.loads((NDS / "Amoeba.json").read_text())[1]["net"]   # short concats
    # 4 images: the ImageNet skeleton's last maps are 1x1 at 16 px, and BN statistics over 2
    # numbers amplify rounding differences between the padded and exact sums
    images = jnp.asarray(np.random.default_rng(0).standard_normal((4, 16, 16, 3)), jnp.float32)
    padded = sp.module(sp.bucket_key(8, 9, True, True))
    e9 = jnp.asarray(sp.parse(dict(base, width=8, depth=9)))
    p9 = initializers.init_tree(jax.random.PRNGKey(1), padded.init(jax.random.PRNGKey(0), images, e9)["params"], 4)
    rng = np.random.default_rng(1)
    p9 = jax.tree_util.tree_map_with_path(   # non-trivial BN affine parameters
        lambda path, a: a * (1 + 0.3 * rng.standard_normal(a.shape)) + (0.2 * rng.standard_normal(a.shape)
                                                                         if path[-1].key == "bias" else 0), p9)
    run = jax.jit(lambda p, e: padded.apply({"params": p}, images, e))
    # a narrower and shallower network, and a narrower one at full depth (each width is new
    # shapes for the eager exact build: two cases keep the test's compile time down)
    for w, d in ((6, 7), (4, 9)):
        e = jnp.asarray(sp.parse(dict(base, width=w, depth=d)))
        exact = sp.module(sp.bucket_key(w, d))
        p = _mapped_params(p9, padded, exact, w)
        want = exact.apply({"params": p}, images, e)
        for got, ref in zip(run(p9, e), want):
            real, rest = _real_channels(got, ref.shape[-1], 8, w, sp.n_nodes)
            np.testing.assert_allclose(real, np.asarray(ref), rtol=2e-3, atol=2e-3 * max(1.0, np.abs(ref).max()))
            assert not rest.any()
        assert np.abs(np.asarray(want[0])).max() > 0.1
        # init: the padded kernels were drawn at padded fans; rescaled, they are the exact network's
        # rescaled kernels times sqrt(padded fan-in / exact fan-in) under PyTorch's default
        # (U(+-1/sqrt(fan_in))): W/w for every width-scaled input, 1 for the image and depthwise inputs
        got_init = _mapped_params(jax.jit(padded.adapt_params, static_argnums=2)(p9, e, 4), padded, exact, w)

        def check(path, a, b):
            keys = [k.key for k in path]
            fixed_in = keys[0] == "stem0a" or keys[0] == "stem" or keys[-2].endswith(("_dw", "_dw1", "_dw2"))
            want = 1.0 if fixed_in or keys[-1] != "kernel" else np.sqrt(8 / w)
            np.testing.assert_allclose(np.asarray(a) / want, np.asarray(b), rtol=1e-5, err_msg=str(keys))
        jax.tree_util.tree_map_with_path(check, got_init, exact.adapt_params(p, e, 4))
    assert run._cache_size() == 1
