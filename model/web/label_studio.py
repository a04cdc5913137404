"""Label Studio's ML backend protocol over the served model (`nuchter serve --label-studio`).

Annotators work in Label Studio, whose way to use a model is an *ML backend*: an HTTP service it
calls for pre-annotations and asks to retrain. The routes follow HumanSignal's
label-studio-ml-backend (``label_studio_ml/api.py``):

- ``GET /health``: ``{"status": "UP", "model_class": …}``;
- ``POST /setup`` ``{"project", "schema", …}``: ``{"model_version": …}``;
- ``POST /predict`` ``{"tasks": […], "label_config": …}``: ``{"results": [one prediction per task]}``,
  each as `nuchter select` writes it (the task's sentence, its label as a choice, the model's score);
- ``POST /webhook`` ``{"action": "START_TRAINING", "project": {"id": …}}``: exports the project's
  annotations from Label Studio and runs `nuchter train` on them in the background, one run at a
  time (``POST /train``, the older form, brings the annotated tasks along); ``GET /train-status``
  says how it goes.

A task is scored as one unit with the page context it carries (``data.context``, as `nuchter select`
writes tasks), on the one scoring path (``pipeline.score_pages``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nuchter.errors import NuchterError
from nuchter.labels import LABELS
from nuchter.pipeline import PreparedPage, score_pages
from nuchter.segment import Segment

FROM_NAME, TO_NAME, TEXT_FIELD = "label", "text", "text"
"""What `nuchter select --label-config` names the choices, the sentence and its data field."""
URL_ENV, KEY_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"
"""Where the training webhook finds Label Studio and a token to export annotations (the convention of
label-studio-ml-backend); never taken from a request, so a caller cannot point the token elsewhere."""
TRAIN_EVENT = "START_TRAINING"


@dataclass(frozen=True)
class LabelStudioSettings:
    """`nuchter serve --label-studio`'s settings for the training webhook."""

    url: str | None = None
    """Label Studio's base URL [default: $LABEL_STUDIO_URL]; the API key is read from $LABEL_STUDIO_API_KEY."""
    train_data: tuple[str, ...] = ()
    """Labelled data trained on beside the project's annotations (`nuchter train --data`), e.g. data/."""
    train_config: str | None = None
    """A training settings file handed to `nuchter train --config`."""
    exports: str | None = None
    """Folder for the annotation exports and run logs [default: the nuchter data folder's label-studio/]."""


@dataclass(frozen=True)
class Names:
    """Which config tags a prediction refers to: the Choices, the Text it labels, and that Text's data field."""

    from_name: str = FROM_NAME
    to_name: str = TO_NAME
    field: str = TEXT_FIELD


def names_of(label_config: str | None) -> Names:
    """The first ``<Choices>`` of a labelling config, the ``<Text>`` it labels and that text's ``$field``;
    the names `nuchter select` uses when the config says nothing usable."""
    if not label_config:
        return Names()
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(label_config)
    except ET.ParseError:
        return Names()
    choices = next(root.iter("Choices"), None)
    if choices is None or not choices.get("name") or not choices.get("toName"):
        return Names()
    to_name = choices.get("toName")
    text = next((t for t in root.iter("Text") if t.get("name") == to_name), None)
    value = (text.get("value") or "") if text is not None else ""
    return Names(choices.get("name"), to_name, value[1:] if value.startswith("$") else TEXT_FIELD)


def model_version(classifier) -> str:
    """As `nuchter select` names the model in its tasks."""
    return f"nuchter {Path(classifier.name).name}"


def task_page(task: dict, names: Names) -> PreparedPage | None:
    """A task's text as one unit to score, with the context it carries; None when it has no text."""
    data = task.get("data") if isinstance(task, dict) else None
    text = data.get(names.field) if isinstance(data, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    from nuchter.extract import clean_text

    text = clean_text(text, "task")
    context = data.get("context")
    contexts = (context,) if isinstance(context, str) and context else None
    return PreparedPage([Segment(0, len(text), text)], contexts=contexts)


def prediction(label: str, score: float, names: Names, version: str) -> dict:
    """One Label Studio prediction: the format of `nuchter select`'s tasks."""
    return {"model_version": version, "score": round(score, 4),
            "result": [{"from_name": names.from_name, "to_name": names.to_name, "type": "choices",
                        "value": {"choices": [label]}}]}


def predict_tasks(tasks: list, label_config: str | None, classifier, *, batch_size: int = 32,
                  max_length: int | None = None) -> list[dict]:
    """One prediction per task, in order (an empty one for a task without text)."""
    names = names_of(label_config)
    version = model_version(classifier)
    pages = [task_page(task, names) for task in tasks]
    scored = iter(score_pages([p for p in pages if p is not None], classifier, batch_size=batch_size,
                              max_length=max_length))
    out = []
    for page in pages:
        if page is None:
            out.append({"model_version": version, "score": 0.0, "result": []})
            continue
        sentence = next(scored).sentences[0]
        out.append(prediction(sentence.label, sentence.confidence, names, version))
    return out


# --- training ------------------------------------------------------------------------------------


class Busy(NuchterError):
    """A training run is already going."""


@dataclass
class Trainer:
    """One `nuchter train` at a time, in a background process; its state is what /train-status shows."""

    settings: LabelStudioSettings
    state: dict = field(default_factory=lambda: {"state": "idle"})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def folder(self) -> Path:
        from nuchter import store

        return Path(self.settings.exports) if self.settings.exports else store.home() / "label-studio"

    def status(self) -> dict:
        with self.lock:
            return dict(self.state)

    def start(self, project_id: int, rows: list | None = None) -> dict:
        """Export the project's annotations (unless Label Studio sent them: ``rows``) and start training on
        them; Busy while a run is going."""
        with self.lock:
            if self.state["state"] in ("exporting", "training"):
                raise Busy(f"a training run for project {self.state.get('project')} is still going "
                           f"(since {self.state.get('started')}); one run at a time")
            self.state = {"state": "exporting", "project": project_id, "started": _now()}
        try:
            if rows is None:
                rows = export_annotations(project_id, self.settings.url)
            rows = [row for row in rows if isinstance(row, dict) and row.get("annotations")]
            if not rows:
                raise NuchterError(f"project {project_id} has no annotated tasks to train on yet")
            from nuchter.store import write_atomically

            folder = self.folder()
            stamp = time.strftime("%Y%m%d-%H%M%S")
            data = folder / f"project-{project_id}-{stamp}.json"
            write_atomically(data, json.dumps(rows, ensure_ascii=False))
        except OSError as exc:  # the run is over before it began; the next request may start one
            self._finish("failed", f"cannot write the export: {exc}")
            raise NuchterError(f"cannot write the export: {exc}") from None
        except NuchterError as error:
            self._finish("failed", str(error))
            raise
        command = [sys.executable, "-m", "nuchter", "train", "--data", str(data)]
        for extra in self.settings.train_data:
            command += ["--data", extra]
        if self.settings.train_config:
            command += ["--config", self.settings.train_config]
        log = folder / f"project-{project_id}-{stamp}.log"
        with self.lock:
            self.state.update(state="training", annotations=len(rows), data=str(data), log=str(log),
                              command=" ".join(shlex.quote(c) for c in command))
            snapshot = dict(self.state)
        threading.Thread(target=self._run, args=(command, log), daemon=True, name="nuchter-train").start()
        return snapshot

    def _run(self, command: list[str], log: Path) -> None:
        with open(log, "w", encoding="utf-8") as handle:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=handle, text=True)
        lines = [line for line in (done.stdout or "").splitlines() if line.strip()]
        if done.returncode == 0:
            self._finish("finished", lines[-1] if lines else "nuchter train finished")
        else:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            self._finish("failed", (tail[-1] if tail else f"nuchter train exited with status {done.returncode}"))

    def _finish(self, state: str, message: str) -> None:
        with self.lock:
            self.state.update(state=state, message=message, finished=_now())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def export_annotations(project_id: int, url: str | None = None) -> list:
    """The project's annotated tasks, exported through Label Studio's API as its JSON export."""
    base = (url or os.environ.get(URL_ENV) or "").rstrip("/")
    key = os.environ.get(KEY_ENV, "")
    if not base or not key:
        raise NuchterError(f"training needs Label Studio's address and a token: set {URL_ENV} (or "
                           f"--label-studio-url) and {KEY_ENV} where `nuchter serve` runs")
    scheme = "Bearer" if key.count(".") == 2 else "Token"  # a personal access token (JWT), else a legacy token
    query = urllib.parse.urlencode({"exportType": "JSON", "download_all_tasks": "false"})
    request = urllib.request.Request(f"{base}/api/projects/{int(project_id)}/export?{query}",
                                     headers={"Authorization": f"{scheme} {key}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            body = answer.read()
    except OSError as exc:
        raise NuchterError(f"cannot export project {project_id} from {base}: {exc}") from None
    try:
        rows = json.loads(body)
    except ValueError:
        raise NuchterError(f"Label Studio's export of project {project_id} is not JSON") from None
    if not isinstance(rows, list):
        raise NuchterError(f"Label Studio's export of project {project_id} is not a list of tasks")
    return [row for row in rows if isinstance(row, dict) and row.get("annotations")]


def add_routes(app, scorer, settings: LabelStudioSettings) -> None:
    """Mount the ML backend routes on the service's FastAPI app; predictions go through ``scorer``'s
    micro-batcher, as the page's and the API's do."""
    trainer = Trainer(settings)
    version = model_version(scorer.classifier)

    async def body_of(request: Request) -> dict:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise NuchterError("the body must be a JSON object")
        return body

    async def start_training(project_id: int, rows: list | None = None) -> JSONResponse:
        """201 with the run's state; 409 while another run goes; 400 when there is nothing to train on."""
        try:
            state = await run_in_threadpool(trainer.start, project_id, rows)
        except Busy as busy:
            return JSONResponse({"status": "error", "error": str(busy)}, status_code=409)
        except NuchterError as error:
            return JSONResponse({"status": "error", "error": str(error)}, status_code=400)
        return JSONResponse({"status": "ok", "job": f"project-{project_id}-{state['started']}", "result": state},
                            status_code=201)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        return {"status": "UP", "model_class": "nuchter", "model_version": version, "labels": list(LABELS)}

    @app.post("/setup", tags=["Label Studio ML backend"])
    async def setup(request: Request):
        """Label Studio connects: answers the model version its predictions will carry."""
        try:
            await body_of(request)
        except NuchterError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return {"model_version": version}

    @app.post("/predict", tags=["Label Studio ML backend"])
    async def predict(request: Request):
        """Pre-annotations for a batch of tasks: `{"results": [...]}`, one prediction per task, in order."""
        try:
            body = await body_of(request)
            tasks = body.get("tasks")
            if not isinstance(tasks, list):
                raise NuchterError('"tasks" must be a list of tasks')
            label_config = body.get("label_config")
            results = await run_in_threadpool(predict_tasks, tasks, label_config if isinstance(label_config, str) else None,
                                              scorer.batched(), batch_size=scorer.config.batch_size,
                                              max_length=scorer.config.max_length)
        except NuchterError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return {"results": results}

    @app.post("/webhook", tags=["Label Studio ML backend"])
    async def webhook(request: Request):
        """Label Studio's "start training": export the project's annotations and train on them, in the background."""
        try:
            body = await body_of(request)
        except NuchterError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        if body.get("action") != TRAIN_EVENT:
            return JSONResponse({"status": "Unknown event"}, status_code=200)
        project = body.get("project")
        project_id = project.get("id") if isinstance(project, dict) else project
        if not isinstance(project_id, int) and not (isinstance(project_id, str) and project_id.isdigit()):
            return JSONResponse({"status": "error", "error": '"project" must carry the project\'s id'}, status_code=400)
        return await start_training(int(project_id))

    @app.post("/train", tags=["Label Studio ML backend"])
    async def train(request: Request):
        """The older form of "start training" (Label Studio before the webhook): the annotated tasks come in the body."""
        try:
            body = await body_of(request)
        except NuchterError as error:
            return JSONResponse({"status": "error", "error": str(error)}, status_code=400)
        rows, project = body.get("annotations"), str(body.get("project") or "")
        project_id = project.split(".", 1)[0]
        if not isinstance(rows, list) or not project_id.isdigit():
            return JSONResponse({"status": "error", "error": '"annotations" (a list of tasks) and "project" are needed'},
                                status_code=400)
        return await start_training(int(project_id), rows)

    @app.get("/train-status", tags=["Label Studio ML backend"])
    async def train_status() -> dict:
        """The training run the webhook started: idle, exporting, training, finished or failed, with its message."""
        return trainer.status()

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> dict:
        return {}
