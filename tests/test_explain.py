"""Evidence: the words whose removal lowers a sentence's label probability, with offsets into the input."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from nuchter import score_text
from nuchter.cli.main import app
from nuchter.config import ScoreConfig
from nuchter.explain import BUDGET, MIN_SPANS, evidence, explain, occlusions, span_counts, spans, without
from nuchter.reports.html import render_score_html
from nuchter.labels import LABELS

runner = CliRunner()


class Keyword:
    """A stand-in model: 'overclaimed' exactly when a trigger word is present, else 'supported'."""

    name = "keyword"

    def __init__(self, trigger: str = "geneest"):
        self.trigger = trigger
        self.calls: list[tuple[list[str], list[str] | None]] = []

    def predict(self, texts, *, contexts=None, batch_size=32, max_length=128):
        self.calls.append((list(texts), None if contexts is None else list(contexts)))
        out = []
        for text in texts:
            hot = self.trigger in text
            row = {label: 0.05 for label in LABELS}
            row["overclaimed" if hot else "supported"] = 0.85
            out.append(row)
        return out


def test_spans_are_words_then_phrases():
    sentence = "Kurkuma geneest 100% van alle 5-HTP-klachten."
    assert [sentence[a:b] for a, b in spans(sentence)] == ["Kurkuma", "geneest", "100%", "van", "alle", "5-HTP-klachten"]
    assert [sentence[a:b] for a, b in spans(sentence, max_spans=2)] == ["Kurkuma geneest 100%", "van alle 5-HTP-klachten"]
    assert spans("… !") == []


def test_the_budget_is_shared_out():
    assert span_counts([2, 12, 30]) == [2, 8, 8]  # short texts: every word on its own
    twenty = span_counts([12] * 20)
    assert sum(twenty) == BUDGET and min(twenty) >= MIN_SPANS
    mixed = span_counts([2] * 10 + [12] * 20)
    assert mixed[:10] == [2] * 10 and sum(mixed) == BUDGET  # what short sentences leave goes to long ones
    assert span_counts([20] * 1000) == [MIN_SPANS] * 1000  # long pages: phrases, never fewer than three
    cut = occlusions(["Een twee drie.", "Dit is een veel langere zin met heel veel woorden erin."])
    assert len(cut.texts) == 3 + 8


def test_without_closes_the_gap():
    assert without("Dit geneest alles.", 4, 11) == "Dit alles."


def test_evidence_finds_the_trigger_and_offsets_cut_the_input():
    text = "Een inleiding. Kurkuma geneest alle ontstekingen."
    sentences = ["Een inleiding.", "Kurkuma geneest alle ontstekingen."]
    offsets = [0, 15]
    model = Keyword()
    probabilities = model.predict(sentences)
    found = explain(model, sentences, probabilities, contexts=["ctx a", "ctx b"], offsets=offsets)
    assert found[0] == ()  # no word of the first sentence moves its label
    (top,) = found[1]
    assert (top.text, text[top.start : top.end]) == ("geneest", "geneest")
    assert top.weight == 0.8
    texts, contexts = model.calls[1]  # the occluded variants, in one call after the scores
    assert "Kurkuma alle ontstekingen." in texts
    assert set(contexts) == {"ctx a", "ctx b"}  # every variant keeps its own sentence's context


def test_strongest_first_and_at_most_five():
    sentence = "een twee drie vier vijf zes zeven"
    cut = occlusions([sentence], None, max_spans=8)
    base = [{label: 0.25 for label in LABELS} | {"supported": 0.9}]
    # the drop grows with the word's position
    cut_scores = [{label: 0.0 for label in LABELS} | {"supported": 0.9 - 0.01 * (i + 1)} for i in range(len(cut.texts))]
    (found,) = evidence([sentence], base, cut, cut_scores)
    assert [e.text for e in found] == ["zeven", "zes", "vijf", "vier", "drie"]
    assert all(a.weight >= b.weight for a, b in zip(found, found[1:]))


def test_score_text_explains_on_a_real_model(tiny_model, seed_paragraph):
    result = score_text(seed_paragraph, tiny_model, config=ScoreConfig(explain=True))
    assert all(s.evidence is not None for s in result.sentences)
    for s in result.sentences:
        for e in s.evidence:
            assert seed_paragraph[e.start : e.end] == e.text and s.start <= e.start < e.end <= s.end
            assert e.weight > 0
    plain = score_text(seed_paragraph, tiny_model)
    assert [s.label for s in plain.sentences] == [s.label for s in result.sentences]
    assert "evidence" not in plain.to_dict()["sentences"][0]


def test_cli_explain_json_offsets_cut_the_input(builtin):
    text = "Magnesium is een mineraal. Deze kuur geneest je darmen volledig en voor altijd. Bestel nu met korting!"
    done = runner.invoke(app, ["score", "--explain", "--format", "json", text])
    assert done.exit_code == 0, done.output
    sentences = json.loads(done.stdout)["sentences"]
    assert any(s["evidence"] for s in sentences)
    for s in sentences:
        weights = [e["weight"] for e in s["evidence"]]
        assert weights == sorted(weights, reverse=True)
        for e in s["evidence"]:
            assert text[e["start"] : e["end"]] == e["text"]


def test_linear_model_explains_too(tiny_linear):
    text = "Magnesium geneest alle krampen. Bestel vandaag nog met korting!"
    done = runner.invoke(app, ["score", "--explain", "--format", "csv", "--model", str(tiny_linear), text])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert "evidence" in rows[0] and any(r["evidence"] for r in rows)
    plain = runner.invoke(app, ["score", "--format", "csv", "--model", str(tiny_linear), text])
    assert "evidence" not in plain.stdout.splitlines()[0]


def test_html_underlines_evidence_and_escapes_it():
    text = "Dit <b>geneest</b> alles."
    model = Keyword()
    result = score_text(text, model, config=ScoreConfig(explain=True))
    page = render_score_html(result, text)
    assert '<span class="ev" title="evidence · 0.80">geneest</span>' in page
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert ".s:hover .ev" in page


class AnyOf:
    """A stand-in model where several words carry the label: 'overclaimed' while any trigger is present,
    a hair less sure for each one missing (less than evidence counts), so no single cut moves anything."""

    name = "any-of"

    def __init__(self, triggers=("geneest", "gegarandeerd", "altijd")):
        self.triggers = triggers

    def predict(self, texts, *, contexts=None, batch_size=32, max_length=128):
        out = []
        for text in texts:
            hits = sum(t in text for t in self.triggers)
            row = {label: 0.01 for label in LABELS}
            if hits:
                row["overclaimed"] = 0.95 + 0.001 * hits
            else:
                row["supported"] = 0.90
            out.append(row)
        return out


def test_when_no_single_word_moves_the_label_the_smallest_set_that_does_is_the_evidence():
    """Issue 23: "Onze kruidenthee geneest … gegarandeerd." got no evidence at all."""
    model = AnyOf()
    text = "Onze kruidenthee geneest uw darmklachten altijd en gegarandeerd."
    result = score_text(text, model=model, config=ScoreConfig(explain=True))
    (sentence,) = result.sentences
    assert sentence.label == "overclaimed"
    found = sorted(e.text for e in sentence.evidence)
    assert found == ["altijd", "gegarandeerd", "geneest"]  # all three had to go before the label moved
    assert all(e.weight > 0 for e in sentence.evidence)
    assert all(text[e.start:e.end] == e.text for e in sentence.evidence)
    # a sentence one word already explains keeps its single-word evidence
    plain = score_text("Kurkuma geneest alles.", model=Keyword(), config=ScoreConfig(explain=True))
    assert [e.text for e in plain.sentences[0].evidence] == ["geneest"]


def test_widening_stays_within_the_budget():
    model = AnyOf()
    calls = []
    original = model.predict
    model.predict = lambda texts, **kw: calls.append(len(texts)) or original(texts, **kw)
    text = " ".join(f"Thee {i} geneest klachten altijd en gegarandeerd." for i in range(60))
    score_text(text, model=model, config=ScoreConfig(explain=True))
    assert sum(calls[1:]) <= BUDGET + 60  # the occlusions and the widening rounds share one budget
