"""The files a scan writes and reads back: one sentence per row (JSON Lines or CSV), per document.

`nuchter scan` writes them as documents finish, `scan --resume` reads them back to skip finished
documents and rebuild their reports, and `nuchter select` reads a JSONL one as scored candidates.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from nuchter.errors import InputError
from nuchter.labels import LABELS
from nuchter.results import DocumentResult, ScoreResult, SentenceScore

JSONL, CSV = "jsonl", "csv"


def done_documents(path: Path, fmt: str, sentence_count: Callable[[str], int]) -> set[str]:
    """Documents an earlier run finished. The file is cut back to whole documents: the last one counts
    only if all its sentences were written (a stopped run can leave part of it), which is checked
    against ``sentence_count`` of its id (-1 when the document cannot be read now)."""
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
    if len(paths) - keep == sentence_count(last):
        keep = len(paths)
    path.write_text("".join(header + body[:keep]), encoding="utf-8")
    return set(paths[:keep])


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


def rebuild_documents(out: Path, fmt: str, done: set[str], text_of: Callable[[str], str] | None = None) -> dict:
    """The documents an earlier run finished, rebuilt from the sentence file, so a resumed scan reports
    them without scoring them; ``text_of`` gives a document's text again by its id (the HTML report
    shows it; empty when not given)."""
    rows: dict[str, list[SentenceScore]] = {}
    with open(out, encoding="utf-8", newline="") as handle:
        for _, r in _records(handle, fmt):
            if r is not None and r["path"] in done:
                rows.setdefault(r["path"], []).append(SentenceScore.from_dict(r))
    return {path: DocumentResult(path, text_of(path) if text_of else "", ScoreResult("", tuple(sentences)))
            for path, sentences in rows.items()}


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


# --- the Parquet dataset: what large scans and the distributed engine write ---

PARQUET = "parquet"
SENTENCES, DOCUMENTS = "sentences", "documents"
PART = "part-{:05d}.parquet"


def _schemas():
    import pyarrow as pa

    sentences = pa.schema([
        ("path", pa.string()), ("index", pa.int32()), ("start", pa.int64()), ("end", pa.int64()),
        ("text", pa.string()), ("label", pa.string()), ("confidence", pa.float64()),
        *[(f"score_{label}", pa.float64()) for label in LABELS], ("model", pa.string()),
    ])
    documents = pa.schema([
        ("path", pa.string()), ("title", pa.string()), ("status", pa.string()), ("sentences", pa.int32()),
        *[(label, pa.int32()) for label in LABELS], ("flagged_share", pa.float64()),
        ("most_flagged", pa.string()), ("most_flagged_label", pa.string()),
        ("most_flagged_confidence", pa.float64()), ("model", pa.string()),
    ])
    return sentences, documents


def parquet_done(out: Path) -> set[str]:
    """Ids of the documents (scored or skipped) in an earlier run's complete parts. A part is complete
    when its documents file exists (it is renamed into place last); sentence parts without one, and
    files a stopped run was still writing, are removed."""
    import pyarrow.parquet as pq

    sentences, documents = out / SENTENCES, out / DOCUMENTS
    for folder in (sentences, documents):
        if folder.is_dir():
            for stale in folder.glob(".*.tmp"):
                stale.unlink()
    complete = {p.name for p in documents.glob("part-*.parquet")} if documents.is_dir() else set()
    if sentences.is_dir():
        for part in sentences.glob("part-*.parquet"):
            if part.name not in complete:
                part.unlink()
    done: set[str] = set()
    for name in complete:
        try:
            done.update(pq.read_table(documents / name, columns=["path"]).column("path").to_pylist())
        except Exception as exc:  # pyarrow's own error types
            raise InputError(f"cannot read {documents / name}: {exc}; remove it to score its documents again") from None
    return done


class ParquetParts:
    """Writes a scan as a Parquet dataset, a part at a time: OUT/sentences/part-N.parquet (a row per
    sentence) and OUT/documents/part-N.parquet (a row per document, skipped ones with their reason).
    Each file is written beside its place and renamed in, documents last, so a scan stopped at any
    moment leaves whole parts, and `--resume` (``parquet_done``) goes on from them."""

    def __init__(self, out: Path, model: str, documents_per_part: int = 500):
        self.out, self.model, self.per_part = out, model, documents_per_part
        (out / SENTENCES).mkdir(parents=True, exist_ok=True)
        (out / DOCUMENTS).mkdir(parents=True, exist_ok=True)
        taken = [int(p.stem.split("-")[1]) for p in (out / DOCUMENTS).glob("part-*.parquet")]
        self.number = max(taken, default=-1) + 1
        self.sentence_rows: list[dict] = []
        self.document_rows: list[dict] = []

    def add(self, item: DocumentResult | object) -> None:
        """A scored DocumentResult or a SkippedFile."""
        if isinstance(item, DocumentResult):
            for sentence in item.result.sentences:
                row = {"path": item.path, **{k: v for k, v in sentence.to_dict().items() if k != "scores"},
                       **{f"score_{label}": sentence.scores[label] for label in LABELS}, "model": item.result.model or self.model}
                row.pop("evidence", None)
                self.sentence_rows.append(row)
            self.document_rows.append({**item.summary_row(), "status": "scored", "model": item.result.model or self.model})
        else:
            self.document_rows.append({"path": item.path, "status": f"skipped: {item.reason}", "model": self.model})
        if len(self.document_rows) >= self.per_part:
            self.flush()

    def flush(self) -> None:
        if not self.document_rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = PART.format(self.number)
        for folder, rows, schema in zip((SENTENCES, DOCUMENTS), (self.sentence_rows, self.document_rows), _schemas()):
            table = pa.Table.from_pylist(rows, schema=schema)
            temporary = self.out / folder / f".{name}.tmp"
            pq.write_table(table, temporary)
            temporary.replace(self.out / folder / name)
        self.number += 1
        self.sentence_rows, self.document_rows = [], []


def read_parquet_dataset(out: Path):
    """(sentences, documents) of a scan's Parquet dataset as pyarrow tables."""
    import pyarrow.parquet as pq

    return tuple(pq.read_table(out / folder, schema=schema) for folder, schema in zip((SENTENCES, DOCUMENTS), _schemas()))
