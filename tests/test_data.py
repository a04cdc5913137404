"""The project's own corpus in data/: complete, consistent, balanced and documented."""

import json
from collections import Counter, defaultdict

import pytest

from model.labels import LABELS
from model.segment import SENTENCE, segment
from training import datasheet
from training.corpus import SPLITS, load_corpus
from tests.conftest import ROOT

DATA = ROOT / "data"
REGISTERS = {"webshop", "provider", "coach", "forum", "blog", "newsletter", "news", "health-info", "study-summary"}


@pytest.fixture(scope="module")
def corpus():
    return load_corpus([DATA])


def test_no_errors_and_no_duplicates(corpus):
    assert [str(p) for p in corpus.problems] == []


def test_every_row_is_documented():
    for path in sorted(DATA.glob("**/*.jsonl")):
        if "agreement" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            row = json.loads(line)
            where = f"{path.name}:{number}"
            assert {"text", "label", "doc_id", "source", "topic", "register"} <= set(row), where
            assert row["label"] in LABELS, where
            assert row["register"] in REGISTERS, where
            assert row["text"] == row["text"].strip() and row["topic"], where


def test_size_and_balance(corpus):
    original = [e for e in corpus.examples if e.source == "original"]
    assert len(original) >= 4000
    counts = Counter(e.label for e in corpus.examples)
    assert min(counts.values()) >= 700, counts
    assert counts["supported"] == max(counts.values())  # real pages are mostly plain statements
    topics = {e.topic for e in original} - {"psilocybin"}
    assert len(topics) >= 25, sorted(topics)
    assert {e.register for e in original} == REGISTERS


def test_documents_are_short_and_whole(corpus):
    sizes = Counter(e.doc_id for e in corpus.examples if e.source == "original")
    assert min(sizes.values()) >= 5 and max(sizes.values()) <= 15


def test_every_seed_sentence_is_labelled():
    """Seed rows must match what the segmenter cuts now: a changed segmenter means relabelling."""
    rows = [json.loads(l) for l in (DATA / "seeds.jsonl").read_text(encoding="utf-8").splitlines()]
    by_file = defaultdict(list)
    for row in rows:
        by_file[row["source"]].append((row["start"], row["end"], row["text"]))
    seed_files = sorted((DATA / "seeds").glob("*.txt"))
    assert sorted(by_file) == [f"seeds/{p.name}" for p in seed_files]
    for path in seed_files:
        text = path.read_text(encoding="utf-8")
        expected = [(s.start, s.end, s.text) for s in segment(text) if s.kind == SENTENCE]
        assert by_file[f"seeds/{path.name}"] == expected, path.name


def test_splits_are_by_document_and_stratified(corpus):
    splits_of_doc = defaultdict(set)
    for e in corpus.examples:
        splits_of_doc[e.doc_id].add(e.split)
    assert all(len(s) == 1 for s in splits_of_doc.values())
    counts = corpus.counts()
    overall = {l: counts["all"][l] / sum(counts["all"].values()) for l in LABELS}
    for split in SPLITS:
        total = sum(counts[split].values())
        assert total >= 0.07 * sum(counts["all"].values()), split
        for label in LABELS:
            assert abs(counts[split][label] / total - overall[label]) < 0.06, (split, label)


def test_datasheet_counts_are_current(corpus):
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert datasheet.replace_block(readme, datasheet.render(corpus, DATA)) == readme, (
        "data/README.md is stale: run python -m training.datasheet data/"
    )
