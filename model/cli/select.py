"""`nuchter select`: the sentences worth an annotator's time, as Label Studio or doccano tasks."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nuchter.cli.app import app, Backend, BackendOption, BatchSizeOption, fail, Int8Option, MaxLengthOption, ModelOption, ThreadsOption
from nuchter.config import ScoreConfig
from nuchter.errors import NuchterError


class Strategy(str, Enum):
    margin = "margin"
    entropy = "entropy"


class TaskFormat(str, Enum):
    label_studio = "label-studio"
    doccano = "doccano"


def scan_rows(path: Path):
    """Candidates from a `nuchter scan --out` JSONL file: every row a scored sentence with its page."""
    from nuchter.inputs import neighbours
    from nuchter.scanfiles import read_scored_pages
    from nuchter.select import candidates_of

    candidates = []
    for page, sentences in read_scored_pages(path).items():
        candidates += candidates_of(page, sentences, neighbours([s.text for s in sentences]))
    return candidates


def scored_documents(paths: list[Path], classifier, batch_size: int, log, max_length: int | None = None) -> list:
    """Candidates from files and folders, read and scored exactly as `nuchter scan` does."""
    from nuchter.inputs import neighbours
    from nuchter.results import SkippedFile
    from nuchter.scan import ScanConfig, plan, scan
    from nuchter.select import candidates_of

    config = ScanConfig(score=ScoreConfig(model=classifier.name, batch_size=batch_size, max_length=max_length))
    documents, skipped = plan(paths, config)
    for item in skipped:
        log(f"warning: {item.path}: {item.reason}")
    candidates = []
    for done, item in enumerate(scan(documents, classifier, config), 1):
        if isinstance(item, SkippedFile):
            log(f"warning: {item.path}: {item.reason}")
            continue
        sentences = item.result.sentences
        candidates += candidates_of(item.path, sentences, neighbours([s.text for s in sentences]))
        if sys.stderr.isatty():
            print(f"\rscored {done}/{len(documents)} documents", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty() and documents:
        print(file=sys.stderr)
    return candidates


@app.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  nuchter select paginas/ --n 50 --out tasks.json --exclude data/\n"
        "  nuchter select zinnen.jsonl --n 100 --strategy entropy --out tasks.json\n"
        "  nuchter select paginas/ --format doccano --out tasks.jsonl\n"
        "  nuchter select --label-config > config.xml\n"
        "\n\b\n"
        "Round trip: create a Label Studio project with the printed config, import tasks.json\n"
        "(the model's guesses appear as pre-annotations), label, export as JSON, then\n"
        "  nuchter train --data data/ --data export.json"
    )
)
def select(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Folders or files to score (as `nuchter scan` reads them), or `nuchter scan --out` JSONL files.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="How many sentences to pick.")] = 50,
    out: Annotated[Optional[Path], typer.Option(help="Write the tasks here (JSON for Label Studio, JSONL for doccano).")] = None,
    strategy: Annotated[Strategy, typer.Option(help="margin: smallest gap between the two likeliest labels; entropy: most spread-out probabilities.")] = Strategy.margin,
    per_doc: Annotated[int, typer.Option(min=1, help="At most this many sentences from one document.")] = 3,
    exclude: Annotated[Optional[list[Path]], typer.Option(help="Labelled data (as `nuchter train --data` reads it) whose sentences are left out (repeatable).")] = None,
    fmt: Annotated[TaskFormat, typer.Option("--format", help="Task format.")] = TaskFormat.label_studio,
    label_config: Annotated[bool, typer.Option("--label-config", help="Print the Label Studio labelling config (XML) for the four labels and exit.")] = False,
    model: ModelOption = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    batch_size: BatchSizeOption = ScoreConfig.batch_size,
    max_length: MaxLengthOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = Backend.auto,
    int8: Int8Option = True,
) -> None:
    """Pick the sentences the model is least sure of and write them as annotation tasks."""
    from nuchter import select as selection
    from nuchter.labels import DESCRIPTIONS
    from nuchter.store import write_atomically

    if label_config:
        typer.echo(selection.label_config(DESCRIPTIONS), nl=False)
        return
    if not paths:
        raise fail("give folders or files to choose from (or --label-config); see `nuchter select --help`", 2)
    if out is None:
        raise fail("--out is required: the file the tasks are written to", 2)
    if out.exists() and not force:
        raise fail(f"{out} already exists; pass --force to overwrite it")
    log = lambda message: typer.echo(message, err=True)  # noqa: E731
    try:
        known: list[str] = []
        if exclude:
            from nuchter.training.corpus import load_corpus

            known = [e.text for e in load_corpus(exclude).examples]
        jsonl = [p for p in paths if p.is_file() and p.suffix.lower() == ".jsonl"]
        others = [p for p in paths if p not in jsonl]
        candidates, versions = [], []
        for path in jsonl:
            candidates += scan_rows(path)
            versions.append(f"nuchter scan ({path.name})")
        if others:
            from nuchter.classify import load_classifier, resolve_model

            name = resolve_model(model)
            classifier = load_classifier(name, threads=threads, backend=backend.value, int8=int8, warn=log)
            candidates += scored_documents(others, classifier, batch_size, log, max_length)
            versions.append(f"nuchter {Path(name).name}")
        chosen = selection.pick(candidates, n, strategy=strategy.value, per_doc=per_doc, exclude=known)
    except NuchterError as error:
        raise fail(error) from None
    if not chosen:
        raise fail(f"no sentence to pick: {len(candidates)} scored, none left after the exclusions")
    version = " + ".join(versions)
    if fmt is TaskFormat.label_studio:
        body = json.dumps([selection.label_studio_task(c, d, version) for c, d in chosen], ensure_ascii=False, indent=1) + "\n"
    else:
        body = "".join(json.dumps(selection.doccano_line(c, d, version), ensure_ascii=False) + "\n" for c, d in chosen)
    try:
        write_atomically(out, body)
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    pages = len({c.path for c, _ in chosen})
    short = f" (only {len(chosen)} of the {n} asked for were left)" if len(chosen) < n else ""
    log(f"wrote {len(chosen)} {fmt.value} tasks from {pages} documents to {out}{short}; "
        f"{strategy.value} doubt {chosen[0][1]:.2f} to {chosen[-1][1]:.2f}, from {len(candidates)} scored sentences")
