"""Graph analyzer: multiply-adds and parameters per layer kind of any .onnx (and .tflite) model.

Counting rule (the MobileNet paper's):
- One multiply-add counts once (MACs, not FLOPs). A convolution costs
  output elements x (input channels / groups) x kernel area; a dense layer (Gemm, MatMul,
  FULLY_CONNECTED) costs output elements x the reduced dimension.
- BatchNormalization is folded into the preceding convolution: it costs nothing, and its shift lives
  in the conv's bias. Bias adds, activations, pooling and softmax are not counted.
- Params are the elements of learned constant tensors, each counted once: the weights of
  convolutions and dense layers plus one bias per output channel (BN folding gives every conv a bias,
  so it counts whether or not the exporter stored an all-zero one), and constant vectors fed to
  Add/Sub/Mul/Div, PRelu, normalization layers and embedding Gathers. Quantization scales and zero
  points are not params, and an int8 weight counts the same as the fp32 weight it replaced (QDQ
  weights are followed through DequantizeLinear). So every export of one model gives one count.
- Kinds: `depthwise conv` (groups = input channels, one input channel per group), `pointwise conv`
  (1x1 kernel), `standard conv` (any other convolution, grouped ones included), `dense`, `other`.
- A symbolic batch dimension is taken as 1 (and said so in `warnings`).

Needs only the `onnx` package (and ai_edge_litert or tflite_runtime for .tflite files): never
TensorFlow, so `edgebench models inspect` works without the export extra.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import ModelFileError

KINDS = ("standard conv", "depthwise conv", "pointwise conv", "dense", "other")
_PASS_THROUGH = {"DequantizeLinear", "Identity", "Cast", "QuantizeLinear"}
_TFL_LAYERS = {"CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL"}
_TFL_PARAM_OPS = {"ADD", "SUB", "MUL", "DIV", "PRELU", "EMBEDDING_LOOKUP"}
_PARAM_OPS = {"Add", "Sub", "Mul", "Div", "PRelu", "LayerNormalization", "InstanceNormalization",
              "GroupNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization"}


def analyze(path: str | Path) -> dict[str, Any]:
    """MACs and params of one model file.

    Returns {"path", "format", "kinds": {kind: {"layers", "macs", "params"}},
    "total": {"macs", "params"}, "nodes": [{"name", "op_type", "kind", "macs", "params"}],
    "warnings": [...]}. Node names are the graph's (ONNX) or the op's first output tensor (TFLite),
    the names runtime profilers report.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        nodes, warnings = _onnx_nodes(path)
        fmt = "onnx"
    elif suffix == ".tflite":
        nodes, warnings = _tflite_nodes(path)
        fmt = "tflite"
    else:
        raise ModelFileError(f"{path}: not a model file the analyzer reads; give a .onnx or .tflite file")
    return _summarise(path, fmt, nodes, warnings)


def _summarise(path: Path, fmt: str, nodes: list[dict[str, Any]], warnings: list[str]) -> dict[str, Any]:
    kinds = {k: {"layers": 0, "macs": 0, "params": 0} for k in KINDS}
    for row in nodes:
        k = kinds[row["kind"]]
        if row["kind"] != "other" or row["macs"] or row["params"]:
            k["layers"] += 1
        k["macs"] += row["macs"]
        k["params"] += row["params"]
    total = {"macs": sum(k["macs"] for k in kinds.values()),
             "params": sum(k["params"] for k in kinds.values())}
    return {"path": str(path), "format": fmt, "kinds": kinds, "total": total, "nodes": nodes,
            "warnings": warnings}


def _row(name: str, op_type: str, kind: str, macs: int, params: int, folded_into: str | None = None) -> dict[str, Any]:
    """One node: `folded_into` names the conv/dense layer an exporter's leftover BN/affine op folds into."""
    return {"name": name, "op_type": op_type, "kind": kind, "macs": int(macs), "params": int(params),
            "folded_into": folded_into}


def _conv_kind(groups: int, in_per_group: int, in_channels: int | None, kernel: list[int]) -> str:
    if groups > 1 and in_per_group == 1 and (in_channels is None or groups == in_channels):
        return "depthwise conv"
    if kernel and all(k == 1 for k in kernel):
        return "pointwise conv"
    return "standard conv"


# ---------------------------------------------------------------------------------------------- ONNX

def _load_onnx(path: Path) -> Any:
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


def _fix_batch(model: Any, warnings: list[str]) -> None:
    """A symbolic or unknown leading dimension of a graph input becomes 1 (we count batch-1 MACs)."""
    inits = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            label = dims[0].dim_param or "?"
            dims[0].Clear()
            dims[0].dim_value = 1
            warnings.append(f"input {inp.name!r}: batch dimension {label!r} taken as 1")


def _shapes(model: Any, warnings: list[str]) -> dict[str, list[int | None]]:
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
    for t in g.initializer:
        shapes[t.name] = list(t.dims)
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


def _onnx_nodes(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    model = _load_onnx(path)
    warnings: list[str] = []
    _fix_batch(model, warnings)
    g = _OnnxGraph(model, _shapes(model, warnings))
    names = {id(node): node.name or f"{node.op_type}_{i}" for i, node in enumerate(model.graph.node)}
    folded_into: dict[int, str] = {}
    rows = []
    for node in model.graph.node:
        name = names[id(node)]
        if id(node) in folded_into:
            rows.append(_row(name, node.op_type, "other", 0, 0, folded_into[id(node)]))
            continue
        try:
            row = _onnx_row(g, node, name, warnings)
        except (TypeError, ValueError, IndexError) as exc:
            warnings.append(f"node {name!r} ({node.op_type}): not counted ({exc})")
            row = _row(name, node.op_type, "other", 0, 0)
        if row["kind"] != "other":
            for f in g.folds(node):
                folded_into[id(f)] = name
        rows.append(row)
    return rows, warnings


def _onnx_row(g: _OnnxGraph, node: Any, name: str, warnings: list[str]) -> dict[str, Any]:
    op = node.op_type
    ins = list(node.input)
    if op in ("Conv", "ConvInteger", "QLinearConv", "ConvTranspose"):
        x, w, b = ((ins[0], ins[3], ins[8] if len(ins) > 8 else "") if op == "QLinearConv"
                   else (ins[0], ins[1], ins[2] if len(ins) > 2 and op != "ConvInteger" else ""))
        wshape = g.shape(w)
        if not wshape or any(d is None for d in wshape):
            warnings.append(f"node {name!r} ({op}): weight shape unknown; not counted")
            return _row(name, op, "standard conv", 0, 0)
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
        if op == "ConvTranspose":
            # each input element scatters into (out channels / groups) x kernel outputs
            kind = "pointwise conv" if all(k == 1 for k in kernel) else "standard conv"
            if not xshape or any(d is None for d in xshape):
                warnings.append(f"node {name!r} ({op}): input shape unknown; MACs not counted")
                return _row(name, op, kind, 0, params)
            return _row(name, op, kind, math.prod(xshape) * wshape[1] * math.prod(kernel), params)
        kind = _conv_kind(groups, wshape[1], in_channels, kernel)
        out = g.shapes.get(node.output[0])
        if (not out or any(d is None for d in out)) and xshape and len(xshape) == len(wshape):
            out = [xshape[0], wshape[0], *_conv_out_spatial(xshape[2:], kernel, attrs)]
        if not out or any(d is None for d in out):
            warnings.append(f"node {name!r} ({op}): output shape unknown; MACs not counted")
            return _row(name, op, kind, 0, params)
        return _row(name, op, kind, math.prod(out) * wshape[1] * math.prod(kernel), params)
    if op == "Gemm":
        attrs = _attrs(node)
        a, b = g.shape(ins[0]), g.shape(ins[1])
        n = (b[0] if attrs.get("transB", 0) else b[1]) if b and len(b) == 2 else None
        params = g.param_count(ins[1]) + g.param_count(ins[0])
        if params and n:
            params += n
        if len(ins) > 2:
            g.claim(ins[2])
        if not a or not b or None in a or None in b:
            warnings.append(f"node {name!r} (Gemm): operand shapes unknown; MACs not counted")
            return _row(name, op, "dense", 0, params)
        m = a[1] if attrs.get("transA", 0) else a[0]
        k = a[0] if attrs.get("transA", 0) else a[1]
        n = b[0] if attrs.get("transB", 0) else b[1]
        return _row(name, op, "dense", m * k * n, params)
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul"):
        a_name, b_name = (ins[0], ins[3]) if op == "QLinearMatMul" else (ins[0], ins[1])
        a, out = g.shape(a_name), g.shapes.get(node.output[0])
        bshape = g.shape(b_name)
        params = g.param_count(b_name)
        if params and bshape and bshape[-1]:
            params += bshape[-1]
        params += g.param_count(a_name)
        if not a or not out or None in a or None in out:
            warnings.append(f"node {name!r} ({op}): shapes unknown; MACs not counted")
            return _row(name, op, "dense", 0, params)
        k = a[-1] if len(a) > 1 else a[0]
        return _row(name, op, "dense", math.prod(out) * k, params)
    if op in _PARAM_OPS:
        return _row(name, op, "other", 0, sum(g.param_count(i, float_only=True, min_elems=2) for i in ins[1:] if i))
    if op == "Gather" and ins and g.source(ins[0]) and g.source(ins[0]) in g.float_consts:
        return _row(name, op, "other", 0, g.param_count(ins[0], float_only=True))
    return _row(name, op, "other", 0, 0)


# -------------------------------------------------------------------------------------------- TFLite

def _interpreter(path: Path) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        kwargs = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
            kwargs = {}
        except ImportError:
            raise ModelFileError(f"{path}: reading .tflite files needs LiteRT: pip install ai-edge-litert") from None
    try:
        return Interpreter(model_path=str(path), **kwargs)
    except Exception as exc:  # noqa: BLE001 - whatever LiteRT raises on a cut or foreign file
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a readable TFLite model ({why}); "
                             f"the file is truncated or not TFLite: re-export or re-download it") from None


def _tflite_nodes(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    interp = _interpreter(path)
    try:
        ops = interp._get_ops_details()
    except Exception as exc:  # noqa: BLE001 - a private API: any failure means "cannot list"
        raise ModelFileError(f"{path}: this LiteRT cannot list the model's ops ({exc}); "
                             f"analyze the .onnx export instead") from None
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    produced = {int(o): op for op in ops for o in op["outputs"]}
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    counted: set[int] = set()

    def const(idx: int) -> int | None:
        """The constant tensor behind idx (through DEQUANTIZE, as in fp16 models)."""
        for _ in range(4):
            if idx < 0 or idx in graph_inputs:
                return None
            op = produced.get(idx)
            if op is None:
                return idx
            if op["op_name"] != "DEQUANTIZE":
                return None
            idx = int(op["inputs"][0])
        return None

    def params(idx: int) -> int:
        src = const(idx)
        if src is None or src in counted:
            return 0
        counted.add(src)
        return int(math.prod(int(d) for d in tensors[src]["shape"]))

    def shape(idx: int) -> list[int]:
        return [int(d) for d in tensors[idx]["shape"]]

    def row(op: dict[str, Any], name: str) -> dict[str, Any]:
        name_op = op["op_name"]
        ins = [int(i) for i in op["inputs"]]
        out = shape(int(op["outputs"][0])) if len(op["outputs"]) else []
        if name_op in _TFL_LAYERS:
            w = shape(ins[1])
            p = params(ins[1])
            if p:  # a learned layer: weights + one bias per output channel, stored or not
                p += w[0] if name_op in ("CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED") else w[-1]
            for i in ins[3:] if name_op == "TRANSPOSE_CONV" else ins[2:]:
                if i >= 0:
                    params(i)  # the stored bias is inside that count
            if name_op == "CONV_2D":  # weights [out, kh, kw, in/groups]
                in_ch = shape(ins[0])[-1]
                kind = _conv_kind(in_ch // w[3], w[3], in_ch, w[1:3])
                macs = math.prod(out) * w[1] * w[2] * w[3]
            elif name_op == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out]
                kind, macs = "depthwise conv", math.prod(out) * w[1] * w[2]
            elif name_op == "CONV_3D":  # weights [kd, kh, kw, in, out]
                kind = "pointwise conv" if w[:3] == [1, 1, 1] else "standard conv"
                macs = math.prod(out) * w[0] * w[1] * w[2] * w[3]
            elif name_op == "TRANSPOSE_CONV":  # inputs: output_shape, weights [out, kh, kw, in], data
                kind = "pointwise conv" if w[1:3] == [1, 1] else "standard conv"
                macs = math.prod(shape(ins[2])) * w[0] * w[1] * w[2]
            elif name_op == "FULLY_CONNECTED":  # weights [out, in]
                kind, macs = "dense", math.prod(out) * w[-1]
            else:  # BATCH_MATMUL
                kind, macs = "dense", math.prod(out) * shape(ins[0])[-1]
            return _row(name, name_op, kind, macs, p)
        if name_op in _TFL_PARAM_OPS:
            learned = sum(params(i) for i in ins if i >= 0 and const(i) is not None
                          and math.prod(shape(const(i))) > 1)
            return _row(name, name_op, "other", 0, learned)
        return _row(name, name_op, "other", 0, 0)

    rows, warnings = [], []
    for op in ops:
        outs = [int(o) for o in op["outputs"]]
        name = tensors[outs[0]]["name"] if outs else f"{op['op_name']}_{op['index']}"
        try:
            rows.append(row(op, name))
        except (IndexError, KeyError, ValueError, ZeroDivisionError) as exc:
            warnings.append(f"op {name!r} ({op['op_name']}): not counted ({type(exc).__name__}: {exc})")
            rows.append(_row(name, op["op_name"], "other", 0, 0))
    return rows, warnings


# ------------------------------------------------------------------------------------------ model IO

def describe_io(path: str | Path, layout: str = "NHWC") -> dict[str, list[dict[str, Any]]]:
    """Inputs and outputs as the manifest lists them: name, shape, dtype, layout, scale, zero_point.

    Rank-4 tensors get `layout`, rank-2 "NC"; scale and zero_point are null for float tensors.
    """
    path = Path(path)

    def lay(shape: list[int]) -> str | None:
        return {4: layout, 2: "NC"}.get(len(shape))

    if path.suffix.lower() == ".onnx":
        import onnx

        model = _load_onnx(path)
        inits = {t.name for t in model.graph.initializer}

        def one(vi: Any) -> dict[str, Any]:
            t = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
            return {"name": vi.name, "shape": shape, "dtype": dtype, "layout": lay(shape),
                    "scale": None, "zero_point": None}

        return {"inputs": [one(v) for v in model.graph.input if v.name not in inits],
                "outputs": [one(v) for v in model.graph.output]}
    interp = _interpreter(path)

    def tfl(d: dict[str, Any]) -> dict[str, Any]:
        shape = [int(s) for s in d["shape"]]
        scale, zp = d["quantization"]
        quantized = bool(scale)
        return {"name": d["name"], "shape": shape, "dtype": d["dtype"].__name__, "layout": lay(shape),
                "scale": float(scale) if quantized else None, "zero_point": int(zp) if quantized else None}

    return {"inputs": [tfl(d) for d in interp.get_input_details()],
            "outputs": [tfl(d) for d in interp.get_output_details()]}
