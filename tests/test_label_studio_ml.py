"""`nuchter serve --label-studio` against the real Label Studio that tests/setup_label_studio.sh installs:
create a project, connect the backend through Label Studio's API, import tasks, let Label Studio ask for
predictions, check it stored nuchter's, then press "start training" and watch the run finish."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from nuchter.classify import load_classifier
from nuchter.labels import DESCRIPTIONS
from nuchter.select import label_config
from nuchter.web.label_studio import KEY_ENV, URL_ENV, predict_tasks
from tests.conftest import ROOT
from tests.label_studio_driver import TOKEN, free_port
from tests.label_studio_env import SETUP, run_driver, venv_python

SENTENCES = [
    ("Kurkuma geneest alle ontstekingen in je lichaam.", "Een blog over kruiden.\nBestel vandaag."),
    ("Een kleine studie vond mogelijk een effect op gewrichtspijn.", ""),
    ("Bestel vandaag nog met twintig procent korting!", "Kurkuma helpt.\n"),
    ("Magnesium draagt bij aan de normale werking van de spieren.", ""),
    ("Raadpleeg bij twijfel altijd je huisarts.", "Dit is geen medisch advies."),
]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def test_label_studio_stores_nuchters_predictions_and_starts_training(tiny_model, tmp_path):
    if venv_python() is None:
        if os.environ.get("NUCHTER_REQUIRE_LABEL_STUDIO"):
            pytest.fail(f"NUCHTER_REQUIRE_LABEL_STUDIO is set but there is no Label Studio venv: run {SETUP}")
        pytest.skip(f"no Label Studio venv (make one with {SETUP})")
    from tests.test_training import TINY

    config = label_config(DESCRIPTIONS)
    tasks = [{"data": {"text": text, "context": context, "doc_id": f"ls-{i}"}} for i, (text, context) in enumerate(SENTENCES)]
    (tmp_path / "config.xml").write_text(config, encoding="utf-8")
    (tmp_path / "tasks.json").write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    train_config = tmp_path / "tiny.json"
    train_config.write_text(json.dumps({**TINY, "max_steps": 4}))
    corpus = ROOT / "data" / "original" / "oa_sauna.jsonl"

    studio_port = free_port()
    env = {**os.environ, "NUCHTER_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1",
           URL_ENV: f"http://127.0.0.1:{studio_port}", KEY_ENV: TOKEN, "NO_PROXY": "127.0.0.1,localhost"}
    backend = subprocess.Popen(
        [sys.executable, "-m", "nuchter", "serve", "--label-studio", "--port", "0", "--model", str(tiny_model),
         "--train-data", str(corpus), "--train-config", str(train_config)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        lines = []
        for _ in range(10):
            lines.append(backend.stderr.readline())
            if match := re.search(r"open (http://127\.0\.0\.1:\d+)/", lines[-1]):
                break
        assert match, lines
        url = match.group(1)
        report = run_driver(tmp_path / "config.xml", tmp_path / "tasks.json", tmp_path / "export.json",
                            tmp_path / "report.json", tmp_path / "ls",
                            extra=("--ml-backend", url, "--train", "--port", str(studio_port)))

        expected = predict_tasks(tasks, config, load_classifier(str(tiny_model)))
        stored = report["predictions"]
        for task, want in zip(tasks, expected):
            got = stored[task["data"]["text"]]
            assert got["label"] == want["result"][0]["value"]["choices"][0], (task, got, want)
            assert got["model_version"] == want["model_version"] and got["score"] == pytest.approx(want["score"], abs=1e-4)
        assert report["train"] == "sent", report

        deadline = time.monotonic() + 300
        while (state := get_json(f"{url}/train-status"))["state"] in ("exporting", "training"):
            assert time.monotonic() < deadline, state
            time.sleep(1)
        assert state["state"] == "finished", state
        assert state["annotations"] == len(tasks)
        exported = json.loads(open(state["data"], encoding="utf-8").read())
        assert sorted(r["data"]["text"] for r in exported) == sorted(t["data"]["text"] for t in tasks)
    finally:
        os.killpg(backend.pid, signal.SIGTERM)
        try:
            backend.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(backend.pid, signal.SIGKILL)
            backend.wait(10)
