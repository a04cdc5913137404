"""Near-copy tests on sentences: character 5-gram sets compared by Jaccard overlap.

Shared by the corpus checks (training.corpus.near_copies) and the selection
of sentences to label, which must not hand an annotator the same sentence twice.
"""

from __future__ import annotations

NEAR_COPY = 0.8
"""Jaccard overlap at which two sentences count as near copies."""


def normalised(text: str) -> str:
    """Lower case, letters and digits only, single spaces: the form near copies are compared in."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def shingles(text: str, n: int = 5) -> set[str]:
    flat = normalised(text)
    return {flat[i : i + n] for i in range(max(1, len(flat) - n + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
