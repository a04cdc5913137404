"""What a classifier is fed: prefix, page context and temperature, the same in PyTorch and ONNX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nuchter.classify import load_classifier
from nuchter.inputs import (
    CONFIG_KEY, HEADS_FILE, InputSpec, combine, neighbours, page_contexts, page_key, shorten, split_neighbours, vector_plan,
)
from nuchter.labels import LABELS
from nuchter.backends.onnx import ONNX_DIR

PAGE = [
    "Tarieven en vergoedingen.",
    "Een intake duurt negentig minuten.",
    "Psilocybine wordt omgezet in psilocine.",
    "Het bewijs is nog beperkt.",
]


def test_neighbours_are_the_sentences_around():
    assert neighbours(["A.", "B.", "C."]) == ["\nB.", "A.\nC.", "B.\n"]
    assert neighbours(["Alleen."]) == [""]
    assert neighbours([]) == []
    assert [split_neighbours(c) for c in neighbours(["A.", "B\nB.", "C."])] == [("", "B B."), ("A.", "C."), ("B B.", "")]


def test_a_second_segment_reads_the_neighbours_as_one_text():
    spec = InputSpec(context="neighbours")
    assert spec.second(["A.", "B.", "C."], neighbours(["A.", "B.", "C."])) == ["B.", "A. C.", "B."]
    assert spec.second(["Zin."], ["met de hand gelabeld"]) == ["met de hand gelabeld"]
    assert InputSpec(context="vectors").second(["A."], ["\nB."]) is None  # vectors: no second segment


def test_a_vector_plan_encodes_every_distinct_sentence_once():
    page = ["A.", "B.", "A.", "C."]
    plan = vector_plan(page, neighbours(page))
    assert plan.unique == ["A.", "B.", "C."]
    assert plan.own == [0, 1, 0, 2] and plan.before == [-1, 0, 1, 0] and plan.after == [1, 0, 2, -1]
    alone = vector_plan(page, None)
    assert alone.before == alone.after == [-1] * 4


def test_combined_logits_are_own_plus_what_the_neighbours_add():
    own = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    as_before = np.array([[0, 0, 0, 2.0], [0, 0, 0, 0], [0, 0, 0, 0]])  # A says: the next one is promotional
    as_after = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0.5, 0, 0, 0]])
    page = ["A.", "B.", "C."]
    probabilities = combine(vector_plan(page, neighbours(page)), np.hstack([own, as_before, as_after]), temperature=0.5)
    expected_logits = np.array([[1.0, 0, 0, 0], [0.5, 1.0, 0, 2.0], [0, 0, 1.0, 0]]) / 0.5
    expected = np.exp(expected_logits) / np.exp(expected_logits).sum(1, keepdims=True)
    assert np.allclose(probabilities, expected)


def test_page_contexts_carry_one_key_per_page_and_read_as_neighbours():
    first, second = page_contexts(["A.", "B.", "C."]), page_contexts(["A.", "B.", "D."])
    assert [split_neighbours(c) for c in first] == [split_neighbours(c) for c in neighbours(["A.", "B.", "C."])]
    assert len({page_key(c) for c in first}) == 1 and page_key(first[0]) != page_key(second[0])
    assert InputSpec(context="neighbours").second(["B."], first[1:2]) == ["A. C."]  # the key never reaches a model


def test_a_page_plan_averages_over_the_page_and_an_occluded_variant_reads_the_same_page():
    page = ["A.", "B.", "C."]
    contexts = page_contexts(page)
    plan = vector_plan(page + ["X."], contexts + page_contexts(["X."]), page=True)
    assert plan.page == [0, 0, 0, 1] and plan.members == [[0, 1, 2], [3]]
    # --explain scores cut-down variants with their sentence's context: they read the page, not themselves
    variants = vector_plan(["B", "A"], [contexts[1], contexts[0]], page=True)
    assert [variants.unique[i] for i in variants.members[0]] == ["A.", "C.", "B."] and variants.page == [0, 0]
    # a sentence without a page (--lines) is a page of its own
    assert vector_plan(["A.", "B."], None, page=True).members == [[0], [1]]
    own = np.zeros((4, 4))
    zeros = np.zeros((4, 4))
    as_page = np.array([[3.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3.0]])
    logits = np.log(combine(plan, np.hstack([own, zeros, zeros, as_page])))
    logits -= logits[:, :1]
    assert np.allclose(logits[:3, 3], -1.0) and np.allclose(logits[3, 3], 3.0)  # page mean: 1.0 on label 0


def test_spec_reads_its_block_and_refuses_nonsense():
    spec = InputSpec.from_config({CONFIG_KEY: {"prefix": "query: ", "context": "neighbours", "temperature": 1.5}})
    assert spec.first(["Zin."]) == ["query: Zin."]
    assert spec.second(["Zin."], [""]) == ["-"]  # an empty second segment would vanish in the tokenizer
    assert InputSpec.from_config({}).second(["Zin."], ["iets"]) is None
    with pytest.raises(ValueError):
        InputSpec(context="whole-page")
    with pytest.raises(ValueError):
        InputSpec(temperature=0)


def test_a_short_context_keeps_the_ends_of_the_neighbours():
    context = "Een intake duurt negentig minuten. Het bewijs is nog beperkt."
    assert shorten(context, 4) == "Een intake nog beperkt."
    assert shorten(context, 0) == context and shorten(context, 40) == context
    spec = InputSpec.from_config({CONFIG_KEY: {"context": "neighbours", "context_words": 3}})
    assert spec.second(["Zin."], [context]) == ["Een intake beperkt."]
    with pytest.raises(ValueError):
        InputSpec(context_words=-1)


def _with_inputs(source: Path, target: Path, **inputs) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(ONNX_DIR))
    config = json.loads((target / "config.json").read_text())
    config[CONFIG_KEY] = InputSpec(**inputs).to_config()
    (target / "config.json").write_text(json.dumps(config))
    return target


def _matrix(rows):
    return np.array([[r[label] for label in LABELS] for r in rows])


@pytest.mark.slow
def test_context_changes_the_answer_the_same_way_in_torch_and_onnx(tiny_model, tmp_path):
    model = _with_inputs(tiny_model, tmp_path / "ctx", prefix="query: ", context="neighbours")
    torch_clf = load_classifier(str(model), backend="torch")
    onnx_clf = load_classifier(str(model), backend="onnx", int8=False)
    contexts = neighbours(PAGE)
    with_torch = _matrix(torch_clf.predict(PAGE, contexts=contexts))
    with_onnx = _matrix(onnx_clf.predict(PAGE, contexts=contexts))
    assert np.abs(with_torch - with_onnx).max() < 1e-4
    other = _matrix(torch_clf.predict(PAGE, contexts=list(reversed(contexts))))
    assert np.abs(with_torch - other).max() > 1e-6  # the second segment reaches the model
    # Both backends feed identical token ids, including the pair's separators.
    encoded = onnx_clf.encode(PAGE, contexts=contexts)
    reference = torch_clf.tokenizer(["query: " + p for p in PAGE], contexts, padding=True, return_tensors="np")
    assert (encoded["input_ids"] == reference["input_ids"]).all()


@pytest.mark.slow
def test_a_shortened_context_is_fed_the_same_way_by_both_backends(tiny_model, tmp_path):
    model = _with_inputs(tiny_model, tmp_path / "short", context="neighbours", context_words=2)
    torch_clf = load_classifier(str(model), backend="torch")
    onnx_clf = load_classifier(str(model), backend="onnx", int8=False)
    contexts = neighbours(PAGE)
    shortened = [shorten(c, 2) for c in contexts]
    assert np.abs(_matrix(torch_clf.predict(PAGE, contexts=contexts))
                  - _matrix(onnx_clf.predict(PAGE, contexts=contexts))).max() < 1e-4
    encoded = onnx_clf.encode(PAGE, contexts=contexts)
    reference = torch_clf.tokenizer(PAGE, shortened, padding=True, return_tensors="np")
    assert (encoded["input_ids"] == reference["input_ids"]).all()
    whole = load_classifier(str(_with_inputs(tiny_model, tmp_path / "whole", context="neighbours")), backend="onnx",
                            int8=False)
    assert whole.encode(PAGE, contexts=contexts)["input_ids"].shape[1] > encoded["input_ids"].shape[1]


@pytest.mark.slow
def test_a_model_without_context_ignores_it(tiny_model, tmp_path):
    model = _with_inputs(tiny_model, tmp_path / "plain")
    clf = load_classifier(str(model), backend="torch")
    assert np.allclose(_matrix(clf.predict(PAGE)), _matrix(clf.predict(PAGE, contexts=neighbours(PAGE))))


@pytest.mark.slow
def test_temperature_softens_confidence_without_changing_labels(tiny_model, tmp_path):
    cold = load_classifier(str(_with_inputs(tiny_model, tmp_path / "t1", temperature=1.0)), backend="onnx", int8=False)
    warm = load_classifier(str(_with_inputs(tiny_model, tmp_path / "t3", temperature=3.0)), backend="onnx", int8=False)
    a, b = _matrix(cold.predict(PAGE)), _matrix(warm.predict(PAGE))
    assert (a.argmax(1) == b.argmax(1)).all()
    assert (b.max(1) <= a.max(1) + 1e-9).all() and (b.max(1) < a.max(1)).any()
    logits = np.log(a)  # softmax(log p / T) recovers the warm probabilities
    expected = np.exp(logits / 3.0) / np.exp(logits / 3.0).sum(1, keepdims=True)
    assert np.abs(expected - b).max() < 1e-4


@pytest.mark.slow
def test_score_text_feeds_page_neighbours_but_lines_stand_alone(tiny_model, tmp_path):
    from nuchter import ScoreConfig, score_text

    model = _with_inputs(tiny_model, tmp_path / "ctx2", context="neighbours")
    seen = []
    clf = load_classifier(str(model), backend="torch")
    original = clf.predict

    def spy(texts, *, contexts=None, **kw):
        seen.append(contexts)
        return original(texts, contexts=contexts, **kw)

    clf.predict = spy
    score_text(" ".join(PAGE), model=clf)
    score_text("\n".join(PAGE), model=clf, config=ScoreConfig(lines=True))
    assert seen[0] == page_contexts(PAGE) and seen[1] is None


def _with_vector_heads(source: Path, target: Path, seed: int = 0, context: str = "vectors") -> Path:
    """The tiny model as a 'vectors' (or 'page') model with random heads."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from nuchter.backends.vector_heads import NeighbourHeads

    _with_inputs(source, target, prefix="query: ", context=context)
    heads = NeighbourHeads(AutoModelForSequenceClassification.from_pretrained(target), page=context == "page")
    torch.manual_seed(seed)
    for layer in heads.heads().values():
        torch.nn.init.normal_(layer.weight, std=2.0)
    if heads.as_page is not None:
        torch.nn.init.normal_(heads.as_page.weight, std=10.0)  # tiny random sentences' vectors differ little
    heads.save(target)
    config = json.loads((target / "config.json").read_text())  # save_pretrained keeps the block; check it
    assert config[CONFIG_KEY]["context"] == context
    return target


@pytest.mark.slow
def test_a_page_model_reads_the_whole_page_the_same_way_in_training_torch_and_onnx(tiny_model, tmp_path):
    import torch

    from nuchter.pipeline import score_text
    from nuchter.backends.vector_heads import page_numbers

    model = _with_vector_heads(tiny_model, tmp_path / "page", context="page")
    torch_clf = load_classifier(str(model), backend="torch")
    onnx_clf = load_classifier(str(model), backend="onnx", int8=False)
    contexts = page_contexts(PAGE)
    with_torch = _matrix(torch_clf.predict(PAGE, contexts=contexts))
    assert np.abs(with_torch - _matrix(onnx_clf.predict(PAGE, contexts=contexts))).max() < 1e-4
    # training's forward (rows of one page share its mean) gives the scoring paths' answer
    encoded = torch_clf.tokenizer(["query: " + t for t in PAGE], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = torch_clf.network(**encoded, before=torch.tensor([-1, 0, 1, 2]), after=torch.tensor([1, 2, 3, -1]),
                                   page=page_numbers([0, 0, 0, 0])).logits
    trained = torch.softmax(logits / torch_clf.inputs.temperature, -1).numpy()
    assert np.abs(trained - with_torch).max() < 1e-4
    # the rest of the page reaches every sentence: the same sentence and neighbours on another page differ
    other = PAGE[:3] + ["Boek nu je retraite met korting!"]
    on_other = _matrix(torch_clf.predict(other, contexts=page_contexts(other)))
    assert np.abs(np.log(on_other[1]) - np.log(with_torch[1])).max() > 1e-2
    # pages scored together do not leak into each other
    pooled = _matrix(torch_clf.predict(PAGE + other, contexts=contexts + page_contexts(other)))
    assert np.abs(pooled[:4] - with_torch).max() < 1e-5 and np.abs(pooled[4:] - on_other).max() < 1e-5
    # score_text feeds it so; a sentence scored apart with its context gets what it gets on the page
    result = score_text(" ".join(PAGE), model=onnx_clf)
    assert np.abs(_matrix([s.scores for s in result.sentences]) - with_torch).max() < 1e-3


@pytest.mark.slow
def test_neighbour_vectors_change_the_answer_the_same_way_in_torch_and_onnx(tiny_model, tmp_path):
    model = _with_vector_heads(tiny_model, tmp_path / "vec")
    torch_clf = load_classifier(str(model), backend="torch")
    onnx_clf = load_classifier(str(model), backend="onnx", int8=False)
    contexts = neighbours(PAGE)
    with_torch = _matrix(torch_clf.predict(PAGE, contexts=contexts))
    assert np.abs(with_torch - _matrix(onnx_clf.predict(PAGE, contexts=contexts))).max() < 1e-4
    alone = _matrix(torch_clf.predict(PAGE))
    assert np.abs(with_torch - alone).max() > 1e-3  # the neighbours reach the answer
    # A sentence scored apart from its page, with its context, gets what it gets on the page.
    apart = _matrix(onnx_clf.predict(PAGE[1:2], contexts=contexts[1:2]))
    assert np.abs(apart[0] - with_torch[1]).max() < 1e-4
    # A decomposed accent in a neighbour is normalised like the sentence itself, so the lookup still finds it.
    import unicodedata

    accented = ["Één intake.", "Het bewijs is beperkt."]
    decomposed = [unicodedata.normalize("NFD", c) for c in neighbours(accented)]
    encoded, tokenizer = [], torch_clf.tokenizer
    torch_clf.tokenizer = lambda batch, **kw: encoded.extend(batch) or tokenizer(batch, **kw)
    together = _matrix(torch_clf.predict(accented, contexts=decomposed))
    torch_clf.tokenizer = tokenizer
    assert len(encoded) == 2, "a neighbour was encoded again instead of looked up"
    assert np.abs(together - _matrix(torch_clf.predict(accented, contexts=neighbours(accented)))).max() < 1e-6
    # Without the heads file the model is not what was trained: refuse it.
    (model / HEADS_FILE).unlink()
    with pytest.raises(Exception, match=HEADS_FILE):
        load_classifier(str(model), backend="torch")


def test_vector_heads_refuse_an_encoder_without_a_pooler():
    from torch import nn

    from nuchter.errors import ModelError
    from nuchter.backends.vector_heads import NeighbourHeads

    class NoPooler(nn.Module):
        base_model = nn.Module()
        classifier = nn.Linear(4, 4)

    with pytest.raises(ModelError, match="pooler"):
        NeighbourHeads(NoPooler())


@pytest.mark.slow
def test_a_model_trained_at_256_tokens_is_served_at_256(tiny_model, tmp_path):
    """Issue 22: the trained max_length travels in the model folder; no backend falls back to 128."""
    long = " ".join(["Magnesium helpt bij krampen en bij slapeloosheid volgens veel gebruikers."] * 30)
    assert InputSpec.from_config({CONFIG_KEY: {"max_length": 256}}).max_length == 256
    assert InputSpec.from_config({}).max_length == 128  # older models: what they were trained at
    short = _with_inputs(tiny_model, tmp_path / "m128", max_length=128)
    wide = _with_inputs(tiny_model, tmp_path / "m256", max_length=256)
    onnx_wide = load_classifier(str(wide), backend="onnx", int8=False)
    assert onnx_wide.encode([long])["input_ids"].shape[1] == 256
    assert load_classifier(str(short), backend="onnx", int8=False).encode([long])["input_ids"].shape[1] == 128
    torch_wide, torch_short = load_classifier(str(wide), backend="torch"), load_classifier(str(short), backend="torch")
    served = _matrix(torch_wide.predict([long]))
    assert np.abs(served - _matrix(onnx_wide.predict([long]))).max() < 1e-4
    assert np.abs(served - _matrix(torch_short.predict([long]))).max() > 1e-6  # the tokens past 128 were read
    assert np.abs(_matrix(torch_short.predict([long], max_length=256)) - served).max() < 1e-5  # an explicit option wins
