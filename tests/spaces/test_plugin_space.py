"""A space from another installed package (entry-point group `eproxy_jax.spaces`): a tiny
plugin package with its dist-info, as `pip install --target` lays it out, is found by the
registry, scored by the CLI like a built-in space; a broken plugin and one that takes a
built-in name are left out with a warning and never break the registry."""
import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

import spaces
from conftest import ROOT, TINY_SETTING

ARCHS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
         "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"]


@pytest.fixture
def plugin_dir(tmp_path):
    """site-like folder: the package `eproxy_demo_plugin` and its dist-info with entry points."""
    pkg = tmp_path / "eproxy_demo_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from pathlib import Path
        from spaces import SpaceInfo          # the registry module: no jax import here
        SPACE_INFO = SpaceInfo(module="eproxy_demo_plugin.space", class_name="TinyNB201",
                               datasets={"demo": str(Path(__file__).parent / "truth.json")},
                               default_dataset="demo", description="a 4-channel NB201 from a plugin")
        NOT_A_SPACE = 42
    '''))
    (pkg / "space.py").write_text(textwrap.dedent('''
        from spaces.nb201 import NB201

        class TinyNB201(NB201):
            def __init__(self, name="tiny-nb201", channels=4, cells_per_stage=1, input_size=16, target_size=None):
                super().__init__(name, channels, cells_per_stage, input_size, target_size)
    '''))
    (pkg / "truth.json").write_text(json.dumps([[a, 90.0 - i] for i, a in enumerate(ARCHS)]))
    dist = tmp_path / "eproxy_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: eproxy-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[eproxy_jax.spaces]\ntiny-nb201 = eproxy_demo_plugin:SPACE_INFO\n"
                                           "broken = eproxy_demo_plugin:NOT_A_SPACE\nnb201 = eproxy_demo_plugin:SPACE_INFO\n")
    return tmp_path


def test_the_registry_adds_a_plugin_and_leaves_out_broken_ones(plugin_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_dir))
    registry = dict(spaces.REGISTRY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        added = spaces.load_plugins(registry)
    assert added == ["tiny-nb201"] and registry["tiny-nb201"].default_dataset == "demo"
    msgs = sorted(str(w.message) for w in caught)
    assert len(msgs) == 2 and all("\n" not in m for m in msgs)
    assert msgs[0].startswith("space plugin 'broken'") and "not a spaces.SpaceInfo" in msgs[0]
    assert msgs[1].startswith("space plugin 'nb201'") and "already a space" in msgs[1]
    assert registry["nb201"] is spaces.REGISTRY["nb201"]          # the built-in one stays


def test_the_cli_scores_a_plugin_space(plugin_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_dir), str(ROOT)]))
    out = tmp_path / "plugin.csv"
    r = subprocess.run([sys.executable, "-m", "eproxy_jax", "score", "tiny-nb201", "--setting", json.dumps(TINY_SETTING),
                        "--out", str(out), "--json", "--quiet"], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["space"] == "tiny-nb201" and res["dataset"] == "demo" and res["n"] == 3 and res["scored"] == 3
    assert -1.0 <= res["spearman"] <= 1.0
    assert "space plugin 'broken'" in r.stderr and out.exists()
