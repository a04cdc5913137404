"""Batch-score a folder or a crawl: find documents, read them defensively, score sentences
from many documents together, and hand back results in document order.

Files being scanned are untrusted: links are never followed out of the
folder, binary and oversized files are skipped with a reason, and nothing a
page links to is ever fetched. Crawl files (JSON Lines, Parquet, WARC/WET)
hold many documents each (``nuchter.crawl``); a list of URLs gives web pages,
each fetched when its turn comes (``nuchter.fetch``).
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nuchter.config import ScoreConfig
from nuchter.crawl import CRAWL_SUFFIXES, Fields, Record, is_crawl_file, is_uri, list_uri, record_text, records
from nuchter.errors import InputError
from nuchter.extract import DOCUMENT_SUFFIXES, read_document
from nuchter.fetch import fetch
from nuchter.pipeline import PreparedPage, score_pages
from nuchter.results import DocumentResult, Skipped, SkippedFile, Source
from nuchter.segment import SENTENCE, segment

DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class ScanConfig:
    score: ScoreConfig = ScoreConfig()
    """How every document is scored (model, batch size, max length, threads, backend, int8)."""
    include: tuple[str, ...] = ()
    """Globs a file's path (relative to the folder) or name must match; empty means every document type."""
    exclude: tuple[str, ...] = ()
    """Globs of files to leave out."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Files larger than this are skipped."""
    workers: int = 1
    """Processes that read, segment and score in parallel (each loads the model)."""
    documents_per_job: int = 32
    """Documents pooled into one scoring job, so short documents still fill batches."""
    fields: Fields = Fields()
    """Fields of JSONL and Parquet crawl records that hold the id, the text and the HTML."""

    def __post_init__(self) -> None:
        if self.workers < 1 or self.documents_per_job < 1 or self.max_bytes < 1:
            raise ValueError("workers, documents_per_job and max_bytes must be positive")


def _matches(relative: str, patterns: Iterable[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class CrawlFile:
    """A crawl file not yet opened: a distributed scan reads its records where they are scored."""

    location: str


@dataclass(frozen=True)
class WebLink:
    """A web page given by its URL (`scan --urls`): fetched when it is read."""

    url: str


Document = Path | Record | WebLink
"""A document to score: a file, one page of a crawl file, or a web page."""


def document_id(item: Document) -> str:
    """What reports, resume and the Parquet dataset know a document by: its path, or its record's url."""
    if isinstance(item, WebLink):
        return item.url
    return item.id if isinstance(item, Record) else str(item)


def _not_a_document(location: str) -> SkippedFile:
    return SkippedFile(location, f"not a document type nuchter reads ({', '.join(DOCUMENT_SUFFIXES + CRAWL_SUFFIXES)})")


def discover(paths: Iterable[Path | str], config: ScanConfig, expand_crawls: bool = True) -> Iterator[Document | CrawlFile | SkippedFile]:
    """Documents to scan, in a stable order, and the files passed over with a reason.

    Folders are walked without following linked folders; a linked file is
    read only when it points inside the folder being scanned. A crawl file
    gives its records, or itself as a CrawlFile without ``expand_crawls``.
    URIs (s3://, gs://, …) are read with pyarrow.fs; there only crawl files count.
    """
    for given in paths:
        if isinstance(given, WebLink):
            yield given
            continue
        if is_uri(given):
            for location in list_uri(str(given)):
                if is_crawl_file(location):
                    yield from records(location, config.fields, config.max_bytes) if expand_crawls else [CrawlFile(location)]
                else:
                    yield SkippedFile(location, "only crawl files (JSONL, Parquet, WARC/WET) are read from a URI")
            continue
        given = Path(given)
        if given.is_symlink() and not given.exists():
            yield SkippedFile(str(given), "broken symbolic link")
        elif given.is_file():
            yield from _one_file(given, config, expand_crawls, named=True)
        elif given.is_dir():
            yield from _walk(given, config, expand_crawls)
        else:
            raise InputError(f"not found: {given}")


def _one_file(path: Path, config: ScanConfig, expand_crawls: bool, named: bool) -> Iterator[Document | CrawlFile | SkippedFile]:
    if is_crawl_file(path):
        yield from records(path, config.fields, config.max_bytes) if expand_crawls else [CrawlFile(str(path))]
    elif path.suffix.lower() in DOCUMENT_SUFFIXES:
        yield path
    elif named or not config.include:
        yield _not_a_document(str(path))


def _walk(root: Path, config: ScanConfig, expand_crawls: bool) -> Iterator[Document | CrawlFile | SkippedFile]:
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        here = Path(folder)
        for name in list(dirs):
            if (here / name).is_symlink():
                dirs.remove(name)
                yield SkippedFile(str(here / name), "linked folder not followed")
        for name in sorted(files):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if config.exclude and _matches(relative, config.exclude):
                continue
            if config.include and not _matches(relative, config.include):
                continue
            if path.is_symlink():
                if not path.exists():
                    yield SkippedFile(str(path), "broken symbolic link")
                    continue
                if not _inside(path.resolve(), real_root):
                    yield SkippedFile(str(path), "symbolic link points outside the scanned folder")
                    continue
            yield from _one_file(path, config, expand_crawls, named=False)


def document_text(item: Document, config: ScanConfig) -> str:
    """A document's text as it is scored: a file read (HTML reduced to its main text), a record's, or a web page's."""
    return _read(item, config)[0]


def _read(item: Document, config: ScanConfig) -> tuple[str, Source | None]:
    if isinstance(item, WebLink):
        page = fetch(item.url)
        return page.text, Source(item.url, page.title)
    if isinstance(item, Record):
        return record_text(item), None
    return read_document(item, max_bytes=config.max_bytes), None


def prepare_document(item: Document, config: ScanConfig) -> tuple[str, str, PreparedPage] | SkippedFile:
    """A document read and segmented: (id, text, page), or why it cannot be scored."""
    ident = document_id(item)
    try:
        text, source = _read(item, config)
    except InputError as error:
        return SkippedFile(ident, str(error).replace(f"{ident}: ", "").replace(f"{ident} ", ""))
    if not text.strip():
        return SkippedFile(ident, "empty: no text to score")
    segments = list(segment(text))
    sentences = [s for s in segments if s.kind == SENTENCE]
    if not sentences:
        return SkippedFile(ident, "no scorable sentence (only headings, references or furniture)")
    skipped = tuple(Skipped(s.start, s.end, s.text, s.kind) for s in segments if s.kind != SENTENCE)
    return ident, text, PreparedPage(sentences, skipped, source=source)


def sentence_count(item: Document | None, config: ScanConfig) -> int:
    """How many sentence rows a scan of this document writes (-1 when it cannot be read now)."""
    prepared = prepare_document(item, config) if item is not None else None
    return -1 if prepared is None or isinstance(prepared, SkippedFile) else len(prepared[2].sentences)


def score_prepared(prepared: list, classifier, config: ScanConfig) -> list[DocumentResult | SkippedFile]:
    """Prepared documents of many pages scored together on the one scoring path, in their order."""
    pages = [item[2] for item in prepared if not isinstance(item, SkippedFile)]
    scored = iter(score_pages(pages, classifier, batch_size=config.score.batch_size, max_length=config.score.max_length))
    return [item if isinstance(item, SkippedFile) else DocumentResult(item[0], item[1], next(scored))
            for item in prepared]


def score_documents(items: list[Document], classifier, config: ScanConfig) -> list[DocumentResult | SkippedFile]:
    """Read and segment a group of documents, then score them together."""
    return score_prepared([prepare_document(item, config) for item in items], classifier, config)


_worker_classifier = None


def _worker_init(model: str, threads: int | None, backend: str, int8: bool) -> None:
    global _worker_classifier
    from nuchter.classify import load_classifier

    _worker_classifier = load_classifier(model, threads=threads or 1, backend=backend, int8=int8)


def _worker_job(items: list[Document], config: ScanConfig) -> list[DocumentResult | SkippedFile]:
    return score_documents(items, _worker_classifier, config)


def plan(paths: Iterable[Path | str], config: ScanConfig, done: frozenset[str] = frozenset()) -> tuple[list[Document], list[SkippedFile]]:
    """Documents still to score (not in ``done``, from an earlier run) and files passed over."""
    found = list(discover(paths, config))
    documents = [p for p in found if isinstance(p, (Path, Record, WebLink)) and document_id(p) not in done]
    return documents, [s for s in found if isinstance(s, SkippedFile)]


def scan(documents: list[Document], classifier, config: ScanConfig) -> Iterator[DocumentResult | SkippedFile]:
    """Results in document order, streamed as each group of documents finishes.

    With ``workers > 1`` each worker process loads the model once and scores
    whole groups of documents, which uses every core even for pure-Python models.
    """
    jobs = [documents[i : i + config.documents_per_job] for i in range(0, len(documents), config.documents_per_job)]
    if config.workers == 1 or len(jobs) < 2:
        for job in jobs:
            yield from score_documents(job, classifier, config)
        return
    threads = max(1, (config.score.threads or os.cpu_count() or 1) // config.workers)
    # spawn, not fork: a forked copy of a process running ONNX Runtime or torch threads can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.workers, mp_context=context, initializer=_worker_init,
                             initargs=(classifier.name, threads, config.score.backend, config.score.int8)) as pool:
        for results in pool.map(_worker_job, jobs, [config] * len(jobs)):
            yield from results
