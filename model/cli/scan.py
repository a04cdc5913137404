"""`nuchter scan`: score a folder and stream reports as documents finish."""

from __future__ import annotations

import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter import scanfiles
from nuchter.cli.app import app, Backend, BackendOption, BatchSizeOption, fail, Int8Option, MaxLengthOption, ModelOption, ThreadsOption
from nuchter.config import ScoreConfig
from nuchter.errors import NuchterError


class ScanFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


def _write_html(path: Path, documents, skipped) -> None:
    from nuchter.reports.html import render_html

    page = render_html(documents, skipped, title="nuchter scan")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)


def _in_order(documents: list[Path], earlier: dict, scored):
    """(result, newly scored?) for every document in scan order: an earlier run's, else the next scored one."""
    for path in documents:
        if str(path) in earlier:
            yield earlier[str(path)], False
        else:
            yield next(scored), True


@app.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  nuchter scan paginas/ --html rapport.html\n"
        "  nuchter scan paginas/ --out zinnen.jsonl --summary documenten.csv --html rapport.html\n"
        "  nuchter scan export/ --include '*.html' --exclude 'archief/*' --out zinnen.csv --format csv\n"
        "  nuchter scan paginas/ --out zinnen.jsonl --resume"
    )
)
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Folders (searched recursively) or files to score.")],
    out: Annotated[Optional[Path], typer.Option(help="Write every sentence here, with its document's path.")] = None,
    fmt: Annotated[ScanFormat, typer.Option("--format", help="Format of --out.")] = ScanFormat.jsonl,
    summary: Annotated[Optional[Path], typer.Option(help="Write one CSV row per document (and per skipped file).")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write one self-contained HTML report.")] = None,
    include: Annotated[Optional[list[str]], typer.Option(help="Only files whose path or name matches this glob (repeatable).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Leave out files matching this glob (repeatable).")] = None,
    model: ModelOption = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted scan: skip documents already in --out.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite existing report files.")] = False,
    max_size: Annotated[float, typer.Option(help="Skip files larger than this many MB.")] = 5.0,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Worker processes [default: one per core for linear models, else 1].")] = None,
    threads: ThreadsOption = None,
    batch_size: BatchSizeOption = ScoreConfig.batch_size,
    max_length: MaxLengthOption = None,
    backend: BackendOption = Backend.auto,
    int8: Int8Option = True,
) -> None:
    """Score every document in a folder (.txt, .md, .html) and write reports."""
    from nuchter.reports import tables as report
    from nuchter.classify import load_classifier, resolve_model
    from nuchter.results import SkippedFile
    from nuchter.scan import ScanConfig, plan
    from nuchter.scan import scan as run_scan

    if resume and out is None:
        raise fail("--resume needs --out: the sentence file tells which documents are done", 2)
    try:
        name = resolve_model(model)
        classifier = load_classifier(name, threads=threads, backend=backend.value, int8=int8,
                                     warn=lambda m: typer.echo(f"warning: {m}", err=True))
        from nuchter.backends.linear import LinearClassifier

        if workers is None:
            workers = (os.cpu_count() or 1) if isinstance(classifier, LinearClassifier) else 1
        scoring = ScoreConfig(model=name, batch_size=batch_size, max_length=max_length, threads=threads,
                              backend=backend.value, int8=int8)
        config = ScanConfig(score=scoring, include=tuple(include or ()), exclude=tuple(exclude or ()),
                            max_bytes=int(max_size * 1024 * 1024), workers=workers)
        done = scanfiles.done_documents(out, fmt.value, config.max_bytes) if resume and out is not None and out.exists() else set()
        documents, skipped = plan(paths, config)
        for path in (out, summary, html):  # all checked before any file is opened
            if path is not None and path.exists() and not (resume or force):
                raise NuchterError(f"{path} already exists; pass --resume to continue that scan or --force to overwrite it")
        sentence_header = None if fmt is ScanFormat.jsonl else ["path", *report.CSV_FIELDS]
        sentences_out = scanfiles.open_output(out, resume, sentence_header) if out else None
        # the summary is written again whole: a resumed scan's equals an uninterrupted one's, row for row
        summary_out = scanfiles.open_output(summary, False, list(report.SUMMARY_FIELDS)) if summary else None
    except NuchterError as error:
        raise fail(error) from None

    for item in skipped:
        typer.echo(f"warning: {item.path}: {item.reason}", err=True)
        if summary_out:
            summary_out[1].writerow(report.summary_csv_row(item))
    earlier = scanfiles.rebuild_documents(out, fmt.value, done, with_text=html is not None) if done else {}
    if done:
        typer.echo(f"resuming: {len(done)} documents already done", err=True)
    todo = [d for d in documents if str(d) not in earlier]
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
