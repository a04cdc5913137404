"""`nuchter evaluate`: a model measured on labelled sentences or whole pages."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter.cli.app import app, Backend, BackendOption, fail, Int8Option, ModelOption, ThreadsOption
from nuchter.errors import NuchterError


def _log(message: str) -> None:
    typer.echo(message, err=True)


def _write_html(path: Path, evaluation) -> None:
    """Written beside its place and renamed in, so a failed write leaves an earlier page whole."""
    from nuchter.reports.evaluation import render_evaluation_html
    from nuchter.store import write_atomically
    from nuchter.training.evaluation import figures

    try:
        write_atomically(path, render_evaluation_html(evaluation.metrics, figures(evaluation)))
    except OSError as exc:
        raise NuchterError(f"cannot write {path}: {exc.strerror or exc}") from None


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


@app.command(
    "evaluate",
    epilog=(
        "Examples:\n\n\b\n  nuchter evaluate --data data/ --split test\n"
        "  nuchter evaluate --data data/ --split test --html rapport.html\n"
        "  nuchter evaluate --data extra.csv --model runs/robbert --errors fouten.csv\n"
        "  nuchter evaluate --data ../shared/realdev/realdev.jsonl          # whole pages (rows carry a url)\n"
        "  nuchter evaluate --data paginas.csv --page-key pagina --group bron"
    ),
)
def evaluate_command(
    data: Annotated[list[Path], typer.Option("--data", "-d", help="Labelled data files or folders (repeatable).")],
    model: ModelOption = None,
    split: Annotated[Optional[str], typer.Option(help="Only this split: train, dev or test [default: all rows]; sentence mode only.")] = None,
    page_key: Annotated[Optional[str], typer.Option(
        "--page-key", help="Field naming each row's page: score every page as one text, as `score` serves it "
                           "[default: page mode when rows carry url, page, page_id or pagina].")] = None,
    group: Annotated[Optional[str], typer.Option(help="Page mode: field to report accuracy by [default: register or group].")] = None,
    fmt: Annotated[EvalFormat, typer.Option("--format", help="Output format.")] = EvalFormat.table,
    errors: Annotated[Optional[Path], typer.Option(help="Write misclassified sentences (gold and predicted) to this CSV.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write one self-contained page with charts: confusion heat map, per-label bars with 95 % intervals, reliability diagram with ECE, accuracy per group, and the errors, filterable.")] = None,
    threads: ThreadsOption = None,
    backend: BackendOption = Backend.auto,
    int8: Int8Option = True,
) -> None:
    """Macro-F1, per-label precision/recall/F1 and the confusion matrix of a model.

    Sentence mode scores each labelled row with its neighbours in its document. Page mode
    (a set whose rows name their page, in reading order) scores every page as one text and
    aligns the labelled sentences to the predicted ones by character overlap; it adds a 95 %
    interval over pages and accuracy per register or group. By default the model is measured as
    `score` serves it (ONNX int8 for transformer folders); --backend torch or --no-int8 measure
    it at full precision.
    """
    from nuchter.classify import resolve_model
    from nuchter.training.corpus import SPLITS
    from nuchter.training.evaluation import evaluate_model, evaluate_pages, format_table, page_key_of, write_errors

    if split is not None and split not in SPLITS:
        raise fail(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}", 2)
    try:
        pages = page_key or (None if split else page_key_of(data))
        if pages and split:
            raise fail("--split is for sentence mode; a set of whole pages is measured as a whole", 2)
        if pages:
            evaluation = evaluate_pages(
                resolve_model(model), data, page_key=pages, group_key=group, threads=threads,
                backend=backend.value, int8=int8,
                progress=lambda done, total: _log(f"scored {done}/{total} pages"),
            )
        else:
            evaluation = evaluate_model(resolve_model(model), data, split=split, threads=threads,
                                        backend=backend.value, int8=int8)
        metrics, wrong = evaluation.metrics, evaluation.errors
        if errors is not None:
            write_errors(errors, wrong)
            _log(f"wrote {len(wrong)} misclassified sentences to {errors}")
        if html is not None:
            _write_html(html, evaluation)
            _log(f"wrote {html}")
    except NuchterError as error:
        raise fail(error) from None
    typer.echo(json.dumps(metrics, indent=2, ensure_ascii=False) if fmt is EvalFormat.json else format_table(metrics))
