"""Input signatures are resolved before any job, never guessed: fixed dims kept, a symbolic batch is 1
(and says so), any other symbolic dim comes from input_shapes or the eval data, else one line that
says what to add to the profile."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ZOO
from harness.errors import ModelFileError, ProfileError
from harness.plan.signatures import eval_shapes_of, precision_of, read_signature, resolve_inputs
from usermodels import every_dtype_net, token_classifier, torch_dynamic_convnet, two_input_net, two_input_tflite

DIGITS = ZOO / "digits"


def test_torch_style_dynamic_axes_are_read_by_name(tmp_path):
    specs = read_signature(torch_dynamic_convnet(tmp_path / "dyn.onnx"))
    assert [(s.name, s.dims, s.dtype) for s in specs] == [("input", ("batch_size", 3, "height", "width"), "float32")]


def test_a_symbolic_height_with_no_shape_is_one_line_saying_what_to_add(tmp_path):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    with pytest.raises(ProfileError) as err:
        resolve_inputs(model, read_signature(model), None, None)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(model) in msg and "'input'" in msg and "dimension 2 ('height')" in msg
    assert "add input_shapes = { input = [1, 3, height, width] } to [matrix]" in msg


def test_given_shapes_size_every_symbolic_dimension_and_say_so(tmp_path):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    (r,) = resolve_inputs(model, read_signature(model), {"input": [1, 3, 64, 48]}, None)
    assert (r.shape, r.dtype, r.low, r.high) == ((1, 3, 64, 48), "float32", None, None)
    assert any("height" in n and "64" in n and "input_shapes" in n for n in r.notes)
    assert r.job_entry() == {"name": "input", "shape": [1, 3, 64, 48], "dtype": "float32", "low": None, "high": None}


def test_the_eval_data_sizes_dimensions_the_profile_leaves_open(tmp_path):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    np.savez(tmp_path / "eval.npz", x=np.zeros((10, 3, 40, 30), np.float32), y=np.zeros(10))
    specs = read_signature(model)
    evals = eval_shapes_of(tmp_path / "eval.npz", specs)
    assert evals == {"input": [10, 3, 40, 30]}
    (r,) = resolve_inputs(model, specs, None, evals)
    assert r.shape == (1, 3, 40, 30)  # the batch stays 1: one sample per call
    assert any("batch" in n for n in r.notes) and any("eval data" in n for n in r.notes)


@pytest.mark.parametrize("given,needle", [
    ([1, 3, 64], "give 4 positive sizes"),
    ([1, 4, 64, 64], "fixes at 3: give 3"),
    ([1, 3, 0, 64], "give 4 positive sizes"),
])
def test_a_shape_that_does_not_fit_the_model_is_refused(tmp_path, given, needle):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    with pytest.raises(ProfileError, match=needle):
        resolve_inputs(model, read_signature(model), {"input": given}, None)


def test_a_shape_for_an_input_the_model_lacks_is_refused(tmp_path):
    model = two_input_net(tmp_path / "two.onnx")
    with pytest.raises(ProfileError, match="'pixel_values'.*inputs are 'image', 'side'"):
        resolve_inputs(model, read_signature(model), {"pixel_values": [1, 3, 16, 16]}, None)


def test_integer_inputs_get_documented_default_ranges_and_the_profiles(tmp_path):
    model = every_dtype_net(tmp_path / "dtypes.onnx")
    ranges = {r.name: (r.dtype, r.low, r.high) for r in resolve_inputs(model, read_signature(model), None, None)}
    assert ranges == {"f32": ("float32", None, None), "f16": ("float16", None, None), "i8": ("int8", -128, 128),
                      "u8": ("uint8", 0, 256), "i32": ("int32", 0, 100), "i64": ("int64", 0, 100),
                      "flag": ("bool", 0, 2)}
    tok = token_classifier(tmp_path / "tok.onnx", vocab=30000)
    (r,) = resolve_inputs(tok, read_signature(tok), None, None, input_ranges={"ids": [0, 30000]})
    assert (r.shape, r.low, r.high) == ((1, 12), 0, 30000)


@pytest.mark.parametrize("ranges,needle", [
    ({"ids": [5, 5]}, "low < high"),
    ({"ids": [0.5, 9]}, "two integers"),
    ({"f32": [0, 9]}, "integer and bool inputs only"),
    ({"u8": [0, 300]}, "within uint8"),
])
def test_a_bad_input_range_is_refused(tmp_path, ranges, needle):
    model = every_dtype_net(tmp_path / "dtypes.onnx") if "ids" not in ranges else token_classifier(tmp_path / "t.onnx")
    with pytest.raises(ProfileError, match=needle):
        resolve_inputs(model, read_signature(model), None, None, input_ranges=ranges)


def test_tflite_inputs_carry_dynamic_dims_and_quantization(tmp_path):
    specs = read_signature(DIGITS / "digits-separable-tflite-int8.tflite")
    (s,) = specs
    assert (s.dims, s.dtype) == ((None, 32, 32, 1), "int8") and s.scale > 0 and s.zero_point is not None
    (r,) = resolve_inputs(DIGITS / "digits-separable-tflite-int8.tflite", specs, None, None)
    assert (r.shape, r.low, r.high, r.scale) == ((1, 32, 32, 1), -128, 128, s.scale)
    two = two_input_tflite(tmp_path / "two.tflite")
    with pytest.raises(ProfileError, match="serving_default_a:0.*dimension 1 \\(unnamed\\).*\"serving_default_a:0\""):
        resolve_inputs(two, read_signature(two), None, None)


@pytest.mark.parametrize("name,precision", [
    ("digits-separable-onnx-fp32.onnx", "fp32"), ("digits-separable-onnx-int8.onnx", "int8"),
    ("digits-standard-tflite-fp32.tflite", "fp32"), ("digits-standard-tflite-fp16.tflite", "fp16"),
    ("digits-standard-tflite-int8.tflite", "int8"),
])
def test_precision_is_read_from_the_graph(name, precision):
    assert precision_of(DIGITS / name) == precision


def test_an_onnx_with_fp16_weights_is_fp16(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 4), np.float16), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 4])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "h.onnx"))
    assert precision_of(tmp_path / "h.onnx") == "fp16"


def test_a_file_that_is_no_model_is_one_line(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        read_signature(tmp_path / "absent.onnx")
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="give a .onnx or .tflite"):
        read_signature(tmp_path / "m.pt")


def test_eval_data_that_the_runner_could_not_feed_is_refused_before_any_job(tmp_path):
    from harness.plan.signatures import check_eval

    model = two_input_net(tmp_path / "two.onnx")
    resolved = resolve_inputs(model, read_signature(model), None, None)
    good = tmp_path / "good.npz"
    np.savez(good, image=np.zeros((5, 3, 16, 16), np.float32), side=np.zeros((5, 8), np.float32), y=np.zeros(5))
    check_eval(model, resolved, good)
    cases = {
        "missing": ({"image": np.zeros((5, 3, 16, 16), np.float32), "y": np.zeros(5)},
                    r"no array for input\(s\) 'side'"),
        "shape": ({"image": np.zeros((5, 3, 8, 8), np.float32), "side": np.zeros((5, 8)), "y": np.zeros(5)},
                  r"samples of input 'image' are \[3, 8, 8\]"),
        "labels": ({"image": np.zeros((5, 3, 16, 16)), "side": np.zeros((5, 8))}, "no labels 'y'"),
        "counts": ({"image": np.zeros((5, 3, 16, 16)), "side": np.zeros((4, 8)), "y": np.zeros(5)},
                   "different numbers of samples"),
    }
    for name, (arrays, needle) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(ProfileError, match=needle) as err:
            check_eval(model, resolved, tmp_path / f"{name}.npz")
        assert "\n" not in str(err.value) and f"{name}.npz" in str(err.value)
    tok = token_classifier(tmp_path / "tok.onnx")
    np.savez(tmp_path / "float_ids.npz", ids=np.zeros((3, 12), np.float32), y=np.zeros(3))
    with pytest.raises(ProfileError, match="'ids'.*is int64, the data is float32"):
        check_eval(tok, resolve_inputs(tok, read_signature(tok), None, None), tmp_path / "float_ids.npz")
    digits = DIGITS / "digits-separable-onnx-fp32.onnx"  # today's x/y layout keeps working
    check_eval(digits, resolve_inputs(digits, read_signature(digits), None, None), DIGITS / "digits-eval.npz")
