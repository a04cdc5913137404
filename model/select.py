"""What to label next: the sentences the model is least sure of, as annotation tasks.

Uncertainty sampling on the calibrated probabilities (margin between the top
two labels, or entropy), with a cap per document so one long page cannot
fill the batch, near copies dropped, and sentences already in the training
data left out. The tasks carry the model's guess as a pre-annotation, so an
annotator confirms or corrects instead of starting blank.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nuchter.labels import LABELS
from nuchter.similarity import NEAR_COPY, jaccard, normalised, shingles

STRATEGIES = ("margin", "entropy")
FROM_NAME, TO_NAME = "label", "text"
"""The names the Label Studio config gives the choices and the sentence; tasks refer to them."""


@dataclass(frozen=True)
class Candidate:
    """A scored sentence that might be worth an annotator's time."""

    path: str
    start: int
    end: int
    text: str
    context: str
    scores: dict[str, float]

    @property
    def label(self) -> str:
        return max(self.scores, key=self.scores.__getitem__)


def doubt(scores: dict[str, float], strategy: str = "margin") -> float:
    """How unsure the model is, from 0 (certain) to 1.

    ``margin``: one minus the gap between the two most probable labels;
    ``entropy``: the entropy of the four probabilities over its maximum, log 4.

    >>> doubt({"supported": 0.5, "hedged": 0.5, "overclaimed": 0.0, "promotional": 0.0})
    1.0
    >>> round(doubt({"supported": 1.0, "hedged": 0.0, "overclaimed": 0.0, "promotional": 0.0}, "entropy"), 3)
    0.0
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    probs = sorted(scores.values(), reverse=True)
    if strategy == "margin":
        return 1.0 - (probs[0] - (probs[1] if len(probs) > 1 else 0.0))
    return max(0.0, -sum(p * math.log(p) for p in probs if p > 0) / math.log(len(LABELS)))


def pick(
    candidates: Iterable[Candidate],
    n: int,
    *,
    strategy: str = "margin",
    per_doc: int = 3,
    exclude: Iterable[str] = (),
) -> list[tuple[Candidate, float]]:
    """The ``n`` most doubtful candidates with their doubt, most doubtful first.

    At most ``per_doc`` per document; a candidate that is a near copy of one
    already picked (character 5-gram Jaccard >= 0.8) or whose text is in
    ``exclude`` (compared case- and punctuation-blind) is passed over.
    """
    if n < 1 or per_doc < 1:
        raise ValueError("n and per_doc must be at least 1")
    known = {normalised(text) for text in exclude}
    ranked = sorted(
        ((c, doubt(c.scores, strategy)) for c in candidates),
        key=lambda item: (-item[1], item[0].path, item[0].start),
    )
    chosen: list[tuple[Candidate, float]] = []
    chosen_shingles: list[set[str]] = []
    per_document: Counter = Counter()
    for candidate, how_unsure in ranked:
        if len(chosen) == n:
            break
        if per_document[candidate.path] >= per_doc or normalised(candidate.text) in known:
            continue
        own = shingles(candidate.text)
        if any(jaccard(own, other) >= NEAR_COPY for other in chosen_shingles):
            continue
        chosen.append((candidate, how_unsure))
        chosen_shingles.append(own)
        per_document[candidate.path] += 1
    return chosen


def label_studio_task(candidate: Candidate, how_unsure: float, model_version: str) -> dict:
    """One Label Studio task with the model's guess as a pre-annotation (a prediction)."""
    return {
        "data": {
            "text": candidate.text,
            "context": candidate.context,
            "path": candidate.path,
            "doc_id": candidate.path,  # training splits by document, so a page's sentences stay together
            "start": candidate.start,
            "end": candidate.end,
        },
        "predictions": [
            {
                "model_version": model_version,
                "score": round(candidate.scores[candidate.label], 4),
                "result": [
                    {
                        "from_name": FROM_NAME,
                        "to_name": TO_NAME,
                        "type": "choices",
                        "value": {"choices": [candidate.label]},
                    }
                ],
            }
        ],
        "meta": {"doubt": round(how_unsure, 4), "scores": {k: round(v, 4) for k, v in candidate.scores.items()}},
    }


def doccano_line(candidate: Candidate, how_unsure: float, model_version: str) -> dict:
    """One doccano text-classification line, with the model's guess as ``prediction``.

    Not as ``label``: doccano's own field is what its export calls the annotation,
    so a task file fed to `nuchter train` unlabelled would teach the model its own guesses.
    """
    return {
        "text": candidate.text,
        "prediction": candidate.label,
        "context": candidate.context,
        "path": candidate.path,
        "doc_id": candidate.path,
        "start": candidate.start,
        "end": candidate.end,
        "model_version": model_version,
        "score": round(candidate.scores[candidate.label], 4),
        "doubt": round(how_unsure, 4),
    }


def label_config(hints: dict[str, str]) -> str:
    """The Label Studio labelling config (XML) for the four labels, one hint per label."""
    from xml.sax.saxutils import quoteattr

    choices = "\n".join(
        f"    <Choice value={quoteattr(label)} hint={quoteattr(hints.get(label, ''))}/>" for label in LABELS
    )
    return (
        "<View>\n"
        '  <Header value="Context (the sentences around it)"/>\n'
        '  <Text name="context" value="$context"/>\n'
        '  <Header value="Label this sentence"/>\n'
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true" required="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def candidates_of(path: str, sentences: Sequence, contexts: Sequence[str]) -> list[Candidate]:
    """Candidates from one scored document (``SentenceScore``-like objects, in page order)."""
    return [Candidate(path, s.start, s.end, s.text, context, dict(s.scores)) for s, context in zip(sentences, contexts)]
