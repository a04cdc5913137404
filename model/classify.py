"""Pick the backend that serves a model: linear, ONNX Runtime or PyTorch.

Labels come from the model's ``config.json`` (``id2label``), never from code.
The backends import only ``nuchter.backends.modeldir``; this module imports them.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from nuchter import store
from nuchter.errors import ModelError
from nuchter.inputs import InputSpec
from nuchter.backends.modeldir import check_model_dir, check_tokenizer, label_order, prebuilt_onnx
from nuchter.backends.pytorch import Classifier, load_transformers

__all__ = ["BACKENDS", "Classifier", "load_classifier", "looks_local", "resolve_model"]


HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?")
"""A well-formed model hub id: ``name`` or ``owner/name``."""
HUB_TIMEOUT_S = 3.0


def resolve_model(name: str | None) -> str:
    """The model a job should load: a built-in name, a folder, a name in the model store (what
    `nuchter models` lists), else a hub id; None means the active model. A name that is none of
    these, or looks like a mistyped store name, fails at once."""
    if name:
        if name in store.BUILTINS:
            return str(store.path_of(name))
        if looks_local(name):
            return name
        stored = store.models_dir() / name
        if "/" not in name and stored.is_dir():
            return str(stored)
        installed = sorted(m.name for m in store.list_models() if m.name not in store.BUILTINS)
        close = difflib.get_close_matches(name, installed + list(store.BUILTINS), n=1, cutoff=0.75)
        if not HUB_ID.fullmatch(name) or ("/" not in name and close):
            hint = f"; did you mean {close[0]}?" if close else (
                f"; installed: {', '.join(installed)}" if installed else "")
            raise ModelError(
                f"no model {name!r}: not a folder, not a built-in model ({', '.join(store.BUILTINS)}), not in the "
                f"model store ({store.models_dir()}) and not a hub id{hint}"
            )
        return name
    active = store.active_model()
    if active is None:
        raise ModelError(
            "no active model yet: pass --model DIR (a fine-tuned nuchter classifier), "
            "or train one with `nuchter train --data data/`"
        )
    return str(active)


def looks_local(name: str) -> bool:
    """Paths are local; only a bare ``owner/name`` or ``name`` may be a hub id."""
    return (
        Path(name).expanduser().exists()
        or name.startswith((".", "/", "~"))
        or name.count("/") > 1
        or "\\" in name
    )


BACKENDS = ("auto", "onnx", "torch")


def _hub_offline(model_id: str) -> bool:
    """Whether a hub id must load from the local Hugging Face cache: without network transformers
    retries for about a minute; here an unreachable hub is noticed in seconds, and a model not in
    the cache fails at once with what to do."""
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if not offline:
        try:
            socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443),
                                     timeout=HUB_TIMEOUT_S).close()
            return False
        except OSError:
            pass
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:
        cached = False
    if not cached:
        where = "the model hub is switched off (HF_HUB_OFFLINE)" if offline else f"cannot reach the model hub ({endpoint.geturl()})"
        raise ModelError(
            f"{where} for {model_id!r} and it is not in the local Hugging Face cache; "
            "pass a model folder, a name from `nuchter models`, or builtin"
        )
    return True


def load_classifier(
    name: str | None = None, *, threads: int | None = None, backend: str = "auto", int8: bool = True, warn=None
) -> Classifier:
    """Load a classifier: a directory, a hub id, a built-in name (``builtin``,
    ``builtin-fast``), or None for the active model.

    Linear n-gram models load as they are. Transformer directories are served
    by ONNX Runtime (exported on first use and cached; int8 unless ``int8`` is
    False) with ``backend="auto"`` or ``"onnx"``; ``"auto"`` falls back to
    PyTorch when the export fails, and hub ids always use PyTorch.
    """
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    name = resolve_model(name)
    local = looks_local(name)
    if local:
        path = Path(name).expanduser()
        check_model_dir(path)
        from nuchter.backends.linear import is_linear_model, load_linear_classifier

        if is_linear_model(path):
            return load_linear_classifier(path, name)
        if prebuilt_onnx(path) is not None:
            if backend == "torch":
                raise ModelError(f"{name} ships as an ONNX graph only; use --backend onnx or auto")
            from nuchter.backends.onnx import load_onnx_classifier

            classifier = load_onnx_classifier(path, threads=threads, quantized=int8)
            classifier.name = name
            return classifier
        check_tokenizer(path)
        if backend != "torch":
            try:
                from nuchter.backends.onnx import load_onnx_classifier

                classifier = load_onnx_classifier(path, threads=threads, quantized=int8)
                classifier.name = name
                return classifier
            except (ModelError, ImportError) as exc:
                if backend == "onnx":
                    raise ModelError(f"ONNX serving failed: {exc}") from None
                if warn is not None:
                    warn(f"ONNX serving unavailable ({exc}); using PyTorch")
        source = str(path)
    else:
        if backend == "onnx":
            raise ModelError(f"ONNX serving needs a local model directory, not the hub id {name}")
        source = name
        local = _hub_offline(name)
    tokenizer, network = load_transformers(source, local=local, threads=threads)
    network.eval()
    labels = label_order(network.config.id2label)
    inputs = InputSpec.from_config(network.config.to_dict())
    if inputs.reads_vectors:
        if not local:
            raise ModelError(f"{name} reads page context as vectors; download it and pass its folder")
        from nuchter.backends.vector_heads import with_heads

        network = with_heads(network, Path(source), page=inputs.reads_page)
    return Classifier(name, tokenizer, network, labels, inputs)
