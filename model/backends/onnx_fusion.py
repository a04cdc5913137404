"""One attention node per layer in an exported encoder graph.

torch's exporter spells attention out: per layer five transposes, the mask's
IsNaN and Where, two matrix products and a softmax. ONNX Runtime's
MultiHeadAttention kernel does the same from the three projections in one
node: the built-in model scores about 14 % faster on 2 cores, with the same
labels up to int8 noise (benchmarks/README.md). The projections stay ordinary
MatMuls, so int8 quantisation treats them as before.

Found by structure, not by weight names (the exporter shares equal
initialisers, such as zero biases, between layers), and checked by running
both graphs (``nuchter.backends.onnx.export_onnx``).
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx
from onnx import TensorProto, helper

LAYOUT = {"Reshape", "Transpose", "Mul", "Div"}
"""Ops between a projection and the attention products: head split, transposes, scaling."""
MAX_STEPS = 8
MASK = "attention_mask"


def fuse_attention(model: onnx.ModelProto, num_heads: int) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with each softmax attention replaced by a MultiHeadAttention node, and
    the number of layers fused; ``(model, 0)`` unchanged when the graph does not have the form."""
    graph = model.graph
    if MASK not in {i.name for i in graph.input}:
        return model, 0
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {i.name for i in graph.initializer}

    def projection(tensor: str) -> str | None:
        """Walk back from an attention product's input through the head layout to the projection."""
        for _ in range(MAX_STEPS):
            node = producer.get(tensor)
            if node is None:
                return None
            if node.op_type not in LAYOUT:
                return tensor if node.op_type in ("Add", "MatMul") else None
            data = node.input[:1] if node.op_type in ("Reshape", "Transpose") else [
                i for i in node.input if i and not _constant(i, producer, weights)]
            if len(data) != 1:
                return None
            tensor = data[0]
        return None

    fused, replaced = [], set()
    cast = helper.make_node("Cast", [MASK], ["nuchter_mask_i32"], to=TensorProto.INT32, name="nuchter_mask_i32")
    for softmax in (n for n in graph.node if n.op_type == "Softmax"):
        scores = producer.get(softmax.input[0])
        if scores is not None and scores.op_type == "Add":  # the additive mask
            scores = next((producer.get(i) for i in scores.input if producer.get(i) is not None
                           and producer[i].op_type == "MatMul"), None)
        if scores is None or scores.op_type != "MatMul":
            return model, 0
        query, key = projection(scores.input[0]), projection(scores.input[1])
        found = _context(softmax, consumers)
        if found is None or query is None or key is None:
            return model, 0
        weighted, context = found
        value = projection(next(i for i in weighted.input if i not in _descendants(softmax, consumers, weighted)))
        if value is None or len({query, key, value}) != 3:
            return model, 0
        replaced.add(producer[context].name)
        fused.append(helper.make_node(
            "MultiHeadAttention", [query, key, value, "", cast.output[0]], [context],
            domain="com.microsoft", num_heads=int(num_heads), name=f"nuchter_attention_{len(fused)}",
        ))
    if not fused:
        return model, 0

    result = onnx.ModelProto()
    result.CopyFrom(model)
    nodes = [n for n in result.graph.node if n.name not in replaced] + [cast] + fused
    nodes = _topological(_live(nodes, {o.name for o in result.graph.output}), result.graph)
    del result.graph.node[:]
    result.graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    kept = [i for i in result.graph.initializer if i.name in used]
    del result.graph.initializer[:]
    result.graph.initializer.extend(kept)
    del result.graph.value_info[:]  # shapes of removed tensors
    if not any(o.domain == "com.microsoft" for o in result.opset_import):
        result.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return result, len(fused)


def attention_fused(path) -> bool:
    """Whether the graph file at ``path`` holds fused attention nodes."""
    return any(n.op_type == "MultiHeadAttention" for n in onnx.load(str(path), load_external_data=False).graph.node)


def _constant(tensor: str, producer: dict, weights: set[str], depth: int = 4) -> bool:
    """A weight, or a scale computed from constants only (the exporter writes sqrt(1/d) as a few nodes)."""
    if tensor in weights:
        return True
    node = producer.get(tensor)
    if node is None or depth == 0:
        return False
    return all(_constant(i, producer, weights, depth - 1) for i in node.input if i)  # Constant: no inputs


def _descendants(start: onnx.NodeProto, consumers: dict, stop: onnx.NodeProto) -> set[str]:
    """Tensors computed from ``start``'s output before ``stop``: the attention weights' side."""
    seen, frontier = set(), list(start.output)
    while frontier:
        tensor = frontier.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        for node in consumers.get(tensor, []):
            if node is not stop:
                frontier.extend(node.output)
    return seen


def _context(softmax: onnx.NodeProto, consumers: dict) -> tuple[onnx.NodeProto, str] | None:
    """From the softmax forward: the product with the values, then the heads joined again
    (Transpose, Reshape); returns that product and the joined tensor."""
    frontier, weighted = list(softmax.output), None
    for _ in range(MAX_STEPS):
        nexts = [n for t in frontier for n in consumers.get(t, [])]
        if weighted is None:
            products = [n for n in nexts if n.op_type == "MatMul"]
            if products:
                if len(products) != 1:
                    return None
                weighted, frontier = products[0], list(products[0].output)
                continue
            frontier = [o for n in nexts for o in n.output]
            continue
        if len(nexts) != 1 or nexts[0].op_type not in ("Transpose", "Reshape"):
            return None
        if nexts[0].op_type == "Reshape":
            return weighted, nexts[0].output[0]
        frontier = list(nexts[0].output)
    return None


def _live(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    while True:
        used = {i for n in nodes for i in n.input} | outputs
        alive = [n for n in nodes if any(o in used for o in n.output)]
        if len(alive) == len(nodes):
            return alive
        nodes = alive


def _topological(nodes: Iterable[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    ordered, pending = [], list(nodes)
    while pending:
        runnable = [n for n in pending if all(i in ready for i in n.input)]
        if not runnable:
            raise ValueError("the fused graph has a cycle")
        for node in runnable:
            ready.update(node.output)
        ordered += runnable
        done = {id(n) for n in runnable}
        pending = [n for n in pending if id(n) not in done]
    return ordered
