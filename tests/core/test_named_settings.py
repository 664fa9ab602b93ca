"""Named settings shipped as package data (data/settings/*.json): each loads as its file says,
every space names a default, `--setting NAME` works in `eproxy score`, `eproxy settings`
lists them, an unknown name is one line and exit 2."""
import csv
import json

import numpy as np

import pytest

import spaces
from conftest import TINY_CLI
from eproxy_jax import cli, setting_spec as spec
from eproxy_jax.setting import ProxySetting

NAMES = ("authors", "default", "default_macs", "default_macs_phase", "paper")


def _file(name):
    return json.loads((spec.SETTINGS_DIR / f"{name}.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_named_settings_load_as_their_files_say(name):
    f = _file(name)
    assert set(f) == {"description", "origin", "setting"} and "\n" not in f["description"]
    loaded = spec.load(name)
    assert loaded == spec.validate(f["setting"])
    for field, value in f["setting"].items():   # every value written in the file is kept
        assert loaded[field] == value, field
    assert ProxySetting.from_dict(loaded).to_dict() == loaded   # and survives the pytree


def test_the_named_values():
    a, p = spec.load("authors"), spec.load("paper")
    assert (a["branches"], a["head_kernel"], a["barrier_kernel"], a["c_out"], a["c_last"]) == (1, [3], [3], [512], [64])
    assert a["signals"] == [["net", "wave_h"]] and (a["lr"], a["weight_decay"], a["alpha"]) == (1.2, 4e-5, 0.1)
    assert (p["lr"], p["weight_decay"]) == (1.0, 1e-5)
    assert {k: v for k, v in p.items() if k not in ("lr", "weight_decay")} == \
        {k: v for k, v in spec.validate({}).items() if k not in ("lr", "weight_decay")}
    assert spec.load("default") == spec.validate({})
    assert tuple(spec.named_settings()) == NAMES


def test_every_space_names_an_existing_default():
    table = json.loads((spec.SETTINGS_DIR / "space_defaults.json").read_text())["spaces"]
    assert set(table) == set(spaces.REGISTRY)      # an explicit entry per space
    for space in spaces.REGISTRY:
        assert spec.space_default(space) in spec.named_settings()
    assert spec.resolve(None, "nb101") == ("default", spec.validate({}))
    # nb201 and nb301 default to alpha 0.2 (measured, docs/results.md)
    for space in ("nb201", "nb301"):
        assert spec.resolve(None, space) == ("default_macs", spec.validate({"alpha": 0.2}))


def test_partial_settings_keep_the_space_default():
    """`--setting '{"lr": 1.2}'` changes lr only: the other fields are the space's default's,
    while a named setting is complete by itself."""
    assert spec.resolve('{"lr": 1.2}', "nb201")[1] == spec.validate({"alpha": 0.2, "lr": 1.2})
    assert spec.resolve('{"lr": 1.2, "alpha": 0}', "nb201")[1] == spec.validate({"lr": 1.2})
    assert spec.resolve('{"lr": 1.2}', "nb101")[1] == spec.validate({"lr": 1.2})
    assert spec.resolve("paper", "nb201")[1]["alpha"] == 0.0
    from eproxy_jax.setting import ProxySetting
    assert float(ProxySetting.for_space("nb201").alpha) == np.float32(0.2)
    assert float(ProxySetting.for_space("nb101").alpha) == 0.0


def test_resolve_names_every_kind_of_argument(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"lr": 0.8}))
    assert spec.resolve("authors", "nb201") == ("authors", spec.load("authors"))
    assert spec.resolve(str(f), "nb201")[0] == "file:mine.json" and spec.resolve(str(f), "nb201")[1]["lr"] == 0.8
    assert spec.resolve('{"lr": 0.9}', "nb201")[0] == "inline"
    assert spec.name_of(spec.load("authors")) == "authors" and spec.name_of(spec.validate({"lr": 0.9})) == "custom"
    with pytest.raises(spec.SettingError, match="per_image_waves"):
        spec.validate({"per_image_waves": "some"})


def test_settings_command_lists_them(capsys):
    assert cli.main(["settings"]) == 0
    out = capsys.readouterr().out.splitlines()
    for name in NAMES:
        assert any(ln.startswith(name + " ") and _file(name)["description"] in ln for ln in out)
    assert any(ln.startswith("default is the default setting of: ") and "nb101" in ln for ln in out)
    assert any(ln.startswith("default_macs is the default setting of: nb201, nb301") for ln in out)
    assert cli.main(["settings", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["name"] for r in res["settings"]] == list(NAMES)
    for r in res["settings"]:
        assert r["setting"] == spec.load(r["name"]) and set(r["setting"]) == set(spec.FIELDS)
    assert res["space_defaults"]["nb101"] == "default"


def test_unknown_setting_name_is_one_line_exit_2(capsys):
    assert cli.main(["score", "nb201", "--setting", "authorz", "--limit", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown setting 'authorz'" in err[0]
    assert all(name in err[0] for name in NAMES)


def test_score_with_a_named_setting_records_it(tmp_path, capsys):
    out = tmp_path / "r.csv"
    code = cli.main(["score", "nb201", "--limit", "3", "--setting", "authors", *TINY_CLI, "--json", "--quiet",
                     "--out", str(out)])
    assert code == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["setting_name"] == "authors" and res["setting"] == spec.load("authors") and res["n"] == 3
    head = {}
    with open(out) as fh:
        for ln in fh:
            if ln.startswith("# ") and "=" in ln:
                k, _, v = ln[2:].strip().partition("=")
                head[k] = v
    meta = json.loads(head["meta"])
    assert meta["setting_name"] == "authors" and meta["setting"] == spec.load("authors")
    with open(out) as fh:
        rows = list(csv.DictReader(ln for ln in fh if not ln.startswith("#")))
    assert len(rows) == 3
