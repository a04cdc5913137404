"""ONNX Runtime serving: same answers as PyTorch, same token ids as transformers,
no torch at serving time, and an export cache that is reused, refreshed and
never half-written."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nuchter.backends import onnx as onnx_backend
from nuchter.errors import ModelError
from nuchter.labels import LABELS
from nuchter.backends.onnx import INT8_FILE, FP32_FILE, ONNX_DIR, load_onnx_classifier

ROOT = Path(__file__).resolve().parent.parent

SENTENCES = [
    "Ja.",
    "Truffels genezen depressie.",
    "Het bewijs is nog beperkt.",
    "Wil je starten? Doe dan de intake bij ons!",
    "Boek nu je retreat met 20% korting!",
    "Psilocybine wordt in het lichaam omgezet in psilocine (Shao et al., 2021).",
    "Deze effecten zorgen ervoor dat lichaam en geest letterlijk 'resetten'.",
    "Mogelijk helpt het bij angst, maar verder onderzoek is nodig.",
    "De studie omvatte 24 patiënten met een behandelingsresistente depressie.",
    "Hoe psilocybine de hersenen van patiënten beïnvloedt, is nog onduidelijk.",
    "Bij 5-HT2A-activatie stijgt de BDNF-spiegel met 12,5% (p < 0,05).",
    "Microdoseren: één keer per drie dagen 0,1 gram, zegt de coach.",
    "Onze ceremonie is 100% veilig en wetenschappelijk bewezen effectief.",
    "Verder onderzoek is nodig om deze resultaten te bevestigen.",
    "Psilocybine activeert de 5-HT2A serotonine receptor, die sterk aanwezig is in de neocortex.",
    "In dierstudies nam de dichtheid van dendritische stekels toe na één enkele dosis.",
    "Meld je vandaag nog aan en ervaar zelf de kracht van de natuur!",
    "Angst, depressie en PTSS: truffels lossen het allemaal op, zonder bijwerkingen.",
    "Dit overzicht onderzoekt de neuroplasticiteit bevorderende effecten van psilocybine, "
    "met focus op bevindingen uit preklinische dierstudies en klinische onderzoeken, en "
    "overweegt de implicaties voor het gebruik ervan bij de behandeling van psychiatrische "
    "aandoeningen zoals depressie, angst, verslaving en posttraumatische stressstoornis.",
    "Café-eigenaar Zoë zegt: “het werkt écht”… maar bewijs ontbreekt.",
]


def _copy_model(source: Path, target: Path) -> Path:
    """A private copy: exports write into the model folder, the session fixture must stay clean."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(ONNX_DIR))
    return target


def _matrix(predictions: list[dict[str, float]]) -> np.ndarray:
    return np.array([[p[label] for label in LABELS] for p in predictions])


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory) -> Path:
    """The tiny model copied and exported once (fp32 and int8) for this module."""
    model_dir = _copy_model(tiny_model, tmp_path_factory.mktemp("onnx") / "model")
    onnx_backend.export_onnx(model_dir, model_dir / ONNX_DIR, quantize=True, keep_fp32=True)
    return model_dir


@pytest.fixture(autouse=True)
def no_user_cache(tmp_path, monkeypatch):
    """Never write into the real per-user cache."""
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path / "onnx-cache"))


@pytest.fixture(scope="module")
def torch_probs(exported) -> np.ndarray:
    from nuchter.classify import load_classifier

    return _matrix(load_classifier(str(exported), backend="torch").predict(SENTENCES, batch_size=4))


def test_fp32_matches_pytorch_in_input_order(exported, torch_probs):
    classifier = load_onnx_classifier(exported, quantized=False)
    assert classifier.labels == LABELS
    assert classifier.name == str(exported)
    runs = {size: classifier.predict(SENTENCES, batch_size=size) for size in (1, 3, 32)}
    for predictions in runs.values():
        assert all(list(p) == list(LABELS) for p in predictions)
        probs = _matrix(predictions)
        assert np.abs(probs - torch_probs).max() < 1e-4
        # The untrained model's rows differ only slightly; each ONNX row must
        # still be nearest to its own sentence's PyTorch row (catches a mix-up
        # when undoing the length sort).
        distance = np.abs(probs[:, None, :] - torch_probs[None, :, :]).max(axis=-1)
        assert (distance.argmin(axis=1) == np.arange(len(SENTENCES))).all()
    assert np.abs(_matrix(runs[1]) - _matrix(runs[32])).max() < 1e-6
    assert classifier.predict([]) == []


def test_int8_gives_distributions_close_to_fp32(exported):
    fp32 = _matrix(load_onnx_classifier(exported, quantized=False).predict(SENTENCES))
    int8 = _matrix(load_onnx_classifier(exported, threads=1).predict(SENTENCES))
    assert int8.shape == (len(SENTENCES), len(LABELS))
    assert (int8 >= 0).all()
    assert np.allclose(int8.sum(axis=1), 1.0, atol=1e-5)
    # Near-uniform outputs of an untrained model: argmax is noise, closeness is not.
    assert np.abs(int8 - fp32).max() < 0.05


@pytest.mark.parametrize("max_length", [128, 12])
def test_token_ids_match_transformers(exported, max_length):
    from transformers import AutoTokenizer

    texts = [
        *SENTENCES,
        "patiënten beïnvloedt",
        "patie\u0308nten bei\u0308nvloedt",  # decomposed accents (NFD), as some editors save them
        "Dosis: 3,5 mg/kg, 2x per week — €49,95 (incl. btw).",
        "Tabs\tand  double  spaces,\u00a0no-break space and a zero\u200bwidth space.",
        "",
    ]
    reference = AutoTokenizer.from_pretrained(str(exported), local_files_only=True)(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="np"
    )
    ours = load_onnx_classifier(exported).encode(texts, max_length=max_length)
    assert set(ours) == {"input_ids", "attention_mask", "token_type_ids"}
    for name, array in ours.items():
        np.testing.assert_array_equal(array, reference[name], err_msg=name)


def test_serving_imports_neither_torch_nor_transformers(exported):
    script = (
        "import sys\n"
        "from nuchter.backends.onnx import load_onnx_classifier\n"
        f"c = load_onnx_classifier({str(exported)!r})\n"
        "assert len(c.predict(['Truffels genezen depressie.'])) == 1\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def test_cached_export_is_reused_and_refreshed_when_weights_change(exported, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(exported, model_dir)  # copy2 keeps mtimes: the export stays fresh
    before = _mtimes(model_dir / ONNX_DIR)
    load_onnx_classifier(model_dir)
    load_onnx_classifier(model_dir, quantized=False)
    assert _mtimes(model_dir / ONNX_DIR) == before

    later = time.time() + 60  # new weights, as after `nuchter train`
    os.utime(model_dir / "model.safetensors", (later, later))
    load_onnx_classifier(model_dir)
    after = _mtimes(model_dir / ONNX_DIR)
    assert after[INT8_FILE] != before[INT8_FILE]
    assert FP32_FILE not in after  # the stale full-precision graph went with the export: one copy of the weights
    assert not [p for p in (model_dir / ONNX_DIR).iterdir() if p.name.endswith(".tmp")]


def test_read_only_model_dir_exports_into_cache_dir(tiny_model, tmp_path, monkeypatch):
    model_dir = _copy_model(tiny_model, tmp_path / "model")
    cache = tmp_path / "cache"
    model_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if onnx_backend._writable(model_dir):  # root ignores permissions
            real = onnx_backend._writable
            monkeypatch.setattr(
                onnx_backend, "_writable", lambda d: not d.is_relative_to(model_dir) and real(d)
            )
        classifier = load_onnx_classifier(model_dir, cache_dir=cache)
        served = cache / onnx_backend.cache_key(model_dir) / INT8_FILE
        assert served.is_file()
        assert not (model_dir / ONNX_DIR).exists()
        assert np.allclose(_matrix(classifier.predict(SENTENCES[:3])).sum(axis=1), 1.0)

        before = _mtimes(served.parent)
        load_onnx_classifier(model_dir, cache_dir=cache)
        assert _mtimes(served.parent) == before
    finally:
        model_dir.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_onnx_file_is_a_model_error(exported, tmp_path, damage):
    model_dir = tmp_path / "model"
    shutil.copytree(exported, model_dir)
    target = model_dir / ONNX_DIR / INT8_FILE
    data = target.read_bytes()
    target.write_bytes(b"not an onnx model" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(ModelError) as caught:
        load_onnx_classifier(model_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert str(target) in message


def test_missing_tokenizer_is_a_model_error(tiny_model, tmp_path):
    model_dir = _copy_model(tiny_model, tmp_path / "model")
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match="tokenizer.json"):
        load_onnx_classifier(model_dir)
    assert not (model_dir / ONNX_DIR / INT8_FILE).exists()


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError), onnx_backend._atomic_path(target) as tmp:
        tmp.write_bytes(b"half a model")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
