"""How fast the built-in encoder could score if nothing but its weight products cost time.

    python benchmarks/ceiling.py               # about a minute on 2 cores

Builds a graph of only the shipped model's weight products (per layer: query,
key, value, output, the two feed-forward products; the model's own sizes),
quantised the way `nuchter` exports (dynamic int8, per channel, reduced
range), and times it on batches of 32 sentences of the benchmark's mean token
count, beside the shipped graph on the same sentences. The weight products are
all but about 1 % of the model's arithmetic, so their speed bounds the
model's: a throughput target above that bound needs a smaller model, not a
faster graph. Not a unit test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = ("query", "key", "value", "output", "up", "down")


def weight_products_graph(layers: int, hidden: int, intermediate: int):
    """layers x (q, k, v, o, up, down) as one chain; q, k and v read the same input, as in BERT."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, weights, current = [], [], "x"
    for layer in range(layers):
        shapes = dict(zip(PRODUCTS, [(hidden, hidden)] * 4 + [(hidden, intermediate), (intermediate, hidden)]))
        for product, shape in shapes.items():
            name = f"{product}{layer}"
            weights.append(numpy_helper.from_array((rng.standard_normal(shape) * 0.05).astype(np.float32), "w" + name))
            source = f"x{layer}" if product in ("key", "value") else current
            nodes.append(helper.make_node("MatMul", [source, "w" + name], [name]))
            if product == "query":
                nodes.append(helper.make_node("Identity", [current], [f"x{layer}"]))
            if product == "value":  # join the three so none is pruned as unused
                nodes.append(helper.make_node("Sum", [f"query{layer}", f"key{layer}", name], [f"qkv{layer}"]))
                current = f"qkv{layer}"
            elif product not in ("query", "key"):
                current = name
    graph = helper.make_graph(
        nodes, "weight_products",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", hidden])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["rows", hidden])], weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def seconds_per_run(session, feed: dict, budget: float) -> float:
    """Best of three rounds of ``budget`` seconds each."""
    session.run(None, feed)
    best = float("inf")
    for _ in range(3):
        started, runs = time.perf_counter(), 0
        while time.perf_counter() - started < budget:
            session.run(None, feed)
            runs += 1
        best = min(best, (time.perf_counter() - started) / runs)
    return best


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import numpy as np
    import onnx
    import onnxruntime as ort
    from bench import corpus_sentences, draws
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from nuchter.backends.onnx import load_onnx_classifier
    from nuchter.store import BUILTIN_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each timing round")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads [default: one per core]")
    args = parser.parse_args()

    config = json.loads((BUILTIN_DIR / "config.json").read_text(encoding="utf-8"))
    layers, hidden, intermediate = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    classifier = load_onnx_classifier(BUILTIN_DIR, threads=args.threads or None)
    sentences = draws(corpus_sentences(), 1000, random.Random(7))
    tokens = classifier.encode(sentences)["attention_mask"].sum(axis=1)
    mean_tokens = float(tokens.mean())
    macs = layers * (4 * hidden * hidden + 2 * hidden * intermediate)
    print(f"built-in model: {layers} layers, hidden {hidden}, feed-forward {intermediate}; "
          f"{mean_tokens:.1f} tokens per sentence of the benchmark (prefix included)")
    print(f"weight products: {2 * macs * mean_tokens / 1e9:.2f} GOP per sentence")

    classifier.predict(sentences[:32])
    started = time.perf_counter()
    classifier.predict(sentences)
    shipped = len(sentences) / (time.perf_counter() - started)

    rows = 32 * round(mean_tokens)
    feed = {"x": np.random.default_rng(1).standard_normal((rows, hidden)).astype(np.float32)}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if args.threads:
        options.intra_op_num_threads = args.threads
    results = {}
    with tempfile.TemporaryDirectory(prefix="nuchter-ceiling-") as tmp:
        fp32, int8 = Path(tmp) / "products.onnx", Path(tmp) / "products.int8.onnx"
        onnx.save(weight_products_graph(layers, hidden, intermediate), str(fp32))
        logging.getLogger().setLevel(logging.ERROR)  # the quantiser's advice on pre-processing
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
        for name, path in (("int8 (as exported)", int8), ("fp32", fp32)):
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            results[name] = seconds_per_run(session, feed, args.seconds)

    print("\n| graph | ms per batch of 32 | GOP/s | sentences/s |")
    print("|---|---|---|---|")
    for name, seconds in results.items():
        print(f"| weight products only, {name} | {seconds * 1000:.0f} | "
              f"{2 * macs * rows / seconds / 1e9:.0f} | {32 / seconds:.0f} |")
    print(f"| shipped model, `predict()` on 1,000 sentences | | | {shipped:.0f} |")
    bound = 32 / results["int8 (as exported)"]
    print(f"\nthe shipped model runs at {100 * shipped / bound:.0f} % of the bound its weight products set "
          f"({bound:.0f} sentences/s); scan targets: >= 300 alone, >= 200 with context")


if __name__ == "__main__":
    main()
