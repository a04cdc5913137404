"""The ceiling benchmark's graph must hold every weight product of the model it bounds."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ceiling import weight_products_graph  # noqa: E402


def test_the_graph_runs_all_six_products_of_every_layer(tmp_path):
    import onnx
    import onnxruntime as ort

    model = weight_products_graph(layers=2, hidden=8, intermediate=16)
    onnx.checker.check_model(model)
    products = [n for n in model.graph.node if n.op_type == "MatMul"]
    assert len(products) == 12
    shapes = sorted(tuple(w.dims) for w in model.graph.initializer)
    assert shapes == sorted([(8, 8)] * 8 + [(8, 16), (8, 16), (16, 8), (16, 8)])
    path = tmp_path / "products.onnx"
    onnx.save(model, str(path))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": np.ones((5, 8), dtype=np.float32)})
    assert out.shape == (5, 8)
    kept = onnx.load(str(tmp_path / "optimised.onnx")).graph.node
    assert sum(n.op_type in ("MatMul", "FusedMatMul", "Gemm") for n in kept) == 12  # none optimised away
