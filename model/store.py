"""Where installed models live and which one is active.

The store is a per-user data directory (``NUCHTER_HOME`` overrides it) with
``models/<name>/`` folders and a file ``active`` naming the active one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "NUCHTER_HOME"


def home() -> Path:
    if override := os.environ.get(HOME_ENV):
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "nuchter"


def models_dir() -> Path:
    return home() / "models"


def active_name() -> str | None:
    marker = home() / "active"
    try:
        name = marker.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name if name and (models_dir() / name).is_dir() else None


def active_model() -> Path | None:
    name = active_name()
    return models_dir() / name if name else None
