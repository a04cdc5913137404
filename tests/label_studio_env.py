"""Find the Label Studio venv (tests/setup_label_studio.sh) and run tests/label_studio_driver.py in it.

Standard library only: Label Studio is never imported into nuchter's interpreter, it runs in its
own venv, at $NUCHTER_LABEL_STUDIO_VENV or ~/.cache/nuchter/label-studio-venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ENV_VAR = "NUCHTER_LABEL_STUDIO_VENV"
DRIVER = Path(__file__).resolve().with_name("label_studio_driver.py")
SETUP = Path(__file__).resolve().with_name("setup_label_studio.sh")


def venv_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "nuchter" / "label-studio-venv")


def venv_python() -> Path | None:
    """The Label Studio venv's python, if it exists and has label_studio_sdk installed."""
    venv = venv_dir()
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    sdk = [*venv.glob("lib/python*/site-packages/label_studio_sdk"), *venv.glob("Lib/site-packages/label_studio_sdk")]
    return python if python.exists() and any(p.is_dir() for p in sdk) else None


def template_data() -> Path | None:
    """The migrated template data dir that setup_label_studio.sh leaves in the venv, if there is one."""
    template = venv_dir() / "template-data"
    return template if (template / "label_studio.sqlite3").is_file() and (template / ".env").is_file() else None


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


def run_driver(config_xml: Path, tasks_json: Path, export_json: Path, report_json: Path, workdir: Path,
               timeout: float = 600, extra: tuple[str, ...] = ()) -> dict:
    """Run the driver (import, annotate every task with another label, export) and return its report.

    The template data dir, when there is one, is copied into workdir first, so Label Studio starts
    without migrating. Raises AssertionError with the driver's stderr and the server log's tail on
    failure or timeout.
    """
    python = venv_python()
    assert python is not None, f"no Label Studio venv at {venv_dir()} (make one with {SETUP})"
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, log = workdir / "label-studio-data", workdir / "label-studio.log"
    if (template := template_data()) is not None and not data_dir.exists():
        shutil.copytree(template, data_dir)
    command = [
        str(python), str(DRIVER), "--config", str(config_xml), "--tasks", str(tasks_json),
        "--export", str(export_json), "--report", str(report_json), "--annotate-different",
        "--data-dir", str(data_dir), "--log", str(log), *extra,
    ]
    driver = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = driver.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        driver.terminate()  # the driver stops Label Studio on SIGTERM
        try:
            stdout, stderr = driver.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            driver.kill()
            stdout, stderr = driver.communicate()
        raise AssertionError(f"label_studio_driver ran past {timeout}s\n{stderr[-2000:]}\n--- server log ---\n{tail(log)}") from None
    if driver.returncode != 0:
        raise AssertionError(
            f"label_studio_driver failed (status {driver.returncode}):\n{stderr[-2000:]}\n--- server log ---\n{tail(log)}"
        )
    return json.loads(Path(report_json).read_text(encoding="utf-8"))
