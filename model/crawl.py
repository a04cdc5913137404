"""Crawl files → documents: JSON Lines and Parquet records with a text or HTML field, and WARC/WET
archives, from local paths or any URI that pyarrow.fs opens (s3://, gs://, hdfs://).

A crawl is untrusted input like any scanned file: records are size-capped, HTML goes through the
same extraction as a scanned .html file, and nothing a page links to is fetched.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nuchter.errors import InputError
from nuchter.extract import HTML_TYPES, decode_response
from nuchter.results import SkippedFile

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet",)
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
CRAWL_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES + WARC_SUFFIXES


@dataclass(frozen=True)
class Fields:
    """Which fields of a JSONL or Parquet record hold the page's id, its text and its HTML."""

    id: str = "url"
    text: str = "text"
    html: str = "html"


@dataclass(frozen=True)
class Record:
    """One page of a crawl file: its id (the url, or ``file#n`` when it has none) and its text, or its
    HTML still to extract."""

    id: str
    text: str | None = None
    html: str | None = None


def is_uri(location: str | Path) -> bool:
    return "://" in str(location)


def is_crawl_file(location: str | Path) -> bool:
    return str(location).lower().endswith(CRAWL_SUFFIXES)


def _open(location: str | Path):
    """A binary stream of a local file or of any URI pyarrow.fs understands."""
    if not is_uri(location):
        return open(location, "rb")
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(str(location))
        return filesystem.open_input_stream(path)
    except Exception as exc:  # pyarrow raises its own error types per scheme
        raise InputError(f"cannot open {location}: {exc}") from None


def list_uri(location: str) -> list[str]:
    """Files under a URI folder (or the URI itself when it names a file), as URIs, sorted."""
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(location)
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.File:
            return [location]
        if info.type == fs.FileType.NotFound:
            raise InputError(f"not found: {location}")
        scheme = location.split("://", 1)[0]
        found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
        return sorted(f"{scheme}://{f.path}" for f in found if f.type == fs.FileType.File)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot list {location}: {exc}") from None


def records(location: str | Path, fields: Fields = Fields(), max_bytes: int = 5 * 1024 * 1024) -> Iterator[Record | SkippedFile]:
    """The pages of one crawl file in file order; a record that cannot be used is a SkippedFile with its
    reason, and the rest go on. Ids are unique within the file: a repeated url is skipped."""
    name = str(location)
    seen: set[str] = set()
    try:
        with _open(location) as stream:
            lowered = name.lower()
            if lowered.endswith(JSONL_SUFFIXES):
                found = _jsonl(name, stream, fields)
            elif lowered.endswith(PARQUET_SUFFIXES):
                found = _parquet(name, stream, fields)
            else:
                found = _warc(name, stream)
            for item in found:
                if isinstance(item, Record):
                    size = len((item.text or item.html or "").encode("utf-8", "surrogatepass"))
                    if item.id in seen:
                        item = SkippedFile(item.id, "same id as an earlier record of this file")
                    elif size > max_bytes:
                        item = SkippedFile(item.id, f"larger than {max_bytes / 1024 / 1024:.1f} MB")
                    else:
                        seen.add(item.id)
                yield item
    except InputError as error:
        yield SkippedFile(name, str(error))
    except (OSError, EOFError, ValueError) as exc:  # a truncated .gz, a broken Parquet footer, …
        yield SkippedFile(name, f"cannot read the rest of this crawl file: {exc}")


def _record(name: str, number: int, row: dict, fields: Fields) -> Record | SkippedFile:
    ident = row.get(fields.id)
    ident = str(ident) if ident not in (None, "") else f"{name}#{number}"
    text, html = row.get(fields.text), row.get(fields.html)
    if isinstance(text, str) and text.strip():
        return Record(ident, text=text)
    if isinstance(html, str) and html.strip():
        return Record(ident, html=html)
    return SkippedFile(ident, f"no text: the record has no non-empty '{fields.text}' or '{fields.html}' field")


def _jsonl(name: str, stream, fields: Fields) -> Iterator[Record | SkippedFile]:
    if name.lower().endswith(".gz"):
        stream = gzip.GzipFile(fileobj=stream)
    for number, line in enumerate(io.TextIOWrapper(stream, encoding="utf-8", errors="replace"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            yield SkippedFile(f"{name}#{number}", "not a JSON object")
            continue
        if not isinstance(row, dict):
            yield SkippedFile(f"{name}#{number}", "not a JSON object")
            continue
        yield _record(name, number, row, fields)


def _parquet(name: str, stream, fields: Fields) -> Iterator[Record | SkippedFile]:
    import pyarrow.parquet as pq

    data = pq.ParquetFile(io.BytesIO(stream.read()))
    columns = [c for c in (fields.id, fields.text, fields.html) if c in data.schema_arrow.names]
    if fields.text not in columns and fields.html not in columns:
        raise InputError(f"no '{fields.text}' or '{fields.html}' column "
                         f"(it has: {', '.join(data.schema_arrow.names)}); name them with --text-field / --html-field")
    number = 0
    for batch in data.iter_batches(columns=columns, batch_size=1024):
        for row in batch.to_pylist():
            number += 1
            yield _record(name, number, row, fields)


def _warc(name: str, stream) -> Iterator[Record | SkippedFile]:
    """HTML responses (WARC) and text conversions (WET); requests, metadata and non-HTML responses
    (images, scripts) are not pages and are passed over silently."""
    try:
        from warcio.archiveiterator import ArchiveIterator
    except ImportError:
        raise InputError("reading WARC/WET files needs warcio: pip install 'nuchter[ray]' (or warcio)") from None
    number = 0
    for entry in ArchiveIterator(stream):
        number += 1
        url = entry.rec_headers.get_header("WARC-Target-URI") or f"{name}#{number}"
        if entry.rec_type == "conversion":
            yield Record(url, text=entry.content_stream().read().decode("utf-8", errors="replace"))
        elif entry.rec_type in ("response", "resource"):
            if entry.http_headers and not entry.http_headers.get_statuscode().startswith("2"):
                continue
            header = (entry.http_headers.get_header("Content-Type") if entry.http_headers else None) \
                or entry.rec_headers.get_header("Content-Type") or ""
            kind = header.split(";")[0].strip().lower()
            if kind not in (*HTML_TYPES, "text/plain"):
                continue
            try:
                body = decode_response(entry.content_stream().read(), header, url)
            except InputError as error:
                yield SkippedFile(url, str(error).removeprefix(f"{url} ").removeprefix(f"{url}: "))
                continue
            yield Record(url, html=body) if kind in HTML_TYPES else Record(url, text=body)


def record_text(record: Record) -> str:
    """A record's text for scoring: its text field as it is, or its HTML reduced to the main text."""
    from nuchter.extract import clean_text, html_to_text

    text = record.text if record.text is not None else html_to_text(record.html or "")
    return clean_text(text, record.id)
