"""Results → JSON, JSON Lines, CSV and terminal tables. Pure: strings in, strings out."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from nuchter.labels import COLOURS, LABELS
from nuchter.results import ScoreResult, SentenceScore

CSV_FIELDS = ("index", "start", "end", "text", "label", "confidence", *(f"score_{l}" for l in LABELS))
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def dumps(obj) -> str:
    """JSON with Dutch letters as they are (no \\u escapes)."""
    return json.dumps(obj, ensure_ascii=False)


def to_json(result: ScoreResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2)


def _source_columns(result: ScoreResult) -> dict:
    return {"url": result.source.url, "title": result.source.title} if result.source else {}


def to_jsonl(result: ScoreResult) -> Iterator[str]:
    source = _source_columns(result)
    for sentence in result.sentences:
        yield dumps({**source, **sentence.to_dict()})


def spreadsheet_safe(value):
    """Stop spreadsheet programs from running a cell as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def evidence_text(sentence: SentenceScore) -> str:
    """Evidence in one cell: ``geneest (0.41); volledig (0.12)``."""
    return "; ".join(f"{e.text} ({e.weight:.2f})" for e in sentence.evidence or ())


def csv_row(sentence: SentenceScore) -> dict:
    row = {k: v for k, v in sentence.to_dict().items() if k not in ("scores", "evidence")}
    row.update({f"score_{label}": sentence.scores[label] for label in LABELS})
    if sentence.evidence is not None:
        row["evidence"] = evidence_text(sentence)
    return {k: spreadsheet_safe(v) for k, v in row.items()}


def csv_fields(sentences) -> tuple[str, ...]:
    return (*CSV_FIELDS, "evidence") if any(s.evidence is not None for s in sentences) else CSV_FIELDS


def to_csv(result: ScoreResult) -> str:
    buffer = io.StringIO()
    source = {k: spreadsheet_safe(v) for k, v in _source_columns(result).items()}
    writer = csv.DictWriter(buffer, fieldnames=(*source, *csv_fields(result.sentences)), lineterminator="\n")
    writer.writeheader()
    for sentence in result.sentences:
        writer.writerow({**source, **csv_row(sentence)})
    return buffer.getvalue()


def summary_line(result: ScoreResult) -> str:
    summary = result.summary
    parts = ", ".join(f"{summary['counts'][label]} {label}" for label in LABELS)
    line = (
        f"{summary['sentences']} sentences: {parts}; "
        f"{summary['flagged_share']:.0%} flagged (overclaimed + promotional)"
    )
    if result.skipped:
        line += f"; {len(result.skipped)} skipped (headings, references, furniture)"
    return line


def to_table(result: ScoreResult):
    """A rich Table; the caller decides where to print it."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("label")
    table.add_column("conf", justify="right")
    table.add_column("sentence", overflow="fold")
    explained = any(s.evidence is not None for s in result.sentences)
    if explained:
        table.add_column("evidence", overflow="fold", style="dim")
    for s in result.sentences:
        cells = [
            str(s.index),
            Text(s.label, style=f"bold {COLOURS[s.label]}"),
            f"{s.confidence:.2f}",
            Text(" ".join(s.text.split())),
        ]
        if explained:
            cells.append(Text(", ".join(e.text for e in (s.evidence or ())[:3])))
        table.add_row(*cells)
    return table


# --- scan reports: one sentence per row with its document's path, and one row per document ---

SUMMARY_FIELDS = (
    "path", "title", "status", "sentences", *LABELS, "flagged_share",
    "most_flagged", "most_flagged_label", "most_flagged_confidence",
)


def scan_sentence_dicts(document) -> Iterator[dict]:
    for sentence in document.result.sentences:
        yield {"path": document.path, **sentence.to_dict()}


def scan_csv_rows(document) -> Iterator[dict]:
    for sentence in document.result.sentences:
        yield {"path": spreadsheet_safe(document.path), **csv_row(sentence)}


def summary_csv_row(item) -> dict:
    """A scored document or a skipped file as one spreadsheet-safe row."""
    from nuchter.results import SkippedFile

    if isinstance(item, SkippedFile):
        row = {"path": item.path, "status": f"skipped: {item.reason}"}
    else:
        row = {"status": "scored", **item.summary_row()}
    return {k: spreadsheet_safe(row.get(k, "")) for k in SUMMARY_FIELDS}
