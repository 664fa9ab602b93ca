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
    assert set(buckets.tolist()) == {w * 1000 + d for w, d in sp.sizes(enc)}
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
    assert single_bucket(fixed, enc) == 4003
    assert not sp.module_fits_all and load_space("nb101").module_fits_all
