"""Fused attention: every export gets one MultiHeadAttention node per layer when, and only when,
the fused graph computes what the exported one does."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nuchter.backends import onnx as onnx_backend
from nuchter.backends import onnx_fusion
from nuchter.backends.onnx import FP32_FILE, INT8_FILE, ONNX_DIR
from nuchter.backends.onnx_fusion import attention_fused, fuse_attention

ROOT = Path(__file__).resolve().parent.parent


def ops(path: Path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def run(model: onnx.ModelProto, lengths=(15, 9, 3, 1), vocab: int = 60) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    mask = (np.arange(max(lengths))[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    ids = np.random.default_rng(1).integers(0, vocab, size=mask.shape) * mask
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
    return session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})


@pytest.fixture(scope="module")
def exports(tiny_model, tmp_path_factory):
    """The tiny model exported with fusion and, for comparison, without."""
    root = tmp_path_factory.mktemp("fusion")
    model_dir = root / "model"
    shutil.copytree(tiny_model, model_dir, ignore=shutil.ignore_patterns(ONNX_DIR))
    onnx_backend.export_onnx(model_dir, root / "fused", quantize=True, keep_fp32=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_fusion, "fuse_attention", lambda model, heads: (model, 0))
        onnx_backend.export_onnx(model_dir, root / "plain", quantize=True, keep_fp32=True)
    return root


def test_each_layer_becomes_one_attention_node(exports, tiny_model):
    layers = json.loads((tiny_model / "config.json").read_text())["num_hidden_layers"]
    for name in (FP32_FILE, INT8_FILE):
        fused, plain = ops(exports / "fused" / name), ops(exports / "plain" / name)
        assert fused.count("MultiHeadAttention") == layers and plain.count("MultiHeadAttention") == 0
        assert "Softmax" in plain and "Transpose" in plain
        assert "Softmax" not in fused and "Transpose" not in fused and "IsNaN" not in fused
        assert len(fused) < len(plain)
    assert attention_fused(exports / "fused" / INT8_FILE) and not attention_fused(exports / "plain" / INT8_FILE)


def test_the_fused_graph_computes_what_the_exported_one_does(exports):
    for a, b in zip(run(onnx.load(str(exports / "fused" / FP32_FILE))), run(onnx.load(str(exports / "plain" / FP32_FILE)))):
        assert np.allclose(a, b, rtol=1e-3, atol=1e-4)


def test_fusing_a_quantised_graph_gives_the_graph_a_new_export_gives(exports, tiny_model):
    """What lets the shipped int8 graph be fused in place: a rebuild would write the same graph."""
    heads = json.loads((tiny_model / "config.json").read_text())["num_attention_heads"]
    late, layers = fuse_attention(onnx.load(str(exports / "plain" / INT8_FILE)), heads)
    early = onnx.load(str(exports / "fused" / INT8_FILE))
    assert layers == 2
    for a, b in zip(run(late), run(early)):
        assert np.array_equal(a, b)
    weights = lambda m: sorted(onnx.numpy_helper.to_array(i).tobytes() for i in m.graph.initializer)  # noqa: E731
    assert weights(late) == weights(early)


def test_a_fused_graph_that_computes_something_else_is_not_kept(tiny_model, tmp_path, monkeypatch):
    real = onnx_fusion.fuse_attention

    def unmasked(model, heads):  # attends to the padding too
        fused, layers = real(model, heads)
        for node in fused.graph.node:
            if node.op_type == "MultiHeadAttention":
                node.input[4] = ""
        return fused, layers

    monkeypatch.setattr(onnx_fusion, "fuse_attention", unmasked)
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model, model_dir, ignore=shutil.ignore_patterns(ONNX_DIR))
    path = onnx_backend.export_onnx(model_dir, tmp_path / "onnx", quantize=False)
    assert "MultiHeadAttention" not in ops(path) and "Softmax" in ops(path)


def test_graphs_without_attention_are_left_alone():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ceiling import weight_products_graph

    chain = weight_products_graph(layers=1, hidden=8, intermediate=16)
    assert fuse_attention(chain, 2) == (chain, 0)  # no softmax, and no attention_mask input either
    chain.graph.input.append(onnx.helper.make_tensor_value_info("attention_mask", onnx.TensorProto.INT64, ["b", "t"]))
    assert fuse_attention(chain, 2)[1] == 0


def test_the_shipped_model_runs_fused_attention(builtin):
    assert attention_fused(builtin / ONNX_DIR / INT8_FILE)
    assert "fused attention" in json.loads((builtin / "metrics.json").read_text())["serving"]
