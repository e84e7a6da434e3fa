"""The ONNX half of the analyzer (see analyze.py for the counting rule): one row per graph node."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from .kinds import DENSE, OTHER, POINTWISE, STANDARD, conv_kind, row

# ops a weight passes through on its way from the stored constant to the layer
_PASS_THROUGH = {"DequantizeLinear", "Identity", "Cast", "QuantizeLinear", "Transpose", "Reshape"}
_PARAM_OPS = {"Add", "Sub", "Mul", "Div", "PRelu", "LayerNormalization", "InstanceNormalization",
              "GroupNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization"}
# where the data, weight and bias inputs sit in each convolution and dense op
_CONV_OPS = {"Conv": (0, 1, 2), "FusedConv": (0, 1, 2), "NhwcFusedConv": (0, 1, 2), "ConvInteger": (0, 1, None),
             "QLinearConv": (0, 3, 8), "ConvTranspose": (0, 1, 2)}
_MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3), "FusedMatMul": (0, 1)}
_GEMM_OPS = {"Gemm": (0, 1, 2), "QGemm": (0, 3, 6)}


def load_onnx(path: Path) -> Any:
    """The model (no external weights), checked to be whole: one line naming the file otherwise."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - whatever the parser raises on a cut or foreign file
        raise ModelFileError(f"{path}: not a readable ONNX model ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'parse error'}); the file is "
                             f"truncated or not ONNX: re-export or re-download it") from None
    graph = model.graph
    if not graph.node or not graph.output:
        raise ModelFileError(f"{path}: ONNX model has no {'nodes' if not graph.node else 'outputs'}; "
                             f"the file is truncated or empty: re-export or re-download it")
    known = ({i.name for i in graph.input} | {t.name for t in graph.initializer}
             | {t.values.name for t in graph.sparse_initializer} | {""})
    for node in graph.node:
        for name in node.input:
            if name not in known:
                raise ModelFileError(f"{path}: node {node.name or node.op_type!r} reads {name!r}, which "
                                     f"nothing defines; the file is truncated or corrupt: re-export it")
        known.update(node.output)
    return model


def _fix_inputs(model: Any, input_shapes: dict[str, list[int]] | None, warnings: list[str]) -> None:
    """Given shapes replace the inputs' dimensions; a symbolic or unknown leading dimension left
    becomes 1 (we count batch-1 MACs), said in `warnings`."""
    inits = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        given = (input_shapes or {}).get(inp.name)
        if given is not None:
            if len(given) != len(dims):
                raise ModelFileError(f"input {inp.name!r} has {len(dims)} dimensions; the shape given for it, "
                                     f"{list(given)}, has {len(given)}: give one size per dimension")
            for d, size in zip(dims, given):
                if d.HasField("dim_value") and d.dim_value != int(size):
                    raise ModelFileError(f"input {inp.name!r}: dimension {d.dim_value} is fixed in the model, "
                                         f"the shape given says {int(size)}: give {d.dim_value}")
                d.Clear()
                d.dim_value = int(size)
        if dims and not dims[0].HasField("dim_value"):
            label = dims[0].dim_param or "?"
            dims[0].Clear()
            dims[0].dim_value = 1
            warnings.append(f"input {inp.name!r}: batch dimension {label!r} taken as 1")


def _shapes(model: Any, warnings: list[str], dtypes: dict[str, int] | None = None) -> dict[str, list[int | None]]:
    """Tensor name -> shape; `dtypes` (when given) gets tensor name -> ONNX element type."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - models over 2 GB, ops it does not know: count without it
        warnings.append(f"shape inference failed ({type(exc).__name__}); computing conv shapes directly")
        inferred = model
    shapes: dict[str, list[int | None]] = {}
    g = inferred.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                               for d in vi.type.tensor_type.shape.dim]
        if dtypes is not None and vi.type.HasField("tensor_type"):
            dtypes[vi.name] = vi.type.tensor_type.elem_type
    for t in g.initializer:
        shapes[t.name] = list(t.dims)
        if dtypes is not None:
            dtypes[t.name] = t.data_type
    if dtypes is not None:
        for node in g.node:
            if node.op_type == "Constant" and node.output:
                for a in node.attribute:
                    if a.name == "value":
                        dtypes[node.output[0]] = a.t.data_type
    return shapes


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv_out_spatial(in_spatial: list[int | None], kernel: list[int], attrs: dict[str, Any]) -> list[int | None]:
    """ONNX Conv output size (used when shape inference gave none)."""
    n = len(kernel)
    strides = list(attrs.get("strides", [1] * n))
    dilations = list(attrs.get("dilations", [1] * n))
    pads = list(attrs.get("pads", [0] * (2 * n)))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    out: list[int | None] = []
    for i, size in enumerate(in_spatial):
        if size is None:
            out.append(None)
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-size // strides[i]))
        else:
            eff = dilations[i] * (kernel[i] - 1) + 1
            pad = 0 if auto_pad == "VALID" else pads[i] + pads[i + n]
            out.append((size + pad - eff) // strides[i] + 1)
    return out


class _OnnxGraph:
    def __init__(self, model: Any, shapes: dict[str, list[int | None]]):
        self.shapes = shapes
        self.consts: dict[str, list[int]] = {t.name: list(t.dims) for t in model.graph.initializer}
        self.float_consts = {t.name for t in model.graph.initializer if t.data_type in (1, 10, 11, 16)}
        self.producer: dict[str, Any] = {}
        for node in model.graph.node:
            for out in node.output:
                self.producer[out] = node
            if node.op_type == "Constant" and node.output:
                for a in node.attribute:
                    if a.name == "value":
                        self.consts[node.output[0]] = list(a.t.dims)
                        if a.t.data_type in (1, 10, 11, 16):
                            self.float_consts.add(node.output[0])
        self.counted: set[str] = set()
        self.consumers: dict[str, list[Any]] = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def _through_qdq(self, name: str) -> str:
        """Past a QuantizeLinear -> DequantizeLinear pair (QDQ activations), if that is all there is."""
        for _ in range(2):
            cons = self.consumers.get(name, [])
            if len(cons) == 1 and cons[0].op_type == "QuantizeLinear":
                nxt = self.consumers.get(cons[0].output[0], [])
                if len(nxt) == 1 and nxt[0].op_type == "DequantizeLinear":
                    name = nxt[0].output[0]
                    continue
            break
        return name

    def folds(self, layer: Any) -> list[Any]:
        """The affine ops an exporter left after a conv/dense layer (BatchNormalization, or the Mul and
        Add of an unfolded BN or bias) that fold into it. Their constants cost no extra params: the
        scale folds into the weights and the shift into the bias the layer is already counted with."""
        folded: list[Any] = []
        name = layer.output[0]
        for _ in range(3):
            name = self._through_qdq(name)
            cons = self.consumers.get(name, [])
            if len(cons) != 1:
                break
            node = cons[0]
            if node.op_type == "BatchNormalization" and node.input[0] == name:
                for other in node.input[1:]:
                    self.claim(other)
            elif node.op_type in ("Mul", "Add") and len(node.input) == 2 and name in node.input:
                other = node.input[1] if node.input[0] == name else node.input[0]
                src = self.source(other)
                if src is None or (src not in self.float_consts and self.producer.get(other) is None):
                    break
                if sum(1 for d in self.consts[src] if d != 1) > 1:  # only per-channel (or scalar) constants fold
                    break
                self.claim(other)
            else:
                break
            folded.append(node)
            name = node.output[0]
        return folded

    def claim(self, name: str) -> None:
        """Mark the constant behind `name` as accounted for (a bias inside a layer's count)."""
        src = self.source(name) if name else None
        if src is not None:
            self.counted.add(src)

    def source(self, name: str) -> str | None:
        """The constant behind `name`, following DequantizeLinear/Identity/Cast (QDQ weights)."""
        seen = 0
        while name and seen < 8:
            if name in self.consts:
                return name
            node = self.producer.get(name)
            if node is None or node.op_type not in _PASS_THROUGH or not node.input:
                return None
            name = node.input[0]
            seen += 1
        return None

    def param_count(self, name: str, float_only: bool = False, min_elems: int = 1) -> int:
        """Elements of the constant behind `name`, once per constant across the graph."""
        src = self.source(name)
        if src is None or src in self.counted:
            return 0
        producer = self.producer.get(name)
        # a float constant, or an integer one dequantized into the graph (QDQ weights and biases)
        is_float = src in self.float_consts or (producer is not None and producer.op_type == "DequantizeLinear")
        if float_only and not is_float:
            return 0
        size = math.prod(self.consts[src]) if self.consts[src] else 1
        if size < min_elems:
            return 0
        self.counted.add(src)
        return size

    def shape(self, name: str) -> list[int | None] | None:
        if name in self.shapes:
            return self.shapes[name]
        src = self.source(name)
        return self.consts.get(src) if src else None


def onnx_nodes(path: Path, input_shapes: dict[str, list[int]] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per node of the ONNX graph at `path` (see analyze.analyze), and the warnings."""
    model = load_onnx(path)
    warnings: list[str] = []
    try:
        _fix_inputs(model, input_shapes, warnings)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    dtypes: dict[str, int] = {}
    g = _OnnxGraph(model, _shapes(model, warnings, dtypes))
    names = {id(node): node.name or f"{node.op_type}_{i}" for i, node in enumerate(model.graph.node)}
    folded_into: dict[int, str] = {}
    rows = []
    for node in model.graph.node:
        name = names[id(node)]
        io = {"inputs": list(node.input), "outputs": list(node.output)}
        if id(node) in folded_into:
            rows.append(row(name, node.op_type, OTHER, 0, 0, folded_into[id(node)], **io))
            continue
        try:
            r = _onnx_row(g, node, name, warnings)
        except (TypeError, ValueError, IndexError) as exc:
            warnings.append(f"node {name!r} ({node.op_type}): not counted ({exc})")
            r = row(name, node.op_type, OTHER, 0, 0)
        r.update(io)
        if r["kind"] != OTHER:
            for f in g.folds(node):
                folded_into[id(f)] = name
        rows.append(r)
    from ..roofline.bytes import onnx_fill

    onnx_fill(rows, list(model.graph.node), g, dtypes)
    return rows, warnings


def _known(shape: list[int | None] | None) -> bool:
    return bool(shape) and all(d is not None for d in shape)  # type: ignore[union-attr]


def _conv_row(g: _OnnxGraph, node: Any, name: str, warnings: list[str]) -> dict[str, Any]:
    op = node.op_type
    ins = list(node.input)
    xi, wi, bi = _CONV_OPS[op]
    x, w = ins[xi], ins[wi]
    b = ins[bi] if bi is not None and len(ins) > bi else ""
    wshape = g.shape(w)
    if not _known(wshape):
        warnings.append(f"node {name!r} ({op}): weight shape unknown; not counted")
        return row(name, op, STANDARD, 0, 0)
    attrs = _attrs(node)
    groups = int(attrs.get("group", 1))
    kernel = [int(d) for d in wshape[2:]]
    xshape = g.shape(x)
    in_channels = xshape[1] if xshape and len(xshape) > 1 else None
    out_channels = wshape[1] * groups if op == "ConvTranspose" else wshape[0]
    params = g.param_count(w)
    if params:  # a learned layer: weights + one bias per output channel, stored or not
        params += out_channels
    g.claim(b)
    layer = {"kernel": tuple(kernel), "group": groups, "out_channels": int(out_channels),
             "in_channels": in_channels if in_channels is not None else wshape[1] * groups}
    if op == "ConvTranspose":
        # each input element scatters into (out channels / groups) x kernel outputs
        kind = POINTWISE if all(k == 1 for k in kernel) else STANDARD
        if not _known(xshape):
            warnings.append(f"node {name!r} ({op}): input shape unknown; MACs not counted")
            return row(name, op, kind, 0, params, **layer)
        return row(name, op, kind, math.prod(xshape) * wshape[1] * math.prod(kernel), params, **layer)
    kind = conv_kind(groups, wshape[1], in_channels, kernel)
    out = g.shapes.get(node.output[0])
    if not _known(out) and xshape and len(xshape) == len(wshape):
        out = [xshape[0], wshape[0], *_conv_out_spatial(xshape[2:], kernel, attrs)]
    if not _known(out):
        warnings.append(f"node {name!r} ({op}): output shape unknown; MACs not counted")
        return row(name, op, kind, 0, params, **layer)
    layer["out_hw"] = tuple(out[2:4]) if len(out) == 4 else None
    return row(name, op, kind, math.prod(out) * wshape[1] * math.prod(kernel), params, **layer)


def _gemm_row(g: _OnnxGraph, node: Any, name: str, warnings: list[str]) -> dict[str, Any]:
    op = node.op_type
    ins = list(node.input)
    ai, bi, ci = _GEMM_OPS[op]
    attrs = _attrs(node)
    a, b = g.shape(ins[ai]), g.shape(ins[bi])
    n = (b[0] if attrs.get("transB", 0) else b[1]) if b and len(b) == 2 else None
    params = g.param_count(ins[bi]) + g.param_count(ins[ai])
    if params and n:
        params += n
    if len(ins) > ci:
        g.claim(ins[ci])
    if not _known(a) or not _known(b):
        warnings.append(f"node {name!r} ({op}): operand shapes unknown; MACs not counted")
        return row(name, op, DENSE, 0, params, out_channels=n)
    m = a[1] if attrs.get("transA", 0) else a[0]
    k = a[0] if attrs.get("transA", 0) else a[1]
    return row(name, op, DENSE, m * k * n, params, in_channels=k, out_channels=n)


def _matmul_row(g: _OnnxGraph, node: Any, name: str, warnings: list[str]) -> dict[str, Any]:
    op = node.op_type
    ins = list(node.input)
    ai, bi = _MATMUL_OPS[op]
    a, out = g.shape(ins[ai]), g.shapes.get(node.output[0])
    bshape = g.shape(ins[bi])
    params = g.param_count(ins[bi])
    if params and bshape and bshape[-1]:
        params += bshape[-1]
    params += g.param_count(ins[ai])
    if not _known(a) or not _known(out):
        warnings.append(f"node {name!r} ({op}): shapes unknown; MACs not counted")
        return row(name, op, DENSE, 0, params)
    k = a[-1] if len(a) > 1 else a[0]
    return row(name, op, DENSE, math.prod(out) * k, params, in_channels=k, out_channels=out[-1])


def _onnx_row(g: _OnnxGraph, node: Any, name: str, warnings: list[str]) -> dict[str, Any]:
    op = node.op_type
    ins = list(node.input)
    if op in _CONV_OPS:
        return _conv_row(g, node, name, warnings)
    if op in _GEMM_OPS:
        return _gemm_row(g, node, name, warnings)
    if op in _MATMUL_OPS:
        return _matmul_row(g, node, name, warnings)
    if op in _PARAM_OPS:
        return row(name, op, OTHER, 0, sum(g.param_count(i, float_only=True, min_elems=2) for i in ins[1:] if i))
    if op == "Gather" and ins and g.source(ins[0]) and g.source(ins[0]) in g.float_consts:
        return row(name, op, OTHER, 0, g.param_count(ins[0], float_only=True))
    return row(name, op, OTHER, 0, 0)
