"""`nuchter data check`: labelled data validated before it trains anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter.cli.app import app, fail
from nuchter.errors import NuchterError

data_app = typer.Typer(help="Check labelled data.", no_args_is_help=True)
DEFAULT_HELD_OUT = Path("..") / "shared" / "realdev" / "realdev.jsonl"
"""The project's real-page development set, beside a checkout: no training row may be a near copy of it."""
app.add_typer(data_app, name="data")


@data_app.command(
    "check",
    epilog="Examples:\n\n\b\n  nuchter data check data/\n  nuchter data check new_labels.csv\n"
           "  nuchter data check data/ --held-out ../shared/realdev/realdev.jsonl",
)
def data_check(
    paths: Annotated[list[Path], typer.Argument(help="Data files or folders (JSONL, CSV, Label Studio JSON).")],
    warnings: Annotated[bool, typer.Option("--warnings/--no-warnings", help="Also list duplicate rows.")] = True,
    held_out: Annotated[Optional[list[Path]], typer.Option(
        "--held-out", help="Evaluation sets no data row may be a near copy of (repeatable) "
                           f"[default: {DEFAULT_HELD_OUT} when it exists].")] = None,
) -> None:
    """Validate labelled data: labels, empty rows, duplicates, conflicts, near copies of held-out
    evaluation sentences; counts per split."""
    from nuchter.training.corpus import SPLITS, close_to_held_out, load_corpus, read_texts
    from nuchter.labels import LABELS

    if held_out is None:
        held_out = [DEFAULT_HELD_OUT] if DEFAULT_HELD_OUT.is_file() else []
    try:
        corpus = load_corpus(paths)
        for path in held_out:
            if not path.is_file():
                raise NuchterError(f"held-out set not found: {path}")
            texts = read_texts(path)
            close = close_to_held_out(corpus.examples, texts)
            for i, j, why in close:
                typer.echo(f"{corpus.examples[i].where}: error: near copy of a sentence of {path} "
                           f"(line {j + 1}, shared {why})", err=True)
            typer.echo(f"held-out check against {path} ({len(texts)} sentences): "
                       + (f"{len(close)} near copies" if close else "no near copies"))
            if close:
                raise fail(f"{len(close)} sentence(s) too close to held-out evaluation text; rewrite them")
    except NuchterError as error:
        raise fail(error) from None
    for problem in corpus.problems:
        if problem.fatal or warnings:
            typer.echo(str(problem), err=True)
    counts = corpus.counts()
    typer.echo(f"{len(corpus.files)} files, {len(corpus.examples)} sentences, "
               f"{len({e.doc_id for e in corpus.examples})} documents")
    typer.echo(f"{'split':<6}" + "".join(f"{label:>13}" for label in LABELS) + f"{'total':>8}")
    for split in (*SPLITS, "all"):
        row = counts[split]
        typer.echo(f"{split:<6}" + "".join(f"{row[label]:>13}" for label in LABELS) + f"{sum(row.values()):>8}")
    if corpus.errors:
        raise fail(f"{len(corpus.errors)} error(s) in the data; fix the rows listed above")
