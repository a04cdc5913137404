"""The `nuchter` command line: parses options, calls the library, prints.

stdout carries results only; errors and progress go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter.config import ScoreConfig
from nuchter.errors import NuchterError
from nuchter.explain import BUDGET as EXPLAIN_BUDGET, MIN_SPANS
from nuchter.cli_app import Backend, BackendOption, Format, Int8Option, MaxLengthOption, ModelOption, app, fail


def read_input(text: Optional[str], file: Optional[Path]) -> str:
    from nuchter.extract import read_text_file

    if file is not None and text not in (None, "-"):
        raise fail("give either TEXT or --file, not both", 2)
    if file is not None:
        return read_text_file(file)
    if text is not None and text != "-":
        from nuchter.extract import clean_text

        return clean_text(text, "TEXT")
    if sys.stdin is None or sys.stdin.isatty():
        raise fail("no input: pass TEXT, --file PATH, or pipe text on stdin (try `nuchter score --help`)", 2)
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    from nuchter.extract import decode

    return decode(data, "stdin")


def print_result(result, fmt: Format, text: str = "") -> None:
    from nuchter import report

    if fmt is Format.html:
        from nuchter.html import render_score_html

        typer.echo(render_score_html(result, text))
    elif fmt is Format.json:
        typer.echo(report.to_json(result))
    elif fmt is Format.jsonl:
        for line in report.to_jsonl(result):
            typer.echo(line)
    elif fmt is Format.csv:
        typer.echo(report.to_csv(result), nl=False)
    else:
        from rich.console import Console

        console = Console()
        console.print(report.to_table(result))
        console.print(report.summary_line(result))


@app.command(
    epilog=(
        "Examples:\n\n\b\n"
        '  nuchter score "Kurkuma geneest alle ontstekingen. Bestel vandaag!"\n'
        "  nuchter score --file blog.txt --format json\n"
        "  cat zinnen.txt | nuchter score --lines --format csv > scores.csv\n"
        "  nuchter score --file pagina.txt --format html > rapport.html\n"
        '  nuchter score --explain --format json "Deze thee zuivert je lever volledig."'
    )
)
def score(
    text: Annotated[Optional[str], typer.Argument(help="Text to score; '-' or nothing reads stdin.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Read the text from this file.")] = None,
    lines: Annotated[bool, typer.Option("--lines", help="Score every input line as one unit (no sentence splitting).")] = False,
    fmt: Annotated[
        Optional[Format],
        typer.Option("--format", case_sensitive=False, help="Output format; html is one self-contained page [default: table on a terminal, else jsonl]."),
    ] = None,
    model: ModelOption = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = ScoreConfig.batch_size,
    max_length: MaxLengthOption = None,
    threads: Annotated[
        Optional[int], typer.Option(min=1, help="CPU threads (on a busy 2-core machine 1 can beat 2).")
    ] = None,
    backend: BackendOption = Backend.auto,
    int8: Int8Option = True,
    explain: Annotated[bool, typer.Option("--explain", help=f"Add each sentence's evidence: the words or phrases that pushed it towards its label, with offsets into the text (costs 3 to 8 extra model inputs per sentence and at most {EXPLAIN_BUDGET} per text; {MIN_SPANS} per sentence in texts of more than {EXPLAIN_BUDGET // MIN_SPANS} sentences).")] = False,
) -> None:
    """Score a pasted paragraph, a file or stdin, sentence by sentence."""
    from nuchter.pipeline import score_text

    config = ScoreConfig(model=model, batch_size=batch_size, max_length=max_length, threads=threads, lines=lines,
                         backend=backend.value, int8=int8, explain=explain)
    try:
        source = read_input(text, file)
        result = score_text(source, config=config)
    except NuchterError as error:
        raise fail(error) from None
    print_result(result, fmt or (Format.table if sys.stdout.isatty() else Format.jsonl), source)


@app.command(
    "export",
    epilog="Examples:\n\n\b\n  nuchter export runs/robbert\n  nuchter export runs/robbert --no-int8",
)
def export(
    model: Annotated[str, typer.Argument(help="Model directory to export.")],
    int8: Int8Option = True,
) -> None:
    """Export a transformer model to ONNX (and int8) now, instead of on first use."""
    from nuchter.onnx_backend import load_onnx_classifier

    from nuchter.modeldir import check_model_dir, check_tokenizer

    try:
        path = Path(model).expanduser()
        check_model_dir(path)
        check_tokenizer(path)
        load_onnx_classifier(path, quantized=int8)
    except NuchterError as error:
        raise fail(error) from None
    typer.echo(f"exported {path} to ONNX{' (int8)' if int8 else ''}; score and scan will use it")


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



# After score, so `nuchter --help` lists it first; these modules import cli_app, never this one.
from nuchter import cli_scan, cli_select, cli_serve, cli_training  # noqa: E402,F401  register scan, select, serve, train, evaluate, models


def main() -> None:
    app()


if __name__ == "__main__":
    main()
