"""What a model folder must hold, and how its output columns map to the four labels.

Every backend imports this; it imports none of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from nuchter.errors import ModelError
from nuchter.labels import LABELS, UnknownLabelError, normalise_label

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PREBUILT_ONNX = ("onnx/model.int8.onnx", "onnx/model.onnx")
"""A folder may ship its ONNX graph ready to run instead of weights (the built-in model does)."""


def prebuilt_onnx(path: Path) -> Path | None:
    """The shipped ONNX graph of a folder without safetensors weights, if any."""
    if any((path / f).is_file() for f in WEIGHT_FILES) or any(path.glob("*.bin")) or any(path.glob("*.pt")):
        return None  # weights are the model; an onnx/ folder beside them is only an export cache
    return next((path / f for f in PREBUILT_ONNX if (path / f).is_file() and (path / f).with_name("tokenizer.json").is_file()), None)


def check_model_dir(path: Path) -> None:
    """Fail with a message that says what is missing before transformers does."""
    if not path.is_dir():
        raise ModelError(f"model directory not found: {path}")
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a model directory: config.json is missing")
    if not any((path / f).is_file() for f in WEIGHT_FILES) and prebuilt_onnx(path) is None:
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise ModelError(
                f"{path} holds only pickle weights (*.bin/*.pt); nuchter loads safetensors only: "
                "re-save the model with save_pretrained(..., safe_serialization=True)"
            )
        raise ModelError(f"{path} has no model.safetensors weights")
    try:
        json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}/config.json is not valid JSON ({exc})") from None


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model", "vocab.json")


def check_tokenizer(path: Path) -> None:
    """Without its files AutoTokenizer quietly builds a tokenizer that maps every word to [UNK]."""
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(f"{path} has no tokenizer (tokenizer.json or vocab files); save it with the model")


def label_order(id2label: dict) -> list[str]:
    """Map a model's output columns to canonical label names."""
    try:
        names = [normalise_label(str(id2label[i])) for i in sorted(id2label, key=int)]
    except UnknownLabelError as exc:
        raise ModelError(
            f"the model's config.json id2label is not nuchter's four labels ({exc}); "
            "fine-tune it first with `nuchter train`"
        ) from None
    if sorted(names) != sorted(LABELS):
        raise ModelError(
            f"the model predicts {names}, expected exactly {list(LABELS)} in its id2label"
        )
    return names


def by_label(columns: Sequence[str], row: Sequence[float]) -> dict[str, float]:
    """One output row keyed by label, in the canonical order of ``LABELS``."""
    named = dict(zip(columns, row))
    return {label: named[label] for label in LABELS}


def in_length_order(
    lengths: Sequence[int], batch_size: int, score: Callable[[list[int]], list[list[float]]], labels: Sequence[str]
) -> list[dict[str, float]]:
    """Score items in batches of similar length (so padding stays small), answers in input order.

    ``score`` gets the indices of one batch and returns one probability row per index,
    in the model's column order ``labels``.
    """
    return [by_label(labels, row) for row in rows_in_length_order(lengths, batch_size, score)]


def rows_in_length_order(lengths: Sequence[int], batch_size: int, score: Callable[[list[int]], Sequence]) -> list:
    """What ``score`` returns per item, run on batches of similar length, in input order."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    out: list = [None] * len(lengths)
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
        for i, row in zip(chunk, score(chunk)):
            out[i] = row
    return out
