"""The Python API (`import eproxy_jax as ep`): the forms of its arguments and what it returns."""
import json

import numpy as np
import pytest

from conftest import TINY_SETTING

import eproxy_jax as ep
from eproxy_jax import metrics
from eproxy_jax.engine import Engine


@pytest.fixture(scope="module")
def space_setting():
    """TINY_SETTING over nb201's default (alpha 0.2), as the API and `--setting` read a partial setting."""
    from eproxy_jax.setting import ProxySetting
    s = ProxySetting.from_dict({"alpha": 0.2, **TINY_SETTING})
    assert float(s.alpha) == np.float32(0.2)
    return s


@pytest.fixture(scope="module")
def per_seed(tiny_space, space_setting, tiny_images, sample_encodings):
    """Engine scores of the four sample cells under seeds 0 and 1 (the reference)."""
    return Engine(tiny_space, space_setting, [0, 1], tiny_images).score(sample_encodings)


def test_score_per_seed_takes_strings_a_seed_list_and_a_dict(tiny_space, tiny_images, sample_encodings, per_seed):
    strings = [tiny_space.arch_id(e) for e in sample_encodings]
    got = ep.score_per_seed(tiny_space, strings, setting=dict(TINY_SETTING), seeds=[0, 1], images=tiny_images)
    assert got.shape == (4, 2)
    np.testing.assert_array_equal(got, per_seed)
    assert np.isposinf(got[2]).all()            # the all-`none` cell ignores its input


def test_score_is_the_seed_mean_and_a_json_setting_equals_the_dict(tmp_path, tiny_space, tiny_images,
                                                                  sample_encodings, per_seed):
    path = tmp_path / "setting.json"
    path.write_text(json.dumps(TINY_SETTING))
    got = ep.score(tiny_space, sample_encodings, setting=str(path), seeds=2, images=tiny_images)
    np.testing.assert_allclose(got, per_seed.astype(np.float64).mean(1), rtol=1e-12)
    assert np.isposinf(got[2])


def test_evaluate_reports_rank_metrics_of_the_mean(tiny_space, space_setting, tiny_images, sample_encodings,
                                                   per_seed):
    truth = np.array([70.0, 60.0, 10.0, 65.0])
    res = ep.evaluate(tiny_space, sample_encodings, truth, setting=space_setting, seeds=2, images=tiny_images)
    mean = per_seed.astype(np.float64).mean(1)
    assert res["dead"] == 1 and res["diverged"] == 0
    np.testing.assert_allclose(res["scores"], mean, rtol=1e-12)
    assert res["spearman"] == pytest.approx(metrics.spearman(mean, truth))
    assert res["kendall"] == pytest.approx(metrics.kendall(mean, truth))
    assert res["spearman_per_seed"] == pytest.approx([metrics.spearman(per_seed[:, k], truth) for k in range(2)])


def test_bad_setting_field_is_a_clear_error(tiny_space, sample_encodings):
    with pytest.raises(ValueError, match="lrr"):
        ep.score(tiny_space, sample_encodings, setting={"lrr": 1.0})


def test_run_dps_parses_archs_and_hands_the_run_its_arguments(monkeypatch, tiny_space, sample_encodings):
    """`ep.run_dps` takes architectures in any form the space parses (a real run: the explore
    notebook's test); what reaches the DPS loop is the encodings, float truths and the options."""
    from eproxy_jax import dps_run
    seen = {}
    monkeypatch.setattr(dps_run, "run", lambda *a, **kw: seen.update(args=a, kw=kw) or {"setting": {}})
    strings = [tiny_space.arch_id(e) for e in sample_encodings]
    ep.run_dps(tiny_space, strings[:3], [1, 2, 3], strings[3:], [4], cycles=5, population=4, sample=9, seed=2)
    sp, tr, tt, ev, et = seen["args"]
    assert sp is tiny_space and tt.dtype == np.float64 and et.tolist() == [4.0]
    np.testing.assert_array_equal(tr, sample_encodings[:3])
    np.testing.assert_array_equal(ev, sample_encodings[3:])
    assert (seen["kw"]["cycles"], seen["kw"]["population"], seen["kw"]["sample"], seen["kw"]["seed"]) == (5, 4, 4, 2)
    ep.run_dps(tiny_space, sample_encodings, [1, 2, 3, 4])
    assert seen["args"][3] is None and seen["args"][4] is None


def test_draw_architecture_writes_the_drawing(tmp_path, tiny_space, sample_encodings):
    png = ep.draw_architecture(tiny_space, tiny_space.arch_id(sample_encodings[0]), tmp_path / "cell.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    svg = ep.draw_architecture(tiny_space, sample_encodings[1], tmp_path / "cell.svg")
    assert b"<svg" in svg.read_bytes()[:500]
