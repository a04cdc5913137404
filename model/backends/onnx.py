"""Serve a nuchter classifier with ONNX Runtime instead of PyTorch.

On these CPU-only machines an int8 ONNX model is about 3x faster than PyTorch
fp32, and the serving path starts in a fraction of a second because it never
imports torch or transformers: tokenisation uses the ``tokenizers`` library,
inference ``onnxruntime`` and the softmax numpy. torch and transformers are
needed once, to export; the export is cached beside the model (or in a
per-user cache when the model directory is read-only).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from nuchter.backends.modeldir import (WEIGHT_FILES, by_label, check_model_dir, in_length_order, label_order, prebuilt_onnx,
                              rows_in_length_order)
from nuchter.errors import ModelError
from nuchter.inputs import HEADS_FILE, InputSpec, combine, vector_plan

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
VECTOR_OUTPUTS = ("logits", "as_before", "as_after")
"""A 'vectors' model's graph: each sentence's own logits and what it adds to its neighbours'."""
PAGE_OUTPUTS = (*VECTOR_OUTPUTS, "as_page")
"""A 'page' model's graph adds what each sentence adds to every sentence of its page (averaged outside)."""


def graph_outputs(inputs: InputSpec) -> tuple[str, ...]:
    """What a graph for a model with these inputs computes (``nuchter.backends.vector_heads.Parts``)."""
    return PAGE_OUTPUTS if inputs.reads_page else VECTOR_OUTPUTS if inputs.reads_vectors else ("logits",)

EXPORT_FORMAT = "4"
"""Part of the cache key: bump it when the export changes so old caches are ignored."""

CACHE_ENV = "NUCHTER_ONNX_CACHE"


def _reason(exc: BaseException) -> str:
    """First line of an exception: error messages must stay one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """A temp path beside ``target`` that replaces it only if the block succeeds,
    so an interrupted export never leaves a half file that a later run loads."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; exports are shared like the model
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter and quantiser print progress and advice a CLI user cannot act on."""
    root = logging.getLogger()
    # logging.warning() on a handler-less root logger installs a stderr handler
    # for good; a temporary NullHandler prevents that side effect.
    guard = logging.NullHandler()
    root.addHandler(guard)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
        root.removeHandler(guard)


def export_onnx(
    model_dir: Path, out_dir: Path, *, quantize: bool = True, opset: int | None = None, keep_fp32: bool = False
) -> Path:
    """Export the classifier in ``model_dir`` to ``out_dir`` and return the file to serve.

    With ``quantize`` the full-precision graph is only the quantiser's input and is deleted after
    (``keep_fp32`` keeps it): a model folder holds one copy of each weight file, and `--no-int8`
    exports the full-precision graph when it is first asked for.

    Also writes the tokenizer exactly as transformers builds it for this model
    (transformers rebuilds the normaliser from tokenizer_config.json, so the
    model's own tokenizer.json can tokenise differently), with its padding
    settings, so serving reproduces training-time token ids without transformers.
    """
    model_dir = Path(model_dir).expanduser()
    out_dir = Path(out_dir).expanduser()
    check_model_dir(model_dir)
    if not (model_dir / TOKENIZER_FILE).is_file():
        # transformers would silently build an empty-vocabulary tokenizer instead
        raise ModelError(
            f"{model_dir} has no {TOKENIZER_FILE}: save the tokenizer beside the model "
            "with tokenizer.save_pretrained(...)"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create ONNX export folder {out_dir}: {_reason(exc)}") from None
    import inspect

    import torch

    from nuchter.backends.pytorch import load_transformers

    tokenizer, network = load_transformers(str(model_dir), local=True)
    label_order(network.config.id2label)  # refuse non-nuchter models before the slow part
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError(
            f"{model_dir} has no fast tokenizer (tokenizer.json); "
            "re-save the tokenizer with transformers to create one"
        )
    size, expected = len(tokenizer), int(network.config.vocab_size)
    if size > expected or size < expected // 2:
        raise ModelError(
            f"the tokenizer in {model_dir} has {size} tokens but the model expects {expected}: "
            "they do not belong together"
        )
    network.eval()
    heads = int(network.config.num_attention_heads)
    spec = InputSpec.from_config(network.config.to_dict())
    outputs = list(graph_outputs(spec))
    if spec.reads_vectors:
        from nuchter.backends.vector_heads import Parts, with_heads

        network = Parts(with_heads(network, model_dir, page=spec.reads_page))  # the heads run in the graph too

    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(network.forward).parameters:
        names.append("token_type_ids")
    # Two rows of eight, the second padded: sizes 0 and 1 would be specialised
    # by torch.export, and a padded row keeps the attention mask in the graph.
    example = {
        "input_ids": torch.arange(16, dtype=torch.long).reshape(2, 8) % size,
        "attention_mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3], dtype=torch.long),
        "token_type_ids": torch.zeros(2, 8, dtype=torch.long),
    }
    example = {name: example[name] for name in names}
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")

    fp32_path, int8_path = out_dir / FP32_FILE, out_dir / INT8_FILE
    try:
        import onnx

        # Tokenizer first, model files last: a fresh served file then implies a
        # complete export.
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        backend = type(backend).from_str(backend.to_str())  # a copy; leave transformers' alone
        backend.no_truncation()
        backend.enable_padding(
            direction=tokenizer.padding_side,
            pad_id=int(pad_id),
            pad_token=tokenizer.pad_token or "[PAD]",
        )
        backend.enable_truncation(
            max_length=128, direction=getattr(tokenizer, "truncation_side", "right")
        )
        with _atomic_path(out_dir / TOKENIZER_FILE) as tmp:
            backend.save(str(tmp))

        with _quiet(), torch.no_grad(), _atomic_path(fp32_path) as tmp:
            program = torch.onnx.export(
                network,
                (),
                kwargs=example,
                input_names=names,
                output_names=outputs,
                opset_version=opset,
                dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            program.save(str(tmp), external_data=False)
            onnx.checker.check_model(str(tmp))
            _fuse_checked(tmp, heads, size, names)
        if not quantize:
            return fp32_path

        from onnxruntime.quantization import QuantType, quantize_dynamic

        proto = onnx.load(str(fp32_path))
        # The exporter records shapes of weights; the quantiser transposes Gemm
        # weights without updating them and then fails shape inference.
        del proto.graph.value_info[:]
        # Per-channel scales with a reduced range: plain per-tensor int8 changed 7.7 % of the
        # built-in encoder's dev/test labels, this 3.4 % (x86 without VNNI saturates full-range int8).
        with _quiet(), _atomic_path(int8_path) as tmp:
            quantize_dynamic(proto, tmp, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                             # onnx's shape inference cannot see through the fused attention nodes
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        if not keep_fp32:
            fp32_path.unlink(missing_ok=True)
        return int8_path
    except ModelError:
        raise
    except ImportError as exc:
        missing = getattr(exc, "name", None) or _reason(exc)
        raise ModelError(
            f"cannot export {model_dir} to ONNX: missing package {missing} (pip install {missing})"
        ) from None
    except Exception as exc:
        raise ModelError(f"cannot export {model_dir} to ONNX: {_reason(exc)}") from None


def _fuse_checked(path: Path, heads: int, vocab_size: int, names: Sequence[str]) -> None:
    """Fuse the attention of the graph at ``path`` in place if the fused graph computes the same
    outputs (padded rows included); otherwise leave the graph as exported. One graph is held in
    memory at a time (an e5-small graph is 470 MB, and a session about as much again)."""
    import gc

    import onnx
    import onnxruntime as ort

    from nuchter.backends.onnx_fusion import fuse_attention

    fused, layers = fuse_attention(onnx.load(str(path)), heads)
    if not layers:
        return
    candidate = path.with_name(f".{path.name}.fused")
    onnx.save(fused, str(candidate))
    del fused
    gc.collect()
    rng = np.random.default_rng(0)
    lengths = np.array([19, 7, 12, 1])
    mask = (np.arange(19)[None, :] < lengths[:, None]).astype(np.int64)
    feed = {"input_ids": rng.integers(0, vocab_size, size=mask.shape) * mask, "attention_mask": mask,
            "token_type_ids": np.zeros_like(mask)}
    feed = {name: feed[name] for name in names}

    def outputs(graph: Path) -> list:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"]).run(None, feed)

    try:
        same = all(np.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(outputs(path), outputs(candidate)))
    except Exception:  # an ONNX Runtime without the fused kernel: keep the graph as exported
        same = False
    if same:
        os.replace(candidate, path)
    else:
        candidate.unlink(missing_ok=True)


class OnnxClassifier:
    """Drop-in for ``nuchter.classify.Classifier`` backed by an ONNX Runtime session."""

    def __init__(self, name: str, tokenizer, session, labels: Sequence[str], inputs: InputSpec | None = None):
        self.name = name
        self.tokenizer = tokenizer
        self.session = session
        self.labels = tuple(labels)
        self.inputs = inputs or InputSpec()
        self.input_names = tuple(i.name for i in session.get_inputs())
        padding = tokenizer.padding or {}
        self._pad_id = int(padding.get("pad_id", 0))
        self._pad_type_id = int(padding.get("pad_type_id", 0))
        self._pad_left = padding.get("direction", "right") == "left"
        self._truncation = dict(tokenizer.truncation or {})
        tokenizer.no_padding()  # padding happens per batch, after sorting by length

    def _tokenize(self, texts: Sequence[str], max_length: int, contexts: Sequence[str] | None = None) -> list:
        trunc = self._truncation
        self.tokenizer.enable_truncation(
            max_length,
            stride=int(trunc.get("stride", 0)),
            strategy=trunc.get("strategy", "longest_first"),
            direction=trunc.get("direction", "right"),
        )
        first = self.inputs.first(texts)
        second = self.inputs.second(texts, contexts)
        batch = list(zip(first, second)) if second else first
        return self.tokenizer.encode_batch(batch, add_special_tokens=True)

    def _batch(self, encodings: Sequence) -> dict[str, np.ndarray]:
        """Pad to the longest in this batch only: padding is most of the cost otherwise."""
        width = max(len(e.ids) for e in encodings)
        rows = len(encodings)
        ids = np.full((rows, width), self._pad_id, dtype=np.int64)
        mask = np.zeros((rows, width), dtype=np.int64)
        types = np.full((rows, width), self._pad_type_id, dtype=np.int64)
        for r, enc in enumerate(encodings):
            n = len(enc.ids)
            cols = slice(width - n, width) if self._pad_left else slice(0, n)
            ids[r, cols] = enc.ids
            mask[r, cols] = enc.attention_mask
            types[r, cols] = enc.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: arrays[name] for name in self.input_names}

    def encode(
        self, texts: Sequence[str], *, contexts: Sequence[str] | None = None, max_length: int | None = None
    ) -> dict[str, np.ndarray]:
        """The arrays one batch of ``texts`` feeds the model, in input order (for checks)."""
        return self._batch(self._tokenize(texts, max_length or self.inputs.max_length, contexts))

    def predict(
        self,
        texts: Sequence[str],
        *,
        contexts: Sequence[str] | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
    ) -> list[dict[str, float]]:
        """Probabilities per sentence, in input order, keyed by label.

        Batches are formed after sorting by token count so padding stays small.
        """
        if not texts:
            return []
        max_length = max_length or self.inputs.max_length  # the model's own, saved with it
        if self.inputs.reads_vectors:
            return self._predict_vectors(texts, contexts, batch_size, max_length)
        encodings = self._tokenize(texts, max_length, contexts)

        def score(chunk: list[int]) -> list[list[float]]:
            try:
                (logits,) = self.session.run(["logits"], self._batch([encodings[i] for i in chunk]))
            except Exception as exc:
                raise ModelError(f"ONNX inference failed for {self.name}: {_reason(exc)}") from None
            logits = logits.astype(np.float32) / self.inputs.temperature
            logits -= logits.max(axis=-1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=-1, keepdims=True)
            return probs.tolist()

        return in_length_order([len(e.ids) for e in encodings], batch_size, score, self.labels)

    def _predict_vectors(self, texts, contexts, batch_size: int, max_length: int) -> list[dict[str, float]]:
        """Each distinct sentence encoded once; neighbours' heads added (see ``nuchter.backends.vector_heads``)."""
        plan = vector_plan(texts, contexts, page=self.inputs.reads_page)
        encodings = self._tokenize(plan.unique, max_length)
        outputs = list(graph_outputs(self.inputs))

        def parts(chunk: list[int]) -> np.ndarray:
            try:
                found = self.session.run(outputs, self._batch([encodings[i] for i in chunk]))
            except Exception as exc:
                raise ModelError(f"ONNX inference failed for {self.name}: {_reason(exc)}") from None
            return np.concatenate([o.astype(np.float32) for o in found], axis=-1)

        rows = rows_in_length_order([len(e.ids) for e in encodings], batch_size, parts)
        return [by_label(self.labels, row) for row in combine(plan, rows, self.inputs.temperature).tolist()]


def _weight_files(model_dir: Path) -> list[Path]:
    files = [model_dir / f for f in WEIGHT_FILES if (model_dir / f).is_file()]
    files += sorted(model_dir.glob("model-*.safetensors"))  # shards
    return files


def _source_files(model_dir: Path) -> list[Path]:
    """What an export is made from: changing any of these makes it stale."""
    tokenizer = [model_dir / f for f in (TOKENIZER_FILE, "tokenizer_config.json")]
    present = [p for p in [*tokenizer, model_dir / HEADS_FILE] if p.is_file()]
    return [model_dir / "config.json", *_weight_files(model_dir), *present]


def _source_mtime(model_dir: Path) -> float:
    return max(p.stat().st_mtime for p in _source_files(model_dir))


def default_cache_root() -> Path:
    if override := os.environ.get(CACHE_ENV):
        return Path(override).expanduser()
    from nuchter.store import user_dir

    return user_dir("cache") / "onnx"


def cache_key(model_dir: Path) -> str:
    """Identifies a model without hashing gigabytes: config.json plus size/mtime of the rest."""
    digest = hashlib.sha256(EXPORT_FORMAT.encode())
    digest.update((model_dir / "config.json").read_bytes())
    for path in _source_files(model_dir)[1:]:
        st = path.stat()
        digest.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _writable(directory: Path) -> bool:
    """Try it: os.access is wrong for root and on read-only mounts."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError:
        return False
    return True


def _fresh(path: Path, source_mtime: float) -> bool:
    try:
        return (
            path.stat().st_mtime >= source_mtime
            and (path.parent / TOKENIZER_FILE).stat().st_mtime >= source_mtime
        )
    except OSError:
        return False


def onnx_path(
    model_dir: str | Path, *, quantized: bool = True, cache_dir: Path | None = None
) -> Path:
    """The ONNX file to serve for ``model_dir``, exporting it first when missing or stale."""
    model_dir = Path(model_dir).expanduser()
    check_model_dir(model_dir)
    if (shipped := prebuilt_onnx(model_dir)) is not None:
        return shipped  # nothing to export from: the graph is the model
    filename = INT8_FILE if quantized else FP32_FILE
    source_mtime = _source_mtime(model_dir)
    local = model_dir / ONNX_DIR
    cached = Path(cache_dir or default_cache_root()).expanduser() / cache_key(model_dir)
    for folder in (local, cached):
        if _fresh(folder / filename, source_mtime):
            return folder / filename
    target = local if _writable(local) else cached
    print(f"exporting {model_dir} to ONNX (once; cached in {target}) …", file=sys.stderr, flush=True)
    return export_onnx(model_dir, target, quantize=quantized)


def load_onnx_classifier(
    model_dir: str | Path,
    *,
    threads: int | None = None,
    quantized: bool = True,
    cache_dir: Path | None = None,
) -> OnnxClassifier:
    """Load (exporting once if needed) an ONNX Runtime classifier for a local model directory.

    ``cache_dir`` is the root of the per-model export cache used when the model
    directory is read-only; each model gets a subfolder named by its cache key.
    """
    name = str(model_dir)
    model_dir = Path(model_dir).expanduser()
    check_model_dir(model_dir)
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        id2label = config["id2label"]
        inputs = InputSpec.from_config(config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = _reason(exc)
        raise ModelError(f"{model_dir}/config.json has no usable id2label ({reason})") from None
    labels = label_order(id2label)  # before any export: a wrong model fails fast
    path = onnx_path(model_dir, quantized=quantized, cache_dir=cache_dir)

    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - broken installs only
        raise ModelError(f"cannot import the ONNX runtime ({exc}); reinstall nuchter") from None
    tokenizer_path = path.parent / TOKENIZER_FILE
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:
        raise ModelError(
            f"cannot load tokenizer {tokenizer_path}: {_reason(exc)}; "
            f"delete {path.parent} to export again"
        ) from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings are about graph details
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(
            f"cannot load ONNX model {path}: {_reason(exc)}; delete it to export again"
        ) from None
    needed = graph_outputs(inputs)
    if missing := [n for n in needed if n not in {o.name for o in session.get_outputs()}]:
        raise ModelError(f"ONNX model {path} has no {', '.join(map(repr, missing))} output; delete it to export again")
    return OnnxClassifier(name, tokenizer, session, labels, inputs)
