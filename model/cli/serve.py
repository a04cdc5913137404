"""`nuchter serve`: a thin wrapper over nuchter.web.service."""

from __future__ import annotations

from typing import Annotated

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
        "  nuchter serve --allow-fetch                 # also score pages by URL"
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
) -> None:
    """Serve a web page to paste text into, and a JSON API (/api/score, /docs), on one loaded model."""
    from nuchter.web.service import ServeConfig, run

    try:
        scoring = ScoreConfig(model=model, threads=threads, backend=backend.value, int8=int8,
                              batch_size=batch_size, max_length=max_length)
        config = ServeConfig(score=scoring, host=host, port=port, workers=workers, max_bytes=max_bytes,
                             max_wait_ms=max_wait_ms, allow_fetch=allow_fetch, allow_private=allow_private)
        run(config, announce=lambda line: typer.echo(line, err=True))
    except NuchterError as error:
        raise fail(error) from None
    typer.echo("nuchter serve stopped", err=True)
