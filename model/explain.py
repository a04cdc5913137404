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

from nuchter.labels import FLAGGED
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


def without_all(sentence: str, cuts: Sequence[tuple[int, int]]) -> str:
    """The sentence with several spans cut out (right to left, so offsets hold) and the gaps closed."""
    for start, end in sorted(cuts, reverse=True):
        sentence = sentence[:start] + " " + sentence[end:]
    return _SPACE_BEFORE_PUNCTUATION.sub("", " ".join(sentence.split()))


class Widening:
    """Evidence for flagged sentences no single span explains: when several words carry a label
    ("geneest … gegarandeerd"), leaving out any one of them moves nothing. Cut the spans out
    cumulatively, most telling first, until the label changes; that smallest greedy set is the
    evidence, each span weighed by what its cut added (a span whose cut added nothing is left out).
    One model input per sentence per round, within what is left of the budget."""

    def __init__(self, sentences, probabilities, cut: Occlusions, cut_probabilities, found, contexts=None,
                 offsets=None, budget: int = BUDGET):
        self.sentences, self.contexts = sentences, contexts
        self.offsets = offsets if offsets is not None else [0] * len(sentences)
        self.labels = [max(p, key=p.__getitem__) for p in probabilities]
        self.start = [p[label] for p, label in zip(probabilities, self.labels)]
        drops: dict[int, list] = {}
        for (i, a, b), variant in zip(cut.owners, cut_probabilities):
            drops.setdefault(i, []).append((self.start[i] - variant[self.labels[i]], a, b))
        empty = [i for i, items in enumerate(found)
                 if not items and self.labels[i] in FLAGGED and len(drops.get(i, ())) > 1]
        self.order = {i: [(a, b) for _, a, b in sorted(drops[i], key=lambda d: (-d[0], d[1]))] for i in empty}
        self.taken = {i: 0 for i in empty}
        self.last = dict(zip(empty, (self.start[i] for i in empty)))
        self.weights: dict[int, list[float]] = {i: [] for i in empty}
        self.found: dict[int, tuple[Evidence, ...]] = {}
        self.left = max(0, budget - len(cut.texts))

    def inputs(self) -> tuple[list[str], list[str] | None, list[int]]:
        """The next round: each pending sentence with one more span cut out."""
        pending = [i for i in self.order if i not in self.found and self.taken[i] < len(self.order[i]) - 1]
        pending = pending[: self.left]
        self.left -= len(pending)
        texts = [without_all(self.sentences[i], self.order[i][: self.taken[i] + 1]) or "-" for i in pending]
        contexts = [self.contexts[i] for i in pending] if self.contexts is not None else None
        return texts, contexts, pending

    def absorb(self, pending: list[int], probabilities) -> None:
        for i, probs in zip(pending, probabilities):
            self.taken[i] += 1
            now = probs[self.labels[i]]
            self.weights[i].append(self.last[i] - now)
            self.last[i] = now
            if max(probs, key=probs.__getitem__) != self.labels[i]:
                spans_cut = self.order[i][: self.taken[i]]
                items = [Evidence(self.offsets[i] + a, self.offsets[i] + b, self.sentences[i][a:b], round(w, 4))
                         for (a, b), w in zip(spans_cut, self.weights[i]) if round(w, 4) > 0]
                self.found[i] = tuple(sorted(items, key=lambda e: (-e.weight, e.start))[:TOP])

    def merged(self, found: list[tuple[Evidence, ...]]) -> list[tuple[Evidence, ...]]:
        return [self.found.get(i, items) for i, items in enumerate(found)]


def explain(
    classifier,
    sentences: Sequence[str],
    probabilities: Sequence[dict[str, float]],
    *,
    contexts: Sequence[str] | None = None,
    offsets: Sequence[int] | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
) -> list[tuple[Evidence, ...]]:
    """Occlude, score the variants in one batched call on ``classifier``, weigh; then widen where no
    single span moved anything (see :class:`Widening`), one batched call per round."""
    cut = occlusions(sentences, contexts)
    scores = classifier.predict(
        cut.texts, contexts=cut.contexts if contexts is not None else None, batch_size=batch_size, max_length=max_length
    ) if cut.texts else []
    found = evidence(sentences, probabilities, cut, scores, offsets=offsets)
    widening = Widening(sentences, probabilities, cut, scores, found, contexts=contexts, offsets=offsets)
    while True:
        texts, variant_contexts, pending = widening.inputs()
        if not pending:
            return widening.merged(found)
        widening.absorb(pending, classifier.predict(texts, contexts=variant_contexts, batch_size=batch_size,
                                                    max_length=max_length))
