"""Sentences → label probabilities with a Hugging Face sequence classifier.

Loading is strict on purpose: safetensors weights only, no remote code, and
local directories never touch the network. Labels come from the model's
``config.json`` (``id2label``), never from code.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from model import store
from model.errors import ModelError
from model.inputs import InputSpec
from model.labels import LABELS, UnknownLabelError, normalise_label

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PREBUILT_ONNX = ("onnx/model.int8.onnx", "onnx/model.onnx")
"""A folder may ship its ONNX graph ready to run instead of weights (the built-in model does)."""


def prebuilt_onnx(path: Path) -> Path | None:
    """The shipped ONNX graph of a folder without safetensors weights, if any."""
    if any((path / f).is_file() for f in WEIGHT_FILES) or any(path.glob("*.bin")) or any(path.glob("*.pt")):
        return None  # weights are the model; an onnx/ folder beside them is only an export cache
    return next((path / f for f in PREBUILT_ONNX if (path / f).is_file() and (path / f).with_name("tokenizer.json").is_file()), None)


def resolve_model(name: str | None) -> str:
    """The model a job should load: the given path or id, else the active model."""
    if name:
        return str(store.path_of(name)) if name in store.BUILTINS else name
    active = store.active_model()
    if active is None:
        raise ModelError(
            "no active model yet: pass --model DIR (a fine-tuned nuchter classifier), "
            "or train one with `nuchter train --data data/`"
        )
    return str(active)


def looks_local(name: str) -> bool:
    """Paths are local; only a bare ``owner/name`` or ``name`` may be a hub id."""
    return (
        Path(name).expanduser().exists()
        or name.startswith((".", "/", "~"))
        or name.count("/") > 1
        or "\\" in name
    )


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


class Classifier:
    """A loaded model and tokenizer that turn sentences into probabilities."""

    def __init__(self, name: str, tokenizer, network, labels: Sequence[str], inputs: InputSpec | None = None):
        self.name = name
        self.tokenizer = tokenizer
        self.network = network
        self.labels = tuple(labels)
        self.inputs = inputs or InputSpec()

    def predict(
        self,
        texts: Sequence[str],
        *,
        contexts: Sequence[str] | None = None,
        batch_size: int = 32,
        max_length: int = 128,
    ) -> list[dict[str, float]]:
        """Probabilities per sentence, in input order, keyed by label.

        ``contexts`` (one string per sentence, see ``model.inputs.neighbours``)
        is used only by models trained with page context. Batches are formed
        after sorting by length so padding stays small.
        """
        import torch

        texts = [unicodedata.normalize("NFC", t) for t in texts]  # decomposed accents would become [UNK]
        first = self.inputs.first(texts)
        second = self.inputs.second(texts, contexts)
        order = sorted(range(len(texts)), key=lambda i: len(first[i]) + (len(second[i]) if second else 0))
        out: list[dict[str, float] | None] = [None] * len(texts)
        with torch.inference_mode():
            for begin in range(0, len(order), batch_size):
                chunk = order[begin : begin + batch_size]
                encoded = self.tokenizer(
                    [first[i] for i in chunk],
                    [second[i] for i in chunk] if second else None,
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                encoded = {k: v.to(self.network.device) for k, v in encoded.items()}
                logits = self.network(**encoded).logits.float() / self.inputs.temperature
                probs = torch.softmax(logits, dim=-1).cpu().tolist()
                for i, row in zip(chunk, probs):
                    out[i] = by_label(self.labels, row)
        return out  # type: ignore[return-value]


BACKENDS = ("auto", "onnx", "torch")


def load_transformers(source: str, *, local: bool, threads: int | None = None):
    """Tokenizer and sequence classifier through transformers: safetensors only, no
    remote code, and no network for a local directory. Shared by PyTorch serving
    and the ONNX export."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - broken installs only
        raise ModelError(f"cannot import the model runtime ({exc}); reinstall nuchter") from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local, trust_remote_code=False)
        network = AutoModelForSequenceClassification.from_pretrained(
            source, local_files_only=local, use_safetensors=True, trust_remote_code=False
        )
    except Exception as exc:  # transformers raises many types; all mean "cannot load"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = "directory" if local else "hub id (needs network access)"
        raise ModelError(f"cannot load model from {where} {source}: {reason}") from None
    return tokenizer, network


def load_classifier(
    name: str, *, threads: int | None = None, backend: str = "auto", int8: bool = True, warn=None
) -> Classifier:
    """Load a classifier from a directory or the hub.

    Linear n-gram models load as they are. Transformer directories are served
    by ONNX Runtime (exported on first use and cached; int8 unless ``int8`` is
    False) with ``backend="auto"`` or ``"onnx"``; ``"auto"`` falls back to
    PyTorch when the export fails, and hub ids always use PyTorch.
    """
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    local = looks_local(name)
    if local:
        path = Path(name).expanduser()
        check_model_dir(path)
        from model.linear_backend import is_linear_model, load_linear_classifier

        if is_linear_model(path):
            return load_linear_classifier(path, name)
        if prebuilt_onnx(path) is not None:
            if backend == "torch":
                raise ModelError(f"{name} ships as an ONNX graph only; use --backend onnx or auto")
            from model.onnx_backend import load_onnx_classifier

            classifier = load_onnx_classifier(path, threads=threads, quantized=int8)
            classifier.name = name
            return classifier
        check_tokenizer(path)
        if backend != "torch":
            try:
                from model.onnx_backend import load_onnx_classifier

                classifier = load_onnx_classifier(path, threads=threads, quantized=int8)
                classifier.name = name
                return classifier
            except (ModelError, ImportError) as exc:
                if backend == "onnx":
                    raise ModelError(f"ONNX serving failed: {exc}") from None
                if warn is not None:
                    warn(f"ONNX serving unavailable ({exc}); using PyTorch")
        source = str(path)
    else:
        if backend == "onnx":
            raise ModelError(f"ONNX serving needs a local model directory, not the hub id {name}")
        source = name
    tokenizer, network = load_transformers(source, local=local, threads=threads)
    network.eval()
    labels = label_order(network.config.id2label)
    return Classifier(name, tokenizer, network, labels, InputSpec.from_config(network.config.to_dict()))
