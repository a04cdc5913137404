"""`nuchter select`: uncertainty sampling, Label Studio and doccano tasks, and the round trip back into training."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from typer.testing import CliRunner

from nuchter.cli.main import app
from nuchter.labels import DESCRIPTIONS, LABELS
from nuchter.select import FROM_NAME, TO_NAME, Candidate, doubt, label_config, label_studio_task, pick
from nuchter.training.corpus import load_corpus
from tests.conftest import ROOT, seed_texts
from tests.label_studio_env import SETUP, run_driver, venv_python

runner = CliRunner()
TINY = dict(base_model="scratch", scratch_vocab_size=600, scratch_layers=1, scratch_hidden=32,
            scratch_heads=2, max_length=48, batch_size=16, learning_rate=3e-3, early_stopping_patience=0)


def scores(top: str, p: float, second: str = "hedged", q: float | None = None) -> dict[str, float]:
    q = (1 - p) / 3 if q is None else q
    rest = (1 - p - q) / 2
    return {label: p if label == top else q if label == second else rest for label in LABELS}


def candidate(text: str, path: str = "a.txt", start: int = 0, **kw) -> Candidate:
    return Candidate(path, start, start + len(text), text, "", scores(**kw) if kw else scores("supported", 0.4))


def test_doubt_margin_and_entropy():
    assert doubt(scores("supported", 0.5, "hedged", 0.5)) == 1.0
    assert doubt(scores("supported", 0.9, "hedged", 0.1)) == pytest.approx(0.2)
    assert doubt({label: 0.25 for label in LABELS}, "entropy") == pytest.approx(1.0)
    assert doubt(scores("supported", 0.97), "entropy") < doubt(scores("supported", 0.6), "entropy")
    with pytest.raises(ValueError, match="unknown strategy"):
        doubt(scores("supported", 0.5), "random")


def test_pick_most_doubtful_first_with_a_cap_per_document():
    pool = [
        candidate("Zeker een.", "a", 0, top="supported", p=0.95),
        candidate("Twijfel een.", "a", 10, top="hedged", p=0.4, second="supported", q=0.38),
        candidate("Twijfel twee.", "a", 20, top="hedged", p=0.4, second="supported", q=0.35),
        candidate("Twijfel drie.", "a", 30, top="hedged", p=0.4, second="supported", q=0.34),
        candidate("Elders.", "b", 0, top="promotional", p=0.5, second="supported", q=0.2),
    ]
    chosen = pick(pool, 4, per_doc=2)
    assert [c.text for c, _ in chosen] == ["Twijfel een.", "Twijfel twee.", "Elders."]  # a third from "a" is over the cap
    assert [d for _, d in chosen] == sorted((d for _, d in chosen), reverse=True)
    assert [c.text for c, _ in pick(pool, 10, per_doc=1)] == ["Twijfel een.", "Elders."]
    assert [c.text for c, _ in pick(pool, 1, per_doc=5)] == ["Twijfel een."]


def test_pick_drops_near_copies_and_known_sentences():
    pool = [
        candidate("Magnesium helpt bij spierkrampen, zeggen sporters.", "a", top="hedged", p=0.3, second="supported", q=0.29),
        candidate("Magnesium helpt bij spierkrampen zeggen sporters!", "b", top="hedged", p=0.3, second="supported", q=0.28),
        candidate("Bestel nu met korting.", "c", top="promotional", p=0.3, second="supported", q=0.27),
        candidate("Een heel andere zin over slaap.", "d", top="supported", p=0.3, second="hedged", q=0.2),
    ]
    chosen = [c.text for c, _ in pick(pool, 10, exclude=["bestel NU, met korting"])]
    assert chosen == ["Magnesium helpt bij spierkrampen, zeggen sporters.", "Een heel andere zin over slaap."]


def test_label_config_matches_the_tasks():
    root = ET.fromstring(label_config(DESCRIPTIONS))
    choices = root.find("Choices")
    assert choices.get("name") == FROM_NAME and choices.get("toName") == TO_NAME
    assert [c.get("value") for c in choices.findall("Choice")] == list(LABELS)
    assert all(c.get("hint") == DESCRIPTIONS[c.get("value")] for c in choices.findall("Choice"))
    assert {t.get("name"): t.get("value") for t in root.findall("Text")} == {"context": "$context", TO_NAME: "$text"}
    task = label_studio_task(candidate("Kurkuma geneest alles.", top="overclaimed", p=0.45), 0.7, "nuchter test")
    (prediction,) = task["predictions"]
    (result,) = prediction["result"]
    assert (result["from_name"], result["to_name"], result["type"]) == (FROM_NAME, TO_NAME, "choices")
    assert result["value"] == {"choices": ["overclaimed"]} and prediction["score"] == 0.45
    assert set(task["data"]) >= {"text", "context", "path"}


@pytest.fixture()
def pages(tmp_path):
    folder = tmp_path / "paginas"
    folder.mkdir()
    for i, text in enumerate(seed_texts()):
        (folder / f"pagina{i}.txt").write_text(text, encoding="utf-8")
    return folder


def test_cli_writes_label_studio_tasks(pages, tiny_model, tmp_path):
    out = tmp_path / "tasks.json"
    done = runner.invoke(app, ["select", str(pages), "--n", "7", "--per-doc", "3", "--out", str(out), "--model", str(tiny_model)])
    assert done.exit_code == 0, done.output
    assert "wrote 7 label-studio tasks" in done.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == 7
    assert max(Counter(t["data"]["path"] for t in tasks).values()) <= 3
    for task in tasks:
        page = (pages / os.path.basename(task["data"]["path"])).read_text(encoding="utf-8")
        assert page[task["data"]["start"] : task["data"]["end"]] == task["data"]["text"]
        assert task["data"]["context"] and task["data"]["text"] not in task["data"]["context"]
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == f"nuchter {tiny_model.name}"
        assert prediction["result"][0]["value"]["choices"][0] in LABELS
    doubts = [t["meta"]["doubt"] for t in tasks]
    assert doubts == sorted(doubts, reverse=True)

    again = runner.invoke(app, ["select", str(pages), "--out", str(out), "--model", str(tiny_model)])
    assert again.exit_code == 1 and "already exists" in again.stderr and len(json.loads(out.read_text())) == 7


def test_cli_doccano_from_a_scan_file_with_exclusions(pages, tiny_model, tmp_path):
    scanned = tmp_path / "zinnen.jsonl"
    assert runner.invoke(app, ["scan", str(pages), "--out", str(scanned), "--model", str(tiny_model)]).exit_code == 0
    rows = [json.loads(line) for line in scanned.read_text(encoding="utf-8").splitlines()]
    known = tmp_path / "bekend.jsonl"
    known.write_text("".join(json.dumps({"text": r["text"], "label": "supported", "doc_id": "k"}) + "\n" for r in rows[:-2]))
    out = tmp_path / "taken.jsonl"
    done = runner.invoke(app, ["select", str(scanned), "--format", "doccano", "--exclude", str(known), "--out", str(out)])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {line["text"] for line in lines} <= {r["text"] for r in rows[-2:]}
    assert lines and all(line["prediction"] in LABELS and line["model_version"] == "nuchter scan (zinnen.jsonl)" for line in lines)
    # the guess is no label: the untouched task file cannot be trained on
    assert "label" not in lines[0]
    assert all(p.message == "missing label" for p in load_corpus([out]).problems) and not load_corpus([out]).examples


def test_cli_errors(tmp_path):
    assert runner.invoke(app, ["select", "--out", str(tmp_path / "t.json")]).exit_code == 2
    assert runner.invoke(app, ["select", str(tmp_path)]).exit_code == 2
    bad = tmp_path / "kapot.jsonl"
    bad.write_text('{"path": "a", "text": "Zin."}\n')
    done = runner.invoke(app, ["select", str(bad), "--out", str(tmp_path / "t.json")])
    assert done.exit_code == 1 and "kapot.jsonl:1 is not a `nuchter scan --out` sentence row" in done.stderr
    printed = runner.invoke(app, ["select", "--label-config"])
    assert printed.exit_code == 0 and printed.stdout.startswith("<View>")


def test_an_export_trains_on_the_annotation_never_the_prediction(tmp_path):
    """The reader of Label Studio exports, on the shape Label Studio 1.23 writes (prediction copied into the annotation)."""
    def exported(text, predicted, annotated):
        prediction = {"result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [predicted]}}]}
        return {"id": 1, "data": {"text": text, "context": "De zin ervoor. De zin erna.", "path": "p.txt", "doc_id": "p.txt"},
                "predictions": [1], "annotations": [{"result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                                                                  "value": {"choices": [annotated]}}], "prediction": prediction,
                                                      "was_cancelled": False}]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps([exported("Kurkuma geneest alles.", "hedged", "overclaimed"),
                                exported("Niet gelabeld.", "hedged", "supported") | {"annotations": []}]))
    corpus = load_corpus([path])
    (example,) = corpus.examples
    assert (example.label, example.context, example.doc_id) == ("overclaimed", "De zin ervoor. De zin erna.", "p.txt")
    assert [(p.message, p.fatal) for p in corpus.problems] == [("no annotation yet: skipped (a prediction alone is not a label)", False)]


@pytest.mark.slow
def test_round_trip_through_a_real_label_studio(pages, tiny_model, tmp_path):
    """select → a running Label Studio (pre-annotations, an annotator who disagrees, export) → train."""
    if venv_python() is None:
        if os.environ.get("NUCHTER_REQUIRE_LABEL_STUDIO"):
            pytest.fail(f"NUCHTER_REQUIRE_LABEL_STUDIO is set but there is no Label Studio venv: run {SETUP}")
        pytest.skip(f"no Label Studio venv (make one with {SETUP})")
    config, tasks, export, report = (tmp_path / n for n in ("config.xml", "tasks.json", "export.json", "report.json"))
    config.write_text(runner.invoke(app, ["select", "--label-config"]).stdout, encoding="utf-8")
    done = runner.invoke(app, ["select", str(pages), "--n", "6", "--per-doc", "2", "--out", str(tasks), "--model", str(tiny_model)])
    assert done.exit_code == 0, done.output

    seen = run_driver(config, tasks, export, report, tmp_path / "ls")
    assert seen["imported"] == 6 and seen["predictions_seen"] == 6  # every task arrived with the model's guess
    assert all(seen["annotated"][text] != seen["predicted"][text] for text in seen["annotated"])

    sent = {t["data"]["text"]: t for t in json.loads(tasks.read_text(encoding="utf-8"))}
    learned = load_corpus([export]).examples
    assert {e.text: e.label for e in learned} == seen["annotated"]
    assert all(e.context == sent[e.text]["data"]["context"] and e.doc_id == sent[e.text]["data"]["path"] for e in learned)

    base = [ROOT / "data" / "original" / "oa_sauna.jsonl", ROOT / "data" / "original" / "oc_keto.jsonl"]
    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps(TINY))
    data = [arg for path in (*base, export) for arg in ("--data", str(path))]
    trained = runner.invoke(app, ["train", *data, "--config", str(settings),
                                  "--max-steps", "2", "--output", str(tmp_path / "model"), "--force"])
    assert trained.exit_code == 0, trained.output
    assert f"{export.name}: 6 new sentences" in trained.stderr
    counts = json.loads((tmp_path / "model" / "metrics.json").read_text())["data"]["counts"]["all"]
    before = load_corpus(base).counts()["all"]
    assert Counter(counts) - Counter(before) == Counter(seen["annotated"].values())
