"""Input batches: bundled images, a folder, and tensorflow-datasets for real."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TINY_CLI
from eproxy_jax import images


def test_bundled_batch():
    raw = images.load_raw("bundled", n=16, seed=0)
    assert raw.shape == (16, 32, 32, 3) and raw.dtype == np.uint8
    assert len({r.tobytes() for r in raw}) == 16  # 16 distinct real images
    assert not np.array_equal(raw, images.load_raw("bundled", n=16, seed=1))  # the seed picks which
    np.testing.assert_array_equal(raw, images.load_raw("bundled", n=16, seed=0))
    x = images.load("bundled", n=16, seed=0)
    assert x.dtype == np.float32 and abs(float(x.mean())) < 0.6 and 0.5 < float(x.std()) < 1.6
    np.testing.assert_allclose(x[0, 0, 0], (raw[0, 0, 0] / 255.0 - images.CIFAR_MEAN) / images.CIFAR_STD, rtol=1e-5)
    assert images.load_raw("bundled", n=4, size=16).shape == (4, 16, 16, 3)


def test_folder_layouts_and_errors(tmp_path):
    pngs = sorted(images.BUNDLED_DIR.glob("*.png"))
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in pngs:
        shutil.copy(f, flat / f.name)
    nested = tmp_path / "nested"
    for f in pngs:
        label = f.stem.split("_")[-1]
        (nested / "train" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, nested / "train" / label / f.name)
    a = images.load_raw(str(flat), n=16, seed=0)
    b = images.load_raw(str(nested), n=16, seed=0)
    assert a.shape == b.shape == (16, 32, 32, 3)
    assert {r.tobytes() for r in a} <= {r.tobytes() for r in images.load_raw("bundled", n=20, seed=0)}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(images.ImageError, match="no .png"):
        images.check_spec(str(empty))
    with pytest.raises(images.ImageError, match="need 16 images"):
        few = tmp_path / "few"
        few.mkdir()
        shutil.copy(pngs[0], few / "a.png")
        images.load_raw(str(few), n=16)
    with pytest.raises(images.ImageError, match="dataset name"):
        images.check_spec("tfds:")


def test_labels_of_every_source(tmp_path):
    """Class labels for the peer proxies: the bundled CIFAR-10 classes, `label/` folders,
    `_<label>` file names; None when an image has no label."""
    raw, labels = images.load_labeled("bundled", n=20, seed=0)
    files = sorted(images.BUNDLED_DIR.glob("*.png"))
    assert labels.tolist() == [int(f.stem.split("_")[-1]) for f in files]  # all 20, in file order
    nested = tmp_path / "nested"
    for f in files:
        (nested / "train" / f"{(int(f.stem.split('_')[-1]) + 1) % 10}").mkdir(parents=True, exist_ok=True)
        shutil.copy(f, nested / "train" / f"{(int(f.stem.split('_')[-1]) + 1) % 10}" / f"x{f.stem.split('_')[1]}.png")
    _, lab = images.load_labeled(str(nested), n=20)
    assert sorted(lab.tolist()) == sorted(((labels + 1) % 10).tolist())  # the folder wins over the name
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in files[:4]:
        shutil.copy(f, plain / f"img{f.stem.split('_')[1]}.png")
    raw4, none = images.load_labeled(str(plain), n=4)
    assert none is None and raw4.shape == (4, 32, 32, 3)


def _bundled_cifar_png(tfds):
    class BundledCifarPng(tfds.core.GeneratorBasedBuilder):
        """A real TFDS dataset built from the 20 bundled CIFAR-10 PNGs (the test's stand-in for
        tfds:cifar10, whose download is not reachable offline)."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(32, 32, 3)), "label": tfds.features.ClassLabel(num_classes=10)}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for f in sorted(images.BUNDLED_DIR.glob("*.png")):
                yield f.stem, {"image": str(f), "label": int(f.stem.split("_")[-1])}

    return BundledCifarPng


def test_tfds_source(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    data_dir = tmp_path / "tfds"
    _bundled_cifar_png(tfds)(data_dir=str(data_dir)).download_and_prepare()
    raw, labels = images.load_labeled("tfds:bundled_cifar_png", n=16, tfds_data_dir=str(data_dir))
    assert raw.shape == (16, 32, 32, 3)
    b_raw, b_labels = images.load_labeled("bundled", n=20, seed=0)
    bundled = {r.tobytes(): int(lab) for r, lab in zip(b_raw, b_labels)}
    assert all(bundled[r.tobytes()] == int(lab) for r, lab in zip(raw, labels))  # tfds' labels travel along
    # the CLI reads it in a fresh process (no builder class registered there)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "eproxy_jax", "score", "nb201", "--limit", "2", *TINY_CLI,
                        "--setting", str(_tiny_setting(tmp_path)), "--images", "tfds:bundled_cifar_png",
                        "--tfds-data-dir", str(data_dir), "--json", "--quiet", "--out", str(tmp_path / "t.csv")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["n"] == 2
    # a dataset that is not prepared: one line saying how to prepare it, exit 2
    r = subprocess.run([sys.executable, "-m", "eproxy_jax", "score", "nb201", "--limit", "2", "--images",
                        "tfds:cifar10", "--tfds-data-dir", str(tmp_path / "empty_tfds")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "download_and_prepare" in lines[0], r.stderr


def _tiny_setting(tmp_path):
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps({"c_out": [8, 8, 8], "c_last": [8, 8, 8]}))
    return p

