"""setting_spec validation and the ProxySetting pytree."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax import setting_spec as spec
from eproxy_jax.setting import ProxySetting
from eproxy_jax.setting_spec import SettingError


def test_defaults_are_the_papers():
    v = spec.validate({})
    assert v["lr"] == 1.0 and v["momentum"] == 0.9 and v["weight_decay"] == 1e-5
    assert v["steps"] == 10 and v["alpha"] == 0.0
    assert v["branches"] == 3
    assert v["head_kernel"] == [1, 1, 1] and v["c_out"] == [128, 128, 128]
    assert v["barrier_kernel"] == [3, 3, 3] and v["c_last"] == [128, 128, 128]
    assert v["signals"] == [["wave_h"]] * 3
    assert v["level"] == [1.0, 1.0, 1.0]
    assert v["init"] == "pytorch_default" and v["barrier_init"] == "pytorch_default"
    s = ProxySetting.default()
    assert s.shape_key == (3, (1, 1, 1), (3, 3, 3), (128, 128, 128), (128, 128, 128), 10)
    np.testing.assert_array_equal(s.signal_mask, [[0, 0, 0, 1, 0]] * 3)  # wave_h
    assert float(s.lr) == 1.0 and abs(float(s.weight_decay) - 1e-5) < 1e-12
    assert int(s.init) == spec.INIT_NAMES.index("pytorch_default")


def test_validate_normalises():
    v = spec.validate({"branches": 2, "signals": "dot", "level": 2, "c_out": [16, 32, 64],
                       "_comment": "ignored"})
    assert v["signals"] == [["dot"], ["dot"]]  # a scalar applies to every branch
    assert v["level"] == [2.0, 2.0]
    assert v["c_out"] == [16, 32]             # extra entries beyond `branches` dropped
    v = spec.validate({"branches": 1, "signals": [["dot", "net", "dot", "wave_l"]]})
    assert v["signals"] == [["net", "wave_l", "dot"]]  # canonical order, no duplicates
    v = spec.validate({"signals": ["wave_m", "wave_h"]})  # a flat list of names = one subset for all
    assert v["signals"] == [["wave_m", "wave_h"]] * 3
    assert spec.validate({"steps": 5.0})["steps"] == 5 and isinstance(spec.validate({"steps": 5.0})["steps"], int)


@pytest.mark.parametrize("bad,field", [
    ({"learning_rate": 1.0}, "learning_rate"),           # unknown field
    ({"lr": "fast"}, "lr"),                              # bad type
    ({"lr": None}, "lr"),
    ({"steps": True}, "steps"),                          # bool is not a number
    ({"steps": 2.5}, "steps"),                           # not an integer
    ({"lr": float("nan")}, "lr"),
    ({"momentum": 1.5}, "momentum"),                     # out of range
    ({"head_kernel": [1, 2, 1]}, "head_kernel[1]"),      # even kernel
    ({"barrier_kernel": 4}, "barrier_kernel[0]"),
    ({"signals": [["wave_h"], ["sine"], ["dot"]]}, "signals[1]"),  # unknown signal
    ({"signals": [[], ["dot"], ["dot"]]}, "signals[0]"),             # empty signal list
    ({"init": "he"}, "init"),                            # unknown init
    ({"barrier_init": "orthogonal"}, "barrier_init"),
    ({"branches": 4}, "branches"),                       # too many branches
    ({"branches": 0}, "branches"),
    ({"c_out": [128, 0, 128]}, "c_out[1]"),              # channel out of range
    ({"c_last": [128, 128, 5000]}, "c_last[2]"),
    ({"level": [1.0, 1.0]}, "level"),                    # too few per-branch entries
    ({"c_out": [16]}, "c_out"),
])
def test_invalid_fields_raise_one_line(bad, field):
    with pytest.raises(SettingError) as e:
        spec.validate(bad)
    msg = str(e.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    assert field in msg, msg
    with pytest.raises(SettingError):
        ProxySetting.from_dict(bad)


def test_not_a_dict_and_files(tmp_path):
    with pytest.raises(SettingError):
        spec.validate([1, 2])
    with pytest.raises(SettingError, match="not found"):
        spec.load(tmp_path / "missing.json")
    p = tmp_path / "bad.json"
    p.write_text("{lr: 1")
    with pytest.raises(SettingError) as e:
        spec.load(p)
    assert "\n" not in str(e.value)
    p.write_text(json.dumps({"setting": {"lr": 0.7, "branches": 1}, "fitness": 0.5}))  # DPS result file
    assert spec.load(p)["lr"] == 0.7 and spec.load(p)["branches"] == 1


def test_inline_json_setting():
    d = spec.load(' {"lr": 1.2, "weight_decay": 4e-5}')
    assert d["lr"] == 1.2 and d["weight_decay"] == 4e-5
    assert {k: v for k, v in d.items() if k not in ("lr", "weight_decay")} == \
        {k: v for k, v in spec.validate({}).items() if k not in ("lr", "weight_decay")}
    with pytest.raises(SettingError, match="inline setting is not valid JSON") as e:
        spec.load('{"lr": 1.2')
    assert "\n" not in str(e.value)
    with pytest.raises(SettingError, match="unknown setting field 'colour'"):
        spec.load('{"colour": "red"}')


CUSTOM = {
    "lr": 0.7, "momentum": 0.85, "weight_decay": 4e-5, "steps": 6, "alpha": -0.3, "branches": 2,
    "signals": [["net", "wave_l"], ["dot"]], "head_kernel": [3, 1], "barrier_kernel": [7, 1],
    "c_out": [16, 64], "c_last": [32, 512], "level": [1.5, 0.5],
    "init": "kaiming_normal", "barrier_init": "xavier_uniform",
}


def test_round_trip_through_json(tmp_path):
    s = ProxySetting.from_dict(CUSTOM)
    d = s.to_dict()
    assert set(d) == set(spec.FIELDS)
    for k, v in CUSTOM.items():
        if isinstance(v, float):
            assert abs(d[k] - v) < 1e-6 * max(1.0, abs(v)), k
        else:
            assert d[k] == v, k
    text = json.dumps(d)
    s2 = ProxySetting.from_dict(json.loads(text))
    assert s2.to_dict() == d
    chex.assert_trees_all_equal(s, s2)
    assert s2.shape_key == s.shape_key
    # through a file, as the CLI reads it
    p = tmp_path / "s.json"
    p.write_text(spec.dumps(d))
    chex.assert_trees_all_equal(ProxySetting.load(p), s)
    assert ProxySetting.load(p).to_dict() == d


def test_value_genes_share_structure_shape_genes_do_not():
    base = ProxySetting.from_dict(CUSTOM)
    value_changes = [
        {"lr": 1.3}, {"alpha": 0.5}, {"level": [2.0, 1.0]}, {"signals": [["wave_h"], ["net", "dot"]]},
        {"init": "xavier_normal"}, {"barrier_init": "kaiming_uniform"}, {"momentum": 0.5},
        {"weight_decay": 0.0},
    ]
    treedef = jax.tree_util.tree_structure(base)
    shapes = [np.shape(x) for x in jax.tree_util.tree_leaves(base)]
    for change in value_changes:
        s = ProxySetting.from_dict(dict(CUSTOM, **change))
        assert s.to_dict() != base.to_dict(), change
        assert s.shape_key == base.shape_key, change
        assert jax.tree_util.tree_structure(s) == treedef, change
        assert [np.shape(x) for x in jax.tree_util.tree_leaves(s)] == shapes, change
    shape_changes = [{"c_last": [32, 256]}, {"c_out": [32, 64]}, {"head_kernel": [1, 1]},
                     {"barrier_kernel": [7, 3]}, {"steps": 7}, {"branches": 1}]
    for change in shape_changes:
        s = ProxySetting.from_dict(dict(CUSTOM, **change))
        assert s.shape_key != base.shape_key, change
        assert jax.tree_util.tree_structure(s) != treedef, change


def test_value_genes_do_not_retrace():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(s):
        return s.lr * jnp.sum(s.level) + s.alpha + jnp.sum(s.signal_mask) + s.init

    base = f(ProxySetting.from_dict(CUSTOM))
    other = f(ProxySetting.from_dict(dict(CUSTOM, lr=1.3, alpha=0.5, level=[2.0, 1.0],
                                          signals=[["wave_h"], ["net", "dot"]], init="xavier_normal")))
    assert abs(float(other) - (1.3 * 3.0 + 0.5 + 3 + 1)) < 1e-5
    assert abs(float(base) - (0.7 * 2.0 - 0.3 + 3 + 3)) < 1e-5
