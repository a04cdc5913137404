"""Sentences → label probabilities with a Hugging Face sequence classifier on PyTorch.

Loading is strict on purpose: safetensors weights only, no remote code, and
local directories never touch the network.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence

from nuchter.errors import ModelError
from nuchter.inputs import InputSpec, combine, vector_plan
from nuchter.backends.modeldir import by_label, in_length_order, rows_in_length_order


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
        max_length: int | None = None,
    ) -> list[dict[str, float]]:
        """Probabilities per sentence, in input order, keyed by label.

        ``contexts`` (one string per sentence, see ``nuchter.inputs.neighbours``)
        is used only by models trained with page context. Batches are formed
        after sorting by length so padding stays small.
        """
        import torch

        if not texts:
            return []
        max_length = max_length or self.inputs.max_length  # the model's own, saved with it
        # Decomposed accents would become [UNK]; contexts too, and a 'vectors' model looks its
        # neighbours up among the sentences, so both must be normalised alike.
        texts = [unicodedata.normalize("NFC", t) for t in texts]
        if contexts is not None:
            contexts = [unicodedata.normalize("NFC", c) for c in contexts]
        if self.inputs.reads_vectors:
            return self._predict_vectors(texts, contexts, batch_size, max_length)
        first = self.inputs.first(texts)
        second = self.inputs.second(texts, contexts)

        def score(chunk: list[int]) -> list[list[float]]:
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
            return torch.softmax(logits, dim=-1).cpu().tolist()

        lengths = [len(first[i]) + (len(second[i]) if second else 0) for i in range(len(texts))]
        with torch.inference_mode():
            return in_length_order(lengths, batch_size, score, self.labels)

    def _predict_vectors(self, texts, contexts, batch_size: int, max_length: int) -> list[dict[str, float]]:
        """Each distinct sentence encoded once; neighbours' heads added (see ``nuchter.backends.vector_heads``)."""
        import torch

        plan = vector_plan(texts, contexts, page=self.inputs.reads_page)
        first = self.inputs.first(plan.unique)

        def parts(chunk: list[int]):
            encoded = self.tokenizer([first[i] for i in chunk], padding=True, truncation=True,
                                     max_length=max_length, return_tensors="pt")
            encoded = {k: v.to(self.network.network.device) for k, v in encoded.items()}
            return torch.cat([p.float() for p in self.network.parts(**encoded)], dim=-1).cpu().numpy()

        with torch.inference_mode():
            rows = rows_in_length_order([len(t) for t in first], batch_size, parts)
        return [by_label(self.labels, row) for row in combine(plan, rows, self.inputs.temperature).tolist()]


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
