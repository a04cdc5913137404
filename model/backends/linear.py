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
from nuchter.backends.modeldir import by_label, label_order

MODEL_TYPE = "nuchter-linear"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")
WORD_CACHE_SIZE = 200_000
"""Words whose character n-grams are kept; the cache starts afresh when full."""


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
        self._word_cache: list[dict[str, tuple[int, ...]]] = [{} for _ in vocabularies]
        self.offsets = [0]
        for vocabulary in vocabularies:
            self.offsets.append(self.offsets[-1] + len(vocabulary))

    def _word_grams(self, part: int, word: str) -> tuple[int, ...]:
        """Vocabulary indices of one word's character n-grams, with repeats. A word's grams never
        depend on its sentence, and words recur, so they are worked out once per word."""
        cache = self._word_cache[part]
        found = cache.get(word)
        if found is None:
            low, high = self.config["features"][part]["ngram_range"]
            vocabulary = self.vocabularies[part]
            found = tuple(i for gram in char_wb_ngrams(word, low, high) if (i := vocabulary.get(gram)) is not None)
            if len(cache) >= WORD_CACHE_SIZE:
                cache.clear()
            cache[word] = found
        return found

    def _columns(self, text: str):
        """The sentence's L2-normalised TF-IDF row as (global columns, values), part by part."""
        import numpy as np

        columns, values = [], []
        for part, (vocabulary, idf, offset) in enumerate(zip(self.vocabularies, self.idfs, self.offsets)):
            spec = self.config["features"][part]
            if spec["analyzer"] == "word":
                low, high = spec["ngram_range"]
                counts = Counter(i for gram in word_ngrams(text, low, high) if (i := vocabulary.get(gram)) is not None)
            else:
                counts = Counter()
                for word in text.lower().split():
                    counts.update(self._word_grams(part, word))
            if not counts:
                continue
            index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weight = (1.0 + np.log(tf) if spec.get("sublinear_tf") else tf) * idf[index]
            norm = math.sqrt(float(weight @ weight))
            if norm:
                columns.append(index + offset)
                values.append(weight / norm)
        return columns, values

    def predict(
        self, texts: Sequence[str], *, contexts: Sequence[str] | None = None, batch_size: int = 256, max_length: int = 0
    ) -> list[dict[str, float]]:
        """Probabilities per sentence; n-grams see the sentence alone, so ``contexts`` is ignored."""
        import numpy as np

        out = []
        for begin in range(0, len(texts), batch_size):
            chunk = texts[begin : begin + batch_size]
            columns, values, rows = [], [], []
            for r, text in enumerate(chunk):
                parts, weights = self._columns(text)
                columns += parts
                values += weights
                rows += [np.full(len(p), r, dtype=np.int64) for p in parts]
            logits = np.tile(self.intercept, (len(chunk), 1)).astype(np.float64)
            if columns:
                at, by = np.concatenate(rows), np.concatenate(columns)
                contributions = self.coef[:, by] * np.concatenate(values)  # one sparse-times-dense product per batch
                for label in range(logits.shape[1]):
                    logits[:, label] += np.bincount(at, weights=contributions[label], minlength=len(chunk))
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
