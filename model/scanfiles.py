"""The files a scan writes and reads back: one sentence per row (JSON Lines or CSV), per document.

`nuchter scan` writes them as documents finish, `scan --resume` reads them back to skip finished
documents and rebuild their reports, and `nuchter select` reads a JSONL one as scored candidates.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

from nuchter.errors import InputError, NuchterError
from nuchter.labels import LABELS
from nuchter.results import DocumentResult, ScoreResult, SentenceScore

JSONL, CSV = "jsonl", "csv"


def done_documents(path: Path, fmt: str, max_bytes: int) -> set[str]:
    """Documents an earlier run finished. The file is cut back to whole documents: the last one counts
    only if all its sentences were written (a stopped run can leave part of it), which is checked
    against the sentences its document has."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[:1] if fmt == CSV else []
    body = lines[len(header):]
    paths = []
    for line in body:
        if not line.endswith("\n"):
            break
        if fmt == JSONL:
            try:
                paths.append(json.loads(line)["path"])
            except (ValueError, KeyError):
                break
        else:
            row = next(csv.reader([line]), None)
            if not row:
                break
            paths.append(row[0][1:] if row[0].startswith("'") else row[0])
    if not paths:
        path.write_text("".join(header), encoding="utf-8")
        return set()
    last = paths[-1]
    keep = paths.index(last)  # rows are grouped per document
    if len(paths) - keep == sentence_count(Path(last), max_bytes):
        keep = len(paths)
    path.write_text("".join(header + body[:keep]), encoding="utf-8")
    return set(paths[:keep])


def sentence_count(path: Path, max_bytes: int) -> int:
    """How many sentences a scan of this document writes (-1 when it cannot be read now)."""
    from nuchter.extract import read_document
    from nuchter.segment import SENTENCE, segment

    try:
        return sum(s.kind == SENTENCE for s in segment(read_document(path, max_bytes=max_bytes)))
    except (NuchterError, OSError):
        return -1


def open_output(path: Path, resume: bool, header: list[str] | None):
    """Append when resuming, else start the file (with a CSV header when given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    appending = resume and path.exists() and path.stat().st_size > 0
    handle = open(path, "a" if appending else "w", encoding="utf-8", newline="")
    writer = None
    if header is not None:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        if not appending:
            writer.writeheader()
    return handle, writer


def _records(handle, fmt: str):
    """(line number, row as `SentenceScore.from_dict` reads it, or None for a line that is not JSON)
    of a sentence file; CSV cells that were made spreadsheet-safe get their text back."""
    if fmt == JSONL:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError:
                    yield number, None
        return
    reader = csv.DictReader(handle)
    for r in reader:
        yield reader.line_num, {**r, "path": r["path"].removeprefix("'"), "text": r["text"].removeprefix("'"),
                                "scores": {l: float(r[f"score_{l}"]) for l in LABELS}}


def rebuild_documents(out: Path, fmt: str, done: set[str], with_text: bool = False) -> dict:
    """The documents an earlier run finished, rebuilt from the sentence file, so a resumed scan reports
    them without scoring them; ``with_text`` reads their text again (the HTML report shows it; empty
    when it cannot be read)."""
    from nuchter.extract import read_document

    rows: dict[str, list[SentenceScore]] = {}
    with open(out, encoding="utf-8", newline="") as handle:
        for _, r in _records(handle, fmt):
            if r is not None and r["path"] in done:
                rows.setdefault(r["path"], []).append(SentenceScore.from_dict(r))
    documents = {}
    for path, sentences in rows.items():
        text = ""
        if with_text:
            try:
                text = read_document(Path(path))
            except NuchterError:
                pass
        documents[path] = DocumentResult(path, text, ScoreResult("", tuple(sentences)))
    return documents


def read_scored_pages(path: Path) -> dict[str, list[SentenceScore]]:
    """A `nuchter scan --out` JSONL file's sentences per page, in index order; a bad row is an error
    with its line."""
    by_page: dict[str, list[SentenceScore]] = defaultdict(list)
    number = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for number, row in _records(handle, JSONL):
                if row is None:
                    raise ValueError
                sentence = SentenceScore.from_dict(row)
                if set(sentence.scores) != set(LABELS):
                    raise ValueError
                by_page[str(row["path"])].append(sentence)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError(
            f"{path}:{number} is not a `nuchter scan --out` sentence row "
            "(path, index, start, end, text, label, confidence, scores)"
        ) from None
    for sentences in by_page.values():
        sentences.sort(key=lambda s: s.index)
    return by_page
