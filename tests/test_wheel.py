"""A non-editable wheel carries the bundled images and truth tables, and scores from
outside the source tree."""
import json
import os
import subprocess
import sys
import zipfile

from conftest import ROOT, TINY_CLI


def test_wheel_install_scores_outside_the_tree(tmp_path):
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
    r = subprocess.run([sys.executable, "-m", "eproxy_jax", "score", "nb201", "--dataset", "cifar100", "--limit", "3",
                        "--setting", str(setting), *TINY_CLI, "--json", "--quiet"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["dataset"] == "cifar100" and res["n"] == 3 and res["spearman"] is not None
    assert (work / res["out"]).exists()
    assert (work / "eproxy-results" / ".gitignore").read_text().splitlines()[-1] == "*"   # the default folder
