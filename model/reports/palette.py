"""The label colours and the one escaping function, shared by the HTML pages and their charts."""

from __future__ import annotations

import html

from nuchter.labels import HEDGED, OVERCLAIMED, PROMOTIONAL, SUPPORTED

PALETTE: dict[str, str] = {
    SUPPORTED: "#d7f0d4",    # light green
    HEDGED: "#d6e8fa",       # light blue
    OVERCLAIMED: "#fbd3d0",  # light red
    PROMOTIONAL: "#e9dbf7",  # light purple
}
"""Background per label: light enough that black text stays readable on it."""

ACCENTS: dict[str, str] = {
    SUPPORTED: "#3d8b37",
    HEDGED: "#2f6db0",
    OVERCLAIMED: "#c0392b",
    PROMOTIONAL: "#7d3cb5",
}
"""A darker shade per label for underlines and swatches, so labels differ by more than a pale tint."""


FALLBACK_BACKGROUND = "#eeeeee"
FALLBACK_ACCENT = "#777777"


def esc(value: object) -> str:
    """The one way text enters the page: escaped for element content and attributes alike."""
    return html.escape(str(value), quote=True)
