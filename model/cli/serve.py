"""`nuchter serve`: a thin wrapper over nuchter.web.service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter.cli.app import app, Backend, BackendOption, BatchSizeOption, fail, Int8Option, MaxLengthOption, ModelOption, ThreadsOption
from nuchter.config import ScoreConfig
from nuchter.errors import NuchterError


@app.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  nuchter serve\n"
        "  nuchter serve --port 8080 --model runs/robbert\n"
        "  nuchter serve --host 0.0.0.0 --workers 2   # reachable from other machines\n"
        "  nuchter serve --allow-fetch                 # also score pages by URL\n"
        "  nuchter serve --label-studio --port 9090 --train-data data/   # a Label Studio ML backend"
    )
)
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on; 0.0.0.0 makes the service reachable from other machines.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0 picks a free one).")] = 8000,
    model: ModelOption = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes, each loading the model once.")] = 1,
    max_bytes: Annotated[int, typer.Option(min=1024, help="Largest request body accepted, in bytes (413 above it).")] = 1_000_000,
    max_wait_ms: Annotated[float, typer.Option(min=0, max=1000, help="How long a batch waits for concurrent requests, in ms.")] = 5.0,
    threads: ThreadsOption = None,
    backend: BackendOption = Backend.auto,
    int8: Int8Option = True,
    batch_size: BatchSizeOption = ScoreConfig.batch_size,
    max_length: MaxLengthOption = None,
    allow_fetch: Annotated[bool, typer.Option("--allow-fetch", help="Let the page and the API fetch web pages by URL (off: a server that fetches what it is told can be aimed at what only it can reach). Private, loopback and link-local addresses stay refused.")] = False,
    allow_private: Annotated[bool, typer.Option("--allow-private", help="With --allow-fetch, also fetch from private and loopback addresses (tests on one machine; never on a shared server).")] = False,
    label_studio: Annotated[bool, typer.Option("--label-studio", help="Also be a Label Studio ML backend: /health, /setup, /predict (pre-annotations as `nuchter select` writes them) and /webhook (\"start training\" exports the project's annotations and runs `nuchter train` on them, one run at a time; /train-status shows it). Needs $LABEL_STUDIO_API_KEY to train.")] = False,
    label_studio_url: Annotated[Optional[str], typer.Option(help="Label Studio's address, for exporting annotations to train on [default: $LABEL_STUDIO_URL].")] = None,
    train_data: Annotated[Optional[list[Path]], typer.Option(help="With --label-studio: labelled data trained on beside the annotations, e.g. data/ (repeatable).")] = None,
    train_config: Annotated[Optional[Path], typer.Option(help="With --label-studio: training settings (JSON or TOML) for `nuchter train --config`.")] = None,
) -> None:
    """Serve a web page to paste text into, and a JSON API (/api/score, /docs), on one loaded model."""
    from nuchter.web.service import ServeConfig, run

    studio = None
    if label_studio:
        from nuchter.web.label_studio import LabelStudioSettings

        studio = LabelStudioSettings(url=label_studio_url, train_data=tuple(str(p) for p in train_data or ()),
                                     train_config=str(train_config) if train_config else None)
    elif label_studio_url or train_data or train_config:
        raise fail("--label-studio-url, --train-data and --train-config go with --label-studio", 2)
    try:
        scoring = ScoreConfig(model=model, threads=threads, backend=backend.value, int8=int8,
                              batch_size=batch_size, max_length=max_length)
        config = ServeConfig(score=scoring, host=host, port=port, workers=workers, max_bytes=max_bytes,
                             max_wait_ms=max_wait_ms, allow_fetch=allow_fetch, allow_private=allow_private,
                             label_studio=studio)
        run(config, announce=lambda line: typer.echo(line, err=True))
    except NuchterError as error:
        raise fail(error) from None
    typer.echo("nuchter serve stopped", err=True)
