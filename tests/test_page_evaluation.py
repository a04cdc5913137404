"""`nuchter evaluate` on whole labelled pages: scored as served, aligned by character overlap."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nuchter import score_text
from nuchter.cli.main import app
from nuchter.config import ScoreConfig
from nuchter.errors import NuchterError
from nuchter.labels import LABELS
from nuchter.training.evaluation import align, evaluate_pages, paired_difference, read_pages

runner = CliRunner()

PAGES = {
    "https://praktijk.example/werkwijze": ("provider", [
        ("Reflexologie is een behandeling van de voeten.", "supported"),
        ("Via de voet behandel ik elk orgaan van het lichaam.", "overclaimed"),
        ("Een eerste consult duurt een uur en kost 60 euro.", "promotional"),
    ]),
    "https://krant.example/detox": ("news", [
        ("Detoxkuren halen geen extra afvalstoffen uit het lichaam.", "supported"),
        ("Het effect van sapkuren op de lever is mogelijk klein.", "hedged"),
        ("Dat zegt een toxicoloog van het ziekenhuis.", "supported"),
    ]),
    "https://winkel.example/magnesium": ("webshop", [
        ("Magnesium draagt bij aan een normale werking van de spieren.", "supported"),
        ("Onze capsules geven je binnen een week nieuwe energie.", "overclaimed"),
        ("Bestel vandaag en ontvang gratis verzending.", "promotional"),
        ("Raadpleeg bij twijfel je huisarts.", "hedged"),
    ]),
}


@pytest.fixture()
def labelled_pages(tmp_path):
    path = tmp_path / "paginas.jsonl"
    rows = [{"text": text, "label": label, "url": url, "register": register}
            for url, (register, sentences) in PAGES.items() for text, label in sentences]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_alignment_takes_the_predicted_sentence_covering_most_and_skipped_text_is_supported():
    assert align([(0, 10), (11, 20), (21, 25)], [(0, 14, "hedged"), (15, 20, "promotional")]) == [
        "hedged", "promotional", "supported"]
    assert align([(0, 30)], [(0, 12, "overclaimed"), (12, 30, "hedged")]) == ["hedged"]


def test_pages_are_consecutive_rows_and_a_page_that_starts_again_is_refused(labelled_pages, tmp_path):
    pages = read_pages([labelled_pages], "url")
    assert [p.key for p in pages] == list(PAGES) and [p.group for p in pages] == ["provider", "news", "webshop"]
    text, spans = pages[0].text_and_spans()
    assert [text[a:b] for a, b in spans] == [t for t, _ in PAGES["https://praktijk.example/werkwijze"][1]]
    lines = labelled_pages.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "door-elkaar.jsonl"
    broken.write_text("\n".join([lines[0], lines[3], lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(NuchterError, match="starts again"):
        read_pages([broken], "url")


def test_page_mode_scores_each_page_as_score_does(labelled_pages, tiny_model):
    # full precision: int8's dynamic ranges make pooled and lone scoring differ on borderline sentences
    evaluation = evaluate_pages(str(tiny_model), [labelled_pages], int8=False)
    served = []
    for register, sentences in PAGES.values():
        result = score_text(" ".join(t for t, _ in sentences), model=str(tiny_model), config=ScoreConfig(int8=False))
        assert [s.text for s in result.sentences] == [t for t, _ in sentences]
        served += [s.label for s in result.sentences]
    assert evaluation.predicted == served
    m = evaluation.metrics
    assert m["mode"] == "pages" and m["pages"] == 3 and m["sentences"] == 10
    low, high = m["macro_f1_interval"]
    assert 0 <= low <= high <= 1 and set(m["per_label"]) == set(LABELS)
    assert set(m["per_group"]) == {"provider", "news", "webshop"} and m["per_group"]["webshop"]["sentences"] == 4
    same = paired_difference(evaluation.gold, evaluation.predicted, evaluation.predicted, evaluation.pages)
    assert same == {"difference": 0.0, "interval": [0.0, 0.0]}


def test_cli_reads_pages_from_jsonl_and_csv(labelled_pages, tiny_model, tmp_path):
    result = runner.invoke(app, ["evaluate", "--data", str(labelled_pages), "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert "in 3 pages, each scored as one text" in result.stdout and "95 % interval over pages" in result.stdout
    assert "provider" in result.stdout and "webshop" in result.stdout
    table = tmp_path / "paginas.csv"
    table.write_text("pagina;bron;tekst;label\n" + "".join(
        f"{url};{register};{text};{label}\n" for url, (register, rows) in PAGES.items() for text, label in rows),
        encoding="utf-8")
    as_json = runner.invoke(app, ["evaluate", "--data", str(table), "--model", str(tiny_model), "--page-key", "pagina",
                                  "--group", "bron", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    metrics = json.loads(as_json.stdout)
    assert metrics["pages"] == 3 and set(metrics["per_group"]) == {"provider", "news", "webshop"}
    missing = runner.invoke(app, ["evaluate", "--data", str(table), "--model", str(tiny_model), "--page-key", "url"])
    assert missing.exit_code == 1 and "no 'url'" in missing.stderr


def test_the_warm_start_experiment_splits_by_site_and_trains_on_a_whole_half(tmp_path):
    from nuchter.training.corpus import split_of
    from nuchter.training.warm_start_experiment import halves, train_doc_id

    rows = [{"text": f"Zin {i}.", "label": "supported", "url": f"https://{site}/p{page}", "register": "news"}
            for i, (site, page) in enumerate([("a.nl", 1), ("a.nl", 1), ("www.b.nl", 2), ("b.nl", 3), ("c.be", 4)])]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    parts = halves(path)
    assert [r["url"] for r in parts["a"]] == ["https://a.nl/p1", "https://a.nl/p1", "https://c.be/p4"]
    assert [r["url"] for r in parts["b"]] == ["https://www.b.nl/p2", "https://b.nl/p3"]  # one site, www or not
    assert all(split_of(train_doc_id(r["url"])) == "train" for r in rows)
