"""Keras definitions of the twins. Functional models only: tf2onnx cannot convert a Keras 3
`Sequential` model. Imported only by the build (it needs TensorFlow)."""

from __future__ import annotations

from typing import Any

from .config import Family


def _conv_bn_relu6(layers: Any, x: Any, family: Family, conv: Any, name: str) -> Any:
    x = conv(x)
    x = layers.BatchNormalization(momentum=family.bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu6")(x)


def build_twin(family: Family, twin: str, batch_size: int | None = None) -> Any:
    """One twin as a functional Keras model: NHWC input, softmax output.

    `separable` blocks are depthwise 3x3 + BN + ReLU6 then pointwise 1x1 + BN + ReLU6 (the paper's
    Fig. 3 right); `standard` blocks are one 3x3 conv + BN + ReLU6 with the same filters and stride
    (Fig. 3 left). Convolutions have no bias: BN supplies it, and exporters fold BN into the conv.
    """
    import keras
    from keras import layers

    if twin not in ("separable", "standard"):
        raise ValueError(f"unknown twin {twin!r}")
    res, ch = family.resolution, family.channels
    inp = keras.Input(shape=(res, res, ch), batch_size=batch_size, name="input")
    filters, stride = family.stem
    x = _conv_bn_relu6(layers, inp, family, layers.Conv2D(
        family.filters(filters), 3, strides=stride, padding="same", use_bias=False, name="stem_conv"), "stem")
    for i, (filters, stride) in enumerate(family.blocks, start=1):
        if twin == "separable":
            x = _conv_bn_relu6(layers, x, family, layers.DepthwiseConv2D(
                3, strides=stride, padding="same", use_bias=False, name=f"block{i}_dw"), f"block{i}_dw")
            x = _conv_bn_relu6(layers, x, family, layers.Conv2D(
                family.filters(filters), 1, use_bias=False, name=f"block{i}_pw"), f"block{i}_pw")
        else:
            x = _conv_bn_relu6(layers, x, family, layers.Conv2D(
                family.filters(filters), 3, strides=stride, padding="same", use_bias=False,
                name=f"block{i}_conv"), f"block{i}_conv")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(family.classes, name="logits")(x)
    out = layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name=f"{family.name}_{twin}".replace(".", "_").replace("-", "_"))
