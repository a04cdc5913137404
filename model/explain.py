"""Why a sentence got its label: the words whose removal lowers that label's probability most.

Occlusion on the served model, so it means the same for every backend
(PyTorch, ONNX, linear) and explains the probabilities the user was shown:
each word (or, in long sentences and long texts, each short phrase) is cut out in turn, the
variants are scored in one batch with the sentence's own page context, and a
span's weight is how much the predicted label's probability falls without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nuchter.results import Evidence

WORD = re.compile(r"\w+(?:[-'’.,/]\w+)*%?")
"""A word: letters or digits, keeping joined forms such as 5-HTP, 2,5 or 60%."""

MAX_SPANS = 8
MIN_SPANS = 3
BUDGET = 128
"""Extra model inputs an explanation aims at, whatever the text's length. The budget is shared
out over the sentences (at least MIN_SPANS, at most MAX_SPANS each): a short sentence is cut
word by word, a long one into phrases of neighbouring words. A pasted paragraph of a few
sentences gets words; a 20-sentence text gets phrases of about two words and costs about twice its
scoring (sized for the built-in model's ~120 inputs/s on 2 cores; 64 left phrases of four words)."""


def span_counts(word_counts: Sequence[int]) -> list[int]:
    """Spans per sentence: short sentences take what they need, longer ones share the rest.

    >>> span_counts([2, 12, 30])
    [2, 8, 8]
    >>> sum(span_counts([12] * 20)), min(span_counts([12] * 20))
    (128, 6)
    >>> span_counts([2] * 10 + [12] * 20)[8:12]
    [2, 2, 5, 5]
    """
    left = max(BUDGET, MIN_SPANS * len(word_counts))
    counts = [0] * len(word_counts)
    order = sorted(range(len(word_counts)), key=lambda i: word_counts[i])
    for position, i in enumerate(order):
        share = max(MIN_SPANS, min(MAX_SPANS, left // (len(order) - position)))
        counts[i] = min(word_counts[i], share)
        left -= counts[i]
    return counts


TOP = 5
MIN_WEIGHT = 0.005
"""A span whose removal changes the probability by less than half a point explains nothing."""


def spans(sentence: str, max_spans: int = MAX_SPANS) -> list[tuple[int, int]]:
    """Character spans to occlude: single words, or runs of neighbouring words, as even as can be.

    >>> spans("Kurkuma geneest alles.")
    [(0, 7), (8, 15), (16, 21)]
    >>> spans("een twee drie vier vijf", max_spans=2)
    [(0, 8), (9, 23)]
    """
    words = [m.span() for m in WORD.finditer(sentence)]
    count = min(len(words), max(1, max_spans))
    bounds = [round(i * len(words) / count) for i in range(count + 1)] if words else []
    return [(words[a][0], words[b - 1][1]) for a, b in zip(bounds, bounds[1:])]


_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+(?=[.,;:!?)\]])")


def without(sentence: str, start: int, end: int) -> str:
    """The sentence with one span cut out and the gap closed."""
    return _SPACE_BEFORE_PUNCTUATION.sub("", " ".join((sentence[:start] + " " + sentence[end:]).split()))


@dataclass(frozen=True)
class Occlusions:
    """The model inputs an explanation needs: each sentence with one span cut out, context unchanged."""

    texts: list[str]
    contexts: list[str]
    owners: list[tuple[int, int, int]]
    """(sentence index, span start, span end) per input."""


def occlusions(sentences: Sequence[str], contexts: Sequence[str] | None = None, max_spans: int | None = None) -> Occlusions:
    """Each sentence with one span cut out; ``max_spans`` fixes the spans per sentence
    instead of sharing out the budget."""
    budget = span_counts([len(WORD.findall(s)) for s in sentences]) if max_spans is None else [max_spans] * len(sentences)
    texts, kept, owners = [], [], []
    for i, sentence in enumerate(sentences):
        for start, end in spans(sentence, max(1, budget[i])):
            texts.append(without(sentence, start, end) or "-")
            kept.append(contexts[i] if contexts is not None else "")
            owners.append((i, start, end))
    return Occlusions(texts, kept, owners)


def evidence(
    sentences: Sequence[str],
    probabilities: Sequence[dict[str, float]],
    cut: Occlusions,
    cut_probabilities: Sequence[dict[str, float]],
    *,
    offsets: Sequence[int] | None = None,
    top: int = TOP,
) -> list[tuple[Evidence, ...]]:
    """Evidence per sentence, strongest first, from the scores of its occluded variants.

    ``probabilities`` are the sentences' scores as served (their top label is
    the one explained); ``offsets`` place each sentence in the input text so
    evidence offsets cut that text.
    """
    offsets = offsets if offsets is not None else [0] * len(sentences)
    found: list[list[Evidence]] = [[] for _ in sentences]
    labels = [max(p, key=p.__getitem__) for p in probabilities]
    for (i, start, end), variant in zip(cut.owners, cut_probabilities):
        weight = probabilities[i][labels[i]] - variant[labels[i]]
        if weight >= MIN_WEIGHT:
            found[i].append(Evidence(offsets[i] + start, offsets[i] + end, sentences[i][start:end], round(weight, 4)))
    return [tuple(sorted(items, key=lambda e: (-e.weight, e.start))[:top]) for items in found]


def explain(
    classifier,
    sentences: Sequence[str],
    probabilities: Sequence[dict[str, float]],
    *,
    contexts: Sequence[str] | None = None,
    offsets: Sequence[int] | None = None,
    batch_size: int = 32,
    max_length: int = 128,
) -> list[tuple[Evidence, ...]]:
    """Occlude, score the variants in one batched call on ``classifier``, weigh."""
    cut = occlusions(sentences, contexts)
    scores = classifier.predict(
        cut.texts, contexts=cut.contexts if contexts is not None else None, batch_size=batch_size, max_length=max_length
    ) if cut.texts else []
    return evidence(sentences, probabilities, cut, scores, offsets=offsets)
