"""`nuchter models`: list installed models, switch the active one, remove one."""

from __future__ import annotations

from typing import Annotated

import typer

from nuchter.cli.app import app, fail
from nuchter.errors import NuchterError


models_app = typer.Typer(help="List installed models, switch the active one, or remove one.", invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
def models_list(ctx: typer.Context) -> None:
    """List installed models with their test macro-F1; * marks the active one."""
    if ctx.invoked_subcommand is not None:
        return
    from nuchter import store

    found = store.list_models()
    if not found:
        typer.echo("no models installed; train one with `nuchter train --data data/`")
        return
    for m in found:
        f1 = f"{m.test_macro_f1:.3f}" if m.test_macro_f1 is not None else "  -  "
        base = m.metrics.get("base_model", "?")
        typer.echo(f"{'*' if m.active else ' '} {m.name:<28} test macro-F1 {f1}  base {base}")


@models_app.command("use", epilog="Examples:\n\n\b\n  nuchter models use builtin\n  nuchter models use retrain1 --yes")
def models_use(
    name: Annotated[str, typer.Argument(help="Name from `nuchter models`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Switch without asking, even to a model the guard kept inactive.")] = False,
) -> None:
    """Make an installed model the active one. A model the activation guard kept inactive (at chance
    level, or worse than the model it was compared with) is switched to only after its verdict is shown
    and confirmed."""
    from nuchter import store

    try:
        if name not in store.BUILTINS:
            activation = store.read_metrics(store.path_of(name)).get("activation") or {}
            reasons = activation.get("reasons") or []
            if reasons and not activation.get("decision", "").startswith("activated"):
                typer.echo(f"the activation guard kept {name} inactive when it was trained:", err=True)
                for reason in reasons:
                    typer.echo(f"  - {reason}", err=True)
                if not yes and not typer.confirm(f"make {name} the active model anyway?"):
                    raise fail(f"the active model is still {store.active_name() or 'builtin'}", 1)
        store.use(name)
    except NuchterError as error:
        raise fail(error) from None
    typer.echo(f"active model: {name}")


@models_app.command("remove", epilog="Examples:\n\n\b\n  nuchter models remove 20261201-231500\n  nuchter models remove ruis --yes")
def models_remove(
    name: Annotated[str, typer.Argument(help="Name from `nuchter models`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a trained model from the model store (not the built-in ones, nor the active one)."""
    from nuchter import store

    try:
        size = store.folder_bytes(store.removable(name))
        if not yes and not typer.confirm(f"remove model {name} ({size / 1e6:.0f} MB) from {store.models_dir()}?"):
            raise fail("nothing removed", 1)
        store.remove(name)
    except NuchterError as error:
        raise fail(error) from None
    typer.echo(f"removed {name} ({size / 1e6:.0f} MB freed)")
