"""Datasets for training, calibration and evaluation, and the eval .npz written beside the models.

No TensorFlow here: scikit-learn's bundled digits and numpy only.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ZooError
from .config import Family


@dataclass(frozen=True)
class Split:
    """NHWC float32 inputs in [0, 1] and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of (n, h, w) images to (n, size, size): exact and library-free."""
    h, w = images.shape[1:3]
    rows = (np.arange(size) * h) // size
    cols = (np.arange(size) * w) // size
    return images[:, rows][:, :, cols]


def digits_split(family: Family) -> Split:
    """scikit-learn's 1797 8x8 digits, upsampled, scaled to [0, 1], split stratified with the seed."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ZooError("the digits family needs scikit-learn: pip install -e .[export]") from None
    digits = load_digits()
    x = _upsample(digits.images.astype(np.float32) / 16.0, family.resolution)[..., np.newaxis]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=family.test_fraction, stratify=y, random_state=family.seed)
    return Split(np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test), y_test)


def load_split(family: Family) -> Split | None:
    if family.dataset == "sklearn-digits":
        return digits_split(family)
    return None


def calibration_inputs(family: Family, split: Split | None) -> np.ndarray:
    """Inputs for int8 calibration: a seeded sample of the training set, or seeded noise in [-1, 1]
    for random-init families (their int8 artifacts are for latency only)."""
    rng = np.random.default_rng(family.seed)
    n = family.calibration_samples
    if split is not None:
        idx = rng.permutation(len(split.x_train))[:n]
        return split.x_train[np.sort(idx)]
    shape = (n, family.resolution, family.resolution, family.channels)
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Like np.savez_compressed, but with fixed zip timestamps so equal data gives equal bytes
    (and so an unchanged eval set keeps its sha256 across rebuilds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".npz.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)
