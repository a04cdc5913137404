"""Inference for nuchter's linear n-gram classifiers without scikit-learn.

The model is TF-IDF over word 1–2-grams and character 2–5-grams (within word
boundaries) with a multinomial logistic regression, trained by
``training/linear.py`` with scikit-learn and saved as JSON (vocabulary,
settings) plus safetensors (idf, weights) — never pickle. The analyzers
below reproduce scikit-learn's exactly; a test holds them to it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from nuchter.errors import ModelError
from nuchter.modeldir import by_label, label_order

MODEL_TYPE = "nuchter-linear"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str, low: int, high: int) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    grams = []
    for n in range(low, high + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    grams = []
    for word in _SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:
                grams.append(padded)  # as scikit-learn: a short word counts once
                break
            grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


def is_linear_model(path: Path) -> bool:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, ValueError):
        return False


class LinearClassifier:
    """Same interface as :class:`nuchter.classify.Classifier`."""

    def __init__(self, name: str, config: dict, vocabularies: list[dict[str, int]], idfs, coef, intercept, labels):
        self.name = name
        self.config = config
        self.vocabularies = vocabularies
        self.idfs = idfs
        self.coef = coef
        self.intercept = intercept
        self.labels = tuple(labels)
        self.offsets = [0]
        for vocabulary in vocabularies:
            self.offsets.append(self.offsets[-1] + len(vocabulary))

    def _features(self, text: str) -> dict[int, float]:
        row: dict[int, float] = {}
        for part, (vocabulary, idf, offset) in enumerate(zip(self.vocabularies, self.idfs, self.offsets)):
            spec = self.config["features"][part]
            low, high = spec["ngram_range"]
            grams = (word_ngrams if spec["analyzer"] == "word" else char_wb_ngrams)(text, low, high)
            weights = {}
            for gram, count in Counter(grams).items():
                index = vocabulary.get(gram)
                if index is not None:
                    tf = 1.0 + math.log(count) if spec.get("sublinear_tf") else float(count)
                    weights[index] = tf * float(idf[index])
            norm = math.sqrt(sum(v * v for v in weights.values()))
            if norm:
                for index, value in weights.items():
                    row[offset + index] = value / norm
        return row

    def predict(
        self, texts: Sequence[str], *, contexts: Sequence[str] | None = None, batch_size: int = 256, max_length: int = 0
    ) -> list[dict[str, float]]:
        """Probabilities per sentence; n-grams see the sentence alone, so ``contexts`` is ignored."""
        import numpy as np

        out = []
        for begin in range(0, len(texts), batch_size):
            chunk = texts[begin : begin + batch_size]
            logits = np.tile(self.intercept, (len(chunk), 1)).astype(np.float64)
            for r, text in enumerate(chunk):
                row = self._features(text)
                if row:
                    columns = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
                    values = np.fromiter(row.values(), dtype=np.float64, count=len(row))
                    logits[r] += self.coef[:, columns] @ values
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            out += [by_label(self.labels, row) for row in probs.tolist()]
        return out


def load_linear_classifier(path: Path, name: str | None = None) -> LinearClassifier:
    try:
        from safetensors.numpy import load_file

        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        vocabularies = json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
        tensors = load_file(str(path / "model.safetensors"))
        idfs = [tensors[f"idf_{i}"] for i in range(len(vocabularies))]
        coef, intercept = tensors["coef"], tensors["intercept"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load linear model from {path}: {exc}") from None
    labels = label_order(config["id2label"])
    expected = sum(len(v) for v in vocabularies)
    if coef.shape != (len(labels), expected):
        raise ModelError(f"{path}: weights have shape {coef.shape}, expected {(len(labels), expected)}")
    return LinearClassifier(name or str(path), config, vocabularies, idfs, coef, intercept, labels)
