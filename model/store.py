"""Where installed models live and which one is active.

The store is a per-user data directory (``NUCHTER_HOME`` overrides it) with
``models/<name>/`` folders and a file ``active`` naming the active one. The
built-in model ships inside the package and is active until another is.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nuchter.errors import ModelError

HOME_ENV = "NUCHTER_HOME"
BUILTIN = "builtin"
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
BUILTIN_FAST = "builtin-fast"
BUILTIN_FAST_DIR = Path(__file__).resolve().parent / "builtin_fast"
"""The linear n-gram model: about 10x faster than the built-in encoder, and less accurate."""
BUILTINS = (BUILTIN, BUILTIN_FAST)


def user_dir(kind: str) -> Path:
    """The platform's per-user folder for nuchter's ``data`` (models) or ``cache`` (exports)."""
    home_dir = Path.home()
    if sys.platform == "win32":
        variable, default = ("APPDATA", home_dir / "AppData" / "Roaming") if kind == "data" else (
            "LOCALAPPDATA", home_dir / "AppData" / "Local")
        base = Path(os.environ.get(variable, default))
    elif sys.platform == "darwin":
        base = home_dir / "Library" / ("Application Support" if kind == "data" else "Caches")
    else:
        variable, default = ("XDG_DATA_HOME", home_dir / ".local" / "share") if kind == "data" else (
            "XDG_CACHE_HOME", home_dir / ".cache")
        base = Path(os.environ.get(variable, default))
    return base / "nuchter"


def builtin_source_dir() -> Path:
    """Where a build of the built-in model leaves its trimmed PyTorch copy (too big for the package): the
    benchmarks compare against it and a warm start from the built-in model loads it."""
    return user_dir("cache") / "builtin-source"


def home() -> Path:
    if override := os.environ.get(HOME_ENV):
        return Path(override).expanduser()
    return user_dir("data")


def models_dir() -> Path:
    return home() / "models"


def builtin_available() -> bool:
    return (BUILTIN_DIR / "config.json").is_file()


def builtin_fast_available() -> bool:
    return (BUILTIN_FAST_DIR / "config.json").is_file()


def path_of(name: str) -> Path:
    return BUILTIN_DIR if name == BUILTIN else BUILTIN_FAST_DIR if name == BUILTIN_FAST else models_dir() / name


def active_name() -> str | None:
    try:
        name = (home() / "active").read_text(encoding="utf-8").strip()
    except OSError:
        name = ""
    if name == BUILTIN_FAST and builtin_fast_available():
        return name
    if name and (name == BUILTIN or (models_dir() / name).is_dir()):
        return name if name != BUILTIN or builtin_available() else None
    return BUILTIN if builtin_available() else None


def active_model() -> Path | None:
    name = active_name()
    return path_of(name) if name else None


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old or the new content, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_folder(staged: Path, target: Path) -> None:
    """Put ``staged`` at ``target``, keeping the old folder if anything fails.

    A ``staged`` folder elsewhere is copied beside ``target`` first, so the swap itself is two
    renames, and ``target`` is missing only between them.
    """
    staged, target = Path(staged), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".incoming")
    previous = target.with_name(target.name + ".old")
    if previous.exists() and not target.exists():
        os.replace(previous, target)  # an earlier swap was cut off between its renames
    for leftover in (incoming, previous):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        if staged.parent.resolve() != target.parent.resolve():
            shutil.copytree(staged, incoming)
            staged = incoming
        if target.exists():
            os.replace(target, previous)
        try:
            os.replace(staged, target)
        except BaseException:
            if previous.exists():
                os.replace(previous, target)
            raise
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    shutil.rmtree(previous, ignore_errors=True)


def use(name: str) -> Path:
    if name == BUILTIN_FAST:
        if not builtin_fast_available():
            raise ModelError("this installation has no fast built-in model")
        write_atomically(home() / "active", name + "\n")
        return path_of(name)
    if name != BUILTIN and not (models_dir() / name).is_dir():
        known = ", ".join(m.name for m in list_models()) or "none"
        raise ModelError(f"no installed model named {name!r} (installed: {known})")
    if name == BUILTIN and not builtin_available():
        raise ModelError("this installation has no built-in model")
    write_atomically(home() / "active", name + "\n")
    return path_of(name)


def removable(name: str) -> Path:
    """The folder of an installed model that may be deleted: not a built-in one, not the active one."""
    if name in BUILTINS:
        raise ModelError(f"{name} is part of the installation and cannot be removed")
    path = models_dir() / name
    if not name or Path(name).name != name or name.startswith(".") or name.endswith(".partial") or not path.is_dir():
        known = ", ".join(m.name for m in list_models() if m.name not in BUILTINS) or "none"
        raise ModelError(f"no installed model named {name!r} (removable: {known})")
    if active_name() == name:
        raise ModelError(f"{name} is the active model; switch first, e.g. `nuchter models use {BUILTIN}`")
    return path


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def remove(name: str) -> None:
    path = removable(name)
    doomed = path.with_name(f".{name}.removing")  # hidden at once, so no reader sees half a model
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def new_name() -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name, n = stamp, 1
    while (models_dir() / name).exists() or (models_dir() / f"{name}.partial").exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    active: bool
    metrics: dict

    @property
    def test_macro_f1(self) -> float | None:
        return (self.metrics.get("test") or {}).get("macro_f1")


def read_metrics(path: Path) -> dict:
    try:
        return json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def list_models() -> list[InstalledModel]:
    active = active_name()
    found = []
    if builtin_available():
        found.append(InstalledModel(BUILTIN, BUILTIN_DIR, active == BUILTIN, read_metrics(BUILTIN_DIR)))
    if builtin_fast_available():
        found.append(InstalledModel(BUILTIN_FAST, BUILTIN_FAST_DIR, active == BUILTIN_FAST, read_metrics(BUILTIN_FAST_DIR)))
    if models_dir().is_dir():
        for path in sorted(models_dir().iterdir()):
            if path.is_dir() and not path.name.endswith(".partial") and not path.name.startswith("."):
                found.append(InstalledModel(path.name, path, active == path.name, read_metrics(path)))
    return found
