"""The labelled corpus: one loader for training, evaluation, checks and tests.

Rows come from the project's JSONL (``text``, ``label``, ``doc_id``,
``source``, ``topic``, ``register``), CSV as Dutch spreadsheets write it,
Label Studio JSON exports and doccano JSONL. Every problem is reported with
its file and line so a person can fix it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nuchter.errors import NuchterError
from nuchter.extract import decode
from nuchter.labels import LABELS, UnknownLabelError, normalise_label
from nuchter.similarity import NEAR_COPY, jaccard, shingles

SPLITS = ("train", "dev", "test")
DATA_SUFFIXES = (".jsonl", ".csv", ".json")
SKIPPED_DIRS = frozenset({"agreement", "seeds"})
"""Folders under a data directory that hold raw text or review passes, not training rows."""

TEXT_COLUMNS = ("text", "tekst", "zin", "sentence")
LABEL_COLUMNS = ("label", "labels", "categorie", "category")
META_FIELDS = ("doc_id", "source", "topic", "register")


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    doc_id: str
    source: str = ""
    topic: str = ""
    register: str = ""
    where: str = ""  # "file:line", for messages
    context: str = ""
    """The page context the row was labelled with (a Label Studio task from `nuchter select`
    carries its neighbours); empty means: take the neighbours within its document."""

    @property
    def split(self) -> str:
        return split_of(self.doc_id)


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {'error' if self.fatal else 'warning'}: {self.message}"


@dataclass
class Corpus:
    examples: list[Example] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    def split(self, name: str) -> list[Example]:
        return [e for e in self.examples if e.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        """Label counts per split (plus 'all')."""
        table: dict[str, Counter] = defaultdict(Counter)
        for e in self.examples:
            table[e.split][e.label] += 1
            table["all"][e.label] += 1
        return {s: {label: table[s][label] for label in LABELS} for s in (*SPLITS, "all")}


class CorpusError(NuchterError):
    """Data that cannot be trained on; the message lists the rows."""

    def __init__(self, problems: list[Problem], limit: int = 20):
        shown = "\n".join(f"  {p}" for p in problems[:limit])
        more = f"\n  … and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(f"{len(problems)} problem(s) in the data:\n{shown}{more}")
        self.problems = problems


def split_of(doc_id: str) -> str:
    """Stable split for a document: 80 % train, 10 % dev, 10 % test by a hash of its id.

    A document never moves when data is added, and never straddles splits.
    """
    bucket = int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def normalise_text(text: str) -> str:
    return " ".join(text.split())


HELD_OUT_FILES = ("seeds.jsonl",)
"""Files of the project's corpus that its models are measured on, not trained on: the real seed pages.
Found inside a folder given to `nuchter train` they are skipped unless asked for; named as files they count."""


def split_held_out(paths: Iterable[Path | str]) -> tuple[list[Path], list[Path]]:
    """The files to train on, and the corpus's held-out files found inside the given folders."""
    kept: list[Path] = []
    held: list[Path] = []
    for raw in paths:
        given = Path(raw)
        for found in data_files([given]):
            (held if given.is_dir() and found.name in HELD_OUT_FILES else kept).append(found)
    return kept, held


def data_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files to read: given files as they are, folders searched recursively."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path).parts[:-1]
                if candidate.suffix.lower() in DATA_SUFFIXES and candidate.is_file() and not (
                    SKIPPED_DIRS.intersection(relative) or any(p.startswith((".", "_")) for p in relative)
                ):
                    found.append(candidate)
        elif path.is_file():
            found.append(path)
        else:
            raise NuchterError(f"data path not found: {path}")
    if not found:
        raise NuchterError(
            "no data files found in " + ", ".join(str(p) for p in paths) + f" (looked for {', '.join(DATA_SUFFIXES)})"
        )
    return found


# --- readers: file -> (line number, raw dict) -----------------------------------------


def _read_jsonl(text: str, name: str) -> Iterator[tuple[str, dict | Problem]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            yield where, Problem(where, f"not valid JSON ({exc.msg})")
            continue
        yield where, row if isinstance(row, dict) else Problem(where, "each line must be a JSON object")


def _read_csv(text: str, name: str) -> Iterator[tuple[str, dict | Problem]]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        yield f"{name}:1", Problem(f"{name}:1", "empty CSV file")
        return
    columns = [h.strip().lower() for h in header]
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        yield f"{name}:{reader.line_num}", dict(zip(columns, cells))


def _read_json(text: str, name: str) -> Iterator[tuple[str, dict | Problem]]:
    """A Label Studio export: a list of tasks with data.text and annotations."""
    try:
        tasks = json.loads(text)
    except ValueError as exc:
        yield f"{name}:{exc.lineno}", Problem(f"{name}:{exc.lineno}", f"not valid JSON ({exc.msg})")
        return
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        yield name, Problem(name, "expected a Label Studio export (a JSON list of tasks)")
        return
    for number, task in enumerate(tasks, 1):
        where = f"{name}: task {number}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            yield where, Problem(where, "not a Label Studio task (no 'data' object)")
            continue
        data = task["data"]
        text_value = next((data[k] for k in TEXT_COLUMNS if k in data), None)
        choices: list[str] = []
        for annotation in task.get("annotations") or task.get("completions") or []:
            if annotation.get("was_cancelled"):
                continue
            for result in annotation.get("result", []):
                choices += result.get("value", {}).get("choices", [])
            if choices:
                break
        if not choices:  # an export of all tasks holds the ones nobody labelled yet; predictions never count
            yield where, Problem(where, "no annotation yet: skipped (a prediction alone is not a label)", fatal=False)
            continue
        row = {k: v for k, v in data.items() if k in (*META_FIELDS, "context")}
        row.update(text=text_value, label=choices)
        row.setdefault("doc_id", str(data.get("doc_id") or task.get("id") or ""))
        yield where, row


READERS = {".jsonl": _read_jsonl, ".csv": _read_csv, ".json": _read_json}


def _first(row: dict, names: tuple[str, ...]):
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
    return None


UNLABELLED_KINDS = frozenset({"heading", "furniture"})
"""Page structure kept in whole-page documents for context and segmentation, never labelled."""


def _example(row: dict, where: str, file_stem: str) -> Example | Problem | None:
    if row.get("kind") in UNLABELLED_KINDS:
        if row.get("label") not in (None, ""):
            return Problem(where, f"a {row['kind']} row carries no label (got {row['label']!r}); use kind 'sentence'")
        return None
    text = _first(row, TEXT_COLUMNS)
    if not isinstance(text, str) or not text.strip():
        return Problem(where, "empty text")
    label = _first(row, LABEL_COLUMNS)
    if isinstance(label, list):  # doccano and Label Studio keep a list
        if len(label) != 1:
            return Problem(where, f"expected exactly one label, got {label or 'none'}")
        label = label[0]
    if not isinstance(label, str) or not label.strip():
        return Problem(where, "missing label")
    try:
        label = normalise_label(label)
    except UnknownLabelError as exc:
        return Problem(where, str(exc))
    doc_id = str(row.get("doc_id") or "").strip() or f"{file_stem}:{where.rsplit(':', 1)[-1].strip()}"
    return Example(
        text=text.strip(),
        label=label,
        doc_id=doc_id,
        source=str(row.get("source") or ""),
        topic=str(row.get("topic") or ""),
        register=str(row.get("register") or ""),
        where=where,
        context=row["context"] if isinstance(row.get("context"), str) else "",
    )


def read_rows(path: Path) -> Iterator[tuple[str, dict | Problem]]:
    """A data file's raw rows in file order, with "file:line" for messages; unreadable files give one Problem."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        yield str(path), Problem(str(path), f"unsupported file type {path.suffix!r}; use {', '.join(DATA_SUFFIXES)}")
        return
    try:
        text = decode(path.read_bytes(), str(path))
    except (OSError, NuchterError) as exc:
        yield str(path), Problem(str(path), str(exc))
        return
    yield from reader(text.lstrip("\ufeff"), str(path))


def to_example(where: str, row: dict | Problem, file_stem: str) -> Example | Problem | None:
    """A raw row as a labelled example, a problem, or None for an unlabelled structure row."""
    return row if isinstance(row, Problem) else _example(row, where, file_stem)


def read_file(path: Path) -> tuple[list[Example], list[Problem]]:
    examples, problems = [], []
    for where, row in read_rows(path):
        item = to_example(where, row, path.stem)
        if item is not None:
            (problems if isinstance(item, Problem) else examples).append(item)
    return examples, problems


def check(examples: list[Example]) -> tuple[list[Example], list[Problem]]:
    """Drop exact duplicates (warning) and report one text with two labels (error)."""
    seen: dict[str, Example] = {}
    kept, problems = [], []
    for example in examples:
        key = normalise_text(example.text)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = example
            kept.append(example)
        elif earlier.label == example.label:
            problems.append(Problem(example.where, f"duplicate of {earlier.where}; kept once", fatal=False))
        else:
            problems.append(
                Problem(
                    example.where,
                    f"conflicting labels: {example.label!r} here, {earlier.label!r} at {earlier.where} "
                    f"for the same sentence: {example.text[:60]!r}",
                )
            )
    return kept, problems


def load_corpus(paths: Iterable[Path | str]) -> Corpus:
    """Read, validate and de-duplicate; problems are collected, never raised."""
    corpus = Corpus(files=data_files(paths))
    raw: list[Example] = []
    for path in corpus.files:
        examples, problems = read_file(path)
        raw += examples
        corpus.problems += problems
    corpus.examples, problems = check(raw)
    corpus.problems += problems
    return corpus


def near_copies(examples: list[Example], threshold: float = NEAR_COPY, among: set[int] | None = None) -> list[tuple[int, int, float]]:
    """Pairs of sentences whose character 5-gram sets overlap with Jaccard >= ``threshold``
    (exact duplicates included). With ``among``, only pairs with at least one of those indices.

    Prefix filtering keeps it exact and fast: two sets this similar must share one of the
    rarest ``|A| - ceil(t|A|) + 1`` shingles of either.
    """
    import math

    sets = [shingles(e.text) for e in examples]
    frequency = Counter(g for s in sets for g in s)
    index: dict[str, list[int]] = defaultdict(list)
    found = []
    for i, own in enumerate(sets):
        ordered = sorted(own, key=lambda g: (frequency[g], g))
        prefix = ordered[: len(ordered) - math.ceil(threshold * len(ordered)) + 1]
        candidates = {j for g in prefix for j in index[g]}
        for j in candidates:
            if among is not None and i not in among and j not in among:
                continue
            overlap = jaccard(own, sets[j])
            if overlap >= threshold:
                found.append((j, i, round(overlap, 3)))
        for g in prefix:
            index[g].append(i)
    return found


HELD_OUT_WORD_SHARE = 0.5
"""A corpus sentence that shares this share of its word 5-grams with a held-out sentence is too close."""
HELD_OUT_JACCARD = 0.6
"""…or whose character 5-grams overlap it this much (Jaccard): held-out text must not leak in reworded."""


def word_grams(text: str, n: int = 5) -> set[tuple[str, ...]]:
    from nuchter.similarity import normalised

    words = normalised(text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def close_to_held_out(examples: list[Example], held_out: list[str]) -> list[tuple[int, int, str]]:
    """(example index, held-out index, why) for every corpus sentence too close to a held-out one: most
    of its word 5-grams in one held-out sentence, or character 5-grams overlapping at ``HELD_OUT_JACCARD``.
    A development set of real pages measures the model only if nothing like it was trained on."""
    held_words = [word_grams(t) for t in held_out]
    held_chars = [shingles(t) for t in held_out]
    by_gram: dict[str, list[int]] = defaultdict(list)
    for j, grams in enumerate(held_chars):
        for g in grams:
            by_gram[g].append(j)
    found = []
    for i, example in enumerate(examples):
        words, chars = word_grams(example.text), shingles(example.text)
        candidates = Counter(j for g in chars for j in by_gram.get(g, ()))
        for j, shared in candidates.most_common():
            if shared < 0.3 * len(chars):
                break
            if words and len(words & held_words[j]) / len(words) >= HELD_OUT_WORD_SHARE:
                found.append((i, j, "word 5-grams"))
                break
            if jaccard(chars, held_chars[j]) >= HELD_OUT_JACCARD:
                found.append((i, j, "character 5-grams"))
                break
    return found


def read_texts(path: Path) -> list[str]:
    """The sentences of a labelled file (any format the loader reads), labelled or not."""
    return [str(row.get("text") or row.get("tekst") or "") for _, row in read_rows(path) if isinstance(row, dict)]


def contexts_of(examples: list[Example]) -> list[str]:
    """Each example's page context (its neighbours within its document, in file order, and the
    document's page key), the same form ``nuchter.inputs.page_contexts`` gives a scored text; a row
    that carries its own context (a selected sentence, labelled apart from its page) keeps it."""
    from nuchter.inputs import page_contexts

    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_doc[example.doc_id].append(i)
    out = [""] * len(examples)
    for members in by_doc.values():
        for i, context in zip(members, page_contexts([examples[i].text for i in members])):
            out[i] = examples[i].context or context
    return out


def load_for_training(paths: Iterable[Path | str]) -> Corpus:
    """Like :func:`load_corpus`, but refuses data with errors."""
    corpus = load_corpus(paths)
    if corpus.errors:
        raise CorpusError(corpus.errors)
    if not corpus.examples:
        raise NuchterError("the data holds no labelled sentences")
    return corpus
