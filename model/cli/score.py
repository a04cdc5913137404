"""`nuchter score`: a pasted paragraph, a file or stdin, scored and printed.

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
from nuchter.cli.app import app, Backend, BackendOption, BatchSizeOption, fail, Format, Int8Option, MaxLengthOption, ModelOption, ThreadsOption


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
    from nuchter.reports import tables as report

    if fmt is Format.html:
        from nuchter.reports.html import render_score_html

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
        "  nuchter score --url https://voorbeeld.nl/blog/kurkuma --format html > rapport.html\n"
        "  cat zinnen.txt | nuchter score --lines --format csv > scores.csv\n"
        "  nuchter score --file pagina.txt --format html > rapport.html\n"
        '  nuchter score --explain --format json "Deze thee zuivert je lever volledig."'
    )
)
def score(
    text: Annotated[Optional[str], typer.Argument(help="Text to score; '-' or nothing reads stdin.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Read the text from this file.")] = None,
    url: Annotated[Optional[str], typer.Option("--url", help="Fetch this web page (http or https) and score its main text; its URL and title go into the output.")] = None,
    lines: Annotated[bool, typer.Option("--lines", help="Score every input line as one unit (no sentence splitting).")] = False,
    fmt: Annotated[
        Optional[Format],
        typer.Option("--format", case_sensitive=False, help="Output format; html is one self-contained page [default: table on a terminal, else jsonl]."),
    ] = None,
    model: ModelOption = None,
    batch_size: BatchSizeOption = ScoreConfig.batch_size,
    max_length: MaxLengthOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = Backend.auto,
    int8: Int8Option = True,
    explain: Annotated[bool, typer.Option("--explain", help=f"Add each sentence's evidence: the words or phrases that pushed it towards its label, with offsets into the text (costs 3 to 8 extra model inputs per sentence and at most {EXPLAIN_BUDGET} per text; {MIN_SPANS} per sentence in texts of more than {EXPLAIN_BUDGET // MIN_SPANS} sentences).")] = False,
) -> None:
    """Score a pasted paragraph, a file or stdin, sentence by sentence."""
    from nuchter.pipeline import score_text

    config = ScoreConfig(model=model, batch_size=batch_size, max_length=max_length, threads=threads, lines=lines,
                         backend=backend.value, int8=int8, explain=explain)
    try:
        if url is not None:
            if file is not None or text not in (None, "-"):
                raise fail("give one of TEXT, --file or --url", 2)
            from nuchter.fetch import fetch
            from nuchter.results import Source

            page = fetch(url)
            source, origin = page.text, Source(page.url, page.title)
        else:
            source, origin = read_input(text, file), None
        result = score_text(source, config=config, source=origin)
    except NuchterError as error:
        raise fail(error) from None
    print_result(result, fmt or (Format.table if sys.stdout.isatty() else Format.jsonl), source)
