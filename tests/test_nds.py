"""NDS cell spaces: reading the release's JSON (list or top/mid), every op of every op set from
the hand-made fixtures (tests/data/nds, written by make_fixtures.py), one program per
(width, depth), the missing-truth hint, and `eproxy score` end to end."""
import json
from pathlib import Path

import numpy as np
import pytest

import spaces
from spaces import SpaceError, load_space
from spaces.nds import FAMILIES

NDS = Path(__file__).resolve().parent / "data" / "nds"


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


def test_cli_scores_an_nds_space(tmp_path):
    """`eproxy score` on an NDS file (the fix-w-d fixture: one size, so one program; spaces
    with several sizes run one program per size, see `bucket_of` above and the engine's
    bucket tests on NB101)."""
    from test_cli import run
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


def test_dps_needs_one_network_shape():
    from eproxy_jax.dps_eval import single_bucket
    sp = load_space("nds-amoeba")
    enc, _ = sp.load_truth(path=NDS / "Amoeba.json")
    with pytest.raises(SpaceError, match="one network shape"):
        single_bucket(sp, enc)
    fixed = load_space("nds-enas-fix-w-d")
    enc, _ = fixed.load_truth(path=NDS / "ENAS_fix-w-d.json")
    assert single_bucket(fixed, enc) == fixed.bucket_key(4, 3)
    assert not sp.module_fits_all and load_space("nb101").module_fits_all


def test_depth_groups_and_budget():
    sp = load_space("nds-darts", max_programs=2)
    base = json.loads((NDS / "DARTS.json").read_text())[0]["net"]
    recs = [dict(base, width=w, depth=d) for w, d in ((4, 6), (4, 7), (4, 9), (4, 20), (4, 19), (6, 6), (4, 4))]
    enc = np.stack([sp.parse(r) for r in recs])
    b = sp.bucket_of(enc).tolist()
    shapes = [sp.bucket_shape(k) for k in b]
    assert shapes[:3] == [(4, 9, True)] * 3 and shapes[3:5] == [(4, 20, True)] * 2   # 6,7,9 | 19,20
    assert shapes[5] == (6, 6, False) and shapes[6] == (4, 4, False)                  # alone: exact; < 6: exact
    assert len(set(b)) == 4


def _mapped_params(padded_params, d, D):
    """The exact depth-d network's parameters taken from the padded depth-D network's cells
    with the same (stage, index in stage)."""
    from spaces.cellnet import stage_slots
    where = {slot: i for i, slot in enumerate(stage_slots(D))}
    out = {k: v for k, v in padded_params.items() if not k.startswith("cell")}
    for i, slot in enumerate(stage_slots(d)):
        out[f"cell{i}"] = padded_params[f"cell{where[slot]}"]
    return out


def test_masked_depth_equals_exact_depth():
    """A depth-9 program with the extra normal cells skipped computes the depth-6/7/8 networks
    (same weights, cell by cell), and its init rescaling matches theirs."""
    import jax
    import jax.numpy as jnp
    from eproxy_jax import initializers
    sp = load_space("nds-amoeba", input_size=16)
    base = json.loads((NDS / "Amoeba.json").read_text())[1]["net"]   # short concats
    images = jnp.asarray(np.random.default_rng(0).standard_normal((2, 16, 16, 3)), jnp.float32)
    padded = sp.module(sp.bucket_key(4, 9, True))
    e9 = jnp.asarray(sp.parse(dict(base, width=4, depth=9)))
    p9 = initializers.init_tree(jax.random.PRNGKey(1), padded.init(jax.random.PRNGKey(0), images, e9)["params"], 4)
    run = jax.jit(lambda p, e: padded.apply({"params": p}, images, e))
    for d in (6, 7, 8):
        e = jnp.asarray(sp.parse(dict(base, width=4, depth=d)))
        exact = sp.module(sp.bucket_key(4, d))
        p = _mapped_params(p9, d, 9)
        want = exact.apply({"params": p}, images, e)
        for got, ref in zip(run(p9, e), want):
            np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-4, atol=1e-4)
        adapted = _mapped_params(padded.adapt_params(p9, e, 4), d, 9)
        chex_close = jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), adapted,
                                            exact.adapt_params(p, e, 4))
        del chex_close
    assert run._cache_size() == 1
