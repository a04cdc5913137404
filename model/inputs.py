"""What a transformer classifier is fed: the same for training and for every backend.

A fine-tuned model records its input form in ``config.json`` under
``nuchter_inputs``: a text prefix (e5 encoders were trained with
``"query: "``), whether the neighbouring sentences go in as a second segment,
and the softmax temperature fitted on dev so that ``confidence`` is a
calibrated probability. Models without the block get plain sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

CONFIG_KEY = "nuchter_inputs"
CONTEXTS = ("none", "neighbours")


@dataclass(frozen=True)
class InputSpec:
    prefix: str = ""
    context: str = "none"
    """'neighbours': the previous and next sentence of the page, as a second segment."""
    temperature: float = 1.0
    context_words: int = 0
    """Words of the context kept (its first and last halves); 0 keeps all of it."""

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise ValueError(f"unknown context {self.context!r}; choose one of {', '.join(CONTEXTS)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.context_words < 0:
            raise ValueError(f"context_words cannot be negative, got {self.context_words}")

    @classmethod
    def from_config(cls, config: dict) -> "InputSpec":
        block = config.get(CONFIG_KEY) or {}
        known = {k: block[k] for k in ("prefix", "context", "temperature", "context_words") if k in block}
        return cls(**known)

    def to_config(self) -> dict:
        return asdict(self)

    @property
    def uses_context(self) -> bool:
        return self.context != "none"

    def first(self, texts: Sequence[str]) -> list[str]:
        return [self.prefix + t for t in texts]

    def second(self, texts: Sequence[str], contexts: Sequence[str] | None) -> list[str] | None:
        """Second segments, or None when this model takes sentences alone."""
        if not self.uses_context:
            return None
        if contexts is None:
            contexts = [""] * len(texts)
        return [shorten(c, self.context_words) or "-" for c in contexts]


def shorten(context: str, words: int) -> str:
    """The first and last halves of ``words`` words: the start of the previous sentence and the end
    of the next, which keeps what kind of page it is at a fraction of the tokens.

    >>> shorten("een twee drie vier vijf zes", 4)
    'een twee vijf zes'
    """
    if not words:
        return context
    parts = context.split()
    if len(parts) <= words:
        return context
    head = (words + 1) // 2
    return " ".join(parts[:head] + parts[len(parts) - (words - head):])


def wants_context(classifier) -> bool:
    """Only transformer models trained with page context read it; skip building it for the rest."""
    spec = getattr(classifier, "inputs", None)
    return bool(spec is not None and spec.uses_context)


def neighbours(sentences: Sequence[str]) -> list[str]:
    """Each sentence's page context: the sentence before and the one after.

    >>> neighbours(["A.", "B.", "C."])
    ['B.', 'A. C.', 'B.']
    """
    out = []
    for i in range(len(sentences)):
        around = sentences[max(0, i - 1) : i] + sentences[i + 1 : i + 2]
        out.append(" ".join(around))
    return out
