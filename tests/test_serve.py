"""`nuchter serve`'s API through FastAPI's test client: same JSON as the CLI, every error status,
batch order, micro-batching, and an event loop that the model never blocks."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from nuchter.web.batching import MicroBatcher
from nuchter.classify import load_classifier
from nuchter.cli.main import app as cli_app
from nuchter.reports.html import legend_html
from nuchter.labels import LABELS
from nuchter.web.page import _JS, CSP
from nuchter.web.service import ServeConfig, create_app

runner = CliRunner()
PARAGRAPH = (
    "Psilocybine geneest depressie, zonder bijwerkingen. Het bewijs bij mensen is nog beperkt.\n\n"
    "Boek nu je retraite met 20% korting!"
)


@pytest.fixture()
def served(builtin):
    """The real built-in model behind the app, with a small body limit to test 413."""
    classifier = load_classifier(str(builtin))
    with TestClient(create_app(classifier, config=ServeConfig(max_bytes=4096), model_path=builtin)) as client:
        yield client


def cli_json(model, *args, stdin=None) -> str:
    result = runner.invoke(cli_app, ["score", *args, "--model", str(model), "--format", "json"], input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and fragment in body["error"], body
    assert "\n" not in body["error"] and "Traceback" not in response.text


# --- the JSON ---------------------------------------------------------------------------------


def test_score_returns_exactly_the_cli_json(served, builtin):
    response = served.post("/api/score", json={"text": PARAGRAPH})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.text == cli_json(builtin, PARAGRAPH)
    lines = served.post("/api/score", json={"text": "Kurkuma geneest alles\nBestel nu", "lines": True})
    assert lines.text == cli_json(builtin, "--lines", "Kurkuma geneest alles\nBestel nu")
    assert [s["text"] for s in lines.json()["sentences"]] == ["Kurkuma geneest alles", "Bestel nu"]


def test_batch_keeps_order(served):
    texts = ["Bestel vandaag nog!", PARAGRAPH, "Magnesium helpt soms bij kramp. Vraag je huisarts.", "Bestel vandaag nog!"]
    response = served.post("/api/score-batch", json={"texts": texts})
    assert response.status_code == 200
    answers = response.json()
    assert [a["summary"]["sentences"] for a in answers] == [1, 3, 2, 1]
    alone = [served.post("/api/score", json={"text": t}).json() for t in texts]
    # Same sentences in the same order. Scores are not bit-identical: the int8 model quantises its
    # activations per model call, so a sentence scored beside other requests' sentences moves a
    # little, and a borderline one (top score under 0.7 alone) can change label.
    spans = lambda a: [(s["text"], s["start"]) for s in a["sentences"]]  # noqa: E731
    assert [spans(a) for a in answers] == [spans(a) for a in alone]
    for batched, single in zip(answers, alone):
        for x, y in zip(batched["sentences"], single["sentences"]):
            if y["confidence"] >= 0.7:
                assert x["label"] == y["label"], (x, y)


def test_control_characters_are_dropped_here_and_on_stdin(served, builtin):
    messy = "Kurk\x00uma geneest\x1b alles. Het bewijs is beperkt.\x07"
    clean = "Kurkuma geneest alles. Het bewijs is beperkt."
    response = served.post("/api/score", json={"text": messy})
    assert response.status_code == 200 and response.text == cli_json(builtin, clean)
    assert cli_json(builtin, stdin=messy.encode("utf-8")) == cli_json(builtin, clean)
    assert_error(served.post("/api/score", json={"text": "\x00\x01\x02\x03\x04abc"}), 400, "binary")


def test_lone_surrogates_do_not_break_the_answer(served):
    response = served.post("/api/score", content=b'{"text": "Kurkuma \\ud800geneest alles."}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 200 and "\ufffd" in response.json()["sentences"][0]["text"]


def test_health_and_model(served, builtin):
    assert served.get("/api/health").json() == {"status": "ok", "model": str(builtin)}
    info = served.get("/api/model").json()
    metrics = json.loads((builtin / "metrics.json").read_text(encoding="utf-8"))
    assert info["name"] == str(builtin) and info["labels"] == list(LABELS)
    assert info["base_model"] == metrics["base_model"]
    assert info["test"]["macro_f1"] == metrics["test"]["macro_f1"] and info["dev"]["macro_f1"] == metrics["dev"]["macro_f1"]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, status, fragment",
    [
        ({"text": ""}, 400, "empty"),
        ({"text": "  \n\t "}, 400, "empty"),
        ({"text": "Referenties\nhttps://example.org/studie\n"}, 400, 'set "lines": true'),
        ({}, 422, "text: Field required"),
        ({"tekst": "Kurkuma."}, 422, "tekst: unknown field"),
        ({"text": 5}, 422, "text: Input should be a valid string"),
        ({"text": "Kurkuma.", "lines": "misschien"}, 422, "lines:"),
        ({"text": "Kurkuma.", "lines": "no"}, 422, "lines:"),  # strict: "no" must not read as false
        ({"text": "Kurkuma.", "explain": 1}, 422, "explain:"),
        (["Kurkuma."], 422, "JSON object"),
    ],
)
def test_bad_requests(served, payload, status, fragment):
    assert_error(served.post("/api/score", json=payload), status, fragment)


def test_bad_batches(served):
    assert_error(served.post("/api/score-batch", json={"texts": []}), 422, "texts:")
    assert_error(served.post("/api/score-batch", json={"texts": ["Goed.", ""]}), 400, "texts[1]: the text is empty")
    assert_error(served.post("/api/score-batch", json={"text": "Goed."}), 422, 'send {"texts"')


def test_not_json(served):
    assert_error(served.post("/api/score", content="tekst=Kurkuma", headers={"content-type": "text/plain"}),
                 415, "content-type: application/json")
    assert_error(served.post("/api/score", content=b'{"text": "x"}', headers={"content-type": ""}), 415, "JSON")
    assert_error(served.post("/api/score", content=b'{"text": ', headers={"content-type": "application/json"}),
                 400, "not valid JSON")
    # issue 23: the README's 400s, each with its own line
    assert_error(served.post("/api/score", content=b"", headers={"content-type": "application/json"}),
                 400, "the body is empty")
    assert_error(served.post("/api/score", content='{"text": "Caf\xe9 geneest."}'.encode("latin-1"),
                             headers={"content-type": "application/json"}), 400, "not valid UTF-8 (byte 13)")


def test_cli_choice_errors_are_one_plain_line():
    from typer.testing import CliRunner

    from nuchter.cli.main import app

    result = CliRunner().invoke(app, ["score", "--format", "xml", "Kurkuma geneest."])
    assert result.exit_code == 2
    assert "Invalid value for '--format': 'xml' is not one of" in result.output and "Value error" not in result.output


def test_body_over_the_limit(served):
    big = {"text": "Kurkuma geneest alles. " * 400}
    assert_error(served.post("/api/score", json=big), 413, "4,096 bytes")

    def chunks():  # no content-length: the limit holds while the body streams in
        for _ in range(10):
            yield b" " * 1000

    assert_error(served.post("/api/score", content=chunks(), headers={"content-type": "application/json"}),
                 413, "--max-bytes")


def test_unknown_paths_and_methods_answer_json(served):
    assert_error(served.get("/api/nope"), 404, "no such page")
    assert_error(served.get("/api/score"), 405, "GET is not allowed")


def test_a_failing_model_is_a_500_without_a_traceback():
    class Broken:
        name, labels = "kapot", LABELS

        def predict(self, texts, **_):
            raise RuntimeError("tensor exploded at /secret/path")

    with TestClient(create_app(Broken()), raise_server_exceptions=False) as client:
        response = client.post("/api/score", json={"text": "Kurkuma geneest alles."})
    assert_error(response, 500, "internal error (RuntimeError)")
    assert "/secret/path" not in response.text


# --- page and docs ----------------------------------------------------------------------------


def test_page_is_self_contained_and_shares_the_reports_legend(served):
    response = served.get("/")
    assert response.status_code == 200 and response.headers["content-security-policy"] == CSP
    page = response.text
    assert legend_html() in page and 'id="text"' in page and 'type="file"' in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page), "no external resources"
    assert "connect-src 'self'" in CSP and "script-src 'sha256-" in CSP


def test_page_script_never_builds_markup_from_text():
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in _JS
    assert "textContent" in _JS


def test_docs_work_offline(served):
    docs = served.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn." not in docs.text
    assert served.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    paths = served.get("/openapi.json").json()["paths"]
    assert {"/api/score", "/api/score-batch", "/api/health", "/api/model"} <= set(paths)


def test_extract_gives_the_main_text_of_a_page(served):
    html = "<html><body><nav>Home | Shop</nav><article><p>" + "Kurkuma is een wortel uit Azië. " * 12 + "</p></article></body></html>"
    response = served.post("/api/extract", json={"html": html})
    assert response.status_code == 200 and "Kurkuma is een wortel" in response.json()["text"]
    assert "Home | Shop" not in response.json()["text"]


# --- batching and the event loop ----------------------------------------------------------------


class Recording:
    """A fake model that records how many sentences each call got, and can be held mid-call."""

    name, labels = "opname", LABELS

    def __init__(self):
        self.calls: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self.first: list[str] = []

    def predict(self, texts, **_):
        if not self.entered.is_set():
            self.first = list(texts)
        self.entered.set()
        assert self.release.wait(10), "the test never released the model"
        self.calls.append(len(texts))
        return [{label: (0.7 if label == "hedged" else 0.1) for label in LABELS} for _ in texts]


def test_concurrent_requests_share_model_calls():
    """The first call is held until the other requests wait in the queue; they then share one call."""
    model = Recording()
    model.release.clear()
    app = create_app(model, config=ServeConfig(max_wait_ms=0))
    queue_size = lambda: app.state.scorer.batcher._queue.qsize()  # noqa: E731

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            requests = [asyncio.create_task(client.post("/api/score", json={"text": f"Zin {i}. Nog een zin {i}."}))
                        for i in range(8)]
            for _ in range(500):
                if model.entered.is_set() and len(model.first) // 2 + queue_size() == 8:
                    break
                await asyncio.sleep(0.01)
            model.release.set()
            return await asyncio.gather(*requests)

    answers = asyncio.run(main())
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
    assert [a.json()["sentences"][1]["text"] for a in answers] == [f"Nog een zin {i}." for i in range(8)]
    # Usually the first request's call, then one for the seven that queued behind it; when all eight
    # are segmented before the batcher first looks, they share a single call.
    assert sum(model.calls) == 16 and len(model.calls) in (1, 2), model.calls


def test_the_model_never_blocks_the_event_loop():
    model = Recording()
    model.release.clear()
    app = create_app(model)

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            scoring = asyncio.create_task(client.post("/api/score", json={"text": "Kurkuma geneest alles."}))
            while not model.entered.is_set():
                await asyncio.sleep(0.01)
            health = await asyncio.wait_for(client.get("/api/health"), 5)  # answers while the model is busy
            assert not scoring.done()
            model.release.set()
            return health, await scoring

    health, scored = asyncio.run(main())
    assert health.json()["status"] == "ok" and scored.json()["sentences"][0]["label"] == "hedged"


def test_batcher_splits_results_and_reports_failures_to_every_waiter():
    seen = []

    def predict(texts):
        seen.append(list(texts))
        if "boem" in texts:
            raise ValueError("boem")
        return [{"n": float(len(t))} for t in texts]

    async def main():
        batcher = MicroBatcher(predict, max_wait=0.05)
        first = await asyncio.gather(batcher.predict(["a", "bb"]), batcher.predict(["ccc"]), batcher.predict([]))
        failed = await asyncio.gather(batcher.predict(["x"]), batcher.predict(["boem"]), return_exceptions=True)
        await batcher.close()
        return first, failed

    first, failed = asyncio.run(main())
    assert first == [[{"n": 1.0}, {"n": 2.0}], [{"n": 3.0}], []]
    assert seen[0] == ["a", "bb", "ccc"]
    assert all(isinstance(f, ValueError) for f in failed)


def test_serve_refuses_a_taken_port(builtin):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        result = runner.invoke(cli_app, ["serve", "--port", str(taken.getsockname()[1]), "--model", str(builtin)])
    finally:
        taken.close()
    assert result.exit_code == 1 and "cannot listen on 127.0.0.1" in result.stderr and "--port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_explain_gives_the_cli_evidence(served, builtin):
    response = served.post("/api/score", json={"text": PARAGRAPH, "explain": True})
    assert response.status_code == 200
    assert response.text == cli_json(builtin, "--explain", PARAGRAPH)
    sentences = response.json()["sentences"]
    assert any(s["evidence"] for s in sentences)
    for s in sentences:
        for e in s["evidence"]:
            assert PARAGRAPH[e["start"] : e["end"]] == e["text"]
    assert "evidence" not in served.post("/api/score", json={"text": PARAGRAPH}).json()["sentences"][0]
    batch = served.post("/api/score-batch", json={"texts": [PARAGRAPH, "Bestel nu!"], "explain": True}).json()
    assert all("evidence" in s for answer in batch for s in answer["sentences"])


def test_serve_settings_reach_workers_whole():
    """`--workers N` passes the settings through the environment as JSON; the scoring part survives it."""
    import json
    from dataclasses import asdict

    from nuchter.config import ScoreConfig

    config = ServeConfig(score=ScoreConfig(model="builtin", batch_size=7, max_length=64, threads=1, int8=False),
                         port=0, workers=2, max_wait_ms=1.5)
    assert ServeConfig.from_dict(json.loads(json.dumps(asdict(config)))) == config
