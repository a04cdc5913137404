"""The project's own corpus in data/: complete, consistent, balanced and documented."""

import json
from collections import Counter, defaultdict

import pytest

from nuchter.labels import LABELS
from nuchter.segment import SENTENCE, segment
from nuchter.training import datasheet
from nuchter.training.corpus import SPLITS, load_corpus
from tests.conftest import ROOT

DATA = ROOT / "data"
KINDS = {"sentence", "bullet", "heading", "furniture"}
REGISTERS = {"webshop", "provider", "coach", "forum", "blog", "newsletter", "news", "health-info", "study-summary"}
WHOLE_PAGES = {"pages", "pages3", "pages4"}
"""Folders of rounds 2-4: whole pages, with their headings and furniture kept as unlabelled rows."""
ROUND_THREE_REGISTERS = {"shop-blog", "magazine"}
"""Registers of the real-page development set that round 3 added, and the folders that use them."""
ROUND_THREE_ON = {"pages3", "pages4"}
FAILING_REGISTERS = {"provider", "coach", "webshop", "shop-blog"}
"""Where the model failed on real pages: what rounds 3 and 4 were written for."""
HELD_OUT = ROOT.parent / "shared" / "realdev" / "realdev.jsonl"


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
            if WHOLE_PAGES & set(path.parts):  # whole pages: structure rows are kept, unlabelled
                assert row["kind"] in KINDS and row["locale"] in ("nl-NL", "nl-BE"), where
                assert (row["label"] is None) == (row["kind"] in ("heading", "furniture")), where
            if row["label"] is not None:
                assert row["label"] in LABELS, where
            assert row["register"] in REGISTERS | (ROUND_THREE_ON & set(path.parts) and ROUND_THREE_REGISTERS or set()), where
            assert row["text"] == row["text"].strip() and row["topic"], where


def test_size_and_balance(corpus):
    original = [e for e in corpus.examples if e.source == "original"]
    assert len(original) >= 4000
    counts = Counter(e.label for e in corpus.examples)
    assert min(counts.values()) >= 700, counts
    assert counts["supported"] == max(counts.values())  # real pages are mostly plain statements
    topics = {e.topic for e in original} - {"psilocybin"}
    assert len(topics) >= 25, sorted(topics)
    assert {e.register for e in original} == REGISTERS | ROUND_THREE_REGISTERS


def _round(corpus, folder: str):
    return [e for e in corpus.examples if f"/{folder}/" in e.where.replace("\\", "/")]


def test_documents_are_whole_short_in_round_one_page_length_in_round_two(corpus):
    sizes = Counter(e.doc_id for e in _round(corpus, "original"))
    assert min(sizes.values()) >= 5 and max(sizes.values()) <= 15
    for folder in WHOLE_PAGES:
        pages = Counter(e.doc_id for e in _round(corpus, folder))
        assert min(pages.values()) >= 20 and max(pages.values()) <= 60, folder


def test_round_two_reads_like_the_real_web(corpus):
    """Issue 9: 6,000+ sentences in 300+ page-length documents, ~60 % supported, no register gives the label away."""
    pages = _round(corpus, "pages")
    assert len(pages) >= 6000 and len({e.doc_id for e in pages}) >= 300
    share = sum(e.label == "supported" for e in pages) / len(pages)
    assert 0.55 <= share <= 0.65, share
    by_register = defaultdict(set)
    for e in pages:
        by_register[e.register].add(e.label)
    assert set(by_register) == REGISTERS
    assert all(labels == set(LABELS) for labels in by_register.values()), by_register


def _flemish_share(folder: str) -> float:
    """Share of a round's rows (structure rows included) written as nl-BE."""
    locales = Counter(json.loads(line)["locale"] for path in (DATA / folder).glob("*.jsonl")
                      for line in path.read_text(encoding="utf-8").splitlines())
    return locales["nl-BE"] / sum(locales.values())


def test_round_three_is_aimed_at_the_pages_the_model_fails_on(corpus):
    """Issue 20: 6,000+ sentences in whole pages, mostly providers, coaches and shops, both locales,
    flagged more often than round 2 (the real-page errors are missed overclaims and promotion)."""
    pages = _round(corpus, "pages3")
    assert len(pages) >= 6000 and len({e.doc_id for e in pages}) >= 250
    assert sum(e.register in FAILING_REGISTERS for e in pages) / len(pages) >= 0.5
    flagged = lambda rows: sum(e.label in ("overclaimed", "promotional") for e in rows) / len(rows)  # noqa: E731
    assert flagged(pages) > flagged(_round(corpus, "pages")) + 0.05
    assert 0.45 <= sum(e.label == "supported" for e in pages) / len(pages) <= 0.6
    assert _flemish_share("pages3") >= 0.25


def test_round_four_is_aimed_at_the_errors_left(corpus):
    """Issue 20, round 4: whole pages from at least six writers (twelve wrote it), mostly the failing registers, flagged sentences
    hidden among plain ones (about half supported), both locales."""
    pages = _round(corpus, "pages4")
    assert len(pages) >= 3000 and len({e.doc_id for e in pages}) >= 120
    assert len({e.doc_id.split("-")[0] for e in pages}) >= 6
    assert sum(e.register in FAILING_REGISTERS for e in pages) / len(pages) >= 0.5
    assert 0.4 <= sum(e.label == "supported" for e in pages) / len(pages) <= 0.65
    assert _flemish_share("pages4") >= 0.25


@pytest.mark.skipif(not HELD_OUT.is_file(), reason="the real-page development set is not beside this checkout")
def test_no_corpus_sentence_is_a_near_copy_of_the_real_page_development_set(corpus):
    from nuchter.training.corpus import close_to_held_out, read_texts

    held_out = read_texts(HELD_OUT)
    found = close_to_held_out(corpus.examples, held_out)
    assert not [(corpus.examples[i].where, j + 1, why) for i, j, why in found]


def test_the_held_out_check_finds_a_reworded_copy():
    from nuchter.training.corpus import Example, close_to_held_out

    held_out = ["Naarmate je ouder wordt, maakt je lichaam minder collageen aan.", "Boek nu je eerste sessie."]
    rows = [Example("Naarmate je ouder wordt maakt je lichaam steeds minder collageen aan!", "supported", "d"),
            Example("Met het ouder worden neemt de aanmaak van collageen langzaam af.", "supported", "d")]
    assert [(i, j) for i, j, _ in close_to_held_out(rows, held_out)] == [(0, 0)]


def test_minimal_pairs_cover_all_four_labels_in_four_documents():
    pairs = defaultdict(list)
    for path in sorted((DATA / "pages").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("pair"):
                pairs[row["pair"]].append(row)
    assert len(pairs) >= 20
    for name, rows in pairs.items():
        assert sorted(r["label"] for r in rows) == sorted(LABELS), name
        assert len({r["doc_id"] for r in rows}) == 4, name


def test_no_new_sentence_is_a_near_copy_of_another(corpus):
    from nuchter.training.corpus import near_copies

    new = {i for i, e in enumerate(corpus.examples)
           if any(f"/{folder}/" in e.where.replace("\\", "/") for folder in WHOLE_PAGES)}
    found = near_copies(corpus.examples, threshold=0.8, among=new)
    shown = [(corpus.examples[a].where, corpus.examples[b].where, j) for a, b, j in found]
    assert not shown, shown[:10]


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
        "data/README.md is stale: run python -m nuchter.training.datasheet data/"
    )
