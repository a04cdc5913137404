"""`nuchter scan`: score a folder or a crawl, here or on a Ray cluster, and stream reports as documents finish."""

from __future__ import annotations

import itertools
import os
import sys
import time
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter import scanfiles
from nuchter.cli.app import app, Backend, BackendOption, BatchSizeOption, fail, Int8Option, MaxLengthOption, ModelOption, ThreadsOption
from nuchter.config import ScoreConfig
from nuchter.errors import NuchterError
from nuchter.results import DocumentResult, SkippedFile


class ScanFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


def _write_html(path: Path, documents, skipped) -> None:
    from nuchter.reports.html import render_html

    page = render_html(documents, skipped, title="nuchter scan")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)


def _in_order(documents: list, earlier: dict, scored):
    """(result, newly scored?) for every document in scan order: an earlier run's, else the next scored one."""
    from nuchter.scan import document_id

    for document in documents:
        if document_id(document) in earlier:
            yield earlier[document_id(document)], False
        else:
            yield next(scored), True


@app.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  nuchter scan paginas/ --html rapport.html\n"
        "  nuchter scan paginas/ --out zinnen.jsonl --summary documenten.csv --html rapport.html\n"
        "  nuchter scan export/ --include '*.html' --exclude 'archief/*' --out zinnen.csv --format csv\n"
        "  nuchter scan paginas/ --out zinnen.jsonl --resume\n"
        "  nuchter scan --urls links.txt --html rapport.html\n"
        "  nuchter scan crawl.warc.gz posts.jsonl --out uit/ --format parquet\n"
        "  nuchter scan crawl.warc.gz --ray --out uit/ --format parquet\n"
        "  nuchter scan s3://bucket/crawl/ --ray --ray-address auto --out uit/ --format parquet --resume"
    )
)
def scan(
    paths: Annotated[Optional[list[str]], typer.Argument(help="Folders (searched recursively), files, or crawl files (.jsonl, .parquet, .warc, .wet, gzipped or not; also as s3:// or gs:// URIs) to score.", show_default=False)] = None,
    urls: Annotated[Optional[Path], typer.Option(help="Also fetch and score the web pages listed in this file: one http(s) URL a line, # starts a comment. A page that cannot be fetched is reported and the rest go on.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write every sentence here, with its document's path or url (a folder for --format parquet).")] = None,
    fmt: Annotated[ScanFormat, typer.Option("--format", help="Format of --out; parquet writes a dataset: OUT/sentences/ and OUT/documents/ (the summary).")] = ScanFormat.jsonl,
    summary: Annotated[Optional[Path], typer.Option(help="Write one CSV row per document (and per skipped file).")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write one self-contained HTML report.")] = None,
    include: Annotated[Optional[list[str]], typer.Option(help="Only files whose path or name matches this glob (repeatable).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Leave out files matching this glob (repeatable).")] = None,
    model: ModelOption = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted scan: skip documents already in --out.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite existing report files.")] = False,
    max_size: Annotated[float, typer.Option(help="Skip files (and crawl records) larger than this many MB.")] = 5.0,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Worker processes, or with --ray scoring actors [default: one per core for linear models, else 1; with --ray the cluster's CPUs / --threads].")] = None,
    threads: ThreadsOption = None,
    batch_size: BatchSizeOption = ScoreConfig.batch_size,
    max_length: MaxLengthOption = None,
    backend: BackendOption = Backend.auto,
    int8: Int8Option = True,
    ray: Annotated[bool, typer.Option("--ray", help="Scan on a Ray cluster (needs nuchter[ray] and --format parquet): a local Ray runtime, or the cluster of --ray-address.")] = False,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster to join: auto, HOST:PORT or ray://HOST:10001 (implies --ray) [default with --ray: $RAY_ADDRESS when set, else a Ray runtime started on this machine].")] = None,
    id_field: Annotated[str, typer.Option(help="Field of JSONL/Parquet crawl records holding the page's id.")] = "url",
    text_field: Annotated[str, typer.Option(help="Field of crawl records holding the page's text.")] = "text",
    html_field: Annotated[str, typer.Option(help="Field of crawl records holding the page's HTML (used when there is no text).")] = "html",
    part_size: Annotated[int, typer.Option(min=1, help="Documents per Parquet part file; a stopped scan keeps every whole part.")] = 500,
) -> None:
    """Score every document in a folder (.txt, .md, .html) or a crawl (JSONL, Parquet, WARC/WET) and write reports."""
    from nuchter.classify import load_classifier, resolve_model
    from nuchter.crawl import Fields
    from nuchter.scan import ScanConfig

    ray = ray or ray_address is not None
    ray_address = ray_address or (os.environ.get("RAY_ADDRESS") or None if ray else None)
    if not paths and urls is None:
        raise fail("nothing to scan: give folders or files, or --urls LIST (try `nuchter scan --help`)", 2)
    if ray and urls is not None:
        raise fail("--urls is for local scans; a Ray scan reads files and crawl files", 2)
    if resume and out is None:
        raise fail("--resume needs --out: the sentence file tells which documents are done", 2)
    if ray and fmt is not ScanFormat.parquet:
        raise fail("--ray writes a Parquet dataset: add --out DIR --format parquet", 2)
    if fmt is ScanFormat.parquet and (out is None or summary is not None or html is not None):
        raise fail("--format parquet needs --out DIR and writes the summary into it (OUT/documents/); "
                   "--summary and --html are for JSONL and CSV scans", 2)
    try:
        paths = list(paths or [])
        if urls is not None:
            from nuchter.fetch import read_url_list
            from nuchter.scan import WebLink

            paths += [WebLink(url) for url in read_url_list(urls)]
        name = resolve_model(model)
        scoring = ScoreConfig(model=name, batch_size=batch_size, max_length=max_length, threads=threads,
                              backend=backend.value, int8=int8)
        config = ScanConfig(score=scoring, include=tuple(include or ()), exclude=tuple(exclude or ()),
                            max_bytes=int(max_size * 1024 * 1024),
                            fields=Fields(id=id_field, text=text_field, html=html_field))
        if ray:  # --workers: the actors in the pool, not processes here
            return _scan_ray(paths, name, config, out, resume, force, ray_address, workers, part_size)
        classifier = load_classifier(name, threads=threads, backend=backend.value, int8=int8,
                                     warn=lambda m: typer.echo(f"warning: {m}", err=True))
        from nuchter.backends.linear import LinearClassifier

        if workers is None:
            workers = (os.cpu_count() or 1) if isinstance(classifier, LinearClassifier) else 1
        config = replace(config, workers=workers)
        if fmt is ScanFormat.parquet:
            return _scan_parquet(paths, classifier, config, out, resume, force, part_size)
    except NuchterError as error:
        raise fail(error) from None
    _scan_files(paths, classifier, config, out, fmt, summary, html, resume, force)


def _check_fresh(paths, resume: bool, force: bool) -> None:
    for path in paths:  # all checked before any file is opened
        if path is not None and path.exists() and not (resume or force):
            raise NuchterError(f"{path} already exists; pass --resume to continue that scan or --force to overwrite it")


def _parquet_out(out: Path, resume: bool, force: bool) -> set[str]:
    """Ids already in the dataset when resuming; with --force an earlier dataset is cleared first."""
    import shutil

    _check_fresh([out], resume, force)
    if out.exists() and not out.is_dir():
        raise NuchterError(f"{out} is a file; --format parquet writes a folder")
    if force and not resume:
        for folder in (scanfiles.SENTENCES, scanfiles.DOCUMENTS):
            shutil.rmtree(out / folder, ignore_errors=True)
    return scanfiles.parquet_done(out) if resume and out.exists() else set()


def _write_parts(results, out: Path, model: str, part_size: int, done: set[str], total: int | None) -> None:
    """Results (in any order) into the Parquet dataset, a part at a time, with progress and a last line."""
    if done:
        typer.echo(f"resuming: {len(done)} documents already done", err=True)
    parts = scanfiles.ParquetParts(out, model, part_size)
    progress = _Progress(total or 0, enabled=sys.stderr.isatty() and total is not None)
    scored = sentences = skipped = 0
    try:
        for item in results:
            parts.add(item)
            if isinstance(item, DocumentResult):
                scored += 1
                sentences += len(item.result.sentences)
                progress.advance(len(item.result.sentences))
            else:
                skipped += 1
                progress.warn(f"warning: {item.path}: {item.reason}")
                progress.advance(0)
        parts.flush()
    except KeyboardInterrupt:
        progress.close()
        typer.echo("interrupted; the whole parts written are kept: continue with --resume", err=True)
        raise typer.Exit(130) from None
    progress.close()
    typer.echo(f"scored {sentences} sentences in {scored} documents"
               f"{f' ({skipped} skipped)' if skipped else ''} in {progress.elapsed():.1f} s; dataset in {out}", err=True)


def _scan_parquet(paths, classifier, config, out: Path, resume: bool, force: bool, part_size: int) -> None:
    from nuchter.scan import plan, scan as run_scan

    done = _parquet_out(out, resume, force)
    documents, skipped = plan(paths, config, frozenset(done))
    skipped = [s for s in skipped if s.path not in done]
    results = itertools.chain(skipped, run_scan(documents, classifier, config))
    _write_parts(results, out, classifier.name, part_size, done, len(documents) + len(skipped))


def _scan_ray(paths, model: str, config, out: Path, resume: bool, force: bool, address: str | None,
              actors: int | None, part_size: int) -> None:
    from nuchter.engines import ray as engine

    done = _parquet_out(out, resume, force)
    engine.connect(address)
    typer.echo(f"Ray: {engine.cluster_cpus()} CPUs in the cluster", err=True)
    results = engine.scan(paths, model, config, done=frozenset(done), actors=actors, progress=sys.stderr.isatty())
    _write_parts(results, out, model, part_size, done, None)


def _scan_files(paths, classifier, config, out, fmt, summary, html, resume: bool, force: bool) -> None:
    """JSONL or CSV sentences, a CSV summary and an HTML report, streamed in document order."""
    from nuchter.reports import tables as report
    from nuchter.scan import document_id, document_text, plan, sentence_count
    from nuchter.scan import scan as run_scan

    try:
        documents, skipped = plan(paths, config)
        by_id = {document_id(d): d for d in documents}
        done = (scanfiles.done_documents(out, fmt.value, lambda ident: sentence_count(by_id.get(ident), config))
                if resume and out is not None and out.exists() else set())
        _check_fresh((out, summary, html), resume, force)
        sentence_header = None if fmt is ScanFormat.jsonl else ["path", *report.CSV_FIELDS]
        sentences_out = scanfiles.open_output(out, resume, sentence_header) if out else None
        # the summary is written again whole: a resumed scan's equals an uninterrupted one's, row for row
        summary_out = scanfiles.open_output(summary, False, list(report.SUMMARY_FIELDS)) if summary else None
    except NuchterError as error:
        raise fail(error) from None

    def text_of(ident: str) -> str:
        try:
            return document_text(by_id[ident], config) if ident in by_id else ""
        except NuchterError:
            return ""

    for item in skipped:
        typer.echo(f"warning: {item.path}: {item.reason}", err=True)
        if summary_out:
            summary_out[1].writerow(report.summary_csv_row(item))
    earlier = scanfiles.rebuild_documents(out, fmt.value, done, text_of if html is not None else None) if done else {}
    if done:
        typer.echo(f"resuming: {len(done)} documents already done", err=True)
    todo = [d for d in documents if document_id(d) not in earlier]
    kept_documents = []
    kept_skipped: list[SkippedFile] = list(skipped)
    progress = _Progress(len(todo), enabled=sys.stderr.isatty())
    scored = sentences = 0
    try:
        for item, new in _in_order(documents, earlier, iter(run_scan(todo, classifier, config))):
            if isinstance(item, SkippedFile):
                progress.warn(f"warning: {item.path}: {item.reason}")
                kept_skipped.append(item)
                if summary_out:
                    summary_out[1].writerow(report.summary_csv_row(item))
                    summary_out[0].flush()
                progress.advance(0)
                continue
            if sentences_out and new:
                handle, writer = sentences_out
                if writer is None:
                    handle.write("".join(report.dumps(row) + "\n" for row in report.scan_sentence_dicts(item)))
                else:
                    writer.writerows(report.scan_csv_rows(item))
                handle.flush()
            if summary_out:
                summary_out[1].writerow(report.summary_csv_row(item))
                summary_out[0].flush()
            if html:
                kept_documents.append(item)
            elif not (out or summary):
                typer.echo(_summary_line(item))
            if new:
                scored += 1
                sentences += len(item.result.sentences)
                progress.advance(len(item.result.sentences))
    except KeyboardInterrupt:
        progress.close()
        typer.echo(f"interrupted after {scored} documents; what was written is kept: continue with --resume", err=True)
        raise typer.Exit(130) from None
    finally:
        for opened in (sentences_out, summary_out):
            if opened:
                opened[0].close()
    progress.close()
    if html:
        _write_html(html, kept_documents, kept_skipped)
    typer.echo(
        f"scored {sentences} sentences in {scored} documents"
        f"{f' ({len(kept_skipped)} files skipped)' if kept_skipped else ''} in {progress.elapsed():.1f} s",
        err=True,
    )


def _summary_line(document) -> str:
    row = document.summary_row()
    return f"{row['flagged_share']:>6.0%}  {row['sentences']:>5}  {document.path}"


class _Progress:
    """Documents and sentences per second and time left, on stderr when it is a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.enabled = enabled and total > 0
        self.started = time.monotonic()
        self.total = total
        self.bar = None
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.completed}/{task.total} documents"), BarColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), transient=True,
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task("scan", total=total, rate="")
            self.bar.start()
        self.sentences = 0

    def advance(self, sentences: int) -> None:
        if self.bar is not None:
            self.sentences += sentences
            seconds = max(self.elapsed(), 1e-6)
            done = self.bar.tasks[0].completed + 1
            self.bar.update(self.task, advance=1, rate=f"{done / seconds:.1f} docs/s, {self.sentences / seconds:.0f} sentences/s")

    def warn(self, message: str) -> None:
        """A line above the bar, or plain stderr when there is no bar."""
        if self.bar is not None:
            self.bar.console.print(message, markup=False, highlight=False)
        else:
            typer.echo(message, err=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
