"""The `nuchter` command: every command module registered on the one Typer app, in help order."""

from __future__ import annotations

from nuchter.cli import score, export, scan, select, serve, train, evaluate, data, models  # noqa: F401  each registers on app
from nuchter.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
