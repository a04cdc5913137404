"""Evaluate a model on labelled data: macro-F1, per-label figures, confusion matrix, errors."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from nuchter.classify import load_classifier
from nuchter.labels import LABELS
from nuchter.report import spreadsheet_safe
from nuchter.training.corpus import Example, contexts_of, load_for_training
from nuchter.training.train import LABEL2ID


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
    metrics["serving"] = type(classifier).__name__ + (f" int8={int8}" if "Onnx" in type(classifier).__name__ else "")
    errors = [
        (e, p, probs) for e, p, probs in zip(examples, predicted, probabilities) if p != e.label
    ]
    return metrics, errors


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
    lines = [
        f"model {metrics['model']} ({metrics['serving']}) on {metrics['sentences']} sentences ({metrics['split']})",
        f"macro-F1 {metrics['macro_f1']:.3f}   accuracy {metrics['accuracy']:.3f}",
        "",
        f"{'label':<13}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}",
    ]
    for label in LABELS:
        m = metrics["per_label"][label]
        lines.append(f"{label:<13}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{m['support']:>9}")
    lines += ["", "confusion (rows gold, columns predicted):", " " * 13 + "".join(f"{l[:11]:>12}" for l in LABELS)]
    for label, row in zip(LABELS, metrics["confusion_matrix"]["rows_gold_columns_predicted"]):
        lines.append(f"{label:<13}" + "".join(f"{n:>12}" for n in row))
    return "\n".join(lines)
