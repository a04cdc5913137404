"""Results → one self-contained HTML page. Pure: objects in, a string out.

The page is meant to be opened offline, mailed or archived, and the texts it
shows are untrusted web pages. So everything is inline (no external scripts,
styles, fonts or images), every piece of text goes through ``html.escape``,
the script never builds markup from text, and a Content-Security-Policy only
lets the page's own script run (pinned by its hash), so an escaping bug still
could not execute anything.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from importlib import resources

from nuchter.labels import DESCRIPTIONS, LABELS
from nuchter.reports import charts
from nuchter.reports.palette import FALLBACK_ACCENT, FALLBACK_BACKGROUND, ACCENTS, PALETTE, esc  # noqa: F401 - re-exported
from nuchter.reports.tables import summary_line
from nuchter.results import DocumentResult, ScoreResult, SkippedFile, Skipped

def label_class(label: str) -> str:
    """CSS class for a label; only known labels get their own class, so no text becomes a selector."""
    return f"l-{label}" if label in LABELS and label.isidentifier() else "l-other"


def _percent(share: float) -> str:
    return f"{share:.0%}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _tooltip(label: str, confidence: float | None) -> str:
    return label if confidence is None else f"{label} · {confidence:.2f}"


def static_text(package: str, name: str) -> str:
    """Scripts and styles are real files (package data under static/), so editors and linters see
    JavaScript and CSS; they are read once, at import, and inlined so pages stay self-contained."""
    return resources.files(package).joinpath("static", name).read_text(encoding="utf-8")


_CSS_BASE = static_text(__package__, "report.css")


def _css() -> str:
    """Label colours come from PALETTE/ACCENTS, one rule per label in LABELS."""
    rules = [_CSS_BASE]
    for label in LABELS:
        cls = label_class(label)
        rules.append(
            f".{cls} {{ background: {PALETTE.get(label, FALLBACK_BACKGROUND)}; "
            f"border-bottom: 2px solid {ACCENTS.get(label, FALLBACK_ACCENT)}; }}\n"
        )
    rules.append(
        f".l-other {{ background: {FALLBACK_BACKGROUND}; border-bottom: 2px dotted {FALLBACK_ACCENT}; }}\n"
    )
    return "".join(rules)


_CSS = _css()

# Sorting moves the existing <tr> elements; it never reads or writes markup.
# `#sort=KEY` sorts ascending on load, `#sort=-KEY` descending (KEY: a th's data-key).
_JS = static_text(__package__, "report.js")

def script_policy(script: str, *more: str) -> str:
    """A Content-Security-Policy under which only ``script`` (by its hash) runs and nothing
    is loaded from elsewhere; ``more`` adds directives (the serve page may talk to its server)."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return "; ".join(("default-src 'none'", f"script-src 'sha256-{digest}'", "style-src 'unsafe-inline'",
                      "img-src data:", "base-uri 'none'", "form-action 'none'", *more))


_CSP = script_policy(_JS)


def _columns() -> list[tuple[str, str, str]]:
    """(key, heading, type) of the overview columns; keys are what `#sort=` takes."""
    return [
        ("path", "path", "text"),
        ("sentences", "sentences", "num"),
        *((label, label, "num") for label in LABELS),
        ("flagged", "flagged", "num"),
        ("most_flagged", "most flagged sentence", "text"),
    ]


def _overview(documents: Sequence[DocumentResult]) -> list[str]:
    """Rows pre-sorted by share flagged, so the page reads right even with scripts off."""
    out = ['<section id="overview">\n<h2>Overview</h2>\n']
    if not documents:
        out.append('<p class="empty">No documents.</p>\n</section>\n')
        return out
    rows = [doc.summary_row() for doc in documents]
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["flagged_share"], i))
    out.append('<div class="table-wrap"><table id="overview-table">\n<thead><tr>')
    for key, heading, kind in _columns():
        sort = ' aria-sort="descending"' if key == "flagged" else ""
        cls = ' class="num"' if kind == "num" else ""
        out.append(
            f'<th scope="col" data-key="{esc(key)}" data-type="{esc(kind)}"{cls}{sort}>'
            f'<button type="button">{esc(heading)}</button></th>'
        )
    out.append("</tr></thead>\n<tbody>\n")
    for i in order:
        row = rows[i]
        out.append(f'<tr data-doc="doc-{i}">')
        out.append(
            f'<td class="path" data-sort="{esc(row["path"])}">'
            f'<a href="#doc-{i}">{esc(row["path"])}</a>'
            + (f'<br><span class="page-title">{esc(row["title"])}</span>' if row["title"] else "")
            + "</td>"
        )
        out.append(f'<td class="num" data-sort="{row["sentences"]}">{row["sentences"]}</td>')
        for label in LABELS:
            out.append(f'<td class="num" data-sort="{row[label]}">{row[label]}</td>')
        share = row["flagged_share"]
        out.append(f'<td class="num" data-sort="{share}">{esc(_percent(share))}</td>')
        if row["most_flagged"]:
            label = row["most_flagged_label"]
            tip = _tooltip(label, row["most_flagged_confidence"])
            out.append(
                f'<td class="most" data-sort="{esc(row["most_flagged"])}">'
                f'<span class="s {label_class(label)}" title="{esc(tip)}" data-label="{esc(label)}">'
                f'{esc(row["most_flagged"])}</span></td>'
            )
        else:
            out.append('<td class="most" data-sort=""><span class="empty">—</span></td>')
        out.append("</tr>\n")
    out.append("</tbody>\n</table></div>\n</section>\n")
    return out


SHARES_SHOWN = 200
"""The label-share chart draws the most flagged documents, at most this many."""


def _shares(documents: Sequence[DocumentResult]) -> list[str]:
    """A stacked bar of label shares per document, most flagged first: where a scan's problems are."""
    rows = [doc.summary_row() for doc in documents if doc.result.sentences]
    if not rows:
        return []
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["flagged_share"], i))[:SHARES_SHOWN]
    note = (f"the {len(order)} most flagged of {len(rows)} documents" if len(order) < len(rows)
            else "every document, most flagged first")
    return ['<section id="shares">\n<h2>Label shares per document</h2>\n',
            f'<p class="meta">The share of each document\'s sentences under each label: {esc(note)}. '
            'The overview table sorts them by any column.</p>\n<figure class="chart-box">',
            charts.label_shares([rows[i] for i in order]), "</figure>\n</section>\n"]


def _legend() -> list[str]:
    out = ['<ul class="legend" aria-label="labels">\n']
    for label in LABELS:
        out.append(
            f'<li><span class="swatch {label_class(label)}">{esc(label)}</span>'
            f'<span class="note">{esc(DESCRIPTIONS.get(label, ""))}</span></li>\n'
        )
    out.append(
        '<li><span class="swatch skip">skipped</span>'
        '<span class="note">not scored: headings, references, URLs, page furniture</span></li>\n'
    )
    out.append("</ul>\n")
    return out


STYLESHEET = _CSS
"""The report's styles (label colours included), shared with the `nuchter serve` page."""


def legend_html() -> str:
    """The label legend, shared with the `nuchter serve` page so both read the same."""
    return "".join(_legend())


def _gap(text: str, start: int, end: int, skipped: list[Skipped], i: int, out: list[str]) -> int:
    """Unscored text between sentences, with skipped spans dimmed; returns the next skipped index."""
    pos = start
    while i < len(skipped) and skipped[i].start < end:
        span = skipped[i]
        s0, s1 = max(span.start, pos), min(span.end, end)
        if s1 > s0:
            if s0 > pos:
                out.append(esc(text[pos:s0]))
            out.append(
                f'<span class="skip" title="{esc("skipped · " + span.reason)}" '
                f'data-skipped="{esc(span.reason)}">{esc(text[s0:s1])}</span>'
            )
            pos = s1
        if span.end > end:
            break  # it reaches past the next sentence: keep it for the following gap
        i += 1
    if pos < end:
        out.append(esc(text[pos:end]))
    return i


def _with_evidence(text: str, start: int, end: int, evidence) -> str:
    """A sentence's text, escaped, its evidence spans wrapped so they underline on hover."""
    out, cursor = [], start
    for e in sorted(evidence, key=lambda e: e.start):
        left, right = max(e.start, cursor), min(e.end, end)
        if right <= left:
            continue  # outside the sentence or overlapping an earlier span
        out.append(esc(text[cursor:left]))
        out.append(f'<span class="ev" title="{esc(f"evidence · {e.weight:.2f}")}">{esc(text[left:right])}</span>')
        cursor = right
    out.append(esc(text[cursor:end]))
    return "".join(out)


def _marked_text(text: str, result: ScoreResult) -> list[str]:
    """The whole text once, each sentence wrapped by its offsets.

    Offsets are clipped to the text and to each other, so bad or overlapping
    offsets can neither drop nor repeat characters.
    """
    out: list[str] = []
    n = len(text)
    sentences = sorted(result.sentences, key=lambda s: (s.start, s.end, s.index))
    skipped = sorted(result.skipped, key=lambda s: (s.start, s.end))
    cursor = 0
    k = 0
    for s in sentences:
        start = min(max(s.start, cursor), n)
        end = min(max(s.end, start), n)
        k = _gap(text, cursor, start, skipped, k, out)
        tip = _tooltip(s.label, s.confidence)
        if s.evidence:
            tip += " · why: " + ", ".join(e.text for e in s.evidence)
        out.append(
            f'<span class="s {label_class(s.label)}" title="{esc(tip)}" '
            f'data-label="{esc(s.label)}" data-confidence="{s.confidence:.4f}" '
            f'data-index="{s.index}">{_with_evidence(text, start, end, s.evidence or ())}</span>'
        )
        cursor = end
    _gap(text, cursor, n, skipped, k, out)
    return out


def _source(doc: DocumentResult) -> list[str]:
    """A fetched page's title and URL; the URL was checked to be http(s) before it was fetched."""
    source = doc.result.source
    if source is None:
        return []
    out = ['<p class="source">']
    if source.title:
        out.append(f'<span class="page-title">{esc(source.title)}</span> · ')
    out.append(f'<a href="{esc(source.url)}" rel="noopener noreferrer nofollow">{esc(source.url)}</a></p>\n')
    return out


def _document(i: int, doc: DocumentResult) -> list[str]:
    out = [
        f'<article class="doc" id="doc-{i}">\n',
        f"<h3>{esc(doc.path)}</h3>\n",
        *_source(doc),
        f'<p class="summary">{esc(summary_line(doc.result))} '
        f'<a class="back" href="#overview">↑ overview</a></p>\n',
    ]
    if doc.text:
        out.append('<div class="doc-text">')
        out.extend(_marked_text(doc.text, doc.result))
        out.append("</div>\n")
    else:
        out.append('<p class="empty">(empty text)</p>\n')
    out.append("</article>\n")
    return out


def _skipped_files(skipped_files: Sequence[SkippedFile]) -> list[str]:
    if not skipped_files:
        return []
    out = [
        '<section id="skipped-files">\n',
        f"<h2>Skipped files ({len(skipped_files)})</h2>\n",
        '<div class="table-wrap"><table>\n<thead><tr><th scope="col">path</th>'
        '<th scope="col">reason</th></tr></thead>\n<tbody>\n',
    ]
    for f in skipped_files:
        out.append(f'<tr><td class="path">{esc(f.path)}</td><td>{esc(f.reason)}</td></tr>\n')
    out.append("</tbody>\n</table></div>\n</section>\n")
    return out


def render_html(
    documents: Sequence[DocumentResult],
    skipped_files: Sequence[SkippedFile] = (),
    *,
    title: str = "nuchter report",
) -> str:
    """A scan's results as one page that opens offline and is safe to open on untrusted texts.

    The overview table sorts by clicking a column header, or on load from a URL
    hash: ``#sort=path`` (ascending) or ``#sort=-flagged`` (descending).
    """
    models = sorted({doc.result.model for doc in documents if doc.result.model})
    total = sum(len(doc.result.sentences) for doc in documents)
    meta = f"{_count(len(documents), 'document')}, {_count(total, 'sentence')}"
    if models:
        meta += f"; model: {', '.join(models)}"
    if skipped_files:
        meta += f"; {_count(len(skipped_files), 'file')} skipped"

    out = [
        "<!DOCTYPE html>\n",
        '<html lang="nl">\n<head>\n<meta charset="utf-8">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_CSP)}">\n',
        '<meta name="referrer" content="no-referrer">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{esc(title)}</title>\n",
        f"<style>{_CSS}</style>\n",
        "</head>\n<body>\n<main>\n",
        f"<h1>{esc(title)}</h1>\n",
        f'<p class="meta">{esc(meta)}</p>\n',
    ]
    out.extend(_legend())
    out.extend(_overview(documents))
    out.extend(_shares(documents))
    if documents:
        out.append('<section id="documents">\n<h2>Documents</h2>\n')
        for i, doc in enumerate(documents):
            out.extend(_document(i, doc))
        out.append("</section>\n")
    out.extend(_skipped_files(skipped_files))
    out.append(f"</main>\n<script>{_JS}</script>\n</body>\n</html>\n")
    page = "".join(out)
    # Lone surrogates (undecodable bytes kept by surrogateescape) would make writing the page fail.
    return page.encode("utf-8", "replace").decode("utf-8")


def render_score_html(result: ScoreResult, text: str, *, title: str = "nuchter") -> str:
    """`nuchter score --format html`: the scan page for one text, shown as "input"."""
    path = result.source.url if result.source else "input"
    return render_html([DocumentResult(path=path, text=text, result=result)], title=title)
