"""The Typer app and the options every command module shares.

Command modules (score, scan, serve, train, …) import this and register on
``app``; nothing here imports them; `nuchter.cli.main` imports them all.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from nuchter.errors import NuchterError

def _plain_choice_errors() -> None:
    """Typer 0.29 checks option values with pydantic, whose messages start "Value error, "; nuchter's
    errors are one plain line ("Invalid value for '--format': 'xml' is not one of …"). A test holds it."""
    try:
        from typer import _coercion
    except ImportError:  # another Typer: its messages are its own
        return
    plain = getattr(_coercion, "get_error_msg", None)
    if plain is not None and not getattr(plain, "nuchter", False):
        def message(exc) -> str:
            return plain(exc).replace("Value error, ", "")

        message.nuchter = True
        _coercion.get_error_msg = message


_plain_choice_errors()

app = typer.Typer(
    name="nuchter",
    help="Label Dutch health text, sentence by sentence, as supported, hedged, overclaimed or promotional.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click errors: one "Error: …" line, no boxes
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"nuchter {version('nuchter')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("nuchter (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print nuchter's version and exit.")] = False,
) -> None:
    """Label Dutch health text, sentence by sentence, as supported, hedged, overclaimed or promotional."""


class Backend(str, Enum):
    auto = "auto"
    onnx = "onnx"
    torch = "torch"


BackendOption = Annotated[
    Backend, typer.Option(help="Serving path for transformer models: ONNX Runtime, PyTorch, or auto (ONNX, else PyTorch).")
]
ModelOption = Annotated[Optional[str], typer.Option("--model", "-m", help="A name from `nuchter models`, a model directory, builtin / builtin-fast, or a hub id [default: the active model].")]
Int8Option = Annotated[bool, typer.Option("--int8/--no-int8", help="int8 quantisation on the ONNX path.")]
MaxLengthOption = Annotated[Optional[int], typer.Option(
    min=8, help="Tokens kept per sentence [default: the model's own, saved with it at training; 128 if it does not say].")]


ThreadsOption = Annotated[Optional[int], typer.Option(
    min=1, help="CPU threads in all [default: the machine's cores; on a busy 2-core machine 1 can beat 2].")]
BatchSizeOption = Annotated[int, typer.Option(min=1, help="Sentences per model batch.")]


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    html = "html"


def fail(error: NuchterError | str, code: int = 1) -> typer.Exit:
    """Print a one-line error on stderr; return the Exit to raise."""
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=getattr(error, "exit_code", code))
