"""The scoring job end to end: text → segments → probabilities → results."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from nuchter.classify import Classifier, load_classifier, resolve_model
from nuchter.config import ScoreConfig
from nuchter.errors import InputError
from nuchter.explain import explain
from nuchter.inputs import page_contexts, wants_context
from nuchter.results import Evidence, ScoreResult, SentenceScore, Skipped, Source
from nuchter.segment import SENTENCE, Segment, segment, segment_lines


def get_classifier(model: str | Classifier | None, config: ScoreConfig) -> Classifier:
    if hasattr(model, "predict"):  # any loaded classifier: PyTorch, ONNX or linear
        return model
    import sys

    return load_classifier(
        resolve_model(model or config.model), threads=config.threads, backend=config.backend, int8=config.int8,
        warn=lambda message: print(f"warning: {message}", file=sys.stderr),
    )


_SEGMENTING = threading.Lock()
"""`nuchter serve` segments requests in worker threads; concurrent segmentation returned no
segments at all, now and then."""


def prepare(text: str, lines: bool = False) -> tuple[list[Segment], tuple[Skipped, ...]]:
    """The sentences to score and the spans set aside; raises InputError when nothing is scorable."""
    if not text.strip():
        raise InputError("the text is empty: give some Dutch text to score")
    with _SEGMENTING:  # the segmenter (pysbd and its regex caches) is not thread-safe
        segments = list(segment_lines(text) if lines else segment(text))
    sentences = [s for s in segments if s.kind == SENTENCE]
    skipped = tuple(Skipped(s.start, s.end, s.text, s.kind) for s in segments if s.kind != SENTENCE)
    if not sentences:
        reasons = sorted({s.reason for s in skipped})
        raise InputError(
            "no scorable sentence found (only " + ", ".join(reasons) + " lines); "
            "give running text, or use --lines to score every line as it is"
        )
    return sentences, skipped


@dataclass(frozen=True)
class PreparedPage:
    """One page as the user gave it (a pasted text, a file, a request), cut into what is scored
    and what is set aside; ``lines`` pages score every line alone, without page context."""

    sentences: list[Segment]
    skipped: tuple[Skipped, ...] = ()
    lines: bool = False
    source: Source | None = None
    """A fetched page's URL and title, carried into its result."""
    contexts: tuple[str, ...] | None = None
    """Page context given with the sentences instead of built from the page: a sentence labelled apart
    from its page carries its neighbours (as `nuchter select` writes tasks); one per sentence."""


def score_pages(
    pages: Sequence[PreparedPage],
    classifier: Classifier,
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    explain_evidence: bool = False,
) -> list[ScoreResult]:
    """The one path from prepared pages to results: every front end (score, scan, serve, evaluate) calls it.

    All pages' sentences go to the model in one pooled call, each with the page context its model
    reads (decided here, once), so short pages still fill batches.
    """
    reads_context = wants_context(classifier) and not all(page.lines for page in pages)
    texts: list[str] = []
    contexts: list[str] = []
    for page in pages:
        own = [s.text for s in page.sentences]
        texts += own
        if reads_context:
            if page.contexts is not None:
                contexts += list(page.contexts)
            else:
                contexts += [""] * len(own) if page.lines else page_contexts(own)
    context_arg = contexts if reads_context else None
    probabilities = classifier.predict(texts, contexts=context_arg, batch_size=batch_size, max_length=max_length) if texts else []
    evidence = None
    if explain_evidence:
        evidence = explain(
            classifier, texts, probabilities, contexts=context_arg,
            offsets=[s.start for page in pages for s in page.sentences], batch_size=batch_size, max_length=max_length,
        )
    results, at = [], 0
    for page in pages:
        n = len(page.sentences)
        results.append(assemble(classifier.name, page.sentences, page.skipped, probabilities[at : at + n],
                                evidence[at : at + n] if evidence is not None else None, page.source))
        at += n
    return results


def assemble(
    model_name: str,
    sentences: list[Segment],
    skipped: tuple[Skipped, ...],
    probabilities: list[dict[str, float]],
    evidence: list[tuple[Evidence, ...]] | None = None,
    source: Source | None = None,
) -> ScoreResult:
    """Sentences and their probabilities → the result every output format is made from."""
    scored = []
    for index, (seg, probs) in enumerate(zip(sentences, probabilities)):
        label = max(probs, key=probs.__getitem__)
        scored.append(
            SentenceScore(
                index=index,
                start=seg.start,
                end=seg.end,
                text=seg.text,
                label=label,
                confidence=round(probs[label], 4),
                scores={k: round(v, 4) for k, v in probs.items()},
                evidence=evidence[index] if evidence is not None else None,
            )
        )
    return ScoreResult(model=model_name, sentences=tuple(scored), skipped=skipped, source=source)


def score_text(
    text: str,
    model: str | Classifier | None = None,
    *,
    config: ScoreConfig | None = None,
    source: Source | None = None,
) -> ScoreResult:
    """Label every sentence of a Dutch text.

    ``model`` is a model directory, a hub id, an already loaded
    :class:`Classifier` (reuse it across calls), or None for the active model.

    >>> result = score_text("Magnesium geneest alles. Bestel nu!", model="path/to/model")  # doctest: +SKIP
    >>> [(s.text, s.label) for s in result.sentences]  # doctest: +SKIP
    [('Magnesium geneest alles.', 'overclaimed'), ('Bestel nu!', 'promotional')]
    """
    config = config or ScoreConfig()
    sentences, skipped = prepare(text, config.lines)
    classifier = get_classifier(model, config)
    page = PreparedPage(sentences, skipped, lines=config.lines, source=source)
    return score_pages([page], classifier, batch_size=config.batch_size, max_length=config.max_length,
                       explain_evidence=config.explain)[0]
