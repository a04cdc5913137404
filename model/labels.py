"""The four labels, defined once; every other module imports them from here."""

from __future__ import annotations

import difflib

SUPPORTED = "supported"
HEDGED = "hedged"
OVERCLAIMED = "overclaimed"
PROMOTIONAL = "promotional"

LABELS: tuple[str, ...] = (SUPPORTED, HEDGED, OVERCLAIMED, PROMOTIONAL)
"""Canonical order: used for score columns, confusion matrices and new models."""

LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
"""A label's class id in every model nuchter trains (``label2id`` in its config)."""
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))

FLAGGED: frozenset[str] = frozenset({OVERCLAIMED, PROMOTIONAL})
"""Labels that count as 'going too far' in summaries."""

PRECEDENCE: tuple[str, ...] = (OVERCLAIMED, PROMOTIONAL, HEDGED, SUPPORTED)
"""When several labels fit one sentence, the first of these wins (labelling guide)."""

ALIASES: dict[str, str] = {
    "onderbouwd": SUPPORTED,
    "voorzichtig": HEDGED,
    "overdreven": OVERCLAIMED,
    "promotioneel": PROMOTIONAL,
}
"""Dutch names annotators may use in spreadsheets."""

DESCRIPTIONS: dict[str, str] = {
    SUPPORTED: "in proportion to the evidence, or no health claim",
    HEDGED: "qualified: uncertainty, limits of the evidence, see a professional",
    OVERCLAIMED: "a health claim stronger than the evidence allows",
    PROMOTIONAL: "sells or recruits: calls to action, prices, praise of a provider",
}
"""One line per label from the labelling guide (data/GUIDELINES.md): report legends, annotation hints."""

COLOURS: dict[str, str] = {
    SUPPORTED: "green",
    HEDGED: "cyan",
    OVERCLAIMED: "red",
    PROMOTIONAL: "magenta",
}


class UnknownLabelError(ValueError):
    pass


def normalise_label(raw: str) -> str:
    """Map a label as people write it (any case, Dutch alias) to its canonical name.

    >>> normalise_label(" Overdreven ")
    'overclaimed'
    """
    key = raw.strip().lower()
    if key in LABELS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    guess = difflib.get_close_matches(key, [*LABELS, *ALIASES], n=1, cutoff=0.6)
    hint = f" (did you mean '{ALIASES.get(guess[0], guess[0])}'?)" if guess else ""
    raise UnknownLabelError(
        f"unknown label {raw!r}{hint}; expected one of {', '.join(LABELS)}"
    )
