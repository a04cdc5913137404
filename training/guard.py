"""The activation guard: may a newly trained model replace the active one?

A retrained model is compared with the active model on data that can tell
them apart: always the project's own test split (shipped with the package as
``training/reference/corpus_test.jsonl``, so an installed nuchter without the
repository's ``data/`` still has it), plus the test split of the ``--data``
that was trained on. It becomes active only when

- every comparison set holds at least ``MIN_PER_LABEL`` sentences of each
  label (fewer cannot measure a label's F1),
- its macro-F1 is clearly above chance on every set: the lower end of its
  95 % bootstrap interval is above the best trivial baseline (always the
  majority label, or a uniform guess),
- and it is not worse than the active model: the 95 % interval of the
  paired macro-F1 difference on both sets together excludes a loss, and no
  single set shows a clear loss.

The bootstrap resamples documents, not sentences, because sentences of one
document are not independent. ``force`` activates anyway, but the reasons
are still reported.

    python -m nuchter.training.guard [--data data/]   # rewrite the shipped test split from data/
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nuchter import store
from nuchter.errors import NuchterError
from nuchter.inputs import wants_context
from nuchter.labels import LABEL2ID, LABELS
from nuchter.training.corpus import Example, contexts_of, load_corpus, normalise_text, read_file

REFERENCE = Path(__file__).resolve().parent / "reference" / "corpus_test.jsonl"
"""The corpus's test split (every document ``split_of`` puts in test), one sentence per line."""

MIN_PER_LABEL = 10
"""Fewer test sentences of a label than this and its F1 is too noisy to judge on."""
RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 20261201

CORPUS_SET = "corpus test split"
DATA_SET = "--data test split"
POOLED = "both together"


# --- figures -------------------------------------------------------------------------------


def confusions(gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Confusion matrices (B, k, k), rows gold and columns predicted: one per row of ``weights`` (how
    often each sentence was drawn in a bootstrap resample), or one of the sentences as they are."""
    k = len(LABELS)
    cells = np.zeros((gold.size, k * k))
    cells[np.arange(gold.size), gold * k + predicted] = 1.0
    w = np.ones((1, gold.size)) if weights is None else weights
    return (w @ cells).reshape(-1, k, k)


def macro_f1(gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Macro-F1 over the four labels (an absent label counts 0), as ``nuchter.training.metrics``.

    With ``weights`` of shape (B, n) it returns B figures at once: one per
    bootstrap resample, the weights being how often each sentence was drawn.
    """
    confusion = confusions(gold, predicted, weights)
    true_positive = np.diagonal(confusion, axis1=1, axis2=2)
    denominator = confusion.sum(axis=1) + confusion.sum(axis=2)  # predicted + gold per label
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    result = f1.mean(axis=1)
    return result[0] if weights is None else result


def bootstrap_weights(doc_ids: list[str], resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, sentences): each resample draws documents with replacement, keeping their sentences."""
    docs = {d: i for i, d in enumerate(dict.fromkeys(doc_ids))}
    index = np.array([docs[d] for d in doc_ids])
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(docs), size=(resamples, len(docs)))
    counts = np.zeros((resamples, len(docs)))
    np.add.at(counts, (np.arange(resamples)[:, None], drawn), 1.0)
    return counts[:, index]


def interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return round(float(low), 4), round(float(high), 4)


def baselines(gold: np.ndarray) -> dict[str, float]:
    """Expected macro-F1 of models that ignore the text: always the majority label, or a uniform guess."""
    k = len(LABELS)
    share = np.bincount(gold, minlength=k) / max(gold.size, 1)
    majority = 2 * share.max() / (1 + share.max()) / k
    uniform = float(np.mean(2 * share / k / (share + 1 / k)))
    return {"majority": round(float(majority), 4), "uniform": round(uniform, 4)}


@dataclass
class Comparison:
    """The candidate and the active model on one set of test sentences."""

    name: str
    sentences: int
    documents: int
    counts: dict[str, int]
    candidate: float
    candidate_interval: tuple[float, float]
    chance: float
    baselines: dict[str, float]
    active: float | None = None
    difference: float | None = None
    difference_interval: tuple[float, float] | None = None

    @property
    def too_small(self) -> list[str]:
        return [label for label in LABELS if self.counts[label] < MIN_PER_LABEL]

    @property
    def at_chance(self) -> bool:
        return self.candidate_interval[0] <= self.chance

    def to_dict(self) -> dict:
        out = {
            "name": self.name, "sentences": self.sentences, "documents": self.documents, "counts": self.counts,
            "candidate_macro_f1": self.candidate, "candidate_interval": list(self.candidate_interval),
            "chance_macro_f1": self.chance, "baselines": self.baselines,
        }
        if self.active is not None:
            out.update(active_macro_f1=self.active, difference=self.difference,
                       difference_interval=list(self.difference_interval))
        return out


def compare(name: str, examples: list[Example], candidate: list[str], active: list[str] | None) -> Comparison:
    """Figures and 95 % document-bootstrap intervals for one set; predictions are label names."""
    ids = LABEL2ID
    gold = np.array([ids[e.label] for e in examples])
    new = np.array([ids[p] for p in candidate])
    weights = bootstrap_weights([e.doc_id for e in examples])
    found = baselines(gold)
    result = Comparison(
        name=name,
        sentences=len(examples),
        documents=len({e.doc_id for e in examples}),
        counts={label: int(n) for label, n in zip(LABELS, np.bincount(gold, minlength=len(LABELS)))},
        candidate=round(float(macro_f1(gold, new)), 4),
        candidate_interval=interval(macro_f1(gold, new, weights)),
        chance=max(found.values()),
        baselines=found,
    )
    if active is not None:
        old = np.array([ids[p] for p in active])
        result.active = round(float(macro_f1(gold, old)), 4)
        result.difference = round(result.candidate - result.active, 4)
        result.difference_interval = interval(macro_f1(gold, new, weights) - macro_f1(gold, old, weights))
    return result


# --- the decision --------------------------------------------------------------------------


@dataclass
class Decision:
    candidate: str
    active: str | None
    activate: bool
    forced: bool
    reasons: list[str]
    """Why the model is not (or would not have been) activated; empty when it passed."""
    sets: list[Comparison]
    pooled: Comparison
    """All sets together; the same object as ``sets[0]`` when there is one set."""
    note: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "decision": ("activated (--force)" if self.forced and self.reasons else "activated")
            if self.activate else "kept, not activated",
            "candidate": self.candidate,
            "active_before": self.active,
            "reasons": self.reasons,
            "note": self.note,
            "compared_on": [s.to_dict() for s in self.sets],
            "pooled": self.pooled.to_dict() if len(self.shown) > len(self.sets) else None,
            "rule": {"min_per_label": MIN_PER_LABEL, "confidence": CONFIDENCE, "resamples": RESAMPLES,
                     "bootstrap_unit": "document", "seed": SEED},
        }

    @property
    def shown(self) -> list[Comparison]:
        """The sets, then all of them together when there is more than one."""
        return self.sets if any(self.pooled is s for s in self.sets) else [*self.sets, self.pooled]

    @property
    def message(self) -> str:
        """What happened, on what data, with both models' figures: the last thing `nuchter train` prints."""
        lines = ["compared on " + "; ".join(f"{s.name} ({s.sentences} sentences, {s.documents} documents)"
                                            for s in self.sets)]
        lines += [figures_line(s, self.candidate, self.active) for s in self.shown]
        if self.note:
            lines.append(self.note)
        if self.activate:
            head = f"installed and activated {self.candidate}"
            if self.forced and self.reasons:
                head += " because of --force, although:"
            elif self.active:
                head += f" (replacing {self.active})"
            lines.append(head)
            lines += [f"  - {r}" for r in self.reasons] if self.forced else []
        else:
            lines.append(f"installed {self.candidate} but kept {self.active} active:" if self.active
                         else f"installed {self.candidate} but did not activate it:")
            lines += [f"  - {r}" for r in self.reasons]
            lines.append(f"activate it anyway with `nuchter models use {self.candidate}`, or retrain with --force")
        return "\n".join(lines)


def figures_line(s: Comparison, candidate: str, active: str | None) -> str:
    low, high = s.candidate_interval
    line = f"  {s.name}: {candidate} macro-F1 {s.candidate:.3f} ({low:.3f}–{high:.3f})"
    if s.active is not None:
        low, high = s.difference_interval
        line += f", {active} {s.active:.3f}, difference {s.difference:+.3f} ({low:+.3f} to {high:+.3f})"
    return line + f"; chance {s.chance:.3f}"


def decide(candidate: str, active: str | None, sets: list[Comparison], pooled: Comparison,
           force: bool = False, note: str = "") -> Decision:
    """Apply the rule of the module docstring to figures already computed."""
    reasons, warnings = [], []
    for s in sets:
        if s.too_small:
            few = ", ".join(f"{s.counts[label]} {label}" for label in s.too_small)
            reasons.append(f"the {s.name} is too small to judge: {few} (need at least {MIN_PER_LABEL} per label; "
                           "label more, or train on data/ together with the new file)")
    for s in sets:
        if s.at_chance and not s.too_small:
            text = (f"its macro-F1 on the {s.name} ({s.candidate:.3f}, interval {s.candidate_interval[0]:.3f}–"
                    f"{s.candidate_interval[1]:.3f}) is not clearly above chance ({s.chance:.3f}, "
                    f"{'majority label' if s.chance == s.baselines['majority'] else 'uniform guess'})")
            reasons.append(text)
            warnings.append(f"{candidate} scores at chance level: {text.removeprefix('its ')}")
    if pooled.active is not None:
        where = "both sets together" if len(sets) > 1 else f"the {sets[0].name}"
        low, high = pooled.difference_interval
        if high < 0:
            reasons.append(f"it is worse than {active}: macro-F1 difference {pooled.difference:+.3f} "
                           f"(95% interval {low:+.3f} to {high:+.3f}) on {where}")
        elif low < 0:
            reasons.append(f"it is not shown to be at least as good as {active}: the 95% interval of the "
                           f"macro-F1 difference on {where} ({low:+.3f} to {high:+.3f}) includes a loss")
        else:
            reasons += [f"it is clearly worse than {active} on the {s.name} ({s.difference:+.3f}, 95% interval "
                        f"{s.difference_interval[0]:+.3f} to {s.difference_interval[1]:+.3f})"
                        for s in sets if len(sets) > 1 and s.difference_interval[1] < 0]
    return Decision(candidate, active, force or not reasons, force, reasons, sets, pooled, note, warnings)


# --- data and models -----------------------------------------------------------------------


def reference_examples() -> list[Example]:
    """The corpus's test split as shipped with the package."""
    examples, problems = read_file(REFERENCE) if REFERENCE.is_file() else ([], [])
    if problems or not examples:
        raise NuchterError(
            f"the corpus test split {REFERENCE} is missing or broken; reinstall nuchter "
            "(or rebuild it with `python -m nuchter.training.guard --data data/`)"
        )
    return examples


def comparison_sets(data_test: list[Example]) -> tuple[list[tuple[str, list[Example]]], list[Example], str]:
    """The sets to compare on, both together (each sentence once), and a note on what was left out."""
    reference = reference_examples()
    known = {normalise_text(e.text) for e in reference}
    new = [e for e in data_test if normalise_text(e.text) not in known]
    if not new:
        return [(CORPUS_SET, reference)], reference, "the --data test split is part of the corpus test split"
    return [(CORPUS_SET, reference), (DATA_SET, data_test)], reference + new, ""


def _labels(classifier, examples: list[Example]) -> list[str]:
    """Labels as the model is served: a model trained with page context gets each sentence's
    neighbours within its document, as in training and as `nuchter score` feeds them."""
    contexts = contexts_of(examples) if wants_context(classifier) else None
    return [max(p, key=p.__getitem__) for p in classifier.predict([e.text for e in examples], contexts=contexts)]


def _load_active():
    """The active model's name and classifier (None if it cannot be loaded, with the reason)."""
    from nuchter.classify import load_classifier

    name = store.active_name()
    if name is None:
        return None, None, "there is no active model to compare with"
    try:
        return name, load_classifier(str(store.path_of(name))), ""
    except NuchterError as error:
        return name, None, f"the active model {name} could not be loaded ({error}), so it was not compared"


def judge(candidate, name: str, data_test: list[Example], *, force: bool = False, log=print) -> Decision:
    """Compare a freshly trained classifier with the active model; warnings go to ``log``."""
    sets, pooled_examples, note = comparison_sets(data_test)
    active_name, active, problem = _load_active()
    # Each set is scored as whole documents, so every sentence has its page context.
    new = [_labels(candidate, examples) for _, examples in sets]
    old = [_labels(active, examples) for _, examples in sets] if active is not None else None
    comparisons = [compare(set_name, examples, new[i], old[i] if old is not None else None)
                   for i, (set_name, examples) in enumerate(sets)]
    if len(comparisons) > 1:  # the corpus test split, then the --data sentences it does not hold
        known = {normalise_text(e.text) for e in sets[0][1]}
        extra = [i for i, e in enumerate(sets[1][1]) if normalise_text(e.text) not in known]

        def pooled_labels(by_set: list[list[str]]) -> list[str]:
            return by_set[0] + [by_set[1][i] for i in extra]

        pooled = compare(POOLED, pooled_examples, pooled_labels(new), pooled_labels(old) if old is not None else None)
    else:
        pooled = comparisons[0]
    decision = decide(name, active_name, comparisons, pooled, force, "; ".join(n for n in (note, problem) if n))
    for warning in decision.warnings:
        log(f"warning: {warning}")
    return decision


def card_section(decision: Decision) -> str:
    """The decision for the model card, in Markdown."""
    rows = ["| data | sentences | this model | interval | active model | difference | interval | chance |",
            "|---|---|---|---|---|---|---|---|"]
    for s in decision.shown:
        active = (f"{s.active:.3f} | {s.difference:+.3f} | {s.difference_interval[0]:+.3f} to "
                  f"{s.difference_interval[1]:+.3f}") if s.active is not None else "– | – | –"
        rows.append(f"| {s.name} | {s.sentences} | {s.candidate:.3f} | {s.candidate_interval[0]:.3f}–"
                    f"{s.candidate_interval[1]:.3f} | {active} | {s.chance:.3f} |")
    verdict = decision.to_dict()["decision"]
    reasons = "".join(f"- {r}\n" for r in decision.reasons) or "- it passed every check\n"
    return (
        "\n## Activation\n\n"
        f"Compared with the active model ({decision.active or 'none'}) on the corpus's own test split and the "
        "test split of the training data; intervals are 95 % document-bootstrap intervals of macro-F1 and of "
        f"the paired difference; chance is the best of always-majority and uniform guessing.\n\n"
        + "\n".join(rows) + f"\n\nDecision: **{verdict}**.\n\n{reasons}"
        + (f"\n{decision.note}.\n" if decision.note else "")
    )


# --- the shipped reference split -----------------------------------------------------------


def write_reference(data: Path, out: Path = REFERENCE) -> int:
    """Write the test split of ``data`` (temp file + rename); returns the number of sentences."""
    import json

    corpus = load_corpus([data])
    if corpus.errors:
        raise NuchterError(f"{len(corpus.errors)} error(s) in {data}; run `nuchter data check {data}`")
    rows = [{"text": e.text, "label": e.label, "doc_id": e.doc_id} for e in corpus.split("test")]
    store.write_atomically(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m nuchter.training.guard", description="Rewrite the shipped corpus test split from data/.")
    parser.add_argument("--data", type=Path, default=Path("data"), help="the labelled corpus folder [default: data]")
    args = parser.parse_args()
    count = write_reference(args.data)
    print(f"wrote {count} sentences to {REFERENCE}: {dict(Counter(e.label for e in reference_examples()))}")


if __name__ == "__main__":
    main()
