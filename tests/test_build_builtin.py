"""Packing the built-in model: trim, int8 ONNX, measured as served, shipped only if it beats the linear model."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT
from tests.test_trim import tiny_classifier  # noqa: F401  (fixture)
from nuchter.training import build_builtin


@pytest.fixture()
def small_data(tmp_path):
    data = tmp_path / "data"
    (data / "original").mkdir(parents=True)
    for name in ("oa_sauna.jsonl", "oc_keto.jsonl", "od_homeopathy.jsonl"):
        shutil.copy(ROOT / "data" / "original" / name, data / "original" / name)
    seeds = (ROOT / "data" / "seeds.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    (data / "seeds.jsonl").write_text("\n".join(seeds) + "\n", encoding="utf-8")
    return data


def _pack(tiny_classifier, data, tmp_path, monkeypatch, *, linear_seed_f1: float, words: list[str]):  # noqa: F811
    """Pack a tiny encoder against a stand-in fast model whose seed-page figure is ``linear_seed_f1``."""
    from nuchter import store

    fast = tmp_path / "fast"
    fast.mkdir()
    (fast / "metrics.json").write_text(json.dumps({"seed_texts_held_out": {"macro_f1": linear_seed_f1}}))
    monkeypatch.setattr(store, "BUILTIN_FAST_DIR", fast)
    monkeypatch.setattr(build_builtin.trim, "read_words", lambda: words)
    return build_builtin.pack(data, _encoder(tiny_classifier, tmp_path), tmp_path / "builtin", log=lambda m: None,
                              torch_copy=tmp_path / "torch-copy")


def _encoder(tiny_classifier, tmp_path):  # noqa: F811
    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_classifier, encoder)
    (encoder / "training_config.json").write_text(json.dumps({"base_model": "multilingual-e5-small"}))
    fake = {"macro_f1": 0.5, "per_label": {}}
    (encoder / "metrics.json").write_text(json.dumps({"base_model": "multilingual-e5-small", "dev": fake, "test": fake}))
    return encoder


@pytest.mark.slow
def test_pack_ships_an_onnx_only_folder_measured_as_served(tiny_classifier, small_data, tmp_path, monkeypatch):  # noqa: F811
    from nuchter.classify import load_classifier

    # The tiny classifier's head is random, so its seed-page F1 can be 0.0: set the linear bar below any
    # score. Refusing a model that does not beat the linear one is the next test.
    metrics = _pack(tiny_classifier, small_data, tmp_path, monkeypatch, linear_seed_f1=-1.0, words=["kat", "alles"])
    out = tmp_path / "builtin"
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == {"config.json", "metrics.json", "training_config.json", "README.md",
                     "onnx/model.int8.onnx", "onnx/tokenizer.json"}
    assert metrics["trimming"]["label_changes_corpus"] == 0.0  # kept text keeps its tokens
    assert metrics["seed_texts_held_out"]["macro_f1"] == json.loads((out / "metrics.json").read_text())["seed_texts_held_out"]["macro_f1"]
    classifier = load_classifier(str(out))
    assert type(classifier).__name__ == "OnnxClassifier"
    assert len(classifier.predict(["De kat geneest alles."])) == 1
    assert (tmp_path / "torch-copy" / "model.safetensors").is_file()


@pytest.mark.slow
def test_pack_refuses_a_model_that_does_not_beat_the_linear_one(tiny_classifier, small_data, tmp_path, monkeypatch):  # noqa: F811
    with pytest.raises(SystemExit, match="not shipped"):
        _pack(tiny_classifier, small_data, tmp_path, monkeypatch, linear_seed_f1=0.99, words=[])
    assert not (tmp_path / "builtin").exists()


@pytest.mark.slow
def test_pack_ships_a_vectors_model_with_its_heads_in_the_graph(tiny_classifier, small_data, tmp_path, monkeypatch):  # noqa: F811
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from nuchter.classify import load_classifier
    from nuchter.inputs import CONFIG_KEY, HEADS_FILE, InputSpec, neighbours
    from nuchter.labels import LABELS
    from nuchter.backends.vector_heads import NeighbourHeads

    source = tmp_path / "vectors"
    shutil.copytree(tiny_classifier, source)
    config = json.loads((source / "config.json").read_text())
    config[CONFIG_KEY] = InputSpec(context="vectors").to_config()
    (source / "config.json").write_text(json.dumps(config))
    heads = NeighbourHeads(AutoModelForSequenceClassification.from_pretrained(source))
    torch.manual_seed(1)
    for layer in (heads.as_before, heads.as_after):
        torch.nn.init.normal_(layer.weight, std=2.0)
    heads.save(source)
    _pack(source, small_data, tmp_path, monkeypatch, linear_seed_f1=-1.0, words=["kat", "alles"])
    out = tmp_path / "builtin"
    assert not (out / HEADS_FILE).exists() and (tmp_path / "torch-copy" / HEADS_FILE).is_file()
    served, full = load_classifier(str(out)), load_classifier(str(tmp_path / "torch-copy"), backend="torch")
    page = ["De kat geneest alles.", "Het bewijs is beperkt.", "Bestel nu."]
    matrix = lambda rows: np.array([[r[label] for label in LABELS] for r in rows])  # noqa: E731
    with_context = matrix(served.predict(page, contexts=neighbours(page)))
    assert np.abs(with_context - matrix(full.predict(page, contexts=neighbours(page)))).max() < 0.05  # int8
    assert np.abs(with_context - matrix(served.predict(page))).max() > 1e-3  # the heads are in the graph
    from nuchter.backends.onnx_fusion import attention_fused

    assert attention_fused(out / "onnx" / "model.int8.onnx")  # the wrapped encoder's attention is fused too
    assert json.loads((out / "metrics.json").read_text())["serving"].endswith(", fused attention")


def test_build_trains_one_model_per_seed_averages_them_and_reuses_finished_seeds(small_data, tiny_model, tmp_path,
                                                                                 monkeypatch):
    from nuchter.training.config import TrainConfig

    monkeypatch.setattr(build_builtin, "ENCODER_DIR", tmp_path / "runs" / "builtin-encoder")
    packed = []
    monkeypatch.setattr(build_builtin, "pack", lambda data, encoder, out, log: packed.append(encoder) or {})
    config = TrainConfig(base_model=str(tiny_model), max_steps=2, batch_size=8, max_length=48,
                         early_stopping_patience=0, context="vectors")
    lines = []
    build_builtin.build(small_data, tmp_path / "builtin", log=lines.append, config=config, seeds=(5, 6))
    encoder = build_builtin.ENCODER_DIR
    assert packed == [encoder]
    metrics = json.loads((encoder / "metrics.json").read_text())
    assert metrics["seed"] == [5, 6] and metrics["minutes"] >= 0
    assert [m["folder"] for m in metrics["soup_of"]] == [str(build_builtin.seed_dir(s)) for s in (5, 6)]
    lines.clear()
    build_builtin.build(small_data, tmp_path / "builtin", log=lines.append, config=config, seeds=(5, 7))
    assert any("seed 5: reusing" in line for line in lines)
    assert any("seed 7, on" in line for line in lines) and not any("seed 6" in line for line in lines)
