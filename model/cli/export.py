"""`nuchter export`: build a model's ONNX graph now instead of on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nuchter.cli.app import Int8Option, app, fail
from nuchter.errors import NuchterError


@app.command(
    "export",
    epilog="Examples:\n\n\b\n  nuchter export runs/robbert\n  nuchter export runs/robbert --no-int8",
)
def export(
    model: Annotated[str, typer.Argument(help="Model directory to export.")],
    int8: Int8Option = True,
) -> None:
    """Export a transformer model to ONNX (and int8) now, instead of on first use."""
    from nuchter.backends.onnx import load_onnx_classifier

    from nuchter.backends.modeldir import check_model_dir, check_tokenizer

    try:
        path = Path(model).expanduser()
        check_model_dir(path)
        check_tokenizer(path)
        load_onnx_classifier(path, quantized=int8)
    except NuchterError as error:
        raise fail(error) from None
    typer.echo(f"exported {path} to ONNX{' (int8)' if int8 else ''}; score and scan will use it")
