"""Inter-annotator agreement: Cohen's kappa overall and per label (one label against the rest).

    python -m nuchter.training.agreement data/agreement/first_pass.jsonl data/agreement/second_pass.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from nuchter.labels import LABELS


def cohen_kappa(first: list[str], second: list[str]) -> float:
    """Agreement beyond chance: (observed - expected) / (1 - expected)."""
    if len(first) != len(second) or not first:
        raise ValueError("two equally long, non-empty label sequences are needed")
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second)) / n
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[k] * count_b[k] for k in set(count_a) | set(count_b)) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(first: list[str], second: list[str]) -> dict:
    per_label = {
        label: round(cohen_kappa([a == label for a in first], [b == label for b in second]), 3)
        for label in LABELS
    }
    matrix = [[sum(1 for a, b in zip(first, second) if a == x and b == y) for y in LABELS] for x in LABELS]
    return {
        "items": len(first),
        "observed_agreement": round(sum(a == b for a, b in zip(first, second)) / len(first), 3),
        "kappa": round(cohen_kappa(first, second), 3),
        "kappa_per_label": per_label,
        "matrix_rows_first_columns_second": matrix,
    }


def read_labels(path: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["id"]: row["label"] for row in rows}


def main(argv: list[str]) -> int:
    first, second = read_labels(Path(argv[0])), read_labels(Path(argv[1]))
    if set(first) != set(second):
        print("the two passes label different items", file=sys.stderr)
        return 1
    ids = list(first)
    print(json.dumps(agreement([first[i] for i in ids], [second[i] for i in ids]), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
