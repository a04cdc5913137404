"""The activation guard: figures, the rule, the shipped test split, and retraining end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nuchter import store
from nuchter.cli.main import app
from nuchter.labels import LABELS
from tests.conftest import ROOT
from nuchter.training import guard
from nuchter.training.config import TrainConfig
from nuchter.training.corpus import Example, load_corpus, split_of
from nuchter.training.train import train

runner = CliRunner()
QUIET = dict(progress=False, log=lambda m: None)
TINY = dict(base_model="scratch", scratch_vocab_size=600, scratch_layers=1, scratch_hidden=32,
            scratch_heads=2, max_length=48, batch_size=16, learning_rate=3e-3, early_stopping_patience=0, threads=1,
            context="none", export_onnx=False)  # the guard is under test here, not page context or export


def examples(per_label: int, docs: int = 20, prefix: str = "d") -> list[Example]:
    """``per_label`` sentences of every label, spread over ``docs`` documents."""
    rows = []
    for i in range(per_label * len(LABELS)):
        label = LABELS[i % len(LABELS)]
        rows.append(Example(text=f"zin {prefix}{i}", label=label, doc_id=f"{prefix}{i % docs}"))
    return rows


def with_errors(rows: list[Example], share: float, seed: int = 0) -> list[str]:
    """Gold labels with ``share`` of them replaced by another label."""
    rng = random.Random(seed)
    return [rng.choice([l for l in LABELS if l != e.label]) if rng.random() < share else e.label for e in rows]


# --- figures -------------------------------------------------------------------------------


def test_macro_f1_is_the_metrics_modules_figure():
    from nuchter.training.metrics import compute

    rng = np.random.default_rng(1)
    gold = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, gold, rng.integers(0, 3, 300))  # label 3 rarely predicted
    assert round(float(guard.macro_f1(gold, predicted)), 4) == compute(predicted.tolist(), gold.tolist())["macro_f1"]
    absent = np.zeros(50, dtype=int)  # three labels absent from gold and predictions: they count 0
    assert guard.macro_f1(absent, absent) == pytest.approx(0.25)


def test_bootstrap_resamples_whole_documents():
    doc_ids = ["a", "a", "a", "b", "c", "c"]
    weights = guard.bootstrap_weights(doc_ids, resamples=200)
    assert weights.shape == (200, 6)
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 4] == weights[:, 5]).all()
    per_doc = weights[:, [0, 3, 4]]
    assert (per_doc.sum(axis=1) == 3).all(), "every resample draws as many documents as there are"
    assert (guard.bootstrap_weights(doc_ids, resamples=5) == guard.bootstrap_weights(doc_ids, resamples=5)).all()


def test_baselines_match_simulated_guessing():
    rng = np.random.default_rng(2)
    gold = rng.choice(4, size=20000, p=[0.4, 0.2, 0.2, 0.2])
    found = guard.baselines(gold)
    uniform = guard.macro_f1(gold, rng.integers(0, 4, gold.size))
    majority = guard.macro_f1(gold, np.zeros_like(gold))
    assert found["uniform"] == pytest.approx(uniform, abs=0.01)
    assert found["majority"] == pytest.approx(majority, abs=0.01)


# --- the rule ------------------------------------------------------------------------------


def judge_figures(sets, candidate, active, force=False):
    """The guard's decision on hand-made predictions: lists of labels per set."""
    comparisons = [guard.compare(name, rows, new, old) for (name, rows), new, old in zip(sets, candidate, active)]
    if len(sets) == 1:
        pooled = comparisons[0]
    else:
        rows = [e for _, r in sets for e in r]
        pooled = guard.compare(guard.POOLED, rows, sum(candidate, []), sum(active, []) if active[0] else None)
    return guard.decide("nieuw", "oud" if active[0] is not None else None, comparisons, pooled, force)


def test_a_clearly_better_model_is_activated():
    corpus = examples(40)
    decision = judge_figures([(guard.CORPUS_SET, corpus)], [with_errors(corpus, 0.1)], [with_errors(corpus, 0.5)])
    assert decision.activate and not decision.reasons
    assert "installed and activated nieuw (replacing oud)" in decision.message
    (figures,) = decision.sets
    assert figures.difference > 0.3 and figures.difference_interval[0] > 0


def test_a_model_that_is_not_shown_to_be_as_good_is_kept():
    corpus = examples(40)
    decision = judge_figures([(guard.CORPUS_SET, corpus)], [with_errors(corpus, 0.22, 1)], [with_errors(corpus, 0.2, 2)])
    assert not decision.activate
    assert decision.sets[0].difference_interval[0] < 0 < decision.sets[0].difference_interval[1]
    assert any("includes a loss" in r for r in decision.reasons)
    assert "nuchter models use nieuw" in decision.message and "--force" in decision.message


def test_identical_answers_count_as_not_worse():
    corpus = examples(40)
    same = with_errors(corpus, 0.2)
    decision = judge_figures([(guard.CORPUS_SET, corpus)], [same], [same])
    assert decision.activate and decision.sets[0].difference_interval == (0.0, 0.0)


def test_a_model_at_chance_is_never_activated_even_without_an_active_model():
    corpus = examples(40)
    rng = random.Random(3)
    decision = judge_figures([(guard.CORPUS_SET, corpus)], [[rng.choice(LABELS) for _ in corpus]], [None])
    assert not decision.activate and "not clearly above chance" in decision.reasons[0]
    assert decision.warnings and "installed nieuw but did not activate it:" in decision.message


def test_too_few_sentences_of_a_label_cannot_be_judged():
    corpus, new = examples(40), examples(3, docs=4, prefix="n")
    decision = judge_figures([(guard.CORPUS_SET, corpus), (guard.DATA_SET, new)],
                             [list(e.label for e in corpus), [e.label for e in new]],
                             [with_errors(corpus, 0.5), with_errors(new, 0.5)])
    assert not decision.activate
    assert decision.reasons == [
        "the --data test split is too small to judge: 3 supported, 3 hedged, 3 overclaimed, 3 promotional "
        f"(need at least {guard.MIN_PER_LABEL} per label; label more, or train on data/ together with the new file)"
    ]


def test_a_clear_loss_on_one_set_is_not_hidden_by_a_gain_on_the_other():
    corpus, new = examples(40), examples(100, docs=60, prefix="n")
    decision = judge_figures([(guard.CORPUS_SET, corpus), (guard.DATA_SET, new)],
                             [with_errors(corpus, 0.6), [e.label for e in new]],
                             [[e.label for e in corpus], with_errors(new, 0.6)])
    assert decision.pooled.difference_interval[0] > 0
    assert not decision.activate and "clearly worse than oud on the corpus test split" in decision.reasons[0]


def test_force_activates_and_still_says_why_it_would_not_have():
    corpus = examples(40)
    decision = judge_figures([(guard.CORPUS_SET, corpus)], [with_errors(corpus, 0.5)], [with_errors(corpus, 0.1)],
                             force=True)
    assert decision.activate and decision.reasons
    assert "because of --force, although:" in decision.message
    assert decision.to_dict()["decision"] == "activated (--force)"


# --- the comparison data -------------------------------------------------------------------


def test_shipped_test_split_is_the_corpus_test_split():
    """The package carries the test documents, so installs without data/ compare on them too."""
    corpus = load_corpus([ROOT / "data"])
    expected = [(e.text, e.label, e.doc_id) for e in corpus.split("test")]
    shipped = [(e.text, e.label, e.doc_id) for e in guard.reference_examples()]
    assert shipped == expected, "data/ changed: rebuild the shipped split with `python -m nuchter.training.guard`"
    assert all(split_of(doc) == "test" for _, _, doc in shipped)
    counts = {label: sum(1 for _, l, _ in shipped if l == label) for label in LABELS}
    assert min(counts.values()) >= guard.MIN_PER_LABEL


def test_comparison_sets():
    reference = guard.reference_examples()
    sets, pooled, note = guard.comparison_sets(reference[:30])
    assert [name for name, _ in sets] == [guard.CORPUS_SET] and pooled == reference and note
    new = [Example("Deze zalf geneest elke vorm van eczeem.", "overclaimed", "x")]
    sets, pooled, note = guard.comparison_sets(reference[:30] + new)
    assert [name for name, _ in sets] == [guard.CORPUS_SET, guard.DATA_SET] and not note
    assert sets[1][1] == reference[:30] + new and pooled == reference + new


# --- retraining end to end (tiny models) ---------------------------------------------------


def write_rows(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for text, label, doc_id in rows:
            handle.write(json.dumps({"text": text, "label": label, "doc_id": doc_id}, ensure_ascii=False) + "\n")
    return path


def doc_in(split: str, stem: str) -> str:
    n = 0
    while split_of(f"{stem}~{n}") != split:
        n += 1
    return f"{stem}~{n}"


@pytest.fixture(scope="module")
def corpus():
    return load_corpus([ROOT / "data"])


def test_noise_labels_leave_the_active_models_answers_identical(builtin, corpus, tmp_path):
    """The experiment of issue 12: 400 sentences with random labels, as a user's CSV."""
    rng = random.Random(7)
    noise = tmp_path / "nieuw.csv"
    lines = ["tekst;label"] + [f"{e.text.replace(';', ',')};{rng.choice(LABELS)}"
                               for e in rng.sample(corpus.examples, 400)]
    noise.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    text = "Psilocybine geneest depressie, zonder bijwerkingen. Het bewijs is beperkt. Boek nu je retraite!"
    before = runner.invoke(app, ["score", text, "--format", "json"])

    result = runner.invoke(app, ["train", "--data", str(noise), "--config", str(config), "--max-steps", "6",
                                 "--name", "ruis"])
    assert result.exit_code == 0, result.output
    assert "installed ruis but kept builtin active:" in result.stdout
    shipped = len((ROOT / "training" / "reference" / "corpus_test.jsonl").read_text(encoding="utf-8").splitlines())
    assert f"compared on corpus test split ({shipped} sentences" in result.stdout
    assert "--data test split: ruis macro-F1" in result.stdout and ", builtin 0." in result.stdout
    assert "not clearly above chance" in result.stdout and "warning: ruis scores at chance level" in result.stderr
    assert "nuchter models use ruis" in result.stdout
    assert store.active_name() == "builtin"
    assert runner.invoke(app, ["score", text, "--format", "json"]).stdout == before.stdout

    metrics = json.loads((store.path_of("ruis") / "metrics.json").read_text(encoding="utf-8"))
    activation = metrics["activation"]
    assert activation["decision"] == "kept, not activated" and activation["active_before"] == "builtin"
    assert [s["name"] for s in activation["compared_on"]] == [guard.CORPUS_SET, guard.DATA_SET]
    assert activation["compared_on"][0]["active_macro_f1"] > 0.8 and activation["pooled"]["sentences"] > 590
    card = (store.path_of("ruis") / "README.md").read_text(encoding="utf-8")
    assert "## Activation" in card and "Decision: **kept, not activated**" in card

    # issue 23: switching to it later shows the guard's verdict and asks first
    refused = runner.invoke(app, ["models", "use", "ruis"], input="n\n")
    assert refused.exit_code == 1 and "kept ruis inactive" in refused.stderr and "not clearly above chance" in refused.stderr
    assert store.active_name() == "builtin"
    assert runner.invoke(app, ["models", "use", "ruis", "--yes"]).exit_code == 0 and store.active_name() == "ruis"


def test_a_genuinely_better_retrain_is_activated(corpus, tmp_path):
    """A tiny model cannot learn the task in seconds, so the better model has seen the corpus's test
    sentences (in train documents of its own data): on that split it is genuinely better."""
    test_docs = list(dict.fromkeys(e.doc_id for e in corpus.split("test")))
    dev_docs = list(dict.fromkeys(e.doc_id for e in corpus.split("dev")))[:3]
    weak_rows = [(e.text, e.label, e.doc_id) for e in corpus.examples if e.doc_id in set(test_docs[:2]) | set(dev_docs)]
    weak_rows += [(e.text, e.label, e.doc_id) for e in corpus.split("train")[:200]]
    weak = train(TrainConfig(**{**TINY, "learning_rate": 1e-9}, max_steps=1), [write_rows(tmp_path / "w.jsonl", weak_rows)],
                 name="zwak", force=True, **QUIET)
    assert weak.activated and "because of --force, although:" in weak.message

    seen = [(e.text, e.label, doc_in("train", e.doc_id)) for e in corpus.split("test") if e.doc_id not in test_docs[:2]]
    held = [(e.text, e.label, e.doc_id) for e in corpus.examples if e.doc_id in set(test_docs[:2]) | set(dev_docs)]
    better = train(TrainConfig(**{**TINY, "scratch_vocab_size": 1000, "scratch_hidden": 64}, epochs=8),
                   [write_rows(tmp_path / "b.jsonl", seen + held)], name="beter", **QUIET)
    assert better.activated, better.message
    assert store.active_name() == "beter" and "installed and activated beter (replacing zwak)" in better.message
    (figures,) = [s for s in better.metrics["activation"]["compared_on"]]
    assert figures["name"] == guard.CORPUS_SET and figures["difference_interval"][0] > 0


def test_a_test_split_too_small_to_judge_keeps_the_model_unless_forced(corpus, tmp_path):
    train_rows = [(e.text, e.label, e.doc_id) for e in corpus.split("train")[:250]]
    dev_rows = [(e.text, e.label, e.doc_id) for e in corpus.split("dev")[:30]]
    fresh = [("Deze zalf geneest elke vorm van eczeem binnen een week.", "overclaimed"),
             ("Bestel vandaag nog en ontvang twee potjes gratis.", "promotional"),
             ("Vraag bij twijfel je huisarts om advies.", "hedged")]
    test_rows = [(text, label, doc_in("test", f"klein-{i}")) for i, (text, label) in enumerate(fresh)]
    data = write_rows(tmp_path / "klein.jsonl", train_rows + dev_rows + test_rows)
    kept = train(TrainConfig(**TINY, max_steps=2), [data], name="klein", **QUIET)
    assert not kept.activated and store.active_name() is None
    assert "the --data test split is too small to judge: 0 supported, 1 hedged" in kept.message
    assert "nuchter models use klein" in kept.message and "--force" in kept.message
    forced = train(TrainConfig(**TINY, max_steps=2), [data], name="geforceerd", force=True, **QUIET)
    assert forced.activated and store.active_name() == "geforceerd"
    assert "too small to judge" in forced.message and "because of --force" in forced.message


class _Recorder:
    """A stand-in model that records what it is fed; 'supported' for everything."""

    name = "recorder"

    def __init__(self, context: str):
        from nuchter.inputs import InputSpec

        self.inputs = InputSpec(context=context)
        self.fed: list[tuple[list[str], list[str] | None]] = []

    def predict(self, texts, *, contexts=None, batch_size=32, max_length=128):
        self.fed.append((list(texts), None if contexts is None else list(contexts)))
        return [{label: 1.0 if label == "supported" else 0.0 for label in LABELS} for _ in texts]


def test_the_guard_feeds_page_context_to_a_context_model():
    from nuchter.training.corpus import contexts_of
    from nuchter.training.guard import judge, reference_examples

    reference = reference_examples()
    with_context, alone = _Recorder("neighbours"), _Recorder("none")
    extra = reference[:3]  # --data test sentences the corpus already holds: one set only
    for model in (with_context, alone):
        decision = judge(model, "kandidaat", extra, log=lambda message: None)
        assert decision is not None
    texts, contexts = with_context.fed[0]
    assert texts == [e.text for e in reference] and contexts == contexts_of(reference)
    assert contexts[0] and contexts[0] != texts[0]
    assert alone.fed[0][1] is None
