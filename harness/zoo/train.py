"""Training one twin with fixed seeds, and its Keras fp32 test accuracy (the reference)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .config import Family
from .data import Split


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeds plus deterministic ops: the same inputs train the same weights."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if hasattr(tf.config.experimental, "enable_op_determinism"):  # TF >= 2.9
        tf.config.experimental.enable_op_determinism()


def train(model: Any, family: Family, split: Split, log: Callable[[str], None]) -> None:
    import keras

    class _Progress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.t0 = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            log(f"    epoch {epoch + 1}/{family.epochs}: loss {logs.get('loss', float('nan')):.4f}, "
                f"train accuracy {logs.get('accuracy', float('nan')):.4f} "
                f"({time.monotonic() - self.t0:.0f}s)")

    model.compile(optimizer=keras.optimizers.Adam(family.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(split.x_train, split.y_train, epochs=family.epochs, batch_size=family.batch_size,
              shuffle=True, verbose=0, callbacks=[_Progress()])


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy as a fraction, in inference mode (BN uses its moving statistics)."""
    probs = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(probs, axis=-1) == y))
