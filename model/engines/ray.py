"""`nuchter scan --ray`: the same scan on a Ray cluster, with Ray Data doing the scaling.

Two stages: sources (document files and crawl files, listed by the driver) are read and segmented
in Ray tasks, one source each, so a crawl file's records are read where they are scored; the
prepared documents stream to an actor pool, each actor holding one loaded model and scoring groups
of documents on the one scoring path (``nuchter.scan.score_prepared`` → ``pipeline.score_pages``).
Ray gives back-pressure, retries of failed tasks, restarts of dead actors, and a progress bar per
stage; the driver only lists files and writes results.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from nuchter.crawl import records
from nuchter.errors import InputError, NuchterError
from nuchter.pipeline import PreparedPage
from nuchter.results import DocumentResult, ScoreResult, SentenceScore, Skipped, SkippedFile
from nuchter.scan import CrawlFile, ScanConfig, discover, document_id, prepare_document, score_prepared
from nuchter.segment import SENTENCE, Segment

BLOCK_BYTES = 64 * 1024
"""Ray Data closes a block once it is this large: about one job of short documents."""

LOCAL = "local"
"""`--ray` without an address: start a Ray runtime on this machine for this scan."""


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise NuchterError("--ray needs Ray Data: pip install 'nuchter[ray]'") from None
    return ray


def _reachable(address: str) -> None:
    """Ray retries an unreachable head for minutes; a plain TCP connect says so in seconds."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # 'auto' and other forms: Ray's own check is quick for those
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise NuchterError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


def connect(address: str | None, *, quiet: bool = True) -> None:
    """Join the cluster at ``address`` ('auto', HOST:PORT, ray://…), or start a local runtime."""
    ray = _ray()
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if quiet:
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # per-run INFO lines and the progress-bar notice
        # a notice Ray's core prints as an error for every actor pool with arguments (ray-project/ray#53727);
        # real failures still reach the driver as exceptions
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    options = dict(logging_level=logging.WARNING if quiet else logging.INFO, log_to_driver=not quiet)
    local = address in (None, LOCAL)
    if not local:
        _reachable(address)
    try:
        if local:
            ray.init(address="local", include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise NuchterError(f"cannot reach a Ray cluster at {address}: {str(exc).splitlines()[0]}") from None


def _source_rows(paths: Iterable[Path | str], config: ScanConfig, done: frozenset[str]):
    """What the driver lists: one row per document file or crawl file, and the files passed over."""
    rows, skipped = [], []
    for item in discover(paths, config, expand_crawls=False):
        if isinstance(item, SkippedFile):
            if item.path not in done:
                skipped.append(item)
        elif isinstance(item, CrawlFile):
            rows.append({"crawl": item.location, "file": ""})
        elif str(item) not in done:
            rows.append({"crawl": "", "file": str(item)})
    return rows, skipped


def _prepared_row(prepared) -> dict:
    if isinstance(prepared, SkippedFile):
        return {"id": prepared.path, "reason": prepared.reason, "text": "", "starts": [], "ends": [], "kinds": []}
    ident, text, page = prepared
    spans = sorted([(s.start, s.end, s.kind) for s in page.sentences]
                   + [(s.start, s.end, s.reason) for s in page.skipped])
    return {"id": ident, "reason": "", "text": text, "starts": [s[0] for s in spans],
            "ends": [s[1] for s in spans], "kinds": [s[2] for s in spans]}


def _documents(row: dict, config: ScanConfig, done: frozenset[str]) -> Iterator:
    """A source's documents (a document file, or a crawl file's records not done yet), prepared."""
    items = records(row["crawl"], config.fields, config.max_bytes) if row["crawl"] else [Path(row["file"])]
    for item in items:
        if isinstance(item, SkippedFile):
            prepared = item
        elif document_id(item) in done:
            continue
        else:
            try:
                prepared = prepare_document(item, config)
            except Exception as exc:  # an extractor crash on one hostile page must not stop the scan
                prepared = SkippedFile(document_id(item), f"cannot be read or extracted: {type(exc).__name__}: {exc}")
        if not (isinstance(prepared, SkippedFile) and prepared.path in done):
            yield prepared


def _read(batch, config: ScanConfig, done: frozenset[str]) -> Iterator:
    """Stage one (a function: Ray Data runs a class as an actor pool): each source's documents, read
    and segmented, yielded a group at a time so a large crawl file streams to the scorers instead
    of filling memory."""
    import pyarrow as pa

    for row in batch.to_pylist():
        rows = []
        for prepared in _documents(row, config, done):
            rows.append(_prepared_row(prepared))
            if len(rows) >= config.documents_per_job:
                yield pa.Table.from_pylist(rows)
                rows = []
        if rows:
            yield pa.Table.from_pylist(rows)


def _from_row(row: dict):
    """The prepared document a stage-one row stands for (the scorer's side of ``_prepared_row``)."""
    if row["reason"]:
        return SkippedFile(row["id"], row["reason"])
    text = row["text"]
    sentences, skipped = [], []
    for start, end, kind in zip(row["starts"], row["ends"], row["kinds"]):
        if kind == SENTENCE:
            sentences.append(Segment(start, end, text[start:end]))
        else:
            skipped.append(Skipped(start, end, text[start:end], kind))
    return row["id"], text, PreparedPage(sentences, tuple(skipped))


class Scorer:
    """Stage two, one per actor: the model is loaded once and scores groups of documents."""

    def __init__(self, model: str, config: ScanConfig, threads: int):
        from nuchter.classify import load_classifier

        self.config = config
        self.classifier = load_classifier(model, threads=threads, backend=config.score.backend, int8=config.score.int8)

    def __call__(self, batch):
        prepared = [_from_row(row) for row in batch.to_pylist()]
        rows = []
        for item in score_prepared(prepared, self.classifier, self.config):
            if isinstance(item, SkippedFile):
                rows.append({"id": item.path, "reason": item.reason, "model": "", "sentences": "[]"})
            else:
                rows.append({"id": item.path, "reason": "", "model": item.result.model,
                             "sentences": json.dumps([s.to_dict() for s in item.result.sentences], ensure_ascii=False)})
        import pyarrow as pa

        return pa.Table.from_pylist(rows)


def _result(row: dict) -> DocumentResult | SkippedFile:
    if row["reason"]:
        return SkippedFile(row["id"], row["reason"])
    sentences = tuple(SentenceScore.from_dict(s) for s in json.loads(row["sentences"]))
    return DocumentResult(row["id"], "", ScoreResult(row["model"], sentences))


def cluster_cpus() -> int:
    return max(1, int(_ray().cluster_resources().get("CPU", 1)))


def scan(paths: Iterable[Path | str], model: str, config: ScanConfig, *, done: frozenset[str] = frozenset(),
         actors: int | None = None, progress: bool = False) -> Iterator[DocumentResult | SkippedFile]:
    """Results of every document not in ``done`` as they finish (in no fixed order); ``connect`` first.

    ``actors`` defaults to the cluster's CPUs divided by the threads each actor uses
    (``config.score.threads``, default 1)."""
    ray = _ray()
    rows, skipped = _source_rows(paths, config, done)
    yield from skipped
    if not rows:
        return
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = context.enable_operator_progress_bars = progress
    context.print_on_execution_start = progress
    threads = config.score.threads or 1
    pool = actors or max(1, cluster_cpus() // threads)
    context.target_max_block_size = BLOCK_BYTES  # before the dataset is made: it keeps the context it was made in
    sources = ray.data.from_items(rows, override_num_blocks=len(rows))
    # Reading asks for no CPU of its own: with every CPU held by a scoring actor, a reader that needs
    # one (or a repartition, which does) would never start and the scan would wait forever. The
    # reader yields a job's documents at a time, and small blocks make each yield a block of its
    # own, so one large crawl file feeds every actor. Ray Data restarts a dead actor and retries
    # its batch by default (max_restarts=-1, max_task_retries=-1).
    # Ray counts the sources (one crawl file: one input) and warns that actors will sit idle; the
    # reader's blocks are what the actors get, so the warning is wrong here.
    warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
    prepared = sources.map_batches(_read, fn_kwargs={"config": config, "done": done}, batch_size=1,
                                   batch_format="pyarrow", num_cpus=0)
    scored = prepared.map_batches(
        Scorer, fn_constructor_kwargs={"model": model, "config": config, "threads": threads},
        batch_size=config.documents_per_job, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=pool, max_tasks_in_flight_per_actor=1), num_cpus=threads,
    )
    try:
        for batch in scored.iter_batches(batch_size=config.documents_per_job, batch_format="pyarrow"):
            for row in batch.to_pylist():
                yield _result(row)
    except ray.exceptions.RayError as exc:
        raise InputError(f"the Ray scan failed: {str(exc).splitlines()[0]}") from None

