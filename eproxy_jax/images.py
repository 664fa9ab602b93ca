"""The fixed input batch of Eproxy: 16 images, NHWC float32, normalised with CIFAR mean/std.

Sources (`--images SPEC`):
- `bundled` (default): 16 of the 20 real CIFAR-10 test images shipped in the package
  (see `data/cifar10/ATTRIBUTION.md`), chosen by `seed`.
- `tfds:NAME[:SPLIT]`: the first images of a tensorflow-datasets dataset (default split
  `train`), e.g. `tfds:cifar10`; `data_dir` from `--tfds-data-dir` or `$TFDS_DATA_DIR`.
- `DIR`: PNG/JPEG files in a folder, plain or `root/split/label/*.png` (searched recursively,
  sorted by path), `seed` picks which.

Images of another size are resized (bilinear, Pillow) to the space's input size.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
BUNDLED_DIR = Path(__file__).resolve().parent / "data" / "cifar10"
IMAGE_EXTS = (".png", ".jpg", ".jpeg")


class ImageError(ValueError):
    """Images could not be read (one-line message)."""


def check_spec(spec: str | None) -> str:
    """Validate an `--images` spec without importing tensorflow or jax."""
    spec = spec or "bundled"
    if spec == "bundled" or spec.startswith("tfds:"):
        if spec.startswith("tfds:") and not spec[5:].split(":")[0]:
            raise ImageError("--images tfds: needs a dataset name, e.g. tfds:cifar10")
        return spec
    p = Path(spec)
    if not p.is_dir():
        raise ImageError(f"--images {spec}: not a directory (use 'bundled', 'tfds:NAME' or a folder of PNG/JPEG files)")
    if not _image_files(p):
        raise ImageError(f"--images {spec}: no .png/.jpg/.jpeg files found")
    return spec


def _image_files(folder: Path) -> list:
    return sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_EXTS and f.is_file())


def _pick(n_avail: int, n: int, seed: int) -> np.ndarray:
    if n_avail < n:
        raise ImageError(f"need {n} images, only {n_avail} available")
    return np.sort(np.random.default_rng(seed).choice(n_avail, size=n, replace=False))


def _read(files, size: int) -> np.ndarray:
    from PIL import Image

    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                out.append(np.asarray(im, np.uint8))
        except OSError as e:
            raise ImageError(f"cannot read image {f}: {e}") from None
        except Image.DecompressionBombError:   # a header claiming a huge image: refused before decoding
            raise ImageError(f"cannot read image {f}: larger than Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} "
                             "pixels (a decompression bomb?)") from None
    return np.stack(out)


def _tfds(spec: str, n: int, size: int, data_dir: str | None) -> np.ndarray:
    parts = spec[len("tfds:"):].split(":")
    name, split = parts[0], (parts[1] if len(parts) > 1 else "train")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging

    import tensorflow_datasets as tfds

    logging.getLogger("absl").setLevel(logging.ERROR)  # tfds warns through absl; errors are ours to say

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # unknown dataset name, bad data_dir
        raise ImageError(f"tensorflow-datasets cannot open {name!r}: {str(e).splitlines()[0]}") from None
    if not builder.is_prepared():
        where = builder.data_dir
        raise ImageError(
            f"tfds dataset {name!r} is not prepared in {where}: run `python -m tensorflow_datasets.scripts.download_and_prepare "
            f"--datasets={name} --data_dir={data_dir or '~/tensorflow_datasets'}` (offline: put cifar-10-binary.tar.gz in "
            f"<data_dir>/downloads/manual/ first)")
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False)
        examples = list(tfds.as_numpy(ds.take(n)))
        images = [np.asarray(ex["image"]) for ex in examples]
        labels = [int(ex["label"]) for ex in examples] if examples and all("label" in ex for ex in examples) else None
    except (ValueError, KeyError) as e:  # unknown split, no "image" feature
        raise ImageError(f"tfds {name}/{split}: {str(e).splitlines()[0]}") from None
    if len(images) < n:
        raise ImageError(f"tfds {name}/{split} has only {len(images)} images, need {n}")
    arr = np.stack(images).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.shape[1:3] != (size, size):
        from PIL import Image
        arr = np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR)) for a in arr])
    return arr, (np.asarray(labels, np.int64) if labels is not None else None)


def _file_label(f: Path):
    """A file's class label: its folder's name when that is an integer (`root/split/3/x.png`),
    else a trailing `_<int>` of its name (the bundled `cifar10_00_3.png`), else None."""
    if f.parent.name.isdigit():
        return int(f.parent.name)
    tail = f.stem.rsplit("_", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def load_labeled(spec: str | None = "bundled", n: int = 16, seed: int = 0, size: int = 32,
                 tfds_data_dir: str | None = None):
    """(uint8 [n, size, size, 3] images, int64 [n] class labels or None) from `spec`.
    Labels: the bundled images' CIFAR-10 classes, tfds' `label` feature, or a folder's
    `label/` subfolders or `_<label>` file-name suffixes; None when any image has none."""
    spec = check_spec(spec)
    if spec.startswith("tfds:"):
        return _tfds(spec, n, size, tfds_data_dir)
    files = _image_files(BUNDLED_DIR if spec == "bundled" else Path(spec))
    chosen = [files[i] for i in _pick(len(files), n, seed)]
    labels = [_file_label(f) for f in chosen]
    return _read(chosen, size), (None if any(v is None for v in labels) else np.asarray(labels, np.int64))


def load_raw(spec: str | None = "bundled", n: int = 16, seed: int = 0, size: int = 32,
             tfds_data_dir: str | None = None) -> np.ndarray:
    """uint8 [n, size, size, 3] images from `spec`."""
    return load_labeled(spec, n, seed, size, tfds_data_dir)[0]


def normalise(raw: np.ndarray) -> np.ndarray:
    return ((raw.astype(np.float32) / 255.0 - CIFAR_MEAN) / CIFAR_STD).astype(np.float32)


def load(spec: str | None = "bundled", n: int = 16, seed: int = 0, size: int = 32,
         tfds_data_dir: str | None = None) -> np.ndarray:
    """The normalised input batch, float32 NHWC [n, size, size, 3]."""
    return normalise(load_raw(spec, n, seed, size, tfds_data_dir))
