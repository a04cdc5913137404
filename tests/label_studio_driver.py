"""Drive a headless Label Studio through one annotation round trip, for the export tests.

Run it with the Python of the Label Studio venv (tests/setup_label_studio.sh makes one), never
nuchter's: label-studio pins older numpy, pyarrow and pytz. Only the standard library and
label_studio_sdk are imported here.

    python tests/label_studio_driver.py --config CONFIG.xml --tasks TASKS.json --export OUT.json \
        --annotate-different --report REPORT.json [--data-dir DIR]
    python tests/label_studio_driver.py --migrate-only DIR
    python tests/label_studio_driver.py --config CONFIG.xml --tasks TASKS.json --export OUT.json \
        --report REPORT.json --ml-backend URL [--port PORT] [--annotate-different] [--train]

The first form starts Label Studio on a free loopback port, creates a project from CONFIG.xml,
imports the tasks (with their predictions), checks the predictions came through, optionally
annotates every task with a label other than the predicted one, writes the standard JSON export
of all tasks to OUT.json and a summary to REPORT.json. The second only applies the migrations
to DIR (a template data dir to copy, which starts in seconds instead of a minute). The server
is stopped on every exit; any failure is one line on stderr and a non-zero exit status.

With --ml-backend the tasks are imported without predictions, the ML backend at URL is connected to
the project through Label Studio's API, Label Studio is asked to retrieve predictions for every task
(the Data Manager's action), and what it stored is reported; with --train, Label Studio's "start
training" is sent to the backend once the tasks are annotated.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

USER = "nuchter-test@example.com"
PASSWORD = "nuchter-test-password"
TOKEN = "nuchter-test-token-0123456789abcdef"  # legacy API token; Label Studio wants > 5 chars
LOOPBACK = "127.0.0.1,localhost"


class Failure(Exception):
    """A failure worth one line on stderr."""


class Terminated(Failure):
    """SIGTERM or SIGHUP arrived; raised so the server is still stopped."""


def on_signal(signum, frame):
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: Path) -> dict:
    """The environment for `label-studio start`: SQLite in data_dir, a fixed user and token, no outbound calls."""
    env = dict(os.environ)
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "DJANGO_DB": "sqlite",
            "LABEL_STUDIO_USERNAME": USER,
            "LABEL_STUDIO_PASSWORD": PASSWORD,
            "LABEL_STUDIO_USER_TOKEN": TOKEN,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
            "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "LABEL_STUDIO_FEATURE_FLAGS_OFFLINE": "true",
            "PYTHONUNBUFFERED": "1",
            # the ML backend under test listens on 127.0.0.1, which Label Studio refuses (as an SSRF guard) unless told
            "ML_BLOCK_LOCAL_IP": "false",
            "SSRF_PROTECTION_ENABLED": "false",
            "NO_PROXY": LOOPBACK,
            "no_proxy": LOOPBACK,
        }
    )
    return env


def die_with_parent():
    """In the server's child process (Linux): get SIGTERM if this driver dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """A `label-studio start` in its own process group, logging to a file."""

    def __init__(self, data_dir: Path, log_path: Path):
        self.data_dir, self.log_path = data_dir, log_path
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float, port: int | None = None) -> float:
        """Start and wait for /health; returns the seconds it took."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [
            str(Path(sys.executable).parent / "label-studio"), "start",
            "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(self.data_dir), "--enable-legacy-api-token", "--log-level", "WARNING",
        ]
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, env=server_env(self.data_dir), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
            )
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"label-studio exited with status {self.proc.returncode} before it was healthy (log: {self.log_path})")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() - t0 > timeout:
                raise Failure(f"label-studio not healthy on {self.url} after {timeout:.0f}s (log: {self.log_path})")
            time.sleep(0.5)

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM the process group (SIGKILL if it lingers); returns the seconds it took."""
        t0 = time.monotonic()
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        return time.monotonic() - t0


def read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Failure(f"cannot read {what} {path}: {e}") from None


def write_atomically(path: Path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def as_dict(obj) -> dict:
    if isinstance(obj, dict):
        return obj
    return obj.model_dump() if hasattr(obj, "model_dump") else obj.dict()


def predicted(task: dict) -> tuple[str | None, str | None, dict]:
    """(label, model_version, result item) of a task's first prediction; Nones if it has none."""
    for prediction in task.get("predictions") or []:
        prediction = as_dict(prediction)
        for item in prediction.get("result") or []:
            choices = (item.get("value") or {}).get("choices") or []
            if choices:
                return choices[0], prediction.get("model_version"), item
    return None, None, {}


def choices_of(config: str) -> tuple[str, ...]:
    """The labels the config offers, in its order (nuchter's four, from `nuchter select --label-config`)."""
    import xml.etree.ElementTree as ET

    try:
        labels = tuple(c.get("value") for c in ET.fromstring(config).iter("Choice"))
    except ET.ParseError as e:
        raise Failure(f"the label config is not XML ({e})") from None
    if len(labels) < 2:
        raise Failure("the label config offers fewer than two choices")
    return labels


def other_label(label: str | None, labels: tuple[str, ...]) -> str:
    """The next label after `label` in the config's order, wrapping; the first one if there is no prediction."""
    if label is None:
        return labels[0]
    if label not in labels:
        raise Failure(f"predicted label {label!r} is not one of {', '.join(labels)}")
    return labels[(labels.index(label) + 1) % len(labels)]


def round_trip(url: str, config: str, tasks: list, annotate: bool, timings: dict) -> tuple[bytes, dict]:
    """Project, import, read back, annotate, export; returns (raw export, report fields)."""
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    ls = LabelStudio(base_url=url, api_key=TOKEN, timeout=120)
    try:
        project = ls.projects.create(title="nuchter round trip", label_config=config)
    except ApiError as e:
        raise Failure(f"label-studio rejected the label config: {str(e.body)[:400]}") from None

    t0 = time.monotonic()
    imported = ls.projects.import_tasks(id=project.id, request=tasks, return_task_ids=True)
    ids = list(imported.task_ids or [])
    if len(ids) != len(tasks):
        raise Failure(f"imported {len(ids)} of {len(tasks)} task(s)")
    timings["import"] = round(time.monotonic() - t0, 2)

    t0 = time.monotonic()
    listed = {t.id: as_dict(t) for t in ls.tasks.list(project=project.id, fields="all")}
    report = {"imported": len(ids), "predictions_seen": 0, "annotated": {}, "predicted": {}, "tasks": []}
    for task_id, sent in zip(ids, tasks):
        back = listed.get(task_id)
        if back is None or back["data"].get("text") != sent["data"].get("text"):
            raise Failure(f"task {task_id} did not come back as imported")
        label, version, _ = predicted(sent)
        got_label, got_version, _ = predicted(back)
        seen = label is not None and (got_label, got_version) == (label, version)
        report["predictions_seen"] += seen
        report["predicted"][sent["data"]["text"]] = label
        row = {"id": task_id, "text": sent["data"]["text"], "predicted": label, "prediction_seen": seen}
        if annotate:
            chosen = other_label(label, choices_of(config))
            _, _, item = predicted(sent)
            ls.annotations.create(
                id=task_id,
                result=[{
                    "from_name": item.get("from_name", "label"), "to_name": item.get("to_name", "text"),
                    "type": "choices", "value": {"choices": [chosen]},
                }],
                ground_truth=False,
            )
            report["annotated"][sent["data"]["text"]] = row["annotated"] = chosen
        report["tasks"].append(row)
    timings["read_back_and_annotate"] = round(time.monotonic() - t0, 2)

    t0 = time.monotonic()
    raw = b"".join(ls.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True))
    try:
        exported = json.loads(raw)
    except ValueError:
        raise Failure(f"the export is not JSON: {raw[:200]!r}") from None
    if not isinstance(exported, list) or len(exported) != len(ids):
        raise Failure(f"the export holds {len(exported) if isinstance(exported, list) else '?'} task(s), not {len(ids)}")
    timings["export"] = round(time.monotonic() - t0, 2)
    return raw, report


def ml_round_trip(url: str, config: str, tasks: list, backend: str, annotate: bool, train: bool,
                  timings: dict) -> tuple[bytes, dict]:
    """Project, import without predictions, connect the ML backend, retrieve its predictions, read them
    back, optionally annotate and start training; returns (raw export, report fields)."""
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    ls = LabelStudio(base_url=url, api_key=TOKEN, timeout=120)
    project = ls.projects.create(title="nuchter ML backend", label_config=config)
    bare = [{k: v for k, v in t.items() if k != "predictions"} for t in tasks]
    t0 = time.monotonic()
    ids = list(ls.projects.import_tasks(id=project.id, request=bare, return_task_ids=True).task_ids or [])
    if len(ids) != len(tasks):
        raise Failure(f"imported {len(ids)} of {len(tasks)} task(s)")
    try:
        ml = ls.ml.create(project=project.id, url=backend, title="nuchter", is_interactive=False)
    except ApiError as e:
        raise Failure(f"label-studio refused the ML backend at {backend}: {str(e.body)[:400]}") from None
    timings["connect"] = round(time.monotonic() - t0, 2)
    t0 = time.monotonic()
    ls.actions.create(id="retrieve_tasks_predictions", project=project.id,
                      selected_items={"all": True, "excluded": []})
    timings["predict"] = round(time.monotonic() - t0, 2)
    listed = {t.id: as_dict(t) for t in ls.tasks.list(project=project.id, fields="all")}
    report = {"imported": len(ids), "ml_backend": as_dict(ls.ml.get(id=ml.id)).get("state"), "predictions": {},
              "annotated": {}}
    for task_id, sent in zip(ids, tasks):
        back = listed.get(task_id) or {}
        label, version, _ = predicted(back)
        scores = [as_dict(p).get("score") for p in back.get("predictions") or []]
        report["predictions"][sent["data"]["text"]] = {"label": label, "model_version": version,
                                                       "score": scores[0] if scores else None}
        if annotate:
            chosen = other_label(label, choices_of(config))
            ls.annotations.create(id=task_id, result=[{"from_name": "label", "to_name": "text", "type": "choices",
                                                       "value": {"choices": [chosen]}}], ground_truth=False)
            report["annotated"][sent["data"]["text"]] = chosen
    if train:
        t0 = time.monotonic()
        try:
            ls.ml.train(id=ml.id)
            report["train"] = "sent"
        except ApiError as e:
            report["train"] = f"refused: {str(e.body)[:400]}"
        report["ml_backend_after_train"] = as_dict(ls.ml.get(id=ml.id)).get("state")
        timings["train_request"] = round(time.monotonic() - t0, 2)
    raw = b"".join(ls.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True))
    return raw, report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="Label Studio labeling config (XML)")
    parser.add_argument("--tasks", type=Path, help="Label Studio tasks to import (a JSON list)")
    parser.add_argument("--export", type=Path, help="where the raw JSON export goes")
    parser.add_argument("--report", type=Path, help="where the summary (JSON) goes")
    parser.add_argument("--annotate-different", action="store_true",
                        help="annotate every task with the label after its predicted one")
    parser.add_argument("--data-dir", type=Path, help="Label Studio data dir (default: a temporary one)")
    parser.add_argument("--migrate-only", type=Path, metavar="DIR",
                        help="only start Label Studio on data dir DIR (applying migrations) and stop it")
    parser.add_argument("--log", type=Path, help="server log file (default: one in a temporary dir, kept on failure)")
    parser.add_argument("--startup-timeout", type=float, default=420.0, help="seconds to wait for /health")
    parser.add_argument("--ml-backend", metavar="URL", help="connect this ML backend and let Label Studio ask it for predictions")
    parser.add_argument("--train", action="store_true", help="with --ml-backend: send Label Studio's start training")
    parser.add_argument("--port", type=int, help="Label Studio's port (default: a free one)")
    args = parser.parse_args(argv)
    if args.migrate_only is None:
        missing = [f"--{name}" for name in ("config", "tasks", "export", "report") if getattr(args, name) is None]
        if missing:
            parser.error(f"{', '.join(missing)} needed unless --migrate-only")
    return args


def run(args: argparse.Namespace) -> int:
    t_all = time.monotonic()
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = LOOPBACK  # the SDK's httpx reads these too
    if args.migrate_only is None:
        if not args.config.is_file():
            raise Failure(f"no config file {args.config}")
        config = args.config.read_text(encoding="utf-8")
        tasks = read_json(args.tasks, "tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in tasks):
            raise Failure(f"{args.tasks} is not a JSON list of tasks with `data`")
    scratch = Path(tempfile.mkdtemp(prefix="nuchter-ls-"))  # kept on failure, for its server log
    data_dir = (args.migrate_only or args.data_dir or scratch / "data").resolve()
    log_path = args.log or scratch / "label-studio.log"
    server = Server(data_dir, log_path)
    timings: dict = {}
    try:
        timings["startup"] = round(server.start(args.startup_timeout, args.port), 2)
        if args.migrate_only is None and args.ml_backend:
            raw, report = ml_round_trip(server.url, config, tasks, args.ml_backend, args.annotate_different,
                                        args.train, timings)
        elif args.migrate_only is None:
            raw, report = round_trip(server.url, config, tasks, args.annotate_different, timings)
    finally:
        timings["stop"] = round(server.stop(), 2)
    if args.migrate_only is not None:
        if not (data_dir / "label_studio.sqlite3").is_file() or not (data_dir / ".env").is_file():
            raise Failure(f"{data_dir} lacks label_studio.sqlite3 or .env after a start")
        print(f"migrated {data_dir} in {timings['startup']:.1f}s", file=sys.stderr)
    else:
        write_atomically(args.export, raw)
        timings["total"] = round(time.monotonic() - t_all, 2)
        report["label_studio_version"] = importlib.metadata.version("label-studio")
        report["label_studio_sdk_version"] = importlib.metadata.version("label-studio-sdk")
        report["seconds"] = timings
        write_atomically(args.report, json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("label_studio_driver: interrupted", file=sys.stderr)
    except Failure as e:
        print(f"label_studio_driver: {e}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - any failure is one line, the server already stopped
        message = " ".join(f"{type(e).__name__}: {e}".split())
        print(f"label_studio_driver: {message[:600]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
