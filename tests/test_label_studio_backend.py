"""`nuchter serve --label-studio`: Label Studio's ML backend protocol through FastAPI's test client, and
the training webhook against a stand-in of Label Studio's export API on 127.0.0.1. The round trip with
the real Label Studio is in tests/test_label_studio_ml.py."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from nuchter.classify import load_classifier
from nuchter.labels import DESCRIPTIONS, LABELS
from nuchter.pipeline import PreparedPage, score_pages
from nuchter.segment import Segment
from nuchter.select import label_config
from nuchter.web.label_studio import KEY_ENV, URL_ENV, LabelStudioSettings, names_of
from nuchter.web.service import ServeConfig, create_app

CONFIG = label_config(DESCRIPTIONS)
TASKS = [
    {"id": 1, "data": {"text": "Kurkuma geneest alle ontstekingen.", "context": "Een blog over kruiden.\nBestel nu."}},
    {"id": 2, "data": {"text": "Bestel vandaag nog met twintig procent korting!"}},
    {"id": 3, "data": {"text": "  "}},
]


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return load_classifier(str(tiny_model))


def backend(classifier, **settings) -> TestClient:
    return TestClient(create_app(classifier, config=ServeConfig(label_studio=LabelStudioSettings(**settings))))


def test_health_and_setup(classifier):
    with backend(classifier) as api:
        health = api.get("/health").json()
        assert health["status"] == "UP" and health["labels"] == list(LABELS)
        assert api.post("/setup", json={"project": "3.1700000000", "schema": CONFIG}).json() == {
            "model_version": health["model_version"]}
        assert api.get("/").status_code == 200  # the page stays


def test_predict_gives_selects_format_on_the_one_scoring_path(classifier):
    with backend(classifier) as api:
        answer = api.post("/predict", json={"tasks": TASKS, "label_config": CONFIG, "project": "3.1700000000",
                                            "params": {"context": {}}})
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert len(results) == len(TASKS)
    expected = score_pages([
        PreparedPage([Segment(0, len(TASKS[0]["data"]["text"]), TASKS[0]["data"]["text"])],
                     contexts=(TASKS[0]["data"]["context"],)),
        PreparedPage([Segment(0, len(TASKS[1]["data"]["text"]), TASKS[1]["data"]["text"])]),
    ], classifier)
    for result, scored in zip(results, expected):
        sentence = scored.sentences[0]
        assert result["score"] == round(sentence.confidence, 4)
        assert result["result"] == [{"from_name": "label", "to_name": "text", "type": "choices",
                                     "value": {"choices": [sentence.label]}}]
        assert result["model_version"].startswith("nuchter ")
    assert results[2]["result"] == []  # no text: an empty prediction keeps the order


def test_config_names_are_followed():
    config = ('<View><Text name="zin" value="$sentence"/><Choices name="oordeel" toName="zin">'
              '<Choice value="supported"/><Choice value="hedged"/></Choices></View>')
    names = names_of(config)
    assert (names.from_name, names.to_name, names.field) == ("oordeel", "zin", "sentence")
    assert names_of("<not xml") == names_of(None) == names_of("<View/>")


@pytest.mark.parametrize("body, status, fragment", [
    ({"tasks": "nee"}, 400, "tasks"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_predict_requests(classifier, body, status, fragment):
    with backend(classifier) as api:
        answer = api.post("/predict", json=body)
    assert answer.status_code == status and fragment in answer.json()["error"]


def test_older_train_route_checks_its_body(classifier):
    with backend(classifier) as api:
        for body in ({"project": "7.1"}, {"annotations": [], "project": "x"}):
            answer = api.post("/train", json=body)
            assert answer.status_code == 400 and "annotations" in answer.json()["error"]
        empty = api.post("/train", json={"annotations": [{"data": {"text": "x"}, "annotations": []}], "project": "7.1"})
        assert empty.status_code == 400 and "no annotated tasks" in empty.json()["error"]


def test_webhook_events_and_missing_token(classifier, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(URL_ENV, raising=False)
    with backend(classifier) as api:
        assert api.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 1}}).json() == {
            "status": "Unknown event"}
        assert api.post("/webhook", json={"action": "START_TRAINING"}).status_code == 400
        refused = api.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
        assert refused.status_code == 400 and KEY_ENV in refused.json()["error"]
        assert api.get("/train-status").json()["state"] == "failed"


class FakeLabelStudio(BaseHTTPRequestHandler):
    """Label Studio's export endpoint, as far as the webhook uses it."""

    rows: list = []
    seen: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        FakeLabelStudio.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/api/projects/7/export") and self.headers.get("Authorization") == "Token sleutel-123":
            body, status = json.dumps(FakeLabelStudio.rows).encode(), 200
        else:
            body, status = b'{"detail": "no"}', 401
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def annotated(text: str, label: str, doc: str) -> dict:
    return {"id": hash(text) % 10_000, "data": {"text": text, "doc_id": doc},
            "annotations": [{"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                         "value": {"choices": [label]}}]}]}


def test_start_training_exports_and_trains_one_run_at_a_time(classifier, tmp_path, monkeypatch):
    from tests.test_training import TINY

    corpus = tmp_path / "corpus.jsonl"
    from nuchter.training.corpus import load_corpus
    from tests.conftest import ROOT

    rows = load_corpus([ROOT / "data" / "original" / "oa_sauna.jsonl"]).examples
    corpus.write_text("".join(json.dumps({"text": e.text, "label": e.label, "doc_id": e.doc_id}, ensure_ascii=False) + "\n"
                              for e in rows), encoding="utf-8")
    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps({**TINY, "max_steps": 4}))
    FakeLabelStudio.rows = [annotated("Saunabaden ontspant mogelijk de spieren.", "hedged", "ls-1"),
                            annotated("Boek nu je saunadag met korting!", "promotional", "ls-2"),
                            {"id": 9, "data": {"text": "Nog niet gelabeld."}, "annotations": []}]
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLabelStudio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv(KEY_ENV, "sleutel-123")
    try:
        with backend(classifier, train_data=(str(corpus),), train_config=str(settings),
                     exports=str(tmp_path / "exports")) as api:
            started = api.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 7}})
            assert started.status_code == 201, started.text
            assert started.json()["result"]["state"] == "training" and started.json()["result"]["annotations"] == 2
            again = api.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 7}})
            assert again.status_code == 409 and "one run at a time" in again.json()["error"]
            older = api.post("/train", json={"annotations": FakeLabelStudio.rows, "project": "7.1700000000"})
            assert older.status_code == 409  # the older form waits its turn too
            deadline = time.monotonic() + 300
            while (state := api.get("/train-status").json())["state"] == "training" and time.monotonic() < deadline:
                time.sleep(1)
    finally:
        server.shutdown()
        server.server_close()
    assert state["state"] == "finished", state
    exported = json.loads(open(state["data"], encoding="utf-8").read())
    assert [r["data"]["text"] for r in exported] == ["Saunabaden ontspant mogelijk de spieren.",
                                                    "Boek nu je saunadag met korting!"]
    assert FakeLabelStudio.seen[0][1] == "Token sleutel-123" and "exportType=JSON" in FakeLabelStudio.seen[0][0]
    assert "--config" in state["command"] and str(corpus) in state["command"]
    assert state["message"]  # nuchter train's last line: where the model went and whether it was activated
