"""What a transformer classifier is fed: the same for training and for every backend.

A fine-tuned model records its input form in ``config.json`` under
``nuchter_inputs``: a text prefix (e5 encoders were trained with
``"query: "``), how the neighbouring sentences go in (as a second segment, or
as their own sentence vectors through small heads: ``vectors``, which encodes
every sentence once), and the softmax temperature fitted on dev so that ``confidence`` is a
calibrated probability. Models without the block get plain sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

CONFIG_KEY = "nuchter_inputs"


class Context(StrEnum):
    """How a model reads the page around a sentence (saved in its folder, read by every backend)."""

    NONE = "none"
    NEIGHBOURS = "neighbours"
    """The sentence before and after, as a second segment of the input."""
    VECTORS = "vectors"
    """Each sentence encoded once; heads on the neighbours' pooled vectors."""
    PAGE = "page"
    """VECTORS plus a head on the mean vector of every sentence of the page."""


CONTEXTS = tuple(c.value for c in Context)
VECTOR_CONTEXTS = (Context.VECTORS, Context.PAGE)
"""Context modes that encode each sentence once and add heads on other sentences' vectors."""
NEIGHBOUR_BREAK = "\n"
"""Between the sentence before and the one after in a context string, so that a model reading
neighbours as vectors can look each one up; a second segment reads it as a space."""
PAGE_MARK = "\x1f"
"""Ends a context's neighbours and starts its page's key: a control character, which cleaned text never
holds, so every sentence of one page carries the same key and a 'page' model can find its page."""
HEADS_FILE = "neighbour_heads.safetensors"
"""Beside a 'vectors' model's weights: what the sentence before and after add to its logits."""


@dataclass(frozen=True)
class InputSpec:
    prefix: str = ""
    context: Context = Context.NONE
    """'neighbours': the previous and next sentence of the page, as a second segment;
    'vectors': each sentence encoded alone, its logits plus linear heads on its neighbours' vectors;
    'page': 'vectors' plus a head on the mean vector of all the sentences of its page."""
    temperature: float = 1.0
    context_words: int = 0
    """Words of the context kept (its first and last halves); 0 keeps all of it."""
    max_length: int = 128
    """Tokens kept per input, as in training: every backend truncates there unless told otherwise."""

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise ValueError(f"unknown context {self.context!r}; choose one of {', '.join(CONTEXTS)}")
        object.__setattr__(self, "context", Context(self.context))
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.context_words < 0:
            raise ValueError(f"context_words cannot be negative, got {self.context_words}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")

    @classmethod
    def from_config(cls, config: dict) -> "InputSpec":
        block = config.get(CONFIG_KEY) or {}
        known = {k: block[k] for k in ("prefix", "context", "temperature", "context_words", "max_length") if k in block}
        return cls(**known)

    def to_config(self) -> dict:
        return asdict(self) | {"context": self.context.value}

    @property
    def uses_context(self) -> bool:
        return self.context != Context.NONE

    @property
    def reads_vectors(self) -> bool:
        return self.context in VECTOR_CONTEXTS

    @property
    def reads_page(self) -> bool:
        return self.context == Context.PAGE

    @property
    def pairs(self) -> bool:
        """Context goes in as a second segment of every input."""
        return self.context == Context.NEIGHBOURS

    def first(self, texts: Sequence[str]) -> list[str]:
        return [self.prefix + t for t in texts]

    def second(self, texts: Sequence[str], contexts: Sequence[str] | None) -> list[str] | None:
        """Second segments, or None when this model encodes sentences alone."""
        if not self.pairs:
            return None
        if contexts is None:
            contexts = [""] * len(texts)
        return [shorten(" ".join(p for p in split_neighbours(c) if p), self.context_words) or "-" for c in contexts]


def split_neighbours(context: str) -> tuple[str, str]:
    """The sentence before and the one after; a context without the break (labelled by hand)
    counts as all before.

    >>> split_neighbours("A.\\nC.")
    ('A.', 'C.')
    >>> split_neighbours("A.\\nC.\\x1f9f86d081")
    ('A.', 'C.')
    """
    before, _, after = context.partition(PAGE_MARK)[0].partition(NEIGHBOUR_BREAK)
    return before, after


def page_key(context: str) -> str:
    """The key of the page a context belongs to ('' when it names none)."""
    return context.partition(PAGE_MARK)[2]


@dataclass(frozen=True)
class VectorPlan:
    """Which distinct sentences a 'vectors' model encodes, and where each input's own sentence and
    its neighbours are among them (-1: none). Sentences shared as neighbours are encoded once."""

    unique: list[str]
    own: list[int]
    before: list[int]
    after: list[int]
    page: list[int] | None = None
    """Each input's page (an index into ``members``); None when the model reads no page."""
    members: list[list[int]] | None = None
    """Each page's distinct sentences: the neighbours its inputs name, so an occluded variant of a
    sentence (``--explain``) reads the same page as the sentence; an input naming no neighbour and no
    page is a page of its own."""


def vector_plan(texts: Sequence[str], contexts: Sequence[str] | None, page: bool = False) -> VectorPlan:
    index: dict[str, int] = {}

    def at(text: str) -> int:
        if not text:
            return -1
        return index.setdefault(text, len(index))

    own = [at(t) for t in texts]
    parts = [split_neighbours(c) for c in contexts] if contexts is not None else [("", "")] * len(texts)
    before = [at(b) for b, _ in parts]
    after = [at(a) for _, a in parts]
    if not page:
        return VectorPlan(list(index), own, before, after)
    keys = [page_key(c) for c in contexts] if contexts is not None else [""] * len(texts)
    pages: dict[str, int] = {}
    members: list[set[int]] = []
    page_of = []
    for i, key in enumerate(keys):
        name = key or f"\0{i}"  # no key: a page of its own, its neighbours included
        if name not in pages:
            pages[name] = len(members)
            members.append(set())
        page_of.append(pages[name])
        members[pages[name]].update(j for j in (before[i], after[i]) if j >= 0)
    for i, p in enumerate(page_of):
        if not members[p] or not keys[i]:
            members[p].add(own[i])
    return VectorPlan(list(index), own, before, after, page_of, [sorted(m) for m in members])


def combine(plan: VectorPlan, parts, temperature: float = 1.0):
    """Probabilities per input from ``parts`` (one row per distinct sentence: its own logits, then what
    it adds as the sentence before, then as the one after, then, for a page model, what it adds to every
    sentence of its page, averaged over the page): the same sums as in training."""
    import numpy as np

    parts = np.asarray(parts, dtype=np.float32)
    width = parts.shape[1] // (4 if plan.page is not None else 3)
    own, as_before, as_after = parts[:, :width], parts[:, width : 2 * width], parts[:, 2 * width : 3 * width]
    logits = own[plan.own].copy()
    for rows, part in ((plan.before, as_before), (plan.after, as_after)):
        rows = np.asarray(rows, dtype=np.int64)
        present = rows >= 0
        logits[present] += part[rows[present]]
    if plan.page is not None:
        as_page = parts[:, 3 * width :]
        page_terms = np.stack([as_page[m].mean(axis=0) for m in plan.members])
        logits += page_terms[np.asarray(plan.page, dtype=np.int64)]
    logits = logits / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=-1, keepdims=True)


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


def page_contexts(sentences: Sequence[str]) -> list[str]:
    """``neighbours`` plus the page's key: what every scoring path feeds a model that reads context.

    >>> page_contexts(["A.", "B."])[0].split(PAGE_MARK)[0]
    '\\nB.'
    """
    import hashlib

    key = hashlib.blake2b("\n".join(sentences).encode("utf-8"), digest_size=8).hexdigest()
    return [c + PAGE_MARK + key for c in neighbours(sentences)]


def neighbours(sentences: Sequence[str]) -> list[str]:
    """Each sentence's page context: the sentence before and the one after, a line break between.

    >>> neighbours(["A.", "B.", "C."])
    ['\\nB.', 'A.\\nC.', 'B.\\n']
    """
    flat = [" ".join(s.split(NEIGHBOUR_BREAK)) for s in sentences]  # one break per context, no more
    out = []
    for i in range(len(flat)):
        before, after = (flat[i - 1] if i else ""), (flat[i + 1] if i + 1 < len(flat) else "")
        out.append(before + NEIGHBOUR_BREAK + after if before or after else "")
    return out
