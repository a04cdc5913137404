"""Vocabulary trimming keeps every piece kept text needs, so its tokens and answers do not change."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_convert_e5 import write_tiny_q4
from nuchter.training import convert_e5, trim

KEPT = ["de kat geneest alles.", "de kat."]


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nuchter.labels import LABELS

    folder = tmp_path_factory.mktemp("trim")
    write_tiny_q4(folder / "tiny.bin")
    base = convert_e5.convert(folder / "tiny.bin", folder / "base")
    network = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=4, id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)}
    )
    out = folder / "classifier"
    network.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(out))
    return out


def test_trimmed_model_gives_the_same_answers_on_kept_text(tiny_classifier, tmp_path):
    from nuchter.classify import load_classifier

    report = trim.trim(tiny_classifier, tmp_path / "trimmed", KEPT)
    config = json.loads((tmp_path / "trimmed" / "config.json").read_text())
    assert config["vocab_size"] == report["kept"] < report["from_vocab_size"]
    full = load_classifier(str(tiny_classifier), backend="torch")
    small = load_classifier(str(tmp_path / "trimmed"), backend="torch")
    a = np.array([list(p.values()) for p in full.predict(KEPT)])
    b = np.array([list(p.values()) for p in small.predict(KEPT)])
    assert np.abs(a - b).max() < 1e-5
    pieces = lambda clf, text: clf.tokenizer.convert_ids_to_tokens(clf.tokenizer(text)["input_ids"])  # noqa: E731
    assert pieces(small, KEPT[0]) == pieces(full, KEPT[0])


def test_specials_and_single_characters_survive_and_ids_are_consistent(tiny_classifier, tmp_path):
    from transformers import AutoTokenizer

    trim.trim(tiny_classifier, tmp_path / "trimmed", ["de kat."])
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "trimmed"))
    vocab = tokenizer.get_vocab()
    assert {"<s>", "<pad>", "</s>", "<unk>", "<mask>", "e", "s", "t"} <= set(vocab)
    assert "▁alles" not in vocab and "nees" not in vocab  # pieces no kept text needs
    assert tokenizer.pad_token_id == 1 and tokenizer.convert_ids_to_tokens(tokenizer("kat")["input_ids"])[0] == "<s>"
    # A word whose pieces were dropped falls back to kept pieces, never to <unk>.
    assert tokenizer.unk_token_id not in tokenizer("geneest")["input_ids"]
    assert max(vocab.values()) == len(vocab) - 1


def test_word_list_pieces_are_kept(tiny_classifier):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_classifier / "tokenizer.json"))
    kept = trim.pieces_needed(tok, ["de kat."], ["alles"])
    assert tok.token_to_id("▁alles") in kept
    assert tok.token_to_id("▁kat") in kept  # capitalised variants are tokenised too: "Kat" → ▁ + k? never dropped
