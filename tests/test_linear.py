"""The linear n-gram path: scikit-learn trains it, our own code serves it, identically."""

import json
from pathlib import Path

import pytest

from nuchter.classify import load_classifier
from nuchter.labels import LABELS
from nuchter.backends.linear import char_wb_ngrams, word_ngrams
from nuchter.training import linear
from nuchter.training.corpus import load_corpus

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fitted(tiny_linear):
    """The session's linear model, refitted in memory for scikit-learn's own predictions."""
    corpus = load_corpus([ROOT / "data" / "original" / "oa_sauna.jsonl", ROOT / "data" / "original" / "oc_keto.jsonl"])
    model = linear.fit(corpus.examples[:250])
    return model, tiny_linear, [e.text for e in corpus.examples[250:330]]


@pytest.mark.parametrize(
    "text",
    ["Patiënten   beïnvloedt, 5-HT2A!", "a b cd", "Ik  ben\tEcht  moe 😴 vandaag...", "", "x"],
)
def test_analyzers_match_scikit_learn(text):
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2)).build_analyzer()
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    assert word_ngrams(text, 1, 2) == word(text)
    assert sorted(char_wb_ngrams(text, 2, 5)) == sorted(chars(text))


def test_served_probabilities_equal_scikit_learn(fitted):
    model, folder, texts = fitted
    served = load_classifier(str(folder)).predict(texts)
    reference = model.predict_proba(texts)
    for ours, theirs in zip(served, reference):
        assert list(ours) == list(LABELS)
        for i, label in enumerate(LABELS):
            assert ours[label] == pytest.approx(theirs[i], abs=1e-5)


def test_saved_without_pickle(fitted):
    _, folder, _ = fitted
    assert {p.name for p in folder.iterdir()} == {"config.json", "vocabulary.json", "model.safetensors"}
    assert json.loads((folder / "config.json").read_text())["model_type"] == "nuchter-linear"


def test_fitting_is_deterministic(tmp_path):
    """The built-in model must rebuild bit for bit: same data, same files."""
    corpus = load_corpus([ROOT / "data" / "original" / "oa_sauna.jsonl"])
    first = linear.save(linear.fit(corpus.examples), tmp_path / "a", c=4.0)
    second = linear.save(linear.fit(corpus.examples), tmp_path / "b", c=4.0)
    for name in ("config.json", "vocabulary.json", "model.safetensors"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
