"""A non-editable wheel carries every subpackage, the bundled images and truth tables, and its
`score`, `compare`, `search`, `dps` and `draw` run from outside the source tree (installed with
`pip install --target`, which reuses this interpreter's jax: no network, no new environment)."""
import json
import os
import subprocess
import sys
import zipfile

from conftest import ROOT, TINY_CLI


def test_wheel_install_runs_every_command_outside_the_tree(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("eproxy_jax-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    from eproxy_jax import __version__
    assert wheel.name.startswith(f"eproxy_jax-{__version__}-")      # pyproject reads eproxy_jax/version.py
    assert sum(n.startswith("eproxy_jax/data/cifar10/") and n.endswith(".png") for n in names) == 20
    for table in ("cifar10", "cifar100", "imagenet16-120"):
        assert f"spaces/data/nb201_{table}.json.gz" in names
    import spaces
    for name, info in spaces.REGISTRY.items():   # every bundled truth table of every space
        for file in filter(None, info.datasets.values()):
            assert f"spaces/data/{file}" in names, (name, file)
    assert "eproxy_jax/baselines/__init__.py" in names and "eproxy_jax/baselines/runner.py" in names
    assert "eproxy_jax/data/cifar10/ATTRIBUTION.md" in names and "spaces/data/ORIGIN.md" in names
    from eproxy_jax import setting_spec   # the named settings (--setting NAME) and each space's default
    for f in list(setting_spec.SETTINGS_DIR.glob("*.json")) + [setting_spec.SETTINGS_DIR / "README.md"]:
        assert f"eproxy_jax/data/settings/{f.name}" in names, f.name

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    where = subprocess.run([sys.executable, "-c", "import eproxy_jax, spaces; print(eproxy_jax.__file__); print(spaces.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout
    setting = work / "tiny.json"
    setting.write_text(json.dumps({"c_out": [8, 8, 8], "c_last": [8, 8, 8]}))

    def eproxy(*args):
        r = subprocess.run([sys.executable, "-m", "eproxy_jax", *args], cwd=work, env=env,
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, (args[0], r.stderr[-2000:])
        return r

    r = eproxy("score", "nb201", "--dataset", "cifar100", "--limit", "3", "--setting", str(setting), *TINY_CLI,
               "--json", "--quiet")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["dataset"] == "cifar100" and res["n"] == 3 and res["spearman"] is not None
    assert (work / res["out"]).exists()
    assert (work / "eproxy-results" / ".gitignore").read_text().splitlines()[-1] == "*"   # the default folder

    # compare needs eproxy_jax.baselines (a subpackage: only package discovery ships it)
    r = eproxy("compare", "nb201", "--limit", "3", "--proxies", "naswot,params", "--batch-size", "4", *TINY_CLI,
               "--out", "cmp", "--json", "--quiet")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(res["proxies"]) == ["naswot", "params"] and res["n"] == 3
    assert (work / "cmp" / "scores.csv").is_file()

    r = eproxy("search", "nb201", "--budget", "4", "--population", "2", "--sample", "2", "--batch", "2",
               "--setting", str(setting), *TINY_CLI, "--out", "search.csv", "--json")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["evaluated"] == 4 and res["best"] and 0.0 < res["best_truth"] <= 100.0

    sp_encs = [["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 90.0],
               ["|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|", 60.0],
               ["|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|", 80.0]]
    (work / "train.json").write_text(json.dumps(sp_encs))
    # one searched setting (each new setting shape is a compile: minutes on a loaded 2-core CPU)
    r = eproxy("dps", "nb201", *TINY_CLI, "--train-truth", "train.json", "--eval-archs", "0", "--cycles", "1",
               "--population", "2", "--sample", "2", "--max-channels", "8", "--max-kernel", "1",
               "--out", "best.json", "--json", "--quiet")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert json.loads((work / "best.json").read_text())["setting"] == res["setting"]

    eproxy("draw", "nb201", "[[3],[3,1],[2,4,3]]", "--out", "cell.png")
    assert (work / "cell.png").stat().st_size > 1000
