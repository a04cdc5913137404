"""Evaluate a model on labelled data: macro-F1, per-label figures, confusion matrix, errors.

Two ways to read the data. Sentence mode scores every labelled row with its neighbours in its
document (the corpus's own splits). Page mode scores each labelled page as one text, exactly as
`nuchter score` and `scan` serve it: the page's sentences are joined, cut by nuchter's own
segmenter, scored on the one scoring path, and each labelled sentence takes the label of the
predicted sentence that covers most of its characters (a sentence the tool skips as a heading or
furniture counts as `supported`). Real pages are measured this way, with an interval from
resampling whole pages, because sentences of one page are not independent.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from pathlib import Path

from nuchter.classify import load_classifier
from nuchter.labels import LABEL2ID, LABELS
from nuchter.reports.tables import spreadsheet_safe
from nuchter.errors import NuchterError
from nuchter.training.corpus import Example, Problem, contexts_of, data_files, load_for_training, read_rows, to_example


def evaluate_model(
    model: str, data: list[Path], *, split: str | None = None, threads: int | None = None,
    backend: str = "auto", int8: bool = True,
):
    """Metrics for ``model`` on the rows of ``data`` (optionally one split only) and the misclassified rows."""
    from nuchter.training.metrics import compute

    corpus = load_for_training(data)
    examples = corpus.split(split) if split else corpus.examples
    if not examples:
        from nuchter.errors import NuchterError

        raise NuchterError(f"no sentences in the {split} split of that data")
    classifier = load_classifier(model, threads=threads, backend=backend, int8=int8)
    probabilities = classifier.predict([e.text for e in examples], contexts=contexts_of(examples))
    predicted = [max(p, key=p.__getitem__) for p in probabilities]
    metrics = compute([LABEL2ID[p] for p in predicted], [LABEL2ID[e.label] for e in examples])
    metrics["model"] = classifier.name
    metrics["sentences"] = len(examples)
    metrics["split"] = split or "all"
    metrics["serving"] = _serving(classifier, int8)
    errors = [
        (e, p, probs) for e, p, probs in zip(examples, predicted, probabilities) if p != e.label
    ]
    return Evaluation(metrics, errors, [e.label for e in examples], predicted, [e.doc_id for e in examples],
                      examples, [round(p[label], 4) for p, label in zip(probabilities, predicted)],
                      [e.register for e in examples])


PAGE_KEYS = ("url", "page", "page_id", "pagina")
"""Row fields that name a row's page; a set whose rows carry one is read as whole pages.
The corpus's ``doc_id`` counts only when asked for (``--page-key doc_id``)."""
GROUP_KEYS = ("register", "group")
PAGES_PER_CALL = 32
"""Pages pooled into one model call, as ``nuchter scan`` pools documents."""
MISSING_LABEL = "supported"
"""What a labelled sentence counts as when the tool scores no sentence over it."""


@dataclass(frozen=True)
class LabelledPage:
    key: str
    group: str
    examples: tuple[Example, ...]

    def text_and_spans(self) -> tuple[str, list[tuple[int, int]]]:
        """The page as one text (sentences joined by a space) and each sentence's span in it."""
        spans, at = [], 0
        for example in self.examples:
            spans.append((at, at + len(example.text)))
            at += len(example.text) + 1
        return " ".join(e.text for e in self.examples), spans


def page_key_of(paths: Sequence[Path]) -> str | None:
    """The page field of a set, if its rows have one of ``PAGE_KEYS`` (checked on the first row)."""
    for path in data_files(paths):
        for _, row in read_rows(path):
            if isinstance(row, dict):
                return next((k for k in PAGE_KEYS if row.get(k) not in (None, "")), None)
    return None


def read_pages(paths: Sequence[Path], page_key: str, group_key: str | None = None) -> list[LabelledPage]:
    """Consecutive rows with the same ``page_key`` are one page, in reading order; unlabelled
    structure rows are left out; a page whose rows are not consecutive is an error."""
    pages: list[LabelledPage] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for path in data_files(paths):
        current: str | None = None
        rows: list[Example] = []
        group = ""

        def close():
            if rows:
                pages.append(LabelledPage(current, group, tuple(rows)))

        for where, row in read_rows(path):
            item = to_example(where, row, path.stem)
            if item is None:
                continue
            if isinstance(item, Problem):
                problems.append(item)
                continue
            key = str(row.get(page_key) or "").strip()
            if not key:
                problems.append(Problem(where, f"no {page_key!r}: every row needs its page"))
                continue
            if key != current:
                close()
                if key in seen:
                    problems.append(Problem(where, f"page {key!r} starts again here: keep each page's rows together, in reading order"))
                seen.add(key)
                current, rows = key, []
                group = str(row.get(group_key) or "") if group_key else next((str(row[k]) for k in GROUP_KEYS if row.get(k)), "")
            rows.append(item)
        close()
    fatal = [p for p in problems if p.fatal]
    if fatal:
        more = f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""
        raise NuchterError(f"{fatal[0]}{more}")
    if not pages:
        raise NuchterError("no labelled sentences in that data")
    return pages


def covering(spans: Sequence[tuple[int, int]], predicted: Sequence[tuple[int, int]]) -> list[int]:
    """For each labelled span, the predicted sentence covering most of its characters (-1: none).

    >>> covering([(0, 10), (11, 20), (21, 25)], [(0, 14), (15, 20)])
    [0, 1, -1]
    """
    out = []
    for start, end in spans:
        best, index = 0, -1
        for i, (p_start, p_end) in enumerate(predicted):
            overlap = min(end, p_end) - max(start, p_start)
            if overlap > best:
                best, index = overlap, i
        out.append(index)
    return out


def align(spans: Sequence[tuple[int, int]], predicted: Sequence[tuple[int, int, str]]) -> list[str]:
    """Each labelled span's label: that of the predicted sentence covering most of its characters.

    >>> align([(0, 10), (11, 20), (21, 25)], [(0, 14, "hedged"), (15, 20, "promotional")])
    ['hedged', 'promotional', 'supported']
    """
    found = covering(spans, [(a, b) for a, b, _ in predicted])
    return [predicted[i][2] if i >= 0 else MISSING_LABEL for i in found]


def predict_pages(classifier, pages: Sequence[LabelledPage], *, batch_size: int = 32, max_length: int | None = None,
                  progress=None) -> list[list[tuple[str, dict]]]:
    """Per page, per labelled sentence: the predicted label and the probabilities behind it."""
    from nuchter.pipeline import PreparedPage, prepare, score_pages
    from nuchter.errors import InputError

    uniform = {label: 1 / len(LABELS) for label in LABELS}
    out: list[list[tuple[str, dict]]] = []
    for first in range(0, len(pages), PAGES_PER_CALL):
        group = pages[first : first + PAGES_PER_CALL]
        prepared, spans = [], []
        for page in group:
            text, page_spans = page.text_and_spans()
            spans.append(page_spans)
            try:
                sentences, skipped = prepare(text)
            except InputError:
                sentences, skipped = [], ()
            prepared.append(PreparedPage(sentences, skipped))
        results = score_pages(prepared, classifier, batch_size=batch_size, max_length=max_length)
        for page_spans, result in zip(spans, results):
            scored = result.sentences
            out.append([(scored[i].label, scored[i].scores) if i >= 0 else (MISSING_LABEL, uniform)
                        for i in covering(page_spans, [(x.start, x.end) for x in scored])])
        if progress:
            progress(min(first + PAGES_PER_CALL, len(pages)), len(pages))
    return out


class Evaluation(NamedTuple):
    metrics: dict
    errors: list
    gold: list[str]
    predicted: list[str]
    pages: list[str]
    """Each sentence's page (sentence mode: its document), for intervals that resample whole pages."""
    examples: list = []
    confidences: list[float] = []
    """The calibrated probability of each predicted label, as served."""
    groups: list[str] = []
    """Each sentence's register or group ("" when the data has none)."""


PageEvaluation = Evaluation

def evaluate_pages(
    model: str, data: list[Path], *, page_key: str | None = None, group_key: str | None = None,
    threads: int | None = None, backend: str = "auto", int8: bool = True, batch_size: int = 32,
    max_length: int | None = None, progress=None,
):
    """Page-mode metrics for ``model``: macro-F1 with a 95 % interval over pages, per label, per group."""
    import numpy as np

    from nuchter.training.guard import bootstrap_weights, interval, macro_f1
    from nuchter.training.metrics import compute

    page_key = page_key or page_key_of(data)
    if page_key is None:
        raise NuchterError(f"no page field in that data: give --page-key (rows carry none of {', '.join(PAGE_KEYS)})")
    pages = read_pages(data, page_key, group_key)
    classifier = model if hasattr(model, "predict") else load_classifier(model, threads=threads, backend=backend, int8=int8)
    predicted_pages = predict_pages(classifier, pages, batch_size=batch_size, max_length=max_length, progress=progress)
    examples = [e for page in pages for e in page.examples]
    predicted = [label for page in predicted_pages for label, _ in page]
    probabilities = [probs for page in predicted_pages for _, probs in page]
    gold_ids = np.array([LABEL2ID[e.label] for e in examples])
    predicted_ids = np.array([LABEL2ID[p] for p in predicted])
    metrics = compute(predicted_ids.tolist(), gold_ids.tolist())
    page_of = [page.key for page in pages for _ in page.examples]
    resampled = macro_f1(gold_ids, predicted_ids, bootstrap_weights(page_of))
    metrics["macro_f1_interval"] = list(interval(resampled))
    groups = [page.group for page in pages for _ in page.examples]
    if by_group := accuracy_per_group(groups, page_of, [e.label == p for e, p in zip(examples, predicted)]):
        metrics["per_group"] = by_group
    metrics.update(model=classifier.name, sentences=len(examples), pages=len(pages), split="pages",
                   page_key=page_key, mode="pages", serving=_serving(classifier, int8))
    errors = [(e, p, probs) for e, p, probs in zip(examples, predicted, probabilities) if p != e.label]
    return Evaluation(metrics, errors, [e.label for e in examples], predicted, page_of, examples,
                      [round(p[label], 4) for p, label in zip(probabilities, predicted)], groups)


def accuracy_per_group(groups: Sequence[str], pages: Sequence[str], hits: Sequence[bool]) -> dict:
    """Accuracy, sentences and pages per register or group (sentences without one left out), largest first."""
    by_group: dict[str, list[bool]] = defaultdict(list)
    group_pages: dict[str, set] = defaultdict(set)
    for group, page, hit in zip(groups, pages, hits):
        if group:
            by_group[group].append(hit)
            group_pages[group].add(page)
    return {g: {"accuracy": round(sum(h) / len(h), 4), "sentences": len(h), "pages": len(group_pages[g])}
            for g, h in sorted(by_group.items(), key=lambda kv: -len(kv[1]))}


RELIABILITY_BINS = 10
MAX_LISTED_ERRORS = 5000
"""The evaluation page lists at most this many errors (the --errors CSV has them all)."""


def figures(evaluation: Evaluation) -> dict:
    """What `evaluate --html` draws, beside the metrics: per-label intervals over pages (or documents),
    the reliability of the calibrated confidence with its ECE, accuracy per group, and the errors."""
    import numpy as np

    from nuchter.training.guard import bootstrap_weights, confusions, interval

    gold = np.array([LABEL2ID[label] for label in evaluation.gold])
    predicted = np.array([LABEL2ID[label] for label in evaluation.predicted])
    confusion = confusions(gold, predicted, bootstrap_weights(list(evaluation.pages)))
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    as_predicted, as_gold = confusion.sum(axis=1), confusion.sum(axis=2)
    # a resample without the label (nothing predicted, or no gold) has no precision or recall: left out
    ratio = lambda a, b: np.divide(a, b, out=np.full_like(a, np.nan), where=b > 0)  # noqa: E731
    resampled = {"precision": ratio(hits, as_predicted), "recall": ratio(hits, as_gold),
                 "f1": ratio(2 * hits, as_predicted + as_gold)}

    def spread(values: np.ndarray) -> list[float]:
        values = values[~np.isnan(values)]
        return list(interval(values)) if values.size else [0.0, 0.0]

    intervals = {label: {name: spread(values[:, i]) for name, values in resampled.items()}
                 for i, label in enumerate(LABELS)}

    confidences = np.array(evaluation.confidences, dtype=float)
    correct = gold == predicted
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    which = np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, RELIABILITY_BINS - 1)
    bins, ece = [], 0.0
    for b in range(RELIABILITY_BINS):
        inside = which == b
        n = int(inside.sum())
        mean_confidence = float(confidences[inside].mean()) if n else None
        accuracy = float(correct[inside].mean()) if n else None
        if n:
            ece += n / max(gold.size, 1) * abs(accuracy - mean_confidence)
        bins.append({"low": round(float(edges[b]), 2), "high": round(float(edges[b + 1]), 2), "count": n,
                     "confidence": None if mean_confidence is None else round(mean_confidence, 4),
                     "accuracy": None if accuracy is None else round(accuracy, 4)})

    groups = accuracy_per_group(evaluation.groups, evaluation.pages, correct.tolist())

    errors = [{"where": e.where, "page": unit, "group": group, "text": e.text, "gold": e.label, "predicted": p,
               "confidence": c}
              for e, p, c, unit, group in zip(evaluation.examples, evaluation.predicted, evaluation.confidences,
                                              evaluation.pages, evaluation.groups) if p != e.label]
    macro = np.nan_to_num(resampled["f1"]).mean(axis=1)  # an absent label counts 0, as in macro-F1 itself
    return {"label_intervals": intervals, "macro_f1_interval": list(interval(macro)),
            "reliability": {"bins": bins, "ece": round(ece, 4), "sentences": int(gold.size)},
            "per_group": groups, "errors": errors[:MAX_LISTED_ERRORS], "error_count": len(errors)}


def paired_difference(gold: Sequence[str], first: Sequence[str], second: Sequence[str], pages: Sequence[str]) -> dict:
    """Macro-F1 of ``first`` minus that of ``second`` on the same sentences, with a 95 % interval from
    resampling whole pages: a model replaces another only when the interval excludes no gain."""
    import numpy as np

    from nuchter.training.guard import bootstrap_weights, interval, macro_f1

    ids = lambda labels: np.array([LABEL2ID[l] for l in labels])  # noqa: E731
    weights = bootstrap_weights(list(pages))
    gold_ids = ids(gold)
    difference = macro_f1(gold_ids, ids(first), weights) - macro_f1(gold_ids, ids(second), weights)
    point = float(macro_f1(gold_ids, ids(first)) - macro_f1(gold_ids, ids(second)))
    return {"difference": round(point, 4), "interval": list(interval(difference))}


def _serving(classifier, int8: bool) -> str:
    return type(classifier).__name__ + (f" int8={int8}" if "Onnx" in type(classifier).__name__ else "")


def write_errors(path: Path, errors: list[tuple[Example, str, dict]]) -> None:
    """CSV for review; written to a temp file and renamed, so a failed write loses nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["where", "doc_id", "text", "gold", "predicted", "confidence"])
            for example, predicted, probs in errors:
                writer.writerow([spreadsheet_safe(v) for v in (
                    example.where, example.doc_id, example.text, example.label, predicted, round(probs[predicted], 4)
                )])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_table(metrics: dict) -> str:
    where = (f"{metrics['sentences']} sentences in {metrics['pages']} pages, each scored as one text"
             if metrics.get("mode") == "pages" else f"{metrics['sentences']} sentences ({metrics['split']})")
    low_high = metrics.get("macro_f1_interval")
    spread = f" (95 % interval over pages {low_high[0]:.3f}-{low_high[1]:.3f})" if low_high else ""
    lines = [
        f"model {metrics['model']} ({metrics['serving']}) on {where}",
        f"macro-F1 {metrics['macro_f1']:.3f}{spread}   accuracy {metrics['accuracy']:.3f}",
        "",
        f"{'label':<13}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}",
    ]
    for label in LABELS:
        m = metrics["per_label"][label]
        lines.append(f"{label:<13}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{m['support']:>9}")
    lines += ["", "confusion (rows gold, columns predicted):", " " * 13 + "".join(f"{l[:11]:>12}" for l in LABELS)]
    for label, row in zip(LABELS, metrics["confusion_matrix"]["rows_gold_columns_predicted"]):
        lines.append(f"{label:<13}" + "".join(f"{n:>12}" for n in row))
    if metrics.get("per_group"):
        lines += ["", f"{'group':<16}{'accuracy':>9}{'sentences':>11}{'pages':>7}"]
        for group, m in metrics["per_group"].items():
            lines.append(f"{group:<16}{m['accuracy']:>9.3f}{m['sentences']:>11}{m['pages']:>7}")
    return "\n".join(lines)
