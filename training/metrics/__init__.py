"""Scoring of predictions through the project's local `evaluate` module."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from nuchter.labels import LABELS

MODULE_DIR = Path(__file__).resolve().parent / "nuchter_metrics"


@lru_cache(maxsize=1)
def _metric():
    import evaluate

    return evaluate.load(str(MODULE_DIR))


def compute(predictions: list[int], references: list[int]) -> dict:
    """Metrics keyed by label name, ids in the order of ``LABELS``."""
    raw = _metric().compute(predictions=predictions, references=references, num_labels=len(LABELS))
    return {
        "macro_f1": round(raw["macro_f1"], 4),
        "accuracy": round(raw["accuracy"], 4),
        "per_label": {
            label: {
                "precision": round(raw["precision"][i], 4),
                "recall": round(raw["recall"][i], 4),
                "f1": round(raw["f1"][i], 4),
                "support": raw["support"][i],
            }
            for i, label in enumerate(LABELS)
        },
        "confusion_matrix": {
            "labels": list(LABELS),
            "rows_gold_columns_predicted": raw["confusion_matrix"],
        },
    }
