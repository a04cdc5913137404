"""Batch-score a folder: find documents, read them defensively, score sentences
from many documents together, and hand back results in document order.

Files being scanned are untrusted: links are never followed out of the
folder, binary and oversized files are skipped with a reason, and nothing a
page links to is ever fetched.
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
from nuchter.errors import InputError
from nuchter.extract import DOCUMENT_SUFFIXES, read_document
from nuchter.pipeline import PreparedPage, score_pages
from nuchter.results import DocumentResult, Skipped, SkippedFile
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


def discover(paths: Iterable[Path], config: ScanConfig) -> Iterator[Path | SkippedFile]:
    """Documents to scan, in a stable order, and the files passed over with a reason.

    Folders are walked without following linked folders; a linked file is
    read only when it points inside the folder being scanned.
    """
    for given in paths:
        given = Path(given)
        if given.is_symlink() and not given.exists():
            yield SkippedFile(str(given), "broken symbolic link")
        elif given.is_file():
            if given.suffix.lower() in DOCUMENT_SUFFIXES:
                yield given
            else:
                yield SkippedFile(str(given), f"not a document type nuchter reads ({', '.join(DOCUMENT_SUFFIXES)})")
        elif given.is_dir():
            yield from _walk(given, config)
        else:
            raise InputError(f"not found: {given}")


def _walk(root: Path, config: ScanConfig) -> Iterator[Path | SkippedFile]:
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
            if path.suffix.lower() not in DOCUMENT_SUFFIXES:
                if not config.include:
                    yield SkippedFile(str(path), f"not a document type nuchter reads ({', '.join(DOCUMENT_SUFFIXES)})")
                continue
            yield path


def score_documents(paths: list[Path], classifier, config: ScanConfig) -> list[DocumentResult | SkippedFile]:
    """Read and segment a group of documents, then score them together on the one scoring path."""
    prepared: list[tuple[Path, str, PreparedPage] | SkippedFile] = []
    for path in paths:
        try:
            text = read_document(path, max_bytes=config.max_bytes)
        except InputError as error:
            prepared.append(SkippedFile(str(path), str(error).replace(f"{path}: ", "").replace(f"{path} ", "")))
            continue
        if not text.strip():
            prepared.append(SkippedFile(str(path), "empty: no text to score"))
            continue
        segments = list(segment(text))
        sentences = [s for s in segments if s.kind == SENTENCE]
        if not sentences:
            prepared.append(SkippedFile(str(path), "no scorable sentence (only headings, references or furniture)"))
            continue
        skipped = tuple(Skipped(s.start, s.end, s.text, s.kind) for s in segments if s.kind != SENTENCE)
        prepared.append((path, text, PreparedPage(sentences, skipped)))
    pages = [item[2] for item in prepared if not isinstance(item, SkippedFile)]
    scored = iter(score_pages(pages, classifier, batch_size=config.score.batch_size, max_length=config.score.max_length))
    return [item if isinstance(item, SkippedFile) else DocumentResult(str(item[0]), item[1], next(scored))
            for item in prepared]


_worker_classifier = None


def _worker_init(model: str, threads: int | None, backend: str, int8: bool) -> None:
    global _worker_classifier
    from nuchter.classify import load_classifier

    _worker_classifier = load_classifier(model, threads=threads or 1, backend=backend, int8=int8)


def _worker_job(paths: list[Path], config: ScanConfig) -> list[DocumentResult | SkippedFile]:
    return score_documents(paths, _worker_classifier, config)


def plan(paths: Iterable[Path], config: ScanConfig, done: frozenset[str] = frozenset()) -> tuple[list[Path], list[SkippedFile]]:
    """Documents still to score (not in ``done``, from an earlier run) and files passed over."""
    found = list(discover(paths, config))
    documents = [p for p in found if isinstance(p, Path) and str(p) not in done]
    return documents, [s for s in found if isinstance(s, SkippedFile)]


def scan(documents: list[Path], classifier, config: ScanConfig) -> Iterator[DocumentResult | SkippedFile]:
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
