"""Figures → inline SVG. Pure: numbers in, markup strings out; no library, nothing loaded from elsewhere.

Each drawn mark carries its numbers as data attributes (``data-count``, ``data-value`` …) and a
``<title>`` tooltip, so a reader can hover for the figure and a test can check the chart against
the counts it was drawn from. Every label and name goes through ``esc``.
"""

from __future__ import annotations

from collections.abc import Sequence

from nuchter.labels import LABELS
from nuchter.reports.palette import ACCENTS, FALLBACK_ACCENT, esc

METRICS = ("precision", "recall", "f1")
_METRIC_SHADES = {"precision": 0.55, "recall": 0.8, "f1": 1.0}


def _svg(width: int, height: int, label: str, body: list[str], cls: str) -> str:
    return (f'<svg class="chart {esc(cls)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg">'
            f'<title>{esc(label)}</title>{"".join(body)}</svg>')


def _text(x: float, y: float, content: object, anchor: str = "start", cls: str = "", size: int = 12,
          rotate: bool = False) -> str:
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    klass = f' class="{esc(cls)}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{klass}{turn}>'
            f'{esc(content)}</text>')


def _mix(hex_colour: str, share: float) -> str:
    """``hex_colour`` faded towards white: share 0 is white, 1 the colour itself."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - (255 - c) * share):02x}" for c in (r, g, b))


def confusion_heatmap(rows: Sequence[Sequence[int]], labels: Sequence[str] = LABELS) -> str:
    """Rows gold, columns predicted; each cell shaded by its share of its gold row (recall's view)."""
    cell, left, top = 86, 112, 44
    n = len(labels)
    width, height = left + n * cell + 10, top + n * cell + 30
    body = [_text(left + n * cell / 2, 14, "predicted", "middle", "axis"),
            _text(14, top + n * cell / 2, "gold", "middle", "axis", rotate=True)]
    for j, label in enumerate(labels):
        body.append(_text(left + j * cell + cell / 2, top - 8, label, "middle"))
    for i, (gold, row) in enumerate(zip(labels, rows)):
        total = sum(row) or 1
        body.append(_text(left - 8, top + i * cell + cell / 2 + 4, gold, "end"))
        for j, (predicted, count) in enumerate(zip(labels, row)):
            share = count / total
            colour = "#2e7d32" if i == j else "#c0392b"
            fill = _mix(colour, 0.08 + 0.92 * share) if count else "#ffffff"
            ink = "#ffffff" if share > 0.55 else "#1b1b1b"
            x, y = left + j * cell, top + i * cell
            body.append(
                f'<g class="cell" data-gold="{esc(gold)}" data-predicted="{esc(predicted)}" data-count="{int(count)}">'
                f'<title>{esc(f"gold {gold}, predicted {predicted}: {count} ({share:.0%} of {gold})")}</title>'
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="3" fill="{fill}" stroke="#cccccc"/>'
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 - 2:.1f}" font-size="16" text-anchor="middle" '
                f'fill="{ink}">{int(count)}</text>'
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 15:.1f}" font-size="11" text-anchor="middle" '
                f'fill="{ink}">{share:.0%}</text></g>'
            )
    return _svg(width, height, "Confusion matrix: rows gold, columns predicted, shaded by share of the gold row",
                body, "confusion")


def label_metric_bars(per_label: dict, intervals: dict, labels: Sequence[str] = LABELS) -> str:
    """Precision, recall and F1 per label as bars, each with its 95 % interval as a whisker."""
    plot_h, top, left, group_w, bar_w = 200, 16, 40, 132, 30
    width, height = left + group_w * len(labels) + 10, top + plot_h + 52
    y_of = lambda v: top + plot_h * (1 - v)  # noqa: E731
    body = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{left}" x2="{width - 10}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" stroke="#e3e3e3"/>')
        body.append(_text(left - 6, y_of(tick) + 4, f"{tick:.2f}", "end", size=10))
    for g, label in enumerate(labels):
        x0 = left + g * group_w + 12
        colour = ACCENTS.get(label, FALLBACK_ACCENT)
        for k, metric in enumerate(METRICS):
            value = float(per_label[label][metric])
            low, high = intervals.get(label, {}).get(metric, (value, value))
            x = x0 + k * (bar_w + 6)
            body.append(
                f'<g class="bar" data-label="{esc(label)}" data-metric="{metric}" data-value="{value:.4f}" '
                f'data-low="{low:.4f}" data-high="{high:.4f}">'
                f'<title>{esc(f"{label} {metric} {value:.3f} (95 % interval {low:.3f}–{high:.3f})")}</title>'
                f'<rect x="{x}" y="{y_of(value):.1f}" width="{bar_w}" height="{plot_h * value:.1f}" '
                f'fill="{_mix(colour, _METRIC_SHADES[metric])}"/>'
                f'<line class="whisker" x1="{x + bar_w / 2}" x2="{x + bar_w / 2}" y1="{y_of(high):.1f}" '
                f'y2="{y_of(low):.1f}" stroke="#1b1b1b" stroke-width="1.5"/>'
                f'<line x1="{x + bar_w / 2 - 5}" x2="{x + bar_w / 2 + 5}" y1="{y_of(high):.1f}" y2="{y_of(high):.1f}" stroke="#1b1b1b"/>'
                f'<line x1="{x + bar_w / 2 - 5}" x2="{x + bar_w / 2 + 5}" y1="{y_of(low):.1f}" y2="{y_of(low):.1f}" stroke="#1b1b1b"/>'
                f'</g>'
            )
            body.append(_text(x + bar_w / 2, top + plot_h + 14, {"precision": "P", "recall": "R", "f1": "F1"}[metric],
                              "middle", size=10))
        body.append(_text(x0 + (3 * bar_w + 12) / 2, top + plot_h + 32, label, "middle"))
    return _svg(width, height, "Precision (P), recall (R) and F1 per label, with 95 % intervals", body, "metrics")


def reliability_diagram(bins: Sequence[dict], ece: float) -> str:
    """Accuracy against the calibrated confidence of the predicted label, per confidence bin; the
    diagonal is perfect calibration, and the gap to it, weighted by the bins' sizes, is the ECE."""
    size, left, top = 300, 46, 14
    width, height = left + size + 20, top + size + 44
    x_of = lambda v: left + size * v  # noqa: E731
    y_of = lambda v: top + size * (1 - v)  # noqa: E731
    body = [f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#ffffff" stroke="#cccccc"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(_text(left - 6, y_of(tick) + 4, f"{tick:.2f}", "end", size=10))
        body.append(_text(x_of(tick), top + size + 14, f"{tick:.2f}", "middle", size=10))
    body.append(f'<line x1="{x_of(0)}" y1="{y_of(0)}" x2="{x_of(1)}" y2="{y_of(1)}" stroke="#999999" stroke-dasharray="4 3"/>')
    for b in bins:
        if not b["count"]:
            continue
        x, w = x_of(b["low"]) + 1, size * (b["high"] - b["low"]) - 2
        acc, conf = b["accuracy"], b["confidence"]
        tip = (f"confidence {b['low']:.1f}–{b['high']:.1f}: {b['count']} sentences, accuracy {acc:.3f}, "
               f"mean confidence {conf:.3f}")
        body.append(
            f'<g class="bin" data-low="{b["low"]}" data-high="{b["high"]}" data-count="{b["count"]}" '
            f'data-accuracy="{acc:.4f}" data-confidence="{conf:.4f}">'
            f'<title>{esc(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y_of(acc):.1f}" width="{w:.1f}" height="{size * acc:.1f}" fill="#8fb3d9"/>'
            f'<circle cx="{x_of(conf):.1f}" cy="{y_of(acc):.1f}" r="3.5" fill="#1f5fa8"/></g>'
        )
    body.append(_text(left + size / 2, height - 8, "confidence of the predicted label (calibrated)", "middle", "axis"))
    body.append(_text(12, top + size / 2, "accuracy", "middle", "axis", rotate=True))
    body.append(_text(left + 8, top + 16, f"ECE {ece:.3f}", cls="ece", size=13))
    return _svg(width, height, f"Reliability diagram: accuracy per confidence bin; ECE {ece:.3f}", body, "reliability")


def group_accuracy_bars(groups: dict) -> str:
    """Accuracy per register or group, as horizontal bars, with its sentences and pages."""
    row, left, bar_max = 26, 150, 320
    width, height = left + bar_max + 150, 10 + row * len(groups) + 10
    body = []
    for i, (group, m) in enumerate(groups.items()):
        y = 10 + i * row
        acc, n = float(m["accuracy"]), int(m["sentences"])
        body.append(
            f'<g class="group-bar" data-group="{esc(group)}" data-accuracy="{acc:.4f}" data-sentences="{n}">'
            f'<title>{esc(f"{group}: accuracy {acc:.3f} on {n} sentences")}</title>'
            f'{_text(left - 8, y + 16, group, "end")}'
            f'<rect x="{left}" y="{y + 3}" width="{bar_max}" height="{row - 8}" fill="#eeeeee"/>'
            f'<rect x="{left}" y="{y + 3}" width="{bar_max * acc:.1f}" height="{row - 8}" fill="#5b8fc7"/>'
            f'{_text(left + bar_max + 8, y + 16, f"{acc:.0%} of {n}", size=11)}</g>'
        )
    return _svg(width, height, "Accuracy per register or group", body, "groups")


def label_shares(rows: Sequence[dict], labels: Sequence[str] = LABELS) -> str:
    """One stacked bar per document: the share of its sentences under each label (rows are
    summary rows: ``path`` and a count per label), in the order given."""
    row_h, left, bar_w = 22, 260, 520
    width, height = left + bar_w + 100, 8 + row_h * len(rows) + 8
    body = []
    for i, row in enumerate(rows):
        y = 8 + i * row_h
        total = sum(int(row[label]) for label in labels)
        name = str(row["path"])
        short = name if len(name) <= 40 else "…" + name[-39:]
        body.append(f'<g class="doc-shares" data-path="{esc(name)}" data-sentences="{total}">'
                    f'<title>{esc(name)}</title>{_text(left - 8, y + 15, short, "end", size=11)}')
        x = float(left)
        for label in labels:
            count = int(row[label])
            w = bar_w * count / total if total else 0.0
            body.append(
                f'<rect class="share" data-label="{esc(label)}" data-count="{count}" x="{x:.1f}" y="{y + 3}" '
                f'width="{w:.1f}" height="{row_h - 7}" fill="{ACCENTS.get(label, FALLBACK_ACCENT)}">'
                f'<title>{esc(f"{name}: {count} {label} ({count / total if total else 0:.0%})")}</title></rect>'
            )
            x += w
        flagged = float(row.get("flagged_share", 0.0))
        body.append(_text(left + bar_w + 8, y + 15, f"{flagged:.0%} flagged", size=11) + "</g>")
    return _svg(width, height, "Share of each label per document", body, "shares")
